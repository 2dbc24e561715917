/**
 * The ingest log (`bevan ingest log`): what was received, from which source system, and what
 * became of it — accepted and ignored messages (the message log), quarantined items, and the runs
 * (one per file or connection) with their counts. Newest first. Read-only.
 */
import type { Queryable } from '../db/database.ts';

export type LogOutcome = 'accepted' | 'ignored' | 'quarantined';
export const LOG_OUTCOMES: readonly LogOutcome[] = ['accepted', 'ignored', 'quarantined'];

export interface IngestLogFilter {
  /** Source system key (messages and quarantined items from it; runs read with it configured). */
  source?: string;
  /** Messages with this outcome only (runs are not filtered by it). */
  outcome?: LogOutcome;
  /** Received at or after this time. */
  since?: Date;
  /** At most this many messages, and this many runs (default 50). */
  limit?: number;
}

/** One message or item that reached Bevan. */
export interface LoggedMessage {
  /** When it was received (its latest arrival), ISO 8601 UTC. */
  at: string;
  /** Source system key, or null when it could not be told (a quarantined item). */
  source: string | null;
  messageId: string | null;
  format: string;
  /** Trigger event or bundle type; null for a quarantined item. */
  event: string | null;
  outcome: LogOutcome;
  /** File and line, or MLLP peer; null for messages logged before the origin was kept. */
  origin: string | null;
  /** Quarantined items: why, their quarantine id and status (open, replayed, discarded), and how often seen. */
  reason?: string;
  quarantineId?: number;
  status?: string;
  timesSeen?: number;
}

/** One ingest of a file or connection. */
export interface LoggedRun {
  runId: string;
  origin: string;
  /** The source configured for it (`--source`, `--feeds`), if any. */
  source: string | null;
  format: string | null;
  /** running | done | failed | abandoned */
  status: string;
  accepted: number;
  ignored: number;
  quarantined: number;
  duplicates: number;
  resources: number;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  /** Notes about the file that stopped nothing (CSV columns not read): see RejectedItem.fileNotes. */
  notes: string[];
}

export interface IngestLog {
  messages: LoggedMessage[];
  runs: LoggedRun[];
}

// Times as ISO 8601 UTC whatever the session's time zone, on both databases.
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The newest messages, quarantined items and runs matching the filter. */
export async function readIngestLog(db: Queryable, f: IngestLogFilter = {}): Promise<IngestLog> {
  const limit = Math.max(1, Math.min(f.limit ?? 50, 10_000));
  const params = [f.source ?? null, f.since?.toISOString() ?? null, f.outcome ?? null, limit];
  // Each part reads its newest rows by its received_at index, then the two are merged.
  const messages = await db.query<{
    at: string;
    source: string | null;
    message_id: string | null;
    format: string;
    event: string | null;
    outcome: LogOutcome;
    origin: string | null;
    reason: string | null;
    quarantine_id: number | null;
    status: string | null;
    times_seen: number | null;
  }>(
    `SELECT ${iso('t')} AS at, source, message_id, format, event, outcome, origin, reason, quarantine_id, status, times_seen FROM (
       (SELECT received_at AS t, source_system AS source, message_id, format, event, outcome, origin,
               NULL::text AS reason, NULL::int AS quarantine_id, NULL::text AS status, NULL::int AS times_seen
          FROM ingest_message
         WHERE ($1::text IS NULL OR source_system = $1) AND ($2::timestamptz IS NULL OR received_at >= $2::timestamptz)
           AND ($3::text IS NULL OR outcome = $3)
         ORDER BY received_at DESC LIMIT $4)
       UNION ALL
       (SELECT received_at, source_system, message_id, format, NULL, 'quarantined', origin,
               reason, quarantine_id::int, status, times_seen
          FROM quarantine
         WHERE ($1::text IS NULL OR source_system = $1) AND ($2::timestamptz IS NULL OR received_at >= $2::timestamptz)
           AND ($3::text IS NULL OR $3 = 'quarantined')
         ORDER BY received_at DESC LIMIT $4)
     ) m ORDER BY t DESC, message_id DESC LIMIT $4`,
    params,
  );
  const runs = await db.query<{
    run_id: string;
    origin: string;
    source: string | null;
    format: string | null;
    status: string;
    accepted: number;
    ignored: number;
    quarantined: number;
    duplicates: number;
    resources: number;
    started_at: string;
    finished_at: string | null;
    error: string | null;
    notes: string[] | null;
  }>(
    `SELECT run_id::text, origin, source, format, status, accepted, ignored, quarantined, duplicates, resources,
            ${iso('started_at')} AS started_at, ${iso('finished_at')} AS finished_at, error, notes
       FROM ingest_run
      WHERE ($1::text IS NULL OR source = $1) AND ($2::timestamptz IS NULL OR started_at >= $2::timestamptz)
      ORDER BY started_at DESC, origin DESC LIMIT $3`,
    [params[0], params[1], limit],
  );
  return {
    messages: messages.rows.map((r) => ({
      at: r.at,
      source: r.source,
      messageId: r.message_id,
      format: r.format,
      event: r.event,
      outcome: r.outcome,
      origin: r.origin,
      ...(r.outcome === 'quarantined' ? { reason: r.reason ?? '', quarantineId: r.quarantine_id ?? 0, status: r.status ?? 'open', timesSeen: r.times_seen ?? 1 } : {}),
    })),
    runs: runs.rows.map((r) => ({
      runId: r.run_id,
      origin: r.origin,
      source: r.source,
      format: r.format,
      status: r.status,
      accepted: r.accepted,
      ignored: r.ignored,
      quarantined: r.quarantined,
      duplicates: r.duplicates,
      resources: r.resources,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      error: r.error,
      notes: r.notes ?? [],
    })),
  };
}

/**
 * `--since`: an ISO date or date-time, or a span back from now (`30m`, `12h`, `7d`); null when
 * it is neither.
 */
export function parseSince(text: string, now = new Date()): Date | null {
  const span = /^(\d+)\s*(m|min|h|d)$/i.exec(text.trim());
  if (span) {
    const minutes = Number(span[1]) * ({ m: 1, min: 1, h: 60, d: 1440 } as Record<string, number>)[span[2]!.toLowerCase()]!;
    return new Date(now.getTime() - minutes * 60_000);
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return null;
  const d = new Date(text.trim());
  return Number.isNaN(d.getTime()) ? null : d;
}
