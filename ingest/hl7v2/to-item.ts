/**
 * One HL7 v2.4 message (decoded text) → one ingest item, per docs/feeds.md "HL7 v2.4 (hospital)".
 * Pure: no I/O, no clock. Used by both the file adapter and the MLLP listener.
 */
import { createHash } from 'node:crypto';
import type {
  CodeableConcept,
  Coding,
  DiagnosticReport,
  Encounter,
  Identifier,
  Observation,
  ObservationReferenceRange,
  Patient,
  Quantity,
} from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem, ItemResource, MergeInstruction, RejectedItem, Sex, SourceIdentity } from '../model.ts';
import { Hl7View, hl7Date, hl7Time, normaliseSegments, readHl7, unescapeHl7, type Hl7Segment } from './hl7-text.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const SNOMED = 'http://snomed.info/sct';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ACT_PRIORITY = 'http://terminology.hl7.org/CodeSystem/v3-ActPriority';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const UCUM = 'http://unitsofmeasure.org';

/** Identifier system for a source system's own ids, e.g. `urn:bevan:source:hl7:RM2:mrn`. */
export function sourceIdentifierSystem(system: string, kind: 'mrn' | 'visit' | 'filler'): string {
  return `urn:bevan:source:${system}:${kind}`;
}

/** Triggers Bevan uses; any other well-formed message is acknowledged and ignored. */
const ADT_TRIGGERS = new Set(['A01', 'A02', 'A03', 'A04', 'A08', 'A11', 'A13', 'A40']);

/** A content error found while mapping: becomes a RejectedItem with this reason. */
class ContentError extends Error {}

function fail(reason: string): never {
  throw new ContentError(reason);
}

/** sha256 (hex) of the message with segments joined by CR, so CR, LF and CRLF copies hash equal. */
export function hl7ContentHash(text: string): string {
  return createHash('sha256').update(normaliseSegments(text), 'utf8').digest('hex');
}

/** Parses one HL7 v2 message into an accepted, ignored or rejected item; never throws. */
export function parseHl7Message(text: string, origin: string): IngestItem {
  const raw = text;
  const read = readHl7(text);
  if (!read.ok) return { kind: 'rejected', format: 'hl7v2', reason: read.reason, raw, origin };
  const v = new Hl7View(read.message);
  const msh = v.segment('MSH')!;
  const facility = v.get(msh, 4);
  const sourceSystem = facility ? `hl7:${facility}` : undefined;
  const messageId = v.get(msh, 10) || undefined;
  const reject = (reason: string): RejectedItem => ({
    kind: 'rejected',
    format: 'hl7v2',
    ...(sourceSystem ? { sourceSystem } : {}),
    ...(messageId ? { messageId } : {}),
    reason,
    raw,
    origin,
  });
  try {
    if (!sourceSystem) fail('MSH-4 sending facility is empty');
    if (!messageId) fail('MSH-10 message control id is empty');
    const type = v.get(msh, 9, { comp: 1 });
    const trigger = v.get(msh, 9, { comp: 2 });
    if (!type) fail('MSH-9 message type is empty');
    const event = trigger ? `${type}^${trigger}` : type;
    const contentHash = hl7ContentHash(text);
    const mshTime = v.get(msh, 7);
    if (!mshTime) fail('MSH-7 message date/time is empty');
    const sent = hl7Time(mshTime) ?? fail(`MSH-7 ${JSON.stringify(mshTime)} is not a valid date/time`);

    const used = (type === 'ADT' && ADT_TRIGGERS.has(trigger)) || (type === 'ORU' && trigger === 'R01');
    if (!used) {
      return { kind: 'ignored', format: 'hl7v2', sourceSystem, messageId, contentHash, event, origin };
    }
    const ctx: MapContext = { v, system: sourceSystem, event, sourceTime: sent.instant };
    const mapped = type === 'ORU' ? mapOru(ctx) : mapAdt(ctx, trigger);
    const item: AcceptedItem = {
      kind: 'accepted',
      format: 'hl7v2',
      sourceSystem,
      messageId,
      contentHash,
      event,
      idIsUnique: true,
      identities: [mapped.identity],
      resources: mapped.resources,
      ...(mapped.merge ? { merges: [mapped.merge] } : {}),
      origin,
      // Kept so that a control-id conflict can be quarantined whole and replayed.
      raw,
    };
    return item;
  } catch (err) {
    if (err instanceof ContentError) return reject(err.message);
    return reject(`could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
}

interface MapContext {
  v: Hl7View;
  system: string;
  event: string;
  sourceTime: string;
}

interface Mapped {
  identity: SourceIdentity;
  resources: ItemResource[];
  merge?: MergeInstruction;
}

// ---------------------------------------------------------------------------------------------
// Patient (PID, PD1)

interface PatientParts {
  identity: SourceIdentity;
  patient: Patient;
}

/** The MRN from a CX list: the repetition typed MR, else the first that is not an NHS number. */
function pickMrn(v: Hl7View, seg: Hl7Segment, field: number): string | undefined {
  const reps = v.repetitions(seg, field);
  const typed = reps.find((r) => v.fromRepetition(r, 5).toUpperCase() === 'MR' && v.fromRepetition(r, 1));
  if (typed) return v.fromRepetition(typed, 1);
  const other = reps.find((r) => !isNhsRep(v, r) && v.fromRepetition(r, 1));
  return other ? v.fromRepetition(other, 1) : undefined;
}

function isNhsRep(v: Hl7View, rep: string): boolean {
  return v.fromRepetition(rep, 4).toUpperCase() === 'NHS' || v.fromRepetition(rep, 5).toUpperCase() === 'NH';
}

const SEX: Record<string, Sex> = { M: 'male', F: 'female', U: 'unknown', O: 'other', A: 'other', N: 'unknown' };

function mapPatient(ctx: MapContext): PatientParts {
  const { v, system, event } = ctx;
  const pid = v.segment('PID') ?? fail(`${event} has no PID segment`);
  const mrn = pickMrn(v, pid, 3) ?? fail('PID-3 has no hospital number (identifier type MR)');
  const nhsRep = v.repetitions(pid, 3).find((r) => isNhsRep(v, r));
  const nhsNumber = nhsRep ? v.fromRepetition(nhsRep, 1).replace(/\s+/g, '') || undefined : undefined;
  const family = v.get(pid, 5, { comp: 1 }) || undefined;
  const given = v.get(pid, 5, { comp: 2 }) || undefined;
  const middle = v.get(pid, 5, { comp: 3 }) || undefined;
  const dobRaw = v.get(pid, 7);
  const birthDate = dobRaw ? (hl7Date(dobRaw) ?? fail(`PID-7 ${JSON.stringify(dobRaw)} is not a valid date`)) : undefined;
  const sexRaw = v.get(pid, 8).toUpperCase();
  const sex = sexRaw ? (SEX[sexRaw] ?? fail(`PID-8 ${JSON.stringify(sexRaw)} is not a known administrative sex (M, F, U, O)`)) : undefined;
  const postcode = v.get(pid, 11, { comp: 5 }).toUpperCase().replace(/\s+/g, ' ') || undefined;
  const pd1 = v.segment('PD1');
  // PD1-3 is XON: in v2.4 component 3 is the organisation id (the ODS code); v2.5+ puts it in 10.
  const practice = (v.get(pd1, 3, { comp: 3 }) || v.get(pd1, 3, { comp: 10 })).toUpperCase() || undefined;

  const identity: SourceIdentity = { system, id: mrn };
  if (nhsNumber) identity.nhsNumber = nhsNumber;
  if (family) identity.family = family;
  if (given) identity.given = given;
  if (birthDate) identity.birthDate = birthDate;
  if (sex) identity.sex = sex;
  if (postcode) identity.postcode = postcode;
  if (practice) identity.practice = practice;

  const identifier: Identifier[] = [
    {
      use: 'usual',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      system: sourceIdentifierSystem(system, 'mrn'),
      value: mrn,
    },
  ];
  if (nhsNumber) identifier.push({ system: NHS_NUMBER_SYSTEM, value: nhsNumber });
  const patient: Patient = { resourceType: 'Patient', id: mrn, identifier };
  if (family || given) {
    const givens = [given, middle].filter((g): g is string => !!g);
    patient.name = [{ use: 'official', ...(family ? { family } : {}), ...(givens.length ? { given: givens } : {}) }];
  }
  if (sex) patient.gender = sex;
  if (birthDate) patient.birthDate = birthDate;
  const line = [v.get(pid, 11, { comp: 1 }), v.get(pid, 11, { comp: 2 })].filter(Boolean);
  const city = v.get(pid, 11, { comp: 3 });
  if (line.length || city || postcode) {
    patient.address = [{ ...(line.length ? { line } : {}), ...(city ? { city } : {}), ...(postcode ? { postalCode: postcode } : {}) }];
  }
  const deathRaw = v.get(pid, 29);
  if (deathRaw) {
    const death = hl7Time(deathRaw) ?? fail(`PID-29 ${JSON.stringify(deathRaw)} is not a valid date/time`);
    patient.deceasedDateTime = death.dateTime;
  } else if (v.get(pid, 30).toUpperCase() === 'Y') {
    patient.deceasedBoolean = true;
  }
  if (practice) patient.generalPractitioner = [{ identifier: { system: ODS_SYSTEM, value: practice } }];
  return { identity, patient };
}

// ---------------------------------------------------------------------------------------------
// ADT

const PATIENT_CLASS: Record<string, Coding> = {
  I: { system: ACT_CODE, code: 'IMP', display: 'inpatient encounter' },
  E: { system: ACT_CODE, code: 'EMER', display: 'emergency' },
  O: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
};

const PRIORITY: Record<string, Coding> = {
  EM: { system: ACT_PRIORITY, code: 'EM', display: 'emergency' },
  EL: { system: ACT_PRIORITY, code: 'EL', display: 'elective' },
};

function mapAdt(ctx: MapContext, trigger: string): Mapped {
  const { v, system, event, sourceTime } = ctx;
  const { identity, patient } = mapPatient(ctx);
  const resources: ItemResource[] = [{ resource: patient, sourceTime }];
  if (trigger === 'A40') {
    const mrg = v.segment('MRG') ?? fail(`${event} has no MRG segment`);
    const retiredId = pickMrn(v, mrg, 1) ?? fail('MRG-1 prior patient identifier is empty');
    if (retiredId === identity.id) fail(`MRG-1 ${JSON.stringify(retiredId)} is the same as the surviving PID-3`);
    return { identity, resources, merge: { system, survivorId: identity.id, retiredId } };
  }
  const pv1 = v.segment('PV1');
  const visit = v.get(pv1, 19);
  if (trigger === 'A08' && !visit) return { identity, resources };
  if (!pv1) fail(`${event} has no PV1 segment`);
  if (!visit) fail(`${event} has no visit number (PV1-19)`);
  resources.push({ resource: mapEncounter(ctx, trigger, pv1, visit, identity.id), sourceTime });
  return { identity, resources };
}

function timeField(v: Hl7View, seg: Hl7Segment | undefined, field: number, label: string) {
  const raw = v.get(seg, field);
  if (!raw) return undefined;
  return hl7Time(raw) ?? fail(`${label} ${JSON.stringify(raw)} is not a valid date/time`);
}

function mapEncounter(ctx: MapContext, trigger: string, pv1: Hl7Segment, visit: string, mrn: string): Encounter {
  const { v, system } = ctx;
  const classRaw = v.get(pv1, 2).toUpperCase();
  if (!classRaw) fail('PV1-2 patient class is empty');
  const cls = PATIENT_CLASS[classRaw] ?? fail(`PV1-2 patient class ${JSON.stringify(classRaw)} is not one of I, E, O`);
  const admitted = timeField(v, pv1, 44, 'PV1-44');
  const discharged = timeField(v, pv1, 45, 'PV1-45');
  let status: Encounter['status'];
  switch (trigger) {
    case 'A03': status = 'finished'; break;
    case 'A11': status = 'cancelled'; break;
    case 'A13': status = 'in-progress'; break;
    case 'A04':
    case 'A08': status = discharged ? 'finished' : 'in-progress'; break;
    default: status = 'in-progress';
  }
  const encounter: Encounter = {
    resourceType: 'Encounter',
    id: visit,
    identifier: [{ system: sourceIdentifierSystem(system, 'visit'), value: visit }],
    status,
    class: cls,
    subject: { reference: `Patient/${mrn}` },
  };
  const priority = PRIORITY[v.get(pv1, 4).toUpperCase()];
  if (priority) encounter.priority = { coding: [priority] };
  // A13 cancels the discharge: the encounter is open again, so no end whatever PV1-45 says.
  const end = trigger === 'A13' ? undefined : discharged;
  if (admitted || end) {
    encounter.period = { ...(admitted ? { start: admitted.dateTime } : {}), ...(end ? { end: end.dateTime } : {}) };
  }
  const locParts = [1, 2, 3].map((c) => v.get(pv1, 3, { comp: c })).filter(Boolean);
  if (locParts.length) {
    encounter.location = [{ location: { display: locParts.join(' ') }, status: status === 'finished' ? 'completed' : 'active' }];
  }
  const service = v.get(pv1, 10);
  if (service) encounter.serviceType = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: service }] };
  const disposition = v.get(pv1, 36);
  if (disposition) {
    encounter.hospitalization = {
      dischargeDisposition: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0112', code: disposition }] },
    };
  }
  return encounter;
}

// ---------------------------------------------------------------------------------------------
// ORU^R01

function codeable(v: Hl7View, seg: Hl7Segment, field: number): CodeableConcept | undefined {
  const code = v.get(seg, field, { comp: 1 });
  const display = v.get(seg, field, { comp: 2 });
  const codingSystem = v.get(seg, field, { comp: 3 }).toUpperCase();
  if (!code && !display) return undefined;
  if (!code) return { text: display };
  const system = codingSystem === 'SCT' || codingSystem === 'SNOMED' ? SNOMED : codingSystem === 'LN' ? 'http://loinc.org' : undefined;
  const coding: Coding = { ...(system ? { system } : {}), code, ...(display ? { display } : {}) };
  return { coding: [coding], ...(display ? { text: display } : {}) };
}

const RESULT_STATUS: Record<string, Observation['status']> = {
  F: 'final', P: 'preliminary', C: 'corrected', A: 'amended', X: 'cancelled', D: 'entered-in-error', W: 'entered-in-error', R: 'preliminary', I: 'registered',
};

const REPORT_STATUS: Record<string, DiagnosticReport['status']> = {
  F: 'final', P: 'preliminary', C: 'corrected', A: 'amended', X: 'cancelled', R: 'preliminary', I: 'registered', S: 'partial',
};

function quantity(value: string, unit: string, ucum: boolean, where: string): Quantity {
  const m = /^(<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?|-?\.\d+)$/.exec(value.trim());
  if (!m) fail(`${where} ${JSON.stringify(value)} is not a number`);
  const q: Quantity = { value: Number(m[2]) };
  if (m[1]) q.comparator = m[1] as Quantity['comparator'];
  if (unit) {
    q.unit = unit;
    if (ucum) {
      q.system = UCUM;
      q.code = unit;
    }
  }
  return q;
}

function referenceRange(text: string, unit: string, ucum: boolean): ObservationReferenceRange {
  const q = (n: string): Quantity => ({ value: Number(n), ...(unit ? { unit } : {}), ...(unit && ucum ? { system: UCUM, code: unit } : {}) });
  const num = '(-?\\d+(?:\\.\\d+)?)';
  let m = new RegExp(`^${num}\\s*-\\s*${num}$`).exec(text);
  if (m) return { low: q(m[1]), high: q(m[2]), text };
  m = new RegExp(`^<=?\\s*${num}$`).exec(text);
  if (m) return { high: q(m[1]), text };
  m = new RegExp(`^>=?\\s*${num}$`).exec(text);
  if (m) return { low: q(m[1]), text };
  return { text };
}

function mapOru(ctx: MapContext): Mapped {
  const { v, system, event, sourceTime } = ctx;
  const { identity } = mapPatient(ctx);
  const subject = { reference: `Patient/${identity.id}` };
  const resources: ItemResource[] = [];
  const segments = v.message.segments;
  const obrs = segments.filter((s) => s.name === 'OBR');
  if (obrs.length === 0) fail(`${event} has no OBR segment`);
  const seen = new Set<string>();
  for (const obr of obrs) {
    const where = `OBR ${v.get(obr, 1) || obr.position}`;
    const filler = v.get(obr, 3) || fail(`OBR-3 filler order number is empty (${where})`);
    if (seen.has(filler)) fail(`OBR-3 filler order number ${JSON.stringify(filler)} appears twice`);
    seen.add(filler);
    const code = codeable(v, obr, 4) ?? fail(`OBR-4 universal service identifier is empty (${where})`);
    const observed = timeField(v, obr, 7, 'OBR-7');
    const issued = timeField(v, obr, 22, 'OBR-22');
    // The OBX segments that follow this OBR, up to the next OBR.
    const next = segments.findIndex((s) => s.position > obr.position && s.name === 'OBR');
    const obxs = segments.filter((s) => s.name === 'OBX' && s.position > obr.position && (next < 0 || s.position < segments[next].position));
    const observations: Observation[] = [];
    const obxIds = new Set<string>();
    for (const obx of obxs) {
      const setId = v.get(obx, 1) || fail(`OBX-1 set id is empty (segment ${obx.position})`);
      const id = `${filler}-${setId}`;
      if (obxIds.has(id)) fail(`OBX-1 set id ${JSON.stringify(setId)} appears twice under OBR-3 ${JSON.stringify(filler)}`);
      obxIds.add(id);
      observations.push(mapObservation(v, obx, id, subject, observed?.dateTime));
    }
    const report: DiagnosticReport = {
      resourceType: 'DiagnosticReport',
      id: filler,
      identifier: [{ system: sourceIdentifierSystem(system, 'filler'), value: filler }],
      status: REPORT_STATUS[v.get(obr, 25).toUpperCase()] ?? 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
      code,
      subject,
      ...(observed ? { effectiveDateTime: observed.dateTime } : {}),
      ...(issued ? { issued: issued.instant } : {}),
      ...(observations.length ? { result: observations.map((o) => ({ reference: `Observation/${o.id}` })) } : {}),
    };
    resources.push({ resource: report, sourceTime });
    for (const o of observations) resources.push({ resource: o, sourceTime });
  }
  return { identity, resources };
}

function mapObservation(
  v: Hl7View,
  obx: Hl7Segment,
  id: string,
  subject: { reference: string },
  fallbackTime: string | undefined,
): Observation {
  const where = `OBX ${v.get(obx, 1)}`;
  const code = codeable(v, obx, 3) ?? fail(`OBX-3 observation identifier is empty (${where})`);
  const valueType = v.get(obx, 2).toUpperCase();
  const unit = v.get(obx, 6, { comp: 1 });
  const ucum = /^UCUM$/i.test(v.get(obx, 6, { comp: 3 }));
  const obs: Observation = {
    resourceType: 'Observation',
    id,
    status: RESULT_STATUS[v.get(obx, 11).toUpperCase()] ?? 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code,
    subject,
  };
  const rawValue = v.rawField(obx, 5);
  if (rawValue !== '') {
    if (valueType === 'NM' || valueType === 'SN') {
      // SN is comparator^number; NM is a plain number (a leading < or > is tolerated).
      const value = valueType === 'SN' ? v.get(obx, 5, { comp: 1 }) + v.get(obx, 5, { comp: 2 }) : v.get(obx, 5);
      obs.valueQuantity = quantity(value, unit, ucum, `OBX-5 (${where})`);
    } else if (valueType === 'CE' || valueType === 'CWE') {
      obs.valueCodeableConcept = codeable(v, obx, 5);
    } else {
      // Repetitions of free text (TX, FT) are lines of one text.
      obs.valueString = v.repetitions(obx, 5).map((r) => unescapeHl7(r, v.delimiters).trim()).join('\n');
    }
  }
  const range = v.get(obx, 7);
  if (range) obs.referenceRange = [referenceRange(range, unit, ucum)];
  const flag = v.get(obx, 8).toUpperCase();
  if (flag) obs.interpretation = [{ coding: [{ system: INTERPRETATION, code: flag }] }];
  const when = timeField(v, obx, 14, `OBX-14 (${where})`);
  const effective = when?.dateTime ?? fallbackTime;
  if (effective) obs.effectiveDateTime = effective;
  return obs;
}
