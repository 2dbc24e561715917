/** Feed freshness on both databases: the newest message, accepted message, quarantined item and run of each source. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { feedFreshness } from './feed-freshness.ts';

for (const target of await testDatabases()) {
  test(`feed freshness on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const message = (source: string, id: string, outcome: string, at: string) =>
      db.query(`INSERT INTO ingest_message (source_system, message_id, content_hash, format, outcome, received_at) VALUES ($1, $2, $3, 'hl7v2', $4, $5)`, [source, id, `h-${id}`, outcome, at]);
    await message('hl7:RM2', 'M1', 'accepted', '2025-10-04T11:00:00Z');
    await message('hl7:RM2', 'M2', 'accepted', '2025-10-04T11:56:30.250Z');
    await message('hl7:RM2', 'M3', 'ignored', '2025-10-04T11:58:00Z');
    await message('gp:P91001', 'B1', 'accepted', '2025-10-01T02:00:00Z');
    await db.query(`INSERT INTO quarantine (source_system, format, origin, reason, raw, raw_hash, received_at) VALUES ('gp:P91001', 'fhir', 'gp.ndjson#3', 'not a Bundle', '{}', 'q1', '2025-10-02T02:00:00Z')`);
    await db.query(`INSERT INTO ingest_run (run_id, origin, source, status, started_at, finished_at) VALUES ('7d0c2f5e-1111-4a0b-8c0d-000000000001', 'adt.hl7', 'hl7:RM2', 'done', '2025-10-04T11:50:00Z', '2025-10-04T11:51:00Z')`);
    await db.query(`INSERT INTO ingest_run (run_id, origin, source, status, started_at) VALUES ('7d0c2f5e-1111-4a0b-8c0d-000000000002', 'mllp', 'hl7:RM2', 'running', '2025-10-04T11:55:00Z')`);

    const got = await feedFreshness(db, ['hl7:RM2', 'gp:P91001', 'csv:community', 'hl7:RM2']);
    assert.deepEqual(got, [
      // The ignored message is the newest one received; the run still running counts from its start.
      { source: 'hl7:RM2', lastMessageAt: '2025-10-04T11:58:00.000Z', lastAcceptedAt: '2025-10-04T11:56:30.250Z', lastQuarantinedAt: null, lastRunAt: '2025-10-04T11:55:00.000Z' },
      // A quarantined item is a message received too.
      { source: 'gp:P91001', lastMessageAt: '2025-10-02T02:00:00.000Z', lastAcceptedAt: '2025-10-01T02:00:00.000Z', lastQuarantinedAt: '2025-10-02T02:00:00.000Z', lastRunAt: null },
      { source: 'csv:community', lastMessageAt: null, lastAcceptedAt: null, lastQuarantinedAt: null, lastRunAt: null },
    ]);
    assert.deepEqual(await feedFreshness(db, []), []);
    // The index the figures come from (migration 0023).
    const idx = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'ingest_message' AND indexname = 'ingest_message_source_received_idx'`);
    assert.equal(idx.rows.length, 1);
  });
}
