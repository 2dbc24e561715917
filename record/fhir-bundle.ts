/**
 * The integrated record as a FHIR R4 Bundle (https://hl7.org/fhir/R4/bundle.html): the merged
 * Patient (id = Bevan person id) followed by every stored resource, each with its stable
 * logical id (`fhirLogicalId`, the same as the database's `fhir_logical_id()`, so
 * `GET /Observation/{id}` finds it), its provenance in `meta`, and references to the person's
 * source patient records pointed at the merged Patient. Pure.
 */
import { hash } from 'node:crypto';
import type { Bundle, BundleEntry, Patient, Resource } from '@medplum/fhirtypes';
import { withNationalCodes } from './coding.ts';
import type { IntegratedRecord } from './integrated-record.ts';
import { defaultReferenceData } from './reference/reference-data.ts';
import type { ResourceRow } from './rows.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
/** Identifier system for a source system's own patient id: `urn:bevan:source:<system key>`. */
export const SOURCE_ID_SYSTEM_PREFIX = 'urn:bevan:source:';

export interface BundleOptions {
  type?: 'collection' | 'searchset';
  /** Include the source systems' own Patient resources (default true); $everything shows only the merged Patient. */
  sourcePatients?: boolean;
  /** Mark the bundle as having had items withheld (HL7 v3 ObservationValue REDACTED). */
  redacted?: boolean;
}

/**
 * The stable FHIR logical id of a stored resource: the first 128 bits of
 * sha256(`<type>|<length of system>:<system>|<source id>`), 32 hex digits. Deterministic from
 * the resource's key, and the same as the SQL function `fhir_logical_id` (migration 0012), which
 * indexes it. Distinct in shape from a person id (a UUID with dashes).
 */
export function fhirLogicalId(system: string, resourceType: string, sourceId: string): string {
  // One-shot hash (about twice as fast as createHash for a short text): the writer computes it for every resource (migration 0054).
  return hash('sha256', `${resourceType}|${sqlLength(system)}:${system}|${sourceId}`, 'hex').slice(0, 32);
}

/** @deprecated ids no longer depend on the bundle: use fhirLogicalId. */
export function resourceIdFor(system: string, resourceType: string, sourceId: string): string {
  return fhirLogicalId(system, resourceType, sourceId);
}

/** The length SQL's length() gives: code points, not UTF-16 units. */
function sqlLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The source patient records that stand for the person (a reference to one is a reference to the merged Patient). */
export function personPatientKeys(identities: readonly { source_system: string; source_id: string }[], rows: readonly ResourceRow[]): Set<string> {
  const out = new Set<string>();
  for (const i of identities) out.add(key(i.source_system, 'Patient', i.source_id));
  for (const r of rows) {
    if (r.subject_id) out.add(key(r.source_system, 'Patient', r.subject_id));
    if (r.resource_type === 'Patient') out.add(key(r.source_system, 'Patient', r.source_id));
  }
  return out;
}

/**
 * One stored resource as served: its stable id, provenance in meta, references rewritten, and a
 * laboratory's local code given its national coding first where the locality's mapping table
 * says so (reference/lab-code-map.csv; the local coding kept). The row is not changed.
 */
export function presentResource(r: ResourceRow, personId: string | null, patientKeys: ReadonlySet<string>, opts: { inPlace?: boolean; id?: string } = {}): Resource {
  // inPlace: the row's content is the caller's own fresh copy (a scan that reads each row once), so it is changed, not cloned.
  const content = withNationalCodes(opts.inPlace ? r.content : structuredClone(r.content), r.source_system, defaultReferenceData()) as Resource & Record<string, unknown>;
  const rewritten = rewriteReferences(content, r.source_system, r.resource_type === 'Patient', personId, patientKeys) as Resource;
  // id: the caller's fhirLogicalId of this row, where it has one already.
  rewritten.id = opts.id ?? fhirLogicalId(r.source_system, r.resource_type, r.source_id);
  rewritten.meta = { ...(rewritten.meta ?? {}), source: r.source_system, versionId: String(r.version), lastUpdated: r.received_at };
  return rewritten;
}

/** The person's integrated record as one FHIR R4 Bundle. */
export function toFhirBundle(record: IntegratedRecord, rows: readonly ResourceRow[], opts: BundleOptions = {}): Bundle {
  const type = opts.type ?? 'collection';
  const sorted = [...rows].sort(
    (a, b) => cmp(a.source_system, b.source_system) || cmp(a.resource_type, b.resource_type) || cmp(a.source_id, b.source_id),
  );
  const patientKeys = personPatientKeys(
    record.identities.map((i) => ({ source_system: i.source.system, source_id: i.id })),
    rows,
  );
  const entries: BundleEntry[] = [];
  const sourcePatients = sorted.filter((r) => r.resource_type === 'Patient');
  const merged = mergedPatient(record, sourcePatients.map((r) => fhirLogicalId(r.source_system, r.resource_type, r.source_id)));
  entries.push(type === 'searchset' ? { resource: merged, search: { mode: 'match' } } : { resource: merged });
  for (const r of sorted) {
    if (opts.sourcePatients === false && r.resource_type === 'Patient') continue;
    const resource = presentResource(r, record.personId, patientKeys);
    entries.push(type === 'searchset' ? { resource, search: { mode: 'include' } } : { resource });
  }
  const bundle: Bundle = { resourceType: 'Bundle', type, timestamp: record.builtAt, entry: entries };
  if (opts.redacted) bundle.meta = { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'some items were withheld by the access policy' }] };
  if (type === 'searchset') bundle.total = 1;
  return bundle;
}

/** The merged Patient of a person, for search results and reads (no source Patient links). */
export function toMergedPatient(record: IntegratedRecord, sourcePatientIds: string[] = []): Patient {
  return mergedPatient(record, sourcePatientIds);
}

function mergedPatient(record: IntegratedRecord, sourcePatientIds: string[]): Patient {
  const d = record.demographics;
  const p: Patient = { resourceType: 'Patient', id: record.personId, active: record.status === 'active' };
  const identifier: NonNullable<Patient['identifier']> = [];
  if (d.nhsNumber) identifier.push({ system: NHS_NUMBER_SYSTEM, value: d.nhsNumber });
  for (const i of record.identities) identifier.push({ use: 'secondary', system: `${SOURCE_ID_SYSTEM_PREFIX}${i.source.system}`, value: i.id });
  if (identifier.length) p.identifier = identifier;
  if (d.family || d.given) p.name = [{ use: 'official', family: d.family ?? undefined, given: d.given ? d.given.split(/\s+/) : undefined }];
  const gender = fhirGender(d.sex);
  if (gender) p.gender = gender;
  if (d.birthDate) p.birthDate = d.birthDate;
  // Any source reporting the death makes the merged Patient deceased (record.death says who, and any disagreement).
  if (record.death?.date) p.deceasedDateTime = record.death.date;
  else if (record.death) p.deceasedBoolean = true;
  if (d.postcode) p.address = [{ postalCode: d.postcode }];
  const rp = record.registeredPractice;
  // A literal reference too: Organization/{ODS code} is served from the locality's directory (fhir/organization-directory.ts).
  if (rp) p.generalPractitioner = [{ reference: `Organization/${rp.odsCode}`, type: 'Organization', identifier: { system: ODS_SYSTEM, value: rp.odsCode }, display: rp.name ?? rp.odsCode }];
  if (sourcePatientIds.length) p.link = sourcePatientIds.map((id) => ({ other: { reference: `Patient/${id}` }, type: 'seealso' as const }));
  return p;
}

function fhirGender(sex: string | null): Patient['gender'] | null {
  switch ((sex ?? '').toLowerCase()) {
    case 'male':
    case 'm':
      return 'male';
    case 'female':
    case 'f':
      return 'female';
    case 'other':
      return 'other';
    case 'unknown':
    case 'u':
      return 'unknown';
    default:
      return null;
  }
}

/**
 * Rewrites every `reference` in a resource: a reference to one of this person's source patient
 * records becomes the merged Patient; a relative reference `Type/id` to another resource of the
 * same source becomes that resource's stable id. Other references are left as sent.
 */
function rewriteReferences(node: unknown, system: string, inPatient: boolean, personId: string | null, patientKeys: ReadonlySet<string>): unknown {
  // In place, without an array or entry list per node: it runs over every element of every resource served.
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const x = node[i];
      if (x && typeof x === 'object') node[i] = rewriteReferences(x, system, inPatient, personId, patientKeys);
    }
    return node;
  }
  if (!node || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  for (const k in obj) {
    const v = obj[k];
    if (k === 'reference' && typeof v === 'string') {
      const m = /^([A-Z][A-Za-z]+)\/([^/]+)$/.exec(v);
      if (!m) continue;
      const [, type, id] = m as unknown as [string, string, string];
      // A source Patient's own links (e.g. to a retired hospital number) stay pointed at source records.
      if (type === 'Patient' && !inPatient && personId && patientKeys.has(key(system, type, id))) obj[k] = `Patient/${personId}`;
      else obj[k] = `${type}/${fhirLogicalId(system, type, id)}`;
    } else if (v && typeof v === 'object') {
      obj[k] = rewriteReferences(v, system, inPatient, personId, patientKeys);
    }
  }
  return obj;
}

function key(system: string, type: string, id: string): string {
  return `${system}\u0000${type}\u0000${id}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
