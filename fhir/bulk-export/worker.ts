/**
 * The background side of bulk export, one per server process, with a few slots: each slot takes
 * the next waiting slice of the oldest unfinished job (or a slice whose server's lease ran out:
 * that server died or hung) and runs it batch by batch (run.ts), renewing its lease with every
 * batch. Jobs live in the database, so the server that received a kick-off need not be the one
 * that runs it, and several servers work on one export together; a server that stops gives its
 * slices back. A slice abandoned more than `maxAttempts` times fails its job rather than being
 * retried for ever. Two slots let one slice's database wait overlap another's presentation work.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { appendAuditBatch } from '../../access/audit.ts';
import { currentPolicy } from '../../access/policy.ts';
import { isRetryable, type Database } from '../../db/database.ts';
import { claimSlice, deleteExpiredJobs, finishJob, lockJob, releaseSlice } from './job-store.ts';
import { jobEntry, LeaseLost, RUN_DEFAULTS, runBatch, type RunOptions } from './run.ts';

export interface WorkerOptions extends Partial<RunOptions> {
  /** How often an idle worker looks for work (a kick-off on this server wakes it at once). */
  pollMs?: number;
  /** Times a slice may be taken (first run plus takeovers) before its job is marked failed. */
  maxAttempts?: number;
  /** Slices this server works on at once. */
  concurrency?: number;
  /** Where unexpected errors go (default: stderr). */
  onError?: (err: unknown) => void;
}

export const WORKER_DEFAULTS = { pollMs: 5000, maxAttempts: 3, concurrency: 2 } as const;

export class ExportWorker {
  readonly options: RunOptions;
  private readonly pollMs: number;
  private readonly maxAttempts: number;
  private readonly concurrency: number;
  private readonly onError: (err: unknown) => void;
  private stopping = false;
  private running: Promise<unknown> | null = null;
  private readonly wakers = new Set<() => void>();
  private nudged = 0;
  private lastSweep = 0;

  constructor(
    private readonly db: Database,
    o: WorkerOptions = {},
  ) {
    this.options = {
      serverId: o.serverId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      leaseMs: o.leaseMs ?? RUN_DEFAULTS.leaseMs,
      batchPeople: o.batchPeople ?? RUN_DEFAULTS.batchPeople,
      pageRows: o.pageRows ?? RUN_DEFAULTS.pageRows,
      maxFileResources: o.maxFileResources ?? RUN_DEFAULTS.maxFileResources,
      chunkBytes: o.chunkBytes ?? RUN_DEFAULTS.chunkBytes,
      retentionMs: o.retentionMs ?? RUN_DEFAULTS.retentionMs,
      policy: o.policy ?? currentPolicy,
      clock: o.clock ?? (() => new Date()),
      ...(o.cohorts ? { cohorts: o.cohorts } : {}),
    };
    this.pollMs = o.pollMs ?? WORKER_DEFAULTS.pollMs;
    this.maxAttempts = o.maxAttempts ?? WORKER_DEFAULTS.maxAttempts;
    this.concurrency = Math.max(1, o.concurrency ?? WORKER_DEFAULTS.concurrency);
    this.onError = o.onError ?? ((err) => console.error(`bevan: bulk export: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  }

  /** Starts polling in the background. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = Promise.all(Array.from({ length: this.concurrency }, () => this.loop()));
  }

  /** Looks for work now (a kick-off on this server). */
  nudge(): void {
    this.nudged = this.concurrency;
    for (const wake of [...this.wakers]) wake();
  }

  /** Stops after the batches in hand, giving running slices back to the other servers. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.wakers]) wake();
    await this.running;
    this.running = null;
  }

  /** Takes and runs slices (in all slots) until none is waiting; the number run (tests use it in the foreground). */
  async drain(): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: this.concurrency }, async () => {
        let n = 0;
        while (!this.stopping && (await this.runOne())) n++;
        return n;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.runOne();
        if (!worked && Date.now() - this.lastSweep > 60_000) {
          this.lastSweep = Date.now();
          await deleteExpiredJobs(this.db);
        }
      } catch (err) {
        if (!isRetryable(err)) this.onError(err);
      }
      if (!worked && !this.stopping) await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.nudged > 0) {
      this.nudged--;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      timer.unref?.();
      this.wakers.add(done);
    });
  }

  /** Claims one slice and runs it; false when there was none. */
  async runOne(): Promise<boolean> {
    const slice = await claimSlice(this.db, this.options.serverId, this.options.leaseMs);
    if (!slice) return false;
    if (slice.attempts > this.maxAttempts) {
      await this.fail(slice.jobId, `the export was abandoned ${slice.attempts - 1} times (the servers running it stopped); start it again`);
      return true;
    }
    await this.runSlice(slice.jobId, slice.sliceNo);
    return true;
  }

  private async runSlice(jobId: string, sliceNo: number): Promise<void> {
    let retries = 0;
    for (;;) {
      if (this.stopping) {
        await releaseSlice(this.db, jobId, sliceNo, this.options.serverId).catch(() => undefined);
        return;
      }
      try {
        const out = await runBatch(this.db, jobId, sliceNo, this.options);
        retries = 0;
        if (out !== 'more') return;
      } catch (err) {
        if (err instanceof LeaseLost) return;
        // The database restarting or busy: try the same batch again (it rolled back), backing off.
        if (isRetryable(err) && retries < 20) {
          retries++;
          await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** retries, 5000)));
          continue;
        }
        this.onError(err);
        await this.fail(jobId, 'the export failed on the server (its log says why); start it again').catch((e) => this.onError(e));
        return;
      }
      // Let the server's requests in between batches.
      await new Promise((r) => setImmediate(r));
    }
  }

  private async fail(jobId: string, message: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (!job) return;
      if (!(await finishJob(tx, jobId, { status: 'failed', error: message, retentionMs: this.options.retentionMs }))) return;
      await appendAuditBatch(tx, [jobEntry(job, { action: 'export.complete', reason: message, detail: { job: jobId, status: 'failed' } })], this.options.clock());
    });
  }
}
