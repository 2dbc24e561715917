/**
 * Bulk Data kick-off parameters (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters),
 * from a query string or a POSTed Parameters resource, into an export request or a list of
 * problems. Pure. Bevan implements `_outputFormat`, `_since`, `_type`, `_typeFilter`, `_elements` and `patient`; the IG's other
 * parameters (and any unknown one) are refused, or ignored and reported when the client sends
 * `Prefer: handling=lenient`, as the IG allows.
 */
import type { ExportLevel } from '../../access/policy.ts';
import { R4_RESOURCE_TYPES } from '../../ingest/fhir/r4.ts';
import { parseTypeFilters } from './type-filter.ts';
import { parseExportElements } from './elements.ts';

/** `_outputFormat` values accepted (the IG requires the full type and its two short forms); all mean NDJSON. */
export const OUTPUT_FORMATS = ['application/fhir+ndjson', 'application/ndjson', 'ndjson'] as const;
export const NDJSON = 'application/fhir+ndjson';

/** Reference data (no person): exported at system level only. Every other FHIR R4 type is exported as a person's (the merged Patient standing for every source's Patient). */
export const REFERENCE_TYPES = ['Organization', 'Location', 'Practitioner', 'PractitionerRole', 'Medication', 'HealthcareService'] as const;

/** True for the types a level exports: any FHIR R4 resource type, reference data at system level only. */
export function exportable(type: string, level: ExportLevel): boolean {
  return R4_RESOURCE_TYPES.has(type) && (level === 'system' || !(REFERENCE_TYPES as readonly string[]).includes(type));
}

/** True when the export's types (null: all) include any reference data. */
export function wantsReference(types: readonly string[] | null, level: ExportLevel): boolean {
  return level === 'system' && (types === null || types.some((t) => (REFERENCE_TYPES as readonly string[]).includes(t)));
}

/** Parameters the Bulk Data IG defines that Bevan does not implement. */
export const UNSUPPORTED_PARAMETERS = [ 'includeAssociatedData', '_until', 'organizeOutputBy', 'allowPartialManifests'] as const;
const SUPPORTED = new Set(['_outputFormat', '_since', '_type', '_typeFilter', '_elements', 'patient']);

export interface ExportParameters {
  /** Types asked for, in the order given; null: every type the level covers. */
  types: string[] | null;
  /** `_typeFilter` queries accepted (fhir/bulk-export/type-filter.ts). */
  typeFilters: string[];
  /** `_elements`: `Type.element` or `element` (fhir/bulk-export/elements.ts); none for whole resources. */
  elements: string[];
  /** `patient` (Patient and Group level): the Patient ids named (a person id, or a source Patient's stable id); none for everyone. */
  patients: string[];
  /** ISO instant: only what changed after it. */
  since: string | null;
  outputFormat: string;
  /** Unsupported or unknown parameters ignored because the client asked for lenient handling. */
  ignored: string[];
}

export type ParseResult = { kind: 'ok'; params: ExportParameters } | { kind: 'invalid'; problems: string[] };

/** FHIR instant (https://hl7.org/fhir/R4/datatypes.html#instant); a date alone is accepted as its first moment (UTC). */
const INSTANT = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?$/;

/**
 * Parses kick-off parameters (each name with every value it was given; repeated parameters and
 * comma-separated lists both count, as the IG says).
 */
export function parseExportParameters(raw: Record<string, string[]>, level: ExportLevel, lenient: boolean): ParseResult {
  const problems: string[] = [];
  const ignored: string[] = [];
  for (const name of Object.keys(raw)) {
    if (SUPPORTED.has(name)) continue;
    const why = (UNSUPPORTED_PARAMETERS as readonly string[]).includes(name) ? `${name} is not supported by this server` : `${name} is not a Bulk Data kick-off parameter`;
    if (lenient) ignored.push(name);
    else problems.push(`${why} (supported: _outputFormat, _since, _type, _typeFilter, _elements, patient; send Prefer: handling=lenient to have it ignored)`);
  }

  const formats = raw._outputFormat ?? [];
  // Every accepted form means FHIR NDJSON, the one format written.
  const outputFormat = NDJSON;
  if (formats.length > 1) problems.push('_outputFormat: give it once');
  else if (formats.length === 1) {
    // An unencoded + in a query string arrives as a space: application/fhir ndjson is application/fhir+ndjson.
    const f = formats[0]!.trim().replace(/ /g, '+');
    if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) problems.push(`_outputFormat "${f}" is not supported (supported: ${OUTPUT_FORMATS.join(', ')})`);
  }

  const sinces = raw._since ?? [];
  let since: string | null = null;
  if (sinces.length > 1) problems.push('_since: give it once');
  else if (sinces.length === 1) {
    const s = sinces[0]!.trim();
    const t = INSTANT.test(s) ? Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s) : Number.NaN;
    if (Number.isNaN(t)) problems.push(`_since "${s}" is not a FHIR instant (e.g. 2025-01-01T00:00:00Z)`);
    else since = new Date(t).toISOString();
  }

  let types: string[] | null = null;
  if (raw._type) {
    const asked = raw._type.flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean);
    const unknown = asked.filter((t) => !exportable(t, level));
    if (!asked.length) problems.push('_type: name at least one resource type');
    if (unknown.length) {
      const msg = `_type: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not exported at ${level} level (FHIR R4 resource types${level === 'system' ? '' : `; reference data (${REFERENCE_TYPES.join(', ')}) at system level only`})`;
      if (lenient) ignored.push(`_type=${unknown.join(',')}`);
      else problems.push(msg);
    }
    types = [...new Set(asked.filter((t) => exportable(t, level)))];
    if (lenient && asked.length && !types.length) problems.push(`_type: none of ${asked.join(', ')} is exported at ${level} level`);
  }
  const filters = parseTypeFilters(raw._typeFilter ?? [], types, lenient);
  problems.push(...filters.problems);
  ignored.push(...filters.ignored);
  const elements = parseExportElements(raw._elements ?? [], (t) => exportable(t, level));
  if (lenient && elements.problems.length) ignored.push(...elements.problems.map((p) => p.replace(/^_elements: /, '_elements ')));
  else problems.push(...elements.problems);
  const patients = parsePatientParameter(raw.patient ?? [], level);
  problems.push(...patients.problems);
  if (problems.length) return { kind: 'invalid', problems };
  return { kind: 'ok', params: { types, typeFilters: filters.queries, elements: elements.elements, patients: patients.ids, since, outputFormat, ignored } };
}

const PATIENT_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;

/**
 * The `patient` parameter: Patient references (a POSTed valueReference, or `Patient/{id}` in a
 * query string), relative or absolute. Not at system level (the IG); ids Bevan could never have
 * issued are problems, ids it does not know are reported in the manifest's error file.
 */
export function parsePatientParameter(values: readonly string[], level: ExportLevel): { ids: string[]; problems: string[] } {
  if (!values.length) return { ids: [], problems: [] };
  if (level === 'system') return { ids: [], problems: ['patient: not for a system-level export (use Patient/$export or Group/{id}/$export)'] };
  const ids: string[] = [];
  const problems: string[] = [];
  for (const v of values) {
    let ref: unknown = v;
    if (v.startsWith('{')) {
      try {
        ref = (JSON.parse(v) as { reference?: unknown }).reference;
      } catch {
        ref = undefined;
      }
    }
    for (const one of typeof ref === 'string' ? ref.split(',') : [undefined]) {
      const m = typeof one === 'string' ? /(?:^|\/)Patient\/([^/]+)$/.exec(one.trim()) : null;
      const id = m?.[1]?.toLowerCase();
      if (!id || !PATIENT_ID.test(id)) problems.push(`patient: ${JSON.stringify(String(one ?? v).slice(0, 100))} is not a reference to a Patient of this server (Patient/{id})`);
      else ids.push(id);
    }
  }
  return { ids: [...new Set(ids)], problems };
}

/** A query string (Fastify's parsed form: a value or a list) as name → values. */
export function fromQuery(query: Record<string, string | string[] | undefined>): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String) : [String(v)];
  }
  return out;
}

/**
 * A POSTed Parameters resource (https://hl7.org/fhir/R4/parameters.html) as name → values. Each
 * parameter carries a string-like value (valueString, valueInstant, valueDateTime, valueCode…);
 * anything else is a problem.
 */
export function fromParameters(body: unknown): { kind: 'ok'; raw: Record<string, string[]> } | { kind: 'invalid'; problems: string[] } {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  if (body === undefined || body === null || body === '') return { kind: 'ok', raw: out };
  const b = body as { resourceType?: unknown; parameter?: unknown };
  if (typeof b !== 'object' || b.resourceType !== 'Parameters') return { kind: 'invalid', problems: ['the body of a POST kick-off is a FHIR Parameters resource'] };
  if (b.parameter === undefined) return { kind: 'ok', raw: out };
  if (!Array.isArray(b.parameter)) return { kind: 'invalid', problems: ['Parameters.parameter must be a list'] };
  const problems: string[] = [];
  for (const p of b.parameter as unknown[]) {
    const param = p as Record<string, unknown> | null;
    const name = param && typeof param === 'object' ? param.name : undefined;
    if (typeof name !== 'string' || !name) {
      problems.push('every parameter needs a name');
      continue;
    }
    const valueKey = Object.keys(param!).find((k) => k.startsWith('value'));
    const value = valueKey ? param![valueKey] : undefined;
    // A value that is not a string (a valueReference for patient, say) still names the parameter, so that it is reported as unsupported.
    (out[name] ??= []).push(typeof value === 'string' ? value : JSON.stringify(value ?? null));
  }
  return problems.length ? { kind: 'invalid', problems } : { kind: 'ok', raw: out };
}
