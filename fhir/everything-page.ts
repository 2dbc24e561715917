/**
 * One page of `Patient/{id}/$everything` (https://hl7.org/fhir/R4/patient-operation-everything.html)
 * from the integrated record and the rows the user may see. The merged Patient stands first (so
 * it is on the first page, and the page links walk the rest); the person's resources follow in a
 * stable order: when Bevan received them (meta.lastUpdated), then type, then id. The source
 * systems' own Patients are not listed (the merged Patient links to them). `_type` keeps the
 * listed types, `_since` what was received at or after the instant; the merged Patient is always
 * there, as the anchor of the record. `start`/`end` keep what falls in a range of care dates
 * (the resource's clinical date, not when Bevan received it); a resource with no care date
 * (an allergy recorded without one, a care team) is kept, since leaving it out would hide it.
 * `total` counts every entry over all pages. Pure.
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { fhirLogicalId, personPatientKeys, presentResource, toMergedPatient } from '../record/fhir-bundle.ts';
import type { IntegratedRecord } from '../record/integrated-record.ts';
import type { ResourceRow } from '../record/rows.ts';
import { redactedTag, withMergedPatientMeta } from './history.ts';
import { dateRanges } from './search/match.ts';
import { DEFAULT_SORT, isClinicalType, paramOf, type SearchParamDef } from './search/params.ts';

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
  /** `start`/`end`: care dates as epoch milliseconds, [lo, hi) (either open). */
  care?: { lo: number; hi: number };
}

/**
 * Where a resource's care date sits, for the types without a search table of their own: the R4
 * elements that date care (the clinical types use their search's default date, params.ts).
 */
const CARE_DATE: SearchParamDef = {
  name: 'care-date',
  type: 'date',
  paths: ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant', 'period', 'onsetDateTime', 'onsetPeriod', 'performedDateTime', 'performedPeriod', 'occurrenceDateTime', 'occurrencePeriod', 'authoredOn', 'issued', 'recordedDate', 'start', 'created', 'date', 'whenHandedOver', 'sent'],
  description: 'the date of the care a resource records',
};

function careDateParam(type: string): SearchParamDef {
  return (isClinicalType(type) && paramOf(type, DEFAULT_SORT[type])) || CARE_DATE;
}

/** Does a resource fall within the care dates (or have none)? */
export function inCareRange(resource: Resource, care: { lo: number; hi: number }): boolean {
  const ranges = dateRanges(resource, careDateParam(resource.resourceType));
  return !ranges.length || ranges.some((r) => r.lo < care.hi && r.hi > care.lo);
}

/** The page as a searchset Bundle (every entry a match), without fullUrls and links (the HTTP layer adds them). */
export function everythingPage(record: IntegratedRecord, rows: readonly ResourceRow[], o: EverythingOptions = {}): Bundle {
  const sourcePatients = rows.filter((r) => r.resource_type === 'Patient');
  let listed = rows.filter((r) => r.resource_type !== 'Patient');
  if (o.types?.length) listed = listed.filter((r) => o.types!.includes(r.resource_type));
  if (o.since) listed = listed.filter((r) => r.received_at >= o.since!);
  if (o.care) listed = listed.filter((r) => inCareRange(r.content as Resource, o.care!));
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
  for (const { r, id } of keyed.slice(Math.max(0, offset - 1), Math.max(0, end - 1))) entries.push(match(presentResource(r, record.personId, patientKeys, { inPlace: o.inPlace === true, id })));
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
