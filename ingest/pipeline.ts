/**
 * `bevan ingest`: feed files and folders through the adapters into the writer, streaming.
 * Parsing (on a second thread for big loads, else this one) overlaps with the database writes
 * (one at a time, or two on a PostgreSQL server), and memory stays flat whatever the file size:
 * the batches being written, the one being filled and a few parsed chunks are all that is held.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { stat } from 'node:fs/promises';
import type { Database } from '../db/database.ts';
import { retryWhileUnavailable } from '../db/database.ts';
import type { IngestItem } from './model.ts';
import { readFeedFile, walkFeedFolder } from './detect.ts';
import { ParseWorker } from './parse-pool.ts';
import { batchFootprint, emptyResult, writeBatch, type BatchFootprint, type BatchResult } from './writer.ts';

/** Loads at least this big are parsed on a second thread by default. */
const PARSE_THREAD_BYTES = 8 << 20;

export type IngestCounts = Omit<BatchResult, 'outcomes'>;

export interface IngestProgress {
  file: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  counts: IngestCounts;
}

export interface IngestOptions {
  /** Flush a batch at this many items or resources, whichever comes first. */
  batchItems?: number;
  batchResources?: number;
  /**
   * Batches written at once (each in its own transaction) while the next is parsed. Default 2 on
   * the PostgreSQL server (the server works on one while it waits on the other's commit), 1 on
   * PGlite (one connection, in this process). Batches that share a message, identity, NHS number
   * or resource, and batches with a merge, are never written side by side, so the outcome is
   * the same as writing them in turn.
   */
  writesInFlight?: number;
  /**
   * Parse on a second thread (ingest/parse-worker.ts) while this one writes. Default: when the
   * files come to at least 8 MiB (below that, starting the thread costs more than it saves).
   */
  parseThread?: boolean;
  /** How long to keep retrying while the database is unavailable (ms). */
  unavailableTimeoutMs?: number;
  onProgress?: (p: IngestProgress) => void;
}

export function addCounts(into: IngestCounts, r: IngestCounts): void {
  into.accepted += r.accepted;
  into.ignored += r.ignored;
  into.quarantined += r.quarantined;
  into.duplicates += r.duplicates;
  into.resources += r.resources;
}

/** Lists the feed files named by paths (files as given, folders walked in a stable order). */
export async function listFeedFiles(paths: readonly string[]): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const p of paths) {
    const s = await stat(p);
    if (s.isDirectory()) {
      for await (const f of walkFeedFolder(p)) out.push({ path: f, size: (await stat(f)).size });
    } else out.push({ path: p, size: s.size });
  }
  return out;
}

/**
 * Marks as 'abandoned' the runs of this host left 'running' by a process that no longer exists
 * (killed, or the machine restarted): their counts stopped where the process did. What they had
 * committed stays committed; running the same files again completes them. Returns how many.
 */
export async function markAbandonedRuns(db: Database): Promise<number> {
  const r = await db.query<{ pid: number | null }>(`SELECT DISTINCT pid FROM ingest_run WHERE status = 'running' AND host = $1`, [hostname()]);
  const dead = r.rows.map((x) => x.pid).filter((pid): pid is number => pid !== null && !processAlive(pid));
  if (!dead.length) return 0;
  const u = await db.query(
    `UPDATE ingest_run SET status = 'abandoned', finished_at = now(),
            error = 'the ingest process ended before this file was finished (killed?): what it committed is kept; ingest the file again to complete it'
      WHERE status = 'running' AND host = $1 AND pid = ANY($2::int[])`,
    [hostname(), dead],
  );
  return u.rowCount;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Ingests files and folders; returns the counts over all of them. */
export async function ingestPaths(db: Database, paths: readonly string[], opts: IngestOptions = {}): Promise<IngestCounts & { files: number; seconds: number }> {
  const started = performance.now();
  await withRetry(opts, () => markAbandonedRuns(db));
  const files = await listFeedFiles(paths);
  const bytesTotal = files.reduce((a, f) => a + f.size, 0);
  const total = emptyResult();
  let bytesDone = 0;
  const parser = (opts.parseThread ?? bytesTotal >= PARSE_THREAD_BYTES) ? new ParseWorker() : null;
  try {
    for (const [n, f] of files.entries()) {
      const items = parser ? parser.items(f.path) : readFeedFile(f.path);
      const counts = await ingestStream(db, items, f.path, opts, (c) =>
        opts.onProgress?.({ file: f.path, filesDone: n, filesTotal: files.length, bytesDone, bytesTotal, counts: sum(total, c) }),
      );
      addCounts(total, counts);
      bytesDone += f.size;
      opts.onProgress?.({ file: f.path, filesDone: n + 1, filesTotal: files.length, bytesDone, bytesTotal, counts: { ...total } });
    }
  } finally {
    await parser?.close();
  }
  return { ...total, files: files.length, seconds: (performance.now() - started) / 1000 };
}

function sum(a: IngestCounts, b: IngestCounts): IngestCounts {
  const s = { ...a };
  addCounts(s, b);
  return s;
}

/** Ingests one stream of items (one file or connection), recording an ingest_run row. */
export async function ingestStream(
  db: Database,
  items: AsyncIterable<IngestItem>,
  origin: string,
  opts: IngestOptions = {},
  onBatch?: (soFar: IngestCounts) => void,
): Promise<IngestCounts> {
  const runId = randomUUID();
  const maxItems = opts.batchItems ?? 1000;
  const maxResources = opts.batchResources ?? 4000;
  const counts = emptyResult();
  let format: string | null = null;
  await withRetry(opts, () => db.query('INSERT INTO ingest_run (run_id, origin, host, pid) VALUES ($1, $2, $3, $4)', [runId, origin, hostname(), process.pid]));

  const maxInFlight = Math.max(1, opts.writesInFlight ?? (db.kind === 'postgres' ? 2 : 1));
  const inflight = new Set<{ footprint: BatchFootprint; done: Promise<void> }>();
  const clashes = (a: BatchFootprint, b: BatchFootprint) => {
    if (a.merges || b.merges) return true;
    const [small, large] = a.keys.size < b.keys.size ? [a.keys, b.keys] : [b.keys, a.keys];
    for (const k of small) if (large.has(k)) return true;
    return false;
  };
  let failed: { err: unknown } | null = null;
  const flush = async (batch: IngestItem[]) => {
    if (failed) throw failed.err;
    const footprint = maxInFlight > 1 ? batchFootprint(batch) : { keys: new Set<string>(), merges: true };
    // Wait for a free slot and for every batch this one must follow.
    for (;;) {
      const blocking = [...inflight].filter((w) => inflight.size >= maxInFlight || clashes(w.footprint, footprint));
      if (!blocking.length) break;
      await Promise.race(blocking.map((w) => w.done));
    }
    const entry = {
      footprint,
      done: withRetry(opts, () => writeBatch(db, batch)).then((r) => {
        addCounts(counts, r);
        onBatch?.(counts);
      }),
    };
    inflight.add(entry);
    entry.done.then(
      () => inflight.delete(entry),
      (err) => (failed ??= { err }), // a failed write stays in the set; the next flush rethrows its error
    );
  };
  const settle = () => Promise.all([...inflight].map((w) => w.done));
  try {
    let batch: IngestItem[] = [];
    let resources = 0;
    for await (const item of items) {
      format ??= item.format;
      batch.push(item);
      if (item.kind === 'accepted') resources += item.resources.length;
      if (batch.length >= maxItems || resources >= maxResources) {
        await flush(batch);
        batch = [];
        resources = 0;
      }
    }
    if (batch.length) await flush(batch);
    await settle();
  } catch (err) {
    // Let any write still running settle before we report, so the run row is accurate.
    await Promise.allSettled([...inflight].map((w) => w.done));
    await db
      .query(`UPDATE ingest_run SET status = 'failed', error = $2, finished_at = now() WHERE run_id = $1`, [runId, String((err as Error).message)])
      .catch(() => {});
    throw err;
  }
  await withRetry(opts, () =>
    db.query(
      `UPDATE ingest_run SET status = 'done', format = $2, accepted = $3, ignored = $4, quarantined = $5, duplicates = $6, resources = $7, finished_at = now() WHERE run_id = $1`,
      [runId, format, counts.accepted, counts.ignored, counts.quarantined, counts.duplicates, counts.resources],
    ),
  );
  return counts;
}

/** Retries while the database is unavailable (server restarting), up to the ingest's time limit. */
const withRetry = <T>(opts: Pick<IngestOptions, 'unavailableTimeoutMs'>, fn: () => Promise<T>): Promise<T> => retryWhileUnavailable(fn, opts.unavailableTimeoutMs);
