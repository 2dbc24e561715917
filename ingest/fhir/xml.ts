/**
 * FHIR R4 XML → the FHIR JSON form, as https://hl7.org/fhir/R4/xml.html and json.html define it,
 * streaming (a SAX parser; the XML text is never held, only the JSON being built).
 *
 * - `value` attributes become JSON values (boolean, integer and decimal types as JSON numbers);
 *   an element repeats (→ array) exactly when its R4 definition has max `*`;
 * - `id` and `extension` on a primitive go in the `_name` sibling (arrays kept aligned, `null`
 *   where an item has none); `url`/`id` attributes on complex elements become properties;
 * - Narrative `div` (XHTML) becomes a string of its XHTML; choice elements keep their names
 *   (`valueQuantity`); `contained`, `Bundle.entry.resource`, `outcome` and
 *   `Parameters.parameter.resource` unwrap to the resource, with its `resourceType`;
 * - comments and processing instructions are ignored.
 *
 * The R4 model (types, cardinality, content references) is fhirpath.js's R4 model
 * (fhirpath/fhir-context/r4), generated from the R4 StructureDefinitions.
 *
 * Hostile XML: a DOCTYPE is refused (so no entity can be declared: no XXE, no billion laughs);
 * only XML's predefined and character entities are expanded, and the HTML named ones (fixed
 * characters); nesting is bounded; element names never reach an object's prototype.
 */
import { createRequire } from 'node:module';
import { R4_RESOURCE_TYPES } from './r4.ts';
import { isStu3Profile, STU3_ONLY_TYPES } from './stu3.ts';

export const FHIR_NS = 'http://hl7.org/fhir';
const XHTML_NS = 'http://www.w3.org/1999/xhtml';

// sax is CommonJS; typed here to the little of it used (no @types package needed).
interface SaxAttr { name: string; value: string; prefix: string; local: string; uri: string }
interface SaxTag { name: string; local: string; uri: string; prefix: string; attributes: Record<string, SaxAttr>; isSelfClosing: boolean }
interface SaxParser {
  line: number;
  column: number;
  onopentag: (tag: SaxTag) => void;
  onclosetag: (name: string) => void;
  ontext: (text: string) => void;
  oncdata: (text: string) => void;
  ondoctype: (doctype: string) => void;
  onerror: (err: Error) => void;
  write(chunk: string): SaxParser;
  close(): SaxParser;
}
const require = createRequire(import.meta.url);
const sax = require('sax') as { parser(strict: boolean, opt: Record<string, unknown>): SaxParser };

interface R4Model {
  path2Type: Record<string, string | { code: string }>;
  path2Repeating: Record<string, boolean>;
  pathsDefinedElsewhere: Record<string, string>;
  type2Parent: Record<string, string>;
}
const r4Model = require('fhirpath/fhir-context/r4') as R4Model;
// STU3 content (a GP Connect bundle) is shaped by the STU3 model, then converted to R4 (stu3.ts).
const stu3Model = require('fhirpath/fhir-context/stu3') as R4Model;

/** Why an XML file is not FHIR R4 XML we can read; the message is the quarantine reason. */
export class FhirXmlError extends Error {}

export interface FhirXmlLimits {
  /** Element nesting deeper than this is refused. Default 100 (as for JSON, walk.ts). */
  maxDepth?: number;
  /** At most this many Bundle entries (all are kept). Default 500,000. */
  maxEntries?: number;
  /** At most this many characters of values (attributes, text). Default 128 Mi. */
  maxValueChars?: number;
}

type Json = Record<string, unknown>;
const hasOwn = Object.hasOwn;

/** Sets a property as JSON.parse would: `__proto__` becomes an own property, not the prototype. */
function put(obj: Json, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}
const get = (obj: Json, key: string): unknown => (hasOwn(obj, key) ? obj[key] : undefined);

interface Resolved {
  /** Type code: a primitive (`string`, `System.String`…), `xhtml`, `Resource`, or a complex type / backbone. */
  type: string;
  /** Where the element's own children are defined (a type name, or a backbone element's path). */
  childPath: string;
  repeats: boolean;
}

const resolvedCache = new Map<string, Resolved | null>();

/** The R4 (or STU3) definition of element `name` of `owner` (a type name or backbone path), searching base types. */
function resolve(owner: string, name: string, stu3 = false): Resolved | null {
  const key = `${stu3 ? '3' : '4'}|${owner}|${name}`;
  const model = stu3 ? stu3Model : r4Model;
  const hit = resolvedCache.get(key);
  if (hit !== undefined) return hit;
  let found: Resolved | null = null;
  for (let t: string | undefined = owner; t && !found; t = hasOwn(model.type2Parent, t) ? model.type2Parent[t] : t.includes('.') ? 'BackboneElement' : undefined) {
    let path = `${t}.${name}`;
    if (hasOwn(model.pathsDefinedElsewhere, path)) path = model.pathsDefinedElsewhere[path]!;
    if (!hasOwn(model.path2Type, path)) continue;
    const raw = model.path2Type[path]!;
    const type = typeof raw === 'string' ? raw : raw.code;
    const backbone = type === 'BackboneElement' || type === 'Element';
    found = { type, childPath: backbone ? path : type, repeats: hasOwn(model.path2Repeating, path) };
  }
  resolvedCache.set(key, found);
  return found;
}

const isPrimitive = (type: string): boolean => type.startsWith('System.') || (type !== 'xhtml' && type[0] === type[0]!.toLowerCase());
const NUMERIC = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal', 'System.Integer', 'System.Decimal']);
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** A primitive's JSON value: numbers and booleans typed; anything malformed kept as text for validation to judge. */
function primitiveValue(type: string, text: string): unknown {
  if (type === 'boolean' || type === 'System.Boolean') return text === 'true' ? true : text === 'false' ? false : text;
  if (NUMERIC.has(type) && JSON_NUMBER.test(text)) return Number(text);
  return text;
}

type Frame =
  | { kind: 'resource'; name: string; obj: Json; childPath: string | null; stu3: boolean }
  | { kind: 'complex'; name: string; obj: Json; childPath: string | null; repeats: boolean | null; stu3: boolean }
  | { kind: 'primitive'; name: string; type: string; value: unknown; under: Json | null; repeats: boolean | null }
  | { kind: 'wrapper'; name: string; resource: Json | null; repeats: boolean; stu3: boolean };

const escText = (s: string): string => s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
const escAttr = (s: string): string => s.replace(/[&<"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&quot;'));

/**
 * A push converter: `write` text chunks, then `end` for the resource (a Bundle or any resource).
 * Throws FhirXmlError for anything that is not FHIR R4 XML, with line and column.
 */
export class FhirXmlConverter {
  private readonly parser: SaxParser;
  private readonly stack: Frame[] = [];
  private root: Json | null = null;
  private xhtml: { parts: string[]; open: (string | null)[]; parent: Frame & { kind: 'complex' }; name: string } | null = null;
  private chars = 0;
  private entries = 0;
  private readonly maxDepth: number;
  private readonly maxEntries: number;
  private readonly maxValueChars: number;

  constructor(limits: FhirXmlLimits = {}) {
    this.maxDepth = limits.maxDepth ?? 100;
    this.maxEntries = limits.maxEntries ?? 500_000;
    this.maxValueChars = limits.maxValueChars ?? 128 * 1024 * 1024;
    // Strict XML with namespaces; no `trim` (XHTML keeps its spaces).
    const p = sax.parser(true, { xmlns: true, position: true });
    p.onerror = (err) => this.fail(`not well-formed XML: ${err.message.split('\n')[0]}`);
    p.ondoctype = () => this.fail('the XML has a DOCTYPE declaration, which FHIR XML does not allow (and Bevan refuses, so that no entity can be declared): send the resource without it');
    p.onopentag = (tag) => this.open(tag);
    p.onclosetag = () => this.close();
    p.ontext = (t) => this.text(t);
    p.oncdata = (t) => this.text(t);
    this.parser = p;
  }

  private fail(reason: string): never {
    throw new FhirXmlError(`FHIR XML, line ${this.parser.line + 1} column ${this.parser.column + 1}: ${reason}`);
  }

  private count(s: string): void {
    this.chars += s.length;
    if (this.chars > this.maxValueChars) this.fail(`the values in the file exceed ${this.maxValueChars} characters, more than Bevan reads from one file: split it`);
  }

  write(chunk: string): void {
    this.parser.write(chunk);
  }

  end(): Json {
    this.parser.close();
    if (!this.root) throw new FhirXmlError('FHIR XML: the file holds no resource');
    return this.root;
  }

  private open(tag: SaxTag): void {
    if (this.xhtml) {
      this.xhtml.open.push(tag.isSelfClosing ? null : tag.local);
      if (this.xhtml.open.length + this.stack.length > this.maxDepth) this.fail(`elements are nested more than ${this.maxDepth} deep`);
      this.xhtml.parts.push(`<${tag.local}${this.xhtmlAttrs(tag)}${tag.isSelfClosing ? '/>' : '>'}`);
      return;
    }
    if (this.stack.length >= this.maxDepth) this.fail(`elements are nested more than ${this.maxDepth} deep`);
    const parent = this.stack[this.stack.length - 1];
    const name = tag.local;
    if (!parent) {
      if (this.root) this.fail('more than one root element');
      if (tag.uri !== FHIR_NS) this.fail(`the root element <${tag.name}> is not in the FHIR namespace ${FHIR_NS}`);
      this.stack.push(this.resourceFrame(name, false));
      return;
    }
    if (parent.kind === 'wrapper') {
      if (parent.resource) this.fail(`<${parent.name}> holds more than one resource`);
      if (tag.uri !== FHIR_NS) this.fail(`<${tag.name}> inside <${parent.name}> is not in the FHIR namespace`);
      // Not an R4 type inside a Bundle entry (an older version's MedicationPrescription): kept
      // shaped by what it holds, so that the Bundle rejects that entry alone, as for JSON.
      this.stack.push(R4_RESOURCE_TYPES.has(name) || STU3_ONLY_TYPES.has(name) ? this.resourceFrame(name, parent.stu3) : { kind: 'resource', name, obj: { resourceType: name }, childPath: null, stu3: parent.stu3 });
      return;
    }
    if (tag.uri === XHTML_NS || (parent.kind !== 'primitive' && parent.childPath && resolve(parent.childPath, name, parent.stu3)?.type === 'xhtml')) {
      if (parent.kind === 'primitive' || tag.uri !== XHTML_NS) this.fail(`<${tag.name}>: XHTML must be a <div> in the XHTML namespace ${XHTML_NS}`);
      this.xhtml = { parts: [`<${name} xmlns="${XHTML_NS}"${this.xhtmlAttrs(tag)}${tag.isSelfClosing ? '/>' : '>'}`], open: [tag.isSelfClosing ? null : name], parent: parent as Frame & { kind: 'complex' }, name };
      return;
    }
    if (tag.uri !== FHIR_NS) this.fail(`<${tag.name}> is not in the FHIR namespace ${FHIR_NS}`);
    const id = this.attr(tag, 'id');
    const value = this.attr(tag, 'value');
    if (parent.kind === 'primitive') {
      if (name !== 'extension') this.fail(`<${name}> inside the primitive <${parent.name}> (a primitive holds only extensions)`);
      this.stack.push({ kind: 'complex', name, obj: this.complexObj(tag, id), childPath: 'Extension', repeats: true, stu3: false });
      return;
    }
    const def = parent.childPath ? resolve(parent.childPath, name, parent.stu3) : null;
    // A value attribute where the model has a complex type (an STU3 code that R4 made a
    // CodeableConcept, sent without an STU3 profile): kept as its text, as an unknown element is.
    if (!def || (value !== undefined && !isPrimitive(def.type) && def.type !== 'Resource' && def.type !== 'xhtml')) {
      // Not an R4 element here (a typo, a later version): kept, as JSON would keep it, shaped
      // by what it holds; it repeats only if it does repeat.
      if (value !== undefined) this.stack.push({ kind: 'primitive', name, type: 'string', value, under: id !== undefined ? { id } : null, repeats: null });
      else this.stack.push({ kind: 'complex', name, obj: this.complexObj(tag, id), childPath: null, repeats: null, stu3: parent.stu3 });
      return;
    }
    if (def.type === 'Resource') {
      this.stack.push({ kind: 'wrapper', name, resource: null, repeats: def.repeats, stu3: parent.stu3 });
      return;
    }
    if (isPrimitive(def.type)) {
      this.stack.push({ kind: 'primitive', name, type: def.type, value: value === undefined ? undefined : primitiveValue(def.type, value), under: id !== undefined ? { id } : null, repeats: def.repeats });
      return;
    }
    if (name === 'entry' && parent.kind === 'resource' && parent.name === 'Bundle' && ++this.entries > this.maxEntries) {
      this.fail(`the Bundle has more than ${this.maxEntries} entries, more than Bevan reads from one file: split it`);
    }
    this.stack.push({ kind: 'complex', name, obj: this.complexObj(tag, id), childPath: def.childPath, repeats: def.repeats, stu3: parent.stu3 });
  }

  /** A resource's frame; STU3 when inside an STU3 resource (a Bundle) or of a type only STU3 has. */
  private resourceFrame(name: string, stu3: boolean): Frame {
    const stu3Only = STU3_ONLY_TYPES.has(name);
    if (!R4_RESOURCE_TYPES.has(name) && !stu3Only) this.fail(`<${name}> is not an R4 resource type`);
    return { kind: 'resource', name, obj: { resourceType: name }, childPath: name, stu3: stu3 || stu3Only };
  }

  private attr(tag: SaxTag, local: string): string | undefined {
    const a = hasOwn(tag.attributes, local) ? tag.attributes[local] : undefined;
    if (!a || a.uri) return undefined;
    this.count(a.value);
    return a.value;
  }

  /** A complex element's object: its `id` and (extensions) `url` attributes first, as in JSON. */
  private complexObj(tag: SaxTag, id: string | undefined): Json {
    const obj: Json = {};
    if (id !== undefined) obj.id = id;
    const url = this.attr(tag, 'url');
    if (url !== undefined) obj.url = url;
    return obj;
  }

  private xhtmlAttrs(tag: SaxTag): string {
    let s = '';
    for (const a of Object.values(tag.attributes)) {
      if (a.name === 'xmlns' || a.prefix === 'xmlns') continue; // the div's xmlns is written once
      this.count(a.value);
      s += ` ${a.name}="${escAttr(a.value)}"`;
    }
    return s;
  }

  private text(t: string): void {
    if (this.xhtml) {
      this.count(t);
      this.xhtml.parts.push(escText(t));
      return;
    }
    if (/\S/.test(t)) {
      const top = this.stack[this.stack.length - 1];
      this.fail(`text ${JSON.stringify(t.trim().slice(0, 40))} in ${top ? `<${top.name}>` : 'the document'}: FHIR XML puts values in value attributes`);
    }
  }

  private close(): void {
    if (this.xhtml) {
      const x = this.xhtml;
      // sax reports a self-closing tag's close too: `<br/>` was written whole already.
      const name = x.open.pop();
      if (name) x.parts.push(`</${name}>`);
      if (x.open.length === 0) {
        this.xhtml = null;
        this.setChild(x.parent.obj, x.name, x.parts.join(''), false);
      }
      return;
    }
    const frame = this.stack.pop()!;
    const parent = this.stack[this.stack.length - 1];
    if (frame.kind === 'resource') {
      if (!parent) this.root = frame.obj;
      else if (parent.kind === 'wrapper') parent.resource = frame.obj;
      return;
    }
    if (!parent || parent.kind === 'wrapper') return; // cannot happen: a wrapper holds resources only
    const target = parent.kind === 'primitive' ? (parent.under ??= {}) : parent.obj;
    if (frame.kind === 'wrapper') {
      if (frame.resource) this.setChild(target, frame.name, frame.resource, frame.repeats);
    } else if (frame.kind === 'complex') {
      this.setChild(target, frame.name, frame.obj, parent.kind === 'primitive' ? true : frame.repeats);
    } else {
      this.setPrimitive(target, frame.name, frame.value, frame.under, frame.repeats);
      // A resource's meta.profile naming an STU3 profile: what follows meta is read by the STU3 model.
      const owner = this.stack[this.stack.length - 2];
      if (frame.name === 'profile' && parent.kind === 'complex' && parent.name === 'meta' && owner?.kind === 'resource' && typeof frame.value === 'string' && isStu3Profile(frame.value)) owner.stu3 = true;
    }
  }

  /** A complex child (or a primitive's JSON value, or an XHTML string). */
  private setChild(obj: Json, name: string, value: unknown, repeats: boolean | null): void {
    const cur = get(obj, name);
    if (repeats === true) {
      if (Array.isArray(cur)) cur.push(value);
      else put(obj, name, [value]);
      return;
    }
    if (cur === undefined) put(obj, name, value);
    else if (repeats === null) put(obj, name, Array.isArray(cur) ? [...cur, value] : [cur, value]);
    else this.fail(`<${name}> appears more than once, but R4 allows it once here`);
  }

  /** A primitive: its value under `name`, its id/extensions under `_name`, arrays aligned. */
  private setPrimitive(obj: Json, name: string, value: unknown, under: Json | null, repeats: boolean | null): void {
    const uname = `_${name}`;
    const cur = get(obj, name);
    const curU = get(obj, uname);
    const present = cur !== undefined || curU !== undefined;
    if (repeats === true || (repeats === null && present)) {
      const n = Math.max(Array.isArray(cur) ? cur.length : cur === undefined ? 0 : 1, Array.isArray(curU) ? curU.length : curU === undefined ? 0 : 1);
      const values = Array.isArray(cur) ? cur : cur === undefined ? new Array(n).fill(null) : [cur];
      while (values.length < n) values.push(null);
      values.push(value === undefined ? null : value);
      put(obj, name, values);
      if (under || curU !== undefined) {
        const us = Array.isArray(curU) ? curU : curU === undefined ? new Array(n).fill(null) : [curU];
        while (us.length < n) us.push(null);
        us.push(under);
        put(obj, uname, us);
      }
      return;
    }
    if (present) this.fail(`<${name}> appears more than once, but R4 allows it once here`);
    if (value !== undefined) put(obj, name, value);
    if (under) put(obj, uname, under);
  }
}

/** Converts a whole FHIR XML text (tests, small files). */
export function fhirXmlToJson(text: string, limits?: FhirXmlLimits): Json {
  const c = new FhirXmlConverter(limits);
  c.write(text);
  return c.end();
}

/** Converts FHIR XML text arriving in chunks, holding only the JSON built. */
export async function fhirXmlStreamToJson(chunks: AsyncIterable<string>, limits?: FhirXmlLimits): Promise<Json> {
  const c = new FhirXmlConverter(limits);
  for await (const t of chunks) c.write(t);
  return c.end();
}

/**
 * True when a file's head is XML whose root element is in the FHIR namespace (after an XML
 * declaration, comments, processing instructions, or a DOCTYPE, which the converter then refuses
 * with its reason).
 */
export function sniffFhirXml(head: string): boolean {
  const root = xmlRoot(head);
  if (!root) return false;
  const ns = new RegExp(`\\bxmlns${root.prefix ? `:${root.prefix.replace(/\./g, '\\.')}` : ''}\\s*=\\s*["']${FHIR_NS.replace(/[./]/g, '\\$&')}["']`);
  return ns.test(root.attributes);
}

/**
 * The name of the root element when it is a FHIR R4 resource type (Bundle included) written with
 * no namespace at all (`<Observation>`, as in some published examples): FHIR XML is always in the
 * FHIR namespace, so the file is not read, but the reason can say what to add. Else null.
 */
export function fhirTypeWithoutNamespace(head: string): string | null {
  const root = xmlRoot(head);
  if (!root || root.prefix || /\bxmlns\s*=/.test(root.attributes)) return null;
  return R4_RESOURCE_TYPES.has(root.name) ? root.name : null;
}

/** The root element of XML text (after a declaration, comments, processing instructions, a DOCTYPE). */
function xmlRoot(head: string): { prefix?: string; name: string; attributes: string } | null {
  let s = head.charCodeAt(0) === 0xfeff ? head.slice(1) : head;
  for (;;) {
    s = s.trimStart();
    if (s.startsWith('<?')) s = s.slice(s.indexOf('?>') + 2 || s.length);
    else if (s.startsWith('<!--')) s = s.slice(s.indexOf('-->') + 3 || s.length);
    else if (s.startsWith('<!DOCTYPE')) {
      const subset = s.indexOf('[');
      const gt = s.indexOf('>');
      s = s.slice(subset >= 0 && subset < gt ? s.indexOf(']>') + 2 || s.length : gt + 1 || s.length);
    } else break;
    if (s === '') return null;
  }
  const m = /^<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)([^>]*)>/.exec(s);
  if (!m) return null;
  return { ...(m[1] ? { prefix: m[1] } : {}), name: m[2]!, attributes: m[3]! };
}
