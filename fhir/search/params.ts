/**
 * The FHIR R4 search parameters Bevan implements for clinical resources, as data (one table,
 * from the R4 search parameter registry: https://hl7.org/fhir/R4/searchparameter-registry.html),
 * and the parser that turns a query into a checked search: filters, the patient(s) it names,
 * sort, paging, _include/_revinclude and the parameters it does not support. Pure.
 *
 * A parameter's `paths` are where its values sit in the resource, each choice element written
 * as its concrete types (`effectiveDateTime`, `effectivePeriod`…), so matching (match.ts) needs
 * no FHIRPath engine.
 */
import { parseElements, type Subset } from './elements.ts';
import { dateRange, LOCAL_TIME_ZONE, PREFIXES, type Prefix, type Range } from './date-range.ts';
import type { PatientCriteria } from '../store.ts';

export const CLINICAL_TYPES = ['AllergyIntolerance', 'Appointment', 'CarePlan', 'Condition', 'DiagnosticReport', 'DocumentReference', 'Encounter', 'Immunization', 'MedicationAdministration', 'MedicationDispense', 'MedicationRequest', 'MedicationStatement', 'Observation', 'Procedure'] as const;
export type ClinicalType = (typeof CLINICAL_TYPES)[number];

export function isClinicalType(s: string): s is ClinicalType {
  return (CLINICAL_TYPES as readonly string[]).includes(s);
}

export type ParamType = 'token' | 'date' | 'reference' | 'quantity';

export interface SearchParamDef {
  name: string;
  type: ParamType;
  /** Element paths holding the values (dot-separated; arrays are walked). */
  paths: readonly string[];
  /** For a reference: the resource types it may point to (R4's targets). */
  targets?: readonly string[];
  /** R4's description of the parameter. */
  description: string;
}

const token = (name: string, paths: string[], description: string): SearchParamDef => ({ name, type: 'token', paths, description });
const date = (name: string, paths: string[], description: string): SearchParamDef => ({ name, type: 'date', paths, description });
const quantity = (name: string, paths: string[], description: string): SearchParamDef => ({ name, type: 'quantity', paths, description });
const reference = (name: string, paths: string[], targets: string[], description: string): SearchParamDef => ({ name, type: 'reference', paths, targets, description });

const PRACTITIONERS = ['Practitioner', 'PractitionerRole'];
const patientParam = (path: string) => reference('patient', [path], ['Patient'], 'Who the resource is about (a Patient): Patient/{id} or {id}');
const subjectParam = (targets: string[]) => reference('subject', ['subject'], targets, 'Who the resource is about: Patient/{id} (only Patient subjects are searched)');
const encounterParam = (path = 'encounter') => reference('encounter', [path], ['Encounter'], 'The Encounter the resource was made in');
const COMMON: SearchParamDef[] = [
  token('_id', ['id'], 'Logical id of the resource (the stable id Bevan serves)'),
  date('_lastUpdated', ['meta.lastUpdated'], 'When Bevan received this version'),
];

/** The search parameters per type: R4's names, types and elements, limited to what Bevan serves. */
export const SEARCH_PARAMETERS: Record<ClinicalType, readonly SearchParamDef[]> = {
  AllergyIntolerance: [
    patientParam('patient'),
    token('code', ['code', 'reaction.substance'], 'Code that identifies the allergy or intolerance, or a reaction substance'),
    token('clinical-status', ['clinicalStatus'], 'active | inactive | resolved'),
    token('verification-status', ['verificationStatus'], 'unconfirmed | confirmed | refuted | entered-in-error'),
    token('type', ['type'], 'allergy | intolerance'),
    token('category', ['category'], 'food | medication | environment | biologic'),
    token('criticality', ['criticality'], 'low | high | unable-to-assess'),
    date('date', ['recordedDate'], 'Date first version of the resource instance was recorded'),
    date('onset', ['reaction.onset'], 'Date(/time) when manifestations showed'),
    date('last-date', ['lastOccurrence'], 'Date(/time) of last known occurrence of a reaction'),
    token('severity', ['reaction.severity'], 'mild | moderate | severe (of event as a whole)'),
    token('manifestation', ['reaction.manifestation'], 'Clinical symptoms/signs associated with the event'),
    token('route', ['reaction.exposureRoute'], 'How the subject was exposed to the substance'),
    reference('asserter', ['asserter'], ['Patient', 'RelatedPerson', ...PRACTITIONERS], 'Source of the information about the allergy'),
    reference('recorder', ['recorder'], ['Patient', 'RelatedPerson', ...PRACTITIONERS], 'Who recorded the sensitivity'),
  ],
  Appointment: [
    patientParam('participant.actor'),
    reference('actor', ['participant.actor'], ['Device', 'HealthcareService', 'Location', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Any one of the individuals participating in the appointment'),
    reference('practitioner', ['participant.actor'], ['Practitioner'], 'One of the individuals of the appointment is this practitioner'),
    reference('location', ['participant.actor'], ['Location'], 'This location is listed in the participants of the appointment'),
    date('date', ['start'], 'Appointment date/time.'),
    token('status', ['status'], 'The overall status of the appointment'),
    token('identifier', ['identifier'], 'An Identifier of the Appointment'),
    token('service-type', ['serviceType'], 'The specific service that is to be performed during this appointment'),
    token('appointment-type', ['appointmentType'], 'The style of appointment or patient that has been booked in the slot (not service type)'),
    token('reason-code', ['reasonCode'], 'Coded reason this appointment is scheduled'),
    token('part-status', ['participant.status'], 'The Participation status of the subject, or other participant on the appointment'),
  ],
  CarePlan: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    date('date', ['period'], 'Time period plan covers'),
    token('status', ['status'], 'draft | active | on-hold | revoked | completed | entered-in-error | unknown'),
    token('category', ['category'], 'Type of plan'),
    token('intent', ['intent'], 'proposal | plan | order | option'),
    token('activity-code', ['activity.detail.code'], 'Detail type of activity'),
    date('activity-date', ['activity.detail.scheduledTiming.event', 'activity.detail.scheduledPeriod'], 'Specified date occurs within period specified by CarePlan.activity.detail.scheduled[x]'),
    encounterParam(),
    reference('care-team', ['careTeam'], ['CareTeam'], "Who's involved in plan?"),
    reference('condition', ['addresses'], ['Condition'], 'Health issues this plan addresses'),
    reference('goal', ['goal'], ['Goal'], 'Desired outcome of plan'),
    reference('activity-reference', ['activity.reference'], ['Appointment', 'CommunicationRequest', 'DeviceRequest', 'MedicationRequest', 'NutritionOrder', 'RequestGroup', 'ServiceRequest', 'Task', 'VisionPrescription'], 'Activity details defined in specific resource'),
    reference('based-on', ['basedOn'], ['CarePlan'], 'Fulfills CarePlan'),
    reference('part-of', ['partOf'], ['CarePlan'], 'Part of referenced CarePlan'),
    reference('replaces', ['replaces'], ['CarePlan'], 'CarePlan replaced by this CarePlan'),
    reference('performer', ['activity.detail.performer'], ['CareTeam', 'Device', 'HealthcareService', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Matches if the practitioner is listed as a performer in any of the "simple" activities'),
  ],
  Condition: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    encounterParam(),
    token('code', ['code'], 'Code for the condition'),
    token('category', ['category'], 'The category of the condition'),
    token('clinical-status', ['clinicalStatus'], 'The clinical status of the condition'),
    token('verification-status', ['verificationStatus'], 'unconfirmed | provisional | differential | confirmed | refuted | entered-in-error'),
    date('onset-date', ['onsetDateTime', 'onsetPeriod'], 'Date related onsets (dateTime and Period)'),
    date('recorded-date', ['recordedDate'], 'Date record was first recorded'),
    date('abatement-date', ['abatementDateTime', 'abatementPeriod'], 'Date-related abatements (dateTime and period)'),
    token('severity', ['severity'], 'The severity of the condition'),
    token('body-site', ['bodySite'], 'Anatomical location, if relevant'),
    reference('asserter', ['asserter'], ['Patient', 'RelatedPerson', ...PRACTITIONERS], 'Person who asserts this condition'),
  ],
  DiagnosticReport: [
    patientParam('subject'),
    subjectParam(['Device', 'Group', 'Location', 'Patient']),
    encounterParam(),
    token('code', ['code'], 'The code for the report, as opposed to codes for the atomic results, which are the names on the observation resource referred to from the result'),
    date('date', ['effectiveDateTime', 'effectivePeriod'], 'The clinically relevant time of the report'),
    token('status', ['status'], 'The status of the report'),
    token('category', ['category'], 'Which diagnostic discipline/department created the report'),
    reference('result', ['result'], ['Observation'], 'Link to an atomic result (observation resource)'),
    date('issued', ['issued'], 'When the report was issued'),
    reference('performer', ['performer'], ['CareTeam', 'Organization', ...PRACTITIONERS], 'Who is responsible for the report'),
    reference('results-interpreter', ['resultsInterpreter'], ['CareTeam', 'Organization', ...PRACTITIONERS], 'Who was the source of the report'),
    reference('based-on', ['basedOn'], ['CarePlan', 'ImmunizationRecommendation', 'MedicationRequest', 'NutritionOrder', 'ServiceRequest'], 'Reference to the service request'),
    token('conclusion', ['conclusionCode'], 'A coded conclusion (interpretation/impression) on the report'),
  ],
  DocumentReference: [
    patientParam('subject'),
    subjectParam(['Device', 'Group', 'Patient', 'Practitioner']),
    date('date', ['date'], 'When this document reference was created'),
    date('period', ['context.period'], 'Time of service that is being documented'),
    token('status', ['status'], 'current | superseded | entered-in-error'),
    token('type', ['type'], 'Kind of document (LOINC if possible)'),
    token('category', ['category'], 'Categorization of document'),
    token('identifier', ['masterIdentifier', 'identifier'], 'Master Version Specific Identifier'),
    token('contenttype', ['content.attachment.contentType'], 'Mime type of the content, with charset etc.'),
    token('relation', ['relatesTo.code'], 'replaces | transforms | signs | appends'),
    reference('relatesto', ['relatesTo.target'], ['DocumentReference'], 'Target of the relationship'),
    reference('author', ['author'], ['Device', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Who and/or what authored the document'),
    reference('authenticator', ['authenticator'], ['Organization', ...PRACTITIONERS], 'Who/what authenticated the document'),
    reference('encounter', ['context.encounter'], ['Encounter', 'EpisodeOfCare'], 'Context of the document  content'),
  ],
  Encounter: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    date('date', ['period'], 'A date within the period the Encounter lasted'),
    token('status', ['status'], 'planned | arrived | triaged | in-progress | onleave | finished | cancelled +'),
    token('class', ['class'], 'Classification of patient encounter'),
    token('type', ['type'], 'Specific type of encounter'),
    token('reason-code', ['reasonCode'], 'Coded reason the encounter takes place'),
    reference('service-provider', ['serviceProvider'], ['Organization'], 'The organization (facility) responsible for this encounter'),
    reference('episode-of-care', ['episodeOfCare'], ['EpisodeOfCare'], 'Episode(s) of care that this encounter should be recorded against'),
    reference('participant', ['participant.individual'], ['RelatedPerson', ...PRACTITIONERS], 'Persons involved in the encounter other than the patient'),
    reference('location', ['location.location'], ['Location'], 'Location the encounter takes place'),
    reference('based-on', ['basedOn'], ['ServiceRequest'], 'The ServiceRequest that initiated this encounter'),
    reference('part-of', ['partOf'], ['Encounter'], 'Another Encounter this encounter is part of'),
    reference('diagnosis', ['diagnosis.condition'], ['Condition', 'Procedure'], 'The diagnosis or procedure relevant to the encounter'),
  ],
  Immunization: [
    patientParam('patient'),
    date('date', ['occurrenceDateTime'], 'Vaccination (non)-Administration Date'),
    token('status', ['status'], 'Immunization event status'),
    token('vaccine-code', ['vaccineCode'], 'Vaccine Product Administered'),
    token('status-reason', ['statusReason'], 'Reason why the vaccine was not administered'),
    reference('location', ['location'], ['Location'], 'The service delivery location or facility in which the vaccine was / was to be administered'),
    reference('performer', ['performer.actor'], ['Organization', ...PRACTITIONERS], 'The practitioner or organization who played a role in the vaccination'),
    reference('reaction', ['reaction.detail'], ['Observation'], 'Additional information on reaction'),
    date('reaction-date', ['reaction.date'], 'When reaction started'),
    token('reason-code', ['reasonCode'], 'Reason why the vaccine was administered'),
    reference('reason-reference', ['reasonReference'], ['Condition', 'DiagnosticReport', 'Observation'], 'Why immunization occurred'),
    reference('manufacturer', ['manufacturer'], ['Organization'], 'Vaccine Manufacturer'),
    token('target-disease', ['protocolApplied.targetDisease'], 'The target disease the dose is being administered against'),
  ],
  MedicationAdministration: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    token('code', ['medicationCodeableConcept'], 'Return administrations of this medication code'),
    reference('medication', ['medicationReference'], ['Medication'], 'Return administrations of this medication resource'),
    date('effective-time', ['effectiveDateTime', 'effectivePeriod'], 'Date administration happened (or did not happen)'),
    token('status', ['status'], 'MedicationAdministration event status (for example one of active/paused/completed/nullified)'),
    token('identifier', ['identifier'], 'Return administrations with this external identifier'),
    token('reason-given', ['reasonCode'], 'Reasons for administering the medication'),
    token('reason-not-given', ['statusReason'], 'Reasons for not administering the medication'),
    reference('request', ['request'], ['MedicationRequest'], 'The identity of a request to list administrations from'),
    reference('performer', ['performer.actor'], ['Device', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'The identity of the individual who administered the medication'),
    reference('context', ['context'], ['Encounter', 'EpisodeOfCare'], 'Return administrations that share this encounter or episode of care'),
  ],
  MedicationDispense: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    token('code', ['medicationCodeableConcept'], 'Returns dispenses of this medicine code'),
    reference('medication', ['medicationReference'], ['Medication'], 'Returns dispenses of this medicine resource'),
    token('status', ['status'], 'Returns dispenses with a specified dispense status'),
    token('identifier', ['identifier'], 'Returns dispenses with this external identifier'),
    date('whenhandedover', ['whenHandedOver'], 'Returns dispenses handed over on this date'),
    date('whenprepared', ['whenPrepared'], 'Returns dispenses prepared on this date'),
    reference('prescription', ['authorizingPrescription'], ['MedicationRequest'], 'Multiple Resources: The identity of a prescription to list dispenses from'),
    reference('performer', ['performer.actor'], ['Device', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Returns dispenses performed by a specific individual'),
    reference('destination', ['destination'], ['Location'], 'Returns dispenses that should be sent to a specific destination'),
    reference('context', ['context'], ['Encounter', 'EpisodeOfCare'], 'Returns dispenses with a specific context (episode or episode of care)'),
  ],
  MedicationRequest: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    token('code', ['medicationCodeableConcept'], 'Return prescriptions of this medication code'),
    reference('medication', ['medicationReference'], ['Medication'], 'Return prescriptions for this medication reference'),
    token('status', ['status'], 'Status of the prescription'),
    token('intent', ['intent'], 'Returns prescriptions with different intents'),
    token('category', ['category'], 'Returns prescriptions with different categories'),
    token('priority', ['priority'], 'Returns prescriptions with different priorities'),
    date('authoredon', ['authoredOn'], 'Return prescriptions written on this date'),
    date('date', ['dosageInstruction.timing.event'], 'Returns medication request to be administered on a specific date'),
    encounterParam(),
    reference('requester', ['requester'], ['Device', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Returns prescriptions prescribed by this prescriber'),
    reference('intended-dispenser', ['dispenseRequest.performer'], ['Organization'], 'Returns prescriptions intended to be dispensed by this Organization'),
    reference('intended-performer', ['performer'], ['CareTeam', 'Device', 'HealthcareService', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Returns the intended performer of the administration of the medication request'),
  ],
  MedicationStatement: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    token('code', ['medicationCodeableConcept'], 'Return statements of this medication code'),
    reference('medication', ['medicationReference'], ['Medication'], 'Return statements of this medication reference'),
    token('category', ['category'], 'Returns statements of this category of medicationstatement'),
    token('status', ['status'], 'Return statements that match the given status'),
    date('effective', ['effectiveDateTime', 'effectivePeriod'], 'Date when patient was taking (or not taking) the medication'),
    reference('context', ['context'], ['Encounter', 'EpisodeOfCare'], 'Returns statements for a specific context (episode or episode of Care)'),
    reference('source', ['informationSource'], ['Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Who or where the information in the statement came from'),
  ],
  Observation: [
    patientParam('subject'),
    subjectParam(['Device', 'Group', 'Location', 'Patient']),
    encounterParam(),
    token('code', ['code'], 'The code of the observation type'),
    token('category', ['category'], 'The classification of the type of observation'),
    token('status', ['status'], 'The status of the observation'),
    date('date', ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant', 'effectiveTiming.event'], 'Obtained date/time. If the obtained element is a period, a date that falls in the period'),
    reference('based-on', ['basedOn'], ['CarePlan', 'DeviceRequest', 'ImmunizationRecommendation', 'MedicationRequest', 'NutritionOrder', 'ServiceRequest'], 'Reference to the service request'),
    reference('has-member', ['hasMember'], ['MolecularSequence', 'Observation', 'QuestionnaireResponse'], 'Related resource that belongs to the Observation group'),
    reference('derived-from', ['derivedFrom'], ['DocumentReference', 'ImagingStudy', 'Media', 'MolecularSequence', 'Observation', 'QuestionnaireResponse'], 'Related measurements the observation is made from'),
    reference('performer', ['performer'], ['CareTeam', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'Who performed the observation'),
    quantity('value-quantity', ['valueQuantity'], 'The value of the observation, if the value is a Quantity, or a SampledData (just search on the bounds of the values in sampled data)'),
    token('value-concept', ['valueCodeableConcept'], 'The value of the observation, if the value is a CodeableConcept'),
    date('value-date', ['valueDateTime', 'valuePeriod'], 'The value of the observation, if the value is a date or period of time'),
    token('component-code', ['component.code'], 'The component code of the observation type'),
    quantity('component-value-quantity', ['component.valueQuantity'], 'The value of the component observation, if the value is a Quantity, or a SampledData (just search on the bounds of the values in sampled data)'),
    token('component-value-concept', ['component.valueCodeableConcept'], 'The value of the component observation, if the value is a CodeableConcept'),
    token('combo-code', ['code', 'component.code'], 'The code of the observation type or component type'),
    quantity('combo-value-quantity', ['valueQuantity', 'component.valueQuantity'], 'The value or component value of the observation, if the value is a Quantity, or a SampledData (just search on the bounds of the values in sampled data)'),
    token('combo-value-concept', ['valueCodeableConcept', 'component.valueCodeableConcept'], 'The value or component value of the observation, if the value is a CodeableConcept'),
    token('data-absent-reason', ['dataAbsentReason'], 'The reason why the expected value in the element Observation.value[x] is missing'),
    token('interpretation', ['interpretation'], 'The interpretation of the observation'),
  ],
  Procedure: [
    patientParam('subject'),
    subjectParam(['Group', 'Patient']),
    encounterParam(),
    token('code', ['code'], 'A code to identify a procedure'),
    date('date', ['performedDateTime', 'performedPeriod'], 'When the procedure was performed'),
    token('status', ['status'], 'preparation | in-progress | not-done | on-hold | stopped | completed | entered-in-error | unknown'),
    token('category', ['category'], 'Classification of the procedure'),
    reference('performer', ['performer.actor'], ['Device', 'Organization', 'Patient', 'RelatedPerson', ...PRACTITIONERS], 'The reference to the practitioner'),
    reference('location', ['location'], ['Location'], 'Where the procedure happened'),
    token('reason-code', ['reasonCode'], 'Coded reason procedure performed'),
    reference('reason-reference', ['reasonReference'], ['Condition', 'DiagnosticReport', 'DocumentReference', 'Observation', 'Procedure'], 'The justification that the procedure was performed'),
    reference('based-on', ['basedOn'], ['CarePlan', 'ServiceRequest'], 'A request for this procedure'),
    reference('part-of', ['partOf'], ['MedicationAdministration', 'Observation', 'Procedure'], 'Part of referenced event'),
  ],
};

/** A type's parameters, the common ones (_id, _lastUpdated) included. */
export function paramsOf(type: ClinicalType): readonly SearchParamDef[] {
  return [...SEARCH_PARAMETERS[type], ...COMMON];
}

export function paramOf(type: ClinicalType, name: string): SearchParamDef | undefined {
  return paramsOf(type).find((p) => p.name === name);
}

/** The date parameter a search sorts on when it asks for no order (newest first). */
export const DEFAULT_SORT: Record<ClinicalType, string> = {
  AllergyIntolerance: 'date',
  Appointment: 'date',
  CarePlan: 'date',
  Condition: 'onset-date',
  DiagnosticReport: 'date',
  DocumentReference: 'date',
  Encounter: 'date',
  Immunization: 'date',
  MedicationAdministration: 'effective-time',
  MedicationDispense: 'whenhandedover',
  MedicationRequest: 'authoredon',
  MedicationStatement: 'effective',
  Observation: 'date',
  Procedure: 'date',
};

/** The control parameters every clinical search takes besides its type's own. */
export const CONTROL_PARAMS = ['_count', '_offset', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_format', '_pretty'] as const;

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 100;
/** The most people one search may name. */
export const MAX_PATIENTS = 20;
/** Longest single value (after splitting a comma list), and longest raw parameter value. */
const MAX_VALUE = 200;
const MAX_RAW = 4000;
const MAX_VALUES = 200;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE_NAME = /^[A-Z][A-Za-z]{1,63}$/;

export interface TokenValue {
  /** undefined: any system; '': no system (`|code`). */
  system?: string;
  /** undefined: any code (`system|`). */
  code?: string;
}

export type Filter =
  | { kind: 'token'; param: SearchParamDef; modifier: 'none' | 'not'; values: TokenValue[] }
  | { kind: 'text'; param: SearchParamDef; values: string[] }
  | { kind: 'date'; param: SearchParamDef; values: { prefix: Prefix; range: Range; raw: string }[] }
  | { kind: 'reference'; param: SearchParamDef; values: { type?: string; id: string }[] }
  | { kind: 'quantity'; param: SearchParamDef; values: QuantityValue[] }
  | { kind: 'missing'; param: SearchParamDef; missing: boolean };

/** `[prefix]number[|system|code]` (https://hl7.org/fhir/R4/search.html#quantity). */
export interface QuantityValue {
  prefix: Prefix;
  value: number;
  /** The range the number's precision implies (5.4 is [5.35, 5.45)). */
  lo: number;
  hi: number;
  /** undefined: any system (`5||mg` or `5`). */
  system?: string;
  /** undefined: any unit. */
  code?: string;
  raw: string;
}

export interface SortKey {
  param: SearchParamDef;
  descending: boolean;
}

/** `_include=Source:param[:Target]` or `_revinclude=Source:param[:Target]`. */
export interface IncludeSpec {
  source: ClinicalType;
  param: SearchParamDef;
  target?: string;
  /** As asked, for links and audit. */
  raw: string;
}

export interface ClinicalSearch {
  resourceType: ClinicalType;
  /** One list per patient/subject parameter given (OR within a list, AND across lists): person or source Patient ids. */
  patients: string[][];
  /** AND across filters. */
  filters: Filter[];
  sort: SortKey[];
  count: number;
  offset: number;
  /** `_summary=count`: the total only. */
  summaryCount: boolean;
  /** `_elements` or `_summary=data`: the matches cut down (fhir/search/elements.ts). */
  subset?: Subset;
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  /** Parameters not supported, reported (or refused under handling=strict). */
  unknown: string[];
  /**
   * Chained patient parameters (`patient.identifier=…`, `subject:Patient.birthdate=…`): each a
   * Patient search whose people are named, as one more patient list (AND with the others).
   */
  patientChains?: { raw: string; criteria: PatientCriteria }[];
}

export type ParsedClinicalSearch = { kind: 'ok'; search: ClinicalSearch } | { kind: 'invalid'; problems: string[] };

export interface ParseOptions {
  /** Zone for dates without one (default Europe/London). */
  zone?: string;
  /**
   * Parses the Patient search parameter of a chain (`identifier`, `birthdate`…) into criteria;
   * without it, chained parameters are unsupported (fhir/patient-search.ts has the parser).
   */
  patientChain?: (param: string, values: string[]) => { criteria: PatientCriteria } | { problems: string[] };
}

type Query = Record<string, string | string[] | undefined>;

/**
 * Parses a clinical search (https://hl7.org/fhir/R4/search.html). A parameter may repeat (AND);
 * a value may be a comma list (OR); `\,` `\|` `\$` `\\` are escapes. Invalid values are problems
 * (a 400); unsupported parameters are listed in `unknown`; unsupported modifiers are problems,
 * since ignoring one (e.g. `:not`) would change the meaning of the search.
 */
export function parseClinicalSearch(resourceType: ClinicalType, query: Query, opts: ParseOptions = {}): ParsedClinicalSearch {
  const zone = opts.zone ?? LOCAL_TIME_ZONE;
  const problems: string[] = [];
  const out: ClinicalSearch = { resourceType, patients: [], filters: [], sort: [], count: DEFAULT_COUNT, offset: 0, summaryCount: false, include: [], revinclude: [], unknown: [] };
  let valueCount = 0;
  for (const [rawKey, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).map(String);
    valueCount += values.length;
    if (values.some((v) => v.length > MAX_RAW)) {
      problems.push(`${rawKey}: a value over ${MAX_RAW} characters`);
      continue;
    }
    const colon = rawKey.indexOf(':');
    const name = colon < 0 ? rawKey : rawKey.slice(0, colon);
    const modifier = colon < 0 ? undefined : rawKey.slice(colon + 1);
    if (name.startsWith('_') && !paramOf(resourceType, name)) {
      if (modifier !== undefined || !(CONTROL_PARAMS as readonly string[]).includes(name)) {
        out.unknown.push(rawKey);
        continue;
      }
      control(name, values);
      continue;
    }
    const chain = chainOf(name, modifier);
    if (chain) {
      const base = paramOf(resourceType, chain.base);
      if (!base || !isPatientParam(base) || !opts.patientChain || chain.param.includes('.')) {
        out.unknown.push(rawKey);
        continue;
      }
      const parsed = opts.patientChain(chain.param, values);
      if ('problems' in parsed) problems.push(...parsed.problems.map((x) => `${rawKey}: ${x}`));
      else (out.patientChains ??= []).push({ raw: rawKey, criteria: parsed.criteria });
      continue;
    }
    const param = paramOf(resourceType, name);
    if (!param || name.includes('.')) {
      out.unknown.push(rawKey);
      continue;
    }
    const lists = values.map(splitList);
    if (lists.some((l) => l.some((x) => x.length > MAX_VALUE))) {
      problems.push(`${name}: a value over ${MAX_VALUE} characters`);
      continue;
    }
    if (lists.some((l) => l.length === 0)) {
      problems.push(`${rawKey}: an empty value`);
      continue;
    }
    if (modifier === 'missing') {
      for (const l of lists) {
        if (l.length !== 1 || (l[0] !== 'true' && l[0] !== 'false')) problems.push(`${rawKey}: true or false`);
        else if (isPatientParam(param)) problems.push(`${rawKey}: a clinical search names the patient (${name}=Patient/{id})`);
        else out.filters.push({ kind: 'missing', param, missing: l[0] === 'true' });
      }
      continue;
    }
    switch (param.type) {
      case 'token':
        for (const l of lists) tokenFilter(rawKey, param, modifier, l);
        break;
      case 'date':
        if (modifier !== undefined) {
          problems.push(`${rawKey}: the modifier "${modifier}" is not supported on a date (only :missing)`);
          break;
        }
        for (const l of lists) {
          const parsed: { prefix: Prefix; range: Range; raw: string }[] = [];
          for (const v of l) {
            const m = /^([a-z]{2})?(\d.*)$/.exec(v);
            const prefix = (m?.[1] ?? 'eq') as Prefix;
            const range = m ? dateRange(m[2]!, zone) : null;
            if (!m || !(PREFIXES as readonly string[]).includes(prefix)) problems.push(`${name}: "${v}" has no known prefix (eq, ne, gt, lt, ge, le, sa, eb, ap) before a date`);
            else if (!range) problems.push(`${name}: "${v}" is not a date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z|±hh:mm], after an optional prefix)`);
            else parsed.push({ prefix, range, raw: v });
          }
          out.filters.push({ kind: 'date', param, values: parsed });
        }
        break;
      case 'reference':
        for (const l of lists) referenceFilter(rawKey, param, modifier, l);
        break;
      case 'quantity':
        if (modifier !== undefined) {
          problems.push(`${rawKey}: the modifier "${modifier}" is not supported on a quantity (only :missing)`);
          break;
        }
        for (const l of lists) {
          const parsed: QuantityValue[] = [];
          for (const v of l) {
            const q = parseQuantity(v);
            if (typeof q === 'string') problems.push(`${name}: ${q}`);
            else parsed.push(q);
          }
          out.filters.push({ kind: 'quantity', param, values: parsed });
        }
        break;
    }
  }
  if (valueCount > MAX_VALUES) problems.push(`more than ${MAX_VALUES} parameter values`);
  if (out.patients.flat().length > MAX_PATIENTS) problems.push(`a search names at most ${MAX_PATIENTS} patients`);
  if (problems.length) return { kind: 'invalid', problems };
  return { kind: 'ok', search: out };

  function control(name: string, values: string[]): void {
    const last = values.at(-1)!;
    switch (name) {
      case '_count': {
        const n = wholeNumber(last);
        if (n === null) problems.push(`_count: "${last}" is not a whole number`);
        else out.count = Math.min(n, MAX_COUNT);
        break;
      }
      case '_offset': {
        const n = wholeNumber(last);
        if (n === null || n > 1_000_000) problems.push(`_offset: "${last}" is not a whole number up to 1000000`);
        else out.offset = n;
        break;
      }
      case '_summary':
        if (last === 'count') out.summaryCount = true;
        else if (last === 'data') out.subset ??= { kind: 'data' };
        else if (last !== 'false') out.unknown.push(`_summary=${last}`);
        break;
      case '_elements': {
        const e = parseElements(values);
        if ('problem' in e) problems.push(e.problem);
        else out.subset = { kind: 'elements', names: e.names };
        break;
      }
      case '_total':
        // The total is always counted exactly, which every value allows.
        if (!['none', 'estimate', 'accurate'].includes(last)) problems.push(`_total: "${last}" is not none, estimate or accurate`);
        break;
      case '_sort':
        for (const v of values.flatMap((x) => x.split(','))) {
          const descending = v.startsWith('-');
          const key = descending ? v.slice(1) : v;
          const p = paramOf(resourceType, key);
          if (!p || (p.type !== 'date' && p.name !== '_id')) problems.push(`_sort: "${v}" is not a sort this server offers for ${resourceType} (${sortable(resourceType).join(', ')}, each with an optional leading -)`);
          else out.sort.push({ param: p, descending });
        }
        break;
      case '_include':
      case '_revinclude':
        for (const v of values.flatMap((x) => x.split(','))) {
          const spec = parseIncludeSpec(v);
          if (typeof spec === 'string') problems.push(`${name}: ${spec}`);
          else if (name === '_include' && spec.source !== resourceType) problems.push(`_include: "${v}" must start with ${resourceType}:`);
          else if (name === '_revinclude' && !(spec.param.targets ?? []).includes(resourceType)) problems.push(`_revinclude: ${spec.source}:${spec.param.name} does not point at ${resourceType}`);
          else out[name === '_include' ? 'include' : 'revinclude'].push(spec);
        }
        break;
      case '_format':
      case '_pretty':
        break;
    }
  }

  function tokenFilter(rawKey: string, param: SearchParamDef, modifier: string | undefined, list: string[]): void {
    if (modifier === 'text') {
      out.filters.push({ kind: 'text', param, values: list.map(unescape) });
      return;
    }
    if (modifier !== undefined && modifier !== 'not') {
      problems.push(`${rawKey}: the modifier "${modifier}" is not supported (token: :text, :not, :missing)`);
      return;
    }
    const values: TokenValue[] = [];
    for (const v of list) {
      const bar = indexOfUnescaped(v, '|');
      if (bar < 0) values.push({ code: unescape(v) });
      else {
        const system = unescape(v.slice(0, bar));
        const code = unescape(v.slice(bar + 1));
        if (!system && !code) problems.push(`${param.name}: "|" alone names no code`);
        else values.push(code ? { system, code } : { system });
      }
    }
    out.filters.push({ kind: 'token', param, modifier: modifier === 'not' ? 'not' : 'none', values });
  }

  function referenceFilter(rawKey: string, param: SearchParamDef, modifier: string | undefined, list: string[]): void {
    if (modifier !== undefined && !((param.targets ?? []).includes(modifier) && TYPE_NAME.test(modifier))) {
      problems.push(`${rawKey}: the modifier "${modifier}" is not supported (reference: :[type] of ${(param.targets ?? []).join(', ')}, :missing)`);
      return;
    }
    const refs: { type?: string; id: string }[] = [];
    for (const v of list.map(unescape)) {
      const m = /^(?:([A-Z][A-Za-z]{1,63})\/)?([^/]+)$/.exec(v);
      const type = m?.[1] ?? modifier;
      if (!m || !ID.test(m[2]!)) problems.push(`${param.name}: "${v}" is not a reference (Type/id or id)`);
      else if (type && !(param.targets ?? []).includes(type)) problems.push(`${param.name}: ${type} is not a target of ${param.name} (${(param.targets ?? []).join(', ')})`);
      else if (modifier && m[1] && m[1] !== modifier) problems.push(`${rawKey}: "${v}" is not a ${modifier}`);
      else refs.push(type ? { type, id: m[2]! } : { id: m[2]! });
    }
    if (isPatientParam(param)) {
      // patient / subject name the people searched; only Patient subjects are held.
      const bad = refs.filter((r) => r.type !== undefined && r.type !== 'Patient');
      if (bad.length) problems.push(`${param.name}: only Patient references are searched (${bad.map((r) => `${r.type}/${r.id}`).join(', ')})`);
      else out.patients.push(refs.map((r) => r.id));
      return;
    }
    out.filters.push({ kind: 'reference', param, values: refs });
  }
}

/**
 * A chained parameter on the patient: `patient.identifier`, `subject.name`, or with the target
 * type, `subject:Patient.identifier` (https://hl7.org/fhir/R4/search.html#chaining).
 */
function chainOf(name: string, modifier: string | undefined): { base: string; param: string } | null {
  const dot = name.indexOf('.');
  if (dot > 0) return { base: name.slice(0, dot), param: name.slice(dot + 1) + (modifier !== undefined ? `:${modifier}` : '') };
  const m = modifier === undefined ? null : /^Patient\.(.+)$/.exec(modifier);
  return m ? { base: name, param: m[1]! } : null;
}

/** True for the parameters that name the person searched (patient, subject). */
export function isPatientParam(p: SearchParamDef): boolean {
  return p.type === 'reference' && (p.name === 'patient' || p.name === 'subject');
}

/** The parameters a type's search may sort on. */
export function sortable(type: ClinicalType): string[] {
  return paramsOf(type).filter((p) => p.type === 'date' || p.name === '_id').map((p) => p.name);
}

/** `Source:param[:Target]` as an include spec, or a problem. */
export function parseIncludeSpec(v: string): IncludeSpec | string {
  const [source, name, target, ...rest] = v.split(':');
  if (!source || !name || rest.length) return `"${v}" is not Type:parameter[:targetType]`;
  if (!isClinicalType(source)) return `"${v}": ${source} is not a type this server searches (${CLINICAL_TYPES.join(', ')})`;
  const param = paramOf(source, name);
  if (!param || param.type !== 'reference') return `"${v}": ${name} is not a reference parameter of ${source} (${paramsOf(source).filter((p) => p.type === 'reference').map((p) => p.name).join(', ')})`;
  if (target !== undefined && !(param.targets ?? []).includes(target)) return `"${v}": ${target} is not a target of ${source}:${name}`;
  return target ? { source, param, target, raw: v } : { source, param, raw: v };
}

/** Every `Source:param` a type may be _include'd from, or _revinclude'd by (for the CapabilityStatement). */
export function includesOf(type: ClinicalType): string[] {
  return SEARCH_PARAMETERS[type].filter((p) => p.type === 'reference').map((p) => `${type}:${p.name}`);
}

export function revincludesOf(target: string): string[] {
  return CLINICAL_TYPES.flatMap((t) => SEARCH_PARAMETERS[t].filter((p) => p.type === 'reference' && (p.targets ?? []).includes(target)).map((p) => `${t}:${p.name}`));
}

/** `[prefix]number[|system|code]`, or why it is not one. The system and code may hold escaped `|`. */
export function parseQuantity(v: string): QuantityValue | string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') i++;
    else if (v[i] === '|') {
      parts.push(v.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(v.slice(start));
  if (parts.length !== 1 && parts.length !== 3) return `"${v}" is not [prefix]number or [prefix]number|system|code`;
  const m = /^([a-z]{2})?([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)$/.exec(parts[0]!);
  const prefix = (m?.[1] ?? 'eq') as Prefix;
  if (!m || !(PREFIXES as readonly string[]).includes(prefix)) return `"${v}" has no number after an optional prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)`;
  const text = m[2]!;
  const value = Number(text);
  if (!Number.isFinite(value)) return `"${v}" is not a number`;
  // Implicit precision: half a unit of the last digit given either side (https://hl7.org/fhir/R4/search.html#number).
  const mantissa = text.replace(/^[-+]/, '').split(/[eE]/)[0]!;
  const exponent = Number(text.split(/[eE]/)[1] ?? 0);
  const decimals = mantissa.includes('.') ? mantissa.length - mantissa.indexOf('.') - 1 : 0;
  const half = 0.5 * 10 ** (exponent - decimals);
  const out: QuantityValue = { prefix, value, lo: value - half, hi: value + half, raw: v };
  if (parts.length === 3) {
    const system = unescape(parts[1]!);
    const code = unescape(parts[2]!);
    if (system) out.system = system;
    if (code) out.code = code;
  }
  return out;
}

function wholeNumber(s: string): number | null {
  if (!/^\d{1,9}$/.test(s)) return null;
  return Number(s);
}

/** Splits a comma list on unescaped commas; empty items are dropped. */
export function splitList(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length) {
      cur += c + v[i + 1];
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

function indexOfUnescaped(v: string, ch: string): number {
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') i++;
    else if (v[i] === ch) return i;
  }
  return -1;
}

/** Removes FHIR search escapes (`\,` `\|` `\$` `\\`). */
export function unescape(v: string): string {
  return v.replace(/\\([,|$\\])/g, '$1');
}
