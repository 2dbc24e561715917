/**
 * A ViewDefinition compiled to one PostgreSQL query over the jsonb a resource is stored as, for
 * the FHIRPath most views are made of: member paths (typed from FHIRPath.js's R4 model, so a
 * choice element read with `ofType(T)` becomes `valueQuantity`), `where(…)`, `first()`, an
 * index, `exists()`, `empty()`, `not()`, `count()`, `extension(url)`, `join()`, `=`/`!=`,
 * `and`/`or`, `|` of single values, string/boolean/integer literals and constants,
 * `getResourceKey()` and `getReferenceKey([T])`; `forEach`/`forEachOrNull` become
 * `jsonb_array_elements` in LATERAL joins, nested selects and `unionAll` cross joins and UNION
 * ALL, so one resource's rows are those of view-runner.ts. Paths become SQL/JSON path
 * expressions (lax mode: arrays unwrap as FHIRPath collections flatten). Anything outside that
 * subset — or whose meaning would depend on the data in a way the query cannot follow (`=` on a
 * repeating element, `%rowIndex`, `repeat`, a date constant) — is not compiled, and the reason
 * says so: the caller runs the view with the JS runner instead (`bevan view check` shows which).
 *
 * The query is over a relation `src` the caller provides: `content` (jsonb) and, over the store,
 * the resource as the FHIR API presents it (fhir/secondary-use-sql.ts): `fid` (its stable
 * id), `source_system`, `person_id`, `subject_id` and `pcode` (an Observation's code with its
 * national coding first); whether a Patient id is the person's is the store's SQL too. Over the store, what presentation and pseudonymisation change and the
 * query cannot reproduce (`reference` text, `meta` but `meta.source`, identifiers, contained
 * resources…) is not compiled. Every literal is a bound parameter. Each row comes out as the
 * text of a JSON array (column `r`), a value per column; `finishSqlRow` gives it the JS runner's
 * checks. Pure.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { unprocessable } from '../../access/context.ts';
import { PRIMITIVE_TYPES, type CompiledSelect, type CompiledView } from './view-definition.ts';
import type { Row } from './view-runner.ts';

/** What the query runs over: resources as given (a test, a file), or the store as presented for secondary use. */
export type SqlSource =
  | { kind: 'resources' }
  | {
      kind: 'store';
      pseudonymised: boolean;
      /** SQL true when an id (SQL text) is one of the person's source Patients in the resource's source (the store writes it: fhir/secondary-use-sql.ts). */
      patientKey: (id: string) => string;
      /** The stable id (SQL text) of the resource of a type and id (SQL text) in the resource's source system. */
      logicalId: (system: string, type: string, id: string) => string;
    };

/** Columns of `src` a compiled view reads besides `content`. */
export type SrcColumn = 'fid' | 'source_system' | 'person_id' | 'subject_id' | 'pcode';

export interface SqlColumnShape {
  /** `single`: a value or null; `array`: a JSON array the runner narrows to one value (or fails, as the JS runner does); `collection`: the column is a collection. */
  shape: 'single' | 'array' | 'collection';
  /** A Patient key a pseudonymised run maps to its keyed pseudonym (getReferenceKey(Patient)). */
  patientKey: boolean;
  name: string;
  type: string | null;
  collection: boolean;
  at: string;
  path: string;
}

export interface SqlView {
  /** A query giving column `r` for each row of the view, for the one resource of `src` in scope (a LATERAL subquery). */
  rowsSql: string;
  needs: Set<SrcColumn>;
  columns: SqlColumnShape[];
}

export type SqlCompileResult = { kind: 'sql'; view: SqlView } | { kind: 'js'; reasons: string[] };

interface Model {
  path2Type: Record<string, string>;
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
  path2Repeating: Record<string, boolean>;
}
const MODEL = r4 as unknown as Model;

interface AstNode {
  type: string;
  text?: string;
  delimitedText?: string;
  children?: AstNode[];
}

/** Types whose values compare with `=` as JSON values do (not dates: precision matters). */
const PLAIN = new Set(['boolean', 'string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown', 'integer', 'positiveInt', 'unsignedInt', 'decimal']);
const STRINGS = new Set(['string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown']);
const NUMBERS = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal']);
const REFERENCE_TARGET = '(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9.-]{1,64})(?:/_history/[A-Za-z0-9.-]{1,64})?$';

class NotCompilable extends Error {}
const no = (why: string): never => {
  throw new NotCompilable(why);
};

/** A collection reached by an SQL/JSON path from a single JSON item (or NULL, nothing). */
interface Nav {
  k: 'nav';
  base: string;
  jp: string;
  type: string | null;
  single: boolean;
  /** Each item is the resource itself (the path has only filters): the store's presented columns apply. */
  root: boolean;
}
/** A single value: SQL jsonb or NULL. */
interface Val {
  k: 'val';
  sql: string;
  type: string | null;
  patientKey?: boolean;
}
/** A collection as a SQL jsonb array (never NULL). */
interface Arr {
  k: 'arr';
  sql: string;
  type: string | null;
}
/** A boolean or nothing: SQL boolean or NULL. */
interface Bool {
  k: 'bool';
  sql: string;
}
/** A choice element (`value`) waiting for ofType. */
interface Choice {
  k: 'choice';
  parent: Nav;
  name: string;
  suffixes: string[];
}
/** `meta` of a resource over the store: only `.source` is known in SQL. */
interface Meta {
  k: 'meta';
}
type C = Nav | Val | Arr | Bool | Choice | Meta;

/** A predicate inside an SQL/JSON path filter: text over `@`. */
interface PNav {
  text: string;
  type: string | null;
  single: boolean;
  choice?: { name: string; suffixes: string[]; parent: string };
}

interface Ctx {
  source: SqlSource;
  bind: (v: unknown) => string;
  constants: Record<string, unknown>;
  needs: Set<SrcColumn>;
  resource: string;
}

/** Compiles a checked view to SQL, or says why it is left to the JS runner. */
export function compileViewToSql(view: CompiledView, source: SqlSource, bind: (v: unknown) => string): SqlCompileResult {
  const reasons: string[] = [];
  if (source.kind === 'store') {
    if (view.resource === 'Patient') reasons.push('a view over Patient reads each person\'s merged Patient, built from their identities (JS runner)');
    if (source.pseudonymised && view.resource === 'RelatedPerson') reasons.push('RelatedPerson is pseudonymised field by field (JS runner)');
  }
  if (reasons.length) return { kind: 'js', reasons };
  const ctx: Ctx = { source, bind, constants: view.constants, needs: new Set(), resource: view.resource };
  currentBind = bind;
  let n = 0;
  const alias = (p: string) => `${p}${++n}`;
  const shapes: SqlColumnShape[] = view.columns.map((c) => ({ shape: 'single', patientKey: false, name: c.name, type: c.type, collection: c.collection, at: '', path: '' }));
  const rootFocus: Nav = { k: 'nav', base: 'src.content', jp: '$', type: view.resource, single: true, root: true };

  const attempt = <T>(at: string, path: string, f: () => T): T | null => {
    try {
      return f();
    } catch (err) {
      if (err instanceof NotCompilable) {
        reasons.push(`${at} "${path}": ${err.message}`);
        return null;
      }
      throw err;
    }
  };

  /** One select on a focus, as parts of a SELECT: c{position} for every position it fills, FROM items and LATERAL joins. */
  interface Parts {
    cols: string[];
    from: string[];
    joins: string[];
  }
  const toSql = (p: Parts, whereSql: string[] = []): string => {
    const cols = p.cols.length ? p.cols : ['1 AS none'];
    const from = p.from.length ? p.from : p.joins.length ? [`(VALUES (1)) ${alias('o')}(x)`] : [];
    return `SELECT ${cols.join(', ')}${from.length ? ` FROM ${from.join(', ')}` : ''}${p.joins.length ? ` ${p.joins.join(' ')}` : ''}${whereSql.length ? ` WHERE ${whereSql.join(' AND ')}` : ''}`;
  };
  const gen = (s: CompiledSelect, focus: Nav, at: string): Parts => {
    const out: Parts = { cols: [], from: [], joins: [] };
    let item: Nav = focus;
    let present: string | null = null;
    const it = s.iteration;
    if (it?.kind === 'repeat') {
      reasons.push(`${at}.repeat: repeat is not compiled to SQL`);
      return out;
    }
    if (it) {
      const f = alias('f');
      const items = attempt(`${at}.${it.kind}`, it.path, () => {
        const c = compile(parse(it.path), focus, ctx);
        if (c.k === 'bool') return { rel: `(SELECT to_jsonb(${c.sql}) AS node WHERE ${c.sql} IS NOT NULL)`, type: 'boolean', root: false };
        if (c.k === 'choice' || c.k === 'meta') return no('a choice element needs ofType(T)');
        if (c.k === 'nav' && c.single) return { rel: `(SELECT v AS node FROM (SELECT ${asVal(c).sql} AS v) q WHERE v IS NOT NULL)`, type: c.type, root: c.root };
        if (c.k === 'val') return { rel: `(SELECT v AS node FROM (SELECT ${c.sql} AS v) q WHERE v IS NOT NULL)`, type: c.type, root: false };
        // Not started at all for an empty list (a test on the outer row is a one-time filter): most resources have none.
        const arr = asArr(c).sql;
        return { rel: `(SELECT e AS node FROM jsonb_array_elements(${arr}) e WHERE jsonb_array_length(${arr}) > 0)`, type: c.type, root: false };
      });
      if (!items) return out;
      if (it.kind === 'forEach') out.from.push(`${items.rel} ${f}`);
      else {
        out.from.push(`(VALUES (1)) ${alias('o')}(x) LEFT JOIN LATERAL (SELECT node, true AS present FROM ${items.rel} i) ${f} ON true`);
        present = `${f}.present`;
      }
      item = { k: 'nav', base: `${f}.node`, jp: '$', type: items.type, single: true, root: items.root };
    }

    for (const c of s.columns) {
      shapes[c.index] = { ...shapes[c.index]!, at: c.at, path: c.path };
      const sql = attempt(`${c.at}.path`, c.path, () => {
        const e = compile(parse(c.path), item, ctx);
        const shape = shapes[c.index]!;
        if (e.k === 'val' && e.patientKey) {
          if (!isLast(c.path, 'getReferenceKey')) no('a Patient key is pseudonymised: use getReferenceKey(Patient) as the whole of a column');
          shape.patientKey = true;
        }
        if (c.collection) {
          shape.shape = 'collection';
          return asArr(e).sql;
        }
        if (isSingle(e)) {
          shape.shape = 'single';
          const v = asVal(e).sql;
          // In the row's JSON array a JSON null and SQL NULL are both null.
          return withoutNullif(v) ?? v;
        }
        shape.shape = 'array';
        return asArr(e).sql;
      });
      if (sql !== null) out.cols.push(`${sql} AS c${c.index}`);
    }
    const guard = (sql: string, childPositions: number[]): string =>
      present === null ? sql : `SELECT * FROM (${sql}) g WHERE ${present} IS TRUE UNION ALL SELECT ${childPositions.map((p) => `NULL::jsonb AS c${p}`).join(', ')} WHERE ${present} IS NULL`;
    for (const [j, child] of s.selects.entries()) {
      const parts = gen(child, item, `${at}.select[${j}]`);
      if (present === null && !child.iteration) {
        // A nested select on the same focus: its columns and joins are this select's (no subquery).
        out.cols.push(...parts.cols);
        out.from.push(...parts.from);
        out.joins.push(...parts.joins);
        continue;
      }
      const ps = allPositions(child);
      const a = alias('s');
      out.joins.push(`CROSS JOIN LATERAL (${guard(toSql(parts), ps)}) ${a}`);
      for (const p of ps) out.cols.push(`${a}.c${p}`);
    }
    if (s.unionAll.length) {
      const ps = allPositions(s.unionAll[0]!);
      const a = alias('u');
      const branches = s.unionAll.map((b, j) => {
        const parts = gen(b, item, `${at}.unionAll[${j}]`);
        const cols = new Map(parts.cols.map((c) => [/(?: AS |^[a-z]+\d+\.)(c\d+)$/.exec(c)?.[1] ?? c, c]));
        // Each branch gives the union's positions in the same order.
        return toSql({ ...parts, cols: ps.map((p) => cols.get(`c${p}`) ?? `NULL::jsonb AS c${p}`) });
      });
      out.joins.push(`CROSS JOIN LATERAL (${guard(branches.join(' UNION ALL '), ps)}) ${a}`);
      for (const p of ps) out.cols.push(`${a}.c${p}`);
    }
    return out;
  };

  const where: string[] = [];
  for (const w of view.where) {
    const sql = attempt(w.at, w.path, () => {
      const c = compile(parse(w.path), rootFocus, ctx);
      if (c.k !== 'bool') return no('a where path must be a boolean expression the query can type (=, and, exists()…)');
      return `(${c.sql}) IS TRUE`;
    });
    if (sql) where.push(sql);
  }
  const body = toSql(gen(view.root, rootFocus, 'select'), where);
  if (reasons.length) return { kind: 'js', reasons };
  const rowsSql = `SELECT jsonb_build_array(${view.columns.map((_, i) => `t.c${i}`).join(', ')})::text AS r FROM (${body}) t`;
  return { kind: 'sql', view: { rowsSql, needs: ctx.needs, columns: shapes } };
}

/** Every output position a select fills (its columns, nested selects and union). */
function allPositions(s: CompiledSelect): number[] {
  const out = new Set<number>();
  const walk = (x: CompiledSelect) => {
    for (const c of x.columns) out.add(c.index);
    for (const c of x.selects) walk(c);
    if (x.unionAll[0]) walk(x.unionAll[0]);
  };
  walk(s);
  return [...out].sort((a, b) => a - b);
}

function isLast(path: string, fn: string): boolean {
  return new RegExp(`\\.${fn}\\([^()]*\\)\\s*$`).test(path);
}

function parse(expression: string): AstNode {
  try {
    return fhirpath.parse(expression) as AstNode;
  } catch {
    return no('does not parse');
  }
}

function isSingle(c: C): boolean {
  return c.k === 'val' || c.k === 'bool' || (c.k === 'nav' && c.single);
}

/** A collection as a jsonb array. */
function asArr(c: C): Arr {
  switch (c.k) {
    case 'arr':
      return c;
    case 'nav':
      if (c.jp === '$') return { k: 'arr', sql: `CASE WHEN ${c.base} IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(${c.base}) END`, type: c.type };
      if (arrows(c) !== null && /\[\*\]$/.test(c.jp)) {
        const e = arrows(c)!;
        return { k: 'arr', sql: `(CASE WHEN jsonb_typeof(${e}) = 'array' THEN ${e} WHEN ${e} IS NULL OR jsonb_typeof(${e}) = 'null' THEN '[]'::jsonb ELSE jsonb_build_array(${e}) END)`, type: c.type };
      }
      return { k: 'arr', sql: `COALESCE(jsonb_path_query_array(${c.base}, ${jp(c.jp)}, '{}', true), '[]'::jsonb)`, type: c.type };
    case 'val':
      return { k: 'arr', sql: `CASE WHEN ${c.sql} IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(${c.sql}) END`, type: c.type };
    case 'bool':
      return { k: 'arr', sql: `CASE WHEN ${c.sql} IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(${c.sql}) END`, type: 'boolean' };
    default:
      return no('a choice element needs ofType(T)');
  }
}

/** A single value (jsonb or NULL); only for what is single. */
function asVal(c: C): Val {
  switch (c.k) {
    case 'val':
      return c;
    case 'bool':
      return { k: 'val', sql: `to_jsonb(${c.sql})`, type: 'boolean' };
    case 'nav':
      if (!c.single) return no('several values where one is needed');
      if (c.jp === '$') return { k: 'val', sql: c.base, type: c.type };
      if (arrows(c) !== null) return { k: 'val', sql: `NULLIF(${arrows(c)}, 'null'::jsonb)`, type: c.type };
      if (c.root && /^\$( \? \(.*\))+$/.test(c.jp)) return { k: 'val', sql: `CASE WHEN jsonb_path_exists(${c.base}, ${jp(c.jp)}, '{}', true) THEN ${c.base} END`, type: c.type };
      return { k: 'val', sql: `jsonb_path_query_first(${c.base}, ${jp(c.jp)}, '{}', true)`, type: c.type };
    default:
      return no(c.k === 'meta' ? 'meta is presented by the store (only meta.source is compiled)' : 'a choice element needs ofType(T)');
  }
}

/**
 * A path of member steps only (`$."code"."coding"[*]`) as jsonb operators (`base -> 'code' -> 'coding'`),
 * which cost far less than a path query; null for anything else. Valid FHIR JSON has lists where
 * the model says so and single values elsewhere, which is what makes the two the same.
 */
function arrows(c: Nav): string | null {
  if (!/^\$(\."[A-Za-z][A-Za-z0-9]*")*$/.test(c.jp.replace(/\[\*\]$/, '')) || /\[\*\]./.test(c.jp)) return null;
  const names = [...c.jp.matchAll(/\."([A-Za-z][A-Za-z0-9]*)"/g)].map((m) => m[1]!);
  // A member of JSON null is SQL NULL already: the base needs no NULLIF (an equality test per row).
  const inner = names.length && c.base.startsWith('(') && c.base.endsWith(')') ? withoutNullif(c.base.slice(1, -1)) : null;
  return names.reduce((e, n) => `${e} -> '${n}'`, inner !== null ? `(${inner})` : c.base);
}

/**
 * X of `NULLIF(X, 'null'::jsonb)` (X one balanced expression), else null. Where only the JSON text of
 * a value matters — a column of the row, a member read from it — JSON null and SQL NULL are the
 * same, and NULLIF's equality test (jsonb comparison, for every value of every row) is not needed.
 */
function withoutNullif(sql: string): string | null {
  const head = 'NULLIF(';
  const tail = ", 'null'::jsonb)";
  if (!sql.startsWith(head) || !sql.endsWith(tail)) return null;
  const x = sql.slice(head.length, -tail.length);
  let depth = 0;
  let quoted = false;
  for (const ch of x) {
    if (ch === "'") quoted = !quoted;
    else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')' && --depth < 0) return null;
  }
  return depth === 0 && !quoted ? x : null;
}

/** A boolean (true, false or NULL for nothing) from something statically boolean. */
function asBool(c: C): Bool {
  if (c.k === 'bool') return c;
  if ((c.k === 'val' || (c.k === 'nav' && c.single)) && c.type === 'boolean') {
    const v = asVal(c).sql;
    return { k: 'bool', sql: `(CASE WHEN jsonb_typeof(${v}) = 'boolean' THEN (${v})::boolean END)` };
  }
  return no('not a boolean the query can type');
}

// The jsonpath text is bound like any literal; it is set here and bound by the compiler's caller.
let currentBind: ((v: unknown) => string) | null = null;
function jp(path: string): string {
  return `${currentBind!(path)}::jsonpath`;
}

/** The static type of an element of a type (a backbone element is its path), with whether it repeats. */
function childType(parent: string, name: string): { type: string; repeats: boolean } | { choice: string[]; repeats: boolean } | null {
  let key = `${parent}.${name}`;
  key = MODEL.pathsDefinedElsewhere[key] ?? key;
  const repeats = MODEL.path2Repeating[key] === true || MODEL.path2Repeating[`${parent}.${name}`] === true;
  const t = MODEL.path2Type[key];
  if (t) return { type: t === 'BackboneElement' || t === 'Element' ? key : t, repeats };
  const choice = MODEL.choiceTypePaths[key];
  return choice ? { choice, repeats } : null;
}

function member(name: string): string {
  return `."${name}"`;
}

function unwrap(n: AstNode): AstNode {
  let x = n;
  while ((x.type === 'EntireExpression' || x.type === 'TermExpression' || x.type === 'ParenthesizedTerm') && x.children?.length === 1) x = x.children[0]!;
  return x;
}

function literalOf(n: AstNode, ctx: Ctx): { value: string | boolean | number; type: string } | null {
  const x = unwrap(n);
  if (x.type === 'LiteralTerm') {
    const l = x.children?.[0];
    if (l?.type === 'BooleanLiteral') return { value: l.text === 'true', type: 'boolean' };
    if (l?.type === 'StringLiteral' && /^'[^'\\]*'$/.test(l.text ?? '')) return { value: l.text!.slice(1, -1), type: 'string' };
    if (l?.type === 'NumberLiteral' && /^\d{1,9}$/.test(l.text ?? '')) return { value: Number(l.text), type: 'integer' };
    return no(`the literal ${l?.text ?? ''} is not compiled`);
  }
  if (x.type === 'ExternalConstantTerm') {
    const name = x.delimitedText ?? x.text ?? '';
    if (name === 'rowIndex') return no('%rowIndex is not compiled');
    const v = ctx.constants[name];
    if (typeof v === 'string') return { value: v, type: 'string' };
    if (typeof v === 'boolean') return { value: v, type: 'boolean' };
    if (typeof v === 'number' && Number.isInteger(v)) return { value: v, type: 'integer' };
    return no(`the constant %${name} is not a string, boolean or integer`);
  }
  return null;
}

function compile(n: AstNode, focus: Nav, ctx: Ctx): C {
  currentBind = ctx.bind;
  const x = unwrap(n);
  const kids = x.children ?? [];
  switch (x.type) {
    case 'InvocationTerm':
      return invoke(kids[0]!, focus, ctx, true);
    case 'LiteralTerm':
    case 'ExternalConstantTerm': {
      const l = literalOf(x, ctx)!;
      return { k: 'val', sql: `${ctx.bind(JSON.stringify(l.value))}::jsonb`, type: l.type };
    }
    case 'InvocationExpression':
      return invoke(kids[1]!, compile(kids[0]!, focus, ctx), ctx, false);
    case 'IndexerExpression': {
      const left = compile(kids[0]!, focus, ctx);
      const i = literalOf(kids[1]!, ctx);
      if (!i || i.type !== 'integer') return no('an index must be an integer literal');
      return { k: 'val', sql: `(${asArr(left).sql} -> ${Number(i.value)})`, type: typeOf(left) };
    }
    case 'EqualityExpression': {
      if (x.text !== '=' && x.text !== '!=') return no(`${x.text} is not compiled`);
      const [l, r] = [compile(kids[0]!, focus, ctx), compile(kids[1]!, focus, ctx)];
      for (const s of [l, r]) if (!isSingle(s) || !comparable(typeOf(s))) return no(`${x.text} is compiled between single values of primitive types (not dates)`);
      const op = x.text === '=' ? '' : 'NOT ';
      return { k: 'bool', sql: lets([asVal(l).sql, asVal(r).sql], ([a, b]) => `CASE WHEN ${a} IS NULL OR ${b} IS NULL THEN NULL ELSE ${op}(${a} = ${b}) END`) };
    }
    case 'AndExpression':
    case 'OrExpression': {
      if (x.text !== 'and' && x.text !== 'or') return no(`${x.text} is not compiled`);
      const a = asBool(compile(kids[0]!, focus, ctx)).sql;
      const b = asBool(compile(kids[1]!, focus, ctx)).sql;
      return { k: 'bool', sql: `(${a} ${x.text === 'and' ? 'AND' : 'OR'} ${b})` };
    }
    case 'UnionExpression': {
      const [l, r] = [compile(kids[0]!, focus, ctx), compile(kids[1]!, focus, ctx)];
      for (const s of [l, r]) if (!isSingle(s) || !PRIMITIVE_TYPES.has(typeOf(s) ?? '')) return no('| is compiled between single values of primitive types');
      const t = typeOf(l) === typeOf(r) ? typeOf(l) : null;
      return {
        k: 'arr',
        sql: lets([asVal(l).sql, asVal(r).sql], ([a, b]) => `CASE WHEN ${a} IS NULL THEN (CASE WHEN ${b} IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(${b}) END) WHEN ${b} IS NULL OR ${a} = ${b} THEN jsonb_build_array(${a}) ELSE jsonb_build_array(${a}, ${b}) END`),
        type: t,
      };
    }
    default:
      return no(`${x.type.replace(/Expression$/, '').toLowerCase() || x.type} is not compiled`);
  }
}

/**
 * An expression using values more than once: each computed once (in a subquery) unless it is cheap
 * to compute again — a parameter, a column, or member steps by jsonb operators from a column. A
 * subquery in a select list is a plan the executor starts for every row, which costs far more
 * than reading a member of a jsonb value again.
 */
function lets(values: string[], body: (names: string[]) => string): string {
  if (values.every(cheap)) return `(${body(values)})`;
  const simple = (v: string) => /^(\$\d+(::[a-z]+)?|[a-z0-9_]+\.[a-z0-9_]+)$/.test(v);
  const names = values.map((v, i) => (simple(v) ? v : `z.v${i}`));
  const cols = values.map((v, i) => (simple(v) ? null : `${v} AS v${i}`)).filter((x): x is string => x !== null);
  return `(SELECT ${body(names)} FROM (SELECT ${cols.join(', ')}) z)`;
}

/** A parameter, a column, or member steps by jsonb operators from a column (`NULLIF(src.content -> 'a' -> 'b', 'null'::jsonb)`). */
function cheap(v: string): boolean {
  return /^(\$\d+(::[a-z]+)?|[a-z0-9_]+\.[a-z0-9_]+|NULLIF\([a-z0-9_]+\.[a-z0-9_]+( -> '[A-Za-z][A-Za-z0-9]*')*, 'null'::jsonb\))$/.test(v);
}

function typeOf(c: C): string | null {
  return c.k === 'bool' ? 'boolean' : c.k === 'choice' || c.k === 'meta' ? null : c.type;
}

function comparable(t: string | null): boolean {
  return t !== null && PLAIN.has(t);
}

/** A Nav for further navigation from anything single or a Nav. */
function navOf(c: C): Nav {
  if (c.k === 'nav') return c;
  if (c.k === 'val') return { k: 'nav', base: `(${c.sql})`, jp: '$', type: c.type, single: true, root: false };
  if (c.k === 'arr') return { k: 'nav', base: `(${c.sql})`, jp: '$[*]', type: c.type, single: false, root: false };
  return no(c.k === 'bool' ? 'navigation from a boolean' : c.k === 'meta' ? 'meta is presented by the store (only meta.source is compiled)' : 'a choice element needs ofType(T)');
}

function invoke(n: AstNode, left: C, ctx: Ctx, atRoot: boolean): C {
  const store = ctx.source.kind === 'store';
  const pseudonymised = ctx.source.kind === 'store' && ctx.source.pseudonymised;
  if (n.type === 'ThisInvocation') return atRoot ? left : no('$this is compiled only at the start of a path');
  if (n.type === 'MemberInvocation') {
    const name = n.text ?? '';
    if (left.k === 'meta') {
      if (name !== 'source') return no(`meta.${name} is presented by the store (only meta.source is compiled)`);
      ctx.needs.add('source_system');
      return { k: 'val', sql: 'to_jsonb(src.source_system)', type: 'uri' };
    }
    if (!/^[a-z][A-Za-z0-9]*$/.test(name)) return no(`${name}: a type name or an unusual member is not compiled`);
    const nav = navOf(left);
    if (!nav.type) return no(`${name}: the type of what it is read from is not known`);
    if (store && nav.root) {
      if (name === 'id') {
        if (nav.jp !== '$') return no('id after a filter');
        ctx.needs.add('fid');
        return { k: 'val', sql: 'to_jsonb(src.fid)', type: 'id' };
      }
      if (name === 'meta') return nav.jp === '$' ? { k: 'meta' } : no('meta after a filter');
      if (name === 'code' && (ctx.resource === 'Observation' || ctx.resource === 'DiagnosticReport')) {
        if (nav.jp !== '$') return no('code after a filter');
        ctx.needs.add('pcode');
        return { k: 'nav', base: 'src.pcode', jp: '$', type: 'CodeableConcept', single: true, root: false };
      }
      if (pseudonymised && (name === 'text' || name === 'contained')) return no(`${name} is removed by pseudonymisation (JS runner)`);
    }
    if (store && (name === 'reference' || name === 'contained')) return no(`${name} is presented by the store (references rewritten): use getReferenceKey()`);
    if (pseudonymised && name === 'identifier') return no('identifiers are removed by pseudonymisation (JS runner)');
    if (pseudonymised && name === 'display' && nav.type === 'Reference') return no("a Reference's display is removed for Patients by pseudonymisation (JS runner)");
    const t = childType(nav.type, name);
    if (!t) return no(`${nav.type} has no element ${name}`);
    if ('choice' in t) return { k: 'choice', parent: nav, name, suffixes: t.choice };
    return { k: 'nav', base: nav.base, jp: nav.jp + member(name) + (t.repeats ? '[*]' : ''), type: t.type, single: nav.single && !t.repeats, root: false };
  }
  if (n.type !== 'FunctionInvocation') return no(`${n.type} is not compiled`);
  const functn = n.children?.[0];
  const fname = functn?.children?.[0]?.text ?? '';
  const params = functn?.children?.[1]?.children ?? [];
  const none = () => {
    if (params.length) no(`${fname}() with parameters is not compiled`);
  };
  switch (fname) {
    case 'first': {
      none();
      if (left.k === 'val' || left.k === 'bool') return left;
      const nav = navOf(left);
      if (nav.single) return nav;
      // The first of a list read by member steps only, the list the last: its element 0 (a plain operator, not a path).
      const m = /^(.*)\[\*\]$/.exec(nav.jp);
      const e = m ? arrows({ ...nav, jp: m[1]! }) : null;
      if (e !== null && !m![1]!.includes('[*]')) return { k: 'val', sql: `NULLIF(CASE WHEN jsonb_typeof(${e}) = 'array' THEN ${e} -> 0 ELSE ${e} END, 'null'::jsonb)`, type: nav.type };
      return { k: 'val', sql: `jsonb_path_query_first(${nav.base}, ${jp(nav.jp)}, '{}', true)`, type: nav.type };
    }
    case 'exists':
    case 'empty': {
      let nav: Nav;
      if (left.k === 'bool' || left.k === 'val' || left.k === 'arr') {
        if (params.length) return no(`${fname}(criteria) on a computed value is not compiled`);
        const a = asArr(left).sql;
        return { k: 'bool', sql: `(jsonb_array_length(${a}) ${fname === 'exists' ? '>' : '='} 0)` };
      }
      nav = navOf(left);
      if (params.length > 1 || (params.length && fname === 'empty')) return no(`${fname}() with these parameters is not compiled`);
      const path = params.length ? `${nav.jp} ? (${predicate(params[0]!, nav.type, ctx)})` : nav.jp;
      if (path === '$') return { k: 'bool', sql: `(${nav.base} ${fname === 'exists' ? 'IS NOT' : 'IS'} NULL)` };
      return { k: 'bool', sql: `(${fname === 'exists' ? '' : 'NOT '}COALESCE(jsonb_path_exists(${nav.base}, ${jp(path)}, '{}', true), false))` };
    }
    case 'count': {
      none();
      return { k: 'val', sql: `to_jsonb(jsonb_array_length(${asArr(left).sql}))`, type: 'integer' };
    }
    case 'not': {
      none();
      return { k: 'bool', sql: `(NOT ${asBool(left).sql})` };
    }
    case 'where': {
      if (params.length !== 1) return no('where() takes one criterion');
      const nav = navOf(left);
      return { ...nav, jp: `${nav.jp} ? (${predicate(params[0]!, nav.type, ctx)})` };
    }
    case 'ofType': {
      if (params.length !== 1) return no('ofType() takes one type');
      const t = (params[0]!.text ?? '').replace(/^FHIR\./, '');
      if (left.k === 'choice') {
        const suffix = t.charAt(0).toUpperCase() + t.slice(1);
        if (!left.suffixes.includes(suffix)) return no(`${left.name} has no type ${t}`);
        const p = left.parent;
        const key = `${p.type}.${left.name}`;
        const repeats = MODEL.path2Repeating[MODEL.pathsDefinedElsewhere[key] ?? key] === true;
        return { k: 'nav', base: p.base, jp: p.jp + member(left.name + suffix) + (repeats ? '[*]' : ''), type: t, single: p.single && !repeats, root: false };
      }
      if (typeOf(left) === t) return left;
      return no(`ofType(${t}) of something not a choice element is not compiled`);
    }
    case 'extension': {
      const url = params.length === 1 ? literalOf(params[0]!, ctx) : null;
      if (!url || url.type !== 'string') return no('extension() takes a string url');
      const nav = navOf(left);
      return { k: 'nav', base: nav.base, jp: `${nav.jp}."extension"[*] ? (@."url" == ${JSON.stringify(url.value)})`, type: 'Extension', single: false, root: false };
    }
    case 'join': {
      const sep = params.length === 0 ? '' : params.length === 1 ? literalOf(params[0]!, ctx) : null;
      const separator = typeof sep === 'string' ? sep : sep && sep.type === 'string' ? (sep.value as string) : null;
      if (separator === null) return no('join() takes a string separator');
      const t = typeOf(left);
      if (!t || !STRINGS.has(t)) return no('join() is compiled over strings');
      return { k: 'val', sql: `to_jsonb(COALESCE((SELECT string_agg(e #>> '{}', ${ctx.bind(separator)}::text ORDER BY i) FROM jsonb_array_elements(${asArr(left).sql}) WITH ORDINALITY j(e, i)), ''))`, type: 'string' };
    }
    case 'getResourceKey': {
      none();
      const nav = navOf(left);
      if (!atRoot || nav.jp !== '$' || !nav.root) return no('getResourceKey() is compiled on the resource itself');
      if (store) {
        ctx.needs.add('fid');
        return { k: 'val', sql: 'to_jsonb(src.fid)', type: 'id' };
      }
      return { k: 'val', sql: `(CASE WHEN jsonb_typeof(${nav.base} -> 'resourceType') = 'string' AND jsonb_typeof(${nav.base} -> 'id') = 'string' THEN ${nav.base} -> 'id' END)`, type: 'id' };
    }
    case 'getReferenceKey': {
      if (params.length > 1) return no('getReferenceKey() takes at most one type');
      const type = params.length ? (params[0]!.text ?? '').replace(/^FHIR\./, '') : null;
      if (type !== null && !/^[A-Z][A-Za-z]+$/.test(type)) return no(`${type} is not a resource type`);
      if (pseudonymised && type === null) return no('getReferenceKey() without a type: Patient keys are pseudonymised, so name the type');
      const nav = navOf(left);
      if (nav.type !== null && nav.type !== 'Reference') return no('getReferenceKey() is compiled on a Reference');
      const patientKey = pseudonymised && type === 'Patient';
      if (nav.single) {
        const ref = asVal(nav).sql;
        // Read again where it is needed when that is cheap: no subquery for the executor to start on every row.
        if (cheap(ref)) return { k: 'val', sql: referenceKey(ref, type, ctx), type: 'id', patientKey };
        return { k: 'val', sql: `(SELECT ${referenceKey('x.ref', type, ctx)} FROM (SELECT ${ref} AS ref) x)`, type: 'id', patientKey };
      }
      const key = referenceKey('x.ref', type, ctx);
      return {
        k: 'arr',
        sql: `COALESCE((SELECT jsonb_agg(k ORDER BY i) FROM (SELECT ${key} AS k, i FROM jsonb_array_elements(${asArr(nav).sql}) WITH ORDINALITY x(ref, i)) y WHERE k IS NOT NULL), '[]'::jsonb)`,
        type: 'id',
        ...(patientKey ? { patientKey } : {}),
      } as Arr;
    }
    default:
      return no(`${fname}() is not compiled`);
  }
}

/**
 * The key of the resource a Reference points at (jsonb or NULL), as getReferenceKey in
 * fhirpath.ts computes it — over the store, from the reference as presented: a relative
 * reference to one of the person's source Patients is the person, another relative reference
 * the target's stable id; pseudonymised, an absolute reference to a Patient is removed.
 */
function referenceKey(ref: string, type: string | null, ctx: Ctx): string {
  // One CASE, the reference's text read again where needed (cheap jsonb operators; subqueries are
  // started for every row). `t` is the text once it is known to be a string.
  const t = `(${ref} ->> 'reference')`;
  const isText = `jsonb_typeof(${ref} -> 'reference') = 'string'`;
  const want = (x: string) => (type === null ? 'true' : `${x} = ${ctx.bind(type)}::text`);
  const target = (x: string) => `(SELECT CASE WHEN ${want('m[1]')} THEN to_jsonb(m[2]) END FROM regexp_match(${x}, ${ctx.bind(REFERENCE_TARGET)}::text) m)`;
  if (ctx.source.kind !== 'store') return `(CASE WHEN ${isText} THEN ${target(t)} END)`;
  ctx.needs.add('source_system').add('person_id').add('subject_id');
  // A relative reference (`Type/id`, read without a regular expression: they are slow) is presented first — the person, or the target's stable id; an absolute one is kept as sent, but removed, pseudonymised, when it is to a Patient.
  const rtype = `split_part(${t}, '/', 1)`;
  const id = `substr(${t}, strpos(${t}, '/') + 1)`;
  const absolute = ctx.source.pseudonymised ? `WHEN ${t} ~ ${ctx.bind('(^|/)Patient/')}::text THEN NULL ` : '';
  const personal = `(${id} = src.subject_id OR ${ctx.source.patientKey(id)})`;
  const relative = `${id} <> '' AND strpos(${id}, '/') = 0 AND length(${rtype}) >= 2 AND ascii(${rtype}) BETWEEN 65 AND 90 AND translate(${rtype}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', '') = ''`;
  // The usual case first, with no string splitting: a reference to the row's own subject, as `Patient/{subject id}`.
  const own = type === null || type === 'Patient' ? `WHEN ${t} = 'Patient/' || src.subject_id AND src.subject_id <> '' AND strpos(src.subject_id, '/') = 0 AND ${isText} THEN to_jsonb(src.person_id) ` : '';
  return `(CASE ${own}WHEN NOT COALESCE(${isText}, false) THEN NULL WHEN ${relative} THEN (CASE WHEN NOT (${want(rtype)}) THEN NULL WHEN ${rtype} = 'Patient' AND ${personal} THEN to_jsonb(src.person_id) ELSE to_jsonb(${ctx.source.logicalId('src.source_system', rtype, id)}) END)
    ${absolute}ELSE ${target(t)} END)`;
}

/** A where()/exists() criterion as an SQL/JSON path predicate over `@` (true keeps the item; false and unknown do not, as FHIRPath's empty). */
function predicate(n: AstNode, focusType: string | null, ctx: Ctx): string {
  const x = unwrap(n);
  const kids = x.children ?? [];
  switch (x.type) {
    case 'AndExpression':
    case 'OrExpression':
      if (x.text !== 'and' && x.text !== 'or') return no(`${x.text} is not compiled`);
      return `(${predicate(kids[0]!, focusType, ctx)} ${x.text === 'and' ? '&&' : '||'} ${predicate(kids[1]!, focusType, ctx)})`;
    case 'EqualityExpression': {
      if (x.text !== '=' && x.text !== '!=') return no(`${x.text} is not compiled`);
      const sides = kids.map((k) => operand(k, focusType, ctx));
      const types = sides.map((s) => s.type);
      if (!sides.every((s) => s.single && comparable(s.type))) return no(`${x.text} in a criterion is compiled between single values of primitive types`);
      const kind = (t: string) => (STRINGS.has(t) ? 's' : NUMBERS.has(t) ? 'n' : t);
      if (kind(types[0]!) !== kind(types[1]!)) return no(`${x.text} between a ${types[0]} and a ${types[1]}`);
      return `(${sides[0]!.text} ${x.text === '=' ? '==' : '!='} ${sides[1]!.text})`;
    }
    case 'InvocationExpression':
    case 'InvocationTerm': {
      // A function giving a boolean (exists, empty, not) or a boolean element.
      const fn = x.type === 'InvocationExpression' ? kids[1]! : kids[0]!;
      if (fn.type === 'FunctionInvocation') {
        const functn = fn.children?.[0];
        const fname = functn?.children?.[0]?.text ?? '';
        const params = functn?.children?.[1]?.children ?? [];
        if (fname === 'exists' || fname === 'empty' || fname === 'not') {
          if (x.type === 'InvocationTerm') {
            if (fname === 'not' || params.length) return no(`${fname}() here is not compiled`);
            return fname === 'exists' ? 'exists(@)' : '!exists(@)';
          }
          if (fname === 'not') {
            if (params.length) return no('not() takes no parameters');
            const inner = unwrap(kids[0]!);
            // not() of something never empty (exists/empty) only: FHIRPath's not() of nothing is nothing.
            if (!isExistence(inner)) return no('not() is compiled on exists() or empty() in a criterion');
            return `!(${predicate(inner, focusType, ctx)})`;
          }
          const p = path(kids[0]!, focusType, ctx);
          if (p.choice) return no('a choice element needs ofType(T)');
          if (params.length > 1 || (params.length && fname === 'empty')) return no(`${fname}() with these parameters`);
          const q = params.length ? `${p.text} ? (${predicate(params[0]!, p.type, ctx)})` : p.text;
          return fname === 'exists' ? `exists(${q})` : `!exists(${q})`;
        }
      }
      const p = path(x, focusType, ctx);
      if (p.choice || p.type !== 'boolean' || !p.single) return no('a criterion must be a boolean');
      return `(${p.text} == true)`;
    }
    default:
      return no(`${x.type} in a criterion is not compiled`);
  }
}

function isExistence(n: AstNode): boolean {
  const fn = n.type === 'InvocationExpression' ? n.children?.[1] : n.type === 'InvocationTerm' ? n.children?.[0] : undefined;
  const name = fn?.type === 'FunctionInvocation' ? fn.children?.[0]?.children?.[0]?.text : undefined;
  return name === 'exists' || name === 'empty';
}

function operand(n: AstNode, focusType: string | null, ctx: Ctx): PNav {
  const l = literalOf(n, ctx);
  if (l) return { text: JSON.stringify(l.value), type: l.type, single: true };
  return path(n, focusType, ctx);
}

/** A path relative to `@` inside a filter. */
function path(n: AstNode, focusType: string | null, ctx: Ctx): PNav {
  const x = unwrap(n);
  const kids = x.children ?? [];
  const pseudonymised = ctx.source.kind === 'store' && ctx.source.pseudonymised;
  const step = (inv: AstNode, left: PNav, atStart: boolean): PNav => {
    if (inv.type === 'ThisInvocation') return atStart ? left : no('$this inside a path');
    if (inv.type === 'MemberInvocation') {
      const name = inv.text ?? '';
      if (left.choice) return no(`${left.choice.name}.${name}: a choice element needs ofType(T)`);
      if (!/^[a-z][A-Za-z0-9]*$/.test(name) || !left.type) return no(`${name} in a criterion`);
      if (ctx.source.kind === 'store' && (name === 'reference' || name === 'contained' || name === 'meta' || name === 'id')) return no(`${name} is presented by the store: not compiled in a criterion`);
      if (pseudonymised && (name === 'identifier' || name === 'display' || name === 'text')) return no(`${name} may be removed by pseudonymisation`);
      const t = childType(left.type, name);
      if (!t) return no(`${left.type} has no element ${name}`);
      if ('choice' in t) return { text: left.text, type: null, single: left.single, choice: { name, suffixes: t.choice, parent: left.type } };
      return { text: left.text + member(name) + (t.repeats ? '[*]' : ''), type: t.type, single: left.single && !t.repeats };
    }
    if (inv.type === 'FunctionInvocation') {
      const functn = inv.children?.[0];
      const fname = functn?.children?.[0]?.text ?? '';
      const params = functn?.children?.[1]?.children ?? [];
      if (fname === 'ofType' && params.length === 1 && left.choice) {
        const t = (params[0]!.text ?? '').replace(/^FHIR\./, '');
        const suffix = t.charAt(0).toUpperCase() + t.slice(1);
        if (!left.choice.suffixes.includes(suffix)) return no(`${left.choice.name} has no type ${t}`);
        return { text: left.text + member(left.choice.name + suffix), type: t, single: left.single };
      }
      if (left.choice) return no('a choice element needs ofType(T)');
      if (fname === 'where' && params.length === 1) return { ...left, text: `${left.text} ? (${predicate(params[0]!, left.type, ctx)})` };
      if (fname === 'extension' && params.length === 1) {
        const url = literalOf(params[0]!, ctx);
        if (!url || url.type !== 'string') return no('extension() takes a string url');
        return { text: `${left.text}."extension"[*] ? (@."url" == ${JSON.stringify(url.value)})`, type: 'Extension', single: false };
      }
      return no(`${fname}() inside a criterion is not compiled`);
    }
    return no(`${inv.type} in a criterion`);
  };
  if (x.type === 'InvocationTerm') return step(kids[0]!, { text: '@', type: focusType, single: true }, true);
  if (x.type === 'InvocationExpression') return step(kids[1]!, path(kids[0]!, focusType, ctx), false);
  return no(`${x.type} in a criterion is not compiled`);
}

const NUMBER_TYPES = new Set(['decimal', 'integer', 'integer64', 'positiveInt', 'unsignedInt']);

/**
 * One row from the query as the JS runner gives it: each column narrowed as view-runner.ts
 * narrows it (several values in a column that is not a collection is an error), its values
 * checked against the column's type, and (pseudonymised runs) each Patient key given its
 * pseudonym. `label` names the row in errors.
 */
export function finishSqlRow(columns: readonly SqlColumnShape[], values: unknown[], pseudonym: ((id: string) => string) | null, label: string): Row {
  // The parsed array becomes the row (no copy: a row a resource, millions of them); it has a value per column.
  const row = values as Row;
  if (row.length !== columns.length) row.length = columns.length;
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!;
    let v: unknown = values[i] ?? null;
    if (c.shape === 'array') {
      const xs = v as unknown[];
      if (xs.length > 1) throw unprocessable(`column "${c.name}" (${c.at}) gave ${xs.length} values for ${label} but is not a collection: set "collection": true, or narrow its path "${c.path}" (first(), where(…), an index)`);
      v = xs.length ? (xs[0] ?? null) : null;
    }
    if (c.shape === 'collection') {
      const xs = (v as unknown[]) ?? [];
      for (const x of xs) check(c, x, label);
      row[i] = pseudonym && c.patientKey ? xs.map((x) => (typeof x === 'string' ? pseudonym(x) : x)) : xs;
    } else {
      check(c, v, label);
      row[i] = pseudonym && c.patientKey && typeof v === 'string' ? pseudonym(v) : v;
    }
  }
  return row;
}

function check(c: SqlColumnShape, v: unknown, label: string): void {
  if (v === null || v === undefined) return;
  const kind = typeof v;
  if (kind === 'object') {
    if (!c.type || PRIMITIVE_TYPES.has(c.type)) {
      throw unprocessable(`column "${c.name}" (${c.at}) gave an element, not a primitive value, for ${label}${c.type ? ` but its type is ${c.type}` : ''}: select a primitive (…family, …code) or declare the element's type (e.g. "type": "HumanName")`);
    }
    return;
  }
  if (!c.type || !PRIMITIVE_TYPES.has(c.type)) {
    if (c.type) throw unprocessable(`column "${c.name}" (${c.at}) is declared ${c.type} but gave the ${kind} ${JSON.stringify(v)} for ${label}`);
    return;
  }
  const want = c.type === 'boolean' ? 'boolean' : NUMBER_TYPES.has(c.type) ? 'number' : 'string';
  if (kind === want) return;
  throw unprocessable(`column "${c.name}" (${c.at}) is declared ${c.type} but gave the ${kind} ${JSON.stringify(v)} for ${label}`);
}
