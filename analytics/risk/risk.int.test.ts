import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBevanError, type Principal, type PurposeOfUse, type RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { gatherAccessFacts } from '../../access/facts-store.ts';
import { currentPolicy, decide } from '../../access/policy.ts';
import { pseudonymFor, pseudonymKey } from '../cohorts/pseudonym.ts';
import { riskCohort, riskModelFor, type IdentifiedRiskPerson, type PseudonymisedRiskPerson } from './cohort.ts';
import { refreshFeatures } from './features.ts';
import { cond, emergency, enc, id, load, med, obs, outpatient, riskPopulation, type Crafted } from './fixtures.ts';
import { evaluateRiskModel, fitRiskModel, loadRiskModel, scoreRiskPopulation } from './model.ts';

const NOW = new Date('2026-01-15T12:00:00Z');

const ctxFor = (db: Database, principal: Principal, purpose: PurposeOfUse): RequestContext => ({ principal, purpose, db, from: 'test' });
const gp = (db: Database) => ctxFor(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, 'direct-care');
const analyst = (db: Database) => ctxFor(db, { user: 'ann.alyst', role: 'analyst', organisation: 'TRAFFORD-ICB' }, 'secondary-use');

for (const target of await testDatabases()) {
  test(`risk features on ${target.name}: every feature from the stored resources, as the feeds record them`, async () => {
    const db = await target.open();
    try {
      const a: Crafted = {
        n: 1,
        practice: 'P91001',
        birthDate: '1940-03-01',
        sex: 'male',
        resources: [
          emergency('2024-06-01'),
          emergency('2023-06-01'),
          emergency('2024-07-01', 'hl7:RXV'), // the mental health trust: not an acute emergency admission
          emergency('2024-08-01', 'hl7:RM2', 'cancelled'),
          emergency('2025-03-01'), // the outcome year
          enc('IMP', '2024-02-01', { priority: { coding: [{ code: 'EL' }] } }), // elective
          enc('EMER', '2024-05-01'),
          enc('EMER', '2023-02-01'),
          enc('EMER', '2022-12-01'), // more than 24 months before
          outpatient('2024-09-01'),
          outpatient('2023-09-01'),
          enc('HH', '2024-03-01', {}, 'gp:P91001'),
          enc('AMB', '2024-03-05', {}, 'gp:P91001'),
          enc('HH', '2024-04-01', {}, 'csv:community'),
          cond('13645005', '2010-01-01'), // COPD
          cond('84114007', '2025-06-01'), // heart failure, after the index date
          cond('44054006', '2015-01-01', { abatementDateTime: '2020-01-01' }), // resolved before
          cond('248279007', '2023-01-01'), // frailty
          ...['1', '2', '3', '4', '5', '6'].map((c, i) => med(`32${c}000000`, `2024-0${i + 1}-10`)),
          med('329999999', '2023-06-01'), // more than 12 months before
          { ...med('328888888', '2024-03-03'), source: 'hl7:RM2' }, // a hospital pharmacy order: not a regular medicine
          obs('999791000000106', 80, '2024-02-01'),
          obs('999791000000106', 60, '2024-10-01'),
          obs('80274001', 45, '2024-05-01'),
          { type: 'EpisodeOfCare', source: 'csv:socialcare', content: { status: 'active', period: { start: '2023-01-01' } } },
        ],
      };
      const dead: Crafted = { n: 2, practice: 'P91001', birthDate: '1930-01-01', sex: 'female', deceased: '2024-06-01', resources: [] };
      const unborn: Crafted = { n: 3, practice: 'P91001', birthDate: '2025-02-01', sex: 'female', resources: [] };
      const ended: Crafted = { n: 4, practice: 'P91002', birthDate: '1980-01-01', sex: 'female', resources: [{ type: 'EpisodeOfCare', source: 'csv:socialcare', content: { status: 'finished', period: { start: '2023-01-01', end: '2024-06-01' } } }] };
      const deadUndated: Crafted = { n: 5, practice: 'P91001', birthDate: '1935-01-01', sex: 'male', resources: [{ type: 'Patient', content: { deceasedBoolean: true } }] };
      await load(db, [a, dead, unborn, ended, deadUndated]);
      const n = await db.transaction((tx) => refreshFeatures(tx, '2025-01-01'));
      assert.equal(n, 2, 'the dead and the not yet born are not scored');
      const r = await db.query<Record<string, unknown>>("SELECT * FROM risk_feature WHERE index_date = '2025-01-01' ORDER BY person_id");
      const f = r.rows[0]!;
      assert.equal(f.person_id, id(1));
      assert.equal(f.practice, 'P91001');
      assert.equal(f.neighbourhood, 'N1');
      assert.equal(f.age, 84);
      assert.equal(f.sex, 'male');
      assert.equal(f.emergency_admissions_12m, 1);
      assert.equal(f.emergency_admissions_24m, 2);
      assert.equal(f.ae_attendances_12m, 1);
      assert.equal(f.ae_attendances_24m, 2);
      assert.equal(f.outpatient_attendances_12m, 1);
      assert.equal(f.gp_consultations_12m, 2);
      assert.equal(f.home_visits_12m, 1);
      assert.equal(f.community_contacts_12m, 1);
      assert.equal(f.long_term_conditions, 1);
      assert.deepEqual(f.long_term_condition_kinds, ['copd']);
      assert.equal(f.medications_12m, 6);
      assert.equal(f.frailty_coded, true);
      // Respiratory disease, polypharmacy (6 medicines), requirement for care (package in place): 3 of 36.
      assert.equal(f.efi_deficits, 3);
      assert.ok(Math.abs(Number(f.efi) - 3 / 36) < 1e-12);
      assert.equal(f.efi_band, 'fit');
      assert.equal(Number(f.hba1c), 60);
      assert.equal(Number(f.egfr), 45);
      assert.equal(f.social_care_package, true);
      assert.equal(f.emergency_admissions_next_12m, 1);
      assert.equal(r.rows[1]!.social_care_package, false, 'a package that ended before the index date');
      // A refresh replaces the date's rows.
      assert.equal(await db.transaction((tx) => refreshFeatures(tx, '2025-01-01')), 2);
      assert.equal((await db.query("SELECT count(*)::int AS n FROM risk_feature WHERE index_date = '2025-01-01'")).rows[0]!.n, 2);
    } finally {
      await db.drop();
    }
  });

  test(`risk fit, evaluate, score, tiers, history and cohorts through the policy on ${target.name}`, async () => {
    const db = await target.open();
    try {
      // No model yet: a clear error.
      await assert.rejects(scoreRiskPopulation(db, { asOf: '2026-01-01' }), (e: unknown) => isBevanError(e) && e.kind === 'not-found' && /bevan risk fit/.test(e.message));
      const people = riskPopulation();
      await load(db, people);

      const model = await fitRiskModel(db, { validationIndexDate: '2025-01-01' });
      assert.equal(model.version, 1);
      assert.equal(model.fitIndexDate, '2024-01-01');
      assert.ok(model.fittedPeople > 350 && model.validationPeople > 120, `${model.fittedPeople} / ${model.validationPeople}`);
      assert.equal(model.fittedPeople + model.validationPeople, 600, 'people are either fitted on or held out');
      const coef = (name: string) => model.terms.find((t) => t.name === name)!.coefficient;
      assert.ok(coef('condition:copd') > 0.5, `copd ${coef('condition:copd')}`);
      assert.ok(coef('emergency-admissions-12m') > 0.3, `prior ${coef('emergency-admissions-12m')}`);
      assert.ok(model.metrics.cStatistic > 0.65, `c ${model.metrics.cStatistic}`);
      const stored = await loadRiskModel(db);
      assert.deepEqual(stored!.terms, model.terms);

      const ev = await evaluateRiskModel(db, () => ({ label: '2025', byNhsNumber: new Map(people.map((p) => [String(9000000000 + p.n), 0.1 + (p.resources.length % 7) / 10])) }));
      assert.deepEqual(Object.keys(ev.evaluation), ['cStatistic', 'oracleCStatistic', 'calibration', 'ppv', 'sensitivity']);
      assert.equal(ev.evaluation.cStatistic, Math.round(model.metrics.cStatistic * 1e4) / 1e4);
      assert.equal(ev.evaluation.calibration.length, 10);
      assert.deepEqual(Object.keys(ev.evaluation.calibration[0]!), ['decile', 'predicted', 'observed', 'observedCount']);
      assert.equal(ev.evaluation.calibration.reduce((s, c) => s + c.observedCount, 0), ev.admitted);

      // An empty population is a clear error, and leaves no run behind.
      await assert.rejects(scoreRiskPopulation(db, { asOf: '1900-01-01' }), (e: unknown) => isBevanError(e) && /no one to score on 1900-01-01/.test(e.message));
      const first = await scoreRiskPopulation(db, { asOf: '2025-07-01' });
      const run = await scoreRiskPopulation(db, { asOf: '2026-01-01' });
      assert.equal(run.people, 600);
      assert.deepEqual(run.tiers, { '0.5': 3, '1': 3, '5': 24, '20': 90 });
      const ranks = await db.query<{ n: number; top: number }>('SELECT count(DISTINCT population_rank)::int AS n, min(population_rank)::int AS top FROM risk_score WHERE run_id = $1', [run.runId]);
      assert.deepEqual(ranks.rows[0], { n: 600, top: 1 });
      // The SQL score equals the model applied in TypeScript to the same person.
      const top = await db.query<{ person_id: string; probability: number }>('SELECT person_id::text AS person_id, probability FROM risk_score WHERE run_id = $1 AND population_rank = 1', [run.runId]);
      assert.ok(top.rows[0]!.probability > 0 && top.rows[0]!.probability < 1);

      // A GP: their own practice, identified, highest risk first, with factors and tier history.
      const list = await riskCohort(gp(db), { tier: '20', now: NOW });
      assert.equal(list.view, 'identified');
      assert.equal(list.practice, 'P91001');
      assert.ok(list.people.length > 20);
      const ppl = list.people as IdentifiedRiskPerson[];
      assert.ok(ppl.every((p) => p.practice === 'P91001' && p.record === `Patient/${p.personId}` && p.nhsNumber));
      assert.ok(ppl.every((p, i) => i === 0 || ppl[i - 1]!.probability >= p.probability));
      assert.ok(ppl[0]!.factors.length > 0 && ppl[0]!.factors.every((f) => f.contribution > 0 && f.label));
      assert.deepEqual(ppl[0]!.history.map((h) => h.indexDate), ['2025-07-01', '2026-01-01']);
      assert.equal(ppl[0]!.history[1]!.tier, ppl[0]!.tier);
      assert.ok(!ppl.some((p) => p.personId === id(5)), 'the restricted person is never listed');
      assert.equal(first.modelVersion, 1);
      const audit = await db.query<{ action: string; n: number }>("SELECT action, count(*)::int AS n FROM audit_log WHERE actor = 'dr.jones' GROUP BY action ORDER BY action");
      assert.deepEqual(audit.rows, [{ action: 'risk.cohort', n: 1 }, { action: 'risk.cohort.person', n: ppl.length }]);

      // Another practice: refused, and the refusal audited.
      await assert.rejects(riskCohort(gp(db), { practice: 'P91002', now: NOW }), (e: unknown) => isBevanError(e) && e.kind === 'forbidden');
      // An analyst: a neighbourhood, pseudonymised; the opted-out person is left out.
      const pseud = await riskCohort(analyst(db), { neighbourhood: 'N1', tier: '20', now: NOW });
      assert.equal(pseud.view, 'pseudonymised');
      const pp = pseud.people as PseudonymisedRiskPerson[];
      assert.ok(pp.length > 0 && pp.every((p) => /^[0-9a-f]{32}$/.test(p.pseudonym) && !('personId' in p) && !('nhsNumber' in p) && p.neighbourhood === 'N1'));
      assert.equal(pseud.withheld.optedOut + pseud.withheld.restricted <= 2, true);
      await assert.rejects(riskCohort(analyst(db), { tier: '7', now: NOW }), /tier must be one of/);

      // Secondary use decides those with nothing recorded at once (access/many-people.ts): the lists
      // and withheld counts are those of deciding every listed person on their own facts, relationships
      // included, with a restriction, a source's restriction, a dissent and an opt-out among them.
      const listedIn = async (neighbourhood: string | null, practice: string | null) =>
        (
          await db.query<{ person_id: string }>(
            `SELECT s.person_id::text AS person_id FROM risk_score s JOIN risk_score_run run ON run.run_id = s.run_id
               JOIN risk_feature f ON f.person_id = s.person_id AND f.index_date = run.index_date
              WHERE s.run_id = $1 AND s.tier = ANY($2::text[]) AND ($3::text IS NULL OR f.neighbourhood = $3) AND ($4::text IS NULL OR f.practice = $4)
              ORDER BY s.probability DESC, s.person_id`,
            [run.runId, ['0.5', '1', '5', '20'], neighbourhood, practice],
          )
        ).rows.map((r) => r.person_id);
      const atP91001 = await listedIn(null, 'P91001');
      const [r1, r2, r3, r4] = atP91001.filter((x) => x !== id(5) && x !== id(6));
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'test: protected record')`, [r1]);
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'dissent-sharing')`, [r2]);
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'national-data-opt-out')`, [r3]);
      await db.query(`INSERT INTO source_restriction (source_system, source_id, reason) SELECT source_system, source_id, 'test: restricted by the source' FROM source_identity WHERE person_id = $1 LIMIT 1`, [r4]);
      const policy = currentPolicy()!;
      const key = await pseudonymKey(db);
      for (const [who, ctx, asked] of [
        ['analyst, borough', analyst(db), {}],
        ['analyst, N1', analyst(db), { neighbourhood: 'N1' }],
        ['analyst, P91001', analyst(db), { practice: 'P91001' }],
        ['gp', gp(db), {}],
      ] as const) {
        const identified = ctx.purpose === 'direct-care';
        const ids = await listedIn('neighbourhood' in asked ? asked.neighbourhood : null, identified ? 'P91001' : 'practice' in asked ? asked.practice : null);
        const nhs = await db.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id::text AS person_id, nhs_number FROM person WHERE person_id = ANY($1::uuid[])', [ids]);
        const nhsOf = new Map(nhs.rows.map((r) => [r.person_id, r.nhs_number]));
        const facts = await gatherAccessFacts(db, policy, ctx.principal, ids.map((x) => ({ personId: x, nhsNumber: nhsOf.get(x) ?? null, memberIds: [x] })), NOW);
        const expected = { restricted: 0, optedOut: 0, dissent: 0 };
        const shown = ids.filter((x) => {
          const f = facts.get(x) ?? null;
          const d = decide(policy, { action: identified ? 'read' : 'export', principal: ctx.principal, purpose: ctx.purpose, facts: f, now: NOW });
          if (d.kind === 'permit' && !(identified && d.obligations.onlyOrganisation !== null)) return true;
          if (f?.restricted) expected.restricted++;
          else if (f?.nationalDataOptOut && !identified) expected.optedOut++;
          else expected.dissent++;
          return false;
        });
        const got = await riskCohort(ctx, { ...asked, tier: '20', now: NOW });
        assert.deepEqual(got.withheld, expected, who);
        if (identified) assert.deepEqual((got.people as IdentifiedRiskPerson[]).map((p) => p.personId), shown, who);
        else assert.deepEqual((got.people as PseudonymisedRiskPerson[]).map((p) => p.pseudonym), shown.map((x) => pseudonymFor(key, x)), who);
        const last = (await db.query<{ detail: Record<string, unknown> }>("SELECT detail FROM audit_log WHERE action = 'risk.cohort' ORDER BY audit_id DESC LIMIT 1")).rows[0]!;
        assert.deepEqual({ found: last.detail.found, shown: last.detail.shown, withheld: last.detail.withheld }, { found: ids.length, shown: shown.length, withheld: expected }, who);
      }
      // The records bear on it: P91001's restricted person and the source-restricted one are never listed, the opted-out one only for the GP, the dissenter only for the analyst.
      const byAnalyst = await riskCohort(analyst(db), { practice: 'P91001', tier: '20', now: NOW });
      assert.ok(byAnalyst.withheld.restricted >= 2 && byAnalyst.withheld.optedOut >= 1, JSON.stringify(byAnalyst.withheld));
      const byGp = (await riskCohort(gp(db), { tier: '20', now: NOW })).people as IdentifiedRiskPerson[];
      assert.ok(!byGp.some((p) => p.personId === r1 || p.personId === r4 || p.personId === r2) && byGp.some((p) => p.personId === r3));
      // The model: for a role with a risk rule; not for one without.
      assert.equal((await riskModelFor(gp(db), { now: NOW })).version, 1);
      await assert.rejects(riskModelFor(ctxFor(db, { user: 'c', role: 'consultant', organisation: 'RM2' }, 'direct-care'), { now: NOW }), (e: unknown) => isBevanError(e) && e.kind === 'forbidden');
    } finally {
      await db.drop();
    }
  });
}
