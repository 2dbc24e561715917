/**
 * `_elements` and `_summary=data` (https://hl7.org/fhir/R4/search.html#elements,
 * https://hl7.org/fhir/R4/search.html#summary): a search's matches cut to the elements asked for.
 * Pure. The resource keeps its `resourceType`, `id` and `meta`, and the elements the base
 * specification makes mandatory (a subset must still be a valid resource) or that modify the
 * meaning of the rest (`status`, `modifierExtension`: a reader must not miss that an item was
 * entered in error); it is tagged SUBSETTED, as the specification asks.
 */
import type { Resource } from '@medplum/fhirtypes';

export const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' } as const;

/** What the search asked to leave out: `_elements` (top-level names), or `_summary=data` (the narrative). */
export type Subset = { kind: 'elements'; names: string[] } | { kind: 'data' };

/** Elements kept in every subset: identity, and what changes how the rest must be read. */
const ALWAYS = new Set(['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension', 'status']);

/** Mandatory (min 1) top-level elements of the types Bevan stores, from the R4 base resources. */
const MANDATORY: Record<string, readonly string[]> = {
  AllergyIntolerance: ['patient'],
  Appointment: ['participant'],
  CarePlan: ['intent', 'subject'],
  Condition: ['subject'],
  DiagnosticReport: ['code'],
  DocumentReference: ['content'],
  Encounter: ['class'],
  EpisodeOfCare: ['patient'],
  Immunization: ['vaccineCode', 'patient'],
  MedicationAdministration: ['subject'],
  MedicationDispense: [],
  MedicationRequest: ['intent', 'subject'],
  MedicationStatement: ['subject'],
  Observation: ['code'],
  Procedure: ['subject'],
  ServiceRequest: ['intent', 'subject'],
};

/** The R4 choice elements ([x]) of the types Bevan stores, by stem. */
const CHOICES = new Set(['value', 'effective', 'onset', 'abatement', 'occurrence', 'deceased', 'multipleBirth', 'performed', 'medication', 'reported', 'asNeeded', 'timing', 'born', 'age', 'product', 'doNotPerform']);

/** Parses `_elements` values (comma lists, repeated): element names, or a problem. */
export function parseElements(values: readonly string[]): { names: string[] } | { problem: string } {
  const names: string[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    const name = v.trim();
    if (!name) continue;
    // R4 names base elements; `Type.element` (R5) is accepted for the searched type.
    const bare = name.includes('.') ? name.slice(name.indexOf('.') + 1) : name;
    if (!/^[a-z][A-Za-z0-9]{0,63}(\[x\])?$/.test(bare)) return { problem: `_elements: "${name}" is not an element name` };
    names.push(bare.replace(/\[x\]$/, ''));
  }
  if (!names.length) return { problem: '_elements: give at least one element name' };
  return { names };
}

/** The resource cut to the subset, tagged SUBSETTED; a new object (the input is not changed). */
export function subsetResource<T extends Resource>(resource: T, subset: Subset): T {
  const source = resource as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (subset.kind === 'data') {
    for (const [k, v] of Object.entries(source)) if (k !== 'text') out[k] = v;
  } else {
    const keep = new Set([...ALWAYS, ...(MANDATORY[resource.resourceType] ?? []), ...subset.names]);
    const stems = subset.names.filter((n) => CHOICES.has(n));
    for (const [k, v] of Object.entries(source)) {
      // A choice element (value[x], effective[x]) is asked for by its stem.
      if (keep.has(k) || stems.some((n) => k.startsWith(n) && /[A-Z]/.test(k[n.length] ?? ''))) out[k] = v;
    }
  }
  const meta = (source.meta ?? {}) as { tag?: unknown[] };
  out.meta = { ...meta, tag: [...(Array.isArray(meta.tag) ? meta.tag : []), SUBSETTED] };
  return out as unknown as T;
}

