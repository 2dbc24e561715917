/**
 * Running a ViewDefinition, the one use case the CLI (`bevan view run`) and the API
 * (`POST /analytics/ViewDefinition/$run`) translate to: over resources given to it (a file, the
 * `resource` parameters of $run), which needs no database and no user; or over the store, which
 * reads personal data and so goes through the login-bound repository: a decision for secondary
 * use, each person decided, obligations honoured, one audit entry for the run. Rows are written
 * as they are produced.
 */
import type { RequestContext } from '../../access/context.ts';
import { invalid } from '../../access/context.ts';
import { repositoryFor } from '../../fhir/repository-for.ts';
import type { SecondaryUseCounts } from '../../fhir/secondary-use.ts';
import type { SqlViewPlan } from '../../fhir/secondary-use-sql.ts';
import { materialisedReader, refreshMaterialisedViews } from './materialised.ts';
import { RowWriter, type TextSink, type ViewFormat } from './output.ts';
import { compileViewToSql, finishSqlRow } from './sql-view.ts';
import type { CompiledView } from './view-definition.ts';
import { rowsOf } from './view-runner.ts';

export interface ViewRunOptions {
  format: ViewFormat;
  /** CSV: a header line with the column names (default true). */
  header?: boolean;
  /** At most this many rows. */
  limit?: number;
  /** Over the store: only resources received (Patient: demographics changed) after this instant. */
  since?: string;
  /** Over the store: resources read per page (default 2000). */
  pageSize?: number;
  /** Over the store: `auto` (default) runs the view in SQL where it compiles (sql-view.ts), `js` always with the JS runner. */
  engine?: 'auto' | 'js';
}

export interface ViewRunResult {
  rows: number;
  /** Resources the view was run over. */
  resources: number;
  /** Over the store: what was handed on and left out (as audited). */
  store?: SecondaryUseCounts;
}

/** Runs a view over the resources given (no store, no access decision: the caller holds them already). */
export async function runViewOnResources(view: CompiledView, resources: AsyncIterable<unknown> | Iterable<unknown>, sink: TextSink, opts: ViewRunOptions): Promise<ViewRunResult> {
  checkOptions(opts);
  const writer = new RowWriter(view, opts.format, sink, opts.header !== false);
  let count = 0;
  outer: for await (const resource of resources as AsyncIterable<unknown>) {
    count++;
    for (const row of rowsOf(view, resource)) {
      if (opts.limit !== undefined && writer.rows >= opts.limit) break outer;
      await writer.row(row);
    }
  }
  await writer.end();
  return { rows: writer.rows, resources: count };
}

/** Runs a view over the store, for secondary use, through the access layer (see above). */
export async function runViewOnStore(ctx: RequestContext, view: CompiledView, sink: TextSink, opts: ViewRunOptions): Promise<ViewRunResult> {
  checkOptions(opts);
  const writer = new RowWriter(view, opts.format, sink, opts.header !== false);
  const limit = opts.limit;
  // A materialisation of the view (CSV over the whole store) is brought up to date first, then read
  // by the repository instead of the view's SQL when its fingerprint matches (materialised.ts).
  const materialise = opts.format === 'csv' && limit === undefined && !opts.since && opts.engine !== 'js';
  if (materialise) await refreshMaterialisedViews(ctx.db, view);
  const counts = await repositoryFor(ctx).secondaryUse(
    { resourceType: view.resource, ...(opts.since ? { since: new Date(opts.since).toISOString() } : {}), ...(opts.pageSize ? { pageSize: opts.pageSize } : {}) },
    async (resource) => {
      for (const row of rowsOf(view, resource)) {
        if (limit !== undefined && writer.rows >= limit) return false;
        await writer.row(row);
      }
      return limit === undefined || writer.rows < limit;
    },
    () => ({ view: view.name ?? view.definition.url ?? null, columns: view.columns.map((c) => c.name), format: opts.format, rows: writer.rows, ...(limit !== undefined ? { limit } : {}) }),
    opts.engine === 'js' ? undefined : sqlPlan(view, writer, limit, materialise),
  );
  await writer.end();
  return { rows: writer.rows, resources: counts.resources, store: counts };
}

/** The view compiled to SQL for the repository (fhir/secondary-use-sql.ts): its rows checked as the JS runner checks them, then written. */
function sqlPlan(view: CompiledView, writer: RowWriter, limit: number | undefined, materialise: boolean): SqlViewPlan {
  let shapes: ReturnType<typeof compileViewToSql> | null = null;
  const label = `a ${view.resource} (run in SQL)`;
  return {
    build(source, bind) {
      shapes = compileViewToSql(view, source, bind);
      return shapes.kind === 'sql' ? shapes.view : null;
    },
    async rows(rows, pseudonym) {
      const columns = shapes!.kind === 'sql' ? shapes!.view.columns : [];
      for (const text of rows) {
        if (limit !== undefined && writer.rows >= limit) return false;
        await writer.row(finishSqlRow(columns, JSON.parse(text) as unknown[], pseudonym, label));
      }
      return limit === undefined || writer.rows < limit;
    },
    ...(materialise ? { materialised: materialisedReader(writer) } : {}),
  };
}

function checkOptions(opts: ViewRunOptions): void {
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) throw invalid(`the row limit must be a whole number (got ${opts.limit})`);
  if (opts.since !== undefined && Number.isNaN(Date.parse(opts.since))) throw invalid(`since "${opts.since}" is not an instant (e.g. 2025-01-01T00:00:00Z)`);
}
