/**
 * Light validation of FHIR R4 resources as they arrive.
 *
 * Deliberately not a schema validator: the FHIR adapter must parse more than 40,000 resources
 * a second on one core, and a full StructureDefinition walk costs far more than the JSON parse
 * itself. We check what would corrupt the record or the patient index if let through — a
 * name that is not an R4 resource type, a bad id, an impossible date — and leave profile
 * conformance to the sender.
 */

// Every R4 resource type is stored as it came (Bevan interprets some; the others are kept for
// the record and for later use); only a name that is not an R4 type is refused.
import { R4_RESOURCE_TYPES } from './r4.ts';
export { NON_PERSONAL_TYPES, R4_RESOURCE_TYPES } from './r4.ts';

// FHIR date / dateTime / instant: YYYY, YYYY-MM, YYYY-MM-DD, or a full date with a time and zone.
// https://hl7.org/fhir/R4/datatypes.html#dateTime
const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** True when `y-m-d` is a day that exists (months 1–12, 29 February only in leap years). */
export function isRealDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const days = m === 2 && isLeapYear(y) ? 29 : DAYS_IN_MONTH[m - 1];
  return d <= days;
}

/** True for a valid FHIR date or dateTime (partial dates allowed; the calendar is checked). */
export function isValidFhirDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const year = Number(m[1]);
  if (year < 1) return false;
  if (m[2] !== undefined) {
    const month = Number(m[2]);
    if (month < 1 || month > 12) return false;
    if (m[3] !== undefined && !isRealDate(year, month, Number(m[3]))) return false;
  }
  if (m[4] !== undefined) {
    // FHIR requires a zone whenever hours and minutes are given.
    if (m[7] === undefined) return false;
    if (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59)) return false;
    const zone = m[7];
    if (zone !== 'Z' && (Number(zone.slice(1, 3)) > 14 || Number(zone.slice(4, 6)) > 59)) return false;
  }
  return true;
}

// Date fields checked on every resource: the ones Bevan orders, filters and matches by.
const DATE_FIELDS = [
  'birthDate',
  'effectiveDateTime',
  'onsetDateTime',
  'abatementDateTime',
  'authoredOn',
  'recordedDate',
  'performedDateTime',
  'occurrenceDateTime',
  'issued',
  'deceasedDateTime',
] as const;
const PERIOD_FIELDS = ['period', 'effectivePeriod', 'performedPeriod', 'onsetPeriod'] as const;

/** A value for a reason text: JSON-quoted (so NUL and lone surrogates are escapes), at most 80 characters. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  if (s.length <= 80) return s;
  // Never cut a surrogate pair in two: half of one cannot be stored as text.
  const cut = /[\ud800-\udbff]/.test(s[79]!) ? 79 : 80;
  return `${s.slice(0, cut)}…`;
}

/** The first problem found with one resource, as a sentence, or null when it may be stored. */
export function checkResource(resource: Record<string, unknown>): string | null {
  const type = resource.resourceType;
  if (typeof type !== 'string' || type === '') return 'resource has no resourceType';
  if (!R4_RESOURCE_TYPES.has(type)) return `unknown resource type ${/^[A-Za-z]{1,64}$/.test(type) ? type : show(type)}: not a FHIR R4 resource type`;
  if (resource.id !== undefined && (typeof resource.id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(resource.id))) {
    return `${type} id ${show(resource.id)} is not a valid FHIR id`;
  }
  for (const field of DATE_FIELDS) {
    const v = resource[field];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !isValidFhirDateTime(v)) return `${type}.${field} ${show(v)} is not a valid date`;
  }
  for (const field of PERIOD_FIELDS) {
    const p = resource[field];
    if (p === undefined) continue;
    if (typeof p !== 'object' || p === null) return `${type}.${field} is not a Period`;
    for (const end of ['start', 'end'] as const) {
      const v = (p as Record<string, unknown>)[end];
      if (v !== undefined && (typeof v !== 'string' || !isValidFhirDateTime(v))) {
        return `${type}.${field}.${end} ${show(v)} is not a valid date`;
      }
    }
  }
  const meta = typeof resource.meta === 'object' && resource.meta !== null ? (resource.meta as Record<string, unknown>) : undefined;
  if (meta && meta.lastUpdated !== undefined && (typeof meta.lastUpdated !== 'string' || !isValidFhirDateTime(meta.lastUpdated))) {
    return `${type}.meta.lastUpdated ${show(meta.lastUpdated)} is not a valid instant`;
  }
  return null;
}
