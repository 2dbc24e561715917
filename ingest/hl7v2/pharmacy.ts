/**
 * Pharmacy and immunisation (HL7 v2.3–2.8 chapter 4A) → FHIR R4, after the HL7 v2-to-FHIR
 * guide's segment maps (https://build.fhir.org/ig/HL7/v2-to-fhir/: RXE/RXO/ORC → MedicationRequest,
 * RXD → MedicationDispense, RXA → MedicationAdministration and Immunization, RXR → route and site).
 * Pure.
 *
 * - RDE^O11/O25 (v2.3 RDE^O01; encoded order, refill authorisation), OMP^O09 and a v2.3 ORM^O01 whose detail is
 *   RXO → MedicationRequest per ORC, keyed as orders.ts keys a ServiceRequest (`order-<placer>` …);
 * - RDS^O13 (v2.3 O01) → MedicationDispense per RXD, `<order key>-dispense-<RXD-1>`, authorised by the request;
 * - RAS^O17 (v2.3 O01) → MedicationAdministration per RXA, `<order key>-administration-<RXA-1>-<RXA-2>`;
 * - VXU^V04, RSP^K11 and VXR^V03 (immunisation history) and an ORU's RXA → Immunization per RXA, keyed by the
 *   order numbers of its ORC (CDC's guide makes ORC-3 the immunisation's own id), else by the
 *   patient, the vaccine and the date, so a resend from another message is the same resource.
 */
import type {
  Annotation,
  CodeableConcept,
  Dosage,
  Immunization,
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  Patient,
  Quantity,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import { hl7Date, type Hl7Segment } from './hl7-text.ts';
import { annotatingTime, annotatingTimeOf, codeable, codeableFromRep, codeSystemUri, fail, shortHash, sourceIdentifierSystem, timeField, type MapContext } from './mapping.ts';
import { mapEachOrder, orderIdentity, orderNotes, orderStatus, practitioner, type OrderGroup } from './orders.ts';
import type { Mapped } from './adt.ts';

/**
 * Pharmacy messages: encoded orders, dispenses, administrations (and the pharmacy order OMP).
 * v2.3 gave them all the trigger O01 (RDE^O01, RDS^O01, RAS^O01); v2.4 numbered them O11, O13, O17.
 */
export const PHARMACY_EVENTS = new Set(['RDE^O11', 'RDE^O25', 'RDE^O01', 'RDS^O13', 'RDS^O01', 'RAS^O17', 'RAS^O01', 'OMP^O09']);
/** Immunisation messages: an update (VXU), a history query's response (RSP^K11, CDC Z32/Z42; v2.3–2.4 VXR^V03). */
export const IMMUNIZATION_EVENTS = new Set(['VXU^V04', 'RSP^K11', 'VXR^V03']);

const CVX = 'http://hl7.org/fhir/sid/cvx';
/** The segments that start a pharmacy detail: an RXR or NTE after one belongs to it. */
const DETAIL = new Set(['RXO', 'RXE', 'RXD', 'RXA', 'RXG', 'OBR']);

/** The segments `name` after `seg` within its order, up to the next detail segment. */
function following(o: OrderGroup, seg: Hl7Segment, name: string): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  for (let i = o.segments.indexOf(seg) + 1; i < o.segments.length; i++) {
    const s = o.segments[i]!;
    if (DETAIL.has(s.name)) break;
    if (s.name === name) out.push(s);
  }
  return out;
}

/** An amount and its CE/CWE units (code ^ text ^ system) as a Quantity; undefined when no number. */
function quantity(ctx: MapContext, seg: Hl7Segment, amountField: number, unitField: number): Quantity | undefined {
  const { v } = ctx;
  const raw = v.get(seg, amountField).trim();
  if (!raw || !/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(raw)) return undefined;
  const code = v.get(seg, unitField, { comp: 1 });
  const text = v.get(seg, unitField, { comp: 2 });
  const system = codeSystemUri(v.get(seg, unitField, { comp: 3 }));
  return { value: Number(raw), ...(text || code ? { unit: text || code } : {}), ...(system && code ? { system, code } : {}) };
}

/** RXR-1 route and RXR-2 site (first RXR). */
function routeAndSite(ctx: MapContext, rxrs: Hl7Segment[]): { route?: CodeableConcept; site?: CodeableConcept } {
  const rxr = rxrs[0];
  const route = codeable(ctx.v, rxr, 1);
  const site = codeable(ctx.v, rxr, 2);
  return { ...(route ? { route } : {}), ...(site ? { site } : {}) };
}

/** A required coded field: the concept, or a reason naming the field. */
function requiredCode(ctx: MapContext, seg: Hl7Segment, field: number, label: string): CodeableConcept {
  return codeable(ctx.v, seg, field) ?? fail(`${seg.name}-${field} ${label} is empty in ${seg.name} ${seg.position} (the medicine or vaccine is required)`);
}

/** Coded repetitions (indications, refusal reasons, instructions). */
function codeables(ctx: MapContext, seg: Hl7Segment | undefined, field: number): CodeableConcept[] {
  return ctx.v.repetitions(seg, field).map((r) => codeableFromRep(ctx.v, r)).filter((c): c is CodeableConcept => c !== undefined);
}

const subject = (o: OrderGroup): Reference<Patient> => ({ reference: `Patient/${o.mrn}` });

/** Dosage text as a person reads it: "500 mg, oral, every 8 hours (TQ1/RXE-1 as sent)". */
function dosageText(parts: Array<string | undefined>): string | undefined {
  const t = parts.filter(Boolean).join(', ');
  return t || undefined;
}

/**
 * RDE, RDS, RAS, OMP (and ORM^O01 with RXO) → MedicationRequest, MedicationDispense and
 * MedicationAdministration, each under the patient of its group.
 */
/** The segment each pharmacy message is about: its absence is a message that cannot be read. */
const REQUIRED_DETAIL: Record<string, string> = { RDE: 'RXE', RDS: 'RXD', RAS: 'RXA', OMP: 'RXO' };

export function mapPharmacy(ctx: MapContext): Mapped {
  const type = ctx.event.slice(0, 3);
  const required = REQUIRED_DETAIL[type];
  if (required && !ctx.v.segment(required)) fail(`${ctx.event} has no ${required} segment (required: ${required === 'RXD' ? 'the dispense' : required === 'RXA' ? 'the administration' : 'the medication ordered'})`);
  const dispenseOrAdminister = type === 'RDS' || type === 'RAS';
  return mapEachOrder(ctx, undefined, (o) => {
    const out: Resource[] = [];
    const rxe = o.segments.find((s) => s.name === 'RXE');
    const rxo = o.segments.find((s) => s.name === 'RXO');
    const order = orderIdentity(ctx, o);
    // A dispense or administration message repeats the order (RXO/RXE) only to say what was
    // asked for: the request is the pharmacy's encoded order (RDE), not restated here.
    if (!dispenseOrAdminister && (rxe || rxo)) {
      // One medicine per ORC is the standard; some senders list a regimen's medicines (several
      // RXE, or RXO) under one ORC. Each is a MedicationRequest: the first under the order's key,
      // the others `<key>-2`, `<key>-3` …, each with the RXR, NTE and TQ1 that follow it.
      const medicines = medicineRuns(o, rxe ? 'RXE' : 'RXO');
      medicines.forEach((run, i) => {
        const one: OrderGroup = { ...o, segments: run };
        const key = i === 0 ? order : { ...order, id: `${order.id}-${i + 1}` };
        out.push(mapRequest(ctx, one, key, run.find((s) => s.name === 'RXE'), run.find((s) => s.name === 'RXO')));
      });
    }
    for (const rxd of o.segments.filter((s) => s.name === 'RXD')) out.push(mapDispense(ctx, o, order.id, rxd, rxe ?? rxo));
    if (type === 'RAS') for (const rxa of o.segments.filter((s) => s.name === 'RXA')) out.push(mapAdministration(ctx, o, order.id, rxa));
    return out;
  });
}

/**
 * The order group's segments cut at each `detail` (RXE, or RXO for an unencoded order): every
 * run keeps what precedes the first detail (the ORC's TQ1, the RXO an RXE encodes) and its own
 * segments up to the next detail. One detail gives the group as it is.
 */
function medicineRuns(o: OrderGroup, detail: 'RXE' | 'RXO'): Hl7Segment[][] {
  const at = o.segments.flatMap((s, i) => (s.name === detail ? [i] : []));
  if (at.length <= 1) return [o.segments];
  const head = o.segments.slice(0, at[0]);
  return at.map((start, k) => {
    const end = at[k + 1] ?? o.segments.length;
    // An RXO just before the next RXE belongs to that RXE (RDE_O11: [RXO] RXE per order).
    let stop = end;
    if (detail === 'RXE' && o.segments[end - 1]?.name === 'RXO' && k + 1 < at.length) stop = end - 1;
    const own = o.segments.slice(start, stop);
    const before = k === 0 ? head : detail === 'RXE' && o.segments[start - 1]?.name === 'RXO' ? [o.segments[start - 1]!] : [];
    return k === 0 ? [...head, ...own] : [...head.filter((s) => s.name !== 'RXO'), ...before, ...own];
  });
}

type RequestStatus = NonNullable<MedicationRequest['status']>;

/** A ServiceRequest-style order status → MedicationRequest.status (DC discontinued is stopped; other revocations cancelled). */
function requestStatus(ctx: MapContext, o: OrderGroup): RequestStatus {
  const s = orderStatus(ctx, o.orc);
  if (s === 'revoked') return ['DC', 'OD'].includes(ctx.v.get(o.orc, 1).toUpperCase()) || ctx.v.get(o.orc, 5).toUpperCase() === 'DC' ? 'stopped' : 'cancelled';
  return s as RequestStatus;
}

/** RXE (else RXO) with its ORC → MedicationRequest. */
function mapRequest(ctx: MapContext, o: OrderGroup, order: ReturnType<typeof orderIdentity>, rxe: Hl7Segment | undefined, rxo: Hl7Segment | undefined): MedicationRequest {
  const { v } = ctx;
  const notes: Annotation[] = [];
  // RXE-2 give code is required; RXO-1 (conditional) is the requested medicine of an unencoded order.
  const medication = rxe ? (codeable(v, rxe, 2) ?? codeable(v, rxo, 1) ?? requiredCode(ctx, rxe, 2, 'give code')) : requiredCode(ctx, rxo!, 1, 'requested give code');
  const detail = rxe ?? rxo!;
  const [minF, maxF, unitF, formF, instrF] = rxe ? [3, 4, 5, 6, 7] : [2, 3, 4, 5, 7];
  const dose = quantity(ctx, detail, minF, unitF);
  const max = quantity(ctx, detail, maxF, unitF);
  const rxr = following(o, detail, 'RXR');
  const { route, site } = routeAndSite(ctx, rxr.length ? rxr : o.segments.filter((s) => s.name === 'RXR'));
  const tq1 = o.segments.find((s) => s.name === 'TQ1');
  // Timing: TQ1 (v2.5+), else the TQ of RXE-1 or ORC-7 (v2.3–2.4): interval ^ … ^ start ^ end.
  const interval = v.get(tq1, 3) || v.get(tq1, 2) || v.get(rxe, 1, { comp: 2 }) || v.get(o.orc, 7, { comp: 2 });
  const start = v.get(tq1, 7) ? annotatingTime(v, tq1, 7, 'TQ1-7', notes) : annotatingTimeOf(v.get(rxe, 1, { comp: 4 }) || v.get(o.orc, 7, { comp: 4 }), v.get(rxe, 1, { comp: 4 }) ? 'RXE-1.4' : 'ORC-7.4', notes);
  const instructions = codeables(ctx, detail, instrF);
  const doseText = dose ? `${max && max.value !== dose.value ? `${dose.value}–${max.value}` : dose.value}${dose.unit ? ` ${dose.unit}` : ''}` : undefined;
  const text = dosageText([doseText, route?.text ?? route?.coding?.[0]?.display ?? route?.coding?.[0]?.code, interval, ...instructions.map((c) => c.text ?? c.coding?.[0]?.display ?? '')]);
  const dosage: Dosage = {
    ...(text ? { text } : {}),
    ...(interval || start ? { timing: { ...(interval ? { code: { text: interval } } : {}), ...(start ? { repeat: { boundsPeriod: { start: start.dateTime } } } : {}) } } : {}),
    ...(route ? { route } : {}),
    ...(site ? { site } : {}),
    ...(dose ? { doseAndRate: [max && max.value !== dose.value ? { doseRange: { low: dose, high: max } } : { doseQuantity: dose }] } : {}),
  };
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest',
    id: order.id,
    ...(order.identifier.length ? { identifier: order.identifier } : {}),
    status: requestStatus(ctx, o),
    intent: 'order',
    medicationCodeableConcept: medication,
    subject: subject(o),
  };
  const authored = annotatingTime(v, o.orc, 9, 'ORC-9', notes);
  request.authoredOn = authored?.dateTime ?? ctx.sourceTime;
  const requester = practitioner(v, v.repetitions(o.orc, 12)[0]);
  if (requester) request.requester = requester;
  const reasons = rxe ? codeables(ctx, rxe, 27) : codeables(ctx, rxo, 20);
  if (reasons.length) request.reasonCode = reasons;
  if (Object.keys(dosage).length) request.dosageInstruction = [dosage];
  const dispenseAmount = rxe ? quantity(ctx, rxe, 10, 11) : quantity(ctx, rxo!, 11, 12);
  const refills = v.get(detail, rxe ? 12 : 13).trim();
  if (dispenseAmount || /^\d+$/.test(refills)) {
    request.dispenseRequest = { ...(dispenseAmount ? { quantity: dispenseAmount } : {}), ...(/^\d+$/.test(refills) ? { numberOfRepeatsAllowed: Number(refills) } : {}) };
  }
  for (const t of orderNotes(ctx, o)) notes.push({ text: t });
  if (notes.length) request.note = notes;
  return request;
}

/** RXD → MedicationDispense, authorised by the order's MedicationRequest. */
function mapDispense(ctx: MapContext, o: OrderGroup, orderId: string, rxd: Hl7Segment, order: Hl7Segment | undefined): MedicationDispense {
  const { v } = ctx;
  const notes: Annotation[] = [];
  const medication = codeable(v, rxd, 2) ?? (order ? codeable(v, order, order.name === 'RXE' ? 2 : 1) : undefined) ?? requiredCode(ctx, rxd, 2, 'dispense/give code');
  const counter = v.get(rxd, 1);
  const cancelled = ['CA', 'OC', 'DC', 'CR'].includes(v.get(o.orc, 1).toUpperCase()) || v.get(o.orc, 5).toUpperCase() === 'CA';
  const dispense: MedicationDispense = {
    resourceType: 'MedicationDispense',
    id: `${orderId}-dispense-${counter || rxd.position}`,
    ...(v.get(rxd, 7) ? { identifier: [{ system: sourceIdentifierSystem(ctx.system, 'prescription'), value: v.get(rxd, 7) }] } : {}),
    status: cancelled ? 'cancelled' : 'completed',
    medicationCodeableConcept: medication,
    subject: subject(o),
    authorizingPrescription: [{ reference: `MedicationRequest/${orderId}` }],
  };
  const amount = quantity(ctx, rxd, 4, 5);
  if (amount) dispense.quantity = amount;
  const handed = annotatingTime(v, rxd, 3, 'RXD-3', notes);
  if (handed) dispense.whenHandedOver = handed.dateTime;
  const performer = practitioner(v, v.repetitions(rxd, 10)[0]);
  if (performer) dispense.performer = [{ actor: performer }];
  const place = v.get(rxd, 13, { comp: 9 }) || v.get(rxd, 13, { comp: 4 }) || v.get(rxd, 13, { comp: 1 });
  if (place) dispense.destination = { display: place };
  const { route, site } = routeAndSite(ctx, following(o, rxd, 'RXR'));
  if (route || site) dispense.dosageInstruction = [{ ...(route ? { route } : {}), ...(site ? { site } : {}) }];
  for (const rep of v.repetitions(rxd, 9)) {
    const t = v.fromRepetition(rep, 1);
    if (t) notes.push({ text: t });
  }
  for (const t of orderNotes(ctx, o)) notes.push({ text: t });
  if (notes.length) dispense.note = notes;
  return dispense;
}

/** What an RXA says happened (RXA-20 completion status, RXA-21 action code, RXA-18 refusal). */
function administered(ctx: MapContext, rxa: Hl7Segment): { completion: string; deleted: boolean; refusal: CodeableConcept[] } {
  const { v } = ctx;
  return { completion: v.get(rxa, 20).toUpperCase(), deleted: v.get(rxa, 21).toUpperCase() === 'D', refusal: codeables(ctx, rxa, 18) };
}

/** RXA-3 (required) and RXA-4: when it was given; an empty or impossible start quarantines the message. */
function administeredAt(ctx: MapContext, rxa: Hl7Segment): { start: string; end?: string } {
  const start = timeField(ctx.v, rxa, 3, `RXA-3 date/time start of administration (RXA ${rxa.position})`) ?? fail(`RXA-3 date/time start of administration is empty in RXA ${rxa.position} (required)`);
  const end = ctx.v.get(rxa, 4) ? timeField(ctx.v, rxa, 4, `RXA-4 date/time end of administration (RXA ${rxa.position})`) : undefined;
  return { start: start.dateTime, ...(end && end.dateTime !== start.dateTime ? { end: end.dateTime } : {}) };
}

/** RXA (RAS^O17) → MedicationAdministration. */
function mapAdministration(ctx: MapContext, o: OrderGroup, orderId: string, rxa: Hl7Segment): MedicationAdministration {
  const { v } = ctx;
  const medication = requiredCode(ctx, rxa, 5, 'administered code');
  const when = administeredAt(ctx, rxa);
  const { completion, deleted, refusal } = administered(ctx, rxa);
  const status: MedicationAdministration['status'] = deleted ? 'entered-in-error' : completion === 'RE' || completion === 'NA' || refusal.length ? 'not-done' : completion === 'PA' ? 'stopped' : 'completed';
  const give = v.get(rxa, 1);
  const sub = v.get(rxa, 2);
  const admin: MedicationAdministration = {
    resourceType: 'MedicationAdministration',
    id: `${orderId}-administration-${give && sub ? `${give}-${sub}` : rxa.position}`,
    status,
    medicationCodeableConcept: medication,
    subject: subject(o),
    ...(when.end ? { effectivePeriod: { start: when.start, end: when.end } } : { effectiveDateTime: when.start }),
    request: { reference: `MedicationRequest/${orderId}` },
  };
  if (refusal.length) admin.statusReason = refusal;
  const reasons = codeables(ctx, rxa, 19);
  if (reasons.length) admin.reasonCode = reasons;
  const performers = v.repetitions(rxa, 10).map((r) => practitioner(v, r)).filter((r) => r !== undefined);
  if (performers.length) admin.performer = performers.map((actor) => ({ actor }));
  const dose = quantity(ctx, rxa, 6, 7);
  const { route, site } = routeAndSite(ctx, following(o, rxa, 'RXR'));
  if (dose || route || site) admin.dosage = { ...(dose ? { dose } : {}), ...(route ? { route } : {}), ...(site ? { site } : {}) };
  const notes = [...codeables(ctx, rxa, 9).map((c) => ({ text: c.text ?? c.coding?.[0]?.code ?? '' })), ...following(o, rxa, 'NTE').map((n) => ({ text: v.text(n, 3) }))].filter((n) => n.text);
  if (notes.length) admin.note = notes;
  return admin;
}

/** RXA-9 administration notes, NIP001 / CDC: 00 new record (given here), 01–08 historical (reported from elsewhere). */
function source(ctx: MapContext, rxa: Hl7Segment): { primarySource?: boolean; reportOrigin?: CodeableConcept; notes: string[] } {
  const notes: string[] = [];
  let primarySource: boolean | undefined;
  let reportOrigin: CodeableConcept | undefined;
  for (const rep of ctx.v.repetitions(rxa, 9)) {
    const c = codeableFromRep(ctx.v, rep);
    if (!c) continue;
    const code = ctx.v.fromRepetition(rep, 1);
    const system = ctx.v.fromRepetition(rep, 3).toUpperCase();
    if (/^0[0-8]$/.test(code) && (system === 'NIP001' || system === '')) {
      primarySource = code === '00';
      if (code !== '00') reportOrigin = { coding: [{ system: 'urn:oid:2.16.840.1.114222.4.5.274', code, ...(ctx.v.fromRepetition(rep, 2) ? { display: ctx.v.fromRepetition(rep, 2) } : {}) }] };
    } else notes.push(c.text ?? code);
  }
  return { ...(primarySource !== undefined ? { primarySource } : {}), ...(reportOrigin ? { reportOrigin } : {}), notes };
}

/**
 * Every RXA of the message (VXU^V04, RSP^K11, ORU) → Immunization, under the patient of its
 * group. RXA-20 RE refused / NA not administered, or an RXA-18 refusal reason → not-done;
 * RXA-21 D (delete) → entered-in-error, under the same key, so it replaces what it deletes.
 */
export function mapImmunizations(ctx: MapContext): Mapped {
  return mapEachOrder(ctx, 'RXA', (o, rxa) => (recordsNoVaccine(ctx, rxa!) ? [] : [mapImmunization(ctx, o, rxa!)]));
}

/**
 * CVX 998 "no vaccine administered" that says neither not administered (RXA-20 NA), refused (RE)
 * nor why (RXA-18): the placeholder RXA of CDC's guide (an empty history, a forecast's next dose
 * in an RSP^K11 Z44). It records no immunisation, so maps to none; with NA, RE or a reason it is
 * the not-done record mapImmunization makes.
 */
function recordsNoVaccine(ctx: MapContext, rxa: Hl7Segment): boolean {
  const { v } = ctx;
  const rep = v.repetitions(rxa, 5)[0];
  if (rep === undefined || v.fromRepetition(rep, 1) !== '998') return false;
  if (!(/^CVX$/i.test(v.fromRepetition(rep, 3)) || /^CVX$/i.test(v.fromRepetition(rep, 6)) || !v.fromRepetition(rep, 3))) return false;
  const completion = v.get(rxa, 20).toUpperCase();
  return completion !== 'NA' && completion !== 'RE' && !v.get(rxa, 18);
}

function mapImmunization(ctx: MapContext, o: OrderGroup, rxa: Hl7Segment): Immunization {
  const { v } = ctx;
  const rep = v.repetitions(rxa, 5)[0];
  const vaccineCode = requiredCode(ctx, rxa, 5, 'administered code (the vaccine)');
  // A CVX code sent without its coding system name (common in v2.3 feeds: "08^HepB^") is still CVX when RXA-5.3 says so nowhere else.
  if (rep !== undefined && !v.fromRepetition(rep, 3) && /^CVX$/i.test(v.fromRepetition(rep, 6)) && vaccineCode.coding?.[0]) vaccineCode.coding[0].system = CVX;
  const when = administeredAt(ctx, rxa);
  const { completion, deleted, refusal } = administered(ctx, rxa);
  const status: Immunization['status'] = deleted ? 'entered-in-error' : completion === 'RE' || completion === 'NA' || refusal.length ? 'not-done' : 'completed';
  // CDC's guide has senders without an id for a historical dose send ORC-3 "9999": every
  // such dose of every patient would share one key, so an all-nines number is no number.
  const own = (n: number) => (/^9+$/.test(v.get(o.orc, n)) ? '' : v.get(o.orc, n));
  const placerOrFiller = own(2) || own(3);
  const order = orderIdentity(ctx, { ...o, orc: undefined }, own(2), own(3));
  const coding = vaccineCode.coding?.[0];
  const id = placerOrFiller ? order.id : `${o.mrn}-immunisation-${shortHash(coding ? `${coding.system ?? ''}|${coding.code}` : (vaccineCode.text ?? ''), when.start.slice(0, 10))}`;
  const imm: Immunization = {
    resourceType: 'Immunization',
    id,
    ...(order.identifier.length && placerOrFiller ? { identifier: order.identifier } : {}),
    status,
    vaccineCode,
    patient: subject(o),
    occurrenceDateTime: when.start,
  };
  if (status === 'not-done') {
    const reason = refusal[0] ?? (completion === 'NA' ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0322', code: 'NA', display: 'Not Administered' }] } : completion === 'RE' ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0322', code: 'RE', display: 'Refused' }] } : undefined);
    if (reason) imm.statusReason = reason;
  }
  if (completion === 'PA') imm.isSubpotent = true;
  const recorded = v.get(rxa, 22) ? annotatingTime(v, rxa, 22, 'RXA-22', []) : undefined;
  if (recorded) imm.recorded = recorded.dateTime;
  const src = source(ctx, rxa);
  if (src.primarySource !== undefined) imm.primarySource = src.primarySource;
  if (src.reportOrigin) imm.reportOrigin = src.reportOrigin;
  // RXA-6 999 is CDC's "amount unknown" (RXA-6 is required, so senders fill it).
  const dose = quantity(ctx, rxa, 6, 7);
  if (dose && dose.value !== 999) imm.doseQuantity = dose;
  const { route, site } = routeAndSite(ctx, following(o, rxa, 'RXR'));
  if (route) imm.route = route;
  if (site) imm.site = site;
  const lot = v.get(rxa, 15);
  if (lot) imm.lotNumber = lot;
  const expiry = hl7Date(v.get(rxa, 16).slice(0, 8));
  if (expiry) imm.expirationDate = expiry;
  const maker = codeable(v, rxa, 17);
  if (maker) imm.manufacturer = { display: maker.coding?.[0]?.display ?? maker.text ?? maker.coding?.[0]?.code, ...(maker.coding?.[0]?.code ? { identifier: { system: maker.coding[0].system ?? 'http://hl7.org/fhir/sid/mvx', value: maker.coding[0].code } } : {}) };
  // RXA-11 administered-at (LA2: point of care ^ room ^ bed ^ facility …), RXA-27 in v2.6+.
  const place = v.get(rxa, 27, { comp: 1 }) || v.get(rxa, 11, { comp: 4 }) || v.get(rxa, 11, { comp: 1 });
  if (place) imm.location = { display: place };
  const performers = v.repetitions(rxa, 10).map((r) => practitioner(v, r)).filter((r) => r !== undefined);
  const orderer = practitioner(v, v.repetitions(o.orc, 12)[0]);
  const performer = [
    ...performers.map((actor) => ({ function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'AP', display: 'Administering Provider' }] }, actor })),
    ...(orderer ? [{ function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'OP', display: 'Ordering Provider' }] }, actor: orderer }] : []),
  ];
  if (performer.length) imm.performer = performer;
  const reasons = codeables(ctx, rxa, 19);
  if (reasons.length) imm.reasonCode = reasons;
  const notes = [...src.notes, ...following(o, rxa, 'NTE').map((n) => v.text(n, 3)), ...(o.orc ? orderNotes(ctx, { ...o, segments: o.segments.slice(0, o.segments.indexOf(rxa)) }) : [])].filter(Boolean);
  if (notes.length) imm.note = notes.map((text) => ({ text }));
  return imm;
}
