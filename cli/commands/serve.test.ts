import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

/** Runs the bevan CLI; a run still going after `limitMs` is killed and reported as hung. */
function runBevan(args: string[], limitMs = 240_000): Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [join(root, 'bin/bevan.mjs'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, hung });
    });
  });
}

/** Holds a port the way another program would. */
async function occupy(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

test('serve and demo on a port in use: a clear error naming the port and the option, a prompt non-zero exit, the data folder released', async (t) => {
  const busy = await occupy();
  t.after(() => busy.close());
  const dir = mkdtempSync(join(tmpdir(), 'bevan-ports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = (name: string) => join(dir, name);
  const [http, mllp, demo] = await Promise.all([
    runBevan(['serve', '--data', data('http'), '--port', String(busy.port), '--mllp-port', '0']),
    runBevan(['serve', '--data', data('mllp'), '--port', '0', '--mllp-port', String(busy.port)]),
    runBevan(['demo', '--people', '5', '--out', data('feeds'), '--data', data('demo'), '--port', String(busy.port), '--mllp-port', '0']),
  ]);
  for (const [name, r, option] of [['serve', http, '--port'], ['serve', mllp, '--mllp-port'], ['demo', demo, '--port']] as const) {
    assert.equal(r.hung, false, `${name} hung: ${r.stderr}`);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`port ${busy.port} on 127.0.0.1 is already in use`), r.stderr);
    assert.ok(r.stderr.includes(`choose another port with ${option}`), r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.match(http.stderr, /the HTTP port/);
  assert.match(mllp.stderr, /the MLLP port/);
  // The data folders were closed (their lock released), and the demo stopped before generating anything.
  for (const name of ['http', 'mllp', 'demo']) assert.equal(existsSync(join(data(name), 'bevan.lock')), false, name);
  assert.equal(existsSync(data('feeds')), false);
});

test('serve: a port option that is not a port number is refused before anything is opened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-ports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await runBevan(['serve', '--data', join(dir, 'data'), '--port', 'eighty']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--port must be a port number from 0 to 65535, not "eighty"/);
  assert.equal(existsSync(join(dir, 'data')), false);
});

test('startServices: when the HTTP port is taken after the check, the MLLP listener it started is closed again', async (t) => {
  const { openPglite } = await import('../../db/pglite-adapter.ts');
  const { startServices } = await import('./serve.ts');
  const db = await openPglite(null);
  t.after(() => db.close());
  const busy = await occupy();
  t.after(() => busy.close());
  const free = await occupy();
  await free.close();
  await assert.rejects(startServices(db, { port: busy.port, host: '127.0.0.1', mllpPort: free.port }), {
    message: `the HTTP port ${busy.port} on 127.0.0.1 is already in use (another bevan serve or demo, or another program); stop it, or choose another port with --port`,
  });
  // The MLLP port is free again: nothing was left listening.
  const again = net.createServer();
  await new Promise<void>((resolve, reject) => again.once('error', reject).listen(free.port, '127.0.0.1', resolve));
  await new Promise((r) => again.close(r));
});
