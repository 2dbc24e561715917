/**
 * Shapes seen in other people's HL7 v2 messages (bench/corpus-acceptance.ts over a corpus of
 * public samples), each as a minimal synthetic message written for this test: what the standard
 * allows goes in, what nobody can use is refused with a reason a person can act on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedItem } from '../model.ts';
import { accepted, cr, rejected } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';

const types = (item: AcceptedItem) => item.resources.map((r) => r.resource.resourceType);

test('an impossible PID-7 in a result: the result goes in, the birth date is left out; in ADT it is quarantined', () => {
  const pid = 'PID|1||H100^^^LAB^MR||Doe^Jo||Jan 5, 1950|F';
  const oru = accepted(parseHl7Message(cr('MSH|^~\\&|LIS|LAB|||20240102030405||ORU^R01|C1|P|2.4', pid, 'OBR|1||F1|GLU^Glucose^L|||20240102', 'OBX|1|NM|GLU^Glucose^L||5.1|mmol/L|||||F'), 'f'));
  assert.deepEqual(types(oru), ['DiagnosticReport', 'Observation']);
  assert.equal(oru.identities[0]!.id, 'H100');
  assert.equal(oru.identities[0]!.birthDate, undefined);
  const adt = rejected(parseHl7Message(cr('MSH|^~\\&|PAS|HOSP|||20240102030405||ADT^A01|C2|P|2.4', 'EVN|A01|20240102030405', pid, 'PV1|1|I'), 'f'));
  assert.equal(adt.reason, 'PID-7 "Jan 5, 1950" is not a valid date');
});

test('a billing or referral message with a PID names its patient and keeps its diagnoses; an acknowledgement does not', () => {
  const pid = 'PID|1||B200^^^HOSP^MR||Roe^Sam||19800101|M';
  const bar = accepted(parseHl7Message(cr('MSH|^~\\&|PAS|HOSP|||20240102030405||BAR^P01|C3|P|2.3', 'EVN|P01|20240102030405', pid, 'PV1|1|I||||||||||||||||||V9', 'DG1|1|I10|J18.9^Pneumonia^I10||20240101|F'), 'f'));
  assert.equal(bar.event, 'BAR^P01');
  assert.deepEqual(bar.identities.map((i) => [i.system, i.id, i.family]), [['hl7:HOSP', 'B200', 'Roe']]);
  assert.deepEqual(types(bar), ['Condition']);
  const ref = accepted(parseHl7Message(cr('MSH|^~\\&|GPSYS|SURGERY|||20240102030405||REF^I12^REF_I12|C4|P|2.4', 'RF1|P^Pending|R^Routine|MED^Medical||20240102', pid), 'f'));
  assert.deepEqual([ref.event, ref.identities[0]!.id, ref.resources.length], ['REF^I12', 'B200', 0]);
  const ack = parseHl7Message(cr('MSH|^~\\&|PAS|HOSP|||20240102030405||ACK^A01|C5|P|2.4', 'MSA|AA|C1', pid), 'f');
  assert.equal(ack.kind, 'ignored');
});

test('segments run together on one line (carriage returns lost on the way): the reason says so', () => {
  const text = 'MSH|^~\\&|PAS|HOSP|||20240102030405||ADT^A01|C6|P|2.3 EVN|A01|20240102030405 PID|1||H1^^^HOSP^MR||Doe^Jo\r';
  const r = rejected(parseHl7Message(text, 'f'));
  assert.match(r.reason, /^ADT\^A01 has no PID segment: "PID\|" appears inside segment 1 \(MSH\), so the segments were run together; each segment must end with a carriage return/);
});

test('an RXA with CVX 998 (no vaccine administered: a forecast or an empty history) maps to no Immunization', () => {
  const text = cr(
    'MSH|^~\\&|IIS|STATE|||20240102030405||RSP^K11^RSP_K11|C7|P|2.5.1',
    'MSA|AA|Q1',
    'PID|1||K9^^^STATE^SR||Poe^Ann||20200101|F',
    'ORC|RE|H1',
    'RXA|0|1|20200301|20200301|08^Hep B^CVX|0.5|mL',
    'ORC|RE|F1',
    'RXA|0|999|20240102|20240102|998^No vaccine administered^CVX|999',
  );
  const item = accepted(parseHl7Message(text, 'f'));
  assert.deepEqual(item.resources.map((r) => [r.resource.resourceType, r.resource.id]), [['Immunization', 'order-H1']]);
});

test('an original document (MDM^T02) without TXA-12 is kept, keyed by its message; a replacement without it is quarantined', () => {
  const body = (type: string, id: string) =>
    cr(`MSH|^~\\&|DOCS|HOSP|||20240102030405||${type}|${id}|P|2.5.1`, `EVN|${type.split('^')[1]}|20240102030405`, 'PID|1||D1^^^HOSP^MR||Doe^Jo', 'TXA|1|OP|TX|20240102||||||||||||||AU||AV', 'OBX|1|TX|NOTE^Note^L|1|Line one~Line two||||||F');
  const item = accepted(parseHl7Message(body('MDM^T02', 'M1'), 'f'));
  const doc = item.resources[0]!.resource as { id?: string; masterIdentifier?: unknown };
  assert.deepEqual([doc.id, doc.masterIdentifier], ['document-M1-1', undefined]);
  assert.match(rejected(parseHl7Message(body('MDM^T10', 'M2'), 'f')).reason, /^TXA-12 unique document number is empty/);
});

test('MSH-10 empty: keyed by its content (a resend is the same message); no MSH-7: EVN-6, else no source time', () => {
  const text = cr('MSH|^~\\&|||||||ADT^A04||P|2.3', 'EVN|A04|||||20240101120000', 'PID|1|10||A10|Test^Pat||19760210|F', 'PV1|1|O');
  const item = accepted(parseHl7Message(text, 'f'));
  assert.match(item.messageId, /^no-control-id-[0-9a-f]{16}$/);
  assert.equal(item.messageId, accepted(parseHl7Message(text.replace(/\r/g, '\n'), 'g')).messageId);
  assert.equal(item.sourceSystem, 'hl7:unknown');
  assert.equal(item.identities[0]!.id, '10', 'PID-2 when PID-3 is empty');
  assert.ok(item.resources.every((r) => r.sourceTime === '2024-01-01T12:00:00Z'));
  const untimed = accepted(parseHl7Message(cr('MSH|^~\\&|APP|FAC|||||ADT^A08|U1|P|2.6', 'PID|1||P9^^^FAC^MR||Doe^Jo'), 'f'));
  assert.ok(untimed.resources.length > 0 && untimed.resources.every((r) => r.sourceTime === undefined));
});

test('a visit event without PV1 (a registration from a practice system): the Patient goes in, no Encounter', () => {
  const item = accepted(parseHl7Message(cr('MSH|^~\\&|PMS|PRACTICE|||20240101120000||ADT^A04|R1|P|2.3', 'EVN|A04|20240101120000', 'PID|1||P7^^^PRACTICE^MR||Test^Pat||19760210|F'), 'f'));
  assert.deepEqual(types(item), ['Patient']);
});

test('a regimen sent as several RXE under one ORC: a MedicationRequest for each, with its own route', () => {
  const text = cr(
    'MSH|^~\\&|ONC|HOSP|||20240301080000||RDE^O11^RDE_O11|P1|P|2.4',
    'PID|1||Q5^^^HOSP^MR||Doe^Jo',
    'ORC|NW|REG-1|||IP||||20240301080000',
    'RXE|1^^D2|DRUGA^Drug A^L|2400|mg',
    'RXR|IV^Intravenous^HL70162',
    'RXE|2^^D1|DRUGB^Drug B^L|400|mg',
    'RXR|PO^Oral^HL70162',
  );
  const item = accepted(parseHl7Message(text, 'f'));
  const reqs = item.resources.map((r) => r.resource as { id?: string; medicationCodeableConcept?: { coding?: { code?: string }[] }; dosageInstruction?: { route?: { coding?: { code?: string }[] } }[] });
  assert.deepEqual(
    reqs.map((r) => [r.id, r.medicationCodeableConcept?.coding?.[0]?.code, r.dosageInstruction?.[0]?.route?.coding?.[0]?.code]),
    [
      ['order-REG-1', 'DRUGA', 'IV'],
      ['order-REG-1-2', 'DRUGB', 'PO'],
    ],
  );
});

test('an ORU with OBX straight after PID (a device or home monitor): the results are kept; one with neither OBR nor OBX is refused', () => {
  const item = accepted(parseHl7Message(cr('MSH|^~\\&|HUB|HOME|||20240301080000||ORU^R01|D1|P|2.5', 'PID|1||T1^^^HOME^MR||Doe^Jo', 'OBX|1|NM|8867-4^Heart rate^LN||72|/min|||||F|||20240301075500'), 'f'));
  assert.deepEqual(item.resources.map((r) => [r.resource.resourceType, (r.resource as { valueQuantity?: { value?: number } }).valueQuantity?.value]), [['Observation', 72]]);
  assert.match(rejected(parseHl7Message(cr('MSH|^~\\&|HUB|HOME|||20240301080000||ORU^R01|D2|P|2.5', 'PID|1||T1^^^HOME^MR||Doe^Jo'), 'f')).reason, /^ORU\^R01 has no OBR segment/);
});

test('OBX in an ADT message (a weight on admission): an Observation of the patient and the visit', () => {
  const text = cr('MSH|^~\\&|PAS|HOSP|||20240301080000||ADT^A01|W1|P|2.5', 'EVN|A01|20240301080000', 'PID|1||H9^^^HOSP^MR||Doe^Jo', `PV1|1|I|W1${'|'.repeat(16)}V77`, 'OBX|1|NM|29463-7^Body weight^LN||71.5|kg|||||F|||20240301074500');
  const item = accepted(parseHl7Message(text, 'f'));
  const obs = item.resources.find((r) => r.resource.resourceType === 'Observation')!.resource as { valueQuantity?: { value?: number; unit?: string }; encounter?: { reference?: string }; effectiveDateTime?: string; category?: unknown };
  assert.deepEqual([obs.valueQuantity?.value, obs.valueQuantity?.unit, obs.encounter?.reference, obs.effectiveDateTime, obs.category], [71.5, 'kg', 'Encounter/V77', '2024-03-01T07:45:00Z', undefined]);
  // The same measurement sent again (an A08) is the same resource.
  const again = accepted(parseHl7Message(text.replace('ADT^A01|W1', 'ADT^A08|W2').replace('EVN|A01', 'EVN|A08'), 'f'));
  assert.equal(again.resources.find((r) => r.resource.resourceType === 'Observation')!.resource.id, item.resources.find((r) => r.resource.resourceType === 'Observation')!.resource.id);
});
