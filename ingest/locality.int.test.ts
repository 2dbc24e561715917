import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../test/databases.ts';
import { loadLocality, localityFileFor, localityProblems } from './locality.ts';

test('locality problems are named', () => {
  assert.deepEqual(localityProblems({ neighbourhoods: [{ key: 'north', name: 'North' }], practices: [{ ods: 'P91001', name: 'A', neighbourhood: 'east' }] }), [
    'practices[0] (P91001) names neighbourhood "east", which is not in "neighbourhoods"',
  ]);
  assert.deepEqual(localityProblems([]), ['"neighbourhoods" must be a list', '"practices" must be a list']);
});

for (const target of await testDatabases()) {
  test(`locality loads and reloads on ${target.name}`, async () => {
    const db = await target.open();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'bevan-loc-'));
      const file = join(dir, 'locality.json');
      const loc = { neighbourhoods: [{ key: 'north', name: 'North Trafford' }, { key: 'south', name: 'South Trafford' }], practices: [{ ods: 'P91001', name: 'Seymour Grove', neighbourhood: 'north', postcode: 'M16 1ED' }] };
      writeFileSync(file, JSON.stringify(loc));
      assert.equal(localityFileFor(dir), file);
      assert.deepEqual(await loadLocality(db, file), { neighbourhoods: 2, practices: 1 });
      loc.practices[0]!.name = 'Seymour Grove Medical Practice';
      writeFileSync(file, JSON.stringify(loc));
      await loadLocality(db, file);
      const r = await db.query(`SELECT ods_code, name, neighbourhood FROM practice`);
      assert.deepEqual(r.rows, [{ ods_code: 'P91001', name: 'Seymour Grove Medical Practice', neighbourhood: 'north' }]);
    } finally {
      await db.drop();
    }
  });
}
