import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMember, organisationNames } from './care-team.ts';

test('care team members as the banner names them', () => {
  const names = organisationNames({ sources: [{ organisation: { odsCode: 'RM3', name: 'Trafford Synthetic Community Services' } }, { organisation: null }], registeredPractice: { odsCode: 'P91001', name: 'Sale Moor Medical Centre' } });
  assert.equal(names.get('P91001'), 'Sale Moor Medical Centre');
  assert.deepEqual(describeMember({ member: 'org:RM3', role: null }, names), { who: 'Trafford Synthetic Community Services (RM3), whole team', role: null });
  assert.deepEqual(describeMember({ member: 'org:RXX', role: 'key_worker' }, names), { who: 'Organisation (RXX), whole team', role: 'key worker' });
  assert.deepEqual(describeMember({ member: 'nurse.khan', role: 'lead-nurse' }), { who: 'nurse.khan', role: 'lead nurse' });
  assert.equal(organisationNames(null).size, 0);
});
