/**
 * A faster road for the FHIRPath most views are made of — member paths (`code.coding.code`),
 * `first()`, `exists()`, `empty()`, `not()`, `where(…)`, `ofType(T)` on a choice element,
 * `extension(url)`, an index, `=`/`!=`/`and`/`or` between single values, `|` of primitive
 * values, literals, constants,
 * `join()`, `count()`, `getResourceKey()` and `getReferenceKey([T])` — compiled to plain
 * functions over the JSON, typed statically from FHIRPath.js's own R4 model (so `value.ofType(Quantity)`
 * reads `valueQuantity`). FHIRPath.js stays the definition: an expression outside this subset
 * is not compiled here, and where the data take an evaluation outside it (several values on
 * one side of `=`, a primitive carrying extensions, a constant that is a date) it throws
 * FALLBACK and the caller evaluates it with FHIRPath.js instead. The conformance tests run
 * every view both ways and must agree. Pure.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { referenceTarget } from './fhirpath.ts';

/** Thrown by a compiled expression when this evaluation needs FHIRPath.js. */
export const FALLBACK: unique symbol = Symbol('FHIRPath.js, please');

export type FastFn = (focus: unknown[], env: Record<string, unknown>) => unknown[];

interface Model {
  path2Type: Record<string, string>;
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
}
const MODEL = r4 as unknown as Model;

interface Compiled {
  fn: FastFn;
  /** The static FHIR type (or element path for a backbone element), or null when it is only known from the data. */
  type: string | null;
  /** A choice element (`value`): how to read one of its types. */
  choice?: { parent: FastFn; name: string; suffixes: string[] };
}

interface AstNode {
  type: string;
  text?: string;
  delimitedText?: string;
  children?: AstNode[];
}

/** Types whose values compare with `=` as JSON values do (dates and times do not: precision matters). */
const PLAIN = new Set(['boolean', 'string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown', 'integer', 'positiveInt', 'unsignedInt', 'decimal', 'System.String', 'System.Boolean', 'System.Integer', 'System.Decimal']);

/** Compiles an expression over a focus of the given static type; null when it is outside the subset. */
export function compileFast(expression: string, focusType: string): FastFn | null {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(expression) as AstNode;
  } catch {
    return null;
  }
  const c = expr(ast, focusType);
  return c ? c.fn : null;
}

/** Like compileFast, with the static type of the result (forEach: the type of its items). */
export function compileFastTyped(expression: string, focusType: string): { fn: FastFn; type: string } | null {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(expression) as AstNode;
  } catch {
    return null;
  }
  const c = expr(ast, focusType);
  return c && c.type ? { fn: c.fn, type: c.type } : null;
}

const identity: FastFn = (focus) => focus;

function expr(n: AstNode, focusType: string | null): Compiled | null {
  const kids = n.children ?? [];
  switch (n.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'ParenthesizedTerm':
      return kids.length === 1 ? expr(kids[0]!, focusType) : null;
    case 'InvocationTerm':
      return kids.length === 1 ? invoke(kids[0]!, { fn: identity, type: focusType }, true) : null;
    case 'LiteralTerm':
      return literal(kids[0]);
    case 'ExternalConstantTerm': {
      const name = n.delimitedText ?? n.text ?? '';
      return {
        fn: (_f, env) => {
          const v = env[name];
          if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v))) return [v];
          throw FALLBACK;
        },
        type: null,
      };
    }
    case 'InvocationExpression': {
      if (kids.length !== 2) return null;
      const left = expr(kids[0]!, focusType);
      return left ? invoke(kids[1]!, left, false) : null;
    }
    case 'IndexerExpression': {
      if (kids.length !== 2) return null;
      const left = expr(kids[0]!, focusType);
      const index = integerLiteral(kids[1]!);
      if (!left || index === null || left.choice) return null;
      return { fn: (f, env) => (index < 0 ? [] : left.fn(f, env).slice(index, index + 1)), type: left.type };
    }
    case 'EqualityExpression': {
      if (n.text !== '=' && n.text !== '!=') return null;
      const [l, r] = kids.map((k) => expr(k, focusType));
      if (!l || !r || !comparable(l) || !comparable(r)) return null;
      const equal = n.text === '=';
      return {
        fn: (f, env) => {
          const a = l.fn(f, env);
          const b = r.fn(f, env);
          if (!a.length || !b.length) return [];
          if (a.length > 1 || b.length > 1) throw FALLBACK;
          const x = a[0];
          const y = b[0];
          if (!isPlain(x) || !isPlain(y)) throw FALLBACK;
          return [equal ? x === y : x !== y];
        },
        type: 'boolean',
      };
    }
    case 'UnionExpression': {
      // `|` keeps each distinct value once; elements (objects) compare deeply: FHIRPath.js does those.
      const [l, r] = kids.map((k) => expr(k, focusType));
      if (!l || !r) return null;
      return {
        fn: (f, env) => {
          const out: unknown[] = [];
          for (const x of [...l.fn(f, env), ...r.fn(f, env)]) {
            if (!isPlain(x)) throw FALLBACK;
            if (!out.includes(x)) out.push(x);
          }
          return out;
        },
        type: l.type === r.type ? l.type : null,
      };
    }
    case 'AndExpression':
    case 'OrExpression': {
      if (n.text !== 'and' && n.text !== 'or') return null;
      const [l, r] = kids.map((k) => expr(k, focusType));
      if (!l || !r) return null;
      const and = n.text === 'and';
      return {
        fn: (f, env) => {
          const a = single(l.fn(f, env));
          const b = single(r.fn(f, env));
          if (and) return a === false || b === false ? [false] : a === true && b === true ? [true] : [];
          return a === true || b === true ? [true] : a === false && b === false ? [false] : [];
        },
        type: 'boolean',
      };
    }
    default:
      return null;
  }
}

/** A single boolean, or null for nothing; anything else needs FHIRPath.js. */
function single(v: unknown[]): boolean | null {
  if (!v.length) return null;
  if (v.length > 1 || typeof v[0] !== 'boolean') throw FALLBACK;
  return v[0];
}

function isPlain(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number';
}

function comparable(c: Compiled): boolean {
  return !c.choice && (c.type === null || PLAIN.has(c.type));
}

function literal(n: AstNode | undefined): Compiled | null {
  if (!n) return null;
  if (n.type === 'BooleanLiteral') {
    const v = n.text === 'true';
    return { fn: () => [v], type: 'boolean' };
  }
  if (n.type === 'StringLiteral') {
    const raw = n.text ?? '';
    if (!/^'[^'\\]*'$/.test(raw)) return null;
    const v = raw.slice(1, -1);
    return { fn: () => [v], type: 'string' };
  }
  if (n.type === 'NumberLiteral' && /^\d{1,9}$/.test(n.text ?? '')) {
    const v = Number(n.text);
    return { fn: () => [v], type: 'integer' };
  }
  return null;
}

function integerLiteral(n: AstNode): number | null {
  let x: AstNode | undefined = n;
  while (x && (x.type === 'TermExpression' || x.type === 'LiteralTerm')) x = x.children?.[0];
  return x?.type === 'NumberLiteral' && /^\d{1,9}$/.test(x.text ?? '') ? Number(x.text) : null;
}

function stringParam(params: AstNode[] | undefined, i: number): string | null {
  let x: AstNode | undefined = params?.[i];
  while (x && (x.type === 'TermExpression' || x.type === 'LiteralTerm')) x = x.children?.[0];
  if (x?.type !== 'StringLiteral' || !/^'[^'\\]*'$/.test(x.text ?? '')) return null;
  return x.text!.slice(1, -1);
}

/** The static type of an element of a type (`Observation` + `code` → CodeableConcept; a backbone element is its path). */
function childType(parent: string, name: string): { type: string } | { choice: string[] } | null {
  let key = `${parent}.${name}`;
  key = MODEL.pathsDefinedElsewhere[key] ?? key;
  const t = MODEL.path2Type[key];
  if (t) return { type: t === 'BackboneElement' || t === 'Element' ? key : t };
  const choice = MODEL.choiceTypePaths[key];
  return choice ? { choice } : null;
}

/** A member of each item: its value, or each value of a list; a primitive with extensions (`_name`) needs FHIRPath.js. */
function member(items: unknown[], name: string): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    if (!item || typeof item !== 'object' || Array.isArray(item)) continue;
    const o = item as Record<string, unknown>;
    const v = o[name];
    if (`_${name}` in o) throw FALLBACK;
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      for (const x of v) {
        if (x === null || x === undefined) throw FALLBACK;
        out.push(x);
      }
    } else out.push(v);
  }
  return out;
}

function invoke(n: AstNode, left: Compiled, atRoot: boolean): Compiled | null {
  if (n.type === 'ThisInvocation') return atRoot ? { fn: identity, type: left.type } : null;
  if (n.type === 'MemberInvocation') {
    const name = n.text ?? '';
    // A type name at the root (`Patient.name`) is a type test in FHIRPath: FHIRPath.js does it.
    if (!/^[a-z][A-Za-z0-9]*$/.test(name) || !left.type || left.choice) return null;
    const t = childType(left.type, name);
    if (!t) return null;
    const parent = left.fn;
    if ('choice' in t) {
      const suffixes = t.choice;
      return {
        fn: (f, env) => {
          const out: unknown[] = [];
          for (const s of suffixes) out.push(...member(parent(f, env), name + s));
          return out;
        },
        type: null,
        choice: { parent, name, suffixes },
      };
    }
    return { fn: (f, env) => member(parent(f, env), name), type: t.type };
  }
  if (n.type !== 'FunctionInvocation') return null;
  const functn = n.children?.[0];
  const fname = functn?.children?.[0]?.text ?? '';
  const params = functn?.children?.[1]?.children;
  const nParams = params?.length ?? 0;
  const l = left.fn;
  switch (fname) {
    case 'first':
      return nParams ? null : left.choice ? null : { fn: (f, env) => l(f, env).slice(0, 1), type: left.type };
    case 'exists': {
      if (!nParams) return { fn: (f, env) => [l(f, env).length > 0], type: 'boolean' };
      if (nParams !== 1 || left.choice) return null;
      const crit = expr(params![0]!, left.type);
      return crit ? { fn: (f, env) => [l(f, env).some((x) => holds(crit.fn, x, env))], type: 'boolean' } : null;
    }
    case 'empty':
      return nParams ? null : { fn: (f, env) => [l(f, env).length === 0], type: 'boolean' };
    case 'count':
      return nParams ? null : { fn: (f, env) => [l(f, env).length], type: 'integer' };
    case 'not':
      return nParams ? null : { fn: (f, env) => { const b = single(l(f, env)); return b === null ? [] : [!b]; }, type: 'boolean' };
    case 'where': {
      if (nParams !== 1 || left.choice) return null;
      const crit = expr(params![0]!, left.type);
      return crit ? { fn: (f, env) => l(f, env).filter((x) => holds(crit.fn, x, env)), type: left.type } : null;
    }
    case 'ofType': {
      if (nParams !== 1) return null;
      const t = (params![0]!.text ?? '').replace(/^FHIR\./, '');
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(t)) return null;
      if (left.choice) {
        const suffix = t[0]!.toUpperCase() + t.slice(1);
        if (!left.choice.suffixes.includes(suffix)) return null;
        const { parent, name } = left.choice;
        return { fn: (f, env) => member(parent(f, env), name + suffix), type: t };
      }
      return left.type === t ? left : null;
    }
    case 'extension': {
      const url = nParams === 1 ? stringParam(params, 0) : null;
      if (url === null || left.choice) return null;
      return {
        fn: (f, env) => {
          const out: unknown[] = [];
          for (const e of member(l(f, env), 'extension')) if ((e as { url?: unknown }).url === url) out.push(e);
          return out;
        },
        type: 'Extension',
      };
    }
    case 'join': {
      const sep = nParams === 0 ? '' : nParams === 1 ? stringParam(params, 0) : null;
      if (sep === null || left.choice) return null;
      return {
        fn: (f, env) => {
          const xs = l(f, env);
          for (const x of xs) if (typeof x !== 'string') throw FALLBACK;
          return [xs.join(sep)];
        },
        type: 'string',
      };
    }
    case 'getResourceKey':
      return nParams || !atRoot
        ? null
        : { fn: (f) => f.flatMap((r) => (r && typeof r === 'object' && typeof (r as { resourceType?: unknown }).resourceType === 'string' && typeof (r as { id?: unknown }).id === 'string' ? [(r as { id: string }).id] : [])), type: 'id' };
    case 'getReferenceKey': {
      if (nParams > 1 || left.choice) return null;
      const type = nParams ? (params![0]!.text ?? '').replace(/^FHIR\./, '') : null;
      if (type !== null && !/^[A-Z][A-Za-z]+$/.test(type)) return null;
      return {
        fn: (f, env) =>
          l(f, env).flatMap((ref) => {
            const reference = ref && typeof ref === 'object' ? (ref as { reference?: unknown }).reference : undefined;
            const t = typeof reference === 'string' ? referenceTarget(reference) : null;
            return t && (type === null || t.type === type) ? [t.id] : [];
          }),
        type: 'id',
      };
    }
    default:
      return null;
  }
}

/** where()/exists() criteria on one item: true, false or nothing; anything else needs FHIRPath.js. */
function holds(crit: FastFn, item: unknown, env: Record<string, unknown>): boolean {
  const r = crit([item], env);
  if (!r.length) return false;
  if (r.length > 1 || typeof r[0] !== 'boolean') throw FALLBACK;
  return r[0];
}
