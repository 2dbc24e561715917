/**
 * A resource type's filter written as a FHIR search query (`Observation?category=laboratory&status=final`),
 * parsed by that type's own search parser (params.ts) so that it means what the same parameters mean
 * in a search, and matched as a search matches (match.ts). Used by Bulk Data `_typeFilter`
 * (fhir/bulk-export/type-filter.ts) and by SMART v2 scopes narrowed by a query (fhir/scope-narrowing.ts).
 * Search result parameters (`_include`, `_sort`, `_count`…) and patient parameters are refused:
 * a filter says which resources, not how a page of them is shown or whose they are. Pure.
 */
import { CLINICAL_TYPES, isClinicalType, parseClinicalSearch, type ClinicalSearch } from './params.ts';

export type FilterQuery = { kind: 'ok'; search: ClinicalSearch } | { kind: 'invalid'; problem: string };

export interface FilterQueryOptions {
  /** Names the filter in problems, e.g. `_typeFilter "Observation?…"`. */
  label: string;
  /** What the filter is, after "cannot be used in": `a _typeFilter`, `a scope`. */
  what: string;
  /** Why a patient parameter is refused here. */
  patientProblem: string;
}

/** Parses `query` (without the `?`) as a filter on `type`. */
export function parseFilterQuery(type: string, query: string, o: FilterQueryOptions): FilterQuery {
  if (!isClinicalType(type)) return { kind: 'invalid', problem: `${o.label}: filters are supported for ${CLINICAL_TYPES.join(', ')}` };
  const params: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of new URLSearchParams(query)) (params[k] ??= []).push(v);
  const result = Object.keys(params).filter((k) => k.startsWith('_'));
  if (result.length) return { kind: 'invalid', problem: `${o.label}: ${result.join(', ')} cannot be used in ${o.what} (filters only, no search result parameters)` };
  if (!Object.keys(params).length) return { kind: 'invalid', problem: `${o.label}: the query names no parameter` };
  const parsed = parseClinicalSearch(type, params);
  if (parsed.kind === 'invalid') return { kind: 'invalid', problem: `${o.label}: ${parsed.problems.join('; ')}` };
  const s = parsed.search;
  if (s.unknown.length) return { kind: 'invalid', problem: `${o.label}: ${s.unknown.join(', ')} ${s.unknown.length > 1 ? 'are' : 'is'} not a supported ${type} search parameter` };
  if (s.patients.length || s.patientChains?.length) return { kind: 'invalid', problem: `${o.label}: ${o.patientProblem}` };
  return { kind: 'ok', search: s };
}
