import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePatientSearch } from './patient-search.ts';

test('Patient search: _total is accepted in its three values (the total is always exact), anything else refused', () => {
  for (const v of ['none', 'estimate', 'accurate']) {
    const r = parsePatientSearch({ family: 'smith', _total: v });
    assert.equal(r.kind, 'ok', v);
    if (r.kind === 'ok') assert.deepEqual(r.unknown, [], `${v}: not reported as unknown`);
  }
  const bad = parsePatientSearch({ _total: 'lots' });
  assert.equal(bad.kind, 'invalid');
  if (bad.kind === 'invalid') assert.match(bad.problems.join(' '), /_total: "lots" is not none, estimate or accurate/);
  const unknown = parsePatientSearch({ family: 'smith', _lastUpdated: 'ge2025' });
  assert.ok(unknown.kind === 'ok' && unknown.unknown.includes('_lastUpdated'), 'a parameter not supported is still reported');
});
