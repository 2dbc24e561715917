/**
 * Secondary use across people in one SQL query, for a view compiled to SQL
 * (analytics/views/sql-view.ts): the same resources, people and obligations as the JS scan
 * (secondary-use.ts), decided the same way, but filtered and presented in the database so that
 * the view runs there too and only its rows travel.
 * - The policy decides, as for the JS scan: the people with something recorded that could bear
 *   on secondary use (a consent directive, a restriction: access/facts-store.ts) are each decided
 *   with `decide`, and everyone else once, with the facts of a person with nothing recorded. Those
 *   refused are left out in the query (an anti-join on their ids), merged-away people by the join
 *   to active persons, resources not linked to anyone by the join itself.
 * - The permit's obligations: the sensitive categories it withholds become one SQL/JSON path over
 *   the stored content built from the policy's code lists (access/policy.ts
 *   sensitiveCodesJsonPath, sensitiveCategoriesOf's twin); a withheld resource gives no rows (a
 *   marker row counts it). Pseudonymisation: the view's Patient keys are given their keyed
 *   pseudonyms as rows arrive (access/pseudonymise.ts, the same key and function).
 * - The resource as the FHIR API serves it, where the view reads it: its stable id
 *   (`fhir_logical_id`), source, the person's source Patient ids (references to them are the
 *   merged Patient) and an Observation's code with its national coding first
 *   (record/coding.ts nationalCodeSql).
 * When the policy gives someone obligations the query cannot carry (another set of withheld
 * categories, only one organisation's items) the caller runs the JS scan instead: this returns
 * false before anything is read. Rows come through a cursor in batches, so memory stays flat.
 * A view materialised by analytics/ (analytics/views/materialised.ts, from materialiseQuery here)
 * and up to date is read from its kept CSV pieces instead, the same people left out, the same
 * categories withheld, the person's key pseudonymised in the query (hmacPads).
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Principal } from '../access/context.ts';
import { decide, sensitiveCodesJsonPath, sensitiveCodesFirstTest, type Decision, type Obligations, type Policy } from '../access/policy.ts';
import { pseudonymFor, type Pseudonym } from '../access/pseudonymise.ts';
import { SECONDARY_USE_KEY } from '../analytics/cohorts/pseudonym.ts';
import { nationalCodeSql } from '../record/coding.ts';
import { defaultReferenceData } from '../record/reference/reference-data.ts';
import type { SecondaryUseCounts, SecondaryUseKit, SecondaryUseRequest } from './secondary-use.ts';
import type { FhirStoreTx, SqlScanPort } from './store.ts';

type Permit = Extract<Decision, { kind: 'permit' }>;

/** A view compiled to SQL, as the repository runs it (analytics/views/run-view.ts makes one). */
export interface SqlViewPlan {
  /**
   * The view's rows (column `r`) for the one resource of `src` in scope, binding every value with
   * `bind`; null when the view, run this way (pseudonymised or not), is for the JS runner.
   */
  build(source: StoreSource, bind: (v: unknown) => string): { rowsSql: string; needs: ReadonlySet<string> } | null;
  /** Takes a batch of rows (each the JSON text of an array of values); false ends the scan. */
  rows(rows: string[], pseudonym: Pseudonym | null): Promise<boolean>;
  /**
   * A materialisation of the view filled by the query of this fingerprint (materialiseQuery) and up
   * to date, read instead of running the view; null when there is none (the view then runs here).
   */
  materialised?(fingerprint: string, query: <R>(sql: string, params: readonly unknown[]) => Promise<R[]>): Promise<MaterialisedRead | null>;
}

/** What the view's query may ask of the store besides the columns of `src`. */
export interface StoreSource {
  kind: 'store';
  pseudonymised: boolean;
  /** SQL true when the id (SQL text) is one of the person's source Patients in the resource's source system (a reference to it is to the merged Patient). */
  patientKey: (id: string) => string;
  /** The stable id (SQL text) of the resource of a type and id in a source system (SQL texts): fhir_logical_id's value. */
  logicalId: (system: string, type: string, id: string) => string;
}

/**
 * fhir_logical_id(system, type, id) of migration 0012, written out: the function is not inlined
 * by the planner (convert_to is only stable), and a SQL function called on every row costs an
 * executor start each time — about a tenth of a view's time in the database. The same value
 * (sql-view.int.test.ts compares the two).
 */
export function logicalIdSql(system: string, type: string, id: string): string {
  return `substr(encode(sha256(convert_to(${type} || '|' || length(${system})::text || ':' || ${system} || '|' || ${id}, 'UTF8')), 'hex'), 1, 32)`;
}

/** Rows fetched from the cursor at a time. */
const BATCH = 5000;
/** Cursors run at once over a server (each a backend, so a core): as many as the machine has, up to 4. */
const PARTS = Math.max(1, Math.min(4, availableParallelism()));
const FIRST_ID = '00000000-0000-0000-0000-000000000000';
const LAST_ID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/** n ranges of uuids, first to last, split on the first 32 bits (person ids are random, so the pieces are about equal). */
export function personIdRanges(n: number): [string, string][] {
  const out: [string, string][] = [];
  const hex = (x: number) => x.toString(16).padStart(8, '0');
  for (let i = 0; i < n; i++) {
    const a = Math.floor((i * 2 ** 32) / n);
    const b = Math.floor(((i + 1) * 2 ** 32) / n) - 1;
    out.push([`${hex(a)}-0000-0000-0000-000000000000`, `${hex(b)}-ffff-ffff-ffff-ffffffffffff`]);
  }
  return out;
}
const NOBODY = '00000000-0000-0000-0000-000000000000';

/** The view's SQL over the stored resources (`src`), with the parameters it binds (bind adds more); built null when the view runs with the JS runner. */
function buildOverStore(plan: Pick<SqlViewPlan, 'build'>, pseudonymised: boolean) {
  const params: unknown[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const patientKey = (id: string) => `EXISTS (SELECT 1 FROM source_identity si WHERE si.source_system = src.source_system AND si.source_id = ${id} AND si.person_id = src.person_id::uuid)`;
  return { params, bind, built: plan.build({ kind: 'store', pseudonymised, patientKey, logicalId: logicalIdSql }, bind) };
}

/** Runs the view in SQL under the gate's permit; false (nothing read) when the JS scan must do it. */
export async function scanForSecondaryUseSql(tx: FhirStoreTx, port: SqlScanPort, kit: SecondaryUseKit, gate: Permit, req: SecondaryUseRequest, plan: SqlViewPlan, counts: SecondaryUseCounts): Promise<boolean> {
  if (kit.nonPersonal.has(req.resourceType) || req.resourceType === 'Patient') return false;
  const pseudonymised = gate.obligations.pseudonymise === true;
  const { params, bind, built } = buildOverStore(plan, pseudonymised);
  if (!built) return false;

  const people = await decideCandidates(tx, port, kit.principal, kit, counts);
  if (!people) return false;
  const { obligations, excluded } = people;
  const withheld = kit.policy !== null && sensitiveCodesJsonPath(kit.policy, obligations.withholdCategories) !== null;
  const { sql: src, loAt, hiAt } = presentedSource(built.needs, kit.policy, { withhold: obligations.withholdCategories }, req.resourceType, bind, { ...(req.since ? { since: req.since } : {}), excluded: excluded.map((e) => e.id) });
  const sql = withheld
    ? `SELECT v.r FROM (${src}) src CROSS JOIN LATERAL (SELECT q.r FROM (${built.rowsSql}) q WHERE NOT src.withheld UNION ALL SELECT NULL::text WHERE src.withheld) v`
    : `SELECT v.r FROM (${src}) src CROSS JOIN LATERAL (${built.rowsSql}) v`;

  counts.engine = 'sql';
  const pseudonym = pseudonymised ? pseudonymFor(await tx.pseudonymKey(SECONDARY_USE_KEY)) : null;
  // JIT compiling a query this size costs seconds and saves little on row-at-a-time jsonb work;
  // and its plan is made for its values (db/database.ts oneOffStatements).
  await port.query("SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'auto', true)", []);
  // The view's rows kept by a materialisation of this very query (the same fingerprint) and up to
  // date: the run reads them, the access policy applied as here (analytics/views/materialised.ts).
  const m = plan.materialised && !req.since ? materialiseQuery(plan, kit.policy, req.resourceType, pseudonymised) : null;
  const read = m && plan.materialised ? await plan.materialised(m.fingerprint, (sql, params) => port.query(sql, params)) : null;
  // The people and resources counted from the materialisation when there is one (its pieces count
  // every resource of the type of each active person), not by a walk over every resource of the type.
  await countPeople(port, req, excluded, counts, read);
  counts.unlinked = await tx.unlinkedCount(req.resourceType);
  if (read) {
    counts.materialised = true;
    const mp: unknown[] = [];
    const mbind = (v: unknown) => {
      mp.push(v);
      return `$${mp.length}`;
    };
    const mlo = mbind(FIRST_ID);
    const mhi = mbind(LAST_ID);
    const [mloAt, mhiAt] = [mp.length - 2, mp.length - 1];
    const key = await tx.pseudonymKey(SECONDARY_USE_KEY);
    const msql = read.sql({ excluded: mbind(excluded.map((e) => e.id)), withhold: mbind(obligations.withholdCategories), range: [mlo, mhi], hmac: pseudonymised ? hmacPads(key, mbind) : null }, mbind);
    const psd = pseudonymised ? pseudonymFor(key) : null;
    const msink = async (rows: MaterialisedRow[]) => {
      for (const x of rows) if (x.t === null) counts.withheld += x.n;
      return read.text(rows, psd);
    };
    await readByPersonRanges<MaterialisedRow>(port, { sql: msql, params: mp, loAt: mloAt, hiAt: mhiAt }, MATERIALISED_BATCH, msink);
    counts.resources -= counts.withheld;
    return true;
  }
  const sink = async (rows: { r: string | null }[]) => {
    const out: string[] = [];
    for (const x of rows) {
      if (x.r === null) counts.withheld++;
      else out.push(x.r);
    }
    return out.length ? plan.rows(out, pseudonym) : true;
  };
  await readByPersonRanges<{ r: string | null }>(port, { sql, params, loAt, hiAt }, BATCH, sink);
  counts.resources -= counts.withheld;
  return true;
}

/**
 * Reads a query over a range of person ids (its parameters loAt and hiAt) into sink. One query in
 * one backend uses one core: where the port has several cursors, the people split into ranges of
 * their ids, each read by a cursor of its own at the same time; else the whole range by one.
 */
async function readByPersonRanges<R>(port: SqlScanPort, q: { sql: string; params: unknown[]; loAt: number; hiAt: number }, batch: number, sink: (rows: R[]) => Promise<boolean>): Promise<void> {
  if (PARTS > 1 && port.cursors) {
    const queries = personIdRanges(PARTS).map(([a, b]) => {
      const p = [...q.params];
      p[q.loAt] = a;
      p[q.hiAt] = b;
      return { sql: q.sql, params: p };
    });
    await port.cursors<R>(queries, batch, sink);
  } else await port.cursor<R>(q.sql, q.params, batch, sink);
}

/**
 * The relation a view's query reads (sql-view.ts): one row per resource of the type, of an active
 * person, presented as the FHIR API serves it (stable id, source, national code), with `withheld`
 * (a run: the resource is in a category the permit withholds) or `categories` (a materialisation:
 * every sensitive category of the policy it is in). Binds the person range last (loAt, hiAt).
 */
function presentedSource(
  needs: ReadonlySet<string>,
  policy: Policy | null,
  sensitive: { withhold: readonly string[] } | { categories: readonly string[] },
  resourceType: string,
  bind: (v: unknown) => string,
  filter: { since?: string; excluded?: string[] },
): { sql: string; loAt: number; hiAt: number } {
  const cols = ['r.content'];
  if (needs.has('fid')) cols.push(`${logicalIdSql('r.source_system', 'r.resource_type', 'r.source_id')} AS fid`);
  cols.push('r.source_system', 'r.person_id::text AS person_id', 'r.subject_id');
  if (needs.has('pcode')) cols.push(`${nationalCodeSql('r.content', 'r.source_system', defaultReferenceData(), bind)} AS pcode`);
  let lateral = '';
  const categories = 'withhold' in sensitive ? [sensitive.withhold] : sensitive.categories.map((c) => [c]);
  const firstTest = policy ? sensitiveCodesFirstTest(policy, categories.flat()) : null;
  const exact = (cats: readonly string[]) => {
    const path = policy ? sensitiveCodesJsonPath(policy, cats) : null;
    return path ? `jsonb_path_exists(r.content, ${bind(path)}::jsonpath, '{}', true)` : 'false';
  };
  let first = 'true';
  if (firstTest) {
    // The codes of the resource, once; the exact path only where one could be on a list.
    // (A function in FROM, computed once per resource: a scalar subquery would be a plan started for every row.)
    const codes = `jsonb_path_query_array(r.content, 'strict $.**.code', '{}', true)`;
    // A code string starting with a head: one anchored regular expression (compiled once) over the
    // strings of the array, in the path engine, instead of a subquery testing each element.
    const heads = firstTest.heads.length ? ` OR jsonb_path_exists(c.codes, ${bind(`$[*] ? (@ like_regex ${JSON.stringify(`^(${firstTest.heads.map(regexLiteral).join('|')})`)})`)}::jsonpath)` : '';
    first = `(c.codes ?| ${bind(firstTest.codes)}::text[]${heads})`;
    lateral = ` CROSS JOIN LATERAL ${codes} c(codes)`;
  }
  if ('withhold' in sensitive) {
    const e = exact(sensitive.withhold);
    cols.push(e === 'false' ? 'false AS withheld' : `(${first} AND ${e}) AS withheld`);
  } else {
    const each = sensitive.categories.map((c) => ({ c, e: exact([c]) })).filter((x) => x.e !== 'false');
    cols.push(each.length ? `CASE WHEN ${first} THEN array_remove(ARRAY[${each.map((x) => `CASE WHEN ${x.e} THEN ${bind(x.c)}::text END`).join(', ')}], NULL) ELSE '{}'::text[] END AS categories` : `'{}'::text[] AS categories`);
    cols.push('r.source_id');
  }
  const type = bind(resourceType);
  const since = filter.since ? ` AND r.received_at > ${bind(filter.since)}::timestamptz` : '';
  // The people refused, as a hashed subplan: one hash probe per row whatever the planner thinks the
  // rows are (NOT EXISTS over the unnested array became a nested loop comparing every row with
  // every refused person when the rows were underestimated: 5,000 opted out × 3 M rows).
  const ex = filter.excluded ? ` AND r.person_id NOT IN (SELECT unnest(${bind(filter.excluded)}::uuid[]))` : '';
  // A range of person ids: the whole of it, or one piece of it for each of several cursors at once.
  const lo = bind(FIRST_ID);
  const hi = bind(LAST_ID);
  return {
    sql: `SELECT ${cols.join(', ')} FROM resource r JOIN person p ON p.person_id = r.person_id AND p.status = 'active'${lateral}
     WHERE r.resource_type = ${type}${since} AND r.person_id BETWEEN ${lo}::uuid AND ${hi}::uuid${ex} OFFSET 0`,
    loAt: Number(lo.slice(1)) - 1,
    hiAt: Number(hi.slice(1)) - 1,
  };
}

/** Bumped when what a materialisation holds changes shape (analytics/views/materialised.ts). */
const MATERIALISED_VERSION = 1;

/**
 * The query filling a materialisation of a view (analytics/views/materialised.ts): for every
 * resource of the type of an active person (of `persons`, when given; in the person range bound
 * last), its person, source and id, sensitive categories (every category of the policy) and the
 * view's rows (column `r`, null for a resource that gives none), in person order. Its
 * fingerprint covers everything that decides the rows (the view's SQL and values, the
 * presentation, the policy's code lists, the reference data) but the people asked for: a run
 * reads the materialisation only when its own view, so compiled, has the same.
 * Null when the view runs with the JS runner this way.
 */
export function materialiseQuery(plan: Pick<SqlViewPlan, 'build'>, policy: Policy | null, resourceType: string, pseudonymised: boolean, persons?: string[]): { sql: string; params: unknown[]; loAt: number; hiAt: number; fingerprint: string } | null {
  const { params, bind, built } = buildOverStore(plan, pseudonymised);
  if (!built) return null;
  const categories = policy ? Object.keys(policy.sensitiveCategories).sort() : [];
  const { sql: src, loAt, hiAt } = presentedSource(built.needs, policy, { categories }, resourceType, bind, {});
  const sql = `SELECT src.person_id, src.source_system, src.source_id, src.categories, v.r FROM (${src}) src LEFT JOIN LATERAL (${built.rowsSql}) v ON true
    ORDER BY src.person_id, src.source_system, src.source_id`;
  const fingerprint = createHash('sha256').update(JSON.stringify([MATERIALISED_VERSION, resourceType, sql, params.slice(0, loAt)])).digest('hex').slice(0, 32);
  if (persons) {
    // The people asked for (a refresh after a load): bound after the fingerprint is taken.
    const p = bind(persons);
    return { sql: sql.replace(' OFFSET 0)', ` AND r.person_id = ANY(${p}::uuid[]) OFFSET 0)`), params, loAt, hiAt, fingerprint };
  }
  return { sql, params, loAt, hiAt, fingerprint };
}

/** What a run reads from a materialisation, a piece at a time: its CSV text with the Patient keys filled in (null when withheld), the other keys, the resources in it. */
export interface MaterialisedRow {
  t: string | null;
  k: string[] | null;
  /** Resources in the piece, and its rows. */
  n: number;
  rows: number;
}

/** A materialisation the run may read (analytics/views/materialised.ts). */
export interface MaterialisedRead {
  /** The query over it for one range of people: the people refused left out, the withheld pieces as t null, the person's key given (pseudonymised with `hmac`: SQL texts of the HMAC-SHA256 pads). */
  sql(p: { excluded: string; withhold: string; range: [string, string]; hmac: { inner: string; outer: string } | null }, bind: (v: unknown) => string): string;
  /** Each active person in it (person_id) and their resources of the type (n): what countPeople counts over resource. */
  peopleSql(bind: (v: unknown) => string): string;
  /** Takes a batch of pieces; false ends the run. */
  text(rows: MaterialisedRow[], pseudonym: Pseudonym | null): Promise<boolean>;
}

/** Pieces fetched from a materialisation at a time (each a person's rows: a few KiB). */
const MATERIALISED_BATCH = 500;

/**
 * HMAC-SHA256 with this key (RFC 2104) as two sha256 calls in SQL: the key's inner and outer pads
 * (bound as bytea), so that the database gives a person's pseudonym (access/pseudonymise.ts
 * pseudonymFor's value: a test compares them) without a row travelling for it.
 */
function hmacPads(key: Buffer, bind: (v: unknown) => string): { inner: string; outer: string } {
  const block = Buffer.alloc(64);
  (key.length > 64 ? createHash('sha256').update(key).digest() : key).copy(block);
  const pad = (x: number) => Buffer.from(block.map((b) => b ^ x));
  return { inner: `${bind(pad(0x36))}::bytea`, outer: `${bind(pad(0x5c))}::bytea` };
}

/**
 * The people decided one by one (those with a consent directive or restriction) and the
 * obligations everyone else's permit carries; null when that is not one set of obligations the
 * query can carry (the JS scan decides each person instead).
 */
async function decideCandidates(tx: FhirStoreTx, port: SqlScanPort, principal: Principal, kit: SecondaryUseKit, counts: SecondaryUseCounts): Promise<{ obligations: Obligations; excluded: { id: string; reason: 'nationalDataOptOut' | 'restricted' | 'other' }[] } | null> {
  const nobody = await tx.secondaryUseFacts(principal, [{ personId: NOBODY, nhsNumber: null, memberIds: [NOBODY] }], kit.now);
  const base = decide(kit.policy, { action: 'export', principal, purpose: 'secondary-use', facts: nobody.get(NOBODY) ?? null, now: kit.now });
  if (base.kind !== 'permit' || base.obligations.onlyOrganisation !== null) return null;
  const ids = await port.secondaryUseCandidates();
  const persons = await tx.personsById(ids);
  const facts = await tx.secondaryUseFacts(principal, persons.map((p) => ({ personId: p.person_id, nhsNumber: p.nhs_number, memberIds: [p.person_id] })), kit.now);
  const excluded: { id: string; reason: 'nationalDataOptOut' | 'restricted' | 'other' }[] = [];
  for (const p of persons) {
    const f = facts.get(p.person_id) ?? null;
    const d = decide(kit.policy, { action: 'export', principal, purpose: 'secondary-use', facts: f, now: kit.now });
    if (d.kind === 'permit') {
      if (!sameObligations(d.obligations, base.obligations)) return null;
      continue;
    }
    excluded.push({ id: p.person_id, reason: f?.restricted ? 'restricted' : f?.nationalDataOptOut ? 'nationalDataOptOut' : 'other' });
  }
  void counts;
  return { obligations: base.obligations, excluded };
}

/** Text matched literally in a PostgreSQL (ARE) regular expression. */
function regexLiteral(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, (c) => `\\${c}`);
}

function sameObligations(a: Obligations, b: Obligations): boolean {
  return a.onlyOrganisation === b.onlyOrganisation && a.pseudonymise === b.pseudonymise && a.withholdCategories.join('\u0000') === b.withholdCategories.join('\u0000');
}

/** People included and left out (by reason) among those with resources of the type, and their resources, as the JS scan counts them; from the materialisation `read` when given. */
async function countPeople(port: SqlScanPort, req: SecondaryUseRequest, excluded: { id: string; reason: string }[], counts: SecondaryUseCounts, read: MaterialisedRead | null = null): Promise<void> {
  const params: unknown[] = [req.resourceType, excluded.map((e) => e.id), excluded.map((e) => e.reason)];
  let sql: string;
  if (read) {
    const bind = (v: unknown) => `$${params.push(v)}`;
    // Each active person's resources from their pieces; those of people no longer active from resource.
    sql = `SELECT count(*) FILTER (WHERE e.reason IS NULL)::int AS people,
                  COALESCE(sum(g.n) FILTER (WHERE e.reason IS NULL), 0)::bigint AS resources,
                  count(*) FILTER (WHERE e.reason = 'restricted')::int AS restricted,
                  count(*) FILTER (WHERE e.reason = 'nationalDataOptOut')::int AS opt_out,
                  (count(*) FILTER (WHERE e.reason = 'other')
                    + (SELECT count(*) FROM person q WHERE q.status <> 'active'
                          AND EXISTS (SELECT 1 FROM resource r WHERE r.resource_type = $1 AND r.person_id = q.person_id)))::int AS other
             FROM (${read.peopleSql(bind)}) g
             LEFT JOIN unnest($2::uuid[], $3::text[]) e(id, reason) ON e.id = g.person_id`;
  } else {
    const since = req.since ? ` AND r.received_at > $${params.push(req.since)}::timestamptz` : '';
    sql = `SELECT count(*) FILTER (WHERE p.person_id IS NOT NULL AND e.reason IS NULL)::int AS people,
            COALESCE(sum(g.n) FILTER (WHERE p.person_id IS NOT NULL AND e.reason IS NULL), 0)::bigint AS resources,
            count(*) FILTER (WHERE p.person_id IS NOT NULL AND e.reason = 'restricted')::int AS restricted,
            count(*) FILTER (WHERE p.person_id IS NOT NULL AND e.reason = 'nationalDataOptOut')::int AS opt_out,
            count(*) FILTER (WHERE p.person_id IS NULL OR e.reason = 'other')::int AS other
       FROM (SELECT r.person_id, count(*) AS n FROM resource r WHERE r.resource_type = $1 AND r.person_id IS NOT NULL${since} GROUP BY r.person_id) g
       LEFT JOIN person p ON p.person_id = g.person_id AND p.status = 'active'
       LEFT JOIN unnest($2::uuid[], $3::text[]) e(id, reason) ON e.id = g.person_id`;
  }
  const [row] = await port.query<{ people: number; resources: string | number; restricted: number; opt_out: number; other: number }>(sql, params);
  counts.people = row?.people ?? 0;
  counts.resources = Number(row?.resources ?? 0);
  counts.excluded = { nationalDataOptOut: row?.opt_out ?? 0, restricted: row?.restricted ?? 0, other: row?.other ?? 0 };
}
