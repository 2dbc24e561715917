/**
 * `bevan everything prebuild [--practice ODS] --user NAME`: renders the `$everything` page of every
 * person registered at a practice, as that user would be shown it, into the pages every server
 * shares (fhir/presented-records.ts, migration 0079), so that the first read of the day is a hit.
 *
 * Where it runs: once a day, after the overnight loads and after midnight (cron, or the scheduler
 * that starts the loads). A page is kept under the record's version stamp *and the day* (ages and
 * ended medications are relative to today), so every page rendered yesterday is a miss today; a
 * record changed by a near-real-time feed during the day is re-rendered on its first read (one
 * miss), which a prebuild could not avoid anyway. Not inside `bevan ingest`: a load is measured
 * against its own target (issue 11), a load of one feed does not know which views will be asked
 * for, and a page rendered before the day's other feeds land would be stale by their first write.
 *
 * It first removes the pages of earlier days and folds each person's record_change rows (one per
 * transaction that wrote their resources since the last fold, migration 0084; the version stamp
 * reads them) into one: that changes the stamps folded, which the new day has changed already.
 *
 * Every page is rendered through the login-bound repository: decided for the user and audited
 * (action `record.prebuild`), like any read; people the user may not see (restricted, dissent,
 * no relationship) are refused and counted, and nothing of theirs is kept.
 */
import type { Command } from 'commander';
import { BevanError, invalid, type RequestContext } from '../../access/context.ts';
import { repositoryFor } from '../../fhir/repository-for.ts';
import { everythingPresenter, parseEverythingQuery } from '../../http/everything-render.ts';
import { prunePresentedPages } from '../../fhir/presented-records.ts';
import { compactRecordChanges, registeredPersonIds } from '../../record/record-store.ts';
import { databaseOption, printJson, withDatabase, type DatabaseOptions } from '../context.ts';
import { cliContext, runWithExitCode, type WhoOptions } from './cli-context.ts';

export interface PrebuildCounts {
  people: number;
  /** Rendered now and kept for every server. */
  rendered: number;
  /** Already kept under today's stamp: nothing to do. */
  alreadyKept: number;
  /** Refused by the access policy (audited as refusals), or gone meanwhile. */
  refused: number;
  /** Pages of earlier days removed first. */
  pruned: number;
  seconds: number;
}

/** Renders and keeps the default `$everything` page (no parameters) of every person registered at the practice, as ctx's user sees it. */
export async function prebuildEverything(ctx: RequestContext, o: { practice: string | null; concurrency?: number; onProgress?: (done: number, of: number) => void }): Promise<PrebuildCounts> {
  const t0 = Date.now();
  // Yesterday's pages can never be served again (the day is part of their stamp).
  const pruned = await prunePresentedPages(ctx.db, new Date().toISOString().slice(0, 10));
  // The day has changed every stamp: now is when folding each person's resource writes into one (the stamp reads them) costs no extra miss.
  await compactRecordChanges(ctx.db);
  const ids = await registeredPersonIds(ctx.db, o.practice);
  const query = parseEverythingQuery({}, false);
  // The base is not kept (a placeholder is): any will do, and no page is sent.
  const counts: PrebuildCounts = { people: ids.length, rendered: 0, alreadyKept: 0, refused: 0, pruned, seconds: 0 };
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const id = ids[i]!;
      try {
        const out = await repositoryFor(ctx).everythingJson(id, query.request, everythingPresenter(id, query, 'http://localhost/fhir'), { action: 'record.prebuild', fillShared: true });
        if (out.from === 'rendered') counts.rendered++;
        else counts.alreadyKept++;
      } catch (err) {
        if (!(err instanceof BevanError) || (err.kind !== 'forbidden' && err.kind !== 'not-found')) throw err;
        counts.refused++;
      }
      o.onProgress?.(++done, ids.length);
    }
  };
  // A few at a time on a server's pool; PGlite serves one transaction at a time whatever is asked.
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  counts.seconds = (Date.now() - t0) / 1000;
  return counts;
}

export function registerEverything(program: Command): void {
  const everything = program.command('everything').description('Patient/{id}/$everything pages kept for every server (docs/performance.md, Stop 23)');
  const prebuild = everything
    .command('prebuild')
    .description("render the $everything page of everyone registered at a practice, as the user would be shown it, into the pages every server shares (run daily after the overnight loads; each page is decided and audited)")
    .option('--practice <ods>', "the practice (ODS code) whose registered list to render; default the user's organisation")
    .option('--all', 'every registered person, whatever the practice')
    .option('--user <name>', 'the local user whose view is rendered (bevan user add); default $BEVAN_USER')
    .option('--purpose <purpose>', 'purpose of use', 'direct-care')
    .option('--json', 'print {"people","rendered","alreadyKept","refused","pruned","seconds"}');
  databaseOption(prebuild).action(async (o: DatabaseOptions & WhoOptions & { practice?: string; all?: boolean; json?: boolean }) =>
    runWithExitCode(async () => {
      if (o.practice !== undefined && !/^[A-Z0-9]{3,10}$/.test(o.practice)) throw invalid(`--practice "${o.practice}" is not an ODS code`);
      await withDatabase(o, async (db) => {
        const ctx = await cliContext(db, o);
        const practice = o.all ? null : (o.practice ?? ctx.principal.organisation);
        if (!o.all && !practice) throw invalid('name the practice (--practice ODS) or --all: the user has no organisation');
        const counts = await prebuildEverything(ctx, { practice });
        if (o.json) printJson(counts);
        else console.log(`${counts.people} people registered${practice ? ` at ${practice}` : ''}: ${counts.rendered} pages rendered, ${counts.alreadyKept} already kept, ${counts.refused} refused, ${counts.pruned} pages of earlier days removed, in ${counts.seconds.toFixed(1)} s`);
      });
    }),
  );
}
