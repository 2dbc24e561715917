/**
 * How a chunk of prepared items crosses from the parsing thread to the writing thread
 * (ingest/parse-worker.ts → ingest/parse-pool.ts) with less structured-clone work.
 *
 * A structured clone writes every object's keys as strings and the receiving thread looks each one
 * up again, and it copies every string each time it occurs. A prepared item's resource entries (a
 * FHIR GP bundle holds ~40, an HL7 v2 event ~2) are nearly all of a chunk's objects, and an HL7 v2
 * or CSV feed restates a person's Patient in every event, the same JSON text each time. So the
 * entries of an item travel as columns of one flat array per chunk (no keys), and each distinct JSON
 * text once per chunk with its hash; the writing thread builds the entries again, key for key as
 * prepareItem made them. An entry of any other shape (an adapter's own prepared entry) leaves its
 * item to cross as it is.
 */
import type { IngestItem, ItemResource } from './model.ts';

/** A chunk as it crosses: the items, those packed with `resources` replaced by their count. */
export interface PackedChunk {
  chunk: IngestItem[];
  /** Five values per packed resource: type, id, source time, subject, index into `texts`. */
  cells?: unknown[];
  /** Each distinct JSON text of the chunk's packed resources once, and its hash at the same index. */
  texts?: string[];
  hashes?: string[];
}

const CELLS = 5;

/**
 * True for an entry exactly as prepareItem makes it: `{resource: {resourceType, id}, sourceTime,
 * json, hash}` and, when there is one, `subject` last (a string); nothing else.
 */
function packable(r: ItemResource): boolean {
  let n = 0;
  for (const k in r) {
    const at = n++;
    if (at === 0 ? k !== 'resource' : at === 1 ? k !== 'sourceTime' : at === 2 ? k !== 'json' : at === 3 ? k !== 'hash' : at === 4 ? k !== 'subject' : true) return false;
  }
  if (n < 4 || typeof r.json !== 'string' || typeof r.hash !== 'string') return false;
  if (n === 5 && typeof r.subject !== 'string') return false;
  if (r.sourceTime !== undefined && typeof r.sourceTime !== 'string') return false;
  const res = r.resource as unknown as Record<string, unknown>;
  let m = 0;
  for (const k in res) if ((m++ === 0 ? k !== 'resourceType' : k !== 'id') || m > 2) return false;
  return m === 2 && typeof res.resourceType === 'string' && typeof res.id === 'string';
}

/** The chunk as it should be posted; the items given are not changed (a packed item is a copy). */
export function packChunk(items: readonly IngestItem[]): PackedChunk {
  const chunk: IngestItem[] = new Array(items.length);
  const cells: unknown[] = [];
  const texts: string[] = [];
  const hashes: string[] = [];
  // By hash: a restated Patient is one text however many events carry it (the text is compared
  // too, so equal hashes of different texts could only cost a second copy, never a wrong one).
  const byHash = new Map<string, number>();
  let packed = false;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item.kind !== 'accepted' || !item.resources.every(packable)) {
      chunk[i] = item;
      continue;
    }
    for (const r of item.resources) {
      const hash = r.hash!;
      let k = byHash.get(hash);
      if (k === undefined || texts[k] !== r.json) {
        k = texts.length;
        texts.push(r.json!);
        hashes.push(hash);
        byHash.set(hash, k);
      }
      cells.push(r.resource.resourceType, r.resource.id, r.sourceTime, r.subject, k);
    }
    chunk[i] = { ...item, resources: item.resources.length as unknown as ItemResource[] };
    packed = true;
  }
  return packed ? { chunk, cells, texts, hashes } : { chunk };
}

/** The items of a posted chunk, their entries built again as prepareItem made them. */
export function unpackChunk(m: PackedChunk): IngestItem[] {
  const { chunk, cells, texts, hashes } = m;
  if (!cells || !texts || !hashes) return chunk;
  let c = 0;
  for (const item of chunk) {
    if (item.kind !== 'accepted' || typeof item.resources !== 'number') continue;
    const n = item.resources as number;
    const resources: ItemResource[] = new Array(n);
    for (let j = 0; j < n; j++, c += CELLS) {
      const resource = { resourceType: cells[c], id: cells[c + 1] } as ItemResource['resource'];
      const sourceTime = cells[c + 2] as string | undefined;
      const subject = cells[c + 3] as string | undefined;
      const k = cells[c + 4] as number;
      resources[j] = subject === undefined ? { resource, sourceTime, json: texts[k], hash: hashes[k] } : { resource, sourceTime, json: texts[k], hash: hashes[k], subject };
    }
    item.resources = resources;
  }
  if (c !== cells.length) throw new Error(`a chunk from the parsing thread did not unpack whole (${c} of ${cells.length} cells)`);
  return chunk;
}
