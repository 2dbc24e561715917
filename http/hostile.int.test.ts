import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { PasswordGate } from '../access/sign-in.ts';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { testDatabases } from '../test/databases.ts';
import { buildServer, HTTP_TIMEOUTS } from './server.ts';

const PASSWORD = 'correct horse battery staple';

/** One HTTP request from a chosen local address (127.0.0.0/8 is all loopback on Linux); resolves to its status and body. */
function request(port: number, o: { method?: string; path: string; body?: unknown; from?: string; agent?: http.Agent; headers?: Record<string, string> }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: o.method ?? 'GET',
        path: o.path,
        localAddress: o.from,
        agent: o.agent,
        headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...o.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A raw socket that sends `start` and then `drip` every `everyMs` (if given); resolves when the server closes it, with what it said. */
function slowClient(port: number, start: string, drip?: { text: string; everyMs: number }) {
  const s = net.connect({ port, host: '127.0.0.1' });
  let said = '';
  let timer: NodeJS.Timeout | undefined;
  s.setEncoding('utf8');
  s.on('data', (c) => (said += c));
  s.on('error', () => undefined);
  s.on('connect', () => {
    s.write(start);
    if (drip) timer = setInterval(() => s.writable && s.write(drip.text), drip.everyMs);
  });
  const closed = new Promise<{ said: string; afterMs: number }>((resolve) => {
    const t0 = Date.now();
    s.on('close', () => {
      clearInterval(timer);
      resolve({ said, afterMs: Date.now() - t0 });
    });
  });
  return { socket: s, closed };
}

/** Resolves with p, or rejects when it has not settled after ms (the test then says what hung). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

const [pglite] = await testDatabases();

test('HTTP timeouts: the server is created with them (headers 10 s, request 30 s, socket idle 60 s, keep-alive 10 s)', async () => {
  const db = await pglite!.open();
  const app = buildServer({ db });
  try {
    await app.ready();
    assert.equal(app.server.headersTimeout, HTTP_TIMEOUTS.headersTimeout);
    assert.equal(app.server.requestTimeout, HTTP_TIMEOUTS.requestTimeout);
    assert.equal(app.server.keepAliveTimeout, HTTP_TIMEOUTS.keepAliveTimeout);
    assert.equal(app.server.timeout, HTTP_TIMEOUTS.connectionTimeout);
    assert.ok(HTTP_TIMEOUTS.headersTimeout <= HTTP_TIMEOUTS.requestTimeout);
  } finally {
    await app.close();
    await db.drop();
  }
});

test('slow clients: half a request, headers a byte at a time, half a body, an idle keep-alive — each closed at its timeout while others are served', async (t) => {
  const db = await pglite!.open();
  // The production timeouts scaled down (10 s → 1 s) so that the test does not wait for them.
  const app = buildServer({ db, timeouts: { headersTimeout: 1000, requestTimeout: 2000, connectionTimeout: 4000, keepAliveTimeout: 1000, connectionsCheckingInterval: 100 } });
  const held: net.Socket[] = [];
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const host = `Host: 127.0.0.1:${port}\r\n`;
    const halfRequest = slowClient(port, `GET /health HTTP/1.1\r\n${host}`);
    const slowloris = slowClient(port, `GET /health HTTP/1.1\r\n${host}`, { text: 'X', everyMs: 100 });
    const halfBody = slowClient(port, `POST /auth/login HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"username":`);
    const keepAlive = slowClient(port, `GET /health HTTP/1.1\r\n${host}Connection: keep-alive\r\n\r\n`);
    // And 200 more holding half a request each.
    const crowd = Array.from({ length: 200 }, () => slowClient(port, `GET /health HTTP/1.1\r\n${host}`));
    held.push(halfRequest.socket, slowloris.socket, halfBody.socket, keepAlive.socket, ...crowd.map((c) => c.socket));
    await new Promise((r) => setTimeout(r, 200));

    // Everyone else is served meanwhile.
    for (let i = 0; i < 5; i++) {
      const r = await request(port, { path: '/health' });
      assert.equal(r.status, 200);
    }
    const [a, b, c, d] = await within(Promise.all([halfRequest.closed, slowloris.closed, halfBody.closed, keepAlive.closed]), 8000, 'slow clients');
    assert.match(a.said, /^HTTP\/1\.1 408/, 'half a request: 408 and closed');
    assert.match(b.said, /^HTTP\/1\.1 408/, 'headers dripped in: closed by the headers timeout, though never idle');
    assert.match(c.said, /^HTTP\/1\.1 408/, 'half a body: closed by the request timeout');
    assert.match(d.said, /^HTTP\/1\.1 200/, 'the keep-alive request was answered');
    assert.ok(d.afterMs < 4000, `then closed for keeping quiet, before the 4 s socket timeout (${d.afterMs} ms)`);
    t.diagnostic(`closed after: half request ${a.afterMs} ms, slowloris ${b.afterMs} ms, half body ${c.afterMs} ms, idle keep-alive ${d.afterMs} ms (timeouts: headers 1000, request 2000, keep-alive 1000, checked every 100)`);
    await within(Promise.all(crowd.map((x) => x.closed)), 8000, 'the crowd of half requests');
    assert.equal((await request(port, { path: '/health' })).status, 200);
  } finally {
    for (const s of held) s.destroy();
    await app.close();
    await db.drop();
  }
});

for (const target of await testDatabases()) {
  test(`1,000 concurrent sign-ins with wrong passwords on ${target.name}: all refused (401/429), the rate limit refusing before any hash; others still served`, async (t) => {
    const db = await target.open();
    const gate = new PasswordGate();
    const app = buildServer({ db, auth: { passwordGate: gate, loginPerMinute: 10 } });
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const agents = [agent];
    try {
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001', password: PASSWORD });
      await addUser(db, { username: 'nurse.kay', role: 'community-nurse', organisation: 'RY7', password: PASSWORD });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as net.AddressInfo).port;
      // Another client, already connected (keep-alive) from another address, so that what is
      // measured is the server's answer, not the kernel's queue of new connections.
      const other = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(other);
      assert.equal((await request(port, { path: '/health', from: '127.0.0.2', agent: other })).status, 200);
      const token = await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const t0 = performance.now();
      const flood = Array.from({ length: 1000 }, (_, i) => request(port, { method: 'POST', path: '/auth/login', body: { username: 'dr.jones', password: `guess number ${i}` }, agent }));
      // Meanwhile: the service answers, another user signs in, a token holder reads.
      const health = await request(port, { path: '/health', from: '127.0.0.2', agent: other });
      const healthMs = performance.now() - t0;
      const kay = await request(port, { method: 'POST', path: '/auth/login', body: { username: 'nurse.kay', password: PASSWORD }, from: '127.0.0.2', agent: other });
      const api = await request(port, { path: '/auth/session', from: '127.0.0.2', agent: other, headers: { authorization: `Bearer ${token}` } });
      const othersMs = performance.now() - t0;
      const results = await Promise.all(flood);
      t.diagnostic(`1,000 wrong sign-ins answered in ${Math.round(performance.now() - t0)} ms; meanwhile, on a connection from another address: /health after ${Math.round(healthMs)} ms, a sign-in and a read done after ${Math.round(othersMs)} ms`);
      assert.equal(health.status, 200);
      assert.equal(kay.status, 200, kay.body);
      assert.equal(api.status, 200, api.body);
      const by = new Map<number, number>();
      for (const r of results) by.set(r.status, (by.get(r.status) ?? 0) + 1);
      assert.deepEqual([...by.keys()].sort(), [401, 429], JSON.stringify([...by]));
      assert.equal(by.get(401), 10, 'ten a minute from one address reach the password check');
      assert.ok(results.every((r) => JSON.parse(r.body).resourceType === 'OperationOutcome'));
      // The other 990 cost no hash: only the ten and nurse.kay's sign-in were checked.
      assert.equal(gate.started, 11);
      const denied = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'auth.login' AND decision = 'deny'`);
      assert.equal(denied.rows[0]!.n, 10, 'each checked wrong password is audited');
    } finally {
      for (const x of agents) x.destroy();
      await app.close();
      await db.drop();
    }
  });

  test(`sign-ins from 400 addresses at once on ${target.name}: the password gate bounds the hashing, the rest get 429, the API still answers`, async () => {
    const db = await target.open();
    const gate = new PasswordGate(4, 16);
    const app: FastifyInstance = buildServer({ db, auth: { passwordGate: gate, loginPerMinute: 10 } });
    try {
      await app.ready();
      const token = await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const flood = Array.from({ length: 400 }, (_, i) =>
        app.inject({ method: 'POST', url: '/auth/login', payload: { username: `user${i}`, password: 'wrong password' }, remoteAddress: `10.${(i >> 8) & 255}.${i & 255}.1` }),
      );
      const api = await app.inject({ method: 'GET', url: '/auth/session', headers: { authorization: `Bearer ${token}` } });
      const results = await Promise.all(flood);
      assert.equal(api.statusCode, 200);
      const statuses = new Set(results.map((r) => r.statusCode));
      assert.deepEqual([...statuses].sort(), [401, 429]);
      assert.ok(gate.refused > 0 && gate.started < 400, `hashed ${gate.started}, refused ${gate.refused}`);
      assert.equal(results.filter((r) => r.statusCode === 401).length, gate.started);
      const busy = results.find((r) => r.statusCode === 429)!;
      assert.equal(busy.headers['retry-after'], '1');
      assert.match(busy.json().issue[0].diagnostics, /at once/);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
