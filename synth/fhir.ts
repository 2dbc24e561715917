/**
 * GP records as FHIR R4 Bundles in UK Core style (docs/feeds.md, "FHIR R4"): one Bundle per
 * patient registration, `Bundle.meta.source = gp:<ODS>`, NHS number under
 * https://fhir.nhs.uk/Id/nhs-number with the UK Core verification status extension, and the
 * registered practice as an ODS identifier. https://simplifier.net/hl7fhirukcorer4
 */
import type { Bundle, BundleEntry, CodeableConcept, Patient, Reference, Resource } from '@medplum/fhirtypes';
import conditionData from './codes/conditions.json' with { type: 'json' };
import medicineData from './codes/medicines.json' with { type: 'json' };
import observationData from './codes/observations.json' with { type: 'json' };
import procedureData from './codes/procedures.json' with { type: 'json' };
import { isoDate, isoInstant } from './dates.ts';
import type { Demographics } from './identity.ts';
import type { Practice } from './locality.ts';
import { VACCINES } from './clinical.ts';
import { CONDITIONS, type History, type Person } from './population.ts';
import type { Random } from './random.ts';

export const SNOMED = 'http://snomed.info/sct';
export const DMD = 'https://dmd.nhs.uk';
export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const VERIFICATION_URL = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus';
const VERIFICATION_SYSTEM = 'https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland';
const UCUM = 'http://unitsofmeasure.org';

type ObsDef = { code: string; display: string; unit?: string; ucum?: string };
const OBS = observationData.observations as Record<string, ObsDef>;
const MEDS = medicineData.medicines as Record<string, { code: string | null; display: string; dose: string }>;

const sct = (code: string, display: string): CodeableConcept => ({ coding: [{ system: SNOMED, code, display }] });
const status = (system: string, code: string): CodeableConcept => ({ coding: [{ system, code }] });

function medicineConcept(key: string): CodeableConcept {
  const m = MEDS[key]!;
  return m.code ? { coding: [{ system: DMD, code: m.code, display: m.display }] } : { text: m.display };
}

export type BundleType = 'collection' | 'transaction' | 'batch';

export interface GpRegistration {
  patientId: string;
  practice: Practice;
  demographics: Demographics;
  /** Verification status code: 01 verified, 02 present but not traced. */
  verification: '01' | '02';
  /** A full record, or only the patient and a few encounters (a duplicate registration). */
  full: boolean;
}

/** Builds one GP record bundle for a registration. Returns the bundle and its resource count. */
export function gpBundle(person: Person, history: History, reg: GpRegistration, rng: Random, extractTime: string, windowEnd: number): { bundle: Bundle; resources: number } {
  const r = rng.next();
  const type: BundleType = r < 0.85 ? 'collection' : r < 0.95 ? 'transaction' : 'batch';
  const entries: BundleEntry[] = [];
  const subject: Reference<Patient> = { reference: type === 'transaction' ? `urn:uuid:${reg.patientId}` : `Patient/${reg.patientId}` };
  const add = (resource: Resource & { id?: string }) => {
    const entry: BundleEntry = { fullUrl: `urn:uuid:${resource.id}`, resource };
    if (type !== 'collection') entry.request = { method: 'PUT', url: `${resource.resourceType}/${resource.id}` };
    entries.push(entry);
  };
  const d = reg.demographics;
  const org = { type: 'Organization' as const, identifier: { system: ODS_SYSTEM, value: reg.practice.ods }, display: reg.practice.name };

  add({
    resourceType: 'Patient',
    id: reg.patientId,
    // lastUpdated: the extract time, so the record can tell how recent the data are.
    meta: { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient'], lastUpdated: extractTime },
    identifier: d.nhsNumber
      ? [{ extension: [{ url: VERIFICATION_URL, valueCodeableConcept: { coding: [{ system: VERIFICATION_SYSTEM, code: reg.verification, display: reg.verification === '01' ? 'Number present and verified' : 'Number present but not traced' }] } }], system: NHS_NUMBER_SYSTEM, value: d.nhsNumber }]
      : undefined,
    name: [{ use: 'official', family: d.family, given: [d.given, d.middle].filter((g): g is string => !!g) }],
    gender: d.sex,
    ...(d.birthDate ? { birthDate: d.birthDate } : {}),
    ...(history.deathDay !== undefined ? { deceasedDateTime: isoDate(history.deathDay) } : {}),
    address: [{ use: 'home', line: [d.address.line], city: d.address.town, postalCode: d.address.postcode }],
    generalPractitioner: [org],
    managingOrganization: org,
  });

  const id = () => rng.uuid();
  const encounterClass = procedureData.gpEncounter;
  const encounters = reg.full ? history.gpEncounters : history.gpEncounters.slice(0, 2);
  for (const e of encounters) {
    const kind = encounterClass[e.kind];
    add({
      resourceType: 'Encounter',
      id: id(),
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: kind.class },
      type: [sct(kind.code, kind.display)],
      subject,
      period: { start: isoInstant(e.day, e.minute), end: isoInstant(e.day, e.minute + 10) },
      serviceProvider: { identifier: { system: ODS_SYSTEM, value: reg.practice.ods } },
    });
  }
  if (!reg.full) return { bundle: wrap(), resources: entries.length };

  for (const spec of CONDITIONS) {
    const onset = person.conditions[spec.key];
    if (onset === undefined || spec.key === 'palliative') continue;
    const coded = person.conditionCodes[spec.key] ?? { code: spec.code, display: spec.display };
    add(condition(id(), subject, coded.code, coded.display, onset));
  }
  if (history.frailtyRecorded !== undefined) add(condition(id(), subject, conditionData.extra.frailty.code, conditionData.extra.frailty.display, history.frailtyRecorded));

  if (person.smoking) {
    const s = observationData.smoking[person.smoking];
    add({ resourceType: 'Observation', id: id(), status: 'final', category: [category('social-history')], code: sct(s.code, s.display), subject, effectiveDateTime: isoDate(Math.min(windowEnd, Math.max(person.registeredDay, person.birthDay + 16 * 365))) });
  }
  for (const o of history.gpObservations) {
    const t = isoInstant(o.day, o.minute);
    if (o.key === 'bloodPressure') {
      add({
        resourceType: 'Observation', id: id(), status: 'final', category: [category('vital-signs')], code: sct(OBS.bloodPressure!.code, OBS.bloodPressure!.display), subject, effectiveDateTime: t,
        component: [
          { code: sct(OBS.systolic!.code, OBS.systolic!.display), valueQuantity: quantity(o.values[0]!, 'systolic') },
          { code: sct(OBS.diastolic!.code, OBS.diastolic!.display), valueQuantity: quantity(o.values[1]!, 'diastolic') },
        ],
      });
    } else add({ resourceType: 'Observation', id: id(), status: 'final', category: [category('vital-signs')], code: sct(OBS[o.key]!.code, OBS[o.key]!.display), subject, effectiveDateTime: t, valueQuantity: quantity(o.values[0]!, o.key) });
  }
  for (const lab of history.labs) {
    if (!lab.gp) continue;
    for (const res of lab.results) {
      const def = OBS[res.key]!;
      const referenceRange = res.low !== undefined || res.high !== undefined
        ? [{ ...(res.low !== undefined ? { low: quantity(res.low, res.key) } : {}), ...(res.high !== undefined ? { high: quantity(res.high, res.key) } : {}) }]
        : undefined;
      add({ resourceType: 'Observation', id: id(), status: 'final', category: [category('laboratory')], code: sct(def.code, def.display), subject, effectiveDateTime: isoInstant(lab.day, lab.minute), valueQuantity: quantity(res.value, res.key), ...(referenceRange ? { referenceRange } : {}) });
    }
  }

  for (const [med, start] of Object.entries(person.medicines)) {
    if (start! > windowEnd) continue;
    const stopped = history.deathDay !== undefined;
    add({
      resourceType: 'MedicationStatement', id: id(), status: stopped ? 'completed' : 'active', medicationCodeableConcept: medicineConcept(med), subject,
      effectivePeriod: stopped ? { start: isoDate(start!), end: isoDate(history.deathDay!) } : { start: isoDate(start!) },
      dateAsserted: isoDate(Math.min(windowEnd, start!)), dosage: [{ text: MEDS[med]!.dose }],
    });
  }
  for (const issue of history.issues) {
    add({
      resourceType: 'MedicationRequest', id: id(), status: 'completed', intent: 'order', medicationCodeableConcept: medicineConcept(issue.med), subject,
      authoredOn: isoDate(issue.day), courseOfTherapyType: status('http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy', 'continuous'),
      dosageInstruction: [{ text: MEDS[issue.med]!.dose }],
    });
  }
  if (person.penicillinAllergy) {
    const a = procedureData.allergies.penicillin;
    add({
      resourceType: 'AllergyIntolerance', id: id(),
      clinicalStatus: status('http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', 'active'),
      verificationStatus: status('http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', 'confirmed'),
      code: sct(a.code, a.display), patient: subject, recordedDate: isoDate(Math.min(windowEnd, person.registeredDay)),
    });
  }
  for (const p of history.procedures) {
    const def = procedureData.gpProcedures[p.key];
    add({ resourceType: 'Procedure', id: id(), status: 'completed', code: sct(def.code, def.display), subject, performedDateTime: isoDate(p.day) });
  }
  for (const im of history.immunizations) {
    const v = VACCINES[im.key]!;
    add({
      resourceType: 'Immunization', id: id(), status: 'completed', vaccineCode: sct(v.code, v.display), patient: subject, occurrenceDateTime: isoDate(im.day), primarySource: true,
      ...(v.dose !== undefined ? { protocolApplied: [{ series: 'UK routine immunisation schedule', doseNumberPositiveInt: v.dose }] } : {}),
    });
  }
  for (const r of sharingResources(person, history, reg, subject, windowEnd)) add(r);
  return { bundle: wrap(), resources: entries.length };

  function wrap(): Bundle {
    return { resourceType: 'Bundle', id: rng.uuid(), meta: { source: `gp:${reg.practice.ods}`, lastUpdated: extractTime }, type, timestamp: extractTime, entry: entries };
  }
}

function condition(id: string, subject: Reference<Patient>, code: string, display: string, onset: number): Resource {
  return {
    resourceType: 'Condition',
    id,
    clinicalStatus: status('http://terminology.hl7.org/CodeSystem/condition-clinical', 'active'),
    verificationStatus: status('http://terminology.hl7.org/CodeSystem/condition-ver-status', 'confirmed'),
    category: [status('http://terminology.hl7.org/CodeSystem/condition-category', 'problem-list-item')],
    code: sct(code, display),
    subject,
    onsetDateTime: isoDate(onset),
    recordedDate: isoDate(onset),
  };
}

function category(code: string): CodeableConcept {
  return { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] };
}

function quantity(value: number, key: string) {
  const def = OBS[key]!;
  return { value, unit: def.unit, system: UCUM, code: def.ucum };
}

/** The community provider whose district nurses the GP names on a care team (its ODS code, as policy.json's sourceOrganisations maps csv:community). */
const COMMUNITY_PROVIDER_ODS = 'RM3';

/**
 * Consent and care team records a GP system holds (access/feed-directives.ts reads them): a
 * Type 1 objection for about one person in 37, dissent from sharing the record with other
 * organisations for about one in 89, and, for frail or palliative people the community nurses
 * see, a care team of their GP (for the practice) and the district nursing service. Chosen by
 * the person's index, not the random stream, so every other resource of the population is as before.
 */
function sharingResources(person: Person, history: History, reg: GpRegistration, subject: Reference<Patient>, windowEnd: number): Resource[] {
  const out: Resource[] = [];
  const recorded = isoDate(Math.min(windowEnd, person.registeredDay + 30));
  const privacy = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy', display: 'Privacy Consent' }] };
  const consent = (suffix: string, code: string, display: string): Resource => ({
    resourceType: 'Consent', id: `${reg.patientId}-${suffix}`, status: 'active', scope: privacy,
    category: [sct(code, display)], patient: subject, dateTime: recorded,
    organization: [{ identifier: { system: ODS_SYSTEM, value: reg.practice.ods } }],
    provision: { type: 'deny', period: { start: recorded } },
  } as Resource);
  if (person.index % 37 === 5) out.push(consent('type1', '827241000000103', 'Dissent from secondary use of general practitioner patient identifiable data'));
  if (person.index % 89 === 13) out.push(consent('sharing', '416409005', 'Refused consent for upload to local shared electronic record'));
  const frail = history.frailtyRecorded !== undefined || person.conditions.palliative !== undefined;
  if (frail && history.community.length) {
    const start = isoDate(Math.min(windowEnd, history.community[0]!.day));
    out.push({
      resourceType: 'CareTeam', id: `${reg.patientId}-careteam`, status: 'active', name: 'Neighbourhood care team', subject, period: { start },
      managingOrganization: [{ identifier: { system: ODS_SYSTEM, value: reg.practice.ods }, display: reg.practice.name }],
      participant: [
        { role: [sct('62247001', 'General practitioner')], member: { type: 'Practitioner', display: 'Registered GP' }, onBehalfOf: { identifier: { system: ODS_SYSTEM, value: reg.practice.ods } }, period: { start } },
        { role: [sct('224535009', 'Registered nurse')], member: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: COMMUNITY_PROVIDER_ODS }, display: 'District nursing' }, period: { start } },
      ],
    } as Resource);
  }
  return out;
}
