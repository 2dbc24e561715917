import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSpecTestFile } from './spec-tests.ts';

// The suite's older files say `"error": "structure"` where the current ones say `"expectError": true`.
test('a test expecting an error, in the current and the older form of the suite', () => {
  const bad = { status: 'active', select: [{ column: [{ path: 'id', name: 'id' }] }] };
  const good = { resource: 'Patient', select: [{ column: [{ path: 'id', name: 'id' }] }] };
  const r = runSpecTestFile({
    title: 't',
    resources: [{ resourceType: 'Patient', id: 'p1' }],
    tests: [
      { title: 'current', view: bad, expectError: true },
      { title: 'older', view: bad, error: 'structure' },
      { title: 'older, but the view is valid', view: good, error: 'structure' },
      { title: 'rows', view: good, expect: [{ id: 'p1' }] },
    ],
  });
  assert.deepEqual(
    r.results.map((x) => [x.title, x.passed]),
    [
      ['current', true],
      ['older', true],
      ['older, but the view is valid', false],
      ['rows', true],
    ],
  );
});
