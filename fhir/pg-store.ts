/**
 * The FHIR repository's data port on PostgreSQL (PGlite or a server). Reads the record through
 * record/record-store.ts, the access facts through access/facts-store.ts, writes audit through
 * access/audit.ts; the SQL here is the Patient search and the lookup by stable id (the
 * expression index of migration 0012). Parameterised SQL only.
 */
import { appendAuditBatch, auditCommitterFor, type AuditEntry } from '../access/audit.ts';
import { accessFactsColumns, assembleAccessFacts, gatherAccessFacts, mayRelateSql, secondaryUseCandidates, startBreakGlass, type FactRows, type PersonKey } from '../access/facts-store.ts';
import type { Principal } from '../access/context.ts';
import { settleSignOutCheck, signOutCheckColumn, signOutSeen, signedOutError, type SignOutCheck } from '../access/bearer.ts';
import type { AccessFacts, Policy, ReadNeeds } from '../access/policy.ts';
import { oneOffStatements, type Database, type Queryable } from '../db/database.ts';
import { findPerson, findPersonWithMembers, loadIdentities, loadPersonResources, loadPractices, loadRecordData, loadSummaryData, practiceCodes, recordPersonIds, summaryColumn, summaryFromColumn, type SummaryData } from '../record/record-store.ts';
import type { PersonRow, PracticeRow, ResourceRow } from '../record/rows.ts';
import type { FhirStore, FhirStoreTx, PatientCriteria, ResourcePageQuery } from './store.ts';
import { pseudonymKey } from '../analytics/cohorts/pseudonym.ts';
import { resourceVersion, resourceVersions } from './history-store.ts';
import { feedFreshness } from '../ingest/feed-freshness.ts';
import { responseCacheFor } from './response-cache.ts';
import { keepPresentedPage, readPresentedPage, sharedPagesOn, type PresentedPage } from './presented-records.ts';

const PERSON_COLUMNS = 'p.person_id::text AS person_id, p.nhs_number, p.status, p.merged_into::text AS merged_into';

/**
 * On a server, audit rows of a transaction that only reads go to the database's group committer
 * (access/audit.ts AuditCommitter) after the read has committed, and the transaction's result
 * is handed back only once they have committed: the data still leaves after its audit rows,
 * durably written, and concurrent reads share one audit transaction. A transaction that writes
 * (break-glass, a pseudonym key made on first use) appends its audit rows in itself, before its
 * commit, as before. If the read fails (throws), its rows are not written, as a rollback would.
 *
 * `signOutCheck` (a bearer token whose denylist lookup the HTTP layer left to this request's first
 * statement, on a server): the lookup is a column of the statement that finds the person or runs
 * the Patient search, or, when the transaction ran neither, a statement of its own at its end; a
 * signed-out token fails the transaction (unauthenticated) before any audit row is written or any
 * result handed back.
 */
export function pgFhirStore(db: Database, policy: Policy, o: { signOutCheck?: SignOutCheck } = {}): FhirStore {
  const committer = auditCommitterFor(db);
  return {
    responses: responseCacheFor(db),
    async transaction(fn) {
      // Several cursors for a view over the whole store only on a server with a pool to spare (parallelCursors).
      const server = !db.inProcess && (db.connections ?? 1) >= MIN_POOL_FOR_PARTS ? db : null;
      // PGlite (in process, one connection): no round trips to save, and a second transaction per read would queue for its one connection behind the reads; the audit rows commit with the read, as before.
      const audit: Deferred = { groups: [], inline: db.inProcess === true, begin: async () => {} };
      // On a server, BEGIN only before the first write (db.session): a read is a few statements in autocommit mode.
      const run = <R>(body: (tx: Queryable, begin: () => Promise<void>) => Promise<R>): Promise<R> =>
        db.session ? db.session(body) : db.transaction((tx) => body(tx, async () => {}));
      const check = o.signOutCheck;
      if (check?.state === 'signed-out') throw signedOutError();
      const out = await run(async (tx, begin) => {
        audit.begin = begin;
        const r = await fn(pgStoreTx(tx, policy, !db.inProcess, audit, server, check?.state === 'pending' ? check : undefined));
        // No statement of the transaction carried the check: it is read now, before anything is written or handed back.
        if (check) await settleSignOutCheck(tx, check);
        if (audit.inline) await writeInline(tx, audit);
        return r;
      });
      if (audit.groups.length) await Promise.all(audit.groups.map((g) => committer.submit(g.entries, g.now)));
      return out;
    },
  };
}

/** The audit entries a store transaction has been handed, to write after it (or, once it writes, in it). */
interface Deferred {
  groups: { entries: AuditEntry[]; now: Date }[];
  /** The transaction writes: its audit rows commit with it. */
  inline: boolean;
  /** Opens the transaction (a session starts in autocommit mode): before the first write or cursor. */
  begin: () => Promise<void>;
}

async function writeInline(tx: Queryable, audit: Deferred): Promise<void> {
  const groups = audit.groups.splice(0);
  if (groups.length) await appendAuditBatch(tx, groups.flatMap((g) => g.entries), groups.flatMap((g) => g.entries.map(() => g.now)));
}

/** oneTrip: read a record in one statement (a server: each statement is a round trip); otherwise in three simpler ones (PGlite, in process, where they cost less). */
function pgStoreTx(tx: Queryable, policy: Policy, oneTrip: boolean, audit: Deferred, server: Database | null, signOut?: SignOutCheck): FhirStoreTx {
  // The sign-out check as a column of the first statement that can carry it (on a server: one round trip fewer).
  const carry = () => (oneTrip && signOut?.state === 'pending' ? signOut : undefined);
  // A person found by id comes with the ids merged into them (one statement), kept for memberIds in this transaction.
  const members = new Map<string, string[]>();
  const found = new Map<string, PersonRow>();
  const stamps = new Map<string, string>();
  const prefetched = new Map<string, { principal: Principal; now: Date; key: PersonKey; facts: AccessFacts }>();
  // The summaries a Patient search read with the people it found (every one of them), for loadSummaries.
  let searched: { persons: Set<string>; data: SummaryData } | null = null;
  return {
    async findPerson(query, o) {
      if (query.personId === undefined) return findPerson(tx, query);
      // The access facts over the members found, in the same statement: one round trip fewer on a
      // server. In process (PGlite) there is no round trip to save, and the larger statement cost more there.
      const ask = oneTrip ? o?.factsFor : undefined;
      const check = carry();
      const found = await findPersonWithMembers<FactRows & { signed_out?: boolean }>(tx, query.personId, {
        stamp: o?.stamp === true,
        ...(ask || check
          ? { with: (ids: string, p: (v: unknown) => string) => [...(ask ? [accessFactsColumns(ids, p, policy, ask.principal, ask.now)] : []), ...(check ? [signOutCheckColumn(check, p)] : [])].join(',\n') }
          : {}),
      });
      // No row (no such person): the column did not come back, and the transaction's end reads the denylist instead.
      if (check && found?.with) signOutSeen(check, found.with.signed_out);
      if (found) members.set(found.person.person_id, found.memberIds);
      if (found?.stamp !== undefined) stamps.set(found.person.person_id, found.stamp);
      if (found?.with && ask) {
        const key: PersonKey = { personId: found.person.person_id, nhsNumber: found.person.nhs_number, memberIds: found.memberIds };
        prefetched.set(found.person.person_id, { ...ask, key, facts: assembleAccessFacts(policy, [key], found.with).get(key.personId)! });
      }
      return found?.person ?? null;
    },
    recordStamp: (personId) => stamps.get(personId),
    ...(sharedPagesOn()
      ? {
          presentedPage: (personId: string, viewKey: string, stamp: string) => readPresentedPage(tx, personId, viewKey, stamp),
          keepPresentedPage: (personId: string, viewKey: string, stamp: string, page: PresentedPage) => keepPresentedPage(tx, personId, viewKey, stamp, page),
        }
      : {}),
    memberIds: async (personId) => members.get(personId) ?? recordPersonIds(tx, personId),
    async loadRecord(person, memberIds) {
      // Identities, resources and the practices they name: one statement on a server.
      if (oneTrip) return { person, ...(await loadRecordData(tx, memberIds)), fresh: true };
      const identities = await loadIdentities(tx, person.person_id, memberIds);
      const rows = await loadPersonResources(tx, person.person_id, memberIds);
      return { person, identities, rows, practices: await loadPractices(tx, practiceCodes(identities, rows)), fresh: true };
    },
    async loadSummaries(persons) {
      if (!persons.length) return [];
      // Every person's identities and the practices they name: read with the search that found them, or one statement.
      const { identities, practices } = searched && persons.every((p) => searched!.persons.has(p.person_id)) ? searched.data : await loadSummaryData(tx, persons.map((p) => p.person_id));
      return persons.map((person) => ({ person, identities: identities.filter((i) => i.person_id === person.person_id), practices }));
    },
    async personsById(ids) {
      if (!ids.length) return [];
      // The people a Patient search just found in this transaction need no second look.
      const known = ids.map((id) => found.get(id));
      if (known.every((p) => p)) return known as PersonRow[];
      const r = await tx.query<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM person p WHERE p.person_id = ANY($1::uuid[]) AND p.status = 'active'`, [ids]);
      const byId = new Map(r.rows.map((p) => [p.person_id, p]));
      return ids.map((id) => byId.get(id)).filter((p): p is PersonRow => !!p);
    },
    async practices(q) {
      if (q.codes) return (await loadPractices(tx, q.codes.map((c) => c.toUpperCase()))).slice(0, q.limit);
      const like = q.nameHas === undefined ? null : `%${q.nameHas.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const r = await tx.query<PracticeRow>(
        `SELECT pr.ods_code, pr.name, pr.neighbourhood, n.name AS neighbourhood_name
           FROM practice pr LEFT JOIN neighbourhood n ON n.code = pr.neighbourhood
          WHERE $1::text IS NULL OR lower(pr.name) LIKE lower($1::text)
          ORDER BY pr.ods_code LIMIT $2`,
        [like, q.limit],
      );
      return r.rows;
    },
    async findResource(resourceType, id) {
      if (!/^[0-9a-f]{32}$/.test(id)) return null;
      const r = await tx.query<Omit<ResourceRow, 'source_time' | 'received_at'> & { source_time: unknown; received_at: unknown }>(
        `SELECT source_system, resource_type, source_id, person_id::text AS person_id, subject_id, version, source_time, received_at, content
           FROM resource WHERE ${FHIR_ID} = $1 AND resource_type = $2`,
        [id, resourceType],
      );
      const row = r.rows[0];
      if (!row) return null;
      return { ...row, version: Number(row.version), source_time: iso(row.source_time), received_at: iso(row.received_at) ?? '' };
    },
    async searchPatients(criteria, cap, o) {
      const ask = oneTrip ? o?.factsFor : undefined;
      const check = ask ? carry() : undefined;
      // In process (PGlite) the plain search and the facts read apart cost less than the larger statement, planned each time (measured: 7.0 against 10.6 ms per NHS-number search).
      const needs = oneTrip ? o?.factsFor?.needs : undefined;
      const upTo = ask && o?.pageEnd !== undefined ? Math.min(o.pageEnd, SUMMARIES_WITH_SEARCH) : 0;
      const { matched, persons, facts, signedOut, summaries } = await searchPatients(tx, criteria, cap, {
        ...(needs ? { related: { policy, principal: o!.factsFor!.principal, now: o!.factsFor!.now, needs } } : {}),
        ...(ask ? { factsFor: { policy, ...ask, ...(check ? { signOutCheck: check } : {}), summariesUpTo: upTo } } : {}),
      });
      if (check) signOutSeen(check, signedOut);
      if (summaries) searched = { persons: new Set(persons.map((p) => p.person_id)), data: summaries };
      for (const p of persons) found.set(p.person_id, p);
      if (facts && ask && matched <= cap) {
        // As the repository keys a person found by a search: the person alone (personKey).
        const keys = persons.map((p): PersonKey => ({ personId: p.person_id, nhsNumber: p.nhs_number, memberIds: [p.person_id] }));
        const all = assembleAccessFacts(policy, keys, facts);
        for (const key of keys) prefetched.set(key.personId, { ...ask, key, facts: all.get(key.personId)! });
      }
      return { matched, ids: persons.map((p) => p.person_id) };
    },
    async accessFacts(principal, people, now) {
      // The facts read with the person or the search (factsFor), when asked for the same people, members, principal and instant.
      const pre = people.map((k) => prefetched.get(k.personId));
      if (people.length && pre.every((x, i) => x && x.principal === principal && x.now.getTime() === now.getTime() && sameKey(x.key, people[i]!))) {
        return new Map(pre.map((x) => [x!.key.personId, x!.facts]));
      }
      return gatherAccessFacts(tx, policy, principal, people, now);
    },
    async startBreakGlass(user, personId, reason, minutes, now) {
      await audit.begin();
      audit.inline = true;
      return startBreakGlass(tx, user, personId, reason, minutes, now);
    },
    async appendAudit(entries, now) {
      if (audit.inline) await appendAuditBatch(tx, entries, now);
      else if (entries.length) audit.groups.push({ entries: [...entries], now });
    },
    async loadRecordOfTypes(person, memberIds, types) {
      const identities = await loadIdentities(tx, person.person_id, memberIds);
      const rows = types.length ? await resourcesOfTypes(tx, memberIds, types) : [];
      const practices = await loadPractices(tx, practiceCodes(identities, rows));
      return { person, identities, rows, practices };
    },
    findResources: (refs) => findResources(tx, refs),
    resourceVersions: (current, page) => resourceVersions(tx, current, page),
    resourceVersion: (current, version) => resourceVersion(tx, current, version),
    feedFreshness: (systems) => feedFreshness(tx, systems),
    resourcePage: (q) => resourcePage(tx, q),
    async unlinkedCount(resourceType) {
      const r = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = $1 AND person_id IS NULL`, [resourceType]);
      return r.rows[0]?.n ?? 0;
    },
    async personPage(after, limit) {
      const r = await tx.query<PersonRow>(
        `SELECT ${PERSON_COLUMNS} FROM person p WHERE p.status = 'active' AND ($1::uuid IS NULL OR p.person_id > $1::uuid) ORDER BY p.person_id LIMIT $2`,
        [after, limit],
      );
      return r.rows;
    },
    async resourcesOfPersons(personIds, types) {
      if (!personIds.length || !types.length) return [];
      const r = await tx.query<RawResourceRow>(
        `SELECT ${RESOURCE_COLUMNS} FROM resource WHERE person_id = ANY($1::uuid[]) AND resource_type = ANY($2::text[]) ORDER BY person_id, source_system, source_id`,
        [personIds, types],
      );
      return r.rows.map(resourceRow);
    },
    secondaryUseFacts: (principal, people, now) => gatherAccessFacts(tx, policy, principal, people, now, { relationships: false }),
    async pseudonymKey(scope) {
      // Made on first use (a write): the audit rows commit with it.
      await audit.begin();
      audit.inline = true;
      return pseudonymKey(tx, scope);
    },
    sql: {
      secondaryUseCandidates: () => secondaryUseCandidates(tx),
      async query<R>(sql: string, params: readonly unknown[]) {
        // A scan's statements (SET LOCAL among them) belong in one transaction.
        await audit.begin();
        return (await tx.query<R>(sql, params)).rows;
      },
      async cursor<R>(sql: string, params: readonly unknown[], batch: number, sink: (rows: R[]) => Promise<boolean>) {
        // A server-side cursor lives in a transaction.
        await audit.begin();
        return cursorOn(tx, sql, params, batch, sink);
      },
      ...(server
        ? {
            async cursors<R>(queries: readonly { sql: string; params: readonly unknown[] }[], batch: number, sink: (rows: R[]) => Promise<boolean>) {
              // The pieces import this transaction's snapshot: it must be open.
              await audit.begin();
              if (partsInUse) {
                // Another run has the pieces: this one reads its ranges one after another on its own connection.
                for (const q of queries) {
                  let go = true;
                  await cursorOn<R>(tx, q.sql, q.params, batch, async (rows) => (go = await sink(rows)));
                  if (!go) return;
                }
                return;
              }
              partsInUse = true;
              try {
                await parallelCursors(tx, server, queries, batch, sink);
              } finally {
                partsInUse = false;
              }
            },
          }
        : {}),
    },
  };
}

/**
 * Several cursors at once only with a pool this size or more, and for one run at a time (the
 * others read with one cursor): a run holds its own connection while its pieces wait for theirs,
 * so runs that each waited for more could otherwise take the whole pool and wait for ever.
 */
const MIN_POOL_FOR_PARTS = 6;
let partsInUse = false;

/** A server-side cursor inside a transaction: rows arrive a batch at a time; the sink returning false stops it. */
async function cursorOn<R>(tx: Queryable, sql: string, params: readonly unknown[], batch: number, sink: (rows: R[]) => Promise<boolean>): Promise<void> {
  await tx.query(`DECLARE view_scan NO SCROLL CURSOR FOR ${sql}`, params);
  // The next batch is asked for before this one is handed on, so the database works on it while
  // Bevan writes this one (a server's backend and this process run at the same time).
  const size = Math.max(1, Math.floor(batch));
  const fetch = () => {
    const p = tx.query<R>(`FETCH ${size} FROM view_scan`);
    p.catch(() => undefined);
    return p;
  };
  let pending: Promise<{ rows: R[] }> | null = fetch();
  try {
    while (pending) {
      const r: { rows: R[] } = await pending;
      pending = r.rows.length === size ? fetch() : null;
      if (!r.rows.length || !(await sink(r.rows))) break;
    }
  } finally {
    if (pending) await pending.catch(() => undefined);
    await tx.query('CLOSE view_scan').catch(() => undefined);
  }
}

/**
 * Several cursors at once, each in a read-only transaction of its own on another connection of
 * the pool that imports this transaction's snapshot (pg_export_snapshot), so every piece sees
 * exactly what this transaction sees; a query in one backend uses one core, and a cursor never
 * gets parallel workers. Batches are handed on one at a time, in the order they arrive; the sink
 * returning false, or an error in any piece, stops the others at their next batch.
 */
async function parallelCursors<R>(tx: Queryable, server: Database, queries: readonly { sql: string; params: readonly unknown[] }[], batch: number, sink: (rows: R[]) => Promise<boolean>): Promise<void> {
  const [row] = (await tx.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows;
  const snapshot = row?.id ?? '';
  // SET TRANSACTION SNAPSHOT takes no parameter: the id is the server's own, checked before it is written in.
  if (!/^[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+$/.test(snapshot)) throw new Error(`unexpected snapshot id ${JSON.stringify(snapshot)}`);
  let stopped = false;
  let chain: Promise<unknown> = Promise.resolve();
  const handOn = (rows: R[]): Promise<boolean> => {
    const turn = chain.then(async () => {
      if (stopped) return false;
      const go = await sink(rows);
      if (!go) stopped = true;
      return go;
    });
    chain = turn.catch(() => undefined);
    return turn;
  };
  const results = await Promise.allSettled(
    queries.map((q) =>
      server.transaction(async (part) => {
        await part.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        await part.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
        await oneOffStatements(part);
        await cursorOn<R>(part, q.sql, q.params, batch, (rows) => (stopped ? Promise.resolve(false) : handOn(rows)));
      }).catch((err: unknown) => {
        stopped = true;
        throw err;
      }),
    ),
  );
  await chain;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * One keyset page of a type (index resource_type_person_idx, migration 0026): people's
 * resources in (person, system, id) order, or those with no person in (system, id) order.
 */
async function resourcePage(tx: Queryable, q: ResourcePageQuery): Promise<ResourceRow[]> {
  const params: unknown[] = [q.resourceType];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  // Qualified names throughout: the output column person_id is text, and ordering by it would sort, not walk the index.
  const where = [`r.resource_type = $1`];
  let order: string;
  if (q.personal) {
    where.push('r.person_id IS NOT NULL');
    if (q.after) where.push(`(r.person_id, r.source_system, r.source_id) > (${p(q.after.personId)}::uuid, ${p(q.after.system)}, ${p(q.after.sourceId)})`);
    order = 'r.person_id, r.source_system, r.source_id';
  } else {
    where.push('r.person_id IS NULL');
    if (q.after) where.push(`(r.source_system, r.source_id) > (${p(q.after.system)}, ${p(q.after.sourceId)})`);
    order = 'r.source_system, r.source_id';
  }
  if (q.since) where.push(`r.received_at > ${p(q.since)}::timestamptz`);
  const r = await tx.query<RawResourceRow>(
    `SELECT r.source_system, r.resource_type, r.source_id, r.person_id::text AS person_id, r.subject_id, r.version, r.source_time, r.received_at, r.content
       FROM resource r WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${p(q.limit)}`,
    params,
  );
  return r.rows.map(resourceRow);
}

type RawResourceRow = Omit<ResourceRow, 'source_time' | 'received_at' | 'version'> & { version: unknown; source_time: unknown; received_at: unknown };
const RESOURCE_COLUMNS = 'source_system, resource_type, source_id, person_id::text AS person_id, subject_id, version, source_time, received_at, content';

function resourceRow(row: RawResourceRow): ResourceRow {
  return { ...row, version: Number(row.version), source_time: iso(row.source_time), received_at: iso(row.received_at) ?? '' };
}

/** A person's resources of some types (index resource(person_id)), oldest first, as loadPersonResources orders them. */
async function resourcesOfTypes(tx: Queryable, memberIds: string[], types: string[]): Promise<ResourceRow[]> {
  const r = await tx.query<RawResourceRow>(
    `SELECT ${RESOURCE_COLUMNS} FROM resource WHERE person_id = ANY($1::uuid[]) AND resource_type = ANY($2::text[])
      ORDER BY source_time NULLS FIRST, source_system, resource_type, source_id`,
    [memberIds, types],
  );
  return r.rows.map(resourceRow);
}

/**
 * A row's FHIR logical id as its index (migration 0054) holds it: the id the writer stored, or for
 * a row written without one, fhir_logical_id() of its key (migration 0012; the same value).
 */
const FHIR_ID = 'COALESCE(fhir_id, fhir_logical_id(source_system, resource_type, source_id))';

/** Resources by stable id (the expression index of migration 0054), each checked against its type. */
async function findResources(tx: Queryable, refs: { resourceType: string; id: string }[]): Promise<ResourceRow[]> {
  const wanted = refs.filter((x) => /^[0-9a-f]{32}$/.test(x.id));
  if (!wanted.length) return [];
  const r = await tx.query<RawResourceRow & { fhir_id: string }>(
    `SELECT ${RESOURCE_COLUMNS}, ${FHIR_ID} AS fhir_id
       FROM resource WHERE ${FHIR_ID} = ANY($1::text[]) AND resource_type = ANY($2::text[])`,
    [[...new Set(wanted.map((x) => x.id))], [...new Set(wanted.map((x) => x.resourceType))]],
  );
  const keys = new Set(wanted.map((x) => `${x.resourceType}/${x.id}`));
  return r.rows.filter((row) => keys.has(`${row.resource_type}/${row.fhir_id}`)).map(({ fhir_id: _, ...row }) => resourceRow(row));
}

/** `%`, `_` and `\` in a search value are literal, not wildcards. */
function likePrefix(value: string): string {
  return `${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The most people whose summaries a Patient search reads with them (a page of 20 by default). */
const SUMMARIES_WITH_SEARCH = 50;

/**
 * Patient search over the source identities (every source's demographics): a person matches
 * when any of their identities matches each parameter. Strings match as FHIR says: starts with,
 * case-insensitive (https://hl7.org/fhir/R4/search.html#string).
 */
async function searchPatients(
  tx: Queryable,
  c: PatientCriteria,
  cap: number,
  o: {
    /** Keep only the people who may hold one of these relationships with the principal, or a break-glass session (relatedIdsSql). */
    related?: { policy: Policy; principal: Principal; now: Date; needs: ReadNeeds };
    factsFor?: { policy: Policy; principal: Principal; now: Date; signOutCheck?: SignOutCheck; summariesUpTo?: number };
  } = {},
): Promise<{ matched: number; persons: PersonRow[]; facts?: FactRows; signedOut?: boolean; summaries?: SummaryData }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const identityMatch = (cond: string) => `EXISTS (SELECT 1 FROM source_identity si WHERE si.person_id = p.person_id AND ${cond})`;
  if (c.ids?.length) where.push(`p.person_id::text = ANY(${p(c.ids.map((x) => x.toLowerCase()))}::text[])`);
  // The person's own NHS number or any identity's: one set of ids from two index lookups (an OR
  // across the two tables would make the planner walk every person).
  // `= ANY(ARRAY(…))`, not `IN (…)`: with IN, the generic plan merge-joins along person's primary
  // key in ORDER BY order (a walk of the person table that grows with the borough); an array of the
  // few ids found is an index probe per id whatever the size.
  const nhsOwners = (v: string, alsoSourceId: boolean, more = '') =>
    `p.person_id = ANY(ARRAY(SELECT x.person_id FROM person x WHERE x.nhs_number = ANY(${v}::text[])
       UNION SELECT si.person_id FROM source_identity si WHERE si.nhs_number = ANY(${v}::text[])${alsoSourceId ? `
       UNION SELECT si.person_id FROM source_identity si WHERE si.source_id = ANY(${v}::text[])` : ''}${more}))`;
  const sentPatients = (json: string) => `SELECT r.person_id FROM resource r WHERE r.resource_type = 'Patient' AND r.content -> 'identifier' @> ${json}::jsonb`;
  if (c.nhsNumbers?.length) where.push(nhsOwners(p(c.nhsNumbers), false));
  if (c.sourceIdentifiers?.length) {
    where.push(`(${c.sourceIdentifiers.map((s) => identityMatch(`si.source_system = ${p(s.system)} AND si.source_id = ${p(s.value)}`)).join(' OR ')})`);
  }
  // Any identifier a source Patient carries, by its own system (an MRN system, another national id):
  // containment on the Patients' identifiers (migration 0047's index).
  if (c.sentIdentifiers?.length) where.push(`p.person_id = ANY(ARRAY(${c.sentIdentifiers.map((s) => sentPatients(p(JSON.stringify([s])))).join(' UNION ')}))`);
  if (c.anyIdentifiers?.length) where.push(nhsOwners(p(c.anyIdentifiers), true, c.anyIdentifiers.map((v) => `\n       UNION ${sentPatients(p(JSON.stringify([{ value: v }])))}`).join('')));
  for (const [field, lists] of [
    ['family', c.family],
    ['given', c.given],
  ] as const) {
    // Starts with, case-insensitive, as a range on lower(field) that the text_pattern_ops indexes
    // of migration 0021 serve (ILIKE cannot use a btree; and a LIKE with a parameter gets no index
    // range in a prepared statement's generic plan, so the range is spelt out: from the prefix to the
    // prefix followed by the last code point), then the LIKE itself, which decides.
    for (const values of lists ?? []) {
      where.push(`(${values.map((v) => { const x = p(v); return identityMatch(`lower(si.${field}) ~>=~ lower(${x}::text) AND lower(si.${field}) ~<~ (lower(${x}::text) || chr(1114111)) AND lower(si.${field}) LIKE lower(${p(likePrefix(v))})`); }).join(' OR ')})`);
    }
  }
  for (const values of c.name ?? []) {
    where.push(`(${values.map((v) => { const x = p(likePrefix(v)); return identityMatch(`(lower(si.family) LIKE lower(${x}) OR lower(si.given) LIKE lower(${x}) OR lower(si.given) LIKE lower(${p(`% ${likePrefix(v)}`)}))`); }).join(' OR ')})`);
  }
  for (const b of c.birthdate ?? []) {
    const op = { eq: '=', ne: '<>', gt: '>', lt: '<', ge: '>=', le: '<=' }[b.prefix];
    where.push(identityMatch(`si.birth_date ${op} ${p(b.date)}::date`));
  }
  if (c.gender?.length) {
    const codes = c.gender.flatMap((g) => (g === 'male' ? ['male', 'm'] : g === 'female' ? ['female', 'f'] : g === 'unknown' ? ['unknown', 'u'] : [g]));
    where.push(identityMatch(`lower(si.sex) = ANY(${p(codes)}::text[])`));
  }
  for (const values of c.postalCode ?? []) {
    where.push(`(${values.map((v) => identityMatch(`upper(replace(si.postcode, ' ', '')) LIKE ${p(likePrefix(v.replace(/\s+/g, '').toUpperCase()))}`)).join(' OR ')})`);
  }
  for (const values of c.town ?? []) {
    where.push(`(${values.map((v) => identityMatch(`lower(si.town) LIKE lower(${p(likePrefix(v))})`)).join(' OR ')})`);
  }
  for (const values of c.address ?? []) where.push(`(${values.map((v) => identityMatch(addressStartsWith(v, p))).join(' OR ')})`);
  // phone, email, telecom: the normalised, space-separated values of migration 0041, by the GIN indexes of migration 0085.
  for (const t of c.telecom ?? []) {
    const either = [...(t.phone.length ? [`si.phone IS NOT NULL AND string_to_array(si.phone, ' ') && ${p(t.phone)}::text[]`] : []), ...(t.email.length ? [`si.email IS NOT NULL AND string_to_array(si.email, ' ') && ${p(t.email)}::text[]`] : [])];
    where.push(either.length ? `p.person_id = ANY(ARRAY(${either.map((x) => `SELECT si.person_id FROM source_identity si WHERE ${x}`).join(' UNION ')}))` : 'false');
  }
  // deceased and death-date: what the sources' Patients say (deceased[x]), by the partial index of migration 0038.
  for (const flags of c.deceased ?? []) {
    if (flags.includes(true) && flags.includes(false)) continue;
    if (!flags.length) where.push('false');
    else where.push(`${flags[0] ? '' : 'NOT '}${deceasedOwners('true')}`);
  }
  for (const d of c.deathDate ?? []) {
    const op = { eq: '=', ne: '<>', gt: '>', lt: '<', ge: '>=', le: '<=' }[d.prefix];
    // The day as sent (text comparison: a malformed value never fails the search, it just matches nothing).
    where.push(deceasedOwners(`r.content ->> 'deceasedDateTime' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' AND left(r.content ->> 'deceasedDateTime', 10) ${op} ${p(d.date)}::text`));
  }
  if (c.noOne) where.push('false');
  for (const codes of c.generalPractitioner ?? []) where.push(identityMatch(`upper(si.practice) = ANY(${p(codes)}::text[])`));
  for (const s of c.strings ?? []) where.push(`(${s.values.map((v) => identityMatch(stringCondition(s.field, s.mode, v, p))).join(' OR ')})`);
  // _has narrowed by code (the types a partial GIN index of migration 0037 covers; the type is a
  // literal so that a generic plan can use it): the people whose resources carry one of the codes,
  // followed up merges to the person they now belong to.
  for (const h of c.hasCodes ?? []) {
    if (!['Observation', 'Condition', 'Procedure'].includes(h.resourceType)) continue;
    const codings = h.codes.map((code) => JSON.stringify({ coding: [{ code }] }));
    where.push(`p.person_id = ANY(ARRAY(
       WITH RECURSIVE up(person_id, depth) AS (
         SELECT DISTINCT r.person_id, 0 FROM resource r WHERE r.resource_type = '${h.resourceType}' AND r.person_id IS NOT NULL AND (r.content -> 'code') @> ANY(${p(codings)}::jsonb[])
         UNION SELECT x.merged_into, u.depth + 1 FROM person x JOIN up u ON x.person_id = u.person_id WHERE x.merged_into IS NOT NULL AND u.depth < 10)
       SELECT person_id FROM up))`);
  }
  if (!where.length) where.push('true');
  // _sort: each key is the lowest (ascending) or highest (descending) value among the person's identities.
  const column = { family: 'lower(si.family)', given: 'lower(si.given)', birthdate: 'si.birth_date', gender: 'lower(si.sex)', postalCode: "upper(replace(si.postcode, ' ', ''))", town: 'lower(si.town)' } as const;
  const order = (c.sort ?? []).map((k) =>
    k.field === 'id'
      ? `p.person_id${k.descending ? ' DESC' : ''}`
      : `(SELECT ${k.descending ? 'max' : 'min'}(${column[k.field]}) FROM source_identity si WHERE si.person_id = p.person_id) ${k.descending ? 'DESC' : 'ASC'} NULLS LAST`,
  );
  const search = `SELECT ${PERSON_COLUMNS} FROM person p WHERE p.status = 'active' AND ${where.join(' AND ')} ORDER BY ${[...order, 'p.person_id'].join(', ')} LIMIT ${p(cap + 1)}`;
  const { related, factsFor } = o;
  if (!factsFor && !related) {
    const persons = (await tx.query<PersonRow>(search, params)).rows;
    return { matched: persons.length, persons };
  }
  // The people found, counted; with `related`, only those who may hold a relationship with the user are kept
  // (none when more than the cap match: the search is refused), and only theirs are the facts and summaries read.
  // (An expression, cast, not a bare subquery: `= ANY((SELECT …))` would compare with each row, not with the array's elements.)
  const idsUpTo = (from: string, limit: number) => `(SELECT CASE WHEN count(*) > ${p(limit)} THEN '{}'::uuid[] ELSE array_agg(person_id::uuid) END FROM ${from})::uuid[]`;
  const kept = related ? 'kept' : 'found';
  const keep = related
    ? `,
     kept AS MATERIALIZED (SELECT * FROM found f WHERE (SELECT count(*) FROM found) <= ${p(cap)} AND ${mayRelateSql('f.person_id::uuid', 'f.nhs_number', p, related.policy, related.principal, related.now, related.needs)})`
    : '';
  // The access facts of the people kept, in the same statement (one round trip fewer on a server).
  const factsColumns = factsFor ? accessFactsColumns(idsUpTo(kept, cap), p, factsFor.policy, factsFor.principal, factsFor.now) : null;
  // The summaries of everyone kept (the page is built from them) when no more than summariesUpTo are.
  const upTo = factsFor?.summariesUpTo ?? 0;
  const summaryIds = upTo > 0 ? idsUpTo(kept, upTo) : null;
  // The people in the search's order (WITH ORDINALITY keeps _sort's order through the aggregate).
  const r = await tx.query<FactRows & { matched: string | number; persons: PersonRow[]; signed_out?: boolean; summary?: unknown }>(
    `WITH found AS MATERIALIZED (SELECT f.*, row_number() OVER () AS ord FROM (${search}) f)${keep}
     SELECT (SELECT count(*) FROM found) AS matched,
            (SELECT coalesce(json_agg(json_build_object('person_id', person_id, 'nhs_number', nhs_number, 'status', status, 'merged_into', merged_into) ORDER BY ord), '[]') FROM ${kept}) AS persons${factsColumns ? `,
            ${factsColumns}` : ''}${factsFor?.signOutCheck ? `,
            ${signOutCheckColumn(factsFor.signOutCheck, p)}` : ''}${summaryIds ? `,
            ${summaryColumn(summaryIds, p)}` : ''}`,
    params,
  );
  const { matched, persons, signed_out: signedOut, summary, ...facts } = r.rows[0]!;
  const summaries = summaryIds && persons.length <= upTo ? summaryFromColumn(summary) : undefined;
  return { matched: Number(matched), persons, ...(factsFor ? { facts } : {}), ...(factsFor?.signOutCheck ? { signedOut } : {}), ...(summaries ? { summaries } : {}) };
}

/**
 * The people a source's Patient saying they died (deceasedDateTime, or deceasedBoolean true; and this
 * condition) is about, followed up merges to the person they now belong to. The predicate is the
 * partial index's (migration 0038 resource_patient_deceased_idx), spelt out so that a plan uses it.
 */
function deceasedOwners(cond: string): string {
  return `p.person_id = ANY(ARRAY(
       WITH RECURSIVE up(person_id, depth) AS (
         SELECT DISTINCT r.person_id, 0 FROM resource r WHERE r.resource_type = 'Patient' AND (r.content ->> 'deceasedBoolean' = 'true' OR r.content ? 'deceasedDateTime') AND r.person_id IS NOT NULL AND ${cond}
         UNION SELECT x.merged_into, u.depth + 1 FROM person x JOIN up u ON x.person_id = u.person_id WHERE x.merged_into IS NOT NULL AND u.depth < 10)
       SELECT person_id FROM up))`;
}

/** address: the street lines (kept joined with ", "), the town or the postcode starts with the value (case-insensitive; postcodes ignore spaces). */
function addressStartsWith(v: string, p: (v: unknown) => string): string {
  const x = p(likePrefix(v));
  return `(lower(si.address) LIKE lower(${x}) OR lower(si.address) LIKE lower(${p(`%, ${likePrefix(v)}`)}) OR lower(si.town) LIKE lower(${x}) OR upper(replace(si.postcode, ' ', '')) LIKE ${p(likePrefix(v.replace(/\s+/g, '').toUpperCase()))})`;
}

/**
 * A string parameter with :exact (the whole value, case and accents as sent; a given name is any
 * one of the given names) or :contains (anywhere in it, case-insensitive).
 */
function stringCondition(field: 'name' | 'family' | 'given' | 'postalCode' | 'town' | 'address', mode: 'exact' | 'contains', v: string, p: (v: unknown) => string): string {
  if (field === 'address') {
    // Any part: a street line (:exact is one line as sent), the town, the postcode.
    if (mode === 'contains') return `(${stringCondition('town', mode, v, p)} OR lower(si.address) LIKE lower(${p(`%${likePrefix(v)}`)}) OR ${stringCondition('postalCode', mode, v, p)})`;
    return `(${p(v)}::text = ANY(string_to_array(si.address, ', ')) OR si.town = ${p(v)}::text OR si.postcode = ${p(v)}::text)`;
  }
  const col = { family: ['si.family'], given: ['si.given'], name: ['si.family', 'si.given'], postalCode: ['si.postcode'], town: ['si.town'] }[field];
  if (mode === 'contains' && field === 'postalCode') return `upper(replace(si.postcode, ' ', '')) LIKE ${p(`%${likePrefix(v.replace(/\s+/g, '').toUpperCase())}`)}`;
  if (mode === 'contains') {
    const x = p(`%${likePrefix(v)}`);
    return `(${col.map((c) => `lower(${c}) LIKE lower(${x})`).join(' OR ')})`;
  }
  const x = p(v);
  return `(${col.map((c) => (c === 'si.given' ? `${x}::text = ANY(string_to_array(si.given, ' '))` : `${c} = ${x}::text`)).join(' OR ')})`;
}

function sameKey(a: PersonKey, b: PersonKey): boolean {
  return a.personId === b.personId && a.nhsNumber === b.nhsNumber && a.memberIds.length === b.memberIds.length && a.memberIds.every((m, i) => m === b.memberIds[i]);
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}
