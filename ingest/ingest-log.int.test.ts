/** `bevan ingest log` on both databases: what was received, from whom, and its outcome, newest first. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { admission, identity, rejected } from '../test/items.ts';
import type { IgnoredItem, IngestItem } from './model.ts';
import { parseSince, readIngestLog } from './ingest-log.ts';
import { ingestStream } from './pipeline.ts';

test('--since: an ISO date or time, or a span back from now', () => {
  const now = new Date('2025-03-10T12:00:00Z');
  assert.equal(parseSince('30m', now)!.toISOString(), '2025-03-10T11:30:00.000Z');
  assert.equal(parseSince('12h', now)!.toISOString(), '2025-03-10T00:00:00.000Z');
  assert.equal(parseSince('7d', now)!.toISOString(), '2025-03-03T12:00:00.000Z');
  assert.equal(parseSince('2025-03-01T09:00Z')!.toISOString(), '2025-03-01T09:00:00.000Z');
  assert.equal(parseSince('2025-03-01')!.toISOString(), '2025-03-01T00:00:00.000Z');
  assert.equal(parseSince('yesterday'), null);
  assert.equal(parseSince('2025-02-30x'), null);
});

async function* itemsOf(items: IngestItem[]): AsyncIterable<IngestItem> {
  yield* items;
}

for (const target of await testDatabases()) {
  test(`ingest log on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const siu: IgnoredItem = { kind: 'ignored', format: 'hl7v2', sourceSystem: 'hl7:RM2', messageId: 'S1', contentHash: 'h-s1', event: 'SIU^S12', origin: 'feed.hl7#2' };
    const first = [admission('M1', identity(), 'V1'), siu, { ...rejected('PID-7 "19821340" is not a valid date'), sourceSystem: 'hl7:RM2', messageId: 'M2', origin: 'feed.hl7#3' }];
    await ingestStream(db, itemsOf(first), 'feed.hl7', { source: 'hl7:RM2' });
    // Later, from another source.
    await db.query(`UPDATE ingest_message SET received_at = received_at - interval '1 hour'`);
    await db.query(`UPDATE quarantine SET received_at = received_at - interval '1 hour'`);
    await db.query(`UPDATE ingest_run SET started_at = started_at - interval '1 hour'`);
    await ingestStream(db, itemsOf([admission('C1', identity({ system: 'csv:community', id: 'CL1' }), 'E1')]), 'contacts.csv');

    await t.test('every message, ignored and quarantined ones included, newest first, with where it came from', async () => {
      const log = await readIngestLog(db);
      assert.deepEqual(
        log.messages.map((m) => [m.source, m.messageId, m.event, m.outcome, m.origin]),
        [
          ['csv:community', 'C1', 'ADT^A01', 'accepted', 'test#C1'],
          ['hl7:RM2', 'S1', 'SIU^S12', 'ignored', 'feed.hl7#2'],
          ['hl7:RM2', 'M2', null, 'quarantined', 'feed.hl7#3'],
          ['hl7:RM2', 'M1', 'ADT^A01', 'accepted', 'test#M1'],
        ],
      );
      const q = log.messages.find((m) => m.outcome === 'quarantined')!;
      assert.equal(q.reason, 'PID-7 "19821340" is not a valid date');
      assert.equal(q.status, 'open');
      assert.ok(q.quarantineId! > 0);
      assert.match(log.messages[0]!.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.deepEqual(
        log.runs.map((r) => [r.origin, r.source, r.status, r.accepted, r.ignored, r.quarantined]),
        [
          ['contacts.csv', null, 'done', 1, 0, 0],
          ['feed.hl7', 'hl7:RM2', 'done', 1, 1, 1],
        ],
      );
    });

    await t.test('filtered by source, outcome, time and count', async () => {
      const bySource = await readIngestLog(db, { source: 'hl7:RM2' });
      assert.deepEqual(bySource.messages.map((m) => m.messageId), ['S1', 'M2', 'M1']);
      assert.deepEqual(bySource.runs.map((r) => r.origin), ['feed.hl7']);
      assert.deepEqual((await readIngestLog(db, { outcome: 'ignored' })).messages.map((m) => m.messageId), ['S1']);
      assert.deepEqual((await readIngestLog(db, { outcome: 'quarantined' })).messages.map((m) => m.messageId), ['M2']);
      const recent = await readIngestLog(db, { since: new Date(Date.now() - 30 * 60_000) });
      assert.deepEqual(recent.messages.map((m) => m.messageId), ['C1']);
      assert.deepEqual(recent.runs.map((r) => r.origin), ['contacts.csv']);
      const two = await readIngestLog(db, { limit: 2 });
      // C1 is the newest; S1 (message log) and M2 (quarantine) came in the same stream, and the
      // writer may commit the quarantine a moment after the message log: either is next.
      assert.equal(two.messages.length, 2);
      assert.equal(two.messages[0]!.messageId, 'C1');
      assert.ok(['S1', 'M2'].includes(two.messages[1]!.messageId ?? ''), String(two.messages[1]!.messageId));
      assert.equal(two.runs.length, 2);
    });
  });
}
