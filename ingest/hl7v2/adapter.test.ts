import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiagnosticReport, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { hl7v2Adapter, parseHl7Message } from './adapter.ts';
import { hl7Time } from './hl7-text.ts';
import { A01, A03, A04, A08_NO_VISIT, A08_WITH_VISIT, A11, A13, A40, ORU, SIU, adt, msh, PID_SARAH, pv1, seg } from './fixtures/samples.ts';

async function* chunks(bytes: Buffer, size: number | (() => number)): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; ) {
    const n = Math.max(1, typeof size === 'number' ? size : size());
    yield bytes.subarray(i, i + n);
    i += n;
  }
}

async function readAll(input: Buffer | string, size: number | (() => number) = 65536): Promise<IngestItem[]> {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const out: IngestItem[] = [];
  for await (const item of hl7v2Adapter.read(chunks(bytes, size), 'adt.hl7')) out.push(item);
  return out;
}

function accepted(item: IngestItem | undefined): AcceptedItem {
  assert.ok(item, 'expected an item');
  assert.equal(item.kind, 'accepted', item.kind === 'rejected' ? item.reason : item.kind);
  return item as AcceptedItem;
}

function rejected(item: IngestItem | undefined): RejectedItem {
  assert.ok(item, 'expected an item');
  assert.equal(item.kind, 'rejected');
  return item as RejectedItem;
}

const resource = <T>(item: AcceptedItem, type: string, id?: string): T => {
  const r = item.resources.find((x) => x.resource.resourceType === type && (id === undefined || x.resource.id === id));
  assert.ok(r, `no ${type} ${id ?? ''}`);
  return r.resource as T;
};

test('sniff: MSH with separator, after BOM, whitespace or an MLLP start byte', () => {
  assert.equal(hl7v2Adapter.sniff('MSH|^~\\&|PAS'), true);
  assert.equal(hl7v2Adapter.sniff('\uFEFF\r\n  MSH|^~\\&|'), true);
  assert.equal(hl7v2Adapter.sniff('\x0bMSH|^~\\&|'), true);
  assert.equal(hl7v2Adapter.sniff('MSHX'), false);
  assert.equal(hl7v2Adapter.sniff('{"resourceType":"Bundle"}'), false);
  assert.equal(hl7v2Adapter.sniff('contact_id,client_id'), false);
});

test('ADT^A01: identity, Patient and in-progress Encounter', () => {
  const item = accepted(parseHl7Message(A01, 'f#1'));
  assert.equal(item.sourceSystem, 'hl7:RM2');
  assert.equal(item.messageId, 'MSG0001');
  assert.equal(item.event, 'ADT^A01');
  assert.equal(item.idIsUnique, true);
  assert.match(item.contentHash, /^[0-9a-f]{64}$/);
  assert.equal(item.raw, A01);
  assert.deepEqual(item.identities[0], {
    system: 'hl7:RM2',
    id: 'RM2000123',
    nhsNumber: '9434765919',
    family: 'Jones',
    given: 'Sarah Anne',
    birthDate: '1980-03-15',
    sex: 'female',
    postcode: 'M32 0XY',
    practice: 'P91001',
    address: '12 High Street',
    town: 'Stretford',
  });
  const patient = resource<Patient>(item, 'Patient', 'RM2000123');
  assert.deepEqual(patient.identifier?.find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number')?.value, '9434765919');
  assert.deepEqual(patient.name, [{ use: 'official', family: 'Jones', given: ['Sarah', 'Anne'], prefix: ['Mrs'] }]);
  assert.equal(patient.gender, 'female');
  assert.equal(patient.address?.[0].postalCode, 'M32 0XY');
  assert.equal(patient.generalPractitioner?.[0].identifier?.value, 'P91001');
  const enc = resource<Encounter>(item, 'Encounter', 'V000456');
  assert.equal(enc.status, 'in-progress');
  assert.deepEqual(enc.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' });
  assert.equal(enc.priority?.coding?.[0].code, 'EM');
  assert.deepEqual(enc.subject, { reference: 'Patient/RM2000123' });
  assert.deepEqual(enc.period, { start: '2025-03-01T12:00:00Z' });
  assert.equal(enc.location?.[0].location.display, 'WARD7 BAY2 BED3');
  for (const r of item.resources) assert.equal(r.sourceTime, '2025-03-01T12:30:00Z');
});

test('ADT^A03 finishes the encounter with end and discharge disposition; A13 reopens it', () => {
  const a03 = accepted(parseHl7Message(A03, 'f#1'));
  const enc = resource<Encounter>(a03, 'Encounter');
  assert.equal(enc.status, 'finished');
  assert.equal(enc.period?.end, '2025-03-05T10:15:00Z');
  assert.equal(enc.hospitalization?.dischargeDisposition?.coding?.[0].code, '01');
  assert.equal(a03.resources[0].sourceTime, '2025-03-05T10:20:00Z');
  const a13 = accepted(parseHl7Message(A13, 'f#2'));
  const reopened = resource<Encounter>(a13, 'Encounter');
  assert.equal(reopened.status, 'in-progress');
  assert.equal(reopened.period?.end, undefined);
  assert.equal(reopened.period?.start, '2025-03-01T12:00:00Z');
});

test('ADT^A04 A&E attendance is EMER; A11 cancels; A08 with and without a visit', () => {
  const a04 = resource<Encounter>(accepted(parseHl7Message(A04, 'f')), 'Encounter', 'AE778899');
  assert.equal(a04.class.code, 'EMER');
  assert.equal(a04.priority, undefined);
  assert.equal(a04.period?.start, '2025-03-02T23:05:00Z');
  assert.equal(resource<Encounter>(accepted(parseHl7Message(A11, 'f')), 'Encounter').status, 'cancelled');
  const a08 = accepted(parseHl7Message(A08_NO_VISIT, 'f'));
  assert.deepEqual(a08.resources.map((r) => r.resource.resourceType), ['Patient']);
  const a08v = accepted(parseHl7Message(A08_WITH_VISIT, 'f'));
  assert.deepEqual(a08v.resources.map((r) => r.resource.resourceType), ['Patient', 'Encounter']);
});

test('ADT^A40 is a merge of MRG-1 into PID-3', () => {
  const item = accepted(parseHl7Message(A40, 'f'));
  assert.deepEqual(item.merges, [{ kind: 'merge', system: 'hl7:RM2', survivorId: 'RM2000123', retiredId: 'RM2000999', event: 'ADT^A40' }]);
  assert.equal(item.identities[0]?.id, 'RM2000123');
  assert.deepEqual(item.resources.map((r) => r.resource.resourceType), ['Patient']);
  const noMrg = A40.replace(/MRG\|[^\r]*\r/, '');
  assert.equal(rejected(parseHl7Message(noMrg, 'f')).reason, 'ADT^A40 has no MRG segment (the patient identifier being merged)');
});

test('ORU^R01: DiagnosticReport and Observations with values, ranges, flags and times', () => {
  const item = accepted(parseHl7Message(ORU, 'f'));
  assert.equal(item.event, 'ORU^R01');
  const report = resource<DiagnosticReport>(item, 'DiagnosticReport', 'LAB123');
  assert.deepEqual(report.code.coding, [{ system: 'http://snomed.info/sct', code: '26604007', display: 'Full blood count' }]);
  assert.deepEqual(report.result, [{ reference: 'Observation/LAB123-1' }, { reference: 'Observation/LAB123-2' }, { reference: 'Observation/LAB123-3' }]);
  assert.equal(report.effectiveDateTime, '2025-03-03T08:00:00Z');
  const hb = resource<Observation>(item, 'Observation', 'LAB123-1');
  assert.equal(hb.code.coding?.[0].system, 'http://snomed.info/sct');
  assert.deepEqual(hb.valueQuantity, { value: 131, unit: 'g/L', system: 'http://unitsofmeasure.org', code: 'g/L' });
  assert.equal(hb.referenceRange?.[0].low?.value, 115);
  assert.equal(hb.referenceRange?.[0].high?.value, 165);
  assert.equal(hb.effectiveDateTime, '2025-03-03T08:00:00Z', 'falls back to OBR-7');
  assert.deepEqual(hb.subject, { reference: 'Patient/RM2000123' });
  const wbc = resource<Observation>(item, 'Observation', 'LAB123-2');
  assert.equal(wbc.interpretation?.[0].coding?.[0].code, 'H');
  assert.equal(wbc.effectiveDateTime, '2025-03-03T08:30:00Z');
  const comment = resource<Observation>(item, 'Observation', 'LAB123-3');
  assert.equal(comment.code.coding?.[0].system, undefined);
  assert.equal(comment.valueString, 'Sample & film reviewed| see \\notes\\ ^1~');
  // MSH-7 had +0100: the instant is UTC.
  assert.equal(item.resources[0].sourceTime, '2025-03-03T08:15:00Z');
});

test('other message types and ADT events that carry no patient are ignored', () => {
  for (const [text, event] of [[SIU, 'SIU^S12'], [adt('A20', 'BED1', []), 'ADT^A20']]) {
    const item = parseHl7Message(text, 'f');
    assert.equal(item.kind, 'ignored');
    assert.equal(item.kind === 'ignored' && item.event, event);
  }
});

test('HL7 times: offsets, precision, impossible values', () => {
  assert.equal(hl7Time('20250301123000')?.instant, '2025-03-01T12:30:00Z');
  assert.equal(hl7Time('20250701123000+0100')?.instant, '2025-07-01T11:30:00Z');
  assert.equal(hl7Time('20250301')?.dateTime, '2025-03-01');
  assert.equal(hl7Time('20230230'), undefined);
  assert.equal(hl7Time('20250301250000'), undefined);
});

test('specific rejection reasons', () => {
  const cases: Array<[string, string]> = [
    [A01.replace('MSH|^~\\&|', 'MSH|^~|'), 'MSH-2 encoding characters "^~\\&" expected, got "^~"'],
    [A01.replace('19800315', '19821340'), 'PID-7 "19821340" is not a valid date'],
    [A01.replace('19800315', '20230230'), 'PID-7 "20230230" is not a valid date'],
    [A01.replace(/PV1\|[^\r]*/, 'PV'), 'segment 5 "PV" is truncated or unknown'],
    [A01.replace(/PID\|[^\r]*\r/, ''), 'ADT^A01 has no PID segment'],
    ['EVN|A01|20250301\rPID|1||X^^^RM2^MR\r', 'no MSH segment'],
    [A01.replace('20250301123000', '20250231123000'), 'MSH-7 "20250231123000" is not a valid date/time'],
  ];
  for (const [text, reason] of cases) {
    const item = rejected(parseHl7Message(text, 'f#1'));
    assert.equal(item.reason, reason);
    assert.equal(item.raw, text);
  }
  const noId = rejected(parseHl7Message(adt('A01', 'X1', [seg('PV1', { 1: '1', 2: 'I', 44: '20250231' })]), 'f'));
  assert.equal(noId.reason, 'PV1-44 "20250231" is not a valid date/time (expected YYYYMMDD[HHMM[SS]][+/-ZZZZ])');
  assert.equal(noId.sourceSystem, 'hl7:RM2');
  assert.equal(noId.messageId, 'X1');
});

test('a file of messages streams the same whatever the chunk sizes', async () => {
  const file = [A01, A03, A04, A08_NO_VISIT, A11, A13, A40, ORU, SIU].join('\n');
  const whole = await readAll(file);
  assert.equal(whole.length, 9);
  assert.deepEqual(whole.map((i) => i.kind), ['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'ignored']);
  assert.deepEqual(whole.map((i) => i.origin), whole.map((_, n) => `adt.hl7#${n + 1}`));
  assert.deepEqual(await readAll(file, 1), whole);
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return 1 + (seed % 37);
  };
  for (let round = 0; round < 5; round++) assert.deepEqual(await readAll(file, random), whole);
});

test('CR, LF and CRLF copies give the same items and the same content hash; BOM and MLLP framing are tolerated', async () => {
  const cr = [A01, ORU].join('');
  const lf = cr.replace(/\r/g, '\n');
  const crlf = cr.replace(/\r/g, '\r\n');
  const framed = [A01, ORU].map((m) => `\x0b${m}\x1c\r`).join('');
  // raw keeps the line endings as received; everything else, the hash included, must be equal.
  const strip = (items: IngestItem[]) => items.map((i) => ({ ...i, origin: '', raw: '' }));
  const base = strip(await readAll(cr));
  assert.equal(base.length, 2);
  assert.deepEqual(strip(await readAll(lf)), base);
  assert.deepEqual(strip(await readAll(crlf, 3)), base);
  assert.deepEqual(strip(await readAll('\uFEFF' + crlf, 1)), base);
  assert.deepEqual(strip(await readAll(framed, 2)), base);
});

test('Latin-1 bytes are decoded as windows-1252; MSH-18 8859/1 is honoured', async () => {
  const latin = Buffer.from(A01.replace('Jones^Sarah', 'Jones^Zoë'), 'latin1');
  const [item] = await readAll(latin);
  assert.equal(accepted(item).identities[0]?.given, 'Zoë Anne');
  const utf8 = Buffer.from(A01.replace('Jones^Sarah', 'Jones^Zoë'), 'utf8');
  assert.equal(accepted((await readAll(utf8))[0]).identities[0]?.given, 'Zoë Anne');
  const declared = [msh({ type: 'ADT^A01', id: 'L1', charset: '8859/1' }), PID_SARAH.replace('Sarah', 'Zoë'), pv1({})].join('\r');
  assert.equal(accepted((await readAll(Buffer.from(declared, 'latin1')))[0]).identities[0]?.given, 'Zoë Anne');
});

test('bad inputs become rejections while the good messages around them go in', async () => {
  const bad = {
    noMsh: 'EVN|A01|20250301\rPID|1||X^^^RM2^MR\r',
    encoding: A01.replace('MSH|^~\\&|', 'MSH|^~|').replace('MSG0001', 'BAD1'),
    truncated: A01.replace(/PV1\|[^\r]*/, 'PV').replace('MSG0001', 'BAD2'),
    date: A01.replace('19800315', '20230230').replace('MSG0001', 'BAD3'),
  };
  const garbage = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) % 256).filter((b) => b !== 0x0d && b !== 0x0a));
  const file = Buffer.concat([
    Buffer.from(bad.noMsh),
    Buffer.from(A01),
    Buffer.from(bad.encoding),
    Buffer.from(A03),
    garbage,
    Buffer.from('\r\n'),
    Buffer.from(bad.truncated),
    Buffer.from(bad.date),
    Buffer.from(ORU),
  ]);
  for (const size of [65536, 1, 7]) {
    const items = await readAll(file, size);
    assert.deepEqual(items.map((i) => i.kind), ['rejected', 'accepted', 'rejected', 'accepted', 'rejected', 'rejected', 'rejected', 'accepted']);
    assert.match(rejected(items[0]).reason, /^no MSH segment/);
    assert.equal(rejected(items[2]).reason, 'MSH-2 encoding characters "^~\\&" expected, got "^~"');
    assert.equal(accepted(items[3]).messageId, 'MSG0003');
    assert.equal(accepted(items[3]).contentHash, accepted(parseHl7Message(A03, 'x')).contentHash, 'the garbage is not part of A03');
    assert.match(rejected(items[4]).reason, /^no MSH segment: \d+ bytes of binary data after message "MSG0003"/);
    assert.equal(rejected(items[5]).reason, 'segment 5 "PV" is truncated or unknown');
    assert.equal(rejected(items[6]).reason, 'PID-7 "20230230" is not a valid date');
    assert.equal(rejected(items[6]).messageId, 'BAD3');
    assert.equal(accepted(items[7]).event, 'ORU^R01');
    assert.deepEqual(items.map((i) => i.origin), items.map((_, n) => `adt.hl7#${n + 1}`));
  }
});

test('garbage binary alone, and garbage before the first MSH, are rejected without a crash', async () => {
  const garbage = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) % 256));
  const items = await readAll(garbage, 100);
  assert.equal(items.length, 1);
  assert.match(rejected(items[0]).reason, /^no MSH segment: 5000 bytes/);
  assert.ok(!rejected(items[0]).raw.includes('\u0000'), 'NUL is replaced so the raw can be stored');
  const mixed = await readAll(Buffer.concat([garbage, Buffer.from('\r'), Buffer.from(A01)]), 13);
  assert.deepEqual(mixed.map((i) => i.kind), ['rejected', 'accepted']);
});

test('an empty file yields no items; a whitespace-only file too', async () => {
  assert.deepEqual(await readAll(Buffer.alloc(0)), []);
  assert.deepEqual(await readAll('\r\n\r\n  \n'), []);
});

test('a message over the size limit is rejected with its head kept, and the next message still goes in', async () => {
  const { splitHl7Stream } = await import('./split.ts');
  const big = A01 + seg('NTE', { 3: 'x'.repeat(5000) }) + '\r';
  const pieces = [];
  for await (const p of splitHl7Stream(chunks(Buffer.from(big + A03), 64), 2000)) pieces.push(p);
  assert.equal(pieces.length, 2);
  assert.equal(pieces[0].oversize, true);
  assert.equal(pieces[0].totalBytes, Buffer.byteLength(big));
  assert.equal(pieces[1].oversize, false);
  assert.equal(pieces[1].bytes.toString(), A03);
});

test('a field containing MSH mid-segment does not split the message', async () => {
  const text = adt('A08', 'MSG-NTE', [seg('NTE', { 3: 'see MSH|x' })]);
  const items = await readAll(text, 1);
  assert.equal(items.length, 1);
  assert.equal(items[0].kind, 'accepted');
});

test('segments from another message stay out: an MSH seen mid-file starts a new message', async () => {
  const two = A01 + A40;
  const items = await readAll(two, 5);
  assert.deepEqual(items.map((i) => (i.kind === 'accepted' ? i.event : i.kind)), ['ADT^A01', 'ADT^A40']);
  assert.equal(accepted(items[0]).contentHash, accepted(parseHl7Message(A01, 'x')).contentHash);
});

test('the MSH of a message with no trailing segment separator is still read', async () => {
  const items = await readAll(A08_NO_VISIT.trimEnd() + '\nMSH', 4);
  assert.equal(items.length, 2);
  assert.equal(items[0].kind, 'accepted');
  assert.equal(rejected(items[1]).reason, 'MSH-1 field separator "" is not a valid separator');
});

test('the header builder makes what the tests expect', () => {
  assert.ok(msh({ type: 'ADT^A01', id: 'Z' }).startsWith('MSH|^~\\&|PAS|RM2|BEVAN|TRAFFORD|'));
});

test('a real 17 MiB message is rejected with a size reason and a truncated raw; the next message goes in', async () => {
  const big = A01 + seg('NTE', { 3: 'x'.repeat(17 * 1024 * 1024) }) + '\r';
  const items = await readAll(big + A03, 1024 * 1024);
  assert.equal(items.length, 2);
  const r = rejected(items[0]);
  assert.match(r.reason, /^message is 17\.0 MiB \(\d+ bytes\), larger than the 16\.0 MiB limit/);
  assert.equal(r.messageId, 'MSG0001');
  assert.equal(r.sourceSystem, 'hl7:RM2');
  assert.ok(r.raw.length <= 64 * 1024);
  assert.equal(accepted(items[1]).messageId, 'MSG0003');
});

test('ADT^A02 transfer keeps the encounter in progress at its new location', () => {
  const item = accepted(parseHl7Message(adt('A02', 'MSG0002', [pv1({ location: 'WARD9^BAY1^BED4^RM2' })]), 'f'));
  const enc = resource<Encounter>(item, 'Encounter', 'V000456');
  assert.equal(enc.status, 'in-progress');
  assert.equal(enc.location?.[0].location.display, 'WARD9 BAY1 BED4');
});
