import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal, PurposeOfUse, RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { AS_OF, insertCraftedPerson, loadCraftedStore, PEOPLE } from '../cohorts/fixtures.ts';
import { loadRegisters } from '../cohorts/registers.ts';
import { commissioningReport, monthsEnding } from './report.ts';
import { loadSources, loadTariff } from './tariff.ts';

const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const HOURS = 'https://bevan.example/fhir/StructureDefinition/hours-per-week';
const ctxFor = (db: Database, principal: Principal, purpose: PurposeOfUse): RequestContext => ({ principal, purpose, db, from: 'test' });

/** Ten more people with a month of care in March 2025 in every setting, and one who opted out. */
async function addMarch(db: Database) {
  for (let i = 1; i <= 11; i++) {
    await insertCraftedPerson(db, PEOPLE.length + i, {
      key: `Z${i}`,
      optOut: i === 11,
      resources: [
        { type: 'Encounter', source: 'hl7:RM2', content: { status: 'finished', class: { system: ACT, code: 'EMER' }, period: { start: '2025-03-15T10:00:00Z' } } },
        { type: 'Encounter', content: { status: 'finished', class: { system: ACT, code: 'AMB' }, period: { start: '2025-03-10' } } },
        { type: 'Encounter', source: 'csv:community', content: { status: 'finished', class: { system: ACT, code: 'HH' }, period: { start: '2025-03-20' } } },
        { type: 'EpisodeOfCare', source: 'csv:socialcare', content: { status: 'finished', period: { start: '2025-03-01', end: '2025-03-14' }, extension: [{ url: HOURS, valueDecimal: 10 }] } },
      ],
    });
  }
}

test('monthsEnding', () => {
  assert.deepEqual(monthsEnding('2025-10-01', 3), ['2025-08', '2025-09', '2025-10']);
  assert.deepEqual(monthsEnding('2025-01-31', 2), ['2024-12', '2025-01']);
});

for (const target of await testDatabases()) {
  test(`commissioning report on ${target.name}: activity costed by setting and practice, shift, freshness, disclosure control`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      await addMarch(db);
      const analyst = ctxFor(db, { user: 'ann', role: 'analyst', organisation: 'ICB' }, 'secondary-use');
      const base = { months: 12, asOf: AS_OF, tariff: loadTariff(), sources: loadSources() };

      const bySetting = await commissioningReport(analyst, { ...base, by: 'setting' });
      assert.equal(bySetting.months.length, 12);
      const march = (key: string) => bySetting.rows.find((r) => r.month === '2025-03' && r.key === key)!;
      // Hospital in March: 12 A&E (Z1–10, H, I; Z11 opted out) and 2 first outpatient attendances (N, O): 14 people.
      assert.equal(march('hospital').people, 15);
      assert.equal(march('hospital').activity['ae-attendance'], 10);
      assert.equal(march('hospital').activity['outpatient-first'], null, 'two people: suppressed');
      assert.equal(march('hospital').costGbp, 2920); // 12 × 210 + 2 × 200
      assert.deepEqual(march('hospital').freshness.map((f) => f.source), ['hl7:RM2']);
      assert.equal(march('hospital').freshness[0]!.setting, 'hospital');
      assert.equal(march('primary care').activity['gp-consultation'], 10);
      assert.equal(march('primary care').costGbp, 420);
      assert.equal(march('community').costGbp, 550);
      // 10 h a week for 14 days = 20 hours each, 200 hours at £28.
      assert.equal(march('social care').activity['social-care-hour'], 200);
      assert.equal(march('social care').costGbp, 5600);
      // Months where fewer than 8 people had care: every figure suppressed.
      const feb = bySetting.rows.find((r) => r.month === '2025-02' && r.key === 'hospital')!;
      assert.equal(feb.people, null);
      assert.equal(feb.costGbp, null);
      const m = bySetting.shift.find((s) => s.month === '2025-03')!;
      assert.deepEqual(m, { month: '2025-03', hospital: 15, outOfHospital: 20, outOfHospitalShare: 0.588 });
      assert.ok(bySetting.freshness.some((f) => f.source === 'csv:socialcare' && f.setting === 'social care' && f.latestActivity === '2025-03-01'));

      const byPractice = await commissioningReport(analyst, { ...base, by: 'practice' });
      const p = byPractice.rows.find((r) => r.month === '2025-03' && r.key === 'P91001')!;
      assert.equal(p.people, 15);
      assert.equal(p.costGbp, 2920 + 420 + 550 + 5600);
      assert.deepEqual(p.freshness.map((f) => f.source), ['csv:community', 'csv:socialcare', 'gp:P91001', 'hl7:RM2']);
      assert.deepEqual(byPractice.shift, bySetting.shift, 'the shift does not depend on the grouping');

      // A cohort: the frequent A&E attenders (H) only — one person, every figure suppressed.
      const registers = loadRegisters();
      const cohort = await commissioningReport(analyst, { ...base, by: 'neighbourhood', cohort: registers.get('frequent-ae-attenders')!, resolve: (n) => registers.get(n) });
      assert.ok(cohort.rows.length > 0 && cohort.rows.every((r) => r.people === null && r.costGbp === null));

      // By person: pseudonymised keys.
      const byPerson = await commissioningReport(analyst, { ...base, by: 'person', months: 1, asOf: '2025-03-31' });
      assert.ok(byPerson.rows.every((r) => /^[0-9a-f]{32}$/.test(r.key!)));

      // Not an analyst: refused, audited.
      await assert.rejects(commissioningReport(ctxFor(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, 'direct-care'), { ...base, by: 'practice' }), /secondary use/);
      await assert.rejects(commissioningReport(analyst, { ...base, by: 'practice', months: 0 }), /months must be/);
      const audit = await db.query<{ actor: string; decision: string }>(`SELECT actor, decision FROM audit_log WHERE action = 'commissioning.report' ORDER BY audit_id`);
      assert.deepEqual(audit.rows.map((r) => `${r.actor}:${r.decision}`), ['ann:permit', 'ann:permit', 'ann:permit', 'ann:permit', 'dr.jones:deny']);
    } finally {
      await db.drop();
    }
  });
}
