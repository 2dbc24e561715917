/**
 * Clinical dates as people in England read them. FHIR dates come as partial dates (`2024`,
 * `2024-03`, `2024-03-12`) or instants; an instant is shown as its calendar date in
 * Europe/London, a partial date exactly as precise as it was sent.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LONDON = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const HOUR = 3_600_000;

/** Europe/London's offset from UTC at an instant, in milliseconds (from the time zone database, through Intl). */
function londonOffset(t: number): number {
  const [date, time] = LONDON.format(t).split(', ');
  const [d, m, y] = date!.split('/').map(Number);
  const [hh, mm, ss] = time!.split(':').map(Number);
  return Date.UTC(y!, m! - 1, d!, hh!, mm!, ss!) - (t - (((t % 1000) + 1000) % 1000));
}

// Intl is slow for every instant of a record (a few microseconds each): the offset is looked up
// once per UTC hour, and kept only for an hour with one offset from its start to its end (every
// change of Europe/London's offset since 1847 falls on an hour; any other hour is asked of Intl
// for each instant). Bounded: cleared when full.
const offsetOfHour = new Map<number, number | null>();
function londonOffsetCached(t: number): number {
  const hour = Math.floor(t / HOUR);
  let off = offsetOfHour.get(hour);
  if (off === undefined) {
    const start = londonOffset(hour * HOUR);
    off = start === londonOffset(hour * HOUR + HOUR - 1000) ? start : null;
    if (offsetOfHour.size >= 50_000) offsetOfHour.clear();
    offsetOfHour.set(hour, off);
  }
  return off ?? londonOffset(t);
}

// A record sorts and shows the same few dates many times over (every comparison of a sort parses
// both): the values are remembered, bounded (cleared when full), since they depend on nothing else.
const MEMO_MAX = 20_000;
const values = new Map<string, number>();
const calendarDates = new Map<string, string | null>();
function remember<V>(memo: Map<string, V>, key: string, value: V): V {
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(key, value);
  return value;
}

/** Milliseconds since the epoch for sorting (a partial date sorts at its start), or NaN. */
export function dateValue(s: string | null | undefined): number {
  if (!s) return Number.NaN;
  const known = values.get(s);
  return known !== undefined ? known : remember(values, s, parseDateValue(s));
}

function parseDateValue(s: string): number {
  if (/^\d{4}$/.test(s)) return Date.UTC(Number(s), 0, 1);
  if (/^\d{4}-\d{2}$/.test(s)) return Date.UTC(Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1, 1);
  return Date.parse(s);
}

/** The calendar date (YYYY-MM-DD, Europe/London) of a FHIR date or instant, or null. */
export function calendarDate(s: string | null | undefined): string | null {
  if (!s) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
  const known = calendarDates.get(s);
  return known !== undefined ? known : remember(calendarDates, s, parseCalendarDate(s));
}

function parseCalendarDate(s: string): string | null {
  const t = Date.parse(s);
  if (Number.isNaN(t)) return null;
  const local = new Date(t + londonOffsetCached(t));
  const y = local.getUTCFullYear();
  // Years outside 0–9999 as Intl wrote them before (no sign, four digits or more).
  const year = String(Math.abs(y)).padStart(4, '0');
  return `${year}-${String(local.getUTCMonth() + 1).padStart(2, '0')}-${String(local.getUTCDate()).padStart(2, '0')}`;
}

/** `12 Mar 2025` (or `Mar 2025`, `2025` for partial dates); empty for no date. */
export function formatDate(s: string | null | undefined): string {
  if (!s) return '';
  if (/^\d{4}$/.test(s)) return s;
  if (/^\d{4}-\d{2}$/.test(s)) return `${MONTHS[Number(s.slice(5, 7)) - 1]} ${s.slice(0, 4)}`;
  const c = calendarDate(s);
  if (!c) return s;
  return `${c.slice(8, 10)} ${MONTHS[Number(c.slice(5, 7)) - 1]} ${c.slice(0, 4)}`;
}

/** Whole calendar days from one date to another (same day = 0), or null. */
export function daysBetween(from: string | null | undefined, to: string | null | undefined): number | null {
  const a = calendarDate(from);
  const b = calendarDate(to);
  if (!a || !b) return null;
  return Math.round((Date.parse(b) - Date.parse(a)) / 86_400_000);
}

/** Age in whole years on a day, from a birth date. */
export function ageOn(birthDate: string | null | undefined, on: string): number | null {
  const b = calendarDate(birthDate);
  const d = calendarDate(on);
  if (!b || !d) return null;
  let age = Number(d.slice(0, 4)) - Number(b.slice(0, 4));
  if (d.slice(5) < b.slice(5)) age--;
  return age;
}
