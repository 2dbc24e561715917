import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { progressBar } from '../progress.ts';
import { ingestPaths } from '../../ingest/pipeline.ts';
import { retryWhileUnavailable } from '../../db/database.ts';
import { runMatcher } from '../../mpi/matcher.ts';
import { loadLocality, localityFileFor } from '../../ingest/locality.ts';

interface IngestCliOptions {
  data?: string;
  json?: boolean;
  match?: boolean;
}

export function registerIngest(program: Command): void {
  databaseOption(
    program
      .command('ingest')
      .argument('<paths...>', 'feed files or folders (a folder written by `bevan generate` is ingested whole; its truth/ is never read)')
      .description('ingest FHIR R4 bundles, HL7 v2 files and CSV extracts; the format is told from the content')
      .option('--json', 'print one JSON object: {"accepted","ignored","quarantined","duplicates","resources","seconds"}')
      .option('--no-match', 'skip the probabilistic MPI matching pass after loading')
      .addHelpText(
        'after',
        `
Replaying a feed changes nothing (duplicates are counted). Rejected items are quarantined
with a reason: see \`bevan quarantine list\`.`,
      ),
  ).action(async (paths: string[], opts: IngestCliOptions) => {
    await withDatabase(opts, async (db) => {
      // Reference data first, so the record can name each practice and neighbourhood.
      for (const p of paths) {
        const loc = localityFileFor(p);
        if (loc) {
          const l = await retryWhileUnavailable(() => loadLocality(db, loc));
          if (!opts.json) console.log(`locality: ${l.practices} practices in ${l.neighbourhoods} neighbourhoods`);
        }
      }
      const feedPaths = paths.filter((p) => !p.endsWith('locality.json'));
      const bar = progressBar('ingest', !opts.json && process.stderr.isTTY === true);
      let started = false;
      const r = await ingestPaths(db, feedPaths, {
        onProgress: (p) => {
          const mb = (n: number) => Math.round(n / 1048576);
          if (!started) {
            bar.start(mb(p.bytesTotal), 0, { unit: 'MB', detail: '' });
            started = true;
          }
          bar.update(mb(p.bytesDone), { unit: 'MB', detail: `${p.counts.resources} resources, ${p.counts.quarantined} quarantined` });
        },
      });
      bar.stop();
      let match: Awaited<ReturnType<typeof runMatcher>> | undefined;
      if (opts.match !== false) match = await runMatcher(db);
      const out = {
        accepted: r.accepted,
        ignored: r.ignored,
        quarantined: r.quarantined,
        duplicates: r.duplicates,
        resources: r.resources,
        seconds: Math.round(r.seconds * 1000) / 1000,
      };
      if (opts.json) return printJson({ ...out, files: r.files, match });
      console.log(
        `${r.files} files: ${r.accepted} accepted, ${r.ignored} ignored, ${r.quarantined} quarantined, ${r.duplicates} duplicates; ` +
          `${r.resources} resources written in ${out.seconds}s (${Math.round(r.resources / Math.max(r.seconds, 0.001))}/s)`,
      );
      if (match) console.log(`MPI: ${JSON.stringify(match)}`);
      if (r.quarantined) console.log(`see the quarantined items with: bevan quarantine list`);
    });
  });
}
