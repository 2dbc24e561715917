import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Disagreement } from '../api/record.ts';
import { deathText, describeDisagreement, differingFields, identityName, showValue } from './identity.ts';

const D: Disagreement[] = [
  { field: 'family', values: [{ value: 'SMITH', sources: ['hl7:RM2', 'gp:P91001', 'csv:community'] }, { value: 'Smyth', sources: ['csv:socialcare'] }] },
  { field: 'practice', values: [{ value: 'P91001', sources: ['gp:P91001'] }, { value: 'P91002', sources: ['hl7:RM2'] }] },
];

test('a minority value differs; a tie marks both', () => {
  assert.deepEqual([...differingFields(D, 'csv:socialcare')], ['family']);
  assert.deepEqual([...differingFields(D, 'gp:P91001')], ['practice']);
  assert.deepEqual([...differingFields(D, 'hl7:RM2')], ['practice']);
  assert.deepEqual([...differingFields(D, 'csv:community')], [], 'holds the majority surname and names no practice');
});

test('a disagreement in words, each source by name', () => {
  const label = (s: string) => ({ 'hl7:RM2': 'Hospital RM2', 'gp:P91001': 'GP', 'csv:community': 'Community', 'csv:socialcare': 'Social care' })[s] ?? s;
  assert.equal(describeDisagreement(D[0]!, label), 'Surname: SMITH (Hospital RM2, GP, Community) · Smyth (Social care)');
  assert.equal(describeDisagreement({ field: 'birthDate', values: [{ value: '1950-03-12', sources: ['a'] }, { value: '1950-12-03', sources: ['b'] }] }, label), 'Date of birth: 12 March 1950 (a) · 3 December 1950 (b)');
  assert.equal(describeDisagreement({ field: 'death', values: [{ value: 'no death recorded', sources: ['a'] }, { value: 'died 2025-10-02', sources: ['b'] }] }, label), 'Death: No death recorded (a) · Died 2 October 2025 (b)');
});

test('values as the table shows them', () => {
  assert.equal(showValue('nhsNumber', '9434765919'), '943 476 5919');
  assert.equal(showValue('sex', 'F'), 'Female');
  assert.equal(deathText(null), 'None recorded');
  assert.equal(deathText({ status: 'deceased', date: '2025-10-02T03:00:00Z', detail: 'date of death' }), 'Died 2 October 2025');
  assert.equal(deathText({ status: 'alive' }), 'Recorded as alive');
  assert.equal(identityName({ given: 'John', family: 'Smyth' }), 'John SMYTH');
  assert.equal(identityName({ given: null, family: null }), 'Name not known');
});
