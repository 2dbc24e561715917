/**
 * Shapes found in the second outside corpus (docs/feeds.md "Stop 24: outside corpus, round 2"),
 * each rebuilt as a minimal synthetic message: an immunisation registry's acknowledgement whose
 * ERR names the PID segment, an Epic order whose telephone number was broken across two lines, a
 * UK Epic ADT naming one doctor three times (one identifier system each), an MDM whose TXA-3 says
 * TEXT, a scheduling system's own filler status "ARRIVED".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Appointment, DocumentReference, Encounter, ServiceRequest } from '@medplum/fhirtypes';
import type { AcceptedItem } from '../model.ts';
import { accepted, cr, rejected, resource } from './fixtures/items.ts';
import { parseHl7Message } from './to-item.ts';

test('an acknowledgement whose ERR names the PID segment is an acknowledgement (ignored), not a message whose carriage returns were lost', () => {
  const ack = cr(
    'MSH|^~\\&|REG|IIS|EHR|GP|20240102030405+0000||ACK^V04^ACK|A1|P|2.5.1',
    'MSA|AE|M1',
    'ERR||PID^1^5|101^required field missing^HL70357|E||||Patient name is required',
    'ERR||PID|100^required segment missing^HL70357|E||||PID is required segment',
    'ERR||PID|101|E',
  );
  const item = parseHl7Message(ack, 'f');
  assert.equal(item.kind, 'ignored', item.kind === 'rejected' ? item.reason : item.kind);
  // Carriage returns really lost are still told, whether the segment before ended in a value or
  // in an empty field.
  for (const glued of ['MSH|^~\\&|PAS|RXX|||20240102||DFT^P03|D1|P|2.5 EVN|P03 PID|1||H1^^^RXX^MR||SMITH^ANN', 'MSH|^~\\&|PAS|RXX|||20240102||DFT^P03|D1|P|2.5||PID|1||H1^^^RXX^MR||SMITH^ANN']) {
    assert.match(rejected(parseHl7Message(glued + '\r', 'f')).reason, /"PID\|" appears inside segment 1 \(MSH\), so the segments were run together/);
  }
});

test('a line that begins with a digit continues the segment before it (a value broken across lines), it is not a truncated segment', () => {
  const lines = [
    'MSH|^~\\&|EPIC|EPIC|||20140418173314|1148|ORM^O01|497|D|2.3',
    'PID|1||E5550001^^^^EPI||SAMPLE^JOHN^A||19661201|M',
    'ORC|NW|987654^EPIC|76543^EPC||SC||^^^20140418170014||20140418173314',
    'OBR|1|363463^EPC|1858^EPC|73610^X-RAY ANKLE 3+ VW||||||||||||D300^MASON^JAMES|(0161)496-',
    '0000||||||||F||^^^20140418170014|||||D301^MARSH^JEREMY',
  ];
  // LF throughout (as the file came): the break is read as a space.
  const lf = accepted(parseHl7Message(lines.join('\n') + '\n', 'f'));
  const order = resource<ServiceRequest>(lf, 'ServiceRequest')!;
  assert.equal(order.code?.coding?.[0]?.code, '73610');
  assert.equal(lf.raw?.split('\n').length, 6, 'the raw message is kept as sent');
  // CR-terminated segments with a bare LF inside a value: the LF is data, kept as a line break.
  const crItem = accepted(parseHl7Message(lines.slice(0, 4).join('\r') + '\n' + lines[4] + '\r', 'f'));
  assert.equal(resource<ServiceRequest>(crItem, 'ServiceRequest')!.code?.coding?.[0]?.code, '73610');
  // A short line that begins with a letter is still a truncated segment, with that reason.
  assert.match(rejected(parseHl7Message(cr(lines[0]!, lines[1]!, 'OB'), 'f')).reason, /^segment 3 "OB" is truncated or unknown$/);
});

test('PV1-7 repeating one doctor under three identifier systems is one attending doctor; other names are other doctors', () => {
  const doctor = 'DR1^OTTER^ANNA^^^^^^CONS^^^^CONS~C7654321^OTTER^ANNA^^^^^^CDS^^^^CDS~981^OTTER^ANNA^^^^^^PROVID^^^^PROVID';
  const raw = cr(
    'MSH|^~\\&|EPIC|RRV|||20130211100052||ADT^A01|E1|T|2.4',
    'EVN|A01|20130211100052',
    'PID|1||H7700001^^^RRV^MR~9434765919^^^NHS^HN||TESTER^ALEX||19800101|F',
    `PV1|1|I|T42E^BY02^17||||${doctor}|R10001^WREN^GM^^^DR~R10002^ROBIN^M^^^DR|~C2001^HERON^JO|Anaes|||||||${doctor}||123412341234`,
  );
  const enc = resource<Encounter>(accepted(parseHl7Message(raw, 'f')), 'Encounter')!;
  const byType = (code: string) => (enc.participant ?? []).filter((p) => p.type?.[0]?.coding?.[0]?.code === code).map((p) => [p.individual?.identifier?.value, p.individual?.display]);
  assert.deepEqual(byType('ATND'), [['DR1', 'ANNA OTTER']], 'one attending doctor, its first identifier');
  assert.deepEqual(byType('ADM'), [['DR1', 'ANNA OTTER']]);
  assert.deepEqual(byType('REF'), [['R10001', 'DR GM WREN'], ['R10002', 'DR M ROBIN']], 'two names are two referrers');
  assert.deepEqual(byType('CON'), [['C2001', 'JO HERON']], 'an empty first repetition (the legal name left out) is skipped');
});

test('MDM: TXA-3 "TEXT" (table 0191, machine readable text) is text/plain, not the made-up text/text', () => {
  const raw = (presentation: string) =>
    cr(
      'MSH|^~\\&|DICT|RXX|BEVAN|TCCC|20240101120000||MDM^T02^MDM_T02|M1|P|2.5',
      'PID|1||H200^^^RXX^MR||DOE^JOHN||19800101|M',
      `TXA|1|DS^Discharge summary|${presentation}|20240101120000|||||||DOC1|||||AU||AV`,
      'OBX|1|TX|NOTE^Clinical note||Patient is doing well.|||F',
    );
  const type = (presentation: string) => resource<DocumentReference>(accepted(parseHl7Message(raw(presentation), 'f')), 'DocumentReference')!.content[0]!.attachment.contentType;
  assert.equal(type('TEXT^Plain Text^HL70191'), 'text/plain; charset=utf-8');
  assert.equal(type('TX'), 'text/plain; charset=utf-8');
  assert.equal(type('AP'), 'text/plain; charset=utf-8', 'a code for another kind of content does not make text something else');
  assert.equal(type('RTF'), 'text/rtf');
});

test('SIU: a scheduling system\'s own filler status (SCH-25 "ARRIVED", "Checked In") is read as the FHIR status it names', () => {
  const raw = (status: string) =>
    cr(
      'MSH|^~\\&|GPMS|CTX||MED2000|200803060953||SIU^S14|S1|P|2.3',
      `SCH|A77000123|||||58||HLCK^HEALTHCHECK|20|MIN|^^^200803061000|||||JOHN||||VALERIE|||||${status}`,
      'PID|1||P600777||JONES^MICHAEL||20080205|F',
      'AIP|1||RN9^PORTER^LISA|50',
    );
  const status = (s: string) => resource<Appointment>(accepted(parseHl7Message(raw(s), 'f')), 'Appointment')!.status;
  assert.equal(status('ARRIVED'), 'arrived');
  assert.equal(status('Checked In'), 'checked-in');
  assert.equal(status('NO SHOW'), 'noshow');
  assert.equal(status('Booked'), 'booked');
  assert.equal(status('SOMETHING ELSE'), 'booked', 'a status with no FHIR meaning stays booked, as before');
});

test('PID-5 XPN-4 suffix and XPN-5 prefix are kept on the Patient name (were dropped)', () => {
  const raw = cr(
    'MSH|^~\\&|MegaReg|XYZHospC|SuperOE|XYZImgCtr|20060529090131-0500||ADT^A01^ADT_A01|W1|P|2.5',
    'EVN||200605290901',
    'PID|||W1000234^^^WREG^PI||EXAMPLE^BEN^Q^JR~PRIOR^Sara^^^MRS^^M||19620910|M',
    'PV1||I|W^389^1',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  const patient = resource<{ resourceType: 'Patient'; name?: Array<Record<string, unknown>> }>(item, 'Patient')!;
  assert.deepEqual(patient.name?.[0], { use: 'official', family: 'EXAMPLE', given: ['BEN', 'Q'], suffix: ['JR'] });
  assert.deepEqual(patient.name?.[1], { use: 'maiden', family: 'PRIOR', given: ['Sara'], prefix: ['MRS'] });
  assert.equal(item.identities[0]!.given, 'BEN Q', 'the identity the matcher uses is as before');
});

test('coding systems of the IIS guide and NIST messages: NCIT (RXR-1 route) and I9CDX (ICD-9-CM diagnosis) get their URIs', () => {
  const raw = cr(
    'MSH|^~\\&|MYEHR|DCS|MYIIS||20120113000000-0500||VXU^V04^VXU_V04|V1|P|2.5.1',
    'PID|1||C880011^^^dcs^MR||Pupil^Jamie||20110411|M',
    'ORC|RE||65930^DCS',
    'RXA|0|1|20120113||110^DTaP HIB IPV^CVX|0.5|mL^^UCUM||00^New admin^NIP001',
    'RXR|C28161^IM^NCIT^IM^^HL70162|RT^Right Thigh^HL70163',
  );
  const imm = resource<{ resourceType: 'Immunization'; route?: { coding?: Array<{ system?: string; code?: string }> } }>(accepted(parseHl7Message(raw, 'f')), 'Immunization')!;
  assert.deepEqual(imm.route?.coding?.map((c) => [c.system, c.code]), [
    ['http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl', 'C28161'],
    ['http://terminology.hl7.org/CodeSystem/v2-0162', 'IM'],
  ]);
});

test('ADD segments continue the segment before them: a lab comment sent as NTE then ADD, ADD is kept whole (was dropped)', () => {
  const raw = cr(
    'MSH|^~\\&|FDHL7|LABS||P1055|201007231634||ORU^R01|L1|P|2.3',
    'PID|1||L4400921||TESTCASE^JUNIOR||19480110|M',
    'OBR|1||L4400921|CHEM^CHEMISTRY||201007221041|||||||||||||||||201007231634|||F',
    'OBX|1|NM|0070-3^Creatinine||1.1|mg/dl|0.6-1.3||||F',
    'NTE|1|L|eGFR uses the MDRD formula ',
    'ADD|and assumes a body surface area of 1.73.',
    'ADD| A result below 60 suggests chronic kidney disease.',
    'OBX|2|NM|0050-5^Calcium||8.9|mg/dl|8.4-10.4||||F',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  const obs = item.resources.map((r) => r.resource).filter((r) => r.resourceType === 'Observation') as Array<{ note?: Array<{ text: string }>; valueQuantity?: { value?: number } }>;
  assert.equal(obs.length, 2, 'the ADD lines are not read as results, and the OBX after them is still read');
  assert.equal(obs[0]!.note?.[0]?.text, 'eGFR uses the MDRD formula and assumes a body surface area of 1.73. A result below 60 suggests chronic kidney disease.');
  assert.equal(obs[1]!.valueQuantity?.value, 8.9);
});

test('ServiceRequest.category: OBR-24 when sent; else an OML is laboratory and an OMI imaging, and an ORM^O01 (an Epic radiology order) has none rather than "Laboratory procedure"', () => {
  const raw = (type: string, section: string) =>
    cr(
      `MSH|^~\\&|EPIC|EPIC|||20140418173314||${type}|O1|P|2.5`,
      'PID|1||E5550001^^^^EPI||SAMPLE^JOHN||19661201|M',
      'ORC|NW|987654^EPIC|76543^EPC',
      `OBR|1|987654^EPIC|76543^EPC|73610^X-RAY ANKLE 3+ VW||||||||||||||||||||${section}|F`,
    );
  const category = (type: string, section: string) =>
    resource<ServiceRequest>(accepted(parseHl7Message(raw(type, section), 'f')), 'ServiceRequest')!.category?.map((c) => c.coding?.[0]?.code);
  assert.equal(category('ORM^O01', ''), undefined);
  assert.deepEqual(category('ORM^O01', 'RAD'), ['RAD']);
  assert.deepEqual(category('ORM^O01', 'LAB'), ['108252007']);
  assert.deepEqual(category('OML^O21', ''), ['108252007']);
  assert.deepEqual(category('OMI^O23', ''), ['363679005']);
});
