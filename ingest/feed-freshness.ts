/**
 * Feed freshness: when each source system last sent Bevan anything — the newest message in the
 * message log (any outcome), the newest accepted one, the newest quarantined item and the newest
 * ingest run configured with the source. Times only, no content; the record page shows them for
 * the sources of one record ("hospital: last message 4 min ago"), behind sign-in and the access
 * decision (fhir/repository.ts `recordSources`). Each figure is one backward scan of an index
 * (migration 0023), however long a feed has been sending. Read-only; parameterised SQL.
 */
import type { Queryable } from '../db/database.ts';
import type { FeedFreshness } from '../record/record-sources.ts';

export type { FeedFreshness };

// Times as ISO 8601 UTC whatever the session's time zone, on both databases.
const iso = (expr: string) => `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The freshness of each source system named (in the order given; unknown ones have nulls). */
export async function feedFreshness(q: Queryable, systems: readonly string[]): Promise<FeedFreshness[]> {
  const unique = [...new Set(systems)];
  if (!unique.length) return [];
  const r = await q.query<{ source: string; last_message: string | null; last_accepted: string | null; last_quarantined: string | null; last_run: string | null }>(
    `SELECT s.source,
            ${iso(`SELECT m.received_at FROM ingest_message m WHERE m.source_system = s.source ORDER BY m.received_at DESC LIMIT 1`)} AS last_message,
            ${iso(`SELECT m.received_at FROM ingest_message m WHERE m.source_system = s.source AND m.outcome = 'accepted' ORDER BY m.received_at DESC LIMIT 1`)} AS last_accepted,
            ${iso(`SELECT x.received_at FROM quarantine x WHERE x.source_system = s.source ORDER BY x.received_at DESC LIMIT 1`)} AS last_quarantined,
            ${iso(`SELECT coalesce(g.finished_at, g.started_at) FROM ingest_run g WHERE g.source = s.source ORDER BY g.started_at DESC LIMIT 1`)} AS last_run
       FROM unnest($1::text[]) AS s(source)`,
    [unique],
  );
  const by = new Map(r.rows.map((x) => [x.source, x]));
  return unique.map((source) => {
    const x = by.get(source);
    const quarantined = x?.last_quarantined ?? null;
    const message = x?.last_message ?? null;
    // A quarantined item is a message received too (it may never reach the message log).
    const latest = [message, quarantined].filter((v): v is string => !!v).sort().at(-1) ?? null;
    return { source, lastMessageAt: latest, lastAcceptedAt: x?.last_accepted ?? null, lastQuarantinedAt: quarantined, lastRunAt: x?.last_run ?? null };
  });
}
