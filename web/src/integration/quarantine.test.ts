import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeReplay, discardReasonProblem, editableText, filterParams, pageRange, parseQuarantineFilter, repairedText } from './quarantine.ts';

test('the filter lives in the URL; unknown values fall back to the defaults', () => {
  assert.deepEqual(parseQuarantineFilter(new URLSearchParams('')), { status: 'open', offset: 0, limit: 20 });
  assert.deepEqual(parseQuarantineFilter(new URLSearchParams('status=all&source=hl7:RM2&format=hl7v2&offset=40')), { status: 'all', source: 'hl7:RM2', format: 'hl7v2', offset: 40, limit: 20 });
  assert.deepEqual(parseQuarantineFilter(new URLSearchParams('status=gone&format=xml&source=a b&offset=-3')), { status: 'open', offset: 0, limit: 20 });
  assert.deepEqual(filterParams({ status: 'open', offset: 0 }), {});
  assert.deepEqual(filterParams({ status: 'replayed', source: 'gp:P91001', format: 'fhir', offset: 20 }), { status: 'replayed', source: 'gp:P91001', format: 'fhir', offset: '20' });
});

test('pageRange: showing, previous and next', () => {
  assert.deepEqual(pageRange(43, 20, 20, 20), { from: 21, to: 40, total: 43, previous: 0, next: 40, text: 'Showing 21 to 40 of 43' });
  assert.deepEqual(pageRange(43, 40, 20, 3), { from: 41, to: 43, total: 43, previous: 20, next: null, text: 'Showing 41 to 43 of 43' });
  assert.equal(pageRange(0, 0, 20, 0).text, 'None');
  assert.equal(pageRange(0, 0, 20, 0).next, null);
  assert.equal(pageRange(5, 20, 20, 0).text, 'None on this page (5 in all)');
});

test('repair: edited as lines, replayed with the line ends of its format', () => {
  const hl7 = 'MSH|^~\\&|PAS\rPID|1||RM2000123||Jones^Sarah||19801315\r';
  assert.equal(editableText(hl7), 'MSH|^~\\&|PAS\nPID|1||RM2000123||Jones^Sarah||19801315\n');
  const edited = editableText(hl7).replace('19801315', '19800315');
  assert.equal(repairedText('hl7v2', hl7, edited), 'MSH|^~\\&|PAS\rPID|1||RM2000123||Jones^Sarah||19800315\r');
  assert.equal(repairedText('hl7v2', hl7, editableText(hl7)), null, 'unchanged: replay as it is');
  assert.equal(repairedText('hl7v2', hl7, editableText(hl7).replace(/\n/g, '\r\n')), null, 'only line ends differ: unchanged');
  const csv = 'id,name\r\n1,Ann\r\n';
  assert.equal(repairedText('csv', csv, '1,Anne\n'), '1,Anne\r\n');
  assert.equal(repairedText('fhir', '{"a":1}', '{"a":2}'), '{"a":2}');
});

test('replay result and discard reason in words', () => {
  assert.equal(describeReplay({ id: 7, status: 'replayed', result: { accepted: 1, ignored: 0, quarantined: 0, duplicates: 0, resources: 3 } }), 'Item 7 replayed: 1 accepted; 3 record items written.');
  assert.equal(describeReplay({ id: 7, status: 'replayed', result: { accepted: 0, ignored: 1, quarantined: 0, duplicates: 1, resources: 1 } }), 'Item 7 replayed: 0 accepted, 1 ignored, 1 already received; 1 record item written.');
  assert.equal(discardReasonProblem('  '), 'Enter why the item is discarded');
  assert.equal(discardReasonProblem('x'.repeat(501)), 'Enter a reason of 500 characters or fewer');
  assert.equal(discardReasonProblem('A test upload, not a feed'), null);
});
