/**
 * Scoring the population's risk of emergency admission (analytics/risk/), on a loaded store.
 *   DATABASE_URL=postgres://… node --import tsx bench/risk-score.ts [--target 215000] [--runs 3] [--as-of YYYY-MM-DD]
 * (or --data DIR for a PGlite folder). Fits a model first if none is stored. Then:
 *  1. `bevan risk score` as it runs: the features of everyone registered (one INSERT … SELECT over
 *     `resource`) and the scores (one INSERT … SELECT from the stored coefficients, with ranks and
 *     tiers), each timed, `runs` times; prints seconds and people per second for each phase.
 *  2. The scoring statement alone at `target` people: the stored feature rows are copied (new
 *     person ids, the same values) up to `target` under a scratch index date, scored, and all of it
 *     rolled back. Prints seconds and people per second.
 *  0. First the flat tables (analytics/flat/, migration 0044) are brought up to date and timed:
 *     rebuilt from every resource with --rebuild-flat, else only what was received since the last
 *     refresh; then an incremental refresh with nothing new (what every reader pays).
 *  3. With --compare, the features statement over the stored JSON (features-json.ts, what `risk
 *     score` ran before the flat tables), timed once and rolled back, and its rows compared with
 *     the flat statement's.
 * Wall-clock figures on a shared machine: the server's work is not in this process's CPU time, so
 * the rate is the figure to compare; re-measure on a quiet machine.
 */
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../db/open.ts';
import { fitRiskModel, insertScores, loadRiskModel, scoreRiskPopulation } from '../analytics/risk/model.ts';
import { refreshFlatTables } from '../analytics/flat/refresh.ts';
import { oneOffStatements } from '../db/database.ts';
import { featureStatement } from '../analytics/risk/features.ts';
import { jsonFeatureStatement } from '../analytics/risk/features-json.ts';
import { arg } from './util.ts';

const TARGET = Number(arg('target', '215000'));
const RUNS = Number(arg('runs', '3'));
const AS_OF = process.argv.includes('--as-of') ? arg('as-of', '') : undefined;
const DATA = process.argv.includes('--data') ? arg('data', '') : undefined;

const db = await openDatabase(DATA ? { dataDir: DATA } : {});
try {
  {
    const full = await refreshFlatTables(db, { full: process.argv.includes('--rebuild-flat') });
    console.log(`flat tables (${full.mode}): ${full.encounters} encounters, ${full.codedEntries} coded entries in ${full.seconds.toFixed(2)} s`);
    const again = await refreshFlatTables(db);
    console.log(`flat tables again, nothing new (${again.mode}): ${again.encounters + again.codedEntries} rows in ${again.seconds.toFixed(2)} s`);
  }
  let model = await loadRiskModel(db);
  if (!model) {
    const t = performance.now();
    model = await fitRiskModel(db);
    console.log(`fitted model version ${model.version} in ${((performance.now() - t) / 1000).toFixed(1)} s (c-statistic ${model.metrics.cStatistic.toFixed(3)})`);
  }
  console.log(`database: ${db.location} (${db.kind}); model version ${model.version}`);
  const runs: { people: number; features: number; scores: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await scoreRiskPopulation(db, { asOf: AS_OF });
    runs.push({ people: r.people, features: r.featureSeconds, scores: r.scoreSeconds });
    console.log(`run ${i + 1}: ${r.people} people as of ${r.indexDate}: features ${r.featureSeconds.toFixed(2)} s (${Math.round(r.people / r.featureSeconds)} people/s), scores ${r.scoreSeconds.toFixed(2)} s (${Math.round(r.people / r.scoreSeconds)} people/s)`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const people = runs[0]!.people;
  const f = median(runs.map((r) => r.features));
  const s = median(runs.map((r) => r.scores));
  console.log(`median at ${people} people: features ${f.toFixed(2)} s, scores ${s.toFixed(2)} s; at that rate ${TARGET} people would take features ${((f * TARGET) / people).toFixed(1)} s + scores ${((s * TARGET) / people).toFixed(1)} s`);

  // The scoring statement at TARGET people, over copies of the stored features; rolled back.
  const scratch = '2099-01-01';
  const rollback = new Error('rollback');
  let measured: { n: number; seconds: number } | undefined;
  await db
    .transaction(async (tx) => {
      const last = await tx.query<{ d: string }>("SELECT to_char(max(index_date), 'YYYY-MM-DD') AS d FROM risk_feature WHERE index_date < '2099-01-01'");
      const from = last.rows[0]!.d;
      const copies = Math.ceil(TARGET / people);
      await tx.query(
        `INSERT INTO risk_feature (person_id, index_date, practice, neighbourhood, age, sex, emergency_admissions_12m, emergency_admissions_24m, ae_attendances_12m, ae_attendances_24m,
           outpatient_attendances_12m, gp_consultations_12m, home_visits_12m, community_contacts_12m, long_term_conditions, long_term_condition_kinds, medications_12m, frailty_coded,
           efi_deficits, efi, efi_band, hba1c, egfr, social_care_package, emergency_admissions_next_12m)
         SELECT md5(f.person_id::text || ':' || k)::uuid, $2::date, practice, neighbourhood, age, sex, emergency_admissions_12m, emergency_admissions_24m, ae_attendances_12m, ae_attendances_24m,
           outpatient_attendances_12m, gp_consultations_12m, home_visits_12m, community_contacts_12m, long_term_conditions, long_term_condition_kinds, medications_12m, frailty_coded,
           efi_deficits, efi, efi_band, hba1c, egfr, social_care_package, emergency_admissions_next_12m
           FROM risk_feature f CROSS JOIN generate_series(1, $3::int) AS k
          WHERE f.index_date = $1::date
          LIMIT $4::int`,
        [from, scratch, copies, TARGET],
      );
      const run = await tx.query<{ run_id: string }>('INSERT INTO risk_score_run (model_version, index_date) VALUES ($1, $2::date) RETURNING run_id', [model!.version, scratch]);
      const t = performance.now();
      const n = await insertScores(tx, model!, Number(run.rows[0]!.run_id), scratch);
      measured = { n, seconds: (performance.now() - t) / 1000 };
      throw rollback;
    })
    .catch((e) => {
      if (e !== rollback) throw e;
    });
  console.log(`scoring statement alone at ${measured!.n} people (features copied): ${measured!.seconds.toFixed(2)} s (${Math.round(measured!.n / measured!.seconds)} people/s); rolled back`);

  if (process.argv.includes('--compare')) {
    // Before and after on the same store: the JSON statement timed, both statements' rows compared; rolled back.
    const date = (await db.query<{ d: string }>("SELECT to_char(max(index_date), 'YYYY-MM-DD') AS d FROM risk_feature WHERE index_date < '2099-01-01'")).rows[0]!.d;
    const timed = async (label: string, st: { sql: string; params: unknown[] }): Promise<string[]> => {
      let rows: string[] = [];
      await db
        .transaction(async (tx) => {
          await tx.query('DELETE FROM risk_feature WHERE index_date = $1::date', [date]);
          await oneOffStatements(tx);
          const t = performance.now();
          const n = (await tx.query(st.sql, st.params)).rowCount;
          console.log(`${label} at ${date}: ${n} people in ${((performance.now() - t) / 1000).toFixed(2)} s`);
          rows = (await tx.query<{ row: string }>(`SELECT (to_jsonb(f) - 'computed_at')::text AS row FROM risk_feature f WHERE index_date = $1::date ORDER BY person_id`, [date])).rows.map((r) => r.row);
          throw rollback;
        })
        .catch((e) => {
          if (e !== rollback) throw e;
        });
      return rows;
    };
    const json = await timed('features from the stored JSON (before)', jsonFeatureStatement(date));
    const flat = await timed('features from the flat tables (after)', featureStatement(date));
    const a = new Set(json);
    const differ = flat.filter((r) => !a.has(r)).length + json.length - flat.filter((r) => a.has(r)).length;
    console.log(`rows differing between the two: ${differ} (of ${json.length})`);
  }
} finally {
  await db.close();
}
