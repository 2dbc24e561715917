/**
 * Reads one large JSON Bundle from a text stream without holding the text: stream-json
 * tokenises it, and we build only `resourceType`, `id`, `type`, `meta` and each `entry`,
 * skipping every other top-level value token by token. No single value (an entry, a string)
 * may exceed `maxValueChars`, so a 1 GB string in a corrupt file never reaches memory.
 */
import { jsonParser, type Token } from 'stream-json/core/parser.js';

// stream-chain's protocol markers are registered symbols, so we need not import stream-chain.
const NONE = Symbol.for('object-stream.none');
const MANY = Symbol.for('object-stream.many');

const KEPT_TOP_KEYS = new Set(['resourceType', 'id', 'type', 'meta']);

/** Raised for text that is not a JSON object or is too large to keep part of. */
export class BundleStreamError extends Error {}

type Container = Record<string, unknown> | unknown[];

/** Builds one JSON value from tokens (all values arrive as chunks), with a size cap. */
class ValueBuilder {
  private stack: Container[] = [];
  private keys: (string | null)[] = [];
  private text = '';
  chars = 0;
  done = false;
  value: unknown = undefined;

  constructor(
    private readonly maxChars: number,
    private readonly what: string,
  ) {}

  private grow(n: number): void {
    this.chars += n;
    if (this.chars > this.maxChars) throw new BundleStreamError(`${this.what} is larger than ${this.maxChars} characters`);
  }

  private put(v: unknown): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      this.value = v;
      this.done = true;
    } else if (Array.isArray(top)) top.push(v);
    else {
      const key = this.keys[this.keys.length - 1] as string;
      // Plain assignment of `__proto__` would replace the object's prototype (an entry `{"__proto__":
      // {"resourceType":"Patient"}}` would read as a Patient). Define it as an own property, as
      // JSON.parse does, so both parse paths agree and the walk (walk.ts) rejects it by name.
      if (key === '__proto__') Object.defineProperty(top, key, { value: v, enumerable: true, writable: true, configurable: true });
      else top[key] = v;
    }
  }

  consume(t: Token): void {
    switch (t.name) {
      case 'startObject':
      case 'startArray': {
        const c: Container = t.name === 'startObject' ? {} : [];
        this.grow(1);
        this.put(c);
        this.done = false;
        this.stack.push(c);
        this.keys.push(null);
        break;
      }
      case 'endObject':
      case 'endArray': {
        const c = this.stack.pop();
        this.keys.pop();
        if (this.stack.length === 0) {
          this.value = c;
          this.done = true;
        }
        break;
      }
      case 'startKey':
      case 'startString':
      case 'startNumber':
        this.text = '';
        break;
      case 'stringChunk':
      case 'numberChunk':
        this.grow(t.value.length);
        this.text += t.value;
        break;
      case 'endKey':
        this.keys[this.keys.length - 1] = this.text;
        break;
      case 'endString':
        this.put(this.text);
        break;
      case 'endNumber':
        this.put(Number(this.text));
        break;
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        this.grow(4);
        this.put(t.value);
        break;
      default:
        break; // packed tokens are switched off; whitespace carries nothing
    }
  }
}

/** Counts nesting to find where a skipped value ends, keeping nothing. */
class ValueSkipper {
  private depth = 0;
  done = false;
  consume(t: Token): void {
    switch (t.name) {
      case 'startObject':
      case 'startArray':
        this.depth++;
        break;
      case 'endObject':
      case 'endArray':
        if (--this.depth === 0) this.done = true;
        break;
      case 'endString':
      case 'endNumber':
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        if (this.depth === 0) this.done = true;
        break;
      default:
        break;
    }
  }
}

/**
 * Parses a JSON object from text chunks, keeping its top-level `resourceType`, `id`, `type` and
 * `meta`, and its `entry` array element by element. Throws BundleStreamError or the parser's
 * own Error for bad JSON.
 */
export async function readBundleStream(
  text: AsyncIterable<string>,
  opts: { maxValueChars: number; maxEntryChars?: number; maxEntries?: number },
): Promise<Record<string, unknown>> {
  // The entries are kept (the item carries them all), so their total is capped too.
  const maxEntryChars = opts.maxEntryChars ?? Infinity;
  const maxEntries = opts.maxEntries ?? Infinity;
  let entryChars = 0;
  const keepEntry = (b: ValueBuilder): void => {
    entries.push(b.value);
    entryChars += b.chars;
    if (entries.length > maxEntries || entryChars > maxEntryChars) {
      throw new BundleStreamError(
        `the Bundle is too large to take in one piece (over ${Math.min(entries.length, maxEntries)} entries or ${Math.round(maxEntryChars / 1048576)} MiB of entries); send one Bundle per patient, as NDJSON`,
      );
    }
  };
  // Strings, keys and numbers come as chunks, never packed, so the tokenizer keeps no long value.
  const parse = jsonParser({ packValues: false, streamValues: true }) as unknown as (input: string | symbol) => unknown;
  const bundle: Record<string, unknown> = {};
  const entries: unknown[] = [];
  let depth = 0; // 0 before the root object, 1 inside it, 2 inside its entry array
  let key = '';
  let inKey = false;
  let rootDone = false;
  let current: ValueBuilder | ValueSkipper | null = null;
  let currentKey = '';

  const onToken = (t: Token): void => {
    if (current) {
      current.consume(t);
      if (current.done) {
        if (current instanceof ValueBuilder) {
          if (depth === 2) keepEntry(current);
          else bundle[currentKey] = current.value;
        }
        current = null;
      }
      return;
    }
    if (rootDone) throw new BundleStreamError('more JSON after the end of the Bundle');
    if (depth === 0) {
      if (t.name !== 'startObject') throw new BundleStreamError('the file is not a JSON object');
      depth = 1;
      return;
    }
    if (depth === 2) {
      if (t.name === 'endArray') {
        depth = 1;
        return;
      }
      current = new ValueBuilder(opts.maxValueChars, `Bundle entry ${entries.length + 1}`);
      current.consume(t);
      if (current.done) {
        keepEntry(current);
        current = null;
      }
      return;
    }
    // depth 1: keys and values of the root object
    switch (t.name) {
      case 'startKey':
        inKey = true;
        key = '';
        return;
      case 'stringChunk':
        if (inKey) {
          key += t.value;
          if (key.length > 1000) throw new BundleStreamError('a top-level key is longer than 1000 characters');
        }
        return;
      case 'endKey':
        inKey = false;
        return;
      case 'endObject':
        rootDone = true;
        return;
      default:
        break;
    }
    if (key === 'entry' && t.name === 'startArray') {
      depth = 2;
      return;
    }
    currentKey = key;
    current = KEPT_TOP_KEYS.has(key) ? new ValueBuilder(opts.maxValueChars, `Bundle.${key}`) : new ValueSkipper();
    current.consume(t);
    if (current.done) {
      if (current instanceof ValueBuilder) bundle[currentKey] = current.value;
      current = null;
    }
  };

  const drain = (out: unknown): void => {
    if (out === NONE || out === undefined) return;
    const many = out as { [MANY]?: 1; values?: Token[] };
    if (many[MANY] === 1 && many.values) for (const t of many.values) onToken(t);
    else onToken(out as Token);
  };

  for await (const chunk of text) drain(parse(chunk));
  drain(parse(NONE));
  if (!rootDone) throw new BundleStreamError('the JSON ends before the Bundle is complete');
  if (entries.length) bundle.entry = entries;
  return bundle;
}
