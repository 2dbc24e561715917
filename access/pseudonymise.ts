/**
 * Pseudonymisation for secondary use (the `pseudonymise` obligation of access/policy.ts): who a
 * person is gives way to a keyed pseudonym, HMAC-SHA256 under a key kept in the database (table
 * `pseudonym_key`, migration 0028, purpose `secondary-use`), so the same person has the same pseudonym in every extract
 * (views join) while nobody without the key can go back from it or compute it from an id; and
 * the direct identifiers leave the resource. What it does to a resource as served:
 * - Patient (and RelatedPerson): the id becomes the pseudonym; name, telecom, identifiers,
 *   photo, contacts and links go; the address keeps only the postcode district (the outward
 *   code, "M33"); birth and death dates keep the year and month.
 * - every Reference to a Patient: `Patient/{id}` becomes `Patient/{pseudonym}`; its display and
 *   identifier go (a display is usually the name, an identifier the NHS number).
 * - every resource: identifiers (NHS numbers, hospital numbers, accession numbers) but an
 *   organisation's ODS code, the narrative (`text`) and contained resources go.
 * Free text the sources wrote (notes, comments) is kept as sent: see docs/analytics/views.md.
 * Pure, but for the key, which analytics/cohorts/pseudonym.ts keeps.
 */
import { createHmac } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';

/** Maps an id (a person id, or a source Patient's stable id) to its keyed pseudonym. */
export type Pseudonym = (id: string) => string;

/**
 * The pseudonym function for a key: the first 128 bits of HMAC-SHA256(key, id), in hex — the same
 * as cohort lists' (analytics/cohorts/pseudonym.ts), so a view's rows join a register's list.
 */
export function pseudonymFor(key: Buffer): Pseudonym {
  if (key.length < 32) throw new Error('a pseudonym key has at least 256 bits');
  const cache = new Map<string, string>();
  return (id) => {
    let p = cache.get(id);
    if (p === undefined) {
      p = createHmac('sha256', key).update(id).digest('hex').slice(0, 32);
      if (cache.size > 50_000) cache.clear();
      cache.set(id, p);
    }
    return p;
  };
}

const PERSON_TYPES = new Set(['Patient', 'RelatedPerson']);
const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;

/** Pseudonymises a resource as served, in place (give it a fresh copy), and returns it. */
export function pseudonymiseResource<T extends Resource>(resource: T, pseudonym: Pseudonym): T {
  const r = resource as T & Record<string, unknown>;
  if (r.resourceType === 'Patient' && typeof r.id === 'string') r.id = pseudonym(r.id);
  if (PERSON_TYPES.has(r.resourceType)) {
    for (const k of ['name', 'telecom', 'photo', 'contact', 'link']) delete r[k];
    if (Array.isArray(r.address)) {
      const districts = (r.address as { postalCode?: unknown }[]).map((a) => (typeof a?.postalCode === 'string' ? postcodeDistrict(a.postalCode) : null)).filter((d): d is string => !!d);
      if (districts.length) r.address = [...new Set(districts)].map((postalCode) => ({ postalCode }));
      else delete r.address;
    }
    for (const k of ['birthDate', 'deceasedDateTime']) if (typeof r[k] === 'string') r[k] = (r[k] as string).slice(0, 7);
  }
  delete r.text;
  delete r.contained;
  strip(r, pseudonym, 0);
  return resource;
}

/** The outward code of a UK postcode ("M33 7XX" → "M33"); null for anything that is not one. */
export function postcodeDistrict(postcode: string): string | null {
  const p = postcode.toUpperCase().replace(/\s+/g, '');
  const m = /^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})?$/.exec(p);
  return m ? m[1]! : null;
}

function strip(node: unknown, pseudonym: Pseudonym, depth: number): void {
  if (depth > 40 || !node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const x of node) strip(x, pseudonym, depth + 1);
    return;
  }
  const o = node as Record<string, unknown>;
  if ('identifier' in o) {
    // Organisations' codes (a registered practice's ODS code) say nothing about who the person is.
    const kept = (Array.isArray(o.identifier) ? o.identifier : [o.identifier]).filter((i) => (i as { system?: unknown } | null)?.system === ODS_SYSTEM);
    if (!kept.length) delete o.identifier;
    else o.identifier = Array.isArray(o.identifier) ? kept : kept[0];
  }
  if (typeof o.reference === 'string') {
    const m = PATIENT_REFERENCE.exec(o.reference);
    if (m) {
      o.reference = `Patient/${pseudonym(m[1]!)}`;
      delete o.display;
    } else if (/(^|\/)Patient\//.test(o.reference)) {
      // An absolute or odd reference to a Patient cannot be pseudonymised reliably: drop it.
      delete o.reference;
      delete o.display;
    }
  } else if (o.type === 'Patient' && 'display' in o) delete o.display;
  for (const v of Object.values(o)) if (v && typeof v === 'object') strip(v, pseudonym, depth + 1);
}
