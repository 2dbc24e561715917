import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../../test/databases.ts';
import { AS_OF, loadCraftedStore, PEOPLE } from '../cohorts/fixtures.ts';
import { loadRegisters } from '../cohorts/registers.ts';
import { monthEnds, registerCounts, registerCountsSeries } from './series.ts';
import { refreshDashboards } from './refresh.ts';

test('monthEnds: each month to its last day, the as-of month to the as-of date', () => {
  assert.deepEqual(monthEnds('2025-03-10', 3), [
    { month: '2025-01', end: '2025-01-31' },
    { month: '2025-02', end: '2025-02-28' },
    { month: '2025-03', end: '2025-03-10' },
  ]);
});

for (const target of await testDatabases()) {
  test(`dashboards refresh on ${target.name}: register sizes month by month, measures' series, use and cost by every grouping`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      const r = await refreshDashboards(db, { asOf: AS_OF, months: 24, now: new Date('2025-10-01T12:00:00Z') });
      assert.equal(r.months, 24);
      assert.ok(r.measureRows > 0 && r.useRows > 0);
      const m = async (series: string, level: string, key: string, month: string) =>
        (await db.query<{ numerator: number; denominator: number | null }>(`SELECT numerator::int, denominator::int FROM analytics_measure_month WHERE series = $1 AND level = $2 AND key = $3 AND month = $4`, [series, level, key, month])).rows[0];

      // The diabetes register: 13 at P91001 less S (restricted) and T (opted out) = 11; R at P91002; 12 in all.
      assert.deepEqual(await m('register:diabetes', 'practice', 'P91001', '2025-10'), { numerator: 11, denominator: null });
      assert.deepEqual(await m('register:diabetes', 'practice', 'P91002', '2025-10'), { numerator: 1, denominator: null });
      assert.deepEqual(await m('register:diabetes', 'locality', '', '2025-10'), { numerator: 12, denominator: null });
      assert.deepEqual(await m('register:diabetes', 'neighbourhood', 'N1', '2025-10'), { numerator: 11, denominator: null });
      assert.deepEqual(await m('register:copd-emergency-admissions', 'practice', 'P91002', '2025-10'), { numerator: 0, denominator: null }, 'an empty register is a zero at every place');
      // HbA1c ≥ 75 with no care plan, as each month end saw it: in January 2025 B (90 on 10 January) and D (90 in
      // December 2023, within 15 months); in October A (80 in June) only.
      assert.equal((await m('register:diabetes-hba1c-75-no-care-plan', 'locality', '', '2025-01'))!.numerator, 2);
      assert.equal((await m('register:diabetes-hba1c-75-no-care-plan', 'locality', '', '2025-10'))!.numerator, 1);
      // The share measure: numerator over the diabetes register at the same place and month.
      assert.deepEqual(await m('diabetes-hba1c-75-no-care-plan-share', 'practice', 'P91001', '2025-01'), { numerator: 2, denominator: 11 });
      assert.deepEqual(await m('diabetes-hba1c-75-no-care-plan-share', 'practice', 'P91002', '2025-01'), { numerator: 0, denominator: 1 });
      // Emergency admissions of the COPD register (F, G): two in February 2025, none in March (a zero, not a gap).
      assert.equal((await m('copd-emergency-admissions', 'locality', '', '2025-02'))!.numerator, 2);
      assert.equal((await m('copd-emergency-admissions', 'locality', '', '2024-06'))!.numerator, 1);
      assert.equal((await m('copd-emergency-admissions', 'locality', '', '2025-03'))!.numerator, 0);
      // Per 1,000: the denominator is the registered population secondary use may count.
      const population = PEOPLE.filter((p) => !p.restricted && !p.optOut).length;
      assert.deepEqual(await m('emergency-admissions-per-1000', 'locality', '', '2025-02'), { numerator: 2, denominator: population });
      assert.equal((await m('ae-attendances', 'locality', '', '2025-03'))!.numerator, 2);
      assert.equal((await m('ae-attendances', 'locality', '', '2023-11'))!.numerator, 1, 'I in November 2023, inside 24 months');
      // 24 months × every place for each measure with a series.
      const places = (await db.query<{ n: number }>(`SELECT count(DISTINCT (level, key))::int AS n FROM analytics_measure_month WHERE series = 'ae-attendances'`)).rows[0]!.n;
      assert.equal(places, 1 + 2 + 2, 'the locality, two neighbourhoods, two practices');
      assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM analytics_measure_month WHERE series = 'ae-attendances'`)).rows[0]!.n, 24 * places);

      const u = async (level: string, key: string, month: string, activity: string) =>
        (await db.query<{ people: number; quantity: number; cost_gbp: number; sources: string[] }>(`SELECT people::int, quantity, cost_gbp, sources FROM analytics_use_month WHERE level = $1 AND key = $2 AND month = $3 AND activity = $4`, [level, key, month, activity])).rows[0];
      assert.deepEqual(await u('locality', '', '2025-03', 'ae-attendance').then((x) => [x!.people, x!.quantity, x!.sources]), [2, 2, ['hl7:RM2']]);
      assert.equal((await u('setting', 'hospital', '2025-03', 'ae-attendance'))!.quantity, 2);
      assert.equal((await u('practice', 'P91001', '2025-03', ''))!.people, 4, 'H, I (A&E), N and O (outpatients) in March 2025');
      // The cohort of frequent A&E attenders (H, as of October 2025): H's own attendances.
      assert.equal((await u('cohort', 'frequent-ae-attenders', '2025-03', 'ae-attendance'))!.quantity, 1);
      assert.equal(await u('cohort', 'frequent-ae-attenders', '2024-06', 'ae-attendance'), undefined);
      const ae = (await db.query<{ price_gbp: number }>(`SELECT (detail->'tariff'->0->>'priceGbp')::float8 AS price_gbp FROM analytics_refresh WHERE summary = 'use'`)).rows[0];
      assert.ok(ae && ae.price_gbp > 0, 'the tariff used is kept with the summary');
      const refreshed = await db.query<{ summary: string; as_of: string }>(`SELECT summary, to_char(as_of, 'YYYY-MM-DD') AS as_of FROM analytics_refresh ORDER BY summary`);
      assert.deepEqual(refreshed.rows, [{ summary: 'measures', as_of: AS_OF }, { summary: 'use', as_of: AS_OF }]);
      const audit = await db.query<{ action: string }>(`SELECT action FROM audit_log WHERE action = 'analytics.refresh'`);
      assert.equal(audit.rows.length, 1);

      // A second refresh replaces the summary: the same figures, no duplicates.
      const again = await refreshDashboards(db, { asOf: AS_OF, months: 24 });
      assert.equal(again.measureRows, r.measureRows);
      assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM analytics_use_month`)).rows[0]!.n, r.useRows);
    } finally {
      await db.drop();
    }
  });
}

for (const target of await testDatabases()) {
  test(`register sizes for every month end in one statement on ${target.name}: the same counts as one statement per month end`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      const registers = loadRegisters();
      const resolve = (n: string) => registers.get(n);
      // Month ends around the crafted store's events, and a leap day (age boundaries, windows).
      const ends = [...monthEnds(AS_OF, 30).map((e) => e.end), '2024-02-29', '2023-03-01'];
      const sort = (xs: { level: string; key: string; n: number }[]) => [...xs].sort((a, b) => `${a.level}|${a.key}`.localeCompare(`${b.level}|${b.key}`));
      let nonZero = 0;
      for (const def of registers.values()) {
        const series = await registerCountsSeries(db, def, ends, resolve);
        assert.equal(series.length, ends.length);
        for (const [i, end] of ends.entries()) {
          const one = await registerCounts(db, def, end, resolve);
          assert.deepEqual(sort(series[i]!), sort(one), `${def.name} on ${end}`);
          nonZero += one.filter((c) => c.level === 'locality' && c.n > 0).length;
        }
      }
      assert.ok(nonZero > 30, `the fixture puts people on the registers (${nonZero} non-empty register-dates)`);
    } finally {
      await db.drop();
    }
  });
}
