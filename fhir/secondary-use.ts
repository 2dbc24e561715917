/**
 * Secondary use across people, inside the repository's transaction: every stored resource of
 * one type, as the FHIR API serves it (stable ids, references to the person's source Patients
 * pointed at the merged Patient, national codes), for the people the policy lets this user use:
 * read in keyset pages in person order, so each person is decided once and memory stays bounded
 * whatever the size of the store, each tagged with its care setting as $everything tags it.
 * For Patient, each person's merged Patient (the one
 * `GET /Patient/{person id}` serves). Per person: a national data opt-out or a restriction
 * leaves them out; the permit's obligations withhold sensitive items and, for roles whose policy
 * says so, pseudonymise what is handed on (access/pseudonymise.ts). Each resource goes to the
 * caller's sink as it is read (awaited, so a slow reader holds the scan back). Called by
 * FhirRepository only: it lends the access kit.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { AuditEntry } from '../access/audit.ts';
import type { Principal } from '../access/context.ts';
import type { PersonKey } from '../access/facts-store.ts';
import { decide, type AccessFacts, type Decision, type Policy } from '../access/policy.ts';
import { pseudonymFor, pseudonymiseResource, type Pseudonym } from '../access/pseudonymise.ts';
import { SECONDARY_USE_KEY } from '../analytics/cohorts/pseudonym.ts';
import { buildIntegratedRecord } from '../record/integrated-record.ts';
import { fhirLogicalId, personPatientKeys, presentResource, toMergedPatient } from '../record/fhir-bundle.ts';
import type { PersonRow, PracticeRow, ResourceRow } from '../record/rows.ts';
import { tagCareSettings } from '../record/care-setting.ts';
import { OrganisationDirectory } from '../record/organisations.ts';
import { defaultReferenceData } from '../record/reference/reference-data.ts';
import { mergedPatientMeta } from './history.ts';
import type { FhirStoreTx } from './store.ts';

type Permit = Extract<Decision, { kind: 'permit' }>;

/** What the repository lends a scan: the user, the policy, the obligations check, the audit entry shape. */
export interface SecondaryUseKit {
  principal: Principal;
  policy: Policy | null;
  visible(row: ResourceRow, decision: Permit): boolean;
  entry(e: Partial<AuditEntry> & { action: string }): AuditEntry;
  now: Date;
  nonPersonal: ReadonlySet<string>;
}

export interface SecondaryUseRequest {
  resourceType: string;
  /** Only resources received (for Patient: demographics changed) after this instant (ISO). */
  since?: string;
  /** Resources read per page (default 2000). */
  pageSize?: number;
}

/** What a scan found and left out, for the audit entry and the caller. */
export interface SecondaryUseCounts {
  resourceType: string;
  /** Resources handed to the sink. */
  resources: number;
  /** People whose data was handed on. */
  people: number;
  /** People left out, by why. */
  excluded: { nationalDataOptOut: number; restricted: number; other: number };
  /** Items withheld by the obligations (sensitive categories). */
  withheld: number;
  /** Resources not yet linked to a person, left out. */
  unlinked: number;
  pseudonymised: boolean;
  /** `sql` when the view ran in the database (secondary-use-sql.ts). */
  engine?: 'sql' | 'js';
  /** True when the run read a materialisation of the view (analytics/views/materialised.ts). */
  materialised?: boolean;
}

/** Takes each resource as it is read; returning false ends the scan there (a row limit reached). */
export type Sink = (resource: Resource) => void | boolean | Promise<void | boolean>;

const DEFAULT_PAGE = 2000;
/** Rows read by a scan are its own (fresh from the page query) and read once: presented without a copy. */
const IN_PLACE = { inPlace: true };

/** Scans one type for secondary use under an already permitted gate decision. Throws what the sink throws. */
export async function scanForSecondaryUse(tx: FhirStoreTx, kit: SecondaryUseKit, gate: Permit, req: SecondaryUseRequest, sink: Sink, counts: SecondaryUseCounts): Promise<void> {
  const pseudonym = gate.obligations.pseudonymise ? pseudonymFor(await tx.pseudonymKey(SECONDARY_USE_KEY)) : null;
  const pageSize = Math.max(1, Math.min(req.pageSize ?? DEFAULT_PAGE, 50_000));
  const emit = async (r: Resource): Promise<boolean> => {
    counts.resources++;
    return (await sink(pseudonym ? pseudonymiseResource(r, pseudonym) : r)) !== false;
  };
  if (req.resourceType === 'Patient') return scanPatients(tx, kit, req, pageSize, counts, emit);
  if (kit.nonPersonal.has(req.resourceType)) {
    // Reference data (Organization, Medication…): nobody's, but withheld like anything else if sensitive.
    let after: { personId: null; system: string; sourceId: string } | null = null;
    for (;;) {
      const rows = await tx.resourcePage({ resourceType: req.resourceType, personal: false, after, limit: pageSize, ...(req.since ? { since: req.since } : {}) });
      if (!rows.length) break;
      const last = rows[rows.length - 1]!;
      after = { personId: null, system: last.source_system, sourceId: last.source_id };
      const shown: Resource[] = [];
      for (const row of rows) {
        if (!kit.visible(row, gate)) counts.withheld++;
        else shown.push(presentResource(row, null, new Set(), IN_PLACE));
      }
      tagCareSettings(shown.map((resource) => ({ resource })), new OrganisationDirectory(defaultReferenceData(), []));
      for (const r of shown) if (!(await emit(r))) return;
    }
    return;
  }
  counts.unlinked = await tx.unlinkedCount(req.resourceType);
  const page = (after: { personId: string; system: string; sourceId: string } | null) => tx.resourcePage({ resourceType: req.resourceType, personal: true, after, limit: pageSize, ...(req.since ? { since: req.since } : {}) });
  // The person a page ended with is decided already: pages cut through a person's resources.
  let carried: PersonState | null = null;
  let next: Promise<ResourceRow[]> | null = page(null);
  while (next) {
    const rows: ResourceRow[] = await next;
    next = null;
    if (!rows.length) break;
    const last = rows[rows.length - 1]!;
    const byPerson = groupByPerson(rows);
    const fresh = [...byPerson.keys()].filter((id) => id !== carried?.personId);
    const states = await decidePeople(tx, kit, fresh, counts);
    if (carried) states.set(carried.personId, carried);
    const { keys, practices } = await patientKeysFor(tx, [...states.values()].filter((s) => s.person && s.decision?.kind === 'permit').map((s) => s.person!), byPerson);
    // The next page is read while this one is turned into rows (the database works while we do).
    if (rows.length === pageSize) {
      next = page({ personId: last.person_id!, system: last.source_system, sourceId: last.source_id });
      next.catch(() => undefined);
    }
    const shown: Resource[] = [];
    for (const [personId, personRows] of byPerson) {
      const state = states.get(personId)!;
      if (!state.person || state.decision?.kind !== 'permit') continue;
      const permit = state.decision;
      for (const row of personRows) {
        if (!kit.visible(row, permit)) counts.withheld++;
        else shown.push(presentResource(row, state.person.person_id, keys.get(state.person.person_id) ?? new Set(), IN_PLACE));
      }
    }
    // Each item's care setting as a meta.tag, as $everything presents it (record/care-setting.ts).
    tagCareSettings(shown.map((resource) => ({ resource })), new OrganisationDirectory(defaultReferenceData(), practices));
    for (const r of shown) if (!(await emit(r))) return;
    carried = states.get(last.person_id!) ?? null;
  }
}

interface PersonState {
  personId: string;
  /** The active person, or null when the stored person id no longer stands for one. */
  person: PersonRow | null;
  decision: Decision | null;
}

function groupByPerson(rows: ResourceRow[]): Map<string, ResourceRow[]> {
  const out = new Map<string, ResourceRow[]>();
  for (const r of rows) {
    const list = out.get(r.person_id!);
    if (list) list.push(r);
    else out.set(r.person_id!, [r]);
  }
  return out;
}

/** Each person decided for secondary use, with the count of people included and left out. */
async function decidePeople(tx: FhirStoreTx, kit: SecondaryUseKit, personIds: string[], counts: SecondaryUseCounts): Promise<Map<string, PersonState>> {
  const out = new Map<string, PersonState>();
  if (!personIds.length) return out;
  const persons = await tx.personsById(personIds);
  const active = new Map(persons.map((p) => [p.person_id, p]));
  const facts = await tx.secondaryUseFacts(kit.principal, persons.map(personKey), kit.now);
  for (const id of personIds) {
    const person = active.get(id) ?? null;
    if (!person) {
      // A person merged away whose rows were not moved: nobody can be decided for them (fails closed).
      counts.excluded.other++;
      out.set(id, { personId: id, person: null, decision: null });
      continue;
    }
    const f: AccessFacts | null = facts.get(id) ?? null;
    const decision = decide(kit.policy, { action: 'export', principal: kit.principal, purpose: 'secondary-use', facts: f, now: kit.now });
    if (decision.kind === 'permit') counts.people++;
    else if (f?.restricted) counts.excluded.restricted++;
    else if (f?.nationalDataOptOut) counts.excluded.nationalDataOptOut++;
    else counts.excluded.other++;
    out.set(id, { personId: id, person, decision });
  }
  return out;
}

function personKey(p: PersonRow): PersonKey {
  return { personId: p.person_id, nhsNumber: p.nhs_number, memberIds: [p.person_id] };
}

/** The source Patients that stand for each person (a reference to one is served as the merged Patient). */
async function patientKeysFor(tx: FhirStoreTx, persons: PersonRow[], byPerson: Map<string, ResourceRow[]>): Promise<{ keys: Map<string, Set<string>>; practices: PracticeRow[] }> {
  const keys = new Map<string, Set<string>>();
  const practices = new Map<string, PracticeRow>();
  if (!persons.length) return { keys, practices: [] };
  for (const s of await tx.loadSummaries(persons)) {
    keys.set(s.person.person_id, personPatientKeys(s.identities, byPerson.get(s.person.person_id) ?? []));
    for (const p of s.practices) practices.set(p.ods_code, p);
  }
  return { keys, practices: [...practices.values()] };
}

/** Patient: each permitted person's merged Patient, built from their identities and the source Patients they may be shown. */
async function scanPatients(tx: FhirStoreTx, kit: SecondaryUseKit, req: SecondaryUseRequest, pageSize: number, counts: SecondaryUseCounts, emit: (r: Resource) => Promise<boolean>): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const persons = await tx.personPage(after, pageSize);
    if (!persons.length) break;
    after = persons[persons.length - 1]!.person_id;
    const states = await decidePeople(tx, kit, persons.map((p) => p.person_id), counts);
    const permitted = persons.filter((p) => states.get(p.person_id)?.decision?.kind === 'permit');
    if (!permitted.length) continue;
    const summaries = await tx.loadSummaries(permitted);
    const sourcePatients = await tx.resourcesOfPersons(permitted.map((p) => p.person_id), ['Patient']);
    for (const s of summaries) {
      const permit = states.get(s.person.person_id)!.decision as Permit;
      const mine = sourcePatients.filter((r) => r.person_id === s.person.person_id);
      const rows = mine.filter((r) => kit.visible(r, permit));
      counts.withheld += mine.length - rows.length;
      const record = buildIntegratedRecord(s.person, s.identities, rows, s.practices, { now: kit.now });
      const patient = toMergedPatient(record, rows.map((r) => fhirLogicalId(r.source_system, r.resource_type, r.source_id)));
      const meta = mergedPatientMeta(patient, record, rows);
      if (req.since && (!meta.lastUpdated || meta.lastUpdated <= req.since)) continue;
      patient.meta = { ...(patient.meta ?? {}), ...meta };
      if (!(await emit(patient))) return;
    }
  }
}
