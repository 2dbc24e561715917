/**
 * A view compiled to SQL (sql-view.ts) run over resources given to it rather than the store:
 * the resources go to the database as one jsonb parameter, and the view's query runs over each.
 * For checking the SQL against the JS runner on the same resources (the conformance and
 * property tests, `bevan view test --sql`); no access decision, as for any run over resources
 * the caller holds. Null when the view does not compile to SQL.
 */
import type { Queryable } from '../../db/database.ts';
import { compareRows, expectsError, type SpecTestFile } from './spec-tests.ts';
import { compileViewToSql, finishSqlRow } from './sql-view.ts';
import { compileView, type CompiledView } from './view-definition.ts';
import { rowObject, type Row } from './view-runner.ts';

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

/**
 * The tests of a file in the conformance suite's format run in SQL, judged as spec-tests.ts judges
 * them; `passed` is null for a test whose view does not compile to SQL (the JS runner's alone).
 */
export async function runSpecTestFileInSql(db: Queryable, file: SpecTestFile): Promise<{ title: string; results: { title: string; passed: boolean | null; message?: string }[] }> {
  const results: { title: string; passed: boolean | null; message?: string }[] = [];
  for (const t of file.tests ?? []) {
    const wantsError = expectsError(t);
    let view: CompiledView;
    try {
      view = compileView(t.view);
    } catch (err) {
      results.push(wantsError ? { title: t.title, passed: true } : { title: t.title, passed: false, message: `error: ${(err as Error).message}` });
      continue;
    }
    let observed: Record<string, unknown>[];
    try {
      const r = await rowsInSql(db, view, file.resources ?? []);
      if ('reasons' in r) {
        results.push({ title: t.title, passed: null, message: r.reasons.join('; ') });
        continue;
      }
      observed = r.rows.map((row) => rowObject(view, row));
    } catch (err) {
      results.push(wantsError ? { title: t.title, passed: true } : { title: t.title, passed: false, message: `error: ${(err as Error).message}` });
      continue;
    }
    if (wantsError) results.push({ title: t.title, passed: false, message: 'expected an error, got rows' });
    else if (t.expectColumns && t.expectColumns.join(',') !== view.columns.map((c) => c.name).join(',')) results.push({ title: t.title, passed: false, message: 'columns differ' });
    else {
      const diff = t.expect ? compareRows(observed, t.expect) : null;
      results.push(diff ? { title: t.title, passed: false, message: diff } : { title: t.title, passed: true });
    }
  }
  return { title: file.title, results };
}
