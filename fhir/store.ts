/**
 * The FHIR repository's data port: what the repository needs from storage, one transaction at a
 * time (the audit rows commit before the result is handed back: with the read, or on a server
 * through the group committer right after it). Two implementations: PostgreSQL
 * (`pg-store.ts`, PGlite or a server) and an in-memory twin (`memory-store.ts`) for unit tests.
 * Nothing here decides access: that is the repository's job (`repository.ts`).
 */
import type { AuditEntry } from '../access/audit.ts';
import type { Principal } from '../access/context.ts';
import type { PersonKey } from '../access/facts-store.ts';
import type { AccessFacts, ReadNeeds } from '../access/policy.ts';
import type { PersonQuery } from '../record/record-store.ts';
import type { IdentityRow, PersonRow, PracticeRow, ResourceRow } from '../record/rows.ts';
import type { FeedFreshness } from '../record/record-sources.ts';
import type { PresentedPage } from './presented-records.ts';
import type { ResponseCache } from './response-cache.ts';

/** Patient search criteria: AND across fields, OR within a field's values. */
export interface PatientCriteria {
  ids?: string[];
  nhsNumbers?: string[];
  /** identifier=<urn:bevan:source:SYSTEM>|<id> */
  sourceIdentifiers?: { system: string; value: string }[];
  /** identifier=<system>|<value> of another system: as a source's Patient carries it. */
  sentIdentifiers?: { system: string; value: string }[];
  /** identifier=<value> with no system: an NHS number, any source's patient id, or any identifier a source's Patient carries. */
  anyIdentifiers?: string[];
  /** Each inner list is one parameter (OR within, AND across parameters). */
  name?: string[][];
  family?: string[][];
  given?: string[][];
  birthdate?: { prefix: 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le'; date: string }[];
  gender?: string[];
  postalCode?: string[][];
  /** address-city: starts with, as name does. */
  town?: string[][];
  /** address: any part of the home address (the street lines, the town, the postcode) starts with one of the values. */
  address?: string[][];
  /** death-date: a source's Patient deceasedDateTime (its day, as sent), compared as birthdate is. */
  deathDate?: { prefix: 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le'; date: string }[];
  /** deceased: each inner list one parameter; true when a source's Patient says the person died (deceasedDateTime, or deceasedBoolean true). */
  deceased?: boolean[][];
  /** phone, email, telecom: normalised as the MPI keeps them (mpi/link.ts); each entry one parameter (OR within). */
  telecom?: { phone: string[]; email: string[] }[];
  /** A parameter no one can match (active=false, address-use other than home). */
  noOne?: boolean;
  /** Registered practice ODS codes (one inner list per parameter). */
  generalPractitioner?: string[][];
  /** String parameters with :exact (equal, case and accents kept) or :contains (anywhere, case-insensitive). */
  strings?: { field: 'name' | 'family' | 'given' | 'postalCode' | 'town' | 'address'; mode: 'exact' | 'contains'; values: string[] }[];
  /**
   * `_sort`, in order of precedence; then the person id. A person with several values (one per
   * source identity) sorts by the value that comes first in that direction (R4 search.html#_sort):
   * the lowest ascending, the highest descending; people with no value come last.
   */
  sort?: PatientSortKey[];
  /**
   * `_has` narrowed in the store: people with a resource of the type coded with one of these codes
   * (any system), their own or a merged-in person's. A superset only (the repository decides each
   * match on what the user may see); a store may ignore it.
   */
  hasCodes?: { resourceType: 'Observation' | 'Condition' | 'Procedure'; codes: string[] }[];
}

export interface PatientSortKey {
  field: 'family' | 'given' | 'birthdate' | 'gender' | 'postalCode' | 'town' | 'id';
  descending: boolean;
}

export interface PersonSummary {
  person: PersonRow;
  identities: IdentityRow[];
  practices: PracticeRow[];
}

export interface PersonRecordData {
  person: PersonRow;
  identities: IdentityRow[];
  rows: ResourceRow[];
  practices: PracticeRow[];
  /** True when the rows' content objects are this read's own (parsed for it alone), so presenting them may change them instead of copying. */
  fresh?: boolean;
}

/** What a Patient search found: how many people match (up to the cap + 1), and the ids of those the caller is to decide on, in order. */
export interface PatientHits {
  matched: number;
  ids: string[];
}

export interface FhirStoreTx {
  /**
   * `stamp`: also read the record's version stamp (recordStamp), in the same statement where the store can.
   * `factsFor`: the access facts of the person found will be asked for next (accessFacts, this
   * principal and instant): a store may read them in the same statement and hand them out then.
   */
  findPerson(query: PersonQuery, o?: { stamp?: boolean; factsFor?: { principal: Principal; now: Date } }): Promise<PersonRow | null>;
  /**
   * The version stamp of a person's record found in this transaction with `stamp` (record/record-store.ts
   * RECORD_STAMP_SQL): it changes whenever anything the record is read from changes. Undefined where the store has none.
   */
  recordStamp?(personId: string): string | undefined;
  /** A presented `$everything` page shared by every server (fhir/presented-records.ts), kept for this person and view under this stamp; null if none. Absent where the store keeps none. */
  presentedPage?(personId: string, viewKey: string, stamp: string): Promise<PresentedPage | null>;
  /** Keeps a presented page for every server (replacing the person and view's last one). */
  keepPresentedPage?(personId: string, viewKey: string, stamp: string, page: PresentedPage): Promise<void>;
  /** The person ids whose data is this person's (themselves and anyone merged into them). */
  memberIds(personId: string): Promise<string[]>;
  loadRecord(person: PersonRow, memberIds: string[]): Promise<PersonRecordData>;
  loadSummaries(persons: PersonRow[]): Promise<PersonSummary[]>;
  /** Active persons by id, in the order given. */
  personsById(ids: string[]): Promise<PersonRow[]>;
  /**
   * The locality's GP practices (and names feeds sent in their Organization resources) for the
   * Organization directory (fhir/organization-directory.ts): by ODS code, or those whose name holds
   * the text (a superset: the directory decides), or all; at most `limit`.
   */
  practices(q: { codes?: string[]; nameHas?: string; limit: number }): Promise<PracticeRow[]>;
  /** A stored resource by type and stable logical id. */
  findResource(resourceType: string, id: string): Promise<ResourceRow | null>;
  /**
   * The people matching: how many (at most `cap` + 1) and their ids in a stable order. `factsFor`: as findPerson's, for
   * the people found (up to `cap`). `factsFor.needs` (access/policy.ts `readNeeds`): the caller decides a direct-care
   * read of each without a declared reason, so the store may leave out of `ids` (and read no facts for) anyone who holds
   * none of those relationships with the principal at that instant and no open break-glass session of theirs; `matched`
   * still counts them. `pageEnd`: the page shown ends at this position; when no more people than that are in `ids`, the store
   * may read their summaries with the search, for loadSummaries in this transaction.
   */
  searchPatients(criteria: PatientCriteria, cap: number, o?: { factsFor?: { principal: Principal; now: Date; needs?: ReadNeeds }; pageEnd?: number }): Promise<PatientHits>;
  accessFacts(principal: Principal, people: PersonKey[], now: Date): Promise<Map<string, AccessFacts>>;
  startBreakGlass(user: string, personId: string, reason: string, minutes: number, now: Date): Promise<{ expiresAt: string }>;
  appendAudit(entries: AuditEntry[], now: Date): Promise<void>;
  /** Like loadRecord, but only the resources of these types (a search narrows by person and type in SQL). */
  loadRecordOfTypes(person: PersonRow, memberIds: string[], types: string[]): Promise<PersonRecordData>;
  /** Stored resources by type and stable logical id: those that exist (for _include). */
  findResources(refs: { resourceType: string; id: string }[]): Promise<ResourceRow[]>;
  /** The replaced versions of a stored resource (table resource_history, migration 0015), newest first. See history-store.ts. */
  resourceVersions(current: ResourceRow, page: VersionsPage): Promise<{ total: number; rows: ResourceRow[] }>;
  /** One replaced version of a stored resource, or null when it is not kept. */
  resourceVersion(current: ResourceRow, version: number): Promise<ResourceRow | null>;
  // Secondary use across people (fhir/secondary-use.ts): keyset pages, the facts that bear on it, the pseudonym key.
  /** One page of stored resources of a type after the cursor: people's (person set) in (person, system, id) order, or with `personal: false` those with no person in (system, id) order. */
  resourcePage(q: ResourcePageQuery): Promise<ResourceRow[]>;
  /** How many stored resources of a type are not yet linked to a person (they are left out of secondary use: nobody can say who may see them). */
  unlinkedCount(resourceType: string): Promise<number>;
  /** Active persons after a person id (null: from the first), in person id order. */
  personPage(after: string | null, limit: number): Promise<PersonRow[]>;
  /** The stored resources of these types of these persons (their source Patients, to build each merged Patient). */
  resourcesOfPersons(personIds: string[], types: string[]): Promise<ResourceRow[]>;
  /** The access facts that bear on secondary use only (consent directives and restrictions; no relationships): cheaper for many people. */
  secondaryUseFacts(principal: Principal, people: PersonKey[], now: Date): Promise<Map<string, AccessFacts>>;
  /** The key of keyed pseudonyms for a purpose (table pseudonym_key, analytics/cohorts/pseudonym.ts), made on first use. */
  pseudonymKey(purpose: string): Promise<Buffer>;
  /** When each source system last sent anything (ingest/feed-freshness.ts): times only, no content. */
  feedFreshness(systems: readonly string[]): Promise<FeedFreshness[]>;
  /** SQL over the stored resources, for views compiled to SQL (fhir/secondary-use-sql.ts); absent where there is no SQL (the in-memory twin). */
  sql?: SqlScanPort;
}

/** What a scan in SQL needs from the database: the people to decide one by one, and a cursor. */
export interface SqlScanPort {
  /** People with a consent directive or a restriction (access/facts-store.ts secondaryUseCandidates). */
  secondaryUseCandidates(): Promise<string[]>;
  /** Runs one query, handing its rows on in batches as they are fetched (a cursor: memory stays flat); the sink returning false stops it. */
  cursor<R>(sql: string, params: readonly unknown[], batch: number, sink: (rows: R[]) => Promise<boolean>): Promise<void>;
  /**
   * Runs several queries at once, each through a cursor on a connection of its own that sees what
   * this transaction sees (its snapshot, exported), handing their rows on in batches, one batch at a
   * time; the sink returning false stops them all. Absent where there is one connection (PGlite).
   */
  cursors?<R>(queries: readonly { sql: string; params: readonly unknown[] }[], batch: number, sink: (rows: R[]) => Promise<boolean>): Promise<void>;
  /** Runs one query (the counts of a scan). */
  query<R>(sql: string, params: readonly unknown[]): Promise<R[]>;
}

/** A keyset page of one resource type (see FhirStoreTx.resourcePage). */
export interface ResourcePageQuery {
  resourceType: string;
  /** true: resources of people; false: resources with no person (reference data). */
  personal: boolean;
  /** The last row of the previous page, or null for the first page. */
  after: { personId: string | null; system: string; sourceId: string } | null;
  limit: number;
  /** Only resources received after this instant (ISO). */
  since?: string;
}

/** A window on a resource's replaced versions: those received at or after `since` (ISO instant), newest first. */
export interface VersionsPage {
  since?: string;
  limit: number;
  offset: number;
}

export interface FhirStore {
  transaction<T>(fn: (tx: FhirStoreTx) => Promise<T>): Promise<T>;
  /** Presented responses of this database, keyed by record stamps (fhir/response-cache.ts); absent: no caching. */
  responses?: ResponseCache;
}
