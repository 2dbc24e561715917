import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

test('bevan quarantine, care-team, consent and audit anchor at the terminal: a named user, the policy decides, exit codes by kind', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-gov-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  delete env.BEVAN_USER;
  const data = join(dir, 'data');
  const bevan = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(root, 'bin/bevan.mjs'), ...args, '--data', data], { cwd: root, env, encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  // Each command opens the data folder afresh (seconds each on a busy machine): a few that show the edge.
  assert.equal(bevan('user', 'add', 'int.lee', '--role', 'integration', '--org', 'TRAFFORD').code, 0);

  const anonymous = bevan('quarantine', 'list');
  assert.equal(anonymous.code, 77);
  assert.match(anonymous.err, /--user NAME/);
  const listed = bevan('quarantine', 'list', '--user', 'int.lee', '--json');
  assert.equal(listed.code, 0, listed.err);
  assert.deepEqual(JSON.parse(listed.out), { total: 0, offset: 0, limit: 50, items: [] });
  assert.equal(bevan('care-team', 'add', '943 476 5919', '--member', 'nurse.khan', '--user', 'int.lee').code, 66, 'no record for that NHS number (audited)');

  const file = join(dir, 'anchors.jsonl');
  const anchored = bevan('audit', 'anchor', '--out', file);
  assert.equal(anchored.code, 0, anchored.err);
  assert.match(anchored.out, /anchored 64 chains/);
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1);
  const verified = bevan('audit', 'verify', '--anchor', file, '--json');
  assert.equal(verified.code, 0, verified.out + verified.err);
  const v = JSON.parse(verified.out) as { valid: boolean; anchor: { ok: boolean; anchors: number } };
  assert.equal(v.valid, true);
  assert.deepEqual([v.anchor.ok, v.anchor.anchors], [true, 1]);
});
