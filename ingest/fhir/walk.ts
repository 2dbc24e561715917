/**
 * One pass over a parsed resource, without recursion (a resource nested 100,000 deep must not
 * overflow the stack): finds what may not be stored, and collects its references.
 * What may not be stored: nesting deeper than MAX_DEPTH (PostgreSQL's jsonb parser and
 * JSON.stringify both recurse), a NUL or a lone surrogate in a string or key (jsonb refuses
 * `\u0000` and unpaired surrogate escapes, and FHIR strings may hold neither), and a `__proto__`
 * key (no FHIR element has that name; an object carrying one is unsafe to copy with
 * Object.assign or a naive merge anywhere downstream).
 */

type Json = Record<string, unknown>;

/** Deeper than any real resource (Questionnaire items and nested extensions reach ~20). */
export const MAX_DEPTH = 100;

export interface WalkResult {
  /** The first thing that may not be stored, as a sentence naming its path; absent when none. */
  problem?: string;
  /** Every object with a string `reference` (a FHIR Reference), contained resources included. */
  references: Json[];
}

const SUSPECT = /[\u0000\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string may not be stored, or null. */
export function badText(s: string): string | null {
  if (!SUSPECT.test(s)) return null;
  if (s.includes('\u0000')) return 'a NUL character (U+0000)';
  if (LONE_SURROGATE.test(s)) return 'a lone UTF-16 surrogate (not a Unicode character)';
  return null;
}

interface Frame {
  value: Json | unknown[];
  depth: number;
  parent: Frame | null;
  key: string | number;
}

function pathOf(frame: Frame | null, last: string | number | null, root: string): string {
  const parts: (string | number)[] = [];
  if (last !== null) parts.push(last);
  for (let f = frame; f && f.parent; f = f.parent) parts.push(f.key);
  let path = root;
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!;
    path += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$-]*$/.test(p) ? `.${p}` : `[${asciiJson(p)}]`;
  }
  // ASCII only, so cutting it cannot split a character; long paths keep their two ends.
  return path.length > 200 ? `${path.slice(0, 100)}…${path.slice(-80)}` : path;
}

const asciiJson = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * Walks `resource` (named `root` in messages, e.g. `Observation`). `textIsClean`: the JSON text it
 * was parsed from has no `\u0000` and no surrogate escapes, so no string can hold either and the
 * per-string check is skipped (see jsonTextIsClean).
 */
export function walkResource(resource: Json, root: string, opts: { maxDepth?: number; textIsClean?: boolean } = {}): WalkResult {
  const maxDepth = opts.maxDepth ?? MAX_DEPTH;
  const checkText = !opts.textIsClean;
  const references: Json[] = [];
  // The fast pass keeps no paths (two flat stacks, no allocation per node); only when it finds a
  // problem does a second pass find the path to name it.
  const values: unknown[] = [resource];
  const depths: number[] = [1];
  let found = false;
  while (values.length) {
    const v = values.pop() as Json | unknown[];
    const depth = depths.pop()!;
    if (depth > maxDepth) {
      found = true;
      break;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const c = v[i];
        if (typeof c === 'object' && c !== null) {
          values.push(c);
          depths.push(depth + 1);
        } else if (checkText && typeof c === 'string' && SUSPECT.test(c) && badText(c)) found = true;
      }
    } else {
      if (typeof v.reference === 'string') references.push(v);
      for (const k in v) {
        if (k === '__proto__' || (checkText && SUSPECT.test(k) && badText(k))) found = true;
        const c = v[k];
        if (typeof c === 'object' && c !== null) {
          values.push(c);
          depths.push(depth + 1);
        } else if (checkText && typeof c === 'string' && SUSPECT.test(c) && badText(c)) found = true;
      }
    }
    if (found) break;
  }
  if (!found) return { references };
  return { problem: describeProblem(resource, root, maxDepth), references };
}

/** The first problem in `resource`, with its path (the slow pass, run only when there is one). */
function describeProblem(resource: Json, root: string, maxDepth: number): string {
  const stack: Frame[] = [{ value: resource, depth: 1, parent: null, key: '' }];
  while (stack.length) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (frame.depth > maxDepth) return `${pathOf(frame, null, root)} is nested more than ${maxDepth} levels deep`;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const c = v[i];
        if (typeof c === 'string') {
          const bad = badText(c);
          if (bad) return `${pathOf(frame, i, root)} holds ${bad}`;
        } else if (typeof c === 'object' && c !== null) stack.push({ value: c as Json, depth: frame.depth + 1, parent: frame, key: i });
      }
      continue;
    }
    for (const k in v) {
      if (k === '__proto__') return `${pathOf(frame, null, root)} has a "__proto__" key, which is not a FHIR element`;
      const keyBad = badText(k);
      if (keyBad) return `${pathOf(frame, null, root)} has a key holding ${keyBad}`;
      const c = v[k];
      if (typeof c === 'string') {
        const bad = badText(c);
        if (bad) return `${pathOf(frame, k, root)} holds ${bad}`;
      } else if (typeof c === 'object' && c !== null) stack.push({ value: c as Json, depth: frame.depth + 1, parent: frame, key: k });
    }
  }
  return `${root} cannot be stored`;
}

const UNSAFE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})/;

/**
 * True when JSON text cannot yield a string with a NUL or a lone surrogate: it has no `\u0000`
 * or surrogate escape (decoded UTF-8 and windows-1252 text holds no raw surrogates, and JSON
 * forbids a raw NUL). One scan of the text instead of a check per string.
 */
export function jsonTextIsClean(text: string): boolean {
  return !UNSAFE_ESCAPE.test(text);
}

/** JSON text of a value that may be nested too deeply for JSON.stringify; never throws. */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (err) {
    return `(not kept: ${(err as Error).message})`;
  }
}

/** The objects at a dotted element path (`reaction.substance`), stepping through arrays; other values are skipped. */
export function objectsAt(root: Json, path: string): Json[] {
  let level: unknown[] = [root];
  for (const name of path.split('.')) {
    const next: unknown[] = [];
    for (const v of level) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
      const c = (v as Json)[name];
      if (Array.isArray(c)) next.push(...c);
      else if (c !== undefined) next.push(c);
    }
    level = next;
  }
  return level.filter((v): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v));
}
