/**
 * A SQL-on-FHIR v2 ViewDefinition (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html)
 * read, checked and compiled: every problem is reported at once with where it is
 * (`select[0].column[1].type: …`), the column list is worked out as the specification's
 * ValidateColumns step does (names unique, unionAll branches alike, columns ordered parent
 * first, then nested selects, then the union), constants become typed FHIRPath values and
 * every expression is compiled once. Running a compiled view over resources is view-runner.ts.
 * Pure.
 */
import { unprocessable } from '../../access/context.ts';
import { BUILT_IN_VARIABLES, compileExpression, compileExpressionAt, expressionUses, isResourceType, isTypeSpecifier, R4_MODEL, typedLiteral, withModelTypeNames, type Expression } from './fhirpath.ts';
import { compileFast, compileFastTyped, FALLBACK } from './fast-path.ts';

export interface ViewColumnJson {
  name: string;
  path: string;
  description?: string;
  collection?: boolean;
  type?: string;
  tag?: { name: string; value: string }[];
}

export interface ViewSelectJson {
  column?: ViewColumnJson[];
  select?: ViewSelectJson[];
  forEach?: string;
  forEachOrNull?: string;
  /** SQL-on-FHIR 2.1: paths followed recursively (QuestionnaireResponse.item.item…). */
  repeat?: string[];
  unionAll?: ViewSelectJson[];
}

export interface ViewDefinitionJson {
  resourceType?: 'ViewDefinition';
  url?: string;
  name?: string;
  title?: string;
  status?: string;
  resource: string;
  fhirVersion?: string[];
  constant?: ({ name: string } & Record<string, unknown>)[];
  select: ViewSelectJson[];
  where?: { path: string; description?: string }[];
}

/** A column of the view's output, in order. */
export interface ViewColumn {
  name: string;
  /** The FHIR type the view declares (relative, e.g. `string`, `Observation.referenceRange`), or null. */
  type: string | null;
  collection: boolean;
  description: string | null;
  tags: { name: string; value: string }[];
}

export interface CompiledColumn {
  /** Position in the output row. */
  index: number;
  name: string;
  path: string;
  fn: Expression;
  collection: boolean;
  type: string | null;
  /** Where it is in the definition, for error messages. */
  at: string;
}

export type Iteration = { kind: 'forEach' | 'forEachOrNull'; path: string; fn: Expression } | { kind: 'repeat'; paths: string[]; fns: Expression[] };

export interface CompiledSelect {
  columns: CompiledColumn[];
  selects: CompiledSelect[];
  unionAll: CompiledSelect[];
  iteration: Iteration | null;
  /** Every output position this select and those inside it fill (set to null in a forEachOrNull's empty row). */
  positions: number[];
}

export interface CompiledView {
  definition: ViewDefinitionJson;
  name: string | null;
  resource: string;
  columns: ViewColumn[];
  where: { path: string; fn: Expression; at: string }[];
  /** The view itself as the outermost selection (its selects are cross-joined). */
  root: CompiledSelect;
  /** The constants as typed FHIRPath values, keyed by name (the environment every expression sees). */
  constants: Record<string, unknown>;
}

/** FHIR R4 (and R5 integer64) primitive types, as a column's `type` names them. */
export const PRIMITIVE_TYPES: ReadonlySet<string> = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer', 'integer64',
  'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid', 'xhtml',
]);

const STRUCTURE_DEFINITION_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';
const SQL_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const STATUSES = ['draft', 'active', 'retired', 'unknown'];

/** The value[x] a constant may have (ViewDefinition.constant.value[x]), and how each becomes a FHIRPath literal. */
const CONSTANT_TYPES: Record<string, (v: unknown) => string | null> = {
  valueBase64Binary: str,
  valueBoolean: (v) => (typeof v === 'boolean' ? String(v) : null),
  valueCanonical: str,
  valueCode: str,
  valueDate: (v) => (typeof v === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(v) ? `@${v}` : null),
  valueDateTime: (v) => (typeof v === 'string' && /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.test(v) ? `@${v.includes('T') ? v : `${v}T`}` : null),
  valueDecimal: (v) => (typeof v === 'number' && Number.isFinite(v) ? decimalText(v) : null),
  valueId: str,
  valueInstant: (v) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) ? `@${v}` : null),
  valueInteger: int(-2147483648, 2147483647),
  valueInteger64: (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? `${v}L` : typeof v === 'string' && /^-?\d{1,19}$/.test(v) ? `${v}L` : null),
  valueOid: str,
  valueString: str,
  valuePositiveInt: int(1, 2147483647),
  valueTime: (v) => (typeof v === 'string' && /^\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(v) ? `@T${v}` : null),
  valueUnsignedInt: int(0, 2147483647),
  valueUri: str,
  valueUrl: str,
  valueUuid: str,
};

function str(v: unknown): string | null {
  return typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : null;
}

function int(min: number, max: number) {
  return (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? String(v) : null);
}

/** A decimal as FHIRPath decimal literal text (1 → 1.0, so that it stays a Decimal). */
function decimalText(v: number): string {
  const s = String(v);
  return /[.eE]/.test(s) ? (/[eE]/.test(s) ? v.toFixed(20).replace(/0+$/, '0') : s) : `${s}.0`;
}

const TOP_KEYS = new Set(['resourceType', 'id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension', 'modifierExtension', 'url', 'identifier', 'version', 'versionAlgorithmString', 'versionAlgorithmCoding', 'name', 'title', 'status', 'experimental', 'date', 'publisher', 'contact', 'description', 'useContext', 'jurisdiction', 'purpose', 'copyright', 'copyrightLabel', 'resource', 'resourceVersion', 'profile', 'fhirVersion', 'constant', 'select', 'where']);
const SELECT_KEYS = new Set(['id', 'extension', 'modifierExtension', 'column', 'select', 'forEach', 'forEachOrNull', 'repeat', 'unionAll']);
const COLUMN_KEYS = new Set(['id', 'extension', 'modifierExtension', 'path', 'name', 'description', 'collection', 'type', 'tag']);
const WHERE_KEYS = new Set(['id', 'extension', 'modifierExtension', 'path', 'description']);

/** Where a column sits while the columns are worked out (ValidateColumns). */
interface ColumnSlot {
  name: string;
  type: string | null;
  at: string;
}

/**
 * Checks and compiles a ViewDefinition given as parsed JSON. Throws an unprocessable BevanError
 * listing every problem found (`details`), the first in its message.
 */
export function compileView(json: unknown, opts: { fastPath?: boolean } = {}): CompiledView {
  const problems: string[] = [];
  const problem = (at: string, message: string) => {
    const p = at ? `${at}: ${message}` : message;
    if (!problems.includes(p)) problems.push(p);
  };
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw unprocessable('the ViewDefinition is not a JSON object');
  const v = json as Record<string, unknown>;

  if (v.resourceType !== undefined && v.resourceType !== 'ViewDefinition') problem('resourceType', `"${String(v.resourceType)}" is not ViewDefinition`);
  for (const k of Object.keys(v)) if (!TOP_KEYS.has(k)) problem(k, 'not an element of ViewDefinition');
  if (typeof v.resource !== 'string' || !v.resource) problem('resource', 'the FHIR resource type the view is over is required (e.g. "Patient")');
  else if (!isResourceType(v.resource)) problem('resource', `"${v.resource}" is not a FHIR R4 resource type`);
  if (v.name !== undefined && (typeof v.name !== 'string' || !SQL_NAME.test(v.name))) problem('name', 'letters, digits and underscores, starting with a letter (sql-name)');
  if (v.status !== undefined && !STATUSES.includes(v.status as string)) problem('status', `one of ${STATUSES.join(', ')}`);
  if (v.fhirVersion !== undefined && (!Array.isArray(v.fhirVersion) || !v.fhirVersion.every((x) => typeof x === 'string'))) problem('fhirVersion', 'a list of FHIR versions');
  else if (Array.isArray(v.fhirVersion) && v.fhirVersion.length && !v.fhirVersion.some((x) => /^4\.0(\.|$)/.test(String(x)))) problem('fhirVersion', `the view is for FHIR ${v.fhirVersion.join(', ')}; Bevan holds FHIR R4 (4.0.1)`);

  // Constants: a name and exactly one value[x], as typed FHIRPath values.
  const constants: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (v.constant !== undefined && !Array.isArray(v.constant)) problem('constant', 'a list');
  for (const [i, c] of (Array.isArray(v.constant) ? v.constant : []).entries()) {
    const at = `constant[${i}]`;
    if (!c || typeof c !== 'object') {
      problem(at, 'not an object');
      continue;
    }
    const cc = c as Record<string, unknown>;
    const name = cc.name;
    if (typeof name !== 'string' || !SQL_NAME.test(name)) problem(`${at}.name`, 'letters, digits and underscores, starting with a letter (sql-name)');
    else if (BUILT_IN_VARIABLES.has(name)) problem(`${at}.name`, `%${name} is defined by the view runner`);
    else if (name in constants) problem(`${at}.name`, `"${name}" is defined twice`);
    const values = Object.keys(cc).filter((k) => k.startsWith('value'));
    for (const k of Object.keys(cc)) if (k !== 'name' && k !== 'id' && k !== 'extension' && !k.startsWith('value')) problem(`${at}.${k}`, 'not an element of a constant');
    if (values.length !== 1) {
      problem(at, values.length ? `one value is allowed, found ${values.join(', ')}` : `a value is required (${Object.keys(CONSTANT_TYPES).join(', ')})`);
      continue;
    }
    const key = values[0]!;
    const toLiteral = CONSTANT_TYPES[key];
    if (!toLiteral) {
      problem(`${at}.${key}`, `not a constant type (${Object.keys(CONSTANT_TYPES).join(', ')})`);
      continue;
    }
    const literal = toLiteral(cc[key]);
    if (literal === null) {
      problem(`${at}.${key}`, `${JSON.stringify(cc[key])} is not a valid ${key.slice(5)}`);
      continue;
    }
    if (typeof name === 'string' && SQL_NAME.test(name)) constants[name] = typedLiteral(literal);
  }

  const known = (name: string) => name in constants || BUILT_IN_VARIABLES.has(name);
  const fast = opts.fastPath !== false;
  const rootFocus: Focus = { kind: 'root', type: typeof v.resource === 'string' ? v.resource : null };
  /** Checks and compiles an expression over a focus; for forEach (keepNodes), also what its items are. */
  const typedExpression = (at: string, path: unknown, keepNodes: boolean, focus: Focus): { fn: Expression; items: Focus } | null => {
    if (typeof path !== 'string' || !path.trim()) {
      problem(at, 'a FHIRPath expression (text) is required');
      return null;
    }
    const text = path;
    try {
      const path = withModelTypeNames(text);
      const uses = expressionUses(path);
      for (const c of uses.constants) if (!known(c)) problem(at, `%${c} is not a constant of this view (undefined environment variable: ${c})`);
      for (const t of uses.typeSpecifiers) {
        if (!isTypeSpecifier(t.type)) problem(at, `${t.fn}(${t.type}): "${t.type}" is not a FHIR R4 type`);
        else if (t.fn === 'getReferenceKey' && !isResourceType(t.type.replace(/^FHIR\./, ''))) problem(at, `getReferenceKey(${t.type}): "${t.type}" is not a resource type`);
      }
      return focusedExpression(path, keepNodes, focus, fast);
    } catch (err) {
      const keyword = /%(year|month|week|day|hour|minute|second|millisecond)s?\b/.exec(text);
      problem(at, `not a valid FHIRPath expression: ${firstLine((err as Error).message)}${keyword ? ` (${keyword[0].slice(1)} is a FHIRPath keyword: write %\`${keyword[0].slice(1)}\`)` : ''}`);
      return null;
    }
  };
  const expression = (at: string, path: unknown, focus: Focus): Expression | null => typedExpression(at, path, false, focus)?.fn ?? null;

  const where: CompiledView['where'] = [];
  if (v.where !== undefined && !Array.isArray(v.where)) problem('where', 'a list');
  for (const [i, w] of (Array.isArray(v.where) ? v.where : []).entries()) {
    const at = `where[${i}]`;
    if (!w || typeof w !== 'object') {
      problem(at, 'not an object');
      continue;
    }
    for (const k of Object.keys(w)) if (!WHERE_KEYS.has(k)) problem(`${at}.${k}`, 'not an element of where');
    const fn = expression(`${at}.path`, (w as { path?: unknown }).path, rootFocus);
    if (fn) where.push({ path: (w as { path: string }).path, fn, at: `${at}.path` });
  }

  // The columns, in order (ValidateColumns), and each select compiled with its positions.
  const slots: ColumnSlot[] = [];
  const compileSelect = (s: unknown, at: string, inUnion: boolean, focus: Focus): { compiled: CompiledSelect; names: ColumnSlot[] } | null => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) {
      problem(at, 'a select is an object');
      return null;
    }
    const sel = s as Record<string, unknown>;
    for (const k of Object.keys(sel)) if (!SELECT_KEYS.has(k)) problem(`${at}.${k}`, 'not an element of select');
    const iterators = (['forEach', 'forEachOrNull', 'repeat'] as const).filter((k) => sel[k] !== undefined);
    if (iterators.length > 1) problem(at, `only one of forEach, forEachOrNull and repeat is allowed, found ${iterators.join(' and ')}`);
    let iteration: Iteration | null = null;
    const it = iterators[0];
    // What the columns and nested selects are evaluated on: this select's items, or its parent's focus.
    let inner: Focus = focus;
    if (it === 'repeat') {
      const paths = sel.repeat;
      if (!Array.isArray(paths) || !paths.length) problem(`${at}.repeat`, 'a non-empty list of FHIRPath expressions');
      else {
        // Each level is evaluated on the items of the one before: FHIRPath.js's typed nodes throughout.
        const fns = paths.map((p, j) => typedExpression(`${at}.repeat[${j}]`, p, true, { kind: 'nodes' })?.fn ?? null);
        if (fns.every((f): f is Expression => !!f)) iteration = { kind: 'repeat', paths: paths as string[], fns };
      }
      inner = { kind: 'nodes' };
    } else if (it) {
      const r = typedExpression(`${at}.${it}`, sel[it], true, focus);
      if (r) {
        iteration = { kind: it, path: sel[it] as string, fn: r.fn };
        inner = r.items;
      }
    }

    const own: ColumnSlot[] = [];
    const columns: CompiledColumn[] = [];
    if (sel.column !== undefined && !Array.isArray(sel.column)) problem(`${at}.column`, 'a list');
    for (const [j, c] of (Array.isArray(sel.column) ? sel.column : []).entries()) {
      const cat = `${at}.column[${j}]`;
      if (!c || typeof c !== 'object') {
        problem(cat, 'a column is an object');
        continue;
      }
      const col = c as Record<string, unknown>;
      for (const k of Object.keys(col)) if (!COLUMN_KEYS.has(k)) problem(`${cat}.${k}`, 'not an element of column');
      const name = col.name;
      if (typeof name !== 'string' || !SQL_NAME.test(name)) {
        problem(`${cat}.name`, 'a column name: letters, digits and underscores, starting with a letter (sql-name)');
        continue;
      }
      if (col.collection !== undefined && typeof col.collection !== 'boolean') problem(`${cat}.collection`, 'true or false');
      const type = columnType(col.type, `${cat}.type`, problem);
      const fn = expression(`${cat}.path`, col.path, inner);
      own.push({ name, type, at: cat });
      if (fn) columns.push({ index: -1, name, path: col.path as string, fn, collection: col.collection === true, type, at: cat });
    }

    const nested: CompiledSelect[] = [];
    const nestedNames: ColumnSlot[] = [];
    if (sel.select !== undefined && !Array.isArray(sel.select)) problem(`${at}.select`, 'a list');
    for (const [j, child] of (Array.isArray(sel.select) ? sel.select : []).entries()) {
      const r = compileSelect(child, `${at}.select[${j}]`, inUnion, inner);
      if (r) {
        nested.push(r.compiled);
        nestedNames.push(...r.names);
      }
    }

    const unions: CompiledSelect[] = [];
    let unionNames: ColumnSlot[] = [];
    if (sel.unionAll !== undefined && (!Array.isArray(sel.unionAll) || !sel.unionAll.length)) problem(`${at}.unionAll`, 'a non-empty list of selects');
    for (const [j, branch] of (Array.isArray(sel.unionAll) ? sel.unionAll : []).entries()) {
      const bat = `${at}.unionAll[${j}]`;
      const r = compileSelect(branch, bat, true, inner);
      if (!r) continue;
      unions.push(r.compiled);
      if (j === 0) unionNames = r.names;
      else {
        const a = unionNames.map((x) => x.name);
        const b = r.names.map((x) => x.name);
        if (a.join(',') !== b.join(',')) problem(bat, `a unionAll branch must give the same columns in the same order as the first: [${a.join(', ')}], this one gives [${b.join(', ')}]`);
        else
          for (const [k, x] of r.names.entries()) {
            const y = unionNames[k]!;
            if (x.type && y.type && x.type !== y.type) problem(`${x.at}.type`, `column "${x.name}" is ${x.type} here but ${y.type} in the first unionAll branch`);
          }
      }
    }

    const names = [...own, ...nestedNames, ...unionNames];
    const seen = new Map<string, string>();
    for (const x of names) {
      const before = seen.get(x.name);
      if (before !== undefined) problem(x.at, `column "${x.name}" is already defined (${before}); column names must be unique`);
      else seen.set(x.name, x.at);
    }
    void inUnion;
    return { compiled: { columns, selects: nested, unionAll: unions, iteration, positions: [] }, names };
  };

  if (!Array.isArray(v.select) || !v.select.length) problem('select', 'at least one select is required');
  const top: CompiledSelect[] = [];
  const topNames: ColumnSlot[] = [];
  for (const [i, s] of (Array.isArray(v.select) ? v.select : []).entries()) {
    const r = compileSelect(s, `select[${i}]`, false, rootFocus);
    if (r) {
      top.push(r.compiled);
      topNames.push(...r.names);
    }
  }
  const seen = new Map<string, string>();
  for (const x of topNames) {
    const before = seen.get(x.name);
    if (before !== undefined) problem(x.at, `column "${x.name}" is already defined (${before}); column names must be unique`);
    else seen.set(x.name, x.at);
  }
  slots.push(...topNames);

  if (problems.length) throw unprocessable(`the ViewDefinition is not valid: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, problems);

  const root: CompiledSelect = { columns: [], selects: top, unionAll: [], iteration: null, positions: [] };
  const index = new Map(slots.map((s, i) => [s.name, i]));
  assignPositions(root, index);
  const byName = new Map<string, ViewColumnJson>();
  collectColumns(v.select as ViewSelectJson[], byName);
  return {
    definition: json as ViewDefinitionJson,
    name: typeof v.name === 'string' ? v.name : null,
    resource: v.resource as string,
    columns: slots.map((s) => {
      const c = byName.get(s.name);
      return { name: s.name, type: s.type, collection: c?.collection === true, description: typeof c?.description === 'string' ? c.description : null, tags: Array.isArray(c?.tag) ? c!.tag! : [] };
    }),
    where,
    root,
    constants,
  };
}

/**
 * What an expression is evaluated on: the resource (`root`), JSON elements of a known type (the
 * items of a forEach compiled on the fast path, fast-path.ts), or FHIRPath.js's typed nodes.
 */
type Focus = { kind: 'root'; type: string | null } | { kind: 'data'; type: string } | { kind: 'nodes' };

/** An expression over a focus: the fast path where it applies (FHIRPath.js when it falls back), else FHIRPath.js. */
function focusedExpression(path: string, keepNodes: boolean, focus: Focus, fast: boolean): { fn: Expression; items: Focus } {
  const slow = focus.kind === 'data' ? compileExpressionAt(path, focus.type, keepNodes) : compileExpression(path, keepNodes);
  const slowNodes: Focus = { kind: 'nodes' };
  if (!fast || focus.kind === 'nodes' || !focus.type) return { fn: slow, items: slowNodes };
  if (keepNodes) {
    const f = compileFastTyped(path, focus.type);
    if (!f) return { fn: slow, items: slowNodes };
    // Items go on as JSON of the type the fast path worked out, whichever road evaluated them.
    const fn: Expression = (node, env) => {
      try {
        return f.fn(focusList(node), env);
      } catch (err) {
        if (err !== FALLBACK) throw err;
        return slow(node, env).map(dataOf);
      }
    };
    return { fn, items: { kind: 'data', type: f.type } };
  }
  const f = compileFast(path, focus.type);
  if (!f) return { fn: slow, items: slowNodes };
  const fn: Expression = (node, env) => {
    try {
      return f(focusList(node), env);
    } catch (err) {
      if (err !== FALLBACK) throw err;
      return slow(node, env);
    }
  };
  return { fn, items: slowNodes };
}

/** The focus as a collection: an empty list stands for nothing (the row of nulls of a forEachOrNull). */
function focusList(node: unknown): unknown[] {
  return Array.isArray(node) && node.length === 0 ? [] : [node];
}

function dataOf(x: unknown): unknown {
  return x && typeof x === 'object' && (x as { constructor?: { name?: string } }).constructor?.name === 'ResourceNode' ? (x as { data: unknown }).data : x;
}

/** Gives every compiled column its output position (by name: union branches share them) and each select the positions it fills. */
function assignPositions(s: CompiledSelect, index: Map<string, number>): number[] {
  const own = s.columns.map((c) => {
    c.index = index.get(c.name)!;
    return c.index;
  });
  const inner = [...s.selects, ...s.unionAll].flatMap((x) => assignPositions(x, index));
  s.positions = [...new Set([...own, ...inner])];
  return s.positions;
}

function collectColumns(selects: ViewSelectJson[], out: Map<string, ViewColumnJson>): void {
  for (const s of selects) {
    for (const c of s.column ?? []) if (!out.has(c.name)) out.set(c.name, c);
    collectColumns(s.select ?? [], out);
    collectColumns(s.unionAll ?? [], out);
  }
}

/** A column's declared type, relative (`string`, `HumanName`, `Observation.referenceRange`), or null; an unknown type is a problem. */
function columnType(raw: unknown, at: string, problem: (at: string, message: string) => void): string | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !raw) {
    problem(at, 'a FHIR type name or StructureDefinition URI');
    return null;
  }
  const t = raw.startsWith(STRUCTURE_DEFINITION_PREFIX) ? raw.slice(STRUCTURE_DEFINITION_PREFIX.length) : raw;
  if (PRIMITIVE_TYPES.has(t) || R4_MODEL.availableTypes.has(t) || R4_MODEL.path2Type[t] !== undefined) return t;
  problem(at, `"${raw}" is not a FHIR R4 type (a primitive such as string or dateTime, a data type such as CodeableConcept, or an element path such as Observation.referenceRange)`);
  return null;
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim())?.replace(/^line: \d+; column: \d+; message: /, '') ?? s;
}
