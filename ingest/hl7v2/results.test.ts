import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiagnosticReport, Observation } from '@medplum/fhirtypes';
import type { AcceptedItem } from '../model.ts';
import { accepted } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';
import { interpretation } from './tables.ts';
import { seg } from './fixtures/samples.ts';
import { fixture, header, message, PID_ANNA, oruWithObx } from './fixtures/vendors.ts';

const of = <T>(item: AcceptedItem, type: string): T[] => item.resources.filter((r) => r.resource.resourceType === type).map((r) => r.resource as T);

function oru(obrs: string[][], o: { id?: string; type?: string } = {}): string {
  return message([header(o.type ?? 'ORU^R01^ORU_R01', o.id ?? 'R1', { version: '2.5.1', app: 'LAB' }), PID_ANNA, ...obrs.flat()]);
}
const obr = (fields: Record<number, string>) => seg('OBR', { 1: '1', 4: 'P^Panel^L', 7: '20250301080000', ...fields });
const obx = (fields: Record<number, string>) => seg('OBX', { 2: 'NM', 3: 'C^Code^L', 5: '1', 11: 'F', ...fields });

test('an ORU with 500 OBX: one report, 500 results keyed by set id', () => {
  const item = accepted(parseHl7Message(oruWithObx(500), 'f'));
  const [report] = of<DiagnosticReport>(item, 'DiagnosticReport');
  const results = of<Observation>(item, 'Observation');
  assert.equal(results.length, 500);
  assert.equal(report!.result?.length, 500);
  assert.equal(results[499]!.id, 'F500-500');
  assert.equal(results[0]!.interpretation?.[0]?.coding?.[0]?.code, 'H');
});

test('two PATIENT_RESULT groups: each report and result goes to its own patient; repeated set ids fall back to position', () => {
  const item = accepted(parseHl7Message(fixture('lab-v251-oru-two-patients.hl7'), 'f'));
  assert.equal(item.sourceSystem, 'hl7:RM2LAB');
  assert.deepEqual(item.identities.map((i) => i.id), ['RM2000123', 'RM2000777']);
  assert.deepEqual(item.resources.map((r) => [r.resource.resourceType, r.resource.id, r.subject]), [
    ['DiagnosticReport', 'L25.0001', 'RM2000123'],
    ['Observation', 'L25.0001-1', 'RM2000123'],
    ['Observation', 'L25.0001-2', 'RM2000123'],
    ['Observation', 'L25.0001-3', 'RM2000123'],
    ['DiagnosticReport', 'L25.0002', 'RM2000777'],
    ['Observation', 'L25.0002-1', 'RM2000777'],
    ['Observation', 'L25.0002-2', 'RM2000777'],
  ]);
  const [potassium, creatinine] = [of<Observation>(item, 'Observation')[1]!, of<Observation>(item, 'Observation')[2]!];
  assert.deepEqual(potassium.interpretation?.[0]?.coding?.[0], { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'HH', display: 'Critical high' });
  assert.equal(potassium.note?.[0]?.text, 'Sample haemolysed: potassium may be falsely raised.');
  // A laboratory's non-numeric NM value is kept as text with a note, not a rejection.
  assert.equal(creatinine.valueString, 'see comment');
  assert.match(creatinine.note?.[0]?.text ?? '', /is not a number although OBX-2 says NM; kept as text/);
  const platelets = of<Observation>(item, 'Observation')[4]!;
  assert.deepEqual(platelets.valueQuantity, { value: 10, comparator: '<', unit: '10*9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' });
  assert.equal(of<DiagnosticReport>(item, 'DiagnosticReport')[1]!.subject?.reference, 'Patient/RM2000777');
});

test('OBR-3 missing: ORC-3, then the placer number, then a key from the message; one filler shared by several OBRs is split by OBR-4', () => {
  const ids = (text: string) => of<DiagnosticReport>(accepted(parseHl7Message(text, 'f')), 'DiagnosticReport').map((r) => r.id);
  assert.deepEqual(ids(oru([[seg('ORC', { 1: 'RE', 3: 'ORCF1' }), obr({ 2: 'PL1' })]])), ['ORCF1']);
  assert.deepEqual(ids(oru([[obr({ 2: 'PL1^ICE' })]])), ['placer-PL1']);
  assert.deepEqual(ids(oru([[obr({})]], { id: 'MSG9' })), ['MSG9-1']);
  assert.deepEqual(ids(oru([[obr({ 3: 'F1', 4: 'A^a^LN' })], [obr({ 1: '2', 3: 'F1', 4: 'B^b^LN' })], [obr({ 1: '3', 3: 'F1', 4: 'B^b^LN' })]])), ['F1-A', 'F1-B', 'F1-2']);
  const placer = of<DiagnosticReport>(accepted(parseHl7Message(oru([[obr({ 2: 'PL1^ICE' })]]), 'f')), 'DiagnosticReport')[0]!;
  assert.deepEqual(placer.identifier, [{ system: 'urn:bevan:source:hl7:RM2:placer', value: 'PL1' }]);
});

test('OBX-1 missing or repeated: results keyed by position under their report', () => {
  const item = accepted(parseHl7Message(oru([[obr({ 3: 'F2' }), obx({ 1: '1' }), obx({ 1: '' }), obx({ 1: '1' })]]), 'f'));
  assert.deepEqual(of<Observation>(item, 'Observation').map((o) => o.id), ['F2-1', 'F2-2', 'F2-3']);
});

test('OBX value types: NM, SN (comparator, ratio, range), ST, TX, FT, CE/CWE with alternate code, DT, TS, ED as the report\'s presentedForm, RP its pointer, and others as text', () => {
  const values = [
    obx({ 1: '1', 2: 'NM', 5: '-1.5', 6: 'mmol/L' }),
    obx({ 1: '2', 2: 'SN', 5: '^1^:^128' }),
    obx({ 1: '3', 2: 'SN', 5: '^10^-^20', 6: 'mg/L' }),
    obx({ 1: '4', 2: 'SN', 5: '>=^5' }),
    obx({ 1: '5', 2: 'ST', 5: 'Negative' }),
    obx({ 1: '6', 2: 'TX', 5: 'line one~line two' }),
    obx({ 1: '7', 2: 'FT', 5: 'first\\.br\\second \\H\\bold\\N\\' }),
    obx({ 1: '8', 2: 'CWE', 5: '260373001^Detected^SCT^DET^Detected^L^^^Detected in sample' }),
    obx({ 1: '9', 2: 'DT', 5: '20250228' }),
    obx({ 1: '10', 2: 'TS', 5: '20250228101500+0000' }),
    obx({ 1: '11', 2: 'ED', 5: '^application^pdf^Base64^JVBERi0x' }),
    obx({ 1: '12', 2: 'RP', 5: 'http://lab.example/r/1^LAB^TEXT' }),
    obx({ 1: '13', 2: 'NA', 5: '1^2^3' }),
    obx({ 1: '14', 2: 'SN', 5: '^2^+' }),
  ];
  const item = accepted(parseHl7Message(oru([[obr({ 3: 'F3' }), ...values]]), 'f'));
  const o = of<Observation>(item, 'Observation');
  assert.deepEqual(o[0]!.valueQuantity, { value: -1.5, unit: 'mmol/L' });
  assert.deepEqual(o[1]!.valueRatio, { numerator: { value: 1 }, denominator: { value: 128 } });
  assert.deepEqual(o[2]!.valueRange, { low: { value: 10, unit: 'mg/L' }, high: { value: 20, unit: 'mg/L' } });
  assert.deepEqual(o[3]!.valueQuantity, { value: 5, comparator: '>=' });
  assert.equal(o[4]!.valueString, 'Negative');
  assert.equal(o[5]!.valueString, 'line one\nline two');
  assert.equal(o[6]!.valueString, 'first\nsecond bold');
  assert.deepEqual(o[7]!.valueCodeableConcept, {
    coding: [{ system: 'http://snomed.info/sct', code: '260373001', display: 'Detected' }, { code: 'DET', display: 'Detected' }],
    text: 'Detected in sample',
  });
  assert.equal(o[8]!.valueDateTime, '2025-02-28');
  assert.equal(o[9]!.valueDateTime, '2025-02-28T10:15:00Z');
  // R4 Observation has no Attachment value: the document is the report's presentedForm.
  assert.deepEqual([o[10]!.valueString, o[10]!.note?.[0]?.text], [undefined, 'OBX-5 holds encapsulated data (application/pdf)']);
  assert.deepEqual(of<DiagnosticReport>(item, 'DiagnosticReport')[0]!.presentedForm, [{ contentType: 'application/pdf', data: 'JVBERi0x', title: 'Code' }]);
  assert.equal(o[11]!.valueString, 'http://lab.example/r/1');
  assert.equal(o[12]!.valueString, '1^2^3');
  assert.equal(o[13]!.valueString, '2+');
});

test('OBX-8 abnormal flags map to v3 ObservationInterpretation; repeats are all kept; a local flag keeps its code without a system', () => {
  for (const [flag, code] of [['H', 'H'], ['L', 'L'], ['HH', 'HH'], ['LL', 'LL'], ['A', 'A'], ['AA', 'AA'], ['N', 'N'], ['<', '<'], ['>', '>'], ['POS', 'POS'], ['SYN-R', 'SYN-R']] as const) {
    assert.equal(interpretation(flag)?.code, code, flag);
    assert.equal(interpretation(flag)?.system, 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation');
  }
  assert.deepEqual(interpretation('XYZ'), { code: 'XYZ' });
  assert.equal(interpretation(''), undefined);
  const o = of<Observation>(accepted(parseHl7Message(oru([[obr({ 3: 'F4' }), obx({ 1: '1', 8: 'H~A' })]]), 'f')), 'Observation')[0]!;
  assert.deepEqual(o.interpretation?.map((i) => i.coding?.[0]?.code), ['H', 'A']);
});

test('OBX-11 and OBR-25 statuses; a correction carries the same keys with a later time, so it replaces the result', () => {
  const status = (s: string) => of<Observation>(accepted(parseHl7Message(oru([[obr({ 3: 'F5' }), obx({ 1: '1', 11: s })]]), 'f')), 'Observation')[0]!.status;
  assert.deepEqual(['P', 'F', 'C', 'X', 'D', 'W', 'I', 'R', 'S', 'U', 'N', ''].map(status), ['preliminary', 'final', 'corrected', 'cancelled', 'entered-in-error', 'entered-in-error', 'registered', 'preliminary', 'preliminary', 'final', 'cancelled', 'final']);
  const first = accepted(parseHl7Message(oruWithObx(3, { id: 'A1', status: 'P', time: '20250301100000' }), 'f'));
  const corrected = accepted(parseHl7Message(oruWithObx(3, { id: 'A2', status: 'C', time: '20250301140000' }), 'f'));
  assert.deepEqual(first.resources.map((r) => r.resource.id), corrected.resources.map((r) => r.resource.id));
  assert.ok(corrected.resources[0]!.sourceTime! > first.resources[0]!.sourceTime!);
  assert.equal(of<DiagnosticReport>(corrected, 'DiagnosticReport')[0]!.status, 'corrected');
  assert.equal(of<Observation>(corrected, 'Observation')[0]!.status, 'corrected');
});

test('an impossible report time (OBR-22 on 29 February 2017) is left out with a note; the results go in', () => {
  const item = accepted(parseHl7Message(oru([[obr({ 3: 'F6', 22: '20170229125200-0500' }), obx({ 1: '1' })]]), 'f'));
  assert.equal(of<DiagnosticReport>(item, 'DiagnosticReport')[0]!.issued, undefined);
  assert.match(of<Observation>(item, 'Observation')[0]!.note?.[0]?.text ?? '', /^OBR-22 "20170229125200-0500" is not a valid date\/time; left out$/);
});

test('ORU^R30 and OUL^R22 are read as results; OUL with the ORC after its OBR; specimen results outside an order', () => {
  const r30 = accepted(parseHl7Message(oru([[obr({ 3: 'POC1' }), obx({ 1: '1' })]], { type: 'ORU^R30^ORU_R30' }), 'f'));
  assert.equal(r30.event, 'ORU^R30');
  const oul = message([
    header('OUL^R22^OUL_R22', 'OUL1', { version: '2.5.1', app: 'LIMS' }),
    PID_ANNA,
    seg('SPM', { 1: '1', 2: 'S1' }),
    obx({ 1: '1', 3: 'SQ^Specimen quality^L', 2: 'ST', 5: 'Good' }),
    obr({ 2: 'PL9' }),
    seg('ORC', { 1: 'SC', 3: 'FIL9' }),
    obx({ 1: '1', 5: '4.2' }),
  ]);
  const item = accepted(parseHl7Message(oul, 'f'));
  assert.deepEqual(item.resources.map((r) => r.resource.id), ['FIL9', 'FIL9-1', 'OUL1-OBX4']);
});

test('no PID or no OBR in a result message is a reason naming the segment', () => {
  const noPid = parseHl7Message(message([header('ORU^R01', 'NP1'), obr({ 3: 'X' }), obx({ 1: '1' })]), 'f');
  assert.equal(noPid.kind === 'rejected' && noPid.reason, 'ORU^R01 has no PID segment before OBR 1: the patient the result is about');
  const noObr = parseHl7Message(message([header('ORU^R01', 'NP2'), PID_ANNA]), 'f');
  assert.equal(noObr.kind === 'rejected' && noObr.reason, 'ORU^R01 has no OBR segment (and no OBX: no result to record)');
});

test('a laboratory ORU with comments: NTE after the OBR is a note on the report, NTE after an OBX on that result; local codes and a smoking status kept as sent', () => {
  const item = accepted(parseHl7Message(fixture('winpath-v24-oru-comments.hl7'), 'f'));
  assert.equal(item.sourceSystem, 'hl7:RM2');
  const [fbc, poa] = of<DiagnosticReport>(item, 'DiagnosticReport');
  // R4 has no DiagnosticReport.note: the R5 element travels as its cross-version extension.
  assert.deepEqual(fbc!.extension, [{ url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note', valueAnnotation: { text: 'Sample received 6 hours after collection.' } }]);
  assert.equal(fbc!.conclusion, undefined);
  assert.deepEqual(fbc!.code, { coding: [{ code: 'FBC', display: 'Full blood count' }], text: 'Full blood count' });
  assert.equal(poa!.extension, undefined);
  const [hb, plt, smoking] = of<Observation>(item, 'Observation');
  assert.deepEqual(hb!.note, [{ text: 'Result confirmed on repeat analysis.' }, { text: 'Film reviewed: hypochromic microcytic.' }]);
  // The report's comment is the report's, not copied onto each result.
  assert.equal(plt!.note, undefined);
  // WINPATH is the laboratory's own coding system: the code stays local (the record maps it, reference/lab-code-map.csv).
  assert.deepEqual(hb!.code.coding, [{ code: 'HB', display: 'Haemoglobin' }]);
  assert.deepEqual(smoking!.code.coding, [{ system: 'http://loinc.org', code: '72166-2', display: 'Tobacco smoking status' }]);
  assert.deepEqual(smoking!.valueCodeableConcept?.coding, [{ system: 'http://snomed.info/sct', code: '8517006', display: 'Ex-smoker' }]);
  assert.equal(smoking!.effectiveDateTime, '2025-08-10T09:00:00Z');
});

test('NTE before any OBR (after the PID) belongs to no result and is not attached to the next report', () => {
  const item = accepted(parseHl7Message(oru([[seg('NTE', { 1: '1', 3: 'Patient note' }), obr({ 3: 'F9' }), seg('NTE', { 1: '1', 3: 'Report note' }), obx({ 1: '1' }), seg('NTE', { 1: '1', 3: 'Result note' })]]), 'f'));
  assert.deepEqual(of<DiagnosticReport>(item, 'DiagnosticReport')[0]!.extension?.map((x) => x.valueAnnotation?.text), ['Report note']);
  assert.deepEqual(of<Observation>(item, 'Observation')[0]!.note?.map((n) => n.text), ['Result note']);
});
