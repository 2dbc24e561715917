/**
 * Text decoding shared by the feed adapters: byte-order marks, UTF-8 versus windows-1252
 * (Latin-1 as real systems send it), and a streaming line splitter whose memory stays flat
 * however long a line is.
 */
import { isUtf8 } from 'node:buffer';

const utf8 = new TextDecoder('utf-8');

// windows-1252 differs from ISO-8859-1 only in 0x80–0x9F (WHATWG Encoding Standard index).
// We map those ourselves: Node 20.18.3+ TextDecoder('windows-1252') wrongly decodes them as
// Latin-1 controls (nodejs/node#56542), which would turn a sender's € or ’ into garbage.
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
].map((c) => String.fromCharCode(c));

/** Decodes windows-1252 bytes (what "Latin-1" files from real systems are). */
export function decodeWindows1252(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return /[\x80-\x9f]/.test(text) ? text.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]) : text;
}
const windows1252 = { decode: decodeWindows1252 };

/** Removes a leading byte-order mark (U+FEFF) from decoded text. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** True when the bytes start with the UTF-8 byte-order mark EF BB BF. */
export function hasUtf8Bom(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** Decodes bytes as UTF-8 when they are valid UTF-8, else as windows-1252; a BOM is removed. */
export function decodeText(bytes: Uint8Array): string {
  const body = hasUtf8Bom(bytes) ? bytes.subarray(3) : bytes;
  return isUtf8(body) ? utf8.decode(body) : windows1252.decode(body);
}

/**
 * Decodes a head of a file for sniffing: like decodeText, but the head may end in the middle
 * of a UTF-8 sequence, which must not make the whole head look like windows-1252.
 */
export function decodeHead(bytes: Uint8Array): string {
  const body = hasUtf8Bom(bytes) ? bytes.subarray(3) : bytes;
  const cut = completeUtf8Length(body);
  if (isUtf8(body.subarray(0, cut))) return utf8.decode(body.subarray(0, cut));
  return windows1252.decode(body);
}

/**
 * Length of the prefix of `bytes` that does not end inside a UTF-8 multi-byte sequence, so a
 * chunk can be validated alone and the few trailing bytes carried to the next chunk.
 */
export function completeUtf8Length(bytes: Uint8Array): number {
  const n = bytes.length;
  // A sequence is at most 4 bytes: look back at most 3 for its lead byte.
  for (let back = 1; back <= 3 && back <= n; back++) {
    const b = bytes[n - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

/**
 * Decodes a byte stream to text: UTF-8 (BOM removed) until the first invalid sequence, then
 * windows-1252 for the rest. Chunk boundaries inside a UTF-8 sequence are handled.
 */
export async function* decodeStream(input: AsyncIterable<Buffer | Uint8Array>): AsyncIterable<string> {
  let first = true;
  let latin = false;
  let carry: Buffer | null = null;
  for await (const raw of input) {
    let chunk: Buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (carry) {
      chunk = Buffer.concat([carry, chunk]);
      carry = null;
    }
    if (first) {
      // The BOM itself may be split over chunks; wait for three bytes before deciding.
      if (chunk.length < 3 && !latin) {
        carry = chunk;
        continue;
      }
      first = false;
      if (hasUtf8Bom(chunk)) chunk = chunk.subarray(3);
    }
    if (latin) {
      if (chunk.length) yield windows1252.decode(chunk);
      continue;
    }
    const cut = completeUtf8Length(chunk);
    const whole = chunk.subarray(0, cut);
    if (isUtf8(whole)) {
      if (cut < chunk.length) carry = Buffer.from(chunk.subarray(cut));
      if (whole.length) yield utf8.decode(whole);
    } else {
      latin = true;
      if (chunk.length) yield windows1252.decode(chunk);
    }
  }
  if (carry && carry.length) {
    if (first && hasUtf8Bom(carry)) carry = carry.subarray(3);
    if (carry.length) yield !latin && isUtf8(carry) ? utf8.decode(carry) : windows1252.decode(carry);
  }
}

export type SplitLine = { line: string; lineNo: number } | { tooLong: true; lineNo: number; head: string };

const HEAD_BYTES = 200;

/**
 * Splits a byte stream into lines (LF or CRLF), numbered from 1. Each line is decoded on its
 * own (UTF-8, else windows-1252; the first line's BOM removed). A line longer than
 * maxLineBytes is reported once as `tooLong` with its first bytes, and the rest of it is
 * skipped without being kept, so memory stays flat for a 1 GB single-line file.
 * A final empty line after the last newline is not reported.
 */
export async function* splitLines(
  input: AsyncIterable<Buffer | Uint8Array>,
  opts: { maxLineBytes: number },
): AsyncIterable<SplitLine> {
  const max = opts.maxLineBytes;
  let parts: Buffer[] = [];
  let pendingLength = 0;
  let skipping = false;
  let skipHead = '';
  let lineNo = 1;
  let first = true;

  const finishLine = (last: Buffer): SplitLine => {
    let bytes = parts.length === 0 ? last : Buffer.concat([...parts, last]);
    parts = [];
    pendingLength = 0;
    if (bytes.length && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (first) {
      first = false;
      if (hasUtf8Bom(bytes)) bytes = bytes.subarray(3);
    }
    return { line: decodeText(bytes), lineNo: lineNo++ };
  };
  const startSkipping = (tail: Buffer) => {
    const headBytes = Buffer.concat([...parts, tail.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES + 3);
    const h = first && hasUtf8Bom(headBytes) ? headBytes.subarray(3) : headBytes;
    skipHead = decodeHead(h.subarray(0, HEAD_BYTES));
    first = false;
    parts = [];
    pendingLength = 0;
    skipping = true;
  };

  for await (const raw of input) {
    const chunk: Buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl === -1) {
        const rest = chunk.subarray(pos);
        if (!skipping) {
          if (pendingLength + rest.length > max) startSkipping(rest);
          else {
            // Copy, so a small tail does not pin a whole 1 MiB read buffer in memory.
            parts.push(rest.length < chunk.length / 4 ? Buffer.from(rest) : rest);
            pendingLength += rest.length;
          }
        }
        break;
      }
      const piece = chunk.subarray(pos, nl);
      pos = nl + 1;
      if (skipping) {
        skipping = false;
        yield { tooLong: true, lineNo: lineNo++, head: skipHead };
        continue;
      }
      // The CR of a CRLF does not count towards the limit.
      const len = pendingLength + piece.length - (piece.length && piece[piece.length - 1] === 0x0d ? 1 : 0);
      if (len > max) {
        startSkipping(piece);
        skipping = false;
        yield { tooLong: true, lineNo: lineNo++, head: skipHead };
        continue;
      }
      yield finishLine(piece);
    }
  }
  if (skipping) yield { tooLong: true, lineNo, head: skipHead };
  else if (pendingLength > 0) yield finishLine(Buffer.alloc(0));
}
