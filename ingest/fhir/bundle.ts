/**
 * Turns one parsed FHIR R4 Bundle (or a bare resource) into ingest items: pure, no I/O.
 * Rules are in docs/feeds.md ("FHIR R4 (GP systems)"): source system, the one Patient, ids,
 * references within the bundle, and which faults reject an entry rather than the bundle.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem, ItemResource, MergeInstruction, RejectedItem, Sex, SourceIdentity } from '../model.ts';
import { checkResource, NON_PERSONAL_TYPES } from './validate.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';

const BUNDLE_TYPES = new Set(['collection', 'transaction', 'batch', 'searchset', 'document']);

/** What the caller knows about the text the bundle came from. */
export interface BundleSource {
  /** sha256 (hex) of the raw text. */
  contentHash: string;
  /** The raw text, or a head of it when too big to keep; used when the whole bundle is rejected. */
  raw: string;
  origin: string;
}

type Json = Record<string, unknown>;

interface Entry {
  index: number;
  resource: Json;
  type: string;
  id: string;
  fullUrl?: string;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reject(src: BundleSource, reason: string, extra: { sourceSystem?: string; messageId?: string; raw?: string } = {}): RejectedItem {
  return {
    kind: 'rejected',
    format: 'fhir',
    ...(extra.sourceSystem ? { sourceSystem: extra.sourceSystem } : {}),
    ...(extra.messageId ? { messageId: extra.messageId } : {}),
    reason,
    raw: extra.raw ?? src.raw,
    origin: src.origin,
  };
}

/** Items for one top-level JSON value of a FHIR feed: a Bundle, or a bare Patient / non-personal resource. */
export function itemsFromFhirJson(value: unknown, src: BundleSource): IngestItem[] {
  if (!isObject(value)) return [reject(src, 'not a FHIR resource: the JSON value is not an object')];
  const type = value.resourceType;
  if (type === 'Bundle') return itemsFromBundle(value, src);
  if (typeof type !== 'string') return [reject(src, 'not a FHIR resource: no resourceType')];
  // A bare resource is read as a bundle of one, as long as it says whose it is.
  if (type === 'Patient' || NON_PERSONAL_TYPES.has(type)) {
    const meta = isObject(value.meta) ? value.meta : undefined;
    return itemsFromBundle(
      { resourceType: 'Bundle', type: 'resource', ...(meta && typeof meta.source === 'string' ? { meta: { source: meta.source } } : {}), entry: [{ resource: value }] },
      src,
    );
  }
  return [reject(src, `a ${type} resource on its own, with no Patient: send it in a Bundle with the Patient it is about`)];
}

/** Items for one Bundle: one AcceptedItem (unless the whole bundle is rejected) and a RejectedItem per bad entry. */
export function itemsFromBundle(bundle: Json, src: BundleSource): IngestItem[] {
  const bundleType = typeof bundle.type === 'string' ? bundle.type : '';
  const messageId = typeof bundle.id === 'string' && bundle.id !== '' ? bundle.id : src.contentHash;
  if (bundleType !== 'resource' && !BUNDLE_TYPES.has(bundleType)) {
    return [reject(src, `Bundle.type ${JSON.stringify(bundle.type ?? null)} is not one Bevan reads (collection, transaction, batch, searchset, document)`, { messageId })];
  }
  const rawEntries = bundle.entry === undefined ? [] : bundle.entry;
  if (!Array.isArray(rawEntries)) return [reject(src, 'Bundle.entry is not an array', { messageId })];

  // Pass 1: give every entry an id and a type; faults here reject just the entry.
  const entries: Entry[] = [];
  const entryFaults = new Map<number, string>();
  rawEntries.forEach((e, index) => {
    if (!isObject(e) || !isObject(e.resource)) {
      entryFaults.set(index, `entry ${index + 1} has no resource`);
      return;
    }
    const resource = e.resource;
    const fullUrl = typeof e.fullUrl === 'string' ? e.fullUrl : undefined;
    const type = typeof resource.resourceType === 'string' ? resource.resourceType : '';
    let id = typeof resource.id === 'string' ? resource.id : undefined;
    if (id === undefined && fullUrl?.startsWith('urn:uuid:')) id = fullUrl.slice('urn:uuid:'.length);
    const entry: Entry = { index, resource, type, id: id ?? '', ...(fullUrl ? { fullUrl } : {}) };
    entries.push(entry);
    const problem = checkResource(id !== undefined && resource.id === undefined ? { ...resource, id } : resource);
    if (problem) entryFaults.set(index, `entry ${index + 1}: ${problem}`);
    else if (id === undefined) entryFaults.set(index, `entry ${index + 1} (${type}) has no id and no urn:uuid fullUrl to take one from`);
  });

  const patients = entries.filter((e) => e.type === 'Patient');
  if (patients.length > 1) {
    return [reject(src, `bundle holds ${patients.length} Patient resources (${patients.map((p) => p.id || '?').join(', ')}); a bundle must be about one person`, { messageId })];
  }
  const patientEntry = patients[0];
  if (patientEntry && entryFaults.has(patientEntry.index)) {
    // Everything else in the bundle hangs off the Patient, so its fault rejects the whole bundle.
    return [reject(src, `the Patient is not valid: ${entryFaults.get(patientEntry.index)}`, { messageId })];
  }
  if (!patientEntry) {
    const personal = entries.find((e) => !NON_PERSONAL_TYPES.has(e.type) && !entryFaults.has(e.index));
    if (personal) return [reject(src, `bundle has no Patient, but holds ${personal.type} ${personal.id || ''} about a person`.replace(/ +$/, ''), { messageId })];
  }

  const byFullUrl = new Map<string, Entry>();
  const byTypeId = new Map<string, Entry>();
  for (const e of entries) {
    if (entryFaults.has(e.index)) continue;
    if (e.fullUrl) byFullUrl.set(e.fullUrl, e);
    byTypeId.set(`${e.type}/${e.id}`, e);
  }

  const sourceSystem = sourceSystemOf(bundle, patientEntry?.resource, byTypeId);
  if (!sourceSystem) {
    return [reject(src, 'cannot tell which source system sent this bundle: no Bundle.meta.source and no ODS code on the Patient’s generalPractitioner or managingOrganization', { messageId })];
  }

  // Pass 2: references. An entry pointing at a person-level resource that is not in the bundle
  // is rejected; that may leave others dangling, so repeat until nothing changes.
  let changed = true;
  while (changed) {
    changed = false;
    for (const e of entries) {
      if (entryFaults.has(e.index)) continue;
      // Patient.link points at other records of the person (merges), which are never in the bundle.
      const checked = e.type === 'Patient' ? { ...e.resource, link: undefined } : e.resource;
      const bad = findBadReference(checked, byFullUrl, byTypeId);
      if (bad) {
        entryFaults.set(e.index, `entry ${e.index + 1} (${e.type}/${e.id}): reference ${bad} is not in this bundle`);
        if (e.fullUrl) byFullUrl.delete(e.fullUrl);
        byTypeId.delete(`${e.type}/${e.id}`);
        changed = true;
      }
    }
  }

  if (patientEntry && entryFaults.has(patientEntry.index)) {
    return [reject(src, `the Patient is not valid: ${entryFaults.get(patientEntry.index)}`, { sourceSystem, messageId })];
  }

  const items: IngestItem[] = [];
  const resources: ItemResource[] = [];
  for (const e of entries) {
    if (entryFaults.has(e.index)) continue;
    if (e.resource.id === undefined) e.resource.id = e.id;
    rewriteReferences(e.resource, byFullUrl);
    const meta = isObject(e.resource.meta) ? e.resource.meta : undefined;
    const sourceTime = meta && typeof meta.lastUpdated === 'string' ? meta.lastUpdated : undefined;
    resources.push(sourceTime ? { resource: e.resource as unknown as Resource, sourceTime } : { resource: e.resource as unknown as Resource });
  }

  const accepted: AcceptedItem = {
    kind: 'accepted',
    format: 'fhir',
    sourceSystem,
    messageId,
    contentHash: src.contentHash,
    event: bundleType,
    idIsUnique: false,
    identities: [],
    resources,
    origin: src.origin,
  };
  if (patientEntry) {
    accepted.identities = [identityOf(patientEntry.resource, sourceSystem, byTypeId)];
    const merge = mergeOf(patientEntry.resource, sourceSystem);
    if (merge) accepted.merges = [merge];
  }
  items.push(accepted);

  for (const [index, reason] of [...entryFaults].sort((a, b) => a[0] - b[0])) {
    items.push(reject(src, reason, { sourceSystem, messageId, raw: JSON.stringify(rawEntries[index]) }));
  }
  return items;
}

function odsFromReference(ref: unknown, byTypeId: Map<string, Entry>): string | undefined {
  if (!isObject(ref)) return undefined;
  const ident = ref.identifier;
  if (isObject(ident) && ident.system === ODS_SYSTEM && typeof ident.value === 'string' && ident.value) return ident.value;
  // The reference may point at an Organization in the bundle that carries the ODS code.
  if (typeof ref.reference === 'string') {
    const org = byTypeId.get(ref.reference)?.resource;
    const ids = org && Array.isArray(org.identifier) ? org.identifier : [];
    for (const i of ids) if (isObject(i) && i.system === ODS_SYSTEM && typeof i.value === 'string' && i.value) return i.value;
  }
  return undefined;
}

function practiceOf(patient: Json, byTypeId: Map<string, Entry>): string | undefined {
  const gps = Array.isArray(patient.generalPractitioner) ? patient.generalPractitioner : [];
  for (const gp of gps) {
    const ods = odsFromReference(gp, byTypeId);
    if (ods) return ods;
  }
  return undefined;
}

function sourceSystemOf(bundle: Json, patient: Json | undefined, byTypeId: Map<string, Entry>): string | undefined {
  const meta = isObject(bundle.meta) ? bundle.meta : undefined;
  if (meta && typeof meta.source === 'string' && meta.source.trim()) return meta.source.trim();
  if (!patient) return undefined;
  const ods = practiceOf(patient, byTypeId) ?? odsFromReference(patient.managingOrganization, byTypeId);
  return ods ? `gp:${ods}` : undefined;
}

const SEXES: Record<string, Sex> = { male: 'male', female: 'female', other: 'other', unknown: 'unknown' };

/** The source identity a Patient resource carries (docs/feeds.md "Source system keys"). */
export function identityOf(patient: Json, system: string, byTypeId: Map<string, Entry> = new Map()): SourceIdentity {
  const identity: SourceIdentity = { system, id: String(patient.id) };
  const idents = Array.isArray(patient.identifier) ? patient.identifier : [];
  for (const i of idents) {
    if (isObject(i) && i.system === NHS_NUMBER_SYSTEM && typeof i.value === 'string') {
      identity.nhsNumber = i.value.replace(/\s+/g, '');
      break;
    }
  }
  const names = (Array.isArray(patient.name) ? patient.name : []).filter(isObject);
  const name = names.find((n) => n.use === 'official') ?? names[0];
  if (name) {
    if (typeof name.family === 'string') identity.family = name.family;
    if (Array.isArray(name.given) && typeof name.given[0] === 'string') identity.given = name.given[0];
  }
  if (typeof patient.birthDate === 'string') identity.birthDate = patient.birthDate;
  if (typeof patient.gender === 'string' && SEXES[patient.gender]) identity.sex = SEXES[patient.gender];
  const addresses = (Array.isArray(patient.address) ? patient.address : []).filter(isObject);
  const address = addresses.find((a) => a.use === 'home') ?? addresses[0];
  if (address && typeof address.postalCode === 'string') identity.postcode = address.postalCode;
  const practice = practiceOf(patient, byTypeId);
  if (practice) identity.practice = practice;
  return identity;
}

function mergeOf(patient: Json, system: string): MergeInstruction | undefined {
  const links = Array.isArray(patient.link) ? patient.link : [];
  for (const l of links) {
    if (!isObject(l) || l.type !== 'replaced-by' || !isObject(l.other) || typeof l.other.reference !== 'string') continue;
    const m = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(l.other.reference);
    if (m && m[1] !== patient.id) return { system, survivorId: m[1], retiredId: String(patient.id) };
  }
  return undefined;
}

const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const ABSOLUTE_REF = /^https?:\/\/.+\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** The first reference in `value` that points outside the bundle at something personal. */
function findBadReference(value: unknown, byFullUrl: Map<string, Entry>, byTypeId: Map<string, Entry>): string | undefined {
  if (Array.isArray(value)) {
    for (const v of value) {
      const bad = findBadReference(v, byFullUrl, byTypeId);
      if (bad) return bad;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  for (const key in value) {
    const v = value[key];
    if (key === 'reference' && typeof v === 'string') {
      if (!referenceResolves(v, byFullUrl, byTypeId)) return v;
    } else if (key !== 'contained' && typeof v === 'object' && v !== null) {
      const bad = findBadReference(v, byFullUrl, byTypeId);
      if (bad) return bad;
    }
  }
  return undefined;
}

function referenceResolves(ref: string, byFullUrl: Map<string, Entry>, byTypeId: Map<string, Entry>): boolean {
  if (ref.startsWith('#')) return true; // contained resource
  if (byFullUrl.has(ref)) return true;
  if (ref.startsWith('urn:')) return false;
  const m = RELATIVE_REF.exec(ref) ?? ABSOLUTE_REF.exec(ref);
  if (!m) return false;
  return byTypeId.has(`${m[1]}/${m[2]}`) || NON_PERSONAL_TYPES.has(m[1]);
}

/** Rewrites references to bundle entries by fullUrl (`urn:uuid:…` or absolute) as `<Type>/<id>`, in place. */
function rewriteReferences(value: unknown, byFullUrl: Map<string, Entry>): void {
  if (Array.isArray(value)) {
    for (const v of value) rewriteReferences(v, byFullUrl);
    return;
  }
  if (!isObject(value)) return;
  for (const key in value) {
    const v = value[key];
    if (key === 'reference' && typeof v === 'string') {
      const target = byFullUrl.get(v);
      if (target) value[key] = `${target.type}/${target.id}`;
    } else if (key !== 'contained' && typeof v === 'object' && v !== null) {
      rewriteReferences(v, byFullUrl);
    }
  }
}
