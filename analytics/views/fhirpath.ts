/**
 * FHIRPath for ViewDefinitions: HL7's FHIRPath.js with its R4 model, plus the functions the
 * SQL-on-FHIR v2 specification adds (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html#required-additional-functions):
 * `getResourceKey()` and `getReferenceKey([type])`, through FHIRPath.js's user invocation
 * table, `lowBoundary()` / `highBoundary()` as the suite expects them (on decimals, dates,
 * date-times, times and Periods: `boundaries.ts`; with a precision, FHIRPath.js's own), and
 * `join()` of nothing as the empty string. Also the static checks a view needs before it runs:
 * which `%constants` an expression uses and whether its type specifiers name real types. Pure.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { dateBoundary, dateTimeBoundary, decimalBoundary, numberText, timeBoundary } from './boundaries.ts';
import { writtenNumber } from './number-text.ts';

/** A compiled expression: the focus (a resource, or an element from an earlier evaluation) and the environment in, a collection out. */
export type Expression = (focus: unknown, env: Record<string, unknown>) => unknown[];

interface R4Model {
  availableTypes: Set<string>;
  type2Parent: Record<string, string>;
  path2Type: Record<string, string>;
}
export const R4_MODEL = r4 as unknown as R4Model;

/** The system types of FHIRPath (https://hl7.org/fhirpath/#types-and-reflection). */
const SYSTEM_TYPES = new Set(['Any', 'Boolean', 'String', 'Integer', 'Long', 'Decimal', 'Date', 'DateTime', 'Time', 'Quantity']);

/** True when `name` is a FHIR R4 resource type. */
export function isResourceType(name: string): boolean {
  if (name === 'Resource' || name === 'DomainResource') return false;
  let t: string | undefined = name;
  for (let i = 0; t && i < 4; i++) {
    t = R4_MODEL.type2Parent[t];
    if (t === 'Resource' || t === 'DomainResource') return R4_MODEL.availableTypes.has(name);
  }
  return false;
}

/** True when a type specifier (`Quantity`, `FHIR.Quantity`, `System.String`) names a type FHIRPath knows. */
export function isTypeSpecifier(spec: string): boolean {
  const parts = spec.split('.').map((p) => p.replace(/^`|`$/g, ''));
  if (parts.length === 2 && parts[0] === 'System') return SYSTEM_TYPES.has(parts[1]!);
  const name = parts.length === 2 && parts[0] === 'FHIR' ? parts[1]! : parts.length === 1 ? parts[0]! : '';
  const fhirType = R4_MODEL.availableTypes.has(name) || name === 'Resource' || name === 'DomainResource' || name === 'Element' || name === 'BackboneElement';
  // An unqualified name that is no FHIR type resolves in the System namespace (https://hl7.org/fhirpath/#models):
  // `ofType(Time)` is `ofType(System.Time)`, which FHIRPath.js matches on a FHIR `time`.
  return fhirType || (parts.length === 1 && SYSTEM_TYPES.has(name));
}

/** The id of the resource part of a reference (`Patient/123`, `https://x/fhir/Patient/123/_history/2`), with its type; null for anything else (`#contained`, `urn:uuid:`). */
export function referenceTarget(reference: string): { type: string; id: string } | null {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(reference);
  return m ? { type: m[1]!, id: m[2]! } : null;
}

interface TypeInfoLike {
  name?: string;
  namespace?: string;
}

/** Plain-valued access to a FHIRPath.js node (a ResourceNode keeps its value in `data`). */
function dataOf(x: unknown): unknown {
  return x && typeof x === 'object' && 'data' in x && 'path' in x ? (x as { data: unknown }).data : x;
}

// With a precision, and on values other than those below, boundaries are the library's own, evaluated without this table.
const plainLow = fhirpath.compile('$this.lowBoundary()', r4);
const plainHigh = fhirpath.compile('$this.highBoundary()', r4);
const plainLowP = fhirpath.compile('$this.lowBoundary(%precision)', r4);
const plainHighP = fhirpath.compile('$this.highBoundary(%precision)', r4);
const periodLowP = fhirpath.compile('start.lowBoundary(%precision)', r4, { resolveInternalTypes: false });
const periodHighP = fhirpath.compile('end.highBoundary(%precision)', r4, { resolveInternalTypes: false });

// FHIRPath.js's date and time classes (not exported by the package), from literals of each kind.
type TimeClass = new (ctx: unknown, text: string) => object;
const classOf = (literal: string) => (fhirpath.evaluate({}, literal, {}, r4, { resolveInternalTypes: false }) as object[])[0]!.constructor as TimeClass;
const FP_DATE = classOf('@2000-01-01');
const FP_DATE_TIME = classOf('@2000-01-01T00:00');
const FP_TIME = classOf('@T00:00');

interface FhirNode {
  fhirNodeDataType?: string;
  data?: unknown;
  parentResNode?: { data?: unknown } | null;
  propName?: string | null;
  index?: number | null;
}

/** A decimal's text as its input was written (`1.0`), where the input was read keeping it (number-text.ts); else undefined. */
function asWritten(node: FhirNode): string | undefined {
  const holder = node.parentResNode?.data as Record<string, unknown> | undefined;
  if (!holder || typeof holder !== 'object' || !node.propName) return undefined;
  const text = node.index !== null && node.index !== undefined ? writtenNumber(holder[node.propName], node.index) : writtenNumber(holder, node.propName);
  return text !== undefined && /^[+-]?\d+(?:\.\d+)?$/.test(text) ? text : undefined;
}

/** The kind and text of a value the suite's boundaries apply to, or null (then the library's). */
function boundaryInput(x: unknown): { kind: 'decimal' | 'date' | 'dateTime' | 'time' | 'Period'; value: unknown } | null {
  if (typeof x === 'number') return { kind: 'decimal', value: numberText(x) };
  if (!x || typeof x !== 'object') return null;
  if (x instanceof FP_DATE) return { kind: 'date', value: String(x) };
  if (x instanceof FP_DATE_TIME) return { kind: 'dateTime', value: String(x) };
  if (x instanceof FP_TIME) return { kind: 'time', value: String(x) };
  if (x instanceof fhirpath.FP_Decimal) return { kind: 'decimal', value: (x as { asStr?: string }).asStr ?? String(x) };
  const node = x as FhirNode;
  const data = node.data;
  switch (node.fhirNodeDataType) {
    case 'decimal':
      if (typeof data === 'number') return { kind: 'decimal', value: asWritten(node) ?? numberText(data) };
      if (data instanceof fhirpath.FP_Decimal) return { kind: 'decimal', value: asWritten(node) ?? (data as { asStr?: string }).asStr ?? String(data) };
      return null;
    case 'date':
      return typeof data === 'string' ? { kind: 'date', value: data } : null;
    case 'dateTime':
    case 'instant':
      return typeof data === 'string' ? { kind: 'dateTime', value: data } : null;
    case 'time':
      return typeof data === 'string' ? { kind: 'time', value: data } : null;
    case 'Period':
      return { kind: 'Period', value: data };
    default:
      return null;
  }
}

function boundary(low: boolean) {
  return function (this: unknown, inputs: unknown[], precision?: unknown[]): unknown[] {
    if (!inputs.length) return [];
    if (inputs.length > 1) throw new Error(`${low ? 'lowBoundary' : 'highBoundary'}() expects a single value, got ${inputs.length}`);
    const x = inputs[0];
    const p = precision === undefined ? undefined : dataOf(Array.isArray(precision) ? precision[0] : precision);
    const input = boundaryInput(x);
    if (p !== undefined) {
      const fn = input?.kind === 'Period' ? (low ? periodLowP : periodHighP) : low ? plainLowP : plainHighP;
      return fn(x, { precision: p }) as unknown[];
    }
    if (!input) return (low ? plainLow : plainHigh)(x, {}) as unknown[];
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    let out: unknown = null;
    switch (input.kind) {
      case 'decimal':
        out = decimalBoundary(input.value as string, low);
        break;
      case 'date': {
        const s = dateBoundary(input.value as string, low);
        out = s === null ? null : new FP_DATE(this, s);
        break;
      }
      case 'dateTime':
      case 'Period': {
        // A Period's low boundary is its start's, its high boundary its end's (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html#required-additional-functions).
        const period = input.value as { start?: unknown; end?: unknown } | null;
        const v = input.kind === 'Period' ? text(low ? period?.start : period?.end) : text(input.value);
        const s = v === null ? null : dateTimeBoundary(v, low);
        out = s === null ? null : new FP_DATE_TIME(this, s);
        break;
      }
      case 'time': {
        const s = timeBoundary(input.value as string, low);
        out = s === null ? null : new FP_TIME(this, s);
        break;
      }
    }
    return out === null ? [] : [out];
  };
}

/** The SQL-on-FHIR functions, for FHIRPath.js's `userInvocationTable`. */
const SQL_ON_FHIR_FUNCTIONS = {
  /** The row key of the resource the function is invoked on: its id (the store presents every resource with its stable id). */
  getResourceKey: {
    fn: (inputs: unknown[]) => inputs.flatMap((r) => (r && typeof r === 'object' && typeof (r as { resourceType?: unknown }).resourceType === 'string' && typeof (r as { id?: unknown }).id === 'string' ? [(r as { id: string }).id] : [])),
    arity: { 0: [] },
  },
  /** The key of the resource a Reference points at, equal to that resource's getResourceKey(); empty when the reference is not to the given type or cannot be read. */
  getReferenceKey: {
    fn: (inputs: unknown[], type?: TypeInfoLike) =>
      inputs.flatMap((ref) => {
        const reference = ref && typeof ref === 'object' ? (ref as { reference?: unknown }).reference : undefined;
        if (typeof reference !== 'string') return [];
        const target = referenceTarget(reference);
        if (!target) return [];
        if (type?.name && type.name !== target.type) return [];
        return [target.id];
      }),
    arity: { 0: [], 1: ['TypeSpecifier'] },
  },
  /** join([separator]): as FHIRPath.js's, but the join of nothing is the empty string, as the SQL-on-FHIR suite expects ("" for a patient with no given names). */
  join: {
    fn: (inputs: unknown[], separator?: unknown) =>
      [inputs.map((x) => {
        if (typeof x === 'string') return x;
        if (typeof x === 'number' || typeof x === 'boolean') return String(x);
        throw new Error('join() takes a collection of strings');
      }).join(typeof separator === 'string' ? separator : '')],
    arity: { 0: [], 1: ['String'] },
  },
  lowBoundary: { fn: boundary(true), arity: { 0: [], 1: ['Integer'] }, internalStructures: true },
  highBoundary: { fn: boundary(false), arity: { 0: [], 1: ['Integer'] }, internalStructures: true },
};

/**
 * Compiles an expression for evaluation. `keepNodes` keeps FHIRPath.js's typed nodes in the
 * result (for forEach and repeat, so that `value.ofType(Quantity)` still knows the types of the
 * elements below); otherwise values come out as plain JSON values.
 */
export function compileExpression(expression: string, keepNodes = false): Expression {
  const fn = fhirpath.compile(expression, r4, { userInvocationTable: SQL_ON_FHIR_FUNCTIONS as never, resolveInternalTypes: !keepNodes });
  return (focus, env) => fn(focus as never, env as never) as unknown[];
}

/** Compiles an expression over JSON elements of a known type (`Observation.component`, `CodeableConcept`), so that choice elements and types resolve as they would from the resource. */
export function compileExpressionAt(expression: string, base: string, keepNodes = false): Expression {
  const fn = fhirpath.compile({ base, expression } as never, r4, { userInvocationTable: SQL_ON_FHIR_FUNCTIONS as never, resolveInternalTypes: !keepNodes });
  return (focus, env) => fn(focus as never, env as never) as unknown[];
}

/**
 * The expression with each type specifier that names a FHIR primitive type capitalised, as a
 * choice element's name spells it (`ofType(Instant)` for `effectiveInstant`), written as the
 * model names it (`ofType(instant)`). The suite's views (constant_types.json) and views written
 * for other engines use that form; FHIRPath.js refuses it, type names being case-sensitive. A name
 * that is a type already (`Quantity`, `Time`, i.e. `System.Time`) is left as it is.
 */
export function withModelTypeNames(expression: string): string {
  const edits: { line: number; column: number; length: number; name: string }[] = [];
  const visit = (n: AstNode & { start?: { line: number; column: number }; length?: number }, inTypeArg: boolean): void => {
    if (inTypeArg && n.type === 'Identifier' && n.start && n.length && n.text && !isTypeSpecifier(n.text)) {
      const lower = n.text[0]!.toLowerCase() + n.text.slice(1);
      if (/^[a-z]/.test(lower) && R4_MODEL.availableTypes.has(lower)) edits.push({ ...n.start, length: n.length, name: lower });
    }
    if (n.type === 'Functn') {
      const [name, params] = n.children ?? [];
      const typed = ['ofType', 'is', 'as'].includes(name?.text ?? '') && params?.type === 'ParamList';
      for (const c of n.children ?? []) visit(c, typed && c === params);
      return;
    }
    const spec = n.type === 'TypeExpression' ? n.children?.[1] : undefined;
    for (const c of n.children ?? []) visit(c, inTypeArg || c === spec);
  };
  visit(fhirpath.parse(expression) as AstNode, false);
  if (!edits.length) return expression;
  const lines = expression.split('\n');
  // Right to left, so earlier positions stay true; FHIRPath.js counts lines and columns from 1.
  for (const e of edits.sort((a, b) => b.line - a.line || b.column - a.column)) {
    const l = lines[e.line - 1]!;
    lines[e.line - 1] = l.slice(0, e.column - 1) + e.name + l.slice(e.column - 1 + e.length);
  }
  return lines.join('\n');
}

/** A FHIR value as a FHIRPath value of its type (a date as a Date, not a String), for a constant. */
export function typedLiteral(literal: string): unknown {
  const [v] = fhirpath.evaluate({}, literal, {}, r4, { resolveInternalTypes: false }) as unknown[];
  return v;
}

interface AstNode {
  type: string;
  text?: string;
  delimitedText?: string;
  children?: AstNode[];
}

/** What an expression uses that can be checked before it runs: the %names, and the type specifiers given to ofType, is, as and getReferenceKey. */
export interface ExpressionUses {
  constants: string[];
  typeSpecifiers: { fn: string; type: string }[];
}

/** Parses an expression (throwing FHIRPath.js's syntax error) and lists what it uses. */
export function expressionUses(expression: string): ExpressionUses {
  const ast = fhirpath.parse(expression) as AstNode;
  const out: ExpressionUses = { constants: [], typeSpecifiers: [] };
  const visit = (n: AstNode): void => {
    if (n.type === 'ExternalConstantTerm') out.constants.push(n.delimitedText ?? n.text ?? '');
    if (n.type === 'Functn') {
      const [name, params] = n.children ?? [];
      const fn = name?.text ?? '';
      if (['ofType', 'is', 'as', 'getReferenceKey'].includes(fn) && params?.type === 'ParamList') {
        for (const p of params.children ?? []) out.typeSpecifiers.push({ fn, type: (p.text ?? '').trim() });
      }
    }
    if (n.type === 'TypeExpression') {
      const spec = n.children?.[1];
      if (spec) out.typeSpecifiers.push({ fn: n.text ?? 'is', type: textOf(spec) });
    }
    for (const c of n.children ?? []) visit(c);
  };
  visit(ast);
  return out;
}

function textOf(n: AstNode): string {
  return n.text ?? (n.children ?? []).map(textOf).join('.');
}

/** Variables FHIRPath.js defines itself (%ucum, %context, %factory) and %rowIndex (SQL-on-FHIR 2.1: the focus's index in its forEach or repeat). */
export const BUILT_IN_VARIABLES = new Set(['ucum', 'context', 'factory', 'rowIndex']);
