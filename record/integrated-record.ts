/**
 * The integrated care record of one person, built from what every source sent: the death if a
 * source reports one, demographics (best of the sources, with the disagreements shown),
 * registered practice, problems, medications, allergies, results grouped as a clinician reads them
 * (vital signs, laboratory, social history…) with their comments, GP consultations, encounters,
 * admissions, community contacts, social care and one timeline in which every item names its
 * source — organisations, clinics and wards by name (reference/ data), not code. Pure: rows in, a
 * domain object out.
 */
import type {
  AllergyIntolerance,
  Appointment,
  CodeableConcept,
  Condition,
  DiagnosticReport,
  DocumentReference,
  Encounter,
  EpisodeOfCare,
  Extension,
  Immunization,
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Procedure,
  Resource,
} from '@medplum/fhirtypes';
import { GROUP_LABEL, observationGroup, withNationalCode } from './coding.ts';
import { ageOn, dateValue, daysBetween, formatDate } from './dates.ts';
import { deathStatus, type DeathStatus } from './death.ts';
import { COMMUNITY, MENTAL_HEALTH_COMMUNITY, odsOfSource, OrganisationDirectory, SOCIAL_CARE } from './organisations.ts';
import { deathMeaning, defaultReferenceData, OBSERVATION_GROUPS, serviceName, type ObservationGroupKey, type ReferenceData } from './reference/reference-data.ts';
import type { IdentityRow, PersonRow, PracticeRow, ResourceRow } from './rows.ts';

export { toFhirBundle } from './fhir-bundle.ts';
export type { DeathReport, DeathStatus } from './death.ts';
export { COMMUNITY, MENTAL_HEALTH_COMMUNITY, SOCIAL_CARE } from './organisations.ts';

/** Where an item came from: the source system key and a name a clinician recognises. */
export interface RecordSource {
  system: string;
  name: string;
}

/** The stored resource an entry was built from. */
export interface ItemRef {
  system: string;
  resourceType: string;
  sourceId: string;
}

export type DemographicField = 'family' | 'given' | 'birthDate' | 'sex' | 'postcode' | 'nhsNumber';

export interface FieldVariant {
  field: DemographicField;
  /** Every distinct value the sources hold, with the sources holding it. */
  values: { value: string; sources: string[] }[];
}

export interface Demographics {
  nhsNumber: string | null;
  nhsNumberValid: boolean;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  age: number | null;
  sex: string | null;
  postcode: string | null;
  /** The source whose values were preferred (valid NHS number, then most recently updated). */
  preferredSource: string | null;
  /** Fields on which the sources disagree. */
  variants: FieldVariant[];
}

export interface IdentitySummary {
  source: RecordSource;
  id: string;
  nhsNumber: string | null;
  nhsNumberValid: boolean;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  sex: string | null;
  postcode: string | null;
  practice: string | null;
  linkMethod: string;
  matchStatus: string;
  updatedAt: string;
}

export interface RegisteredPractice {
  odsCode: string;
  name: string | null;
  neighbourhood: string | null;
  neighbourhoodName: string | null;
  source: RecordSource;
}

export interface Problem {
  name: string;
  code: string | null;
  status: string | null;
  active: boolean;
  onset: string | null;
  abatement: string | null;
  /** Every source recording this problem (the same code from several sources is one problem). */
  sources: RecordSource[];
  refs: ItemRef[];
}

export interface Medication {
  name: string;
  code: string | null;
  status: string | null;
  current: boolean;
  dosage: string | null;
  /** The latest date any source gives (issued, asserted or started). */
  date: string | null;
  sources: RecordSource[];
  refs: ItemRef[];
}

export interface Allergy {
  substance: string;
  code: string | null;
  status: string | null;
  active: boolean;
  criticality: string | null;
  reactions: string[];
  date: string | null;
  sources: RecordSource[];
  refs: ItemRef[];
}

export interface Result {
  kind: 'observation' | 'report';
  name: string;
  /** `system|code`: the national code where the mapping table gives one for a local code. */
  code: string | null;
  /** The laboratory's own code the national one was mapped from (kept in the FHIR form as an extra coding). */
  localCode: string | null;
  /** Observations: the group shown (FHIR observation-category, else by code); reports: `laboratory` unless their category says otherwise. */
  group: ObservationGroupKey;
  value: string | null;
  interpretation: string | null;
  referenceRange: string | null;
  date: string | null;
  /** Comments attached to this result (Observation.note: HL7 NTE after its OBX) or report (NTE after its OBR). */
  notes: string[];
  source: RecordSource;
  ref: ItemRef;
}

export interface ResultGroup {
  key: ObservationGroupKey;
  label: string;
  /** The latest result of each code in the group, newest first. */
  latest: Result[];
}

/** A consultation recorded by a GP practice's own system: at the practice, by telephone or video, or a home visit. */
export interface GpConsultation {
  date: string | null;
  mode: 'face-to-face' | 'telephone' | 'video' | 'home-visit' | 'other';
  /** What the practice called it (Encounter.type), e.g. "Consultation", "Diabetes review". */
  type: string | null;
  practice: { odsCode: string | null; name: string | null };
  clinician: string | null;
  reason: string | null;
  status: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export interface EncounterEntry {
  date: string | null;
  end: string | null;
  status: string | null;
  classCode: string | null;
  /** "Outpatient or clinic contact", "Remote consultation"… */
  kindName: string;
  /** The encounter's type, or its hospital service by name ("Diabetic medicine"). */
  type: string | null;
  /** The clinic or department by name (reference/locations.csv), else as sent. */
  location: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export interface Admission {
  setting: 'inpatient' | 'emergency';
  admitted: string | null;
  discharged: string | null;
  status: string | null;
  priority: 'emergency' | 'elective' | null;
  /** Calendar days from admission to discharge (or to today while still in). */
  lengthOfStayDays: number | null;
  ongoing: boolean;
  /** The discharge disposition says the person died (reference/death-codes.csv). */
  died: boolean;
  /** The hospital service by name ("General medicine"). */
  service: string | null;
  location: string | null;
  reason: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export interface CommunityContact {
  date: string | null;
  service: string | null;
  team: string | null;
  contactType: string | null;
  reason: string | null;
  durationMinutes: number | null;
  staffRole: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export interface SocialCareAssessment {
  date: string | null;
  type: string | null;
  outcome: string | null;
  team: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export interface CarePackage {
  service: string | null;
  start: string | null;
  end: string | null;
  open: boolean;
  hoursPerWeek: number | null;
  /** Pounds per week. */
  weeklyCost: number | null;
  provider: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export interface OtherEntry {
  name: string;
  date: string | null;
  status: string | null;
  source: RecordSource;
  ref: ItemRef;
}

export type TimelineKind =
  | 'problem'
  | 'medication'
  | 'allergy'
  | 'result'
  | 'report'
  | 'encounter'
  | 'consultation'
  | 'admission'
  | 'emergency'
  | 'community'
  | 'assessment'
  | 'package'
  | 'procedure'
  | 'immunisation'
  | 'appointment'
  | 'document'
  | 'order'
  | 'other';

export interface TimelineEntry {
  /** The clinical date, else when the source says it changed, else when Bevan received it. */
  date: string;
  kind: TimelineKind;
  description: string;
  source: RecordSource;
  ref: ItemRef;
}

export interface IntegratedRecord {
  personId: string;
  status: string;
  builtAt: string;
  /** Null when no source reports a death; otherwise the date, who says so, and where sources disagree. */
  death: DeathStatus | null;
  demographics: Demographics;
  identities: IdentitySummary[];
  registeredPractice: RegisteredPractice | null;
  sources: RecordSource[];
  problems: Problem[];
  medications: Medication[];
  allergies: Allergy[];
  results: {
    latestByCode: Result[];
    recent: Result[];
    /** Observations by group (vital signs, laboratory, social history…), in that order; empty groups left out. */
    groups: ResultGroup[];
    /** Every report (DiagnosticReport), newest first, with its comments. */
    reports: Result[];
  };
  gpConsultations: GpConsultation[];
  /** Encounters that are none of the other kinds (hospital outpatient and clinic contacts, others). */
  encounters: EncounterEntry[];
  admissions: Admission[];
  communityContacts: CommunityContact[];
  socialCare: { assessments: SocialCareAssessment[]; packages: CarePackage[]; openWeeklyCost: number };
  procedures: OtherEntry[];
  immunisations: OtherEntry[];
  timeline: TimelineEntry[];
}

export interface BuildOptions {
  /** "Today", for ages, open lengths of stay and current medications (default: the clock). */
  now?: Date;
  /** How many recent results to keep (default 20). */
  recentResults?: number;
  /** Locality reference data (organisation, clinic and service names, code maps); default: the shipped record/reference/ files. */
  reference?: ReferenceData;
  /**
   * Only what the merged Patient is made of (identities, demographics, registered practice, death,
   * status, sources): the problem, medication, result, encounter and timeline lists stay empty.
   * What $everything needs (fhir/everything-page.ts), at a fraction of the cost of the whole.
   */
  patientOnly?: boolean;
}

/**
 * The name a clinician recognises for a source system key (docs/feeds.md), with the key:
 * "Sale Moor Medical Centre (gp:P91001)", "Trafford Synthetic Community Services (csv:community)".
 */
export function sourceName(system: string, practices: readonly PracticeRow[] = [], reference: ReferenceData = defaultReferenceData()): string {
  return new OrganisationDirectory(reference, practices).sourceName(system);
}

// Sources listed as a clinician reads a record: GP, hospital, community, social care, others.
function sourceRank(system: string): number {
  if (system.startsWith('gp:')) return 0;
  if (system.startsWith('hl7:')) return 1;
  if (system === COMMUNITY) return 2;
  if (system === SOCIAL_CARE) return 3;
  return 4;
}

/** Builds the integrated record of a person from their identities, resources and the practices they name. */
export function buildIntegratedRecord(
  person: PersonRow,
  identities: readonly IdentityRow[],
  rows: readonly ResourceRow[],
  practices: readonly PracticeRow[],
  opts: BuildOptions = {},
): IntegratedRecord {
  const now = (opts.now ?? dataEnd(rows, new Date())).toISOString();
  const reference = opts.reference ?? defaultReferenceData();
  const directory = new OrganisationDirectory(reference, practices);
  const sourceCache = new Map<string, RecordSource>();
  const source = (system: string): RecordSource => {
    let s = sourceCache.get(system);
    if (!s) sourceCache.set(system, (s = { system, name: directory.sourceName(system) }));
    return s;
  };

  const ordered = preferenceOrder(identities);
  const demographics = buildDemographics(person, ordered, now);
  const registeredPractice = findRegisteredPractice(ordered, directory, source);
  const death = deathStatus(rows, demographics.birthDate, reference, source);
  const place = (e: Encounter, system: string, last: boolean) => placeName(e, system, last, directory, reference);

  const problems = new Grouper<Problem>();
  const medications = new Grouper<Medication>();
  const allergies = new Grouper<Allergy>();
  const observations: Result[] = [];
  const reports: Result[] = [];
  const encounters: EncounterEntry[] = [];
  const gpConsultations: GpConsultation[] = [];
  const admissions: Admission[] = [];
  const communityContacts: CommunityContact[] = [];
  const assessments: SocialCareAssessment[] = [];
  const packages: CarePackage[] = [];
  const procedures: OtherEntry[] = [];
  const immunisations: OtherEntry[] = [];
  const timeline: TimelineEntry[] = [];

  for (const row of opts.patientOnly ? [] : rows) {
    const src = source(row.source_system);
    const ref: ItemRef = { system: row.source_system, resourceType: row.resource_type, sourceId: row.source_id };
    const fallbackDate = row.source_time ?? row.received_at;
    const add = (date: string | null | undefined, kind: TimelineKind, description: string) =>
      timeline.push({ date: date || fallbackDate, kind, description, source: src, ref });
    const r = row.content as Resource;
    switch (r.resourceType) {
      case 'Condition': {
        const c = r as Condition;
        const name = codeText(c.code) ?? 'Unnamed problem';
        const status = firstCode(c.clinicalStatus);
        const onset = c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate ?? null;
        // A condition recorded in error or refuted (HL7 DG1/PRB delete) is not current, whatever its clinical status.
        const refuted = ['entered-in-error', 'refuted'].includes(firstCode(c.verificationStatus) ?? '');
        const active = !refuted && (status === null || ['active', 'recurrence', 'relapse'].includes(status));
        problems.add(codeKey(c.code, name), { name, code: codeString(c.code), status, active, onset, abatement: c.abatementDateTime ?? c.abatementPeriod?.start ?? null, sources: [src], refs: [ref] }, mergeProblem);
        add(onset, 'problem', `Problem: ${name}${status ? ` (${status})` : ''}`);
        break;
      }
      case 'MedicationStatement':
      case 'MedicationRequest': {
        const m = medicationOf(r as MedicationStatement | MedicationRequest, now);
        medications.add(codeKey(m.codeable, m.name), { name: m.name, code: codeString(m.codeable), status: m.status, current: m.current, dosage: m.dosage, date: m.date, sources: [src], refs: [ref] }, mergeMedication);
        add(m.date, 'medication', `Medication: ${m.name}${m.dosage ? ` — ${m.dosage}` : ''}${m.status ? ` (${m.status})` : ''}`);
        break;
      }
      case 'AllergyIntolerance': {
        const a = r as AllergyIntolerance;
        const substance = codeText(a.code) ?? 'Unnamed allergy';
        const status = firstCode(a.clinicalStatus);
        const reactions = (a.reaction ?? []).flatMap((x) => (x.manifestation ?? []).map((mf) => codeText(mf)).filter((t): t is string => !!t));
        const date = a.onsetDateTime ?? a.recordedDate ?? null;
        const allergyRefuted = ['entered-in-error', 'refuted'].includes(firstCode(a.verificationStatus) ?? '');
        allergies.add(codeKey(a.code, substance), { substance, code: codeString(a.code), status, active: !allergyRefuted && (status === null || status === 'active'), criticality: a.criticality ?? null, reactions, date, sources: [src], refs: [ref] }, mergeAllergy);
        add(date, 'allergy', `Allergy: ${substance}${reactions.length ? ` — ${reactions.join(', ')}` : ''}`);
        break;
      }
      case 'Observation': {
        const raw = r as Observation;
        const mapped = withNationalCode(raw.code, row.source_system, reference);
        const o: Observation = mapped ? { ...raw, code: mapped.concept } : raw;
        const result: Result = {
          kind: 'observation',
          name: codeText(raw.code) ?? codeText(o.code) ?? 'Unnamed result',
          code: codeString(o.code),
          localCode: mapped?.localCode ?? null,
          group: observationGroup(o, reference),
          value: observationValue(o),
          interpretation: o.interpretation?.[0] ? (firstCode(o.interpretation[0]) ?? codeText(o.interpretation[0])) : null,
          referenceRange: o.referenceRange?.[0] ? rangeText(o.referenceRange[0]) : null,
          date: o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued ?? null,
          notes: (o.note ?? []).map((x) => x.text).filter((t): t is string => !!t?.trim()),
          source: src,
          ref,
        };
        observations.push(result);
        const what = result.group === 'laboratory' ? 'Result' : result.group === 'vital-signs' ? 'Vital sign' : result.group === 'social-history' ? 'Social history' : 'Observation';
        add(result.date, 'result', `${what}: ${result.name}${result.value ? ` ${result.value}` : ''}${result.interpretation && result.interpretation !== 'N' ? ` (${result.interpretation})` : ''}${result.notes.length ? ` — comment: ${result.notes.join(' / ')}` : ''}`);
        break;
      }
      case 'DiagnosticReport': {
        const d = r as DiagnosticReport;
        const mapped = withNationalCode(d.code, row.source_system, reference);
        const n = d.result?.length ?? 0;
        const notes = reportNotes(d);
        const result: Result = {
          kind: 'report',
          name: codeText(d.code) ?? 'Report',
          code: codeString(mapped?.concept ?? d.code),
          localCode: mapped?.localCode ?? null,
          group: reportGroup(d),
          value: d.conclusion ?? (n ? `${n} result${n === 1 ? '' : 's'}` : null),
          interpretation: null,
          referenceRange: null,
          date: d.effectiveDateTime ?? d.effectivePeriod?.start ?? d.issued ?? null,
          notes,
          source: src,
          ref,
        };
        reports.push(result);
        add(result.date, 'report', `Report: ${result.name}${result.value ? ` — ${result.value}` : ''}${d.status && d.status !== 'final' ? ` (${d.status})` : ''}${notes.length ? ` — comment: ${notes.join(' / ')}` : ''}`);
        break;
      }
      case 'Encounter': {
        const e = r as Encounter;
        const classCode = e.class?.code ?? null;
        const start = e.period?.start ?? null;
        const end = e.period?.end ?? null;
        const inpatient = classCode === 'IMP' || classCode === 'EMER' || classCode === 'ACUTE' || classCode === 'NONAC';
        const gpSystem = row.source_system.startsWith('gp:') || directory.ofSource(row.source_system)?.kind === 'gp-practice';
        if (gpSystem && !inpatient) {
          const c = gpConsultationOf(e, row.source_system, directory, src, ref);
          gpConsultations.push(c);
          add(start, 'consultation', describeConsultation(c));
        } else if (row.source_system === COMMUNITY || classCode === 'HH') {
          const c: CommunityContact = {
            date: start,
            service: codeText(e.serviceType) ?? null,
            team: e.serviceProvider?.display ?? directory.get(odsIdentifier(e.serviceProvider))?.name ?? e.participant?.[0]?.individual?.display ?? null,
            // The community feed puts the coded activity (SNOMED) and the free-text contact type in Encounter.type.
            contactType: codeText(e.type?.find((t) => !t.coding?.length)) ?? null,
            reason: codeText(e.reasonCode?.[0]) ?? codeText(e.type?.find((t) => t.coding?.length)) ?? null,
            durationMinutes: e.length?.value ?? (start && end ? Math.round((dateValue(end) - dateValue(start)) / 60_000) : null),
            staffRole: codeText(e.participant?.[0]?.type?.[0]) ?? null,
            source: src,
            ref,
          };
          communityContacts.push(c);
          const what = [c.service, c.reason ?? c.contactType].filter(Boolean).join(' — ');
          add(start, 'community', `Community contact${what ? `: ${what}` : ''}${c.durationMinutes ? ` (${c.durationMinutes} min)` : ''}`);
        } else if (inpatient) {
          const a = admissionOf(e, now, src, ref, place(e, row.source_system, true), serviceText(e.serviceType, row.source_system, reference), admissionDied(e, row.source_system, reference));
          admissions.push(a);
          add(start, a.setting === 'emergency' ? 'emergency' : 'admission', describeAdmission(a));
        } else {
          const type = codeText(e.type?.[0]) ?? serviceText(e.serviceType, row.source_system, reference);
          const location = place(e, row.source_system, false);
          const kindName = encounterClassName(classCode);
          encounters.push({ date: start, end, status: e.status ?? null, classCode, kindName, type, location, source: src, ref });
          add(start, 'encounter', `${kindName}${type ? `: ${type}` : ''}${location ? ` [${location}]` : ''}${e.status && e.status !== 'finished' ? ` (${e.status})` : ''}`);
        }
        break;
      }
      case 'Procedure': {
        const p = r as Procedure;
        const date = p.performedDateTime ?? p.performedPeriod?.start ?? null;
        const name = codeText(p.code) ?? null;
        if (row.source_system === SOCIAL_CARE) {
          const a: SocialCareAssessment = {
            date,
            type: name ?? codeText(p.category) ?? null,
            outcome: codeText(p.outcome) ?? null,
            team: p.performer?.[0]?.actor?.display ?? null,
            source: src,
            ref,
          };
          assessments.push(a);
          add(date, 'assessment', `Social care assessment${a.type ? `: ${a.type}` : ''}${a.outcome ? ` — outcome: ${a.outcome}` : ''}`);
        } else {
          procedures.push({ name: name ?? 'Unnamed procedure', date, status: p.status ?? null, source: src, ref });
          add(date, 'procedure', `Procedure: ${name ?? 'unnamed'}`);
        }
        break;
      }
      case 'EpisodeOfCare': {
        const e = r as EpisodeOfCare;
        const end = e.period?.end ?? null;
        const pk: CarePackage = {
          service: codeText(e.type?.[0]) ?? null,
          start: e.period?.start ?? null,
          end,
          open: !end || dateValue(end) >= dateValue(now),
          hoursPerWeek: extensionNumber(e.extension, 'hours-per-week'),
          weeklyCost: extensionNumber(e.extension, 'weekly-cost'),
          provider: e.managingOrganization?.display ?? null,
          source: src,
          ref,
        };
        packages.push(pk);
        add(pk.start, 'package', describePackage(pk));
        break;
      }
      case 'Immunization': {
        const i = r as Immunization;
        const name = codeText(i.vaccineCode) ?? 'Unnamed vaccine';
        const date = i.occurrenceDateTime ?? i.recorded ?? null;
        immunisations.push({ name, date, status: i.status ?? null, source: src, ref });
        add(date, 'immunisation', `Immunisation: ${name}${i.status && i.status !== 'completed' ? ` (${i.status})` : ''}`);
        break;
      }
      case 'Appointment': {
        const a = r as Appointment;
        const what = codeText(a.serviceType?.[0]) ?? a.description ?? codeText(a.appointmentType) ?? 'Appointment';
        const place = a.participant?.find((p) => p.actor?.type === 'Location' || p.actor?.reference?.startsWith('Location/'))?.actor?.display;
        add(a.start ?? a.created, 'appointment', `Appointment: ${what}${place ? ` at ${place}` : ''}${a.status && a.status !== 'booked' ? ` (${a.status})` : ''}`);
        break;
      }
      case 'DocumentReference': {
        const d = r as DocumentReference;
        const what = codeText(d.type) ?? d.description ?? 'Document';
        const author = d.author?.[0]?.display;
        add(d.context?.period?.start ?? d.date, 'document', `Document: ${what}${author ? ` by ${author}` : ''}${d.status !== 'current' ? ` (${d.status})` : d.docStatus === 'preliminary' ? ' (preliminary)' : ''}`);
        break;
      }
      case 'MedicationAdministration': {
        const m = r as MedicationAdministration;
        const name = codeText(m.medicationCodeableConcept) ?? m.medicationReference?.display ?? 'Unnamed medicine';
        add(m.effectiveDateTime ?? m.effectivePeriod?.start, 'medication', `Medication given: ${name}${m.status !== 'completed' ? ` (${m.status})` : ''}`);
        break;
      }
      case 'MedicationDispense': {
        const m = r as MedicationDispense;
        const name = codeText(m.medicationCodeableConcept) ?? m.medicationReference?.display ?? 'Unnamed medicine';
        add(m.whenHandedOver ?? m.whenPrepared, 'medication', `Medication dispensed: ${name}${m.status && m.status !== 'completed' ? ` (${m.status})` : ''}`);
        break;
      }
      case 'ServiceRequest': {
        const sr = r as Resource & { code?: CodeableConcept; status?: string; authoredOn?: string; occurrenceDateTime?: string };
        add(sr.occurrenceDateTime ?? sr.authoredOn, 'order', `Order: ${codeText(sr.code) ?? 'unnamed'}${sr.status && sr.status !== 'active' ? ` (${sr.status === 'revoked' ? 'cancelled' : sr.status})` : ''}`);
        break;
      }
      // Identity and reference data: shown as demographics and names, not as care events.
      case 'Patient':
      case 'Organization':
      case 'Practitioner':
      case 'PractitionerRole':
      case 'Location':
        break;
      default: {
        const anyR = r as Resource & { code?: CodeableConcept; status?: string };
        add(null, 'other', `${r.resourceType}${anyR.code ? `: ${codeText(anyR.code) ?? ''}` : ''}`);
      }
    }
  }

  const byDateDesc = <T>(get: (x: T) => string | null) => (a: T, b: T) => cmpDateDesc(get(a), get(b));
  const problemList = problems.values().sort((a, b) => Number(b.active) - Number(a.active) || cmpDateDesc(a.onset, b.onset) || a.name.localeCompare(b.name));
  const medicationList = medications.values().sort((a, b) => Number(b.current) - Number(a.current) || cmpDateDesc(a.date, b.date) || a.name.localeCompare(b.name));
  const allergyList = allergies.values().sort((a, b) => Number(b.active) - Number(a.active) || cmpDateDesc(a.date, b.date) || a.substance.localeCompare(b.substance));

  observations.sort(byDateDesc((x) => x.date));
  const latest = new Map<string, Result>();
  for (const o of observations) {
    const k = o.code ?? o.name.toLowerCase();
    if (!latest.has(k)) latest.set(k, o);
  }
  const recent = [...observations, ...reports].sort(byDateDesc((x) => x.date)).slice(0, opts.recentResults ?? 20);
  const groups: ResultGroup[] = OBSERVATION_GROUPS.map((key) => ({ key, label: GROUP_LABEL[key], latest: [...latest.values()].filter((x) => x.group === key) })).filter((g) => g.latest.length);

  timeline.sort((a, b) => cmpDateDesc(a.date, b.date) || a.source.system.localeCompare(b.source.system) || a.ref.resourceType.localeCompare(b.ref.resourceType) || a.ref.sourceId.localeCompare(b.ref.sourceId));

  const systems = new Set<string>([...identities.map((i) => i.source_system), ...rows.map((r) => r.source_system)]);
  const openPackages = packages.filter((p) => p.open);
  return {
    personId: person.person_id,
    status: person.status,
    builtAt: now,
    death,
    demographics,
    identities: ordered.map((i) => ({
      source: source(i.source_system),
      id: i.source_id,
      nhsNumber: i.nhs_number,
      nhsNumberValid: i.nhs_number_valid,
      family: i.family,
      given: i.given,
      birthDate: i.birth_date,
      sex: i.sex,
      postcode: i.postcode,
      practice: i.practice,
      linkMethod: i.link_method,
      matchStatus: i.match_status,
      updatedAt: i.updated_at,
    })),
    registeredPractice,
    sources: [...systems].sort((a, b) => sourceRank(a) - sourceRank(b) || a.localeCompare(b)).map(source),
    problems: problemList,
    medications: medicationList,
    allergies: allergyList,
    results: { latestByCode: [...latest.values()], recent, groups, reports: reports.sort(byDateDesc((x) => x.date)) },
    gpConsultations: gpConsultations.sort(byDateDesc((x) => x.date)),
    encounters: encounters.sort(byDateDesc((x) => x.date)),
    admissions: admissions.sort(byDateDesc((x) => x.admitted)),
    communityContacts: communityContacts.sort(byDateDesc((x) => x.date)),
    socialCare: {
      assessments: assessments.sort(byDateDesc((x) => x.date)),
      packages: packages.sort((a, b) => Number(b.open) - Number(a.open) || cmpDateDesc(a.start, b.start)),
      openWeeklyCost: Math.round(openPackages.reduce((s, p) => s + (p.weeklyCost ?? 0), 0) * 100) / 100,
    },
    procedures: procedures.sort(byDateDesc((x) => x.date)),
    immunisations: immunisations.sort(byDateDesc((x) => x.date)),
    timeline,
  };
}

// ---------------------------------------------------------------------------------------------
// Demographics

/** Identities in the order their demographics are trusted: valid NHS number, then most recent. */
function preferenceOrder(identities: readonly IdentityRow[]): IdentityRow[] {
  return [...identities].sort(
    (a, b) =>
      Number(b.nhs_number_valid) - Number(a.nhs_number_valid) ||
      cmpDateDesc(a.updated_at, b.updated_at) ||
      a.source_system.localeCompare(b.source_system) ||
      a.source_id.localeCompare(b.source_id),
  );
}

const FIELD_OF: Record<DemographicField, (i: IdentityRow) => string | null> = {
  nhsNumber: (i) => i.nhs_number,
  family: (i) => i.family,
  given: (i) => i.given,
  birthDate: (i) => i.birth_date,
  sex: (i) => i.sex,
  postcode: (i) => i.postcode,
};

// Spelling that does not make a different value: case, spaces, punctuation in postcodes.
function sameValueKey(field: DemographicField, v: string): string {
  if (field === 'postcode' || field === 'nhsNumber') return v.replace(/\s+/g, '').toUpperCase();
  return v.trim().toLowerCase();
}

/**
 * The moment the record is "as of" when no clock is given: today, or the latest time any source
 * reports for this person if that is earlier (a locality generated up to a past date, a feed that
 * stopped), so that "still in, N days" and age are relative to the data's own end.
 */
function dataEnd(rows: readonly ResourceRow[], today: Date): Date {
  let latest = '';
  for (const r of rows) if (r.source_time && r.source_time > latest) latest = r.source_time;
  const t = latest ? Date.parse(latest) : NaN;
  return Number.isFinite(t) && t < today.getTime() ? new Date(t) : today;
}

function buildDemographics(person: PersonRow, ordered: IdentityRow[], now: string): Demographics {
  const best = (field: DemographicField) => {
    for (const i of ordered) {
      const v = FIELD_OF[field](i);
      if (v) return v;
    }
    return null;
  };
  const variants: FieldVariant[] = [];
  for (const field of Object.keys(FIELD_OF) as DemographicField[]) {
    const seen = new Map<string, { value: string; sources: string[] }>();
    for (const i of ordered) {
      const v = FIELD_OF[field](i);
      if (!v) continue;
      const k = sameValueKey(field, v);
      const entry = seen.get(k) ?? { value: v, sources: [] };
      if (!entry.sources.includes(i.source_system)) entry.sources.push(i.source_system);
      seen.set(k, entry);
    }
    if (seen.size > 1) variants.push({ field, values: [...seen.values()] });
  }
  const validIdentityNhs = ordered.find((i) => i.nhs_number && i.nhs_number_valid)?.nhs_number ?? null;
  const anyNhs = ordered.find((i) => i.nhs_number)?.nhs_number ?? null;
  // The MPI only sets person.nhs_number from a number that passed Modulus 11.
  const nhsNumber = person.nhs_number ?? validIdentityNhs ?? anyNhs;
  const birthDate = best('birthDate');
  return {
    nhsNumber,
    nhsNumberValid: !!(person.nhs_number || validIdentityNhs),
    family: best('family'),
    given: best('given'),
    birthDate,
    age: ageOn(birthDate, now),
    sex: best('sex'),
    postcode: best('postcode'),
    preferredSource: ordered[0]?.source_system ?? null,
    variants,
  };
}

function findRegisteredPractice(
  ordered: IdentityRow[],
  directory: OrganisationDirectory,
  source: (system: string) => RecordSource,
): RegisteredPractice | null {
  // The GP system is the authority on registration: its own key names the practice. Among
  // several GP identities (a patient who moved practice), the most recently updated wins.
  const gp = ordered.filter((i) => i.source_system.startsWith('gp:')).sort((a, b) => cmpDateDesc(a.updated_at, b.updated_at))[0];
  const from = gp ?? ordered.find((i) => i.practice);
  if (!from) return null;
  const ods = gp ? gp.source_system.slice(3) : from.practice!;
  const p = directory.practice(ods);
  return { odsCode: ods, name: p?.name ?? directory.get(ods)?.name ?? null, neighbourhood: p?.neighbourhood || null, neighbourhoodName: p?.neighbourhood_name ?? null, source: source(from.source_system) };
}

// ---------------------------------------------------------------------------------------------
// De-duplication: the same problem, medicine or allergy sent by several sources is one line
// naming every source. Clinical safety decides the merge: active/current if ANY source says so.

class Grouper<T> {
  private readonly map = new Map<string, T>();
  add(key: string, item: T, merge: (into: T, item: T) => void) {
    const prev = this.map.get(key);
    if (prev) merge(prev, item);
    else this.map.set(key, item);
  }
  values(): T[] {
    return [...this.map.values()];
  }
}

function addSources(into: { sources: RecordSource[]; refs: ItemRef[] }, item: { sources: RecordSource[]; refs: ItemRef[] }) {
  for (const s of item.sources) if (!into.sources.some((x) => x.system === s.system)) into.sources.push(s);
  into.refs.push(...item.refs);
}

function mergeProblem(into: Problem, p: Problem) {
  addSources(into, p);
  if (p.active && !into.active) Object.assign(into, { active: true, status: p.status, abatement: p.abatement });
  // The earliest onset any source knows is the onset.
  if (p.onset && (!into.onset || dateValue(p.onset) < dateValue(into.onset))) into.onset = p.onset;
}

function mergeMedication(into: Medication, m: Medication) {
  addSources(into, m);
  const newer = cmpDateDesc(m.date, into.date) < 0;
  if (m.current && !into.current) Object.assign(into, { current: true, status: m.status });
  if (newer) {
    into.date = m.date;
    if (m.dosage) into.dosage = m.dosage;
    if (m.current === into.current) into.status = m.status;
  }
  if (!into.dosage) into.dosage = m.dosage;
}

function mergeAllergy(into: Allergy, a: Allergy) {
  addSources(into, a);
  if (a.active && !into.active) Object.assign(into, { active: true, status: a.status });
  for (const r of a.reactions) if (!into.reactions.includes(r)) into.reactions.push(r);
  if (a.criticality === 'high') into.criticality = 'high';
  if (cmpDateDesc(a.date, into.date) < 0) into.date = a.date;
}

// ---------------------------------------------------------------------------------------------
// Per-resource helpers

function medicationOf(m: MedicationStatement | MedicationRequest, now: string) {
  const codeable = m.medicationCodeableConcept;
  const name = codeText(codeable) ?? m.medicationReference?.display ?? 'Unnamed medicine';
  const status = m.status ?? null;
  let current: boolean;
  let date: string | null;
  let dosage: string | null;
  if (m.resourceType === 'MedicationStatement') {
    const ended = m.effectivePeriod?.end && dateValue(m.effectivePeriod.end) < dateValue(now);
    current = !ended && (status === null || ['active', 'intended', 'on-hold'].includes(status));
    date = m.effectiveDateTime ?? m.effectivePeriod?.start ?? m.dateAsserted ?? null;
    dosage = m.dosage?.[0]?.text ?? null;
  } else {
    const ended = m.dispenseRequest?.validityPeriod?.end && dateValue(m.dispenseRequest.validityPeriod.end) < dateValue(now);
    current = !ended && (status === null || ['active', 'on-hold', 'draft'].includes(status));
    date = m.authoredOn ?? null;
    dosage = m.dosageInstruction?.[0]?.text ?? null;
  }
  return { codeable, name, status, current, date, dosage };
}

function admissionOf(e: Encounter, now: string, source: RecordSource, ref: ItemRef, location: string | null, service: string | null, died: boolean): Admission {
  const setting = e.class?.code === 'EMER' ? 'emergency' : 'inpatient';
  const p = firstCode(e.priority);
  const priority = p === 'EM' || p === 'UR' || p === 'S' ? 'emergency' : p === 'EL' || p === 'R' ? 'elective' : setting === 'emergency' ? 'emergency' : null;
  const admitted = e.period?.start ?? null;
  const discharged = e.period?.end ?? null;
  const ongoing = !discharged && (e.status === 'in-progress' || e.status === 'arrived' || e.status === 'onleave');
  const cancelled = e.status === 'cancelled' || e.status === 'entered-in-error';
  const lengthOfStayDays = cancelled ? null : daysBetween(admitted, discharged ?? (ongoing ? now : null));
  return {
    setting,
    admitted,
    discharged,
    status: e.status ?? null,
    priority,
    lengthOfStayDays,
    ongoing,
    died: died && !!discharged,
    service,
    location,
    reason: codeText(e.reasonCode?.[0]) ?? null,
    source,
    ref,
  };
}

function describeAdmission(a: Admission): string {
  const what = a.setting === 'emergency' ? 'A&E attendance' : `${a.priority === 'emergency' ? 'Emergency' : a.priority === 'elective' ? 'Elective' : 'Inpatient'} admission`;
  const parts = [what];
  if (a.status === 'cancelled') parts.push('cancelled');
  else if (a.ongoing) parts.push(`in progress${a.lengthOfStayDays !== null && a.setting === 'inpatient' ? `, ${a.lengthOfStayDays} day${a.lengthOfStayDays === 1 ? '' : 's'} so far` : ''}`);
  else if (a.discharged) parts.push(`${a.died ? 'died' : a.setting === 'emergency' ? 'left' : 'discharged'} ${formatDate(a.discharged)}${a.lengthOfStayDays !== null && a.setting === 'inpatient' ? ` (${a.lengthOfStayDays} day${a.lengthOfStayDays === 1 ? '' : 's'})` : ''}`);
  let s = parts.join(', ');
  if (a.service && a.setting === 'inpatient') s += `, ${a.service}`;
  if (a.reason) s += ` — ${a.reason}`;
  if (a.location) s += ` [${a.location}]`;
  return s;
}

function describePackage(p: CarePackage): string {
  const bits = [p.hoursPerWeek !== null ? `${p.hoursPerWeek} h/week` : null, p.weeklyCost !== null ? `${pounds(p.weeklyCost)}/week` : null].filter(Boolean);
  return `Care package${p.service ? `: ${p.service}` : ''}${bits.length ? `, ${bits.join(', ')}` : ''} (${p.open ? 'open' : `ended ${formatDate(p.end)}`})`;
}

const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
/** R5 DiagnosticReport.note carried in R4 (https://hl7.org/fhir/uv/xver-r5.r4/): where the HL7 v2 adapter puts NTE after OBR. */
export const REPORT_NOTE_EXTENSION = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note';

/** The ODS code a reference names by identifier (`serviceProvider.identifier`), or null. */
function odsIdentifier(ref: { identifier?: { system?: string; value?: string } } | undefined): string | null {
  return ref?.identifier?.system === ODS && ref.identifier.value ? ref.identifier.value : null;
}

function gpConsultationOf(e: Encounter, system: string, directory: OrganisationDirectory, source: RecordSource, ref: ItemRef): GpConsultation {
  const code = odsIdentifier(e.serviceProvider) ?? odsOfSource(system);
  const name = e.serviceProvider?.display ?? directory.get(code)?.name ?? null;
  const type = codeText(e.type?.[0]);
  const words = `${type ?? ''} ${codeText(e.serviceType) ?? ''}`.toLowerCase();
  const classCode = e.class?.code;
  const mode: GpConsultation['mode'] =
    classCode === 'HH' ? 'home-visit'
    : classCode === 'VR' ? (/video/.test(words) ? 'video' : 'telephone')
    : classCode === 'AMB' ? (/video/.test(words) ? 'video' : /tele|phone/.test(words) ? 'telephone' : /home visit/.test(words) ? 'home-visit' : 'face-to-face')
    : 'other';
  return {
    date: e.period?.start ?? null,
    mode,
    type,
    practice: { odsCode: code, name },
    clinician: e.participant?.find((p) => p.individual?.display)?.individual?.display ?? null,
    reason: codeText(e.reasonCode?.[0]),
    status: e.status ?? null,
    source,
    ref,
  };
}

// What each mode is called, and the type names that only repeat it.
const CONSULTATION_WORDS: Record<GpConsultation['mode'], { name: string; generic: RegExp }> = {
  'face-to-face': { name: 'GP consultation at', generic: /^(consultation|gp consultation|face to face consultation|surgery consultation)$/i },
  telephone: { name: 'GP telephone consultation,', generic: /^(telephone (encounter|consultation)|telephone)$/i },
  video: { name: 'GP video consultation,', generic: /^(video (encounter|consultation)|video)$/i },
  'home-visit': { name: 'GP home visit,', generic: /^(home visit|gp home visit)$/i },
  other: { name: 'GP encounter,', generic: /^$/ },
};

/** "GP consultation at Sale Moor Medical Centre — Diabetes review". */
export function describeConsultation(c: GpConsultation): string {
  const w = CONSULTATION_WORDS[c.mode];
  let s = `${w.name} ${c.practice.name ?? (c.practice.odsCode ? `practice ${c.practice.odsCode}` : 'the practice')}`;
  if (c.type && !w.generic.test(c.type.trim())) s += ` — ${c.type}`;
  if (c.reason) s += ` (${c.reason})`;
  if (c.status && c.status !== 'finished') s += ` [${c.status}]`;
  return s;
}

/** A hospital service (HL7 PV1-10, Encounter.serviceType) by name, else as sent. */
function serviceText(cc: CodeableConcept | undefined, system: string, reference: ReferenceData): string | null {
  if (!cc) return null;
  if (cc.text) return cc.text;
  for (const c of cc.coding ?? []) {
    if (c.display) return c.display;
    const name = c.code ? serviceName(reference, system, c.code) : undefined;
    if (name) return name;
  }
  return codeText(cc);
}

/**
 * Where an encounter took place, by name: the point of care (PV1-3.1: ward, clinic, department)
 * from reference/locations.csv for the organisation running the source, with the room and bed
 * (or the clinic's service, by name) after it; else the location as sent.
 */
function placeName(e: Encounter, system: string, last: boolean, directory: OrganisationDirectory, reference: ReferenceData): string | null {
  const display = (last ? e.location?.[e.location.length - 1] : e.location?.[0])?.location?.display ?? null;
  if (!display) return null;
  const [code, ...rest] = display.trim().split(/\s+/);
  const org = directory.ofSource(system)?.odsCode ?? odsOfSource(system);
  const named = org && code ? reference.locations.get(`${org}\u0000${code.toUpperCase()}`) : undefined;
  if (!named) return display;
  const more = rest.map((x) => serviceName(reference, system, x) ?? x);
  return more.length ? `${named.name} (${more.join(' ')})` : named.name;
}

/** True when the encounter's discharge disposition records a death for this source. */
function admissionDied(e: Encounter, system: string, reference: ReferenceData): boolean {
  return (e.hospitalization?.dischargeDisposition?.coding ?? []).some((c) => !!c.code && !!deathMeaning(reference, system, 'discharge-disposition', c.system ?? '', c.code));
}

/** A report's comments: R5 notes carried as extensions (HL7 NTE after OBR) and, when it has no conclusion, nothing else. */
function reportNotes(d: DiagnosticReport): string[] {
  return (d.extension ?? []).filter((x) => x.url === REPORT_NOTE_EXTENSION).map((x) => x.valueAnnotation?.text).filter((t): t is string => !!t?.trim());
}

// HL7 table 0074 diagnostic service sections that are not the laboratory.
const REPORT_SECTIONS: Record<string, ObservationGroupKey> = { RAD: 'imaging', CT: 'imaging', MR: 'imaging', NMR: 'imaging', US: 'imaging', RUS: 'imaging', NMS: 'imaging', RX: 'imaging', VUS: 'imaging', XRC: 'imaging', CUS: 'imaging', OUS: 'imaging', EC: 'procedure', EN: 'procedure', PF: 'procedure', CTH: 'procedure', VR: 'imaging' };

function reportGroup(d: DiagnosticReport): ObservationGroupKey {
  for (const c of (d.category ?? []).flatMap((x) => x.coding ?? [])) {
    if (c.system === 'http://terminology.hl7.org/CodeSystem/v2-0074' && c.code && REPORT_SECTIONS[c.code.toUpperCase()]) return REPORT_SECTIONS[c.code.toUpperCase()]!;
    if (c.system === 'http://terminology.hl7.org/CodeSystem/observation-category' && c.code && (OBSERVATION_GROUPS as readonly string[]).includes(c.code)) return c.code as ObservationGroupKey;
  }
  return 'laboratory';
}

/** £1,234.50 */
export function pounds(n: number): string {
  return `£${n.toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

function encounterClassName(code: string | null): string {
  switch (code) {
    case 'AMB':
      return 'Outpatient or clinic contact';
    case 'PRENC':
      return 'Pre-admission';
    case 'VR':
      return 'Remote consultation';
    case 'HH':
      return 'Home visit';
    default:
      return 'Encounter';
  }
}

/** Reads a number from an extension whose URL ends with the given name (`…/weekly-cost`). */
function extensionNumber(exts: Extension[] | undefined, name: string): number | null {
  const x = exts?.find((e) => e.url === name || e.url.endsWith(`/${name}`) || e.url.endsWith(`-${name}`));
  if (!x) return null;
  const v = x.valueMoney?.value ?? x.valueDecimal ?? x.valueQuantity?.value ?? x.valueInteger;
  return typeof v === 'number' ? v : null;
}

function observationValue(o: Observation): string | null {
  const own = valueText(o);
  if (own) return own;
  const comps = (o.component ?? []).map((c) => ({ v: valueText(c), unit: c.valueQuantity?.unit ?? c.valueQuantity?.code }));
  if (!comps.length || comps.some((c) => !c.v)) return null;
  // Blood pressure and the like: "140/90 mmHg" when every part has the same unit.
  if (comps.every((c) => c.unit && c.unit === comps[0]!.unit)) return `${comps.map((c) => c.v!.replace(` ${c.unit}`, '')).join('/')} ${comps[0]!.unit}`;
  return comps.map((c) => c.v).join(', ');
}

function valueText(o: Pick<Observation, 'valueQuantity' | 'valueString' | 'valueCodeableConcept' | 'valueBoolean' | 'valueInteger'>): string | null {
  if (o.valueQuantity?.value !== undefined) {
    const unit = o.valueQuantity.unit ?? o.valueQuantity.code;
    return `${o.valueQuantity.comparator ?? ''}${o.valueQuantity.value}${unit ? ` ${unit}` : ''}`;
  }
  if (o.valueString !== undefined) return o.valueString;
  if (o.valueCodeableConcept) return codeText(o.valueCodeableConcept);
  if (o.valueBoolean !== undefined) return o.valueBoolean ? 'yes' : 'no';
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  return null;
}

function rangeText(r: NonNullable<Observation['referenceRange']>[number]): string | null {
  if (r.text) return r.text;
  const lo = r.low?.value;
  const hi = r.high?.value;
  if (lo === undefined && hi === undefined) return null;
  return `${lo ?? ''}-${hi ?? ''}`;
}

function codeText(cc: CodeableConcept | undefined | null): string | null {
  if (!cc) return null;
  return cc.text ?? cc.coding?.find((c) => c.display)?.display ?? cc.coding?.[0]?.code ?? null;
}

function firstCode(cc: CodeableConcept | undefined | null): string | null {
  return cc?.coding?.find((c) => c.code)?.code ?? null;
}

/** `system|code` of the first coding with both, for matching the same thing across sources. */
function codeString(cc: CodeableConcept | undefined | null): string | null {
  const c = cc?.coding?.find((x) => x.system && x.code);
  return c ? `${c.system}|${c.code}` : null;
}

function codeKey(cc: CodeableConcept | undefined | null, name: string): string {
  return codeString(cc) ?? `text|${name.trim().toLowerCase()}`;
}

/** Newest first; undated items last. */
function cmpDateDesc(a: string | null | undefined, b: string | null | undefined): number {
  const x = dateValue(a);
  const y = dateValue(b);
  const xn = Number.isNaN(x);
  const yn = Number.isNaN(y);
  if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1;
  return y - x;
}

