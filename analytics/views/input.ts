/**
 * Resources to run a view over without the store: a FHIR Bundle (its entries' resources), a
 * single resource or a JSON array of them, or NDJSON (one resource per line, as Bulk Data
 * export writes, read line by line so a file of any size streams). Contained resources are not
 * taken out of their containers (see docs/analytics/views.md).
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { invalid, notFound } from '../../access/context.ts';
import { parseKeepingNumberText } from './number-text.ts';

/** The largest JSON (not NDJSON) file read whole: beyond it, give NDJSON. */
export const MAX_JSON_FILE_BYTES = 512 * 1024 * 1024;

/**
 * The resources in a file, in order. `.ndjson` and `.jsonl` files are NDJSON; others are read as
 * JSON, or as NDJSON when they are not one JSON value. `keepNumberText` reads each number's text
 * as written (number-text.ts: `1.0` keeps its one decimal place), for a view that calls the
 * boundary functions; slower than JSON.parse, so only then.
 */
export async function* resourcesFromFile(path: string, o: { keepNumberText?: boolean } = {}): AsyncGenerator<unknown> {
  const parse = o.keepNumberText ? parseKeepingNumberText : JSON.parse;
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw invalid(`--input ${path} is not a file`);
    size = s.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`--input ${path}: no such file`);
    throw err;
  }
  if (/\.(ndjson|jsonl)$/i.test(path) || !(await looksLikeOneJsonValue(path))) {
    yield* ndjson(path, parse);
    return;
  }
  if (size > MAX_JSON_FILE_BYTES) throw invalid(`--input ${path} is ${Math.round(size / 1048576)} MiB of JSON: give NDJSON (one resource per line) for files over ${MAX_JSON_FILE_BYTES / 1048576} MiB`);
  const { readFile } = await import('node:fs/promises');
  let parsed: unknown;
  try {
    parsed = parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw invalid(`--input ${path} is not JSON: ${(err as Error).message}`);
  }
  yield* resourcesOf(parsed, path);
}

/** The resources a parsed JSON value holds: a Bundle's entries, an array's items, or the resource itself. */
export function* resourcesOf(value: unknown, where = 'the input'): Generator<unknown> {
  if (Array.isArray(value)) {
    for (const x of value) yield* resourcesOf(x, where);
    return;
  }
  if (!value || typeof value !== 'object' || typeof (value as { resourceType?: unknown }).resourceType !== 'string') throw invalid(`${where} holds something that is not a FHIR resource (no resourceType)`);
  const r = value as { resourceType: string; entry?: unknown };
  if (r.resourceType === 'Bundle') {
    if (r.entry !== undefined && !Array.isArray(r.entry)) throw invalid(`${where}: Bundle.entry is not a list`);
    for (const e of (r.entry as { resource?: unknown }[] | undefined) ?? []) if (e && typeof e === 'object' && e.resource) yield e.resource;
    return;
  }
  yield value;
}

async function* ndjson(path: string, parse: (text: string) => unknown): AsyncGenerator<unknown> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let parsed: unknown;
    try {
      parsed = parse(line);
    } catch (err) {
      throw invalid(`--input ${path} line ${n} is not JSON: ${(err as Error).message}`);
    }
    yield* resourcesOf(parsed, `--input ${path} line ${n}`);
  }
}

/** A cheap look at the file: JSON that is one value (a Bundle pretty-printed over many lines) or NDJSON (a complete object on its first line). */
async function looksLikeOneJsonValue(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead).toString('utf8');
    const firstLine = head.split('\n', 1)[0]!.trim();
    if (head.trimStart().startsWith('[')) return true;
    if (!firstLine.startsWith('{') || firstLine.length === head.trim().length) return true;
    try {
      JSON.parse(firstLine);
      return false;
    } catch {
      return true;
    }
  } finally {
    await fh.close();
  }
}
