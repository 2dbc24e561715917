import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyFilter } from './key-filter.ts';

test('every key added is found; few keys never added are', () => {
  const f = new KeyFilter(20); // 1 Mbit
  assert.equal(f.mightHave('PAS\u0000Patient\u00001'), false, 'empty: nothing');
  for (let i = 0; i < 50_000; i++) f.add(`PAS\u0000Encounter\u0000V${i}`);
  for (let i = 0; i < 50_000; i++) assert.ok(f.mightHave(`PAS\u0000Encounter\u0000V${i}`));
  let found = 0;
  for (let i = 0; i < 50_000; i++) if (f.mightHave(`PAS\u0000Encounter\u0000W${i}`)) found++;
  // 21 bits a key, four probes: about 0.04 % in theory; well under 1 % allowed.
  assert.ok(found < 500, `${found} of 50,000 keys never added were found`);
  assert.equal(f.added, 50_000);
});

test('keys that differ in one character, or only beyond the first units, are told apart', () => {
  const f = new KeyFilter(16);
  f.add('gp:P91001\u0000Observation\u0000a');
  assert.ok(f.mightHave('gp:P91001\u0000Observation\u0000a'));
  assert.equal(f.mightHave('gp:P91001\u0000Observation\u0000b'), false);
  assert.equal(f.mightHave('gp:P91001\u0000Observation\u0000a '), false);
  assert.equal(f.mightHave(''), false);
  f.add('é€😀');
  assert.ok(f.mightHave('é€😀'));
});

test('its size is bounded', () => {
  assert.throws(() => new KeyFilter(5), RangeError);
  assert.throws(() => new KeyFilter(31), RangeError);
  const big = new KeyFilter(24);
  big.add('x');
  assert.ok(big.mightHave('x'));
  assert.equal(big.mightHave('y'), false);
});
