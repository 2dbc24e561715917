/**
 * A flood of sign-ins with wrong passwords against a listening server, and what everyone else
 * sees meanwhile. The server runs in this thread; the flood and a probe run in worker threads
 * (their own event loops), so the probe's latencies are the server's, not the load generator's.
 *
 *   node --import tsx bench/login-flood.ts [--db pglite|postgres] [--logins 1000] [--spread]
 *
 * Without --spread every sign-in comes from 127.0.0.1 for one user (the per-address and per-user
 * limits refuse all but 10 before hashing); with --spread each comes from its own loopback
 * address for its own user name (no rate limit applies: the password gate bounds the hashing).
 * The probe, already connected from 127.0.0.2, asks /health and GET /auth/session (bearer) in
 * turn, before and during the flood.
 */
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';

interface Job {
  kind: 'flood' | 'probe';
  port: number;
  logins?: number;
  spread?: boolean;
  token?: string;
  ms?: number;
}

// The flood and the probe, as plain JavaScript: worker threads do not get the TypeScript loader.
const WORKER = `
const http = require('node:http');
const { parentPort, workerData: job } = require('node:worker_threads');
function call(port, o) {
  return new Promise((resolve) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const headers = Object.assign(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}, o.headers || {});
    const req = http.request({ host: '127.0.0.1', port, method: o.method || 'GET', path: o.path, localAddress: o.from, agent: o.agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode || 0));
    });
    req.on('error', () => resolve(-1));
    req.end(payload);
  });
}
async function flood() {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const t0 = performance.now();
  const statuses = await Promise.all(Array.from({ length: job.logins }, (_, i) => call(job.port, {
    method: 'POST', path: '/auth/login', agent,
    from: job.spread ? '127.' + (10 + (i >> 16)) + '.' + ((i >> 8) & 255) + '.' + ((i & 255) || 1) : undefined,
    body: { username: job.spread ? 'user' + i : 'dr.jones', password: 'wrong guess ' + i },
  })));
  const byStatus = {};
  for (const s of statuses) byStatus[s] = (byStatus[s] || 0) + 1;
  agent.destroy();
  return { ms: Math.round(performance.now() - t0), byStatus };
}
async function probe() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const lat = [];
  let notOk = 0;
  const end = performance.now() + job.ms;
  for (let i = 0; performance.now() < end; i++) {
    const t = performance.now();
    const s = await call(job.port, i % 2 ? { path: '/auth/session', agent, from: '127.0.0.2', headers: { authorization: 'Bearer ' + job.token } } : { path: '/health', agent, from: '127.0.0.2' });
    if (s !== 200) notOk++;
    lat.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 10) / 10;
  return { requests: lat.length, notOk, p50: q(0.5), p95: q(0.95), max: q(1) };
}
(job.kind === 'flood' ? flood() : probe()).then((r) => parentPort.postMessage(r));
`;

function run(job: Job): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: job });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

{
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
  const kind = opt('--db', 'pglite') as 'pglite' | 'postgres';
  const logins = Number(opt('--logins', '1000'));
  const spread = args.includes('--spread');
  const { freshDatabase } = await import('./util.ts');
  const { buildServer } = await import('../http/server.ts');
  const { PasswordGate } = await import('../access/sign-in.ts');
  const { addUser } = await import('../access/users.ts');
  const { issueToken } = await import('../access/tokens.ts');
  const db = await freshDatabase(kind);
  await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001', password: 'correct horse battery staple' });
  const gate = new PasswordGate();
  const app = buildServer({ db, auth: { passwordGate: gate } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const token = await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' });
  const baseline = await run({ kind: 'probe', port, token, ms: 1500 });
  const [flood, during] = await Promise.all([run({ kind: 'flood', port, logins, spread }), run({ kind: 'probe', port, token, ms: 3000 })]);
  console.log(JSON.stringify({ database: kind, logins, spread, flood, passwordChecks: gate.started, turnedAwayByGate: gate.refused, probe: { baseline, duringFlood: during } }, null, 2));
  await app.close();
  await db.drop();
}
