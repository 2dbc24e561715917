/**
 * Which adapter reads a file, told from its first bytes, never its name (docs/feeds.md), and
 * the file and folder readers `bevan ingest` uses.
 */
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FeedAdapter, FeedFormat, IngestItem, ReadContext } from './model.ts';
import { decodeHead } from './text.ts';
import { fhirAdapter } from './fhir/adapter.ts';
import { hl7v2Adapter } from './hl7v2/adapter.ts';
import { csvAdapter } from './csv/adapter.ts';

const SNIFF_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

// Order matters only for text several could claim; FHIR (`{`) and HL7 (`MSH|`) cannot clash.
const ADAPTERS: readonly FeedAdapter[] = [fhirAdapter, hl7v2Adapter, csvAdapter];

/** The format the head of a file (decoded text) is in, or null when no adapter claims it. */
export function detectFormat(head: string): FeedFormat | null {
  for (const a of ADAPTERS) if (a.sniff(head)) return a.format;
  return null;
}

/** The adapter for a format. */
export function adapterFor(format: FeedFormat): FeedAdapter {
  const a = ADAPTERS.find((x) => x.format === format);
  if (!a) throw new Error(`no adapter for format ${format}`);
  return a;
}

/** A printable start of a file for a message: control characters shown as escapes. */
function preview(head: string): string {
  const s = head
    .slice(0, 60)
    .replace(/[\x00-\x1f\x7f"\\]/g, (c) => (c === '\r' ? '\\r' : c === '\n' ? '\\n' : c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return `"${s}${head.length > 60 ? '…' : ''}"`;
}

/**
 * Reads one feed file as ingest items: sniffs the first 64 KiB, then streams the whole file
 * through the adapter (with the feed's configured source, `--source` or the feeds file). Never
 * throws for bad content; an empty or unrecognised file is one RejectedItem.
 */
export async function* readFeedFile(path: string, context?: ReadContext): AsyncIterable<IngestItem> {
  const fh = await open(path, 'r');
  let headBytes: Buffer;
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    headBytes = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (headBytes.length === 0) {
    yield { kind: 'rejected', format: 'fhir', reason: 'file is empty', raw: '', origin: path };
    return;
  }
  const head = decodeHead(headBytes);
  const format = detectFormat(head);
  if (!format) {
    // The format field must hold something; CSV is the nearest to "some text we do not know".
    yield {
      kind: 'rejected',
      format: 'csv',
      reason: `not FHIR JSON, HL7 v2 or a known CSV contract: starts with ${preview(head)}`,
      raw: head.slice(0, 1024),
      origin: path,
    };
    return;
  }
  const stream = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  try {
    yield* adapterFor(format).read(stream as AsyncIterable<Buffer>, path, context);
  } finally {
    stream.destroy();
  }
}

/**
 * Lists the feed files under a folder, recursively, in a stable (sorted) order, skipping
 * hidden files and folders, the generator's `truth/` folder and `locality.json`.
 */
export async function* walkFeedFolder(dir: string): AsyncIterable<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'truth') continue;
      yield* walkFeedFolder(p);
    } else if (e.isFile()) {
      if (e.name === 'locality.json') continue;
      yield p;
    }
  }
}
