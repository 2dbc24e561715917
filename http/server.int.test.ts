import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Database } from '../db/database.ts';
import { DatabaseUnavailableError } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { msh, pv1, seg } from '../ingest/hl7v2/fixtures/samples.ts';
import { sendMllp } from '../ingest/hl7v2/mllp.ts';
import { startMllpIngest } from '../ingest/mllp-service.ts';
import { buildServer } from './server.ts';

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 12_000) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const admission = (id: string) =>
  [msh({ type: 'ADT^A01^ADT_A01', id }), seg('EVN', { 1: 'A01', 2: '20250301123000' }), seg('PID', { 1: '1', 3: `${id}^^^RM2^MR`, 5: 'Flood^Alex', 7: '19700101', 8: 'U' }), pv1({ visit: `V${id}` })].join('\r') + '\r';

for (const target of await testDatabases()) {
  test(`http server on ${target.name}: health and ingestion status; hostile requests get clean errors`, async () => {
    const db = await target.open();
    const app = buildServer({ db });
    try {
      const h = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(h.statusCode, 200);
      assert.equal(h.json().status, 'ok');
      assert.equal(h.json().mllp, null);
      const s = await app.inject({ method: 'GET', url: '/ingest/status' });
      assert.equal(s.statusCode, 200);
      assert.deepEqual(s.json().totals, { persons: 0, identities: 0, resources: 0, pending_reviews: 0 });
      const missing = await app.inject({ method: 'GET', url: '/nope/../../etc/passwd' });
      assert.equal(missing.statusCode, 404);
      const big = await app.inject({ method: 'POST', url: '/health', payload: 'x'.repeat(2 << 20), headers: { 'content-type': 'application/json' } });
      assert.ok(big.statusCode >= 400 && big.statusCode < 500);
    } finally {
      await app.close();
      await db.drop();
    }
  });

  test(`http server on ${target.name}: 3,000 idle MLLP sockets leave /health answering; connections beyond the cap are refused cleanly`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const mllp = await startMllpIngest(db, 0, '127.0.0.1', { maxConnections: 200 });
    t.after(() => mllp.close());
    const app = buildServer({ db, mllp });
    t.after(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const httpPort = (app.server.address() as net.AddressInfo).port;

    // In batches below the listen backlog, so that every connection reaches the listener (a
    // full accept queue makes the kernel hold the rest back, which is not what is tested here).
    const flood: net.Socket[] = [];
    let closedByServer = 0;
    t.after(() => flood.forEach((s) => s.destroy()));
    for (let batch = 0; batch < 12; batch++) {
      for (let i = 0; i < 250; i++) {
        const s = net.connect({ port: mllp.port, host: '127.0.0.1' });
        s.on('error', () => undefined);
        s.on('close', () => closedByServer++);
        flood.push(s);
      }
      await until(() => mllp.status().connections + mllp.status().refusedConnections === flood.length, `batch ${batch + 1} to reach the listener`);
    }
    await until(() => closedByServer === 2800, 'the refused sockets to be closed');
    assert.equal(mllp.status().connections, 200);

    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    assert.equal(health.status, 200);
    const body = await health.json();
    assert.equal(body.status, 'ok');
    assert.deepEqual({ ...body.mllp, port: 0 }, { state: 'listening', port: 0, connections: 200, maxConnections: 200, refusedConnections: 2800, idleTimeoutMs: 600_000, received: 0 });

    // A sender arriving now is closed at once (it will retry), not left hanging.
    const [refused] = await sendMllp('127.0.0.1', mllp.port, [admission('CAP1')], { retryDelayMs: 5, maxRetries: 0 });
    assert.equal(refused!.code, 'error');
    for (const s of flood) s.destroy();
    await until(() => mllp.status().connections === 0, 'the idle sockets to go');
    assert.deepEqual(await sendMllp('127.0.0.1', mllp.port, [admission('CAP2')], { maxRetries: 0 }), [{ code: 'AA' }]);
  });

  test(`http server on ${target.name}: /health says degraded when the MLLP listener has stopped, 503 when the database does not answer`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const mllp = await startMllpIngest(db, 0);
    let down = false;
    const gate: Database = { ...db, query: (sql, params) => (down ? Promise.reject(new DatabaseUnavailableError('connect ECONNREFUSED (test)')) : db.query(sql, params)) };
    const app = buildServer({ db: gate, mllp });
    t.after(() => app.close());
    assert.equal((await app.inject({ url: '/health' })).json().mllp.state, 'listening');
    await mllp.close();
    const degraded = await app.inject({ url: '/health' });
    assert.equal(degraded.statusCode, 200);
    assert.equal(degraded.json().status, 'degraded');
    assert.equal(degraded.json().mllp.state, 'closed');
    down = true;
    const unavailable = await app.inject({ url: '/health' });
    assert.equal(unavailable.statusCode, 503);
    assert.equal(unavailable.json().status, 'unavailable');
    assert.match(unavailable.json().error, /ECONNREFUSED/);
  });
}
