/**
 * Reads one person's record from the database: the person (following merges), the source
 * identities linked to them, their stored resources and the practices those name. Only
 * parameterised SQL; rows come back as plain data (see rows.ts) for the pure record builder.
 */
import type { Queryable } from '../db/database.ts';
import { defaultReferenceData } from './reference/reference-data.ts';
import type { IdentityRow, PersonRow, PracticeRow, ResourceRow } from './rows.ts';

export interface PersonQuery {
  /** Digits, spaces allowed. */
  nhsNumber?: string;
  personId?: string;
  source?: { system: string; id: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A merge chain longer than this is a loop or corruption, not history.
const MAX_MERGE_HOPS = 16;
const PERSON_COLUMNS = 'p.person_id::text AS person_id, p.nhs_number, p.status, p.merged_into::text AS merged_into';

/** True when s looks like a Bevan person id (a UUID). */
export function isPersonId(s: string): boolean {
  return UUID.test(s);
}

/**
 * Finds the person a query names, or null. An NHS number is looked up on the person first and
 * then on source identities whose person has no NHS number of their own; a merged person
 * redirects to the person it was merged into.
 */
export async function findPerson(db: Queryable, query: PersonQuery): Promise<PersonRow | null> {
  let found: PersonRow | null = null;
  if (query.personId !== undefined) {
    if (!isPersonId(query.personId)) return null;
    found = await personById(db, query.personId);
  } else if (query.nhsNumber !== undefined) {
    const nhs = query.nhsNumber.replace(/\s+/g, '');
    if (!nhs) return null;
    const r = await db.query<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM person p WHERE p.nhs_number = $1`, [nhs]);
    found = r.rows[0] ?? null;
    if (!found) {
      // Several people may carry the number on an identity (a typo, an unresolved duplicate):
      // the one with the most such identities, then the most recently changed, is the best guess.
      const s = await db.query<PersonRow>(
        `SELECT ${PERSON_COLUMNS}
           FROM source_identity si JOIN person p ON p.person_id = si.person_id
          WHERE si.nhs_number = $1 AND p.nhs_number IS NULL
          GROUP BY p.person_id
          ORDER BY count(*) DESC, p.updated_at DESC, p.person_id
          LIMIT 1`,
        [nhs],
      );
      found = s.rows[0] ?? null;
    }
  } else if (query.source) {
    const r = await db.query<PersonRow>(
      `SELECT ${PERSON_COLUMNS} FROM source_identity si JOIN person p ON p.person_id = si.person_id
        WHERE si.source_system = $1 AND si.source_id = $2`,
      [query.source.system, query.source.id],
    );
    found = r.rows[0] ?? null;
  }
  for (let hop = 0; found && found.status === 'merged' && found.merged_into && hop < MAX_MERGE_HOPS; hop++) {
    found = await personById(db, found.merged_into);
  }
  return found;
}

/**
 * findPerson by person id and recordPersonIds of the person found, in one statement: the merge
 * chain followed forward (as findPerson does, null when it leads to a person that is not there)
 * and the ids merged into the person found gathered backward.
 */
export async function findPersonWithMembers<X extends object = Record<never, never>>(
  db: Queryable,
  personId: string,
  o: { stamp?: boolean; with?: (members: string, p: (v: unknown) => string) => string } = {},
): Promise<{ person: PersonRow; memberIds: string[]; stamp?: string; with?: X } | null> {
  if (!isPersonId(personId)) return null;
  const params: unknown[] = [personId];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  // Another folder's columns over the members found (the access facts: one round trip for both), their parameters after $1.
  const extra = o.with ? o.with('ARRAY(SELECT person_id FROM members)', p) : null;
  const r = await db.query<PersonRow & { member_ids: string[]; stamp?: string }>(
    `WITH RECURSIVE up(person_id, nhs_number, status, merged_into, hop) AS (
       SELECT person_id, nhs_number, status, merged_into, 0 FROM person WHERE person_id = $1::uuid
       UNION ALL
       SELECT p.person_id, p.nhs_number, p.status, p.merged_into, up.hop + 1 FROM person p JOIN up ON p.person_id = up.merged_into
        WHERE up.status = 'merged' AND up.hop < ${MAX_MERGE_HOPS}
     ), found AS (
       SELECT * FROM up ORDER BY hop DESC LIMIT 1
     ), members(person_id, depth) AS (
       SELECT person_id, 0 FROM found
       UNION
       SELECT p.person_id, m.depth + 1 FROM person p JOIN members m ON p.merged_into = m.person_id WHERE m.depth < ${MAX_MERGE_HOPS}
     )
     SELECT f.person_id::text AS person_id, f.nhs_number, f.status, f.merged_into::text AS merged_into,
            ARRAY(SELECT DISTINCT person_id::text FROM members) AS member_ids${o.stamp ? `,
            ${RECORD_STAMP_SQL} AS stamp` : ''}${extra ? `,
            ${extra}` : ''}
       FROM found f
      WHERE NOT (f.status = 'merged' AND f.merged_into IS NOT NULL AND f.hop < ${MAX_MERGE_HOPS})`,
    params,
  );
  const row = r.rows[0];
  if (!row) return null;
  const { member_ids, stamp, person_id, nhs_number, status, merged_into, ...rest } = row;
  const person: PersonRow = { person_id, nhs_number, status, merged_into };
  return { person, memberIds: member_ids, ...(o.stamp ? { stamp: stamp ?? '' } : {}), ...(extra ? { with: rest as unknown as X } : {}) };
}

/**
 * A version stamp of everything a person's record is read from (loadRecordData): the member
 * persons, their source identities and resources, and the practice and neighbourhood reference
 * tables. For the persons, identities and reference rows it is the multiset of the rows' xmin (the
 * id of the transaction that wrote each row version) with their keys, hashed: any insert, update or
 * delete of one of those rows changes it (a new row version carries its writer's transaction id,
 * which no row of the earlier state can hold), and reading it touches only row headers, not content.
 * For the resources (tens to hundreds a person, scattered over the largest table: reading their
 * headers was most of the stamp's cost) it is the set of transaction ids that wrote any resource of
 * the members, which the resource table's statement triggers note in record_change in the writer's
 * own transaction (migration 0084): every write adds an id no earlier state held, so the set never
 * returns to an earlier value. Used as the key of presented-response caches
 * (fhir/response-cache.ts, fhir/presented-records.ts): a stamp that changes costs a cache miss,
 * never a stale answer.
 */
// `= ANY(ARRAY(…))`, not `IN (SELECT …)`: the generic plan guesses 31 members and hash-joins the
// whole person and source_identity tables to them (a scan per read that grows with the borough);
// an array of the members is an index probe each.
const RECORD_STAMP_SQL = `(SELECT md5(concat_ws('|',
          (SELECT string_agg(p.person_id::text || ':' || p.xmin::text, ',' ORDER BY p.person_id) FROM person p WHERE p.person_id = ANY(ARRAY(SELECT person_id FROM members))),
          (SELECT string_agg(i.xmin::text, ',' ORDER BY i.xmin::text) || '#' || count(*) FROM source_identity i WHERE i.person_id = ANY(ARRAY(SELECT person_id FROM members))),
          (SELECT string_agg(c.xact::text, ',' ORDER BY c.xact) || '#' || count(*) FROM record_change c WHERE c.person_id = ANY(ARRAY(SELECT person_id FROM members))),
          (SELECT string_agg(pr.xmin::text, ',' ORDER BY pr.xmin::text) || '#' || count(*) FROM practice pr),
          (SELECT string_agg(n.xmin::text, ',' ORDER BY n.xmin::text) || '#' || count(*) FROM neighbourhood n))))`;

async function personById(db: Queryable, personId: string): Promise<PersonRow | null> {
  const r = await db.query<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM person p WHERE p.person_id = $1`, [personId]);
  return r.rows[0] ?? null;
}

/**
 * The person ids whose data belongs to this person's record: the person and anyone merged
 * into them (directly or through a chain), in case a merge redirected the person but left
 * identities or resources under the old id.
 */
export async function recordPersonIds(db: Queryable, personId: string): Promise<string[]> {
  const r = await db.query<{ person_id: string }>(
    `WITH RECURSIVE merged(person_id, depth) AS (
       SELECT $1::uuid, 0
       UNION
       SELECT p.person_id, m.depth + 1 FROM person p JOIN merged m ON p.merged_into = m.person_id
        WHERE m.depth < ${MAX_MERGE_HOPS}
     )
     SELECT DISTINCT person_id::text AS person_id FROM merged`,
    [personId],
  );
  return r.rows.map((x) => x.person_id);
}

/** Every stored resource of the person (and of anyone merged into them), oldest first. */
export async function loadPersonResources(db: Queryable, personId: string, personIds?: string[]): Promise<ResourceRow[]> {
  const ids = personIds ?? (await recordPersonIds(db, personId));
  const r = await db.query<Omit<ResourceRow, 'source_time' | 'received_at'> & { source_time: unknown; received_at: unknown }>(
    `SELECT source_system, resource_type, source_id, person_id::text AS person_id, subject_id, version,
            source_time, received_at, content
       FROM resource WHERE person_id = ANY($1::uuid[])
      ORDER BY source_time NULLS FIRST, source_system, resource_type, source_id`,
    [ids],
  );
  return r.rows.map((row) => ({ ...row, version: Number(row.version), source_time: iso(row.source_time), received_at: iso(row.received_at) ?? '' }));
}

/** The source identities linked to the person (and to anyone merged into them). */
export async function loadIdentities(db: Queryable, personId: string, personIds?: string[]): Promise<IdentityRow[]> {
  const ids = personIds ?? (await recordPersonIds(db, personId));
  const r = await db.query<Omit<IdentityRow, 'updated_at'> & { updated_at: unknown }>(
    `SELECT source_system, source_id, person_id::text AS person_id, nhs_number, nhs_number_valid, family, given,
            birth_date::text AS birth_date, sex, postcode, practice, link_method, match_status, updated_at
       FROM source_identity WHERE person_id = ANY($1::uuid[])
      ORDER BY source_system, source_id`,
    [ids],
  );
  return r.rows.map((row) => ({ ...row, updated_at: iso(row.updated_at) ?? '' }));
}

/**
 * The practices (with neighbourhood names) for the given ODS codes, and, for codes that are not a
 * practice of the locality, the names feeds sent in Organization resources (reference data,
 * person_id NULL) carrying that ODS code (origin `feed`; migration 0018 indexes their identifiers).
 */
export async function loadPractices(db: Queryable, odsCodes: readonly string[]): Promise<PracticeRow[]> {
  const codes = [...new Set(odsCodes.filter(Boolean))];
  if (!codes.length) return [];
  // The locality's reference data wins over a feed's name (record/organisations.ts): no need to look those up.
  const listed = defaultReferenceData().organisations;
  const others = codes.filter((c) => !listed.has(c.toUpperCase()));
  // One statement: the practices, and for the other codes the newest name a feed's Organization gives.
  const r = await db.query<{ kind: 'p' | 'o'; code: string; name: string; neighbourhood: string | null; neighbourhood_name: string | null }>(PRACTICES_SQL, [codes, others, ODS_SYSTEM]);
  return r.rows.map((x) =>
    x.kind === 'p' ? { ods_code: x.code, name: x.name, neighbourhood: x.neighbourhood as string, neighbourhood_name: x.neighbourhood_name } : feedNamedPractice({ code: x.code, name: x.name }),
  );
}

/** $1 every code, $2 the codes not in the reference data (a feed may name those), $3 the ODS identifier system. */
const PRACTICES_SQL = `
SELECT 'p' AS kind, pr.ods_code AS code, pr.name, pr.neighbourhood, n.name AS neighbourhood_name
  FROM practice pr LEFT JOIN neighbourhood n ON n.code = pr.neighbourhood
 WHERE pr.ods_code = ANY($1::text[])
UNION ALL
SELECT 'o', code, name, NULL, NULL FROM (
  SELECT DISTINCT ON (c.code) c.code, org.content->>'name' AS name
    FROM unnest($2::text[]) AS c(code)
    JOIN resource org
      ON org.resource_type = 'Organization' AND org.person_id IS NULL
     AND org.content->'identifier' @> jsonb_build_array(jsonb_build_object('system', $3::text, 'value', c.code))
   WHERE c.code NOT IN (SELECT ods_code FROM practice) AND org.content->>'name' IS NOT NULL
   ORDER BY c.code, org.received_at DESC, org.source_system, org.source_id) o`;

const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';

/** A person's identities, resources and the practices and organisations they name. */
export interface RecordData {
  identities: IdentityRow[];
  rows: ResourceRow[];
  practices: PracticeRow[];
}

/**
 * Everything the integrated record is built from, for the person ids of one record: the source
 * identities (as loadIdentities orders them) and the resources (as loadPersonResources does) in
 * one statement, then the practices and feed-named organisations of the ODS codes they carry
 * (practiceCodes, found here from the parsed rows; loadPractices, one statement). Finding the
 * codes in the server (a JSON path walk over every resource, a regular expression per source key)
 * cost more than twice the rows themselves (measured: bench/everything-read.ts and docs/performance.md,
 * sixth round). A page of search results needs less: loadSummaryData.
 */
export async function loadRecordData(db: Queryable, personIds: readonly string[]): Promise<RecordData> {
  const r = await db.query<RecordDataRow>(RECORD_DATA_SQL, [personIds]);
  const identities: IdentityRow[] = [];
  const rows: ResourceRow[] = [];
  const practices: PracticeRow[] = [];
  for (const x of r.rows) {
    if (x.kind === 'r') {
      rows.push({ source_system: x.source_system, resource_type: x.resource_type!, source_id: x.source_id, person_id: x.person_id, subject_id: x.subject_id, version: Number(x.version), source_time: iso(x.source_time), received_at: iso(x.received_at) ?? '', content: x.content } as ResourceRow);
    } else if (x.kind === 'i') {
      identities.push(identityFromJson(x.content as IdentityJson));
    } else {
      const p = x.content as PracticeRow;
      practices.push({ ods_code: p.ods_code, name: p.name, neighbourhood: p.neighbourhood, neighbourhood_name: p.neighbourhood_name });
    }
  }
  // The statement brought the practices the identities name; any other code (a resource's ODS
  // identifier, a source key's code that is no practice) not in the reference data is looked up.
  const found = new Set(practices.map((p) => p.ods_code));
  const listed = defaultReferenceData().organisations;
  const rest = practiceCodes(identities, rows).filter((c) => !found.has(c) && !listed.has(c.toUpperCase()));
  return { identities, rows, practices: rest.length ? [...practices, ...(await loadPractices(db, rest))] : practices };
}

type IdentityJson = Omit<IdentityRow, 'updated_at'> & { updated_at: unknown };

// Fields in the order loadIdentities gives them (jsonb sorts keys).
function identityFromJson(i: IdentityJson): IdentityRow {
  return {
    source_system: i.source_system, source_id: i.source_id, person_id: i.person_id, nhs_number: i.nhs_number, nhs_number_valid: i.nhs_number_valid, family: i.family, given: i.given,
    birth_date: i.birth_date, sex: i.sex, postcode: i.postcode, practice: i.practice, link_method: i.link_method, match_status: i.match_status, updated_at: iso(i.updated_at) ?? '',
  };
}

function feedNamedPractice(o: { code: string; name: string }): PracticeRow {
  return { ods_code: o.code, name: o.name, neighbourhood: '', neighbourhood_name: null, origin: 'feed' as const };
}

/** The identities of some people and the practices and feed-named organisations they name: what a page of Patient search results is built from. */
export interface SummaryData {
  identities: IdentityRow[];
  practices: PracticeRow[];
}

// The reference data's ODS codes as one array literal, built once (a summary does not look those up).
let listedLiteral: string | null = null;
function listedCodes(): string {
  listedLiteral ??= `{${[...defaultReferenceData().organisations.keys()].map((c) => JSON.stringify(c.toUpperCase())).join(',')}}`;
  return listedLiteral;
}

/**
 * The summary of the people an SQL uuid[] expression names, as one column `summary` that a
 * statement of another folder can carry (a Patient search: its page's summaries come with the
 * search, one round trip fewer on a server); `p` adds a parameter to that statement. What it
 * holds, as summaryFromColumn reads it: the people's source identities (in loadIdentities'
 * order), the practices their codes name (an identity's practice, the ODS code of a GP or HL7
 * source key) and, for codes that are neither a practice nor in the reference data, the name a
 * feed's Organization gives (as loadPractices finds them).
 */
export function summaryColumn(ids: string, p: (v: unknown) => string): string {
  const listed = p(listedCodes());
  const ods = p(ODS_SYSTEM);
  return `(WITH idn AS (SELECT * FROM source_identity WHERE person_id = ANY(${ids})),
     codes AS (SELECT DISTINCT code FROM (
       SELECT practice AS code FROM idn
       UNION ALL SELECT upper(substring(source_system FROM '^(?:gp|hl7):([A-Za-z0-9-]{3,12})$')) FROM idn) c
      WHERE code IS NOT NULL AND code <> ''),
     pr AS (SELECT pr.ods_code, pr.name, pr.neighbourhood, n.name AS neighbourhood_name
       FROM practice pr LEFT JOIN neighbourhood n ON n.code = pr.neighbourhood
      WHERE pr.ods_code IN (SELECT code FROM codes))
   SELECT json_build_object(
     'identities', (SELECT coalesce(json_agg(json_build_object('source_system', source_system, 'source_id', source_id, 'person_id', person_id::text, 'nhs_number', nhs_number,
         'nhs_number_valid', nhs_number_valid, 'family', family, 'given', given, 'birth_date', birth_date::text, 'sex', sex, 'postcode', postcode, 'practice', practice,
         'link_method', link_method, 'match_status', match_status, 'updated_at', updated_at) ORDER BY source_system, source_id), '[]') FROM idn),
     'practices', (SELECT coalesce(json_agg(json_build_object('ods_code', ods_code, 'name', name, 'neighbourhood', neighbourhood, 'neighbourhood_name', neighbourhood_name) ORDER BY ods_code), '[]') FROM pr),
     'organisations', (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name) ORDER BY code), '[]') FROM (
       SELECT DISTINCT ON (c.code) c.code, org.content->>'name' AS name
         FROM codes c
         JOIN resource org
           ON org.resource_type = 'Organization' AND org.person_id IS NULL
          AND org.content->'identifier' @> jsonb_build_array(jsonb_build_object('system', ${ods}::text, 'value', c.code))
        WHERE c.code NOT IN (SELECT ods_code FROM pr) AND NOT (upper(c.code) = ANY(${listed}::text[])) AND org.content->>'name' IS NOT NULL
        ORDER BY c.code, org.received_at DESC, org.source_system, org.source_id) o))) AS summary`;
}

/** The identities and practices of a summaryColumn. */
export function summaryFromColumn(column: unknown): SummaryData {
  const s = (typeof column === 'string' ? JSON.parse(column) : column) as { identities: IdentityJson[]; practices: PracticeRow[]; organisations: { code: string; name: string }[] };
  return {
    identities: s.identities.map(identityFromJson),
    practices: [...s.practices.map((p) => ({ ods_code: p.ods_code, name: p.name, neighbourhood: p.neighbourhood, neighbourhood_name: p.neighbourhood_name })), ...s.organisations.map(feedNamedPractice)],
  };
}

/** The summaries of some people (summaryColumn), in one statement. */
export async function loadSummaryData(db: Queryable, personIds: readonly string[]): Promise<SummaryData> {
  const params: unknown[] = [personIds];
  const p = (v: unknown) => `$${params.push(v)}`;
  const r = await db.query<{ summary: unknown }>(`SELECT ${summaryColumn('$1::uuid[]', p)}`, params);
  return summaryFromColumn(r.rows[0]!.summary);
}

interface RecordDataRow {
  kind: 'i' | 'r' | 'p';
  source_system: string;
  resource_type: string | null;
  source_id: string;
  person_id: string | null;
  subject_id: string | null;
  version: unknown;
  source_time: unknown;
  received_at: unknown;
  content: unknown;
}

/**
 * $1 the person ids: their identities (ordered by source_system, source_id), resources (by
 * source_time, source_system, resource_type, source_id) and the practices the identities name (an
 * identity's practice, the code in a GP or HL7 source key; a code that is no practice finds none).
 */
const RECORD_DATA_SQL = `
WITH idn AS (
  SELECT * FROM source_identity WHERE person_id = ANY($1::uuid[])
)
SELECT 'i' AS kind, source_system, NULL::text AS resource_type, source_id, person_id::text AS person_id, NULL::text AS subject_id, NULL::bigint AS version,
       NULL::timestamptz AS source_time, NULL::timestamptz AS received_at,
       jsonb_build_object('source_system', source_system, 'source_id', source_id, 'person_id', person_id::text, 'nhs_number', nhs_number, 'nhs_number_valid', nhs_number_valid,
         'family', family, 'given', given, 'birth_date', birth_date::text, 'sex', sex, 'postcode', postcode, 'practice', practice,
         'link_method', link_method, 'match_status', match_status, 'updated_at', updated_at) AS content,
       NULL::timestamptz AS k1, source_system AS k2, source_id AS k3, ''::text AS k4
  FROM idn
UNION ALL
SELECT 'r', source_system, resource_type, source_id, person_id::text, subject_id, version, source_time, received_at, content,
       source_time, source_system, resource_type, source_id
  FROM resource WHERE person_id = ANY($1::uuid[])
UNION ALL
SELECT 'p', '', NULL, pr.ods_code, NULL, NULL, NULL, NULL, NULL,
       jsonb_build_object('ods_code', pr.ods_code, 'name', pr.name, 'neighbourhood', pr.neighbourhood, 'neighbourhood_name', n.name), NULL, pr.ods_code, '', ''
  FROM practice pr LEFT JOIN neighbourhood n ON n.code = pr.neighbourhood
 WHERE pr.ods_code IN (
   SELECT practice FROM idn
   UNION SELECT upper(split_part(source_system, ':', 2)) FROM idn WHERE source_system LIKE 'gp:%' OR source_system LIKE 'hl7:%')
ORDER BY kind, k1 NULLS FIRST, k2, k3, k4`;

export interface PersonRecordRows {
  person: PersonRow;
  identities: IdentityRow[];
  rows: ResourceRow[];
  practices: PracticeRow[];
}

/** Finds the person and reads everything the integrated record is built from, or null. */
export async function readPersonRecordRows(db: Queryable, query: PersonQuery): Promise<PersonRecordRows | null> {
  const person = await findPerson(db, query);
  if (!person) return null;
  const ids = await recordPersonIds(db, person.person_id);
  const [identities, rows] = await Promise.all([loadIdentities(db, person.person_id, ids), loadPersonResources(db, person.person_id, ids)]);
  const practices = await loadPractices(db, practiceCodes(identities, rows));
  return { person, identities, rows, practices };
}

/**
 * ODS codes the record may name: GP source systems and the practices identities report, the
 * organisation in a hospital source key (`hl7:RM2`), and every ODS identifier a resource carries
 * (an Encounter's serviceProvider, a Patient's generalPractitioner, a performer…).
 */
export function practiceCodes(identities: readonly IdentityRow[], rows: readonly ResourceRow[]): string[] {
  const out = new Set<string>();
  const fromSystem = (system: string) => {
    const m = /^(?:gp|hl7):([A-Za-z0-9-]{3,12})$/.exec(system);
    if (m) out.add(m[1]!.toUpperCase());
  };
  for (const i of identities) {
    if (i.practice) out.add(i.practice);
    fromSystem(i.source_system);
  }
  for (const r of rows) {
    fromSystem(r.source_system);
    collectOdsCodes(r.content, out, 0);
  }
  return [...out];
}

// ODS identifiers sit a few elements down (Encounter.serviceProvider.identifier.value; a UK Core
// extension's sub-extension's valueReference.identifier): the walk goes six elements deep, an
// array's items at their element's depth (as a JSON path in lax mode counts them), so a large
// resource costs little. Contained resources are walked too; their narrative (`text`) is not.
function collectOdsCodes(node: unknown, out: Set<string>, depth: number): void {
  if (depth > 6 || !node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) collectOdsCodes(node[i], out, depth);
    return;
  }
  const o = node as Record<string, unknown>;
  if (o.system === ODS_SYSTEM && typeof o.value === 'string' && o.value.length <= 12) out.add(o.value.toUpperCase());
  // for…in, not Object.entries: no list per object (it walks every resource of a record read).
  for (const k in o) {
    const v = o[k];
    if (v && typeof v === 'object' && k !== 'text') collectOdsCodes(v, out, depth + 1);
  }
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

/**
 * The active people registered at a practice (ODS code): those whose most recently updated GP
 * identity names it, as the access facts decide the registered practice (access/facts-store.ts).
 * All registered people when no practice is given. In person id order.
 */
export async function registeredPersonIds(db: Queryable, practice: string | null): Promise<string[]> {
  const r = await db.query<{ person_id: string }>(
    `SELECT x.person_id::text AS person_id
       FROM (SELECT DISTINCT ON (person_id) person_id, practice FROM source_identity
              WHERE source_system LIKE 'gp:%' AND person_id IS NOT NULL ORDER BY person_id, updated_at DESC) x
       JOIN person p ON p.person_id = x.person_id AND p.status = 'active'
      WHERE $1::text IS NULL OR x.practice = $1
      ORDER BY 1`,
    [practice],
  );
  return r.rows.map((x) => x.person_id);
}

/**
 * Folds each person's record_change rows (migration 0084: one per transaction that wrote any of
 * their resources) into one row of this statement's own transaction id, and drops the rows of
 * persons that are gone. A new id, never an older one kept: the set read by RECORD_STAMP_SQL then
 * differs from every earlier state's (keeping the newest id alone could bring back the set of a
 * state before an older transaction committed). Changes the stamp of the persons folded (a cache
 * miss each), so `bevan everything prebuild` runs it first, when the day has changed every stamp
 * anyway. A writer concurrent with it keeps its own row. Returns the rows removed.
 */
export async function compactRecordChanges(db: Queryable): Promise<number> {
  const gone = await db.query('DELETE FROM record_change c WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.person_id = c.person_id)');
  const r = await db.query<{ removed: number }>(
    `WITH many AS (
       SELECT person_id FROM record_change GROUP BY person_id HAVING count(*) > 1
     ), removed AS (
       DELETE FROM record_change c USING many m WHERE c.person_id = m.person_id RETURNING c.person_id
     ), added AS (
       INSERT INTO record_change (person_id, xact)
       SELECT DISTINCT person_id, pg_current_xact_id() FROM removed ORDER BY 1
       ON CONFLICT DO NOTHING
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM removed)::int - (SELECT count(*) FROM added)::int AS removed`,
  );
  return (gone.rowCount ?? 0) + (r.rows[0]?.removed ?? 0);
}
