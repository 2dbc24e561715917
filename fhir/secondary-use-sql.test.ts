import { test } from 'node:test';
import assert from 'node:assert/strict';
import { personIdRanges } from './secondary-use-sql.ts';

test('person id ranges cover every uuid once, in order, in about equal pieces', () => {
  assert.deepEqual(personIdRanges(1), [['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']]);
  for (const n of [2, 3, 4]) {
    const r = personIdRanges(n);
    assert.equal(r.length, n);
    assert.equal(r[0]![0], '00000000-0000-0000-0000-000000000000');
    assert.equal(r[n - 1]![1], 'ffffffff-ffff-ffff-ffff-ffffffffffff');
    for (let i = 1; i < n; i++) {
      const prev = parseInt(r[i - 1]![1].slice(0, 8), 16);
      const next = parseInt(r[i]![0].slice(0, 8), 16);
      assert.equal(next, prev + 1, 'no gap, no overlap');
      assert.ok(r[i - 1]![1].endsWith('-ffff-ffff-ffff-ffffffffffff') && r[i]![0].endsWith('-0000-0000-0000-000000000000'));
      assert.ok(Math.abs(next - (i * 2 ** 32) / n) <= 1);
    }
  }
});
