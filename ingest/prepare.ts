/**
 * Serialising and hashing a parsed item's resources ahead of the writer, so that work can run on
 * another thread (ingest/parse-worker.ts) and only strings cross to the writing thread.
 */
import { createHash } from 'node:crypto';
import type { IngestItem } from './model.ts';

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The item with each resource serialised and hashed, the resource itself cut down to its type and id. */
export function prepareItem(item: IngestItem): IngestItem {
  if (item.kind !== 'accepted') return item;
  return {
    ...item,
    resources: item.resources.map((r) => {
      if (r.json !== undefined) return r;
      const json = JSON.stringify(r.resource);
      return { resource: { resourceType: r.resource.resourceType, id: r.resource.id } as typeof r.resource, sourceTime: r.sourceTime, json, hash: sha256Hex(json) };
    }),
  };
}
