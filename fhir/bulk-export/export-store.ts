/**
 * What a bulk export reads from the record's tables (`person`, `source_identity`, `resource`,
 * `resource_history`, `practice`), a page at a time by keyset so that memory stays bounded whatever the locality's
 * size: people in person-id order, their resources in (person, type, system, id) order, and
 * reference data (no person) in (system, type, id) order. Reads only; parameterised SQL.
 */
import { findPerson, isPersonId } from '../../record/record-store.ts';
import type { Queryable } from '../../db/database.ts';
import type { IdentityRow, PersonRow, PracticeRow, ResourceRow } from '../../record/rows.ts';

// A merge chain longer than this is a loop or corruption (as record/record-store.ts).
const MAX_MERGE_HOPS = 16;
const PERSON_COLUMNS = 'p.person_id::text AS person_id, p.nhs_number, p.status, p.merged_into::text AS merged_into';
const RESOURCE_COLUMNS = 'r.source_system, r.resource_type, r.source_id, r.person_id::text AS person_id, r.subject_id, r.version, r.source_time, r.received_at, r.content';
// A replaced version, with its resource's subject (the history keeps what changes: content and times).
const HISTORY_COLUMNS = 'h.source_system, h.resource_type, h.source_id, h.person_id::text AS person_id, r.subject_id, h.version, h.source_time, h.received_at, h.content';

/** Which people an export covers: everyone active (system and patient level), or a practice's registered people (group). */
export interface PeopleScope {
  /** A practice's ODS code, for a group export. */
  group: string | null;
  /** A cohort's Group: exactly these people (person ids). */
  ids?: readonly string[] | null;
  /** Nobody who arrived after the export's transaction time. */
  before: string;
  /** A slice's range of person ids [lo, hi); null: unbounded. */
  lo?: string | null;
  hi?: string | null;
}

/**
 * The SQL condition for "possibly registered at the practice": a GP identity of that practice on
 * the person or on someone merged into them. The access facts decide it (the most recent GP
 * identity is the registered practice); this only narrows the people to weigh.
 *
 * Written as a set of person ids built once from the practice's identities (a hash semi-join),
 * not as an EXISTS per person whose OR the planner can only run as a nested loop over the
 * practice's identities: that was people × practice identities (2 × 10⁹ at 215,000 people; a
 * Group kick-off's count did not finish in six minutes), this is one pass over each.
 */
function groupCondition(param: string): string {
  const atPractice = `(si.source_system = 'gp:' || ${param} OR (si.source_system = 'gp:' AND si.practice = ${param}))`;
  return `p.person_id IN (
            SELECT si.person_id FROM source_identity si WHERE ${atPractice}
            UNION ALL
            SELECT m.merged_into FROM source_identity si JOIN person m ON m.person_id = si.person_id
             WHERE m.merged_into IS NOT NULL AND ${atPractice})`;
}

/** The next page of people after `after` (person-id order), at most `limit`. */
export async function peoplePage(db: Queryable, scope: PeopleScope, after: string | null, limit: number): Promise<PersonRow[]> {
  const params: unknown[] = [scope.before, after, limit, scope.lo ?? null, scope.hi ?? null];
  let where = `p.status = 'active' AND p.created_at <= $1 AND ($2::uuid IS NULL OR p.person_id > $2::uuid)
               AND ($4::uuid IS NULL OR p.person_id >= $4::uuid) AND ($5::uuid IS NULL OR p.person_id < $5::uuid)`;
  if (scope.group) {
    params.push(scope.group);
    where += ` AND ${groupCondition('$6')}`;
  }
  if (scope.ids) {
    params.push(scope.ids);
    where += ` AND p.person_id = ANY($${params.length}::uuid[])`;
  }
  const r = await db.query<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM person p WHERE ${where} ORDER BY p.person_id LIMIT $3`, params);
  return r.rows;
}

/** How many people the export will weigh (for progress). */
export async function countPeople(db: Queryable, scope: PeopleScope): Promise<number> {
  const params: unknown[] = [scope.before];
  let where = `p.status = 'active' AND p.created_at <= $1`;
  if (scope.group) {
    params.push(scope.group);
    where += ` AND ${groupCondition('$2')}`;
  }
  if (scope.ids) {
    params.push(scope.ids);
    where += ` AND p.person_id = ANY($${params.length}::uuid[])`;
  }
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM person p WHERE ${where}`, params);
  return r.rows[0]?.n ?? 0;
}

/** Each person's member ids: themselves and everyone merged into them (through chains), as owner → members. */
export async function membersOf(db: Queryable, personIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(personIds.map((id) => [id, [id]]));
  if (!personIds.length) return out;
  const r = await db.query<{ owner: string; member: string }>(
    `WITH RECURSIVE m(owner, member, depth) AS (
       SELECT id, id, 0 FROM unnest($1::uuid[]) AS id
       UNION ALL
       SELECT m.owner, p.person_id, m.depth + 1 FROM person p JOIN m ON p.merged_into = m.member WHERE m.depth < ${MAX_MERGE_HOPS}
     )
     SELECT DISTINCT owner::text AS owner, member::text AS member FROM m WHERE depth > 0`,
    [personIds],
  );
  for (const row of r.rows) {
    const list = out.get(row.owner);
    if (list && !list.includes(row.member)) list.push(row.member);
  }
  return out;
}

/** The source identities of these (member) person ids. */
export async function identitiesOf(db: Queryable, memberIds: readonly string[]): Promise<IdentityRow[]> {
  if (!memberIds.length) return [];
  const r = await db.query<Omit<IdentityRow, 'updated_at'> & { updated_at: unknown }>(
    `SELECT source_system, source_id, person_id::text AS person_id, nhs_number, nhs_number_valid, family, given,
            birth_date::text AS birth_date, sex, postcode, practice, link_method, match_status, updated_at
       FROM source_identity WHERE person_id = ANY($1::uuid[]) ORDER BY person_id, source_system, source_id`,
    [memberIds],
  );
  return r.rows.map((row) => ({ ...row, updated_at: iso(row.updated_at) ?? '' }));
}

/** The source systems' own Patient records of these person ids (keys only: the merged Patient links to them). */
export async function sourcePatientsOf(db: Queryable, memberIds: readonly string[]): Promise<{ person_id: string; source_system: string; source_id: string; received_at: string }[]> {
  if (!memberIds.length) return [];
  const r = await db.query<{ person_id: string; source_system: string; source_id: string; received_at: unknown }>(
    `SELECT person_id::text AS person_id, source_system, source_id, received_at FROM resource
      WHERE person_id = ANY($1::uuid[]) AND resource_type = 'Patient'
      ORDER BY source_system, source_id`,
    [memberIds],
  );
  return r.rows.map((row) => ({ ...row, received_at: iso(row.received_at) ?? '' }));
}

export interface ResourceFilter {
  /** Types to read, or null for all (never Patient: the merged Patient stands for it). */
  types: readonly string[] | null;
  /** Received after this instant (_since), or null. */
  since: string | null;
  /** Received at or before this instant (the transaction time). */
  before: string;
}

/** Keyset position in a resources page: (person, type, system, id). */
export type ResourceKey = [string, string, string, string];

/**
 * The next page of these people's resources after `after`, at most `limit` rows, each as it was
 * at the transaction time: the current row when it was received by then, else the version it
 * replaced that was current then (`resource_history`, migration 0015), so an export shows the
 * record as of its transaction time even while feeds keep changing it.
 */
export async function resourcesPage(db: Queryable, memberIds: readonly string[], f: ResourceFilter, after: ResourceKey | null, limit: number): Promise<ResourceRow[]> {
  if (!memberIds.length || (f.types && !f.types.length)) return [];
  const params: unknown[] = [memberIds, f.types, f.before, f.since, limit];
  let keyset = '';
  if (after) {
    params.push(...after);
    keyset = `AND (person_id, resource_type, source_system, source_id) > ($6::uuid, $7, $8, $9)`;
  }
  const common = (t: string) => `${t}.person_id = ANY($1::uuid[]) AND ($2::text[] IS NULL OR ${t}.resource_type = ANY($2::text[])) AND ${t}.resource_type <> 'Patient'
        AND ${t}.received_at <= $3 AND ($4::timestamptz IS NULL OR ${t}.received_at > $4::timestamptz) ${keyset.replaceAll('(person_id, resource_type, source_system, source_id)', `(${t}.person_id, ${t}.resource_type, ${t}.source_system, ${t}.source_id)`)}`;
  const r = await db.query<Omit<ResourceRow, 'source_time' | 'received_at'> & { source_time: unknown; received_at: unknown }>(
    `SELECT * FROM (
       SELECT ${RESOURCE_COLUMNS} FROM resource r WHERE ${common('r')}
       UNION ALL
       SELECT ${HISTORY_COLUMNS} FROM resource_history h JOIN resource r USING (source_system, resource_type, source_id) WHERE ${common('h')} AND h.replaced_at > $3
     ) v ORDER BY person_id, resource_type, source_system, source_id LIMIT $5`,
    params,
  );
  return r.rows.map(toResourceRow);
}

/** Keyset position in reference data: (system, type, id). */
export type ReferenceKey = [string, string, string];

/** The next page of reference resources (no person) of these types after `after`, as they were at the transaction time. */
export async function referencePage(db: Queryable, f: ResourceFilter & { types: readonly string[] }, after: ReferenceKey | null, limit: number): Promise<ResourceRow[]> {
  if (!f.types.length) return [];
  const params: unknown[] = [f.types, f.before, f.since, limit];
  let keyset = '';
  if (after) {
    params.push(...after);
    keyset = `AND (source_system, resource_type, source_id) > ($5, $6, $7)`;
  }
  const common = (t: string) => `${t}.person_id IS NULL AND ${t}.resource_type = ANY($1::text[])
        AND ${t}.received_at <= $2 AND ($3::timestamptz IS NULL OR ${t}.received_at > $3::timestamptz) ${keyset.replaceAll('(source_system, resource_type, source_id)', `(${t}.source_system, ${t}.resource_type, ${t}.source_id)`)}`;
  const r = await db.query<Omit<ResourceRow, 'source_time' | 'received_at'> & { source_time: unknown; received_at: unknown }>(
    `SELECT * FROM (
       SELECT ${RESOURCE_COLUMNS} FROM resource r WHERE ${common('r')}
       UNION ALL
       SELECT ${HISTORY_COLUMNS} FROM resource_history h JOIN resource r USING (source_system, resource_type, source_id) WHERE ${common('h')} AND h.replaced_at > $2
     ) v ORDER BY source_system, resource_type, source_id LIMIT $4`,
    params,
  );
  return r.rows.map(toResourceRow);
}

/** Every practice (a few hundred rows at most), for the registered practice's name on the merged Patient. */
export async function allPractices(db: Queryable): Promise<PracticeRow[]> {
  const r = await db.query<PracticeRow>(
    `SELECT pr.ods_code, pr.name, pr.neighbourhood, n.name AS neighbourhood_name
       FROM practice pr LEFT JOIN neighbourhood n ON n.code = pr.neighbourhood ORDER BY pr.ods_code`,
  );
  return r.rows;
}

/** One practice, or null: a Group's id is a practice's ODS code. */
export async function findPractice(db: Queryable, odsCode: string): Promise<PracticeRow | null> {
  const r = await db.query<PracticeRow>(
    `SELECT pr.ods_code, pr.name, pr.neighbourhood, n.name AS neighbourhood_name
       FROM practice pr LEFT JOIN neighbourhood n ON n.code = pr.neighbourhood WHERE pr.ods_code = $1`,
    [odsCode],
  );
  return r.rows[0] ?? null;
}

function toResourceRow(row: Omit<ResourceRow, 'source_time' | 'received_at'> & { source_time: unknown; received_at: unknown }): ResourceRow {
  return { ...row, version: Number(row.version), source_time: iso(row.source_time), received_at: iso(row.received_at) ?? '' };
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

/**
 * The people a kick-off's `patient` parameter names — a person id (the merged Patient's id) or a
 * source Patient's stable id — each as the active person it is now (merges followed, as the
 * record store's findPerson follows them); the ids that name nobody, separately.
 */
export async function resolvePatients(db: Queryable, ids: readonly string[]): Promise<{ people: string[]; unknown: string[] }> {
  const personOf = new Map<string, string>();
  for (const id of ids) if (isPersonId(id)) personOf.set(id, id);
  const hex = ids.filter((i) => /^[0-9a-f]{32}$/.test(i));
  if (hex.length) {
    // The expression migration 0054 indexes (the writer's fhir_id, else the key's hash).
    const r = await db.query<{ id: string; person_id: string | null }>(
      `SELECT COALESCE(fhir_id, fhir_logical_id(source_system, resource_type, source_id)) AS id, person_id::text AS person_id FROM resource
        WHERE resource_type = 'Patient' AND COALESCE(fhir_id, fhir_logical_id(source_system, resource_type, source_id)) = ANY($1::text[])`,
      [hex],
    );
    for (const row of r.rows) if (row.person_id) personOf.set(row.id, row.person_id);
  }
  const people = new Set<string>();
  const unknown: string[] = [];
  for (const id of ids) {
    const start = personOf.get(id);
    const person = start ? await findPerson(db, { personId: start }) : null;
    if (person?.status === 'active') people.add(person.person_id);
    else unknown.push(id);
  }
  return { people: [...people], unknown };
}
