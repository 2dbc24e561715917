/**
 * Patient search parameters (https://hl7.org/fhir/R4/patient.html#search) → criteria for the
 * repository, paging, and the parameters Bevan does not support (reported, never silently
 * ignored: an error with `Prefer: handling=strict`, otherwise an OperationOutcome entry). Pure.
 */
import { normaliseEmail, normalisePhone } from '../mpi/fellegi-sunter.ts';
import { parseElements, type Subset } from './search/elements.ts';
import { NHS_NUMBER_SYSTEM, SOURCE_ID_SYSTEM_PREFIX } from '../record/fhir-bundle.ts';
import type { PatientCriteria, PatientSortKey } from './store.ts';
import type { DirectoryQuery } from './organization-directory.ts';
import { isClinicalType, isPatientParam, paramOf, parseClinicalSearch, type ClinicalType, type Filter, type IncludeSpec, parseIncludeSpec } from './search/params.ts';
import { dateRange } from './search/date-range.ts';

export const PATIENT_SEARCH_PARAMS = ['identifier', 'name', 'family', 'given', 'birthdate', 'gender', 'address-postalcode', 'address-city', 'address', 'address-use', 'death-date', 'deceased', 'phone', 'email', 'telecom', 'active', 'general-practitioner', '_id', '_count', '_offset', '_summary', '_elements', '_total', '_revinclude', '_include', '_sort', '_has'] as const;
/** What Patient search sorts on (`_sort`, each with an optional leading -): name is family, then given. */
const SORTS: Record<string, PatientSortKey['field'][]> = { family: ['family'], given: ['given'], name: ['family', 'given'], birthdate: ['birthdate'], gender: ['gender'], 'address-postalcode': ['postalCode'], 'address-city': ['town'], _id: ['id'] };
/** The string parameters, which take :exact and :contains (https://hl7.org/fhir/R4/search.html#string). */
const STRING_PARAMS = new Set(['name', 'family', 'given', 'address-postalcode', 'address-city', 'address']);
const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
export const MAX_COUNT = 100;
export const DEFAULT_COUNT = 20;

/**
 * `_has:{Type}:{patient|subject}:{param}={values}` (reverse chaining, https://hl7.org/fhir/R4/search.html#has):
 * people with at least one resource of the type, about them, matching the parameter. Matched in the
 * repository against what the user may see of each person (a withheld item never makes a match).
 */
export interface HasFilter {
  raw: string;
  resourceType: ClinicalType;
  filters: Filter[];
}

export type ParsedSearch =
  | { kind: 'ok'; criteria: PatientCriteria; count: number; offset: number; unknown: string[]; summaryCount: boolean; subset?: Subset; revinclude: IncludeSpec[]; has: HasFilter[]; includePractices: boolean }
  | { kind: 'invalid'; problems: string[] };

/** One query parameter may repeat (AND); each value may hold a comma list (OR). */
export function parsePatientSearch(query: Record<string, string | string[] | undefined>): ParsedSearch {
  const c: PatientCriteria = {};
  const problems: string[] = [];
  const unknown: string[] = [];
  let count = DEFAULT_COUNT;
  let offset = 0;
  let summaryCount = false;
  let subset: Subset | undefined;
  const revinclude: IncludeSpec[] = [];
  const has: HasFilter[] = [];
  let includePractices = false;
  for (const [rawKey, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).map(String);
    if (rawKey.startsWith('_has:')) {
      const h = parseHas(rawKey, values);
      if ('problem' in h) problems.push(h.problem);
      else has.push(h);
      continue;
    }
    const [key, modifier] = rawKey.split(':', 2) as [string, string | undefined];
    const stringMode: 'exact' | 'contains' | undefined = modifier === 'exact' || modifier === 'contains' ? modifier : undefined;
    const modifierOk =
      modifier === undefined ||
      (key === 'identifier' && modifier === 'exact') ||
      (STRING_PARAMS.has(key) && stringMode !== undefined) ||
      (key === 'general-practitioner' && (modifier === 'identifier' || modifier === 'Organization'));
    if (!modifierOk) {
      unknown.push(rawKey);
      continue;
    }
    const lists = values.map((v) => v.split(',').map((x) => x.trim()).filter(Boolean));
    if (lists.some((l) => l.some((x) => x.length > 200))) {
      problems.push(`${key}: a value over 200 characters`);
      continue;
    }
    switch (key) {
      case '_id':
        c.ids = [...(c.ids ?? []), ...lists.flat()];
        break;
      case 'identifier':
        for (const v of lists.flat()) {
          const bar = v.indexOf('|');
          if (bar < 0) (c.anyIdentifiers ??= []).push(v);
          else {
            const system = v.slice(0, bar);
            const value = v.slice(bar + 1);
            if (system === NHS_NUMBER_SYSTEM) (c.nhsNumbers ??= []).push(value.replace(/\s+/g, ''));
            else if (system.startsWith(SOURCE_ID_SYSTEM_PREFIX)) (c.sourceIdentifiers ??= []).push({ system: system.slice(SOURCE_ID_SYSTEM_PREFIX.length), value });
            else if (system === '') (c.anyIdentifiers ??= []).push(value);
            // Any other system: the identifiers the sources' Patients carry, as sent.
            else (c.sentIdentifiers ??= []).push({ system, value });
          }
        }
        break;
      case 'name':
      case 'family':
      case 'given':
      case 'address-postalcode':
      case 'address-city':
      case 'address': {
        const field = key === 'address-postalcode' ? ('postalCode' as const) : key === 'address-city' ? ('town' as const) : key;
        // :exact and :contains (string search's two modifiers); without one, "starts with".
        if (stringMode) (c.strings ??= []).push(...lists.map((values) => ({ field, mode: stringMode, values })));
        else if (field === 'town') (c.town ??= []).push(...lists);
        else (c[field] ??= []).push(...lists);
        break;
      }
      case 'general-practitioner':
        // The registered practice by ODS code: Organization/{ODS}, {ODS}, or :identifier with the ODS system.
        for (const list of lists) {
          const codes: string[] = [];
          for (const v of list) {
            const code = generalPractitionerCode(v, modifier);
            if (typeof code === 'string') codes.push(code);
            else if (code) problems.push(code.problem);
          }
          (c.generalPractitioner ??= []).push(codes);
        }
        break;
      case 'gender':
        for (const g of lists.flat()) {
          if (!['male', 'female', 'other', 'unknown'].includes(g)) problems.push(`gender: "${g}" is not male, female, other or unknown`);
          else (c.gender ??= []).push(g);
        }
        break;
      case 'birthdate':
      case 'death-date':
        for (const v of lists.flat()) {
          const d = dayCriteria(key, v);
          if (typeof d === 'string') problems.push(d);
          else if (key === 'birthdate') (c.birthdate ??= []).push(...d);
          else (c.deathDate ??= []).push(...d);
        }
        break;
      case 'deceased':
      case 'active': {
        for (const list of lists) {
          const flags: boolean[] = [];
          for (const v of list) {
            if (v !== 'true' && v !== 'false') problems.push(`${key}: "${v}" is not true or false`);
            else flags.push(v === 'true');
          }
          if (key === 'deceased') (c.deceased ??= []).push(flags);
          // Search finds the people whose record is current (a merged-away record is not served by
          // search), and their merged Patient is active: active=true is everyone, active=false no one.
          else if (!flags.includes(true)) c.noOne = true;
        }
        break;
      }
      case 'address-use':
        // Bevan keeps the home address of each source identity (the MPI's); any other use finds no one.
        for (const list of lists) if (!list.includes('home')) c.noOne = true;
        break;
      case 'phone':
      case 'email':
      case 'telecom':
        for (const list of lists) (c.telecom ??= []).push(telecomValues(key, list));
        break;
      case '_count':
      case '_offset': {
        const n = pageNumber(key, values.at(-1)!);
        if (typeof n === 'string') problems.push(n);
        else if (key === '_count') count = Math.min(n, MAX_COUNT);
        else offset = n;
        break;
      }
      case '_summary':
        // count: the total only (https://hl7.org/fhir/R4/search.html#summary); false is the default.
        if (values.at(-1) === 'count') summaryCount = true;
        else if (values.at(-1) === 'data') subset ??= { kind: 'data' };
        else if (values.at(-1) !== 'false') unknown.push(`_summary=${values.at(-1)}`);
        break;
      case '_elements': {
        const e = parseElements(values);
        if ('problem' in e) problems.push(e.problem);
        else subset = { kind: 'elements', names: e.names };
        break;
      }
      case '_total':
        // The total is always counted exactly, which every value allows (as the clinical searches).
        if (!['none', 'estimate', 'accurate'].includes(values.at(-1)!)) problems.push(`_total: "${values.at(-1)}" is not none, estimate or accurate`);
        break;
      case '_revinclude':
        for (const v of lists.flat()) {
          const spec = parseIncludeSpec(v);
          if (typeof spec === 'string') problems.push(`_revinclude: ${spec}`);
          else if (!(spec.param.targets ?? []).includes('Patient') || (spec.target && spec.target !== 'Patient')) problems.push(`_revinclude: ${v} does not point at Patient`);
          else revinclude.push(spec);
        }
        break;
      case '_include':
        // The registered practice (the locality's directory, fhir/organization-directory.ts); a merged
        // Patient has no managingOrganization, so Patient:organization includes nothing.
        for (const v of lists.flat()) {
          const m = /^Patient:(general-practitioner|organization)(?::(Organization))?$/.exec(v);
          if (!m) problems.push(`_include: "${v}" is not an include Patient search offers (Patient:general-practitioner, Patient:organization)`);
          else if (m[1] === 'general-practitioner') includePractices = true;
        }
        break;
      case '_sort':
        for (const v of lists.flat()) {
          const descending = v.startsWith('-');
          const fields = SORTS[descending ? v.slice(1) : v];
          if (!fields) problems.push(`_sort: "${v}" is not a sort this server offers for Patient (${Object.keys(SORTS).join(', ')}, each with an optional leading -)`);
          else for (const field of fields) if (!c.sort?.some((k) => k.field === field)) (c.sort ??= []).push({ field, descending });
        }
        break;
      case '_format':
      case '_pretty':
        break;
      default:
        unknown.push(rawKey);
    }
  }
  if (problems.length) return { kind: 'invalid', problems };
  return { kind: 'ok', criteria: c, count: summaryCount ? 0 : count, offset, unknown, summaryCount, ...(subset && !summaryCount ? { subset } : {}), revinclude: summaryCount ? [] : revinclude, has, includePractices: includePractices && !summaryCount };
}

/** One `_has:{Type}:{reference}:{param}[:modifier]` parameter, its inner search parsed as that type's search parses it. */
function parseHas(rawKey: string, values: string[]): HasFilter | { problem: string } {
  const [, type, ref, ...rest] = rawKey.split(':');
  const usage = `${rawKey}: reverse chaining is _has:{Type}:patient:{parameter} (or :subject)`;
  if (!type || !ref || !rest.length || !rest[0]) return { problem: usage };
  if (!isClinicalType(type)) return { problem: `${rawKey}: ${type} is not a type this server searches` };
  const refParam = paramOf(type, ref);
  if (!refParam || !isPatientParam(refParam)) return { problem: `${rawKey}: ${ref} is not a ${type} parameter that points at the Patient (patient or subject)` };
  if (rest[0] === '_has') return { problem: `${rawKey}: nested _has is not supported` };
  const inner = rest.join(':');
  const name = inner.split(':', 1)[0]!;
  const param = paramOf(type, name);
  if (!param || isPatientParam(param) || name.includes('.')) return { problem: `${rawKey}: ${name} is not a ${type} search parameter that _has can use` };
  const parsed = parseClinicalSearch(type, { [inner]: values });
  if (parsed.kind === 'invalid') return { problem: `${rawKey}: ${parsed.problems.join('; ')}` };
  if (parsed.search.unknown.length) return { problem: `${rawKey}: ${parsed.search.unknown.join(', ')} is not supported` };
  return { raw: rawKey, resourceType: type, filters: parsed.search.filters };
}

/** An ODS code from a general-practitioner value, null for a value that matches nobody, or why it is not one. */
function generalPractitionerCode(v: string, modifier: string | undefined): string | null | { problem: string } {
  if (modifier === 'identifier') {
    const bar = v.indexOf('|');
    const system = bar < 0 ? undefined : v.slice(0, bar);
    const value = bar < 0 ? v : v.slice(bar + 1);
    if (system !== undefined && system !== '' && system !== ODS_SYSTEM) return { problem: `general-practitioner:identifier: practices are identified by their ODS code (${ODS_SYSTEM}|CODE), not ${system}` };
    return value.trim().toUpperCase();
  }
  const m = /^(?:(Organization|Practitioner|PractitionerRole)\/)?([A-Za-z0-9-]{1,64})$/.exec(v.trim());
  if (!m) return { problem: `general-practitioner: "${v}" is not a reference (Organization/{ODS code} or {ODS code})` };
  // Bevan records the registered practice, not the named GP: a Practitioner reference matches nobody
  // (its list of codes stays empty, and an empty list matches no one).
  if (m[1] && m[1] !== 'Organization') return null;
  return m[2]!.toUpperCase();
}

/**
 * A day-precision date parameter (birthdate, death-date) as comparisons on YYYY-MM-DD: a partial date
 * is a range (1950 is 1950-01-01 to 1950-12-31); sa (starts after) and eb (ends before) compare with
 * the range's end and start; or the problem with the value.
 */
function dayCriteria(key: string, v: string): { prefix: 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le'; date: string }[] | string {
  const m = /^(eq|ne|gt|lt|ge|le|sa|eb)?(\d{4}(?:-\d{2}(?:-\d{2})?)?)$/.exec(v);
  // dateRange checks the day exists (Date.parse takes 2024-02-30 as 1 March; the database refuses it).
  if (!m || dateRange(m[2]!) === null) {
    if (/^ap/.test(v)) return `${key}: the prefix ap (approximately) is not supported`;
    return `${key}: "${v}" is not a date (YYYY, YYYY-MM or YYYY-MM-DD, with an optional prefix eq, ne, gt, lt, ge, le, sa, eb)`;
  }
  const given = (m[1] ?? 'eq') as 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb';
  const prefix = given === 'sa' ? 'gt' : given === 'eb' ? 'lt' : given;
  const d = m[2]!;
  if (d.length === 10) return [{ prefix, date: d }];
  const start = d.length === 4 ? `${d}-01-01` : `${d}-01`;
  const endDate = new Date(Date.UTC(Number(d.slice(0, 4)) + (d.length === 4 ? 1 : 0), d.length === 4 ? 0 : Number(d.slice(5, 7)), 1) - 86_400_000).toISOString().slice(0, 10);
  if (prefix === 'eq') return [{ prefix: 'ge', date: start }, { prefix: 'le', date: endDate }];
  if (prefix === 'ge' || prefix === 'lt') return [{ prefix, date: start }];
  if (prefix === 'le' || prefix === 'gt') return [{ prefix, date: endDate }];
  return `${key}: "ne" needs a full date`;
}

/**
 * One phone, email or telecom parameter's values as the MPI normalises them (mpi/fellegi-sunter.ts:
 * phone digits only, UK numbers in national form; email lower case). telecom takes `system|value`
 * (phone and sms are phone numbers, email an email; another system finds no one) or a bare value (either).
 */
function telecomValues(key: 'phone' | 'email' | 'telecom', list: string[]): { phone: string[]; email: string[] } {
  const out = { phone: [] as string[], email: [] as string[] };
  for (const v of list) {
    const bar = key === 'telecom' ? v.indexOf('|') : -1;
    const system = bar < 0 ? (key === 'telecom' ? '' : key) : v.slice(0, bar).toLowerCase();
    const value = bar < 0 ? v : v.slice(bar + 1);
    const phone = system === '' || system === 'phone' || system === 'sms' ? normalisePhone(value) : null;
    const email = system === '' || system === 'email' ? normaliseEmail(value) : null;
    if (phone) out.phone.push(phone);
    if (email) out.email.push(email);
  }
  return out;
}

/** The Patient parameters a clinical search may chain on (`patient.identifier=…`). */
const CHAINABLE = new Set(['identifier', 'name', 'family', 'given', 'birthdate', 'gender', 'address-postalcode', 'address-city', 'address', 'death-date', 'deceased', 'phone', 'email', 'telecom', 'general-practitioner', '_id']);

/** A chained patient parameter of a clinical search (`patient.{param}={values}`) as Patient criteria. */
export function patientChain(param: string, values: string[]): { criteria: PatientCriteria } | { problems: string[] } {
  const name = param.split(':', 1)[0]!;
  if (!CHAINABLE.has(name)) return { problems: [`${name} is not a Patient parameter a search can chain on (${[...CHAINABLE].join(', ')})`] };
  const parsed = parsePatientSearch({ [param]: values });
  if (parsed.kind === 'invalid') return { problems: parsed.problems };
  if (parsed.unknown.length) return { problems: [`the modifier of ${parsed.unknown.join(', ')} is not supported`] };
  return { criteria: parsed.criteria };
}

/** Organization search over the locality's directory: identifier (the ODS system, or none), _id, name (starts with a word of it), _count, _offset. */
export function parseOrganizationSearch(query: Record<string, string | string[] | undefined>): { kind: 'ok'; query: DirectoryQuery; count: number; offset: number; unknown: string[] } | { kind: 'invalid'; problems: string[] } {
  const q: DirectoryQuery = {};
  const problems: string[] = [];
  const unknown: string[] = [];
  let count = DEFAULT_COUNT;
  let offset = 0;
  const narrow = (codes: string[]) => {
    q.codes = q.codes ? q.codes.filter((c) => codes.includes(c)) : codes;
  };
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).map(String);
    if (values.some((v) => v.length > 200)) {
      problems.push(`${key}: a value over 200 characters`);
      continue;
    }
    const lists = values.map((v) => v.split(',').map((x) => x.trim()).filter(Boolean));
    switch (key) {
      case 'identifier':
        for (const list of lists) {
          const codes: string[] = [];
          for (const v of list) {
            const bar = v.indexOf('|');
            const system = bar < 0 ? undefined : v.slice(0, bar);
            if (system !== undefined && system !== '' && system !== ODS_SYSTEM) continue; // another system: no organisation here has it
            codes.push((bar < 0 ? v : v.slice(bar + 1)).toUpperCase());
          }
          narrow(codes);
        }
        break;
      case '_id':
        for (const list of lists) narrow(list.map((v) => v.toUpperCase()));
        break;
      case 'name':
        q.name = values.at(-1)!.trim();
        break;
      case '_count':
      case '_offset': {
        const n = pageNumber(key, values.at(-1)!);
        if (typeof n === 'string') problems.push(n);
        else if (key === '_count') count = Math.min(n, MAX_COUNT);
        else offset = n;
        break;
      }
      case '_format':
      case '_pretty':
        break;
      default:
        unknown.push(key);
    }
  }
  if (problems.length) return { kind: 'invalid', problems };
  return { kind: 'ok', query: q, count, offset, unknown };
}

/** `_count` (a whole number) or `_offset` (a whole number up to a million), or the problem with it. */
function pageNumber(key: '_count' | '_offset', v: string): number | string {
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 && (key === '_count' || n <= 1_000_000) ? n : `${key}: "${v}" is not a whole number`;
}
