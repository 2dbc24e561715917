/**
 * `bevan view run VIEW.json`: a SQL-on-FHIR v2 ViewDefinition as a table on stdout (CSV, NDJSON
 * or JSON), written as rows are produced. With `--input FILE` over the resources in a FHIR
 * Bundle or NDJSON file (no database, no user); without it over the store, which is secondary
 * use of personal data: it names its user, goes through the access policy and is audited.
 * `bevan view check VIEW.json` says whether a view is valid and lists its columns. The command
 * only translates: the use case is analytics/views/run-view.ts.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { invalid, notFound, type RequestContext } from '../../access/context.ts';
import { resourcesFromFile } from '../../analytics/views/input.ts';
import { parseKeepingNumberText, usesBoundaries } from '../../analytics/views/number-text.ts';
import { parseFormat, type TextSink } from '../../analytics/views/output.ts';
import { runViewOnResources, runViewOnStore, type ViewRunOptions } from '../../analytics/views/run-view.ts';
import { compileView, type CompiledView } from '../../analytics/views/view-definition.ts';
import { runSpecTestFile, type SpecTestFile } from '../../analytics/views/spec-tests.ts';
import { runSpecTestFileInSql } from '../../analytics/views/sql-resources.ts';
import { compileViewToSql } from '../../analytics/views/sql-view.ts';
import { dropMaterialisedView, listMaterialisedViews, materialiseView } from '../../analytics/views/materialised.ts';
import { openPglite } from '../../db/pglite-adapter.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

interface RunOptions extends DatabaseOptions, WhoOptions {
  input?: string;
  format?: string;
  header?: boolean;
  limit?: string;
  since?: string;
  summary?: boolean;
  engine?: string;
}

/** Reads and compiles a ViewDefinition file (a ViewDefinition, or a Parameters resource with viewResource). */
export async function loadView(path: string): Promise<CompiledView> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`${path}: no such file`);
    throw invalid(`${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`${path} is not JSON: ${(err as Error).message}`);
  }
  return compileView(viewOf(json));
}

/** The ViewDefinition in a $run request body: the resource itself, or Parameters with a viewResource parameter. */
export function viewOf(json: unknown): unknown {
  const p = json as { resourceType?: unknown; parameter?: { name?: string; resource?: unknown }[] } | null;
  if (p && p.resourceType === 'Parameters') {
    const v = (p.parameter ?? []).filter((x) => x?.name === 'viewResource');
    if (v.length !== 1) throw invalid(v.length ? 'only one viewResource parameter is allowed' : 'the Parameters resource has no viewResource parameter');
    return v[0]!.resource;
  }
  return json;
}

/** stdout with its backpressure: a write that fills the pipe waits until it drains. */
const stdoutSink: TextSink = (chunk) =>
  process.stdout.write(chunk) ? undefined : new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));

export function registerView(program: Command): void {
  const view = program.command('view').description('SQL-on-FHIR v2 ViewDefinitions: flat tables of FHIR data (https://sql-on-fhir.org/ig/)');

  const run = view
    .command('run')
    .description('run a ViewDefinition: over --input FILE (a Bundle or NDJSON), or over the store as secondary use (the access policy decides; audited)')
    .argument('<view>', 'a ViewDefinition JSON file (or a Parameters resource with viewResource)')
    .option('--input <file>', 'run over the resources in this FHIR Bundle, JSON resource or array, or NDJSON file instead of the store (no database, no user)')
    .option('--format <format>', 'csv, ndjson or json', 'csv')
    .option('--no-header', 'CSV without the header line of column names')
    .option('--limit <n>', 'at most n rows')
    .option('--since <instant>', 'over the store: only resources received after this instant')
    .option('--summary', 'also print what was run over (and, over the store, who was left out) as JSON on stderr')
    .option('--user <name>', 'over the store: the local user running it (bevan user add); default $BEVAN_USER')
    .option('--purpose <purpose>', 'purpose of use over the store', 'secondary-use')
    .option('--engine <engine>', 'over the store: auto (in SQL where the view compiles to SQL, see bevan view check) or js (always the JS runner)', 'auto')
    .addHelpText(
      'after',
      `
Over the store the run is secondary use: roles with secondaryUse in the access policy only
(analyst, admin as shipped); people with a national data opt-out and restricted people are left
out, sensitive items withheld, and for analysts the output is pseudonymised (keyed pseudonyms
for the Patient and every reference to one; no names, identifiers or full dates of birth).
One audit entry per run records who ran which view and the counts. A view whose FHIRPath
compiles to SQL runs in the database (one query, the rows streamed through a cursor); any other
runs with the JS runner: the rows are the same (bevan view check says which). A CSV run
(no --since, --limit or --engine js) of a view that is materialised (bevan view materialise)
reads its kept rows instead, brought up to date first, the access policy applied as above.

Exit codes: 64 invalid input, 65 the ViewDefinition is not valid (or the data breaks it),
66 file not found, 77 refused by the access policy or unknown user, 69 database unavailable.
Examples:
  bevan view run analytics/views/examples/patient-demographics.json --input bundle.json
  bevan view run conditions.json --input Condition.ndjson --format ndjson
  bevan view run analytics/views/examples/observations.json --user analyst1 > observations.csv`,
    );
  databaseOption(run).action(async (file: string, o: RunOptions) =>
    runWithExitCode(async () => {
      const compiled = await loadView(file);
      if (o.engine !== undefined && o.engine !== 'auto' && o.engine !== 'js') throw invalid(`--engine "${o.engine}": auto or js`);
      const opts: ViewRunOptions = { format: parseFormat(o.format), header: o.header !== false, ...(o.limit !== undefined ? { limit: wholeNumber(o.limit) } : {}), ...(o.since ? { since: o.since } : {}), engine: o.engine === 'js' ? 'js' : 'auto' };
      if (o.input) {
        if (o.since) throw invalid('--since is for runs over the store (with --input, every resource in the file is read)');
        const result = await runViewOnResources(compiled, resourcesFromFile(o.input, { keepNumberText: usesBoundaries(compiled.definition) }), stdoutSink, opts);
        if (o.summary) process.stderr.write(JSON.stringify({ view: compiled.name, input: o.input, ...result }) + '\n');
        return;
      }
      await withDatabase(o, async (db) => {
        const ctx: RequestContext = await cliContext(db, { ...o, purpose: o.purpose ?? 'secondary-use' });
        const result = await runViewOnStore(ctx, compiled, stdoutSink, opts);
        if (o.summary) process.stderr.write(JSON.stringify({ view: compiled.name, ...result }) + '\n');
      });
    }),
  );

  registerViewTest(view);

  databaseOption(
    view
      .command('materialise')
      .description('keep a view\'s rows over the whole store (CSV, per person) so that runs over the store read them instead of every resource: the access policy is still applied at each run (bevan analytics refresh, and each run, bring it up to date)')
      .argument('[view]', 'a ViewDefinition JSON file (it must run in SQL over the store, pseudonymised: bevan view check)')
      .option('--drop', 'drop the view\'s materialisation instead (runs then read the store)')
      .option('--list', 'list the materialisations')
      .option('--json', 'print JSON'),
  ).action(async (file: string | undefined, o: DatabaseOptions & { drop?: boolean; list?: boolean; json?: boolean }) =>
    runWithExitCode(async () => {
      if (!o.list && !file) throw invalid('a ViewDefinition file, or --list');
      const compiled = file ? await loadView(file) : null;
      await withDatabase(o, async (db) => {
        if (o.list) {
          const all = await listMaterialisedViews(db);
          if (o.json) printJson(all);
          else for (const v of all) console.log(`${v.name ?? '(no name)'}  ${v.resource_type}  ${v.rows} rows, ${v.people} people, refreshed ${v.refreshed_at}${v.broken ? `  broken: ${v.broken}` : ''}  ${v.fingerprint}`);
          return;
        }
        if (o.drop) {
          const n = await dropMaterialisedView(db, compiled!);
          if (o.json) printJson({ dropped: n });
          else console.log(n ? `${compiled!.name ?? file}: materialisation dropped` : `${compiled!.name ?? file}: was not materialised`);
          return;
        }
        const r = await materialiseView(db, compiled!);
        if (o.json) printJson(r);
        else console.log(`${r.name ?? file}: ${r.rows} rows of ${r.people} people materialised in ${r.seconds.toFixed(1)} s${r.broken ? `; broken (runs read the store): ${r.broken}` : ''}`);
      });
    }),
  );

  view
    .command('check')
    .description('check a ViewDefinition: every problem found, or its columns')
    .argument('<view>', 'a ViewDefinition JSON file')
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExit codes: 65 the ViewDefinition is not valid, 64 not JSON, 66 file not found.')
    .action(async (file: string, o: { json?: boolean }) =>
      runWithExitCode(async () => {
        try {
          const v = await loadView(file);
          // Over the store, for an analyst (pseudonymised) and for a role that sees people identified.
          const sql = (pseudonymised: boolean) => {
            const r = compileViewToSql(v, { kind: 'store', pseudonymised, patientKey: () => 'true', logicalId: () => 'true' }, () => '$1');
            return r.kind === 'sql' ? { engine: 'sql' as const } : { engine: 'js' as const, reasons: r.reasons };
          };
          const engines = { pseudonymised: sql(true), identifiable: sql(false) };
          const say = (e: { engine: string; reasons?: string[] }) => (e.engine === 'sql' ? 'in SQL' : `with the JS runner, because:\n${e.reasons!.map((x) => `      ${x}`).join('\n')}`);
          if (o.json) printJson({ valid: true, name: v.name, resource: v.resource, columns: v.columns, overTheStore: engines });
          else
            process.stdout.write(
              `${file}: valid, over ${v.resource}\n${v.columns.map((c) => `  ${c.name}  ${c.type ?? '(type not given)'}${c.collection ? ' (collection)' : ''}`).join('\n')}\n` +
                `Over the store it runs\n  pseudonymised (analysts): ${say(engines.pseudonymised)}\n  identifiable: ${say(engines.identifiable)}\n`,
            );
        } catch (err) {
          const e = err as { kind?: string; details?: readonly string[] };
          if (e.kind === 'unprocessable' && e.details?.length) {
            if (o.json) printJson({ valid: false, problems: e.details });
            else process.stderr.write(`${file}: not valid\n${e.details.map((d) => `  ${d}`).join('\n')}\n`);
            process.exitCode = 65;
            return;
          }
          throw err;
        }
      }),
    );
}

/** `bevan view test FILE…`: SQL-on-FHIR conformance test files (the suite's own format) run through this engine. */
function registerViewTest(view: Command): void {
  view
    .command('test')
    .description("run SQL-on-FHIR v2 conformance test files (the suite's tests/*.json format) through this engine")
    .argument('<files...>', 'test files: {title, resources, tests: [{title, view, expect | expectColumns | expectError}]}')
    .option('--json', 'print one JSON object per file')
    .option('--sql', 'also run each test compiled to SQL (on an embedded database), where its view compiles')
    .addHelpText('after', '\nExit codes: 0 every test passed, 1 some failed, 64 a file is not a test file.\nExample:\n  git clone https://github.com/FHIR/sql-on-fhir-v2 && bevan view test sql-on-fhir-v2/tests/*.json')
    .action(async (files: string[], o: { json?: boolean; sql?: boolean }) =>
      runWithExitCode(async () => {
        let failed = 0;
        const db = o.sql ? await openPglite(null) : null;
        for (const f of files) {
          let file: SpecTestFile;
          try {
            // Numbers as written (1.0 keeps its decimal place, which highBoundary() needs): the files are small.
            file = parseKeepingNumberText(await readFile(f, 'utf8')) as SpecTestFile;
          } catch (err) {
            throw invalid(`${f}: ${(err as Error).message}`);
          }
          if (!file || !Array.isArray(file.tests)) throw invalid(`${f} is not a SQL-on-FHIR test file (no tests list)`);
          const { title, results } = runSpecTestFile(file);
          const bad = results.filter((r) => !r.passed);
          failed += bad.length;
          if (o.json) printJson({ file: f, title, passed: results.length - bad.length, tests: results.length, failures: bad.map((r) => ({ title: r.title, message: r.message })) });
          else process.stdout.write(`${f} (${title}): ${results.length - bad.length}/${results.length} passed${bad.map((r) => `\n  FAIL ${r.title}: ${r.message}`).join('')}\n`);
          if (db) {
            const inSql = (await runSpecTestFileInSql(db, file)).results;
            const ran = inSql.filter((r) => r.passed !== null);
            const sqlBad = ran.filter((r) => !r.passed);
            failed += sqlBad.length;
            if (o.json) printJson({ file: f, title, engine: 'sql', compiled: ran.length, passed: ran.length - sqlBad.length, tests: inSql.length, failures: sqlBad.map((r) => ({ title: r.title, message: r.message })) });
            else process.stdout.write(`  in SQL: ${ran.length - sqlBad.length}/${ran.length} passed (${inSql.length - ran.length} for the JS runner)${sqlBad.map((r) => `\n  FAIL (SQL) ${r.title}: ${r.message}`).join('')}\n`);
          }
        }
        await db?.close();
        if (failed) process.exitCode = 1;
      }),
    );
}

function wholeNumber(s: string): number {
  if (!/^\d{1,9}$/.test(s)) throw invalid(`--limit "${s}" is not a whole number`);
  return Number(s);
}
