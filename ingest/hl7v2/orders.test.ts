import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceRequest } from '@medplum/fhirtypes';
import type { AcceptedItem } from '../model.ts';
import { accepted } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';
import { seg } from './fixtures/samples.ts';
import { header, message, PID_ANNA, PID_BEN } from './fixtures/vendors.ts';

const requests = (item: AcceptedItem) => item.resources.filter((r) => r.resource.resourceType === 'ServiceRequest').map((r) => r.resource as ServiceRequest);
const orc = (fields: Record<number, string>) => seg('ORC', { 1: 'NW', 2: 'PL100', 9: '20250301101500', 12: 'G123^Patel^Priya^^^Dr', ...fields });
const obr = (fields: Record<number, string>) => seg('OBR', { 1: '1', 2: 'PL100', 4: '26604007^Full blood count^SCT', 16: 'G123^Patel^Priya^^^Dr', ...fields });

test('ORM^O01: one ServiceRequest per ORC with its OBR, keyed by the placer order number, no Patient resource', () => {
  const item = accepted(parseHl7Message(message([header('ORM^O01', 'O1', { version: '2.3' }), PID_ANNA, seg('PV1', { 1: '1', 2: 'O' }), orc({}), obr({ 13: 'fatigue' }), seg('NTE', { 1: '1', 3: 'fasting sample' })]), 'f'));
  assert.equal(item.event, 'ORM^O01');
  assert.deepEqual(item.identities.map((i) => i.id), ['RM2000500']);
  assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['ServiceRequest']);
  const [sr] = requests(item);
  assert.equal(sr!.id, 'order-PL100');
  assert.equal(sr!.status, 'active');
  assert.equal(sr!.intent, 'order');
  assert.deepEqual(sr!.code?.coding?.[0], { system: 'http://snomed.info/sct', code: '26604007', display: 'Full blood count' });
  assert.equal(sr!.subject?.reference, 'Patient/RM2000500');
  assert.equal(sr!.requester?.display, 'Dr Priya Patel');
  assert.equal(sr!.authoredOn, '2025-03-01T10:15:00Z');
  assert.deepEqual(sr!.identifier?.map((i) => [i.type?.coding?.[0]?.code, i.value]), [['PLAC', 'PL100']]);
  assert.deepEqual(sr!.note?.map((n) => n.text), ['Relevant clinical information (OBR-13): fatigue', 'fasting sample']);
});

test('order control and order status: a cancel keeps the key, so it replaces the order; ORC-5 wins over ORC-1', () => {
  const cancel = accepted(parseHl7Message(message([header('ORM^O01', 'O2'), PID_ANNA, orc({ 1: 'CA' }), obr({})]), 'f'));
  assert.deepEqual(requests(cancel).map((r) => [r.id, r.status]), [['order-PL100', 'revoked']]);
  const done = accepted(parseHl7Message(message([header('ORM^O01', 'O3'), PID_ANNA, orc({ 1: 'SC', 5: 'CM' }), obr({})]), 'f'));
  assert.equal(requests(done)[0]!.status, 'completed');
  const held = accepted(parseHl7Message(message([header('ORM^O01', 'O4'), PID_ANNA, orc({ 1: 'HD' }), obr({})]), 'f'));
  assert.equal(requests(held)[0]!.status, 'on-hold');
});

test('OML^O21: TQ1 timing and priority; two patients, each order under its own; filler number when there is no placer', () => {
  const text = message([
    header('OML^O21^OML_O21', 'L1', { version: '2.5.1', app: 'LAB' }),
    PID_ANNA,
    orc({ 2: '', 3: 'FL9' }),
    seg('TQ1', { 1: '1', 7: '20250302090000', 9: 'S' }),
    obr({ 2: '', 3: 'FL9' }),
    PID_BEN,
    orc({ 2: 'PL200' }),
    obr({ 2: 'PL200', 4: '1234-5^Sodium^LN' }),
  ]);
  const item = accepted(parseHl7Message(text, 'f'));
  assert.deepEqual(item.identities.map((i) => i.id), ['RM2000500', 'RM2000600']);
  const srs = requests(item);
  assert.deepEqual(srs.map((r) => [r.id, r.subject?.reference]), [['order-filler-FL9', 'Patient/RM2000500'], ['order-PL200', 'Patient/RM2000600']]);
  assert.equal(srs[0]!.priority, 'stat');
  assert.equal(srs[0]!.occurrenceDateTime, '2025-03-02T09:00:00Z');
  assert.deepEqual(item.resources.map((r) => r.subject), ['RM2000500', 'RM2000600']);
});

test('orders with nothing for a record are ignored, not quarantined: no patient, or neither OBR nor RXO (a diet order)', () => {
  const noPatient = parseHl7Message(message([header('ORM^O01', 'O5'), orc({}), obr({})]), 'f');
  assert.equal(noPatient.kind, 'ignored');
  const diet = parseHl7Message(message([header('ORM^O01', 'O6'), PID_ANNA, orc({}), seg('ODS', { 1: 'D', 3: 'DIAB^Diabetic diet^L' })]), 'f');
  assert.equal(diet.kind, 'ignored');
  // An ORM whose detail is RXO is a pharmacy order: a MedicationRequest (pharmacy.ts), under the order's key.
  const pharmacy = accepted(parseHl7Message(message([header('ORM^O01', 'O7'), PID_ANNA, orc({}), seg('RXO', { 1: '12345^Amoxicillin^DMD' })]), 'f'));
  assert.deepEqual(pharmacy.resources.map((r) => [r.resource.resourceType, r.resource.id]), [['MedicationRequest', 'order-PL100']]);
});
