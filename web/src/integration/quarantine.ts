/**
 * The quarantine pages' logic: the list's filters and page in the URL, the raw text for a person
 * to read and repair (a textarea turns HL7's carriage returns into new lines; they go back as
 * carriage returns, the segment terminator HL7 v2 defines), and what a replay did. Pure.
 */
import type { FeedFormat, QuarantineFilter, QuarantineStatus, ReplayAnswer } from '../api/integration.ts';

export const QUARANTINE_STATUSES: readonly { value: QuarantineStatus; label: string }[] = [
  { value: 'open', label: 'Open' },
  { value: 'replayed', label: 'Replayed' },
  { value: 'discarded', label: 'Discarded' },
  { value: 'all', label: 'All' },
];
export const FORMATS: readonly { value: FeedFormat; label: string }[] = [
  { value: 'hl7v2', label: 'HL7 v2' },
  { value: 'fhir', label: 'FHIR' },
  { value: 'csv', label: 'CSV' },
];
export const PAGE_SIZE = 20;

const SOURCE_KEY = /^[A-Za-z0-9][A-Za-z0-9:._\-/]{0,63}$/;

/** The filter a URL asks for; anything unknown falls back to the default (open, every source, first page). */
export function parseQuarantineFilter(p: URLSearchParams, limit = PAGE_SIZE): QuarantineFilter {
  const status = QUARANTINE_STATUSES.some((s) => s.value === p.get('status')) ? (p.get('status') as QuarantineStatus) : 'open';
  const format = FORMATS.some((f) => f.value === p.get('format')) ? (p.get('format') as FeedFormat) : undefined;
  const source = p.get('source')?.trim();
  const offset = Number(p.get('offset'));
  return {
    status,
    ...(format ? { format } : {}),
    ...(source && SOURCE_KEY.test(source) ? { source } : {}),
    offset: Number.isInteger(offset) && offset > 0 ? offset : 0,
    limit,
  };
}

/** The URL's search parameters for a filter (defaults left out, so a plain link is the open list). */
export function filterParams(f: Omit<QuarantineFilter, 'limit'>): Record<string, string> {
  const out: Record<string, string> = {};
  if (f.status !== 'open') out.status = f.status;
  if (f.source) out.source = f.source;
  if (f.format) out.format = f.format;
  if (f.offset > 0) out.offset = String(f.offset);
  return out;
}

export interface PageRange {
  from: number;
  to: number;
  total: number;
  /** Offsets of the previous and next pages; null at either end. */
  previous: number | null;
  next: number | null;
  text: string;
}

/** `Showing 21 to 40 of 43`. */
export function pageRange(total: number, offset: number, limit: number, shown: number): PageRange {
  const from = shown ? offset + 1 : 0;
  const to = offset + shown;
  return {
    from,
    to,
    total,
    previous: offset > 0 ? Math.max(0, offset - limit) : null,
    next: to < total ? offset + limit : null,
    text: total === 0 ? 'None' : shown ? `Showing ${from} to ${to} of ${total}` : `None on this page (${total} in all)`,
  };
}

/** The raw text as a person reads and edits it: one segment or row a line. */
export function editableText(raw: string): string {
  return raw.replace(/\r\n|\r/g, '\n');
}

/**
 * The repaired text to replay, with the line ends its format uses (HL7 v2 segments end with a
 * carriage return; a CSV or JSON text keeps the line ends it came with); null when the person
 * changed nothing (a replay "as it is").
 */
export function repairedText(format: FeedFormat, raw: string, edited: string): string | null {
  if (editableText(edited) === editableText(raw)) return null;
  const lines = editableText(edited);
  if (format === 'hl7v2') return lines.replace(/\n/g, '\r');
  return raw.includes('\r\n') ? lines.replace(/\n/g, '\r\n') : lines;
}

/** What a replay did, in words. */
export function describeReplay(a: ReplayAnswer): string {
  const r = a.result;
  const parts = [`${r.accepted} accepted`];
  if (r.ignored) parts.push(`${r.ignored} ignored`);
  if (r.duplicates) parts.push(`${r.duplicates} already received`);
  return `Item ${a.id} replayed: ${parts.join(', ')}; ${r.resources} ${r.resources === 1 ? 'record item' : 'record items'} written.`;
}

/** Why a discard cannot be sent yet, or null. */
export function discardReasonProblem(reason: string): string | null {
  if (!reason.trim()) return 'Enter why the item is discarded';
  if (reason.length > 500) return 'Enter a reason of 500 characters or fewer';
  return null;
}
