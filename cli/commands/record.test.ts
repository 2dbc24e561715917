import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWho } from './record.ts';

test('bevan record reads NHS numbers with or without spaces, person ids and source ids', () => {
  assert.deepEqual(parseWho('943 476 5919'), { kind: 'ok', query: { nhsNumber: '9434765919' }, label: 'NHS number 943 476 5919', by: 'nhs-number' });
  assert.deepEqual(parseWho('943-476-5919'), parseWho('9434765919'));
  assert.deepEqual(parseWho('0B6F4E8A-6A0E-4C49-9A59-1F0D2C3B4A51'), { kind: 'ok', query: { personId: '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51' }, label: 'person 0B6F4E8A-6A0E-4C49-9A59-1F0D2C3B4A51', by: 'person-id' });
  assert.deepEqual(parseWho('MRN100', 'hl7:RM2'), { kind: 'ok', query: { source: { system: 'hl7:RM2', id: 'MRN100' } }, label: 'hl7:RM2 patient MRN100', by: 'source-id' });
});

test('bevan record explains numbers that are not NHS numbers', () => {
  const bad = parseWho('943 476 5910');
  assert.equal(bad.kind, 'error');
  assert.match(bad.kind === 'error' ? bad.message : '', /943 476 5910 is not a valid NHS number: its check digit \(Modulus 11\) is wrong/);
  assert.match((parseWho('12345') as { message: string }).message, /has ten digits \(this has 5\)/);
  assert.match((parseWho('Smith') as { message: string }).message, /neither an NHS number nor a Bevan person id/);
});
