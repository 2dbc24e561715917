/** The quarantine: items that could not be ingested, with the reason, kept for repair and replay. */
import { open } from 'node:fs/promises';
import type { Database, Queryable } from '../db/database.ts';
import type { IngestItem, ReadContext } from './model.ts';
import { adapterFor, detectFormat } from './detect.ts';
import { parseFields } from './csv/adapter.ts';
import { CSV_CONTRACTS, matchHeader, sniffDelimiter, type CsvContract } from './csv/contracts.ts';
import { toCsvLine } from './csv/rows.ts';
import { writeBatch, type BatchResult } from './writer.ts';

export interface QuarantinedItem {
  quarantine_id: number;
  source_system: string | null;
  message_id: string | null;
  format: string;
  origin: string;
  reason: string;
  status: string;
  times_seen: number;
  received_at: string;
  resolved_at: string | null;
  resolution: string | null;
}

export interface QuarantineFilter {
  status?: 'open' | 'replayed' | 'discarded' | 'all';
  format?: string;
  /** Only items from this source system. */
  source?: string;
  limit?: number;
  /** Skip this many (paging). */
  offset?: number;
}

/** Lists quarantined items, newest first (without the raw text). */
export async function listQuarantine(db: Queryable, f: QuarantineFilter = {}): Promise<{ items: QuarantinedItem[]; total: number }> {
  const status = f.status ?? 'open';
  const where = `WHERE ($1 = 'all' OR status = $1) AND ($2::text IS NULL OR format = $2) AND ($3::text IS NULL OR source_system = $3)`;
  const params = [status, f.format ?? null, f.source ?? null];
  const items = await db.query<QuarantinedItem>(
    `SELECT quarantine_id::int AS quarantine_id, source_system, message_id, format, origin, reason, status, times_seen,
            received_at::text AS received_at, resolved_at::text AS resolved_at, resolution
       FROM quarantine ${where} ORDER BY quarantine_id DESC LIMIT $4 OFFSET $5`,
    [...params, f.limit ?? 100, f.offset ?? 0],
  );
  const total = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM quarantine ${where}`, params);
  return { items: items.rows, total: total.rows[0]!.n };
}

/** One quarantined item with its raw text. */
export async function getQuarantined(db: Queryable, id: number): Promise<(QuarantinedItem & { raw: string }) | null> {
  const r = await db.query<QuarantinedItem & { raw: string }>(
    `SELECT quarantine_id::int AS quarantine_id, source_system, message_id, format, origin, reason, status, times_seen,
            received_at::text AS received_at, resolved_at::text AS resolved_at, resolution, raw
       FROM quarantine WHERE quarantine_id = $1`,
    [id],
  );
  return r.rows[0] ?? null;
}

export type ReplayResult =
  | { kind: 'replayed'; id: number; result: Omit<BatchResult, 'outcomes'> }
  | { kind: 'still-rejected'; id: number; reasons: string[] }
  | { kind: 'not-found'; id: number }
  | { kind: 'not-open'; id: number; status: string };

/** Parses an item's text as it would arrive in a file of its format (and of its feed, when the context names one). */
export async function parseText(text: string, origin: string, formatHint?: string, context?: ReadContext): Promise<IngestItem[]> {
  const format = detectFormat(text.slice(0, 65536)) ?? (formatHint as ReturnType<typeof detectFormat>);
  if (!format) return [{ kind: 'rejected', format: 'fhir', reason: 'not FHIR JSON, HL7 v2 or a known CSV contract', raw: text, origin }];
  const out: IngestItem[] = [];
  const input = (async function* () {
    yield Buffer.from(text, 'utf8');
  })();
  for await (const item of adapterFor(format).read(input, origin, context)) out.push(item);
  return out;
}

/**
 * Replays a quarantined item after a fix: either the code now understands it, or `fixedText`
 * (the repaired message) is given, or `context.source` names the source system it came from
 * (`quarantine replay --source KEY`, for an item whose source could not be told). Nothing is
 * written unless every part of it is accepted.
 */
export async function replayQuarantined(db: Database, id: number, fixedText?: string, actor = 'cli', context?: ReadContext): Promise<ReplayResult> {
  const q = await getQuarantined(db, id);
  if (!q) return { kind: 'not-found', id };
  if (q.status !== 'open') return { kind: 'not-open', id, status: q.status };
  let text = fixedText ?? q.raw;
  if (q.format === 'csv') {
    const h = await withCsvHeader(text, context?.source !== undefined ? { ...q, source_system: context.source } : q);
    if ('problem' in h) return { kind: 'still-rejected', id, reasons: [h.problem] };
    text = h.text;
  }
  const items = await parseText(text, `quarantine:${id}`, q.format, context);
  const rejected = items.filter((i) => i.kind === 'rejected');
  if (rejected.length || !items.length) {
    return { kind: 'still-rejected', id, reasons: rejected.length ? rejected.map((r) => (r.kind === 'rejected' ? r.reason : '')) : ['nothing to ingest in it'] };
  }
  const r = await writeBatch(db, items);
  if (r.quarantined) return { kind: 'still-rejected', id, reasons: ['the database refused it when it was written again: the new quarantine item gives its reason'] };
  await db.query(`UPDATE quarantine SET status = 'replayed', resolved_at = now(), resolution = $2 WHERE quarantine_id = $1`, [
    id,
    `replayed by ${actor}${fixedText !== undefined ? ' with a repaired text' : ''}${context?.source !== undefined ? ` as source ${context.source}` : ''}: ${r.accepted} accepted, ${r.duplicates} duplicate, ${r.ignored} ignored`,
  ]);
  const { outcomes: _o, ...counts } = r;
  return { kind: 'replayed', id, result: counts };
}

function csvCells(line: string): string[] {
  const d = sniffDelimiter(line);
  try {
    return parseFields(line, d);
  } catch {
    return line.split(d);
  }
}

const firstLineOf = (text: string) => text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';

/** The header line of the file a row came from (origin `path#line`), when it is still there and is a contract's header. */
async function originalHeader(origin: string): Promise<{ line: string; contract: CsvContract } | null> {
  const path = origin.replace(/#\d+$/, '');
  if (path === origin) return null;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(8192);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const cells = csvCells(firstLineOf(buf.subarray(0, bytesRead).toString('utf8')));
      const m = matchHeader(cells);
      // Re-written with commas: the quarantined row was kept comma-separated (rows.ts toCsvLine).
      return 'contract' in m ? { line: toCsvLine(cells), contract: m.contract } : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/**
 * A quarantined CSV row is kept as the row alone, without its file's header line, and a
 * repaired row given for replay is usually the same. Text that does not start with a contract's
 * header gets one: the header of the file it came from when that file is still there and is of
 * the same contract (its columns may be in any order), else the contract's own column order. The
 * contract is the one named by the message id (`<contract>:<row id>`), else the only contract of
 * the item's source system with as many columns as the row has fields.
 */
export async function withCsvHeader(
  text: string,
  q: Pick<QuarantinedItem, 'source_system' | 'message_id' | 'origin'>,
): Promise<{ text: string } | { problem: string }> {
  const first = csvCells(firstLineOf(text));
  if ('contract' in matchHeader(first)) return { text };
  const named = q.message_id ? CSV_CONTRACTS.find((c) => q.message_id!.startsWith(`${c.name}:`)) : undefined;
  // A feed configured with its own source key (`--source`, a feeds file) may send any contract.
  const contractSystem = CSV_CONTRACTS.some((c) => c.system === q.source_system);
  const candidates = named ? [named] : CSV_CONTRACTS.filter((c) => (!contractSystem || c.system === q.source_system) && c.columns.length === first.length);
  const original = await originalHeader(q.origin);
  const contract = candidates.length === 1 ? candidates[0]! : original && (!q.source_system || !contractSystem || original.contract.system === q.source_system) ? original.contract : null;
  if (!contract) {
    return {
      problem: `this CSV row has no header line and its contract cannot be told (${candidates.length ? candidates.map((c) => c.name).join(' or ') : `no contract of ${q.source_system ?? 'an unknown system'} has ${first.length} columns`}): replay it with a file holding the contract's header line and the row`,
    };
  }
  const header = original?.contract === contract ? original.line : contract.columns.map((c) => c.name).join(',');
  return { text: `${header}\n${text.replace(/^\uFEFF/, '')}` };
}

/** Marks an item as not to be replayed (e.g. a test message), keeping it for the record. */
export async function discardQuarantined(db: Queryable, id: number, why: string, actor = 'cli'): Promise<boolean> {
  const r = await db.query(`UPDATE quarantine SET status = 'discarded', resolved_at = now(), resolution = $2 WHERE quarantine_id = $1 AND status = 'open'`, [
    id,
    `discarded by ${actor}: ${why}`,
  ]);
  return r.rowCount > 0;
}
