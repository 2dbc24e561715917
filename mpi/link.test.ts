import { test } from 'node:test';
import assert from 'node:assert/strict';
import { birthDateOf, consistentWith } from './link.ts';

test('a birth date is read at the precision it was sent', () => {
  assert.deepEqual(birthDateOf('1987-06-14'), { date: '1987-06-14', asSent: null });
  assert.deepEqual(birthDateOf('19870614'), { date: '1987-06-14', asSent: null });
  assert.deepEqual(birthDateOf('1987-06-14T00:00:00Z'), { date: '1987-06-14', asSent: null });
  // HL7 v2 DTM and FHIR date allow a year, or a year and month.
  assert.deepEqual(birthDateOf('1987'), { date: null, asSent: '1987' });
  assert.deepEqual(birthDateOf('1987-06'), { date: null, asSent: '1987-06' });
  assert.deepEqual(birthDateOf('198706'), { date: null, asSent: '1987-06' });
  // A day that does not exist is kept as sent: a slip of a digit, or the day and month swapped.
  assert.deepEqual(birthDateOf('1987-02-30'), { date: null, asSent: '1987-02-30' });
  assert.deepEqual(birthDateOf('19871305'), { date: null, asSent: '1987-13-05' });
  assert.deepEqual(birthDateOf('1987-00-94'), { date: null, asSent: '1987-00-94' });
  // Nothing that says a date.
  for (const s of ['', '  ', 'unknown', '1987-13', '0000', '1699-01-01', '87-06-14', '1987-6-14', undefined, null]) assert.deepEqual(birthDateOf(s), { date: null, asSent: null }, String(s));
});

test('a partial or impossible date agrees with a person’s dates as far as it goes', () => {
  const dates = new Set(['1950-03-01', '1961-07-09']);
  assert.equal(consistentWith('1950', dates), true);
  assert.equal(consistentWith('1961-07', dates), true);
  assert.equal(consistentWith('1950-02-30', dates), false); // February, not March
  assert.equal(consistentWith('1950-03-32', dates), true); // no such day, the month agrees
  assert.equal(consistentWith('1951', dates), false);
  assert.equal(consistentWith('1950-13-03', dates), false); // swapped: the matcher decides
});
