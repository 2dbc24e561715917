/**
 * The record page's view of a person, built from what `GET /fhir/Patient/{id}/$everything`
 * returns (a searchset Bundle: the merged Patient, then every item a source sent, each naming
 * its source in `meta.source`): banner, summary, sources and the timeline. Pure: a Bundle and
 * "today" in, plain data out, so it is tested without a browser.
 */
import type {
  AllergyIntolerance,
  Appointment,
  Bundle,
  Condition,
  DiagnosticReport,
  DocumentReference,
  Encounter,
  EpisodeOfCare,
  Immunization,
  MedicationAdministration,
  MedicationDispense,
  MedicationRequest,
  MedicationStatement,
  Observation,
  OperationOutcome,
  Patient,
  Procedure,
  ServiceRequest,
  Resource,
} from '@medplum/fhirtypes';
import { ageInYears, datePart } from '../lib/dates.ts';
import { codeText, conceptKey, firstCode, observationUnit, observationValue, referenceRange, resultFlag, type Flag, type Range } from './fhir-values.ts';
import { compareSources, settingOf, sourceLabel, taggedSetting, type Setting } from './sources.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';

export interface PatientView {
  id: string;
  name: string;
  family: string | null;
  given: string | null;
  nhsNumber: string | null;
  birthDate: string | null;
  age: number | null;
  /** Date of death (or true when the source says only that the person has died). */
  deceased: string | true | null;
  sex: string | null;
  address: string | null;
  practice: { name: string; ods: string | null } | null;
  /** The record carries a restricted (R) or very restricted (V) confidentiality label. */
  restricted: boolean;
}

export interface SourceView {
  system: string;
  label: string;
  setting: Setting;
  items: number;
  /** The latest clinical date among its items. */
  latest: string | null;
}

export interface ProblemView {
  key: string;
  name: string;
  status: string | null;
  active: boolean;
  onset: string | null;
  sources: string[];
}

export interface MedicationView {
  key: string;
  name: string;
  dosage: string | null;
  status: string | null;
  current: boolean;
  date: string | null;
  sources: string[];
}

export interface AllergyView {
  key: string;
  substance: string;
  reactions: string[];
  criticality: string | null;
  active: boolean;
  date: string | null;
  sources: string[];
}

export interface ResultView {
  id: string;
  key: string;
  name: string;
  value: string | null;
  unit: string | null;
  range: Range | null;
  flag: Flag | null;
  date: string | null;
  source: string;
}

export interface EncounterView {
  id: string;
  kind: 'admission' | 'emergency' | 'outpatient' | 'gp' | 'community' | 'mental-health' | 'other';
  label: string;
  start: string | null;
  end: string | null;
  place: string | null;
  status: string | null;
  source: string;
}

export interface CarePackageView {
  id: string;
  service: string;
  provider: string | null;
  start: string | null;
  end: string | null;
  open: boolean;
  source: string;
}

export const TIMELINE_TYPES = ['problem', 'medication', 'allergy', 'result', 'report', 'document', 'order', 'encounter', 'admission', 'emergency', 'procedure', 'immunisation', 'care-package', 'other'] as const;
export type TimelineType = (typeof TIMELINE_TYPES)[number];
export const TIMELINE_TYPE_LABEL: Record<TimelineType, string> = {
  problem: 'Problems',
  medication: 'Medications',
  allergy: 'Allergies',
  result: 'Results',
  report: 'Reports',
  document: 'Letters and documents',
  order: 'Orders and referrals',
  encounter: 'Appointments and contacts',
  admission: 'Admissions',
  emergency: 'A&E attendances',
  procedure: 'Procedures and assessments',
  immunisation: 'Immunisations',
  'care-package': 'Care packages',
  other: 'Other',
};

/** One item's type, as the timeline row names it. */
export const TIMELINE_TYPE_ONE: Record<TimelineType, string> = {
  problem: 'Problem',
  medication: 'Medication',
  allergy: 'Allergy',
  result: 'Result',
  report: 'Report',
  document: 'Document',
  order: 'Order',
  encounter: 'Contact',
  admission: 'Admission',
  emergency: 'A&E',
  procedure: 'Procedure',
  immunisation: 'Immunisation',
  'care-package': 'Care package',
  other: 'Item',
};

export interface TimelineItem {
  id: string;
  resourceType: string;
  /** The clinical date, else when the source last changed it. */
  date: string;
  type: TimelineType;
  title: string;
  detail: string | null;
  source: string;
  sourceLabel: string;
  setting: Setting;
}

export interface Withheld {
  /** How many items the access policy withheld, when the server says (null: some, number unknown). */
  count: number | null;
  message: string;
}

export interface RecordView {
  patient: PatientView;
  sources: SourceView[];
  problems: ProblemView[];
  medications: MedicationView[];
  allergies: AllergyView[];
  /** The latest result of each test, newest first. */
  latestResults: ResultView[];
  /** Admissions, A&E attendances and outpatient appointments, newest first. */
  hospitalEncounters: EncounterView[];
  carePackages: CarePackageView[];
  mentalHealthContacts: EncounterView[];
  timeline: TimelineItem[];
  observations: Observation[];
  withheld: Withheld | null;
  /** Each source system's name as this page shows it (the same everywhere on the page). */
  sourceLabels: ReadonlyMap<string, string>;
}

/** Builds the record view; `today` (YYYY-MM-DD) decides ages and what is current. */
export function buildRecordView(bundle: Bundle, today: string): RecordView {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
  const patientResource = resources.find((r): r is Patient => r.resourceType === 'Patient');
  if (!patientResource) throw new Error('the record has no Patient');
  const items = resources.filter((r) => r.resourceType !== 'Patient' && r.resourceType !== 'OperationOutcome');
  const patient = patientView(patientResource, today);
  const practiceNames = new Map<string, string>();
  if (patient.practice?.ods) practiceNames.set(patient.practice.ods, patient.practice.name);
  // Each source's care setting as the server tagged its items; the key's convention only where it did not.
  const tagged = new Map<string, Setting>();
  for (const r of items) {
    const t = taggedSetting(r.meta);
    if (t && r.meta?.source && !tagged.has(r.meta.source)) tagged.set(r.meta.source, t);
  }
  const settingOfSource = (s: string) => tagged.get(s) ?? settingOf(s);
  const label = (s: string) => sourceLabel(s, practiceNames, settingOfSource(s));

  const problems = new Map<string, ProblemView>();
  const medications = new Map<string, MedicationView>();
  const allergies = new Map<string, AllergyView>();
  const latest = new Map<string, ResultView>();
  const observations: Observation[] = [];
  const hospitalEncounters: EncounterView[] = [];
  const mentalHealthContacts: EncounterView[] = [];
  const carePackages: CarePackageView[] = [];
  const timeline: TimelineItem[] = [];
  const sources = new Map<string, SourceView>();

  for (const r of items) {
    const source = r.meta?.source ?? 'unknown';
    const fallbackDate = r.meta?.lastUpdated ?? '';
    const add = (date: string | null | undefined, type: TimelineType, title: string, detail: string | null = null) => {
      const d = date || fallbackDate;
      timeline.push({ id: `${r.resourceType}/${r.id}`, resourceType: r.resourceType, date: d, type, title, detail, source, sourceLabel: label(source), setting: settingOfSource(source) });
      const s = sources.get(source) ?? { system: source, label: label(source), setting: settingOfSource(source), items: 0, latest: null };
      s.items++;
      if (date && (!s.latest || date > s.latest)) s.latest = date;
      sources.set(source, s);
    };
    switch (r.resourceType) {
      case 'Condition': {
        const c = r as Condition;
        const name = codeText(c.code) ?? 'Unnamed problem';
        const status = firstCode(c.clinicalStatus);
        const refuted = ['entered-in-error', 'refuted'].includes(firstCode(c.verificationStatus) ?? '');
        const active = !refuted && (status === null || ['active', 'recurrence', 'relapse'].includes(status));
        const onset = c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate ?? null;
        const key = conceptKey(c.code, name);
        const had = problems.get(key);
        if (!had) problems.set(key, { key, name, status, active, onset, sources: [source] });
        else {
          if (!had.sources.includes(source)) had.sources.push(source);
          had.active ||= active;
          if (onset && (!had.onset || onset < had.onset)) had.onset = onset;
        }
        add(onset, 'problem', name, status);
        break;
      }
      case 'MedicationStatement':
      case 'MedicationRequest': {
        const m = medicationOf(r as MedicationStatement | MedicationRequest, today);
        const key = conceptKey(m.concept, m.name);
        const had = medications.get(key);
        if (!had || (m.date ?? '') > (had.date ?? '')) {
          medications.set(key, { key, name: m.name, dosage: m.dosage, status: m.status, current: m.current || (had?.current ?? false), date: m.date, sources: [...new Set([...(had?.sources ?? []), source])] });
        } else {
          had.current ||= m.current;
          if (!had.sources.includes(source)) had.sources.push(source);
        }
        add(m.date, 'medication', m.name, [m.dosage, m.status].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'AllergyIntolerance': {
        const a = r as AllergyIntolerance;
        const substance = codeText(a.code) ?? 'Unnamed allergy';
        const reactions = (a.reaction ?? []).flatMap((x) => (x.manifestation ?? []).map((mf) => codeText(mf)).filter((t): t is string => !!t));
        const refuted = ['entered-in-error', 'refuted'].includes(firstCode(a.verificationStatus) ?? '');
        const status = firstCode(a.clinicalStatus);
        const date = a.onsetDateTime ?? a.recordedDate ?? null;
        const key = conceptKey(a.code, substance);
        const had = allergies.get(key);
        if (!had) allergies.set(key, { key, substance, reactions, criticality: a.criticality ?? null, active: !refuted && (status === null || status === 'active'), date, sources: [source] });
        else if (!had.sources.includes(source)) had.sources.push(source);
        add(date, 'allergy', substance, reactions.join(', ') || null);
        break;
      }
      case 'Observation': {
        const o = r as Observation;
        observations.push(o);
        const name = codeText(o.code) ?? 'Unnamed result';
        const date = o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued ?? null;
        const view: ResultView = { id: `Observation/${o.id}`, key: conceptKey(o.code, name), name, value: observationValue(o), unit: observationUnit(o), range: referenceRange(o), flag: resultFlag(o), date, source };
        const had = latest.get(view.key);
        if (!had || (date ?? '') > (had.date ?? '')) latest.set(view.key, view);
        add(date, 'result', name, [view.value, view.flag?.abnormal ? view.flag.label : null].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'DiagnosticReport': {
        const d = r as DiagnosticReport;
        const n = d.result?.length ?? 0;
        add(d.effectiveDateTime ?? d.effectivePeriod?.start ?? d.issued, 'report', codeText(d.code) ?? 'Report', d.conclusion ?? (n ? `${n} result${n === 1 ? '' : 's'}` : null));
        break;
      }
      case 'Encounter': {
        const e = encounterOf(r as Encounter, source, settingOfSource(source));
        if (e.kind === 'admission' || e.kind === 'emergency' || e.kind === 'outpatient') hospitalEncounters.push(e);
        if (e.kind === 'mental-health') mentalHealthContacts.push(e);
        add(e.start, e.kind === 'admission' ? 'admission' : e.kind === 'emergency' ? 'emergency' : 'encounter', e.label, [e.place, e.end && e.kind === 'admission' ? `discharged ${datePart(e.end)}` : null].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'EpisodeOfCare': {
        const ep = r as EpisodeOfCare;
        const end = ep.period?.end ?? null;
        const service = codeText(ep.type?.[0]) ?? 'Care package';
        const open = (ep.status === 'active' || ep.status === 'waitlist' || ep.status === 'onhold' || !ep.status) && (!end || end >= today);
        carePackages.push({ id: `EpisodeOfCare/${ep.id}`, service, provider: ep.managingOrganization?.display ?? null, start: ep.period?.start ?? null, end, open, source });
        add(ep.period?.start, 'care-package', service, ep.managingOrganization?.display ?? null);
        break;
      }
      case 'ServiceRequest': {
        const sr = r as ServiceRequest;
        const state = sr.status === 'active' ? 'requested' : sr.status === 'revoked' ? 'cancelled' : (sr.status ?? null);
        add(sr.occurrenceDateTime ?? sr.occurrencePeriod?.start ?? sr.authoredOn, 'order', codeText(sr.code) ?? 'Order', [state, sr.requester?.display ? `by ${sr.requester.display}` : null].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'Appointment': {
        const a = r as Appointment;
        const place = a.participant?.find((p) => p.actor?.type === 'Location' || p.actor?.reference?.startsWith('Location/'))?.actor?.display ?? null;
        const state = a.status === 'booked' ? 'booked' : a.status === 'noshow' ? 'did not attend' : a.status === 'fulfilled' ? 'attended' : a.status;
        add(a.start ?? a.created, 'encounter', codeText(a.serviceType?.[0]) ?? a.description ?? codeText(a.appointmentType) ?? 'Appointment', [place, state].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'DocumentReference': {
        const d = r as DocumentReference;
        const state = d.status === 'entered-in-error' ? 'cancelled' : d.status === 'superseded' ? 'replaced' : d.docStatus === 'preliminary' ? 'preliminary' : null;
        add(d.context?.period?.start ?? d.date, 'document', codeText(d.type) ?? d.description ?? 'Document', [d.author?.[0]?.display ? `by ${d.author[0].display}` : null, state].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'MedicationAdministration': {
        const m = r as MedicationAdministration;
        const dose = m.dosage?.dose?.value !== undefined ? `${m.dosage.dose.value}${m.dosage.dose.unit ? ` ${m.dosage.dose.unit}` : ''}` : null;
        add(m.effectiveDateTime ?? m.effectivePeriod?.start, 'medication', codeText(m.medicationCodeableConcept) ?? m.medicationReference?.display ?? 'Medicine', [m.status === 'completed' ? 'given' : m.status === 'not-done' ? 'not given' : m.status, dose].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'MedicationDispense': {
        const m = r as MedicationDispense;
        const qty = m.quantity?.value !== undefined ? `${m.quantity.value}${m.quantity.unit ? ` ${m.quantity.unit}` : ''}` : null;
        add(m.whenHandedOver ?? m.whenPrepared, 'medication', codeText(m.medicationCodeableConcept) ?? m.medicationReference?.display ?? 'Medicine', [m.status === 'completed' ? 'dispensed' : m.status, qty].filter(Boolean).join(' — ') || null);
        break;
      }
      case 'Procedure': {
        const p = r as Procedure;
        add(p.performedDateTime ?? p.performedPeriod?.start, 'procedure', codeText(p.code) ?? 'Procedure', codeText(p.outcome) ?? null);
        break;
      }
      case 'Immunization': {
        const i = r as Immunization;
        add(i.occurrenceDateTime, 'immunisation', codeText(i.vaccineCode) ?? 'Immunisation', i.status && i.status !== 'completed' ? i.status : null);
        break;
      }
      default:
        add(null, 'other', r.resourceType, null);
    }
  }

  const byDateDesc = <T>(date: (x: T) => string | null) => (a: T, b: T) => ((date(b) ?? '') < (date(a) ?? '') ? -1 : (date(b) ?? '') > (date(a) ?? '') ? 1 : 0);
  timeline.sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : a.id < b.id ? -1 : 1));
  return {
    patient,
    sources: [...sources.values()].sort((a, b) => compareSources(a.system, b.system, settingOfSource)),
    problems: [...problems.values()].sort((a, b) => Number(b.active) - Number(a.active) || byDateDesc<ProblemView>((p) => p.onset)(a, b)),
    medications: [...medications.values()].sort((a, b) => Number(b.current) - Number(a.current) || byDateDesc<MedicationView>((m) => m.date)(a, b)),
    allergies: [...allergies.values()].sort((a, b) => Number(b.active) - Number(a.active) || a.substance.localeCompare(b.substance)),
    latestResults: [...latest.values()].sort(byDateDesc((x) => x.date)),
    hospitalEncounters: hospitalEncounters.sort(byDateDesc((x) => x.start)),
    carePackages: carePackages.sort((a, b) => Number(b.open) - Number(a.open) || byDateDesc<CarePackageView>((x) => x.start)(a, b)),
    mentalHealthContacts: mentalHealthContacts.sort(byDateDesc((x) => x.start)),
    timeline,
    observations,
    withheld: withheldOf(bundle, resources),
    sourceLabels: new Map([...sources.values()].map((x) => [x.system, x.label])),
  };
}

/** The merged Patient as the banner and search results show it. */
export function patientView(p: Patient, today: string): PatientView {
  const name = p.name?.find((n) => n.use === 'official') ?? p.name?.[0];
  const family = name?.family ?? null;
  const given = name?.given?.join(' ') ?? null;
  const display = name?.text ?? ([given, family ? family.toUpperCase() : null].filter(Boolean).join(' ') || 'Name not known');
  const nhsNumber = p.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value ?? null;
  const deceased = p.deceasedDateTime ?? (p.deceasedBoolean ? true : null);
  const deathDay = typeof deceased === 'string' ? datePart(deceased) : null;
  const gp = p.generalPractitioner?.[0];
  const address = p.address?.[0];
  const addressText = address ? (address.text ?? [...(address.line ?? []), address.city, address.postalCode].filter(Boolean).join(', ')) || null : null;
  const confidentiality = (p.meta?.security ?? []).filter((s) => s.system === 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality').map((s) => s.code);
  return {
    id: p.id ?? '',
    name: display,
    family,
    given,
    nhsNumber,
    birthDate: p.birthDate ?? null,
    // Age at death for someone who has died; the banner says so.
    age: ageInYears(p.birthDate, deathDay ?? today),
    deceased,
    sex: p.gender ?? null,
    address: addressText,
    practice: gp ? { name: gp.display ?? gp.identifier?.value ?? 'Registered practice', ods: gp.identifier?.system === ODS_SYSTEM ? (gp.identifier.value ?? null) : null } : null,
    restricted: confidentiality.includes('R') || confidentiality.includes('V'),
  };
}

function medicationOf(m: MedicationStatement | MedicationRequest, today: string) {
  const concept = m.medicationCodeableConcept;
  const name = codeText(concept) ?? m.medicationReference?.display ?? 'Unnamed medicine';
  const status = m.status ?? null;
  if (m.resourceType === 'MedicationStatement') {
    const end = m.effectivePeriod?.end;
    const ended = !!end && (datePart(end) ?? '') < today;
    return { concept, name, status, current: !ended && (status === null || ['active', 'intended', 'on-hold'].includes(status)), date: m.effectiveDateTime ?? m.effectivePeriod?.start ?? m.dateAsserted ?? null, dosage: m.dosage?.[0]?.text ?? null };
  }
  const end = m.dispenseRequest?.validityPeriod?.end;
  const ended = !!end && (datePart(end) ?? '') < today;
  return { concept, name, status, current: !ended && (status === null || ['active', 'on-hold', 'draft'].includes(status)), date: m.authoredOn ?? null, dosage: m.dosageInstruction?.[0]?.text ?? null };
}

/** What kind of contact an Encounter is, from its class (HL7 v3 ActCode) and its source's setting. */
function encounterOf(e: Encounter, source: string, setting: Setting): EncounterView {
  const cls = e.class?.code ?? null;
  const place = e.location?.[e.location.length - 1]?.location?.display ?? e.serviceProvider?.display ?? codeText(e.serviceType) ?? null;
  const type = codeText(e.type?.[0]) ?? codeText(e.serviceType);
  const base = { id: `Encounter/${e.id}`, start: e.period?.start ?? null, end: e.period?.end ?? null, place, status: e.status ?? null, source };
  if (setting === 'mental-health' && cls !== 'IMP') return { ...base, kind: 'mental-health', label: `Mental health contact${type ? `: ${type}` : ''}` };
  if (setting === 'community' || cls === 'HH') return { ...base, kind: 'community', label: `Community contact${codeText(e.serviceType) ? `: ${codeText(e.serviceType)}` : ''}` };
  if (cls === 'EMER') return { ...base, kind: 'emergency', label: 'A&E attendance' };
  if (cls === 'IMP' || cls === 'ACUTE' || cls === 'NONAC') {
    const p = firstCode(e.priority);
    const how = p === 'EM' || p === 'UR' || p === 'S' ? 'Emergency admission' : p === 'EL' || p === 'R' ? 'Elective admission' : 'Admission';
    return { ...base, kind: 'admission', label: setting === 'mental-health' ? `${how} (mental health)` : how };
  }
  if (setting === 'gp') return { ...base, kind: 'gp', label: type ? `GP: ${type}` : 'GP consultation' };
  if (setting === 'hospital' && (cls === 'AMB' || cls === null)) return { ...base, kind: 'outpatient', label: `Outpatient appointment${codeText(e.serviceType) ? ` (${codeText(e.serviceType)})` : ''}` };
  return { ...base, kind: 'other', label: type ?? 'Contact' };
}

/**
 * Items withheld by the access policy: the Bundle carries the REDACTED security label
 * (HL7 v3 ObservationValue) and, from Bevan's $everything, an OperationOutcome entry (search
 * mode "outcome", issue code "suppressed") whose diagnostics begin with the count.
 */
export function withheldOf(bundle: Bundle, resources: readonly Resource[]): Withheld | null {
  const redacted = (bundle.meta?.security ?? []).some((s) => s.code === 'REDACTED');
  const outcome = resources.find((r): r is OperationOutcome => r.resourceType === 'OperationOutcome' && (r.issue ?? []).some((i) => i.code === 'suppressed'));
  if (!redacted && !outcome) return null;
  const text = outcome?.issue?.find((i) => i.code === 'suppressed')?.diagnostics ?? null;
  const n = text ? /^(\d+)\b/.exec(text) : null;
  const count = n ? Number(n[1]) : null;
  // The server names why in brackets at the end: "sensitive", a dissent from sharing, or both.
  const why = (text ? /\(([^()]+)\)\s*$/.exec(text)?.[1] : undefined) ?? 'sensitive';
  return { count, message: count !== null ? `${count} item${count === 1 ? '' : 's'} withheld: ${why}` : `Some items were withheld by the access policy: ${why}` };
}
