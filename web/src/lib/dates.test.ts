import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageInYears, datePart, describeAge, describeDuration, formatDate, formatDateTime } from './dates.ts';

test('dates: NHS style, partial FHIR dates', () => {
  assert.equal(formatDate('1950-03-12'), '12 March 1950');
  assert.equal(formatDate('1950-03'), 'March 1950');
  assert.equal(formatDate('1950'), '1950');
  assert.equal(formatDate('2023-01-04T17:00:00Z'), '4 January 2023');
  assert.equal(formatDate('2023-01-04', { short: true }), '4 Jan 2023');
  assert.equal(formatDate(null), '');
  assert.equal(datePart('2023-01-04T17:00:00Z'), '2023-01-04');
  assert.equal(datePart('nonsense'), null);
  assert.match(formatDateTime('2023-01-04T17:00:00Z'), /^4 January 2023, \d{2}:00$/);
  assert.equal(formatDateTime('2023-01-04'), '4 January 2023');
});

test('age in whole years: birthdays, leap days, partial and future dates', () => {
  assert.equal(ageInYears('1950-03-12', '2025-03-11'), 74);
  assert.equal(ageInYears('1950-03-12', '2025-03-12'), 75);
  assert.equal(ageInYears('2000-02-29', '2023-02-28'), 22);
  assert.equal(ageInYears('2000-02-29', '2023-03-01'), 23);
  assert.equal(ageInYears('2025-06-01', '2025-06-30'), 0);
  assert.equal(ageInYears('1950', '2025-01-01'), null, 'partial birth date');
  assert.equal(ageInYears('2030-01-01', '2025-01-01'), null, 'born in the future');
  assert.equal(ageInYears(undefined, '2025-01-01'), null);
  assert.equal(ageInYears('1942-02-13', new Date(2026, 1, 13)), 84);
  assert.equal(describeAge(0), 'under 1 year');
  assert.equal(describeAge(1), '1 year');
  assert.equal(describeAge(84), '84 years');
  assert.equal(describeDuration(4 * 60_000), '4 minutes');
  assert.equal(describeDuration(65 * 60_000), '1 hour 5 minutes');
  assert.equal(describeDuration(20_000), 'less than a minute');
});
