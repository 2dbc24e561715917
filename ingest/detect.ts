/**
 * Which adapter reads a file, told from its first bytes, never its name (docs/feeds.md), and
 * the file and folder readers `bevan ingest` uses.
 */
import { createReadStream, type Dirent } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { FeedAdapter, FeedFormat, IngestItem, ReadContext } from './model.ts';
import { decodeHead, stripBom } from './text.ts';
import { fhirAdapter } from './fhir/adapter.ts';
import { fhirTypeWithoutNamespace, sniffFhirXml } from './fhir/xml.ts';
import { hl7v2Adapter } from './hl7v2/adapter.ts';
import { csvAdapter } from './csv/adapter.ts';

const SNIFF_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

// Order matters only for text several could claim; FHIR (`{` or FHIR XML) and HL7 (`MSH|`) cannot clash.
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

/** A rejection for a whole file (no format could be told: filed under the one given). */
function fileRejected(path: string, reason: string, raw = '', format: FeedFormat = 'fhir'): IngestItem {
  return { kind: 'rejected', format, reason, raw, origin: path };
}

/** True when `inner` (a real path) is `outer` or inside it. */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

type Utf16 = 'utf-16le' | 'utf-16be';

/** UTF-16 told from a byte-order mark, or from NULs between ASCII characters (`{\0"\0`). */
export function utf16Of(head: Uint8Array): Utf16 | null {
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  if (head.length >= 4 && head[0] !== 0 && head[1] === 0 && head[2] !== 0 && head[3] === 0) return 'utf-16le';
  if (head.length >= 4 && head[0] === 0 && head[1] !== 0 && head[2] === 0 && head[3] !== 0) return 'utf-16be';
  return null;
}

/** UTF-16 bytes re-encoded as UTF-8, streaming (the BOM is dropped; a lone surrogate becomes U+FFFD). */
async function* utf16ToUtf8(input: AsyncIterable<Buffer>, encoding: Utf16): AsyncIterable<Buffer> {
  const decoder = new TextDecoder(encoding);
  for await (const chunk of input) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield Buffer.from(text, 'utf8');
  }
  const rest = decoder.decode();
  if (rest) yield Buffer.from(rest, 'utf8');
}

/** A reason for a file in a format Bevan does not read but can name, or null. */
function knownOtherFormat(headBytes: Uint8Array, head: string): string | null {
  if (headBytes[0] === 0x1f && headBytes[1] === 0x8b) return 'a gzip-compressed file: decompress it, then ingest what it holds';
  if (headBytes[0] === 0x50 && headBytes[1] === 0x4b && headBytes[2] === 0x03 && headBytes[3] === 0x04) return 'a zip archive: unpack it, then ingest the files it holds';
  const t = stripBom(head).trimStart();
  // A JSON array of resources (some tools' "export as JSON"): not a FHIR file, but easily made one.
  if (/^\[\s*\{\s*"resourceType"\s*:/.test(t) || (/^\[\s*\{/.test(t) && /"resourceType"\s*:/.test(t.slice(0, 4096)))) {
    return 'a JSON array of FHIR resources, which FHIR does not define as a file: send them as a Bundle (type collection), or as NDJSON, one resource per line';
  }
  if (!t.startsWith('<')) return null;
  if (sniffFhirXml(t)) return null; // FHIR XML: the FHIR adapter reads it
  if (t.includes('http://hl7.org/fhir')) return 'XML that mentions FHIR but whose root element is not in the FHIR namespace (http://hl7.org/fhir): a FHIR XML resource or Bundle is read, with xmlns="http://hl7.org/fhir" on its root';
  const bare = fhirTypeWithoutNamespace(t);
  if (bare) return `FHIR XML without its namespace: the root element <${bare}> has no xmlns, and FHIR XML elements are always in the namespace http://hl7.org/fhir; write it as <${bare} xmlns="http://hl7.org/fhir"> and send it again`;
  if (t.includes('urn:hl7-org:v2xml')) return 'HL7 v2 XML encoding, which Bevan does not read: send the messages in the standard pipe-delimited (ER7) encoding';
  return `XML, not FHIR JSON, HL7 v2 or CSV: starts with ${preview(t)}`;
}

/** An I/O error as a person reads it: Node's message names the operation and the path. */
const ioError = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Why a path is not read, or null when it may be: a symbolic link is followed only to a place
 * inside the folder that holds it (so a link dropped into a feed folder cannot make Bevan read
 * files elsewhere); a folder that reached here could not be listed; only regular files are read.
 */
async function refusal(path: string): Promise<string | null> {
  const link = await lstat(path);
  if (link.isSymbolicLink()) {
    const target = await realpath(path);
    const folder = await realpath(dirname(path));
    if (!within(target, folder)) {
      return `not read: ${path} is a symbolic link to ${target}, outside the folder that holds it; ingest ${target} itself if it is meant to be read`;
    }
  }
  const s = await stat(path);
  if (s.isDirectory()) {
    try {
      await readdir(path);
    } catch (err) {
      return `the folder could not be read: ${ioError(err)}`;
    }
    return `${path} is a folder: ingest it as a folder (its files are read), not as a file`;
  }
  if (!s.isFile()) return `not read: ${path} is not a regular file (a pipe, socket or device)`;
  return null;
}

/**
 * Reads one feed file as ingest items: sniffs the first 64 KiB, then streams the whole file
 * through the adapter, with the feed's context (its configured source). Never throws: an empty,
 * unrecognised or unreadable file (EACCES, gone, a folder, a link leading outside its folder) is
 * one RejectedItem naming why; a file that fails part way ends with one after the items read.
 * UTF-16 text (with a BOM or NUL-interleaved) is re-encoded as UTF-8 and read like any other.
 */
export async function* readFeedFile(path: string, context?: ReadContext): AsyncIterable<IngestItem> {
  let headBytes: Buffer;
  try {
    const refused = await refusal(path);
    if (refused) {
      yield fileRejected(path, refused);
      return;
    }
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
      headBytes = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    yield fileRejected(path, `the file could not be read: ${ioError(err)}`);
    return;
  }
  if (headBytes.length === 0) {
    yield fileRejected(path, 'file is empty');
    return;
  }
  const utf16 = utf16Of(headBytes);
  const head = utf16 ? new TextDecoder(utf16).decode(headBytes) : decodeHead(headBytes);
  const other = knownOtherFormat(headBytes, head);
  const format = other ? null : detectFormat(head);
  if (!format) {
    // The format field must hold something; CSV is the nearest to "some text we do not know".
    yield fileRejected(path, `${utf16 ? `${utf16.toUpperCase()} text, ` : ''}${other ?? `not FHIR JSON, HL7 v2 or a known CSV contract: starts with ${preview(head)}`}`, head.slice(0, 1024), 'csv');
    return;
  }
  const stream = createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
  let n = 0;
  try {
    const bytes = utf16 ? utf16ToUtf8(stream as AsyncIterable<Buffer>, utf16) : (stream as AsyncIterable<Buffer>);
    for await (const item of adapterFor(format).read(bytes, path, context)) {
      n++;
      yield item;
    }
  } catch (err) {
    // Adapters never throw for content: this is the file failing under us (gone, a disk error).
    yield fileRejected(path, n ? `the file could not be read to the end (${n} items before this were read): ${ioError(err)}` : `the file could not be read: ${ioError(err)}`, '', format);
  } finally {
    stream.destroy();
  }
}

/**
 * Lists the feed files under a folder, recursively, in a stable (sorted) order, skipping
 * hidden files and folders, the generator's `truth/` folder and `locality.json`.
 * Symbolic links are followed only when they lead inside `roots` (default: the folder itself);
 * a followed link is listed by its real path, each real file once. A link leading outside, a
 * broken link, and a subfolder that cannot be listed are listed as they are, so that
 * readFeedFile rejects each with its reason and the rest of the walk goes on.
 */
export async function* walkFeedFolder(dir: string, roots?: readonly string[]): AsyncIterable<string> {
  // The folder itself may be a link named on the command line: refuse it if it leads outside.
  let real: string;
  try {
    if ((await lstat(dir)).isSymbolicLink() && !within(await realpath(dir), await realpath(dirname(dir)))) {
      yield dir;
      return;
    }
    real = await realpath(dir);
  } catch {
    yield dir;
    return;
  }
  yield* walk(dir, roots ? await Promise.all(roots.map((r) => realpath(r).catch(() => r))) : [real], new Set([real]));
}

async function* walk(dir: string, roots: readonly string[], seen: Set<string>): AsyncIterable<string> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    yield dir; // readFeedFile names the error
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'truth') continue;
      const real = await realpath(p).catch(() => p);
      if (seen.has(real)) continue;
      seen.add(real);
      yield* walk(p, roots, seen);
    } else if (e.isFile()) {
      if (e.name === 'locality.json' || e.name === 'feeds.json') continue; // configuration, not feed data
      const real = await realpath(p).catch(() => p);
      if (seen.has(real)) continue;
      seen.add(real);
      yield p;
    } else if (e.isSymbolicLink()) {
      let target: string;
      let isDir: boolean;
      try {
        target = await realpath(p);
        isDir = (await stat(target)).isDirectory();
      } catch {
        yield p; // broken link: readFeedFile names the error
        continue;
      }
      if (!roots.some((r) => within(target, r))) {
        yield p; // leads outside: readFeedFile refuses it, with the reason
        continue;
      }
      if (seen.has(target)) continue; // a loop, or a file listed already
      seen.add(target);
      if (isDir) {
        if (e.name !== 'truth') yield* walk(target, roots, seen);
      } else if (e.name !== 'locality.json') yield target;
    }
  }
}
