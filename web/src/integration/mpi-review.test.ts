import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReviewEvidence, ReviewIdentity } from '../api/integration.ts';
import { evidenceRows, levelWords, matcherWouldSay, needsNhsOverride, nextInQueue, probabilityText, sideBySide, weightText } from './mpi-review.ts';

function identity(over: Partial<ReviewIdentity>): ReviewIdentity {
  return {
    key: 'k', system: 'gp:P91001', id: 'x', personId: '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51', nhsNumber: null, nhsNumberValid: false, family: null, given: null, birthDate: null,
    sex: null, postcode: null, address: null, town: null, email: null, phone: null, otherId: null, practice: null, linkMethod: 'new', matchStatus: 'POSSIBLE_MATCH', matchWeight: null, ...over,
  };
}

test('side by side: what agrees, what differs, what one side lacks', () => {
  const a = identity({ system: 'csv:community', id: 'c1', family: 'Thompson', given: 'Anne', birthDate: '1950-03-11', sex: 'female', postcode: 'M14 9ZZ', personId: '11111111-0000-4000-8000-000000000000' });
  const b = identity({ system: 'gp:P91001', id: 'A1', family: 'thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB', nhsNumber: '9434765919', nhsNumberValid: true, practice: 'P91001', address: '4 Oak Road', town: 'Manchester', matchStatus: 'MATCH' });
  const rows = Object.fromEntries(sideBySide(a, b).map((r) => [r.label, r]));
  assert.deepEqual(rows.Name, { label: 'Name', left: 'Anne THOMPSON', right: 'Anne THOMPSON', same: true });
  assert.deepEqual(rows['Date of birth'], { label: 'Date of birth', left: '11 March 1950', right: '1 March 1950', same: false });
  assert.equal(rows.Sex!.left, 'Female');
  assert.deepEqual(rows['NHS number'], { label: 'NHS number', left: 'Not known', right: '943 476 5919', same: null });
  assert.equal(rows.Postcode!.same, false);
  assert.equal(rows.Address!.right, '4 Oak Road, Manchester');
  assert.equal(rows['GP practice']!.right, 'P91001');
  assert.deepEqual([rows.Source!.left, rows.Source!.right, rows.Source!.same], ['Community services', 'GP practice P91001', null]);
  assert.deepEqual([rows['Identifier in the source']!.left, rows['Identifier in the source']!.right], ['c1', 'A1']);
  assert.equal(rows['Linked now']!.same, null, 'context, not evidence');
  assert.equal(rows['Linked now']!.left, 'Person 11111111 (possible match)');
  assert.equal(rows['Linked now']!.right, 'Person 0b6f4e8a (matched)');
  assert.equal(sideBySide(identity({ nhsNumber: '1234567890' }), b).find((r) => r.label === 'NHS number')!.left, '123 456 7890 (not a valid NHS number)');
});

const evidence: ReviewEvidence = {
  fields: [
    { field: 'nhs_number', level: 'missing', weight: 0, verdict: 'none', household: false },
    { field: 'family', level: 'exact', weight: 7, verdict: 'for', household: true },
    { field: 'given', level: 'exact', weight: 7.1, verdict: 'for', household: false },
    { field: 'birth_date', level: 'one-digit', weight: 1.7, verdict: 'for', household: true },
    { field: 'sex', level: 'agree', weight: 1, verdict: 'for', household: false },
    { field: 'postcode', level: 'district', weight: -2.4, verdict: 'against', household: true },
    { field: 'address', level: 'missing', weight: 0, verdict: 'none', household: true },
    { field: 'town', level: 'disagree', weight: -6.2, verdict: 'against', household: true },
  ],
  total: 8.2,
  probability: 0.9016,
  thresholds: { match: 12, possible: 5 },
  household: { applied: false, sum: 0, cap: 14 },
  contactWithheld: false,
  queuedWeight: 8.2,
  conflict: null,
  feed: null,
  parameters: 'estimated',
};

test('evidence in words: for and against, strongest first', () => {
  const e = evidenceRows(evidence);
  assert.equal(e.rows.length, 8);
  assert.deepEqual(e.rows[3], { label: 'Date of birth', words: 'One digit different', weight: '+1.7', verdict: 'for' });
  assert.deepEqual(e.forOne.map((r) => r.label), ['Given name', 'Family name', 'Date of birth', 'Sex']);
  assert.deepEqual(e.against.map((r) => r.label), ['Town', 'Postcode']);
  assert.equal(e.against[0]!.weight, '−6.2');
  assert.equal(levelWords('district'), 'Same postcode district');
  assert.equal(levelWords('two-edits'), 'Two typing slips apart, or the same letters in another order');
  assert.equal(levelWords('something-new'), 'something-new');
  assert.equal(weightText(0.01), '0');
  assert.equal(probabilityText(0.9016), '90%');
  assert.equal(probabilityText(0.05), '5.0%');
  assert.equal(probabilityText(0.99999), 'more than 99.9%');
  assert.equal(probabilityText(0.00001), 'less than 0.1%');
  assert.equal(matcherWouldSay(evidence), 'unsure: a person decides');
  assert.equal(matcherWouldSay({ ...evidence, total: 20 }), 'strong enough to link without review');
  assert.equal(matcherWouldSay({ ...evidence, total: 1 }), 'too weak to link');
  assert.equal(needsNhsOverride(evidence), false);
  assert.equal(needsNhsOverride({ ...evidence, conflict: 'different valid NHS numbers (1 and 2)' }), true);
});

test('nextInQueue: the pair after this one, else the first other one', () => {
  assert.equal(nextInQueue([3, 5, 9], 5), 9);
  assert.equal(nextInQueue([3, 5, 9], 9), 3);
  assert.equal(nextInQueue([3, 5, 9], 4), 3, 'one no longer in the queue');
  assert.equal(nextInQueue([5], 5), null);
  assert.equal(nextInQueue([], 5), null);
});
