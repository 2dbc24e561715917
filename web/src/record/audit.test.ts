import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordAccess } from '../api/record.ts';
import { describeVisit, groupVisits } from './audit.ts';

const e = (at: string, who: string, action: string, over: Partial<RecordAccess> = {}): RecordAccess => ({ at, who, role: 'gp', organisation: 'P91001', action, purpose: 'direct-care', decision: 'permit', reason: null, ...over });

test('one look at the record is one visit; another user, a refusal or a gap starts another', () => {
  const entries = [
    e('2025-06-30T10:00:03Z', 'dr.jones', 'audit.read'),
    e('2025-06-30T10:00:02Z', 'dr.jones', 'care-team.list'),
    e('2025-06-30T10:00:01Z', 'dr.jones', 'record.sources'),
    e('2025-06-30T10:00:00Z', 'dr.jones', 'record.everything'),
    e('2025-06-30T09:59:00Z', 'dr.far', 'record.everything', { organisation: 'P99999' }),
    e('2025-06-30T09:58:00Z', 'dr.far', 'break-glass.start', { organisation: 'P99999' }),
    e('2025-06-30T09:57:00Z', 'dr.far', 'record.everything', { organisation: 'P99999', decision: 'deny' }),
    e('2025-06-30T08:00:00Z', 'dr.jones', 'record.everything'),
  ];
  const v = groupVisits(entries);
  assert.deepEqual(v.map((x) => [x.who, x.decision, x.entries, x.first, x.last]), [
    ['dr.jones', 'permit', 4, '2025-06-30T10:00:00Z', '2025-06-30T10:00:03Z'],
    ['dr.far', 'permit', 2, '2025-06-30T09:58:00Z', '2025-06-30T09:59:00Z'],
    ['dr.far', 'deny', 1, '2025-06-30T09:57:00Z', '2025-06-30T09:57:00Z'],
    ['dr.jones', 'permit', 1, '2025-06-30T08:00:00Z', '2025-06-30T08:00:00Z'],
  ]);
  assert.equal(describeVisit(v[0]!), 'Opened the whole record; looked at its sources and identity; looked at the care team; looked at who has looked at the record');
  assert.equal(v[1]!.breakGlass, true);
  assert.equal(describeVisit(v[1]!), 'Broke glass (emergency access); opened the whole record');
  assert.equal(describeVisit(v[2]!), 'Tried: opened the whole record (refused)');
  assert.equal(describeVisit(groupVisits([e('2025-06-30T08:00:00Z', 'x', 'something.new')])[0]!), 'something.new');
});

test('entries out of time order (several audit chains) are put in order first', () => {
  const v = groupVisits([
    e('2025-06-30T10:00:02Z', 'dr.jones', 'care-team.list'),
    e('2025-06-30T10:00:00Z', 'dr.jones', 'record.everything'),
    e('2025-06-30T10:00:09Z', 'jon', 'audit.read', { role: 'patient', organisation: null, purpose: 'patient-access' }),
    e('2025-06-30T10:00:05Z', 'dr.jones', 'audit.read'),
  ]);
  assert.deepEqual(v.map((x) => [x.who, x.last, describeVisit(x)]), [
    ['jon', '2025-06-30T10:00:09Z', 'Looked at who has looked at the record'],
    ['dr.jones', '2025-06-30T10:00:05Z', 'Opened the whole record; looked at the care team; looked at who has looked at the record'],
  ]);
});
