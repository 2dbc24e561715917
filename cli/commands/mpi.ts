import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { runMatcher } from '../../mpi/matcher.ts';
import { evaluateAgainstTruth } from '../../mpi/evaluate.ts';
import { mpiStats, type ReviewIdentity } from '../../mpi/merge.ts';
import { formatNhsNumber } from '../../mpi/nhs-number.ts';
import { decideReviewFor, listReviewQueueFor, mergePersonsFor, REVIEW_CHOICES, showPersonFor, showReviewFor, unmergeEventFor, type ReviewChoice } from '../../mpi/review-service.ts';
import { invalid } from '../../access/context.ts';
import { runWithExitCode, type WhoOptions } from './cli-context.ts';
import { quarantineContext as administrationContext } from './quarantine.ts';

/** Adds --user and --purpose: the review queue and merges show and change who is who (the integration team's role, audited). */
function who(cmd: Command): Command {
  return cmd
    .option('--user <name>', 'the local user (role integration) deciding; default $BEVAN_USER')
    .option('--purpose <purpose>', 'purpose of use (default: administration for the integration team)');
}

function wholeNumber(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text.trim())) throw invalid(`"${text}" is not ${what} (a whole number)`);
  return Number(text);
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** `bevan mpi …`: the master patient index (matching, review, merges, evaluation). */
export function registerMpi(program: Command): void {
  const mpi = program
    .command('mpi')
    .description('master patient index: match pending identities, review, merge and unmerge, person, stats, evaluate')
    .addHelpText('after', '\nreview, decide, merge, unmerge and person need --user NAME (or BEVAN_USER): a local user whose role may review the MPI (integration);\neach is decided by the access policy and audited, as the HTTP review screens are (mpi/review-service.ts).\nExit codes: 64 invalid input, 66 not found, 75 a conflict the MPI refuses (the identities moved, already undone), 77 refused by the access policy or unknown user.');

  databaseOption(
    mpi
      .command('match')
      .description('run the probabilistic matcher over PENDING identities')
      .option('--round-size <n>', 'pending identities resolved per round (memory grows with it)', '20000')
      .option('--json', 'print one JSON object'),
  ).action(
    async (opts: { data?: string; json?: boolean; roundSize: string }) => {
      const roundSize = Number(opts.roundSize);
      if (!Number.isInteger(roundSize) || roundSize < 1) throw new Error(`--round-size must be a positive whole number, not ${JSON.stringify(opts.roundSize)}`);
      await withDatabase(opts, async (db) => {
        const r = await runMatcher(db, { roundSize, log: opts.json ? undefined : (m) => console.log(m) });
        if (opts.json) return printJson(r);
        console.log(
          `${r.pending} pending: ${r.matched} matched, ${r.possible} to review, ${r.noMatch} no match, ${r.confirmed} new NHS numbers with no duplicate ` +
            `(${r.pairs} pairs, ${r.seconds.toFixed(1)} s)`,
        );
      });
    },
  );

  databaseOption(
    mpi
      .command('evaluate')
      .description('pairwise precision and recall of the persons against a ground-truth file')
      .requiredOption('--truth <file>', 'truth/persons.ndjson written by `bevan generate`')
      .option('--json', 'print one JSON object'),
  ).action(async (opts: { data?: string; truth: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const e = await evaluateAgainstTruth(db, opts.truth);
      if (opts.json) return printJson(e);
      console.log(`precision ${pct(e.precision)}  recall ${pct(e.recall)}  (F1 ${pct(e.f1)})`);
      console.log(`${e.identities} identities: ${e.persons} Bevan persons, ${e.truePersons} true persons; ` +
        `${e.falsePositives} false-positive pairs, ${e.falseNegatives} missed pairs`);
      if (e.identitiesOnlyInTruth || e.identitiesOnlyInDatabase) {
        console.log(`not counted: ${e.identitiesOnlyInTruth} identities only in the truth, ${e.identitiesOnlyInDatabase} only in the database`);
      }
    });
  });

  databaseOption(
    who(
      mpi
        .command('review')
        .description('list open reviews: one item per pair of identities (the matcher was unsure, or a feed asked for something unsafe), side by side; each pair shown is audited')
        .option('--limit <n>', 'at most this many (1-200)', '50')
        .option('--json', 'print one JSON object: {"reviews":[…], "withheld": [review ids]}'),
    ),
  ).action(async (opts: WhoOptions & { data?: string; limit: string; json?: boolean }) =>
    runWithExitCode(async () => {
      await withDatabase(opts, async (db) => {
        const ctx = await administrationContext(db, opts);
        const queue = await listReviewQueueFor(ctx, { status: 'open', limit: wholeNumber(opts.limit, '--limit') });
        const withheld = queue.items.filter((i) => i.withheld).map((i) => i.reviewId);
        // Each pair side by side is one read of the two identities (audited per person, as the HTTP screen's).
        const reviews = [];
        for (const item of queue.items.filter((i) => !i.withheld)) reviews.push({ ...(await showReviewFor(ctx, item.reviewId)), probability: item.probability, weight: item.weight, conflict: item.conflict });
        if (opts.json) return printJson({ reviews, withheld });
        if (!reviews.length && !withheld.length) return console.log('no open reviews');
        for (const r of reviews) {
          const head = r.origin === 'feed' ? `feed proposal${r.conflict ? `: ${r.conflict}` : ''}` : `weight ${r.weight.toFixed(1)}${r.probability != null ? `  P(match) ${pct(r.probability)}` : ''}`;
          console.log(`#${r.reviewId}  ${head}${r.moved ? '  [identities moved since queued: dismiss, or decide about the persons]' : ''}`);
          const a = row(r.identity);
          const b = row(r.candidate);
          const width = Math.max(...a.map((x) => x.length)) + 2;
          for (let i = 0; i < a.length; i++) console.log(`   ${LABELS[i]!.padEnd(10)} ${a[i]!.padEnd(width)} ${b[i]}`);
        }
        for (const id of withheld) console.log(`#${id}  withheld: a person in the pair is restricted`);
        console.log(`${reviews.length} shown of ${queue.total} open; decide with \`bevan mpi decide REVIEW_ID link|reject|dismiss --user NAME\``);
      });
    }),
  );

  databaseOption(
    who(
      mpi
        .command('decide')
        .argument('<reviewId>')
        .argument('<decision>', 'link (one person) | reject (two people) | dismiss (close, no change)')
        .description('decide an open review; refused when its identities have moved since it was queued (decided by the access policy, audited)')
        .option('--despite-different-nhs-numbers', 'link even though the two carry different valid NHS numbers (a person has checked)')
        .option('--json', 'print one JSON object'),
    ),
  ).action(async (reviewId: string, decision: string, opts: WhoOptions & { data?: string; json?: boolean; despiteDifferentNhsNumbers?: boolean }) =>
    runWithExitCode(async () => {
      if (!(REVIEW_CHOICES as readonly string[]).includes(decision)) throw invalid(`decision must be "link", "reject" or "dismiss", not "${decision}"`);
      const id = wholeNumber(reviewId, 'a review id');
      await withDatabase(opts, async (db) => {
        const r = await decideReviewFor(await administrationContext(db, opts), id, decision as ReviewChoice, { despiteDifferentNhsNumbers: opts.despiteDifferentNhsNumbers });
        if (opts.json) return printJson(r);
        console.log(`review #${r.reviewId} ${r.status}${r.eventId ? ` (event ${r.eventId}; undo with \`bevan mpi unmerge ${r.eventId} --user NAME\`)` : ''}`);
      });
    }),
  );

  databaseOption(
    who(
      mpi
        .command('merge')
        .argument('<fromPerson>', 'person id whose identities move')
        .argument('<intoPerson>', 'person id that survives')
        .requiredOption('--reason <text>', 'why (kept in the event log)')
        .description('merge one person into another (its identities, resources and NHS number move into the survivor; decided by the access policy, audited)')
        .option('--despite-different-nhs-numbers', 'merge even though the two carry different valid NHS numbers (a person has checked)')
        .option('--json', 'print one JSON object'),
    ),
  ).action(async (from: string, into: string, opts: WhoOptions & { data?: string; reason: string; json?: boolean; despiteDifferentNhsNumbers?: boolean }) =>
    runWithExitCode(async () => {
      await withDatabase(opts, async (db) => {
        const { eventId } = await mergePersonsFor(await administrationContext(db, opts), from, into, opts.reason, { despiteDifferentNhsNumbers: opts.despiteDifferentNhsNumbers });
        if (opts.json) return printJson({ eventId });
        console.log(`merged ${from} into ${into} (event ${eventId}; undo with \`bevan mpi unmerge ${eventId} --user NAME\`)`);
      });
    }),
  );

  databaseOption(
    who(
      mpi
        .command('unmerge')
        .argument('<eventId>')
        .description('undo an MPI event (merge, link, unlink, reject): identities, persons and the review return to their state before it; refused while a later event has moved its identities (decided by the access policy, audited)')
        .option('--reason <text>', 'why', 'unmerge')
        .option('--json', 'print one JSON object'),
    ),
  ).action(async (eventId: string, opts: WhoOptions & { data?: string; reason: string; json?: boolean }) =>
    runWithExitCode(async () => {
      const id = wholeNumber(eventId, 'an MPI event id');
      await withDatabase(opts, async (db) => {
        const r = await unmergeEventFor(await administrationContext(db, opts), id, opts.reason);
        if (opts.json) return printJson(r);
        console.log(`event ${r.eventId} undone (event ${r.undoneBy})`);
      });
    }),
  );

  databaseOption(
    mpi.command('stats').description('counts: active persons, identities, pending identities, open reviews').option('--json', 'print one JSON object'),
  ).action(async (opts: { data?: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const s = await mpiStats(db);
      if (opts.json) return printJson(s);
      console.log(`${s.persons} persons (${s.mergedPersons} merged away), ${s.identities} identities (${s.pending} pending), ${s.openReviews} open reviews`);
    });
  });

  databaseOption(
    who(
      mpi
        .command('person')
        .argument('<idOrNhs>', 'person id, NHS number, or an identity as SYSTEM|ID')
        .description('show a person: identities and MPI events (the integration team: decided by the access policy, audited)')
        .option('--json', 'print one JSON object ({"personId","nhsNumber","status","identities":[…],"events":[…],"resources"})'),
    ),
  ).action(async (idOrNhs: string, opts: WhoOptions & { data?: string; json?: boolean }) =>
    runWithExitCode(async () => {
      await withDatabase(opts, async (db) => {
        const p = await showPersonFor(await administrationContext(db, opts), idOrNhs);
        if (opts.json) return printJson(p);
        console.log(`person ${p.personId}${p.nhsNumber ? `  NHS ${formatNhsNumber(p.nhsNumber)}` : ''}  ${p.status}  ${p.resources} resources`);
        if (p.requested !== p.personId) console.log(`(${p.requested} was merged into this person)`);
        const width = Math.max(0, ...p.identities.map((i) => i.system.length + i.id.length + 1));
        for (const i of p.identities) {
          console.log(`  ${`${i.system} ${i.id}`.padEnd(width)} ${[i.given, i.family].filter(Boolean).join(' ').padEnd(24)} ${i.birthDate ?? '?'}  ${i.postcode ?? ''}  ` +
            `${i.nhsNumber ? formatNhsNumber(i.nhsNumber) + (i.nhsNumberValid ? '' : ' (invalid)') : ''}  [${i.linkMethod}, ${i.matchStatus}]`);
        }
        for (const e of p.events) {
          console.log(`  event ${e.eventId} ${e.at.slice(0, 19)} ${e.kind} by ${e.actor}${e.reason ? `: ${e.reason}` : ''}${e.undoneBy ? ` (undone by ${e.undoneBy})` : ''}`);
        }
      });
    }),
  );
}

const LABELS = ['identity', 'person', 'NHS no.', 'name', 'born', 'sex', 'postcode'];

function row(i: ReviewIdentity): string[] {
  return [
    `${i.system} ${i.id}`,
    i.personId ?? '',
    i.nhsNumber ? formatNhsNumber(i.nhsNumber) : '—',
    [i.given, i.family].filter(Boolean).join(' ') || '—',
    i.birthDate ?? '—',
    i.sex ?? '—',
    i.postcode ?? '—',
  ];
}
