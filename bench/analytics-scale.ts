/**
 * The risk scoring and the registers at the borough's size (215,000 people), without generating and
 * ingesting 215,000 people: the analytic tables of a loaded store are copied `copies` times into a
 * bench-only schema, each copy of every person under a new person id (md5 of the id and the copy's
 * number), each copied row under a new key, and the risk features, scores and every starter register
 * are run there, over tables exactly as large as the borough's would be.
 *   DATABASE_URL=postgres://…/STORE node --import tsx bench/analytics-scale.ts [--copies 11] [--schema bench_scale] [--source-schema public] [--keep] [--reuse] [--runs 2] [--as-of YYYY-MM-DD] [--view VIEW.json] [--steps score,registers,cohort,view]
 * STORE holds an ingested locality (e.g. 20,000 people: bench/borough.ts with BEVAN_BENCH_KEEP=1, or
 * `bevan ingest`) whose flat tables are current (this refreshes them first) and a fitted model; its
 * tables are in --source-schema (default public; e.g. bench_api_20000_7 for bench/api-load.ts's store,
 * with DATABASE_URL's `options=-c search_path=…` naming it too, for the refresh).
 * Copied: person, source_identity, practice (as is), the flat tables (analytics_encounter,
 * analytics_coded_entry, analytics_person), their watermark, the stored model, the consent directives
 * and restrictions (each copy's people keep their copy's opt-outs), and of `resource` only
 * the Patients and CarePlans (the only resources the features and registers read; the copy's
 * `resource` is therefore smaller than a borough's, which matters only to the freshness probe's
 * index lookups and the care plan criteria's index scans). Every index of the copied tables is built
 * after the rows are in. The schema is dropped at the end unless --keep; --reuse measures an existing one.
 * With --view VIEW.json (a view the store has materialised: bevan view materialise), the materialisation
 * is copied too and the view run as `bevan view run VIEW --user ANALYST` runs it (CSV, counted, not kept).
 * Each register is timed twice: its compiled query alone, and as `bevan cohort run NAME --user ANALYST`
 * runs it (runCohort for an analyst: the access decision, each member's consent and restrictions,
 * the disclosure control and the audit entry, appended to the schema's own audit_log, which starts
 * empty from the store's chain heads; the other tables, e.g. pseudonym_key, are the store's).
 * Honest limits: every copy has the same people's histories, so the distributions are the store's
 * and only the sizes grow; the ranks and tiers of the scores are over 215,000 people as they would be.
 * Prints seconds per step, the server backends' CPU seconds (bench/util.ts serverCpuMeter: from
 * /proc, PostgreSQL on this machine), this process's CPU seconds and the load average.
 * Not for the CLI: `bevan` with DATABASE_URL's search_path at the bench schema first migrates that
 * schema (it has no schema_migration table) and rebuilds its flat tables from its `resource`, which
 * holds only Patients and CarePlans: the copy's encounters and coded entries are gone (drop it and copy again).
 */
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { openPostgres } from '../db/postgres-adapter.ts';
import { oneOffStatements } from '../db/database.ts';
import { scoreRiskPopulation } from '../analytics/risk/model.ts';
import { compileCohort } from '../analytics/cohorts/compile.ts';
import { loadRegisters } from '../analytics/cohorts/registers.ts';
import { runCohort } from '../analytics/cohorts/service.ts';
import { runViewOnStore } from '../analytics/views/run-view.ts';
import { compileView } from '../analytics/views/view-definition.ts';
import type { RequestContext } from '../access/context.ts';
import { ensureFlatTablesCurrent, refreshFlatTables } from '../analytics/flat/refresh.ts';
import { openDatabase } from '../db/open.ts';
import { arg, serverCpuMeter } from './util.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('set DATABASE_URL to a PostgreSQL database holding a loaded store');
const COPIES = Number(arg('copies', '11'));
const SCHEMA = arg('schema', 'bench_scale');
const SOURCE = arg('source-schema', 'public');
const RUNS = Number(arg('runs', '2'));
const AS_OF = arg('as-of', new Date().toISOString().slice(0, 10));
// What to measure: the risk score, the registers' compiled queries, the registers as cohort run runs them, the view (with --view).
const STEPS = new Set(arg('steps', 'score,registers,cohort,view').split(','));
for (const [name, v] of [['schema', SCHEMA], ['source-schema', SOURCE]]) if (!/^[a-z_][a-z0-9_]*$/.test(v!)) throw new Error(`--${name} must be a plain lower-case name, got ${v}`);
if (!Number.isInteger(COPIES) || COPIES < 1) throw new Error('--copies must be a whole number ≥ 1');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

// The server's CPU while a step runs: every backend of the database (parallel workers included) from /proc (bench/util.ts).
const meter = await serverCpuMeter(URL_);

async function timed<T>(label: string, f: () => Promise<T>, say: (r: T) => string = () => ''): Promise<{ result: T; seconds: number; cpu: number }> {
  const t = performance.now();
  const n0 = process.cpuUsage();
  const { result, cpu } = await meter.measure(f);
  const seconds = (performance.now() - t) / 1000;
  const n = process.cpuUsage(n0);
  console.log(`${label}: ${seconds.toFixed(2)} s (server CPU ${cpu.seconds.toFixed(1)} s, node CPU ${((n.user + n.system) / 1e6).toFixed(2)} s)${say(result) ? `; ${say(result)}` : ''}; load ${load()}`);
  return { result, seconds, cpu: cpu.seconds };
}

// The store's own flat tables current first (the copies are of them).
{
  const store = await openDatabase({ databaseUrl: URL_ });
  try {
    const r = await refreshFlatTables(store);
    console.log(`store's flat tables (${r.mode}): ${r.encounters} encounters, ${r.codedEntries} coded entries, ${r.people} people in ${r.seconds.toFixed(2)} s`);
  } finally {
    await store.close();
  }
}

const admin = new pg.Client({ connectionString: URL_ });
await admin.connect();
const TABLES = ['person', 'source_identity', 'practice', 'resource', 'analytics_encounter', 'analytics_coded_entry', 'analytics_person', 'analytics_person_stale', 'analytics_flat_watermark', 'risk_model', 'risk_feature', 'risk_score_run', 'risk_score', 'consent_directive', 'person_restriction', 'source_restriction'];
const VIEW_TABLES = ['analytics_view', 'analytics_view_row', 'analytics_view_stale'];
// A copy's new id for a person id (copy 0 keeps the store's), and a new key for a row.
const pid = (col: string) => `CASE WHEN k = 0 THEN ${col} ELSE md5(${col}::text || ':' || k)::uuid END`;
const key = (col: string) => `CASE WHEN k = 0 THEN ${col} ELSE ${col} || '~' || k END`;
try {
  const exists = (await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [SCHEMA])).rowCount! > 0;
  if (!process.argv.includes('--reuse') || !exists) {
    const t = performance.now();
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    for (const table of TABLES) await admin.query(`CREATE TABLE ${SCHEMA}.${table} (LIKE ${SOURCE}.${table} INCLUDING DEFAULTS INCLUDING GENERATED)`);
    const copies = `generate_series(0, ${COPIES - 1}) AS k`;
    await admin.query(`INSERT INTO ${SCHEMA}.practice SELECT * FROM ${SOURCE}.practice`);
    await admin.query(`INSERT INTO ${SCHEMA}.person (person_id, nhs_number, status, merged_into, created_at, updated_at)
      SELECT ${pid('person_id')}, CASE WHEN k = 0 THEN nhs_number END, status, CASE WHEN merged_into IS NOT NULL THEN ${pid('merged_into')} END, created_at, updated_at FROM ${SOURCE}.person, ${copies}`);
    const siCols = (await admin.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'source_identity' ORDER BY ordinal_position`, [SOURCE])).rows.map((r) => r.c);
    const siSel = siCols.map((c) => (c === 'person_id' ? pid(c) : c === 'source_id' ? key(c) : c === 'nhs_number' ? 'CASE WHEN k = 0 THEN nhs_number END' : c));
    await admin.query(`INSERT INTO ${SCHEMA}.source_identity (${siCols.join(', ')}) SELECT ${siSel.join(', ')} FROM ${SOURCE}.source_identity, ${copies}`);
    const copyTable = async (table: string, where = '') => {
      const cols = (await admin.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $2 AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position`, [table, SOURCE])).rows.map((r) => r.c);
      const sel = cols.map((c) => (c === 'person_id' ? pid(c) : c === 'source_id' ? key(c) : c));
      const n = (await admin.query(`INSERT INTO ${SCHEMA}.${table} (${cols.join(', ')}) SELECT ${sel.join(', ')} FROM ${SOURCE}.${table}, ${copies} ${where}`)).rowCount;
      console.log(`  ${table}: ${n} rows`);
    };
    await copyTable('resource', "WHERE resource_type IN ('Patient', 'CarePlan')");
    await copyTable('analytics_encounter');
    await copyTable('analytics_coded_entry');
    await copyTable('analytics_person');
    await copyTable('consent_directive');
    await copyTable('person_restriction');
    await copyTable('source_restriction');
    await admin.query(`INSERT INTO ${SCHEMA}.analytics_flat_watermark SELECT * FROM ${SOURCE}.analytics_flat_watermark`);
    await admin.query(`INSERT INTO ${SCHEMA}.risk_model SELECT * FROM ${SOURCE}.risk_model`);
    // The store's indexes, built after the rows are in.
    const defs = await admin.query<{ def: string }>(`SELECT indexdef AS def FROM pg_indexes WHERE schemaname = $2 AND tablename = ANY($1::text[])`, [TABLES, SOURCE]);
    for (const { def } of defs.rows) await admin.query(def.replace(` ON ${SOURCE}.`, ` ON ${SCHEMA}.`));
    await admin.query(`ANALYZE ${TABLES.map((t) => `${SCHEMA}.${t}`).join(', ')}`);
    await admin.query(`VACUUM ${SCHEMA}.analytics_encounter, ${SCHEMA}.analytics_coded_entry, ${SCHEMA}.analytics_person`);
    console.log(`copied ${COPIES}× into schema ${SCHEMA} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  // The store's view materialisations (bevan view materialise), copied like the flat tables (each
  // copy's pieces under its people's new ids), when the store has one and the schema not yet.
  const storeViews = (await admin.query(`SELECT 1 FROM ${SOURCE}.analytics_view WHERE broken IS NULL LIMIT 1`)).rowCount! > 0;
  const copiedViews = (await admin.query(`SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'analytics_view_row'`, [SCHEMA])).rowCount! > 0;
  if (storeViews && !copiedViews) {
    const t = performance.now();
    for (const table of VIEW_TABLES) await admin.query(`CREATE TABLE ${SCHEMA}.${table} (LIKE ${SOURCE}.${table} INCLUDING DEFAULTS INCLUDING GENERATED)`);
    await admin.query(`INSERT INTO ${SCHEMA}.analytics_view SELECT * FROM ${SOURCE}.analytics_view`);
    const cols = (await admin.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'analytics_view_row' ORDER BY ordinal_position`, [SOURCE])).rows.map((r) => r.c);
    const n = (await admin.query(`INSERT INTO ${SCHEMA}.analytics_view_row (${cols.join(', ')}) SELECT ${cols.map((c) => (c === 'person_id' ? pid(c) : c)).join(', ')} FROM ${SOURCE}.analytics_view_row, generate_series(0, ${COPIES - 1}) AS k`)).rowCount;
    const defs = await admin.query<{ def: string }>(`SELECT indexdef AS def FROM pg_indexes WHERE schemaname = $2 AND tablename = ANY($1::text[])`, [VIEW_TABLES, SOURCE]);
    for (const { def } of defs.rows) await admin.query(def.replace(` ON ${SOURCE}.`, ` ON ${SCHEMA}.`));
    await admin.query(`VACUUM ANALYZE ${VIEW_TABLES.map((t) => `${SCHEMA}.${t}`).join(', ')}`);
    console.log(`  analytics_view_row: ${n} pieces (copied in ${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }
  // The schema's own audit trail (the chain's heads copied, an empty log), so that the registers' runs
  // append their audit entries here and not to the store's audit_log.
  if ((await admin.query(`SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'audit_log'`, [SCHEMA])).rowCount === 0) {
    await admin.query(`CREATE TABLE ${SCHEMA}.audit_chain (LIKE ${SOURCE}.audit_chain INCLUDING ALL)`);
    await admin.query(`INSERT INTO ${SCHEMA}.audit_chain SELECT * FROM ${SOURCE}.audit_chain`);
    await admin.query(`CREATE SEQUENCE ${SCHEMA}.audit_log_audit_id_seq`);
    await admin.query(`CREATE TABLE ${SCHEMA}.audit_log (LIKE ${SOURCE}.audit_log INCLUDING ALL)`);
    await admin.query(`ALTER TABLE ${SCHEMA}.audit_log ALTER COLUMN audit_id SET DEFAULT nextval('${SCHEMA}.audit_log_audit_id_seq')`);
  }
  const people = await admin.query<{ n: number; e: string; c: string }>(
    `SELECT (SELECT count(*)::int FROM ${SCHEMA}.analytics_person) AS n, (SELECT count(*) FROM ${SCHEMA}.analytics_encounter) AS e, (SELECT count(*) FROM ${SCHEMA}.analytics_coded_entry) AS c`,
  );
  console.log(`schema ${SCHEMA}: ${people.rows[0]!.n} registered people, ${people.rows[0]!.e} encounters, ${people.rows[0]!.c} coded entries; load ${load()}`);
} finally {
  await admin.end();
}

const db = await openPostgres(URL_, { schema: `${SCHEMA},${SOURCE}` });
try {
  const stale = await ensureFlatTablesCurrent(db);
  if (stale) console.log(`(the copy's flat tables were refreshed first: ${stale.mode}, ${stale.seconds.toFixed(2)} s)`);
  for (let i = 0; i < (STEPS.has('score') ? RUNS : 0); i++) {
    const run = await timed(`risk score run ${i + 1} (features + scores, as bevan risk score)`, () => scoreRiskPopulation(db, { asOf: AS_OF }), (r) => `${r.people} people: features ${r.featureSeconds.toFixed(2)} s, scores ${r.scoreSeconds.toFixed(2)} s`);
    void run;
  }
  const registers = loadRegisters();
  const resolve = (name: string) => registers.get(name);
  for (const def of STEPS.has('registers') ? registers.values() : []) {
    const compiled = compileCohort(def, { asOf: AS_OF, resolve });
    const times: number[] = [];
    const cpu: string[] = [];
    let count = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const m = await meter.measure(() =>
        db.transaction(async (tx) => {
          await oneOffStatements(tx);
          await ensureFlatTablesCurrent(tx);
          count = (await tx.query(compiled.sql, compiled.params)).rowCount;
        }),
      );
      times.push((performance.now() - t) / 1000);
      cpu.push(m.cpu.seconds.toFixed(2));
    }
    console.log(`register ${def.name}: ${count} people, ${times.map((s) => s.toFixed(2)).join(' / ')} s (server CPU ${cpu.join(' / ')} s); load ${load()}`);
  }
  // The same registers as `bevan cohort run NAME --user ANALYST` runs them (runCohort, output count):
  // an analyst's secondary use, every member decided by the policy on their consent and restrictions.
  const ctx: RequestContext = { principal: { user: 'bench-analyst', role: 'analyst', organisation: null }, purpose: 'secondary-use', db, from: 'bench' };
  for (const def of STEPS.has('cohort') ? registers.values() : []) {
    const times: string[] = [];
    const cpu: string[] = [];
    const node: string[] = [];
    let said = '';
    for (let i = 0; i < RUNS; i++) {
      const n0 = process.cpuUsage();
      const t = performance.now();
      const { result: r, cpu: server } = await meter.measure(() => runCohort(ctx, def, { output: 'count', asOf: AS_OF, resolve }));
      times.push(((performance.now() - t) / 1000).toFixed(2));
      const n = process.cpuUsage(n0);
      node.push(((n.user + n.system) / 1e6).toFixed(2));
      cpu.push(server.seconds.toFixed(2));
      said = `count ${r.count ?? 'suppressed'}, withheld opted out ${r.withheld.optedOut ?? 'suppressed'}`;
    }
    console.log(`cohort run ${def.name}: ${said}; ${times.join(' / ')} s (node CPU ${node.join(' / ')} s, server CPU ${cpu.join(' / ')} s); load ${load()}`);
  }
  // A SQL-on-FHIR view as `bevan view run VIEW --user ANALYST` runs it (CSV over the store, read from the copied materialisation).
  const viewFile = arg('view', '');
  if (viewFile && STEPS.has('view')) {
    const view = compileView(JSON.parse(readFileSync(viewFile, 'utf8')));
    for (let i = 0; i < RUNS; i++) {
      const n0 = process.cpuUsage();
      const t = performance.now();
      let bytes = 0;
      const { result: r, cpu: server } = await meter.measure(() => runViewOnStore(ctx, view, (chunk) => void (bytes += Buffer.byteLength(chunk)), { format: 'csv' }));
      const seconds = (performance.now() - t) / 1000;
      const n = process.cpuUsage(n0);
      const cpu = server.seconds;
      console.log(`view ${view.name ?? viewFile} run ${i + 1}: ${r.rows} rows of ${r.resources} resources (${(bytes / 1e6).toFixed(0)} MB CSV, materialised ${r.store?.materialised === true}), ${seconds.toFixed(2)} s (node CPU ${((n.user + n.system) / 1e6).toFixed(2)} s, server CPU ${cpu.toFixed(1)} s); load ${load()}`);
    }
  }
} finally {
  await db.close();
  await meter.close();
  if (!process.argv.includes('--keep')) {
    const c = new pg.Client({ connectionString: URL_ });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await c.end();
  }
}
