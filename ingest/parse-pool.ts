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

  /**
   * The file's items, in order; the worker stays a few chunks ahead. One file at a time. Throws
   * (after the items read so far) when the file cannot be read; the pipeline quarantines that.
   */
  async *items(file: string, context?: ReadContext): AsyncIterable<IngestItem> {
    this.send({ file, ...(context ? { context } : {}) });
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
