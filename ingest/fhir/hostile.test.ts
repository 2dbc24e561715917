/** Hostile FHIR input: each bad entry or line gets a reason; nothing else in its file is lost. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { createFhirAdapter, fhirAdapter } from './adapter.ts';
import { gpBundle } from './test-bundles.ts';

async function* chunks(data: string, size = 64 * 1024): AsyncIterable<Buffer> {
  const buf = Buffer.from(data, 'utf8');
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function readAll(data: string, adapter = fhirAdapter): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  for await (const item of adapter.read(chunks(data), 'hostile.json')) out.push(item);
  return out;
}
const streaming = createFhirAdapter({ wholeFileBytes: 1024 });
const accepted = (items: IngestItem[]) => items.filter((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');

/** A bundle text with one extra entry spliced in as raw JSON text. */
function withEntry(entryJson: string): string {
  const text = JSON.stringify(gpBundle());
  return `${text.slice(0, -2)},${entryJson}]}`;
}

test('an entry nested 100,000 deep is rejected with a reason; the rest of the bundle is kept (whole and streamed)', async () => {
  const depth = 100_000;
  const deep = `{"resource":{"resourceType":"Observation","id":"deep","status":"final","subject":{"reference":"Patient/pat-1"},"extension":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
  for (const adapter of [fhirAdapter, streaming]) {
    const items = await readAll(withEntry(deep), adapter);
    assert.equal(accepted(items)[0]!.resources.length, 3);
    const [bad] = rejected(items);
    assert.match(bad!.reason, /^entry 4: Observation\.extension\[0\]\[0\].*….*\[0\] is nested more than 100 levels deep$/);
    assert.ok(bad!.raw.length < 1000, 'the raw text of a too-deep entry is not written out');
  }
  // As an NDJSON line of its own, between good lines.
  const good = JSON.stringify(gpBundle());
  const line = `{"resourceType":"Bundle","type":"collection","meta":{"source":"gp:P91001"},"entry":[${deep}]}`;
  const items = await readAll(`${good}\n${line}\n${good.replace('bundle-pat-1', 'bundle-2')}\n`);
  assert.deepEqual(items.map((i) => i.kind), ['accepted', 'accepted', 'rejected', 'accepted']);
});

test('a NUL or a lone surrogate in a string never reaches the store: the entry is rejected, naming the path', async () => {
  const nul = '{"resource":{"resourceType":"Observation","id":"n1","status":"final","subject":{"reference":"Patient/pat-1"},"note":[{"text":"a\\u0000b"}]}}';
  const lone = '{"resource":{"resourceType":"Observation","id":"s1","status":"final","subject":{"reference":"Patient/pat-1"},"code":{"text":"\\ud800x"}}}';
  const pair = '{"resource":{"resourceType":"Observation","id":"ok1","status":"final","subject":{"reference":"Patient/pat-1"},"code":{"text":"\\ud83d\\ude00"}}}';
  const nulKey = '{"resource":{"resourceType":"Observation","id":"k1","status":"final","subject":{"reference":"Patient/pat-1"},"x\\u0000":1}}';
  for (const adapter of [fhirAdapter, streaming]) {
    const items = await readAll(withEntry([nul, lone, pair, nulKey].join(',')), adapter);
    assert.deepEqual(accepted(items)[0]!.resources.map((r) => r.resource.id), ['pat-1', 'cond-1', 'obs-0', 'ok1']);
    const reasons = rejected(items).map((r) => r.reason);
    assert.deepEqual(reasons, [
      'entry 4: Observation.note[0].text holds a NUL character (U+0000)',
      'entry 5: Observation.code.text holds a lone UTF-16 surrogate (not a Unicode character)',
      'entry 7: Observation has a key holding a NUL character (U+0000)',
    ]);
    for (const r of rejected(items)) assert.doesNotMatch(r.reason + r.raw, /\u0000|[\ud800-\udfff]/, 'reason and raw are storable text');
  }
  // In the Patient of a one-person bundle: the bundle is rejected whole, with the path.
  const b = gpBundle();
  ((b.entry as { resource: Record<string, unknown> }[])[0]!.resource).name = [{ family: 'Bad\u0000Name' }];
  const [bad] = await readAll(JSON.stringify(b));
  assert.match((bad as RejectedItem).reason, /^the Patient is not valid: entry 1: Patient\.name\[0\]\.family holds a NUL character/);
  // In Bundle.id or meta.source: the bundle cannot be keyed.
  const [badId] = await readAll(JSON.stringify({ ...gpBundle(), id: 'b\u0000' }));
  assert.match((badId as RejectedItem).reason, /^Bundle\.id "b\\u0000" cannot be a message id: a NUL character/);
});

test('__proto__ keys: an entry that is only __proto__ is not a Patient; an Observation keeps its fields; both parse paths agree', async () => {
  const protoOnly = '{"__proto__":{"resource":{"resourceType":"Patient","id":"evil"}}}';
  const protoResource = '{"resource":{"__proto__":{"resourceType":"Patient","id":"evil2"}}}';
  const protoInside = '{"resource":{"resourceType":"Observation","id":"o-p","status":"final","subject":{"reference":"Patient/pat-1"},"code":{"__proto__":{"text":"x"}}}}';
  const text = withEntry([protoOnly, protoResource, protoInside].join(','));
  const whole = await readAll(text);
  const streamed = await readAll(text, streaming);
  assert.deepEqual(streamed, whole);
  const [item] = accepted(whole);
  assert.deepEqual(item!.identities.map((i) => i.id), ['pat-1']);
  assert.deepEqual(item!.resources.map((r) => r.resource.id), ['pat-1', 'cond-1', 'obs-0']);
  assert.deepEqual(rejected(whole).map((r) => r.reason), [
    'entry 4 has no resource',
    'entry 5: resource has a "__proto__" key, which is not a FHIR element',
    'entry 6: Observation.code has a "__proto__" key, which is not a FHIR element',
  ]);
  for (const r of item!.resources) assert.equal(Object.getPrototypeOf(r.resource), Object.prototype);
});

test('XML not in the FHIR namespace handed to the FHIR adapter is one rejection naming the namespace', async () => {
  const [bad] = await readAll('<Bundle xmlns="urn:example"><type value="collection"/></Bundle>');
  assert.equal(bad!.kind, 'rejected');
  assert.match((bad as RejectedItem).reason, /not in the FHIR namespace/);
});
