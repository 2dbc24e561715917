/**
 * The sources of one person's record, for the record page's identity and freshness views
 * (`GET /record/{personId}/sources`, docs/api/record-extras.md): each source system with its
 * name, care setting (care-setting.ts), organisation and feed freshness (when it last sent
 * anything, from the ingest log); each source record that makes up the person (local id, the
 * demographics it holds, its address and what it says of a death, how it was linked and the
 * match status); and where the sources disagree — surname, given name, date of birth, sex, NHS
 * number, postcode, address, registered practice, death — with the sources holding each value.
 * Pure: the record, its rows and the freshness in, plain data out.
 */
import type { Address, Patient } from '@medplum/fhirtypes';
import type { IntegratedRecord } from './integrated-record.ts';
import { sourceSetting, type CareSetting, type SourceSetting } from './care-setting.ts';
import { OrganisationDirectory, odsOfSource } from './organisations.ts';
import { defaultReferenceData, type ReferenceData } from './reference/reference-data.ts';
import type { PracticeRow, ResourceRow } from './rows.ts';

/** When a source system last sent anything (ISO instants; null: never, as far as the ingest log knows). */
export interface FeedFreshness {
  source: string;
  /** The latest message or item received from the source, whatever became of it. */
  lastMessageAt: string | null;
  /** The latest one accepted into the record. */
  lastAcceptedAt: string | null;
  /** The latest one quarantined (could not be read or failed a check). */
  lastQuarantinedAt: string | null;
  /** The latest ingest run (file or connection) configured with this source. */
  lastRunAt: string | null;
}

export interface RecordSourceView {
  system: string;
  name: string;
  setting: CareSetting;
  settingFrom: SourceSetting['from'];
  organisation: { odsCode: string; name: string } | null;
  feed: Omit<FeedFreshness, 'source'>;
}

export interface SourceIdentityView {
  system: string;
  sourceName: string;
  setting: CareSetting;
  /** The person's id in the source system (hospital number, client id, the GP system's Patient id). */
  localId: string;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  sex: string | null;
  nhsNumber: string | null;
  nhsNumberValid: boolean;
  postcode: string | null;
  /** The address as the source's own Patient record holds it, when it sent one. */
  address: string | null;
  /** The GP practice this source says the person is registered with. */
  practice: { odsCode: string; name: string | null } | null;
  /** What the source says of a death: a date, deceased with no date, alive, or nothing. */
  death: { status: 'deceased'; date: string | null; detail: string } | { status: 'alive' } | null;
  /** nhs-number | probabilistic | manual | hl7-a40 | new */
  linkMethod: string;
  /** MATCH | POSSIBLE_MATCH | NO_MATCH | PENDING */
  matchStatus: string;
  updatedAt: string;
  /** Its values are the ones the record shows first (valid NHS number, most recently updated). */
  preferred: boolean;
}

export const DISAGREEMENT_FIELDS = ['family', 'given', 'birthDate', 'sex', 'nhsNumber', 'postcode', 'address', 'practice', 'death'] as const;
export type DisagreementField = (typeof DISAGREEMENT_FIELDS)[number];

export interface Disagreement {
  field: DisagreementField;
  /** Every distinct value, with the source systems holding it (most sources first). */
  values: { value: string; sources: string[] }[];
}

export interface RecordSources {
  personId: string;
  /** The server's clock when it answered (to say "4 min ago" whatever the browser's clock). */
  at: string;
  sources: RecordSourceView[];
  identities: SourceIdentityView[];
  disagreements: Disagreement[];
  registeredPractice: { odsCode: string; name: string | null; neighbourhood: string | null; neighbourhoodName: string | null } | null;
  /** The address of the preferred source that holds one. */
  address: string | null;
  /** Source records not shown because the person dissents from sharing beyond the user's organisation. */
  notShown: number;
}

export interface RecordSourcesOptions {
  practices?: readonly PracticeRow[];
  reference?: ReferenceData;
  /** A feeds file's kinds by source key (ingest/feeds.ts), when the server has one. */
  feedKinds?: ReadonlyMap<string, CareSetting>;
  /** Source systems the user may see (the dissent obligation); default all. */
  shown?: (system: string) => boolean;
  now?: Date;
}

/** The sources view of a record built from `record` and the rows the user may see. */
export function buildRecordSources(record: IntegratedRecord, rows: readonly ResourceRow[], freshness: readonly FeedFreshness[], o: RecordSourcesOptions = {}): RecordSources {
  const directory = new OrganisationDirectory(o.reference ?? defaultReferenceData(), o.practices ?? []);
  const shown = o.shown ?? (() => true);
  const fresh = new Map(freshness.map((f) => [f.source, f]));
  const settingOf = new Map<string, SourceSetting>();
  const setting = (system: string) => {
    let s = settingOf.get(system);
    if (!s) settingOf.set(system, (s = sourceSetting(system, directory, o.feedKinds)));
    return s;
  };

  const sources: RecordSourceView[] = record.sources
    .filter((s) => shown(s.system))
    .map((s) => {
      const st = setting(s.system);
      const f = fresh.get(s.system);
      return {
        system: s.system,
        name: s.name,
        setting: st.setting,
        settingFrom: st.from,
        organisation: st.organisation,
        feed: { lastMessageAt: f?.lastMessageAt ?? null, lastAcceptedAt: f?.lastAcceptedAt ?? null, lastQuarantinedAt: f?.lastQuarantinedAt ?? null, lastRunAt: f?.lastRunAt ?? null },
      };
    });

  const patients = new Map<string, Patient>();
  for (const r of rows) if (r.resource_type === 'Patient') patients.set(`${r.source_system}\u0000${r.source_id}`, r.content as Patient);
  const deathBySource = new Map<string, SourceIdentityView['death']>();
  for (const rep of record.death?.reports ?? []) {
    if (deathBySource.get(rep.source.system)?.status === 'deceased') continue;
    deathBySource.set(rep.source.system, rep.deceased ? { status: 'deceased', date: rep.date, detail: rep.detail } : { status: 'alive' });
  }

  const visible = record.identities.filter((i) => shown(i.source.system));
  const preferredSystem = record.demographics.preferredSource;
  let preferredTaken = false;
  const identities: SourceIdentityView[] = visible.map((i) => {
    const patient = patients.get(`${i.source.system}\u0000${i.id}`);
    // A GP system's own key names the practice the person is registered with.
    const practiceCode = i.practice ?? (i.source.system.startsWith('gp:') ? odsOfSource(i.source.system) : null);
    const preferred = !preferredTaken && i.source.system === preferredSystem;
    if (preferred) preferredTaken = true;
    return {
      system: i.source.system,
      sourceName: i.source.name,
      setting: setting(i.source.system).setting,
      localId: i.id,
      family: i.family,
      given: i.given,
      birthDate: i.birthDate,
      sex: i.sex,
      nhsNumber: i.nhsNumber,
      nhsNumberValid: i.nhsNumberValid,
      postcode: i.postcode,
      address: patient ? addressText(patient.address) : null,
      practice: practiceCode ? { odsCode: practiceCode.toUpperCase(), name: directory.get(practiceCode)?.name ?? null } : null,
      death: deathBySource.get(i.source.system) ?? null,
      linkMethod: i.linkMethod,
      matchStatus: i.matchStatus,
      updatedAt: i.updatedAt,
      preferred,
    };
  });

  const rp = record.registeredPractice && shown(record.registeredPractice.source.system) ? record.registeredPractice : null;
  const postcodeKey = (v: string | null) => (v ?? '').replace(/\s+/g, '').toUpperCase();
  const withAddress = identities.filter((i) => i.address);
  const best = withAddress.find((i) => postcodeKey(i.postcode) === postcodeKey(record.demographics.postcode) && i.postcode) ?? withAddress[0];

  return {
    personId: record.personId,
    at: (o.now ?? new Date()).toISOString(),
    sources,
    identities,
    disagreements: disagreements(identities, record),
    registeredPractice: rp ? { odsCode: rp.odsCode, name: rp.name, neighbourhood: rp.neighbourhood, neighbourhoodName: rp.neighbourhoodName } : null,
    address: best?.address ?? null,
    notShown: record.identities.length - visible.length,
  };
}

/** A FHIR address as one line: the home address in use, else the first. */
export function addressText(addresses: readonly Address[] | undefined): string | null {
  const list = (addresses ?? []).filter((a) => !a.period?.end);
  const a = list.find((x) => x.use === 'home') ?? list.find((x) => x.use !== 'old') ?? list[0];
  if (!a) return null;
  const text = a.text?.trim() || [...(a.line ?? []), a.city, a.district, a.postalCode].map((x) => x?.trim()).filter(Boolean).join(', ');
  return text || null;
}

// Spelling that does not make a different value: case, spaces, punctuation.
function sameKey(field: DisagreementField, v: string): string {
  if (field === 'postcode' || field === 'nhsNumber') return v.replace(/\s+/g, '').toUpperCase();
  if (field === 'address') return v.toUpperCase().replace(/[^A-Z0-9]+/g, '');
  return v.trim().toLowerCase();
}

function deathValue(d: SourceIdentityView['death']): string {
  if (!d) return 'no death recorded';
  if (d.status === 'alive') return 'recorded as alive';
  return d.date ? `died ${d.date.slice(0, 10)}` : 'recorded as deceased, no date';
}

function disagreements(identities: readonly SourceIdentityView[], record: IntegratedRecord): Disagreement[] {
  const valueOf: Record<DisagreementField, (i: SourceIdentityView) => string | null> = {
    family: (i) => i.family,
    given: (i) => i.given,
    birthDate: (i) => i.birthDate,
    sex: (i) => i.sex,
    nhsNumber: (i) => i.nhsNumber,
    postcode: (i) => i.postcode,
    // An address that is only the postcode says no more than the postcode does.
    address: (i) => (i.address && sameKey('address', i.address) !== sameKey('address', i.postcode ?? '') ? i.address : null),
    practice: (i) => i.practice?.odsCode ?? null,
    // Only when some source reports a death does silence count as a different answer.
    death: (i) => (record.death ? deathValue(i.death) : null),
  };
  const out: Disagreement[] = [];
  for (const field of DISAGREEMENT_FIELDS) {
    const seen = new Map<string, { value: string; sources: string[] }>();
    for (const i of identities) {
      const v = valueOf[field](i);
      if (!v) continue;
      const k = sameKey(field, v);
      const e = seen.get(k) ?? { value: v, sources: [] };
      if (!e.sources.includes(i.system)) e.sources.push(i.system);
      seen.set(k, e);
    }
    if (seen.size > 1) out.push({ field, values: [...seen.values()].sort((a, b) => b.sources.length - a.sources.length) });
  }
  return out;
}
