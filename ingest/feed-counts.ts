/**
 * Running counts of the message log per source system, format and outcome (table
 * `ingest_feed_count`, migration 0019): the ingest writer adds what each batch changed in the
 * message log, in the same transaction, so the feeds' status reads a few rows whatever the size
 * of the log. The counts mean what counting `ingest_message` meant — messages by their current
 * outcome (a message sent again with new content is still one message; one whose outcome changed
 * moves between outcomes). Sharded against concurrent writers of one source.
 */
import type { Queryable } from '../db/database.ts';

export const COUNT_SHARDS = 8;

/** One change to the counts: +1 for a new message, -1/+1 for a message whose outcome changed. */
export interface CountDelta {
  source: string;
  format: string;
  outcome: string;
  change: number;
}

/** The changes a batch makes to the message log: `previous` is each logged row's outcome before it (undefined: new). */
export function countDeltas(rows: readonly { system: string; format: string; outcome: string; previous?: { outcome: string; format: string } }[]): CountDelta[] {
  const sum = new Map<string, CountDelta>();
  const add = (source: string, format: string, outcome: string, change: number) => {
    const k = `${source}\u0000${format}\u0000${outcome}`;
    const d = sum.get(k);
    if (d) d.change += change;
    else sum.set(k, { source, format, outcome, change });
  };
  for (const r of rows) {
    if (r.previous && r.previous.outcome === r.outcome && r.previous.format === r.format) continue;
    if (r.previous) add(r.system, r.previous.format, r.previous.outcome, -1);
    add(r.system, r.format, r.outcome, 1);
  }
  return [...sum.values()].filter((d) => d.change !== 0).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const key = (d: CountDelta) => `${d.source}\u0000${d.format}\u0000${d.outcome}`;

/** Adds a batch's changes inside the writer's transaction (rows in key order, one shard per batch: no deadlock between batches). */
export async function addFeedCounts(tx: Queryable, deltas: readonly CountDelta[], shard = Math.floor(Math.random() * COUNT_SHARDS)): Promise<void> {
  if (!deltas.length) return;
  await tx.query(
    `INSERT INTO ingest_feed_count AS c (source_system, format, outcome, shard, messages)
     SELECT s, f, o, $4::smallint, n FROM unnest($1::text[], $2::text[], $3::text[], $5::bigint[]) AS d(s, f, o, n)
     ON CONFLICT (source_system, format, outcome, shard) DO UPDATE SET messages = c.messages + EXCLUDED.messages`,
    [deltas.map((d) => d.source), deltas.map((d) => d.format), deltas.map((d) => d.outcome), shard, deltas.map((d) => d.change)],
  );
}

/** The counts per source system and outcome, with the formats seen (the shards summed). */
export async function readFeedCounts(db: Queryable): Promise<{ source: string; formats: string[]; outcome: string; messages: number }[]> {
  const r = await db.query<{ source: string; formats: string[]; outcome: string; messages: string | number }>(
    `SELECT source_system AS source, array_agg(DISTINCT format ORDER BY format) AS formats, outcome, sum(messages)::bigint AS messages
       FROM ingest_feed_count GROUP BY source_system, outcome HAVING sum(messages) > 0`,
  );
  return r.rows.map((x) => ({ source: x.source, formats: x.formats, outcome: x.outcome, messages: Number(x.messages) }));
}
