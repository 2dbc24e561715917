import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dateBoundary, dateTimeBoundary, decimalBoundary, numberText, timeBoundary } from './boundaries.ts';

test('decimal boundaries: 8 places, 9s appended for the high one, the sign kept, empty past 15 digits', () => {
  assert.equal(decimalBoundary('2.5', true), 2.5);
  assert.equal(decimalBoundary('2.5', false), 2.59999999);
  assert.equal(decimalBoundary('-7.25', false), -7.25999999);
  assert.equal(decimalBoundary('0.003', false), 0.00399999);
  assert.equal(decimalBoundary('42', false), 42.99999999);
  // More places than 8: the value's own precision.
  assert.equal(decimalBoundary('0.0000000012', false), 0.0000000012);
  assert.equal(decimalBoundary('1234567.5', false), 1234567.59999999);
  assert.equal(decimalBoundary('12345678.5', false), null);
  assert.equal(decimalBoundary('not a number', true), null);
  assert.equal(numberText(3e-7), '0.0000003');
  assert.equal(numberText(1.5e-8), '0.000000015');
  assert.equal(numberText(64.125), '64.125');
});

test('date boundaries: to the day, with the Gregorian leap years', () => {
  assert.equal(dateBoundary('1996', true), '1996-01-01');
  assert.equal(dateBoundary('1996', false), '1996-12-31');
  assert.equal(dateBoundary('1996-02', false), '1996-02-29');
  assert.equal(dateBoundary('1900-02', false), '1900-02-28');
  assert.equal(dateBoundary('2000-02', false), '2000-02-29');
  assert.equal(dateBoundary('2011-04', false), '2011-04-30');
  assert.equal(dateBoundary('2011-04-09', false), '2011-04-09');
  assert.equal(dateBoundary('2011-04-09T10:00', false), null);
});

test('date-time boundaries: to the nanosecond, the zone kept or the widest offsets', () => {
  assert.equal(dateTimeBoundary('2017-08', true), '2017-08-01T00:00:00.000000000+14:00');
  assert.equal(dateTimeBoundary('2017-08', false), '2017-08-31T23:59:59.999999999-12:00');
  assert.equal(dateTimeBoundary('2017-08-05T07', false), '2017-08-05T07:59:59.999999999-12:00');
  assert.equal(dateTimeBoundary('2017-08-05T07:45:10.12Z', true), '2017-08-05T07:45:10.120000000Z');
  assert.equal(dateTimeBoundary('2017-08-05T07:45:10.12Z', false), '2017-08-05T07:45:10.129999999Z');
  assert.equal(dateTimeBoundary('2017-08-05T07:45-03:30', false), '2017-08-05T07:45:59.999999999-03:30');
  assert.equal(dateTimeBoundary('2017-08-05T07:45:10.1234567891+01:00', false), '2017-08-05T07:45:10.1234567891+01:00');
  assert.equal(dateTimeBoundary('05/08/2017', true), null);
});

test('time boundaries: to the nanosecond', () => {
  assert.equal(timeBoundary('07', true), '07:00:00.000000000');
  assert.equal(timeBoundary('07', false), '07:59:59.999999999');
  assert.equal(timeBoundary('21:05', false), '21:05:59.999999999');
  assert.equal(timeBoundary('21:05:33.5', true), '21:05:33.500000000');
  assert.equal(timeBoundary('21:05:33.5', false), '21:05:33.599999999');
  assert.equal(timeBoundary('9:05', true), null);
});
