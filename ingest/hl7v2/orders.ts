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
import type { Annotation, CodeableConcept, Identifier, Practitioner, Reference, ServiceRequest } from '@medplum/fhirtypes';
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
const PRIORITY: Record<string, NonNullable<ServiceRequest['priority']>> = { S: 'stat', A: 'asap', R: 'routine', P: 'urgent', C: 'urgent', T: 'urgent' };

const SNOMED = 'http://snomed.info/sct';

interface Order {
  orc?: Hl7Segment;
  obr?: Hl7Segment;
  tq1?: Hl7Segment;
  notes: string[];
  mrn: string;
  position: number;
}

export function mapOrders(ctx: MapContext): Mapped {
  const { v, event, system } = ctx;
  const patients: Array<{ identity: SourceIdentity; orders: Order[] }> = [];
  let current: (typeof patients)[number] | undefined;
  let order: Order | undefined;
  let orderCount = 0;
  const segs = v.message.segments;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    switch (s.name) {
      case 'PID':
        current = { identity: groupIdentity(v, system, segs, i, ctx.version), orders: [] };
        patients.push(current);
        order = undefined;
        break;
      case 'ORC':
        if (!current) fail(`${event} has no PID segment before ORC ${s.position}: the patient the order is for`);
        order = { orc: s, notes: [], mrn: current.identity.id, position: ++orderCount };
        current.orders.push(order);
        break;
      case 'OBR':
        if (!current) fail(`${event} has no PID segment before OBR ${v.get(s, 1) || s.position}: the patient the order is for`);
        if (order && !order.obr) order.obr = s;
        else {
          // An OBR with no ORC of its own (older senders): an order by itself.
          order = { obr: s, notes: [], mrn: current.identity.id, position: ++orderCount };
          current.orders.push(order);
        }
        break;
      case 'TQ1':
        if (order && !order.tq1) order.tq1 = s;
        break;
      case 'NTE':
        if (order) order.notes.push(v.text(s, 3));
        break;
      default:
    }
  }
  if (patients.length === 0) fail(`${event} has no PID segment`);

  const identities = distinctIdentities(patients);
  const many = identities.length > 1;
  const resources: ItemResource[] = [];
  const used = new Set<string>();
  for (const p of patients) {
    for (const o of p.orders) {
      if (!o.obr) continue;
      const request = mapOrder(ctx, o);
      const base = request.id!;
      for (let k = 2; used.has(request.id!); k++) request.id = `${base}-${k}`;
      used.add(request.id!);
      resources.push({ resource: request, sourceTime: ctx.sourceTime, ...(many ? { subject: o.mrn } : {}) });
    }
  }
  return { identities, resources };
}

function mapOrder(ctx: MapContext, o: Order): ServiceRequest {
  const { v, system } = ctx;
  const { orc, obr, tq1 } = o;
  const notes: Annotation[] = [];
  const placer = v.get(orc, 2) || v.get(obr, 2);
  const filler = v.get(orc, 3) || v.get(obr, 3);
  const group = v.get(orc, 4);
  const id = placer ? `order-${placer}` : filler ? `order-filler-${filler}` : `${ctx.messageId}-order-${o.position}`;
  const identifier: Identifier[] = [
    ...(placer ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC', display: 'Placer Identifier' }] }, system: sourceIdentifierSystem(system, 'placer'), value: placer }] : []),
    ...(filler ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL', display: 'Filler Identifier' }] }, system: sourceIdentifierSystem(system, 'filler'), value: filler }] : []),
  ];
  const control = v.get(orc, 1).toUpperCase();
  const orderStatus = v.get(orc, 5).toUpperCase() || v.get(obr, 25).toUpperCase();
  const status: Status = ORDER_STATUS[orderStatus] ?? ORDER_CONTROL[control] ?? (orderStatus === 'F' || orderStatus === 'C' ? 'completed' : 'active');
  const code: CodeableConcept = codeable(v, obr, 4) ?? { text: 'unnamed order (OBR-4 empty)' };
  const section = v.get(obr, 24).toUpperCase();
  const category: CodeableConcept[] =
    !section || section === 'LAB'
      ? [{ coding: [{ system: SNOMED, code: '108252007', display: 'Laboratory procedure' }] }]
      : [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: section }] }];
  const request: ServiceRequest = {
    resourceType: 'ServiceRequest',
    id,
    ...(identifier.length ? { identifier } : {}),
    ...(group ? { requisition: { system: sourceIdentifierSystem(system, 'placer'), value: group } } : {}),
    status,
    intent: 'order',
    category,
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
  for (const text of o.notes) if (text) notes.push({ text });
  if (notes.length) request.note = notes;
  return request;
}

/** An XCN repetition (id ^ family ^ given …) as a logical reference: Bevan holds no practitioner directory. */
function practitioner(v: MapContext['v'], rep: string | undefined): Reference<Practitioner> | undefined {
  if (rep === undefined) return undefined;
  const name = xcnDisplay(v, rep);
  const id = v.fromRepetition(rep, 1);
  if (!name && !id) return undefined;
  return { type: 'Practitioner', ...(id ? { identifier: { value: id } } : {}), ...(name ? { display: name } : {}) };
}
