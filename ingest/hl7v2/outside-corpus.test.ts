/**
 * Shapes found in an outside corpus of other people's HL7 v2 messages (docs/feeds.md "Stop 23:
 * outside corpus"), each rebuilt as a minimal synthetic message: HL7's v2-to-FHIR test messages
 * (Redox ISO dates), an HAPI-based converter's test resources (a doubled escape character), NHS
 * samples with only an NHS number, a file whose carriage returns were lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Encounter, Observation, Patient } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { accepted, cr, rejected, resource } from './fixtures/items.ts';
import { hl7Date, hl7Time, isoAsDtm } from './hl7-text.ts';
import { NHS_NUMBER_SYSTEM } from './patient.ts';
import { parseHl7Message } from './to-item.ts';
import { hl7v2Adapter } from './adapter.ts';

test('MSH-2 "^~\\\\&" (the escape character doubled on the way) is read as "^~\\&": escapes and subcomponents work', () => {
  const raw = cr(
    'MSH|^~\\\\&|PACS|RXX|BEVAN|TCCC|20240102030405||ORU^R01|D1|T|2.6',
    'PID|1||H100^^^RXX^MR||SMITH\\T\\SONS^ANN||19700101|F',
    'OBR|1|P1|F1|ECHO^Echo report',
    'OBX|1|TX|ECHO^Echo||Left \\T\\ right\\.br\\normal||||||F',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  assert.equal(item.identities[0]!.id, 'H100');
  assert.equal(item.identities[0]!.family, 'SMITH&SONS', '\\T\\ is the subcomponent separator, &');
  const obs = resource<Observation>(item, 'Observation')!;
  assert.equal(obs.valueString, 'Left & right\nnormal');
  // Separators that are not distinct still cannot be read.
  assert.match(rejected(parseHl7Message(raw.replace('^~\\\\&', '^^\\&'), 'f')).reason, /^MSH-2 encoding characters "\^~\\&" expected, got "\^\^\\\\&"$/);
  // The v2.7 truncation character is a fifth character too, and not a doubled one.
  assert.equal(accepted(parseHl7Message(raw.replace('^~\\\\&', '^~\\&#'), 'f')).identities[0]!.family, 'SMITH&SONS');
});

test('PID-3 holding only the NHS number (typed NH): the NHS number keys the record', () => {
  const raw = cr(
    'MSH|^~\\&|GPSYS|Y12345|BEVAN|TCCC|20160102101112||ADT^A01|N1|P|2.3',
    'PID|||9434765919^^^NHS^NH||Smith^John^Joe^^Mr||19700101|M|||1 The Road^^London^^SW1A 1AA^GBR',
    'PV1|1|I|^^^^^^^^Ward 4||||||||||||||||V00001|||||||||||||||||||||||||201508011000|201508011200',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  assert.deepEqual([item.identities[0]!.id, item.identities[0]!.nhsNumber, item.identities[0]!.postcode], ['9434765919', '9434765919', 'SW1A 1AA']);
  const patient = resource<Patient>(item, 'Patient')!;
  assert.ok(patient.identifier?.some((i) => i.system === NHS_NUMBER_SYSTEM && i.value === '9434765919'));
  assert.equal(resource<Encounter>(item, 'Encounter')!.id, 'V00001');
  // With a hospital number too, the hospital number is the key as before.
  const both = accepted(parseHl7Message(raw.replace('9434765919^^^NHS^NH', '9434765919^^^NHS^NH~R777^^^RXX^MR'), 'f'));
  assert.equal(both.identities[0]!.id, 'R777');
  // An NHS number in a result message names its patient the same way.
  const oru = cr('MSH|^~\\&|LAB|RXX|||20240102030405||ORU^R01|N2|P|2.4', 'PID|||9434765919^^^NHS^NH||Smith^John', 'OBR|1||F9|PT^INR', 'OBX|1|NM|PT^INR||2.5||||||F');
  assert.equal(accepted(parseHl7Message(oru, 'f')).identities[0]!.id, '9434765919');
  // No identifier at all is still refused: there is nothing to file the record under.
  assert.match(rejected(parseHl7Message(raw.replace('9434765919^^^NHS^NH', '^^^NHS^NH'), 'f')).reason, /^PID-3 patient identifier list has no identifier/);
});

test('ISO 8601 extended dates and times in DTM fields (as some interface engines write them) are read', () => {
  assert.equal(isoAsDtm('2018-01-01'), '20180101');
  assert.equal(isoAsDtm('2018-01-01T10:30:00+01:00'), '20180101103000+0100');
  assert.equal(isoAsDtm('2018-01-01T10:30Z'), '201801011030+0000');
  assert.equal(isoAsDtm('20180101'), '20180101', 'HL7 form unchanged');
  assert.equal(isoAsDtm('2018-13-01x'), '2018-13-01x', 'not ISO: unchanged (and then impossible)');
  assert.equal(hl7Date('1980-02-29'), '1980-02-29');
  assert.equal(hl7Date('1981-02-29'), undefined, 'an impossible ISO date is still impossible');
  assert.equal(hl7Time('2018-01-01T10:30:00+01:00')!.instant, '2018-01-01T09:30:00Z');
  assert.equal(hl7Time('2018-01-01')!.dateTime, '2018-01-01');

  const raw = cr(
    'MSH|^~\\&|REDOX|RDX|||20190504175608||ADT^A03|I1|T|2.3',
    'EVN|A03|20181017025543',
    'PID|||0000000001^^^MR||Bixby^Timothy^Paul||2008-01-06|M',
    'PV1||I|3N^136^B^General Hospital||||||||||||||||1234|||||||||||||||||||||||||20181016222805|2018-10-17T10:00:00Z',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  assert.equal(item.identities[0]!.birthDate, '2008-01-06');
  const enc = resource<Encounter>(item, 'Encounter')!;
  assert.deepEqual([enc.status, enc.period?.end], ['finished', '2018-10-17T10:00:00Z']);
  // A date that is impossible in either form quarantines the ADT as before, naming the field.
  assert.equal(rejected(parseHl7Message(raw.replace('2018-10-17T10:00:00Z', '2018-02-30'), 'f')).reason, 'PV1-45 "2018-02-30" is not a valid date/time (expected YYYYMMDD[HHMM[SS]][+/-ZZZZ])');
});

test('a billing message whose carriage returns were lost is quarantined with the reason, not ignored', () => {
  const runTogether = 'MSH|^~\\&|EHR|CLINIC|PM|CLINIC|20190416084748||DFT^P03|1477-3|P|2.3|||NE|NEEVN|P03|20190416084748PID|1|A4|640||Test^Patient||19700101|FPV1|1|R';
  const item = rejected(parseHl7Message(runTogether, 'f'));
  assert.match(item.reason, /^DFT\^P03 has no PID segment: "PID\|" appears inside segment 1 \(MSH\), so the segments were run together/);
  assert.equal(item.raw, runTogether, 'kept as it came, for repair');
  // The same message with its segments apart is read (billing: the identity only).
  const apart = cr('MSH|^~\\&|EHR|CLINIC|PM|CLINIC|20190416084748||DFT^P03|1477-3|P|2.3', 'EVN|P03|20190416084748', 'PID|1|A4|640||Test^Patient||19700101|F', 'PV1|1|R');
  assert.equal(accepted(parseHl7Message(apart, 'f')).identities[0]!.id, '640');
  // A message type Bevan does not use, without a PID, is still ignored.
  assert.equal(parseHl7Message(cr('MSH|^~\\&|EHR|CLINIC|||20190416084748||MFN^M02|M1|P|2.3', 'MFI|PRA'), 'f').kind, 'ignored');
});

test('ADT: several OBX with the same code and time (a report sent line by line) are each kept, with stable ids', () => {
  const raw = cr(
    'MSH|^~\\&|PAS|RXX|||20240102030405||ADT^A01|O1|T|2.6',
    'PID|1||H200^^^RXX^MR||DOE^JO||19800202|F',
    'PV1|1|I|W1||||||||||||||||V200',
    'OBX|1|TX|1234||Emergency Department||||||F|||20240102030000',
    'OBX|2|TX|1234||Arrival by ambulance||||||F|||20240102030000',
    'OBX|3|NM|29463-7^Weight^LN||70|kg|||||F|||20240102030000',
  );
  const item = accepted(parseHl7Message(raw, 'f'));
  const obs = item.resources.filter((r) => r.resource.resourceType === 'Observation').map((r) => r.resource as Observation);
  assert.equal(obs.length, 3);
  assert.equal(new Set(obs.map((o) => o.id)).size, 3, 'no two share an id');
  assert.deepEqual(obs.map((o) => o.valueString ?? o.valueQuantity?.value), ['Emergency Department', 'Arrival by ambulance', 70]);
  assert.ok(obs[1]!.id!.endsWith('-2') && obs[1]!.id!.startsWith(obs[0]!.id!));
  // The same message again gives the same ids.
  const again = accepted(parseHl7Message(raw, 'f')).resources.filter((r) => r.resource.resourceType === 'Observation').map((r) => r.resource.id);
  assert.deepEqual(again, obs.map((o) => o.id));
});

async function readAll(bytes: Buffer): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  for await (const item of hl7v2Adapter.read((async function* () { yield bytes; })(), 'file.hl7')) out.push(item);
  return out;
}

test('a file ending in padding (a DOS Ctrl-Z, NULs of a block-sized transfer) holds just its messages; real junk is still reported', async () => {
  const msg = (id: string) => cr(`MSH|^~\\&|PAS|RXX|||20240102030405||ADT^A08|${id}|P|2.4`, 'EVN|A08|20240102030405', 'PID|1||H1^^^RXX^MR||DOE^JO||19800202|F');
  for (const tail of ['\x1a', '\r\n\x1a', '\x00'.repeat(512), '\x1c\r']) {
    const items = await readAll(Buffer.from(msg('Z1') + tail + msg('Z2') + tail, 'latin1'));
    assert.deepEqual(items.map((i) => [i.kind, i.kind === 'rejected' ? i.reason : i.messageId]), [['accepted', 'Z1'], ['accepted', 'Z2']], JSON.stringify(tail));
  }
  const junk = await readAll(Buffer.concat([Buffer.from(msg('Z3'), 'latin1'), Buffer.from([0x01, 0x02, 0x03, 0xff, 0x00])]));
  assert.deepEqual(junk.map((i) => i.kind), ['accepted', 'rejected']);
  assert.match((junk[1] as RejectedItem).reason, /^no MSH segment: \d+ bytes of binary data after message "Z3"/);
});

test('OBX-5 "" (the HL7 null) is no value, not two quote marks', () => {
  const raw = cr('MSH|^~\\&|LAB|RXX|||20240102030405||ORU^R01|Q1|P|2.4', 'PID|1||H1^^^RXX^MR||DOE^JO', 'OBR|1||F1|GLU^Glucose', 'OBX|1|ST|GLU^Glucose||""||||||D', 'OBX|2|NM|NA^Sodium||""|mmol/L|||||D');
  const obs = accepted(parseHl7Message(raw, 'f')).resources.filter((r) => r.resource.resourceType === 'Observation').map((r) => r.resource as Observation);
  assert.equal(obs.length, 2);
  for (const o of obs) {
    assert.equal(o.valueString, undefined);
    assert.equal(o.valueQuantity, undefined);
    assert.equal(o.status, 'entered-in-error', 'OBX-11 D: the result deleted');
  }
});
