/**
 * Serialising and hashing a parsed item's resources ahead of the writer, so that work can run on
 * another thread (ingest/parse-worker.ts) and only strings cross to the writing thread. Also
 * where an item the database could not store is caught before it reaches it (jsonb refuses some
 * JSON that JavaScript writes): such an item becomes a rejection with the reason, not a failed batch.
 */
import { hash } from 'node:crypto';
import type { AcceptedItem, IngestItem, RejectedItem } from './model.ts';

/** sha256 of the text (UTF-8), hex; one-shot, about twice as fast as createHash for short texts. */
export const sha256Hex = (text: string): string => hash('sha256', text, 'hex');

/** A JSON string escape: a run of backslashes then `u` and four hex digits (an odd run is an escape). */
const UNICODE_ESCAPE = /(\\+)u([0-9a-fA-F]{4})/g;

/**
 * Why PostgreSQL cannot store this JSON text as jsonb, or null. jsonb refuses the `\u0000` escape
 * (a NUL character: HL7 `\X00\`, binary junk) and the escape of a UTF-16 surrogate without its
 * pair (JSON.stringify writes a lone surrogate that way), and either would fail the whole batch.
 */
export function jsonbProblem(json: string): string | null {
  if (!json.includes('\\u')) return null; // nearly every resource: one native scan
  UNICODE_ESCAPE.lastIndex = 0;
  for (let m = UNICODE_ESCAPE.exec(json); m; m = UNICODE_ESCAPE.exec(json)) {
    if (m[1]!.length % 2 === 0) continue; // `\\u…`: an escaped backslash, then plain text
    const code = parseInt(m[2]!, 16);
    if (code === 0) return 'a NUL character (\\u0000)';
    if (code >= 0xdc00 && code <= 0xdfff) return `half a UTF-16 surrogate pair (\\u${m[2]!.toLowerCase()} without the character before it)`;
    if (code >= 0xd800 && code <= 0xdbff) {
      const end = m.index + m[0].length;
      if (/^\\u[dD][c-fC-F][0-9a-fA-F]{2}/.test(json.slice(end, end + 6))) {
        UNICODE_ESCAPE.lastIndex = end + 6;
        continue;
      }
      return `half a UTF-16 surrogate pair (\\u${m[2]!.toLowerCase()} without the character after it)`;
    }
  }
  return null;
}

function nul(v: string | undefined): boolean {
  return v !== undefined && v.includes('\u0000');
}

/** The database's text columns cannot hold NUL either: the fields of an item that go into them. */
function textProblem(item: Exclude<IngestItem, RejectedItem>): string | null {
  // Checked field by field without building a list: nearly every item has no NUL anywhere.
  let what: string | null = nul(item.sourceSystem) ? 'the source system' : nul(item.messageId) ? 'the message id' : nul(item.event) ? 'the event' : null;
  if (what === null && item.kind === 'accepted') {
    for (const i of item.identities) {
      for (const k in i) {
        const v = (i as unknown as Record<string, unknown>)[k];
        if (typeof v === 'string' && v.includes('\u0000')) {
          what = `the identity's ${k}`;
          break;
        }
      }
      if (what !== null) break;
    }
    if (what === null) {
      for (const r of item.resources) {
        if (nul(r.resource.id)) what = 'a resource id';
        else if (nul(r.subject)) what = 'a resource subject';
        if (what !== null) break;
      }
    }
    if (what === null) for (const m of item.merges ?? []) if (nul(m.survivorId) || nul(m.retiredId)) what = 'a merged identity';
  }
  return what === null ? null : `${what} holds a NUL character (\\u0000), which the database cannot store`;
}

const unstorable = (item: Exclude<IngestItem, RejectedItem>, reason: string): RejectedItem => ({
  kind: 'rejected',
  format: item.format,
  sourceSystem: item.sourceSystem.replace(/\u0000/g, ''),
  messageId: item.messageId.replace(/\u0000/g, ''),
  reason,
  raw: item.raw !== undefined ? item.raw : describeItem(item),
  origin: item.origin,
  ...(item.kind === 'accepted' && item.fileNotes ? { fileNotes: item.fileNotes } : {}), // the file's notes still reach its run
});

/**
 * The item with each resource serialised and hashed, the resource itself cut down to its type
 * and id; or a rejection when the database could not store it (a NUL, a lone surrogate, JSON
 * nested too deep for JavaScript to write). Safe to call again on a prepared item.
 */
export function prepareItem(item: IngestItem): IngestItem {
  if (item.kind === 'rejected' || item.prepared) return item; // prepared once (on the parsing thread), not again by the writer
  const text = textProblem(item);
  if (text) return unstorable(item, `${text}: the sender must remove it, then send the message again`);
  if (item.kind !== 'accepted') return { ...item, prepared: true };
  const resources: AcceptedItem['resources'] = [];
  for (const r of item.resources) {
    if (r.json !== undefined && r.hash !== undefined) {
      const problem = jsonbProblem(r.json);
      if (problem) return unstorable(item, `${r.resource.resourceType}/${r.resource.id} holds ${problem}, which the database cannot store: the sender must remove it, then send the message again`);
      resources.push(r);
      continue;
    }
    let done = Object.isFrozen(r.resource) ? serialised.get(r.resource) : undefined;
    if (!done) {
      let json = r.json;
      if (json === undefined) {
        try {
          json = JSON.stringify(r.resource);
        } catch (err) {
          // RangeError: nesting deeper than the call stack (a hostile file); anything else is as bad.
          return unstorable(item, `${r.resource.resourceType}/${r.resource.id} cannot be stored: ${err instanceof RangeError ? 'it is nested too deeply' : (err as Error).message}`);
        }
      }
      const problem = jsonbProblem(json);
      done = { json, hash: problem ? '' : sha256Hex(json), problem };
      // A resource shared between messages (frozen: an HL7 Patient restated as before) is serialised once.
      if (Object.isFrozen(r.resource)) serialised.set(r.resource, done);
    }
    if (done.problem) {
      return unstorable(item, `${r.resource.resourceType}/${r.resource.id} holds ${done.problem}, which the database cannot store: the sender must remove it, then send the message again`);
    }
    resources.push({ resource: { resourceType: r.resource.resourceType, id: r.resource.id } as typeof r.resource, sourceTime: r.sourceTime, json: done.json, hash: done.hash, ...(r.subject !== undefined ? { subject: r.subject } : {}) });
  }
  return { ...item, resources, prepared: true };
}

/** The text and hash of resources shared between items (frozen), by the resource object. */
const serialised = new WeakMap<object, { json: string; hash: string; problem: string | null }>();

/**
 * Marks a value an adapter hands to several items (the Patient every HL7 event or CSV row of a
 * person restates) as shared: frozen, deeply, so that no one changes it under another item, and a
 * resource so marked is serialised and hashed once however many items carry it (prepareItem).
 */
export function sharedValue<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const x of Object.values(value)) sharedValue(x);
  }
  return value;
}

/** An item without its raw text, kept in quarantine as JSON (the resources as they were prepared). */
export function describeItem(item: Exclude<IngestItem, RejectedItem>): string {
  const resources =
    item.kind === 'accepted'
      ? item.resources.map((r) => {
          if (r.json === undefined) return r.resource;
          try {
            return JSON.parse(r.json) as unknown;
          } catch {
            return r.json;
          }
        })
      : undefined;
  const base = { sourceSystem: item.sourceSystem, messageId: item.messageId, event: item.event, contentHash: item.contentHash };
  try {
    return JSON.stringify(item.kind === 'accepted' ? { ...base, identities: item.identities, resources } : base);
  } catch {
    return JSON.stringify(base);
  }
}
