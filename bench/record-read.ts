// Sequential $everything miss path in process: node CPU and wall per call.
import { openDatabase } from '../db/open.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { performance } from 'node:perf_hooks';
process.env.BEVAN_RESPONSE_CACHE_MB = '0';
async function main(): Promise<void> {
  const url = process.env.URL ?? 'postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dbench_api_20000_7';
  const db = await openDatabase({ databaseUrl: url });
  const practice = 'P91023';
  const ids = (await db.query<{ id: string }>(`SELECT DISTINCT person_id::text AS id FROM source_identity WHERE source_system = $1 AND person_id IS NOT NULL ORDER BY 1 LIMIT ${Number(process.env.N ?? 300)}`, ['gp:' + practice])).rows.map((r) => r.id);
  const principal = { user: 'bench-gp', role: 'gp' as const, organisation: practice };
  const render = (b: unknown) => JSON.stringify(b);
  async function one(id: string) {
    const repo = repositoryFor({ principal, purpose: 'direct-care', db, from: '127.0.0.1' });
    return repo.everythingJson(id, {}, { key: 'k', render });
  }
  for (const id of ids.slice(0, 30)) await one(id);
  const sizes: number[] = [];
  const c0 = process.cpuUsage(); const t0 = performance.now();
  const lat: [number, number][] = [];
  for (const id of ids) { const t = performance.now(); const b = await one(id); lat.push([performance.now() - t, b.length]); sizes.push(b.length); }
  const c = process.cpuUsage(c0); const wall = performance.now() - t0;
  console.log(`${ids.length} reads: node CPU ${((c.user + c.system) / 1000 / ids.length).toFixed(3)} ms/read, wall ${(wall / ids.length).toFixed(2)} ms/read; body median ${sizes.sort((a,b)=>a-b)[sizes.length>>1]} B, p95 ${sizes[Math.floor(sizes.length*0.95)]} B`);
  lat.sort((a, b) => a[0] - b[0]);
  console.log('slowest', lat.slice(-5).map(([t, s]) => `${t.toFixed(1)}ms/${s}B`).join(' '));
  await db.close();

}
void main();
