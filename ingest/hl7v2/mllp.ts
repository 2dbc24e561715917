/**
 * MLLP (HL7 v2 Minimal Lower Layer Protocol) listener and client over node:net.
 * Frames are `<VT> message <FS><CR>`; each message is ACKed only after `handle` resolves
 * (the lead engineer's handle commits to the database first), so AA means durably stored.
 *
 * Why not @medplum/hl7's Hl7Server: it parses frames with Hl7Message.parse and leaves the ACK
 * and ordering to the caller's event handlers, with no hook for "ACK only after commit, one
 * message at a time per connection" or for turning unparseable bytes into a quarantined item.
 * Framing is a few lines, so owning it keeps the ACK rules in one readable place.
 * Spec: HL7 v2 Implementation Guide, Appendix C (MLLP release 1).
 */
import net from 'node:net';
import type { IngestItem } from '../model.ts';
import { buildAck, readAck, type AckCode } from './ack.ts';
import { readHl7 } from './hl7-text.ts';
import { decodeHl7Bytes, MAX_MESSAGE_BYTES, safeRaw } from './split.ts';
import { parseHl7Message } from './to-item.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

export type HandleResult = 'committed' | 'duplicate' | 'quarantined' | 'conflict' | 'ignored' | 'unavailable';

export type MllpFrame = { kind: 'frame'; bytes: Buffer } | { kind: 'oversize'; bytes: number };

/**
 * Incremental MLLP de-framer: push TCP chunks, get whole frames. Copes with frames split across
 * chunks and several frames in one chunk; bytes outside a frame are skipped. A frame over
 * `maxBytes` is reported as oversize (and discarded up to its FS) instead of being buffered.
 */
export class MllpFrameReader {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  private discarding = false;
  private skipCr = false;

  constructor(private readonly maxBytes = MAX_MESSAGE_BYTES) {}

  push(chunk: Buffer): MllpFrame[] {
    const frames: MllpFrame[] = [];
    let i = 0;
    if (this.skipCr && chunk.length > 0) {
      // FS ended the previous chunk; its trailing CR is part of the frame trailer.
      if (chunk[0] === CR) i = 1;
      this.skipCr = false;
    }
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, i);
        if (start < 0) break;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const end = chunk.indexOf(FS, i);
      const stop = end < 0 ? chunk.length : end;
      this.add(chunk.subarray(i, stop));
      if (end < 0) break;
      frames.push(this.discarding ? { kind: 'oversize', bytes: this.size } : { kind: 'frame', bytes: Buffer.concat(this.parts, this.size) });
      this.parts = [];
      this.size = 0;
      this.inFrame = false;
      this.discarding = false;
      i = end + 1;
      if (i < chunk.length) {
        if (chunk[i] === CR) i++;
      } else {
        this.skipCr = true;
      }
    }
    return frames;
  }

  private add(buf: Buffer): void {
    if (buf.length === 0) return;
    this.size += buf.length;
    if (this.discarding) return;
    if (this.size > this.maxBytes) {
      this.discarding = true;
      this.parts = [];
      return;
    }
    this.parts.push(buf);
  }
}

/** Wraps a message in MLLP framing. */
export function frameMllp(message: string): Buffer {
  return Buffer.concat([Buffer.from([VT]), Buffer.from(message, 'utf8'), Buffer.from([FS, CR])]);
}

export interface MllpListenerOptions {
  port: number;
  host?: string;
  /** Stores the item (inside a transaction) and resolves only after COMMIT. */
  handle: (item: IngestItem, raw: string) => Promise<HandleResult>;
  /** Told about errors that were answered with AR (a throwing handle, a socket error); for logs. */
  onError?: (err: unknown) => void;
}

export interface MllpListener {
  port: number;
  close(): Promise<void>;
}

const RETRY_TEXT = 'database unavailable, please retry';

/** Decides the ACK for one frame: parse, hand over, and map the outcome (see docs/feeds.md). */
export async function answerFrame(
  frame: MllpFrame,
  origin: string,
  handle: MllpListenerOptions['handle'],
  onError?: (err: unknown) => void,
): Promise<string> {
  let raw: string;
  let item: IngestItem;
  if (frame.kind === 'oversize') {
    raw = '';
    item = {
      kind: 'rejected',
      format: 'hl7v2',
      reason: `message is ${frame.bytes} bytes, larger than the ${MAX_MESSAGE_BYTES} byte limit`,
      raw: '',
      origin,
    };
  } else {
    raw = safeRaw(decodeHl7Bytes(frame.bytes));
    item = parseHl7Message(raw, origin);
  }
  // Structurally unreadable (no MSH, bad delimiters, oversize) → AR; readable but wrong in content → AE.
  const unreadable = item.kind === 'rejected' && (frame.kind === 'oversize' || !readHl7(raw).ok);
  let result: HandleResult;
  try {
    result = await handle(item, raw);
  } catch (err) {
    onError?.(err);
    return buildAck(raw, 'AR', 'internal error while storing the message, please retry');
  }
  let code: AckCode;
  let text: string | undefined;
  if (result === 'unavailable') {
    code = 'AR';
    text = RETRY_TEXT;
  } else if (item.kind === 'rejected') {
    code = unreadable ? 'AR' : 'AE';
    text = item.reason;
  } else if (result === 'committed' || result === 'duplicate' || result === 'ignored') {
    code = 'AA';
  } else if (result === 'conflict') {
    code = 'AE';
    text = `MSH-10 "${item.messageId}" was already received with different content`;
  } else {
    code = 'AE';
    text = 'message quarantined';
  }
  return buildAck(raw, code, text);
}

/** Starts an MLLP listener; messages on one connection are handled one at a time, in order. */
export function startMllpListener(opts: MllpListenerOptions): Promise<MllpListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const peer = `mllp:${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    const reader = new MllpFrameReader();
    const queue: MllpFrame[] = [];
    let busy = false;
    let count = 0;
    const drain = async () => {
      if (busy) return;
      busy = true;
      while (queue.length) {
        const frame = queue.shift()!;
        count++;
        let ack: string;
        try {
          ack = await answerFrame(frame, `${peer}#${count}`, opts.handle, opts.onError);
        } catch (err) {
          opts.onError?.(err);
          ack = buildAck(undefined, 'AR', 'internal error, please retry');
        }
        if (!socket.destroyed) socket.write(frameMllp(ack));
        // Backpressure: stop reading while too many frames wait, so a flood cannot exhaust memory.
        if (queue.length < 16 && socket.isPaused()) socket.resume();
      }
      busy = false;
    };
    socket.on('data', (chunk: Buffer) => {
      queue.push(...reader.push(chunk));
      if (queue.length >= 64) socket.pause();
      void drain();
    });
    socket.on('error', (err) => opts.onError?.(err));
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      server.on('error', (err) => opts.onError?.(err));
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** One client connection that sends a frame and waits for the ACK frame. */
class MllpClient {
  private reader = new MllpFrameReader();
  private waiting: { resolve: (ack: string) => void; reject: (err: Error) => void } | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) {
        const w = this.waiting;
        this.waiting = undefined;
        if (w && frame.kind === 'frame') w.resolve(frame.bytes.toString('utf8'));
        else w?.reject(new Error('ACK too large'));
      }
    });
    const fail = (err: Error) => {
      this.closedError = err;
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(host: string, port: number): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new MllpClient(socket));
      });
    });
  }

  get usable(): boolean {
    return !this.closedError && !this.socket.destroyed;
  }

  send(message: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      if (!this.usable) return reject(this.closedError ?? new Error('connection closed'));
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no ACK within ${timeoutMs} ms`));
        this.socket.destroy();
      }, timeoutMs);
      this.waiting = {
        resolve: (ack) => { clearTimeout(timer); resolve(ack); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      this.socket.write(frameMllp(message));
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

export interface SendMllpOptions {
  /** Wait between attempts after an AR or a connection error (default 1000 ms). */
  retryDelayMs?: number;
  /** Resends after the first attempt (default 5). */
  maxRetries?: number;
  /** How long to wait for each ACK (default 30 s). */
  ackTimeoutMs?: number;
}

/**
 * Sends messages over MLLP one by one, waiting for each ACK; resends on AR or a connection error
 * after a delay. Returns the final ACK code and text per message (`code: 'error'` when the
 * connection never succeeded).
 */
export async function sendMllp(host: string, port: number, messages: string[], opts: SendMllpOptions = {}): Promise<Array<{ code: string; text?: string }>> {
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const maxRetries = opts.maxRetries ?? 5;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 30_000;
  const results: Array<{ code: string; text?: string }> = [];
  let client: MllpClient | undefined;
  try {
    for (const message of messages) {
      let result: { code: string; text?: string } = { code: 'error', text: 'not sent' };
      for (let attempt = 0; attempt <= maxRetries; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, retryDelayMs));
        try {
          if (!client?.usable) client = await MllpClient.connect(host, port);
          const ack = readAck(await client.send(message, ackTimeoutMs));
          result = { code: ack.code, ...(ack.text ? { text: ack.text } : {}) };
          if (ack.code !== 'AR' && ack.code !== 'CR') break;
        } catch (err) {
          client?.close();
          client = undefined;
          result = { code: 'error', text: err instanceof Error ? err.message : String(err) };
        }
      }
      results.push(result);
    }
  } finally {
    client?.close();
  }
  return results;
}
