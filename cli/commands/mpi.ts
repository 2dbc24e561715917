import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { databaseOption, printJson, withDatabase } from '../context.ts';
import { runMatcher } from '../../mpi/matcher.ts';
import { evaluateAgainstTruth } from '../../mpi/evaluate.ts';
import { decideReview, listReviews, mergePersons, mpiStats, unmergeEvent, type ReviewIdentity } from '../../mpi/merge.ts';
import { getPerson } from '../../mpi/person-view.ts';
import { formatNhsNumber } from '../../mpi/nhs-number.ts';

const actor = () => `cli:${safeUser()}`;

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** `bevan mpi …`: the master patient index (matching, review, merges, evaluation). */
export function registerMpi(program: Command): void {
  const mpi = program.command('mpi').description('master patient index: match pending identities, review, merge and unmerge, person, stats, evaluate');

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
    mpi
      .command('review')
      .description('list open reviews: one item per pair of identities (the matcher was unsure, or a feed asked for something unsafe), side by side')
      .option('--limit <n>', 'at most this many', '50')
      .option('--json', 'print one JSON object: {"reviews":[…]}'),
  ).action(async (opts: { data?: string; limit: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const reviews = await listReviews(db, { status: 'open', limit: Number(opts.limit) });
      if (opts.json) return printJson({ reviews });
      if (!reviews.length) return console.log('no open reviews');
      for (const r of reviews) {
        const detail = r.detail as { probability?: number; reason?: string } | null;
        const p = detail?.probability;
        const head = r.origin === 'feed' ? `feed: ${detail?.reason ?? ''}` : `weight ${r.weight.toFixed(1)}${p != null ? `  P(match) ${pct(p)}` : ''}`;
        console.log(`#${r.reviewId}  ${head}${r.moved ? '  [identities moved since queued: dismiss, or decide about the persons]' : ''}`);
        const a = row(r.identity);
        const b = row(r.candidate);
        const width = Math.max(...a.map((x) => x.length)) + 2;
        for (let i = 0; i < a.length; i++) console.log(`   ${LABELS[i]!.padEnd(10)} ${a[i]!.padEnd(width)} ${b[i]}`);
      }
      console.log(`${reviews.length} shown; decide with \`bevan mpi decide REVIEW_ID link|reject|dismiss\``);
    });
  });

  databaseOption(
    mpi
      .command('decide')
      .argument('<reviewId>')
      .argument('<decision>', 'link (one person) | reject (two people) | dismiss (close, no change)')
      .description('decide an open review; refused when its identities have moved since it was queued')
      .option('--despite-different-nhs-numbers', 'link even though the two carry different valid NHS numbers (a person has checked)')
      .option('--json', 'print one JSON object'),
  ).action(async (reviewId: string, decision: string, opts: { data?: string; json?: boolean; despiteDifferentNhsNumbers?: boolean }) => {
    if (decision !== 'link' && decision !== 'reject' && decision !== 'dismiss') throw new Error(`decision must be "link", "reject" or "dismiss", not "${decision}"`);
    await withDatabase(opts, async (db) => {
      const r = await decideReview(db, Number(reviewId), decision, actor(), { despiteDifferentNhsNumbers: opts.despiteDifferentNhsNumbers });
      if (opts.json) return printJson(r);
      console.log(`review #${r.reviewId} ${r.status}${r.eventId ? ` (event ${r.eventId}; undo with \`bevan mpi unmerge ${r.eventId}\`)` : ''}`);
    });
  });

  databaseOption(
    mpi
      .command('merge')
      .argument('<fromPerson>', 'person id whose identities move')
      .argument('<intoPerson>', 'person id that survives')
      .requiredOption('--reason <text>', 'why (kept in the event log)')
      .description('merge one person into another (its identities, resources and NHS number move into the survivor)')
      .option('--despite-different-nhs-numbers', 'merge even though the two carry different valid NHS numbers (a person has checked)')
      .option('--json', 'print one JSON object'),
  ).action(async (from: string, into: string, opts: { data?: string; reason: string; json?: boolean; despiteDifferentNhsNumbers?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const eventId = await mergePersons(db, from, into, actor(), opts.reason, { despiteDifferentNhsNumbers: opts.despiteDifferentNhsNumbers });
      if (opts.json) return printJson({ eventId });
      console.log(`merged ${from} into ${into} (event ${eventId}; undo with \`bevan mpi unmerge ${eventId}\`)`);
    });
  });

  databaseOption(
    mpi
      .command('unmerge')
      .argument('<eventId>')
      .description('undo an MPI event (merge, link, unlink, reject): identities, persons and the review return to their state before it; refused while a later event has moved its identities').option('--reason <text>', 'why', 'unmerge').option('--json', 'print one JSON object'),
  ).action(async (eventId: string, opts: { data?: string; reason: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const undoId = await unmergeEvent(db, Number(eventId), actor(), opts.reason);
      if (opts.json) return printJson({ eventId: Number(eventId), undoneBy: undoId });
      console.log(`event ${eventId} undone (event ${undoId})`);
    });
  });

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
    mpi
      .command('person')
      .argument('<idOrNhs>', 'person id, NHS number, or an identity as SYSTEM|ID')
      .description('show a person: identities and MPI events')
      .option('--json', 'print one JSON object ({"personId","nhsNumber","status","identities":[…],"events":[…],"resources"})'),
  ).action(async (idOrNhs: string, opts: { data?: string; json?: boolean }) => {
    await withDatabase(opts, async (db) => {
      const p = await getPerson(db, idOrNhs);
      if (!p) throw new Error(`no person ${idOrNhs}`);
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
  });
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
