/**
 * Output in bytes. A shard of people (residents.ts) writes each file's text into a `ByteSink`,
 * UTF-8 encoded straight into large buffers (no string joins, no second pass to count bytes);
 * the buffers then go to the main thread (transferred, not copied) and into an `OutputFile` in
 * shard order, honouring stream backpressure. Memory stays flat however many people are
 * generated: only the shards in flight are held.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';

const CHUNK = 1 << 20;

/** Text encoded into a list of buffers. */
export class ByteSink {
  readonly chunks: Uint8Array[] = [];
  private buf: Buffer | undefined;
  private used = 0;
  bytes = 0;

  write(text: string): void {
    // A UTF-8 character is at most 3 bytes per UTF-16 unit.
    const worst = text.length * 3;
    if (!this.buf || this.used + worst > this.buf.length) {
      this.seal();
      // allocUnsafeSlow: a buffer of its own (not a slice of the shared pool), so it can be transferred.
      this.buf = Buffer.allocUnsafeSlow(Math.max(CHUNK, worst));
    }
    const n = this.buf.write(text, this.used, 'utf8');
    this.used += n;
    this.bytes += n;
  }

  /** The buffers written so far (the sink is finished). */
  finish(): Uint8Array[] {
    this.seal();
    return this.chunks;
  }

  private seal(): void {
    if (this.buf && this.used > 0) this.chunks.push(new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.used));
    this.buf = undefined;
    this.used = 0;
  }
}

/** A file written in order from byte chunks, waiting while the stream is full. */
export class OutputFile {
  private readonly stream: WriteStream;
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
    if (header) await f.write([Buffer.from(header)]);
    return f;
  }

  /** Appends the chunks; resolves when the stream can take more. */
  async write(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.failure) throw this.failure;
    let full = false;
    for (const c of chunks) {
      this.bytes += c.byteLength;
      if (!this.stream.write(c)) full = true;
    }
    if (full) await once(this.stream, 'drain');
  }

  /** Closes the file once everything is written. */
  async close(): Promise<void> {
    this.stream.end();
    await once(this.stream, 'finish');
    if (this.failure) throw this.failure;
  }
}
