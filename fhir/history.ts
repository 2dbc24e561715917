/**
 * Versions as FHIR R4 shows them (https://hl7.org/fhir/R4/http.html#history): a history Bundle's
 * entries, each with the version's resource, the request that made it and the response, and the
 * merged Patient's version. Pure.
 *
 * A stored resource's versionId is `resource.version` (1 when first received, one more each time
 * its content changes). The merged Patient (id = Bevan person id) is not stored: it is computed
 * from every source's demographics, so its versionId is a digest of what it says (16 hex digits,
 * the same whenever the computed Patient is the same) and its lastUpdated is the newest change
 * among the identities and source Patients it is built from. Only its current version exists.
 */
import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Meta, Patient, Resource } from '@medplum/fhirtypes';
import type { IntegratedRecord } from '../record/integrated-record.ts';
import type { ResourceRow } from '../record/rows.ts';

/** The merged Patient with its meta (versionId, lastUpdated); the Patient given is not changed. */
export function withMergedPatientMeta(patient: Patient, record: IntegratedRecord, rows: readonly ResourceRow[]): Patient {
  return { ...patient, meta: { ...(patient.meta ?? {}), ...mergedPatientMeta(patient, record, rows) } };
}

/** versionId and lastUpdated of a merged Patient (see above). */
export function mergedPatientMeta(patient: Patient, record: IntegratedRecord, rows: readonly ResourceRow[]): Pick<Meta, 'versionId' | 'lastUpdated'> {
  // The demographic content only: links to source Patients and meta are not part of the version.
  const { meta: _meta, link: _link, ...content } = patient;
  const versionId = createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, 16);
  const times = [...record.identities.map((i) => i.updatedAt), ...rows.filter((r) => r.resource_type === 'Patient').map((r) => r.received_at)].filter((t) => t && !Number.isNaN(Date.parse(t)));
  const newest = times.length ? new Date(Math.max(...times.map((t) => Date.parse(t)))).toISOString() : undefined;
  return { versionId, ...(newest ? { lastUpdated: newest } : {}) };
}

/** One version as a history entry: the resource, and the request and response that made it. */
export function historyEntry(resource: Resource, opts: { created: boolean }): BundleEntry {
  const ref = `${resource.resourceType}/${resource.id}`;
  const v = resource.meta?.versionId ?? '';
  return {
    resource,
    // Bevan applies its feeds: the first version came in as a create, each later one replaced it.
    request: opts.created ? { method: 'POST', url: resource.resourceType } : { method: 'PUT', url: ref },
    response: {
      status: opts.created ? '201 Created' : '200 OK',
      location: `${ref}/_history/${v}`,
      etag: etag(v),
      ...(resource.meta?.lastUpdated ? { lastModified: resource.meta.lastUpdated } : {}),
    },
  };
}

/** A history Bundle (newest first); the HTTP layer adds fullUrls and paging links. */
export function historyBundle(entries: BundleEntry[], total: number, opts: { redacted?: boolean; now: Date }): Bundle {
  const bundle: Bundle = { resourceType: 'Bundle', type: 'history', timestamp: opts.now.toISOString(), total };
  if (entries.length) bundle.entry = entries;
  if (opts.redacted) bundle.meta = { security: [redactedTag()] };
  return bundle;
}

/** The weak ETag of a version (https://hl7.org/fhir/R4/http.html#versioning). */
export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

/** HL7 v3 ObservationValue REDACTED: some items were withheld by the access policy. */
export function redactedTag() {
  return { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'some items were withheld by the access policy' };
}

/** JSON with object keys sorted, so equal content gives equal text whatever the key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
