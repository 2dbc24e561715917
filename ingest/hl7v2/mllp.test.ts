import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { IngestItem } from '../model.ts';
import { buildAck, readAck } from './ack.ts';
import { frameMllp, JunkBudget, MllpFrameReader, sendMllp, startMllpListener, type HandleAnswer, type HandleResult, type MllpListenerOptions } from './mllp.ts';
import { A01, A03, A40, ORU, SIU, adt, pv1 } from './fixtures/samples.ts';

const BAD_DATE = A01.replace('19800315', '20230230').replace('MSG0001', 'BADDATE');
const NO_MSH = 'EVN|A01|20250301\rPID|1||X^^^RM2^MR\r';

/** A listener whose handle's answer is chosen per message id by the test. */
async function listener(answer: (item: IngestItem) => Promise<HandleAnswer> | HandleAnswer, options: Partial<MllpListenerOptions> = {}) {
  const seen: Array<{ item: IngestItem; raw: string }> = [];
  const errors: unknown[] = [];
  const l = await startMllpListener({
    ...options,
    port: 0,
    host: '127.0.0.1',
    handle: async (item, raw) => {
      seen.push({ item, raw });
      return answer(item);
    },
    onError: (err) => errors.push(err),
  });
  after(() => l.close());
  return { ...l, seen, errors };
}

/** Writes raw bytes in the given pieces and collects `count` ACKs. */
function rawExchange(port: number, pieces: Buffer[], count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const reader = new MllpFrameReader();
    const acks: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) if (f.kind === 'frame') acks.push(f.bytes.toString('utf8'));
      if (acks.length >= count) {
        socket.destroy();
        resolve(acks);
      }
    });
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const p of pieces) {
        socket.write(p);
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

test('frame reader: frames split across chunks, several in one chunk, FS and CR in different chunks', () => {
  const bytes = Buffer.concat([frameMllp('ONE'), Buffer.from('noise'), frameMllp('TWO'), frameMllp('THREE')]);
  for (const size of [1, 2, 3, 5, bytes.length]) {
    const reader = new MllpFrameReader();
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i += size) {
      for (const f of reader.push(bytes.subarray(i, i + size))) if (f.kind === 'frame') got.push(f.bytes.toString());
    }
    assert.deepEqual(got, ['ONE', 'TWO', 'THREE'], `chunk size ${size}`);
  }
  const small = new MllpFrameReader(10);
  // An oversize frame keeps its head (for the ACK's MSH-10 and the quarantine), not the rest.
  const headed = new MllpFrameReader(10, 4);
  assert.deepEqual(headed.push(Buffer.concat([frameMllp('x'.repeat(50)), frameMllp('ok')])), [
    { kind: 'oversize', bytes: 50, head: Buffer.from('xxxx') },
    { kind: 'frame', bytes: Buffer.from('ok') },
  ]);
  // Bytes outside frames are counted (blank lines between frames are not), and an open frame can be given up.
  const loose = new MllpFrameReader();
  loose.push(Buffer.from('MSH|^~\\&|no framing\r\n'));
  loose.push(Buffer.concat([frameMllp('A'), Buffer.from('\r\n'), Buffer.from([0x0b]), Buffer.from('MSH|partial')]));
  assert.equal(loose.stray.bytes, 'MSH|^~\\&|no framing'.length);
  assert.equal(loose.inFrame, true);
  assert.deepEqual(loose.abandon(), { bytes: 11, head: Buffer.from('MSH|partial') });
  assert.equal(loose.inFrame, false);
});

test('ACK: sender and receiver swapped, MSA with the control id, ERR only when not AA', () => {
  const now = new Date(Date.UTC(2025, 2, 1, 12, 0, 0));
  const aa = buildAck(A01, 'AA', undefined, now);
  assert.equal(aa, 'MSH|^~\\&|BEVAN|TRAFFORD|PAS|RM2|20250301120000+0000||ACK^A01^ACK|ACKMSG0001|P|2.4\rMSA|AA|MSG0001|\r');
  const ae = buildAck(A01, 'AE', 'PID-7 "2023|02" is bad', now);
  assert.match(ae, /\rMSA\|AE\|MSG0001\|PID-7 "2023\\F\\02" is bad\rERR\|/);
  assert.deepEqual(readAck(ae), { code: 'AE', text: 'PID-7 "2023|02" is bad', controlId: 'MSG0001' });
  const ar = buildAck(undefined, 'AR', 'no MSH segment', now);
  assert.match(ar, /^MSH\|\^~\\&\|BEVAN\|/);
  assert.deepEqual(readAck(ar), { code: 'AR', text: 'no MSH segment' });
  // A message with wrong encoding characters still gets its control id echoed.
  assert.equal(readAck(buildAck(A01.replace('MSH|^~\\&|', 'MSH|^~|'), 'AR', 'x', now)).controlId, 'MSG0001');
});

test('ACK codes: committed, duplicate, ignored → AA; quarantined, conflict, unparseable → AE; unavailable → AR', async () => {
  const answers: Record<string, HandleResult> = { MSG0001: 'committed', MSG0003: 'duplicate', SIU0001: 'ignored', MSG0040: 'conflict', LAB0001: 'unavailable' };
  const l = await listener((item) => (item.kind === 'rejected' ? 'quarantined' : answers[item.messageId] ?? 'committed'));
  const results = await sendMllp('127.0.0.1', l.port, [A01, A03, SIU, BAD_DATE, A40, NO_MSH, ORU], { maxRetries: 0 });
  assert.deepEqual(results, [
    { code: 'AA' },
    { code: 'AA' },
    { code: 'AA' },
    { code: 'AE', text: 'PID-7 "20230230" is not a valid date' },
    { code: 'AE', text: 'MSH-10 "MSG0040" was already received with different content' },
    { code: 'AE', text: 'no MSH segment' },
    { code: 'AR', text: 'database unavailable, please retry' },
  ]);
  // The unparseable message was handed over (to be quarantined) before the AE.
  const kinds = l.seen.map((s) => s.item.kind);
  assert.deepEqual(kinds, ['accepted', 'accepted', 'ignored', 'rejected', 'accepted', 'rejected', 'accepted']);
  assert.equal(l.seen[5].raw, NO_MSH);
  assert.match(l.seen[0].item.origin, /^mllp:127\.0\.0\.1:\d+#1$/);
  assert.equal(l.seen[0].item.kind === 'accepted' && l.seen[0].item.event, 'ADT^A01');
});

test('an unparseable message is still AR when the database is unavailable', async () => {
  const l = await listener(() => 'unavailable');
  const [r] = await sendMllp('127.0.0.1', l.port, [NO_MSH], { maxRetries: 0 });
  assert.deepEqual(r, { code: 'AR', text: 'database unavailable, please retry' });
  assert.equal(l.seen[0].item.kind, 'rejected');
});

test('partial frames byte by byte and several frames in one chunk are all answered, in order', async () => {
  const l = await listener(() => 'committed');
  const bytes = Buffer.concat([A01, A03, A40].map(frameMllp));
  const oneByOne = Array.from(bytes, (b) => Buffer.from([b]));
  const acks = await rawExchange(l.port, oneByOne, 3);
  assert.deepEqual(acks.map((a) => readAck(a).controlId), ['MSG0001', 'MSG0003', 'MSG0040']);
  const together = await rawExchange(l.port, [bytes], 3);
  assert.deepEqual(together.map((a) => readAck(a)), [
    { code: 'AA', controlId: 'MSG0001' },
    { code: 'AA', controlId: 'MSG0003' },
    { code: 'AA', controlId: 'MSG0040' },
  ]);
});

test('messages on one connection are handled one at a time, in the order sent', async () => {
  let active = 0;
  let maxActive = 0;
  const order: string[] = [];
  const l = await listener(async (item): Promise<HandleResult> => {
    active++;
    maxActive = Math.max(maxActive, active);
    // The first message is the slowest: a concurrent listener would finish them out of order.
    const id = item.kind === 'rejected' ? '?' : item.messageId;
    await new Promise((r) => setTimeout(r, id === 'M1' ? 30 : id === 'M2' ? 10 : 0));
    order.push(id);
    active--;
    return 'committed';
  });
  const messages = ['M1', 'M2', 'M3', 'M4'].map((id) => adt('A01', id, [pv1({ visit: `V${id}` })]));
  const acks = await rawExchange(l.port, [Buffer.concat(messages.map(frameMllp))], 4);
  assert.deepEqual(order, ['M1', 'M2', 'M3', 'M4']);
  assert.equal(maxActive, 1);
  assert.deepEqual(acks.map((a) => readAck(a).controlId), ['M1', 'M2', 'M3', 'M4']);
});

test('a handle that throws gets AE (a resend would meet the same fault) and the listener keeps serving', async () => {
  const l = await listener((item) => {
    if (item.kind === 'accepted' && item.messageId === 'MSG0001') throw new Error('boom');
    return 'committed';
  });
  const results = await sendMllp('127.0.0.1', l.port, [A01, A03], { maxRetries: 0 });
  assert.deepEqual(results[0], { code: 'AE', text: 'internal error, the message was not stored: boom' });
  assert.deepEqual(results[1], { code: 'AA' });
  assert.equal((l.errors[0] as Error).message, 'boom');
  const again = await sendMllp('127.0.0.1', l.port, [ORU], { maxRetries: 0 });
  assert.deepEqual(again, [{ code: 'AA' }]);
});

test('sendMllp resends after AR until the message is committed', async () => {
  let calls = 0;
  const l = await listener(() => (++calls < 3 ? 'unavailable' : 'committed'));
  const results = await sendMllp('127.0.0.1', l.port, [A01, A03], { retryDelayMs: 5, maxRetries: 5 });
  assert.deepEqual(results, [{ code: 'AA' }, { code: 'AA' }]);
  assert.equal(calls, 4);
});

test('sendMllp reports a connection error after its retries', async () => {
  const l = await listener(() => 'committed');
  const port = l.port;
  await l.close();
  const [r] = await sendMllp('127.0.0.1', port, [A01], { retryDelayMs: 5, maxRetries: 1 });
  assert.equal(r.code, 'error');
  assert.match(r.text ?? '', /ECONNREFUSED/);
});

/** Connects and resolves when the server closes the connection, with whatever it sent. */
function untilClosed(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(got)));
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 4000) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an oversize message gets AE with its MSH-10, and its head is handed over for quarantine', async () => {
  const l = await listener(() => 'quarantined', { maxMessageBytes: 2000 });
  const big = adt('A01', 'BIG0001', [pv1({}), ...Array.from({ length: 2000 }, (_, i) => `NTE|${i}||${'x'.repeat(60)}`)]);
  const [r] = await sendMllp('127.0.0.1', l.port, [big], { maxRetries: 0 });
  assert.equal(r.code, 'AE');
  assert.match(r.text ?? '', /^message is \d+ bytes \(\d+ KiB\), larger than the 2000 byte limit; only its first 64 KiB are kept$/);
  const [ack] = await rawExchange(l.port, [frameMllp(big)], 1);
  assert.equal(readAck(ack).controlId, 'BIG0001');
  const seen = l.seen[0]!.item;
  assert.equal(seen.kind, 'rejected');
  assert.equal(seen.messageId, 'BIG0001');
  assert.equal(seen.sourceSystem, 'hl7:RM2');
  assert.ok(l.seen[0]!.raw.startsWith('MSH|^~\\&|PAS|RM2|'));
  assert.ok(l.seen[0]!.raw.length > 60_000 && l.seen[0]!.raw.length <= 65_536 && big.startsWith(l.seen[0]!.raw.slice(0, 60_000)));
});

test('a frame with no end block times out: AE with its MSH-10, the partial frame handed over, the connection closed', async () => {
  const l = await listener(() => 'quarantined', { frameTimeoutMs: 50 });
  const socket = await connect(l.port);
  const closed = untilClosed(socket);
  socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(A01)])); // no FS CR
  const reply = new MllpFrameReader().push(await closed);
  assert.equal(reply.length, 1);
  const ack = readAck(reply[0]!.kind === 'frame' ? reply[0]!.bytes.toString() : '');
  assert.equal(ack.code, 'AE');
  assert.equal(ack.controlId, 'MSG0001');
  assert.match(ack.text ?? '', /no end block \(FS CR\)/);
  assert.equal(l.seen.length, 1);
  assert.equal(l.seen[0]!.item.kind, 'rejected');
  assert.equal(l.seen[0]!.raw, A01);
});

test('idle connections are closed; bytes sent outside MLLP frames are reported on close', async () => {
  const l = await listener(() => 'quarantined', { idleTimeoutMs: 50 });
  const idle = await connect(l.port);
  assert.equal((await untilClosed(idle)).length, 0);
  // A sender that does not frame at all: nothing to ACK, but a person can be told why nothing arrived.
  const unframed = await connect(l.port);
  const closed = untilClosed(unframed);
  unframed.write(A01);
  await closed;
  await until(() => l.seen.length === 1, 'the unframed bytes to be handed over');
  assert.match((l.seen[0]!.item as { reason: string }).reason, /bytes arrived outside MLLP frames/);
  assert.ok(l.seen[0]!.raw.startsWith('MSH|'));
});

test('connections beyond the cap are closed on arrival and counted; the ones inside keep working', async () => {
  const l = await listener(() => 'committed', { maxConnections: 3 });
  const inside = await Promise.all([1, 2, 3].map(() => connect(l.port)));
  await until(() => l.status().connections === 3, 'three connections');
  const extra = await connect(l.port).catch(() => undefined);
  if (extra) await untilClosed(extra);
  await until(() => l.status().refusedConnections === 1, 'one refused');
  assert.deepEqual({ ...l.status(), port: 0 }, { state: 'listening', port: 0, connections: 3, maxConnections: 3, refusedConnections: 1, idleTimeoutMs: 600_000 });
  for (const s of inside) s.destroy();
  await until(() => l.status().connections === 0, 'the connections to close');
  assert.deepEqual(await sendMllp('127.0.0.1', l.port, [A01], { maxRetries: 0 }), [{ code: 'AA' }]);
  await l.close();
  assert.equal(l.status().state, 'closed');
});

test('a flood of junk frames: each answered AE, a few kept one by one, the rest summed up in one item', async () => {
  let now = Date.UTC(2025, 2, 1, 12, 0, 0);
  const l = await listener((item) => (item.kind === 'rejected' ? 'quarantined' : 'committed'), { junkBudget: { burst: 3, perMinute: 1 }, now: () => now });
  const junk = Array.from({ length: 10 }, (_, i) => `junk frame ${i}`);
  const acks = await sendMllp('127.0.0.1', l.port, junk, { maxRetries: 0 });
  assert.deepEqual(new Set(acks.map((a) => a.code)), new Set(['AE']));
  assert.deepEqual(l.seen.map((s) => s.raw), ['junk frame 0', 'junk frame 1', 'junk frame 2']);
  // A real message in between is never held back by the junk budget.
  assert.deepEqual(await sendMllp('127.0.0.1', l.port, [A01], { maxRetries: 0 }), [{ code: 'AA' }]);
  // Two minutes on, the budget has two more: the summary of the seven (with the last one's text), then the next junk frame.
  now += 120_000;
  await sendMllp('127.0.0.1', l.port, ['junk frame 10'], { maxRetries: 0 });
  assert.match((l.seen[4]!.item as { reason: string }).reason, /^7 more unreadable MLLP frames from 127\.0\.0\.1 between 2025-03-01T12:00:00\.000Z and 2025-03-01T12:00:00\.000Z were answered AE but not kept one by one/);
  assert.equal(l.seen[4]!.raw, 'junk frame 9');
  assert.equal(l.seen[5]!.raw, 'junk frame 10');
  // What is still owed when the listener stops is written then.
  await sendMllp('127.0.0.1', l.port, ['junk frame 11', 'junk frame 12'], { maxRetries: 0 });
  const before = l.seen.length;
  await l.close();
  assert.equal(l.seen.length, before + 1);
  assert.match((l.seen.at(-1)!.item as { reason: string }).reason, /^2 more unreadable MLLP frames/);
});

test('junk budget: per sender, refilled over time, bounded', () => {
  let now = 0;
  const b = new JunkBudget(2, 1, () => now);
  assert.deepEqual([b.take('a', 'x'), b.take('a', 'x'), b.take('a', 'x'), b.take('b', 'y')], [true, true, false, true]);
  assert.equal(b.summary('a'), undefined); // no budget for the summary yet
  assert.deepEqual(b.owing(), ['a']);
  now += 60_000;
  assert.match(b.summary('a')?.reason ?? '', /^1 more unreadable MLLP frames from a /);
  assert.deepEqual(b.owing(), []);
});
