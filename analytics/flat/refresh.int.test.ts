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
// would: after a load, a merge, its unmerge, and a replay of the same feeds. So must each source's
// freshness (migration 0057), which a rebuild computes from every resource as sourceFreshness did.

const locality = mkdtempSync(join(tmpdir(), 'bevan-flat-'));
await generateLocality({ people: 60, seed: 5, out: locality });

/** Every row of the flat tables, as sorted text. */
async function contents(q: Queryable): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of FLAT_TABLES) {
    const r = await q.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM ${table} t`);
    out[table] = r.rows.map((x) => x.row).sort();
  }
  const f = await q.query<{ row: string }>('SELECT to_jsonb(t)::text AS row FROM analytics_source_freshness t ORDER BY source_system');
  out.analytics_source_freshness = f.rows.map((x) => x.row);
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

      // A pending resource linked to a person later keeps its received_at: the person trigger's
      // queue brings its activity into its source's freshness (here the latest of all). (Made
      // pending by hand, its date changed meanwhile without a new received_at, so that only the
      // queue can bring it in.)
      const one = await db.query<{ source_system: string; resource_type: string; source_id: string; person_id: string }>(
        `SELECT source_system, resource_type, source_id, person_id::text FROM resource WHERE resource_type = 'Observation' AND person_id IS NOT NULL ORDER BY source_system, source_id LIMIT 1`,
      );
      const o = one.rows[0]!;
      const key = [o.source_system, o.resource_type, o.source_id];
      await db.query(`UPDATE resource SET person_id = NULL, content = jsonb_set(content, '{effectiveDateTime}', '"2099-01-02"') WHERE source_system = $1 AND resource_type = $2 AND source_id = $3`, key);
      await refreshFlatTables(db);
      await db.query('UPDATE resource SET person_id = $4::uuid WHERE source_system = $1 AND resource_type = $2 AND source_id = $3', [...key, o.person_id]);
      await ensureFlatTablesCurrent(db);
      await refreshFlatTables(db);
      const fresh = await db.query<{ latest_activity: string }>('SELECT latest_activity FROM analytics_source_freshness WHERE source_system = $1', [o.source_system]);
      assert.equal(fresh.rows[0]!.latest_activity, '2099-01-02', 'the linked resource counts for its source');
      // (Its content changed behind received_at's back, so only the freshness is compared with a rebuild.)
      assert.deepEqual((await contents(db)).analytics_source_freshness, (await rebuilt(db)).analytics_source_freshness, 'after a pending resource was linked: what a rebuild gives');
    } finally {
      await db.drop();
    }
  });
}
