/**
 * Patient search through the whole HTTP path in this process (`app.inject`: Fastify's routing and
 * hooks, bearer verification, the repository's decision and audit, the Bundle's serialisation;
 * no sockets between client and server), `--clients` requests at a time, over the people
 * registered at one practice of a store bench/api-load.ts kept (`--keep`). Prints node CPU and
 * the PostgreSQL backends' CPU per request (steadier on a shared machine than latency under load),
 * and checks that every request answered has its audit rows.
 *   node --import tsx bench/search-read.ts [--schema bench_api_20000_7] [--practice P91023]
 *        [--scenario nhs|family|birthdate] [--requests 3000] [--clients 8] [--rounds 1]
 * The server: BEVAN_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test.
 */
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { issueToken } from '../access/tokens.ts';
import { openDatabase } from '../db/open.ts';
import { buildServer } from '../http/server.ts';
import { arg, procCpu } from './util.ts';

async function main(): Promise<void> {
  const schema = arg('schema', 'bench_api_20000_7');
  const practice = arg('practice', 'P91023');
  const scenario = arg('scenario', 'nhs');
  const requests = Number(arg('requests', '3000'));
  const clients = Number(arg('clients', '8'));
  const rounds = Number(arg('rounds', '1'));
  const app_name = 'bevan-bench-search';
  const u = new URL(process.env.BEVAN_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  u.searchParams.set('options', `-c search_path=${schema}`);
  u.searchParams.set('application_name', app_name);
  const db = await openDatabase({ databaseUrl: u.toString() });
  const people = (
    await db.query<{ nhs: string | null; family: string | null; birth: string | null }>(
      `SELECT DISTINCT ON (p.person_id) p.nhs_number AS nhs, si.family, si.birth_date::text AS birth
         FROM person p JOIN source_identity si ON si.person_id = p.person_id
        WHERE p.status = 'active' AND si.source_system = $1 ORDER BY p.person_id, si.updated_at DESC`,
      [`gp:${practice}`],
    )
  ).rows;
  if (!people.length) throw new Error(`no people at gp:${practice} in schema ${schema}: run bench/api-load.ts --db postgres --keep first`);
  const uniq = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => !!x))];
  const paths = (
    scenario === 'nhs'
      ? uniq(people.map((p) => p.nhs)).map((n) => `identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${n}`)}`)
      : scenario === 'family'
        ? uniq(people.map((p) => p.family)).map((f) => `family=${encodeURIComponent(f)}`)
        : uniq(people.map((p) => p.birth)).map((b) => `birthdate=${b}`)
  ).map((q) => `/fhir/Patient?${q}`);
  const app = buildServer({ db });
  await app.ready();
  const auth = `Bearer ${await issueToken(db, { user: 'bench-search-gp', role: 'gp', organisation: practice })}`;
  const backends = async () => (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [app_name])).rows.map((r) => r.pid);
  const backendCpu = async () => (await backends()).reduce((s, pid) => s + (procCpu(pid) ?? 0), 0);
  const auditRows = async () => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_log WHERE actor = 'bench-search-gp'`)).rows[0]!.n);
  let next = 0;
  let failed = 0;
  let expected = 0;
  const one = async (path: string) => {
    const r = await app.inject({ method: 'GET', url: path, headers: { authorization: auth, host: 'localhost' } });
    if (r.statusCode !== 200) failed++;
    else expected += Math.max(1, ((JSON.parse(r.body) as { entry?: { search?: { mode?: string } }[] }).entry ?? []).filter((e) => e.search?.mode === 'match').length);
  };
  const run = async (n: number) => {
    const end = next + n;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (next < end) await one(paths[next++ % paths.length]!);
    }));
  };
  await run(Math.min(500, requests)); // warm-up: JIT, plans, the pool's connections
  for (let round = 0; round < rounds; round++) {
    failed = 0;
    expected = 0;
    const a0 = await auditRows();
    const s0 = await backendCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(requests);
    const c = process.cpuUsage(c0);
    const wall = performance.now() - t0;
    const server = ((await backendCpu()) - s0) * 1000;
    const audited = (await auditRows()) - a0;
    console.log(
      `${scenario}: ${requests} requests, ${clients} at a time: node CPU ${((c.user + c.system) / 1000 / requests).toFixed(3)} ms/req, backend CPU ${(server / requests).toFixed(3)} ms/req, wall ${(wall / requests).toFixed(3)} ms/req; non-200 ${failed}; audit rows ${audited} / ${expected}; load ${os.loadavg()[0]!.toFixed(2)}`,
    );
  }
  await app.close();
  await db.close();
}
void main();
