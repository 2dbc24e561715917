/**
 * Bulk Data `_elements` (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters):
 * top-level elements to keep, `Type.element` for one type or `element` for every type. A type
 * with no element named for it (and no bare name given) is exported whole; the others are cut
 * as a search's `_elements` cuts them (fhir/search/elements.ts: identity, mandatory and modifier
 * elements kept, tagged SUBSETTED). Pure.
 */
import type { Resource } from '@medplum/fhirtypes';
import { subsetResource } from '../search/elements.ts';

const ENTRY = /^(?:([A-Z][A-Za-z]{1,63})\.)?([a-z][A-Za-z0-9]{0,63})(\[x\])?$/;

/** Checks `_elements` values (comma lists, repeated) into `Type.element` / `element` entries, or problems. */
export function parseExportElements(values: readonly string[], isType: (t: string) => boolean): { elements: string[]; problems: string[] } {
  const elements: string[] = [];
  const problems: string[] = [];
  for (const raw of values.flatMap((v) => v.split(','))) {
    const v = raw.trim();
    if (!v) continue;
    const m = ENTRY.exec(v);
    if (!m) problems.push(`_elements: "${v.slice(0, 80)}" is not [Type.]element (a top-level element name)`);
    else if (m[1] && !isType(m[1])) problems.push(`_elements: ${m[1]} is not a type this export holds`);
    else elements.push(m[1] ? `${m[1]}.${m[2]}` : m[2]!);
  }
  if (values.length && !elements.length && !problems.length) problems.push('_elements: give at least one element name');
  return { elements: [...new Set(elements)], problems };
}

/** Cuts each exported resource to the job's `_elements` (the identity function when there are none). */
export class ExportElements {
  private readonly bare: string[] = [];
  private readonly byType = new Map<string, string[]>();
  constructor(elements: readonly string[]) {
    for (const e of elements) {
      const dot = e.indexOf('.');
      if (dot < 0) this.bare.push(e);
      else this.byType.set(e.slice(0, dot), [...(this.byType.get(e.slice(0, dot)) ?? []), e.slice(dot + 1)]);
    }
  }
  get empty(): boolean {
    return !this.bare.length && !this.byType.size;
  }
  apply<T extends Resource>(resource: T): T {
    const names = [...this.bare, ...(this.byType.get(resource.resourceType) ?? [])];
    return names.length ? subsetResource(resource, { kind: 'elements', names }) : resource;
  }
}
