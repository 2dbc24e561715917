/**
 * Streaming split of an HL7 v2 byte stream into messages, and byte → text decoding.
 * A message starts at each `MSH` at the start of a segment (after CR, LF, or MLLP framing bytes
 * VT/FS). Only the current message is held in memory; a message over the size limit is counted
 * but only its head is kept, so a runaway file cannot exhaust memory.
 */
import { isUtf8 } from 'node:buffer';
import { decodeWindows1252 } from '../text.ts';

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** How much of an oversize message or a run of non-HL7 bytes is kept as the rejection's raw text. */
export const RAW_KEEP_BYTES = 64 * 1024;

export interface SplitPiece {
  /** The piece's bytes (only the first RAW_KEEP_BYTES when oversize). */
  bytes: Buffer;
  /** True when the piece begins with an MSH segment; false for bytes with no MSH (junk). */
  isMessage: boolean;
  /** Size of the whole piece in the stream. */
  totalBytes: number;
  oversize: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const VT = 0x0b;
const FS = 0x1c;
/** ASCII SUB, Ctrl-Z: DOS's end-of-file mark. */
const SUB = 0x1a;
const MSH = [0x4d, 0x53, 0x48];
const BOM = [0xef, 0xbb, 0xbf];

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

function isBlankByte(b: number): boolean {
  return b === CR || b === LF || b === VT || b === FS || b === 0x20 || b === 0x09 || b === 0x00 || b === SUB || BOM.includes(b);
}

/** Splits a byte stream into HL7 messages (and runs of non-HL7 bytes), one piece at a time. */
export async function* splitHl7Stream(input: AsyncIterable<Buffer | Uint8Array | string>, maxBytes = MAX_MESSAGE_BYTES): AsyncGenerator<SplitPiece> {
  let parts: Buffer[] = [];
  let partsLen = 0;
  let groupLen = 0;
  let oversize = false;
  let isMessage = false;
  let lineStart = true;
  let matched = 0; // bytes of "MSH" matched at the current segment start
  let streamPos = 0;

  const append = (buf: Buffer) => {
    if (buf.length === 0) return;
    groupLen += buf.length;
    if (oversize) return;
    parts.push(buf);
    partsLen += buf.length;
    if (groupLen > maxBytes) {
      // Keep only the head, for the rejection's raw text; drop the rest as it streams past.
      oversize = true;
      const head = Buffer.concat(parts, partsLen).subarray(0, RAW_KEEP_BYTES);
      parts = [Buffer.from(head)];
      partsLen = head.length;
    }
  };
  const dropTail = (n: number) => {
    groupLen -= n;
    if (oversize) return;
    while (n > 0 && parts.length) {
      const last = parts[parts.length - 1];
      const cut = Math.min(n, last.length);
      parts[parts.length - 1] = last.subarray(0, last.length - cut);
      if (parts[parts.length - 1].length === 0) parts.pop();
      partsLen -= cut;
      n -= cut;
    }
  };
  const take = (): SplitPiece | undefined => {
    const bytes = Buffer.concat(parts, partsLen);
    const piece = { bytes, isMessage, totalBytes: groupLen, oversize };
    parts = [];
    partsLen = 0;
    groupLen = 0;
    oversize = false;
    if (!isMessage && bytes.every(isBlankByte)) return undefined;
    return piece;
  };

  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    let from = 0;
    // Inside a line only the next line end matters: found with indexOf (native) rather than byte by byte.
    let nextCr = -2;
    let nextLf = -2;
    let nextVt = -2;
    let nextFs = -2;
    const nextBreak = (at: number): number => {
      if (nextCr !== -1 && nextCr < at) nextCr = chunk.indexOf(CR, at);
      if (nextLf !== -1 && nextLf < at) nextLf = chunk.indexOf(LF, at);
      if (nextVt !== -1 && nextVt < at) nextVt = chunk.indexOf(VT, at);
      if (nextFs !== -1 && nextFs < at) nextFs = chunk.indexOf(FS, at);
      let j = chunk.length;
      if (nextCr >= 0 && nextCr < j) j = nextCr;
      if (nextLf >= 0 && nextLf < j) j = nextLf;
      if (nextVt >= 0 && nextVt < j) j = nextVt;
      if (nextFs >= 0 && nextFs < j) j = nextFs;
      return j;
    };
    for (let i = 0; i < chunk.length; i++, streamPos++) {
      const b = chunk[i];
      if (matched === 3) {
        matched = 0;
        if (!isAlnum(b)) {
          // "MSH" then a separator: a new message starts 3 bytes back (possibly in earlier chunks).
          append(chunk.subarray(from, i));
          dropTail(3);
          const piece = take();
          if (piece) yield piece;
          isMessage = true;
          append(Buffer.from(MSH));
          from = i;
        }
      }
      if (streamPos < 3 && b === BOM[streamPos] && lineStart) continue;
      if (b === CR || b === LF || b === VT || b === FS) {
        lineStart = true;
        matched = 0;
        continue;
      }
      // Padding before a segment (NULs of a block-sized transfer, a DOS Ctrl-Z where two files were
      // joined) is skipped like spaces: the MSH after it still starts a message, never riding along
      // as a line of the message before.
      if (lineStart && (b === 0x20 || b === 0x09 || b === 0x00 || b === SUB)) continue;
      if ((lineStart || matched > 0) && b === MSH[matched]) {
        matched++;
        lineStart = false;
        continue;
      }
      matched = 0;
      lineStart = false;
      // The rest of this line cannot start a message: go to the byte before its end.
      const j = nextBreak(i + 1);
      streamPos += j - 1 - i;
      i = j - 1;
    }
    append(chunk.subarray(from));
  }
  if (matched === 3) {
    // The stream ends with a bare "MSH": it is a (truncated) message of its own.
    dropTail(3);
    const piece = take();
    if (piece) yield piece;
    isMessage = true;
    append(Buffer.from(MSH));
  }
  const last = take();
  if (last) yield last;
}

/** The character set MSH-18 declares, read from the MSH line without decoding the rest. */
export function declaredCharset(bytes: Buffer): string {
  // Only the MSH line matters: decode up to the first line end after it (within 2 KiB).
  const start = bytes.indexOf('MSH');
  const cr = start < 0 ? -1 : bytes.indexOf(0x0d, start);
  const lf = start < 0 ? -1 : bytes.indexOf(0x0a, start);
  const ends = [cr, lf].filter((x) => x >= 0);
  const end = Math.min(2048, ends.length ? Math.min(...ends) : bytes.length);
  if (start === 0 && end > 5) {
    // A message piece starts with its MSH (splitHl7Stream): MSH-18 found by counting separators
    // in the bytes (the same field as the split below; latin1 is one character a byte).
    const sep = bytes[3]!;
    let count = 1; // the separator at byte 3 (MSH-1) ends the segment name
    let at = -1;
    for (let i = 4; i < end; i++) {
      if (bytes[i] !== sep) continue;
      if (++count === 17) {
        at = i + 1;
        break;
      }
    }
    if (at < 0) return '';
    let stop = bytes.indexOf(sep, at);
    if (stop < 0 || stop > end) stop = end;
    const field = bytes.subarray(at, stop).toString('latin1');
    return field.split(String.fromCharCode(bytes[5]!))[0]!.split(String.fromCharCode(bytes[4]!))[0]!.trim().toUpperCase();
  }
  const head = bytes.subarray(0, end).toString('latin1');
  const line = head.split(/[\r\n]/).find((l) => l.replace(/^[\s\x0b\x1c\ufeff\u00ef\u00bb\u00bf]+/, '').startsWith('MSH'));
  if (!line) return '';
  const msh = line.slice(line.indexOf('MSH'));
  // MSH-18 may repeat (the first is the default character set); take the first.
  return (msh.split(msh.charAt(3))[17] ?? '').split(msh.charAt(5) || '~')[0].split(msh.charAt(4) || '^')[0].trim().toUpperCase();
}

/**
 * A decoder for an MSH-18 value (HL7 table 0211) other than ASCII, 8859/1 and UTF-8, when Node
 * has one; undefined for the rest (read as UTF-8, else windows-1252).
 */
function otherDecoder(charset: string): TextDecoder | undefined {
  const m = /^8859\/(\d{1,2})$/.exec(charset);
  const label = m
    ? `iso-8859-${m[1]}`
    : charset === 'BIG-5'
      ? 'big5'
      : /^GB ?18030/.test(charset)
        ? 'gb18030'
        : charset === 'KS X 1001'
          ? 'euc-kr'
          : // ISO IR14 is JIS X 0201 (half-width katakana in its upper half, as Shift_JIS has it); Shift_JIS by name is not in table 0211 but is sent.
            charset === 'ISO IR14' || charset === 'SHIFT_JIS' || charset === 'SJIS'
            ? 'shift_jis'
            : undefined;
  if (!label) return undefined;
  try {
    return new TextDecoder(label);
  } catch {
    return undefined;
  }
}

/**
 * Decodes one message's bytes as MSH-18 declares (HL7 table 0211): `8859/1` (and other Latin-1
 * names) as windows-1252, which is what such senders mean and a superset of ISO 8859-1 for
 * printable text; `8859/2`…`8859/15`, BIG-5, GB 18030 with Node's decoders; otherwise (ASCII,
 * `UNICODE UTF-8`, none) UTF-8, falling back to windows-1252 when the bytes are not valid UTF-8
 * (old PAS exports). windows-1252 is decoded by ingest/text.ts, not Node's TextDecoder, which
 * maps 0x80–0x9F wrongly (nodejs/node#56542). MLLP framing bytes and a byte-order mark are removed.
 */
export function decodeHl7Bytes(bytes: Buffer): string {
  const charset = declaredCharset(bytes);
  let text: string;
  if (bytes.includes(0x1b) && iso2022(bytes)) {
    // Japanese messages (JAHIS, SS-MIX2) declare ISO IR87 (JIS X 0208) in a repetition of MSH-18
    // and switch to it with ISO 2022 escape sequences (ESC $ B … ESC ( B) inside values.
    text = new TextDecoder('iso-2022-jp').decode(bytes);
  } else if (/^8859\/1$|8859-1|LATIN|1252|^ISO IR100$/.test(charset)) {
    text = decodeWindows1252(bytes);
  } else {
    const other = charset === '' ? undefined : otherDecoder(charset);
    if (other) text = other.decode(bytes);
    else text = isUtf8(bytes) ? bytes.toString('utf8') : decodeWindows1252(bytes);
  }
  return text.replace(/^\uFEFF/, '').replace(/[\x0b\x1c]/g, '');
}

/** True when the MSH line's MSH-18 (any repetition) names an ISO 2022 character set: ISO IR87, ISO IR159. */
function iso2022(bytes: Buffer): boolean {
  const start = bytes.indexOf('MSH');
  if (start < 0) return false;
  const line = bytes.subarray(start, Math.min(bytes.length, start + 2048)).toString('latin1').split(/[\r\n]/)[0]!;
  const field = line.split(line.charAt(3))[17] ?? '';
  return /ISO ?IR ?(87|159)|ISO ?2022/i.test(field);
}

/** Makes text safe to store as raw: NUL cannot go into a PostgreSQL text column. */
export function safeRaw(text: string): string {
  return text.replace(/\u0000/g, '\uFFFD');
}
