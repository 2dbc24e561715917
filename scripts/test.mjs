#!/usr/bin/env node
// `npm test`: type-checks the project (server and web application), then runs every *.test.ts (unit, *.int.test.ts database
// and *.browser.test.ts) with Node's own test runner. Database tests run against PGlite and,
// when BEVAN_TEST_DATABASE_URL is set (or a server answers on 127.0.0.1:5432), PostgreSQL too.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const skip = new Set(['node_modules', '.git', '.bevan', 'out', 'dist']);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(root);
const filter = process.argv.slice(2);
const chosen = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;

if (!filter.length) {
  console.log('# type-check (tsc)');
  // The server and its tests; then the web application (DOM and JSX, its own tsconfig).
  for (const project of ['tsconfig.json', 'web/tsconfig.json']) {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: root, stdio: 'inherit' });
    if (tsc.status !== 0) {
      console.error(`type-check failed (${project})`);
      process.exit(tsc.status ?? 1);
    }
  }
}
console.log(`# ${chosen.length} test files`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...chosen], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
});
process.exit(r.status ?? 1);
