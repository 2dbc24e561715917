/**
 * What the HL7 v2 mappers share: the content error that becomes a quarantine reason, the message
 * context, patient groups, coded values and times. Pure.
 */
import { sha256Hex } from '../prepare.ts';
import type { Annotation, CodeableConcept, Coding } from '@medplum/fhirtypes';
import type { ItemResource } from '../model.ts';
import { hl7Time, type Hl7Segment, type Hl7Time, type Hl7View } from './hl7-text.ts';

/** A content error found while mapping: becomes a RejectedItem with this reason. */
export class ContentError extends Error {}

/**
 * A mapped resource as an item carries it: the message's time, and its patient when the message
 * names several (ItemResource.subject). A function rather than a closure per message: under tsx
 * every named closure costs an Object.defineProperty each time it is made (esbuild's keepNames).
 */
export function itemResource(resource: ItemResource['resource'], sourceTime: string | undefined, subject: string | undefined): ItemResource {
  return subject !== undefined ? { resource, sourceTime, subject } : { resource, sourceTime };
}

export function fail(reason: string): never {
  throw new ContentError(reason);
}

export interface MapContext {
  v: Hl7View;
  /** Source system key, e.g. `hl7:RM2`. */
  system: string;
  /** `ADT^A01` */
  event: string;
  trigger: string;
  messageId: string;
  /**
   * MSH-7 (else EVN-2, else EVN-6) as a UTC instant: every resource's sourceTime. Absent when the
   * message carries no time at all: its resources are kept without one (the last to arrive wins).
   */
  sourceTime?: string;
  /** MSH-12 major.minor as a number (2.3 → 2.3, 2.5.1 → 2.5); 2.4 when absent. */
  version: number;
}

/** Identifier system for a source system's own ids, e.g. `urn:bevan:source:hl7:RM2:mrn`. */
export function sourceIdentifierSystem(system: string, kind: 'mrn' | 'visit' | 'filler' | 'placer' | 'document' | 'prescription'): string {
  return `urn:bevan:source:${system}:${kind}`;
}

/** One patient's segments: a PID and everything after it up to the next PID. */
export interface PatientGroup {
  pid: Hl7Segment;
  segments: Hl7Segment[];
}

/** Splits a message into patient groups (HL7 messages repeat PID to carry several patients). */
export function patientGroups(v: Hl7View): PatientGroup[] {
  const groups: PatientGroup[] = [];
  for (const s of v.message.segments) {
    if (s.name === 'PID') groups.push({ pid: s, segments: [] });
    else if (groups.length) groups[groups.length - 1]!.segments.push(s);
  }
  return groups;
}

/** A short stable hash for keys derived from content (hex, 16 characters). */
export function shortHash(...parts: string[]): string {
  return sha256Hex(parts.join('\u0000')).slice(0, 16);
}

/**
 * `""`, HL7's explicit null (v2.8 chapter 2.5.3: the receiver deletes what it held): no value, so
 * never an impossible date.
 */
export const HL7_NULL = '""';

/** A time field that places the person or the event: an impossible value quarantines the message. */
export function timeField(v: Hl7View, seg: Hl7Segment | undefined, field: number, label: string): Hl7Time | undefined {
  const raw = v.get(seg, field);
  if (!raw || raw === HL7_NULL) return undefined;
  return hl7Time(raw) ?? fail(`${label} ${JSON.stringify(raw)} is not a valid date/time (expected YYYYMMDD[HHMM[SS]][+/-ZZZZ])`);
}

/**
 * A time field that only annotates a fact (a result's report time, a diagnosis date): an
 * impossible value is left out with a note, since the fact itself is still worth having.
 */
export function annotatingTime(v: Hl7View, seg: Hl7Segment | undefined, field: number, label: string, notes: Annotation[]): Hl7Time | undefined {
  return annotatingTimeOf(v.get(seg, field), label, notes);
}

/** annotatingTime of a value already read (a component: SCH-11.4, RXE-1.4). */
export function annotatingTimeOf(raw: string, label: string, notes: Annotation[]): Hl7Time | undefined {
  if (!raw || raw === HL7_NULL) return undefined;
  const t = hl7Time(raw);
  if (!t) notes.push({ text: `${label} ${JSON.stringify(raw)} is not a valid date/time; left out` });
  return t;
}

const SNOMED = 'http://snomed.info/sct';

/** HL7 table 0396 coding system names → FHIR code system URIs (the common ones). */
export function codeSystemUri(name: string): string | undefined {
  const n = name.trim().toUpperCase();
  if (!n) return undefined;
  if (n === 'SCT' || n === 'SNM' || n === 'SNM3' || n === 'SNOMED' || n === 'SNOMEDCT' || n === 'SNOMED-CT') return SNOMED;
  if (n === 'LN' || n === 'LOINC') return 'http://loinc.org';
  if (n === 'UCUM') return 'http://unitsofmeasure.org';
  if (n === 'I10' || n === 'ICD10' || n === 'I10C' || n === 'ICD-10') return 'http://hl7.org/fhir/sid/icd-10';
  if (n === 'I9' || n === 'I9C' || n === 'ICD9' || n === 'I9CDX' || n === 'I9CM') return 'http://hl7.org/fhir/sid/icd-9-cm';
  // NCI Thesaurus (the IIS guide's RXR-1 route, "C28161^IM^NCIT"), as terminology.hl7.org names it.
  if (n === 'NCIT') return 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl';
  if (n === 'RXNORM' || n === 'RXN') return 'http://www.nlm.nih.gov/research/umls/rxnorm';
  if (n === 'CVX') return 'http://hl7.org/fhir/sid/cvx';
  if (n === 'NDC') return 'http://hl7.org/fhir/sid/ndc';
  if (n === 'DMD' || n === 'DM+D') return 'https://dmd.nhs.uk';
  if (n === 'OPCS' || n === 'OPCS4') return 'https://fhir.nhs.uk/Id/opcs-4';
  const table = /^HL7(\d{4})$/.exec(n);
  if (table) return `http://terminology.hl7.org/CodeSystem/v2-${table[1]}`;
  return undefined;
}

/**
 * A CE/CWE/CNE value (one repetition) → CodeableConcept: components 1–3 the code, 4–6 the
 * alternate code (both kept), 9 the original text. Undefined when it is empty.
 */
export function codeableFromRep(v: Hl7View, rep: string | undefined): CodeableConcept | undefined {
  if (rep === undefined) return undefined;
  const coding: Coding[] = [];
  let firstDisplay = '';
  for (const base of [0, 3]) {
    const code = v.fromRepetition(rep, base + 1);
    const display = v.fromRepetition(rep, base + 2);
    if (!firstDisplay && display) firstDisplay = display;
    if (!code) continue;
    const system = codeSystemUri(v.fromRepetition(rep, base + 3));
    coding.push({ ...(system ? { system } : {}), code, ...(display ? { display } : {}) });
  }
  const text = v.fromRepetition(rep, 9) || firstDisplay;
  if (!coding.length && !text) return undefined;
  if (!coding.length) return { text };
  return { coding, ...(text ? { text } : {}) };
}

/** A coded field (first repetition) → CodeableConcept. */
export function codeable(v: Hl7View, seg: Hl7Segment | undefined, field: number): CodeableConcept | undefined {
  return codeableFromRep(v, v.repetitions(seg, field)[0]);
}

/** A person's name from an XCN (id^family^given^middle^suffix^prefix) repetition, for display. */
export function xcnDisplay(v: Hl7View, rep: string): string {
  return [v.fromRepetition(rep, 6), v.fromRepetition(rep, 3), v.fromRepetition(rep, 4), v.fromRepetition(rep, 2, 1)].filter(Boolean).join(' ');
}
