/**
 * SMART App Launch v2 scopes narrowed by a query (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html,
 * "Finer-grained resource constraints using search parameters"): `system/Observation.rs?category=…|laboratory`
 * lets a token read only the Observations such a search would find. The query is parsed by the
 * type's own search parser and matched as search matches (search/filter-query.ts, search/match.ts),
 * so a narrowing means exactly what the same search means. Several scopes on one type are a union:
 * a resource is kept when any of them keeps it, and a scope on the type without a query keeps every
 * resource of it. Pure.
 *
 * What a scope's query may hold: the search parameters Bevan implements on the clinical types, bar
 * reference parameters (they compare references as served, which only a presented resource has),
 * patient parameters and search result parameters (`_sort`, `_count`…). Anything else is refused
 * when the token is asked for (fail closed): a token never promises a narrowing the server cannot apply.
 */
import type { Resource } from '@medplum/fhirtypes';
import { tokenReadScopes } from '../access/smart-scopes.ts';
import { parseFilterQuery } from './search/filter-query.ts';
import { matchesSearch, needsPresentation } from './search/match.ts';
import type { ClinicalSearch } from './search/params.ts';

/** A scope's query as the search it stands for, or why this server cannot apply it. */
function parseScopeQuery(type: string, query: string): { search: ClinicalSearch } | { problem: string } {
  const label = `${type}?${query.slice(0, 120)}`;
  const parsed = parseFilterQuery(type, query, { label, what: 'a scope', patientProblem: 'a scope says what, not whose (no patient parameter)' });
  if (parsed.kind === 'invalid') return { problem: parsed.problem };
  const refs = [...new Set(parsed.search.filters.filter(needsPresentation).map((f) => f.param.name))];
  if (refs.length) return { problem: `${label}: ${refs.join(', ')} (a reference parameter) cannot narrow a scope on this server` };
  return { search: parsed.search };
}

/** Why this server cannot narrow `type` by `query` (the text after `?`), or null when it can (for access/smart-scopes.ts, at grant). */
export function scopeQueryProblem(type: string, query: string): string | null {
  const parsed = parseScopeQuery(type, query);
  return 'problem' in parsed ? parsed.problem : null;
}

/** What a token's read scopes let it see, type by type. */
export class ScopeNarrowing {
  private constructor(
    /** Types a scope without a query names: every resource of them. */
    private readonly whole: ReadonlySet<string>,
    /** Types named only by scopes with a query: the searches, any of which keeps a resource. */
    private readonly narrowed: ReadonlyMap<string, readonly ClinicalSearch[]>,
    /** The scopes as one string (for cache keys: two tokens with the same scopes see the same). */
    readonly key: string,
  ) {}

  /**
   * The narrowing of a token's scopes; null when nothing is narrowed (no scopes: a person's
   * request, which the scopes never touch; or a `system/*` read scope). A query this server can no
   * longer apply keeps nothing of its type (fails closed).
   */
  static of(scopes: readonly string[] | undefined): ScopeNarrowing | null {
    if (!scopes) return null;
    const reads = tokenReadScopes(scopes);
    if (reads.some((s) => s.type === '*' && s.query === undefined)) return null;
    const whole = new Set<string>();
    const narrowed = new Map<string, ClinicalSearch[]>();
    for (const s of reads) {
      if (s.type === '*') continue;
      if (s.query === undefined) {
        whole.add(s.type);
        continue;
      }
      const list = narrowed.get(s.type) ?? [];
      const parsed = parseScopeQuery(s.type, s.query);
      if ('search' in parsed) list.push(parsed.search);
      narrowed.set(s.type, list);
    }
    for (const t of whole) narrowed.delete(t);
    return new ScopeNarrowing(whole, narrowed, [...scopes].sort().join(' '));
  }

  /** True when a scope names the type (with or without a query). */
  allows(type: string): boolean {
    return this.whole.has(type) || this.narrowed.has(type);
  }

  /** True when the type is named only by scopes with a query: its resources must match one. */
  narrows(type: string): boolean {
    return this.narrowed.has(type);
  }

  /** Does the token see this resource? `resource` as served, or a view of it good for every filter but references (search/clinical-search.ts `searchView`). */
  keeps(resource: Resource, now: number): boolean {
    if (this.whole.has(resource.resourceType)) return true;
    const searches = this.narrowed.get(resource.resourceType);
    return !!searches && searches.some((s) => matchesSearch(resource, s, now));
  }
}
