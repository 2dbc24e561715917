import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

test('output into a closed pipe ends quietly (bevan audit search | head)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-pipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env };
  delete env.DATABASE_URL;
  // stdout is a pipe whose reader has gone before the command writes (what `| head` does).
  const child = spawn(process.execPath, [join(root, 'bin/bevan.mjs'), 'audit', 'search', '--data', join(dir, 'data')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(stderr, '');
  assert.equal(code, 0);
});
