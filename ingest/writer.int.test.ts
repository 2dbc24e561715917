import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { admission, identity, rejected } from '../test/items.ts';
import { writeBatch } from './writer.ts';

for (const target of await testDatabases()) {
  test(`writer on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const ada = identity();
    const count = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0]!.n;

    await t.test('commits messages, links the person, keeps provenance', async () => {
      const r = await writeBatch(db, [admission('M1', ada, 'V1'), rejected('MSH-2 encoding characters expected')]);
      assert.deepEqual(r.outcomes, ['committed', 'quarantined']);
      assert.equal(r.resources, 2);
      const rows = await db.query<{ resource_type: string; person_id: string; subject_id: string; version: number }>(
        `SELECT resource_type, person_id, subject_id, version FROM resource ORDER BY resource_type`,
      );
      assert.equal(rows.rows.length, 2);
      assert.equal(rows.rows[0]!.person_id, rows.rows[1]!.person_id);
      assert.equal(rows.rows[0]!.subject_id, 'MRN1');
      assert.equal(await count(`SELECT count(*)::int AS n FROM person WHERE nhs_number = '9434765919'`), 1);
      assert.equal(await count(`SELECT count(*)::int AS n FROM quarantine WHERE status = 'open'`), 1);
    });

    await t.test('replaying the same messages changes nothing', async () => {
      const before = await db.query(`SELECT source_id, version, content_hash FROM resource ORDER BY source_id`);
      const r = await writeBatch(db, [admission('M1', ada, 'V1'), rejected('MSH-2 encoding characters expected')]);
      assert.deepEqual(r.outcomes, ['duplicate', 'quarantined']);
      assert.equal(r.resources, 0);
      const after = await db.query(`SELECT source_id, version, content_hash FROM resource ORDER BY source_id`);
      assert.deepEqual(after.rows, before.rows);
      // The same bad item again is counted on its existing quarantine row, not copied.
      assert.equal(await count(`SELECT count(*)::int AS n FROM quarantine`), 1);
      assert.equal(await count(`SELECT times_seen AS n FROM quarantine`), 2);
    });

    await t.test('same control id with different content is a conflict, quarantined', async () => {
      const r = await writeBatch(db, [admission('M1', ada, 'V1', 'finished')]);
      assert.deepEqual(r.outcomes, ['conflict']);
      const q = await db.query<{ reason: string; raw: string }>(`SELECT reason, raw FROM quarantine WHERE reason LIKE 'conflict%'`);
      assert.equal(q.rows.length, 1);
      assert.match(q.rows[0]!.reason, /control id M1/);
      assert.match(q.rows[0]!.raw, /^MSH/);
      const enc = await db.query<{ status: string }>(`SELECT content->>'status' AS status FROM resource WHERE resource_type = 'Encounter'`);
      assert.equal(enc.rows[0]!.status, 'in-progress');
    });

    await t.test('a newer message updates; an older one does not overwrite', async () => {
      await writeBatch(db, [admission('M2', ada, 'V1', 'finished', '2025-03-05T10:00:00Z')]);
      await writeBatch(db, [admission('M0', ada, 'V1', 'planned', '2025-02-01T10:00:00Z')]);
      const enc = await db.query<{ status: string; version: number }>(`SELECT content->>'status' AS status, version FROM resource WHERE resource_type = 'Encounter'`);
      assert.deepEqual(enc.rows[0], { status: 'finished', version: 2 });
    });

    await t.test('two items for one resource in one batch: the newest wins', async () => {
      const r = await writeBatch(db, [admission('M5', ada, 'V2', 'finished', '2025-04-02T00:00:00Z'), admission('M4', ada, 'V2', 'in-progress', '2025-04-01T00:00:00Z')]);
      assert.deepEqual(r.outcomes, ['committed', 'committed']);
      const enc = await db.query<{ status: string }>(`SELECT content->>'status' AS status FROM resource WHERE source_id = 'V2'`);
      assert.equal(enc.rows[0]!.status, 'finished');
    });
  });
}
