/**
 * A view compiled to SQL (sql-view.ts) run over resources given to it rather than the store:
 * the resources go to the database as one jsonb parameter, and the view's query runs over each.
 * For checking the SQL against the JS runner on the same resources (the conformance and
 * property tests, `bevan view test --sql`); no access decision, as for any run over resources
 * the caller holds. Null when the view does not compile to SQL.
 */
import type { Queryable } from '../../db/database.ts';
import { compileViewToSql, finishSqlRow } from './sql-view.ts';
import type { CompiledView } from './view-definition.ts';
import type { Row } from './view-runner.ts';

export async function rowsInSql(db: Queryable, view: CompiledView, resources: readonly unknown[]): Promise<{ rows: Row[] } | { reasons: string[] }> {
  const params: unknown[] = [];
  const bind = (v: unknown) => `$${params.push(v)}`;
  const compiled = compileViewToSql(view, { kind: 'resources' }, bind);
  if (compiled.kind === 'js') return { reasons: compiled.reasons };
  const data = bind(JSON.stringify(resources));
  const type = bind(view.resource);
  const r = await db.query<{ r: string }>(
    `SELECT v.r FROM jsonb_array_elements(${data}::jsonb) WITH ORDINALITY AS src(content, n) CROSS JOIN LATERAL (${compiled.view.rowsSql}) v
      WHERE jsonb_typeof(src.content) = 'object' AND src.content ->> 'resourceType' = ${type}::text`,
    params,
  );
  return { rows: r.rows.map((x) => finishSqlRow(compiled.view.columns, JSON.parse(x.r) as unknown[], null, `a ${view.resource} (run in SQL)`)) };
}
