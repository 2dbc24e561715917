/**
 * Presented responses (the UTF-8 JSON of a `Patient/{id}/$everything` page), kept in memory
 * and bounded by bytes, least recently used first out. A response is only ever found again under
 * the same key, and the key holds everything the bytes depend on: the person, the version stamp
 * of their record (record/record-store.ts RECORD_STAMP_SQL, read in the statement that finds the
 * person: a write to anything the record is read from changes it), the day (ages and "ended"
 * medications are relative to today), the view key of fhir/presented-records.ts (the policy's
 * content, the decision's obligations — what is withheld: sensitive categories, one organisation's
 * data —, the scopes, the request's own parameters) and the base URL. Behind it, the pages every
 * server shares (fhir/presented-records.ts, migration 0079). The access decision and the audit entry are never cached: every request is decided
 * on facts read for it, and audited, before a cached response is handed out.
 *
 * Written here rather than taken from a package (lru-cache is only a transitive dependency, not
 * one of ours): a Map in insertion order is an LRU with a byte bound in a few lines.
 *
 * Size: BEVAN_RESPONSE_CACHE_MB (default 64; 0 turns the cache off), per server process.
 */
import type { Database } from '../db/database.ts';

export interface CachedResponse {
  /** The UTF-8 bytes sent (kept as bytes: no encoding per request). */
  body: Buffer;
  /** What the audit entry of a read says about it. */
  items: number;
  withheld: number;
  /** The body gzip-compressed, once a client that accepts gzip has asked for it (http/everything-render.ts): sent as it is. */
  gzip?: Buffer;
}

export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>();
  private bytes = 0;
  readonly stats = { hits: 0, misses: 0 };

  constructor(readonly maxBytes: number) {}

  get(key: string): CachedResponse | undefined {
    const hit = this.entries.get(key);
    if (!hit) {
      this.stats.misses++;
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, hit);
    this.stats.hits++;
    return hit;
  }

  set(key: string, value: CachedResponse): void {
    const size = sizeOf(key, value);
    if (size > this.maxBytes / 4) return; // one huge record must not empty the cache
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= sizeOf(key, old);
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.bytes += size;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= sizeOf(k, v);
    }
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

// The gzip form a client may ask for later is counted from the start (about a fifth of the body): the bound holds without re-accounting.
function sizeOf(key: string, v: CachedResponse): number {
  return 2 * key.length + v.body.length + Math.ceil(v.body.length / 5) + 64;
}

/** The cache size from the environment (BEVAN_RESPONSE_CACHE_MB), checked: bytes, 0 for none. */
export function responseCacheBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.BEVAN_RESPONSE_CACHE_MB?.trim();
  if (!v) return DEFAULT_MB * 1024 * 1024;
  if (!/^\d{1,6}$/.test(v)) throw new Error(`BEVAN_RESPONSE_CACHE_MB must be a whole number of megabytes (0 turns the cache off), not ${JSON.stringify(v)}`);
  return Number(v) * 1024 * 1024;
}

const DEFAULT_MB = 64;
const caches = new WeakMap<Database, ResponseCache | null>();

/** The response cache of a database (one per open database in this process: keys are only unique within one), or undefined when turned off. */
export function responseCacheFor(db: Database): ResponseCache | undefined {
  let c = caches.get(db);
  if (c === undefined) {
    const bytes = responseCacheBytes();
    caches.set(db, (c = bytes > 0 ? new ResponseCache(bytes) : null));
  }
  return c ?? undefined;
}
