import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { createFhirAdapter, fhirAdapter } from './adapter.ts';
import { gpBundle } from './test-bundles.ts';
import { syntheaBundle } from './fixtures/synthea.ts';

async function* chunks(data: string | Buffer, size = 7): AsyncIterable<Buffer> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function readAll(data: string | Buffer, adapter = fhirAdapter, size = 7): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  for await (const item of adapter.read(chunks(data, size), 'gp/P91001.ndjson')) out.push(item);
  return out;
}

const accepted = (items: IngestItem[]) => items.filter((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');

test('sniff: JSON objects after whitespace or a BOM', () => {
  assert.equal(fhirAdapter.sniff('  \n{"resourceType":"Bundle"'), true);
  assert.equal(fhirAdapter.sniff('\uFEFF{'), true);
  assert.equal(fhirAdapter.sniff('MSH|^~\\&|'), false);
  assert.equal(fhirAdapter.sniff('a,b,c'), false);
});

test('a collection bundle: identity, resources, ids, references, hashes', async () => {
  const line = JSON.stringify(gpBundle({ observations: 2 }));
  const items = await readAll(line + '\n');
  assert.equal(items.length, 1);
  const [item] = accepted(items);
  assert.equal(item.format, 'fhir');
  assert.equal(item.sourceSystem, 'gp:P91001');
  assert.equal(item.messageId, 'bundle-pat-1');
  assert.equal(item.event, 'collection');
  assert.equal(item.idIsUnique, false);
  assert.equal(item.contentHash, createHash('sha256').update(line).digest('hex'));
  assert.equal(item.origin, 'gp/P91001.ndjson#1');
  assert.deepEqual(item.identities[0], {
    system: 'gp:P91001',
    id: 'pat-1',
    nhsNumber: '9434765919',
    family: 'Testperson',
    given: 'Alexandra Jane',
    birthDate: '1948-02-29',
    sex: 'female',
    postcode: 'ZZ9 9ZZ',
    practice: 'P91001',
    identifiers: [{ system: 'https://gp.example/local', value: 'L1' }],
  });
  assert.deepEqual(
    item.resources.map((r) => `${r.resource.resourceType}/${r.resource.id}`),
    ['Patient/pat-1', 'Condition/cond-1', 'Observation/obs-0', 'Observation/obs-1'],
  );
  assert.equal(item.resources[0].sourceTime, '2024-03-01T10:00:00Z');
  assert.equal(item.resources[1].sourceTime, undefined);
});

test('every R4 bundle type is accepted, others rejected', async () => {
  for (const type of ['collection', 'transaction', 'batch', 'searchset', 'document', 'message', 'history', 'transaction-response', 'batch-response']) {
    const [item] = await readAll(JSON.stringify(gpBundle({ type })));
    assert.equal(item.kind, 'accepted', type);
    assert.equal((item as AcceptedItem).event, type);
  }
  const [bad] = await readAll(JSON.stringify(gpBundle({ type: 'bag' })));
  assert.equal(bad.kind, 'rejected');
  assert.match((bad as RejectedItem).reason, /Bundle.type "bag" is not a FHIR R4 bundle type/);
});

test('urn:uuid references are rewritten to Type/id; ids come from fullUrl', async () => {
  const items = await readAll(JSON.stringify(gpBundle({ useUrnUuids: true })));
  const [item] = accepted(items);
  assert.equal(rejected(items).length, 0);
  const patient = item.resources[0].resource;
  assert.equal(patient.id, 'pat-1');
  const cond = item.resources[1].resource as { id?: string; subject: { reference: string } };
  assert.equal(cond.id, 'cond-1');
  assert.equal(cond.subject.reference, 'Patient/pat-1');
});

test('source system from the Patient ODS code when Bundle.meta.source is absent; else fhir:unknown', async () => {
  const [item] = await readAll(JSON.stringify(gpBundle({ source: null, ods: 'Y12345' })));
  assert.equal((item as AcceptedItem).sourceSystem, 'gp:Y12345');
  const b = gpBundle({ source: null });
  const patient = (b.entry as { resource: Record<string, unknown> }[])[0].resource;
  delete patient.generalPractitioner;
  // meta.source is optional in R4: a bundle that names its sender nowhere is read as fhir:unknown.
  const [unnamed] = await readAll(JSON.stringify(b));
  assert.equal(unnamed.kind, 'accepted');
  assert.equal((unnamed as AcceptedItem).sourceSystem, 'fhir:unknown');
  // The feed's configured source (`--source`) overrides whatever the bundle says.
  const items = [];
  for await (const i of fhirAdapter.read(chunks(JSON.stringify(b)), 'x.json', { source: 'gp:CONFIGURED' })) items.push(i);
  assert.equal((items[0] as AcceptedItem).sourceSystem, 'gp:CONFIGURED');
  const withMeta = gpBundle({ source: 'gp:FROM-META' });
  const again = [];
  for await (const i of fhirAdapter.read(chunks(JSON.stringify(withMeta)), 'x.json', { source: 'gp:CONFIGURED' })) again.push(i);
  assert.equal((again[0] as AcceptedItem).sourceSystem, 'gp:CONFIGURED');
});

test('NDJSON: an invalid JSON line is rejected with its line number, the others go in', async () => {
  const good1 = JSON.stringify(gpBundle({ patientId: 'a' }));
  const good2 = JSON.stringify(gpBundle({ patientId: 'b' }));
  const text = `${good1}\r\n{"resourceType":"Bundle",,}\r\n\r\n${good2}\r\n`;
  const items = await readAll(text);
  assert.deepEqual(
    accepted(items).map((i) => i.identities[0]?.id),
    ['a', 'b'],
  );
  const [bad] = rejected(items);
  assert.match(bad.reason, /^invalid JSON at line 2: /);
  assert.equal(bad.raw, '{"resourceType":"Bundle",,}');
  assert.equal(accepted(items)[1].origin, 'gp/P91001.ndjson#4');
});

test('NDJSON whose first line is broken still reads the good lines', async () => {
  const text = `{"broken\n${JSON.stringify(gpBundle({ patientId: 'z' }))}\n`;
  const items = await readAll(text);
  assert.equal(accepted(items).length, 1);
  assert.match(rejected(items)[0].reason, /^invalid JSON at line 1/);
});

test('an unknown resource type rejects that entry only', async () => {
  const b = gpBundle({ extra: [{ resourceType: 'Spaceship', id: 's1' }] });
  const items = await readAll(JSON.stringify(b));
  assert.equal(accepted(items)[0].resources.length, 3);
  const [bad] = rejected(items);
  assert.match(bad.reason, /unknown resource type Spaceship: not a FHIR R4 resource type/);
  assert.deepEqual(JSON.parse(bad.raw), { resource: { resourceType: 'Spaceship', id: 's1' } });
  assert.equal(bad.messageId, 'bundle-pat-1');
  assert.equal(bad.sourceSystem, 'gp:P91001');
});

test('literal references outside the bundle are kept (resolved within the source); a urn:uuid that names no entry rejects its entry', async () => {
  const b = gpBundle({
    extra: [
      { resourceType: 'Observation', id: 'o-out', status: 'final', subject: { reference: 'Patient/pat-1' }, encounter: { reference: 'Encounter/elsewhere-9' } },
      { resourceType: 'Observation', id: 'o-bad', status: 'final', subject: { reference: 'Patient/pat-1' }, encounter: { reference: 'urn:uuid:0000-missing' } },
      { resourceType: 'Encounter', id: 'e1', status: 'finished', subject: { reference: 'Patient/pat-1' }, serviceProvider: { reference: 'Organization/elsewhere' } },
    ],
  });
  const items = await readAll(JSON.stringify(b));
  const ids = accepted(items)[0].resources.map((r) => r.resource.id);
  assert.ok(ids.includes('e1') && ids.includes('o-out'));
  assert.ok(!ids.includes('o-bad'));
  const reasons = rejected(items).map((r) => r.reason);
  assert.deepEqual(reasons, ['entry 5 (Observation/o-bad): reference "urn:uuid:0000-missing" names no entry of this bundle']);
});

test('impossible dates reject the entry; an impossible birth date rejects the bundle', async () => {
  const b = gpBundle({ extra: [{ resourceType: 'Condition', id: 'c2', subject: { reference: 'Patient/pat-1' }, onsetDateTime: '2023-02-30' }] });
  const items = await readAll(JSON.stringify(b));
  assert.equal(accepted(items).length, 1);
  assert.match(rejected(items)[0].reason, /Condition.onsetDateTime "2023-02-30" is not a valid date/);

  const p = gpBundle({ extra: [{ resourceType: 'Encounter', id: 'e2', status: 'finished', subject: { reference: 'Patient/pat-1' }, period: { start: '2023-01-01T25:00:00Z' } }] });
  assert.match(rejected(await readAll(JSON.stringify(p)))[0].reason, /Encounter.period.start/);

  const q = gpBundle();
  ((q.entry as { resource: Record<string, unknown> }[])[0].resource).birthDate = '1982-13-40';
  const all = await readAll(JSON.stringify(q));
  assert.equal(all.length, 1);
  assert.match((all[0] as RejectedItem).reason, /Patient.birthDate "1982-13-40" is not a valid date/);
});

test('a bundle of non-personal entries needs no Patient', async () => {
  const orgs = {
    resourceType: 'Bundle',
    id: 'dir-1',
    type: 'batch',
    meta: { source: 'gp:P91001' },
    entry: [{ resource: { resourceType: 'Organization', id: 'o1', name: 'Surgery' } }, { resource: { resourceType: 'Practitioner', id: 'gp-7' } }],
  };
  const [ok, ...more] = await readAll(JSON.stringify(orgs));
  assert.equal(more.length, 0);
  assert.equal(ok.kind, 'accepted');
  assert.deepEqual((ok as AcceptedItem).identities, []);
  assert.deepEqual((ok as AcceptedItem).resources.map((r) => r.subject), [undefined, undefined]);
});

test('bare resources (Bulk Data NDJSON): each line an item, its Patient named as subject', async () => {
  const patient = { resourceType: 'Patient', id: 'p9', meta: { source: 'gp:P91001' }, birthDate: '1970-01-01' };
  const obs = { resourceType: 'Observation', id: 'o9', status: 'final', subject: { reference: 'Patient/p9' } };
  const claim = { resourceType: 'Claim', id: 'c9', patient: { reference: 'Patient/p9' } };
  const text = `${JSON.stringify(patient)}\n${JSON.stringify(obs)}\n${JSON.stringify(claim)}\n`;
  const items: IngestItem[] = [];
  for await (const i of fhirAdapter.read(chunks(text), 'Observation.ndjson', { source: 'bulk:test' })) items.push(i);
  assert.deepEqual(
    items.map((i) => [i.kind, (i as AcceptedItem).messageId, (i as AcceptedItem).resources[0]?.subject, (i as AcceptedItem).identities.map((x) => x.id)]),
    [
      ['accepted', 'Patient/p9', 'p9', ['p9']],
      ['accepted', 'Observation/o9', 'p9', []],
      ['accepted', 'Claim/c9', 'p9', []],
    ],
  );
  assert.equal((items[1] as AcceptedItem).sourceSystem, 'bulk:test');
  assert.equal((items[1] as AcceptedItem).contentHash, createHash('sha256').update(JSON.stringify(obs)).digest('hex'));
  // Without a configured source, a line's own meta.source serves; else fhir:unknown.
  const plain = await readAll(`${JSON.stringify(patient)}\n${JSON.stringify(obs)}\n${JSON.stringify({ ...obs, id: undefined })}\n`);
  assert.equal((plain[0] as AcceptedItem).sourceSystem, 'gp:P91001');
  assert.equal((plain[1] as AcceptedItem).sourceSystem, 'fhir:unknown');
  // A line without an id is kept under an id from its content (the body of a FHIR create).
  assert.equal(plain[2]!.kind, 'accepted');
  assert.match((plain[2] as AcceptedItem).messageId, /^Observation\/[0-9a-f]{64}$/);
});

test('Patient.link replaced-by becomes a merge instruction', async () => {
  const b = gpBundle();
  ((b.entry as { resource: Record<string, unknown> }[])[0].resource).link = [{ type: 'replaced-by', other: { reference: 'Patient/pat-0' } }];
  const [item] = await readAll(JSON.stringify(b));
  assert.deepEqual((item as AcceptedItem).merges, [{ kind: 'merge', system: 'gp:P91001', survivorId: 'pat-0', retiredId: 'pat-1', event: 'Patient.link replaced-by' }]);
});

test('a pretty-printed single Bundle file with a BOM', async () => {
  const text = `\uFEFF${JSON.stringify(gpBundle({ type: 'transaction' }), null, 2)}\n`;
  const items = await readAll(text);
  assert.equal(items.length, 1);
  const item = items[0] as AcceptedItem;
  assert.equal(item.event, 'transaction');
  assert.equal(item.origin, 'gp/P91001.ndjson');
  assert.equal(item.contentHash, createHash('sha256').update(text.slice(1)).digest('hex'));
});

test('Latin-1 text is decoded as windows-1252', async () => {
  const b = gpBundle();
  ((b.entry as { resource: Record<string, unknown> }[])[0].resource).name = [{ family: 'Lefèvre', given: ['Zoë'] }];
  const bytes = Buffer.from(JSON.stringify(b) + '\n', 'latin1');
  const [item] = await readAll(bytes);
  assert.equal((item as AcceptedItem).identities[0]?.family, 'Lefèvre');
  assert.equal((item as AcceptedItem).identities[0]?.given, 'Zoë');
});

test('a large single Bundle is streamed and yields the same items as the small path', async () => {
  const b = gpBundle({ observations: 20_000, extra: [{ resourceType: 'Spaceship', id: 's1' }] });
  const text = JSON.stringify(b, null, 1);
  const small = await readAll(text, fhirAdapter, 1024 * 1024);
  const streamed = await readAll(text, createFhirAdapter({ wholeFileBytes: 64 * 1024 }), 256 * 1024);
  assert.equal(accepted(small)[0].resources.length, 20_002);
  assert.equal(rejected(small).length, 1);
  assert.deepEqual(streamed, small);
});

test('streamed invalid JSON and an over-long NDJSON line are rejected, not thrown', async () => {
  const streamingAdapter = createFhirAdapter({ wholeFileBytes: 1024, maxLineBytes: 2048 });
  const broken = `{\n"resourceType": "Bundle",\n"entry": [ ${'{"resource": {}}, '.repeat(200)} oops ]}`;
  const [bad] = await readAll(broken, streamingAdapter);
  assert.equal(bad.kind, 'rejected');
  assert.match((bad as RejectedItem).reason, /^invalid JSON: /);

  const good = JSON.stringify(gpBundle({ observations: 0, patientId: 'short' }));
  const long = JSON.stringify(gpBundle({ observations: 30, patientId: 'long' }));
  const items = await readAll(`${good}\n${long}\n${good}\n`, createFhirAdapter({ maxLineBytes: 4096 }));
  assert.deepEqual(
    items.map((i) => i.kind),
    ['accepted', 'rejected', 'accepted'],
  );
  assert.match((items[1] as RejectedItem).reason, /line 2 is longer than 4096 bytes/);
});

test('a Synthea-shaped bundle of a few MB streams to the same items as the whole-file path', async () => {
  const text = JSON.stringify(syntheaBundle({ seed: 9, encounters: 120 }), null, 2);
  assert.ok(text.length > 2_000_000, `${text.length} characters`);
  const read = async (adapter: typeof fhirAdapter) => {
    const out: IngestItem[] = [];
    for await (const i of adapter.read(chunks(text, 256 * 1024), 'synthea.json', { source: 'synthea' })) out.push(i);
    return out;
  };
  const whole = await read(fhirAdapter);
  const streamed = await read(createFhirAdapter({ wholeFileBytes: 64 * 1024 }));
  assert.equal(whole.length, 1);
  assert.ok((whole[0] as AcceptedItem).resources.length > 1500);
  assert.deepEqual(streamed, whole);
});

test('NDJSON larger than a whole-file read, its first line ending in the first chunk read, is still read line by line', async () => {
  const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ resourceType: 'Observation', id: `o${i}`, status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p' } }));
  const items = await readAll(lines.join('\n') + '\n', createFhirAdapter({ wholeFileBytes: 4096 }), 64 * 1024);
  assert.equal(items.length, 200);
  assert.ok(items.every((i) => i.kind === 'accepted'));
});
