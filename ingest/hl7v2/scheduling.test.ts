import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Appointment } from '@medplum/fhirtypes';
import type { AcceptedItem } from '../model.ts';
import { accepted } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';
import { seg } from './fixtures/samples.ts';
import { header, message, PID_ANNA } from './fixtures/vendors.ts';

const appt = (item: AcceptedItem) => item.resources.find((r) => r.resource.resourceType === 'Appointment')!.resource as Appointment;

// v2.3 style: the times in SCH-11 (TQ: quantity ^ interval ^ duration ^ start ^ end), duration in SCH-9/10.
const sch = (fields: Record<number, string>) =>
  seg('SCH', { 1: 'PA-991^EPR', 2: 'FA-5521^PAS', 6: 'NEW^New appointment', 7: 'FOLLOWUP^A follow up visit^HL70276', 8: 'Normal^Routine^HL70277', 9: '30', 10: 'MIN', 11: '^^^20250412093000^20250412100000', 25: 'Booked', ...fields });
const resources = [
  seg('RGS', { 1: '1', 2: 'A' }),
  seg('AIS', { 1: '1', 2: 'A', 3: 'CARDIO-FU^Cardiology follow-up^L', 4: '20250412093000', 7: '30', 8: 'MIN' }),
  seg('AIL', { 1: '1', 2: 'A', 3: 'CARD-OPD^^^RM2^^^^^Cardiology Outpatients, Trafford General', 4: 'CLINIC^Clinic' }),
  seg('AIP', { 1: '1', 2: 'A', 3: 'C456^Jones^Mark^^^Dr', 4: 'CONS^Consultant' }),
];

test('SIU^S12 v2.3: an Appointment keyed by the filler id, booked, times from SCH-11, service, place, clinician, reason', () => {
  const item = accepted(parseHl7Message(message([header('SIU^S12', 'S1', { version: '2.3', app: 'PAS' }), sch({}), seg('NTE', { 1: '1', 3: 'bring your medicines' }), PID_ANNA, seg('PV1', { 1: '1', 2: 'O' }), ...resources]), 'f'));
  assert.equal(item.event, 'SIU^S12');
  assert.deepEqual(item.identities.map((i) => i.id), ['RM2000500']);
  const a = appt(item);
  assert.equal(a.id, 'appointment-FA-5521');
  assert.equal(a.status, 'booked');
  assert.equal(a.start, '2025-04-12T09:30:00Z');
  assert.equal(a.end, '2025-04-12T10:00:00Z');
  assert.equal(a.minutesDuration, 30);
  assert.equal(a.serviceType?.[0]?.coding?.[0]?.display, 'Cardiology follow-up');
  assert.equal(a.description, 'Cardiology follow-up');
  assert.equal(a.reasonCode?.[0]?.coding?.[0]?.code, 'FOLLOWUP');
  assert.equal(a.appointmentType?.coding?.[0]?.code, 'Normal');
  assert.equal(a.comment, 'bring your medicines');
  assert.deepEqual(a.participant.map((p) => [p.actor?.reference ?? p.actor?.display, p.status]), [
    ['Patient/RM2000500', 'accepted'],
    ['Cardiology Outpatients, Trafford General', 'accepted'],
    ['Dr Mark Jones', 'accepted'],
  ]);
  assert.deepEqual(a.identifier?.map((i) => i.value), ['FA-5521', 'PA-991']);
});

test('SIU: a reschedule (S13) and a cancel (S15) keep the key; S26 no-show; SCH-25 Complete is fulfilled', () => {
  const moved = appt(accepted(parseHl7Message(message([header('SIU^S13', 'S2'), sch({ 11: '^^^20250419140000^20250419143000' }), PID_ANNA, ...resources]), 'f')));
  assert.deepEqual([moved.id, moved.status, moved.start], ['appointment-FA-5521', 'booked', '2025-04-19T14:00:00Z']);
  const cancelled = appt(accepted(parseHl7Message(message([header('SIU^S15', 'S3'), sch({ 6: 'PATCAN^Patient cancelled', 25: 'Cancelled' }), PID_ANNA]), 'f')));
  assert.deepEqual([cancelled.id, cancelled.status, cancelled.cancelationReason?.coding?.[0]?.code], ['appointment-FA-5521', 'cancelled', 'PATCAN']);
  const dna = appt(accepted(parseHl7Message(message([header('SIU^S26', 'S4'), sch({}), PID_ANNA]), 'f')));
  assert.equal(dna.status, 'noshow');
  const done = appt(accepted(parseHl7Message(message([header('SIU^S14', 'S5'), sch({ 25: 'Complete' }), PID_ANNA]), 'f')));
  assert.equal(done.status, 'fulfilled');
});

test('SIU v2.5.1: TQ1 times, no SCH-11, resources without a location; only a placer id; no PID ignored; no ids quarantined', () => {
  const item = accepted(parseHl7Message(message([
    header('SIU^S12^SIU_S12', 'S6', { version: '2.5.1' }),
    sch({ 2: '', 9: '', 10: '', 11: '', 25: 'Pending^Pending' }),
    seg('TQ1', { 1: '1', 7: '20250501110000+0100', 8: '20250501112000+0100' }),
    PID_ANNA,
    seg('RGS', { 1: '1' }),
    seg('AIG', { 1: '1', 3: 'ECHO-2^Echo machine 2', 4: 'EQ^Equipment' }),
  ]), 'f'));
  const a = appt(item);
  assert.equal(a.id, 'appointment-placer-PA-991');
  assert.equal(a.status, 'pending');
  assert.equal(a.start, '2025-05-01T10:00:00Z');
  assert.equal(a.end, '2025-05-01T10:20:00Z');
  assert.deepEqual(a.participant.map((p) => p.actor?.reference ?? p.actor?.display), ['Patient/RM2000500', 'Echo machine 2']);
  assert.equal(parseHl7Message(message([header('SIU^S23', 'S7'), sch({})]), 'f').kind, 'ignored');
  const bad = parseHl7Message(message([header('SIU^S12', 'S8'), sch({ 1: '', 2: '' }), PID_ANNA]), 'f');
  assert.equal(bad.kind, 'rejected');
  assert.match((bad as { reason: string }).reason, /SCH-1 placer appointment id and SCH-2 filler appointment id are both empty/);
  // Start from the service when the schedule gives none; end from its duration.
  const fromAis = appt(accepted(parseHl7Message(message([header('SIU^S12', 'S9'), sch({ 9: '', 11: '' }), PID_ANNA, ...resources]), 'f')));
  assert.deepEqual([fromAis.start, fromAis.end], ['2025-04-12T09:30:00Z', '2025-04-12T10:00:00Z']);
});
