/**
 * Shapes seen in other senders' HL7 v2 messages (UK PAS and EPR, European and Asian laboratory
 * systems, interface-engine test suites), each rewritten as a minimal synthetic message: what is
 * stored (identity, encounter, observation) and the ACK the MLLP listener would send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Encounter, Observation, Patient } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem } from '../model.ts';
import { accepted, cr, resource } from './fixtures/items.ts';
import { hl7v2Adapter } from './adapter.ts';
import { readAck } from './ack.ts';
import { ackFor } from './mllp.ts';
import { decodeHl7Bytes } from './split.ts';
import { NHS_NUMBER_SYSTEM, validNhsDigits } from './patient.ts';
import { parseHl7Message } from './to-item.ts';

/** The MSA-1 code the listener sends once the item is committed (or quarantined, for a rejection). */
const ackCode = (item: IngestItem, raw: string) => readAck(ackFor(item, raw, item.kind === 'rejected' ? 'quarantined' : 'committed')).code;

test('Modulus 11: the NHS number check digit', () => {
  assert.equal(validNhsDigits('9434765919'), '9434765919');
  assert.equal(validNhsDigits('943 476 5919'), '9434765919');
  assert.equal(validNhsDigits('9434765918'), undefined, 'wrong check digit');
  assert.equal(validNhsDigits('123456789'), undefined, 'nine digits (a US SSN)');
});

test('Cerner Millennium UK: NHS number typed NHSNMBR (authority NHSNBR), PID-8 "1", PV1-2 INPATIENT', () => {
  const raw = cr(
    'MSH|^~\\&|CERNER|RXX|BEVAN|TCCC|20240102030405||ADT^A01|C100|T|2.3|||AL||44|ASCII',
    'EVN|A01|20240102030405',
    'PID|1|700001^^^RXX MRN^MRN|700001^^^RXX MRN^MRN^CD:123~9434765919^^^NHSNBR^NHSNMBR||TESTER^PAUL^^^MR^^CURRENT||19700524|1|||1 The Street^^LONDON^^ZZ99 1BA^GBR^HOME',
    `PV1|1|INPATIENT|WARD 10^Bay01^Bed10^RXX^^BED^MAIN|28b${'|'.repeat(15)}6153479^^^^VISITID`,
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  const who = item.identities[0]!;
  assert.deepEqual([who.id, who.nhsNumber, who.sex, who.family], ['700001', '9434765919', 'male', 'TESTER']);
  const patient = resource<Patient>(item, 'Patient')!;
  assert.ok(patient.identifier?.some((i) => i.system === NHS_NUMBER_SYSTEM && i.value === '9434765919'));
  assert.equal(patient.gender, 'male');
  const enc = resource<Encounter>(item, 'Encounter')!;
  assert.equal(enc.id, '6153479');
  assert.equal(enc.class.code, 'IMP');
  assert.equal(enc.type?.[0]?.coding?.[0]?.code, 'INPATIENT', 'the class as sent is kept');
  assert.equal(ackCode(item, raw), 'AA');
  // "2" is female in the NHS Data Dictionary's person gender codes.
  assert.equal(accepted(parseHl7Message(raw.replace('|19700524|1|', '|19700524|2|'), 'f')).identities[0]!.sex, 'female');
});

test('older UK PAS: the NHS number in PID-2 or PID-19 (untyped, Modulus 11 valid), the hospital number in PID-4 or PID-3', () => {
  const msh = 'MSH|^~\\&|PAS|RYY|||20240102030405||ADT^A08|C101|P|2.2';
  const pid2 = accepted(parseHl7Message(cr(msh, 'EVN|A08|20240102030405', 'PID|1|943 476 5919||407623|WOOD^PAT||19700101|M'), 'f')).identities[0]!;
  assert.deepEqual([pid2.id, pid2.nhsNumber], ['407623', '9434765919']);
  const pid19 = accepted(parseHl7Message(cr(msh, 'EVN|A08|20240102030405', 'PID|1||R12345^^^RYY^MR||WOOD^PAT||19700101|M|||||||||||9434765919'), 'f')).identities[0]!;
  assert.deepEqual([pid19.id, pid19.nhsNumber, pid19.identifiers], ['R12345', '9434765919', undefined]);
  // A US SSN in PID-19 is still an SSN, and a PID-2 that fails the check is a hospital number, not an NHS number.
  const ssn = accepted(parseHl7Message(cr(msh, 'EVN|A08|20240102030405', 'PID|1|1234567890|||WOOD^PAT||19700101|M|||||||||||123-45-6789'), 'f')).identities[0]!;
  assert.deepEqual([ssn.id, ssn.nhsNumber, ssn.identifiers], ['1234567890', undefined, [{ system: 'SS', value: '123-45-6789' }]]);
  // Only an NHS number, in PID-2: it is the key the sender gives.
  const only = accepted(parseHl7Message(cr(msh, 'EVN|A08|20240102030405', 'PID|1|9434765919|||WOOD^PAT||19700101|M'), 'f')).identities[0]!;
  assert.deepEqual([only.id, only.nhsNumber], ['9434765919', '9434765919']);
});

test('encoding characters: three (no escape character, as some laboratory systems send), five (v2.7 truncation), and other separators', () => {
  const three = cr(
    'MSH|^~&|LIS^1.2.276.0.76^ISO|LAB|||20240102030405||ORU^R01^ORU_R01|C102|P|2.5|||||D|8859/1',
    'PID|1||0030002952^^^&1.2.276.0.76.3.1&ISO^PI||Muster^Gerda||19561230|F',
    'OBR|1||F200|GLU^Glucose^L|||20240102',
    'OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F',
  );
  const a = accepted(parseHl7Message(three, 'f'));
  assert.deepEqual([a.identities[0]!.id, a.identities[0]!.family], ['0030002952', 'Muster']);
  assert.equal(resource<Observation>(a, 'Observation')!.valueQuantity?.value, 5.4);
  assert.equal(ackCode(a, three), 'AA');

  const five = accepted(parseHl7Message(cr('MSH|^~\\&#|LIS|LAB|||20240102030405-0500||ORU^R01^ORU_R01|C103|T|2.7|||NE|NE', 'PID|1||L1^^^LAB^MR||Lerr^Todd||20090607|M', 'OBR|1||F201|5671-3^Lead^LN|||20240102', 'OBX|1|SN|5671-3^Lead^LN||=^9.2|ug/dL^^UCUM|||||F'), 'f'));
  assert.equal(resource<Observation>(five, 'Observation')!.valueQuantity?.value, 9.2);
  assert.equal(five.resources[0]!.sourceTime, '2024-01-02T08:04:05Z');

  // Field ':', component '-', repetition '+', escape '?', subcomponent '*'; ?F? is the field separator, ?S? the component one.
  const odd = 'MSH:-+?*:PAS:HOSP-X:::20240102030405::ADT-A01-ADT_A01:C104:P:2.5\rEVN:A01:20240102030405\rPID:1::H77?F?X---HOSP-MR+9434765919---NHS-NH::DOE?S?SMITH-JANE::19800101:F\rPV1:1:I:W1-B2::::::::::::::::V99\r';
  const o = accepted(parseHl7Message(odd, 'f'));
  assert.deepEqual([o.sourceSystem, o.identities[0]!.id, o.identities[0]!.nhsNumber, o.identities[0]!.family], ['hl7:HOSP', 'H77:X', '9434765919', 'DOE-SMITH']);
  const ack = readAck(ackFor(o, odd, 'committed'));
  assert.deepEqual([ack.code, ack.controlId], ['AA', 'C104']);
});

test('"" (the HL7 null) in a date field deletes the value: never an impossible date', () => {
  const raw = cr('MSH|^~\\&|ZIS|HOSP|||20240102030405||ADT^A08^ADT_A01|C105|P|2.4|||AL|NE|NLD|8859/1', 'EVN|A08|20240102030405', `PID|1||7137542^^^^PI||van Test&van&Test^Jeanet^^^^^L||""|F${'|'.repeat(21)}""|N`, 'PV1|1|I|6-SCU||||||||||||||||12344321|||||||||||||||||||||||||20240101120000|""');
  const item = accepted(parseHl7Message(raw, 'f'));
  const patient = resource<Patient>(item, 'Patient')!;
  assert.deepEqual([patient.birthDate, patient.deceasedDateTime, patient.deceasedBoolean, item.identities[0]!.family], [undefined, undefined, false, 'van Test']);
  assert.equal(resource<Encounter>(item, 'Encounter')!.period?.end, undefined);
  assert.equal(ackCode(item, raw), 'AA');
});

test('message times: a fraction longer than DTM\'s four digits, and seventeen digits (milliseconds without the point)', () => {
  const oru = (time: string) => cr(`MSH|^~\\&|LIS|LAB|||${time}||ORU^R01|C106|P|2.5.1`, 'PID|1||T1^^^LAB^MR||Doe^Jo', 'OBR|1||F300|GLU^Glucose^L', 'OBX|1|NM|GLU^Glucose^L||5.1|mmol/L|||||F');
  assert.equal(accepted(parseHl7Message(oru('20200710183002.10700'), 'f')).resources[0]!.sourceTime, '2020-07-10T18:30:02.107Z');
  assert.equal(accepted(parseHl7Message(oru('20180604143425489'), 'f')).resources[0]!.sourceTime, '2018-06-04T14:34:25.489Z');
  assert.equal(accepted(parseHl7Message(oru('20180604143425489+0800'), 'f')).resources[0]!.sourceTime, '2018-06-04T06:34:25.489Z');
  const bad = parseHl7Message(oru('2018060414342548'), 'f');
  assert.equal(bad.kind, 'rejected', 'sixteen digits say nothing certain');
});

test('MSH-18 8859/1: Latin-1 bytes are decoded (Norwegian and Dutch names), in a file and its batch envelope', async () => {
  const text = cr(
    'FHS|^~\\&|DIPS|HF|||20240102030405  ',
    'BHS|^~\\&|DIPS|HF|||20240102030405  ',
    'MSH|^~\\&|DIPS_INT|HAUK_HF|NHN_EDI|NHN|20240108102045||ADT^A01|C107|P|2.4|||AL|NE||8859/1  ',
    'EVN|A01|20240108102045',
    'PID|1||14039256789^^^HAUK_HF^PI||MÆLAND^ANNE^SOFIE||19920314|F|||Damsgårdsveien 88^^Bergen^^5058^NO',
    'PV1|1|I|MED1^308^02^HAUK_HF||||56789^ØDEGÅRD^THOMAS^^^DR||||||||||||V500',
    'BTS|1',
    'FTS|1',
  );
  const items: IngestItem[] = [];
  async function* one() {
    yield Buffer.from(text, 'latin1');
  }
  for await (const item of hl7v2Adapter.read(one(), 'f.hl7')) items.push(item);
  assert.equal(items.length, 1);
  const item = accepted(items[0]!);
  assert.deepEqual([item.identities[0]!.family, item.identities[0]!.address], ['MÆLAND', 'Damsgårdsveien 88']);
  assert.equal(resource<Encounter>(item, 'Encounter')!.id, 'V500');
});

test('Cerner UK words (an A08): name types Current/Preferred/Previous, PID-8 Female, address type home, PV1-2 Inpatient, the NHS number in PID-19', () => {
  const raw = cr(
    'MSH|^~\\&|P0241|HOSP|TIE|HOSP|20240209170901||ADT^A08|Q1||2.3',
    'EVN|A08|20240209170901',
    'PID|1|999999^^^Case Note Number^MRN^""|999998^^^Case Note Number^CNN~111111^^^Person ID^Person ID||MIAH^Jane^^^Miss^^Current~Miah^Janet^^^Miss^^Preferred~JONES^Jane^^^Miss^^Previous||19781030000000|Female|||Flat 1^15 Main Street^^London^N1 1AA^""^home~MAJOR HOUSE^CHURCH ROAD^^^^^Previous^LONDON||||||||9434765919',
    `PV1|1|Inpatient|OMU^B^Bed 03${'|'.repeat(16)}5000000^0^""^^Attendance No.`,
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  const who = item.identities[0]!;
  assert.deepEqual([who.id, who.nhsNumber, who.sex, who.family, who.given, who.postcode], ['999998', '9434765919', 'female', 'MIAH', 'Jane', 'N1 1AA']);
  const patient = resource<Patient>(item, 'Patient')!;
  assert.deepEqual(patient.name?.map((n) => [n.use, n.family]), [['official', 'MIAH'], ['usual', 'Miah'], ['old', 'JONES']]);
  assert.equal(resource<Encounter>(item, 'Encounter')!.class.code, 'IMP');
});

test('iPM: a typed NHS number (with its trace status in CX-2) outside PID-3 is still the NHS number', () => {
  const raw = cr('MSH|^~\\&|iPM|iIE|||20240124135111||ADT^A28|609299|P|2.4|||AL|AL', 'EVN|A28|20240124135111', 'PID|1|^^^^PAS||R1^""^^RDD^HOSP~943 476 5919^NSTS01^^NHS^NHS||DUMMY^PATIENT^^^Miss||19740613000000|F', 'PD1|||Dummy Practice^GPPRC^TEST1X|G0000001^Dummy^Leigh^^^Dr');
  const who = accepted(parseHl7Message(raw, 'f')).identities[0]!;
  assert.deepEqual([who.id, who.nhsNumber, who.practice], ['R1', '9434765919', 'TEST1X']);
});

test('an order trigger typed with a zero (ORM^001) is the order it can only be', () => {
  const raw = cr('MSH|^~\\&|RIS|HOSP|||200512301613||ORM^001|123456|P|2.0.0', 'PID|1670|1234567897|1|20504567|Zijp^Lambert||19591206|M', 'ORC|NW||2005-9999||SC||||200512301613', 'OBR|||2005-9999|1234^BRAIN||200512301613');
  const item = accepted(parseHl7Message(raw, 'f'));
  assert.deepEqual([item.event, item.resources.map((r) => r.resource.resourceType)], ['ORM^O01', ['ServiceRequest']]);
  assert.equal(ackCode(item, raw), 'AA');
});

test('MSH-18 ~ISO IR87 (Japanese, ISO 2022 escapes inside values) and ISO IR14 / Shift_JIS are decoded', () => {
  // 山田 in JIS X 0208 between ESC $ B and ESC ( B, as JAHIS and SS-MIX2 senders write names.
  const kanji = Buffer.from([0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42]);
  const bytes = Buffer.concat([
    Buffer.from('MSH|^~\\&|HIS|JP|||20240102030405||ADT^A08^ADT_A01|J1|P|2.5||||||~ISO IR87||ISO 2022-1994\rEVN||20240102030405\rPID|0001||P123^^^^PI||'),
    kanji,
    Buffer.from('^^^^^^L^I~YAMADA^TARO^^^^^L^A||19700101|M\r'),
  ]);
  const raw = decodeHl7Bytes(bytes);
  const item = accepted(parseHl7Message(raw, 'f'));
  assert.deepEqual([item.identities[0]!.id, item.identities[0]!.family], ['P123', '山田']);
  assert.deepEqual(resource<Patient>(item, 'Patient')!.name?.map((n) => n.family), ['山田', 'YAMADA']);
  assert.equal(ackCode(item, raw), 'AA');
  // Half-width katakana (ｱ, 0xB1 in JIS X 0201 / Shift_JIS) under ISO IR14.
  const sjis = Buffer.concat([Buffer.from('MSH|^~\\&|HIS|JP|||20240102030405||ADT^A08|J2|P|2.5||||||ISO IR14\rPID|1||P9^^^^PI||'), Buffer.from([0xb1]), Buffer.from('^T||19700101|M\r')]);
  assert.equal(accepted(parseHl7Message(decodeHl7Bytes(sjis), 'f')).identities[0]!.family, 'ｱ');
});

test('a merge whose PID carries only identifiers (IHE PIX, NHS Wales): the merge and the identity, no Patient to blank the survivor', () => {
  const raw = cr('MSH|^~\\&|169|169|100|100|20250618154752||ADT^A40^ADT_A39|M40|P|2.5.1|||||GBR||EN', 'EVN||||||20250618154752', 'PID|||9434765919^^^NHS^NH~700002^^^169^PI', 'MRG|700001^^^169^PI');
  const item = accepted(parseHl7Message(raw, 'f'));
  assert.deepEqual(item.resources, []);
  assert.deepEqual([item.identities[0]!.id, item.identities[0]!.nhsNumber], ['700002', '9434765919']);
  assert.deepEqual(item.merges, [{ kind: 'merge', system: 'hl7:169', survivorId: '700002', retiredId: '700001', event: 'ADT^A40' }]);
  assert.equal(ackCode(item, raw), 'AA');
  // With demographics the survivor's Patient goes in as before.
  const named = accepted(parseHl7Message(raw.replace('PID|||9434765919^^^NHS^NH~700002^^^169^PI', 'PID|||700002^^^169^PI||TEST^Pat'), 'f'));
  assert.deepEqual(named.resources.map((r) => r.resource.resourceType), ['Patient']);
});

test('a newborn-screening ORU with its HTML summary as ED: the report\'s presentedForm; an ED without data, or with data that is not base64, adds none', () => {
  const raw = cr(
    'MSH|^~\\&|NBS|STATE_LAB|||20240102030405||ORU^R01^ORU_R01|E1|P|2.5.1',
    'PID|1||N1^^^STATE^MR||Baby^Girl||20240101|F',
    'OBR|1||F500|57128-1^Newborn screening report^LN|||20240102',
    'OBX|1|ED|57129-9^Full newborn screening summary report^LN||^TEXT^html^Base64^PGh0bWw+PC9odG1sPg==||||||F',
    'OBX|2|ED|57129-9^Full newborn screening summary report^LN||^TEXT^html^Base64||||||F',
    'OBX|3|ED|57129-9^Full newborn screening summary report^LN||^TEXT^html^Base64^not base64!||||||F',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  const report = resource<{ presentedForm?: { contentType?: string; data?: string }[]; extension?: { valueAnnotation?: { text?: string } }[] }>(item, 'DiagnosticReport')!;
  assert.deepEqual(report.presentedForm?.map((a) => [a.contentType, a.data]), [['text/html', 'PGh0bWw+PC9odG1sPg==']]);
  assert.match(report.extension?.[0]?.valueAnnotation?.text ?? '', /ED data is not valid base64.*left out/);
  assert.equal(item.resources.filter((r) => r.resource.resourceType === 'Observation').length, 3);
  assert.equal(ackCode(item, raw), 'AA');
});
