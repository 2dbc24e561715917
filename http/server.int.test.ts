import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { buildServer } from './server.ts';

for (const target of await testDatabases()) {
  test(`http server on ${target.name}: health and ingestion status; hostile requests get clean errors`, async () => {
    const db = await target.open();
    const app = buildServer({ db });
    try {
      const h = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(h.statusCode, 200);
      assert.equal(h.json().status, 'ok');
      const s = await app.inject({ method: 'GET', url: '/ingest/status' });
      assert.equal(s.statusCode, 200);
      assert.deepEqual(s.json().totals, { persons: 0, identities: 0, resources: 0, pending_reviews: 0 });
      const missing = await app.inject({ method: 'GET', url: '/nope/../../etc/passwd' });
      assert.equal(missing.statusCode, 404);
      const big = await app.inject({ method: 'POST', url: '/health', payload: 'x'.repeat(2 << 20), headers: { 'content-type': 'application/json' } });
      assert.ok(big.statusCode >= 400 && big.statusCode < 500);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
