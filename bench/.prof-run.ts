import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ingestPaths } from '/work/wt/ingest/ingest/pipeline.ts';
import { freshDatabase } from '/work/wt/ingest/bench/util.ts';
const dir = '/tmp/bevan-bench-locality-3000-7';
const what = process.argv[2] ?? 'hl7';
const kind = (process.argv[3] ?? 'postgres') as 'postgres' | 'pglite';
const files = (sub: string, ext: string) => readdirSync(join(dir, sub)).filter((f) => f.endsWith(ext)).sort().map((f) => join(dir, sub, f));
const db = await freshDatabase(kind);
const set = what === 'hl7' ? files('hospital', '.hl7') : files('gp', '.ndjson');
const c0 = process.cpuUsage();
const r = await ingestPaths(db, set);
const c = process.cpuUsage(c0);
console.log(what, JSON.stringify(r), 'cpu', (c.user + c.system) / 1e6);
if (process.argv[4] === 'replay') {
  const c1 = process.cpuUsage();
  const r2 = await ingestPaths(db, set);
  const cc = process.cpuUsage(c1);
  console.log('replay', JSON.stringify(r2), 'cpu', (cc.user + cc.system) / 1e6);
}
await db.drop();
