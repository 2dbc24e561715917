/**
 * FHIR STU3 (3.0) → R4 (4.0.1), for what GP systems send today: GP Connect "Access Record:
 * Structured" Bundles of CareConnect resources. Pure functions, no I/O.
 *
 * How STU3 is told (never a guess on R4 content): a Bundle naming an STU3 profile in meta.profile
 * (`…/STU3/…`) or holding a CapabilityStatement or Parameters that says `fhirVersion` 3.0.x (every
 * entry is then STU3); a resource naming an STU3 profile, of a type only STU3 has
 * (ProcedureRequest, ReferralRequest…), or carrying an element only STU3 has there
 * (`Condition.clinicalStatus` as a code, `Immunization.notGiven`, `Observation.context`…: the
 * `markers` below). Anything else is left exactly as it came.
 *
 * What a conversion does, per type, as data (RULES): elements renamed (`context` → `encounter`),
 * moved up (`requester.agent` → `requester`), made repeating (0..1 in STU3, 0..* in R4), codes
 * that became CodeableConcepts (`clinicalStatus`), code values renamed (`suspended` → `on-hold`),
 * elements with no R4 home (dropped and counted, never an error), and the R4 elements the result
 * must have (`required`); a few reshapings that are not renames (Dosage.dose → doseAndRate,
 * Immunization.notGiven → status) are small functions beside the data. On every converted
 * resource: code systems that moved to terminology.hl7.org in R4 get their R4 URL, references to
 * ProcedureRequest/ReferralRequest become ServiceRequest, STU3 profiles leave meta.profile, and
 * meta.tag gets CONVERTED_TAG so a person can see the resource was converted.
 *
 * Facts from the R4 version maps (https://hl7.org/fhir/R4/<type>-version-maps.html) and the
 * spec's STU3→R4 StructureMaps (HL7/fhir implementations/r3maps/R3toR4/*.map).
 */

import { objectsAt } from './walk.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The meta.tag a converted resource carries (docs/feeds.md "FHIR STU3"). */
export const CONVERTED_TAG = Object.freeze({ system: 'urn:bevan:converted', code: 'stu3', display: 'Converted from FHIR STU3 to R4 by Bevan' });

/** An STU3 profile URL: CareConnect / GP Connect (`https://fhir.nhs.uk/STU3/…`, `https://fhir.hl7.org.uk/STU3/…`) or HL7's `http://hl7.org/fhir/3.0/…`. */
const STU3_PROFILE = /\/STU3\/|^https?:\/\/hl7\.org\/fhir\/(?:STU)?3\.0(?:\.\d+)?\//i;
const STU3_VERSION = /^3\.0(?:\.\d+)?$/;

/** True for an STU3 profile URL. */
export const isStu3Profile = (url: string): boolean => STU3_PROFILE.test(url);

/** Resource types STU3 has and R4 does not (https://hl7.org/fhir/R4/history.html). */
export const STU3_ONLY_TYPES: ReadonlySet<string> = new Set([
  'BodySite', 'DataElement', 'DeviceComponent', 'EligibilityRequest', 'EligibilityResponse',
  'ExpansionProfile', 'ImagingManifest', 'ProcedureRequest', 'ProcessRequest', 'ProcessResponse',
  'ReferralRequest', 'Sequence', 'ServiceDefinition',
]); // prettier-ignore

type ConceptMap = { system: string; codes: Record<string, string | null> };

interface Rule {
  /** The R4 type, when the type was renamed. */
  to?: string;
  /** Elements only STU3 has on this type: one present means the resource is STU3. */
  markers?: string[];
  /** Element codes (STU3 `code`) that are CodeableConcepts in R4: each STU3 code → its R4 code (null: no R4 value, dropped). */
  concepts?: Record<string, ConceptMap>;
  /** Code values renamed, per element (dotted path), e.g. status suspended → on-hold. */
  codes?: Record<string, Record<string, string>>;
  /** `[parent, child]`: the parent element becomes its child (`requester.agent` → `requester`); its other children are dropped. */
  lift?: [string, string][];
  /** Dotted STU3 path → its R4 name (the last segment renamed in place); applied in order. */
  rename?: [string, string][];
  /** Elements 0..1 in STU3 that repeat in R4 (dotted paths, after renames). */
  arrays?: string[];
  /** STU3 elements (dotted paths) with no R4 home: dropped and counted. */
  drop?: string[];
  /** Reshapings that are not renames, run after the renames. */
  reshape?: ((r: Json, c: Changes) => void)[];
  /** Status values R4 allows (checked on the converted resource). */
  status?: string[];
  /** R4 elements that must be there after conversion, `name[x]` for a choice. */
  required?: string[];
}

/** What a conversion dropped, and the first thing that stops the result being R4. */
class Changes {
  readonly dropped: string[] = [];
  problem: string | undefined;
  readonly type: string;
  constructor(type: string) {
    this.type = type;
  }
  drop(path: string): void {
    this.dropped.push(`${this.type}.${path}`);
  }
  fail(problem: string): void {
    this.problem ??= problem;
  }
}

const TERMINOLOGY = 'http://terminology.hl7.org/CodeSystem/';

const conditionClinical: ConceptMap = { system: `${TERMINOLOGY}condition-clinical`, codes: { active: 'active', recurrence: 'recurrence', inactive: 'inactive', remission: 'remission', resolved: 'resolved' } };
// R4 has no `unknown` verification status: an absent verificationStatus says as much.
const conditionVerification: ConceptMap = { system: `${TERMINOLOGY}condition-ver-status`, codes: { provisional: 'provisional', differential: 'differential', confirmed: 'confirmed', refuted: 'refuted', 'entered-in-error': 'entered-in-error', unknown: null } };
const allergyClinical: ConceptMap = { system: `${TERMINOLOGY}allergyintolerance-clinical`, codes: { active: 'active', inactive: 'inactive', resolved: 'resolved' } };
const allergyVerification: ConceptMap = { system: `${TERMINOLOGY}allergyintolerance-verification`, codes: { unconfirmed: 'unconfirmed', confirmed: 'confirmed', refuted: 'refuted', 'entered-in-error': 'entered-in-error' } };

// Request statuses: STU3 suspended and cancelled are R4 on-hold and revoked (request-status).
const requestStatus = { suspended: 'on-hold', cancelled: 'revoked' };
const REQUEST_STATUS = ['draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown'];
const REQUEST_INTENT = ['proposal', 'plan', 'directive', 'order', 'original-order', 'reflex-order', 'filler-order', 'instance-order', 'option'];

/** SNOMED CT 3457005 |Patient referral|: the category of a ServiceRequest that was an STU3 ReferralRequest. */
const REFERRAL_CATEGORY = { coding: [{ system: 'http://snomed.info/sct', code: '3457005', display: 'Patient referral' }] };

/** STU3 Dosage.dose[x] and rate[x] → R4 Dosage.doseAndRate (https://hl7.org/fhir/R4/dosage.html). */
function dosage(path: string): (r: Json, c: Changes) => void {
  return (r) => {
    for (const d of at(r, path)) {
      const dr: Json = {};
      for (const k of Object.keys(d)) {
        if (/^(dose|rate)(Range|Quantity|SimpleQuantity|Ratio)$/.test(k)) {
          dr[k.replace('SimpleQuantity', 'Quantity')] = d[k];
          delete d[k];
        }
      }
      if (Object.keys(dr).length && d.doseAndRate === undefined) d.doseAndRate = [dr];
    }
  };
}

/** STU3 `notGiven`/`notDone` true → R4 status `not-done`. */
function notDone(flag: string): (r: Json, c: Changes) => void {
  return (r) => {
    if (!(flag in r)) return;
    if (r[flag] === true || r[flag] === 'true') r.status = 'not-done'; // 'true': from XML read without an STU3 profile
    delete r[flag];
    delete r[`_${flag}`];
  };
}

/** A string becomes an Annotation (Observation.comment → note) or a CodeableConcept's text. */
function textInto(from: string, to: string, shape: 'note' | 'concept'): (r: Json, c: Changes) => void {
  return (r) => {
    for (const parent of parents(r, from)) {
      const key = last(from);
      const v = parent[key];
      if (typeof v !== 'string') continue;
      delete parent[key];
      delete parent[`_${key}`];
      if (shape === 'concept') parent[to] = { text: v };
      else parent[to] = [...(Array.isArray(parent[to]) ? (parent[to] as unknown[]) : []), { text: v }];
    }
  };
}

/** The per-type rules. A type absent here (and not STU3-only) converts with the common steps alone. */
export const RULES: Readonly<Record<string, Rule>> = {
  Patient: { markers: ['animal'], drop: ['animal'] },
  Practitioner: {},
  PractitionerRole: {},
  Organization: {},
  Location: {},
  Encounter: {
    markers: ['reason', 'incomingReferral'],
    rename: [['reason', 'reasonCode'], ['incomingReferral', 'basedOn'], ['diagnosis.role', 'use']],
    arrays: ['appointment'],
    status: ['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown'],
    required: ['status'],
  },
  Condition: {
    markers: ['assertedDate', 'context'],
    concepts: { clinicalStatus: conditionClinical, verificationStatus: conditionVerification },
    rename: [['context', 'encounter'], ['assertedDate', 'recordedDate']],
    arrays: ['stage'],
    drop: ['abatementBoolean'],
    required: ['subject'],
  },
  AllergyIntolerance: {
    markers: ['assertedDate'],
    concepts: { clinicalStatus: allergyClinical, verificationStatus: allergyVerification },
    rename: [['assertedDate', 'recordedDate']],
    drop: ['reaction.certainty'],
    required: ['patient'],
  },
  Observation: {
    markers: ['context', 'comment', 'related'],
    rename: [['context', 'encounter']],
    arrays: ['interpretation', 'component.interpretation'],
    drop: ['valueAttachment', 'component.valueAttachment'],
    reshape: [textInto('comment', 'note', 'note'), related],
    status: ['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown'],
    required: ['status', 'code'],
  },
  MedicationStatement: {
    markers: ['taken', 'reasonNotTaken'],
    rename: [['reasonNotTaken', 'statusReason']],
    drop: ['taken'],
    reshape: [dosage('dosage')],
    status: ['active', 'completed', 'entered-in-error', 'intended', 'stopped', 'on-hold', 'unknown', 'not-taken'],
    required: ['status', 'medication[x]', 'subject'],
  },
  MedicationRequest: {
    markers: ['context', 'definition'],
    lift: [['requester', 'agent']],
    rename: [['context', 'encounter'], ['substitution.allowed', 'allowedBoolean']],
    arrays: ['category'],
    drop: ['definition'],
    reshape: [dosage('dosageInstruction')],
    status: ['active', 'on-hold', 'cancelled', 'completed', 'entered-in-error', 'stopped', 'draft', 'unknown'],
    required: ['status', 'intent', 'medication[x]', 'subject'],
  },
  Medication: {
    markers: ['isBrand', 'isOverTheCounter', 'package', 'image'],
    rename: [['ingredient.amount', 'strength']],
    drop: ['isBrand', 'isOverTheCounter', 'image'],
    reshape: [medicationPackage],
  },
  Immunization: {
    markers: ['notGiven', 'date', 'practitioner', 'explanation', 'vaccinationProtocol'],
    rename: [['date', 'occurrenceDateTime'], ['practitioner', 'performer'], ['performer.role', 'function'], ['vaccinationProtocol', 'protocolApplied'], ['protocolApplied.doseSequence', 'doseNumberPositiveInt'], ['protocolApplied.seriesDoses', 'seriesDosesPositiveInt']],
    drop: ['protocolApplied.description', 'protocolApplied.doseStatus', 'protocolApplied.doseStatusReason'],
    reshape: [notDone('notGiven'), immunizationExplanation],
    status: ['completed', 'entered-in-error', 'not-done'],
    required: ['status', 'vaccineCode', 'patient', 'occurrence[x]', 'protocolApplied.doseNumber[x]'],
  },
  Procedure: {
    markers: ['notDone', 'notDoneReason', 'context', 'definition'],
    codes: { status: { suspended: 'on-hold', aborted: 'stopped' } },
    rename: [['context', 'encounter'], ['notDoneReason', 'statusReason'], ['performer.role', 'function']],
    drop: ['definition'],
    reshape: [notDone('notDone')],
    status: ['preparation', 'in-progress', 'not-done', 'on-hold', 'stopped', 'completed', 'entered-in-error', 'unknown'],
    required: ['status', 'subject'],
  },
  ProcedureRequest: {
    to: 'ServiceRequest',
    codes: { status: requestStatus },
    lift: [['requester', 'agent']],
    rename: [['context', 'encounter']],
    arrays: ['performer'],
    drop: ['definition'],
    status: REQUEST_STATUS,
    required: ['status', 'intent', 'subject'],
  },
  ReferralRequest: {
    to: 'ServiceRequest',
    codes: { status: requestStatus },
    lift: [['requester', 'agent']],
    rename: [['groupIdentifier', 'requisition'], ['serviceRequested', 'orderDetail'], ['type', 'code'], ['context', 'encounter'], ['specialty', 'performerType'], ['recipient', 'performer']],
    drop: ['definition'],
    reshape: [textInto('description', 'note', 'note'), (r) => (r.category = [structuredClone(REFERRAL_CATEGORY)])],
    status: REQUEST_STATUS,
    required: ['status', 'intent', 'subject'],
  },
  DiagnosticReport: {
    markers: ['context', 'codedDiagnosis', 'image'],
    rename: [['context', 'encounter'], ['codedDiagnosis', 'conclusionCode'], ['image', 'media']],
    arrays: ['category'],
    reshape: [diagnosticPerformer],
    status: ['registered', 'partial', 'preliminary', 'final', 'amended', 'corrected', 'appended', 'cancelled', 'entered-in-error', 'unknown'],
    required: ['status', 'code'],
  },
  Specimen: {},
  List: { required: ['status', 'mode'] },
  Flag: { arrays: ['category'], required: ['status', 'code', 'subject'] },
  CarePlan: {
    markers: ['context', 'definition'],
    codes: { status: requestStatus },
    rename: [['context', 'encounter'], ['activity.detail.prohibited', 'doNotPerform']],
    drop: ['definition', 'activity.detail.definition', 'activity.detail.category'],
    reshape: [carePlanAuthor, textInto('activity.detail.statusReason', 'statusReason', 'concept')],
    status: REQUEST_STATUS,
    required: ['status', 'intent', 'subject'],
  },
  Appointment: {
    markers: ['incomingReferral', 'indication', 'reason'],
    rename: [['incomingReferral', 'basedOn'], ['indication', 'reasonReference'], ['reason', 'reasonCode']],
    arrays: ['serviceCategory'],
    required: ['status'],
  },
  EpisodeOfCare: { required: ['status', 'patient'] },
};

/** Observation.related: has-member → hasMember, derived-from → derivedFrom; the other link types have no R4 home. */
function related(r: Json, c: Changes): void {
  if (r.related === undefined) return;
  for (const rel of Array.isArray(r.related) ? r.related : [r.related]) {
    const target = isObject(rel) ? rel.target : undefined;
    const key = isObject(rel) && rel.type === 'has-member' ? 'hasMember' : isObject(rel) && rel.type === 'derived-from' ? 'derivedFrom' : undefined;
    if (key && isObject(target)) r[key] = [...(Array.isArray(r[key]) ? (r[key] as unknown[]) : []), target];
    else c.drop(`related (${isObject(rel) && typeof rel.type === 'string' ? rel.type : 'no type'})`);
  }
  delete r.related;
}

/** Medication.package: its first batch is R4 Medication.batch; the container and content have no R4 home. */
function medicationPackage(r: Json, c: Changes): void {
  if (!isObject(r.package)) return;
  const p = r.package;
  const batches = Array.isArray(p.batch) ? p.batch : p.batch === undefined ? [] : [p.batch];
  if (batches.length && r.batch === undefined) r.batch = batches[0];
  if (batches.length > 1) c.drop('package.batch (after the first)');
  for (const k of Object.keys(p)) if (k !== 'batch') c.drop(`package.${k}`);
  delete r.package;
}

/** Immunization.explanation: reason → reasonCode, reasonNotGiven (first) → statusReason. */
function immunizationExplanation(r: Json, c: Changes): void {
  if (!isObject(r.explanation)) return;
  const e = r.explanation;
  if (e.reason !== undefined) r.reasonCode = e.reason;
  const notGiven = Array.isArray(e.reasonNotGiven) ? e.reasonNotGiven : e.reasonNotGiven === undefined ? [] : [e.reasonNotGiven];
  if (notGiven.length) r.statusReason = notGiven[0];
  if (notGiven.length > 1) c.drop('explanation.reasonNotGiven (after the first)');
  for (const k of Object.keys(e)) if (k !== 'reason' && k !== 'reasonNotGiven') c.drop(`explanation.${k}`);
  delete r.explanation;
}

/** DiagnosticReport.performer: STU3 {role, actor} → R4 the actor Reference; the role has no R4 home. */
function diagnosticPerformer(r: Json, c: Changes): void {
  if (r.performer === undefined) return;
  const out: unknown[] = [];
  for (const p of Array.isArray(r.performer) ? r.performer : [r.performer]) {
    if (isObject(p) && isObject(p.actor)) {
      out.push(p.actor);
      if (p.role !== undefined) c.drop('performer.role');
    } else if (isObject(p) && (typeof p.reference === 'string' || isObject(p.identifier))) out.push(p); // already a Reference
    else c.drop('performer');
  }
  if (out.length) r.performer = out;
  else delete r.performer;
}

/** CarePlan.author: 0..* in STU3, 0..1 in R4: the first is the author, the others contributors. */
function carePlanAuthor(r: Json): void {
  if (!Array.isArray(r.author)) return;
  const [first, ...rest] = r.author as unknown[];
  if (first === undefined) delete r.author;
  else r.author = first;
  if (rest.length) r.contributor = [...(Array.isArray(r.contributor) ? (r.contributor as unknown[]) : []), ...rest];
}

// ---- paths -----------------------------------------------------------------------------------

const last = (path: string): string => path.slice(path.lastIndexOf('.') + 1);

/** The objects at a dotted path, stepping through arrays (walk.ts). */
const at = objectsAt;

/** The objects holding the last segment of a dotted path. */
function parents(root: Json, path: string): Json[] {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? [root] : at(root, path.slice(0, dot));
}

const hasChoice = (o: Json, name: string): boolean => {
  if (!name.endsWith('[x]')) return o[name] !== undefined;
  const stem = name.slice(0, -3);
  return Object.keys(o).some((k) => k.startsWith(stem) && /^[A-Z]/.test(k.slice(stem.length)) && o[k] !== undefined);
};

// ---- code systems that moved in R4 -----------------------------------------------------------

/**
 * STU3 `http://hl7.org/fhir/<name>` code systems that R4 publishes at terminology.hl7.org (the
 * ones a GP record uses). v2 tables (`http://hl7.org/fhir/v2/0203`) and v3 code systems
 * (`http://hl7.org/fhir/v3/ActCode`) moved as a rule and are rewritten by pattern.
 */
const MOVED_SYSTEMS: ReadonlySet<string> = new Set([
  'allergyintolerance-clinical', 'allergyintolerance-verification', 'condition-category', 'condition-clinical',
  'condition-ver-status', 'diagnosis-role', 'dose-rate-type', 'flag-category', 'immunization-origin',
  'list-empty-reason', 'list-order', 'location-physical-type', 'medication-statement-category',
  'medicationrequest-category', 'observation-category', 'organization-type', 'practitioner-role',
  'reason-medication-not-given', 'special-values',
]); // prettier-ignore

function r4System(system: string): string | undefined {
  if (!system.startsWith('http://hl7.org/fhir/')) return undefined;
  const rest = system.slice('http://hl7.org/fhir/'.length);
  let m = /^v2\/(\d{4})$/.exec(rest);
  if (m) return `${TERMINOLOGY}v2-${m[1]}`;
  m = /^v3\/([A-Za-z]+)$/.exec(rest);
  if (m) return `${TERMINOLOGY}v3-${m[1]}`;
  return MOVED_SYSTEMS.has(rest) ? `${TERMINOLOGY}${rest}` : undefined;
}

const RENAMED_TYPE_REF = /(^|\/)(ProcedureRequest|ReferralRequest)\//;

/** A reference to a type STU3 renamed, in R4 form (`ReferralRequest/1` → `ServiceRequest/1`), else undefined. */
export function r4Reference(reference: string): string | undefined {
  return RENAMED_TYPE_REF.test(reference) ? reference.replace(RENAMED_TYPE_REF, '$1ServiceRequest/') : undefined;
}

/** Every Coding.system / Reference.reference in the resource (it has been walked: depth bounded), in R4 form. */
function r4Everywhere(resource: Json): void {
  const stack: unknown[] = [resource];
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (const c of v) if (typeof c === 'object' && c !== null) stack.push(c);
      continue;
    }
    if (!isObject(v)) continue;
    if (typeof v.system === 'string' && typeof v.code === 'string') {
      const s = r4System(v.system);
      if (s) v.system = s;
    }
    if (typeof v.reference === 'string') {
      const ref = r4Reference(v.reference);
      if (ref) v.reference = ref;
    }
    for (const k of Object.keys(v)) {
      const c = v[k];
      if (typeof c === 'object' && c !== null) stack.push(c);
    }
  }
}

// ---- detection -------------------------------------------------------------------------------

function namesStu3Profile(meta: unknown): boolean {
  return isObject(meta) && Array.isArray(meta.profile) && meta.profile.some((p) => typeof p === 'string' && STU3_PROFILE.test(p));
}

/**
 * True when the Bundle says it is STU3: an STU3 profile in its meta.profile, or an entry that is a
 * CapabilityStatement with fhirVersion 3.0.x or a Parameters with a `fhirVersion` 3.0.x parameter.
 */
export function bundleIsStu3(bundle: Json): boolean {
  if (namesStu3Profile(bundle.meta)) return true;
  for (const e of Array.isArray(bundle.entry) ? bundle.entry : []) {
    const r = isObject(e) && isObject(e.resource) ? e.resource : undefined;
    if (!r) continue;
    if (r.resourceType === 'CapabilityStatement' && typeof r.fhirVersion === 'string' && STU3_VERSION.test(r.fhirVersion)) return true;
    if (r.resourceType === 'Parameters' && Array.isArray(r.parameter)) {
      for (const p of r.parameter) {
        if (isObject(p) && p.name === 'fhirVersion' && [p.valueCode, p.valueString, p.valueId].some((v) => typeof v === 'string' && STU3_VERSION.test(v))) return true;
      }
    }
  }
  return false;
}

/** True when the resource on its own says it is STU3 (an STU3 profile, an STU3-only type, an STU3-only element). */
export function resourceIsStu3(resource: Json): boolean {
  const type = resource.resourceType;
  if (typeof type !== 'string') return false;
  if (STU3_ONLY_TYPES.has(type) || namesStu3Profile(resource.meta)) return true;
  const rule = RULES[type];
  if (!rule) return false;
  if (rule.markers?.some((m) => resource[m] !== undefined)) return true;
  // R4 makes these CodeableConcepts: a bare code is STU3.
  if (rule.concepts && Object.keys(rule.concepts).some((k) => typeof resource[k] === 'string')) return true;
  if (type === 'MedicationRequest' && isObject(resource.requester) && resource.requester.agent !== undefined) return true;
  if (type === 'AllergyIntolerance' && at(resource, 'reaction').some((x) => x.certainty !== undefined)) return true;
  return false;
}

// ---- conversion ------------------------------------------------------------------------------

export interface Stu3Result {
  /** The R4 resource (a copy: the input is not changed); absent when `problem` is set. */
  resource?: Json;
  /** The STU3 type it came as (ProcedureRequest for a ServiceRequest). */
  from: string;
  /** STU3 elements with no R4 home that were dropped, as `Type.path`, once per occurrence. */
  dropped: string[];
  /** Why the converted resource is not R4, naming the element. */
  problem?: string;
}

/** Converts one STU3 resource to R4 (a copy; the input is left as it came). */
export function convertStu3(input: Json): Stu3Result {
  const from = String(input.resourceType);
  const c = new Changes(from);
  if (STU3_ONLY_TYPES.has(from) && !RULES[from]) {
    return { from, dropped: [], problem: `${from} is a FHIR STU3 resource type that R4 does not have and Bevan does not convert` };
  }
  let r: Json;
  try {
    r = structuredClone(input);
  } catch (err) {
    return { from, dropped: [], problem: `the STU3 ${from} cannot be copied for conversion: ${(err as Error).message}` };
  }
  const rule = RULES[from] ?? {};
  if (rule.to) r.resourceType = rule.to;

  for (const [name, map] of Object.entries(rule.concepts ?? {})) {
    const v = r[name];
    if (v === undefined || isObject(v)) continue; // absent, or already a CodeableConcept
    if (typeof v !== 'string' || !Object.hasOwn(map.codes, v)) {
      c.fail(`${from}.${name} ${JSON.stringify(v)?.slice(0, 60)} is not an STU3 code (${Object.keys(map.codes).join(', ')}), so it has no R4 ${name}`);
      continue;
    }
    const code = map.codes[v];
    if (code === null) {
      delete r[name];
      c.drop(`${name} (${v})`);
    } else r[name] = { coding: [{ system: map.system, code }] };
    delete r[`_${name}`];
  }
  for (const [path, values] of Object.entries(rule.codes ?? {})) {
    const key = last(path);
    for (const p of parents(r, path)) if (typeof p[key] === 'string' && Object.hasOwn(values, p[key])) p[key] = values[p[key]];
  }
  for (const [parent, child] of rule.lift ?? []) {
    for (const p of parents(r, parent)) {
      const key = last(parent);
      const v = p[key];
      if (!isObject(v) || v[child] === undefined) continue;
      for (const k of Object.keys(v)) if (k !== child) c.drop(`${parent}.${k}`);
      p[key] = v[child];
    }
  }
  for (const [path, to] of rule.rename ?? []) {
    const key = last(path);
    for (const p of parents(r, path)) {
      for (const [k, t] of [[key, to], [`_${key}`, `_${to}`]] as const) {
        if (p[k] === undefined) continue;
        if (p[t] === undefined) p[t] = p[k];
        else c.drop(path); // both forms sent: the R4 one is kept
        delete p[k];
      }
    }
  }
  for (const path of rule.arrays ?? []) {
    const key = last(path);
    for (const p of parents(r, path)) if (p[key] !== undefined && !Array.isArray(p[key])) p[key] = [p[key]];
  }
  for (const path of rule.drop ?? []) {
    const key = last(path);
    for (const p of parents(r, path)) {
      if (p[key] === undefined) continue;
      delete p[key];
      delete p[`_${key}`];
      c.drop(path);
    }
  }
  for (const f of rule.reshape ?? []) f(r, c);

  r4Everywhere(r);
  const meta: Json = isObject(r.meta) ? r.meta : {};
  if (Array.isArray(meta.profile)) {
    // An R4 resource cannot conform to an STU3 profile: the claim goes (not counted: the tag says it).
    const kept = meta.profile.filter((p) => !(typeof p === 'string' && STU3_PROFILE.test(p)));
    if (kept.length) meta.profile = kept;
    else delete meta.profile;
  }
  const tags = Array.isArray(meta.tag) ? meta.tag : [];
  if (!tags.some((t) => isObject(t) && t.system === CONVERTED_TAG.system && t.code === CONVERTED_TAG.code)) meta.tag = [...tags, { ...CONVERTED_TAG }];
  r.meta = meta;

  // What R4 needs that the conversion could not give.
  const type = String(r.resourceType);
  if (rule.status && r.status !== undefined && (typeof r.status !== 'string' || !rule.status.includes(r.status))) {
    c.fail(`${type}.status ${JSON.stringify(r.status)?.slice(0, 60)} is not an R4 ${type} status (${rule.status.join(', ')})`);
  }
  for (const req of rule.required ?? []) {
    const dot = req.lastIndexOf('.');
    const holders = dot < 0 ? [r] : at(r, req.slice(0, dot));
    const name = req.slice(dot + 1);
    if (holders.some((h) => !hasChoice(h, name))) c.fail(`${type}.${req} is required in R4 and the STU3 ${from} has none${req === 'occurrence[x]' && from === 'Immunization' ? ' (Immunization.date)' : req === 'protocolApplied.doseNumber[x]' ? ' (vaccinationProtocol.doseSequence)' : ''}`);
  }
  if (c.problem) return { from, dropped: c.dropped, problem: c.problem };
  return { resource: r, from, dropped: c.dropped };
}

/**
 * A note for an item's notes (`ingest_run.notes`): how many resources were converted, of which
 * types, and which STU3 elements were dropped, e.g.
 * `FHIR STU3 converted to R4: 12 resources (Condition 3, Patient 1); dropped, no R4 home: MedicationStatement.taken ×2`.
 */
export function conversionNote(converted: readonly Stu3Result[]): string {
  const byType = new Map<string, number>();
  const dropped = new Map<string, number>();
  for (const r of converted) {
    byType.set(r.from, (byType.get(r.from) ?? 0) + 1);
    for (const d of r.dropped) dropped.set(d, (dropped.get(d) ?? 0) + 1);
  }
  const list = (m: Map<string, number>, sep: string) => [...m].sort((a, b) => a[0].localeCompare(b[0])).map(([k, n]) => `${k}${sep}${n}`).join(', ');
  const n = converted.length;
  return `FHIR STU3 converted to R4: ${n} resource${n === 1 ? '' : 's'} (${list(byType, ' ')})${dropped.size ? `; dropped, no R4 home: ${list(dropped, ' ×')}` : ''}`;
}
