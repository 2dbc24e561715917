import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeySet64, keyOf, LineSplitter, patientReferences, topLevelId } from './export-check.ts';

test('topLevelId finds the resource id wherever it is, never a nested one', () => {
  assert.equal(topLevelId('{"resourceType":"Observation","id":"abc","subject":{"reference":"Patient/p1"}}'), 'abc');
  // Nested ids (an identifier, a contained resource) come first; the top-level one is last.
  const line = JSON.stringify({ resourceType: 'Encounter', contained: [{ resourceType: 'Location', id: 'inner' }], identifier: [{ id: 'x', value: '1' }], note: 'say "id":"no"', id: 'outer' });
  assert.equal(topLevelId(line), 'outer');
  // A string value "id" is not a key; escapes inside strings are skipped.
  assert.equal(topLevelId('{"code":"id","text":"a \\" {","id":"k"}'), 'k');
  assert.equal(topLevelId('{"resourceType":"Patient"}'), null);
});

test('KeySet64 tells new keys from repeated ones, across many keys', () => {
  const s = new KeySet64(10_000);
  for (let i = 1; i <= 10_000; i++) assert.equal(s.add(i * 7919, i), true);
  for (let i = 1; i <= 10_000; i += 97) assert.equal(s.add(i * 7919, i), false);
  assert.equal(s.size, 10_000);
  // (0, 0) marks an empty slot, so it is kept as (0, 1).
  assert.equal(s.add(0, 0), true);
  assert.equal(s.add(0, 1), false);
  assert.equal(s.size, 10_001);
});

test('keyOf: the same (type, id) gives the same key; another type or id does not', () => {
  const id = 'a3f9c2d1e4b5a6978877665544332211';
  assert.deepEqual(keyOf('Observation', id), keyOf('Observation', id));
  assert.notDeepEqual(keyOf('Observation', id), keyOf('Condition', id));
  assert.notDeepEqual(keyOf('Observation', id), keyOf('Observation', 'b3f9c2d1e4b5a6978877665544332211'));
  assert.deepEqual(keyOf('Organization', 'RM3'), keyOf('Organization', 'RM3'));
  assert.notDeepEqual(keyOf('Organization', 'RM3'), keyOf('Organization', 'RM4'));
});

test('patientReferences and LineSplitter', () => {
  assert.deepEqual([...patientReferences('{"subject":{"reference":"Patient/a"}}\n{"patient":{"reference":"Patient/b"},"x":{"reference":"Patient/a"}}')], ['a', 'b']);
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"a":1}\n{"b"'), ['{"a":1}']);
  assert.deepEqual(s.push(':2}\n'), ['{"b":2}']);
  assert.equal(s.end(), null);
  assert.deepEqual(s.push('{"c":3}'), []);
  assert.equal(s.end(), '{"c":3}');
});
