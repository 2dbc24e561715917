import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packChunk, unpackChunk } from './chunk-codec.ts';
import { prepareItem, sharedValue } from './prepare.ts';
import type { AcceptedItem, IngestItem, ItemResource } from './model.ts';
import { itemsFromFhirJson } from './fhir/bundle.ts';
import { gpBundle } from './fhir/test-bundles.ts';

/** Text that shows key order and a present-but-undefined key, which deepEqual would not. */
const exact = (items: readonly IngestItem[]): string => JSON.stringify(items, (_k, v: unknown) => (v === undefined ? '<undefined>' : v));

/** As the parsing thread sends it and the writing thread reads it: packed, cloned, unpacked. */
const across = (items: readonly IngestItem[]): IngestItem[] => unpackChunk(structuredClone(packChunk(items)));

const patient = sharedValue({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Ng' }] });

function event(n: number, extra: Partial<AcceptedItem> = {}): AcceptedItem {
  return {
    kind: 'accepted',
    format: 'hl7v2',
    sourceSystem: 'PAS',
    messageId: `m${n}`,
    contentHash: `h${n}`,
    event: 'ADT^A08',
    idIsUnique: true,
    identities: [{ system: 'PAS', id: 'p1' }],
    resources: [
      { resource: patient as never, sourceTime: `2026-01-0${n}T10:00:00Z` },
      { resource: { resourceType: 'Encounter', id: `e${n}`, status: 'finished' } as never },
      { resource: { resourceType: 'Observation', id: `o${n}`, status: 'final' } as never, subject: 'p1' },
    ],
    origin: `a.hl7#${n}`,
    raw: `MSH|${n}`,
    ...extra,
  };
}

test('prepared items cross key for key as they were, and a restated text once', () => {
  const items = [1, 2, 3].map((n) => prepareItem(event(n)));
  items.push({ kind: 'rejected', format: 'hl7v2', reason: 'bad', raw: 'x', origin: 'a.hl7#4' });
  items.push({ kind: 'ignored', format: 'hl7v2', sourceSystem: 'PAS', messageId: 'm5', contentHash: 'h5', event: 'ACK', origin: 'a.hl7#5', prepared: true });
  items.push(prepareItem(event(6, { resources: [] })));
  const packed = packChunk(items);
  assert.equal(packed.texts?.length, 7, 'the Patient of three events is one text');
  assert.equal(packed.cells?.length, 9 * 5);
  assert.equal(exact(items), exact(across(items)));
  // The items given are not changed by packing.
  assert.ok(Array.isArray((items[0] as AcceptedItem).resources));
});

test('a FHIR GP bundle crosses unchanged', () => {
  const items = itemsFromFhirJson(gpBundle({ useUrnUuids: true }), { contentHash: 'c', raw: '', origin: 'gp.ndjson#1' }).map(prepareItem);
  assert.ok((items[0] as AcceptedItem).resources.length >= 3);
  assert.equal(exact(items), exact(across(items)));
});

test('an entry of another shape leaves its item to cross as it is', () => {
  const odd: ItemResource = { resource: { resourceType: 'Patient', id: 'p9' } as never, json: '{"resourceType":"Patient","id":"p9"}', hash: 'x', sourceTime: '2026-01-01' };
  const other = { ...event(7), prepared: true as const, resources: [odd] };
  const extraKey = { ...event(8), prepared: true as const, resources: [{ resource: { resourceType: 'Patient', id: 'p9' } as never, sourceTime: undefined, json: '{}', hash: 'y', note: 'z' } as ItemResource] };
  const items = [prepareItem(event(1)), other, extraKey];
  const packed = packChunk(items);
  assert.equal(packed.chunk[1], other, 'key order differs from prepareItem: sent as it is');
  assert.equal(packed.chunk[2], extraKey);
  assert.equal(exact(items), exact(across(items)));
  // Nothing packable: the chunk crosses as it is.
  assert.deepEqual(Object.keys(packChunk([other])), ['chunk']);
});

test('two texts with one hash (not a real sha256) both cross', () => {
  const a = { ...prepareItem(event(1)) } as AcceptedItem;
  const b = { ...prepareItem(event(2)) } as AcceptedItem;
  a.resources = [{ ...a.resources[1]!, hash: 'same' }];
  b.resources = [{ ...b.resources[1]!, hash: 'same' }];
  const packed = packChunk([a, b]);
  assert.equal(packed.texts?.length, 2);
  assert.equal(exact([a, b]), exact(across([a, b])));
});

test('cells that do not match their items are refused', () => {
  const packed = structuredClone(packChunk([prepareItem(event(1))]));
  packed.cells!.push('extra', 'cells', undefined, undefined, 0);
  assert.throws(() => unpackChunk(packed), /did not unpack whole/);
});
