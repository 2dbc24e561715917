import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBevanError, type Principal, type PurposeOfUse, type RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { loadSources } from '../commissioning/tariff.ts';
import { duplicateIdOf, loadDuplicateStore } from './fixtures.ts';
import { loadIntervals, testCodes } from './intervals.ts';
import { duplicateTestsQuery, type RepeatRow } from './query.ts';
import { gatherAccessFacts } from '../../access/facts-store.ts';
import { currentPolicy, decide } from '../../access/policy.ts';
import { defaultReferenceData } from '../../record/reference/reference-data.ts';
import { pseudonymFor, pseudonymKey } from '../cohorts/pseudonym.ts';
import { duplicateTests, duplicateTestsCsv, type IdentifiedRepeat, type PseudonymisedRepeat } from './service.ts';

const intervals = loadIntervals();
const sources = loadSources();
const NOW = new Date('2025-10-01T12:00:00Z');
const ctxFor = (db: Database, principal: Principal, purpose: PurposeOfUse): RequestContext => ({ principal, purpose, db, from: 'test' });
const gp = (db: Database) => ctxFor(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, 'direct-care');
const analyst = (db: Database) => ctxFor(db, { user: 'ann.alyst', role: 'analyst', organisation: 'TRAFFORD-ICB' }, 'secondary-use');

for (const target of await testDatabases()) {
  test(`duplicate tests on ${target.name}: across settings within the interval, one specimen once, local codes mapped; GP identified, analyst controlled; audited`, async () => {
    const db = await target.open();
    try {
      await loadDuplicateStore(db);
      const base = { intervals, sources, now: NOW, since: '2025-01-01' };

      const list = await duplicateTests(gp(db), { ...base, output: 'list' });
      assert.equal(list.view, 'identified');
      assert.equal(list.practice, 'P91001');
      const repeats = list.repeats as IdentifiedRepeat[];
      const byPerson = (k: string) => repeats.filter((r) => r.personId === duplicateIdOf(k));
      assert.deepEqual(byPerson('A').map((r) => [r.test, r.first.setting, r.repeat.setting, r.daysApart]), [['hba1c', 'primary', 'secondary', 41.1]]);
      assert.deepEqual(byPerson('A')[0]!.first, { at: '2025-01-10T09:00:00Z', setting: 'primary', sources: ['gp:P91001'] });
      assert.deepEqual(byPerson('A')[0]!.repeat.sources, ['hl7:RM2']);
      assert.equal(byPerson('B').length, 0, '81 days apart is beyond the 60-day interval');
      const c = byPerson('C');
      assert.equal(c.length, 1, 'the specimen in both feeds is one test; the hospital repeat under its local code is the repeat');
      assert.deepEqual(c[0]!.first.sources, ['gp:P91001', 'hl7:RM2']);
      assert.equal(c[0]!.repeat.at, '2025-03-20T10:00:00Z');
      assert.deepEqual(byPerson('D').map((r) => [r.test, r.first.setting, r.repeat.setting, r.repeat.at]), [['ue', 'secondary', 'primary', '2025-05-01T20:00:00Z']]);
      for (const k of ['E', 'F', 'H', 'I', 'J']) assert.equal(byPerson(k).length, 0, k);
      assert.equal(byPerson('G').length, 1, 'a national data opt-out does not apply to direct care');
      assert.equal(repeats.length, 12);
      assert.deepEqual(list.total, { repeats: 12, people: 12 });
      assert.deepEqual(list.withheld, { restricted: 1, optedOut: 0, dissent: 0 });
      assert.deepEqual(list.byPractice, [{ practice: 'P91001', repeats: 12, people: 12, byTest: { crp: 8, hba1c: 3, ue: 1 } }]);
      assert.equal(byPerson('A')[0]!.name, 'Test PersonA');
      assert.equal(byPerson('A')[0]!.record, `Patient/${duplicateIdOf('A')}`);
      assert.match(duplicateTestsCsv(list), /^person_id,nhs_number,name,practice,test,first_at/);
      assert.equal(duplicateTestsCsv(list).trim().split('\n').length, 13);

      // Without --since the 2024 repeat counts too.
      const all = await duplicateTests(gp(db), { ...base, since: null, output: 'count' });
      assert.equal(all.total.repeats, 13);
      assert.equal(all.repeats, undefined);

      const audit = await db.query<{ action: string; person_id: string | null; decision: string }>(`SELECT action, person_id::text AS person_id, decision FROM audit_log WHERE actor = 'dr.jones' ORDER BY audit_id`);
      assert.equal(audit.rows[0]!.action, 'duplicate-tests.list');
      assert.equal(audit.rows.filter((r) => r.action === 'duplicate-tests.list.person').length, 12, 'one entry per person shown identified');
      assert.equal(audit.rows.at(-1)!.action, 'duplicate-tests.count');

      await assert.rejects(duplicateTests(gp(db), { ...base, practice: 'P91002', output: 'count' }), (e: unknown) => isBevanError(e) && e.kind === 'forbidden');
      const denied = await db.query<{ decision: string }>(`SELECT decision FROM audit_log WHERE actor = 'dr.jones' ORDER BY audit_id DESC LIMIT 1`);
      assert.equal(denied.rows[0]!.decision, 'deny');

      // Analyst: every practice, opt-out and restricted left out, counts suppressed under 8 and rounded to 5, pseudonymised list.
      const counts = await duplicateTests(analyst(db), { ...base, output: 'count' });
      assert.equal(counts.view, 'pseudonymised');
      assert.equal(counts.disclosureControl, true);
      assert.deepEqual(counts.total, { repeats: 10, people: 10 });
      assert.deepEqual(counts.byPractice, [
        { practice: 'P91001', repeats: 10, people: 10, byTest: { crp: 10, hba1c: null, ue: null } },
        { practice: 'P91002', repeats: null, people: null, byTest: { crp: null } },
      ]);
      assert.deepEqual(counts.withheld, { restricted: null, optedOut: null, dissent: 0 });
      const plist = await duplicateTests(analyst(db), { ...base, output: 'list' });
      const p = plist.repeats as PseudonymisedRepeat[];
      assert.equal(p.length, 12);
      assert.ok(p.every((r) => /^[0-9a-f]{32}$/.test(r.pseudonym) && !('personId' in r) && !('nhsNumber' in r)));
      assert.ok(p.every((r) => /^\d{4}-\d{2}-\d{2}$/.test(r.first.at) && /^\d{4}-\d{2}-\d{2}$/.test(r.repeat.at)), 'dates without the time of day for secondary use');
      assert.equal((await db.query(`SELECT 1 FROM audit_log WHERE actor = 'ann.alyst' AND person_id IS NOT NULL`)).rows.length, 0);

      await assert.rejects(duplicateTests(gp(db), { ...base, since: "2025-01-01' OR 1=1", output: 'count' }), (e: unknown) => isBevanError(e) && e.kind === 'invalid');
      await assert.rejects(duplicateTests(ctxFor(db, { user: 'dr.who', role: 'consultant', organisation: 'RM2' }, 'direct-care'), { ...base, output: 'count' }), (e: unknown) => isBevanError(e) && e.kind === 'forbidden');
    } finally {
      await db.drop();
    }
  });
}

for (const target of await testDatabases()) {
  test(`duplicate tests on ${target.name}: lists and withheld people as deciding each person with a repeat on their own facts`, async () => {
    const db = await target.open();
    try {
      await loadDuplicateStore(db);
      // Besides the crafted restricted person and G's opt-out: a dissent (A), a source's restriction of C's GP identity, an opt-out for D.
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'dissent-sharing')`, [duplicateIdOf('A')]);
      await db.query(`INSERT INTO source_restriction (source_system, source_id, reason) SELECT source_system, source_id, 'test: restricted by the source' FROM source_identity WHERE person_id = $1 AND source_system LIKE 'gp:%'`, [duplicateIdOf('C')]);
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'national-data-opt-out')`, [duplicateIdOf('D')]);
      const policy = currentPolicy()!;
      const key = await pseudonymKey(db);
      const base = { intervals, sources, now: NOW, since: '2025-01-01' };
      for (const [who, ctx, practice] of [
        ['analyst', analyst(db), null],
        ['gp', gp(db), 'P91001'],
      ] as const) {
        const identified = ctx.purpose === 'direct-care';
        // The reference: everyone with a repeat, decided on their own facts (relationships included).
        const q = duplicateTestsQuery({ codes: testCodes(intervals, defaultReferenceData()), intervals, sources, since: base.since, until: NOW.toISOString().slice(0, 10), practice });
        const found = (await db.query<RepeatRow>(q.sql, q.params)).rows;
        const ids = [...new Set(found.map((r) => r.person_id))];
        const nhs = await db.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id::text AS person_id, nhs_number FROM person WHERE person_id = ANY($1::uuid[])', [ids]);
        const nhsOf = new Map(nhs.rows.map((r) => [r.person_id, r.nhs_number]));
        const facts = await gatherAccessFacts(db, policy, ctx.principal, ids.map((x) => ({ personId: x, nhsNumber: nhsOf.get(x) ?? null, memberIds: [x] })), NOW);
        const withheld = { restricted: 0, optedOut: 0, dissent: 0 };
        const shown = new Set(
          ids.filter((x) => {
            const f = facts.get(x) ?? null;
            const d = decide(policy, { action: identified ? 'read' : 'export', principal: ctx.principal, purpose: ctx.purpose, facts: f, now: NOW });
            if (d.kind === 'permit' && !(identified && d.obligations.onlyOrganisation !== null)) return true;
            if (f?.restricted) withheld.restricted++;
            else if (f?.nationalDataOptOut && !identified) withheld.optedOut++;
            else withheld.dissent++;
            return false;
          }),
        );
        const rows = found.filter((r) => shown.has(r.person_id));
        const list = await duplicateTests(ctx, { ...base, output: 'list' });
        if (identified) assert.deepEqual((list.repeats as IdentifiedRepeat[]).map((r) => [r.personId, r.test, r.repeat.at]), rows.map((r) => [r.person_id, r.test, r.repeat_at]), who);
        else assert.deepEqual((list.repeats as PseudonymisedRepeat[]).map((r) => [r.pseudonym, r.test, r.repeat.at]), rows.map((r) => [pseudonymFor(key, r.person_id), r.test, r.repeat_at.slice(0, 10)]), who);
        const count = await duplicateTests(ctx, { ...base, output: 'count' });
        for (const action of ['duplicate-tests.list', 'duplicate-tests.count']) {
          const entry = (await db.query<{ detail: Record<string, unknown> }>('SELECT detail FROM audit_log WHERE actor = $1 AND action = $2 ORDER BY audit_id DESC LIMIT 1', [ctx.principal.user, action])).rows[0]!;
          assert.deepEqual({ found: entry.detail.found, shown: entry.detail.shown, people: entry.detail.people, withheld: entry.detail.withheld }, { found: found.length, shown: rows.length, people: shown.size, withheld }, `${who} ${action}`);
        }
        if (!identified) assert.deepEqual(count.withheld, { restricted: null, optedOut: null, dissent: 0 }, 'under 8: suppressed');
        else assert.deepEqual(count.withheld, withheld);
      }
      // The records bear on it: C (restricted by the source) left out of both; D (opted out) only from the analyst's; A (dissent) from the GP's, built from the hospital's data.
      const analystList = (await duplicateTests(analyst(db), { ...base, output: 'list' })).repeats as PseudonymisedRepeat[];
      const gpList = (await duplicateTests(gp(db), { ...base, output: 'list' })).repeats as IdentifiedRepeat[];
      const inAnalyst = (k: string) => analystList.some((r) => r.pseudonym === pseudonymFor(key, duplicateIdOf(k)));
      const inGp = (k: string) => gpList.some((r) => r.personId === duplicateIdOf(k));
      assert.deepEqual([inAnalyst('C'), inGp('C'), inAnalyst('D'), inGp('D'), inGp('A')], [false, false, false, true, false]);
    } finally {
      await db.drop();
    }
  });
}
