import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PARAMETERS, fieldWeight, FIELDS } from './fellegi-sunter.ts';
import type { ReviewIdentity } from './merge.ts';
import { matchIdentityOf, reviewEvidence } from './review-evidence.ts';

function identity(over: Partial<ReviewIdentity>): ReviewIdentity {
  return {
    key: `${over.system ?? 'gp:P91001'}|${over.id ?? 'x'}`, system: 'gp:P91001', id: 'x', personId: 'p', nhsNumber: null, nhsNumberValid: false,
    family: null, given: null, birthDate: null, sex: null, postcode: null, practice: null, address: null, town: null, email: null, phone: null, otherId: null,
    linkMethod: 'new', matchStatus: 'POSSIBLE_MATCH', matchWeight: null, ...over,
  };
}

const anneGp = identity({ system: 'gp:P91001', id: 'A1', nhsNumber: '9434765919', nhsNumberValid: true, family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' });
const anneCommunity = identity({ system: 'csv:community', id: 'c1', family: 'Thompson', given: 'Anne', birthDate: '1950-03-11', sex: 'female', postcode: 'M14 9ZZ' });

test('evidence: each field compared as the matcher does, its weight log2(m/u), for or against', () => {
  const e = reviewEvidence(anneCommunity, anneGp, { weight: 12.5, detail: { levels: {}, probability: 0.9 } }, DEFAULT_PARAMETERS);
  const f = Object.fromEntries(e.fields.map((x) => [x.field, x]));
  assert.deepEqual(e.fields.map((x) => x.field), FIELDS.map((x) => x.name));
  assert.equal(f.family!.level, 'exact');
  assert.equal(f.family!.verdict, 'for');
  assert.equal(f.family!.weight, fieldWeight(DEFAULT_PARAMETERS, 1, 0));
  assert.equal(f.birth_date!.level, 'one-digit');
  assert.equal(f.postcode!.level, 'district');
  assert.equal(f.nhs_number!.level, 'missing', 'one side has no NHS number: no evidence');
  assert.equal(f.nhs_number!.weight, 0);
  assert.equal(f.nhs_number!.verdict, 'none');
  assert.equal(f.address!.verdict, 'none');
  assert.ok(Math.abs(e.total - e.fields.reduce((t, x) => t + x.weight, 0)) < 1e-9, 'no household cap: the plain sum');
  assert.equal(e.household.applied, false);
  assert.ok(e.probability > 0 && e.probability < 1);
  assert.ok(e.thresholds.match > e.thresholds.possible);
  assert.equal(e.queuedWeight, 12.5);
  assert.equal(e.conflict, null);
  assert.equal(e.feed, null);
  assert.equal(e.parameters, 'estimated');
  assert.equal(reviewEvidence(anneCommunity, anneGp, { weight: 1, detail: null }, null).parameters, 'defaults');
});

test('evidence: different valid NHS numbers weigh against; twins sharing a household are capped', () => {
  const other = { ...anneGp, id: 'A9', nhsNumber: '4010232137' };
  const e = reviewEvidence(anneGp, other, { weight: 3, detail: { conflict: 'different valid NHS numbers' } }, DEFAULT_PARAMETERS);
  const nhs = e.fields.find((x) => x.field === 'nhs_number')!;
  assert.equal(nhs.level, 'disagree');
  assert.equal(nhs.verdict, 'against');
  assert.ok(nhs.weight < 0);
  assert.equal(e.conflict, 'different valid NHS numbers');
  // An invalid NHS number is no evidence at all.
  assert.equal(matchIdentityOf({ ...anneGp, nhsNumberValid: false }).nhsNumber, null);

  const chidi = identity({ system: 'csv:socialcare', id: 's10', family: 'Okafor', given: 'Chidi', birthDate: '1988-05-05', sex: 'male', postcode: 'M15 5AA', address: '9 Elm Street', town: 'Hulme' });
  const chioma = { ...chidi, id: 's11', key: 'csv:socialcare|s11', given: 'Chioma', sex: 'female' };
  const twins = reviewEvidence(chidi, chioma, { weight: 5, detail: {} }, DEFAULT_PARAMETERS);
  assert.equal(twins.household.applied, true, 'family, birth date, postcode, address and town agree: one household');
  assert.ok(twins.household.sum > DEFAULT_PARAMETERS.householdCap!);
  const others = twins.fields.filter((x) => !x.household).reduce((t, x) => t + x.weight, 0);
  assert.ok(Math.abs(twins.total - (DEFAULT_PARAMETERS.householdCap! + others)) < 1e-9, 'the household fields count at most the cap');
  assert.equal(twins.fields.find((x) => x.field === 'sex')!.verdict, 'against');
});

test("evidence: a feed's instruction and its conflict", () => {
  const detail = { origin: 'feed', kind: 'link', event: 'ADT^A24', survivor: 'gp:P91002|K1', retired: 'gp:P91003|K2', reason: 'ADT^A24: not applied', conflict: { survivorNhsNumbers: ['4010232145'], retiredNhsNumbers: ['4010232153'] } };
  const e = reviewEvidence(anneGp, anneCommunity, { weight: 0, detail }, DEFAULT_PARAMETERS);
  assert.deepEqual(e.feed, { kind: 'link', event: 'ADT^A24', reason: 'ADT^A24: not applied', survivor: 'gp:P91002|K1', retired: 'gp:P91003|K2' });
  assert.equal(e.conflict, 'different valid NHS numbers (4010232145 and 4010232153)');
});

test('evidence: a weight that cannot be represented is bounded', () => {
  const p = { ...DEFAULT_PARAMETERS, u: DEFAULT_PARAMETERS.u.map((row, i) => (i === 1 ? row.map(() => 0) : row)) };
  const e = reviewEvidence(anneCommunity, anneGp, { weight: 0, detail: null }, p);
  const family = e.fields.find((x) => x.field === 'family')!;
  assert.ok(Number.isFinite(family.weight) && family.weight > 0);
  assert.ok(Number.isFinite(e.total));
});

test('evidence: a shared email not counted is said so (another given name, or birth dates decades apart)', () => {
  const father = identity({ system: 'csv:community', id: 'f1', family: 'Okafor', given: 'John', birthDate: '1960-04-02', email: 'okafor.family@example.com' });
  const son = { ...father, id: 'f2', key: 'csv:community|f2', birthDate: '1990-07-19' };
  assert.equal(reviewEvidence(father, son, { weight: 1, detail: null }, DEFAULT_PARAMETERS).contactWithheld, true);
  const sister = { ...father, id: 'f3', key: 'csv:community|f3', given: 'Ada', birthDate: '1963-01-30' };
  assert.equal(reviewEvidence(father, sister, { weight: 1, detail: null }, DEFAULT_PARAMETERS).contactWithheld, true);
  const same = { ...father, id: 'f4', key: 'csv:community|f4', birthDate: '1960-04-20' };
  assert.equal(reviewEvidence(father, same, { weight: 1, detail: null }, DEFAULT_PARAMETERS).contactWithheld, false);
  const noEmail = { ...son, email: null };
  assert.equal(reviewEvidence(father, noEmail, { weight: 1, detail: null }, DEFAULT_PARAMETERS).contactWithheld, false);
});
