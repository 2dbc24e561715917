import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { IngestItem } from '../model.ts';
import { buildAck, readAck } from './ack.ts';
import { frameMllp, MllpFrameReader, sendMllp, startMllpListener, type HandleResult } from './mllp.ts';
import { A01, A03, A40, ORU, SIU, adt, pv1 } from './fixtures/samples.ts';

const BAD_DATE = A01.replace('19800315', '20230230').replace('MSG0001', 'BADDATE');
const NO_MSH = 'EVN|A01|20250301\rPID|1||X^^^RM2^MR\r';

/** A listener whose handle's answer is chosen per message id by the test. */
async function listener(answer: (item: IngestItem) => Promise<HandleResult> | HandleResult) {
  const seen: Array<{ item: IngestItem; raw: string }> = [];
  const errors: unknown[] = [];
  const l = await startMllpListener({
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
  assert.deepEqual(small.push(Buffer.concat([frameMllp('x'.repeat(50)), frameMllp('ok')])), [
    { kind: 'oversize', bytes: 50 },
    { kind: 'frame', bytes: Buffer.from('ok') },
  ]);
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

test('ACK codes: committed, duplicate, ignored → AA; quarantined, conflict → AE; unavailable → AR; unparseable → AR', async () => {
  const answers: Record<string, HandleResult> = { MSG0001: 'committed', MSG0003: 'duplicate', SIU0001: 'ignored', MSG0040: 'conflict', LAB0001: 'unavailable' };
  const l = await listener((item) => (item.kind === 'rejected' ? 'quarantined' : answers[item.messageId] ?? 'committed'));
  const results = await sendMllp('127.0.0.1', l.port, [A01, A03, SIU, BAD_DATE, A40, NO_MSH, ORU], { maxRetries: 0 });
  assert.deepEqual(results, [
    { code: 'AA' },
    { code: 'AA' },
    { code: 'AA' },
    { code: 'AE', text: 'PID-7 "20230230" is not a valid date' },
    { code: 'AE', text: 'MSH-10 "MSG0040" was already received with different content' },
    { code: 'AR', text: 'no MSH segment' },
    { code: 'AR', text: 'database unavailable, please retry' },
  ]);
  // The unparseable message was handed over (to be quarantined) before the AR.
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

test('a handle that throws gets AR and the listener keeps serving', async () => {
  const l = await listener((item) => {
    if (item.kind === 'accepted' && item.messageId === 'MSG0001') throw new Error('boom');
    return 'committed';
  });
  const results = await sendMllp('127.0.0.1', l.port, [A01, A03], { maxRetries: 0 });
  assert.equal(results[0].code, 'AR');
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
