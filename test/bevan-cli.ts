/** For CLI tests: `bevan` as a script calls it, a child process on a PGlite folder of the test's own (never DATABASE_URL, never BEVAN_USER). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BEVAN = fileURLToPath(new URL('../bin/bevan.mjs', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A `bevan` that runs in `dir` with `--data dir/data` appended to every command. */
export function bevanIn(dir: string): (...args: string[]) => CliRun {
  const data = join(dir, 'data');
  return (...args) => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.BEVAN_USER;
    const r = spawnSync(process.execPath, [BEVAN, ...args, '--data', data], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}
