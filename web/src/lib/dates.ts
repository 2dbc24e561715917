/**
 * Dates as the NHS shows them (NHS digital service manual, "Dates": `12 March 1950`, no
 * leading zero, the month in words) and ages in whole years. FHIR dates are partial
 * (`1950`, `1950-03`, `1950-03-12`) and instants carry a time zone; all pure.
 */

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const MONTHS_SHORT = MONTHS.map((m) => m.slice(0, 3));

/** The calendar date part (YYYY, YYYY-MM or YYYY-MM-DD) of a FHIR date or dateTime, else null. */
export function datePart(value: string | null | undefined): string | null {
  if (!value) return null;
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(value);
  return m ? m[0] : null;
}

/** `1950-03-12` → `12 March 1950`; `1950-03` → `March 1950`; `1950` → `1950`; '' when absent. */
export function formatDate(value: string | null | undefined, opts: { short?: boolean } = {}): string {
  const d = datePart(value);
  if (!d) return value ?? '';
  const [y, m, day] = d.split('-');
  const names = opts.short ? MONTHS_SHORT : MONTHS;
  if (!m) return y!;
  const month = names[Number(m) - 1] ?? m;
  return day ? `${Number(day)} ${month} ${y}` : `${month} ${y}`;
}

/** A dateTime with its time of day (local), e.g. `4 January 2023, 17:00`; a date alone as formatDate. */
export function formatDateTime(value: string | null | undefined): string {
  if (!value) return '';
  if (!/T\d{2}:\d{2}/.test(value)) return formatDate(value);
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) return value;
  const local = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
  return `${formatDate(local)}, ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

/** Whole years from a birth date to a day (both YYYY-MM-DD; a partial birth date gives null). */
export function ageInYears(birthDate: string | null | undefined, on: string | Date): number | null {
  const b = datePart(birthDate);
  if (!b || b.length !== 10) return null;
  const day = typeof on === 'string' ? datePart(on) : `${on.getFullYear()}-${pad(on.getMonth() + 1)}-${pad(on.getDate())}`;
  if (!day || day.length !== 10) return null;
  const [by, bm, bd] = b.split('-').map(Number) as [number, number, number];
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  let age = y - by;
  if (m < bm || (m === bm && d < bd)) age--;
  return age >= 0 ? age : null;
}

/** How an age is said: under 2 in months would need the day; Bevan shows whole years, `0` as `under 1`. */
export function describeAge(age: number | null): string {
  if (age === null) return '';
  return age === 0 ? 'under 1 year' : `${age} year${age === 1 ? '' : 's'}`;
}

/** A sortable key for a FHIR date or instant (ISO strings sort as text once a time is added). */
export function sortKey(value: string | null | undefined): string {
  return value ?? '';
}

/** "4 minutes", "1 hour 5 minutes": how long until (or since) an instant, for notices. */
export function describeDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const h = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${h} hour${h === 1 ? '' : 's'}${rest ? ` ${rest} minute${rest === 1 ? '' : 's'}` : ''}`;
}

/** `14:05`, the local time of an instant. */
export function formatTime(t: Date | number): string {
  const d = typeof t === 'number' ? new Date(t) : t;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Today's date where the user is, YYYY-MM-DD. */
export function todayLocal(now: Date = new Date()): string {
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
