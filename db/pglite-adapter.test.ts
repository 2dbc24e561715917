import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, openPglite } from './pglite-adapter.ts';

/** Every directory and file under dir, with its permission bits. */
function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>([[dir, statSync(dir).mode & 0o777]]);
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    out.set(p, statSync(p).mode & 0o777);
  }
  return out;
}

const procState = (pid: number): string | undefined => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
};

test('the PGlite data folder and its files are readable by their owner only', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bevan-perm-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'parent', 'data');
  const db = await openPglite(dir);
  assert.equal(statSync(join(root, 'parent')).mode & 0o777, 0o700, 'a parent made for the folder');
  await db.exec('CREATE TABLE t (x int); INSERT INTO t VALUES (1); CHECKPOINT;');
  for (const [p, mode] of modes(dir)) {
    // While open, the folder is 0700 and the files PGlite made at open are 0600; files made since sit inside it.
    if (statSync(p).isDirectory()) assert.equal(mode, 0o700, p);
  }
  await db.close();
  const after = modes(dir);
  assert.ok(after.size > 100);
  for (const [p, mode] of after) assert.equal(mode, statSync(p).isDirectory() ? 0o700 : 0o600, `${p} is ${mode.toString(8)}`);
});

test('the data folder lock: a live owner stops a second opener; a zombie, a dead process or a reused pid does not', async (t) => {
  if (!procState(process.pid)) return t.skip('needs /proc (Linux)');
  const root = mkdtempSync(join(tmpdir(), 'bevan-lock-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'data');
  mkdirSync(dir, { mode: 0o700 });

  // A zombie: sh starts a short-lived child, then becomes `sleep`, which never reaps it.
  const parent = spawn('sh', ['-c', 'sleep 0.5 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => parent.kill('SIGKILL'));
  const zombie = Number(await new Promise<string>((r) => parent.stdout.once('data', (c) => r(String(c)))));
  for (let i = 0; procState(zombie) !== 'Z'; i++) {
    if (i > 2000) throw new Error(`process ${zombie} did not become a zombie (state ${procState(zombie)})`);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(alive(zombie), false, 'a zombie is not a live owner');
  assert.equal(alive(parent.pid!), true);

  // The live process holds the lock: refused, with its pid in the message.
  writeFileSync(join(dir, 'bevan.lock'), String(parent.pid));
  await assert.rejects(openPglite(dir), { message: new RegExp(`in use by process ${parent.pid}`) });
  // The same pid with another start time is a reused pid, not the owner.
  assert.equal(alive(parent.pid!, '1'), false);

  // The zombie "holds" it: taken over.
  writeFileSync(join(dir, 'bevan.lock'), String(zombie));
  const db = await openPglite(dir);
  assert.equal(readFileSync(join(dir, 'bevan.lock'), 'utf8').split(' ')[0], String(process.pid));
  await db.close();
  assert.deepEqual(readdirSync(dir).filter((f) => f === 'bevan.lock'), [], 'released on close');
});
