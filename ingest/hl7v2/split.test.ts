import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedItem, IngestItem } from '../model.ts';
import { hl7v2Adapter } from './adapter.ts';
import { declaredCharset, decodeHl7Bytes } from './split.ts';
import { fixture, header, message } from './fixtures/vendors.ts';
import { seg } from './fixtures/samples.ts';

async function readBytes(bytes: Buffer, context?: { source?: string }): Promise<IngestItem[]> {
  async function* one() {
    yield bytes;
  }
  const out: IngestItem[] = [];
  for await (const item of hl7v2Adapter.read(one(), 'f.hl7', context)) out.push(item);
  return out;
}

const pidWithName = (family: string) => seg('PID', { 1: '1', 3: 'H1^^^RM2^MR', 5: `${family}^Sean`, 7: '19800101', 8: 'M' });

test('windows-1252 through the HL7 path: a 0x92 apostrophe in PID-5 is U+2019, not U+0092', async () => {
  const text = message([header('ADT^A28^ADT_A05', 'W1'), pidWithName('O\u2019Neill')]);
  const bytes = Buffer.from(text.replace('\u2019', '\x92'), 'latin1');
  assert.equal(bytes.includes(0x92), true);
  const [item] = await readBytes(bytes);
  assert.equal((item as AcceptedItem).identities[0]!.family, 'O\u2019Neill');
  // The same with MSH-18 8859/1 declared.
  const declared = Buffer.from(message([header('ADT^A28^ADT_A05', 'W2', { charset: '8859/1' }), pidWithName('O\x92Neill')]), 'latin1');
  assert.equal(((await readBytes(declared))[0] as AcceptedItem).identities[0]!.family, 'O\u2019Neill');
});

test('MSH-18 character sets: ASCII, UNICODE UTF-8, 8859/1, 8859/15; undeclared UTF-8 and Latin-1', () => {
  const msg = (charset: string, name: string) => message([header('ADT^A28', 'C1', { charset }), pidWithName(name)]);
  assert.equal(declaredCharset(Buffer.from(msg('UNICODE UTF-8', 'x'))), 'UNICODE UTF-8');
  assert.equal(declaredCharset(Buffer.from(msg('8859/1~UNICODE UTF-8', 'x'))), '8859/1', 'the first repetition is the default');
  assert.match(decodeHl7Bytes(Buffer.from(msg('UNICODE UTF-8', 'Zoë'), 'utf8')), /Zoë/);
  assert.match(decodeHl7Bytes(Buffer.from(msg('ASCII', 'Zoe'), 'utf8')), /Zoe/);
  assert.match(decodeHl7Bytes(Buffer.from(msg('8859/1', 'Zoë'), 'latin1')), /Zoë/);
  const latin9 = Buffer.from(msg('8859/15', 'Eur\xa4'), 'latin1');
  assert.match(decodeHl7Bytes(latin9), /Eur€/, 'ISO 8859-15 puts the euro at 0xA4');
  assert.match(decodeHl7Bytes(Buffer.from(msg('', 'Zoë'), 'latin1')), /Zoë/);
});

test('an FHS/BHS batch: the envelope is dropped and each message reads as it would alone', async () => {
  const items = await readBytes(Buffer.from(fixture('batch-fhs-bhs.hl7')));
  assert.deepEqual(items.map((i) => [i.kind, i.kind === 'accepted' ? i.event : '', i.origin]), [
    ['accepted', 'ADT^A31', 'f.hl7#1'],
    ['accepted', 'ADT^A28', 'f.hl7#2'],
  ]);
  const alone = fixture('batch-fhs-bhs.hl7').split('\r\n').slice(6, 10).join('\r\n') + '\r\n';
  const [single] = await readBytes(Buffer.from(alone));
  assert.equal((single as AcceptedItem).contentHash, (items[1] as AcceptedItem).contentHash, 'the trailer is not part of the last message');
});

test('the feed\'s configured source names the sender of messages without MSH-4 and MSH-3; rejections are labelled with it', async () => {
  const text = message([header('ADT^A28', 'S1', { app: '', facility: '' }), pidWithName('Doe')]);
  const [item] = await readBytes(Buffer.from(text), { source: 'hl7:CONFIGURED' });
  assert.equal(item!.kind === 'accepted' && item!.sourceSystem, 'hl7:CONFIGURED');
  const [bad] = await readBytes(Buffer.from(text.replace('19800101', '19801301')), { source: 'hl7:CONFIGURED' });
  assert.equal(bad!.kind === 'rejected' && bad!.sourceSystem, 'hl7:CONFIGURED');
});
