import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeUtf8Length, decodeHead, decodeStream, decodeText, decodeWindows1252, splitLines, stripBom, type SplitLine } from './text.ts';

async function* chunks(buf: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function lines(buf: Buffer, size: number, maxLineBytes = 1000): Promise<SplitLine[]> {
  const out: SplitLine[] = [];
  for await (const l of splitLines(chunks(buf, size), { maxLineBytes })) out.push(l);
  return out;
}

async function decodeAll(buf: Buffer, size: number): Promise<string> {
  let s = '';
  for await (const t of decodeStream(chunks(buf, size))) s += t;
  return s;
}

test('stripBom and decodeText: BOM removed, UTF-8 kept, invalid UTF-8 read as windows-1252', () => {
  assert.equal(stripBom('\uFEFFabc'), 'abc');
  assert.equal(decodeText(Buffer.from('\uFEFFcafé', 'utf8')), 'café');
  assert.equal(decodeText(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80, 0x35])), 'café €5');
});

test('decodeWindows1252: every byte 0x80–0x9F as the WHATWG index says (not as Latin-1 controls, nodejs/node#56542)', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const text = decodeWindows1252(all);
  assert.equal(text.length, 256);
  assert.equal(text.charAt(0x92), '\u2019');
  assert.equal(text.charAt(0x80), '\u20ac');
  assert.equal(text.charAt(0x9f), '\u0178');
  // The five bytes windows-1252 leaves undefined decode to the C1 control of the same value (WHATWG).
  assert.deepEqual([0x81, 0x8d, 0x8f, 0x90, 0x9d].map((b) => text.charCodeAt(b)), [0x81, 0x8d, 0x8f, 0x90, 0x9d]);
  assert.equal(text.slice(0xa0), Buffer.from(all.subarray(0xa0)).toString('latin1'));
  assert.equal(decodeWindows1252(all.subarray(0x41, 0x44)), 'ABC');
});

test('decodeHead does not mistake a cut UTF-8 sequence for Latin-1', () => {
  const bytes = Buffer.from('naïve é', 'utf8');
  assert.equal(decodeHead(bytes.subarray(0, bytes.length - 1)), 'naïve ');
  assert.equal(completeUtf8Length(Buffer.from([0x61, 0xe2, 0x82])), 1);
  assert.equal(completeUtf8Length(Buffer.from([0x61, 0xe2, 0x82, 0xac])), 4);
});

test('decodeStream: same text whatever the chunk size, BOM split over chunks', async () => {
  const text = 'Ωmega – “quotes” 🙂 end';
  const buf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]);
  for (const size of [1, 2, 3, 5, 64]) assert.equal(await decodeAll(buf, size), text, `chunk ${size}`);
  const latin = Buffer.from('Zoë Lefèvre', 'latin1');
  for (const size of [1, 4, 64]) assert.equal(await decodeAll(latin, size), 'Zoë Lefèvre', `latin chunk ${size}`);
});

test('splitLines: LF and CRLF, chunk boundaries, numbering, no phantom last line', async () => {
  const buf = Buffer.from('\uFEFFfirst\r\nsecond\n\nfourth é\r\nlast', 'utf8');
  for (const size of [1, 2, 3, 7, 1000]) {
    assert.deepEqual(
      await lines(buf, size),
      [
        { line: 'first', lineNo: 1 },
        { line: 'second', lineNo: 2 },
        { line: '', lineNo: 3 },
        { line: 'fourth é', lineNo: 4 },
        { line: 'last', lineNo: 5 },
      ],
      `chunk ${size}`,
    );
  }
  assert.deepEqual(await lines(Buffer.from('a\n'), 1), [{ line: 'a', lineNo: 1 }]);
  assert.deepEqual(await lines(Buffer.alloc(0), 1), []);
});

test('splitLines: an over-long line is reported once with its head and skipped', async () => {
  const long = 'x'.repeat(5000);
  const buf = Buffer.from(`ok\n${long}\nafter\n${long}`, 'utf8');
  for (const size of [3, 100, 4096, 100_000]) {
    const out = await lines(buf, size, 1000);
    assert.deepEqual(
      out.map((l) => ('tooLong' in l ? `long:${l.lineNo}:${l.head.length}` : `${l.lineNo}:${l.line}`)),
      ['1:ok', 'long:2:200', '3:after', 'long:4:200'],
      `chunk ${size}`,
    );
  }
  // Exactly at the limit is fine; the CR of CRLF does not count.
  const atLimit = await lines(Buffer.from(`${'y'.repeat(10)}\r\nz`), 4, 10);
  assert.deepEqual(atLimit[0], { line: 'y'.repeat(10), lineNo: 1 });
});

test('splitLines: each line decides UTF-8 or windows-1252 for itself', async () => {
  const buf = Buffer.concat([Buffer.from('José\n', 'utf8'), Buffer.from('José\n', 'latin1')]);
  assert.deepEqual(
    (await lines(buf, 3)).map((l) => ('line' in l ? l.line : '')),
    ['José', 'José'],
  );
});
