/**
 * `bevan risk score`'s statements one by one, each with its wall time and the server CPU it cost
 * (the backend and its parallel workers: bench/util.ts serverCpuMeter), on a store or a
 * bench/analytics-scale.ts copy; then the features and scores compared with a saved baseline (when
 * the schema has tables base_feature and base_score, e.g. `CREATE TABLE base_feature AS SELECT * FROM
 * risk_feature`); all in one transaction that is rolled back.
 *   DATABASE_URL=… node --import tsx bench/risk-profile.ts [--schema h4_scale,public] [--as-of YYYY-MM-DD] [--setup FILE.sql]
 * --setup: SQL run first in the same transaction (e.g. dropping an index, to measure without it).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { openPostgres } from '../db/postgres-adapter.ts';
import type { Queryable } from '../db/database.ts';
import { FEATURE_SCRATCH, refreshFeatures } from '../analytics/risk/features.ts';
import { loadCodeLists } from '../analytics/risk/code-lists.ts';
import { insertScores, requireRiskModel } from '../analytics/risk/model.ts';
import { arg, serverCpuMeter } from './util.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('set DATABASE_URL');
const SCHEMA = arg('schema', 'public');
const AS_OF = arg('as-of', new Date().toISOString().slice(0, 10));
const db = await openPostgres(URL_, { schema: SCHEMA });

class Rollback extends Error {}
// The backend's CPU and its parallel workers' (bench/util.ts), on a connection of its own.
const meter = await serverCpuMeter(URL_, { backendPid: -1 });
let total = 0;
let totalWall = 0;
try {
  const model = await requireRiskModel(db);
  await db.transaction(async (tx) => {
    const pid = Number((await tx.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p);
    meter.watch(pid);
    const setup = arg('setup', '');
    if (setup) await tx.exec(readFileSync(setup, 'utf8'));
    const wrapped: Queryable = {
      ...tx,
      exec: (sql) => tx.exec(sql),
      async query<R>(sql: string, params?: readonly unknown[]) {
        const t0 = performance.now();
        const { result, cpu } = await meter.measure(() => tx.query<R>(sql, params));
        const wall = (performance.now() - t0) / 1000;
        total += cpu.seconds;
        totalWall += wall;
        if (wall > 0.05 || cpu.seconds > 0.05) console.log(`${wall.toFixed(2)} s wall, ${cpu.seconds.toFixed(2)} CPU-s, ${cpu.processes - 1} workers: ${sql.replace(/\s+/g, ' ').slice(0, 90)}`);
        return result;
      },
    };
    const people = await refreshFeatures(wrapped, AS_OF, loadCodeLists(), { keep: true });
    const run = await wrapped.query<{ run_id: string }>('INSERT INTO risk_score_run (model_version, index_date) VALUES ($1, $2::date) RETURNING run_id', [model.version, AS_OF]);
    const runId = Number(run.rows[0]!.run_id);
    await insertScores(wrapped, model, runId, AS_OF, FEATURE_SCRATCH);
    console.log(`${people} people; total ${totalWall.toFixed(2)} s wall, ${total.toFixed(2)} server CPU-s; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    const hasBase = (await tx.query(`SELECT 1 FROM pg_tables WHERE tablename = 'base_feature' AND schemaname = ANY(current_schemas(false))`)).rowCount! > 0;
    if (hasBase) {
      const cols = (await tx.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'risk_feature' AND table_schema = current_schema() AND column_name <> 'computed_at' ORDER BY ordinal_position`)).rows.map((r) => r.c).join(', ');
      const f = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ((SELECT ${cols} FROM risk_feature WHERE index_date = $1::date EXCEPT ALL SELECT ${cols} FROM base_feature WHERE index_date = $1::date)
                                 UNION ALL (SELECT ${cols} FROM base_feature WHERE index_date = $1::date EXCEPT ALL SELECT ${cols} FROM risk_feature WHERE index_date = $1::date)) d`,
        [AS_OF],
      );
      const s = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ((SELECT person_id, probability, population_rank, tier FROM risk_score WHERE run_id = $1 EXCEPT ALL SELECT person_id, probability, population_rank, tier FROM base_score)
                                 UNION ALL (SELECT person_id, probability, population_rank, tier FROM base_score EXCEPT ALL SELECT person_id, probability, population_rank, tier FROM risk_score WHERE run_id = $1)) d`,
        [runId],
      );
      console.log(`against the baseline: ${f.rows[0]!.n} feature rows differ, ${s.rows[0]!.n} score rows differ (probability, rank and tier compared exactly)`);
    }
    throw new Rollback();
  });
} catch (e) {
  if (!(e instanceof Rollback)) throw e;
} finally {
  await meter.close();
  await db.close();
}
