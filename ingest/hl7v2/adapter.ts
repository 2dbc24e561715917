/**
 * The HL7 v2 feed adapter: files of HL7 v2.3–2.8 messages (any number, CR/LF/CRLF, optionally
 * MLLP-framed or in an FHS/BHS batch) → ingest items, streaming. See docs/feeds.md "HL7 v2 (hospital)".
 */
import type { FeedAdapter, IngestItem, ReadContext, RejectedItem } from '../model.ts';
import { readHl7, Hl7View } from './hl7-text.ts';
import { decodeWindows1252 } from '../text.ts';
import { decodeHl7Bytes, MAX_MESSAGE_BYTES, RAW_KEEP_BYTES, safeRaw, splitHl7Stream } from './split.ts';
import { hl7SourceSystem, parseHl7Message } from './to-item.ts';

/**
 * True when text (BOM, whitespace and an MLLP start byte allowed first) begins `MSH`, or the
 * batch protocol's `FHS`/`BHS` (v2.8 chapter 2.10.3: real senders' files open with them), and a separator.
 */
export function sniffHl7(head: string): boolean {
  return /^(MSH|FHS|BHS)[^A-Za-z0-9\s]/.test(head.replace(/^[\uFEFF\s]*\x0b?[\s]*/, ''));
}

/** Parses one decoded message; the same entry point the MLLP listener uses. */
export { parseHl7Message } from './to-item.ts';

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The source system and MSH-10 of a message head, when they can be read, to label a rejection. */
function labels(text: string, context?: ReadContext): Pick<RejectedItem, 'sourceSystem' | 'messageId'> {
  const firstLine = text.split(/[\r\n]/, 1)[0];
  const read = readHl7(firstLine);
  if (!read.ok) return {};
  const v = new Hl7View(read.message);
  const source = hl7SourceSystem(v, context);
  const id = v.get(v.segment('MSH'), 10);
  return { ...(source ? { sourceSystem: source } : {}), ...(id ? { messageId: id } : {}) };
}

// HL7 batch protocol (v2.8 chapter 2.10.3): FHS/BHS open a file or batch, BTS/FTS close it.
// They are envelopes, not messages: dropped, so a message reads the same in a batch or alone.
const BATCH_SEGMENT = /^[\s\x0b\x1c\ufeff]*(FHS|BHS|BTS|FTS)(\W|$)/;

/** True when text holds nothing but batch header and trailer segments. */
function onlyBatchEnvelope(text: string): boolean {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
  return lines.length > 0 && lines.every((l) => BATCH_SEGMENT.test(l));
}

/** A message without the batch trailer (BTS, FTS) or next batch header that followed it in the file. */
function withoutBatchSegments(text: string): string {
  if (!/(^|[\r\n])(FHS|BHS|BTS|FTS)/.test(text)) return text;
  const lines = text.split(/(?<=\r\n|\r(?!\n)|\n)/);
  let cut = lines.length;
  while (cut > 1 && (BATCH_SEGMENT.test(lines[cut - 1]!) || lines[cut - 1]!.trim() === '')) cut--;
  return lines.slice(0, cut).join('');
}

/**
 * Reads an HL7 v2 byte stream; an empty stream yields no items. Never throws for bad content.
 * `context.source` names the sender of messages whose MSH-4 and MSH-3 are empty.
 */
export async function* readHl7Stream(input: AsyncIterable<Buffer>, origin: string, context?: ReadContext): AsyncGenerator<IngestItem> {
  let n = 0;
  for await (const piece of splitHl7Stream(input)) {
    n++;
    const where = `${origin}#${n}`;
    let text: string;
    try {
      text = decodeHl7Bytes(piece.bytes);
    } catch {
      text = decodeWindows1252(piece.bytes);
    }
    if (!piece.oversize && !piece.isMessage && onlyBatchEnvelope(text)) {
      n--;
      continue;
    }
    if (piece.oversize) {
      yield {
        kind: 'rejected',
        format: 'hl7v2',
        ...labels(text, context),
        reason: `message is ${mib(piece.totalBytes)} (${piece.totalBytes} bytes), larger than the ${mib(MAX_MESSAGE_BYTES)} limit; only the first ${RAW_KEEP_BYTES} bytes are kept`,
        raw: safeRaw(text),
        origin: where,
      };
    } else if (!piece.isMessage) {
      const kept = piece.totalBytes > RAW_KEEP_BYTES ? `; only the first ${RAW_KEEP_BYTES} bytes are kept` : '';
      yield {
        kind: 'rejected',
        format: 'hl7v2',
        reason: `no MSH segment: ${piece.totalBytes} bytes that are not an HL7 message${kept}`,
        raw: safeRaw(kept ? text.slice(0, RAW_KEEP_BYTES) : text),
        origin: where,
      };
    } else {
      const { message, trailing } = splitTrailingGarbage(withoutBatchSegments(text));
      const item = parseHl7Message(message, where, context);
      yield item.kind === 'rejected' ? { ...item, raw: safeRaw(item.raw) } : item;
      if (trailing) {
        n++;
        yield {
          kind: 'rejected',
          format: 'hl7v2',
          reason: `no MSH segment: ${Buffer.byteLength(trailing)} bytes of binary data after message ${JSON.stringify(item.kind === 'rejected' ? (item.messageId ?? '') : item.messageId)}`,
          raw: safeRaw(trailing.slice(0, RAW_KEEP_BYTES)),
          origin: `${origin}#${n}`,
        };
      }
    }
  }
}

const SEGMENT_START = /^[A-Z][A-Z0-9]{2}([^A-Za-z0-9\s]|$)/;
// Control characters other than tab and the segment separators, or a decoding replacement character.
const BINARY = /[\x00-\x08\x0e-\x1f\x7f\ufffd]/;

/**
 * Binary junk between messages in a file (a corrupted block) would otherwise ride along with the
 * message before it and get that message rejected. Lines at the end of a message that are not
 * segments and hold control characters are split off as their own rejection.
 */
function splitTrailingGarbage(text: string): { message: string; trailing?: string } {
  if (!BINARY.test(text)) return { message: text };
  const lines = text.split(/(?<=\r\n|\r(?!\n)|\n)/);
  let cut = lines.length;
  while (cut > 1 && !SEGMENT_START.test(lines[cut - 1].trimStart())) cut--;
  if (cut === lines.length) return { message: text };
  const trailing = lines.slice(cut).join('');
  if (!BINARY.test(trailing)) return { message: text };
  // Padding, not data: NULs (block-sized transfers, fixed-length records), a DOS end-of-file
  // Ctrl-Z (0x1A), stray MLLP bytes and whitespace. Dropped without a rejection, so a file that ends
  // so is not reported as holding a broken message.
  if (PADDING.test(trailing)) return { message: lines.slice(0, cut).join('') };
  return { message: lines.slice(0, cut).join(''), trailing };
}

const PADDING = /^[\x00\x0b\x1a\x1c\s]*$/;

export const hl7v2Adapter: FeedAdapter = {
  format: 'hl7v2',
  sniff: sniffHl7,
  read: readHl7Stream,
};
