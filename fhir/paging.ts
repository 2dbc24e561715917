/**
 * Paging and `_since` for the history interactions and `$everything`
 * (https://hl7.org/fhir/R4/http.html#history, https://hl7.org/fhir/R4/patient-operation-everything.html):
 * `_count` (page size; above the maximum the server gives the maximum, as FHIR allows), `_offset`
 * (where the page starts; the server's own paging links carry it) and `_since` (an instant, or a
 * whole day, read as UTC midnight). Pure.
 */

export interface Paging {
  count: number;
  offset: number;
  /** ISO instant (milliseconds, UTC): only what Bevan received at or after it. */
  since?: string;
}

export type ParsedPaging = { kind: 'ok'; paging: Paging } | { kind: 'invalid'; problems: string[] };

/** The most any page skips: a client going further is walking past any real record. */
export const MAX_OFFSET = 1_000_000;

// FHIR instant (https://hl7.org/fhir/R4/datatypes.html#instant), or a full date; a time needs its zone.
const SINCE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?$/;

/** Reads `_count`, `_offset` and `_since` from a query (the last value of a repeated one). */
export function parsePaging(query: Record<string, unknown>, limits: { defaultCount: number; maxCount: number }): ParsedPaging {
  const problems: string[] = [];
  const last = (k: string): string | undefined => {
    const v = query[k];
    if (v === undefined) return undefined;
    return String(Array.isArray(v) ? v.at(-1) : v);
  };
  let count = limits.defaultCount;
  let offset = 0;
  let since: string | undefined;
  const c = last('_count');
  if (c !== undefined) {
    if (!/^\d{1,9}$/.test(c)) problems.push(`_count: "${c.slice(0, 40)}" is not a whole number`);
    else count = Math.min(Number(c), limits.maxCount);
  }
  const o = last('_offset');
  if (o !== undefined) {
    if (!/^\d{1,9}$/.test(o) || Number(o) > MAX_OFFSET) problems.push(`_offset: "${o.slice(0, 40)}" is not a whole number up to ${MAX_OFFSET}`);
    else offset = Number(o);
  }
  const s = last('_since');
  if (s !== undefined) {
    const instant = sinceInstant(s);
    if (instant === null) problems.push(`_since: "${s.slice(0, 40)}" is not an instant (e.g. 2025-10-01T09:00:00Z) or a date`);
    else since = instant;
  }
  if (problems.length) return { kind: 'invalid', problems };
  return { kind: 'ok', paging: { count, offset, ...(since ? { since } : {}) } };
}

/** A `_since` value as an ISO instant in UTC, or null when it is not an instant or a date. */
export function sinceInstant(value: string): string | null {
  if (!SINCE.test(value)) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/**
 * Which replaced versions a history page needs, the current version standing first (newest):
 * with the current version in the list, page [offset, offset + count) is the current one (on the
 * first page) then replaced versions from offset - 1; without it, replaced versions from offset.
 */
export function versionWindow(currentInList: boolean, offset: number, count: number): { withCurrent: boolean; offset: number; limit: number } {
  if (!currentInList) return { withCurrent: false, offset, limit: count };
  if (offset === 0) return { withCurrent: count > 0, offset: 0, limit: Math.max(0, count - 1) };
  return { withCurrent: false, offset: offset - 1, limit: count };
}
