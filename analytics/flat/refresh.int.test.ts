import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database, Queryable } from '../../db/database.ts';
import { ingestPaths } from '../../ingest/pipeline.ts';
import { mergePersons, unmergeEvent } from '../../mpi/merge.ts';
import { generateLocality } from '../../synth/generate.ts';
import { testDatabases } from '../../test/databases.ts';
import { ensureFlatTablesCurrent, FLAT_TABLES, refreshFlatTables, refreshFlatTablesIn } from './refresh.ts';

// The flat tables kept up to date incrementally (the resources, identities and persons changed
// since the watermark, and the person trigger) must hold exactly what a rebuild from the store
// would: after a load, a merge, its unmerge, and a replay of the same feeds.

const locality = mkdtempSync(join(tmpdir(), 'bevan-flat-'));
await generateLocality({ people: 60, seed: 5, out: locality });

/** Every row of the flat tables, as sorted text. */
async function contents(q: Queryable): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of FLAT_TABLES) {
    const r = await q.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM ${table} t`);
    out[table] = r.rows.map((x) => x.row).sort();
  }
  return out;
}

/** What a full rebuild from the store gives (rolled back). */
async function rebuilt(db: Database): Promise<Record<string, string[]>> {
  let rows: Record<string, string[]> = {};
  const rollback = new Error('rollback');
  await db
    .transaction(async (tx) => {
      await refreshFlatTablesIn(tx, { full: true });
      rows = await contents(tx);
      throw rollback;
    })
    .catch((e) => {
      if (e !== rollback) throw e;
    });
  return rows;
}

async function assertCurrent(db: Database, when: string): Promise<void> {
  // (What a reader does first. On a shared server it may refresh again: another session's open
  // transaction holds the watermark back, so the newest rows are read once more, harmlessly.)
  await ensureFlatTablesCurrent(db);
  assert.deepEqual(await contents(db), await rebuilt(db), `${when}: the flat tables are what a rebuild gives`);
}

for (const target of await testDatabases()) {
  test(`flat tables on ${target.name}: the same as a rebuild after a load, a merge, its unmerge and a replay`, async () => {
    const db = await target.open();
    try {
      await ingestPaths(db, [locality]);
      const first = await refreshFlatTables(db);
      assert.ok(first.encounters > 0 && first.codedEntries > 0 && first.people > 0, 'a load fills every table');
      await assertCurrent(db, 'after the load');

      // A merge: two registered people, the first with encounters, merged into the second.
      const two = await db.query<{ person_id: string }>(
        `SELECT g.person_id FROM analytics_person g WHERE EXISTS (SELECT 1 FROM analytics_encounter e WHERE e.person_id = g.person_id) ORDER BY g.person_id LIMIT 2`,
      );
      const [from, into] = two.rows.map((r) => r.person_id) as [string, string];
      const event = await mergePersons(db, from, into, 'test', 'flat tables test', { despiteDifferentNhsNumbers: true });
      const moved = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM analytics_encounter WHERE person_id = $1', [from]);
      assert.equal(moved.rows[0]!.n, 0, 'the encounters moved with their resources, in the merge itself');
      const afterMerge = await ensureFlatTablesCurrent(db);
      assert.ok(afterMerge && afterMerge.mode === 'incremental' && afterMerge.people >= 1, 'the merge is seen by the next reader');
      const gone = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM analytics_person WHERE person_id = $1', [from]);
      assert.equal(gone.rows[0]!.n, 0, 'the person merged away is no longer registered');
      await assertCurrent(db, 'after the merge');

      await unmergeEvent(db, event, 'test', 'flat tables test');
      assert.ok(await ensureFlatTablesCurrent(db), 'the unmerge is seen by the next reader');
      const back = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM analytics_person WHERE person_id = $1', [from]);
      assert.equal(back.rows[0]!.n, 1, 'the person unmerged is registered again');
      await assertCurrent(db, 'after the unmerge');

      // A replay of the same feeds writes nothing new, and the tables stay as they were.
      const before = await contents(db);
      await ingestPaths(db, [locality]);
      await ensureFlatTablesCurrent(db);
      assert.deepEqual(await contents(db), before, 'a replay changes nothing');
      await assertCurrent(db, 'after the replay');
    } finally {
      await db.drop();
    }
  });
}
