/**
 * The $everything miss path, one read at a time, in this process: the repository's
 * everythingJson with the presented-response cache and the shared pages off (BEVAN_RESPONSE_CACHE_MB=0, BEVAN_SHARED_PAGES=off), for the people
 * registered at one practice of a store bench/api-load.ts kept (`--keep`). Prints the node CPU and
 * wall time per read and the body sizes; with the server on this machine, its backend's CPU too.
 *   node --import tsx bench/everything-read.ts [--schema bench_api_20000_7] [--practice P91023] [--reads 300] [--mode miss|shared|process]
 * The server: BEVAN_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test.
 */
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../db/open.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { everythingPresenter, parseEverythingQuery } from '../http/everything-render.ts';
import { arg, procCpu } from './util.ts';

// --mode miss (default): every read renders (both caches off); shared: every read is a hit in the
// pages every server shares (migration 0079; process cache off); process: a hit in this process's cache.
const mode = arg('mode', 'miss');
if (!['miss', 'shared', 'process'].includes(mode)) throw new Error('--mode miss, shared or process');
process.env.BEVAN_RESPONSE_CACHE_MB = mode === 'process' ? '256' : '0';
process.env.BEVAN_SHARED_PAGES = mode === 'shared' ? 'on' : 'off';

async function main(): Promise<void> {
  const schema = arg('schema', 'bench_api_20000_7');
  const practice = arg('practice', 'P91023');
  const reads = Number(arg('reads', '300'));
  const u = new URL(process.env.BEVAN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  u.searchParams.set('options', `-c search_path=${schema}`);
  u.searchParams.set('application_name', 'bevan-bench-everything');
  const db = await openDatabase({ databaseUrl: u.toString() });
  const ids = (
    await db.query<{ id: string }>(`SELECT DISTINCT person_id::text AS id FROM source_identity WHERE source_system = $1 AND person_id IS NOT NULL ORDER BY 1 LIMIT $2`, [`gp:${practice}`, reads])
  ).rows.map((r) => r.id);
  if (!ids.length) throw new Error(`no people at gp:${practice} in schema ${schema}: run bench/api-load.ts --db postgres --keep first`);
  const query = parseEverythingQuery({}, false);
  const principal = { user: 'bench-gp', role: 'gp' as const, organisation: practice };
  const one = (id: string) => repositoryFor({ principal, purpose: 'direct-care', db, from: '127.0.0.1' }).everythingJson(id, query.request, everythingPresenter(id, query, 'http://127.0.0.1/fhir'));
  const backends = async () => (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'bevan-bench-everything'`)).rows.map((r) => r.pid);
  const serverCpu = async () => (await backends()).reduce((s, pid) => s + (procCpu(pid) ?? 0), 0);
  if (mode === 'miss') for (const id of ids.slice(0, 30)) await one(id); // warm-up: JIT, plans
  else for (const id of ids) await one(id); // every page kept (shared: rendered or found; process: in this process's cache)
  const s0 = await serverCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const sizes: number[] = [];
  for (const id of ids) sizes.push((await one(id)).page.body.length);
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  const server = ((await serverCpu()) - s0) * 1000;
  sizes.sort((a, b) => a - b);
  const n = ids.length;
  console.log(
    `${mode}: ${n} reads of gp:${practice}: node CPU ${((c.user + c.system) / 1000 / n).toFixed(3)} ms/read, server backend CPU ${(server / n).toFixed(3)} ms/read, wall ${(wall / n).toFixed(2)} ms/read; body median ${sizes[n >> 1]} B, p95 ${sizes[Math.floor(n * 0.95)]} B, max ${sizes[n - 1]} B`,
  );
  await db.close();
}
void main();
