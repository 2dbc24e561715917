import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AcceptedItem, IngestItem, RejectedItem } from './model.ts';
import { adapterFor, detectFormat, readFeedFile, walkFeedFolder } from './detect.ts';
import { gpBundle } from './fhir/test-bundles.ts';

const dir = mkdtempSync(join(tmpdir(), 'bevan-detect-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(path: string): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  for await (const i of readFeedFile(path)) out.push(i);
  return out;
}

const CONTACT_HEADER =
  'contact_id,client_id,nhs_number,family_name,given_name,date_of_birth,sex,postcode,gp_practice,contact_date,service,team,contact_type,snomed_code,snomed_display,duration_minutes,staff_role';
const HL7_A01 = [
  'MSH|^~\\&|PAS|RM2|BEVAN|ICS|20240301101500||ADT^A01|MSG0001|P|2.4',
  'EVN|A01|20240301101500',
  'PID|1||H123456^^^RM2^MR~9434765919^^^NHS^NH||Testperson^Alex||19500314|F|||1 Test Street^^Town^^ZZ9 9ZZ',
  'PV1|1|I|WARD1^^^RM2||||||||||||||||V0001|||||||||||||||||||||||||20240301101500',
].join('\r');

test('detectFormat tells FHIR, HL7 v2 and CSV apart by content', () => {
  assert.equal(detectFormat('\uFEFF  {"resourceType":"Bundle"}'), 'fhir');
  assert.equal(detectFormat(`${HL7_A01}\r\n`), 'hl7v2');
  assert.equal(detectFormat(`${CONTACT_HEADER}\r\nCC1,...`), 'csv');
  assert.equal(detectFormat('hello world'), null);
  assert.equal(detectFormat(''), null);
  assert.equal(adapterFor('csv').format, 'csv');
});

test('readFeedFile: a file of each format goes through its adapter', async () => {
  const fhir = join(dir, 'gp.ndjson');
  writeFileSync(fhir, `${JSON.stringify(gpBundle({ patientId: 'a' }))}\n${JSON.stringify(gpBundle({ patientId: 'b' }))}\n`);
  const f = await collect(fhir);
  assert.deepEqual(
    f.map((i) => [i.kind, i.format, (i as AcceptedItem).identities[0]?.id]),
    [
      ['accepted', 'fhir', 'a'],
      ['accepted', 'fhir', 'b'],
    ],
  );
  assert.equal(f[0].origin, `${fhir}#1`);

  const hl7 = join(dir, 'adt.hl7');
  writeFileSync(hl7, `${HL7_A01}\r\n`);
  const h = await collect(hl7);
  assert.equal(h.length, 1);
  assert.equal(h[0].format, 'hl7v2');

  const csv = join(dir, 'contacts.csv');
  writeFileSync(csv, `\uFEFF${CONTACT_HEADER}\r\nCC1,CL1,,,,,,,,2024-01-01,,,,,,,\r\n`);
  const c = await collect(csv);
  assert.deepEqual(
    c.map((i) => [i.kind, i.format]),
    [['accepted', 'csv']],
  );
});

test('readFeedFile: an empty file and an unrecognised file are one rejection each', async () => {
  const empty = join(dir, 'empty.csv');
  writeFileSync(empty, '');
  const [e, ...more] = await collect(empty);
  assert.equal(more.length, 0);
  assert.equal((e as RejectedItem).reason, 'file is empty');

  const odd = join(dir, 'notes.txt');
  writeFileSync(odd, 'Dear colleague,\nplease see attached.\n');
  const [o] = await collect(odd);
  assert.equal(o.kind, 'rejected');
  assert.equal((o as RejectedItem).reason, 'not FHIR JSON, HL7 v2 or a known CSV contract: starts with "Dear colleague,\\nplease see attached.\\n"');
});

test('walkFeedFolder: recursive, sorted, skips truth/, hidden files and locality.json', async () => {
  const root = join(dir, 'feeds');
  for (const d of ['gp', 'hospital/mllp', 'truth', '.cache', 'community']) mkdirSync(join(root, d), { recursive: true });
  for (const f of ['locality.json', 'gp/P2.ndjson', 'gp/P1.ndjson', 'hospital/adt-2024.hl7', 'hospital/mllp/m1.hl7', 'truth/persons.ndjson', '.cache/x', 'gp/.hidden', 'community/contacts.csv']) {
    writeFileSync(join(root, f), 'x');
  }
  const got: string[] = [];
  for await (const p of walkFeedFolder(root)) got.push(p.slice(root.length + 1));
  assert.deepEqual(got, ['community/contacts.csv', 'gp/P1.ndjson', 'gp/P2.ndjson', 'hospital/adt-2024.hl7', 'hospital/mllp/m1.hl7']);
});

/** Writes `mb` MiB of one repeated unit after a prefix, with no newline anywhere. */
function writeSingleLine(path: string, prefix: string, unit: string, mb: number): void {
  const fd = openSync(path, 'w');
  writeSync(fd, prefix);
  const block = Buffer.from(unit.repeat(Math.floor((1024 * 1024) / unit.length)));
  for (let i = 0; i < mb; i++) writeSync(fd, block);
  closeSync(fd);
}

async function peakRssGrowth(path: string): Promise<{ growthMb: number; items: IngestItem[] }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const items: IngestItem[] = [];
  try {
    for await (const i of readFeedFile(path)) items.push(i);
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { growthMb: (peak - before) / 1e6, items };
}

test('a 200 MB single-line garbage file: rejected, memory stays flat', async () => {
  const path = join(dir, 'garbage.json');
  writeSingleLine(path, '{"resourceType":"Bundle","id":"x","note":"', 'A', 200);
  try {
    const { growthMb, items } = await peakRssGrowth(path);
    assert.equal(items.length, 1);
    assert.equal(items[0].kind, 'rejected');
    assert.match((items[0] as RejectedItem).reason, /^invalid JSON/);
    assert.ok((items[0] as RejectedItem).raw.length < 70_000, 'raw keeps only the head');
    assert.ok(growthMb < 200, `RSS grew by ${growthMb.toFixed(0)} MB`);
  } finally {
    rmSync(path, { force: true });
  }
});

test('a 64 MB single-line CSV-looking file: one rejection, memory stays flat', async () => {
  const path = join(dir, 'garbage.csv');
  writeSingleLine(path, 'contact_id,client_id,', 'abc_def,', 64);
  try {
    const { growthMb, items } = await peakRssGrowth(path);
    assert.deepEqual(
      items.map((i) => i.kind),
      ['rejected', 'rejected'],
    );
    assert.match((items[0] as RejectedItem).reason, /^line 1: the row is longer than/);
    assert.ok(growthMb < 200, `RSS grew by ${growthMb.toFixed(0)} MB`);
  } finally {
    rmSync(path, { force: true });
  }
});

test('UTF-16 input (BOM, or NULs between ASCII) is decoded and read like UTF-8', async () => {
  const fhir = join(dir, 'utf16le.json');
  writeFileSync(fhir, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(gpBundle({ patientId: 'u16' })), 'utf16le')]));
  const [f] = await collect(fhir);
  assert.equal(f!.kind, 'accepted');
  assert.equal((f as AcceptedItem).identities[0]?.id, 'u16');
  const hl7 = join(dir, 'utf16be.hl7');
  const le = Buffer.from(`${HL7_A01}\r\n`, 'utf16le');
  writeFileSync(hl7, Buffer.from(le.map((_, i) => le[i ^ 1]!))); // byte-swapped: UTF-16BE without a BOM
  const [h] = await collect(hl7);
  assert.equal(h!.format, 'hl7v2');
  assert.equal(h!.kind, 'accepted');
});

test('FHIR XML is read by the FHIR adapter, in UTF-8 or UTF-16', async () => {
  const patient = '<Patient xmlns="http://hl7.org/fhir"><id value="x1"/><meta><source value="gp:P91001"/></meta><name><family value="Synthetic"/></name></Patient>';
  const cases: [string, string | Buffer][] = [
    ['patient.xml', `<?xml version="1.0" encoding="UTF-8"?>\n${patient}`],
    ['utf16.xml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(patient, 'utf16le')])],
  ];
  for (const [name, content] of cases) {
    writeFileSync(join(dir, name), content);
    const items = await collect(join(dir, name));
    assert.equal(items.length, 1, name);
    assert.equal(items[0]!.format, 'fhir', name);
    assert.equal(items[0]!.kind, 'accepted', name);
  }
});

test('HL7 v2 XML, non-FHIR XML and compressed files are named in the reason', async () => {
  const cases: [string, string | Buffer, RegExp][] = [
    ['v2.xml', '<ADT_A01 xmlns="urn:hl7-org:v2xml"><MSH/></ADT_A01>', /^HL7 v2 XML encoding/],
    ['nons.xml', '<Bundle><link value="http://hl7.org/fhir"/></Bundle>', /root element is not in the FHIR namespace/],
    ['feed.gz', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), /gzip-compressed/],
    ['array.json', '[\n  {\n    "resourceType": "Patient",\n    "id": "a1"\n  }\n]', /^a JSON array of FHIR resources, .*as a Bundle \(type collection\), or as NDJSON/],
    ['array2.json', '[{"id":"a2","resourceType":"Observation"}]', /^a JSON array of FHIR resources/],
  ];
  for (const [name, content, reason] of cases) {
    writeFileSync(join(dir, name), content);
    const items = await collect(join(dir, name));
    assert.equal(items.length, 1);
    assert.match((items[0] as RejectedItem).reason, reason, name);
  }
});

test('a file that cannot be read is one rejection with the reason: gone, a folder, unreadable', async () => {
  const [gone] = await collect(join(dir, 'vanished.json'));
  assert.match((gone as RejectedItem).reason, /^the file could not be read: ENOENT/);
  mkdirSync(join(dir, 'a-folder'), { recursive: true });
  const [folder] = await collect(join(dir, 'a-folder'));
  assert.match((folder as RejectedItem).reason, /is a folder: ingest it as a folder/);
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked.json');
    writeFileSync(locked, '{}');
    chmodSync(locked, 0);
    const [l] = await collect(locked);
    assert.match((l as RejectedItem).reason, /^the file could not be read: EACCES/);
  }
});

test('symbolic links: followed inside the folders given, refused (with the reason) when they lead outside', async () => {
  const root = join(dir, 'linked');
  const outside = join(dir, 'outside');
  for (const d of [join(root, 'gp'), join(root, 'archive/2024'), outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(root, 'archive/2024/a.ndjson'), `${JSON.stringify(gpBundle({ patientId: 'in' }))}\n`);
  writeFileSync(join(outside, 'secret.ndjson'), `${JSON.stringify(gpBundle({ patientId: 'out' }))}\n`);
  symlinkSync(join(root, 'archive/2024'), join(root, 'gp/current')); // inside the folder given: followed
  symlinkSync(join(root, 'archive/2024/a.ndjson'), join(root, 'gp/same.ndjson')); // the same real file: listed once
  symlinkSync(join(outside, 'secret.ndjson'), join(root, 'gp/secret.ndjson')); // outside: refused
  symlinkSync(outside, join(root, 'gp/elsewhere')); // a folder outside: refused
  symlinkSync(join(root, 'nothing-here'), join(root, 'gp/broken.ndjson'));
  symlinkSync(root, join(root, 'archive/loop')); // a loop: walked once
  const listed: string[] = [];
  for await (const p of walkFeedFolder(root)) listed.push(p.slice(root.length + 1));
  assert.deepEqual(listed, ['archive/2024/a.ndjson', 'gp/broken.ndjson', 'gp/elsewhere', 'gp/secret.ndjson']);
  const reasons: string[] = [];
  for (const p of listed.slice(1)) for (const i of await collect(join(root, p))) reasons.push((i as RejectedItem).reason);
  assert.match(reasons[0]!, /^the file could not be read: ENOENT/);
  assert.match(reasons[1]!, /^not read: .*gp\/elsewhere is a symbolic link to .*outside, outside the folder that holds it/);
  assert.match(reasons[2]!, /^not read: .*gp\/secret.ndjson is a symbolic link to .*outside\/secret.ndjson, outside the folder that holds it; ingest .* itself/);
  // Named on the command line: a link to a folder elsewhere is not walked.
  const named: string[] = [];
  for await (const p of walkFeedFolder(join(root, 'gp/elsewhere'))) named.push(p);
  assert.deepEqual(named, [join(root, 'gp/elsewhere')]);
});

test('a file that opens with the batch protocol (FHS/BHS, as real senders write) is HL7 v2, and its messages are read', async () => {
  assert.equal(detectFormat(`FHS|^~\\&|||0.0.0.0.1|0.0.0.0.1|202106221314-0400\rBHS|^~\\&|||0.0.0.0.1\r${HL7_A01}\r`), 'hl7v2');
  assert.equal(detectFormat(`BHS|^~\\&|LAB\r${HL7_A01}\r`), 'hl7v2');
  assert.equal(detectFormat('FHSX not a segment'), null);
  const path = join(dir, 'batch.hl7');
  writeFileSync(path, `FHS|^~\\&|||0.0.0.0.1|0.0.0.0.1|202106221314-0400\rBHS|^~\\&|||0.0.0.0.1\r${HL7_A01}\rBTS|1\rFTS|1\r`);
  const items = await collect(path);
  assert.equal(items.length, 1);
  assert.equal(items[0]!.kind, 'accepted', JSON.stringify(items[0]));
});
