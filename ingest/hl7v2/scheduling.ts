/**
 * Scheduling (SIU^S12–S24, S26; HL7 v2.3–2.8 chapter 10) → Appointment, after the HL7 v2-to-FHIR
 * guide's SCH/AIS/AIG/AIL/AIP → Appointment maps, in R4. Pure. An outpatient clinic booking, its
 * reschedule, its cancellation, a did-not-attend: what a care coordinator plans around.
 *
 * The message is SCH (with TQ1 and NTE), then PATIENT groups (PID …), then RESOURCES groups
 * (RGS, then AIS services, AIG general resources, AIL locations, AIP personnel).
 * - Key: `appointment-<SCH-2 filler appointment id>` (the scheduling system's, which sends
 *   SIU), else `appointment-placer-<SCH-1>`, and `-<SCH-3 occurrence>` for one of a series; a
 *   reschedule, a modification or a cancel carries the same ids, so it replaces the booking.
 * - Status: S15/S16 cancelled, S17 entered-in-error, S26 noshow; otherwise SCH-25 filler status
 *   (table 0278), else booked.
 * - Times: TQ1-7/8 (v2.5+), else SCH-11.4/11.5 (TQ), else the first resource's start (AIS-4,
 *   AIG-8, AIL-6, AIP-6); the end from a duration (SCH-9/10, TQ1-6, AIS-7/8 …) when not sent.
 * - SCH-7 reason → reasonCode, SCH-8 type → appointmentType, AIS-3 → serviceType, AIL-3 →
 *   a Location participant, AIP-3 → Practitioner participants, AIG-3 → other participants.
 * An appointment about no patient (a blocked slot, S23/S24) holds nothing for a record: ignored.
 */
import type { Appointment, AppointmentParticipant, CodeableConcept } from '@medplum/fhirtypes';
import type { ItemResource } from '../model.ts';
import type { Hl7Segment } from './hl7-text.ts';
import { annotatingTimeOf, codeable, codeableFromRep, fail, patientGroups, sourceIdentifierSystem, type MapContext } from './mapping.ts';
import { practitioner } from './orders.ts';
import { distinctIdentities, groupIdentity } from './patient.ts';
import type { Mapped } from './adt.ts';

export const SCHEDULING_EVENTS = new Set(['S12', 'S13', 'S14', 'S15', 'S16', 'S17', 'S18', 'S19', 'S20', 'S21', 'S22', 'S23', 'S24', 'S26'].map((t) => `SIU^${t}`));

type Status = Appointment['status'];

/**
 * Table 0278 filler status (SCH-25, AIS-10 …) → Appointment.status. The table is user-defined:
 * senders add their own states, and the common ones that have a FHIR status of their own
 * (Corepoint's "ARRIVED", "CHECKED IN", "NO SHOW", the US "CANCELED", "COMPLETED") are read as it
 * rather than as booked, which would lose that the patient came, or did not.
 */
const FILLER_STATUS: Record<string, Status> = {
  PENDING: 'pending',
  WAITLIST: 'waitlist',
  BOOKED: 'booked',
  STARTED: 'arrived',
  ARRIVED: 'arrived',
  'CHECKED IN': 'checked-in',
  CHECKEDIN: 'checked-in',
  'CHECKED-IN': 'checked-in',
  COMPLETE: 'fulfilled',
  COMPLETED: 'fulfilled',
  CANCELLED: 'cancelled',
  CANCELED: 'cancelled',
  DC: 'cancelled',
  DELETED: 'entered-in-error',
  BLOCKED: 'booked',
  OVERBOOK: 'booked',
  NOSHOW: 'noshow',
  'NO SHOW': 'noshow',
};

/** The trigger events whose meaning is the status, whatever SCH-25 says. */
const EVENT_STATUS: Record<string, Status> = { S15: 'cancelled', S16: 'cancelled', S17: 'entered-in-error', S26: 'noshow' };

/** A duration and its units (CE: MIN, H, S, D …; minutes when not said) in minutes. */
function minutes(amount: string, units: string): number | undefined {
  if (!/^\d+(\.\d+)?$/.test(amount.trim())) return undefined;
  const n = Number(amount);
  const u = units.trim().toUpperCase();
  const factor = /^(S|SEC|SECS|SECOND|SECONDS)$/.test(u) ? 1 / 60 : /^(H|HR|HRS|HOUR|HOURS)$/.test(u) ? 60 : /^(D|DAY|DAYS)$/.test(u) ? 1440 : 1;
  return Math.round(n * factor);
}

/** Field numbers of each resource segment: [start, duration, duration units, filler status]. */
const RESOURCE_FIELDS: Record<string, [number, number, number, number]> = { AIS: [4, 7, 8, 10], AIG: [8, 11, 12, 14], AIL: [6, 9, 10, 12], AIP: [6, 9, 10, 12] };

/** SIU → an Appointment for each patient of the message. */
export function mapScheduling(ctx: MapContext): Mapped {
  const { v } = ctx;
  const sch = v.segment('SCH') ?? fail(`${ctx.event} has no SCH segment (the schedule activity information is required)`);
  const segs = v.message.segments;
  const groups = patientGroups(v);
  if (groups.length === 0) fail(`${ctx.event} has no PID segment`);
  const patients = groups.map((g) => ({ g, identity: groupIdentity(v, ctx.system, segs, segs.indexOf(g.pid), ctx.version) }));
  const identities = distinctIdentities(patients);
  const resourceSegs = segs.filter((s) => s.name in RESOURCE_FIELDS);
  const base = mapAppointment(ctx, sch, resourceSegs);
  const many = identities.length > 1;
  const resources: ItemResource[] = identities.map((identity, n) => {
    const appt: Appointment = {
      ...base,
      id: n === 0 ? base.id : `${base.id}-${n + 1}`,
      participant: [{ actor: { reference: `Patient/${identity.id}` }, status: 'accepted' }, ...base.participant],
    };
    return { resource: appt, sourceTime: ctx.sourceTime, ...(many ? { subject: identity.id } : {}) };
  });
  return { identities, resources };
}

function mapAppointment(ctx: MapContext, sch: Hl7Segment, resourceSegs: Hl7Segment[]): Appointment {
  const { v, system } = ctx;
  const filler = v.get(sch, 2);
  const placer = v.get(sch, 1);
  if (!filler && !placer) fail('SCH-1 placer appointment id and SCH-2 filler appointment id are both empty: cannot tell which appointment a later reschedule or cancel is about');
  const occurrence = v.get(sch, 3).trim();
  const id = `${filler ? `appointment-${filler}` : `appointment-placer-${placer}`}${occurrence ? `-${occurrence}` : ''}`;
  const notes: string[] = [];
  const tq1 = v.segment('TQ1');
  const fillerStatus = (v.get(sch, 25, { comp: 1 }) || v.get(sch, 25, { comp: 2 })).toUpperCase();
  const status: Status = EVENT_STATUS[ctx.trigger] ?? FILLER_STATUS[fillerStatus] ?? 'booked';
  const appt: Appointment = {
    resourceType: 'Appointment',
    id,
    identifier: [
      ...(filler ? [{ system: sourceIdentifierSystem(system, 'filler'), value: filler }] : []),
      ...(placer ? [{ system: sourceIdentifierSystem(system, 'placer'), value: placer }] : []),
    ],
    status,
    participant: [],
  };
  const reason = codeable(v, sch, 7);
  if (reason) appt.reasonCode = [reason];
  const type = codeable(v, sch, 8);
  if (type) appt.appointmentType = type;
  if (status === 'cancelled') {
    const why = codeable(v, sch, 6);
    if (why) appt.cancelationReason = why;
  }
  // Start and end: TQ1, else SCH-11 (TQ), else the first resource that gives one.
  const first = resourceSegs.find((s) => v.get(s, RESOURCE_FIELDS[s.name]![0]));
  const noteList: Array<{ text: string }> = [];
  const at = (s: Hl7Segment | undefined, field: number, comp: number, label: string) => annotatingTimeOf(v.get(s, field, { comp }), label, noteList);
  const start = at(tq1, 7, 1, 'TQ1-7') ?? at(sch, 11, 4, 'SCH-11.4') ?? (first ? at(first, RESOURCE_FIELDS[first.name]![0], 1, `${first.name}-${RESOURCE_FIELDS[first.name]![0]}`) : undefined);
  const end = at(tq1, 8, 1, 'TQ1-8') ?? at(sch, 11, 5, 'SCH-11.5');
  const duration =
    minutes(v.get(sch, 9), v.get(sch, 10)) ??
    minutes(v.get(tq1, 6, { comp: 1 }), v.get(tq1, 6, { comp: 2 })) ??
    minutes(v.get(sch, 11, { comp: 3 }).replace(/^[A-Z]/i, ''), v.get(sch, 11, { comp: 3 }).charAt(0) === 'H' ? 'H' : 'MIN') ??
    (first ? minutes(v.get(first, RESOURCE_FIELDS[first.name]![1]), v.get(first, RESOURCE_FIELDS[first.name]![2])) : undefined);
  if (start) appt.start = start.instant;
  if (end) appt.end = end.instant;
  else if (start && duration) appt.end = new Date(Date.parse(start.instant) + duration * 60_000).toISOString().replace('.000Z', 'Z');
  if (duration) appt.minutesDuration = duration;
  for (const n of noteList) notes.push(n.text);

  const participants: AppointmentParticipant[] = [];
  const serviceTypes: CodeableConcept[] = [];
  for (const s of resourceSegs) {
    const ownStatus = (v.get(s, RESOURCE_FIELDS[s.name]![3], { comp: 1 }) || v.get(s, RESOURCE_FIELDS[s.name]![3], { comp: 2 })).toUpperCase();
    const pstatus: AppointmentParticipant['status'] = ['CANCELLED', 'DELETED', 'DC'].includes(ownStatus) ? 'declined' : ownStatus === 'PENDING' ? 'tentative' : 'accepted';
    if (s.name === 'AIS') {
      const service = codeable(v, s, 3);
      if (service) serviceTypes.push(service);
    } else if (s.name === 'AIL') {
      // PL: point of care ^ room ^ bed ^ facility ^ … ^ description (9).
      const place = v.get(s, 3, { comp: 9 }) || [v.get(s, 3, { comp: 1 }), v.get(s, 3, { comp: 2 }), v.get(s, 3, { comp: 4 })].filter(Boolean).join(', ');
      const locType = codeable(v, s, 4);
      if (place) participants.push({ actor: { type: 'Location', display: place }, ...(locType ? { type: [locType] } : {}), status: pstatus });
    } else if (s.name === 'AIP') {
      for (const rep of v.repetitions(s, 3)) {
        const actor = practitioner(v, rep);
        const role = codeable(v, s, 4);
        if (actor) participants.push({ actor, ...(role ? { type: [role] } : {}), status: pstatus });
      }
    } else {
      const what = codeableFromRep(v, v.repetitions(s, 3)[0]);
      const kind = codeable(v, s, 4);
      const display = what?.text ?? what?.coding?.[0]?.display ?? what?.coding?.[0]?.code;
      if (display) participants.push({ actor: { display }, ...(kind ? { type: [kind] } : {}), status: pstatus });
    }
  }
  appt.participant = participants;
  if (serviceTypes.length) appt.serviceType = serviceTypes;
  const description = serviceTypes[0]?.text ?? serviceTypes[0]?.coding?.[0]?.display ?? reason?.text;
  if (description) appt.description = description;
  // NTE after SCH (and after resources) are comments on the appointment.
  const comments = ctx.v.message.segments.filter((s) => s.name === 'NTE').map((s) => v.text(s, 3)).filter(Boolean);
  const comment = [...comments, ...notes].join('\n');
  if (comment) appt.comment = comment;
  return appt;
}
