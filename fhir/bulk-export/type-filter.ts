/**
 * Bulk Data `_typeFilter` (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#_typefilter-query-parameter):
 * FHIR search queries, one resource type each (`Observation?code=http://loinc.org|4548-4&date=ge2025-01-01`),
 * that narrow what an export holds of that type. Several queries for one type are OR'ed; types
 * with none are exported whole (within `_type`). Pure.
 *
 * Each query is parsed by that type's own search parser (fhir/search/params.ts), so a filter means
 * here what the same parameters mean in a search, and it is matched on each resource as the
 * export presents it (fhir/search/match.ts). Search result parameters (`_include`, `_sort`,
 * `_count`…) are refused, as the IG says they must not be used; so are patient parameters (the
 * export's level and Group choose the people) and types other than the clinical ones searched.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { ClinicalSearch } from '../search/params.ts';
import { parseFilterQuery } from '../search/filter-query.ts';
import { matchesSearch } from '../search/match.ts';

export interface TypeFilterParse {
  /** The accepted queries, `Type?query` as given (the job keeps them). */
  queries: string[];
  problems: string[];
  ignored: string[];
}

/**
 * Splits `_typeFilter` values into queries: the IG allows several per value, comma-separated, and
 * a query's own values may hold commas (OR lists), so a comma starts a new query only where a
 * resource type and `?` follow it.
 */
export function splitTypeFilters(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(/,(?=[A-Z][A-Za-z]+\?)/)).map((q) => q.trim()).filter(Boolean);
}

function parseOne(query: string): { type: string; search: ClinicalSearch } | { problem: string } {
  const q = query.indexOf('?');
  const type = q < 0 ? query : query.slice(0, q);
  if (q < 0 || q === query.length - 1) return { problem: `_typeFilter "${query.slice(0, 120)}" is not Type?parameters` };
  const parsed = parseFilterQuery(type, query.slice(q + 1), { label: `_typeFilter "${query.slice(0, 120)}"`, what: 'a _typeFilter', patientProblem: "the export's level or Group chooses the people, not a patient parameter" });
  return parsed.kind === 'ok' ? { type, search: parsed.search } : { problem: parsed.problem };
}

/**
 * Checks `_typeFilter` values at kick-off. A query for a type outside `_type` is left out (the
 * export holds none of that type anyway) and listed as ignored; an unusable query is a problem, or
 * ignored under `Prefer: handling=lenient`, as the IG allows.
 */
export function parseTypeFilters(values: readonly string[], types: readonly string[] | null, lenient: boolean): TypeFilterParse {
  const out: TypeFilterParse = { queries: [], problems: [], ignored: [] };
  for (const query of splitTypeFilters(values)) {
    const one = parseOne(query);
    if ('problem' in one) {
      if (lenient) out.ignored.push(`_typeFilter=${query.slice(0, 120)}`);
      else out.problems.push(`${one.problem} (send Prefer: handling=lenient to have it ignored)`);
      continue;
    }
    if (types && !types.includes(one.type)) {
      out.ignored.push(`_typeFilter=${query.slice(0, 120)} (${one.type} is not in _type)`);
      continue;
    }
    out.queries.push(query);
  }
  return out;
}

/** A job's filters, compiled once per batch: for each filtered type, the searches any of which a resource must match. */
export class TypeFilters {
  private readonly byType = new Map<string, ClinicalSearch[]>();
  constructor(queries: readonly string[]) {
    for (const q of queries) {
      const one = parseOne(q);
      // Checked at kick-off; a query this version cannot read keeps nothing of its type rather than everything.
      const type = 'problem' in one ? q.slice(0, Math.max(0, q.indexOf('?'))) : one.type;
      const list = this.byType.get(type) ?? [];
      if (!('problem' in one)) list.push(one.search);
      this.byType.set(type, list);
    }
  }
  get empty(): boolean {
    return this.byType.size === 0;
  }
  /** True when the resource is kept: its type has no filter, or it matches one of them. */
  keeps(resource: Resource, now: number): boolean {
    const searches = this.byType.get(resource.resourceType);
    return !searches || searches.some((s) => matchesSearch(resource, s, now));
  }
}
