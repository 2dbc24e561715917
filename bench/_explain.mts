import { openDatabase } from '../db/open.ts';
import { featureStatement } from '../analytics/risk/features.ts';
const db = await openDatabase({});
const { sql, params } = featureStatement(process.argv[2] ?? '2026-02-01');

const r = await db.transaction(async (tx) => { const x = await tx.query<Record<string, string>>('EXPLAIN (ANALYZE, BUFFERS) ' + sql, params); await tx.query('DELETE FROM risk_feature WHERE index_date = $1::date', [process.argv[2] ?? '2026-02-01']); return x; });
for (const x of r.rows) console.log(Object.values(x)[0]);

await db.close();
