/**
 * SMART on FHIR system scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * what a backend client's access token lets it read. Pure.
 *
 * Bevan grants read scopes only (its FHIR API reads; feeds come in through the ingest), in both
 * syntaxes: SMART v1 `system/Observation.read`, `system/*.read` and v2 `system/Observation.rs`,
 * `system/*.rs` (r read, s search; c, u and d are not granted: a request for `system/*.cruds`
 * is granted `system/*.rs`). v2's fine-grained query (`system/Observation.rs?category=laboratory`)
 * is not granted (the token would promise a narrowing the server does not apply): such a scope is
 * refused by name. Scopes only narrow: every person a client reaches is still decided by the access
 * policy for the client's role, as for a user in that role.
 */

export interface SystemScope {
  /** A FHIR resource type, or '*' for every type. */
  type: string;
  /** The syntax it came in, so the granted scope is written back the way it was asked for. */
  syntax: 'v1' | 'v2';
}

export type ScopeParse = { kind: 'ok'; scopes: SystemScope[]; ignored: string[] } | { kind: 'invalid'; problems: string[] };

const TYPE = /^(\*|[A-Z][A-Za-z]{1,63})$/;

/**
 * Parses a space-separated scope string into the read scopes it asks for. Scopes that are not
 * `system/` resource scopes (openid, offline_access, launch…) are ignored and listed; a `system/`
 * scope that is malformed, or asks only for writes, is a problem.
 */
export function parseSystemScopes(text: string, knownTypes: ReadonlySet<string>): ScopeParse {
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
    if (query !== undefined) {
      problems.push(`"${s.slice(0, 80)}": scopes narrowed by a query are not granted by this server (ask for system/${type}.rs)`);
      continue;
    }
    if (perms === 'read' || perms === '*') scopes.push({ type, syntax: 'v1' });
    else if (perms === 'write') problems.push(`"${s}": this server grants read access only`);
    else if (/^c?r?u?d?s?$/.test(perms) && perms !== '') {
      if (perms.includes('r') || perms.includes('s')) scopes.push({ type, syntax: 'v2' });
      else problems.push(`"${s}": this server grants read and search (r, s) only`);
    } else problems.push(`"${s.slice(0, 80)}": "${perms.slice(0, 10)}" is not read, write, * or a v2 permission string (cruds in that order)`);
  }
  return problems.length ? { kind: 'invalid', problems } : { kind: 'ok', scopes, ignored };
}

/** The scopes written as a token's `scope` (each read grant in the syntax it was asked in). */
export function formatScopes(scopes: readonly SystemScope[]): string {
  return [...new Set(scopes.map((s) => `system/${s.type}.${s.syntax === 'v1' ? 'read' : 'rs'}`))].join(' ');
}

/**
 * The requested scopes a client may be given, each within what it was registered for: a request
 * for every type (`system/*.read`) by a client registered for some is granted those (a server may
 * grant less than asked: the token response's scope says what).
 */
export function grantScopes(requested: readonly SystemScope[], registered: readonly SystemScope[]): SystemScope[] {
  if (registered.some((r) => r.type === '*')) return [...requested];
  const out: SystemScope[] = [];
  for (const q of requested) {
    if (q.type === '*') out.push(...registered.map((r) => ({ type: r.type, syntax: q.syntax })));
    else if (registered.some((r) => r.type === q.type)) out.push(q);
  }
  return out;
}

/** The types a token's scopes let it read: '*' for all, else the named ones. */
export function scopedTypes(scopes: readonly string[]): '*' | Set<string> {
  const types = new Set<string>();
  for (const s of scopes) {
    const m = /^system\/([^.?]+)\.(read|rs|\*)$/.exec(s);
    if (!m) continue;
    if (m[1] === '*') return '*';
    types.add(m[1]!);
  }
  return types;
}

/** True when a token's scopes let it read resources of the type. */
export function scopeAllows(scopes: readonly string[], type: string): boolean {
  const t = scopedTypes(scopes);
  return t === '*' || t.has(type);
}
