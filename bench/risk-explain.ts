/**
 * EXPLAIN (ANALYZE, BUFFERS) of the risk features' SELECT (as refreshFeatures runs it, into a
 * scratch table) and of the scoring statement (insertScores), on a store or a
 * bench/analytics-scale.ts copy, to see which steps dominate. Rolled back.
 *   DATABASE_URL=… node --import tsx bench/risk-explain.ts [--schema h4_scale,public] [--as-of YYYY-MM-DD] [--workers 4] [--scores]
 */
import pg from 'pg';
import { featureStatement } from '../analytics/risk/features.ts';
import { loadRiskModel, probabilitySql } from '../analytics/risk/model.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { arg } from './util.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('set DATABASE_URL');
const SCHEMA = arg('schema', 'public');
const AS_OF = arg('as-of', new Date().toISOString().slice(0, 10));
const WORKERS = arg('workers', '4');
const c = new pg.Client({ connectionString: URL_ });
await c.connect();
const print = (r: pg.QueryResult) => {
  for (const row of r.rows) console.log(row['QUERY PLAN']);
};
try {
  await c.query('BEGIN');
  await c.query(`SELECT set_config('search_path', $1, true), set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', $2, true), set_config('work_mem', '64MB', true)`, [SCHEMA, WORKERS]);
  if (process.argv.includes('--scores')) {
    const db = await openPostgres(URL_, { schema: SCHEMA });
    const model = await loadRiskModel(db);
    await db.close();
    if (!model) throw new Error('no model');
    const params: unknown[] = [AS_OF];
    const p = probabilitySql(model, params);
    print(await c.query(`EXPLAIN (ANALYZE, BUFFERS) SELECT x.person_id, x.p, row_number() OVER (ORDER BY x.p DESC, x.person_id) AS rk, count(*) OVER () AS n
               FROM (SELECT f.person_id, ${p} AS p FROM risk_feature f WHERE f.index_date = $1::date) x`, params));
  } else {
    const { select, params } = featureStatement(AS_OF);
    print(await c.query(`EXPLAIN (ANALYZE, BUFFERS) CREATE TEMP TABLE h4_explain AS ${select}`, params));
  }
} finally {
  await c.query('ROLLBACK');
  await c.end();
}
