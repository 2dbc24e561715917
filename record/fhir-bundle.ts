/**
 * The integrated record as a FHIR R4 Bundle (https://hl7.org/fhir/R4/bundle.html): the merged
 * Patient (id = Bevan person id) followed by every stored resource, each with an id unique
 * across sources, its provenance in `meta`, and references to the person's source patient
 * records pointed at the merged Patient. Pure.
 */
import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Patient, Resource } from '@medplum/fhirtypes';
import type { IntegratedRecord } from './integrated-record.ts';
import type { ResourceRow } from './rows.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
/** Identifier system for a source system's own patient id: `urn:bevan:source:<system key>`. */
export const SOURCE_ID_SYSTEM_PREFIX = 'urn:bevan:source:';

export interface BundleOptions {
  type?: 'collection' | 'searchset';
}

// FHIR ids: [A-Za-z0-9\-\.]{1,64}
const MAX_ID = 64;

/** `<source system slug>-<source id>`, made FHIR-safe; a hash keeps over-long or clashing ids unique. */
export function resourceIdFor(system: string, resourceType: string, sourceId: string, taken?: Set<string>): string {
  const slug = `${system}-${sourceId}`.replace(/[^A-Za-z0-9.-]/g, '-');
  if (slug.length <= MAX_ID && !taken?.has(slug)) return slug;
  const hash = createHash('sha256').update(`${system}\u0000${resourceType}\u0000${sourceId}`).digest('hex').slice(0, 16);
  return `${slug.slice(0, MAX_ID - 17)}-${hash}`;
}

/** The person's integrated record as one FHIR R4 Bundle. */
export function toFhirBundle(record: IntegratedRecord, rows: readonly ResourceRow[], opts: BundleOptions = {}): Bundle {
  const type = opts.type ?? 'collection';
  // Assign ids in a fixed order so the same rows always get the same ids.
  const sorted = [...rows].sort(
    (a, b) => cmp(a.source_system, b.source_system) || cmp(a.resource_type, b.resource_type) || cmp(a.source_id, b.source_id),
  );
  const idOf = new Map<string, string>();
  const takenByType = new Map<string, Set<string>>();
  for (const r of sorted) {
    const taken = takenByType.get(r.resource_type) ?? new Set<string>();
    takenByType.set(r.resource_type, taken);
    const id = resourceIdFor(r.source_system, r.resource_type, r.source_id, taken);
    taken.add(id);
    idOf.set(key(r.source_system, r.resource_type, r.source_id), id);
  }
  // Every source patient record of this person: a reference to one is a reference to the merged Patient.
  const patientKeys = new Set<string>();
  for (const i of record.identities) patientKeys.add(key(i.source.system, 'Patient', i.id));
  for (const r of rows) {
    if (r.subject_id) patientKeys.add(key(r.source_system, 'Patient', r.subject_id));
    if (r.resource_type === 'Patient') patientKeys.add(key(r.source_system, 'Patient', r.source_id));
  }

  const entries: BundleEntry[] = [];
  const sourcePatients = sorted.filter((r) => r.resource_type === 'Patient');
  const merged = mergedPatient(record, sourcePatients.map((r) => idOf.get(key(r.source_system, r.resource_type, r.source_id))!));
  entries.push(type === 'searchset' ? { resource: merged, search: { mode: 'match' } } : { resource: merged });

  for (const r of sorted) {
    const content = structuredClone(r.content) as Resource & Record<string, unknown>;
    const rewritten = rewriteReferences(content, r.source_system, r.resource_type === 'Patient', record.personId, patientKeys, idOf) as Resource;
    rewritten.id = idOf.get(key(r.source_system, r.resource_type, r.source_id))!;
    rewritten.meta = { ...(rewritten.meta ?? {}), source: r.source_system, versionId: String(r.version), lastUpdated: r.received_at };
    entries.push(type === 'searchset' ? { resource: rewritten, search: { mode: 'include' } } : { resource: rewritten });
  }
  const bundle: Bundle = { resourceType: 'Bundle', type, timestamp: record.builtAt, entry: entries };
  if (type === 'searchset') bundle.total = 1;
  return bundle;
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
  if (d.postcode) p.address = [{ postalCode: d.postcode }];
  const rp = record.registeredPractice;
  if (rp) p.generalPractitioner = [{ type: 'Organization', identifier: { system: ODS_SYSTEM, value: rp.odsCode }, display: rp.name ?? rp.odsCode }];
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
 * records becomes the merged Patient; a reference to another resource of the same source that
 * the bundle holds gets that resource's new id. Other references are left as sent.
 */
function rewriteReferences(
  node: unknown,
  system: string,
  inPatient: boolean,
  personId: string,
  patientKeys: Set<string>,
  idOf: Map<string, string>,
): unknown {
  if (Array.isArray(node)) return node.map((x) => rewriteReferences(x, system, inPatient, personId, patientKeys, idOf));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'reference' && typeof v === 'string') {
      const m = /^([A-Z][A-Za-z]+)\/([^/]+)$/.exec(v);
      if (!m) continue;
      const [, type, id] = m as unknown as [string, string, string];
      const target = idOf.get(key(system, type, id));
      // A source Patient's own links (e.g. to a retired hospital number) stay pointed at source records.
      if (type === 'Patient' && !inPatient && patientKeys.has(key(system, type, id))) obj[k] = `Patient/${personId}`;
      else if (target) obj[k] = `${type}/${target}`;
    } else if (v && typeof v === 'object') {
      obj[k] = rewriteReferences(v, system, inPatient, personId, patientKeys, idOf);
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
