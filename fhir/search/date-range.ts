/**
 * FHIR dates as ranges, for date search (https://hl7.org/fhir/R4/search.html#date). A value is
 * as precise as it is written: `2024` is the whole year, `2024-03` the month, `2024-03-01` the
 * day, `2024-03-01T10:00` the minute, and so on; a Period runs from its start's low bound to its
 * end's high bound (a missing end is ongoing). Ranges are half-open [lo, hi) in epoch
 * milliseconds. A value without a time zone is read in the server's local zone (the spec: "the
 * server's local time zone should be assumed"), Europe/London by default. Pure.
 */

export interface Range {
  /** First instant in the range (ms since the epoch); -Infinity for an open start. */
  lo: number;
  /** First instant after the range; +Infinity for an open (ongoing) end. */
  hi: number;
}

export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** The zone a date without one is read in: the locality's. */
export const LOCAL_TIME_ZONE = 'Europe/London';

// YYYY[-MM[-DD[Thh:mm[:ss[.fff]][Z|±hh:mm]]]]; a space before the offset is a '+' a form decoded.
const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+\- ]\d{2}:\d{2})?)?)?)?$/;

/** The range a FHIR date, dateTime or instant covers, or null when it is not one. */
export function dateRange(value: string, zone: string = LOCAL_TIME_ZONE): Range | null {
  const m = DATE.exec(value.trim());
  if (!m) return null;
  const [, ys, mos, ds, hs, mis, ss, fs, tz] = m;
  const y = Number(ys);
  const mo = mos === undefined ? 1 : Number(mos);
  const d = ds === undefined ? 1 : Number(ds);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return null;
  if (hs === undefined) {
    // A date: local midnight to the next local midnight of the unit.
    const next = ds !== undefined ? addDays(y, mo, d, 1) : mos !== undefined ? (mo === 12 ? [y + 1, 1, 1] : [y, mo + 1, 1]) : [y + 1, 1, 1];
    return { lo: localToUtc(y, mo, d, 0, 0, 0, 0, zone), hi: localToUtc(next[0]!, next[1]!, next[2]!, 0, 0, 0, 0, zone) };
  }
  const h = Number(hs);
  const mi = Number(mis);
  const s = ss === undefined ? 0 : Number(ss);
  if (h > 23 || mi > 59 || s > 59) return null;
  const fraction = fs ?? '';
  const ms = fraction ? Number(fraction.padEnd(3, '0').slice(0, 3)) : 0;
  let lo: number;
  if (tz === undefined) lo = localToUtc(y, mo, d, h, mi, s, ms, zone);
  else {
    const wall = utc(y, mo, d, h, mi, s, ms);
    if (tz === 'Z') lo = wall;
    else {
      const oh = Number(tz.slice(1, 3));
      const om = Number(tz.slice(4, 6));
      if (oh > 14 || om > 59) return null;
      const sign = tz[0] === '-' ? -1 : 1;
      lo = wall - sign * (oh * 60 + om) * 60_000;
    }
  }
  // The unit of the last digit given; anything finer than a millisecond is a millisecond.
  const width = ss === undefined ? 60_000 : fraction ? Math.max(1, 10 ** (3 - fraction.length)) : 1000;
  return { lo, hi: lo + width };
}

/** The range of a Period: start's low bound to end's high bound; a missing bound is open. */
export function periodRange(p: { start?: unknown; end?: unknown }, zone: string = LOCAL_TIME_ZONE): Range | null {
  const start = typeof p.start === 'string' ? dateRange(p.start, zone) : null;
  const end = typeof p.end === 'string' ? dateRange(p.end, zone) : null;
  if (!start && !end) return null;
  const lo = start ? start.lo : Number.NEGATIVE_INFINITY;
  const hi = end ? end.hi : Number.POSITIVE_INFINITY;
  return hi < lo ? null : { lo, hi };
}

/**
 * Does the target range satisfy `prefix value` (https://hl7.org/fhir/R4/search.html#prefix)?
 * eq: the value contains the target; ne: it does not; gt/lt: the target reaches after/before
 * the value; ge/le: gt/lt or eq; sa/eb: the target starts after/ends before the value; ap: the
 * ranges overlap once the value is widened by a tenth of its distance from now.
 */
export function rangeMatches(prefix: Prefix, value: Range, target: Range, now: number): boolean {
  const contains = target.lo >= value.lo && target.hi <= value.hi;
  switch (prefix) {
    case 'eq':
      return contains;
    case 'ne':
      return !contains;
    case 'gt':
      return target.hi > value.hi;
    case 'lt':
      return target.lo < value.lo;
    case 'ge':
      return target.hi > value.hi || contains;
    case 'le':
      return target.lo < value.lo || contains;
    case 'sa':
      return target.lo >= value.hi;
    case 'eb':
      return target.hi <= value.lo;
    case 'ap': {
      const mid = (value.lo + value.hi) / 2;
      // At least a day either side, so that "about today" still means something.
      const slack = Math.max(86_400_000, Math.abs(now - mid) * 0.1);
      return target.lo < value.hi + slack && target.hi > value.lo - slack;
    }
  }
}

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const t = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms));
  t.setUTCFullYear(y);
  return t.getTime();
}

const formats = new Map<string, Intl.DateTimeFormat>();
function zoneFormat(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formats.set(zone, f);
  }
  return f;
}

/** The zone's offset from UTC at an instant, in ms (Europe/London in summer: +3,600,000). */
export function zoneOffset(instant: number, zone: string): number {
  if (zone === 'UTC') return 0;
  // Clocks change on a quarter hour (UTC) in every zone since railway time, so one offset per
  // quarter hour is exact, and formatToParts (slow) runs once per quarter hour asked about.
  const bucket = Math.floor(instant / 900_000);
  let cache = offsets.get(zone);
  if (!cache) offsets.set(zone, (cache = new Map()));
  const hit = cache.get(bucket);
  if (hit !== undefined) return hit;
  const parts: Record<string, number> = {};
  const at = bucket * 900_000;
  for (const p of zoneFormat(zone).formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const offset = utc(parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!, 0) - at;
  if (cache.size >= 200_000) cache.clear();
  cache.set(bucket, offset);
  return offset;
}
const offsets = new Map<string, Map<number, number>>();

/** The instant a wall-clock time in a zone names (a time skipped by a clock change moves forward). */
function localToUtc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, zone: string): number {
  const wall = utc(y, mo, d, h, mi, s, ms);
  const first = wall - zoneOffset(wall, zone);
  const second = wall - zoneOffset(first, zone);
  return second;
}

function daysInMonth(y: number, mo: number): number {
  return mo === 2 ? (isLeap(y) ? 29 : 28) : [31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function addDays(y: number, mo: number, d: number, n: number): [number, number, number] {
  const t = new Date(utc(y, mo, d, 0, 0, 0, 0) + n * 86_400_000);
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}
