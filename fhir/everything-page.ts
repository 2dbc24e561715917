/**
 * One page of `Patient/{id}/$everything` (https://hl7.org/fhir/R4/patient-operation-everything.html)
 * from the integrated record and the rows the user may see. The merged Patient stands first (so
 * it is on the first page, and the page links walk the rest); the person's resources follow in a
 * stable order: when Bevan received them (meta.lastUpdated), then type, then id. The source
 * systems' own Patients are not listed (the merged Patient links to them). `_type` keeps the
 * listed types, `_since` what was received at or after the instant; the merged Patient is always
 * there, as the anchor of the record. `total` counts every entry over all pages. Pure.
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { fhirLogicalId, personPatientKeys, presentResource, toMergedPatient } from '../record/fhir-bundle.ts';
import type { IntegratedRecord } from '../record/integrated-record.ts';
import type { ResourceRow } from '../record/rows.ts';
import { redactedTag, withMergedPatientMeta } from './history.ts';

export interface EverythingOptions {
  types?: string[];
  /** ISO instant. */
  since?: string;
  /** Page size; all when absent. */
  count?: number;
  offset?: number;
  redacted?: boolean;
  /** The rows' content is the caller's own and is not read again: present it in place instead of copying it. */
  inPlace?: boolean;
}

/** The page as a searchset Bundle (every entry a match), without fullUrls and links (the HTTP layer adds them). */
export function everythingPage(record: IntegratedRecord, rows: readonly ResourceRow[], o: EverythingOptions = {}): Bundle {
  const sourcePatients = rows.filter((r) => r.resource_type === 'Patient');
  let listed = rows.filter((r) => r.resource_type !== 'Patient');
  if (o.types?.length) listed = listed.filter((r) => o.types!.includes(r.resource_type));
  if (o.since) listed = listed.filter((r) => r.received_at >= o.since!);
  const keyed = listed.map((r) => ({ r, id: fhirLogicalId(r.source_system, r.resource_type, r.source_id) }));
  keyed.sort((a, b) => cmp(a.r.received_at, b.r.received_at) || cmp(a.r.resource_type, b.r.resource_type) || cmp(a.id, b.id));
  const total = 1 + keyed.length;
  const offset = o.offset ?? 0;
  const end = o.count === undefined ? total : offset + o.count;
  const patientKeys = personPatientKeys(
    record.identities.map((i) => ({ source_system: i.source.system, source_id: i.id })),
    rows,
  );
  const entries: BundleEntry[] = [];
  if (offset === 0 && end > 0) {
    const merged = toMergedPatient(record, sourcePatients.map((r) => fhirLogicalId(r.source_system, r.resource_type, r.source_id)));
    entries.push(match(withMergedPatientMeta(merged, record, sourcePatients)));
  }
  // Position 0 is the merged Patient; resource i stands at position i + 1.
  for (const { r } of keyed.slice(Math.max(0, offset - 1), Math.max(0, end - 1))) entries.push(match(presentResource(r, record.personId, patientKeys, { inPlace: o.inPlace === true })));
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', timestamp: record.builtAt, total };
  if (entries.length) bundle.entry = entries;
  if (o.redacted) bundle.meta = { security: [redactedTag()] };
  return bundle;
}

function match(resource: Resource): BundleEntry {
  return { resource, search: { mode: 'match' } };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
