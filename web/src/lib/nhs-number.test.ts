import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNhsNumber, isValidNhsNumber, nhsNumberDigits } from './nhs-number.ts';

test('NHS numbers: typed with spaces or hyphens, checked, formatted 3 3 4', () => {
  assert.equal(nhsNumberDigits('943 476 5919'), '9434765919');
  assert.equal(nhsNumberDigits('943-476-5919'), '9434765919');
  assert.equal(nhsNumberDigits(' 9434765919 '), '9434765919');
  assert.equal(nhsNumberDigits('943476591'), null);
  assert.equal(nhsNumberDigits('94347659190'), null);
  assert.equal(nhsNumberDigits('smith'), null);
  assert.equal(isValidNhsNumber('9434765919'), true);
  assert.equal(isValidNhsNumber('9434765918'), false, 'wrong check digit');
  assert.equal(isValidNhsNumber('9994597272'), true);
  assert.equal(isValidNhsNumber('1000000010'), false, 'check digit would be 10');
  assert.equal(formatNhsNumber('9434765919'), '943 476 5919');
  assert.equal(formatNhsNumber('943 4765919'), '943 476 5919');
  assert.equal(formatNhsNumber('X123'), 'X123');
  assert.equal(formatNhsNumber(null), '');
});
