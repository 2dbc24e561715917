/**
 * Does a resource match a search, in what order do matches come, and what do they reference
 * (for _include and _revinclude)? Works on resources as served (stable ids, references
 * rewritten: `Patient/{person id}`, `Encounter/{stable id}`), so a reference search compares
 * what the client sees. Token, date and reference matching after
 * https://hl7.org/fhir/R4/search.html. Pure.
 */
import type { Resource } from '@medplum/fhirtypes';
import { dateRange, LOCAL_TIME_ZONE, periodRange, rangeMatches, type Range } from './date-range.ts';
import type { ClinicalSearch, Filter, IncludeSpec, QuantityValue, SearchParamDef, SortKey, TokenValue } from './params.ts';

/** Every value at a dot path: arrays are walked at each step. */
export function valuesAt(node: unknown, path: string): unknown[] {
  let cur: unknown[] = [node];
  for (const step of path.split('.')) {
    const next: unknown[] = [];
    for (const c of cur) {
      if (!c || typeof c !== 'object') continue;
      const v = (c as Record<string, unknown>)[step];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) next.push(...v.filter((x) => x !== undefined && x !== null));
      else next.push(v);
    }
    cur = next;
    if (!cur.length) break;
  }
  return cur;
}

export function paramValues(resource: Resource, param: SearchParamDef): unknown[] {
  return param.paths.flatMap((p) => valuesAt(resource, p));
}

/** The ranges a date parameter finds in a resource (dates, instants and Periods). */
export function dateRanges(resource: Resource, param: SearchParamDef, zone: string = LOCAL_TIME_ZONE): Range[] {
  const out: Range[] = [];
  for (const v of paramValues(resource, param)) {
    const r = typeof v === 'string' ? dateRange(v, zone) : v && typeof v === 'object' ? periodRange(v as { start?: unknown; end?: unknown }, zone) : null;
    if (r) out.push(r);
  }
  return out;
}

interface Coded {
  system?: string;
  code: string;
  /** false for a bare code (its system is the one its element implies). */
  hasSystem: boolean;
}

/** The codes a token parameter finds: Codings (and a CodeableConcept's), Identifiers, codes, booleans. */
export function tokenCodes(resource: Resource, param: SearchParamDef): Coded[] {
  const out: Coded[] = [];
  const coding = (c: Record<string, unknown>) => {
    if (typeof c.code === 'string') out.push({ system: typeof c.system === 'string' ? c.system : undefined, code: c.code, hasSystem: true });
  };
  for (const v of paramValues(resource, param)) {
    if (typeof v === 'string') out.push({ code: v, hasSystem: false });
    else if (typeof v === 'boolean') out.push({ code: String(v), hasSystem: false });
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (Array.isArray(o.coding)) for (const c of o.coding) if (c && typeof c === 'object') coding(c as Record<string, unknown>);
      if (typeof o.code === 'string') coding(o);
      // An Identifier: system|value.
      if (typeof o.value === 'string' && o.code === undefined) out.push({ system: typeof o.system === 'string' ? o.system : undefined, code: o.value, hasSystem: true });
    }
  }
  return out;
}

/** The texts `:text` searches: CodeableConcept.text, Coding.display, Identifier.type.text. */
export function tokenTexts(resource: Resource, param: SearchParamDef): string[] {
  const out: string[] = [];
  for (const v of paramValues(resource, param)) {
    if (!v || typeof v !== 'object') continue;
    const o = v as Record<string, unknown>;
    if (typeof o.text === 'string') out.push(o.text);
    if (typeof o.display === 'string') out.push(o.display);
    if (Array.isArray(o.coding)) for (const c of o.coding) if (c && typeof (c as { display?: unknown }).display === 'string') out.push((c as { display: string }).display);
    const t = (o.type as { text?: unknown } | undefined)?.text;
    if (typeof t === 'string') out.push(t);
  }
  return out;
}

/** The references a reference parameter finds (`Type/id` as served). */
export function referencesOf(resource: Resource, param: SearchParamDef): string[] {
  const out: string[] = [];
  for (const v of paramValues(resource, param)) {
    const ref = v && typeof v === 'object' ? (v as { reference?: unknown }).reference : undefined;
    if (typeof ref === 'string') out.push(ref);
  }
  return out;
}

/**
 * Token match: `system|code` both equal, `code` any system, `|code` no system, `system|` any
 * code in the system. Codes compare exactly (case-sensitive). A bare code (status, a code
 * element) carries its element's implied system, so a system given with it is not compared.
 */
function tokenMatches(t: TokenValue, c: Coded): boolean {
  if (t.code !== undefined && t.code !== c.code) return false;
  if (!c.hasSystem || t.system === undefined) return true;
  if (t.system === '') return c.system === undefined || c.system === '';
  return c.system === t.system;
}

/** Case- and accent-insensitive, as FHIR string search: a word of the text starts with the value. */
function textMatches(value: string, text: string): boolean {
  const norm = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const v = norm(value.trim());
  if (!v) return false;
  const t = norm(text);
  for (let i = t.indexOf(v); i >= 0; i = t.indexOf(v, i + 1)) if (i === 0 || !/[\p{L}\p{N}]/u.test(t[i - 1]!)) return true;
  return false;
}

/** Does the resource satisfy one filter? (OR across the filter's values.) */
export function matchesFilter(resource: Resource, f: Filter, now: number, zone: string = LOCAL_TIME_ZONE): boolean {
  switch (f.kind) {
    case 'token': {
      const codes = tokenCodes(resource, f.param);
      const hit = f.values.some((t) => codes.some((c) => tokenMatches(t, c)));
      return f.modifier === 'not' ? !hit : hit;
    }
    case 'text': {
      const texts = tokenTexts(resource, f.param);
      return f.values.some((v) => texts.some((t) => textMatches(v, t)));
    }
    case 'date': {
      const ranges = dateRanges(resource, f.param, zone);
      return f.values.some((v) => ranges.some((r) => rangeMatches(v.prefix, v.range, r, now)));
    }
    case 'reference': {
      const refs = referencesOf(resource, f.param);
      return f.values.some((v) => refs.some((r) => referenceMatches(v, r)));
    }
    case 'quantity': {
      const qs = paramValues(resource, f.param).filter(isQuantity);
      return f.values.some((v) => qs.some((q) => quantityMatches(v, q)));
    }
    case 'missing': {
      const present = f.param.type === 'date' ? dateRanges(resource, f.param, zone).length > 0 : f.param.type === 'reference' ? referencesOf(resource, f.param).length > 0 : paramValues(resource, f.param).length > 0;
      return f.missing ? !present : present;
    }
  }
}

interface QuantityLike {
  value: number;
  unit?: string;
  system?: string;
  code?: string;
}

function isQuantity(v: unknown): v is QuantityLike {
  return !!v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number';
}

/**
 * Quantity match: the number by the prefix (eq and ne over the range the search value's precision
 * implies; ap within 10 %), then the unit: `system|code` both equal; `|code` or a code alone
 * against the quantity's code or its unit. Units are not converted (5 g does not match 5000 mg).
 */
export function quantityMatches(v: QuantityValue, q: QuantityLike): boolean {
  const x = q.value;
  let ok: boolean;
  switch (v.prefix) {
    case 'eq':
      ok = x >= v.lo && x < v.hi;
      break;
    case 'ne':
      ok = x < v.lo || x >= v.hi;
      break;
    case 'gt':
    case 'sa':
      ok = x > v.value;
      break;
    case 'lt':
    case 'eb':
      ok = x < v.value;
      break;
    case 'ge':
      ok = x >= v.value;
      break;
    case 'le':
      ok = x <= v.value;
      break;
    case 'ap': {
      const d = Math.abs(v.value) * 0.1;
      ok = x >= v.value - d && x <= v.value + d;
      break;
    }
  }
  if (!ok) return false;
  if (v.code === undefined) return v.system === undefined || q.system === v.system;
  if (v.system !== undefined) return q.system === v.system && q.code === v.code;
  return q.code === v.code || q.unit === v.code;
}

function referenceMatches(v: { type?: string; id: string }, ref: string): boolean {
  const slash = ref.lastIndexOf('/');
  const id = slash < 0 ? ref : ref.slice(slash + 1);
  if (id !== v.id) return false;
  if (!v.type) return true;
  const before = ref.slice(0, slash);
  const type = before.slice(before.lastIndexOf('/') + 1);
  return type === v.type;
}

/** True for filters that compare references, which only the served resource has rewritten. */
export function needsPresentation(f: Filter): boolean {
  return f.kind === 'reference' || (f.kind === 'missing' && f.param.type === 'reference');
}

/** Does the resource satisfy every filter of the search? */
export function matchesSearch(resource: Resource, search: Pick<ClinicalSearch, 'filters'>, now: number, zone: string = LOCAL_TIME_ZONE): boolean {
  return search.filters.every((f) => matchesFilter(resource, f, now, zone));
}

/**
 * Orders resources by the sort keys, then by id (so pages are stable). A date sorts ascending by
 * its earliest start and descending by its latest end (an ongoing period comes first, newest
 * first); a resource without the value comes last either way.
 */
export function sortResources<T extends Resource>(resources: readonly T[], keys: readonly SortKey[], zone: string = LOCAL_TIME_ZONE): T[] {
  const keyed = resources.map((r) => ({
    r,
    keys: keys.map((k) => {
      if (k.param.type !== 'date') return (paramValues(r, k.param)[0] as string | undefined) ?? null;
      const ranges = dateRanges(r, k.param, zone);
      if (!ranges.length) return null;
      return k.descending ? Math.max(...ranges.map((x) => x.hi)) : Math.min(...ranges.map((x) => x.lo));
    }),
  }));
  keyed.sort((a, b) => {
    for (let i = 0; i < keys.length; i++) {
      const x = a.keys[i]!;
      const y = b.keys[i]!;
      if (x === y) continue;
      if (x === null) return 1;
      if (y === null) return -1;
      const c = x < y ? -1 : 1;
      return keys[i]!.descending ? -c : c;
    }
    const ia = a.r.id ?? '';
    const ib = b.r.id ?? '';
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  });
  return keyed.map((k) => k.r);
}

/** The references an _include asks for from the matches: `Type/id`, deduplicated, in order. */
export function includeReferences(matches: readonly Resource[], spec: IncludeSpec): string[] {
  const out = new Set<string>();
  for (const r of matches) {
    if (r.resourceType !== spec.source) continue;
    for (const ref of referencesOf(r, spec.param)) {
      const m = /^([A-Z][A-Za-z]+)\/([^/]+)$/.exec(ref);
      if (!m) continue;
      if (!(spec.param.targets ?? []).includes(m[1]!)) continue;
      if (spec.target && m[1] !== spec.target) continue;
      out.add(ref);
    }
  }
  return [...out];
}

/** The candidates a _revinclude brings: those whose parameter points at one of the targets (`Type/id`). */
export function revincluded<T extends Resource>(candidates: readonly T[], spec: IncludeSpec, targets: ReadonlySet<string>): T[] {
  return candidates.filter((c) => c.resourceType === spec.source && referencesOf(c, spec.param).some((ref) => targets.has(ref) && (!spec.target || ref.startsWith(`${spec.target}/`))));
}
