/**
 * The FHIR repository's data port on PostgreSQL (PGlite or a server). Reads the record through
 * record/record-store.ts, the access facts through access/facts-store.ts, writes audit through
 * access/audit.ts; the SQL here is the Patient search and the lookup by stable id (the
 * expression index of migration 0012). Parameterised SQL only.
 */
import { appendAuditBatch } from '../access/audit.ts';
import { gatherAccessFacts, secondaryUseCandidates, startBreakGlass } from '../access/facts-store.ts';
import type { Policy } from '../access/policy.ts';
import type { Database, Queryable } from '../db/database.ts';
import { findPerson, loadIdentities, loadPersonResources, loadPractices, practiceCodes, recordPersonIds } from '../record/record-store.ts';
import type { PersonRow, ResourceRow } from '../record/rows.ts';
import type { FhirStore, FhirStoreTx, PatientCriteria, ResourcePageQuery } from './store.ts';
import { pseudonymKey } from '../analytics/cohorts/pseudonym.ts';
import { resourceVersion, resourceVersions } from './history-store.ts';
import { feedFreshness } from '../ingest/feed-freshness.ts';

const PERSON_COLUMNS = 'p.person_id::text AS person_id, p.nhs_number, p.status, p.merged_into::text AS merged_into';

export function pgFhirStore(db: Database, policy: Policy): FhirStore {
  return {
    transaction: (fn) => db.transaction((tx) => fn(pgStoreTx(tx, policy))),
  };
}

function pgStoreTx(tx: Queryable, policy: Policy): FhirStoreTx {
  return {
    findPerson: (query) => findPerson(tx, query),
    memberIds: (personId) => recordPersonIds(tx, personId),
    async loadRecord(person, memberIds) {
      // One connection inside a transaction: sequential, not Promise.all.
      const identities = await loadIdentities(tx, person.person_id, memberIds);
      const rows = await loadPersonResources(tx, person.person_id, memberIds);
      const practices = await loadPractices(tx, practiceCodes(identities, rows));
      return { person, identities, rows, practices };
    },
    async loadSummaries(persons) {
      if (!persons.length) return [];
      const r = await tx.query<{ person_id: string; source_system: string; source_id: string; nhs_number: string | null; nhs_number_valid: boolean; family: string | null; given: string | null; birth_date: string | null; sex: string | null; postcode: string | null; practice: string | null; link_method: string; match_status: string; updated_at: unknown }>(
        `SELECT source_system, source_id, person_id::text AS person_id, nhs_number, nhs_number_valid, family, given,
                birth_date::text AS birth_date, sex, postcode, practice, link_method, match_status, updated_at
           FROM source_identity WHERE person_id = ANY($1::uuid[]) ORDER BY source_system, source_id`,
        [persons.map((p) => p.person_id)],
      );
      const identities = r.rows.map((row) => ({ ...row, updated_at: row.updated_at instanceof Date ? row.updated_at.toISOString() : String(row.updated_at) }));
      const practices = await loadPractices(tx, practiceCodes(identities, []));
      return persons.map((person) => ({ person, identities: identities.filter((i) => i.person_id === person.person_id), practices }));
    },
    async personsById(ids) {
      if (!ids.length) return [];
      const r = await tx.query<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM person p WHERE p.person_id = ANY($1::uuid[]) AND p.status = 'active'`, [ids]);
      const byId = new Map(r.rows.map((p) => [p.person_id, p]));
      return ids.map((id) => byId.get(id)).filter((p): p is PersonRow => !!p);
    },
    async findResource(resourceType, id) {
      if (!/^[0-9a-f]{32}$/.test(id)) return null;
      const r = await tx.query<Omit<ResourceRow, 'source_time' | 'received_at'> & { source_time: unknown; received_at: unknown }>(
        `SELECT source_system, resource_type, source_id, person_id::text AS person_id, subject_id, version, source_time, received_at, content
           FROM resource WHERE fhir_logical_id(source_system, resource_type, source_id) = $1 AND resource_type = $2`,
        [id, resourceType],
      );
      const row = r.rows[0];
      if (!row) return null;
      return { ...row, version: Number(row.version), source_time: iso(row.source_time), received_at: iso(row.received_at) ?? '' };
    },
    searchPatients: (criteria, cap) => searchPatients(tx, criteria, cap),
    accessFacts: (principal, people, now) => gatherAccessFacts(tx, policy, principal, people, now),
    startBreakGlass: (user, personId, reason, minutes, now) => startBreakGlass(tx, user, personId, reason, minutes, now),
    async appendAudit(entries, now) {
      await appendAuditBatch(tx, entries, now);
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
    pseudonymKey: (scope) => pseudonymKey(tx, scope),
    sql: {
      secondaryUseCandidates: () => secondaryUseCandidates(tx),
      query: async <R>(sql: string, params: readonly unknown[]) => (await tx.query<R>(sql, params)).rows,
      async cursor<R>(sql: string, params: readonly unknown[], batch: number, sink: (rows: R[]) => Promise<boolean>) {
        // A server-side cursor inside the repository's transaction: rows arrive a batch at a time.
        await tx.query(`DECLARE view_scan NO SCROLL CURSOR FOR ${sql}`, params);
        try {
          for (;;) {
            const r = await tx.query<R>(`FETCH ${Math.max(1, Math.floor(batch))} FROM view_scan`);
            if (!r.rows.length || !(await sink(r.rows))) break;
            if (r.rows.length < batch) break;
          }
        } finally {
          await tx.query('CLOSE view_scan').catch(() => undefined);
        }
      },
    },
  };
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

/** Resources by stable id (the expression index of migration 0012), each checked against its type. */
async function findResources(tx: Queryable, refs: { resourceType: string; id: string }[]): Promise<ResourceRow[]> {
  const wanted = refs.filter((x) => /^[0-9a-f]{32}$/.test(x.id));
  if (!wanted.length) return [];
  const r = await tx.query<RawResourceRow & { fhir_id: string }>(
    `SELECT ${RESOURCE_COLUMNS}, fhir_logical_id(source_system, resource_type, source_id) AS fhir_id
       FROM resource WHERE fhir_logical_id(source_system, resource_type, source_id) = ANY($1::text[]) AND resource_type = ANY($2::text[])`,
    [[...new Set(wanted.map((x) => x.id))], [...new Set(wanted.map((x) => x.resourceType))]],
  );
  const keys = new Set(wanted.map((x) => `${x.resourceType}/${x.id}`));
  return r.rows.filter((row) => keys.has(`${row.resource_type}/${row.fhir_id}`)).map(({ fhir_id: _, ...row }) => resourceRow(row));
}

/** `%`, `_` and `\` in a search value are literal, not wildcards. */
function likePrefix(value: string): string {
  return `${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Patient search over the source identities (every source's demographics): a person matches
 * when any of their identities matches each parameter. Strings match as FHIR says: starts with,
 * case-insensitive (https://hl7.org/fhir/R4/search.html#string).
 */
async function searchPatients(tx: Queryable, c: PatientCriteria, cap: number): Promise<string[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const identityMatch = (cond: string) => `EXISTS (SELECT 1 FROM source_identity si WHERE si.person_id = p.person_id AND ${cond})`;
  if (c.ids?.length) where.push(`p.person_id::text = ANY(${p(c.ids.map((x) => x.toLowerCase()))}::text[])`);
  if (c.nhsNumbers?.length) {
    const v = p(c.nhsNumbers);
    where.push(`(p.nhs_number = ANY(${v}::text[]) OR ${identityMatch(`si.nhs_number = ANY(${v}::text[])`)})`);
  }
  if (c.sourceIdentifiers?.length) {
    where.push(`(${c.sourceIdentifiers.map((s) => identityMatch(`si.source_system = ${p(s.system)} AND si.source_id = ${p(s.value)}`)).join(' OR ')})`);
  }
  if (c.anyIdentifiers?.length) {
    const v = p(c.anyIdentifiers);
    where.push(`(p.nhs_number = ANY(${v}::text[]) OR ${identityMatch(`(si.nhs_number = ANY(${v}::text[]) OR si.source_id = ANY(${v}::text[]))`)})`);
  }
  for (const [field, lists] of [
    ['family', c.family],
    ['given', c.given],
  ] as const) {
    for (const values of lists ?? []) where.push(`(${values.map((v) => identityMatch(`si.${field} ILIKE ${p(likePrefix(v))}`)).join(' OR ')})`);
  }
  for (const values of c.name ?? []) {
    where.push(`(${values.map((v) => { const x = p(likePrefix(v)); return identityMatch(`(si.family ILIKE ${x} OR si.given ILIKE ${x} OR si.given ILIKE ${p(`% ${likePrefix(v)}`)})`); }).join(' OR ')})`);
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
  if (!where.length) where.push('true');
  const r = await tx.query<{ person_id: string }>(
    `SELECT p.person_id::text AS person_id FROM person p WHERE p.status = 'active' AND ${where.join(' AND ')} ORDER BY p.person_id LIMIT ${p(cap + 1)}`,
    params,
  );
  return r.rows.map((x) => x.person_id);
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}
