import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllergyIntolerance, Condition, Encounter, Patient } from '@medplum/fhirtypes';
import type { AcceptedItem } from '../model.ts';
import { accepted, rejected } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';
import { ADT_EVENTS, PATIENT_CLASS_VALUES } from './tables.ts';
import { seg } from './fixtures/samples.ts';
import { adtFor, fixture, header, message, PID_ANNA, PID_BEN, pidWithIdentifiers, pv1For } from './fixtures/vendors.ts';

const all = <T>(item: AcceptedItem, type: string): T[] => item.resources.filter((r) => r.resource.resourceType === type).map((r) => r.resource as T);
const one = <T>(item: AcceptedItem, type: string): T => {
  const found = all<T>(item, type);
  assert.equal(found.length, 1, `one ${type}`);
  return found[0]!;
};

test('every HL7 table 0004 patient class is accepted and mapped to v3 ActCode; the original is kept where the v3 code does not say it', () => {
  const expected: Record<string, [string, string | undefined]> = {
    E: ['EMER', undefined], I: ['IMP', undefined], O: ['AMB', undefined], P: ['PRENC', undefined],
    R: ['AMB', 'R'], B: ['IMP', 'B'], C: ['AMB', 'C'], N: ['NA', 'N'], U: ['UNK', 'U'],
  };
  assert.deepEqual(Object.keys(expected).sort(), [...PATIENT_CLASS_VALUES].sort());
  for (const [cls, [code, original]] of Object.entries(expected)) {
    const enc = one<Encounter>(accepted(parseHl7Message(adtFor('A01', `C-${cls}`, [pv1For({ cls, visit: `V-${cls}` })]), 'f')), 'Encounter');
    assert.equal(enc.class.code, code, cls);
    assert.equal(enc.type?.[0]?.coding?.[0]?.code, original, cls);
    if (original) assert.equal(enc.type?.[0]?.coding?.[0]?.system, 'http://terminology.hl7.org/CodeSystem/v2-0004');
  }
});

test('a patient class outside table 0004 (user-defined, a site may add values) is kept as sent; an empty PV1-2 does not reject', () => {
  const local = one<Encounter>(accepted(parseHl7Message(adtFor('A01', 'Z1', [pv1For({ cls: 'D', visit: 'VD' })]), 'f')), 'Encounter');
  assert.deepEqual(local.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'OTH', display: 'other' });
  assert.deepEqual(local.type?.[0], { coding: [{ code: 'D' }], text: 'patient class D (PV1-2)' });
  const empty = one<Encounter>(accepted(parseHl7Message(adtFor('A01', 'Z2', [pv1For({ cls: '', visit: 'VE' })]), 'f')), 'Encounter');
  assert.equal(empty.class.code, 'UNK');
});

test('v2.3 pre-admit with MSH-4 empty, PV1-2 P and no PV1-19; the admission and discharge of the same stay find the same encounter', () => {
  const a05 = accepted(parseHl7Message(fixture('cerner-v23-a05-preadmit.hl7'), 'f'));
  assert.equal(a05.sourceSystem, 'hl7:CERNER', 'MSH-3 when MSH-4 is empty');
  const planned = one<Encounter>(a05, 'Encounter');
  assert.equal(planned.status, 'planned');
  assert.equal(planned.class.code, 'PRENC');
  assert.equal(planned.id, '100234567-20250317090000', 'patient id + PV1-44 admit time');
  assert.equal(planned.identifier, undefined, 'a derived key is not the sender\'s visit number');
  assert.equal(planned.reasonCode?.[0]?.coding?.[0]?.system, 'http://hl7.org/fhir/sid/icd-10');
  assert.equal(planned.participant?.[0]?.individual?.display, 'Mr Robert Hughes');
  const patient = one<Patient>(a05, 'Patient');
  assert.deepEqual(patient.name?.[0], { use: 'official', family: "O'BRIEN", given: ['Siobhan', 'M'], prefix: ['Ms'] }, 'XPN-5 is the prefix');
  assert.equal(patient.generalPractitioner?.[0]?.identifier?.value, 'P91002');
  assert.equal(patient.generalPractitioner?.[1]?.display, 'Dr Anil Patel', 'PD1-4 the GP');
  assert.deepEqual(
    { address: a05.identities[0]!.address, town: a05.identities[0]!.town, postcode: a05.identities[0]!.postcode, nhs: a05.identities[0]!.nhsNumber },
    { address: '4 Kings Road, Flat 2', town: 'Sale', postcode: 'M33 6QA', nhs: '9434765870' },
  );

  const a01 = accepted(parseHl7Message(fixture('cerner-v23-a01-no-visit.hl7'), 'f'));
  const a03 = accepted(parseHl7Message(fixture('cerner-v23-a03-no-visit.hl7'), 'f'));
  const admitted = one<Encounter>(a01, 'Encounter');
  const discharged = one<Encounter>(a03, 'Encounter');
  assert.equal(admitted.id, planned.id);
  assert.equal(discharged.id, planned.id);
  assert.equal(admitted.status, 'in-progress');
  assert.equal(discharged.status, 'finished');
  assert.equal(discharged.period?.end, '2025-03-18T14:00:00Z');
  // AL1 and DG1 wherever they appear.
  const allergy = one<AllergyIntolerance>(a01, 'AllergyIntolerance');
  assert.equal(allergy.criticality, 'high');
  assert.equal(allergy.category?.[0], 'medication');
  assert.deepEqual(allergy.reaction?.[0]?.manifestation?.map((m) => m.text), ['Anaphylaxis', 'Hives']);
  assert.equal(allergy.code?.coding?.[0]?.system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
  const working = one<Condition>(a01, 'Condition');
  const final = one<Condition>(a03, 'Condition');
  assert.equal(working.id, final.id, 'the same diagnosis on the same stay is one Condition');
  assert.equal(working.verificationStatus?.coding?.[0]?.code, 'provisional');
  assert.equal(final.verificationStatus?.coding?.[0]?.code, 'confirmed');
  assert.equal(final.encounter?.reference, `Encounter/${planned.id}`);
  assert.equal(final.category?.[0]?.coding?.[0]?.code, 'encounter-diagnosis');
});

test('PV1-19 absent: PV1-50, then PV1-5, then PV1-44, then the message id for a visit event; a replay gives the same key', () => {
  const key = (pv1: string, trigger = 'A01') => one<Encounter>(accepted(parseHl7Message(adtFor(trigger, 'K1', [pv1]), 'f')), 'Encounter').id;
  assert.equal(key(pv1For({ alt: 'ALT9', preadmit: 'PRE9', admit: '20250301100000' })), 'ALT9');
  assert.equal(key(pv1For({ preadmit: 'PRE9', admit: '20250301100000' })), 'PRE9');
  assert.equal(key(pv1For({ admit: '20250301110000+0100' })), 'RM2000500-20250301100000', 'the admit instant in UTC');
  assert.equal(key(pv1For({})), 'RM2000500-K1');
  assert.equal(key(pv1For({})), key(pv1For({})));
  // An update with a PV1 that names no visit changes demographics only.
  const a08 = accepted(parseHl7Message(adtFor('A08', 'K2', [pv1For({ cls: 'N' })]), 'f'));
  assert.deepEqual(a08.resources.map((r) => r.resource.resourceType), ['Patient']);
});

test('each visit trigger event is applied by its meaning', () => {
  const status = (trigger: string, o: Parameters<typeof pv1For>[0] = {}) =>
    one<Encounter>(accepted(parseHl7Message(adtFor(trigger, `S-${trigger}`, [pv1For({ visit: 'V1', admit: '20250301100000', ...o })]), 'f')), 'Encounter');
  const cases: Record<string, Encounter['status']> = {
    A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'in-progress', A05: 'planned', A06: 'in-progress', A07: 'in-progress',
    A08: 'in-progress', A09: 'in-progress', A10: 'in-progress', A11: 'cancelled', A12: 'in-progress', A13: 'in-progress', A14: 'planned',
    A15: 'in-progress', A16: 'in-progress', A21: 'onleave', A22: 'in-progress', A23: 'entered-in-error', A25: 'in-progress',
    A26: 'in-progress', A27: 'cancelled', A32: 'in-progress', A33: 'in-progress', A38: 'cancelled', A52: 'in-progress', A53: 'onleave',
    A54: 'in-progress', A55: 'in-progress', A60: 'in-progress', A61: 'in-progress', A62: 'in-progress',
  };
  for (const [trigger, expected] of Object.entries(cases)) assert.equal(status(trigger).status, expected, trigger);
  assert.equal(status('A08', { discharge: '20250302100000' }).status, 'finished');
  assert.equal(status('A08', { cls: 'P' }).status, 'planned');
  assert.equal(status('A13', { discharge: '20250302100000' }).period?.end, undefined, 'A13 reopens the stay');
  assert.equal(status('A06', { cls: 'I' }).class.code, 'IMP', 'class change outpatient → inpatient');
  assert.equal(status('A07', { cls: 'O' }).class.code, 'AMB');
});

test('A28 and A31 add or update the person only, A29 makes the Patient inactive; events without a patient are ignored', () => {
  for (const trigger of ['A28', 'A31']) {
    const item = accepted(parseHl7Message(adtFor(trigger, `P-${trigger}`, [pv1For({ cls: 'N', visit: 'V1' })]), 'f'));
    assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['Patient'], trigger);
    assert.equal(item.identities[0]!.id, 'RM2000500');
  }
  const a29 = accepted(parseHl7Message(adtFor('A29', 'P-A29', []), 'f'));
  assert.equal(one<Patient>(a29, 'Patient').active, false);
  assert.equal(parseHl7Message(adtFor('A20', 'BED', []), 'f').kind, 'ignored');
  assert.equal(parseHl7Message(adtFor('A19', 'Q', []), 'f').kind, 'ignored');
  // The trigger from EVN-1 when MSH-9 gives only the type (v2.3).
  const evnOnly = accepted(parseHl7Message(message([header('ADT', 'EV1', { version: '2.3' }), seg('EVN', { 1: 'A01', 2: '20250301123000' }), PID_ANNA, pv1For({ visit: 'V7' })]), 'f'));
  assert.equal(evnOnly.event, 'ADT^A01');
});

test('merges: kind and event; several PID/MRG pairs give several instructions; MRG-4 when MRG-1 is empty', () => {
  for (const trigger of ['A18', 'A30', 'A34', 'A36', 'A39', 'A40', 'A46', 'A47']) {
    assert.equal(ADT_EVENTS[trigger]?.kind, 'merge', trigger);
    const item = accepted(parseHl7Message(adtFor(trigger, `M-${trigger}`, [seg('MRG', { 1: 'RM2000499^^^RM2^MR' })]), 'f'));
    assert.deepEqual(item.merges, [{ kind: 'merge', system: 'hl7:RM2', survivorId: 'RM2000500', retiredId: 'RM2000499', event: `ADT^${trigger}` }], trigger);
  }
  const two = message([
    header('ADT^A40^ADT_A39', 'M2'),
    seg('EVN', { 2: '20250301123000' }),
    PID_ANNA,
    seg('MRG', { 1: 'RM2000401^^^RM2^MR' }),
    PID_BEN,
    seg('MRG', { 1: '', 4: 'RM2000402' }),
  ]);
  const item = accepted(parseHl7Message(two, 'f'));
  assert.deepEqual(item.merges?.map((m) => [m.survivorId, m.retiredId]), [['RM2000500', 'RM2000401'], ['RM2000600', 'RM2000402']]);
  assert.deepEqual(item.identities.map((i) => i.id), ['RM2000500', 'RM2000600']);
  assert.deepEqual(item.resources.map((r) => r.subject), ['RM2000500', 'RM2000600'], 'each Patient names its subject');
  // A47 that changes another identifier in the list leaves the hospital number as it is: no merge.
  const same = accepted(parseHl7Message(adtFor('A47', 'M3', [seg('MRG', { 1: 'RM2000500^^^RM2^MR' })]), 'f'));
  assert.equal(same.merges, undefined);
  assert.match(rejected(parseHl7Message(adtFor('A40', 'M4', [seg('MRG', { 1: 'RM2000500^^^RM2^MR' })]), 'f')).reason, /is the same as the surviving PID-3/);
  // Account-level changes do not merge people.
  for (const trigger of ['A35', 'A41', 'A43', 'A44', 'A49']) {
    assert.equal(accepted(parseHl7Message(adtFor(trigger, `AC-${trigger}`, [seg('MRG', { 1: 'RM2000999^^^RM2^MR', 3: 'ACC1' })]), 'f')).merges, undefined, trigger);
  }
});

test('A24 links and A37 unlinks the two patients of the message', () => {
  for (const [trigger, kind] of [['A24', 'link'], ['A37', 'unlink']] as const) {
    const text = message([header(`ADT^${trigger}^ADT_${trigger}`, `L-${trigger}`), seg('EVN', { 2: '20250301123000' }), PID_ANNA, pv1For({ cls: 'N' }), PID_BEN]);
    const item = accepted(parseHl7Message(text, 'f'));
    assert.deepEqual(item.merges, [{ kind, system: 'hl7:RM2', survivorId: 'RM2000500', retiredId: 'RM2000600', event: `ADT^${trigger}` }]);
    assert.equal(item.identities.length, 2);
  }
  assert.match(rejected(parseHl7Message(adtFor('A24', 'L1', []), 'f')).reason, /^ADT\^A24 needs two PID segments/);
});

test('A45 moves a visit to the patient in PID; A50 renumbers it and retires the old number', () => {
  const a45 = accepted(parseHl7Message(adtFor('A45', 'MV1', [seg('MRG', { 1: 'RM2000499^^^RM2^MR', 5: 'V55' }), pv1For({ visit: 'V55', admit: '20250301100000' })]), 'f'));
  const moved = one<Encounter>(a45, 'Encounter');
  assert.equal(moved.id, 'V55');
  assert.equal(moved.subject?.reference, 'Patient/RM2000500');
  assert.equal(a45.merges, undefined, 'a visit move is not a person merge');
  const a50 = accepted(parseHl7Message(adtFor('A50', 'MV2', [seg('MRG', { 1: 'RM2000500^^^RM2^MR', 5: 'V55' }), pv1For({ visit: 'V56', admit: '20250301100000' })]), 'f'));
  const encounters = all<Encounter>(a50, 'Encounter');
  assert.deepEqual(encounters.map((e) => [e.id, e.status]), [['V56', 'in-progress'], ['V55', 'entered-in-error']]);
  assert.equal(encounters[1]!.partOf?.reference, 'Encounter/V56');
});

test('A17 swaps two patients: each gets its own visit, every resource names its subject', () => {
  const text = message([
    header('ADT^A17^ADT_A17', 'SW1'),
    seg('EVN', { 2: '20250301123000' }),
    PID_ANNA,
    pv1For({ visit: 'VA', location: 'WARD1^^BED1' }),
    PID_BEN,
    pv1For({ visit: 'VB', location: 'WARD1^^BED2' }),
  ]);
  const item = accepted(parseHl7Message(text, 'f'));
  assert.deepEqual(item.resources.map((r) => [r.resource.resourceType, r.resource.id, r.subject]), [
    ['Patient', 'RM2000500', 'RM2000500'],
    ['Encounter', 'VA', 'RM2000500'],
    ['Patient', 'RM2000600', 'RM2000600'],
    ['Encounter', 'VB', 'RM2000600'],
  ]);
});

test('PID-3 with 40 repetitions; the NHS number by authority in a sub-component; hospital number MR, else PI, else the first that is not NHS', () => {
  const item = accepted(parseHl7Message(message([header('ADT^A28^ADT_A05', 'ID40'), seg('EVN', { 2: '20250301123000' }), pidWithIdentifiers(40)]), 'f'));
  assert.equal(item.identities[0]!.id, 'RM2000500');
  assert.equal(item.identities[0]!.nhsNumber, '9434765870');
  const id = (pid3: string) => accepted(parseHl7Message(message([header('ADT^A28', 'I2'), seg('PID', { 3: pid3, 5: 'A^B' })]), 'f')).identities[0]!;
  assert.equal(id('X1^^^SYS^AN~P7^^^RM2^PI').id, 'P7');
  assert.deepEqual([id('9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO~H1^^^RM2').id, id('9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO~H1^^^RM2').nhsNumber], ['H1', '9434765919']);
  assert.equal(id('9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO~H2').nhsNumber, '9434765919', 'the NHS OID alone');
  // PID-2 (v2.3 external id) when PID-3 has none.
  assert.equal(accepted(parseHl7Message(message([header('ADT^A28', 'I3', { version: '2.3' }), seg('PID', { 2: 'EXT9', 3: '^^^RM2^MR', 5: 'A^B' })]), 'f')).identities[0]!.id, 'EXT9');
  assert.equal(
    rejected(parseHl7Message(message([header('ADT^A28', 'I4'), seg('PID', { 3: '^^^NPI^MR', 5: 'A^B' })]), 'f')).reason,
    'PID-3 patient identifier list has no identifier (CX-1 is empty in every repetition): expected the hospital number, e.g. 123456^^^RM2^MR',
  );
});

test('names: the legal name (XPN-7 L) first whatever its position, the others kept with their use', () => {
  const pid = seg('PID', { 3: 'H1^^^RM2^MR', 5: 'Smith^Jo^^^^^N~Smith^Joanna^Mary^^Ms^^L~Brown^Joanna^^^^^M', 7: '1970', 8: 'Female' });
  const item = accepted(parseHl7Message(message([header('ADT^A28', 'N1'), pid]), 'f'));
  assert.deepEqual([item.identities[0]!.family, item.identities[0]!.given, item.identities[0]!.sex, item.identities[0]!.birthDate], ['Smith', 'Joanna Mary', 'female', '1970']); // a year of birth goes to the MPI too, compared as far as it goes
  const patient = one<Patient>(item, 'Patient');
  assert.deepEqual(patient.name?.map((n) => n.use), ['official', 'nickname', 'maiden']);
  assert.equal(patient.birthDate, '1970', 'a year of birth is a valid TS at year precision');
  // A sex value a site added to user-defined table 0001 is not an error.
  assert.equal(accepted(parseHl7Message(message([header('ADT^A28', 'N2'), seg('PID', { 3: 'H1', 5: 'A^B', 8: 'Q' })]), 'f')).identities[0]!.sex, undefined);
});

test('v2.8 message: longer MSH, truncation character, HD sender, XON component 10 for the practice, UTF-8 name', () => {
  const item = accepted(parseHl7Message(fixture('v28-adt-a04.hl7'), 'f'));
  assert.equal(item.sourceSystem, 'hl7:RM4');
  assert.equal(item.event, 'ADT^A04');
  assert.equal(item.resources[0]!.sourceTime, '2025-04-02T09:15:00Z');
  const identity = item.identities[0]!;
  assert.deepEqual([identity.id, identity.nhsNumber, identity.family, identity.practice, identity.sex], ['RM4-556677', '9434765919', 'Ní Bhriain', 'P91003', 'female']);
  const enc = one<Encounter>(item, 'Encounter');
  assert.deepEqual([enc.id, enc.class.code, enc.status], ['RM4V9001', 'AMB', 'in-progress']);
});

test('the sender: MSH-4, else MSH-3, else the feed configuration, else hl7:unknown; HD universal id when there is no namespace', () => {
  const withSender = (app: string, facility: string) => message([header('ADT^A28', 'SRC1', { app, facility }), PID_ANNA]);
  assert.equal(accepted(parseHl7Message(withSender('PAS', '^2.16.840.1.113883.19.4.6^ISO'), 'f')).sourceSystem, 'hl7:2.16.840.1.113883.19.4.6');
  assert.equal(accepted(parseHl7Message(withSender('', ''), 'f', { source: 'hl7:TRAFFORD-GEN' })).sourceSystem, 'hl7:TRAFFORD-GEN');
  assert.equal(accepted(parseHl7Message(withSender('EPR', ''), 'f', { source: 'hl7:X' })).sourceSystem, 'hl7:EPR', 'the message says who sent it');
  // MSH-3 and MSH-4 are optional: a message naming neither, on a feed with no source, is from hl7:unknown.
  const none = accepted(parseHl7Message(withSender('', ''), 'f'));
  assert.equal(none.sourceSystem, 'hl7:unknown');
  assert.deepEqual(none.identities.map((i) => i.system), ['hl7:unknown']);
  // A message Bevan ignores needs no sender.
  const ignored = parseHl7Message(message([header('SIU^S12', 'SIU9', { app: '', facility: '' }), seg('SCH', { 1: 'A' })]), 'f');
  assert.equal(ignored.kind, 'ignored');
});

test('message types Bevan does not use are ignored, even with fields it would need left empty', () => {
  for (const type of ['SIU^S12', 'MDM^T02', 'ORM^O01', 'OML^O21', 'RDE^O11', 'DFT^P03', 'BAR^P01', 'VXU^V04', 'ACK', 'QRY^A19', 'MFN^M02', 'ORU^W01']) {
    const text = [header(type, `IG-${type}`).replace('20250301123000', ''), seg('MSA', { 1: 'AA', 2: 'X' })].join('\r');
    const item = parseHl7Message(text, 'f');
    assert.equal(item.kind, 'ignored', type);
  }
});

test('patient problem messages (PPR) and IAM give Conditions and allergies; PC3 deletes', () => {
  const prb = seg('PRB', { 1: 'AD', 2: '20250301', 3: '44054006^Type 2 diabetes mellitus^SCT', 4: 'PRB-77', 16: '20190601' });
  const pc1 = accepted(parseHl7Message(message([header('PPR^PC1^PPR_PC1', 'PRB1'), PID_ANNA, prb]), 'f'));
  const c = one<Condition>(pc1, 'Condition');
  assert.deepEqual([c.id, c.clinicalStatus?.coding?.[0]?.code, c.onsetDateTime, c.category?.[0]?.coding?.[0]?.code], ['PRB-77', 'active', '2019-06-01', 'problem-list-item']);
  assert.equal(all(pc1, 'Patient').length, 0, 'a problem list is not the authority for demographics');
  const pc3 = accepted(parseHl7Message(message([header('PPR^PC3^PPR_PC1', 'PRB2'), PID_ANNA, prb]), 'f'));
  assert.equal(one<Condition>(pc3, 'Condition').verificationStatus?.coding?.[0]?.code, 'entered-in-error');
  const iam = seg('IAM', { 1: '1', 2: 'FA^Food allergy^HL70127', 3: '256349002^Peanut^SCT', 4: 'MO^Moderate^HL70128', 5: 'Urticaria', 6: 'A', 7: 'ALG-1', 11: '20100101', 17: 'C' });
  const a60 = accepted(parseHl7Message(adtFor('A60', 'IAM1', [iam]), 'f'));
  const allergy = one<AllergyIntolerance>(a60, 'AllergyIntolerance');
  assert.deepEqual([allergy.id, allergy.category?.[0], allergy.criticality, allergy.verificationStatus?.coding?.[0]?.code, allergy.reaction?.[0]?.severity], ['ALG-1', 'food', 'low', 'confirmed', 'moderate']);
  // An impossible date on an allergy does not hold back the message: it is left out with a note.
  const bad = accepted(parseHl7Message(adtFor('A08', 'AL2', [seg('AL1', { 1: '1', 2: 'DA', 3: 'PEN^Penicillin', 6: '20230230' })]), 'f'));
  assert.match(one<AllergyIntolerance>(bad, 'AllergyIntolerance').note?.[0]?.text ?? '', /AL1-6 "20230230" is not a valid date\/time; left out/);
});

test('deaths: PID-29 date of death and PID-30 indicator on A08 and on an A03 whose disposition is death; PID-30 N says not deceased', () => {
  const died = seg('PID', { 1: '1', 3: 'RM2000500^^^RM2^MR~9434765870^^^NHS^NH', 5: 'Khan^Anna^^^Mrs^^L', 7: '19721009', 8: 'F', 29: '20250920234000+0100', 30: 'Y' });
  const a08 = one<Patient>(accepted(parseHl7Message(adtFor('A08', 'D1', [pv1For({})], { pid: died }), 'f')), 'Patient');
  assert.equal(a08.deceasedDateTime, '2025-09-20T22:40:00Z');
  assert.equal(a08.deceasedBoolean, undefined);

  const discharge = seg('PV1', { 1: '1', 2: 'I', 3: 'WARD7^BAY2^BED3^RM2', 4: 'EM', 10: 'GER', 19: 'V1009', 36: '4', 44: '20250915100000', 45: '20250920234000+0100' });
  const a03 = accepted(parseHl7Message(adtFor('A03', 'D2', [discharge], { pid: died }), 'f'));
  assert.equal(one<Patient>(a03, 'Patient').deceasedDateTime, '2025-09-20T22:40:00Z');
  const stay = one<Encounter>(a03, 'Encounter');
  assert.deepEqual(stay.hospitalization?.dischargeDisposition, { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0112', code: '4' }] });
  assert.equal(stay.period?.end, '2025-09-20T22:40:00Z');

  const pid30 = (value: string) => seg('PID', { 1: '1', 3: 'RM2000500^^^RM2^MR', 5: 'Khan^Anna', 7: '19721009', 8: 'F', 30: value });
  assert.equal(one<Patient>(accepted(parseHl7Message(adtFor('A08', 'D3', [pv1For({})], { pid: pid30('Y') }), 'f')), 'Patient').deceasedBoolean, true);
  assert.equal(one<Patient>(accepted(parseHl7Message(adtFor('A08', 'D4', [pv1For({})], { pid: pid30('N') }), 'f')), 'Patient').deceasedBoolean, false);
  assert.equal(one<Patient>(accepted(parseHl7Message(adtFor('A08', 'D5', [pv1For({})], { pid: pid30('') }), 'f')), 'Patient').deceasedBoolean, undefined);
  const bad = parseHl7Message(adtFor('A08', 'D6', [pv1For({})], { pid: seg('PID', { 1: '1', 3: 'RM2000500^^^RM2^MR', 29: '20250231' }) }), 'f');
  assert.equal(bad.kind === 'rejected' && bad.reason, 'PID-29 "20250231" is not a valid date/time');
});

test('PID telecom and other identifiers reach the identity: PID-13/14 phones and email, PID-3 passport, PID-19 SSN, PID-20 licence, XPN-3 middle name', () => {
  const pid = seg('PID', {
    3: 'H77^^^RM2^MR~9434765870^^^NHS^NH~502135326^^^UKPA^PPN',
    5: 'Doyle^Mary^Ann^^Mrs^^L',
    7: '19600202',
    13: '^PRN^PH^^44^161^4960000~^NET^Internet^Mary.Doyle@Example.org',
    14: '07700 900123',
    19: 'QQ123456C',
    20: 'DOYLE602020MA9AB^GB',
  });
  const identity = accepted(parseHl7Message(message([header('ADT^A28', 'T1'), pid]), 'f')).identities[0]!;
  assert.equal(identity.given, 'Mary Ann');
  assert.deepEqual(identity.phones, ['+44 161 4960000', '07700 900123']);
  assert.deepEqual(identity.emails, ['Mary.Doyle@Example.org']);
  assert.deepEqual(identity.identifiers, [{ system: 'PPN', value: '502135326' }, { system: 'SS', value: 'QQ123456C' }, { system: 'DL', value: 'DOYLE602020MA9AB' }]);
});
