import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Immunization, MedicationAdministration, MedicationDispense, MedicationRequest, Resource } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem } from '../model.ts';
import { accepted } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';
import { seg } from './fixtures/samples.ts';
import { header, message, PID_ANNA, PID_BEN } from './fixtures/vendors.ts';

function rejected(item: IngestItem): string {
  assert.equal(item.kind, 'rejected', item.kind);
  return (item as { reason: string }).reason;
}
const ofType = <T extends Resource>(item: AcceptedItem, type: T['resourceType']) => item.resources.filter((r) => r.resource.resourceType === type).map((r) => r.resource as T);

// --- Immunisation (VXU^V04, chapter 4A.7) -------------------------------------------------------

const VXU_251 = message([
  header('VXU^V04^VXU_V04', 'V1', { version: '2.5.1', app: 'EPR', facility: 'RM2' }),
  PID_ANNA,
  seg('PD1', { 3: 'Stretford Medical Practice^^P91001' }),
  seg('ORC', { 1: 'RE', 3: 'IMM-7781^RM2', 12: 'G123^Patel^Priya^^^Dr' }),
  seg('RXA', {
    1: '0',
    2: '1',
    3: '20250310104500',
    4: '20250310104500',
    5: '1119349007^COVID-19 mRNA vaccine^SCT^208^COVID-19, mRNA^CVX',
    6: '0.3',
    7: 'mL^millilitre^UCUM',
    9: '00^New immunization record^NIP001',
    10: 'N77^Shaw^Alison^^^Nurse',
    11: '^^^Stretford Health Centre',
    15: 'FK8891~FK8892',
    16: '20251231',
    17: 'PFR^Pfizer^MVX',
    20: 'CP',
    21: 'A',
  }),
  seg('RXR', { 1: 'IM^Intramuscular^HL70162', 2: 'LD^Left deltoid^HL70163' }),
  seg('OBX', { 1: '1', 2: 'CE', 3: '64994-7^Vaccine funding program eligibility^LN', 5: 'V01^Not VFC eligible^HL70064', 11: 'F' }),
]);

test('VXU^V04 v2.5.1: one Immunization keyed by the ORC-3 filler id, with dose, lot, expiry, maker, place, route and site', () => {
  const item = accepted(parseHl7Message(VXU_251, 'f'));
  assert.equal(item.event, 'VXU^V04');
  assert.deepEqual(item.identities.map((i) => i.id), ['RM2000500']);
  assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['Immunization']);
  const [imm] = ofType<Immunization>(item, 'Immunization');
  assert.equal(imm!.id, 'order-filler-IMM-7781');
  assert.equal(imm!.status, 'completed');
  assert.deepEqual(imm!.vaccineCode.coding, [
    { system: 'http://snomed.info/sct', code: '1119349007', display: 'COVID-19 mRNA vaccine' },
    { system: 'http://hl7.org/fhir/sid/cvx', code: '208', display: 'COVID-19, mRNA' },
  ]);
  assert.equal(imm!.patient.reference, 'Patient/RM2000500');
  assert.equal(imm!.occurrenceDateTime, '2025-03-10T10:45:00Z');
  assert.deepEqual(imm!.doseQuantity, { value: 0.3, unit: 'millilitre', system: 'http://unitsofmeasure.org', code: 'mL' });
  assert.equal(imm!.primarySource, true);
  assert.equal(imm!.lotNumber, 'FK8891');
  assert.equal(imm!.expirationDate, '2025-12-31');
  assert.equal(imm!.manufacturer?.display, 'Pfizer');
  assert.equal(imm!.location?.display, 'Stretford Health Centre');
  assert.equal(imm!.route?.coding?.[0]?.code, 'IM');
  assert.equal(imm!.site?.coding?.[0]?.display, 'Left deltoid');
  assert.deepEqual(imm!.performer?.map((p) => [p.function?.coding?.[0]?.code, p.actor.display]), [['AP', 'Nurse Alison Shaw'], ['OP', 'Dr Priya Patel']]);
});

test('VXU v2.3 with no ORC and two historical RXA: keyed by patient, vaccine and date, so a resend in another message is the same; RXA-21 D deletes it', () => {
  const rxa = (fields: Record<number, string>) => seg('RXA', { 1: '0', 2: '1', 3: '20190415', 5: '08^Hep B, adolescent or pediatric^CVX', 6: '999', 9: '01^Historical information - source unspecified^NIP001', ...fields });
  const first = accepted(parseHl7Message(message([header('VXU^V04', 'V2', { version: '2.3' }), PID_ANNA, rxa({}), rxa({ 3: '20190615', 5: '20^DTaP^CVX' })]), 'f'));
  const imms = ofType<Immunization>(first, 'Immunization');
  assert.equal(imms.length, 2);
  assert.equal(imms[0]!.primarySource, false);
  assert.equal(imms[0]!.reportOrigin?.coding?.[0]?.code, '01');
  assert.equal(imms[0]!.doseQuantity, undefined, 'RXA-6 999 is "amount unknown"');
  assert.equal(imms[0]!.occurrenceDateTime, '2019-04-15');
  assert.match(imms[0]!.id!, /^RM2000500-immunisation-[0-9a-f]{16}$/);
  assert.notEqual(imms[0]!.id, imms[1]!.id);
  const again = accepted(parseHl7Message(message([header('VXU^V04', 'V3', { version: '2.3' }), PID_ANNA, rxa({ 3: '201904151200' })]), 'f'));
  assert.equal(ofType<Immunization>(again, 'Immunization')[0]!.id, imms[0]!.id, 'same vaccine on the same day');
  const deleted = accepted(parseHl7Message(message([header('VXU^V04', 'V4', { version: '2.3' }), PID_ANNA, rxa({ 21: 'D' })]), 'f'));
  const d = ofType<Immunization>(deleted, 'Immunization')[0]!;
  assert.equal(d.id, imms[0]!.id);
  assert.equal(d.status, 'entered-in-error');
});

test('VXU: a refusal (RXA-18, RXA-20 RE) and a not-administered dose are not-done with the reason; partial is subpotent', () => {
  const base = (fields: Record<number, string>) => message([header('VXU^V04', 'V5', { version: '2.5.1' }), PID_BEN, seg('ORC', { 1: 'RE', 3: 'IMM-9' }), seg('RXA', { 1: '0', 2: '1', 3: '20250101', 5: '998^No vaccine administered^CVX', 6: '999', ...fields })]);
  const refused = ofType<Immunization>(accepted(parseHl7Message(base({ 18: '00^Parental decision^NIP002', 20: 'RE' }), 'f')), 'Immunization')[0]!;
  assert.equal(refused.status, 'not-done');
  assert.equal(refused.statusReason?.coding?.[0]?.display, 'Parental decision');
  const na = ofType<Immunization>(accepted(parseHl7Message(base({ 20: 'NA' }), 'f')), 'Immunization')[0]!;
  assert.equal(na.status, 'not-done');
  assert.equal(na.statusReason?.coding?.[0]?.code, 'NA');
  const partial = ofType<Immunization>(accepted(parseHl7Message(base({ 5: '03^MMR^CVX', 20: 'PA' }), 'f')), 'Immunization')[0]!;
  assert.equal(partial.status, 'completed');
  assert.equal(partial.isSubpotent, true);
});

test('VXU: required RXA-3 and RXA-5 quarantine with the field named; no PID is ignored; an ORU carrying RXA gives Immunization', () => {
  assert.match(rejected(parseHl7Message(message([header('VXU^V04', 'V6'), PID_ANNA, seg('RXA', { 1: '0', 2: '1', 5: '08^HepB^CVX' })]), 'f')), /RXA-3 date\/time start of administration is empty/);
  assert.match(rejected(parseHl7Message(message([header('VXU^V04', 'V7'), PID_ANNA, seg('RXA', { 1: '0', 2: '1', 3: '20251340', 5: '08^HepB^CVX' })]), 'f')), /RXA-3 .*"20251340" is not a valid date/);
  assert.match(rejected(parseHl7Message(message([header('VXU^V04', 'V8'), PID_ANNA, seg('RXA', { 1: '0', 2: '1', 3: '20250101' })]), 'f')), /RXA-5 administered code/);
  assert.equal(parseHl7Message(message([header('VXU^V04', 'V9'), seg('RXA', { 1: '0', 2: '1', 3: '20250101', 5: '08^HepB^CVX' })]), 'f').kind, 'ignored');
  const oru = accepted(parseHl7Message(message([header('ORU^R01', 'V10', { version: '2.4' }), PID_ANNA, seg('ORC', { 1: 'RE', 3: 'H55' }), seg('RXA', { 1: '0', 2: '1', 3: '20240920', 5: '88^Influenza, unspecified^CVX' })]), 'f'));
  assert.deepEqual(oru.resources.map((r) => [r.resource.resourceType, r.resource.id]), [['Immunization', 'order-filler-H55']]);
});

// --- Pharmacy (RDE, RDS, RAS; chapter 4A) -------------------------------------------------------

const ORC_RX = (fields: Record<number, string>) => seg('ORC', { 1: 'NW', 2: 'RX300^EPR', 3: 'PH300^PHARM', 9: '20250305083000', 12: 'C456^Jones^Mark^^^Dr', ...fields });
const RXE = (fields: Record<number, string>) => seg('RXE', { 1: '^TDS&Three times a day^^20250305090000', 2: '323509004^Amoxicillin 500mg capsules^SCT', 3: '500', 5: 'mg^milligram^UCUM', 10: '21', 11: 'CAP^capsule', 12: '0', 27: '68566005^Urinary tract infection^SCT', ...fields });

test('RDE^O11 v2.5.1: a MedicationRequest keyed as orders are (order-<placer>), dose, route, timing, dispense, reason, requester', () => {
  const item = accepted(parseHl7Message(message([header('RDE^O11^RDE_O11', 'P1', { version: '2.5.1', app: 'EPMA' }), PID_ANNA, seg('PV1', { 1: '1', 2: 'I' }), ORC_RX({}), seg('TQ1', { 1: '1', 3: 'TDS', 7: '20250305090000' }), RXE({ 1: '' }), seg('RXR', { 1: 'PO^Oral^HL70162' }), seg('NTE', { 1: '1', 3: 'take with food \\T\\ water' })]), 'f'));
  assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['MedicationRequest']);
  const mr = ofType<MedicationRequest>(item, 'MedicationRequest')[0]!;
  assert.equal(mr.id, 'order-RX300');
  assert.deepEqual(mr.identifier?.map((i) => [i.type?.coding?.[0]?.code, i.value]), [['PLAC', 'RX300'], ['FILL', 'PH300']]);
  assert.equal(mr.status, 'active');
  assert.equal(mr.intent, 'order');
  assert.equal(mr.medicationCodeableConcept?.coding?.[0]?.code, '323509004');
  assert.equal(mr.authoredOn, '2025-03-05T08:30:00Z');
  assert.equal(mr.requester?.display, 'Dr Mark Jones');
  const d = mr.dosageInstruction![0]!;
  assert.equal(d.text, '500 milligram, Oral, TDS');
  assert.deepEqual(d.doseAndRate?.[0]?.doseQuantity, { value: 500, unit: 'milligram', system: 'http://unitsofmeasure.org', code: 'mg' });
  assert.equal(d.route?.coding?.[0]?.code, 'PO');
  assert.equal(d.timing?.repeat?.boundsPeriod?.start, '2025-03-05T09:00:00Z');
  assert.deepEqual(mr.dispenseRequest, { quantity: { value: 21, unit: 'capsule' }, numberOfRepeatsAllowed: 0 });
  assert.equal(mr.reasonCode?.[0]?.coding?.[0]?.display, 'Urinary tract infection');
  assert.deepEqual(mr.note?.map((n) => n.text), ['take with food & water']);
});

test('RDE: a discontinue is stopped and a cancel cancelled under the same key; v2.3 RXE-1 timing; RXE-2 empty quarantines', () => {
  const dc = ofType<MedicationRequest>(accepted(parseHl7Message(message([header('RDE^O11', 'P2', { version: '2.3' }), PID_ANNA, ORC_RX({ 1: 'DC' }), RXE({})]), 'f')), 'MedicationRequest')[0]!;
  assert.deepEqual([dc.id, dc.status], ['order-RX300', 'stopped']);
  assert.equal(dc.dosageInstruction?.[0]?.timing?.repeat?.boundsPeriod?.start, '2025-03-05T09:00:00Z');
  const ca = ofType<MedicationRequest>(accepted(parseHl7Message(message([header('RDE^O11', 'P3'), PID_ANNA, ORC_RX({ 1: 'CA' }), RXE({})]), 'f')), 'MedicationRequest')[0]!;
  assert.equal(ca.status, 'cancelled');
  assert.match(rejected(parseHl7Message(message([header('RDE^O11', 'P4'), PID_ANNA, ORC_RX({}), RXE({ 2: '' })]), 'f')), /RXE-2 give code is empty/);
  assert.equal(parseHl7Message(message([header('RDE^O11', 'P5'), ORC_RX({}), RXE({})]), 'f').kind, 'ignored');
});

test('ORM^O01 v2.3 pharmacy order (ORC + RXO, no OBR) → MedicationRequest from RXO; two patients each under their own', () => {
  const item = accepted(parseHl7Message(message([
    header('ORM^O01', 'P6', { version: '2.3' }),
    PID_ANNA,
    ORC_RX({}),
    seg('RXO', { 1: '12345^Amoxicillin 250mg/5ml oral suspension^DMD', 2: '5', 4: 'ml', 11: '100', 12: 'ml' }),
    PID_BEN,
    ORC_RX({ 2: 'RX301' }),
    seg('RXO', { 1: '^Paracetamol 500mg tablets', 2: '1000', 3: '1000', 4: 'mg' }),
  ]), 'f'));
  const mrs = ofType<MedicationRequest>(item, 'MedicationRequest');
  assert.deepEqual(mrs.map((m) => [m.id, m.subject.reference, m.medicationCodeableConcept?.text ?? m.medicationCodeableConcept?.coding?.[0]?.display]), [
    ['order-RX300', 'Patient/RM2000500', 'Amoxicillin 250mg/5ml oral suspension'],
    ['order-RX301', 'Patient/RM2000600', 'Paracetamol 500mg tablets'],
  ]);
  assert.equal(mrs[0]!.medicationCodeableConcept?.coding?.[0]?.system, 'https://dmd.nhs.uk');
  assert.deepEqual(mrs[0]!.dispenseRequest?.quantity, { value: 100, unit: 'ml' });
  assert.deepEqual(item.resources.map((r) => r.subject), ['RM2000500', 'RM2000600']);
});

test('RDS^O13: a MedicationDispense per RXD, authorised by the order; the RXE it restates is not a new request', () => {
  const item = accepted(parseHl7Message(message([
    header('RDS^O13^RDS_O13', 'P7', { version: '2.5.1', app: 'PHARM' }),
    PID_ANNA,
    ORC_RX({ 1: 'RE' }),
    RXE({}),
    seg('RXR', { 1: 'PO^Oral^HL70162' }),
    seg('RXD', { 1: '1', 3: '20250305113000', 4: '21', 5: 'CAP^capsule', 7: 'RXN-88', 9: 'counselled on course length', 10: 'PH9^Singh^Ravi', 13: '^^^Trafford General Pharmacy' }),
    seg('RXR', { 1: 'PO^Oral^HL70162' }),
  ]), 'f'));
  assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['MedicationDispense']);
  const md = ofType<MedicationDispense>(item, 'MedicationDispense')[0]!;
  assert.equal(md.id, 'order-RX300-dispense-1');
  assert.equal(md.status, 'completed');
  assert.equal(md.medicationCodeableConcept?.coding?.[0]?.code, '323509004', 'RXD-2 empty: the RXE give code');
  assert.deepEqual(md.authorizingPrescription, [{ reference: 'MedicationRequest/order-RX300' }]);
  assert.equal(md.whenHandedOver, '2025-03-05T11:30:00Z');
  assert.deepEqual(md.quantity, { value: 21, unit: 'capsule' });
  assert.equal(md.performer?.[0]?.actor.display, 'Ravi Singh');
  assert.equal(md.destination?.display, 'Trafford General Pharmacy');
  assert.equal(md.identifier?.[0]?.value, 'RXN-88');
  assert.deepEqual(md.note?.map((n) => n.text), ['counselled on course length']);
});

test('RAS^O17: each RXA a MedicationAdministration keyed by its sub-id counters; a refused dose is not-done', () => {
  const rxa = (fields: Record<number, string>) => seg('RXA', { 1: '1', 3: '20250305140000', 5: '323509004^Amoxicillin 500mg capsules^SCT', 6: '500', 7: 'mg^^UCUM', 10: 'N77^Shaw^Alison', 20: 'CP', ...fields });
  const item = accepted(parseHl7Message(message([
    header('RAS^O17^RAS_O17', 'P8', { version: '2.5.1', app: 'EPMA' }),
    PID_ANNA,
    ORC_RX({ 1: 'RE' }),
    RXE({}),
    rxa({ 2: '1' }),
    seg('RXR', { 1: 'PO^Oral^HL70162' }),
    rxa({ 2: '2', 3: '20250305220000', 6: '0', 18: 'RFP^Patient refused^local', 20: 'RE' }),
  ]), 'f'));
  const mas = ofType<MedicationAdministration>(item, 'MedicationAdministration');
  assert.deepEqual(mas.map((m) => [m.id, m.status, m.effectiveDateTime]), [
    ['order-RX300-administration-1-1', 'completed', '2025-03-05T14:00:00Z'],
    ['order-RX300-administration-1-2', 'not-done', '2025-03-05T22:00:00Z'],
  ]);
  assert.equal(mas[0]!.request?.reference, 'MedicationRequest/order-RX300');
  assert.equal(mas[0]!.dosage?.route?.coding?.[0]?.code, 'PO');
  assert.deepEqual(mas[0]!.dosage?.dose, { value: 500, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' });
  assert.equal(mas[1]!.dosage?.route, undefined, 'the RXR belongs to the RXA before it');
  assert.equal(mas[1]!.statusReason?.[0]?.coding?.[0]?.display, 'Patient refused');
  assert.equal(mas[0]!.performer?.[0]?.actor.display, 'Alison Shaw');
  assert.ok(!item.resources.some((r) => r.resource.resourceType === 'MedicationRequest'));
});

test('VXU: a historical dose with CDC\'s placeholder ORC-3 9999 is keyed by patient, vaccine and day, not by 9999', () => {
  const vxu = (pid: string, id: string) => message([header('VXU^V04', id, { version: '2.5.1' }), pid, seg('ORC', { 1: 'RE', 3: '9999^CDC' }), seg('RXA', { 1: '0', 2: '1', 3: '20200110', 5: '03^MMR^CVX', 6: '999', 9: '01^Historical^NIP001' })]);
  const anna = ofType<Immunization>(accepted(parseHl7Message(vxu(PID_ANNA, 'V11'), 'f')), 'Immunization')[0]!;
  const ben = ofType<Immunization>(accepted(parseHl7Message(vxu(PID_BEN, 'V12'), 'f')), 'Immunization')[0]!;
  assert.match(anna.id!, /^RM2000500-immunisation-/);
  assert.match(ben.id!, /^RM2000600-immunisation-/);
  assert.equal(anna.identifier, undefined);
});

test('pharmacy messages without the segment they are about are quarantined; an ORU with results and RXA gives both', () => {
  assert.match(rejected(parseHl7Message(message([header('RDE^O11', 'P9'), PID_ANNA, ORC_RX({})]), 'f')), /RDE\^O11 has no RXE segment/);
  assert.match(rejected(parseHl7Message(message([header('RDS^O13', 'P10'), PID_ANNA, ORC_RX({}), RXE({})]), 'f')), /RDS\^O13 has no RXD segment/);
  const both = accepted(parseHl7Message(message([
    header('ORU^R01', 'P11', { version: '2.5.1', app: 'LAB' }),
    PID_ANNA,
    seg('OBR', { 1: '1', 3: 'F77', 4: '22314-9^Hepatitis B surface antibody^LN', 7: '20250101' }),
    seg('OBX', { 1: '1', 2: 'NM', 3: '22314-9^HBsAb^LN', 5: '120', 6: 'mIU/mL' }),
    seg('ORC', { 1: 'RE', 3: 'IMM-55' }),
    seg('RXA', { 1: '0', 2: '1', 3: '20241201', 5: '08^Hep B^CVX' }),
  ]), 'f'));
  assert.deepEqual(both.resources.map((r) => r.resource.resourceType), ['DiagnosticReport', 'Observation', 'Immunization']);
  assert.deepEqual(both.identities.map((i) => i.id), ['RM2000500']);
});

test('v2.3 pharmacy triggers (RDE^O01, RDS^O01, RAS^O01) and the v2.3 history response VXR^V03 read as their v2.5 forms', () => {
  const rde = accepted(parseHl7Message(message([header('RDE^O01', 'P12', { version: '2.3' }), PID_ANNA, ORC_RX({}), RXE({})]), 'f'));
  assert.deepEqual(rde.resources.map((r) => [r.resource.resourceType, r.resource.id]), [['MedicationRequest', 'order-RX300']]);
  const rds = accepted(parseHl7Message(message([header('RDS^O01', 'P13', { version: '2.3' }), PID_ANNA, ORC_RX({ 1: 'RE' }), RXE({}), seg('RXD', { 1: '1', 2: '323509004^Amoxicillin 500mg capsules^SCT', 3: '20250305' })]), 'f'));
  assert.deepEqual(rds.resources.map((r) => r.resource.resourceType), ['MedicationDispense']);
  const ras = accepted(parseHl7Message(message([header('RAS^O01', 'P14', { version: '2.3' }), PID_ANNA, ORC_RX({ 1: 'RE' }), seg('RXA', { 1: '1', 2: '1', 3: '20250305140000', 5: '323509004^Amoxicillin 500mg capsules^SCT' })]), 'f'));
  assert.deepEqual(ras.resources.map((r) => r.resource.resourceType), ['MedicationAdministration']);
  const vxr = accepted(parseHl7Message(message([header('VXR^V03', 'V13', { version: '2.3' }), seg('MSA', { 1: 'AA', 2: 'Q1' }), seg('QRD', { 1: '20250101', 2: 'R', 3: 'I', 4: 'Q1' }), PID_ANNA, seg('RXA', { 1: '0', 2: '1', 3: '20100101', 5: '03^MMR^CVX' })]), 'f'));
  assert.deepEqual(vxr.resources.map((r) => r.resource.resourceType), ['Immunization']);
});
