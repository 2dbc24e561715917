/**
 * Orders (ORM^O01, OML^O21/O33/O35, OMG^O19, OMI^O23; HL7 v2.3–2.8 chapter 4) → a ServiceRequest
 * per ORC with its OBR, under the patient of its group. Pure. What was asked for and when, before
 * the result comes: a care coordinator sees a test that is pending, a clinician one that was
 * cancelled. Mapped after the HL7 v2-to-FHIR guide's ORC/OBR → ServiceRequest maps
 * (https://build.fhir.org/ig/HL7/v2-to-fhir/), in R4.
 *
 * The message is read in order: a PID starts a patient, an ORC an order under it, the OBR after
 * an ORC (or an OBR alone) is its detail; NTE after them are notes; TQ1 gives timing and priority.
 * An ORC whose detail is not an OBR (RXO pharmacy, ODS diet orders) is not a ServiceRequest and is
 * left out. No Patient resource: an order is not the authority for demographics (as ORU).
 * Key: `order-<placer order number>` (ORC-2, else OBR-2), else `order-filler-<filler number>`
 * (ORC-3, else OBR-3), else `<MSH-10>-order-<n>`; a later message about the same order (a
 * cancel, a status change) carries the same key with a later MSH-7, so it replaces the earlier.
 */
import type { Annotation, CodeableConcept, Identifier, Practitioner, Reference, Resource, ServiceRequest } from '@medplum/fhirtypes';
import type { ItemResource, SourceIdentity } from '../model.ts';
import type { Hl7Segment } from './hl7-text.ts';
import { annotatingTime, codeable, codeableFromRep, fail, sourceIdentifierSystem, xcnDisplay, type MapContext } from './mapping.ts';
import { distinctIdentities, groupIdentity } from './patient.ts';
import type { Mapped } from './adt.ts';

/** The order messages read as ORM^O01 is: PID, then ORC with its OBR. */
export const ORDER_EVENTS = new Set(['ORM^O01', 'OML^O21', 'OML^O33', 'OML^O35', 'OMG^O19', 'OMI^O23']);

type Status = NonNullable<ServiceRequest['status']>;

/** Table 0038 order status (ORC-5) → ServiceRequest.status (v2-to-FHIR ConceptMap OrderStatus). */
const ORDER_STATUS: Record<string, Status> = {
  A: 'active',
  CA: 'revoked',
  CM: 'completed',
  DC: 'revoked',
  ER: 'entered-in-error',
  HD: 'on-hold',
  IP: 'active',
  RP: 'revoked',
  SC: 'active',
};

/** Table 0119 order control (ORC-1) → ServiceRequest.status, when ORC-5 is empty (v2-to-FHIR ConceptMap OrderControlCode). */
const ORDER_CONTROL: Record<string, Status> = {
  NW: 'active',
  CH: 'active',
  XO: 'active',
  XX: 'active',
  RL: 'active',
  RO: 'active',
  SN: 'active',
  OK: 'active',
  SC: 'active',
  RE: 'active',
  CA: 'revoked',
  OC: 'revoked',
  CR: 'revoked',
  DC: 'revoked',
  OD: 'revoked',
  DR: 'revoked',
  HD: 'on-hold',
  OH: 'on-hold',
  HR: 'on-hold',
};

/** TQ1-9 / ORC-7.6 / OBR-27.6 priority (table 0485) → ServiceRequest.priority. */
export const PRIORITY: Record<string, NonNullable<ServiceRequest['priority']>> = { S: 'stat', A: 'asap', R: 'routine', P: 'urgent', C: 'urgent', T: 'urgent' };

const SNOMED = 'http://snomed.info/sct';

/** One order: its ORC (absent for an OBR or RXA sent alone) and the segments after it up to the next ORC or PID. */
export interface OrderGroup {
  orc?: Hl7Segment;
  segments: Hl7Segment[];
  /** The patient's source id (PID-3). */
  mrn: string;
  /** 1-based position among the message's orders, for keys when the order carries no number. */
  position: number;
}

export interface PatientOrders {
  identity: SourceIdentity;
  orders: OrderGroup[];
}

/**
 * Reads a message as PATIENT groups of ORDER groups (chapters 4 and 4A share the shape): a PID
 * starts a patient, an ORC an order under it. `detail` names the segment an order holds one of
 * (OBR, RXA in VXU): a second one, or one before any ORC, is an order by itself (older senders
 * leave ORC out). Fails when an order comes before any PID.
 */
export function readOrderGroups(ctx: MapContext, detail?: string): PatientOrders[] {
  const { v, event, system } = ctx;
  const patients: PatientOrders[] = [];
  let current: PatientOrders | undefined;
  let order: OrderGroup | undefined;
  let count = 0;
  const segs = v.message.segments;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s.name === 'PID') {
      current = { identity: groupIdentity(v, system, segs, i, ctx.version), orders: [] };
      patients.push(current);
      order = undefined;
    } else if (s.name === 'ORC' || s.name === detail) {
      const label = s.name === 'ORC' ? `ORC ${s.position}` : `${s.name} ${v.get(s, 1) || s.position}`;
      if (!current) fail(`${event} has no PID segment before ${label}: the patient the order is for`);
      if (s.name === 'ORC' || !order || order.segments.some((x) => x.name === detail)) {
        order = { ...(s.name === 'ORC' ? { orc: s } : {}), segments: [], mrn: current.identity.id, position: ++count };
        current.orders.push(order);
      }
      if (s.name !== 'ORC') order.segments.push(s);
    } else if (order) order.segments.push(s);
  }
  if (patients.length === 0) fail(`${event} has no PID segment`);
  return patients;
}

/** The text of every NTE among an order's segments (notes on the order). */
export function orderNotes(ctx: MapContext, o: OrderGroup): string[] {
  return o.segments.filter((s) => s.name === 'NTE').map((s) => ctx.v.text(s, 3)).filter(Boolean);
}

/**
 * The key of an order and its placer and filler identifiers: `order-<placer>` (ORC-2, else the
 * detail's placer field), else `order-filler-<filler>`, else `<MSH-10>-order-<n>`. ServiceRequest,
 * MedicationRequest and what hangs off them (dispenses, administrations) share it.
 */
export function orderIdentity(ctx: MapContext, o: OrderGroup, detailPlacer = '', detailFiller = ''): { id: string; identifier: Identifier[] } {
  const { v, system } = ctx;
  const placer = v.get(o.orc, 2) || detailPlacer;
  const filler = v.get(o.orc, 3) || detailFiller;
  const id = placer ? `order-${placer}` : filler ? `order-filler-${filler}` : `${ctx.messageId}-order-${o.position}`;
  const identifier: Identifier[] = [
    ...(placer ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC', display: 'Placer Identifier' }] }, system: sourceIdentifierSystem(system, 'placer'), value: placer }] : []),
    ...(filler ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL', display: 'Filler Identifier' }] }, system: sourceIdentifierSystem(system, 'filler'), value: filler }] : []),
  ];
  return { id, identifier };
}

/** ORC-5 order status (else `detailStatus`, e.g. OBR-25), else ORC-1 order control → a request status (v2-to-FHIR OrderStatus, OrderControlCode). */
export function orderStatus(ctx: MapContext, orc: Hl7Segment | undefined, detailStatus = ''): Status {
  const { v } = ctx;
  const control = v.get(orc, 1).toUpperCase();
  const status = v.get(orc, 5).toUpperCase() || detailStatus.toUpperCase();
  return ORDER_STATUS[status] ?? ORDER_CONTROL[control] ?? (status === 'F' || status === 'C' ? 'completed' : 'active');
}

/** Makes each resource's id unique within one message (`<id>-2`, `-3` …): two orders with one number must not overwrite each other. */
export function uniqueIds(): (id: string) => string {
  const used = new Set<string>();
  return (base) => {
    let id = base;
    for (let k = 2; used.has(id); k++) id = `${base}-${k}`;
    used.add(id);
    return id;
  };
}

/**
 * Reads the order groups (readOrderGroups) and maps each order to resources, each under the patient
 * of its group, ids made unique in the message. With `detail` named, an order without one is left
 * out and `map` is given its first.
 */
export function mapEachOrder(ctx: MapContext, detail: string | undefined, map: (o: OrderGroup, detailSegment: Hl7Segment | undefined) => Resource[]): Mapped {
  const patients = readOrderGroups(ctx, detail);
  const identities = distinctIdentities(patients);
  const many = identities.length > 1;
  const resources: ItemResource[] = [];
  const unique = uniqueIds();
  for (const p of patients) {
    for (const o of p.orders) {
      const d = detail ? o.segments.find((s) => s.name === detail) : undefined;
      if (detail && !d) continue;
      for (const resource of map(o, d)) {
        resource.id = unique(resource.id!);
        resources.push({ resource, sourceTime: ctx.sourceTime, ...(many ? { subject: o.mrn } : {}) });
      }
    }
  }
  return { identities, resources };
}

export function mapOrders(ctx: MapContext): Mapped {
  return mapEachOrder(ctx, 'OBR', (o, obr) => [mapOrder(ctx, o, obr!)]);
}

function mapOrder(ctx: MapContext, o: OrderGroup, obr: Hl7Segment): ServiceRequest {
  const { v, system } = ctx;
  const { orc } = o;
  const tq1 = o.segments.find((s) => s.name === 'TQ1');
  const notes: Annotation[] = [];
  const group = v.get(orc, 4);
  const { id, identifier } = orderIdentity(ctx, o, v.get(obr, 2), v.get(obr, 3));
  const status = orderStatus(ctx, orc, v.get(obr, 25));
  const code: CodeableConcept = codeable(v, obr, 4) ?? { text: 'unnamed order (OBR-4 empty)' };
  const section = v.get(obr, 24).toUpperCase();
  // OBR-24 (table 0074) says what kind of order it is. Without it only the message type can: an
  // OML is a laboratory order and an OMI an imaging one, but an ORM^O01 is any order (Epic sends
  // radiology ORMs with OBR-24 empty: "X-RAY ANKLE" is no laboratory procedure), so it has none.
  const implied = section ? undefined : ctx.event.startsWith('OML^') ? 'LAB' : ctx.event.startsWith('OMI^') ? 'IMAGING' : undefined;
  const category: CodeableConcept[] | undefined =
    section === 'LAB' || implied === 'LAB'
      ? [{ coding: [{ system: SNOMED, code: '108252007', display: 'Laboratory procedure' }] }]
      : implied === 'IMAGING'
        ? [{ coding: [{ system: SNOMED, code: '363679005', display: 'Imaging' }] }]
        : section
          ? [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: section }] }]
          : undefined;
  const request: ServiceRequest = {
    resourceType: 'ServiceRequest',
    id,
    ...(identifier.length ? { identifier } : {}),
    ...(group ? { requisition: { system: sourceIdentifierSystem(system, 'placer'), value: group } } : {}),
    status,
    intent: 'order',
    ...(category ? { category } : {}),
    code,
    subject: { reference: `Patient/${o.mrn}` },
  };
  const priorityCode = (v.get(tq1, 9) || v.get(orc, 7, { comp: 6 }) || v.get(obr, 27, { comp: 6 }) || v.get(obr, 5)).toUpperCase();
  if (PRIORITY[priorityCode]) request.priority = PRIORITY[priorityCode];
  const start = v.get(tq1, 7) ? annotatingTime(v, tq1, 7, 'TQ1-7', notes) : undefined;
  const observed = annotatingTime(v, obr, 7, 'OBR-7', notes);
  const when = start ?? observed;
  if (when) request.occurrenceDateTime = when.dateTime;
  const authored = annotatingTime(v, orc, 9, 'ORC-9', notes);
  request.authoredOn = authored?.dateTime ?? ctx.sourceTime;
  const requester = practitioner(v, v.repetitions(orc, 12)[0] ?? v.repetitions(obr, 16)[0]);
  if (requester) request.requester = requester;
  const reasons = v.repetitions(obr, 31).map((rep) => codeableFromRep(v, rep)).filter((c): c is CodeableConcept => c !== undefined);
  if (reasons.length) request.reasonCode = reasons;
  const clinicalInfo = v.text(obr, 13);
  if (clinicalInfo) notes.push({ text: `Relevant clinical information (OBR-13): ${clinicalInfo}` });
  for (const text of orderNotes(ctx, o)) notes.push({ text });
  if (notes.length) request.note = notes;
  return request;
}

/** An XCN repetition (id ^ family ^ given …) as a logical reference: Bevan holds no practitioner directory. */
export function practitioner(v: MapContext['v'], rep: string | undefined): Reference<Practitioner> | undefined {
  if (rep === undefined) return undefined;
  const name = xcnDisplay(v, rep);
  const id = v.fromRepetition(rep, 1);
  if (!name && !id) return undefined;
  return { type: 'Practitioner', ...(id ? { identifier: { value: id } } : {}), ...(name ? { display: name } : {}) };
}
