/**
 * JSON read with each number's text kept where its JavaScript value does not spell it: `1.0`,
 * `15.080`, `1e2` (JSON.parse gives 1, 15.08, 100, and Node 20's has no access to the source
 * text). A decimal's precision is in how it is written, and FHIRPath's `lowBoundary()` /
 * `highBoundary()` need it (`1.0` stands for [1.05, 1.1), `1` for [0.5, 1.5)); nothing else does,
 * so only views that call them read their input this way (boundaries.ts, fhirpath.ts). Values
 * are plain JSON values (numbers are numbers); the texts sit beside them in a WeakMap, keyed by
 * the object or array that holds the number. Tokenised by stream-json, which gives number tokens
 * as written. Pure.
 */
import { jsonParser, type Token } from 'stream-json/core/parser.js';

// stream-chain's protocol markers are registered symbols (as ingest/fhir/stream-bundle.ts uses them).
const NONE = Symbol.for('object-stream.none');
const MANY = Symbol.for('object-stream.many');

const written = new WeakMap<object, Map<string | number, string>>();

/** The text a number held by `holder` under `key` (a property name, or an array index) was written as, when its value does not spell it. */
export function writtenNumber(holder: unknown, key: string | number | null | undefined): string | undefined {
  if (!holder || typeof holder !== 'object' || key === null || key === undefined) return undefined;
  return written.get(holder)?.get(key);
}

/** True when the JSON text holds a number whose value does not spell it (a fraction ending in 0, an exponent, a leading +). */
function lossy(text: string): boolean {
  return String(Number(text)) !== text && !/^-?0$/.test(text);
}

/** Parses JSON text as JSON.parse does (a `__proto__` key is an own property), keeping the text of numbers it would lose. Throws SyntaxError on bad JSON. */
export function parseKeepingNumberText(text: string): unknown {
  const parse = jsonParser({ packValues: true, streamValues: false }) as unknown as (input: string | symbol) => unknown;
  const stack: (Record<string, unknown> | unknown[])[] = [];
  const keys: (string | null)[] = [];
  let result: unknown;
  let done = false;
  const put = (v: unknown, numberText?: string) => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      result = v;
      done = true;
      return;
    }
    const key: string | number = Array.isArray(top) ? top.length : (keys[keys.length - 1] as string);
    if (Array.isArray(top)) top.push(v);
    else if (key === '__proto__') Object.defineProperty(top, key, { value: v, enumerable: true, writable: true, configurable: true });
    else top[key as string] = v;
    if (numberText !== undefined) {
      let m = written.get(top);
      if (!m) written.set(top, (m = new Map()));
      m.set(key, numberText);
    }
  };
  const onToken = (t: Token) => {
    switch (t.name) {
      case 'startObject':
      case 'startArray': {
        const c = t.name === 'startObject' ? {} : [];
        put(c);
        done = false;
        stack.push(c);
        keys.push(null);
        break;
      }
      case 'endObject':
      case 'endArray': {
        const c = stack.pop();
        keys.pop();
        if (!stack.length) {
          result = c;
          done = true;
        }
        break;
      }
      case 'keyValue':
        keys[keys.length - 1] = t.value as string;
        break;
      case 'stringValue':
        put(t.value);
        break;
      case 'numberValue': {
        const s = t.value as string;
        put(Number(s), lossy(s) ? s : undefined);
        break;
      }
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        put(t.value);
        break;
      default:
        break;
    }
  };
  const drain = (out: unknown) => {
    if (out === NONE || out === undefined) return;
    const many = out as { [MANY]?: 1; values?: Token[] };
    if (many[MANY] === 1 && many.values) for (const t of many.values) onToken(t);
    else onToken(out as Token);
  };
  try {
    drain(parse(text));
    drain(parse(NONE));
  } catch (err) {
    throw new SyntaxError((err as Error).message);
  }
  if (!done) throw new SyntaxError('Unexpected end of JSON input');
  return result;
}

/** True when a ViewDefinition calls lowBoundary() or highBoundary(): only then does its input need the numbers' text. */
export function usesBoundaries(definition: unknown): boolean {
  return /\b(?:low|high)Boundary\s*\(/.test(JSON.stringify(definition ?? null));
}
