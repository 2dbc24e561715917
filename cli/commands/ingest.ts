import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { ingestProgressBar } from '../progress.ts';
import { countPendingResources, ingestPaths, type FeedPath } from '../../ingest/pipeline.ts';
import { retryWhileUnavailable } from '../../db/database.ts';
import { runMatcher } from '../../mpi/matcher.ts';
import { describeRefresh, refreshSummary } from './analytics.ts';
import { loadLocality, localityFileFor } from '../../ingest/locality.ts';
import { feedFolders, loadFeeds, sourceKeyProblem } from '../../ingest/feeds.ts';
import { LOG_OUTCOMES, parseSince, type LogOutcome } from '../../ingest/ingest-log.ts';
import { readIngestLogFor } from '../../ingest/ingest-log-service.ts';
import { invalid } from '../../access/context.ts';
import { runWithExitCode, type WhoOptions } from './cli-context.ts';
import { quarantineContext } from './quarantine.ts';

interface IngestCliOptions {
  data?: string;
  json?: boolean;
  match?: boolean;
  refresh?: boolean;
  source?: string;
  feeds?: string;
}

interface LogCliOptions extends WhoOptions {
  data?: string;
  json?: boolean;
  source?: string;
  outcome?: string;
  since?: string;
  limit: string;
}

export function registerIngest(program: Command): void {
  // `ingest` takes paths and has a subcommand (`log`): the program must hand every argument after
  // `ingest` to it (commander's positional options), or `ingest log --json` would lose its options.
  program.enablePositionalOptions();
  const ingest = databaseOption(
    program
      .command('ingest')
      .argument('[paths...]', 'feed files or folders (a folder written by `bevan generate` is ingested whole; its truth/ is never read)')
      .description('ingest FHIR R4 bundles, HL7 v2 files and CSV extracts; the format is told from the content')
      .option('--source <key>', 'the source system these files come from, e.g. gp:P91001 or hl7:RM2 (for files that do not say, such as FHIR bundles without meta.source)')
      .option('--feeds <file>', 'a feeds file (docs/feeds.md "Feed configuration"): ingest each feed\'s folder as that source, and its locality file')
      .option('--json', 'print one JSON object: {"accepted","ignored","quarantined","duplicates","resources","seconds","files","match","pending"}, and "notes" ([{"file","notes"}], e.g. CSV columns not read) when there are any')
      .option('--no-match', 'skip the probabilistic MPI matching pass after loading')
      .option('--refresh', "rebuild the dashboards' summary after loading (as bevan analytics refresh does; minutes on a large store, so off by default)")
      .helpCommand(false)
      .addHelpText(
        'after',
        `
Replaying a feed changes nothing (duplicates are counted). Rejected items are quarantined
with a reason: see \`bevan quarantine list\`. A file that cannot be read is quarantined too.
"pending" counts resources kept until their Patient arrives (another file, a later load).

\`bevan ingest log\` lists what was received; to ingest a file named "log", write ./log.

Examples:
  bevan ingest ./trafford
  bevan ingest --source gp:P91001 exports/*.json
  bevan ingest --feeds feeds.json --json`,
      ),
  ).action(async (paths: string[], opts: IngestCliOptions) => {
    if (opts.source !== undefined) {
      const problem = sourceKeyProblem(opts.source);
      if (problem) throw new Error(`--source: ${problem}`);
    }
    // Problems in the feeds file are reported before anything is opened.
    const feeds = opts.feeds !== undefined ? loadFeeds(opts.feeds) : undefined;
    if (!paths.length && !feeds) throw new Error('give feed files or folders to ingest, or --feeds FILE (see bevan ingest --help)');
    await withDatabase(opts, async (db) => {
      // Reference data first, so the record can name each practice and neighbourhood.
      const localities = [...(feeds?.locality ? [feeds.locality] : []), ...paths.map(localityFileFor).filter((l): l is string => l !== null)];
      for (const loc of localities) {
        const l = await retryWhileUnavailable(() => loadLocality(db, loc));
        if (!opts.json) console.log(`locality: ${l.practices} practices in ${l.neighbourhoods} neighbourhoods`);
      }
      const targets: (string | FeedPath)[] = [
        ...(feeds ? feedFolders(feeds) : []),
        ...paths.filter((p) => !p.endsWith('locality.json')).map((p) => (opts.source !== undefined ? { path: p, source: opts.source } : p)),
      ];
      const bar = ingestProgressBar('ingest', !opts.json && process.stderr.isTTY === true);
      const r = await ingestPaths(db, targets, { onProgress: (p) => bar.update(p) });
      bar.stop();
      let match: Awaited<ReturnType<typeof runMatcher>> | undefined;
      // The same wait as the writer's while a PostgreSQL server restarts: a round cut short is
      // rolled back, and the identities it held are still pending for the next attempt.
      if (opts.match !== false) match = await retryWhileUnavailable(() => runMatcher(db));
      const pending = await retryWhileUnavailable(() => countPendingResources(db));
      // The dashboards read a summary of the store: rebuilt after a load when asked (--refresh; a
      // failure is reported, the load stands). Off by default: the rebuild is one statement per
      // register per month end (docs/analytics/dashboards.md), far slower than the load itself.
      let analytics: Awaited<ReturnType<typeof refreshSummary>> | { error: string } | undefined;
      if (opts.refresh === true && r.accepted > 0) {
        analytics = await retryWhileUnavailable(() => refreshSummary(db, { actor: 'bevan ingest' })).catch((err: unknown) => ({ error: (err as Error).message }));
      }
      const out = {
        accepted: r.accepted,
        ignored: r.ignored,
        quarantined: r.quarantined,
        duplicates: r.duplicates,
        resources: r.resources,
        seconds: Math.round(r.seconds * 1000) / 1000,
      };
      if (opts.json) {
        // The JSON keeps its shape (scripts rely on it); a refresh that failed is said on stderr.
        if (analytics && 'error' in analytics) console.error(`bevan: the dashboards' summary was not rebuilt (${analytics.error}); run bevan analytics refresh`);
        return printJson({ ...out, files: r.files, match, pending, ...(r.notes.length ? { notes: r.notes } : {}) });
      }
      console.log(
        `${r.files} files: ${r.accepted} accepted, ${r.ignored} ignored, ${r.quarantined} quarantined, ${r.duplicates} duplicates; ` +
          `${r.resources} resources written in ${out.seconds}s (${Math.round(r.resources / Math.max(r.seconds, 0.001))}/s)`,
      );
      for (const n of r.notes) for (const note of n.notes) console.log(`${n.file}: ${note}`);
      if (match) console.log(`MPI: ${JSON.stringify(match)}`);
      if (analytics) console.log('error' in analytics ? `analytics: the dashboards' summary was not rebuilt (${analytics.error}); run bevan analytics refresh` : describeRefresh(analytics));
      if (pending) console.log(`${pending} resources wait for their Patient (not yet received from the same source)`);
      if (!analytics && r.accepted > 0) console.log(`the dashboards show the summary as last built: bevan analytics refresh (or bevan ingest --refresh) rebuilds it`);
      if (r.quarantined) console.log(`see the quarantined items with: bevan quarantine list`);
    });
  });

  databaseOption(
    ingest
      .command('log')
      .description('list what was received, from which source, and its outcome (accepted, ignored, quarantined), newest first; and the runs, one per file or connection')
      .option('--source <key>', 'only this source system, e.g. hl7:RM2')
      .option('--outcome <outcome>', `only messages with this outcome: ${LOG_OUTCOMES.join(' | ')}`)
      .option('--since <when>', 'received since: an ISO date or time (2025-03-01, 2025-03-01T09:00Z) or a span back from now (30m, 12h, 7d)')
      .option('--limit <n>', 'at most this many messages, and this many runs', '50')
      .option('--user <name>', 'the local user (role integration or admin) reading the log; default $BEVAN_USER')
      .option('--purpose <purpose>', 'purpose of use (default: administration for the integration team and administrators)')
      .option('--json', 'print one JSON object: {"messages": [...], "runs": [...], "withheld": N}')
      .addHelpText(
        'after',
        `
The feeds' administration view: --user NAME (or BEVAN_USER) must be a local user whose role
may see the feeds (integration, admin). Quarantined items' reasons can name a person, so only
the integration team sees them (a restricted person's withheld), and that view is audited
(ingest.log); others see "withheld". Exit codes: 64 invalid input, 77 refused or unknown user.`,
      ),
  ).action(async (opts: LogCliOptions, cmd: Command) => runWithExitCode(async () => {
    // `bevan ingest --data DIR log`: the folder was given to ingest, not to log.
    if (cmd.getOptionValueSource('data') === 'default' && ingest.getOptionValueSource('data') === 'cli') opts.data = ingest.opts<IngestCliOptions>().data;
    if (opts.outcome !== undefined && !(LOG_OUTCOMES as readonly string[]).includes(opts.outcome)) throw invalid(`--outcome must be one of ${LOG_OUTCOMES.join(', ')}, not "${opts.outcome}"`);
    const since = opts.since !== undefined ? parseSince(opts.since) : undefined;
    if (since === null) throw invalid(`--since "${opts.since}" is neither an ISO date or time (2025-03-01, 2025-03-01T09:00Z) nor a span such as 30m, 12h or 7d`);
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) throw invalid(`--limit must be a whole number of at least 1, not "${opts.limit}"`);
    await withDatabase(opts, async (db) => {
      const log = await readIngestLogFor(await quarantineContext(db, opts), { source: opts.source, outcome: opts.outcome as LogOutcome | undefined, since, limit });
      if (opts.json) return printJson(log);
      if (!log.messages.length && !log.runs.length) return console.log('nothing received yet that matches');
      for (const m of log.messages) {
        const what = [m.at.replace('T', ' ').slice(0, 19), m.outcome.padEnd(11), (m.source ?? '(unknown source)').padEnd(16), (m.event ?? '-').padEnd(10), m.messageId ?? '-', m.origin ?? ''].join('  ');
        console.log(m.outcome === 'quarantined' ? `${what}\n      #${m.quarantineId} ${m.status}${(m.timesSeen ?? 1) > 1 ? ` (seen ${m.timesSeen}×)` : ''}: ${m.reason}` : what);
      }
      if (log.runs.length) {
        console.log(`\nruns (one per file or connection), newest first:`);
        for (const r of log.runs) {
          console.log(
            `${r.startedAt.replace('T', ' ').slice(0, 19)}  ${r.status.padEnd(9)}  ${r.origin}${r.source ? `  (source ${r.source})` : ''}\n      ` +
              `${r.format ?? 'no items'}: ${r.accepted} accepted, ${r.ignored} ignored, ${r.quarantined} quarantined, ${r.duplicates} duplicates, ${r.resources} resources${r.error ? `; ${r.error}` : ''}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`,
          );
        }
      }
    });
  }));
}
