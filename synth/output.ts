/**
 * Buffered file output that honours stream backpressure: text is gathered in memory up to a
 * threshold, then written, and the caller awaits `drain` before producing more. Memory stays
 * flat however many people are generated.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';

const FLUSH_AT = 1 << 20;

export class OutputFile {
  private readonly stream: WriteStream;
  private chunks: string[] = [];
  private size = 0;
  private failure: Error | undefined;
  bytes = 0;

  private constructor(readonly path: string) {
    this.stream = createWriteStream(path, { highWaterMark: 4 << 20 });
    this.stream.on('error', (err) => (this.failure = err));
  }

  /** Opens (creating folders and truncating the file). */
  static async open(path: string, header = ''): Promise<OutputFile> {
    await mkdir(dirname(path), { recursive: true });
    const f = new OutputFile(path);
    if (header) f.write(header);
    return f;
  }

  /** Queues text; call flush() between people. */
  write(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    this.bytes += Buffer.byteLength(text);
  }

  /** True when enough text has gathered to be worth handing to the stream. */
  get full(): boolean {
    return this.size >= FLUSH_AT;
  }

  /** Hands queued text to the stream once enough has gathered; waits while the stream is full. */
  async flush(force = false): Promise<void> {
    if (this.failure) throw this.failure;
    if (!force && this.size < FLUSH_AT) return;
    if (this.size === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  /** Writes what is left and closes the file. */
  async close(): Promise<void> {
    await this.flush(true);
    this.stream.end();
    await once(this.stream, 'finish');
    if (this.failure) throw this.failure;
  }
}
