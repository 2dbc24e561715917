/**
 * Connects the MLLP listener to the writer: each message is committed before it is acknowledged.
 *
 * What a failure means for the sender (HL7 v2 original-mode acknowledgement, docs/feeds.md):
 * - AR ("resend later") only when a retry can cure it: the database is unavailable, busy, full
 *   or shutting down (`isRetryable`, db/database.ts). Nothing was stored; the sender keeps the message.
 * - Anything else would fail again on every resend, and AR would block the sender's queue behind
 *   one poison message for ever. So the message is quarantined with the reason (kept for repair
 *   and `bevan quarantine replay`) and answered AE. The writer already quarantines what the
 *   database refuses for its content (invalid value, key too long, constraint); this catches
 *   whatever else it throws.
 */
import type { Database } from '../db/database.ts';
import { isRetryable } from '../db/database.ts';
import { startMllpListener, type HandleAnswer, type MllpListenerOptions, type MllpListenerStatus } from './hl7v2/mllp.ts';
import type { IngestItem, RejectedItem } from './model.ts';
import { writeBatch } from './writer.ts';

export type MllpOutcome = 'committed' | 'duplicate' | 'quarantined' | 'conflict' | 'ignored' | 'unavailable';

/** A failure in a sentence: the error's message and SQLSTATE, bounded so it fits a quarantine reason. */
function describe(err: unknown): string {
  const e = err as { message?: string; code?: unknown } | null;
  const message = (e?.message ?? String(err)).replace(/\s+/g, ' ').slice(0, 300);
  return typeof e?.code === 'string' ? `${message} (SQLSTATE ${e.code})` : message;
}

/**
 * Writes one message received over MLLP and says how to answer it. 'unavailable' (AR) only for a
 * failure a retry can cure; any other failure is quarantined with its reason (AE).
 */
export async function handleMllpItem(db: Database, item: IngestItem, raw?: string): Promise<{ outcome: MllpOutcome; text?: string }> {
  try {
    const outcome = (await writeBatch(db, [item])).outcomes[0]!;
    if (outcome === 'quarantined' && item.kind !== 'rejected') return { outcome, text: await quarantineReason(db, item) };
    return { outcome };
  } catch (err) {
    if (isRetryable(err)) return { outcome: 'unavailable' };
    const reason = `could not be stored: ${describe(err)}; kept for repair (bevan quarantine replay once fixed)`;
    const kept: RejectedItem = {
      kind: 'rejected',
      format: item.format,
      ...(item.sourceSystem ? { sourceSystem: item.sourceSystem } : {}),
      ...(item.messageId ? { messageId: item.messageId } : {}),
      reason: item.kind === 'rejected' ? `${item.reason} [${reason}]` : reason,
      raw: raw ?? (item.kind === 'accepted' ? (item.raw ?? '') : item.kind === 'rejected' ? item.raw : ''),
      origin: item.origin,
    };
    try {
      await writeBatch(db, [kept]);
      return { outcome: 'quarantined', text: reason };
    } catch (again) {
      if (isRetryable(again)) return { outcome: 'unavailable' };
      // Not even the quarantine takes it: AE still (the sender keeps it in its error queue), never AR for ever.
      return { outcome: 'quarantined', text: `could not be stored or quarantined: ${describe(err)}; then ${describe(again)}` };
    }
  }
}

/** Why the writer quarantined an accepted message (the database refused it), for the ACK's MSA-3. */
async function quarantineReason(db: Database, item: Exclude<IngestItem, RejectedItem>): Promise<string | undefined> {
  try {
    const r = await db.query<{ reason: string }>(
      `SELECT reason FROM quarantine WHERE source_system = $1 AND message_id = $2 AND status = 'open' ORDER BY quarantine_id DESC LIMIT 1`,
      [item.sourceSystem, item.messageId],
    );
    return r.rows[0]?.reason.slice(0, 500);
  } catch {
    return undefined;
  }
}

export interface MllpCounters {
  received: number;
  byOutcome: Record<string, number>;
}

export type MllpIngestOptions = Pick<MllpListenerOptions, 'maxConnections' | 'idleTimeoutMs' | 'frameTimeoutMs' | 'maxMessageBytes' | 'junkBudget' | 'onError' | 'context'>;

/** Starts an MLLP listener that feeds this database; returns it with live counters and its status. */
export async function startMllpIngest(db: Database, port: number, host = '127.0.0.1', options: MllpIngestOptions = {}) {
  const counters: MllpCounters = { received: 0, byOutcome: {} };
  const listener = await startMllpListener({
    ...options,
    port,
    host,
    handle: async (item, raw): Promise<HandleAnswer> => {
      counters.received++;
      const answer = await handleMllpItem(db, item, raw);
      counters.byOutcome[answer.outcome] = (counters.byOutcome[answer.outcome] ?? 0) + 1;
      return answer;
    },
  });
  return { ...listener, counters } as typeof listener & { counters: MllpCounters; status(): MllpListenerStatus };
}
