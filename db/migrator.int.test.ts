import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { loadMigrations, migrate } from './migrator.ts';

for (const target of await testDatabases()) {
  test(`migrator on ${target.name}: applies once, then is a no-op; refuses edited history`, async () => {
    const db = await target.open();
    try {
      const again = await migrate(db);
      assert.deepEqual(again, { kind: 'ok', applied: [] });
      const tables = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('person','source_identity','resource','quarantine','ingest_message','audit_log')`,
      );
      assert.equal(tables.rows[0]!.n, 6);
      const edited = loadMigrations().map((m) => (m.id === 1 ? { ...m, checksum: 'x' } : m));
      const r = await migrate(db, edited);
      assert.equal(r.kind, 'failed');
      assert.match(r.kind === 'failed' ? r.error : '', /changed after it was applied/);
    } finally {
      await db.drop();
    }
  });

  test(`migrator on ${target.name}: two migrators racing apply each migration once`, async () => {
    const db = await target.open();
    try {
      const rs = await Promise.all([migrate(db), migrate(db)]);
      for (const r of rs) assert.equal(r.kind, 'ok');
      const n = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migration');
      assert.equal(n.rows[0]!.n, loadMigrations().length);
    } finally {
      await db.drop();
    }
  });
}
