/** The parent side of ingest/parse-worker.ts: a feed file's items, parsed and prepared on another thread. */
import { Worker } from 'node:worker_threads';
import type { IngestItem, ReadContext } from './model.ts';
import type { FromWorker, ToWorker } from './parse-worker.ts';

export class ParseWorker {
  private readonly worker = new Worker(new URL('./parse-worker-entry.mjs', import.meta.url));
  private failure: Error | null = null;
  private waiting: ((m: FromWorker | null) => void) | null = null;
  private readonly inbox: FromWorker[] = [];
  private readonly send = (m: ToWorker) => this.worker.postMessage(m);

  constructor() {
    this.worker.on('message', (m: FromWorker) => this.deliver(m));
    this.worker.on('error', (err) => {
      this.failure = err;
      this.deliver(null);
    });
    this.worker.on('exit', (code) => {
      this.failure ??= new Error(`the parsing thread stopped (exit code ${code})`);
      this.deliver(null);
    });
  }

  private deliver(m: FromWorker | null): void {
    if (m) this.inbox.push(m);
    const w = this.waiting;
    this.waiting = null;
    w?.(m);
  }

  private async next(): Promise<FromWorker> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.failure) throw this.failure;
      await new Promise<FromWorker | null>((r) => (this.waiting = r));
    }
  }

  /** Files asked for and not yet read to their end, in the order the worker parses them. */
  private readonly asked: string[] = [];

  /**
   * Asks the worker to parse this file after those already asked for, so that it is parsed while
   * the current one is still being written. Its items are then read with items(), in the order asked.
   */
  prefetch(file: string, context?: ReadContext): void {
    this.asked.push(file);
    this.send({ file, ...(context ? { context } : {}) });
  }

  /**
   * The file's items, in order; the worker stays a few chunks ahead. Files are read one at a
   * time, in the order they were asked for (prefetch); a file not yet asked for is asked for now.
   * Throws (after the items read so far) when the file cannot be read; the pipeline quarantines that.
   */
  async *items(file: string, context?: ReadContext): AsyncIterable<IngestItem> {
    if (!this.asked.length) this.prefetch(file, context);
    if (this.asked[0] !== file) throw new Error(`the parsing thread was asked for ${this.asked[0]} before ${file}`);
    this.asked.shift();
    for (;;) {
      const m = await this.next();
      if ('end' in m) return;
      if ('error' in m) throw new Error(m.error); // the caller knows the file
      this.send({ ack: true });
      yield* m.chunk;
    }
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the parsing thread was closed');
    await this.worker.terminate();
  }
}
