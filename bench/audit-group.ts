/**
 * The audit group committer under concurrency on the PostgreSQL server: `clients` readers each
 * hand one entry (a read's audit row) to the committer and wait for it to commit, `total` entries
 * in all, as the read path does under load. Prints entries/s, entries per batch, and the CPU per
 * entry of this process and of the PostgreSQL backends of the database (from /proc: run it on a
 * database nobody else uses, e.g. BEVAN_TEST_DATABASE_URL=postgres://…/mybench), then checks the chains.
 *   node --import tsx bench/audit-group.ts [clients=50] [total=20000]
 */
import os from 'node:os';
import pg from 'pg';
import { AuditCommitter, verifyAuditChain } from '../access/audit.ts';
import { testPostgresUrl, withOwnPostgresSchema } from '../test/databases.ts';
import { procCpu } from './util.ts';

const [clients = 50, total = 20000] = process.argv.slice(2).map(Number);
const found = await testPostgresUrl();
if (!found) throw new Error('needs a PostgreSQL server (BEVAN_TEST_DATABASE_URL)');
const url: string = found;
const person = (i: number) => `6f1c1f3e-2a4b-4c8d-9e0f-${String(i % 5000).padStart(12, '0')}`;

async function backendsMs(): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const pids = (await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows;
    return pids.reduce((n, { pid }) => n + (procCpu(pid) ?? 0) * 1000, 0);
  } finally {
    await c.end();
  }
}

await withOwnPostgresSchema(url, 16, async (db) => {
  const committer = new AuditCommitter(db);
  // Warm the pool (16 connections) and the prepared statements.
  await Promise.all(Array.from({ length: 64 }, (_, i) => committer.submit([{ actor: 'warm', action: 'record.read', personId: person(i) }])));
  const b0 = { ...committer.stats };
  const db0 = await backendsMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        await committer.submit([{ actor: `user-${i % 50}`, action: 'record.read', personId: person(i), decision: 'permit', reason: 'registered practice', from: '127.0.0.1', detail: { id: person(i), found: true, items: 60, withheld: 0 } }]);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const dbMs = (await backendsMs()) - db0;
  const batches = committer.stats.batches - b0.batches;
  const check = await verifyAuditChain(db);
  console.log(
    `${total} entries from ${clients} clients in ${seconds.toFixed(1)} s = ${Math.round(total / seconds)} entries/s, ${batches} batches (${(total / batches).toFixed(1)} entries a batch); ` +
      `CPU per entry: this process ${(((cpu.user + cpu.system) / 1000) / total).toFixed(3)} ms, database ${(dbMs / total).toFixed(3)} ms; load average ${os.loadavg()[0]!.toFixed(1)}; chains ${check.ok ? 'verify' : `BROKEN: ${check.reason}`}`,
  );
});
