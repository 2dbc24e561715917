import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGroupId } from '../access/policy.ts';
import { parseGroupSearch, type GroupSearch } from './group-search.ts';

const groups = [
  { resourceType: 'Group', id: 'practice-P91001', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91001' }], type: 'person', actual: true, code: { text: 'registered GP practice' }, name: 'People registered at Stretford Medical Practice' },
  { resourceType: 'Group', id: 'cohort-diabetes', identifier: [{ system: 'urn:bevan:register', value: 'diabetes' }], type: 'person', actual: true, code: { text: 'diabetes panel register' }, name: 'Diabetes register' },
  { resourceType: 'Group', id: 'cohort-palliative-care', identifier: [{ system: 'urn:bevan:register', value: 'palliative-care' }], type: 'person', actual: true, code: { text: 'end of life panel register' }, name: 'Palliative care register' },
];
const ids = (q: Record<string, string>) => groups.filter((parseGroupSearch(q) as GroupSearch).filter).map((g) => g.id);

test('Group ids say what they are: practice-<ODS> or the bare ODS code, cohort-<register>', () => {
  assert.deepEqual(parseGroupId('practice-P91001'), { kind: 'practice', odsCode: 'P91001' });
  assert.deepEqual(parseGroupId('P91001'), { kind: 'practice', odsCode: 'P91001' });
  assert.deepEqual(parseGroupId('cohort-diabetes'), { kind: 'cohort', register: 'diabetes' });
});

test('Group search: _id, identifier with and without system, name (starts with a word, :contains, :exact), code, actual; bad values refused', () => {
  assert.deepEqual(ids({ _id: 'cohort-diabetes,practice-P91001' }), ['practice-P91001', 'cohort-diabetes']);
  assert.deepEqual(ids({ identifier: 'urn:bevan:register|diabetes' }), ['cohort-diabetes']);
  assert.deepEqual(ids({ identifier: 'P91001' }), ['practice-P91001']);
  assert.deepEqual(ids({ identifier: 'urn:bevan:register|P91001' }), []);
  assert.deepEqual(ids({ name: 'pall' }), ['cohort-palliative-care']);
  assert.deepEqual(ids({ name: 'stretford' }), ['practice-P91001']);
  assert.deepEqual(ids({ 'name:contains': 'EGIST' }), ['practice-P91001', 'cohort-diabetes', 'cohort-palliative-care']);
  assert.deepEqual(ids({ 'name:exact': 'Diabetes register' }), ['cohort-diabetes']);
  assert.deepEqual(ids({ code: 'end of life' }), ['cohort-palliative-care']);
  assert.deepEqual(ids({ actual: 'false' }), []);
  assert.ok('problems' in parseGroupSearch({ actual: 'perhaps' }));
  assert.ok('problems' in parseGroupSearch({ _count: '-1' }));
  assert.deepEqual((parseGroupSearch({ colour: 'blue' }) as GroupSearch).unknown, ['colour']);
});
