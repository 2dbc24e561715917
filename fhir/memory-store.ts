/**
 * The in-memory twin of the FHIR repository's data port, for unit tests of the repository (access
 * decisions, obligations, audit) without a database. Facts are given per person, not derived.
 * Its transaction keeps the audit entries only when fn returns, like a commit.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEntry } from '../access/audit.ts';
import type { AccessFacts } from '../access/policy.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import type { IdentityRow, PersonRow, PracticeRow, ResourceRow } from '../record/rows.ts';
import type { FhirStore, FhirStoreTx, PatientCriteria, PatientSortKey } from './store.ts';
import type { FeedFreshness } from '../record/record-sources.ts';

export interface MemoryData {
  persons: PersonRow[];
  identities: IdentityRow[];
  resources: ResourceRow[];
  practices: PracticeRow[];
  /** Facts per person id (the rest default to no relationship). */
  facts: Record<string, Partial<AccessFacts>>;
  /** Replaced versions (table resource_history), keyed like resources. */
  history?: ResourceRow[];
  /** Feed freshness by source system (the ingest log's newest times). */
  feeds?: FeedFreshness[];
}

export class MemoryFhirStore implements FhirStore {
  readonly audit: AuditEntry[] = [];
  readonly breakGlass: { user: string; personId: string; reason: string; expiresAt: string }[] = [];
  /** The pseudonym key (pseudonym_key in the database). */
  readonly key = randomBytes(32);
  constructor(readonly data: MemoryData) {}

  async transaction<T>(fn: (tx: FhirStoreTx) => Promise<T>): Promise<T> {
    const pending: AuditEntry[] = [];
    const d = this.data;
    const active = (id: string) => d.persons.find((p) => p.person_id === id && p.status === 'active') ?? null;
    const tx: FhirStoreTx = {
      findPerson: async (q) => {
        if (q.personId) return d.persons.find((p) => p.person_id === q.personId) ?? null;
        if (q.nhsNumber) return d.persons.find((p) => p.nhs_number === q.nhsNumber!.replace(/\s+/g, '')) ?? null;
        if (q.source) {
          const i = d.identities.find((x) => x.source_system === q.source!.system && x.source_id === q.source!.id);
          return i ? active(i.person_id) : null;
        }
        return null;
      },
      memberIds: async (id) => [id, ...d.persons.filter((p) => p.merged_into === id).map((p) => p.person_id)],
      loadRecord: async (person, ids) => ({
        person,
        identities: d.identities.filter((i) => ids.includes(i.person_id)),
        rows: d.resources.filter((r) => r.person_id && ids.includes(r.person_id)),
        practices: d.practices,
      }),
      loadSummaries: async (persons) => persons.map((person) => ({ person, identities: d.identities.filter((i) => i.person_id === person.person_id), practices: d.practices })),
      personsById: async (ids) => ids.map(active).filter((p): p is PersonRow => !!p),
      practices: async (q) =>
        d.practices
          .filter((p) => (q.codes ? q.codes.map((c) => c.toUpperCase()).includes(p.ods_code.toUpperCase()) : q.nameHas === undefined || p.name.toLowerCase().includes(q.nameHas.toLowerCase())))
          .slice(0, q.limit),
      findResource: async (type, id) => d.resources.find((r) => r.resource_type === type && fhirLogicalId(r.source_system, r.resource_type, r.source_id) === id) ?? null,
      // Every match is in ids (the twin reads facts in memory: it leaves no one out for `needs`).
      searchPatients: async (c: PatientCriteria, cap) => {
        const ids = d.persons
          .filter((p) => p.status === 'active')
          .filter((p) => {
            const ids = d.identities.filter((i) => i.person_id === p.person_id);
            const starts = (v: string | null, x: string) => !!v && v.toLowerCase().startsWith(x.toLowerCase());
            if (c.noOne) return false;
            if (c.ids && !c.ids.includes(p.person_id)) return false;
            if (c.nhsNumbers && !(c.nhsNumbers.includes(p.nhs_number ?? '') || ids.some((i) => c.nhsNumbers!.includes(i.nhs_number ?? '')))) return false;
            for (const vs of c.family ?? []) if (!vs.some((v) => ids.some((i) => starts(i.family, v)))) return false;
            for (const vs of c.given ?? []) if (!vs.some((v) => ids.some((i) => starts(i.given, v)))) return false;
            for (const vs of c.name ?? []) if (!vs.some((v) => ids.some((i) => starts(i.family, v) || starts(i.given, v)))) return false;
            for (const vs of c.town ?? []) if (!vs.some((v) => ids.some((i) => starts(townOf(i), v)))) return false;
            for (const vs of c.address ?? []) if (!vs.some((v) => ids.some((i) => [...(addressOf(i)?.split(', ') ?? []), townOf(i)].some((x) => starts(x, v)) || starts(i.postcode?.replace(/\s+/g, '') ?? null, v.replace(/\s+/g, ''))))) return false;
            for (const codes of c.generalPractitioner ?? []) if (!ids.some((i) => codes.includes((i.practice ?? '').toUpperCase()))) return false;
            for (const s of c.strings ?? []) if (!s.values.some((v) => ids.some((i) => stringMatches(i, s.field, s.mode, v)))) return false;
            return true;
          })
          .map((p) => p.person_id)
          .sort()
          .sort((a, b) => compareBySort(c.sort ?? [], d.identities, a, b))
          .slice(0, cap + 1);
        return { matched: ids.length, ids };
      },
      accessFacts: async (_principal, people) =>
        new Map(
          people.map((p) => [
            p.personId,
            { personId: p.personId, nhsNumber: p.nhsNumber, registeredPractices: [], careTeam: [], openEpisodeOrganisations: [], recentEncounters: [], dissentSharing: false, nationalDataOptOut: false, restricted: false, breakGlass: this.openBreakGlass(p.personId), ...d.facts[p.personId] },
          ]),
        ),
      startBreakGlass: async (user, personId, reason, minutes, now) => {
        const expiresAt = new Date(now.getTime() + minutes * 60_000).toISOString();
        this.breakGlass.push({ user, personId, reason, expiresAt });
        return { expiresAt };
      },
      appendAudit: async (entries) => {
        pending.push(...entries);
      },
      loadRecordOfTypes: async (person, ids, types) => ({
        person,
        identities: d.identities.filter((i) => ids.includes(i.person_id)),
        rows: d.resources.filter((r) => r.person_id && ids.includes(r.person_id) && types.includes(r.resource_type)),
        practices: d.practices,
      }),
      findResources: async (refs) => d.resources.filter((r) => refs.some((x) => x.resourceType === r.resource_type && x.id === fhirLogicalId(r.source_system, r.resource_type, r.source_id))),
      resourceVersions: async (current, page) => {
        const all = pastVersions(d.history ?? [], current).filter((h) => !page.since || h.received_at >= page.since);
        return { total: all.length, rows: page.limit > 0 ? all.slice(page.offset, page.offset + page.limit) : [] };
      },
      resourceVersion: async (current, version) => pastVersions(d.history ?? [], current).find((h) => h.version === version) ?? null,
      feedFreshness: async (systems) => [...new Set(systems)].map((source) => d.feeds?.find((f) => f.source === source) ?? { source, lastMessageAt: null, lastAcceptedAt: null, lastQuarantinedAt: null, lastRunAt: null }),
      resourcePage: async (q) => {
        const key = (r: ResourceRow) => (q.personal ? [r.person_id ?? '', r.source_system, r.source_id] : [r.source_system, r.source_id]);
        const after = q.after ? (q.personal ? [q.after.personId ?? '', q.after.system, q.after.sourceId] : [q.after.system, q.after.sourceId]) : null;
        return d.resources
          .filter((r) => r.resource_type === q.resourceType && (q.personal ? r.person_id !== null : r.person_id === null) && (!q.since || r.received_at > q.since))
          .sort((a, b) => compareKeys(key(a), key(b)))
          .filter((r) => !after || compareKeys(key(r), after) > 0)
          .slice(0, q.limit);
      },
      unlinkedCount: async (type) => d.resources.filter((r) => r.resource_type === type && r.person_id === null).length,
      personPage: async (after, limit) =>
        d.persons
          .filter((p) => p.status === 'active' && (!after || p.person_id > after))
          .sort((a, b) => (a.person_id < b.person_id ? -1 : 1))
          .slice(0, limit),
      resourcesOfPersons: async (ids, types) => d.resources.filter((r) => r.person_id && ids.includes(r.person_id) && types.includes(r.resource_type)),
      secondaryUseFacts: async (principal, people, now) => tx.accessFacts(principal, people, now),
      pseudonymKey: async () => this.key,
    };
    const out = await fn(tx);
    this.audit.push(...pending);
    return out;
  }

  private openBreakGlass(personId: string) {
    const bg = [...this.breakGlass].reverse().find((b) => b.personId === personId);
    return bg ? { reason: bg.reason, expiresAt: bg.expiresAt } : null;
  }
}

function compareKeys(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** The kept versions older than the current row, newest first, carrying the current row's person and subject. */
function pastVersions(history: ResourceRow[], current: ResourceRow): ResourceRow[] {
  return history
    .filter((h) => h.source_system === current.source_system && h.resource_type === current.resource_type && h.source_id === current.source_id && h.version < current.version)
    .sort((a, b) => b.version - a.version)
    .map((h) => ({ ...h, person_id: current.person_id, subject_id: current.subject_id }));
}

/** :exact and :contains as the PostgreSQL store has them (pg-store.ts stringCondition). */
function stringMatches(i: IdentityRow, field: 'name' | 'family' | 'given' | 'postalCode' | 'town' | 'address', mode: 'exact' | 'contains', v: string): boolean {
  if (field === 'address') {
    const lines = addressOf(i);
    return (mode === 'exact' ? !!lines && lines.split(', ').includes(v) : !!lines && lines.toLowerCase().includes(v.toLowerCase())) || stringMatches(i, 'town', mode, v) || stringMatches(i, 'postalCode', mode, v);
  }
  const values = { family: [i.family], given: [i.given], name: [i.family, i.given], postalCode: [i.postcode], town: [townOf(i)] }[field];
  if (mode === 'contains') {
    const norm = (x: string) => (field === 'postalCode' ? x.replace(/\s+/g, '').toUpperCase() : x.toLowerCase());
    return values.some((x) => !!x && norm(x).includes(norm(v)));
  }
  return values.some((x, k) => !!x && (field === 'given' || (field === 'name' && k === 1) ? x.split(' ').includes(v) : x === v));
}

/** Identity rows from the record carry no town; a test's rows may. */
/** _sort as the SQL store does it: per key the lowest (ascending) or highest (descending) identity value, no value last, then the person id. */
function compareBySort(keys: PatientSortKey[], identities: IdentityRow[], a: string, b: string): number {
  const value = (personId: string, k: PatientSortKey): string | null => {
    if (k.field === 'id') return personId;
    const vs = identities
      .filter((i) => i.person_id === personId)
      .map((i) => ({ family: i.family?.toLowerCase(), given: i.given?.toLowerCase(), birthdate: i.birth_date, gender: i.sex?.toLowerCase(), postalCode: i.postcode?.replace(/ /g, '').toUpperCase(), town: townOf(i)?.toLowerCase() })[k.field as Exclude<PatientSortKey['field'], 'id'>])
      .filter((v): v is string => !!v)
      .sort();
    return (k.descending ? vs.at(-1) : vs[0]) ?? null;
  };
  for (const k of keys) {
    const x = value(a, k);
    const y = value(b, k);
    if (x === y) continue;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (k.descending ? -1 : 1);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function townOf(i: IdentityRow): string | null {
  return (i as IdentityRow & { town?: string | null }).town ?? null;
}

/** Identity rows from the record carry no street address; a test's rows may. */
function addressOf(i: IdentityRow): string | null {
  return (i as IdentityRow & { address?: string | null }).address ?? null;
}
