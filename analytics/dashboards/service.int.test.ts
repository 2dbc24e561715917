import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { AS_OF, loadCraftedStore } from '../cohorts/fixtures.ts';
import { refreshDashboards } from './refresh.ts';
import { commissioningDashboard, measureDashboard } from './service.ts';

// Twenty clients that find an answer (or the summary's context) stale at the same moment share one
// build of it: the summary is read once, not once per request.
for (const target of await testDatabases()) {
  test(`dashboards on ${target.name}: requests at once share one build of an answer`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      await refreshDashboards(db, { asOf: AS_OF, months: 24, now: new Date('2025-10-01T12:00:00Z') });
      const seen: string[] = [];
      const counting = new Proxy(db, {
        get(t, k, r) {
          if (k === 'query') return (sql: string, params?: unknown[]) => (seen.push(sql), t.query(sql, params));
          const v = Reflect.get(t, k, r) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      }) as Database;
      const ctx: RequestContext = { principal: { user: 'analyst-1', role: 'analyst', organisation: 'ICB' }, purpose: 'secondary-use', db: counting, from: 'test' };
      const answers = await Promise.all(Array.from({ length: 20 }, () => commissioningDashboard(ctx, { by: 'practice' })));
      assert.ok(answers.every((a) => a === answers[0]), 'every request has the same answer');
      assert.ok(answers[0]!.rows.length > 0, 'the answer has rows');
      assert.equal(seen.filter((s) => s.includes('FROM analytics_use_month')).length, 1, 'the summary was read once for twenty requests');
      const series = await Promise.all(Array.from({ length: 5 }, () => measureDashboard(ctx, 'emergency-admissions-per-1000', {})));
      assert.ok(series.every((s) => JSON.stringify(s) === JSON.stringify(series[0])));
    } finally {
      await db.drop();
    }
  });
}
