import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../../test/databases.ts';
import { identities as fixtureIdentities, insertIdentity } from '../../record/test-fixtures.ts';
import { countPeople, peoplePage } from './export-store.ts';

// Synthetic people for a Group's scope. Person ids in order, so pages and slices are predictable.
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const DIRECT = id(1); // a GP identity of P91001
const MERGED_INTO = id(2); // no identity of their own at P91001: the person merged into them has one
const MERGED = id(3); // merged into MERGED_INTO (not active: never weighed itself)
const GENERIC = id(4); // an identity of the generic 'gp:' system naming P91001 in its practice column
const OTHER = id(5); // registered at P91002
const TWO = id(6); // two P91001 identities (counted once)
const LATER = id(7); // at P91001, but arrived after the export's transaction time

for (const target of await testDatabases()) {
  test(`a Group export's people on ${target.name}: the practice's identities, on the person or merged into them, each person once`, async () => {
    const db = await target.open();
    try {
      const base = fixtureIdentities[0]!;
      for (const [person, nhs] of [[DIRECT, '9434765870'], [MERGED_INTO, '9434765889'], [MERGED, '9434765897'], [GENERIC, '9434765900'], [OTHER, '9434765919'], [TWO, '9434765927'], [LATER, '9434765935']] as const) {
        await db.query(`INSERT INTO person (person_id, nhs_number, created_at) VALUES ($1, $2, $3)`, [person, nhs, person === LATER ? '2030-01-01T00:00:00Z' : '2025-01-01T00:00:00Z']);
      }
      await db.query(`UPDATE person SET status = 'merged', merged_into = $1 WHERE person_id = $2`, [MERGED_INTO, MERGED]);
      const identity = (system: string, sourceId: string, person: string, practice: string | null) =>
        insertIdentity(db, { ...base, source_system: system, source_id: sourceId, person_id: person, practice });
      await identity('gp:P91001', 'g-1', DIRECT, 'P91001');
      await identity('gp:P91001', 'g-3', MERGED, 'P91001');
      await identity('csv:community', 'c-2', MERGED_INTO, null);
      await identity('gp:', 'g-4', GENERIC, 'P91001');
      await identity('gp:P91002', 'g-5', OTHER, 'P91002');
      await identity('gp:P91001', 'g-6a', TWO, 'P91001');
      await identity('gp:P91001', 'g-6b', TWO, 'P91001');
      await identity('gp:P91001', 'g-7', LATER, 'P91001');

      const before = '2026-01-01T00:00:00.000Z';
      const scope = { group: 'P91001', before };
      assert.equal(await countPeople(db, scope), 4);
      assert.equal(await countPeople(db, { group: 'P91002', before }), 1);
      assert.equal(await countPeople(db, { group: 'P91003', before }), 0);
      // Pages in person-id order, by keyset, each person once.
      const first = await peoplePage(db, scope, null, 3);
      assert.deepEqual(first.map((p) => p.person_id), [DIRECT, MERGED_INTO, GENERIC]);
      assert.deepEqual((await peoplePage(db, scope, GENERIC, 3)).map((p) => p.person_id), [TWO]);
      // Within a slice's range [lo, hi).
      assert.deepEqual((await peoplePage(db, { ...scope, lo: id(2), hi: id(6) }, null, 10)).map((p) => p.person_id), [MERGED_INTO, GENERIC]);
      // With a cohort's ids too.
      assert.deepEqual((await peoplePage(db, { ...scope, ids: [TWO, OTHER] }, null, 10)).map((p) => p.person_id), [TWO]);
      // Everyone (system and Patient level): the active people who had arrived.
      assert.equal(await countPeople(db, { group: null, before }), 5);
    } finally {
      await db.close();
    }
  });
}
