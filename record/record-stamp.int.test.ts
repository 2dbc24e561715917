import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { compactRecordChanges, findPersonWithMembers } from './record-store.ts';
import { insertFixtures, insertResource, PERSON_ID, rows } from './test-fixtures.ts';

const OTHER = '5e6d7c8b-0000-4000-8000-000000000009';

const stampOf = async (db: Database, id = PERSON_ID): Promise<string> => (await findPersonWithMembers(db, id, { stamp: true }))!.stamp!;
const changeRows = async (db: Database, id: string): Promise<number> => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM record_change WHERE person_id = $1', [id])).rows[0]!.n;

/** Two promises each side resolves for the other: a step-by-step interleaving of two transactions. */
function gate(): { open: () => void; passed: Promise<void> } {
  let open!: () => void;
  const passed = new Promise<void>((r) => (open = r));
  return { open, passed };
}

for (const target of await testDatabases()) {
  test(`record stamp on ${target.name}: every write to a person's resources gives a stamp no earlier state had (migration 0084)`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      await db.query('INSERT INTO person (person_id) VALUES ($1)', [OTHER]);
      const seen = new Set<string>();
      const fresh = async (what: string, id = PERSON_ID): Promise<string> => {
        const s = await stampOf(db, id);
        assert.ok(!seen.has(s), `${what}: the stamp is one no earlier state had`);
        seen.add(s);
        return s;
      };
      const s0 = await fresh('the fixtures');
      assert.equal(await stampOf(db), s0, 'no write, the same stamp');
      const base = rows.find((r) => r.source_id === 'o1')!;

      await insertResource(db, { ...base, source_id: 'stamp-new' });
      await fresh('a resource inserted');
      await db.query(`UPDATE resource SET content = jsonb_set(content, '{status}', '"amended"'), content_hash = 'h-amended' WHERE source_id = 'stamp-new'`);
      await fresh('its content updated');
      const before = await stampOf(db);
      await db.query(`UPDATE resource SET content_hash = 'x' WHERE source_id = 'no-such-resource'`);
      assert.equal(await stampOf(db), before, 'an update of no row (an unchanged re-ingest) keeps the stamp: the page stays a hit');

      // A move to another person changes both people's stamps.
      const other0 = await fresh('the other person', OTHER);
      await db.query(`UPDATE resource SET person_id = $1 WHERE source_id = 'stamp-new'`, [OTHER]);
      const quiet = await fresh('a resource moved away');
      assert.notEqual(await stampOf(db, OTHER), other0, 'the person it moved to has a new stamp');
      seen.add(await stampOf(db, OTHER));
      await db.query(`DELETE FROM resource WHERE source_id = 'stamp-new'`);
      assert.ok(!seen.has(await stampOf(db, OTHER)), 'a resource deleted: a stamp no earlier state had');
      assert.equal(await stampOf(db), quiet, "a write to someone else's resources leaves the stamp as it was");

      // A rolled-back write leaves nothing behind.
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query(`UPDATE resource SET content_hash = 'rolled-back' WHERE person_id = $1`, [PERSON_ID]);
          throw new Error('roll back');
        }),
      );
      assert.equal(await stampOf(db), quiet, 'a rolled-back write leaves the stamp');

      // Compaction folds a person's rows into one new row: again a stamp no earlier state had; a person of one row keeps theirs; a person gone loses theirs.
      assert.ok((await changeRows(db, PERSON_ID)) > 1);
      await db.query('INSERT INTO person (person_id) VALUES ($1)', ['5e6d7c8b-0000-4000-8000-00000000000a']);
      await insertResource(db, { ...base, source_id: 'gone-soon', person_id: '5e6d7c8b-0000-4000-8000-00000000000a' });
      await db.query('DELETE FROM resource WHERE source_id = $1', ['gone-soon']);
      await db.query('DELETE FROM person WHERE person_id = $1', ['5e6d7c8b-0000-4000-8000-00000000000a']);
      assert.ok((await compactRecordChanges(db)) > 0);
      assert.equal(await changeRows(db, PERSON_ID), 1);
      assert.equal(await changeRows(db, '5e6d7c8b-0000-4000-8000-00000000000a'), 0, 'a person gone: their rows are removed');
      await fresh('compacted');
      const once = await stampOf(db);
      await compactRecordChanges(db);
      assert.equal(await stampOf(db), once, 'a person with one row keeps their stamp');
      await db.query('TRUNCATE resource CASCADE');
      await fresh('every resource truncated');
    } finally {
      await db.drop();
    }
  });

  if (target.name === 'postgres') {
    test(`record stamp on ${target.name}: writers committing out of order, then compaction, never give back an earlier stamp`, async () => {
      const db = await target.open();
      try {
        await insertFixtures(db);
        const base = rows.find((r) => r.source_id === 'o1')!;
        const seen: string[] = [await stampOf(db)];
        // T1 writes first (the older transaction id), T2 writes and commits, then T1 commits.
        const t1Wrote = gate();
        const t2Done = gate();
        const t1 = db.transaction(async (tx) => {
          await insertResource(tx, { ...base, source_id: 'older-writer' });
          t1Wrote.open();
          await t2Done.passed;
        });
        await t1Wrote.passed;
        await db.transaction(async (tx) => insertResource(tx, { ...base, source_id: 'newer-writer' }));
        seen.push(await stampOf(db));
        t2Done.open();
        await t1;
        seen.push(await stampOf(db));
        await compactRecordChanges(db);
        seen.push(await stampOf(db));
        assert.equal(new Set(seen).size, seen.length, `every state its own stamp: ${seen.join(' ')}`);
        // A writer concurrent with the compaction keeps its own row.
        const wrote = gate();
        const compacted = gate();
        const w = db.transaction(async (tx) => {
          await insertResource(tx, { ...base, source_id: 'during-compaction' });
          wrote.open();
          await compacted.passed;
        });
        await wrote.passed;
        await insertResource(db, { ...base, source_id: 'before-compaction' });
        seen.push(await stampOf(db));
        await compactRecordChanges(db);
        seen.push(await stampOf(db));
        compacted.open();
        await w;
        seen.push(await stampOf(db));
        assert.equal(new Set(seen).size, seen.length, `every state its own stamp: ${seen.join(' ')}`);
        assert.equal(await changeRows(db, PERSON_ID), 2, "the compaction's row and the concurrent writer's");
      } finally {
        await db.drop();
      }
    });
  }
}
