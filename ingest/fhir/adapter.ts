/**
 * The FHIR R4 feed adapter: NDJSON with one Bundle or one bare resource per line (Bulk Data
 * `$export` files), one JSON Bundle per file, or one FHIR XML resource or Bundle per file (xml.ts
 * converts it to the JSON form, streaming; then it takes the JSON path). Streams either way: NDJSON line by line; a single Bundle is parsed whole when
 * small and tokenised with stream-json when large, so the text is never held.
 * Contract: docs/feeds.md "FHIR R4 (GP systems)".
 */
import { createHash } from 'node:crypto';
import { sha256Hex } from '../prepare.ts';
import type { FeedAdapter, IngestItem, ReadContext, RejectedItem } from '../model.ts';
import { decodeStream, decodeText, splitLines, stripBom } from '../text.ts';
import { itemsFromFhirJson } from './bundle.ts';
import { BundleStreamError, readBundleStream } from './stream-bundle.ts';
import { jsonTextIsClean } from './walk.ts';
import { FhirXmlConverter, FhirXmlError, sniffFhirXml } from './xml.ts';

const MiB = 1024 * 1024;

export interface FhirAdapterOptions {
  /** NDJSON lines longer than this are rejected unread. Default 64 MiB. */
  maxLineBytes?: number;
  /** A single-Bundle file smaller than this is parsed whole; larger ones are streamed. Default 64 MiB. */
  wholeFileBytes?: number;
  /** A streamed Bundle may hold at most this many entries / characters of entries (they are all kept). */
  maxBundleEntries?: number;
  maxBundleEntryChars?: number;
}


function rejected(reason: string, raw: string, origin: string): RejectedItem {
  return { kind: 'rejected', format: 'fhir', reason, raw, origin };
}

function isJsonObject(text: string): boolean {
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return false;
  try {
    const v = JSON.parse(t);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Items for one NDJSON line (already decoded). */
function itemsFromLine(line: string, lineNo: number, origin: string, context: ReadContext): IngestItem[] {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return [rejected(`invalid JSON at line ${lineNo}: ${(err as Error).message}`, line, `${origin}#${lineNo}`)];
  }
  return itemsFromFhirJson(value, { contentHash: sha256Hex(line), raw: line, origin: `${origin}#${lineNo}`, textIsClean: jsonTextIsClean(line) }, context);
}

/**
 * An NDJSON line's item with its notes kept only the first time a note of its kind (the same text
 * but for the numbers: the same STU3 types converted and elements dropped) is seen in the file: a
 * practice's file holds a Bundle per patient, and the run should not carry a note per line.
 */
function noteOnce(item: IngestItem, lineNo: number, noted: Set<string>): IngestItem {
  if (item.kind !== 'accepted' || !item.fileNotes) return item;
  const fresh = item.fileNotes.filter((n) => {
    const kind = n.replace(/\d+/g, '#');
    if (noted.has(kind)) return false;
    noted.add(kind);
    return true;
  });
  if (fresh.length) item.fileNotes = fresh.map((n) => `${n} (line ${lineNo}; later lines like it are not noted again)`);
  else delete item.fileNotes;
  return item;
}

/** True when the first non-blank byte (after a UTF-8 BOM) is `<`. */
function isXmlStart(buffered: Buffer[]): boolean {
  for (const b of buffered) {
    let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf && b === buffered[0] ? 3 : 0;
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
    if (i < b.length) return b[i] === 0x3c;
  }
  return false;
}

async function* replay(buffered: Buffer[], rest: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  // Hand the chunks over one by one so the caller's copy is not kept alive.
  while (buffered.length) yield buffered.shift() as Buffer;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

/** Makes a FHIR adapter; the options exist so tests can force the streaming path on small files. */
export function createFhirAdapter(options: FhirAdapterOptions = {}): FeedAdapter {
  const maxLineBytes = options.maxLineBytes ?? 64 * MiB;
  const wholeFileBytes = options.wholeFileBytes ?? 64 * MiB;
  // Far beyond any one person's GP record; bounds memory (parsed JSON costs ~3x its text).
  const maxBundleEntries = options.maxBundleEntries ?? 500_000;
  const maxBundleEntryChars = options.maxBundleEntryChars ?? 128 * MiB;

  async function* readNdjson(input: AsyncIterable<Buffer>, origin: string, context: ReadContext): AsyncIterable<IngestItem> {
    const noted = new Set<string>();
    for await (const l of splitLines(input, { maxLineBytes })) {
      if ('tooLong' in l) {
        yield rejected(`line ${l.lineNo} is longer than ${maxLineBytes} bytes, so it was not read (one Bundle per line is expected)`, `${l.head}…`, `${origin}#${l.lineNo}`);
        continue;
      }
      if (l.line.trim() === '') continue;
      for (const item of itemsFromLine(l.line, l.lineNo, origin, context)) yield noteOnce(item, l.lineNo, noted);
    }
  }

  async function* readLargeDocument(input: AsyncIterable<Buffer>, origin: string, context: ReadContext): AsyncIterable<IngestItem> {
    const hash = createHash('sha256');
    let head = '';
    async function* hashed(): AsyncIterable<string> {
      for await (const text of decodeStream(input)) {
        if (head.length < 64 * 1024) head += text.slice(0, 64 * 1024 - head.length);
        hash.update(text, 'utf8');
        yield text;
      }
    }
    let bundle: Record<string, unknown>;
    try {
      bundle = await readBundleStream(hashed(), { maxValueChars: maxLineBytes, maxEntries: maxBundleEntries, maxEntryChars: maxBundleEntryChars });
    } catch (err) {
      const message = (err as Error).message;
      yield rejected(err instanceof BundleStreamError ? message : `invalid JSON: ${message}`, `${head}… (the rest of the file was not kept)`, origin);
      return;
    }
    yield* itemsFromFhirJson(bundle, { contentHash: hash.digest('hex'), raw: `${head}… (the rest of the file was not kept)`, origin }, context);
  }

  /**
   * One FHIR XML document: converted while it streams in (the text is kept only while under
   * wholeFileBytes, for the quarantine); then the same path as JSON.
   */
  async function* readXml(input: AsyncIterable<Buffer>, origin: string, context: ReadContext): AsyncIterable<IngestItem> {
    const hash = createHash('sha256');
    const converter = new FhirXmlConverter({ maxEntries: maxBundleEntries, maxValueChars: maxBundleEntryChars });
    let kept: string[] | null = [];
    let keptChars = 0;
    let head = '';
    let failed: FhirXmlError | null = null;
    // After a failure the rest is still read, so that a small file is quarantined whole.
    for await (const text of decodeStream(input)) {
      if (head.length < 64 * 1024) head += text.slice(0, 64 * 1024 - head.length);
      hash.update(text, 'utf8');
      if (kept) {
        keptChars += text.length;
        if (keptChars < wholeFileBytes) kept.push(text);
        else kept = null;
      }
      if (failed) {
        if (!kept) break;
        continue;
      }
      try {
        converter.write(text);
      } catch (err) {
        if (!(err instanceof FhirXmlError)) throw err;
        failed = err;
      }
    }
    let value: Record<string, unknown> | null = null;
    if (!failed) {
      try {
        value = converter.end();
      } catch (err) {
        if (!(err instanceof FhirXmlError)) throw err;
        failed = err;
      }
    }
    const raw = kept ? kept.join('') : `${head}… (the rest of the file was not kept)`;
    if (failed || !value) {
      yield rejected(failed?.message ?? 'FHIR XML: the file holds no resource', raw, origin);
      return;
    }
    yield* itemsFromFhirJson(value, { contentHash: hash.digest('hex'), raw, origin }, context);
  }

  function* readSmallDocument(bytes: Buffer, origin: string, context: ReadContext): Iterable<IngestItem> {
    const text = decodeText(bytes);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // Not one document: perhaps NDJSON whose first line is broken. Read it by lines if any
      // later line is a whole JSON object, so one bad line does not cost the good ones.
      const lines = text.split('\n');
      if (lines.slice(1, 20).some((l) => isJsonObject(l))) {
        const noted = new Set<string>();
        for (const [i, raw] of lines.entries()) {
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (line.trim() !== '') for (const item of itemsFromLine(line, i + 1, origin, context)) yield noteOnce(item, i + 1, noted);
        }
        return;
      }
      yield rejected(`invalid JSON: ${(err as Error).message}`, text, origin);
      return;
    }
    yield* itemsFromFhirJson(value, { contentHash: sha256Hex(text), raw: text, origin, textIsClean: jsonTextIsClean(text) }, context);
  }

  return {
    format: 'fhir',
    sniff(head: string): boolean {
      return stripBom(head).trimStart().startsWith('{') || sniffFhirXml(head);
    },
    async *read(input: AsyncIterable<Buffer>, origin: string, context: ReadContext = {}): AsyncIterable<IngestItem> {
      const it = input[Symbol.asyncIterator]();
      const buffered: Buffer[] = [];
      let bytes = 0;
      let ended = false;
      const pull = async (): Promise<Buffer | null> => {
        const r = await it.next();
        if (r.done) {
          ended = true;
          return null;
        }
        const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        buffered.push(b);
        bytes += b.length;
        return b;
      };

      // XML (`<` first) is FHIR XML: the converter names what is wrong with anything else.
      while (!ended && bytes === 0) await pull();
      if (isXmlStart(buffered)) {
        yield* readXml(replay(buffered, it), origin, context);
        return;
      }
      // Find the first line: a whole JSON object there means NDJSON. (The chunk already read is
      // looked at first: the first line usually ends in it.)
      let firstLineEnd = -1;
      for (let i = 0, offset = 0; i < buffered.length && firstLineEnd < 0; offset += buffered[i]!.length, i++) {
        const nl = buffered[i]!.indexOf(0x0a);
        if (nl >= 0) firstLineEnd = offset + nl;
      }
      while (firstLineEnd < 0 && !ended && bytes <= maxLineBytes) {
        const b = await pull();
        if (b) {
          const nl = b.indexOf(0x0a);
          if (nl >= 0) firstLineEnd = bytes - b.length + nl;
        }
      }
      if (firstLineEnd >= 0 && firstLineEnd <= maxLineBytes) {
        const first = decodeText(Buffer.concat(buffered).subarray(0, firstLineEnd));
        if (isJsonObject(first)) {
          yield* readNdjson(replay(buffered, it), origin, context);
          return;
        }
      }
      // One document: read it whole when small enough, else stream it.
      while (!ended && bytes < wholeFileBytes) await pull();
      if (ended && bytes < wholeFileBytes) {
        yield* readSmallDocument(Buffer.concat(buffered.splice(0)), origin, context);
        return;
      }
      yield* readLargeDocument(replay(buffered, it), origin, context);
    },
  };
}

/** The FHIR R4 adapter with the production limits. */
export const fhirAdapter: FeedAdapter = createFhirAdapter();
