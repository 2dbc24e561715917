import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hl7View, normaliseSegments, readHl7, safeText, segmentLines, unescapeHl7, type Hl7Delimiters } from './hl7-text.ts';

const d: Hl7Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

test('escape sequences: delimiters, line breaks, hex bytes; highlighting, character-set switches and formatting dropped', () => {
  assert.equal(unescapeHl7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', d), 'a|b^c&d~e\\f');
  assert.equal(unescapeHl7('one\\.br\\two\\.sp\\three\\.sp 2\\four', d), 'one\ntwo\nthree\nfour');
  assert.equal(unescapeHl7('\\H\\HIGH\\N\\ normal', d), 'HIGH normal');
  assert.equal(unescapeHl7('x\\C2842\\y\\M2442\\z\\.in+4\\\\.ce\\w', d), 'xyzw');
  assert.equal(unescapeHl7('caf\\XC3A9\\', d), 'café', 'UTF-8 bytes');
  assert.equal(unescapeHl7('caf\\XE9\\ \\X92\\', d), 'café \u2019', 'windows-1252 bytes when not UTF-8');
  assert.equal(unescapeHl7('\\Zlocal\\kept', d), 'kept');
});

test('a backslash that opens no escape sequence is kept as sent', () => {
  assert.equal(unescapeHl7('Vitamin B12\\folate screen', d), 'Vitamin B12\\folate screen');
  assert.equal(unescapeHl7('C:\\path\\to\\F\\x', d), 'C:\\path\\to|x');
  assert.equal(unescapeHl7('open \\ended', d), 'open \\ended');
});

test('NUL (\\X00\\ or raw), other control characters and lone surrogates never reach stored text; tab, CR, LF stay', () => {
  assert.equal(unescapeHl7('a\\X00\\b\\X0701\\c', d), 'abc');
  assert.equal(unescapeHl7('a\u0000b\u001bc\u0085d', d), 'abcd');
  assert.equal(safeText('x\ud800y\udc00z\ud83d\ude00'), 'xyz\ud83d\ude00', 'a pair is kept, halves dropped');
  assert.equal(safeText('t\tr\rn\n'), 't\tr\rn\n');
  const read = readHl7('MSH|^~\\&|A|B|||20250101||ADT^A08|1|P|2.4\rPID|1||H1\u0000^^^X^MR||Na\\X00\\me^Gi\u0001ven');
  assert.ok(read.ok);
  const v = new Hl7View(read.message);
  assert.deepEqual([v.get(v.segment('PID'), 3), v.get(v.segment('PID'), 5), v.get(v.segment('PID'), 5, { comp: 2 })], ['H1', 'Name', 'Given']);
});

test('Z-segments and unknown segments are read like any other and break nothing', () => {
  const read = readHl7('MSH|^~\\&|A|B|||20250101||ADT^A08|1|P|2.4\rZPI|1|local^stuff\rPID|1||H1\rZZ1\rXYZ|a');
  assert.ok(read.ok);
  assert.deepEqual(read.message.segments.map((s) => s.name), ['MSH', 'ZPI', 'PID', 'ZZ1', 'XYZ']);
});

test('a line that does not begin like a segment continues the one before it; a truncated segment name is still an error', () => {
  assert.deepEqual(segmentLines('MSH|x\nOBR|1||54089-8^Newborn screening\npanel AHIC^LN|||2019\nOBX|1'), ['MSH|x', 'OBR|1||54089-8^Newborn screening panel AHIC^LN|||2019', 'OBX|1']);
  // In a CR-terminated message a bare LF inside a segment was data: kept as a line break.
  assert.deepEqual(segmentLines('MSH|x\rOBX|1|TX|C||line one\nline two|\r'), ['MSH|x', 'OBX|1|TX|C||line one\nline two|']);
  assert.equal(normaliseSegments('MSH|x\r\nPID|1\r\n'), 'MSH|x\rPID|1');
  const truncated = readHl7('MSH|^~\\&|A|B\rPV');
  assert.equal(truncated.ok === false && truncated.reason, 'segment 2 "PV" is truncated or unknown');
});

test('MSH-2 with the v2.7+ truncation character; a v2.8 MSH with 25 fields', () => {
  const read = readHl7('MSH|^~\\&#|A|B|C|D|20250101||ADT^A04^ADT_A01|1|P|2.8|||AL|NE|GBR|UNICODE UTF-8|EN||PROFILE|ORG^^^^^^^^^X|RESP|NET1|NET2\r');
  assert.ok(read.ok);
  const v = new Hl7View(read.message);
  assert.deepEqual([v.get(v.segment('MSH'), 12), v.get(v.segment('MSH'), 25), v.get(v.segment('MSH'), 22, { comp: 10 })], ['2.8', 'NET2', 'X']);
});
