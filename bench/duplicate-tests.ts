/**
 * The duplicate-test statement (analytics/duplicate-tests/query.ts) over a loaded store.
 *   node --import tsx bench/duplicate-tests.ts [--data DIR] [--runs 3]
 * Uses the PGlite folder given (or the PostgreSQL server in DATABASE_URL), e.g. after
 * `bevan generate --people 1000 --seed 7 --out G && bevan ingest G --data DIR`. Prints, per run,
 * the wall time, the Observations of registered people it weighs, the repeats found, and
 * Observations per wall second (the database does the work: on PostgreSQL this process's CPU is not it).
 */
import { performance } from 'node:perf_hooks';
import { loadSources } from '../analytics/commissioning/tariff.ts';
import { loadIntervals, testCodes } from '../analytics/duplicate-tests/intervals.ts';
import { duplicateTestsQuery } from '../analytics/duplicate-tests/query.ts';
import { openDatabase } from '../db/open.ts';
import { defaultReferenceData } from '../record/reference/reference-data.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const db = await openDatabase({ dataDir: arg('data', './.bevan/data') });
try {
  const intervals = loadIntervals();
  const q = duplicateTestsQuery({ codes: testCodes(intervals, defaultReferenceData()), intervals, sources: loadSources(), until: new Date().toISOString().slice(0, 10) });
  const obs = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Observation' AND person_id IS NOT NULL`)).rows[0]!.n;
  console.log(`${process.env.DATABASE_URL ? 'postgres' : 'pglite'}: ${obs} Observations with a person`);
  for (let i = 0; i < Number(arg('runs', '3')); i++) {
    const t = performance.now();
    const r = await db.query(q.sql, q.params);
    const ms = performance.now() - t;
    console.log(`run ${i + 1}: ${ms.toFixed(0)} ms wall, ${r.rows.length} repeats, ${Math.round(obs / (ms / 1000))} Observations per wall second`);
  }
} finally {
  await db.close();
}
