/**
 * SMART on FHIR system scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * what a backend client's access token lets it read. Pure.
 *
 * Bevan grants read scopes only (its FHIR API reads; feeds come in through the ingest), in both
 * syntaxes: SMART v1 `system/Observation.read`, `system/*.read` and v2 `system/Observation.rs`,
 * `system/*.rs` (r read, s search; c, u and d are not granted: a request for `system/*.cruds`
 * is granted `system/*.rs`). A v2 scope may be narrowed by a query ("finer-grained resource
 * constraints using search parameters": `system/Observation.rs?category=…|laboratory`); it is
 * granted only where the caller's check (`ScopeQueryCheck`, fhir/scope-narrowing.ts, which the FHIR
 * repository applies on every read) says the server can apply it, and refused by name otherwise, so
 * a token never promises a narrowing that is not applied. Scopes only narrow: every person a client
 * reaches is still decided by the access policy for the client's role, as for a user in that role.
 */

export interface SystemScope {
  /** A FHIR resource type, or '*' for every type. */
  type: string;
  /** The syntax it came in, so the granted scope is written back the way it was asked for. */
  syntax: 'v1' | 'v2';
  /** v2 only: the search query (after `?`, as given) that narrows the type. */
  query?: string;
}

/** Why the server cannot narrow `type` by `query` (the text after `?`), or null when it can. */
export type ScopeQueryCheck = (type: string, query: string) => string | null;

export type ScopeParse = { kind: 'ok'; scopes: SystemScope[]; ignored: string[] } | { kind: 'invalid'; problems: string[] };

const TYPE = /^(\*|[A-Z][A-Za-z]{1,63})$/;

/**
 * Parses a space-separated scope string into the read scopes it asks for. Scopes that are not
 * `system/` resource scopes (openid, offline_access, launch…) are ignored and listed; a `system/`
 * scope that is malformed, asks only for writes, or is narrowed by a query `checkQuery` refuses
 * (or with no `checkQuery` at all), is a problem.
 */
export function parseSystemScopes(text: string, knownTypes: ReadonlySet<string>, checkQuery?: ScopeQueryCheck): ScopeParse {
  const scopes: SystemScope[] = [];
  const ignored: string[] = [];
  const problems: string[] = [];
  for (const s of text.split(/\s+/).filter(Boolean)) {
    const m = /^system\/([^.?]+)\.([a-z*]+)(\?.*)?$/.exec(s);
    if (!m) {
      if (s.startsWith('system/')) problems.push(`"${s.slice(0, 80)}" is not a SMART system scope (system/Type.read or system/Type.rs)`);
      else ignored.push(s.slice(0, 80));
      continue;
    }
    const [, type, perms, query] = m as unknown as [string, string, string, string | undefined];
    if (!TYPE.test(type) || (type !== '*' && !knownTypes.has(type))) {
      problems.push(`"${s.slice(0, 80)}": ${type.slice(0, 64)} is not a FHIR R4 resource type`);
      continue;
    }
    let narrowing: string | undefined;
    if (query !== undefined) {
      const why =
        type === '*' ? 'a query narrows one resource type, not *'
        : !/^c?r?u?d?s?$/.test(perms) ? 'a query narrows a SMART v2 scope (system/Type.rs?…)'
        : !checkQuery ? 'scopes narrowed by a query are not granted here'
        : query.length < 2 ? 'the query is empty'
        : checkQuery(type, query.slice(1));
      if (why) {
        problems.push(`"${s.slice(0, 160)}": ${why} (ask for system/${type}.rs, or a query on the search parameters this server supports)`);
        continue;
      }
      narrowing = query.slice(1);
    }
    if (perms === 'read' || perms === '*') scopes.push({ type, syntax: 'v1' });
    else if (perms === 'write') problems.push(`"${s}": this server grants read access only`);
    else if (/^c?r?u?d?s?$/.test(perms) && perms !== '') {
      if (perms.includes('r') || perms.includes('s')) scopes.push({ type, syntax: 'v2', ...(narrowing !== undefined ? { query: narrowing } : {}) });
      else problems.push(`"${s}": this server grants read and search (r, s) only`);
    } else problems.push(`"${s.slice(0, 80)}": "${perms.slice(0, 10)}" is not read, write, * or a v2 permission string (cruds in that order)`);
  }
  return problems.length ? { kind: 'invalid', problems } : { kind: 'ok', scopes, ignored };
}

/** One scope as a token's `scope` writes it (a narrowed scope in v2 syntax, its query as asked). */
function formatScope(s: SystemScope): string {
  return s.query !== undefined ? `system/${s.type}.rs?${s.query}` : `system/${s.type}.${s.syntax === 'v1' ? 'read' : 'rs'}`;
}

/** The scopes written as a token's `scope` (each read grant in the syntax it was asked in). */
export function formatScopes(scopes: readonly SystemScope[]): string {
  return [...new Set(scopes.map(formatScope))].join(' ');
}

/**
 * The requested scopes a client may be given, each within what it was registered for: a request
 * for every type (`system/*.read`) by a client registered for some is granted those (a server may
 * grant less than asked: the token response's scope says what). Where the registration narrows a
 * type by a query, a request for the whole type is granted the registered narrowing, and a request
 * narrowed by a query is granted only when the registration holds the type whole or the same query.
 */
export function grantScopes(requested: readonly SystemScope[], registered: readonly SystemScope[]): SystemScope[] {
  if (registered.some((r) => r.type === '*')) return [...requested];
  const out: SystemScope[] = [];
  const within = (q: SystemScope) => {
    if (registered.some((r) => r.type === q.type && r.query === undefined)) return [q];
    const narrowings = registered.filter((r) => r.type === q.type && r.query !== undefined);
    if (q.query === undefined) return narrowings.map((r) => ({ type: r.type, syntax: 'v2' as const, query: r.query! }));
    return narrowings.some((r) => r.query === q.query) ? [q] : [];
  };
  for (const q of requested) {
    if (q.type === '*') out.push(...registered.map((r) => ({ type: r.type, syntax: r.query !== undefined ? ('v2' as const) : q.syntax, ...(r.query !== undefined ? { query: r.query } : {}) })));
    else out.push(...within(q));
  }
  return out;
}

/** A granted read scope as a token carries it: `system/Type.read|rs|*`, optionally `?query`. */
const TOKEN_SCOPE = /^system\/([^.?]+)\.(read|rs|\*)(?:\?(.+))?$/;

/** The read scopes a token carries: each type ('*' for all) and the query narrowing it, if any. */
export function tokenReadScopes(scopes: readonly string[]): { type: string; query?: string }[] {
  const out: { type: string; query?: string }[] = [];
  for (const s of scopes) {
    const m = TOKEN_SCOPE.exec(s);
    if (m) out.push(m[3] !== undefined ? { type: m[1]!, query: m[3] } : { type: m[1]! });
  }
  return out;
}

/**
 * The types a token's scopes let it read: '*' for all, else the named ones (a type named only by
 * scopes narrowed by a query is among them: the FHIR repository applies the narrowing).
 */
export function scopedTypes(scopes: readonly string[]): '*' | Set<string> {
  const types = new Set<string>();
  for (const s of tokenReadScopes(scopes)) {
    if (s.type === '*' && s.query === undefined) return '*';
    if (s.type !== '*') types.add(s.type);
  }
  return types;
}

/** True when a token's scopes let it read resources of the type (maybe only some of them). */
export function scopeAllows(scopes: readonly string[], type: string): boolean {
  const t = scopedTypes(scopes);
  return t === '*' || t.has(type);
}
