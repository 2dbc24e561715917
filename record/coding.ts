/**
 * Codes as a clinician and another system can use them: a laboratory's local code shown with the
 * national code the locality's mapping table gives it (the local coding kept beside it), and every
 * observation put in a group (vital signs, laboratory, social history…) by its category, or by its
 * code where the category is missing or is the blanket `laboratory` an HL7 v2 feed gives every
 * OBX. Pure; the tables are reference/lab-code-map.csv and reference/observation-groups.csv.
 */
import type { CodeableConcept, Coding, DiagnosticReport, Observation, Resource } from '@medplum/fhirtypes';
import { nationalCodeFor, OBSERVATION_GROUPS, type ObservationGroupKey, type ReferenceData } from './reference/reference-data.ts';

const NATIONAL = new Set(['http://snomed.info/sct', 'http://loinc.org']);
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export interface MappedConcept {
  concept: CodeableConcept;
  /** The local code the national one was mapped from, or null when nothing was mapped. */
  localCode: string | null;
}

/**
 * A code with the national coding put first when the source sent only its local code (a coding
 * without a system, as HL7 v2 local coding systems arrive) and the mapping table lists it for this
 * source. The local coding stays, as an extra coding. Unchanged when it already has a national code.
 */
export function withNationalCode(cc: CodeableConcept | undefined, sourceSystem: string, ref: ReferenceData): MappedConcept | undefined {
  if (!cc?.coding?.length) return cc ? { concept: cc, localCode: null } : undefined;
  if (cc.coding.some((c) => c.system && NATIONAL.has(c.system) && c.code)) return { concept: cc, localCode: null };
  for (const c of cc.coding) {
    if (c.system || !c.code) continue;
    const national = nationalCodeFor(ref, sourceSystem, c.code);
    if (!national) continue;
    const coding: Coding = { system: national.system, code: national.code, display: national.display };
    return { concept: { ...cc, coding: [coding, ...cc.coding] }, localCode: c.code };
  }
  return { concept: cc, localCode: null };
}

/** A stored Observation or DiagnosticReport with its code mapped (a copy; other resources as they are). */
export function withNationalCodes<T extends Resource>(resource: T, sourceSystem: string, ref: ReferenceData): T {
  if (resource.resourceType !== 'Observation' && resource.resourceType !== 'DiagnosticReport') return resource;
  const r = resource as unknown as Observation | DiagnosticReport;
  const mapped = withNationalCode(r.code, sourceSystem, ref);
  if (!mapped?.localCode) return resource;
  return { ...resource, code: mapped.concept };
}

export const GROUP_LABEL: Record<ObservationGroupKey, string> = {
  'vital-signs': 'Vital signs',
  laboratory: 'Laboratory results',
  'social-history': 'Social history (smoking, alcohol)',
  survey: 'Assessments and questionnaires',
  exam: 'Examination findings',
  imaging: 'Imaging',
  procedure: 'Procedure results',
  therapy: 'Therapy',
  activity: 'Activity',
  other: 'Other observations',
};

/**
 * The group an observation is shown in: its FHIR observation-category; where it has none (or only
 * `laboratory`, which an HL7 v2 feed gives every OBX: a smoking status in an ORU is still social
 * history), the group the code table gives its code; else the category it has, else `other`.
 */
export function observationGroup(o: Observation, ref: ReferenceData): ObservationGroupKey {
  const categories = (o.category ?? []).flatMap((c) => c.coding ?? []).filter((c) => c.system === OBSERVATION_CATEGORY && c.code && (OBSERVATION_GROUPS as readonly string[]).includes(c.code)).map((c) => c.code as ObservationGroupKey);
  const specific = categories.find((c) => c !== 'laboratory');
  if (specific) return specific;
  for (const c of o.code?.coding ?? []) {
    const g = c.system && c.code ? ref.observationGroups.get(`${c.system}|${c.code}`) : undefined;
    if (g) return g;
  }
  return categories[0] ?? 'other';
}

/**
 * withNationalCodes in SQL, for queries over the stored jsonb (fhir/secondary-use-sql.ts): the
 * `code` of an Observation or DiagnosticReport (`content`, a jsonb expression) as it is served,
 * given its source system (`system`, a text expression). `bind` binds the mapping table
 * (reference/lab-code-map.csv, as `{source system: {local code: coding}}`) as a parameter.
 */
export function nationalCodeSql(content: string, system: string, ref: ReferenceData, bind: (v: unknown) => string): string {
  const map: Record<string, Record<string, { system: string; code: string; display: string }>> = {};
  for (const [k, v] of ref.labCodes) {
    const [source, local] = k.split('\u0000') as [string, string];
    (map[source] ??= {})[local] = { system: v.system, code: v.code, display: v.display };
  }
  const m = `${bind(JSON.stringify(map))}::jsonb`;
  const national = JSON.stringify([...NATIONAL]);
  // The first coding with no system whose code the table maps for this source, when no coding has a national code.
  const mapped = `(SELECT ${m} -> ${system} -> (c.x ->> 'code') FROM jsonb_array_elements(${content} -> 'code' -> 'coding') WITH ORDINALITY c(x, i)
     WHERE jsonb_typeof(c.x) = 'object' AND COALESCE(c.x ->> 'system', '') = '' AND COALESCE(c.x ->> 'code', '') <> '' AND ${m} -> ${system} ? (c.x ->> 'code') ORDER BY c.i LIMIT 1)`;
  const hasNational = `EXISTS (SELECT 1 FROM jsonb_array_elements(${content} -> 'code' -> 'coding') n(x) WHERE jsonb_typeof(n.x) = 'object' AND (n.x -> 'system') <@ ${bind(national)}::jsonb AND jsonb_typeof(n.x -> 'system') = 'string' AND COALESCE(n.x ->> 'code', '') <> '')`;
  return `(CASE WHEN ${m} ? ${system} AND jsonb_typeof(${content} -> 'code' -> 'coding') = 'array' AND jsonb_array_length(${content} -> 'code' -> 'coding') > 0 AND NOT ${hasNational}
     THEN COALESCE((SELECT jsonb_set(${content} -> 'code', '{coding}', jsonb_build_array(x.v) || (${content} -> 'code' -> 'coding')) FROM (SELECT ${mapped} AS v) x WHERE x.v IS NOT NULL), ${content} -> 'code')
     ELSE ${content} -> 'code' END)`;
}
