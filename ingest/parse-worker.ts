/**
 * Parsing off the writing thread. On a small machine the writer's thread (and, with PGlite, the
 * database itself) is the bottleneck; reading, decoding, parsing, validating, serialising and
 * hashing feed items here lets a second core do that work. Only plain data crosses: prepared items
 * whose resources are already JSON text (ingest/prepare.ts).
 *
 * Protocol: the parent sends {file, context} (and may send the next files before the first is
 * read); the worker answers, file after file in that order, with {chunk} messages, at most AHEAD
 * unacknowledged in all (the parent sends {ack} as it consumes one, so memory stays bounded
 * whatever the file size), then {end} or {error} for each file.
 */
import { parentPort } from 'node:worker_threads';
import type { IngestItem, ItemResource, ReadContext } from './model.ts';
import { readFeedFile } from './detect.ts';
import { prepareItem } from './prepare.ts';

export type ToWorker = { file: string; context?: ReadContext } | { ack: true };
export type FromWorker = { chunk: IngestItem[] } | { end: true } | { error: string };

/** Items and resources per chunk: big enough to amortise a message, small enough to stay flat. */
const CHUNK_ITEMS = 250;
const CHUNK_RESOURCES = 1000;
// Chunks sent ahead of the writer: enough that parsing goes on while a few batches commit
// (a batch is up to 1000 items), few enough to stay flat (each chunk is a few hundred KiB).
const AHEAD = 12;

/**
 * A prepared item as it crosses to the writing thread: each resource already serialised keeps
 * only its type and id as an object (all the writer reads of it; the content travels as its JSON
 * text). Cloning the whole resource tree, then collecting it, cost the writing thread more than
 * anything it does with the item.
 */
function slim(item: IngestItem): IngestItem {
  if (item.kind !== 'accepted') return item;
  // prepareItem's entries are slim already (a fresh type-and-id object each): only an entry that
  // came prepared from its adapter may still hold its whole resource.
  let resources: ItemResource[] | null = null;
  for (let i = 0; i < item.resources.length; i++) {
    const r = item.resources[i]!;
    if (r.json === undefined || isSlim(r.resource)) continue;
    resources ??= item.resources.slice();
    resources[i] = { ...r, resource: { resourceType: r.resource.resourceType, id: r.resource.id } as typeof r.resource };
  }
  return resources ? { ...item, resources } : item;
}

/** True for an object holding only resourceType and id (at most). */
function isSlim(resource: object): boolean {
  let n = 0;
  for (const k in resource) if (++n > 2 || (k !== 'resourceType' && k !== 'id')) return false;
  return true;
}

const port = parentPort;
if (port) {
  let credit = AHEAD;
  let wake: (() => void) | null = null;
  let queue: Promise<void> = Promise.resolve();
  const send = (m: FromWorker) => port.postMessage(m);

  async function parseFile(file: string, context?: ReadContext): Promise<void> {
    let chunk: IngestItem[] = [];
    let resources = 0;
    const flush = async () => {
      while (credit <= 0) await new Promise<void>((r) => (wake = r));
      credit--;
      send({ chunk });
      chunk = [];
      resources = 0;
    };
    for await (const item of readFeedFile(file, context)) {
      const prepared = slim(prepareItem(item));
      chunk.push(prepared);
      if (prepared.kind === 'accepted') resources += prepared.resources.length;
      if (chunk.length >= CHUNK_ITEMS || resources >= CHUNK_RESOURCES) await flush();
    }
    if (chunk.length) await flush();
  }

  port.on('message', (m: ToWorker) => {
    if ('ack' in m) {
      credit++;
      const w = wake;
      wake = null;
      w?.();
    } else {
      // Files are parsed in the order asked, each to its end ({end} or {error}) before the next:
      // the parent asks for the next file while it still writes this one, so parsing never waits
      // for a file's last batch to commit. A file that cannot be read ends in {error}; the parent
      // quarantines it and goes on.
      queue = queue.then(() =>
        parseFile(m.file, m.context).then(
          () => send({ end: true }),
          (err: Error) => send({ error: err.message }),
        ),
      );
    }
  });
}

