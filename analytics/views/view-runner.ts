/**
 * Runs a compiled ViewDefinition over one resource: the specification's processing model
 * (https://sql-on-fhir.org/ig/processing_model.html). A resource of another type gives no rows;
 * every `where` must be true; then each selection gives partial rows — its columns, the rows of
 * its nested selects, the rows of its unionAll — and their Cartesian product is its rows, once
 * for each item of its forEach, forEachOrNull or repeat. A forEachOrNull over nothing gives one
 * row of nulls. Values come out as JSON values: null for nothing, a list for a collection
 * column. What the specification calls errors (several values in a column that is not a
 * collection, a `where` that is not boolean, a value that is not of the column's type) stop
 * the run with an unprocessable error naming the resource. Pure.
 */
import { unprocessable } from '../../access/context.ts';
import { PRIMITIVE_TYPES, type CompiledColumn, type CompiledSelect, type CompiledView } from './view-definition.ts';

/** One output row: a value per column, in the view's column order. */
export type Row = unknown[];

/** The most nodes one repeat may visit in a resource (a guard against a path that never ends, such as `$this`). */
export const MAX_REPEAT_NODES = 100_000;

const NUMBER_TYPES = new Set(['decimal', 'integer', 'integer64', 'positiveInt', 'unsignedInt']);

interface Run {
  view: CompiledView;
  width: number;
  label: string;
}

/** The rows a view gives for one resource (none when it is of another type or a `where` is not true). */
export function rowsOf(view: CompiledView, resource: unknown): Row[] {
  const r = resource as { resourceType?: unknown; id?: unknown } | null;
  if (!r || typeof r !== 'object' || r.resourceType !== view.resource) return [];
  const run: Run = { view, width: view.columns.length, label: `${view.resource}/${typeof r.id === 'string' ? r.id : '(no id)'}` };
  const env = envAt(view, 0);
  for (const w of view.where) {
    const out = w.fn(resource, env);
    if (!out.length) return [];
    if (out.length > 1 || typeof out[0] !== 'boolean') {
      throw unprocessable(`${w.at} "${w.path}" must give true or false (or nothing) for each resource, but for ${run.label} it gave ${describe(out)}`);
    }
    if (out[0] !== true) return [];
  }
  const rows = processSelect(run, view.root, resource, 0);
  for (const row of rows) for (let i = 0; i < run.width; i++) if (row[i] === undefined) row[i] = null;
  return rows;
}

/** Rows as JSON objects keyed by column name (the json and ndjson output, and tests). */
export function rowObject(view: CompiledView, row: Row): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [i, c] of view.columns.entries()) o[c.name] = row[i] ?? null;
  return o;
}

/** The environment an expression sees: the view's constants and %rowIndex. */
function envAt(view: CompiledView, rowIndex: number): Record<string, unknown> {
  const env = Object.create(view.constants) as Record<string, unknown>;
  env.rowIndex = rowIndex;
  return env;
}

interface Focus {
  node: unknown;
  index: number;
}

function processSelect(run: Run, s: CompiledSelect, node: unknown, rowIndex: number): Row[] {
  const it = s.iteration;
  let foci: Focus[];
  if (!it) foci = [{ node, index: rowIndex }];
  else if (it.kind === 'repeat') foci = repeatFoci(run, it.fns, node, rowIndex);
  else foci = it.fn(node, envAt(run.view, rowIndex)).map((n, i) => ({ node: n, index: i }));

  const out: Row[] = [];
  for (const f of foci) {
    const parts: Row[][] = [];
    if (s.columns.length) parts.push([columnsRow(run, s.columns, f.node, f.index)]);
    for (const child of s.selects) parts.push(processSelect(run, child, f.node, f.index));
    if (s.unionAll.length) {
      const u: Row[] = [];
      for (const b of s.unionAll) for (const r of processSelect(run, b, f.node, f.index)) u.push(r);
      parts.push(u);
    }
    product(parts, run.width, out);
  }
  if (!foci.length && it?.kind === 'forEachOrNull') {
    // The empty row: nulls everywhere this select fills; its own columns see nothing (and %rowIndex 0).
    const row: Row = new Array(run.width);
    for (const p of s.positions) row[p] = null;
    const own = columnsRow(run, s.columns, [], 0);
    for (const c of s.columns) row[c.index] = own[c.index];
    out.push(row);
  }
  return out;
}

/** Depth first: each path from a node, each item found, then what the paths find from it, to any depth. */
function repeatFoci(run: Run, fns: ((focus: unknown, env: Record<string, unknown>) => unknown[])[], start: unknown, rowIndex: number): Focus[] {
  const out: Focus[] = [];
  const env = envAt(run.view, rowIndex);
  const visit = (node: unknown, depth: number): void => {
    for (const fn of fns) {
      for (const child of fn(node, env)) {
        if (out.length >= MAX_REPEAT_NODES || depth > 200) throw unprocessable(`repeat in ${run.label} goes on past ${MAX_REPEAT_NODES} items or 200 levels: does a repeat path return its own input ($this)?`);
        out.push({ node: child, index: out.length });
        visit(child, depth + 1);
      }
    }
  };
  visit(start, 0);
  return out;
}

function columnsRow(run: Run, columns: CompiledColumn[], node: unknown, rowIndex: number): Row {
  const row: Row = new Array(run.width);
  const env = envAt(run.view, rowIndex);
  for (const c of columns) {
    const val = c.fn(node, env);
    if (c.collection) {
      for (const x of val) checkValue(run, c, x);
      row[c.index] = val;
    } else if (val.length === 0) row[c.index] = null;
    else if (val.length === 1) {
      checkValue(run, c, val[0]);
      row[c.index] = val[0];
    } else {
      throw unprocessable(`column "${c.name}" (${c.at}) gave ${val.length} values for ${run.label} but is not a collection: set "collection": true, or narrow its path "${c.path}" (first(), where(…), an index)`);
    }
  }
  return row;
}

/** A value must fit the column's declared type; an element (not a primitive) needs a declared non-primitive type. */
function checkValue(run: Run, c: CompiledColumn, v: unknown): void {
  if (v === null || v === undefined) return;
  const kind = typeof v;
  if (kind === 'object') {
    if (!c.type || PRIMITIVE_TYPES.has(c.type)) {
      throw unprocessable(`column "${c.name}" (${c.at}) gave an element, not a primitive value, for ${run.label}${c.type ? ` but its type is ${c.type}` : ''}: select a primitive (…family, …code) or declare the element's type (e.g. "type": "HumanName")`);
    }
    return;
  }
  if (!c.type || !PRIMITIVE_TYPES.has(c.type)) {
    if (c.type) throw unprocessable(`column "${c.name}" (${c.at}) is declared ${c.type} but gave the ${kind} ${JSON.stringify(v)} for ${run.label}`);
    return;
  }
  const want = c.type === 'boolean' ? 'boolean' : NUMBER_TYPES.has(c.type) ? 'number' : 'string';
  if (kind === want || (want === 'number' && kind === 'bigint')) return;
  throw unprocessable(`column "${c.name}" (${c.at}) is declared ${c.type} but gave the ${kind} ${JSON.stringify(v)} for ${run.label}`);
}

/** The Cartesian product of lists of partial rows, each combination merged into one row (appended to out). */
function product(parts: Row[][], width: number, out: Row[]): void {
  if (!parts.length) {
    out.push(new Array(width));
    return;
  }
  let acc: Row[] = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const next: Row[] = [];
    const part = parts[i]!;
    if (!part.length || !acc.length) {
      acc = [];
      break;
    }
    for (const a of acc) {
      for (const b of part) {
        const r = a.slice();
        for (let k = 0; k < width; k++) if (b[k] !== undefined) r[k] = b[k];
        next.push(r);
      }
    }
    acc = next;
  }
  // A single part's rows are fresh from columnsRow or a child's output, so they can be handed on.
  for (const r of acc) out.push(r);
}

function describe(out: unknown[]): string {
  if (out.length > 1) return `${out.length} values`;
  const v = out[0];
  return typeof v === 'object' ? 'an element' : `the ${typeof v} ${JSON.stringify(v)}`;
}
