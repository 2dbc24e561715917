import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNhsNumber, isValidNhsNumber, nhsCheckDigit, normaliseNhsNumber, validNhsNumber } from './nhs-number.ts';

test('valid NHS numbers pass Modulus 11', () => {
  // 943 476 591: 9·10+4·9+3·8+4·7+7·6+6·5+5·4+9·3+1·2 = 299; 299 mod 11 = 2; 11 − 2 = 9.
  assert.equal(nhsCheckDigit('943476591'), 9);
  for (const n of ['9434765919', '943 476 5919', '943-476-5919', '4010232137', '1234567881', '1234567830']) assert.equal(isValidNhsNumber(n), true, n);
});

test('a wrong check digit, a transposition, or a check digit of 10 is invalid', () => {
  assert.equal(isValidNhsNumber('9434765918'), false);
  assert.equal(isValidNhsNumber('9434765991'), false); // last two digits swapped
  assert.equal(isValidNhsNumber('4910232137'), false); // 2nd and 3rd digits swapped: 401 → 491 would need a different check
  // 123 456 789: sum 210, 210 mod 11 = 1, 11 − 1 = 10 → no valid number starts with these nine digits.
  assert.equal(nhsCheckDigit('123456789'), null);
  for (let d = 0; d <= 9; d++) assert.equal(isValidNhsNumber(`123456789${d}`), false);
});

test('normalisation and format', () => {
  assert.equal(normaliseNhsNumber(' 943 476-5919 '), '9434765919');
  assert.equal(normaliseNhsNumber('943476591'), null);
  assert.equal(normaliseNhsNumber('94347659190'), null);
  assert.equal(normaliseNhsNumber('94347659A9'), null);
  assert.equal(normaliseNhsNumber(undefined), null);
  assert.equal(validNhsNumber('943 476 5919'), '9434765919');
  assert.equal(validNhsNumber('943 476 5918'), null);
  assert.equal(formatNhsNumber('9434765919'), '943 476 5919');
  assert.equal(formatNhsNumber('94-34-76-59-19'), '943 476 5919');
  assert.equal(formatNhsNumber('abc'), 'abc');
});
