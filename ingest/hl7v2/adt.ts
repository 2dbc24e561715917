/**
 * ADT messages (HL7 v2.3–2.8 chapter 3) → Patient, Encounter, allergies and diagnoses, and the
 * identity instructions (merge, link, unlink) the MPI applies. Each trigger event is applied by
 * its meaning (tables.ts ADT_EVENTS). Pure.
 */
import type { Coding, Encounter, EncounterParticipant } from '@medplum/fhirtypes';
import type { IdentityRestriction, ItemResource, MergeInstruction, SourceIdentity } from '../model.ts';
import type { Hl7Segment, Hl7View } from './hl7-text.ts';
import { CLINICAL_SEGMENTS, mapClinicalSegments } from './clinical.ts';
import { codeable, fail, itemResource, patientGroups, shortHash, sourceIdentifierSystem, timeField, xcnDisplay, type MapContext, type PatientGroup } from './mapping.ts';
import { distinctIdentities, mapPatient, pickHospitalNumber } from './patient.ts';
import { mapObservation } from './results.ts';
import { patientClass, type AdtMeaning } from './tables.ts';

const ACT_PRIORITY = 'http://terminology.hl7.org/CodeSystem/v3-ActPriority';

export interface Mapped {
  identities: SourceIdentity[];
  resources: ItemResource[];
  merges?: MergeInstruction[];
  /** ADT only: what PD1-12 says about each patient (ingest/model.ts AcceptedItem.restrictions). */
  restrictions?: IdentityRestriction[];
}

// PV1-4 admission type (user-defined table 0007, UK and suggested values) → v3 ActPriority.
const PRIORITY: Record<string, Coding> = {
  EM: { system: ACT_PRIORITY, code: 'EM', display: 'emergency' },
  E: { system: ACT_PRIORITY, code: 'EM', display: 'emergency' },
  A: { system: ACT_PRIORITY, code: 'EM', display: 'emergency' }, // accident
  EL: { system: ACT_PRIORITY, code: 'EL', display: 'elective' },
  C: { system: ACT_PRIORITY, code: 'EL', display: 'elective' },
  U: { system: ACT_PRIORITY, code: 'UR', display: 'urgent' },
  R: { system: ACT_PRIORITY, code: 'R', display: 'routine' },
};

// PV1 doctors → Encounter.participant type (v3 ParticipationType).
const DOCTORS: Array<[number, string, string]> = [
  [7, 'ATND', 'attender'],
  [8, 'REF', 'referrer'],
  [9, 'CON', 'consultant'],
  [17, 'ADM', 'admitter'],
];

/** How an encounter's key was found; see visitKey. */
export type VisitKeySource = 'PV1-19' | 'PV1-50' | 'PV1-5' | 'PV1-44' | 'MSH-10';

/**
 * The key of the visit a PV1 is about, stable across replays:
 * 1. PV1-19 visit number; 2. PV1-50 alternate visit id; 3. PV1-5 preadmit number;
 * 4. the patient's id and the PV1-44 admit time (`<MRN>-<yyyymmddhhmmss UTC>`), which every
 *    later message about the same stay repeats, so an A03 without PV1-19 finds the A01's
 *    encounter; 5. when `allowMessageKey`, the patient's id and MSH-10 (a stay whose messages
 *    carry neither number nor admit time cannot be followed across messages: each such message
 *    is its own encounter).
 */
export function visitKey(ctx: MapContext, pv1: Hl7Segment | undefined, mrn: string, allowMessageKey: boolean): { id: string; from: VisitKeySource } | undefined {
  const { v } = ctx;
  if (!pv1) return allowMessageKey ? { id: `${mrn}-${ctx.messageId}`, from: 'MSH-10' } : undefined;
  for (const [field, from] of [[19, 'PV1-19'], [50, 'PV1-50'], [5, 'PV1-5']] as const) {
    const id = v.get(pv1, field);
    if (id) return { id, from };
  }
  const admitted = timeField(v, pv1, 44, 'PV1-44');
  if (admitted) return { id: `${mrn}-${admitted.instant.replace(/\D/g, '')}`, from: 'PV1-44' };
  return allowMessageKey ? { id: `${mrn}-${ctx.messageId}`, from: 'MSH-10' } : undefined;
}

function first(group: PatientGroup, name: string): Hl7Segment | undefined {
  return group.segments.find((s) => s.name === name);
}

/** PV1 (and PV2) → Encounter with the given status. */
export function mapEncounter(ctx: MapContext, pv1: Hl7Segment, pv2: Hl7Segment | undefined, key: { id: string; from: VisitKeySource }, mrn: string, status: Encounter['status'], clearEnd = false): Encounter {
  const { v, system } = ctx;
  const cls = patientClass(v.get(pv1, 2));
  const admitted = timeField(v, pv1, 44, 'PV1-44');
  const discharged = timeField(v, pv1, 45, 'PV1-45');
  const encounter: Encounter = {
    resourceType: 'Encounter',
    id: key.id,
    ...(key.from === 'PV1-19' ? { identifier: [{ system: sourceIdentifierSystem(system, 'visit'), value: key.id }] } : {}),
    status,
    class: cls.class,
    subject: { reference: `Patient/${mrn}` },
  };
  if (cls.original) encounter.type = [{ coding: [cls.original], ...(cls.original.display ? {} : { text: `patient class ${cls.original.code} (PV1-2)` }) }];
  const priority = PRIORITY[v.get(pv1, 4).toUpperCase()];
  if (priority) encounter.priority = { coding: [priority] };
  // A13 cancels the discharge: the encounter is open again, so no end whatever PV1-45 says.
  const end = clearEnd ? undefined : discharged;
  if (admitted || end) {
    encounter.period = { ...(admitted ? { start: admitted.dateTime } : {}), ...(end ? { end: end.dateTime } : {}) };
  }
  const locParts = [1, 2, 3].map((c) => v.get(pv1, 3, { comp: c })).filter(Boolean);
  if (locParts.length) {
    encounter.location = [{ location: { display: locParts.join(' ') }, status: status === 'finished' ? 'completed' : status === 'planned' ? 'planned' : 'active' }];
  }
  const service = v.get(pv1, 10);
  if (service) encounter.serviceType = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: service }] };
  const participants: EncounterParticipant[] = [];
  for (const [field, code, display] of DOCTORS) {
    // The repetitions of PV1-7, -8 and -17 are names and identifiers of one doctor, not more
    // doctors (v2.5 PV1-7: "The field sequences are not used to indicate multiple attending
    // physicians"): Epic sends one doctor as ID1^NAME^…^CONS~ID2^NAME^…^CDS~ID3^NAME^…^PROVID.
    // A repetition with the name of one already read (or, but in PV1-9 consulting doctors, with
    // no name) is that doctor again, the first identifier kept; one with another name is kept as
    // well, as senders who break the rule mean another doctor.
    const inField: EncounterParticipant[] = [];
    for (const rep of v.repetitions(pv1, field)) {
      const name = xcnDisplay(v, rep);
      const id = v.fromRepetition(rep, 1);
      if (!name && !id) continue;
      const same = inField.find((p) =>
        name && p.individual?.display ? p.individual.display.toUpperCase() === name.toUpperCase() : field !== 9);
      if (same) {
        if (!same.individual!.identifier && id) same.individual!.identifier = { value: id };
        if (!same.individual!.display && name) same.individual!.display = name;
        continue;
      }
      inField.push({
        type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code, display }] }],
        individual: { ...(id ? { identifier: { value: id } } : {}), ...(name ? { display: name } : {}) },
      });
    }
    participants.push(...inField);
  }
  if (participants.length) encounter.participant = participants;
  const reason = codeable(v, pv2, 3);
  if (reason) encounter.reasonCode = [reason];
  const disposition = v.get(pv1, 36);
  const admitSource = v.get(pv1, 14);
  const preadmit = v.get(pv1, 5);
  if (disposition || admitSource || preadmit) {
    encounter.hospitalization = {
      ...(preadmit ? { preAdmissionIdentifier: { value: preadmit } } : {}),
      ...(admitSource ? { admitSource: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0023', code: admitSource }] } } : {}),
      ...(disposition ? { dischargeDisposition: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0112', code: disposition }] } } : {}),
    };
  }
  return encounter;
}

/** The status an update-like event leaves a visit in: finished once discharged, planned before admission. */
function derivedStatus(v: Hl7View, pv1: Hl7Segment): Encounter['status'] {
  if (v.get(pv1, 45)) return 'finished';
  return v.get(pv1, 2).toUpperCase() === 'P' ? 'planned' : 'in-progress';
}

/** The prior patient id an MRG names: MRG-1 (the identifier list), else MRG-4 (v2.3 prior patient id). */
function priorPatientId(v: Hl7View, mrg: Hl7Segment): string | undefined {
  return pickHospitalNumber(v, mrg, 1) ?? (v.get(mrg, 4) || undefined);
}

export function mapAdt(ctx: MapContext, meaning: AdtMeaning): Mapped {
  const { v, system, event, sourceTime } = ctx;
  const groups = patientGroups(v);
  if (groups.length === 0) fail(`${event} has no PID segment`);
  const parts = groups.map((g) => ({ group: g, ...mapPatient(v, system, g.pid, first(g, 'PD1'), ctx.version) }));
  // ADT is the authority for demographics: an impossible birth or death date is for the sender to fix.
  const fault = parts.find((p) => p.faults)?.faults?.[0];
  if (fault) fail(fault);
  const identities = distinctIdentities(parts);
  // With several patients in one message, every resource names its patient (ItemResource.subject).
  const many = identities.length > 1;
  const resources: ItemResource[] = [];
  const merges: MergeInstruction[] = [];

  for (const { group, patient, identity } of parts) {
    const mrn = identity.id;
    // The parts are shared between messages (mapPatient): changed on a copy.
    // A merge whose PID carries only identifiers (IHE PIX and NHS Wales send `PID|||<id>` with the
    // MRG) says nothing about the person: its Patient would replace the survivor's demographics
    // with none, so only the identity and the merge go in.
    const bare = !patient.name && !patient.birthDate && !patient.gender && !patient.address && !patient.telecom && !patient.generalPractitioner && patient.deceasedBoolean === undefined && !patient.deceasedDateTime;
    const subject = many ? mrn : undefined;
    if (!(meaning.kind === 'merge' && bare)) resources.push(itemResource(meaning.kind === 'delete-person' ? { ...patient, active: false } : patient, sourceTime, subject));
    const pv1 = first(group, 'PV1');
    const pv2 = first(group, 'PV2');
    let encounterId: string | undefined;
    // The visit this group's PV1 names, if any (visitKey), as an Encounter.
    let visit: { status: Encounter['status'] | 'derived'; allowMessageKey: boolean; clearEnd?: boolean } | undefined;

    switch (meaning.kind) {
      case 'visit':
        // PV1 is required here, yet a registration sent without it (a practice system's A04) still
        // says who the patient is: the Patient goes in, and there is no visit to record.
        if (pv1) visit = { status: meaning.status, allowMessageKey: true, clearEnd: meaning.clearEnd };
        break;
      case 'update':
      case 'account':
      case 'swap':
        // The visit only when PV1 names one: A08, A31-style messages often carry `PV1|1|N`.
        visit = { status: meaning.kind === 'swap' ? 'in-progress' : 'derived', allowMessageKey: false };
        break;
      case 'person':
      case 'delete-person':
        break;
      case 'merge': {
        const mrgs = group.segments.filter((s) => s.name === 'MRG');
        if (mrgs.length === 0) fail(`${event} has no MRG segment (the patient identifier being merged)`);
        for (const mrg of mrgs) {
          const retiredId = priorPatientId(v, mrg) ?? fail(`MRG-1 prior patient identifier is empty (${event} needs the identifier being retired)`);
          if (retiredId === mrn) {
            // A46/A47 may change another identifier in the list and leave the hospital number as it is.
            if (ctx.trigger === 'A46' || ctx.trigger === 'A47') continue;
            fail(`MRG-1 ${JSON.stringify(retiredId)} is the same as the surviving PID-3: nothing to merge`);
          }
          merges.push({ kind: 'merge', system, survivorId: mrn, retiredId, event });
        }
        visit = { status: 'derived', allowMessageKey: false };
        break;
      }
      case 'visit-move':
      case 'visit-renumber': {
        // A45: PID, then pairs of MRG (the patient and visit it came from) and PV1 (the visit now).
        const pairs: Array<{ mrg: Hl7Segment; pv1?: Hl7Segment }> = [];
        for (const s of group.segments) {
          if (s.name === 'MRG') pairs.push({ mrg: s });
          else if (s.name === 'PV1' && pairs.length && !pairs[pairs.length - 1]!.pv1) pairs[pairs.length - 1]!.pv1 = s;
        }
        if (pairs.length === 0) fail(`${event} has no MRG segment (the visit being ${meaning.kind === 'visit-move' ? 'moved' : 'renumbered'})`);
        for (const { mrg, pv1: visitPv1 } of pairs) {
          const prior = v.get(mrg, 5);
          if (!visitPv1) fail(`${event} has no PV1 segment after MRG ${mrg.position} (the visit ${meaning.kind === 'visit-move' ? 'moved' : 'renumbered'})`);
          const own = visitKey(ctx, visitPv1, mrn, false);
          const key = own ?? (prior ? { id: prior, from: 'PV1-19' as const } : fail(`${event} has neither PV1-19 nor MRG-5: which visit is meant cannot be told`));
          const encounter = mapEncounter(ctx, visitPv1, pv2, key, mrn, derivedStatus(v, visitPv1));
          resources.push(itemResource(encounter, sourceTime, subject));
          encounterId = key.id;
          if (meaning.kind === 'visit-renumber' && prior && prior !== key.id) {
            // The old visit number is retired: its encounter is marked entered-in-error, pointing at the new one.
            resources.push(itemResource({ ...encounter, id: prior, identifier: [{ system: sourceIdentifierSystem(system, 'visit'), value: prior }], status: 'entered-in-error', partOf: { reference: `Encounter/${key.id}` } }, sourceTime, subject));
          }
        }
        break;
      }
      case 'link':
      case 'unlink':
        visit = { status: 'derived', allowMessageKey: false };
        break;
    }
    if (visit && pv1) {
      const key = visitKey(ctx, pv1, mrn, visit.allowMessageKey);
      if (key) {
        encounterId = key.id;
        resources.push(itemResource(mapEncounter(ctx, pv1, pv2, key, mrn, visit.status === 'derived' ? derivedStatus(v, pv1) : visit.status, visit.clearEnd ?? false), sourceTime, subject));
      }
    }
    if (group.segments.some((s) => CLINICAL_SEGMENTS.has(s.name))) {
      resources.push(...mapClinicalSegments(group.segments, { ctx, mrn, ...(encounterId ? { encounterId } : {}), ...(many ? { subject: mrn } : {}) }));
    }
    // ADT OBX (height, weight, gestational age, …: the v2-to-FHIR guide maps them to Observation).
    // Keyed by the patient, the code and OBX-14, so the same measurement sent again is one resource.
    // Several OBX with one code and time in a message (lines of a report sent as TX, each its own
    // OBX) are different results: the second and later take their rank among them (`-2`, `-3` …),
    // so none overwrites another and a resend of the message gives the same keys.
    const seenKeys = new Map<string, number>();
    group.segments.forEach((s, i) => {
      if (s.name !== 'OBX') return;
      const code = `${v.get(s, 3, { comp: 3 })}|${v.get(s, 3, { comp: 1 }) || v.get(s, 3, { comp: 2 })}`;
      const ntes: string[] = [];
      for (const n of group.segments.slice(i + 1)) {
        if (n.name !== 'NTE') break;
        ntes.push(v.text(n, 3));
      }
      const base = `${mrn}-observation-${shortHash(code, v.get(s, 14) || (code === '|' ? String(s.position) : ''))}`;
      const rank = (seenKeys.get(base) ?? 0) + 1;
      seenKeys.set(base, rank);
      const obs = mapObservation(v, s, rank === 1 ? base : `${base}-${rank}`, { reference: `Patient/${mrn}` }, ctx.sourceTime, ntes, []);
      delete obs.category; // not a laboratory result
      if (encounterId) obs.encounter = { reference: `Encounter/${encounterId}` };
      resources.push(itemResource(obs, sourceTime, subject));
    });
  }

  if (meaning.kind === 'link' || meaning.kind === 'unlink') {
    if (identities.length < 2) fail(`${event} needs two PID segments with different identifiers (the two patients to ${meaning.kind}), found ${identities.length}`);
    for (const other of identities.slice(1)) merges.push({ kind: meaning.kind, system, survivorId: identities[0]!.id, retiredId: other.id, event });
  }
  // ADT is the hospital's demographics feed: its PD1-12 says whether the person is restricted.
  const restrictions = parts
    .filter((p) => p.restricted !== undefined)
    .map((p) => ({ id: p.identity.id, restricted: p.restricted!, reason: `HL7 ${event} PD1-12 protection indicator ${p.protection}`, ...(sourceTime ? { at: sourceTime } : {}) }));
  return { identities, resources, ...(merges.length ? { merges } : {}), ...(restrictions.length ? { restrictions } : {}) };
}
