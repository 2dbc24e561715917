/**
 * Materialised views (issue 12: "analytics SQL … over flat tables or views that it owns, for
 * instance materialised SQL-on-FHIR views refreshed after each load"; migration 0071,
 * docs/analytics/views.md "Materialised views").
 *
 * `bevan view materialise VIEW.json` runs a view compiled to SQL over every resource of its type
 * once (fhir/secondary-use-sql.ts materialiseQuery: the resources as the run over the store
 * presents them), gives each row the JS runner's checks and its CSV text here, and keeps the text
 * per person in `analytics_view_row`: one piece for the person's resources in no sensitive
 * category, one piece for each resource in one, with its categories. The person's Patient key in
 * the text is a marker (U+0001), another Patient key U+0002 with its value beside the text.
 *
 * A run of the same view over the store (CSV, no `since`, no limit) whose own query has the same
 * fingerprint and finds the materialisation up to date reads those pieces instead of the view's
 * SQL over every resource's JSON: the access policy is applied then, as for any run (the
 * repository's gate, the people refused left out, the withheld categories' pieces counted and
 * left out, the Patient keys pseudonymised in the query with the run's key, one audit entry).
 *
 * Kept up to date incrementally, like the flat tables (analytics/flat/refresh.ts, whose watermark
 * it shares the reasoning of): before a run, and by `bevan analytics refresh` after each load, the
 * people with a resource of the type received since the watermark, an identity or person record
 * updated since (merges, unmerges), or a resource moved to or from them (migration 0071's trigger)
 * have their pieces made again. A materialisation whose fingerprint no longer matches (the policy's
 * code lists, the reference data, the compiler changed) is made again whole. The data breaking the
 * view (a column with several values) marks it broken: runs then go the usual way and fail there
 * as before.
 */
import { nextWatermark } from '../flat/refresh.ts';
import { BevanError, invalid } from '../../access/context.ts';
import { currentPolicy, type Policy } from '../../access/policy.ts';
import { CopyChunks } from '../../db/copy.ts';
import { oneOffStatements, type Database, type Queryable } from '../../db/database.ts';
import { materialiseQuery, type MaterialisedRead, type MaterialisedRow, type SqlViewPlan } from '../../fhir/secondary-use-sql.ts';
import { csvField, type RowWriter } from './output.ts';
import { compileViewToSql, finishSqlRow, type SqlColumnShape } from './sql-view.ts';
import { compileView, type CompiledView } from './view-definition.ts';

export interface MaterialiseResult {
  name: string | null;
  fingerprint: string;
  /** current: nothing to do; broken: left as it is (bevan view materialise makes it again). */
  mode: 'full' | 'incremental' | 'current' | 'broken';
  /** People whose pieces were made (again). */
  people: number;
  rows: number;
  broken: string | null;
  seconds: number;
}

const PERSON_MARK = '\u0001';
const OTHER_MARK = '\u0002';
const FETCH = 2000;
const WRITE = 2000;

/** The build side of a plan: the view compiled for the store (its columns kept for the rows). */
function planOf(view: CompiledView): { plan: Pick<SqlViewPlan, 'build'>; columns: () => SqlColumnShape[] } {
  let columns: SqlColumnShape[] = [];
  return {
    plan: {
      build(source, bind) {
        const r = compileViewToSql(view, source, bind);
        if (r.kind !== 'sql') return null;
        columns = r.view.columns;
        return r.view;
      },
    },
    columns: () => columns,
  };
}

/** Materialises a view (made whole; a materialisation of an earlier version of the same definition is replaced). */
export async function materialiseView(db: Database, view: CompiledView, policy: Policy | null = currentPolicy()): Promise<MaterialiseResult> {
  const { plan } = planOf(view);
  const q = materialiseQuery(plan, policy, view.resource, true);
  if (!q) throw invalid(`the view does not run in SQL over the store (pseudonymised), so it cannot be materialised: bevan view check says why`);
  return db.transaction(async (tx) => {
    await tx.query('LOCK TABLE analytics_view IN SHARE ROW EXCLUSIVE MODE');
    await tx.query('DELETE FROM analytics_view_row WHERE fingerprint IN (SELECT fingerprint FROM analytics_view WHERE definition = $1::jsonb)', [JSON.stringify(view.definition)]);
    await tx.query('DELETE FROM analytics_view WHERE definition = $1::jsonb', [JSON.stringify(view.definition)]);
    return build(tx, view, policy, null, null);
  });
}

/**
 * Fills (full: persons null) or makes again the pieces of these people, and records the watermark.
 * In the caller's transaction, which holds the lock on analytics_view.
 */
async function build(tx: Queryable, view: CompiledView, policy: Policy | null, persons: string[] | null, previous: { fingerprint: string } | null): Promise<MaterialiseResult> {
  const t0 = performance.now();
  const receivedBefore = await nextWatermark(tx);
  const { plan, columns } = planOf(view);
  const q = materialiseQuery(plan, policy, view.resource, true, persons ?? undefined);
  if (!q) throw invalid('the view no longer runs in SQL over the store, so it cannot be materialised');
  const name = view.name ?? view.definition.url ?? null;
  if (previous && previous.fingerprint !== q.fingerprint) persons = null;
  const full = persons === null;
  if (full) {
    if (previous) await tx.query('DELETE FROM analytics_view_row WHERE fingerprint = $1', [previous.fingerprint]);
    await tx.query('DELETE FROM analytics_view WHERE fingerprint = $1', [q.fingerprint]);
    await tx.query('DELETE FROM analytics_view_row WHERE fingerprint = $1', [q.fingerprint]);
  } else await tx.query('DELETE FROM analytics_view_row WHERE fingerprint = $1 AND person_id = ANY($2::uuid[])', [q.fingerprint, persons]);
  const cols = columns();
  let broken: string | null = cols.some((c) => c.patientKey && c.shape === 'collection') ? 'a collection of Patient keys is not materialised' : null;
  let rows = 0;
  let people = 0;
  if (!broken) {
    await oneOffStatements(tx);
    const pieces = new Pieces(tx, q.fingerprint);
    const label = `a ${view.resource} (run in SQL)`;
    let person: string | null = null;
    let clean = '';
    let cleanResources = 0;
    let cleanRows = 0;
    let cleanKeys: string[] = [];
    let resource: string | null = null;
    let resCats: string[] = [];
    let resText = '';
    let resRows = 0;
    let resKeys: string[] = [];
    const endResource = async () => {
      if (resource === null) return;
      if (resCats.length) await pieces.add(person!, resCats, 1, resRows, resText, resKeys);
      else {
        clean += resText;
        cleanResources++;
        cleanRows += resRows;
        cleanKeys.push(...resKeys);
      }
      resource = null;
    };
    const endPerson = async () => {
      await endResource();
      if (person !== null && cleanResources) await pieces.add(person, [], cleanResources, cleanRows, clean, cleanKeys);
      clean = '';
      cleanResources = cleanRows = 0;
      cleanKeys = [];
    };
    try {
      await cursor<{ person_id: string; source_system: string; source_id: string; categories: string[]; r: string | null }>(tx, q.sql, q.params, async (batch) => {
        for (const x of batch) {
          if (x.person_id !== person) {
            await endPerson();
            person = x.person_id;
            people++;
          }
          const key = `${x.source_system}\u0000${x.source_id}`;
          if (key !== resource) {
            await endResource();
            resource = key;
            resCats = x.categories;
            resText = '';
            resRows = 0;
            resKeys = [];
          }
          if (x.r === null) continue;
          resText += csvLine(cols, finishSqlRow(cols, JSON.parse(x.r) as unknown[], null, label), person!, resKeys);
          resRows++;
          rows++;
        }
      });
      await endPerson();
      await pieces.flush();
    } catch (err) {
      if (!((err instanceof BevanError && err.kind === 'unprocessable') || err instanceof NotMaterialised)) throw err;
      // The data break the view (or hold a marker): runs go the usual way, and fail there as before.
      broken = err.message;
      await tx.query('DELETE FROM analytics_view_row WHERE fingerprint = $1', [q.fingerprint]);
    }
  }
  // A whole materialisation's rows statistics now, not at autovacuum's next pass: the first run's
  // plan over them (materialisedReader) is made from these.
  if (full && !broken) await tx.query('ANALYZE analytics_view_row');
  const totals = await tx.query<{ people: string; rows: string }>('SELECT count(DISTINCT person_id)::text AS people, COALESCE(sum(rows), 0)::text AS rows FROM analytics_view_row WHERE fingerprint = $1', [q.fingerprint]);
  await tx.query(
    `INSERT INTO analytics_view (fingerprint, name, resource_type, definition, received_before, refreshed_at, people, rows, broken)
     VALUES ($1, $2, $3, $4::jsonb, $5::timestamptz, now(), $6, $7, $8)
     ON CONFLICT (fingerprint) DO UPDATE SET received_before = EXCLUDED.received_before, refreshed_at = EXCLUDED.refreshed_at, people = EXCLUDED.people, rows = EXCLUDED.rows, broken = EXCLUDED.broken`,
    [q.fingerprint, name, view.resource, JSON.stringify(view.definition), receivedBefore, Number(totals.rows[0]!.people), Number(totals.rows[0]!.rows), broken],
  );
  return { name, fingerprint: q.fingerprint, mode: full ? 'full' : 'incremental', people, rows, broken, seconds: (performance.now() - t0) / 1000 };
}

class NotMaterialised extends Error {}

/** One row's CSV line (output.ts's), the person's Patient key as a marker, another Patient key as a marker and its value in `keys`. */
function csvLine(columns: readonly SqlColumnShape[], row: unknown[], person: string, keys: string[]): string {
  let line = '';
  for (let i = 0; i < columns.length; i++) {
    const v = row[i];
    let f: string;
    if (columns[i]!.patientKey && typeof v === 'string') {
      if (v === person) f = PERSON_MARK;
      else {
        keys.push(v);
        f = OTHER_MARK;
      }
    } else {
      f = csvField(v);
      if (f.includes(PERSON_MARK) || f.includes(OTHER_MARK)) throw new NotMaterialised('a value holds U+0001 or U+0002 (the markers of a materialisation)');
    }
    line += i ? ',' + f : f;
  }
  return line + '\r\n';
}

/** Pieces written in batches (COPY where the database has it). */
class Pieces {
  private copy = new CopyChunks();
  private readonly rows: unknown[][] = [];
  constructor(
    private readonly tx: Queryable,
    private readonly fingerprint: string,
  ) {}
  async add(person: string, categories: string[], resources: number, rows: number, csv: string, keys: string[]): Promise<void> {
    const k = keys.length ? keys : null;
    if (this.tx.copyFrom) this.copy.row([this.fingerprint, person, pgArray(categories), String(resources), String(rows), csv, k ? pgArray(k) : null]);
    else this.rows.push([person, categories, resources, rows, csv, k]);
    if (this.copy.rows + this.rows.length >= WRITE) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.copy.rows) {
      await this.tx.copyFrom!('analytics_view_row', ['fingerprint', 'person_id', 'categories', 'resources', 'rows', 'csv', 'other_keys'], this.copy);
      this.copy = new CopyChunks();
    }
    if (this.rows.length) {
      for (const [person, categories, resources, rows, csv, k] of this.rows.splice(0)) {
        await this.tx.query('INSERT INTO analytics_view_row (fingerprint, person_id, categories, resources, rows, csv, other_keys) VALUES ($1, $2::uuid, $3::text[], $4, $5, $6, $7::text[])', [this.fingerprint, person, categories, resources, rows, csv, k]);
      }
    }
  }
}

/** A text[] literal (COPY's text format then escapes it as any field). */
function pgArray(xs: readonly string[]): string {
  return `{${xs.map((x) => `"${x.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/** A server-side cursor in the transaction. */
async function cursor<R>(tx: Queryable, sql: string, params: readonly unknown[], sink: (rows: R[]) => Promise<void>): Promise<void> {
  await tx.query(`DECLARE view_materialise NO SCROLL CURSOR FOR ${sql}`, params);
  try {
    for (;;) {
      const r = await tx.query<R>(`FETCH ${FETCH} FROM view_materialise`);
      if (r.rows.length) await sink(r.rows);
      if (r.rows.length < FETCH) break;
    }
  } finally {
    await tx.query('CLOSE view_materialise').catch(() => undefined);
  }
}

/** Whether anything a materialisation reads may have changed since its watermark (one index probe each): the refresh's test. */
const STALE = staleSince('v.received_before');
/**
 * The run's test, in its transaction, just after the refresh it asked for: anything written by a
 * transaction that began after that refresh began (its now()). What a transaction already open then
 * commits later is caught by the next refresh (the watermark stays before it), as a run over the
 * JSON started a moment earlier would not have seen it either.
 */
const CHANGED_SINCE_REFRESH = staleSince('v.refreshed_at');
function staleSince(instant: string): string {
  return `COALESCE(GREATEST((SELECT max(received_at) FROM resource), (SELECT max(updated_at) FROM source_identity), (SELECT max(updated_at) FROM person)) >= ${instant}, false)
  OR EXISTS (SELECT 1 FROM analytics_view_stale)`;
}

/**
 * Brings materialisations up to date (those of this definition, or all): the people changed since
 * each one's watermark made again, or the whole when its fingerprint changed. One transaction.
 */
export async function refreshMaterialisedViews(db: Database, only?: CompiledView, policy: Policy | null = currentPolicy()): Promise<MaterialiseResult[]> {
  const probe = await db.query<{ fingerprint: string; stale: boolean }>(
    `SELECT v.fingerprint, ${STALE} AS stale FROM analytics_view v${only ? ' WHERE v.definition = $1::jsonb' : ''}`,
    only ? [JSON.stringify(only.definition)] : [],
  );
  if (!probe.rows.length) return [];
  return db.transaction(async (tx) => {
    await tx.query('LOCK TABLE analytics_view IN SHARE ROW EXCLUSIVE MODE');
    const views = await tx.query<{ fingerprint: string; definition: unknown; received_before: string; stale: boolean; name: string | null; broken: string | null }>(
      `SELECT v.fingerprint, v.definition, v.name, v.broken, to_char(v.received_before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS received_before, ${STALE} AS stale
         FROM analytics_view v${only ? ' WHERE v.definition = $1::jsonb' : ''}`,
      only ? [JSON.stringify(only.definition)] : [],
    );
    const queued = (await tx.query<{ person_id: string }>('SELECT person_id::text FROM analytics_view_stale')).rows.map((r) => r.person_id);
    const out: MaterialiseResult[] = [];
    for (const v of views.rows) {
      if (v.broken !== null) {
        // Its rows were removed when it broke: only a whole materialisation (bevan view materialise) mends it.
        out.push({ name: v.name, fingerprint: v.fingerprint, mode: 'broken', people: 0, rows: 0, broken: v.broken, seconds: 0 });
        continue;
      }
      const view = compileView(v.definition);
      const { plan } = planOf(view);
      const q = materialiseQuery(plan, policy, view.resource, true);
      if (!v.stale && q?.fingerprint === v.fingerprint) {
        out.push({ name: v.name, fingerprint: v.fingerprint, mode: 'current', people: 0, rows: 0, broken: null, seconds: 0 });
        continue;
      }
      const changed = await tx.query<{ person_id: string }>(
        `SELECT r.person_id::text FROM resource r WHERE r.received_at >= $1::timestamptz AND r.resource_type = $2 AND r.person_id IS NOT NULL
         UNION SELECT s.person_id::text FROM source_identity s WHERE s.updated_at >= $1::timestamptz AND s.person_id IS NOT NULL
         UNION SELECT p.person_id::text FROM person p WHERE p.updated_at >= $1::timestamptz
         UNION SELECT unnest($3::uuid[])::text`,
        [v.received_before, view.resource, queued],
      );
      out.push(await build(tx, view, policy, changed.rows.map((r) => r.person_id), { fingerprint: v.fingerprint }));
    }
    if (queued.length) await tx.query('DELETE FROM analytics_view_stale WHERE person_id = ANY($1::uuid[])', [queued]);
    return out;
  });
}

/** The materialisations, for `bevan view materialise --list`. */
export async function listMaterialisedViews(db: Queryable): Promise<{ name: string | null; fingerprint: string; resource_type: string; people: number; rows: number; refreshed_at: string; broken: string | null }[]> {
  return (
    await db.query<{ name: string | null; fingerprint: string; resource_type: string; people: number; rows: number; refreshed_at: string; broken: string | null }>(
      `SELECT name, fingerprint, resource_type, people::int AS people, rows::int AS rows, to_char(refreshed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS refreshed_at, broken FROM analytics_view ORDER BY name, fingerprint`,
    )
  ).rows;
}

/** Drops a view's materialisations (runs then go the usual way). */
export async function dropMaterialisedView(db: Database, view: CompiledView): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query('DELETE FROM analytics_view_row WHERE fingerprint IN (SELECT fingerprint FROM analytics_view WHERE definition = $1::jsonb)', [JSON.stringify(view.definition)]);
    return (await tx.query('DELETE FROM analytics_view WHERE definition = $1::jsonb', [JSON.stringify(view.definition)])).rowCount;
  });
}

/**
 * The plan's side for a run (run-view.ts): the materialisation of this fingerprint when it is up to
 * date and not broken, read as pieces of CSV text into the writer.
 */
export function materialisedReader(writer: RowWriter): NonNullable<SqlViewPlan['materialised']> {
  return async (fingerprint, query) => {
    const [v] = await query<{ broken: string | null; stale: boolean }>(`SELECT v.broken, ${CHANGED_SINCE_REFRESH} AS stale FROM analytics_view v WHERE v.fingerprint = $1`, [fingerprint]);
    if (!v || v.broken !== null || v.stale) return null;
    const read: MaterialisedRead = {
      sql(p, bind) {
        const key = p.hmac ? `substr(encode(sha256(${p.hmac.outer} || sha256(${p.hmac.inner} || convert_to(m.person_id::text, 'UTF8'))), 'hex'), 1, 32)` : 'm.person_id::text';
        const w = `m.categories && ${p.withhold}::text[]`;
        // The people refused as a hashed subplan (a hash probe per piece): NOT EXISTS over the
        // unnested array was planned as a nested loop over a just-filled table's underestimate,
        // every piece compared with every person opted out (5,000 × 200,000 at 215,000 people).
        return `SELECT CASE WHEN ${w} THEN NULL ELSE replace(m.csv, E'\\x01', ${key}) END AS t, CASE WHEN ${w} THEN NULL ELSE m.other_keys END AS k, m.resources AS n, m.rows
                  FROM analytics_view_row m JOIN person p ON p.person_id = m.person_id AND p.status = 'active'
                 WHERE m.fingerprint = ${bind(fingerprint)} AND m.person_id BETWEEN ${p.range[0]}::uuid AND ${p.range[1]}::uuid
                   AND m.person_id NOT IN (SELECT unnest(${p.excluded}::uuid[]))`;
      },
      peopleSql(bind) {
        return `SELECT m.person_id, sum(m.resources) AS n FROM analytics_view_row m JOIN person p ON p.person_id = m.person_id AND p.status = 'active'
                 WHERE m.fingerprint = ${bind(fingerprint)} GROUP BY m.person_id`;
      },
      async text(rows: MaterialisedRow[], pseudonym) {
        for (const x of rows) {
          if (x.t === null) continue;
          if (!x.k) await writer.text(x.t, x.rows);
          else {
            const parts = x.t.split(OTHER_MARK);
            let s = parts[0]!;
            for (let i = 1; i < parts.length; i++) {
              const k = x.k[i - 1]!;
              s += (pseudonym ? pseudonym(k) : csvField(k)) + parts[i];
            }
            await writer.text(s, x.rows);
          }
        }
        return true;
      },
    };
    return read;
  };
}
