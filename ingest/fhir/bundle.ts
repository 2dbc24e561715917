/**
 * Turns one parsed FHIR R4 Bundle (any type) or one bare resource (a Bulk Data NDJSON line) into
 * ingest items: pure, no I/O. Rules are in docs/feeds.md ("FHIR R4"): the source system, every
 * Patient as an identity, each resource's Patient by the R4 Patient compartment, ids (resource,
 * fullUrl, request), transaction references (`urn:uuid:`, conditional `Type?identifier=…`), and
 * which faults reject an entry rather than the bundle.
 */
import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { restrictedLabelOf, type AcceptedItem, type IngestItem, type ItemResource, type MergeInstruction, type ReadContext, type RejectedItem, type Sex, type SourceIdentity } from '../model.ts';
import { FALLBACK_SUBJECT_PATHS, NON_PERSONAL_TYPES, PATIENT_COMPARTMENT, R4_RESOURCE_TYPES } from './r4.ts';
import { bundleIsStu3, conversionNote, convertStu3, r4Reference, resourceIsStu3, RULES, type Stu3Result } from './stu3.ts';
import { checkResource, show } from './validate.ts';
import { badText, objectsAt, safeJson, walkResource } from './walk.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';

/**
 * The identifier systems real senders put an NHS number under: the UK Core one, its `http:` form,
 * the CareConnect/DSTU2 `fhir.nhs.net` one older GP and hospital interfaces still send, and the
 * NHS number OID (HL7 v3 and CDA, carried into FHIR by converters). Compared without case and
 * without a trailing `/`. The resource is kept as it came; only the identity reads them all.
 */
const NHS_NUMBER_SYSTEMS = new Set([
  'https://fhir.nhs.uk/id/nhs-number',
  'http://fhir.nhs.uk/id/nhs-number',
  'http://fhir.nhs.net/id/nhs-number',
  'https://fhir.nhs.net/id/nhs-number',
  'urn:oid:2.16.840.1.113883.2.1.4.1',
]);
/** The systems an ODS organisation code comes under: UK Core, CareConnect/DSTU2, and the one PDS sends on `generalPractitioner`. */
const ODS_SYSTEMS = new Set([
  'https://fhir.nhs.uk/id/ods-organization-code',
  'http://fhir.nhs.uk/id/ods-organization-code',
  'http://fhir.nhs.net/id/ods-organization-code',
  'https://fhir.nhs.net/id/ods-organization-code',
  'https://digital.nhs.uk/services/organisation-data-service',
]);
const systemKey = (s: unknown): string => (typeof s === 'string' ? s.trim().toLowerCase().replace(/\/+$/, '') : '');
export const isNhsNumberSystem = (s: unknown): boolean => s === NHS_NUMBER_SYSTEM || (typeof s === 'string' && NHS_NUMBER_SYSTEMS.has(systemKey(s)));
export const isOdsSystem = (s: unknown): boolean => s === ODS_SYSTEM || (typeof s === 'string' && ODS_SYSTEMS.has(systemKey(s)));
/**
 * An identifier of a Patient is the one a logical reference names: the same value (an NHS number
 * compared without its spaces and dashes) in the same namespace, or any namespace when the
 * reference names none.
 */
function sameIdentifier(i: { system?: string; value: string }, system: string | undefined, value: string): boolean {
  if (system !== undefined && !sameSystem(i.system, system)) return false;
  if (i.value === value) return true;
  return isNhsNumberSystem(i.system) && i.value.replace(/[\s-]+/g, '') === value.replace(/[\s-]+/g, '');
}

/** Two identifier systems that mean the same namespace: equal, or both NHS number (or both ODS) systems. */
const sameSystem = (a: string | undefined, b: string | undefined): boolean =>
  a === b || (isNhsNumberSystem(a) && isNhsNumberSystem(b)) || (isOdsSystem(a) && isOdsSystem(b));
/** An ODS code in a reference to the NHS organisation directory (`https://directory.spineservices.nhs.uk/STU3/Organization/Y12345`, PDS). */
const ODS_DIRECTORY_REF = /^https?:\/\/directory\.spineservices\.nhs\.uk\/.*\/(?:Organization|organisations)\/([A-Za-z0-9]{3,12})$/;

/** Every Bundle.type of FHIR R4 (https://hl7.org/fhir/R4/valueset-bundle-type.html). */
const BUNDLE_TYPES = new Set(['document', 'message', 'transaction', 'transaction-response', 'batch', 'batch-response', 'history', 'searchset', 'collection']);

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const URL_TAIL = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const CONDITIONAL_REF = /^([A-Z][A-Za-z]+)\?(.+)$/;

/** What the caller knows about the text the bundle came from. */
export interface BundleSource {
  /** sha256 (hex) of the raw text. */
  contentHash: string;
  /** The raw text, or a head of it when too big to keep; used when the whole bundle is rejected. */
  raw: string;
  origin: string;
  /** The text has no `\u0000` or surrogate escapes (walk.ts jsonTextIsClean): strings need no check. */
  textIsClean?: boolean;
}

type Json = Record<string, unknown>;

interface Entry {
  index: number;
  resource: Json;
  type: string;
  id: string;
  fullUrl?: string;
  references: Json[];
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

/** The source of FHIR items whose sender is named nowhere (docs/feeds.md "Source system"). */
export const UNKNOWN_FHIR_SOURCE = 'fhir:unknown';

const NO_SOURCE_HELP =
  'name the source with `bevan ingest --source KEY`, or give the folder a source in the feeds file (`bevan ingest --feeds FILE`)';

/**
 * Items for one top-level JSON value of a FHIR feed: a Bundle, or a bare resource of any R4 type
 * (Bulk Data NDJSON: one resource per line, its Patient perhaps in another file).
 */
export function itemsFromFhirJson(value: unknown, src: BundleSource, context: ReadContext = {}): IngestItem[] {
  if (!isObject(value)) return [reject(src, 'not a FHIR resource: the JSON value is not an object')];
  const type = value.resourceType;
  if (type === 'Bundle') return itemsFromBundle(value, src, context);
  if (typeof type !== 'string') return [reject(src, 'not a FHIR resource: no resourceType')];
  // An STU3 resource is converted (and then checked) with the entries of a bundle.
  const problem = resourceIsStu3(value) ? null : checkResource(value);
  if (problem) return [reject(src, problem)];
  // A resource without an id (the body of a FHIR create: the server assigns one) is keyed by its
  // content, as a Bundle entry without one is: sending it again is a duplicate, and a changed copy
  // is a new resource (there is no id to say it is the same one).
  const id = typeof value.id === 'string' ? value.id : contentId(value);
  return itemsFromBundle({ resourceType: 'Bundle', type: 'resource', entry: [{ resource: value }] }, src, context, { bareMeta: value.meta, messageId: `${type}/${id}` });
}

/** A meta.source as a source system key: the URI without a `#request-id` fragment (HAPI adds one). */
function metaSource(meta: unknown): string | undefined {
  if (!isObject(meta) || typeof meta.source !== 'string') return undefined;
  const s = meta.source.split('#')[0]!.trim();
  return s === '' ? undefined : s;
}

/** Items for one Bundle: one AcceptedItem (unless the whole bundle is rejected) and a RejectedItem per bad entry. */
export function itemsFromBundle(bundle: Json, src: BundleSource, context: ReadContext = {}, bare?: { bareMeta: unknown; messageId: string }): IngestItem[] {
  const bundleType = typeof bundle.type === 'string' ? bundle.type : '';
  let messageId = bare?.messageId ?? src.contentHash;
  if (!bare && typeof bundle.id === 'string' && bundle.id !== '') {
    const bad = badText(bundle.id);
    if (bad || bundle.id.length > 200) return [reject(src, `Bundle.id ${show(bundle.id)} cannot be a message id: ${bad ?? 'longer than 200 characters'}`)];
    messageId = bundle.id;
  }
  if (!bare && !BUNDLE_TYPES.has(bundleType)) {
    return [reject(src, `Bundle.type ${show(bundle.type ?? null)} is not a FHIR R4 bundle type (${[...BUNDLE_TYPES].join(', ')})`, { messageId })];
  }
  const rawEntries = bundle.entry === undefined ? [] : bundle.entry;
  if (!Array.isArray(rawEntries)) return [reject(src, 'Bundle.entry is not an array', { messageId })];

  // Pass 1: every entry gets a type and an id and one walk; faults here reject just the entry.
  // STU3 content (a GP Connect bundle, or an entry that says it is STU3) is converted to R4 here,
  // after its walk (so it is known to be safe to copy) and before its checks (stu3.ts).
  const stu3Bundle = !bare && bundleIsStu3(bundle);
  const converted: Stu3Result[] = [];
  const entries: Entry[] = [];
  const entryFaults = new Map<number, string>();
  const fault = (index: number, reason: string) => {
    if (!entryFaults.has(index)) entryFaults.set(index, reason);
  };
  rawEntries.forEach((e: unknown, index) => {
    const n = index + 1;
    if (!isObject(e)) return fault(index, `entry ${n} is not an object`);
    const request = isObject(e.request) ? e.request : undefined;
    const method = typeof request?.method === 'string' ? request.method.toUpperCase() : undefined;
    const url = typeof request?.url === 'string' ? request.url : '';
    if (method === 'GET' || method === 'HEAD') return; // a read in a batch: no data
    // A POST to an operation (`ValueSet/$lookup`, `Patient/$match`): its Parameters are the call's
    // input, not a record; nothing to keep (https://hl7.org/fhir/R4/http.html#transaction).
    if (method === 'POST' && /(^|\/)\$[A-Za-z]/.test(url.split('?')[0]!)) return;
    if (isObject(e.search) && e.search.mode === 'outcome') return; // a search's own OperationOutcome
    if (method === 'DELETE') {
      return fault(index, `entry ${n} asks to DELETE ${show(url)}: Bevan does not apply deletions from a feed, so the record still holds it; review it by hand`);
    }
    if (method === 'PATCH') return fault(index, `entry ${n} asks to PATCH ${show(url)}: Bevan does not apply patches; send the whole resource (PUT or POST)`);
    if (!isObject(e.resource)) {
      if (e.response !== undefined) return; // a transaction/batch response entry without a resource
      return fault(index, `entry ${n} has no resource`);
    }
    let resource = e.resource;
    let fullUrl = typeof e.fullUrl === 'string' ? e.fullUrl : undefined;
    let type = typeof resource.resourceType === 'string' ? resource.resourceType : '';
    let requestUrl = url;
    let walk = walkResource(resource, type || 'resource', { textIsClean: src.textIsClean === true });
    if (!walk.problem && type && (stu3Bundle || resourceIsStu3(resource))) {
      const conv = convertStu3(resource);
      if (conv.resource) {
        converted.push(conv);
        resource = conv.resource;
        type = String(resource.resourceType);
        if (fullUrl) fullUrl = r4Reference(fullUrl) ?? fullUrl;
        requestUrl = r4Reference(url) ?? url;
        walk = walkResource(resource, type, { textIsClean: true }); // its strings were checked in the first walk
      } else {
        fault(index, `entry ${n} (STU3 ${type}${typeof resource.id === 'string' ? `/${resource.id}` : ''}): ${conv.problem}`);
        type = RULES[type]?.to ?? type; // still a target of references, by its R4 type
      }
    }
    const problem = walk.problem ?? checkResource(resource);
    if (problem) fault(index, `entry ${n}: ${problem}`);
    // A rejected entry still has a type and id that others may refer to (by urn:uuid), and a
    // rejected Patient is still the person its resources are about.
    if (!R4_RESOURCE_TYPES.has(type) || (resource.id !== undefined && (typeof resource.id !== 'string' || !FHIR_ID.test(resource.id)))) return;
    const id = typeof resource.id === 'string' ? resource.id : (idFromUrls(type, fullUrl, method === 'PUT' || method === 'POST' ? requestUrl : '') ?? (walk.problem ? undefined : contentId(resource)));
    if (id === undefined) return;
    entries.push({ index, resource, type, id, ...(fullUrl ? { fullUrl } : {}), references: walk.references });
  });

  const byFullUrl = new Map<string, Entry>();
  const byTypeId = new Map<string, Entry>();
  const byType = new Map<string, Entry[]>();
  for (const e of entries) {
    if (e.fullUrl) byFullUrl.set(e.fullUrl, e);
    byTypeId.set(`${e.type}/${e.id}`, e);
    const list = byType.get(e.type);
    if (list) list.push(e);
    else byType.set(e.type, [e]);
  }

  // Pass 2: references. Bundle-local ones (`urn:uuid:`, fullUrls) become `Type/id`; conditional
  // ones are resolved against the bundle; a reference that cannot mean anything rejects its entry.
  // A rejected entry is left as it came (it is quarantined for repair and replay).
  for (const e of entries) {
    if (entryFaults.has(e.index)) continue;
    const problem = resolveReferences(e, byFullUrl, byType);
    if (problem) fault(e.index, `entry ${e.index + 1} (${e.type}/${e.id}): ${problem}`);
  }
  if (bare && entryFaults.size) return [reject(src, [...entryFaults.values()][0]!.replace(/^entry 1(?: \([^)]*\))?: /, ''), { messageId })];

  const patients = entries.filter((e) => e.type === 'Patient');
  const patientIds = new Set(patients.map((p) => p.id));
  const goodPatients = patients.filter((p) => !entryFaults.has(p.index));
  if (patientIds.size === 1 && goodPatients.length === 0) {
    // Everything else in a one-person bundle hangs off its Patient: keep the bundle whole for repair.
    return [reject(src, `the Patient is not valid: ${entryFaults.get(patients[0]!.index)}`, { messageId })];
  }

  const sourceSystem = sourceSystemOf(context, bare ? bare.bareMeta : bundle.meta, bare ? [] : goodPatients, byTypeId, byType.get('MessageHeader')?.[0]?.resource ?? byType.get('Composition')?.[0]?.resource);
  if ('problem' in sourceSystem) return [reject(src, sourceSystem.problem, { messageId })];
  const system = sourceSystem.key;

  const resources: ItemResource[] = [];
  // Patients named only by NHS number (a logical reference: an NRL pointer, a national service's
  // DocumentReference) in an item that holds no Patient: an identity each, by that number. (With
  // Patients in the bundle, an unmatched reference stays as the bundle's other rules place it.)
  const byNhsNumber = new Map<string, SourceIdentity>();
  for (const e of entries) {
    if (entryFaults.has(e.index)) continue;
    if (e.resource.id === undefined) e.resource.id = e.id;
    const meta = isObject(e.resource.meta) ? e.resource.meta : undefined;
    const item: ItemResource = { resource: e.resource as unknown as Resource };
    if (meta && typeof meta.lastUpdated === 'string') item.sourceTime = meta.lastUpdated;
    let subject = subjectOf(e, patients);
    if (subject === undefined && patients.length === 0) {
      const nhsNumber = nhsNumberSubjectOf(e);
      if (nhsNumber) {
        subject = `${NHS_NUMBER_SUBJECT_PREFIX}${nhsNumber}`;
        if (!byNhsNumber.has(subject)) byNhsNumber.set(subject, { system, id: subject, nhsNumber });
      }
    }
    if (subject !== undefined) item.subject = subject;
    resources.push(item);
  }

  // Each Patient once (a history or searchset may carry versions), the newest by meta.lastUpdated.
  const newest = new Map<string, Entry>();
  for (const p of goodPatients) {
    const had = newest.get(p.id);
    if (!had || lastUpdated(p) > lastUpdated(had)) newest.set(p.id, p);
  }
  const accepted: AcceptedItem = {
    kind: 'accepted',
    format: 'fhir',
    sourceSystem: system,
    messageId,
    contentHash: src.contentHash,
    event: bundleType,
    idIsUnique: false,
    identities: [...[...newest.values()].map((p) => identityOf(p.resource, system, byTypeId)), ...byNhsNumber.values()],
    resources,
    origin: src.origin,
  };
  if (converted.length) accepted.fileNotes = [conversionNote(converted)];
  const merges = mergesOf([...newest.values()], system);
  if (merges.length) accepted.merges = merges;
  // A Patient is sent whole: with a restricted confidentiality label it restricts the person, without one it lifts this source's flag.
  if (newest.size) {
    accepted.restrictions = [...newest.values()].map((p) => {
      const label = restrictedLabelOf(p.resource);
      const at = lastUpdated(p);
      return { id: String(p.resource.id ?? p.id), restricted: label !== null, reason: label ? `FHIR Patient.meta.security ${label} (v3-Confidentiality)` : 'FHIR Patient with no restricted meta.security label', ...(at ? { at } : {}) };
    });
  }

  const items: IngestItem[] = [accepted];
  for (const [index, reason] of [...entryFaults].sort((a, b) => a[0] - b[0])) {
    items.push(reject(src, reason, { sourceSystem: system, messageId, raw: bare ? src.raw : safeJson(rawEntries[index]) }));
  }
  return items;
}

const lastUpdated = (e: Entry): string => (isObject(e.resource.meta) && typeof e.resource.meta.lastUpdated === 'string' ? e.resource.meta.lastUpdated : '');

/** The id an entry without `Resource.id` takes: `urn:uuid:<id>`, a fullUrl or PUT url ending `Type/<id>`. */
function idFromUrls(type: string, fullUrl: string | undefined, requestUrl: string): string | undefined {
  if (fullUrl?.startsWith('urn:uuid:')) {
    const u = fullUrl.slice('urn:uuid:'.length);
    if (FHIR_ID.test(u)) return u;
  }
  for (const url of [fullUrl ?? '', requestUrl]) {
    const m = URL_TAIL.exec(url.split('?')[0]!);
    if (m && m[1] === type) return m[2];
  }
  return undefined;
}

/**
 * An id for a resource that came with none (a transaction POST whose server would assign one):
 * from its content, so a replay of the same entry gives the same id.
 */
function contentId(resource: Json): string {
  return createHash('sha256').update(JSON.stringify(resource)).digest('hex');
}

/**
 * Rewrites the references of one entry in place, or returns a problem and changes nothing (a
 * rejected entry is quarantined as it came).
 */
function resolveReferences(e: Entry, byFullUrl: Map<string, Entry>, byType: Map<string, Entry[]>): string | undefined {
  const changes: (() => void)[] = [];
  for (const ref of e.references) {
    const r = ref.reference as string;
    if (r.startsWith('#')) continue; // a contained resource
    const target = byFullUrl.get(r);
    if (target) {
      changes.push(() => (ref.reference = `${target.type}/${target.id}`));
      continue;
    }
    if (r.startsWith('urn:')) return `reference ${show(r)} names no entry of this bundle`;
    const cond = CONDITIONAL_REF.exec(r);
    if (!cond) continue; // a literal reference: kept as sent, resolved within the source system
    const type = cond[1]!;
    const found = conditionalMatches(cond[2]!, byType.get(type) ?? []);
    if (!found) {
      if (type === 'Patient') return `conditional reference ${show(r)} cannot be resolved: Bevan resolves them by identifier or _id`;
      continue;
    }
    if (found.matches.length === 1) {
      const id = found.matches[0]!.id;
      changes.push(() => (ref.reference = `${type}/${id}`));
      continue;
    }
    if (type === 'Patient') {
      return found.matches.length === 0
        ? `conditional reference ${show(r)} matches no Patient in this bundle`
        : `conditional reference ${show(r)} matches ${found.matches.length} Patients in this bundle (${found.matches.map((m) => m.id).join(', ')}), so whose it is cannot be told`;
    }
    // Not a person (Organization?identifier=… pointing at a directory Bevan does not hold): keep
    // it as a logical reference, by identifier, as FHIR allows.
    changes.push(() => {
      if (found.identifier && !isObject(ref.identifier)) ref.identifier = found.identifier;
      if (ref.type === undefined) ref.type = type;
    });
  }
  for (const c of changes) c();
  return undefined;
}

interface ConditionalResult {
  matches: Entry[];
  /** The one identifier searched for, to keep an unresolved reference as a logical one. */
  identifier?: { system?: string; value: string };
}

/**
 * The bundle entries a conditional reference's search selects (https://hl7.org/fhir/R4/http.html#trules):
 * `identifier` (`system|value`, `|value`, `value`; commas for or) and `_id`, joined by `&`.
 * Null for a search on anything else.
 */
function conditionalMatches(query: string, candidates: readonly Entry[]): ConditionalResult | null {
  const tests: ((e: Entry) => boolean)[] = [];
  let identifier: { system?: string; value: string } | undefined;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const name = decode(part.slice(0, eq));
    const values = decode(part.slice(eq + 1)).split(',');
    if (name === '_id') tests.push((e) => values.includes(e.id));
    else if (name === 'identifier') {
      const wanted = values.map((v) => {
        const bar = v.indexOf('|');
        return bar < 0 ? { value: v } : { system: v.slice(0, bar), value: v.slice(bar + 1) };
      });
      if (wanted.length === 1) identifier = wanted[0]!.system ? { system: wanted[0]!.system, value: wanted[0]!.value } : { value: wanted[0]!.value };
      tests.push((e) => identifiers(e.resource).some((i) => wanted.some((w) => i.value === w.value && (w.system === undefined || (w.system === '' ? i.system === undefined : sameSystem(i.system, w.system))))));
    } else return null;
  }
  return { matches: candidates.filter((e) => tests.every((t) => t(e))), ...(identifier ? { identifier } : {}) };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function identifiers(resource: Json): { system?: string; value: string }[] {
  const out: { system?: string; value: string }[] = [];
  for (const i of Array.isArray(resource.identifier) ? resource.identifier : []) {
    if (isObject(i) && typeof i.value === 'string') out.push(typeof i.system === 'string' ? { system: i.system, value: i.value } : { value: i.value });
  }
  return out;
}

/** The objects at a dotted path, stepping through arrays (walk.ts). */
const referencesAt = objectsAt;

/**
 * The id of the Patient whose compartment the entry is in (https://hl7.org/fhir/R4/compartmentdefinition-patient.html),
 * by a `Patient/<id>` reference (after bundle references are rewritten) or a logical reference by
 * identifier to a Patient of this bundle. Undefined: about no one Bevan can name.
 */
function subjectOf(e: Entry, patients: readonly Entry[]): string | undefined {
  if (e.type === 'Patient') return e.id;
  if (NON_PERSONAL_TYPES.has(e.type)) return undefined;
  const paths = PATIENT_COMPARTMENT.get(e.type) ?? FALLBACK_SUBJECT_PATHS;
  for (const path of paths) {
    for (const ref of referencesAt(e.resource, path)) {
      if (typeof ref.reference === 'string') {
        const m = RELATIVE_REF.exec(ref.reference);
        if (m && m[1] === 'Patient') return m[2];
        continue;
      }
      if (isObject(ref.identifier) && typeof ref.identifier.value === 'string' && (ref.type === undefined || ref.type === 'Patient')) {
        const { system, value } = ref.identifier;
        const hits = patients.filter((p) => identifiers(p.resource).some((i) => sameIdentifier(i, system as string | undefined, value)));
        if (hits.length === 1) return hits[0]!.id;
      }
    }
  }
  return undefined;
}

/**
 * The source identity id of a person a source names only by NHS number (`subject: {identifier:
 * {system: nhs-number, value}}`, no Patient of theirs sent): `nhs-number:<digits>`. Not a FHIR
 * id (it has a colon), so it never collides with a Patient id the source sends.
 */
export const NHS_NUMBER_SUBJECT_PREFIX = 'nhs-number:';

/**
 * The NHS number of a logical reference by identifier (https://hl7.org/fhir/R4/references.html#logical)
 * at the entry's Patient compartment paths, when it names no Patient of the bundle (subjectOf
 * found none): ten digits once spaces and dashes are taken out, else undefined. A literal
 * reference (`Patient/x`, pending until x arrives) is left to subjectOf.
 */
function nhsNumberSubjectOf(e: Entry): string | undefined {
  if (e.type === 'Patient' || NON_PERSONAL_TYPES.has(e.type)) return undefined;
  for (const path of PATIENT_COMPARTMENT.get(e.type) ?? FALLBACK_SUBJECT_PATHS) {
    for (const ref of referencesAt(e.resource, path)) {
      if (typeof ref.reference === 'string' || !isObject(ref.identifier) || (ref.type !== undefined && ref.type !== 'Patient')) continue;
      if (!isNhsNumberSystem(ref.identifier.system) || typeof ref.identifier.value !== 'string') continue;
      const digits = ref.identifier.value.replace(/[\s-]+/g, '');
      if (/^\d{10}$/.test(digits)) return digits;
    }
  }
  return undefined;
}

function odsOf(org: Json | undefined): string | undefined {
  for (const i of org ? identifiers(org) : []) if (isOdsSystem(i.system) && i.value.trim()) return i.value.trim();
  return undefined;
}

function odsFromReference(ref: unknown, byTypeId: Map<string, Entry>): string | undefined {
  if (!isObject(ref)) return undefined;
  const ident = ref.identifier;
  if (isObject(ident) && isOdsSystem(ident.system) && typeof ident.value === 'string' && ident.value.trim()) return ident.value.trim();
  // The reference may point at an Organization in the bundle that carries the ODS code, or at
  // the NHS organisation directory, whose Organization ids are ODS codes.
  if (typeof ref.reference === 'string') return odsOf(byTypeId.get(ref.reference)?.resource) ?? ODS_DIRECTORY_REF.exec(ref.reference)?.[1]?.toUpperCase();
  return undefined;
}

function practiceOf(patient: Json, byTypeId: Map<string, Entry>): string | undefined {
  for (const gp of Array.isArray(patient.generalPractitioner) ? patient.generalPractitioner : []) {
    const ods = odsFromReference(gp, byTypeId);
    if (ods) return ods;
  }
  return undefined;
}

/**
 * The sender a FHIR message or document names, as a source key `fhir:<…>`. A message
 * (https://hl7.org/fhir/R4/messageheader.html): the sender Organization's ODS code, else
 * MessageHeader.source.name (the sending software, as MSH-3 is in HL7 v2), else source.endpoint,
 * else the sender's identifier or name. A document (a discharge summary: Composition first): the
 * custodian's ODS code, else an author Organization's, else the custodian's identifier or name.
 */
function messageSenderOf(header: Json | undefined, byTypeId: Map<string, Entry>): string | undefined {
  if (!header) return undefined;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  const organisation = (ref: unknown): string | undefined => {
    if (!isObject(ref)) return undefined;
    const org = typeof ref.reference === 'string' ? byTypeId.get(ref.reference)?.resource : undefined;
    return odsFromReference(ref, byTypeId) ?? (isObject(ref.identifier) ? text(ref.identifier.value) : undefined) ?? text((org ? identifiers(org).find((i) => i.value) : undefined)?.value) ?? text(org?.name) ?? text(ref.display);
  };
  let key: string | undefined;
  if (header.resourceType === 'Composition') {
    const authors = (Array.isArray(header.author) ? header.author : []).filter((a): a is Json => isObject(a) && (a.type === 'Organization' || (typeof a.reference === 'string' && a.reference.startsWith('Organization/'))));
    key = odsFromReference(header.custodian, byTypeId) ?? authors.map((a) => odsFromReference(a, byTypeId)).find(Boolean) ?? organisation(header.custodian) ?? authors.map(organisation).find(Boolean);
  } else {
    const source = isObject(header.source) ? header.source : undefined;
    key = odsFromReference(header.sender, byTypeId) ?? text(source?.name) ?? text(source?.endpoint) ?? organisation(header.sender);
  }
  return key ? `fhir:${key}` : undefined;
}

/**
 * The system of a Patient's medical record number (identifier of type MR, v2 table 0203), the
 * namespace the sender's patient ids live in: a Synthea or a US EHR export names its hospital so.
 */
function recordNumberSystemOf(patient: Json): string | undefined {
  for (const i of Array.isArray(patient.identifier) ? patient.identifier : []) {
    if (!isObject(i) || typeof i.system !== 'string' || isNhsNumberSystem(i.system) || !isObject(i.type)) continue;
    const codings = Array.isArray(i.type.coding) ? i.type.coding : [];
    if (codings.some((c) => isObject(c) && c.code === 'MR' && (c.system === undefined || c.system === 'http://terminology.hl7.org/CodeSystem/v2-0203'))) return i.system;
  }
  return undefined;
}

/**
 * The source system: the feed's configured source (`--source`), else `meta.source` of the Bundle
 * (or of a bare resource), else the sender a message Bundle's MessageHeader names, else
 * `gp:<ODS>` when every Patient names the same registered practice, else `fhir:<system>` when every
 * Patient's medical record number (type MR) is of one system, else `fhir:unknown`.
 * The practice and record-number rules are for a Bundle, which holds its Patients beside their
 * resources; a bare resource (a Bulk Data NDJSON line) is given no Patients here: a Patient line
 * and an Observation line about it, neither naming a sender, must land in one namespace, and the
 * Observation cannot know its Patient's practice or record number.
 */
function sourceSystemOf(context: ReadContext, meta: unknown, patients: readonly Entry[], byTypeId: Map<string, Entry>, header?: Json): { key: string } | { problem: string } {
  if (context.source) return { key: context.source };
  const fromMeta = metaSource(meta);
  if (fromMeta) {
    const bad = badText(fromMeta);
    if (bad || fromMeta.length > 200) return { problem: `meta.source ${show(fromMeta)} cannot be a source system key: ${bad ?? 'longer than 200 characters'}; ${NO_SOURCE_HELP}` };
    return { key: fromMeta };
  }
  const sender = messageSenderOf(header, byTypeId);
  if (sender && !badText(sender) && sender.length <= 200) return { key: sender };
  const practices = new Set(patients.map((p) => practiceOf(p.resource, byTypeId) ?? odsFromReference(p.resource.managingOrganization, byTypeId)));
  const [only] = practices;
  if (practices.size === 1 && only) return { key: `gp:${only}` };
  const assigners = new Set(patients.map((p) => recordNumberSystemOf(p.resource)));
  const [assigner] = assigners;
  if (assigners.size === 1 && assigner && !badText(assigner) && assigner.length <= 200) return { key: `fhir:${assigner}` };
  // Nothing names the sender (a bare resource from a specification's examples, a searchset of
  // patients of several practices): meta.source is optional in R4, so the item is not refused but
  // read as from `fhir:unknown`, one namespace for every unnamed sender; `--source` or a feeds file
  // gives such a feed its own key.
  return { key: UNKNOWN_FHIR_SOURCE };
}

const SEXES: Record<string, Sex> = { male: 'male', female: 'female', other: 'other', unknown: 'unknown' };

/** The source identity a Patient resource carries (docs/feeds.md "Source system keys"). */
export function identityOf(patient: Json, system: string, byTypeId: Map<string, Entry> = new Map()): SourceIdentity {
  const identity: SourceIdentity = { system, id: String(patient.id) };
  // The NHS number, under any system it is sent with; spaces and dashes (`943 476 5919`) are not part of it.
  for (const i of identifiers(patient)) {
    if (isNhsNumberSystem(i.system) && i.value.trim()) {
      identity.nhsNumber = i.value.replace(/[\s-]+/g, '');
      break;
    }
  }
  const names = (Array.isArray(patient.name) ? patient.name : []).filter(isObject);
  const name = names.find((n) => n.use === 'official') ?? names.find((n) => n.use === undefined || n.use === 'usual') ?? names.find((n) => n.use !== 'old') ?? names[0];
  if (name) {
    if (typeof name.family === 'string') identity.family = name.family;
    // Every given name, first and middle ("Mary Ann"): the matcher knows a person by any of them.
    const givens = (Array.isArray(name.given) ? name.given : []).filter((g): g is string => typeof g === 'string' && g.trim() !== '').map((g) => g.trim());
    if (givens.length) identity.given = givens.join(' ');
    else if (typeof name.text === 'string' && name.text.trim() && typeof name.family !== 'string') identity.given = name.text.trim(); // the whole name as text: the matcher splits it
  }
  if (typeof patient.birthDate === 'string') identity.birthDate = patient.birthDate;
  if (typeof patient.gender === 'string' && SEXES[patient.gender]) identity.sex = SEXES[patient.gender];
  const addresses = (Array.isArray(patient.address) ? patient.address : []).filter(isObject);
  const address = addresses.find((a) => a.use === 'home') ?? addresses.find((a) => a.use !== 'old' && a.type !== 'postal') ?? addresses[0];
  if (address) {
    if (typeof address.postalCode === 'string' && address.postalCode.trim()) identity.postcode = address.postalCode.trim();
    const lines = (Array.isArray(address.line) ? address.line : []).filter((l): l is string => typeof l === 'string').map((l) => l.trim()).filter((l) => l !== '');
    if (lines.length) identity.address = lines.join(', ');
    if (typeof address.city === 'string' && address.city.trim()) identity.town = address.city.trim();
  }
  const practice = practiceOf(patient, byTypeId);
  if (practice) identity.practice = practice;
  // Telecom (https://hl7.org/fhir/R4/datatypes.html#ContactPoint): emails and phones still in use.
  const emails: string[] = [];
  const phones: string[] = [];
  for (const t of Array.isArray(patient.telecom) ? patient.telecom : []) {
    if (!isObject(t) || typeof t.value !== 'string' || !t.value.trim() || t.use === 'old') continue;
    if (t.system === 'email') emails.push(t.value.trim());
    else if (t.system === 'phone' || t.system === 'sms') phones.push(t.value.trim());
  }
  if (emails.length) identity.emails = emails;
  if (phones.length) identity.phones = phones;
  const others = otherIdentifiersOf(patient);
  if (others.length) identity.identifiers = others;
  return identity;
}

// Identifier types (v2 table 0203) that name a person across systems, used as the kind when present.
const PERSON_IDENTIFIER_TYPES = new Set(['SS', 'SB', 'NI', 'NIIP', 'PPN', 'DL', 'CZ', 'PRC', 'PEN']);

/**
 * A Patient's identifiers other than the NHS number and its own record number (type MR, or the
 * value of its id): a social security or national insurance number, a passport, a driving
 * licence, another organisation's number. Each with its system (or, for a known person
 * identifier type such as SS, PPN or DL, that type code), for the matcher to compare like with like.
 */
function otherIdentifiersOf(patient: Json): { system: string; value: string }[] {
  const out: { system: string; value: string }[] = [];
  for (const i of Array.isArray(patient.identifier) ? patient.identifier : []) {
    if (!isObject(i) || typeof i.value !== 'string' || !i.value.trim() || isNhsNumberSystem(i.system) || i.use === 'old') continue;
    const codes = (isObject(i.type) && Array.isArray(i.type.coding) ? i.type.coding : []).filter(isObject).map((c) => (typeof c.code === 'string' ? c.code.toUpperCase() : ''));
    if (codes.includes('MR') || i.value === patient.id) continue;
    const type = codes.find((c) => PERSON_IDENTIFIER_TYPES.has(c));
    const system = type ?? (typeof i.system === 'string' && i.system.trim() ? i.system.trim() : undefined);
    if (system) out.push({ system, value: i.value.trim() });
  }
  return out;
}

/**
 * Identity instructions from Patient.link (https://hl7.org/fhir/R4/valueset-link-type.html), for
 * links to another Patient of the same source: `replaced-by` (this record was merged into the
 * other) and `replaces` (the other was merged into this) are merges; `seealso` and `refer` (the
 * same person, both records in use) are links. One per link, the same instruction once.
 */
function mergesOf(patients: readonly Entry[], system: string): MergeInstruction[] {
  const out = new Map<string, MergeInstruction>();
  for (const p of patients) {
    for (const l of Array.isArray(p.resource.link) ? p.resource.link : []) {
      if (!isObject(l) || !isObject(l.other) || typeof l.other.reference !== 'string') continue;
      const m = RELATIVE_REF.exec(l.other.reference);
      if (!m || m[1] !== 'Patient' || m[2] === p.id) continue;
      const other = m[2]!;
      const event = `Patient.link ${String(l.type)}`;
      let mi: MergeInstruction | undefined;
      if (l.type === 'replaced-by') mi = { kind: 'merge', system, survivorId: other, retiredId: p.id, event };
      else if (l.type === 'replaces') mi = { kind: 'merge', system, survivorId: p.id, retiredId: other, event };
      else if (l.type === 'seealso' || l.type === 'refer') mi = { kind: 'link', system, survivorId: p.id, retiredId: other, event };
      if (!mi) continue;
      const key = mi.kind === 'link' ? `link|${[mi.survivorId, mi.retiredId].sort().join('|')}` : `merge|${mi.survivorId}|${mi.retiredId}`;
      if (!out.has(key)) out.set(key, mi);
    }
  }
  return [...out.values()];
}
