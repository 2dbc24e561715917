import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../../test/databases.ts';
import { sendMllp } from '../../ingest/hl7v2/mllp.ts';
import { parseFeeds } from '../../ingest/feeds.ts';
import { feedPortsOf, startServices } from './serve.ts';

/** An A04 whose MSH names no sender (MSH-3 and MSH-4 empty), as some interface engines send. */
const anonymousA04 = [
  'MSH|^~\\&|||BEVAN|TRAFFORD|20250301123000||ADT^A04^ADT_A01|ANON0001|P|2.5',
  'EVN|A04|20250301123000',
  'PID|1||MH0042^^^RXV^MR||Testperson^Robin||19800101|U',
  'PV1|1|O',
].join('\r') + '\r';

test('feed ports: the feeds file names the sender, clashes are refused', () => {
  const parsed = parseFeeds({ feeds: [{ key: 'hl7:RXV', kind: 'mental-health', ods: 'RXV', format: 'hl7v2', mllpPort: 2601 }] }, '/tmp');
  assert.ok('config' in parsed);
  assert.deepEqual(feedPortsOf(parsed.config, 2575), [{ port: 2601, source: 'hl7:RXV' }]);
  assert.throws(() => feedPortsOf(parsed.config, 2601), /also --mllp-port/);
  const csv = parseFeeds({ feeds: [{ key: 'csv:community', kind: 'community', format: 'csv', mllpPort: 2602 }] }, '/tmp');
  if ('config' in csv) assert.throws(() => feedPortsOf(csv.config, null), /HL7 v2 only/);
});

for (const target of await testDatabases()) {
  test(`feed ports (${target.name}): a message with no MSH-3/MSH-4 on a feed's port is stored under the feed's key`, async () => {
    const db = await target.open();
    try {
      const s = await startServices(db, { port: 0, host: '127.0.0.1', mllpPort: null, feedPorts: [{ port: 0, source: 'hl7:RXV' }] });
      try {
        const port = s.feedListeners[0]!.listener.port;
        assert.deepEqual(await sendMllp('127.0.0.1', port, [anonymousA04], { maxRetries: 0 }), [{ code: 'AA' }]);
        const r = await db.query<{ source_system: string }>(`SELECT source_system FROM source_identity WHERE source_id = 'MH0042'`);
        assert.deepEqual(r.rows.map((x) => x.source_system), ['hl7:RXV']);
      } finally {
        await s.stop();
      }
    } finally {
      await db.close();
    }
  });
}
