/**
 * Runs test files in the format of the SQL-on-FHIR v2 conformance suite
 * (https://github.com/FHIR/sql-on-fhir-v2/tree/master/tests: `{title, resources, tests: [{title,
 * view, expect | expectColumns | expectError}]}`) through this engine, as that suite's own runner
 * judges them: the rows must be the expected ones in any order, the columns (when given) in
 * order, and a test expecting an error passes when the view is refused or its run stops. Used
 * by `bevan view test` (the published files, fetched by whoever runs it) and by this folder's
 * conformance test (our own cases). Pure.
 */
import { compileView } from './view-definition.ts';
import { rowObject, rowsOf } from './view-runner.ts';

export interface SpecTest {
  title: string;
  description?: string;
  tags?: string[];
  view: unknown;
  expect?: Record<string, unknown>[];
  expectColumns?: string[];
  expectError?: unknown;
  /** Older files of the suite: the kind of error expected (e.g. `"structure"`), where the current ones say `expectError`. */
  error?: unknown;
}

/** Whether a test expects the view to be refused or its run to stop (`expectError`, or an older file's `error`). */
export function expectsError(t: SpecTest): boolean {
  return (t.expectError !== undefined && t.expectError !== false) || (t.error !== undefined && t.error !== null && t.error !== false);
}

export interface SpecTestFile {
  title: string;
  description?: string;
  fhirVersion?: string[];
  resources: unknown[];
  tests: SpecTest[];
}

export interface SpecTestResult {
  title: string;
  passed: boolean;
  /** Why it failed, or the error a test expecting one got. */
  message?: string;
  observed?: Record<string, unknown>[];
}

/** Runs every test of a file; never throws for a test's own failure. */
export function runSpecTestFile(file: SpecTestFile, opts: { fastPath?: boolean } = {}): { title: string; results: SpecTestResult[] } {
  return { title: file.title, results: (file.tests ?? []).map((t) => runSpecTest(file.resources ?? [], t, opts)) };
}

export function runSpecTest(resources: unknown[], t: SpecTest, opts: { fastPath?: boolean } = {}): SpecTestResult {
  const wantsError = expectsError(t);
  let observed: Record<string, unknown>[];
  let columns: string[];
  try {
    const view = compileView(t.view, opts);
    columns = view.columns.map((c) => c.name);
    observed = resources.flatMap((r) => rowsOf(view, r).map((row) => rowObject(view, row)));
  } catch (err) {
    const message = (err as Error).message;
    return wantsError ? { title: t.title, passed: true, message } : { title: t.title, passed: false, message: `error: ${message}` };
  }
  if (wantsError) return { title: t.title, passed: false, message: 'expected an error, got rows', observed };
  if (t.expectColumns && t.expectColumns.join(',') !== columns.join(',')) return { title: t.title, passed: false, message: `columns [${columns.join(', ')}], expected [${t.expectColumns.join(', ')}]`, observed };
  if (t.expect) {
    const diff = compareRows(observed, t.expect);
    if (diff) return { title: t.title, passed: false, message: diff, observed };
  }
  return { title: t.title, passed: true, observed };
}

/** Null when the rows are the same in any order; else what differs. */
export function compareRows(observed: Record<string, unknown>[], expected: Record<string, unknown>[]): string | null {
  if (observed.length !== expected.length) return `${observed.length} rows, expected ${expected.length}`;
  const canon = (rows: Record<string, unknown>[]) => rows.map((r) => canonical(r)).sort();
  const a = canon(observed);
  const b = canon(expected);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `rows differ: got ${a[i]}, expected ${b[i]}`;
  return null;
}

/** JSON with keys sorted, numbers as numbers (1.0 and 1 are the same row value). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}
