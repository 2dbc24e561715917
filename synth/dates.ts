/**
 * Calendar arithmetic on whole days since 1970-01-01 (UTC), so that nothing depends on the
 * machine's time zone or clock. Times of day are minutes after midnight.
 */

const MS_PER_DAY = 86_400_000;

/** Day number of an ISO date `YYYY-MM-DD`; throws on a malformed or impossible date. */
export function parseDay(iso: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) throw new Error(`"${iso}" is not a date in the form YYYY-MM-DD`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) {
    throw new Error(`"${iso}" is not a real date`);
  }
  return Math.round(t / MS_PER_DAY);
}

/** Day number of 1 January of a year. */
export function yearStart(year: number): number {
  return Math.round(Date.UTC(year, 0, 1) / MS_PER_DAY);
}

/** Calendar year, month (1–12) and day of a day number (civil-from-days, no Date objects: it is hot). */
export function ymd(day: number): [number, number, number] {
  const z = day + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const p2 = (n: number) => (n < 10 ? '0' + n : String(n));

const isoDateCache = new Map<number, string>();

/** ISO date `YYYY-MM-DD`. */
export function isoDate(day: number): string {
  let s = isoDateCache.get(day);
  if (s === undefined) {
    const [y, m, d] = ymd(day);
    s = `${y}-${p2(m)}-${p2(d)}`;
    if (isoDateCache.size < 100_000) isoDateCache.set(day, s);
  }
  return s;
}

/** FHIR instant `YYYY-MM-DDThh:mm:00Z`. */
export function isoInstant(day: number, minute: number): string {
  return `${isoDate(day)}T${p2(Math.floor(minute / 60))}:${p2(minute % 60)}:00Z`;
}

// Formatted dates are asked for millions of times over a few thousand distinct days.
const hl7DateCache = new Map<number, string>();

/** HL7 v2 date `YYYYMMDD`. */
export function hl7Date(day: number): string {
  let s = hl7DateCache.get(day);
  if (s === undefined) {
    const [y, m, d] = ymd(day);
    s = `${y}${p2(m)}${p2(d)}`;
    if (hl7DateCache.size < 100_000) hl7DateCache.set(day, s);
  }
  return s;
}

/** HL7 v2 timestamp `YYYYMMDDhhmmss`. */
export function hl7Time(day: number, minute: number): string {
  return `${hl7Date(day)}${p2(Math.floor(minute / 60))}${p2(minute % 60)}00`;
}

/** UK date `DD/MM/YYYY`. */
export function ukDate(day: number): string {
  const [y, m, d] = ymd(day);
  return `${p2(d)}/${p2(m)}/${y}`;
}

/** Whole years between a birth day and another day. */
export function ageOn(birthDay: number, day: number): number {
  const [by, bm, bd] = ymd(birthDay);
  const [y, m, d] = ymd(day);
  let age = y - by;
  if (m < bm || (m === bm && d < bd)) age--;
  return age;
}

/** The same calendar date n years later (29 February becomes 28 February). */
export function addYears(day: number, years: number): number {
  const [y, m, d] = ymd(day);
  const t = Date.UTC(y + years, m - 1, d);
  const back = new Date(t);
  return Math.round(t / MS_PER_DAY) - (back.getUTCMonth() !== m - 1 ? back.getUTCDate() : 0);
}
