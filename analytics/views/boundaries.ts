/**
 * lowBoundary() / highBoundary() without a precision, as the SQL-on-FHIR v2 suite expects them
 * (tests/fn_boundary.json of github.com/FHIR/sql-on-fhir-v2): the least and the greatest value
 * that the written value stands for, written out to the greatest precision of its type.
 * - Decimal: 8 decimal places (more if the value has more); the low boundary is the value with
 *   zeros appended, the high one the value with 9s appended (1.587 → 1.58700000 and 1.58799999,
 *   -0.5 → -0.50000000 and -0.59999999). A JavaScript number holds 15 significant digits exactly:
 *   a boundary that needs more (123456789123.1234 at 8 places) is empty, as FHIRPath says of a
 *   precision beyond the implementation's (https://build.fhir.org/ig/HL7/FHIRPath/#lowboundaryprecision-integer-decimal--date--datetime--time).
 * - Date: to the day (1980-02 → 1980-02-01 and 1980-02-29).
 * - DateTime: to the nanosecond, with the value's time zone, or without one the widest offsets
 *   (+14:00 for the low boundary, -12:00 for the high), since the instant could be in any zone.
 * - Time: to the nanosecond.
 * Each takes and gives the text of the value; null when it is not of the form. Pure.
 */

/** The greatest number of significant decimal digits a JavaScript number holds exactly (DBL_DIG). */
const NUMBER_DIGITS = 15;
const DECIMAL_PLACES = 8;
const FRACTION_DIGITS = 9;

/** The decimal text of a number, without an exponent (1e-7 → "0.0000001"). */
export function numberText(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const places = Math.max(0, (m[3]?.length ?? 0) - Number(m[4]));
  return places <= 100 ? n.toFixed(places) : s;
}

/** The boundary of a decimal written `text`, as a number (its text has at least 8 decimal places). */
export function decimalBoundary(text: string, low: boolean): number | null {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return null;
  const [, sign, whole, fraction = ''] = m as unknown as [string, string, string, string | undefined];
  const places = Math.max(DECIMAL_PLACES, fraction.length);
  const wholeDigits = whole.replace(/^0+(?=\d)/, '');
  if (wholeDigits.length + places > NUMBER_DIGITS) return null;
  return Number(`${sign}${wholeDigits}.${fraction.padEnd(places, low ? '0' : '9')}`);
}

/** The boundary of a date (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`), to the day. */
export function dateBoundary(text: string, low: boolean): string | null {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(text);
  if (!m) return null;
  return datePart(m[1]!, m[2], m[3], low);
}

/** The boundary of a date-time (any precision from the year, with or without a time zone), to the nanosecond with a time zone. */
export function dateTimeBoundary(text: string, low: boolean): string | null {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!m) return null;
  const zone = m[8] ?? (low ? '+14:00' : '-12:00');
  return `${datePart(m[1]!, m[2], m[3], low)}T${timePart(m[4], m[5], m[6], m[7], low)}${zone}`;
}

/** The boundary of a time (`hh`, `hh:mm`, `hh:mm:ss[.fff…]`), to the nanosecond. */
export function timeBoundary(text: string, low: boolean): string | null {
  const m = /^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$/.exec(text);
  if (!m) return null;
  return timePart(m[1], m[2], m[3], m[4], low);
}

function datePart(year: string, month: string | undefined, day: string | undefined, low: boolean): string {
  const mm = month ?? (low ? '01' : '12');
  const dd = day ?? (low ? '01' : String(lastDayOfMonth(Number(year), Number(mm))).padStart(2, '0'));
  return `${year}-${mm}-${dd}`;
}

function timePart(hour: string | undefined, minute: string | undefined, second: string | undefined, fraction: string | undefined, low: boolean): string {
  const fill = (v: string | undefined, lo: string, hi: string) => v ?? (low ? lo : hi);
  const f = (fraction ?? '').padEnd(FRACTION_DIGITS, low ? '0' : '9');
  return `${fill(hour, '00', '23')}:${fill(minute, '00', '59')}:${fill(second, '00', '59')}.${f}`;
}

/** The number of days in a month of the Gregorian calendar (February 1900 has 28, February 2000 29). */
function lastDayOfMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}
