/**
 * One CSV row of a known contract → an ingest item: pure, no I/O. Values are checked by their
 * contract type; the first bad value rejects the row with the column, value and line named.
 * Resource mappings follow docs/feeds.md "CSV".
 */
import { sha256Hex, sharedValue } from '../prepare.ts';
import type { EpisodeOfCare, Encounter, Extension, Patient, Procedure, Resource } from '@medplum/fhirtypes';
import type { AcceptedItem, RejectedItem, Sex, SourceIdentity } from '../model.ts';
import { isRealDate } from '../fhir/validate.ts';
import { NHS_NUMBER_SYSTEM, ODS_SYSTEM } from '../fhir/bundle.ts';
import type { ColumnType, CsvContract } from './contracts.ts';

export const SNOMED = 'http://snomed.info/sct';
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const WEEKLY_COST_URL = 'https://bevan.example/fhir/StructureDefinition/weekly-cost';
export const HOURS_PER_WEEK_URL = 'https://bevan.example/fhir/StructureDefinition/hours-per-week';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Sex as extracts send it: letters, words, or the NHS Data Dictionary person stated gender codes
 * (1 male, 2 female, 9 indeterminate → FHIR `other`, X and 0 not known).
 */
const SEX_VALUES: ReadonlyMap<string, Sex> = new Map<string, Sex>([
  ['m', 'male'], ['male', 'male'], ['1', 'male'],
  ['f', 'female'], ['female', 'female'], ['2', 'female'],
  ['9', 'other'], ['i', 'other'], ['o', 'other'], ['other', 'other'], ['indeterminate', 'other'],
  ['u', 'unknown'], ['unknown', 'unknown'], ['x', 'unknown'], ['0', 'unknown'], ['not known', 'unknown'],
]);

/** A checked cell value: a date as ISO, numbers as numbers, sex as FHIR gender. */
type Value = string | number | undefined;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const UK_DATE = /^(\d{1,2})([/-])(\d{1,2})\2(\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$/;
const BASIC_DATE = /^(\d{4})(\d{2})(\d{2})$/;
/** Day, month name, four-digit year: `3-Apr-2024`, `03-APR-2024`, `3 April 2024`, `3/Apr/2024` (Oracle, SQL Server and Excel exports). */
const NAMED_MONTH_DATE = /^(\d{1,2})([-/ ])([A-Za-z]{3,9})\.?\2(\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$/;
/** An Excel date serial (days since 1899-12-30), perhaps with a time as its fraction: a spreadsheet saved as CSV without a date format. */
const EXCEL_SERIAL = /^(\d{4,5})(?:\.\d+)?$/;
const MONTHS: ReadonlyMap<string, number> = new Map(
  ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'].flatMap((name, i) => [
    [name, i + 1],
    [name.slice(0, 3), i + 1],
    ...(name === 'september' ? [['sept', 9] as [string, number]] : []),
  ]),
);

/**
 * The date an Excel serial stands for, or null. Only four or five digits are read so (1902 to
 * 2173), and never a four-digit number that reads as a year from 1800 to 2100: `2024` is a year
 * sent where a date belongs, not 16 July 1905, and is rejected.
 */
function excelSerialDate(text: string): [number, number, number] | null {
  const m = EXCEL_SERIAL.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  if (m[1]!.length === 4 && n >= 1800 && n <= 2100) return null;
  const t = new Date(Date.UTC(1899, 11, 30) + n * 86_400_000);
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}

/**
 * ISO `YYYY-MM-DD` from a date as extracts write it, or null when it is not a real date: ISO 8601
 * (a date-time, with `T` or a space, gives its date as written), `yyyymmdd`, the UK `dd/mm/yyyy`,
 * `dd-mm-yyyy`, `d/m/yyyy`, a month by name (`3-Apr-2024`, `3 April 2024`; a time after any of
 * these is allowed), or an Excel serial (`45385`). Never the US month first: `03/04/2024` is
 * 3 April; and never a two-digit year, whose century cannot be told for a date of birth.
 */
export function parseCsvDate(text: string): string | null {
  // The two forms nearly every extract sends, read by character codes (no regex, no match array):
  // `YYYY-MM-DD` is returned as it is when real; `DD/MM/YYYY` and `DD-MM-YYYY` are rebuilt.
  if (text.length === 10) {
    const c2 = text.charCodeAt(2);
    if (text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45 && isDigits(text, 0, 4) && isDigits(text, 5, 7) && isDigits(text, 8, 10)) {
      return isRealDate(digits(text, 0, 4), digits(text, 5, 7), digits(text, 8, 10)) ? text : null;
    }
    if ((c2 === 47 || c2 === 45) && text.charCodeAt(5) === c2 && isDigits(text, 0, 2) && isDigits(text, 3, 5) && isDigits(text, 6, 10)) {
      return isRealDate(digits(text, 6, 10), digits(text, 3, 5), digits(text, 0, 2)) ? `${text.slice(6)}-${text.slice(3, 5)}-${text.slice(0, 2)}` : null;
    }
  }
  let y: number, mo: number, d: number;
  let m = ISO_DATE.exec(text) ?? BASIC_DATE.exec(text);
  if (m) [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else if ((m = UK_DATE.exec(text))) [d, mo, y] = [Number(m[1]), Number(m[3]), Number(m[4])];
  else if ((m = NAMED_MONTH_DATE.exec(text))) {
    const month = MONTHS.get(m[3]!.toLowerCase());
    if (month === undefined) return null;
    [d, mo, y] = [Number(m[1]), month, Number(m[4])];
  } else {
    const serial = excelSerialDate(text);
    if (!serial) return null;
    [y, mo, d] = serial;
  }
  if (!isRealDate(y, mo, d)) return null;
  return `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function isDigits(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function digits(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + text.charCodeAt(i) - 48;
  return n;
}

/**
 * A number as extracts write it: `1200.50`, with thousands separated by commas (`1,200.50`), and a
 * money column's `£` (`£250.00`). Null otherwise: a decimal comma (`250,50`) is not guessed at.
 */
export function parseCsvNumber(text: string, whole: boolean): number | null {
  if ((whole ? PLAIN_INTEGER : PLAIN_DECIMAL).test(text)) return Number(text);
  const t = text.replace(POUND, '$1');
  if (t !== text && (whole ? PLAIN_INTEGER : PLAIN_DECIMAL).test(t)) return Number(t);
  if ((whole ? GROUPED_INTEGER : GROUPED_DECIMAL).test(t)) return Number(t.replace(/,/g, ''));
  return null;
}
const PLAIN_INTEGER = /^[+-]?\d{1,15}$/;
const PLAIN_DECIMAL = /^[+-]?(\d{1,15}(\.\d*)?|\.\d+)$/;
const GROUPED_INTEGER = /^[+-]?\d{1,3}(,\d{3}){1,4}$/;
const GROUPED_DECIMAL = /^[+-]?\d{1,3}(,\d{3}){1,4}(\.\d*)?$/;
const POUND = /^([+-]?)£\s*/;

// Helpers are top-level functions, not per-row closures: under tsx each closure costs a
// defineProperty (esbuild keepNames), which halved CSV throughput.
function badValue(column: string, raw: string, what: string): CellProblem {
  return new CellProblem(`column ${column} value ${shown(raw)} is not ${what}`);
}

/** A cell that fails its type: the one object checkCell makes, and only for a bad value (a good one is returned bare). */
class CellProblem {
  constructor(readonly problem: string) {}
}

/** A cell's value quoted for a reason; a long one (a whole file in one cell) cut to its start. */
export function shown(value: unknown): string {
  const text = String(value);
  return text.length > 80 ? `${JSON.stringify(text.slice(0, 80))}… (${text.length} characters)` : JSON.stringify(text);
}

/** Checks one cell; returns the value or a reason (without the line, which the caller adds). */
function checkCell(column: string, type: ColumnType, raw: string): Value | CellProblem {
  const text = raw.trim();
  if (text === '') return undefined;
  switch (type) {
    case 'text':
      return text;
    case 'code':
      return /\s/.test(text) ? badValue(column, raw, 'a code (it contains spaces)') : text;
    case 'nhs-number':
      // A spreadsheet that took the NHS number for a number and wrote it in scientific notation
      // (`9.43477E+09`) has lost digits: no number can be told from it, so the row is rejected.
      if (/^\d(\.\d+)?e\+?\d+$/i.test(text)) return badValue(column, raw, 'an NHS number: a spreadsheet has written it as a number in scientific notation and its digits are lost; export the column as text');
      // Kept as sent (spaces and dashes removed: `943 476 5919`, `943-476-5919`); Modulus 11 is the MPI's business.
      return text.replace(/[\s-]+/g, '');
    case 'date': {
      const iso = parseCsvDate(text);
      return iso ?? badValue(column, raw, 'a valid date (YYYY-MM-DD, YYYYMMDD, day first: DD/MM/YYYY, DD-MM-YYYY, D-Mon-YYYY, or an Excel serial)');
    }
    case 'integer': {
      const n = parseCsvNumber(text, true);
      return n === null ? badValue(column, raw, 'a whole number') : n;
    }
    case 'decimal': {
      const n = parseCsvNumber(text, false);
      return n === null ? badValue(column, raw, 'a number (a point for decimals; commas only between thousands)') : n;
    }
    case 'sex': {
      const sex = SEX_VALUES.get(text.toLowerCase());
      return sex ?? badValue(column, raw, 'a sex (M, F, U, male, female, unknown, or the NHS codes 1, 2, 9, X)');
    }
  }
}

/** Quotes fields as RFC 4180 needs, to keep a row as CSV text. */
export function toCsvLine(fields: readonly string[]): string {
  return fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',');
}

export interface RowContext {
  /** 1-based line where the row starts. */
  lineNo: number;
  origin: string;
  /** The feed's configured source system key (ReadContext.source); else the contract's. */
  source?: string;
  /** The record's text as read and the delimiter its fields were split on: the row's raw text when it needs no quoting. */
  text?: string;
  delimiter?: string;
}

/** Turns one row (fields in header order; `header` holds each field's contract column, null when ignored) into an AcceptedItem, or a RejectedItem naming the bad column. */
export function itemFromRow(contract: CsvContract, header: readonly (string | null)[], fields: readonly string[], ctx: RowContext): AcceptedItem | RejectedItem {
  // A comma-separated record with no quote and no CR is its own RFC 4180 line: toCsvLine would
  // give back the same text, so it is not built again.
  const raw = ctx.text !== undefined && ctx.delimiter === ',' && !ctx.text.includes('"') && !ctx.text.includes('\r') ? ctx.text : toCsvLine(fields);
  const origin = `${ctx.origin}#${ctx.lineNo}`;
  const system = ctx.source ?? contract.system;
  if (fields.length !== header.length) return rowRejected(system, ctx.lineNo, `the row has ${fields.length} fields but the header has ${header.length}`, raw, origin);

  const values: Record<string, Value> = {};
  const typeOf = columnsByName(contract);
  let problem: string | null = null;
  for (let i = 0; i < header.length && !problem; i++) {
    const name = header[i];
    if (name === null || name === undefined) continue; // a column the contract does not have: ignored (the file's note names it)
    const col = typeOf.get(name);
    if (!col) continue;
    const r = checkCell(name, col.type, fields[i]!);
    if (r instanceof CellProblem) problem = r.problem;
    else {
      values[name] = r;
      if (r === undefined && col.required) problem = `column ${name} is required but empty`;
    }
  }
  const rowId = values[contract.idColumn];
  const messageId = typeof rowId === 'string' ? `${contract.name}:${rowId}` : undefined;
  if (problem) return rowRejected(system, ctx.lineNo, problem, raw, origin, messageId);
  // Both ids become FHIR resource ids, so they must be valid ones.
  for (const col of [contract.idColumn, contract.identityColumns.id]) {
    if (!FHIR_ID.test(String(values[col]))) {
      const reason = `column ${col} value ${shown(values[col])} cannot be a FHIR id (letters, digits, '-' and '.', at most 64)`;
      return rowRejected(system, ctx.lineNo, reason, raw, origin, messageId);
    }
  }

  const identity = identityOf(contract, system, values);
  const resources: Resource[] = [patientOf(identity), ...resourcesOf(contract, values, identity.id)];
  return {
    kind: 'accepted',
    format: 'csv',
    sourceSystem: system,
    messageId: messageId as string,
    contentHash: sha256Hex(raw),
    event: contract.name,
    idIsUnique: false,
    identities: [identity],
    resources: resources.map((resource) => ({ resource })),
    origin,
  };
}

const columnCache = new WeakMap<CsvContract, Map<string, CsvContract['columns'][number]>>();

function columnsByName(contract: CsvContract): Map<string, CsvContract['columns'][number]> {
  let m = columnCache.get(contract);
  if (!m) columnCache.set(contract, (m = new Map(contract.columns.map((c) => [c.name, c]))));
  return m;
}

function rowRejected(system: string, lineNo: number, reason: string, raw: string, origin: string, messageId?: string): RejectedItem {
  return {
    kind: 'rejected',
    format: 'csv',
    sourceSystem: system,
    ...(messageId ? { messageId } : {}),
    reason: `line ${lineNo}: ${reason}`,
    raw,
    origin,
  };
}

function str(v: Value): string | undefined {
  return v === undefined ? undefined : String(v);
}

const IDENTITY_PARTS = ['nhsNumber', 'family', 'given', 'birthDate', 'sex', 'postcode', 'practice'] as const;

function identityOf(contract: CsvContract, system: string, values: Record<string, Value>): SourceIdentity {
  const cols = contract.identityColumns;
  const identity: SourceIdentity = { system, id: String(values[cols.id]) };
  for (const key of IDENTITY_PARTS) {
    const col = cols[key];
    const v = col ? str(values[col]) : undefined;
    if (v !== undefined) (identity as unknown as Record<string, string>)[key] = v;
  }
  const email = cols.email ? str(values[cols.email]) : undefined;
  if (email) identity.emails = [email];
  const phone = cols.phone ? str(values[cols.phone]) : undefined;
  if (phone) identity.phones = [phone];
  const ids = Object.entries(cols.identifiers ?? {}).flatMap(([system, col]) => {
    const value = str(values[col]);
    return value ? [{ system, value }] : [];
  });
  if (ids.length) identity.identifiers = ids;
  return identity;
}

/**
 * The Patient the row's identity describes; the same id on every row, so it is stored once. A
 * client's rows restate it: built once per identity and shared (frozen), so that it is also
 * serialised and hashed once (ingest/prepare.ts).
 */
function patientOf(identity: SourceIdentity): Patient {
  let key = `${identity.system}\u0000${identity.id}`;
  for (const k of IDENTITY_PARTS) key += `\u0000${identity[k] ?? '\u0001'}`;
  let p = patients.get(key);
  if (!p) {
    p = sharedValue(buildPatient(identity));
    if (patients.size >= PATIENT_CACHE_SIZE) patients.clear();
    patients.set(key, p);
  }
  return p;
}

const PATIENT_CACHE_SIZE = 10_000;
const patients = new Map<string, Patient>();

function buildPatient(identity: SourceIdentity): Patient {
  const p: Patient = { resourceType: 'Patient', id: identity.id };
  if (identity.nhsNumber) p.identifier = [{ system: NHS_NUMBER_SYSTEM, value: identity.nhsNumber }];
  if (identity.family || identity.given) {
    p.name = [{ use: 'official', ...(identity.family ? { family: identity.family } : {}), ...(identity.given ? { given: [identity.given] } : {}) }];
  }
  if (identity.sex) p.gender = identity.sex;
  if (identity.birthDate) p.birthDate = identity.birthDate;
  if (identity.postcode) p.address = [{ use: 'home', postalCode: identity.postcode }];
  if (identity.practice) p.generalPractitioner = [{ identifier: { system: ODS_SYSTEM, value: identity.practice } }];
  return p;
}

function snomed(values: Record<string, Value>): { system: string; code: string; display?: string } | undefined {
  const code = str(values.snomed_code);
  if (!code) return undefined;
  const display = str(values.snomed_display);
  return { system: SNOMED, code, ...(display ? { display } : {}) };
}

function resourcesOf(contract: CsvContract, v: Record<string, Value>, personId: string): Resource[] {
  const subject = { reference: `Patient/${personId}` };
  switch (contract.name) {
    case 'community-contact': {
      const coding = snomed(v);
      const e: Encounter = {
        resourceType: 'Encounter',
        id: String(v.contact_id),
        status: 'finished',
        class: { system: ACT_CODE, code: 'HH', display: 'home health' },
        subject,
        period: { start: String(v.contact_date) },
      };
      const type = [];
      if (coding) type.push({ coding: [coding], ...(coding.display ? { text: coding.display } : {}) });
      if (v.contact_type !== undefined) type.push({ text: String(v.contact_type) });
      if (type.length) e.type = type;
      if (v.service !== undefined) e.serviceType = { text: String(v.service) };
      if (v.duration_minutes !== undefined) e.length = { value: Number(v.duration_minutes), unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' };
      if (v.staff_role !== undefined) e.participant = [{ type: [{ text: String(v.staff_role) }] }];
      if (v.team !== undefined) e.serviceProvider = { display: String(v.team) };
      return [e];
    }
    case 'mentalhealth-contact': {
      // A community mental health team contact, with the CPA status and care coordinator at that time.
      const remote = v.contact_type === 'Telephone' || v.contact_type === 'Video';
      const e: Encounter = {
        resourceType: 'Encounter',
        id: String(v.contact_id),
        status: 'finished',
        class: remote ? { system: ACT_CODE, code: 'VR', display: 'virtual' } : { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
        subject,
        period: { start: String(v.contact_date) },
      };
      const type = [v.service_line, v.contact_type, v.cpa_status].filter((x) => x !== undefined).map((x) => ({ text: String(x) }));
      if (type.length) e.type = type;
      if (v.team !== undefined) {
        e.serviceType = { text: String(v.team) };
        e.serviceProvider = { display: String(v.team) };
      }
      if (v.duration_minutes !== undefined) e.length = { value: Number(v.duration_minutes), unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' };
      if (v.care_coordinator !== undefined) {
        const role = v.care_coordinator_role !== undefined ? ` (${String(v.care_coordinator_role)})` : '';
        e.participant = [{ type: [{ text: `Care coordinator${role}` }], individual: { display: String(v.care_coordinator) } }];
      }
      return [e];
    }
    case 'socialcare-assessment': {
      const coding = snomed(v);
      const p: Procedure = {
        resourceType: 'Procedure',
        id: String(v.assessment_id),
        status: 'completed',
        category: { text: 'Social care assessment' },
        code: { ...(coding ? { coding: [coding] } : {}), ...(v.assessment_type !== undefined ? { text: String(v.assessment_type) } : {}) },
        subject,
        performedDateTime: String(v.assessment_date),
      };
      if (v.outcome !== undefined) p.outcome = { text: String(v.outcome) };
      if (v.worker_team !== undefined) p.performer = [{ actor: { display: String(v.worker_team) } }];
      return [p];
    }
    case 'socialcare-package': {
      // Adapters have no clock: a package with an end date is finished, one without is open.
      const ep: EpisodeOfCare = {
        resourceType: 'EpisodeOfCare',
        id: String(v.package_id),
        status: v.end_date !== undefined ? 'finished' : 'active',
        patient: subject,
        period: { start: String(v.start_date), ...(v.end_date !== undefined ? { end: String(v.end_date) } : {}) },
      };
      if (v.service_type !== undefined) ep.type = [{ text: String(v.service_type) }];
      if (v.provider !== undefined) ep.managingOrganization = { display: String(v.provider) };
      const ext: Extension[] = [];
      if (v.weekly_cost !== undefined) ext.push({ url: WEEKLY_COST_URL, valueMoney: { value: Number(v.weekly_cost), currency: 'GBP' } });
      if (v.hours_per_week !== undefined) ext.push({ url: HOURS_PER_WEEK_URL, valueDecimal: Number(v.hours_per_week) });
      if (ext.length) ep.extension = ext;
      return [ep];
    }
    default:
      return [];
  }
}
