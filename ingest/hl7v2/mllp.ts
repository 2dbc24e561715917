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
import type { IngestItem, ReadContext, RejectedItem } from '../model.ts';
import { buildAck, readAck, type AckCode } from './ack.ts';
import { readHl7 } from './hl7-text.ts';
import { decodeHl7Bytes, MAX_MESSAGE_BYTES, RAW_KEEP_BYTES, safeRaw } from './split.ts';
import { parseHl7Message } from './to-item.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

export type HandleResult = 'committed' | 'duplicate' | 'quarantined' | 'conflict' | 'ignored' | 'unavailable';
/** What `handle` answers: an outcome, optionally with the text to send in MSA-3 (e.g. why it was quarantined). */
export type HandleAnswer = HandleResult | { outcome: HandleResult; text?: string };

/**
 * One unit of input on a connection: a whole frame; a frame over the size limit (only its head is
 * kept); or a frame whose end block never came (`unterminated`, made by the listener on timeout).
 */
export type MllpFrame =
  | { kind: 'frame'; bytes: Buffer }
  | { kind: 'oversize'; bytes: number; head: Buffer }
  | { kind: 'unterminated'; bytes: number; head: Buffer; waitedMs: number };

// Line ends and stray end blocks between frames are what senders commonly add; not worth reporting.
const isBlank = (b: number) => b === CR || b === 0x0a || b === FS;

/**
 * Incremental MLLP de-framer: push TCP chunks, get whole frames. Copes with frames split across
 * chunks and several frames in one chunk. A frame over `maxBytes` is reported as oversize with
 * only its first `keepBytes` kept (the rest is discarded up to its FS) instead of being buffered.
 * Bytes outside any frame are skipped but counted (`stray`), so a sender that does not frame at
 * all can be told so.
 */
export class MllpFrameReader {
  private parts: Buffer[] = [];
  private size = 0;
  private open = false;
  private discarding = false;
  private skipCr = false;
  /** Frames started so far (the listener times each one). */
  started = 0;
  /** Non-blank bytes seen outside any frame, and the first of them. */
  readonly stray = { bytes: 0, head: [] as Buffer[], headBytes: 0 };

  constructor(
    private readonly maxBytes = MAX_MESSAGE_BYTES,
    private readonly keepBytes = RAW_KEEP_BYTES,
  ) {}

  /** True while a start block has come and its end block has not. */
  get inFrame(): boolean {
    return this.open;
  }

  push(chunk: Buffer): MllpFrame[] {
    const frames: MllpFrame[] = [];
    let i = 0;
    if (this.skipCr && chunk.length > 0) {
      // FS ended the previous chunk; its trailing CR is part of the frame trailer.
      if (chunk[0] === CR) i = 1;
      this.skipCr = false;
    }
    while (i < chunk.length) {
      if (!this.open) {
        const start = chunk.indexOf(VT, i);
        this.addStray(chunk.subarray(i, start < 0 ? chunk.length : start));
        if (start < 0) break;
        this.open = true;
        this.started++;
        i = start + 1;
        continue;
      }
      const end = chunk.indexOf(FS, i);
      const stop = end < 0 ? chunk.length : end;
      this.add(chunk.subarray(i, stop));
      if (end < 0) break;
      frames.push(this.discarding ? { kind: 'oversize', bytes: this.size, head: Buffer.concat(this.parts) } : { kind: 'frame', bytes: Buffer.concat(this.parts, this.size) });
      this.reset();
      i = end + 1;
      if (i < chunk.length) {
        if (chunk[i] === CR) i++;
      } else {
        this.skipCr = true;
      }
    }
    return frames;
  }

  /** Gives up the open frame (its end block never came): its size and first bytes. */
  abandon(): { bytes: number; head: Buffer } | undefined {
    if (!this.open) return undefined;
    const head = Buffer.concat(this.parts).subarray(0, this.keepBytes);
    const bytes = this.size;
    this.reset();
    return { bytes, head };
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.open = false;
    this.discarding = false;
  }

  private addStray(buf: Buffer): void {
    let n = 0;
    for (const b of buf) if (!isBlank(b)) n++;
    if (n === 0) return;
    this.stray.bytes += n;
    if (this.stray.headBytes < 1024) {
      const part = buf.subarray(0, 1024 - this.stray.headBytes);
      this.stray.head.push(Buffer.from(part));
      this.stray.headBytes += part.length;
    }
  }

  private add(buf: Buffer): void {
    if (buf.length === 0) return;
    this.size += buf.length;
    if (this.discarding) return;
    if (this.size > this.maxBytes) {
      // Keep only the head (for the quarantine and the ACK's MSH-10); drop the rest as it streams past.
      this.discarding = true;
      this.parts = [Buffer.concat([...this.parts, buf]).subarray(0, this.keepBytes)];
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
  /**
   * Stores the item (inside a transaction) and resolves only after COMMIT. It decides what a
   * failure means: 'unavailable' (AR, the sender retries) only when a retry can cure it;
   * otherwise it keeps the message in quarantine and answers 'quarantined' (AE).
   */
  handle: (item: IngestItem, raw: string) => Promise<HandleAnswer>;
  /** Told about errors that did not stop the listener (a throwing handle, a socket error); for logs. */
  onError?: (err: unknown) => void;
  /** Most connections open at once (default 200); more are closed as they arrive. */
  maxConnections?: number;
  /**
   * A connection with no traffic for this long is closed (default 10 minutes). Interface engines
   * keep connections open for hours, and reconnect when one is closed, so this only reclaims
   * sockets whose sender went away without closing them (with TCP keep-alive for dead peers).
   */
  idleTimeoutMs?: number;
  /** Longest wait from a frame's start block to its end block (default 2 minutes). */
  frameTimeoutMs?: number;
  /** Largest message accepted (default 16 MiB); bigger ones get AE and their head is kept. */
  maxMessageBytes?: number;
  /**
   * Junk (frames with no readable MSH, oversize or unterminated frames, bytes outside frames) kept
   * in quarantine one by one per sending address: `burst` at once, then `perMinute` (default 20
   * and 1). Beyond that each is answered AE and counted, and one row sums them up.
   */
  junkBudget?: { burst: number; perMinute: number };
  /** The feed this port belongs to (its feeds-file entry): names the sender of messages with empty MSH-4 and MSH-3. */
  context?: ReadContext;
  /** Clock for the junk budget (tests). */
  now?: () => number;
}

export interface MllpListenerStatus {
  state: 'listening' | 'closed';
  port: number;
  connections: number;
  maxConnections: number;
  /** Connections closed on arrival because maxConnections were open. */
  refusedConnections: number;
  idleTimeoutMs: number;
  /** The last error the listening socket reported (it keeps listening). */
  lastError?: string;
}

export interface MllpListener {
  port: number;
  status(): MllpListenerStatus;
  /** Stops accepting, closes every connection, waits for messages being stored, writes junk summaries. */
  close(): Promise<void>;
}

const RETRY_TEXT = 'database unavailable, please retry';
export const MLLP_DEFAULTS = { maxConnections: 200, idleTimeoutMs: 10 * 60_000, frameTimeoutMs: 2 * 60_000 } as const;

/** MSH-4/MSH-3 source and MSH-10 read from a message's first line, for a message that cannot be parsed whole. */
function labelsFromHead(text: string, context?: ReadContext): Pick<RejectedItem, 'sourceSystem' | 'messageId'> {
  const first = text.replace(/^[\s\x0b]+/, '').split(/\r\n|\r|\n/, 1)[0] ?? '';
  if (!first.startsWith('MSH')) return {};
  // The adapter's own rules name the source (MSH-4, else MSH-3): a lone MSH line is rejected, but labelled.
  const { sourceSystem, messageId } = parseHl7Message(first, '', context) as { sourceSystem?: string; messageId?: string };
  return { ...(sourceSystem ? { sourceSystem } : {}), ...(messageId ? { messageId } : {}) };
}

function kib(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}

/** The item a frame stands for (what `handle` is given), with its raw text; `junk` when it has no readable MSH. */
export function frameItem(frame: MllpFrame, origin: string, maxBytes = MAX_MESSAGE_BYTES, context?: ReadContext): { item: IngestItem; raw: string; junk: boolean } {
  if (frame.kind === 'frame') {
    const raw = safeRaw(decodeHl7Bytes(frame.bytes));
    const item = parseHl7Message(raw, origin, context);
    return { item, raw, junk: item.kind === 'rejected' && !readHl7(raw).ok };
  }
  const raw = safeRaw(decodeHl7Bytes(frame.head));
  const reason =
    frame.kind === 'oversize'
      ? `message is ${frame.bytes} bytes (${kib(frame.bytes)}), larger than the ${maxBytes} byte limit; only its first ${kib(frame.head.length)} are kept`
      : `the frame had no end block (FS CR) ${Math.round(frame.waitedMs / 1000)} s after its start block (VT); ${frame.bytes} bytes arrived, the first ${kib(frame.head.length)} are kept; the connection was closed (check the sender's MLLP framing)`;
  return { item: { kind: 'rejected', format: 'hl7v2', ...labelsFromHead(raw, context), reason, raw, origin }, raw, junk: true };
}

/** Maps what `handle` answered for an item to the ACK (see docs/feeds.md). */
export function ackFor(item: IngestItem, raw: string, answer: HandleAnswer): string {
  const result = typeof answer === 'string' ? answer : answer.outcome;
  const given = typeof answer === 'string' ? undefined : answer.text;
  let code: AckCode;
  let text: string | undefined;
  if (result === 'unavailable') {
    code = 'AR';
    text = given ?? RETRY_TEXT;
  } else if (item.kind === 'rejected') {
    // Unreadable or wrong in content: resending it unchanged cannot help, so AE (kept for repair).
    code = 'AE';
    text = item.reason;
  } else if (result === 'committed' || result === 'duplicate' || result === 'ignored') {
    code = 'AA';
  } else if (result === 'conflict') {
    code = 'AE';
    text = given ?? `MSH-10 "${item.messageId}" was already received with different content`;
  } else {
    code = 'AE';
    text = given ?? 'message quarantined';
  }
  return buildAck(raw, code, text);
}

/** Decides the ACK for one frame: parse, hand over, and map the outcome (see docs/feeds.md). */
export async function answerFrame(frame: MllpFrame, origin: string, handle: MllpListenerOptions['handle'], onError?: (err: unknown) => void): Promise<string> {
  const { item, raw } = frameItem(frame, origin);
  try {
    return ackFor(item, raw, await handle(item, raw));
  } catch (err) {
    onError?.(err);
    return internalErrorAck(raw, err);
  }
}

/**
 * `handle` threw: it already answers 'unavailable' for what a retry can cure, so this is a fault
 * a resend would meet again. AE, so that one message cannot block its sender's queue for ever.
 */
function internalErrorAck(raw: string | undefined, err: unknown): string {
  const why = err instanceof Error ? err.message : String(err);
  return buildAck(raw, 'AE', `internal error, the message was not stored: ${why.slice(0, 200)}`);
}

/**
 * How much junk from one sending address is kept one by one: a token bucket of `burst` tokens
 * refilled at `perMinute`. What the budget does not cover is counted, and summed up in one
 * quarantine row (with the last one's head) when the budget next allows, or when the listener stops.
 * Per address rather than per connection, so a sender that reconnects for every frame is limited too.
 */
export class JunkBudget {
  private peers = new Map<string, { tokens: number; at: number; suppressed: number; first: number; last: number; raw: string }>();

  constructor(
    private readonly burst = 20,
    private readonly perMinute = 1,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when this junk item may be kept; otherwise it is counted against `peer`. */
  take(peer: string, raw: string): boolean {
    const t = this.now();
    let p = this.peers.get(peer);
    if (!p) {
      // Bounded memory: forget peers whose bucket is full again and that owe no summary.
      if (this.peers.size >= 10_000) for (const [k, v] of this.peers) if (v.suppressed === 0) this.peers.delete(k);
      p = { tokens: this.burst, at: t, suppressed: 0, first: 0, last: 0, raw: '' };
      this.peers.set(peer, p);
    }
    p.tokens = Math.min(this.burst, p.tokens + ((t - p.at) / 60_000) * this.perMinute);
    p.at = t;
    if (p.tokens >= 1) {
      p.tokens -= 1;
      return true;
    }
    if (p.suppressed === 0) p.first = t;
    p.suppressed++;
    p.last = t;
    p.raw = raw.slice(0, 4096);
    return false;
  }

  /**
   * The summary of what was not kept for `peer`, if any and if the budget allows one now
   * (`force` at shutdown); it then starts counting afresh.
   */
  summary(peer: string, force = false): RejectedItem | undefined {
    const p = this.peers.get(peer);
    if (!p || p.suppressed === 0) return undefined;
    if (!force && !this.take(peer, p.raw)) {
      p.suppressed--; // take() counted the summary itself; undo that
      return undefined;
    }
    const item: RejectedItem = {
      kind: 'rejected',
      format: 'hl7v2',
      reason: `${p.suppressed} more unreadable MLLP frames from ${peer} between ${new Date(p.first).toISOString()} and ${new Date(p.last).toISOString()} were answered AE but not kept one by one (at most ${this.burst} at once, then ${this.perMinute} a minute, per sender); the last one's head is kept here`,
      raw: p.raw,
      origin: `mllp:${peer}`,
    };
    p.suppressed = 0;
    return item;
  }

  /** Every peer owing a summary. */
  owing(): string[] {
    return [...this.peers].filter(([, p]) => p.suppressed > 0).map(([k]) => k);
  }
}

/**
 * Starts an MLLP listener; messages on one connection are handled one at a time, in order.
 * Connections are capped, idle ones closed, and a frame that never ends times out.
 */
export function startMllpListener(opts: MllpListenerOptions): Promise<MllpListener> {
  const maxConnections = opts.maxConnections ?? MLLP_DEFAULTS.maxConnections;
  const idleTimeoutMs = opts.idleTimeoutMs ?? MLLP_DEFAULTS.idleTimeoutMs;
  const frameTimeoutMs = opts.frameTimeoutMs ?? MLLP_DEFAULTS.frameTimeoutMs;
  const maxBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const budget = new JunkBudget(opts.junkBudget?.burst, opts.junkBudget?.perMinute, opts.now);
  const sockets = new Set<net.Socket>();
  const inflight = new Set<Promise<unknown>>();
  let state: MllpListenerStatus['state'] = 'listening';
  let refused = 0;
  let lastError: string | undefined;
  const report = (err: unknown) => {
    try {
      opts.onError?.(err);
    } catch {
      /* a logger must not take the listener down */
    }
  };
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  };
  /** Hands a junk summary over for quarantine, when one is owed and allowed. */
  const flushSummary = async (peer: string, force = false) => {
    const s = budget.summary(peer, force);
    if (!s) return;
    try {
      await opts.handle(s, s.raw);
    } catch (err) {
      report(err);
    }
  };

  const server = net.createServer((socket) => {
    if (state !== 'listening') return void socket.destroy();
    sockets.add(socket);
    const address = socket.remoteAddress ?? 'unknown';
    const peer = `mllp:${address}:${socket.remotePort ?? 0}`;
    const reader = new MllpFrameReader(maxBytes);
    const queue: MllpFrame[] = [];
    let busy = false;
    let ending = false;
    let count = 0;
    let frameTimer: NodeJS.Timeout | undefined;
    let timedFrame = 0;
    socket.setKeepAlive(true, 60_000);
    socket.setTimeout(idleTimeoutMs);

    const finish = () => {
      ending = true;
      clearTimeout(frameTimer);
      socket.end();
      // A peer that does not close its side is dropped shortly after.
      setTimeout(() => socket.destroy(), 5_000).unref();
    };
    const answer = async (frame: MllpFrame): Promise<string> => {
      count++;
      const { item, raw, junk } = frameItem(frame, `${peer}#${count}`, maxBytes, opts.context);
      // Junk beyond the sender's budget is answered but not stored one by one (see JunkBudget).
      if (junk && !budget.take(address, raw)) return ackFor(item, raw, 'quarantined');
      if (junk) await flushSummary(address);
      try {
        return ackFor(item, raw, await opts.handle(item, raw));
      } catch (err) {
        report(err);
        return internalErrorAck(raw, err);
      }
    };
    const drain = async () => {
      if (busy) return;
      busy = true;
      while (queue.length) {
        const frame = queue.shift()!;
        let ack: string;
        try {
          ack = await answer(frame);
        } catch (err) {
          report(err);
          ack = internalErrorAck(undefined, err);
        }
        if (!socket.destroyed && socket.writable) socket.write(frameMllp(ack));
        if (frame.kind === 'unterminated') {
          queue.length = 0;
          finish();
        }
        // Backpressure: stop reading while too many frames wait, so a flood cannot exhaust memory.
        if (queue.length < 16 && socket.isPaused() && !ending) socket.resume();
      }
      busy = false;
    };
    const run = () => void track(drain());
    const armFrameTimer = () => {
      if (!reader.inFrame) {
        clearTimeout(frameTimer);
        frameTimer = undefined;
        return;
      }
      if (frameTimer && timedFrame === reader.started) return;
      clearTimeout(frameTimer);
      timedFrame = reader.started;
      frameTimer = setTimeout(() => {
        const partial = reader.abandon();
        if (!partial || ending) return;
        ending = true;
        socket.pause();
        queue.push({ kind: 'unterminated', ...partial, waitedMs: frameTimeoutMs });
        run();
      }, frameTimeoutMs);
    };

    socket.on('data', (chunk: Buffer) => {
      if (ending) return;
      queue.push(...reader.push(chunk));
      armFrameTimer();
      if (queue.length >= 64) socket.pause();
      run();
    });
    socket.on('timeout', () => {
      // Idle: nothing arrived for idleTimeoutMs. A message being stored is not idleness.
      if (busy || queue.length || ending) return;
      finish();
    });
    socket.on('error', (err) => report(err));
    socket.on('close', () => {
      sockets.delete(socket);
      clearTimeout(frameTimer);
      const stray = reader.stray;
      if (stray.bytes > 0) {
        // The sender wrote bytes outside any frame: most likely it does not use MLLP framing at all.
        const raw = safeRaw(Buffer.concat(stray.head).toString('latin1'));
        const item: RejectedItem = {
          kind: 'rejected',
          format: 'hl7v2',
          reason: `${stray.bytes} bytes arrived outside MLLP frames (no start block VT, 0x0B): the sender must frame each message as VT message FS CR; the first ${kib(stray.headBytes)} are kept`,
          raw,
          origin: peer,
        };
        if (budget.take(address, raw)) track(opts.handle(item, raw).catch(report));
      }
      void track(flushSummary(address));
    });
  });
  // Beyond maxConnections node closes new connections as they arrive ('drop').
  server.maxConnections = maxConnections;
  server.on('drop', () => {
    refused++;
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      server.on('error', (err) => {
        lastError = err.message;
        report(err);
      });
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      resolve({
        port,
        status: () => ({ state, port, connections: sockets.size, maxConnections, refusedConnections: refused, idleTimeoutMs, ...(lastError ? { lastError } : {}) }),
        close: async () => {
          if (state === 'closed') return;
          state = 'closed';
          const closed = new Promise<void>((done) => server.close(() => done()));
          for (const s of sockets) s.destroy();
          await closed;
          while (inflight.size) await Promise.allSettled([...inflight]);
          for (const peer of budget.owing()) await flushSummary(peer, true);
        },
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
