// A cohort (register) definition is a JSON file: a name, a title, the panel that owns it and a
// tree of criteria (all / any / not over criteria on the record). `parseCohort` checks it and
// names every problem (unknown fields, wrong types, values that are not codes); it never
// builds SQL — analytics/cohorts/compile.ts does, with every value a bound parameter.

export const SNOMED = 'http://snomed.info/sct';

/** A time window back from the date the cohort is run for. */
export interface Window {
  months?: number;
  days?: number;
}

export type Comparator = '>' | '>=' | '<' | '<=' | '=';
export const COMPARATORS: readonly Comparator[] = ['>', '>=', '<', '<=', '='];

/** The kinds of encounter, as the record shows them (see ENCOUNTER_KINDS in compile.ts). */
export const ENCOUNTER_KINDS = ['ae-attendance', 'emergency-admission', 'elective-admission', 'outpatient', 'community-contact', 'gp-consultation', 'any'] as const;
export type EncounterKind = (typeof ENCOUNTER_KINDS)[number];

export interface CodeList {
  /** Code system URI; SNOMED CT when absent. */
  system?: string;
  codes: string[];
}

export type Criterion =
  | { all: Criterion[] }
  | { any: Criterion[] }
  | { not: Criterion }
  | { condition: CodeList & { includeInactive?: boolean } }
  | { observation: CodeList & { within?: Window; which?: 'latest' | 'any'; comparator?: Comparator; value?: number } }
  | { encounter: { kind: EncounterKind; serviceTypes?: string[]; types?: string[]; within?: Window; atLeast?: number } }
  | { medication: CodeList & { within?: Window } }
  | { procedure: CodeList & { within?: Window } }
  | { referral: CodeList & { within?: Window } }
  | { carePlan: { categories?: CodeList; within?: Window } }
  | { age: { min?: number; max?: number } }
  | { practice: string[] }
  | { neighbourhood: string[] }
  | { register: string };

export interface CohortDefinition {
  name: string;
  title: string;
  panel: string;
  description?: string;
  /** Where the codes come from and how sure we are of them (free text, shown in the docs). */
  codeSource?: string;
  criteria: Criterion;
}

const KINDS = ['all', 'any', 'not', 'condition', 'observation', 'encounter', 'medication', 'procedure', 'referral', 'carePlan', 'age', 'practice', 'neighbourhood', 'register'] as const;
const TOP_FIELDS = new Set(['name', 'title', 'panel', 'description', 'codeSource', 'criteria']);
// Codes and identifiers are plain tokens: anything else (quotes, semicolons, spaces) is refused
// before it reaches SQL, even though every value is a bound parameter.
const CODE = /^[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}$/;
const NAME = /^[a-z0-9][a-z0-9-]{0,79}$/;
const URI = /^(https?:\/\/|urn:)[A-Za-z0-9.\-_/:%#]+$/;
const MAX_DEPTH = 16;

export class CohortDefinitionError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'CohortDefinitionError';
  }
}

/** Checks a parsed JSON value into a cohort definition, or throws naming every problem. */
export function parseCohort(input: unknown, source = 'cohort'): CohortDefinition {
  const problems: string[] = [];
  const p = (at: string, msg: string) => problems.push(`${source}: ${at}: ${msg}`);
  if (!isObject(input)) throw new CohortDefinitionError([`${source}: expected a JSON object`]);
  for (const k of Object.keys(input)) if (!TOP_FIELDS.has(k)) p(k, 'unknown field');
  if (typeof input.name !== 'string' || !NAME.test(input.name)) p('name', 'expected lower-case letters, digits and hyphens');
  for (const k of ['title', 'panel'] as const) if (typeof input[k] !== 'string' || !input[k]) p(k, 'expected a non-empty string');
  for (const k of ['description', 'codeSource'] as const) if (input[k] !== undefined && typeof input[k] !== 'string') p(k, 'expected a string');
  if (input.criteria === undefined) p('criteria', 'missing');
  else checkCriterion(input.criteria, 'criteria', 0, p);
  if (problems.length) throw new CohortDefinitionError(problems);
  return input as unknown as CohortDefinition;
}

function checkCriterion(c: unknown, at: string, depth: number, p: (at: string, msg: string) => void): void {
  if (depth > MAX_DEPTH) return p(at, `nested more than ${MAX_DEPTH} deep`);
  if (!isObject(c)) return p(at, 'expected an object with one criterion');
  const keys = Object.keys(c);
  if (keys.length !== 1) return p(at, `expected exactly one of ${KINDS.join(', ')}; got ${keys.length ? keys.join(', ') : 'none'}`);
  const kind = keys[0]!;
  const v = c[kind];
  const here = `${at}.${kind}`;
  switch (kind) {
    case 'all':
    case 'any':
      if (!Array.isArray(v) || v.length === 0) return p(here, 'expected a non-empty array of criteria');
      v.forEach((x, i) => checkCriterion(x, `${here}[${i}]`, depth + 1, p));
      return;
    case 'not':
      return checkCriterion(v, here, depth + 1, p);
    case 'condition':
      return checkFields(v, here, p, { includeInactive: 'boolean' }, true);
    case 'observation': {
      checkFields(v, here, p, { within: 'window', which: ['latest', 'any'], comparator: COMPARATORS, value: 'number' }, true);
      if (isObject(v) && (v.comparator === undefined) !== (v.value === undefined)) p(here, 'comparator and value go together');
      return;
    }
    case 'encounter': {
      checkFields(v, here, p, { kind: ENCOUNTER_KINDS, serviceTypes: 'codes', types: 'codes', within: 'window', atLeast: 'count' }, false);
      if (isObject(v) && v.kind === undefined) p(`${here}.kind`, `missing (one of ${ENCOUNTER_KINDS.join(', ')})`);
      return;
    }
    case 'medication':
    case 'procedure':
    case 'referral':
      return checkFields(v, here, p, { within: 'window' }, true);
    case 'carePlan': {
      checkFields(v, here, p, { categories: 'codelist', within: 'window' }, false);
      return;
    }
    case 'age': {
      checkFields(v, here, p, { min: 'age', max: 'age' }, false);
      if (isObject(v) && typeof v.min === 'number' && typeof v.max === 'number' && v.min > v.max) p(here, 'min is above max');
      if (isObject(v) && v.min === undefined && v.max === undefined) p(here, 'expected min or max');
      return;
    }
    case 'practice':
    case 'neighbourhood':
      return checkCodes(v, here, p);
    case 'register':
      if (typeof v !== 'string' || !NAME.test(v)) p(here, 'expected the name of another register');
      return;
    default:
      return p(at, `unknown criterion "${kind}" (expected one of ${KINDS.join(', ')})`);
  }
}

type FieldType = 'boolean' | 'number' | 'count' | 'age' | 'window' | 'codes' | 'codelist' | readonly string[];

function checkFields(v: unknown, at: string, p: (at: string, msg: string) => void, fields: Record<string, FieldType>, codeList: boolean): void {
  if (!isObject(v)) return p(at, 'expected an object');
  const allowed = new Set([...Object.keys(fields), ...(codeList ? ['system', 'codes'] : [])]);
  for (const k of Object.keys(v)) if (!allowed.has(k)) p(`${at}.${k}`, 'unknown field');
  if (codeList) checkCodeList(v, at, p);
  for (const [k, t] of Object.entries(fields)) {
    const x = v[k];
    if (x === undefined) continue;
    const f = `${at}.${k}`;
    if (Array.isArray(t)) {
      if (!t.includes(x as string)) p(f, `expected one of ${t.join(', ')}`);
    } else if (t === 'boolean') {
      if (typeof x !== 'boolean') p(f, 'expected true or false');
    } else if (t === 'number') {
      if (typeof x !== 'number' || !Number.isFinite(x)) p(f, 'expected a number');
    } else if (t === 'count') {
      if (!Number.isInteger(x) || (x as number) < 1 || (x as number) > 10_000) p(f, 'expected a whole number from 1');
    } else if (t === 'age') {
      if (!Number.isInteger(x) || (x as number) < 0 || (x as number) > 150) p(f, 'expected whole years from 0 to 150');
    } else if (t === 'window') {
      checkWindow(x, f, p);
    } else if (t === 'codes') {
      checkCodes(x, f, p);
    } else if (t === 'codelist') {
      if (!isObject(x)) p(f, 'expected an object with codes');
      else {
        for (const kk of Object.keys(x)) if (kk !== 'system' && kk !== 'codes') p(`${f}.${kk}`, 'unknown field');
        checkCodeList(x, f, p);
      }
    }
  }
}

function checkCodeList(v: Record<string, unknown>, at: string, p: (at: string, msg: string) => void): void {
  if (v.system !== undefined && (typeof v.system !== 'string' || !URI.test(v.system))) p(`${at}.system`, 'expected a code system URI');
  if (v.codes === undefined) p(`${at}.codes`, 'missing');
  else checkCodes(v.codes, `${at}.codes`, p);
}

function checkCodes(v: unknown, at: string, p: (at: string, msg: string) => void): void {
  if (!Array.isArray(v) || v.length === 0) return p(at, 'expected a non-empty array of codes');
  v.forEach((c, i) => {
    if (typeof c !== 'string' || !CODE.test(c)) p(`${at}[${i}]`, `${JSON.stringify(c)} is not a code (letters, digits, . - _ only)`);
  });
}

function checkWindow(v: unknown, at: string, p: (at: string, msg: string) => void): void {
  if (!isObject(v)) return p(at, 'expected {"months": N} or {"days": N}');
  for (const k of Object.keys(v)) if (k !== 'months' && k !== 'days') p(`${at}.${k}`, 'unknown field');
  for (const k of ['months', 'days']) {
    const x = v[k];
    if (x !== undefined && (!Number.isInteger(x) || (x as number) < 1 || (x as number) > 1200)) p(`${at}.${k}`, 'expected a whole number from 1');
  }
  if (v.months === undefined && v.days === undefined) p(at, 'expected months or days');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The start date (YYYY-MM-DD) of a window ending on asOf. */
export function windowStart(asOf: string, w: Window): string {
  const d = new Date(`${asOf}T00:00:00Z`);
  if (w.months) d.setUTCMonth(d.getUTCMonth() - w.months);
  if (w.days) d.setUTCDate(d.getUTCDate() - w.days);
  return d.toISOString().slice(0, 10);
}
