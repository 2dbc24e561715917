import { openDatabase } from '../db/open.ts';
import { modelTerms, termExpressions } from '../analytics/risk/terms.ts';
import { loadCodeLists } from '../analytics/risk/code-lists.ts';
import { fitLogistic } from '../analytics/risk/logistic.ts';
import { writeFileSync } from 'node:fs';
const db = await openDatabase({});
const terms = modelTerms(loadCodeLists());
const params: unknown[] = ['2024-01-01'];
const ex = termExpressions(terms, params);
const r = await db.query<Record<string, unknown>>(`SELECT ${ex.map((e, j) => `${e} AS t${j}`).join(', ')}, (CASE WHEN f.emergency_admissions_next_12m > 0 THEN 1 ELSE 0 END) AS y FROM risk_feature f WHERE f.index_date = $1::date`, params);
console.log(r.rows[0], typeof r.rows[0]!.t0);
const x = r.rows.map((row) => terms.map((_, j) => Number(row[`t${j}`])));
const y = r.rows.map((row) => Number(row.y));
for (const l2 of [1, 10]) { const f = fitLogistic(x, y, { l2, maxIterations: 8 }); console.log(l2, f.iterations, f.converged, f.intercept, f.logLikelihood); }
await db.close();
const db2 = 0;
for (const k of [2, 5, 10, 20, 30, 41]) {
  const xs = x.map((row) => row.slice(0, k));
  const f = fitLogistic(xs, y, { l2: 1, maxIterations: 30 });
  console.log(k, f.iterations, f.converged, f.intercept.toFixed(3), f.logLikelihood.toFixed(1));
}
for (const j of [...terms.keys()]) {
  const xs = x.map((row) => [row[j]!]);
  try { const f = fitLogistic(xs, y, { l2: 1, maxIterations: 30 }); if (!f.converged) console.log('bad', j, terms[j]!.name, f.intercept); } catch (e) { console.log('err', j, (e as Error).message); }
}
