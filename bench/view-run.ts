/**
 * A SQL-on-FHIR view over every Observation in the store, as an analyst (secondary use:
 * policy gate, each person decided, pseudonymised, one audit entry), CSV to a sink that only
 * counts bytes.
 *   node --import tsx bench/view-run.ts [--people 20000] [--per-person 20] [--db postgres] [--view observations] [--page 2000] [--engine auto|js]
 *                                       [--schema NAME [--reuse] [--keep]] [--materialise]
 * `--materialise` materialises the view first (`bevan view materialise`, analytics/views/materialised.ts:
 * timed, with its CPU) so that the run reads it; a schema kept with `--keep` keeps the materialisation,
 * and later `--reuse` runs read it (a run brings it up to date first, and finds it current).
 * `--digest` also prints a digest of the output's lines that does not depend on their order (the sum of
 * each line's SHA-1, first 52 bits), so that two runs (materialised or not) can be compared row for row;
 * it costs this process CPU, so time runs without it.
 * `--schema NAME` fills (or with `--reuse` reads, unfilled) that schema on the server instead of a fresh one
 * and `--keep` leaves it there, so that a store of the borough's ~4 M Observations
 * (`--people 200000 --per-person 20`, filled in pieces of 10,000 people) is filled once and measured
 * several times, before and after a change.
 * `--engine auto` (the default) runs the view in SQL where it compiles (analytics/views/sql-view.ts),
 * `js` with the JS runner over keyset pages. Besides wall time it prints CPU seconds: this process's
 * (process.cpuUsage) and, on the PostgreSQL server, the database backends' that ran the scan
 * (read from /proc for the backends pg_stat_activity shows running it), which load on a shared
 * machine changes less than wall time.
 * The store is filled in SQL (generate_series): `people` persons, each with a GP identity and
 * `per-person` Observations shaped like the generator's (laboratory results with a coding,
 * value, unit, reference range; every tenth a blood pressure with two components). Prints the
 * load time, then rows, resources, seconds, resources per second and the process's peak RSS,
 * and what that rate means for the borough's ~4 M Observations.
 */
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { join } from 'node:path';
import type { RequestContext } from '../access/context.ts';
import { runViewOnStore } from '../analytics/views/run-view.ts';
import { compileView } from '../analytics/views/view-definition.ts';
import { materialiseView } from '../analytics/views/materialised.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { migrate } from '../db/migrator.ts';
import { arg, freshDatabase, PG_URL, rssMiB, procCpu } from './util.ts';

const PEOPLE = Number(arg('people', '20000'));
const PER = Number(arg('per-person', '20'));
const KIND = arg('db', 'postgres') as 'pglite' | 'postgres';
const VIEW = arg('view', 'observations');
const PAGE = Number(arg('page', '2000'));
const ENGINE = arg('engine', 'auto') as 'auto' | 'js';
const SCHEMA = arg('schema', '');
const REUSE = process.argv.includes('--reuse');
const KEEP = process.argv.includes('--keep');
const MATERIALISE = process.argv.includes('--materialise');
const DIGEST = process.argv.includes('--digest');
if (SCHEMA && !/^[a-z_][a-z0-9_]*$/.test(SCHEMA)) throw new Error(`--schema must be a plain lower-case name, got ${SCHEMA}`);
if (SCHEMA && KIND !== 'postgres') throw new Error('--schema is for the PostgreSQL server');

/** The named schema on the server (made and migrated unless --reuse), dropped at the end unless --keep. */
async function namedSchema(): Promise<Awaited<ReturnType<typeof freshDatabase>>> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  if (!REUSE) await admin.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
  await admin.end();
  const db = await openPostgres(PG_URL, { schema: SCHEMA });
  // Migrated on reuse too: a store filled before a migration gets its tables (migrations are idempotent).
  await migrate(db);
  return Object.assign(db, {
    schema: SCHEMA,
    async drop() {
      await db.close();
      if (KEEP) return;
      const a = new pg.Client({ connectionString: PG_URL });
      await a.connect();
      await a.query(`DROP SCHEMA ${SCHEMA} CASCADE`);
      await a.end();
    },
  });
}

/** CPU seconds of the server backends running the scan, sampled from /proc while it runs (PostgreSQL on this machine only). */
async function backendCpu(): Promise<{ stop(): Promise<number | null> }> {
  if (KIND !== 'postgres') return { stop: async () => null };
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let failed = false;
  // CPU ticks (1/100 s) of a backend, from bench/util.ts's /proc reader.
  const ticks = (pid: number): number | null => {
    const seconds = procCpu(pid);
    return seconds === null ? null : Math.round(seconds * 100);
  };
  const sample = async () => {
    try {
      const r = await c.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND (query LIKE '%view_scan%' OR query LIKE '%view_materialise%' OR query LIKE '%analytics_view_row%' OR query LIKE '%e.reason IS NULL%' OR query LIKE '%ORDER BY r.person_id, r.source_system, r.source_id%')`,
      );
      for (const { pid } of r.rows) {
        const t = ticks(pid);
        if (t === null) continue;
        if (!first.has(pid)) first.set(pid, t);
        last.set(pid, t);
      }
    } catch {
      failed = true;
    }
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void sample().finally(() => (busy = false));
  }, 100);
  return {
    async stop() {
      clearInterval(timer);
      await sample();
      await c.end();
      if (failed || !first.size) return null;
      let sum = 0;
      for (const [pid, t0] of first) sum += (last.get(pid) ?? t0) - t0;
      return sum / 100;
    },
  };
}

/** The store: PEOPLE persons with a GP identity and PER Observations each, in pieces of 10,000 people. */
async function fill(): Promise<void> {
  const t = performance.now();
  for (let from = 1; from <= PEOPLE; from += 10000) {
    const to = Math.min(PEOPLE, from + 9999);
    await db.query(
      `INSERT INTO person (person_id, nhs_number)
       SELECT md5('person' || i)::uuid, NULL FROM generate_series($1::int, $2::int) AS i`,
      [from, to],
    );
    await db.query(
      `INSERT INTO source_identity (source_system, source_id, person_id, family, given, birth_date, sex, postcode, practice, link_method, match_status, shard_key)
       SELECT 'gp:P91001', 'pat-' || i, md5('person' || i)::uuid, 'Family' || i, 'Given', DATE '1950-01-01' + (i % 20000), CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END, 'M33 2AB', 'P91001', 'nhs-number', 'MATCH', shard_key_of('gp:P91001', 'pat-' || i)
         FROM generate_series($1::int, $2::int) AS i`,
      [from, to],
    );
    await db.query(
      `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, version, source_time, received_at, content_hash, shard_key, content)
       SELECT 'gp:P91001', 'Observation', 'obs-' || p || '-' || k, md5('person' || p)::uuid, 'pat-' || p, 1, now(), now(), 'h', shard_key_of('gp:P91001', 'pat-' || p),
              CASE WHEN k % 10 = 0 THEN jsonb_build_object(
                'resourceType', 'Observation', 'id', 'obs-' || p || '-' || k, 'status', 'final',
                'category', jsonb_build_array(jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/observation-category', 'code', 'vital-signs')))),
                'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://snomed.info/sct', 'code', '75367002', 'display', 'Blood pressure'))),
                'subject', jsonb_build_object('reference', 'Patient/pat-' || p),
                'effectiveDateTime', to_char(TIMESTAMP '2015-01-01' + k * INTERVAL '40 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'component', jsonb_build_array(
                  jsonb_build_object('code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://snomed.info/sct', 'code', '271649006', 'display', 'Systolic blood pressure'))), 'valueQuantity', jsonb_build_object('value', 120 + k % 40, 'unit', 'mmHg', 'system', 'http://unitsofmeasure.org', 'code', 'mm[Hg]')),
                  jsonb_build_object('code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://snomed.info/sct', 'code', '271650006', 'display', 'Diastolic blood pressure'))), 'valueQuantity', jsonb_build_object('value', 70 + k % 20, 'unit', 'mmHg', 'system', 'http://unitsofmeasure.org', 'code', 'mm[Hg]'))))
              ELSE jsonb_build_object(
                'resourceType', 'Observation', 'id', 'obs-' || p || '-' || k, 'status', 'final',
                'category', jsonb_build_array(jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://terminology.hl7.org/CodeSystem/observation-category', 'code', 'laboratory')))),
                'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://snomed.info/sct', 'code', '1107481000000106', 'display', 'HbA1c level'))),
                'subject', jsonb_build_object('reference', 'Patient/pat-' || p),
                'effectiveDateTime', to_char(TIMESTAMP '2015-01-01' + k * INTERVAL '40 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'valueQuantity', jsonb_build_object('value', 40 + (p + k) % 50, 'unit', 'mmol/mol', 'system', 'http://unitsofmeasure.org', 'code', 'mmol/mol'),
                'referenceRange', jsonb_build_array(jsonb_build_object('low', jsonb_build_object('value', 20), 'high', jsonb_build_object('value', 42), 'text', '20-42')))
              END
         FROM generate_series($1::int, $2::int) AS p, generate_series(1, $3::int) AS k`,
      [from, to, PER],
    );
  }
  await db.query('ANALYZE resource');
  await db.query('ANALYZE person');
  console.log(`${KIND}: loaded ${PEOPLE} people, ${PEOPLE * PER} Observations in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

const db = SCHEMA ? await namedSchema() : await freshDatabase(KIND);
try {
  let t = performance.now();
  if (!REUSE) await fill();
  else console.log(`reusing schema ${SCHEMA}: ${(await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM resource WHERE resource_type = 'Observation'`)).rows[0]!.n} Observations`);

  const view = compileView(JSON.parse(readFileSync(join(import.meta.dirname, '..', 'analytics', 'views', 'examples', `${VIEW}.json`), 'utf8')));
  if (MATERIALISE) {
    // bevan view materialise: the view's rows kept per person (analytics/views/materialised.ts), once per store; runs then read them.
    const mCpu = await backendCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const m = await materialiseView(db, view);
    const c = process.cpuUsage(c0);
    const dbCpu = await mCpu.stop();
    console.log(`materialised ${m.name}: ${m.rows} rows of ${m.people} people in ${((performance.now() - t0) / 1000).toFixed(1)} s; CPU: this process ${((c.user + c.system) / 1e6).toFixed(1)} s${dbCpu !== null ? `, database backends ${dbCpu.toFixed(1)} s` : ''}${m.broken ? `; broken: ${m.broken}` : ''}`);
  }
  const ctx: RequestContext = { principal: { user: 'bench-analyst', role: 'analyst', organisation: null }, purpose: 'secondary-use', db, from: 'bench' };
  let bytes = 0;
  let peak = rssMiB();
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB())), 200);
  const pgCpu = await backendCpu();
  const cpu0 = process.cpuUsage();
  t = performance.now();
  let digest = 0n;
  let rest = '';
  const lines = (chunk: string) => {
    const parts = (rest + chunk).split('\r\n');
    rest = parts.pop()!;
    for (const l of parts) digest = (digest + BigInt('0x' + createHash('sha1').update(l).digest('hex').slice(0, 13))) % (1n << 64n);
  };
  const result = await runViewOnStore(ctx, view, (chunk) => void ((bytes += chunk.length), DIGEST && lines(chunk)), { format: 'csv', pageSize: PAGE, engine: ENGINE });
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const nodeCpu = (cpu.user + cpu.system) / 1e6;
  const serverCpu = await pgCpu.stop();
  clearInterval(timer);
  peak = Math.max(peak, rssMiB());
  const perSecond = result.resources / seconds;
  console.log(
    `${VIEW} view, CSV: ${result.rows} rows from ${result.resources} resources (${result.store?.people} people) in ${seconds.toFixed(1)} s: ${Math.round(perSecond)} resources/s, ${Math.round(bytes / 1048576)} MiB out, peak RSS ${peak} MiB`,
  );
  console.log(`engine ${result.store?.engine}${result.store?.materialised ? ' (materialised)' : ''}; ${Math.round(result.rows / seconds)} rows/s; CPU: this process ${nodeCpu.toFixed(1)} s (${Math.round(result.resources / nodeCpu)} resources per CPU-second)${serverCpu !== null ? `, database backends ${serverCpu.toFixed(1)} s; together ${Math.round(result.resources / (nodeCpu + serverCpu))} resources per CPU-second` : ''}`);
  if (DIGEST) console.log(`digest of the ${result.rows} lines (any order): ${digest.toString(16)}${rest ? ` (an unterminated last line: ${rest.length} characters)` : ''}`);
  console.log(`at this rate 4,000,000 Observations take ${Math.round(4_000_000 / perSecond)} s (wall, on this machine's load: ${(await import('node:os')).loadavg()[0]!.toFixed(1)})${serverCpu !== null ? `; ${Math.round((4_000_000 / result.resources) * (nodeCpu + serverCpu))} CPU-seconds` : ''}`);
} finally {
  await db.drop();
}
