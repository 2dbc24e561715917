import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random, hash32 } from './random.ts';
import { NhsNumberAllocator, isValidNhsNumber, mistypeNhsNumber, nhsCheckDigit } from './nhs-number.ts';

test('the same seed gives the same stream; a different seed a different one', () => {
  const a = new Random(42, 7);
  const b = new Random(42, 7);
  const c = new Random(43, 7);
  const xs = Array.from({ length: 100 }, () => a.uint32());
  assert.deepEqual(Array.from({ length: 100 }, () => b.uint32()), xs);
  assert.notDeepEqual(Array.from({ length: 100 }, () => c.uint32()), xs);
  assert.notEqual(hash32(1, 2), hash32(2, 1));
});

test('uniform, normal and Poisson draws have the expected means', () => {
  const r = new Random(1);
  const n = 20_000;
  let u = 0;
  let z = 0;
  let p = 0;
  for (let i = 0; i < n; i++) {
    u += r.next();
    z += r.normal();
    p += r.poisson(3);
  }
  assert.ok(Math.abs(u / n - 0.5) < 0.01);
  assert.ok(Math.abs(z / n) < 0.03);
  assert.ok(Math.abs(p / n - 3) < 0.06);
  assert.match(r.uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('Modulus 11: known valid and invalid NHS numbers', () => {
  assert.equal(isValidNhsNumber('9434765919'), true);
  assert.equal(isValidNhsNumber('9434765918'), false);
  assert.equal(isValidNhsNumber('943476591'), false);
  assert.equal(isValidNhsNumber('94347659x9'), false);
  assert.equal(nhsCheckDigit('943476591'), 9);
});

test('the allocator hands out distinct valid numbers in the 999 test range', () => {
  const alloc = new NhsNumberAllocator(5);
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const n = alloc.next();
    assert.ok(n.startsWith('999') && isValidNhsNumber(n), n);
    seen.add(n);
  }
  assert.equal(seen.size, 20_000);
});

test('a mistyped NHS number differs and is mostly invalid', () => {
  const r = new Random(9);
  const alloc = new NhsNumberAllocator(9);
  let invalid = 0;
  for (let i = 0; i < 1000; i++) {
    const n = alloc.next();
    const wrong = mistypeNhsNumber(n, r);
    assert.notEqual(wrong, n);
    if (!isValidNhsNumber(wrong)) invalid++;
  }
  assert.ok(invalid > 850 && invalid < 1000, `invalid ${invalid}`);
});
