/**
 * Audit appends under concurrency on the PostgreSQL server: the partitioned chains (row lock
 * per chain head) against one global advisory lock (the design before migration 0012). Each
 * transaction holds its lock while it "reads" for a few ms (pg_sleep), as a record read does.
 *   node --import tsx bench/audit-append.ts [clients=32] [transactions=800] [readMs=5]
 */
import { appendAuditIn } from '../access/audit.ts';
import { testPostgresUrl, withOwnPostgresSchema } from '../test/databases.ts';

const [clients = 32, total = 800, readMs = 5] = process.argv.slice(2).map(Number);
const url = await testPostgresUrl();
if (!url) throw new Error('needs a PostgreSQL server (BEVAN_TEST_DATABASE_URL)');
const person = (i: number) => `6f1c1f3e-2a4b-4c8d-9e0f-${String(i % 5000).padStart(12, '0')}`;

for (const mode of ['global-lock', 'chains'] as const) {
  await withOwnPostgresSchema(url, clients, async (db) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < total) {
          const i = next++;
          await db.transaction(async (tx) => {
            if (mode === 'global-lock') await tx.query('SELECT pg_advisory_xact_lock(730522119)');
            await appendAuditIn(tx, { actor: `user-${i % 50}`, action: 'record.read', personId: person(i) });
            await tx.query(`SELECT pg_sleep(${readMs / 1000})`);
          });
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ mode, clients, transactions: total, readMs, seconds: Number(s.toFixed(2)), perSecond: Math.round(total / s) }));
  });
}
