/**
 * `bevan ingest`: feed files and folders through the adapters into the writer, streaming.
 * Parsing (on a second thread for big loads, else this one) overlaps with the database writes
 * (one at a time, or two on a PostgreSQL server), and memory stays flat whatever the file size:
 * the batches being written, the one being filled and a few parsed chunks are all that is held.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { open, stat } from 'node:fs/promises';
import type { Database } from '../db/database.ts';
import { retryWhileUnavailable } from '../db/database.ts';
import type { FeedFormat, IngestItem, ReadContext } from './model.ts';
import { detectFormat, readFeedFile, walkFeedFolder } from './detect.ts';
import { decodeHead } from './text.ts';
import { ParseWorker } from './parse-pool.ts';
import { fingerprintFile, findKnownFile, recordKnownFile, type FileFingerprint, type KnownFile } from './known-files.ts';
import { batchFootprint, clashes, CopyFirstGuess, emptyResult, itemKeys, writeBatch, WRITER_TABLES, type BatchFootprint, type BatchResult } from './writer.ts';
import { LINK_TABLES } from '../mpi/link.ts';
import { refreshStaleStatistics } from '../db/statistics.ts';

/** Loads at least this big are parsed on a second thread by default. */
const PARSE_THREAD_BYTES = 8 << 20;

export type IngestCounts = Omit<BatchResult, 'outcomes'>;

/** A file's notes (RejectedItem.fileNotes): what the integration team should see about it. */
export interface FileNotes {
  file: string;
  notes: string[];
}

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
  /**
   * Read and parse every file, even one loaded whole before with the same bytes (by default such a
   * file's items are counted as duplicates without reading it: ingest/known-files.ts).
   */
  readKnownFiles?: boolean;
  /**
   * Write the resources of sources the store holds nothing of by COPY alone, without reading the
   * store first (ingest/writer.ts CopyFirstGuess; a batch that meets a stored key falls back).
   * Default true; false reads first always (to compare); a CopyFirstGuess of the caller's is used
   * as it is (its counts show how many batches went copy-first).
   */
  copyFirst?: boolean | CopyFirstGuess;
  /** How long to keep retrying while the database is unavailable (ms). */
  unavailableTimeoutMs?: number;
  /**
   * The source system key of the feed (`bevan ingest --source`), for paths given without one:
   * passed to the adapters (ReadContext) and recorded on each ingest run.
   */
  source?: string;
  onProgress?: (p: IngestProgress) => void;
}

export function addCounts(into: IngestCounts, r: IngestCounts): void {
  into.accepted += r.accepted;
  into.ignored += r.ignored;
  into.quarantined += r.quarantined;
  into.duplicates += r.duplicates;
  into.resources += r.resources;
}

/** A file or folder to ingest, and the feed's source system key when it is configured. */
export interface FeedPath {
  path: string;
  source?: string;
  /**
   * The feed's format (a feeds file's feed): the source applies to the files of this format only,
   * so that two feeds of different formats may share a folder (a mental health trust's HL7 and
   * CSV); a file of another format is read as if named on its own.
   */
  format?: FeedFormat;
}

/** One feed file to read. */
export interface FeedFile {
  path: string;
  size: number;
  source?: string;
  /** Why the file or folder cannot be listed or read (it is then quarantined, not read). */
  error?: string;
}

/**
 * Lists the feed files named by paths (files as given, folders walked in a stable order), each
 * once, with the source of the feed it belongs to. Never throws for a path: one that is missing
 * or cannot be listed (gone, EACCES) is listed with its error, so that it is quarantined with that
 * reason and the run goes on.
 */
export async function listFeedFiles(paths: readonly (string | FeedPath)[]): Promise<FeedFile[]> {
  const out: FeedFile[] = [];
  const at = new Map<string, FeedFile>();
  // Feeds with a format claim the files of that format: told from the content once all are listed.
  const claims = new Map<FeedFile, FeedPath[]>();
  const add = (f: FeedFile, feed: FeedPath) => {
    let entry = at.get(f.path);
    if (!entry) {
      entry = f;
      at.set(f.path, entry);
      out.push(entry);
    }
    if (feed.source === undefined) return;
    if (feed.format === undefined) entry.source ??= feed.source;
    else claims.set(entry, [...(claims.get(entry) ?? []), feed]);
  };
  for (const given of paths) {
    const feed: FeedPath = typeof given === 'string' ? { path: given } : given;
    const p = feed.path;
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(p);
    } catch (err) {
      add({ path: p, size: 0, error: fileError(err) }, feed);
      continue;
    }
    if (!s.isDirectory()) {
      add({ path: p, size: s.size }, feed);
      continue;
    }
    try {
      for await (const f of walkFeedFolder(p)) {
        // A file that goes between listing and reading is read (and quarantined) as it then is.
        const size = await stat(f).then((x) => x.size, () => 0);
        add({ path: f, size }, feed);
      }
    } catch (err) {
      // The files listed before the failure stay listed.
      add({ path: p, size: 0, error: `the folder could not be read to the end: ${fileError(err)}` }, feed);
    }
  }
  for (const [entry, feeds] of claims) {
    if (entry.error !== undefined || entry.source !== undefined) continue;
    const format = await formatOf(entry.path);
    const feed = feeds.find((f) => f.format === format);
    if (feed) entry.source = feed.source;
  }
  return out;
}

/** The format of a file told from its first bytes, as readFeedFile tells it; null when unreadable or unknown. */
async function formatOf(path: string): Promise<FeedFormat | null> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
      return bytesRead ? detectFormat(decodeHead(buf.subarray(0, bytesRead))) : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null; // readFeedFile meets the same error and the file is quarantined with it
  }
}

const SNIFF_BYTES = 64 * 1024;

/** An I/O error as a person reads it: Node's message already names the operation and the path. */
const fileError = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A file's items, never throwing: a file that cannot be opened or read to its end (gone, EACCES,
 * a disk error) ends with a rejection naming why, after the items read before it.
 */
async function* readingSafely(items: AsyncIterable<IngestItem>, path: string): AsyncIterable<IngestItem> {
  let format: FeedFormat | undefined;
  let n = 0;
  try {
    for await (const item of items) {
      format = item.format;
      n++;
      yield item;
    }
  } catch (err) {
    const reason = n ? `the file could not be read to the end (${n} items before this were read): ${fileError(err)}` : `the file could not be read: ${fileError(err)}`;
    // The format is the items' so far, else unknown: 'fhir' is what an unreadable file is filed under (as an empty one is).
    yield { kind: 'rejected', format: format ?? 'fhir', reason, raw: '', origin: path };
  }
}

async function* fileRejected(f: FeedFile): AsyncIterable<IngestItem> {
  yield { kind: 'rejected', format: 'fhir', reason: `the file could not be read: ${f.error}`, raw: '', origin: f.path };
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

/**
 * Ingests files and folders; returns the counts over all of them. A path given as a string is of
 * `opts.source` (if any); a FeedPath names its own feed (`bevan ingest --feeds`).
 */
export async function ingestPaths(
  db: Database,
  paths: readonly (string | FeedPath)[],
  opts: IngestOptions = {},
): Promise<IngestCounts & { files: number; seconds: number; notes: FileNotes[] }> {
  const started = performance.now();
  await withRetry(opts, () => markAbandonedRuns(db));
  const files = await listFeedFiles(paths.map((p) => (typeof p === 'string' && opts.source !== undefined ? { path: p, source: opts.source } : p)));
  const bytesTotal = files.reduce((a, f) => a + f.size, 0);
  const total = emptyResult();
  let bytesDone = 0;
  const parser = (opts.parseThread ?? bytesTotal >= PARSE_THREAD_BYTES) ? new ParseWorker() : null;
  // One writer for all the files: the next file is parsed (on the parsing thread) and its batches
  // queued while the last batches of this one still commit, so the pipeline stays full across
  // files (a GP practice's file is about one batch: file by file, parsing and writing would take turns).
  const writer = new BatchWriter(db, opts);
  const finishing: Promise<void>[] = [];
  const notes: FileNotes[] = [];
  const contextOf = (f: FeedFile): ReadContext | undefined => (f.source !== undefined ? { source: f.source } : undefined);
  // Each file's fingerprint and whether it was loaded whole before (then it is not read: known-files.ts),
  // found before the parsing thread is asked for it.
  const plans = new Map<FeedFile, Promise<{ print: FileFingerprint | null; known: KnownFile | null }>>();
  const plan = (f: FeedFile | undefined) => {
    if (!f || f.error !== undefined || plans.has(f)) return;
    const p = (async () => {
      if (opts.readKnownFiles) return { print: null, known: null };
      const print = await fingerprintFile(f.path, f.source);
      return { print, known: print ? await withRetry(opts, () => findKnownFile(db, print)) : null };
    })();
    plans.set(f, p);
    // Asked in file order (the thread parses them in the order asked), whichever fingerprint is ready first.
    if (parser) asking = asking.then(() => p).then((x) => void (!x.known && parser.prefetch(f.path, contextOf(f))), () => {});
    asked.set(f, asking);
  };
  let asking: Promise<void> = Promise.resolve();
  const asked = new Map<FeedFile, Promise<void>>();
  try {
    plan(files[0]);
    for (const [n, f] of files.entries()) {
      plan(files[n + 1]);
      const planned = f.error === undefined ? await plans.get(f)! : { print: null, known: null };
      await asked.get(f);
      asked.delete(f);
      plans.delete(f);
      if (planned.known) {
        // Loaded whole before, byte for byte: every item is a duplicate.
        const k = planned.known;
        await withRetry(opts, () =>
          db.query(
            `INSERT INTO ingest_run (run_id, origin, host, pid, source, status, format, duplicates, finished_at)
             VALUES ($1, $2, $3, $4, $5, 'done', $6, $7, now())`,
            [randomUUID(), f.path, hostname(), process.pid, f.source ?? null, k.format, k.items],
          ),
        );
        total.duplicates += k.items;
        bytesDone += f.size;
        opts.onProgress?.({ file: f.path, filesDone: n + 1, filesTotal: files.length, bytesDone, bytesTotal, counts: { ...total } });
        continue;
      }
      const items = f.error !== undefined ? fileRejected(f) : readingSafely(parser ? parser.items(f.path, contextOf(f)) : readFeedFile(f.path, contextOf(f)), f.path);
      const report = () => opts.onProgress?.({ file: f.path, filesDone: n, filesTotal: files.length, bytesDone, bytesTotal, counts: { ...total } });
      const { done: written } = await streamInto(db, writer, items, f.path, { ...opts, source: f.source }, (batch) => {
        addCounts(total, batch);
        report();
      });
      finishing.push(
        written.then(async ({ counts, runId, format, notes: fileNotes }) => {
          if (fileNotes.length) notes.push({ file: f.path, notes: fileNotes });
          // Loaded whole (nothing quarantined, no conflict): a replay of the same bytes need not read it.
          if (planned.print && counts.quarantined === 0) {
            const print = planned.print;
            // A shortcut only: not recorded (the database went away), the next replay reads the file.
            await withRetry(opts, () => recordKnownFile(db, f.path, print, { runId, format, items: counts.accepted + counts.ignored + counts.duplicates })).catch(() => false);
          }
          bytesDone += f.size;
          opts.onProgress?.({ file: f.path, filesDone: n + 1, filesTotal: files.length, bytesDone, bytesTotal, counts: { ...total } });
        }),
      );
      // A failed write fails the run: stop reading (the files after it are not started).
      if (writer.failure) break;
    }
    const settled = await Promise.allSettled(finishing);
    const failure = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failure) throw failure.reason;
  } finally {
    await Promise.allSettled(finishing);
    await writer.settled();
    await parser?.close();
  }
  notes.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { ...total, files: files.length, seconds: (performance.now() - started) / 1000, notes };
}

/** Ingests one stream of items (one file or connection), recording an ingest_run row. */
export async function ingestStream(
  db: Database,
  items: AsyncIterable<IngestItem>,
  origin: string,
  opts: IngestOptions = {},
  onBatch?: (soFar: IngestCounts) => void,
): Promise<IngestCounts> {
  const counts = emptyResult();
  const writer = new BatchWriter(db, opts);
  try {
    const { done } = await streamInto(db, writer, items, origin, opts, (batch) => {
      addCounts(counts, batch);
      onBatch?.({ ...counts });
    });
    return (await done).counts;
  } finally {
    await writer.settled();
  }
}

interface StreamDone {
  counts: IngestCounts;
  runId: string;
  format: string | null;
  /** The file's notes (RejectedItem.fileNotes), kept on its run. */
  notes: string[];
}

/**
 * Writes batches, a few at once on a PostgreSQL server (IngestOptions.writesInFlight), for any
 * number of streams in turn: a batch waits for a free slot and for every batch in flight that it
 * shares a key with (or that merges), so the outcome is that of writing them one after another.
 */
class BatchWriter {
  readonly maxInFlight: number;
  private readonly inflight = new Set<{ footprint: BatchFootprint; done: Promise<BatchResult> }>();
  failure: { err: unknown } | null = null;
  /** Which sources' resources this run expects new (ingest/writer.ts), across its files. */
  readonly copyFirst: CopyFirstGuess | undefined;

  constructor(
    private readonly db: Database,
    private readonly opts: IngestOptions,
  ) {
    this.maxInFlight = Math.max(1, opts.writesInFlight ?? (db.kind === 'postgres' ? 2 : 1));
    this.copyFirst = opts.copyFirst === false ? undefined : opts.copyFirst instanceof CopyFirstGuess ? opts.copyFirst : new CopyFirstGuess();
  }

  /** Starts a batch's write once a slot is free; resolves when it has started, with the write (`done`). */
  async write(batch: IngestItem[], known?: BatchFootprint): Promise<{ done: Promise<BatchResult> }> {
    this.rethrow();
    const footprint = this.maxInFlight > 1 ? (known ?? batchFootprint(batch)) : { keys: new Set<string>(), shared: new Map<string, string>(), merges: true };
    // Wait for a free slot and for every batch this one must follow.
    for (;;) {
      const blocking = [...this.inflight].filter((w) => this.inflight.size >= this.maxInFlight || clashes(w.footprint, footprint));
      if (!blocking.length) break;
      await Promise.race(blocking.map((w) => w.done.catch(() => undefined)));
      this.rethrow();
    }
    const entry = { footprint, done: withRetry(this.opts, () => writeBatch(this.db, batch, { copyFirst: this.copyFirst })) };
    this.inflight.add(entry);
    entry.done.then(
      (r) => {
        this.inflight.delete(entry);
        this.wrote(r);
      },
      (err) => (this.failure ??= { err }), // a failed write stays in the set; the next write rethrows its error
    );
    return { done: entry.done };
  }

  private rethrow(): void {
    if (this.failure) throw this.failure.err;
  }

  /** Rows (messages logged, resources written) this writer has committed, and when to look at the statistics next. */
  private rows = 0;
  private nextRefresh = FIRST_REFRESH_ROWS;
  private refreshing: Promise<unknown> = Promise.resolve();

  /**
   * After each committed batch: on a PostgreSQL server, once the rows written pass 5,000, then
   * each time they grow eightfold, the tables the writer looks up by key every batch are analysed
   * if their statistics say they are much smaller than that (db/statistics.ts): the look-ups'
   * plans, made while the tables were nearly empty, are then made again for their size. Runs
   * beside the writes (ANALYZE blocks no insert); a failure only leaves the old statistics.
   */
  private wrote(r: BatchResult): void {
    this.rows += r.accepted + r.resources;
    if (this.db.kind !== 'postgres' || this.rows < this.nextRefresh) return;
    const rows = this.rows;
    this.nextRefresh = rows * 8;
    this.refreshing = this.refreshing.then(() => refreshStaleStatistics(this.db, [...WRITER_TABLES, ...LINK_TABLES], rows)).catch(() => {});
  }

  /** Resolves once any statistics refresh started by a write has finished (before the database is closed). */
  settled(): Promise<unknown> {
    return this.refreshing;
  }
}

/** Rows written before the writer's look-up tables are first checked for stale statistics (BatchWriter.wrote). */
const FIRST_REFRESH_ROWS = 5000;

/**
 * A stream's items cut into batches by person, so that batches written side by side do not wait
 * for each other. HL7 v2 restates a patient in event after event (a stay's A01, A02 and A03 fall
 * in consecutive batches): batches cut in arrival order nearly always share an identity, and the
 * writer (BatchWriter) then writes them one at a time. Here each item goes to the lane of its first
 * identity (a hash of it), so a lane's batches hold the same patients and the lanes' batches
 * share none, and two are written at once.
 *
 * The outcome is that of writing the items in arrival order: an item that shares any key
 * (message, identity, NHS number, resource: itemKeys) with items waiting in another lane has that
 * lane flushed first, so the earlier items' batch is started before its own (and BatchWriter
 * makes a batch wait for any batch in flight it shares a key with); lanes waiting at the same time
 * share no key, so they commute. A merge (A40) flushes every other lane first, and the items after
 * it join its lane until that batch goes (a merge batch runs alone). One lane when one batch is
 * written at a time.
 */
class Lanes {
  private readonly items: IngestItem[][];
  private readonly keys: Set<string>[];
  private readonly shared: Map<string, string>[];
  private readonly counts: number[];
  private readonly merging: boolean[];
  /** Key → the lane whose waiting items hold it. */
  private readonly owner = new Map<string, number>();

  constructor(private readonly n: number) {
    this.items = Array.from({ length: n }, () => []);
    this.keys = Array.from({ length: n }, () => new Set());
    this.shared = Array.from({ length: n }, () => new Map());
    this.counts = new Array<number>(n).fill(0);
    this.merging = new Array<boolean>(n).fill(false);
  }

  /** The lane for an item, the lanes to flush before it joins that lane, and its footprint (for add). */
  place(item: IngestItem): { lane: number; before: number[]; footprint: BatchFootprint } {
    const footprint: BatchFootprint = { keys: new Set(), shared: new Map(), merges: false };
    if (this.n === 1) return { lane: 0, before: [], footprint };
    footprint.merges = itemKeys(item, footprint.keys, footprint.shared);
    const held = this.merging.indexOf(true);
    if (held >= 0) return { lane: held, before: [], footprint };
    const lane = this.laneOf(item);
    if (footprint.merges) return { lane, before: this.pending().filter((l) => l !== lane), footprint };
    const before = new Set<number>();
    for (const k of footprint.keys) {
      const o = this.owner.get(k);
      if (o !== undefined && o !== lane) before.add(o);
    }
    for (const [k, h] of footprint.shared) {
      for (let l = 0; l < this.n; l++) {
        if (l === lane) continue;
        const other = this.shared[l]!.get(k);
        if (other !== undefined && (other !== h || h === '*')) before.add(l);
      }
    }
    return { lane, before: [...before], footprint };
  }

  add(lane: number, item: IngestItem, footprint: BatchFootprint): void {
    this.items[lane]!.push(item);
    if (item.kind === 'accepted') this.counts[lane]! += item.resources.length;
    if (this.n === 1) return;
    const own = this.keys[lane]!;
    for (const k of footprint.keys) {
      own.add(k);
      this.owner.set(k, lane);
    }
    const shared = this.shared[lane]!;
    for (const [k, h] of footprint.shared) {
      const had = shared.get(k);
      shared.set(k, had !== undefined && had !== h ? '*' : h);
    }
    if (footprint.merges) this.merging[lane] = true;
  }

  size(lane: number): number {
    return this.items[lane]!.length;
  }

  resources(lane: number): number {
    return this.counts[lane]!;
  }

  pending(): number[] {
    const out: number[] = [];
    for (let l = 0; l < this.n; l++) if (this.items[l]!.length) out.push(l);
    return out;
  }

  /** A lane's batch and its footprint (for BatchWriter.write); the lane is empty after. */
  take(lane: number): [IngestItem[], BatchFootprint | undefined] {
    const batch = this.items[lane]!;
    const footprint = this.n === 1 ? undefined : { keys: this.keys[lane]!, shared: this.shared[lane]!, merges: this.merging[lane]! };
    for (const k of this.keys[lane]!) this.owner.delete(k);
    this.items[lane] = [];
    this.keys[lane] = new Set();
    this.shared[lane] = new Map();
    this.counts[lane] = 0;
    this.merging[lane] = false;
    return [batch, footprint];
  }

  /** The lane of an item's person: a hash of its first identity's NHS number or key (of the patient its first resource names; else its message). */
  private laneOf(item: IngestItem): number {
    let key: string;
    // By NHS number when the identity has one: one person's records under two local ids (a duplicate
    // registration, a re-sent MRN) share it, and would otherwise fall in two lanes.
    const first = item.kind === 'accepted' ? item.identities[0] : undefined;
    if (first?.nhsNumber) key = first.nhsNumber.replace(/\s+/g, '');
    else if (first) key = `${first.system}\u0000${first.id}`;
    else if (item.kind === 'accepted' && item.resources[0]?.subject !== undefined) key = `${item.sourceSystem}\u0000${item.resources[0].subject}`;
    else if (item.kind !== 'rejected') key = `${item.sourceSystem}\u0000${item.messageId}`;
    else return 0;
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return (h >>> 0) % this.n;
  }
}

/**
 * Reads one stream into the writer, recording its ingest_run row. Resolves once every item has
 * been read and queued, with `done`: the stream's counts once its last batch has committed and
 * the run row says so. The caller may start reading the next stream meanwhile.
 */
async function streamInto(
  db: Database,
  writer: BatchWriter,
  items: AsyncIterable<IngestItem>,
  origin: string,
  opts: IngestOptions,
  onBatch?: (batch: IngestCounts) => void,
): Promise<{ done: Promise<StreamDone> }> {
  const runId = randomUUID();
  const maxItems = opts.batchItems ?? 1000;
  const maxResources = opts.batchResources ?? 4000;
  const counts = emptyResult();
  let format: string | null = null;
  const notes: string[] = [];
  await withRetry(opts, () =>
    db.query('INSERT INTO ingest_run (run_id, origin, host, pid, source) VALUES ($1, $2, $3, $4, $5)', [runId, origin, hostname(), process.pid, opts.source ?? null]),
  );
  const writes: Promise<unknown>[] = [];
  const flush = async (batch: IngestItem[], footprint?: BatchFootprint) => {
    const { done } = await writer.write(batch, footprint);
    writes.push(
      done.then((r) => {
        addCounts(counts, r);
        onBatch?.(r);
      }),
    );
  };
  const fail = async (err: unknown) => {
    // Let any write still running settle before we report, so the run row is accurate.
    await Promise.allSettled(writes);
    await db
      .query(`UPDATE ingest_run SET status = 'failed', error = $2, finished_at = now() WHERE run_id = $1`, [runId, String((err as Error).message)])
      .catch(() => {});
    throw err;
  };
  try {
    const lanes = new Lanes(writer.maxInFlight);
    for await (const item of items) {
      format ??= item.format;
      if (item.kind !== 'ignored' && item.fileNotes) notes.push(...item.fileNotes);
      // Batches that must go before this item's (they hold a key of it) are flushed first.
      const { lane, before, footprint } = lanes.place(item);
      for (const l of before) await flush(...lanes.take(l));
      lanes.add(lane, item, footprint);
      if (lanes.size(lane) >= maxItems || lanes.resources(lane) >= maxResources) await flush(...lanes.take(lane));
    }
    for (const l of lanes.pending()) await flush(...lanes.take(l));
  } catch (err) {
    return fail(err);
  }
  const finished = Promise.all(writes).then(
    async () => {
      await withRetry(opts, () =>
        db.query(
          `UPDATE ingest_run SET status = 'done', format = $2, accepted = $3, ignored = $4, quarantined = $5, duplicates = $6, resources = $7, notes = $8::text[], finished_at = now() WHERE run_id = $1`,
          [runId, format, counts.accepted, counts.ignored, counts.quarantined, counts.duplicates, counts.resources, notes.length ? notes : null],
        ),
      );
      return { counts, runId, format, notes };
    },
    (err) => fail(err),
  );
  finished.catch(() => {}); // the caller awaits it; a failure is reported there, not as unhandled
  return { done: finished };
}

/**
 * Resources kept with no person because their Patient has not arrived (Bulk Data NDJSON: the
 * Patient in another file, or never sent). The partial index on pending rows keeps this cheap.
 */
export async function countPendingResources(db: Database): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource WHERE person_id IS NULL AND subject_id IS NOT NULL');
  return r.rows[0]!.n;
}

/** Retries while the database is unavailable (server restarting), up to the ingest's time limit. */
const withRetry = <T>(opts: Pick<IngestOptions, 'unavailableTimeoutMs'>, fn: () => Promise<T>): Promise<T> => retryWhileUnavailable(fn, opts.unavailableTimeoutMs);
