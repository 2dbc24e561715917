/**
 * GET /ingest/feeds's read (ingest/feed-status.ts readFeedsStatus) against counting the whole
 * message log as it did before migration 0019, on a log of N messages from 40 sources, most of
 * them older than a day. Prints wall ms and this process's CPU ms per read (on PGlite the
 * database runs in this process; on PostgreSQL its work is the server's). Usage:
 *   node --import tsx bench/feeds-status.ts [--messages 200000] [--db pglite|postgres] [--reads 20]
 */
import { readFeedsStatus } from '../ingest/feed-status.ts';
import { freshDatabase } from './util.ts';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const N = Number(arg('messages', '200000'));
const READS = Number(arg('reads', '20'));
const kind = arg('db', 'pglite') as 'pglite' | 'postgres';

const db = await freshDatabase(kind);
try {
  // The log as the writer leaves it: one row per message, 1 in 50 ignored, spread over 30 days; the counts as migration 0019's back-fill makes them.
  await db.query(
    `INSERT INTO ingest_message (source_system, message_id, content_hash, format, event, outcome, received_at)
     SELECT 'hl7:S' || (i % 40), 'M' || i, md5(i::text), 'hl7v2', 'ADT^A01', CASE WHEN i % 50 = 0 THEN 'ignored' ELSE 'accepted' END,
            now() - (i::double precision / $1) * interval '30 days'
       FROM generate_series(1, $1::int) AS i`,
    [N],
  );
  await db.query(`INSERT INTO ingest_feed_count (source_system, format, outcome, shard, messages) SELECT source_system, format, outcome, 0, count(*) FROM ingest_message GROUP BY 1, 2, 3`);
  await db.query('ANALYZE ingest_message');
  const before = () =>
    db.query(`SELECT source_system, count(*) FILTER (WHERE outcome = 'accepted')::int, count(*) FILTER (WHERE outcome = 'ignored')::int, max(received_at),
                     count(*) FILTER (WHERE outcome = 'accepted' AND received_at >= now() - interval '24 hours')::int FROM ingest_message GROUP BY source_system`);
  for (const [name, read] of [['whole log (before)', before], ['running counts (now)', () => readFeedsStatus(db)]] as const) {
    await read();
    const cpu = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < READS; i++) await read();
    const wall = (performance.now() - t) / READS;
    const used = process.cpuUsage(cpu);
    console.log(`${kind}, ${N} messages, ${name}: ${wall.toFixed(1)} ms wall, ${((used.user + used.system) / 1000 / READS).toFixed(1)} ms CPU (this process) per read`);
  }
} finally {
  await db.drop();
}
