/**
 * The probabilistic matcher: resolves PENDING identities (no usable NHS number, or a date of
 * birth that disagreed) against everyone else. Every identity is read once a run into memory;
 * candidates come from several blocking passes over it, none of which needs any one field (see
 * blocking.ts); pairs are scored with Fellegi–Sunter
 * weights whose u comes from random pairs of this database's identities and whose m and prior come
 * from EM over its blocked pairs; each pending identity is linked (MATCH), queued for review
 * (POSSIBLE_MATCH, one item per pair) or left on its own (NO_MATCH). Two identities carrying
 * different valid NHS numbers are never linked automatically, directly or through a third.
 * The result depends only on the data, not on run order or uuids.
 */
import type { Database, Queryable } from '../db/database.ts';
import {
  comparisonPattern,
  decide,
  DEFAULT_PARAMETERS,
  describeComparison,
  estimateParameters,
  estimateU,
  estimateUWithoutMatches,
  identifies,
  F,
  FIELDS,
  householdAgrees,
  matchProbability,
  matchWeight,
  emailNamesPerson,
  levelOf,
  householdWeight,
  termFrequencies,
  termFrequencyWeightOf,
  termRarity,
  type TermFrequencies,
  nhsNumbersConflict,
  countPattern,
  patternsFromCounts,
  patternVector,
  soundex,
  thresholds,
  type ComparisonVector,
  type MatchIdentity,
  type PatternCount,
  type PatternCounts,
  type MatchParameters,
  type Thresholds,
} from './fellegi-sunter.ts';
import { withMatcherLease } from './matcher-lease.ts';
import { buildBlockingIndex, candidatePairChunks, defaultBlockCap, type BlockingColumns, type BlockingIndex } from './blocking.ts';
import { cmp, moveIdentities, recordEvents, type IdentityMove, type MovedIdentity } from './person-store.ts';

export interface MatcherOptions {
  /**
   * Pending identities resolved per round (default 20,000). A first load of a whole borough leaves
   * hundreds of thousands pending; taking them in rounds keeps memory flat, and later rounds match
   * against the persons earlier rounds settled.
   */
  roundSize?: number;
  /** Settled identities sampled (once a run) to learn from alongside the pending pairs (default 2000). */
  trainingSample?: number;
  /** Identities sampled (from all) for u: every pair among them is a random pair (default 1000). */
  randomSample?: number;
  /** Identities whose prepared comparison features a round keeps at once (default 100,000; memory about 1 KiB each). */
  featureCache?: number;
  /** Posterior P(match) for an automatic link (default 0.99). */
  matchProbability?: number;
  /** Posterior P(match) for the review queue (default 0.5). */
  possibleProbability?: number;
  /** No blocking pass compares an identity with more than this many others by one key (default: 1% of identities, 50 to 150). */
  blockCap?: number;
  actor?: string;
  /** Population size below which the default prior does not go (default 100,000), when EM cannot run. */
  minPopulation?: number;
  /** Progress messages for people. */
  log?: (message: string) => void;
}

/** The fitted model of a round, as `bevan mpi match --json` reports it. */
export interface MatcherParameters {
  /** Field → level → P(level | match), from EM over the blocked pairs (or defaults). */
  m: Record<string, Record<string, number>>;
  /** Field → level → P(level | non-match), from random pairs of identities (or defaults). */
  u: Record<string, Record<string, number>>;
  /** Prior P(match) of a random pair: EM's share of matches among blocked pairs × blocked pairs ÷ all pairs. */
  lambda: number;
  /** EM's share of matches among the blocked pairs it learnt from. */
  blockedLambda: number;
  /** log2 cap on what family name, date of birth and address add together (see fellegi-sunter.ts). */
  householdCap: number | null;
  /** Pairs that agree on the household fields yet are two people (different NHS numbers or given names). */
  lookAlikePairs: number;
  matchProbability: number;
  possibleProbability: number;
  thresholds: Thresholds;
  mSource: 'em' | 'defaults';
  uSource: 'random-pairs' | 'random-pairs-without-matches' | 'defaults';
  lambdaSource: 'em' | 'defaults';
  randomPairs: number;
  trainingPairs: number;
  emIterations: number;
  emConverged: boolean;
}

export interface MatcherResult {
  pending: number;
  matched: number;
  possible: number;
  /** Pending identities with no NHS-number link that matched no one (now NO_MATCH). */
  noMatch: number;
  /** Identities of new NHS numbers with no duplicate person found (now MATCH). */
  confirmed: number;
  /** Candidate pairs scored. */
  pairs: number;
  /** Links refused because they would put two different valid NHS numbers in one person. */
  nhsConflicts: number;
  /** True when m was learnt from this data (false: too few pairs, defaults used). */
  estimated: boolean;
  thresholds: Thresholds;
  /** The model of the last round that had pending identities. */
  parameters: MatcherParameters;
  seconds: number;
}

interface Identity extends MatchIdentity {
  key: string;
  linkMethod: string;
  system: string;
  id: string;
  personId: string;
  matchStatus: string;
}

interface RunContext {
  table: IdentityTable;
  blocking: BlockingIndex;
  /** The table version the blocking index was built from. */
  blockingVersion: number;
  cap: number;
  random: { patterns: PatternCount[]; count: number };
  /** The settled sample's blocked pairs, compared (EM's known matches and blocked non-matches), as pattern counts. */
  sample?: { size: number; counts: PatternCounts; pairs: number };
  /** Term frequencies of family names and towns, and the table version they were counted at. */
  tf?: TermFrequencies;
  tfVersion?: number;
}
/**
 * Resolves every PENDING identity, in rounds; see the module comment. One run at a time per
 * database (mpi/matcher-lease.ts): a second run, from another process, waits for the first.
 */
export async function runMatcher(db: Database, opts: MatcherOptions = {}): Promise<MatcherResult> {
  return withMatcherLease(db, () => matchPending(db, opts), { onWait: (holder) => opts.log?.(`waiting for the matcher run of ${holder}`) });
}

async function matchPending(db: Database, opts: MatcherOptions): Promise<MatcherResult> {
  const started = process.hrtime.bigint();
  const total: MatcherResult = {
    pending: 0, matched: 0, possible: 0, noMatch: 0, confirmed: 0, pairs: 0, nhsConflicts: 0, estimated: false,
    thresholds: { match: 0, possible: 0 }, parameters: defaultReport(opts), seconds: 0,
  };
  total.thresholds = total.parameters.thresholds;
  const size = Math.max(1, opts.roundSize ?? 20_000);
  await backfillSoundex(db);
  // Fresh statistics first: after a bulk load the planner still believes the table is small and
  // would scan the whole table for the writes' key and person look-ups instead of using the
  // indexes. Sampled, so cheap.
  await db.exec('ANALYZE source_identity');
  const pendingAtStart = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM source_identity WHERE match_status = 'PENDING'")).rows[0]!.n;
  if (!pendingAtStart) {
    total.seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return total;
  }
  // Once per run: which blocking keys are too common, and u's random pairs (the population).
  // Once per run: every identity's fields, the blocking groupings, and u's random pairs (the population).
  const t0 = process.hrtime.bigint();
  const table = new IdentityTable();
  await table.load(db);
  const t1 = process.hrtime.bigint();
  const blocking = buildBlockingIndex(table);
  const t2 = process.hrtime.bigint();
  const ctx: RunContext = {
    table, blocking, blockingVersion: table.version, cap: opts.blockCap ?? defaultBlockCap(table.size),
    random: await randomPairs(db, table, opts.randomSample ?? 1000),
  };
  opts.log?.(`${table.size} identities read ${secondsSince(t0, t1)} s, blocking index ${secondsSince(t1, t2)} s, random pairs for u ${secondsSince(t2)} s; heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MiB, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MiB`);
  // Bounded even if identities arrive (or stay pending) while it runs.
  const maxRounds = Math.ceil(pendingAtStart / size) + 1;
  for (let round = 1; round <= maxRounds; round++) {
    const r = await matchRound(db, opts, size, ctx);
    for (const k of ['pending', 'matched', 'possible', 'noMatch', 'confirmed', 'pairs', 'nhsConflicts'] as const) total[k] += r[k];
    total.estimated ||= r.estimated;
    if (r.pending) {
      total.thresholds = r.thresholds;
      total.parameters = r.parameters;
    }
    // Every identity a round takes leaves PENDING; a round that takes none (or fewer than it
    // could) was the last.
    if (r.pending < size) break;
  }
  total.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return total;
}

function defaultReport(opts: MatcherOptions): MatcherParameters {
  const mp = opts.matchProbability ?? 0.99;
  const pp = opts.possibleProbability ?? 0.5;
  return report(DEFAULT_PARAMETERS, DEFAULT_PARAMETERS.lambda, {
    thresholds: thresholds(DEFAULT_PARAMETERS, mp, pp), matchProbability: mp, possibleProbability: pp, lookAlikePairs: 0,
    mSource: 'defaults', uSource: 'defaults', lambdaSource: 'defaults', randomPairs: 0, trainingPairs: 0, emIterations: 0, emConverged: false,
  });
}

function report(p: MatchParameters, blockedLambda: number, rest: Omit<MatcherParameters, 'm' | 'u' | 'lambda' | 'blockedLambda' | 'householdCap'>): MatcherParameters {
  const table = (x: number[][]) => Object.fromEntries(FIELDS.map((f, i) => [f.name, Object.fromEntries(f.levels.map((l, j) => [l, x[i]![j]!]))]));
  return { m: table(p.m), u: table(p.u), lambda: p.lambda, blockedLambda, householdCap: p.householdCap ?? null, ...rest };
}

async function matchRound(db: Database, opts: MatcherOptions, limit: number, ctx: RunContext): Promise<Omit<MatcherResult, 'seconds'>> {
  const log = opts.log ?? (() => {});
  const actor = opts.actor ?? 'mpi-matcher';
  const mp = opts.matchProbability ?? 0.99;
  const pp = opts.possibleProbability ?? 0.5;
  const table = ctx.table;
  // What earlier rounds (and anyone else) wrote since the table was read: persons, statuses, new identities.
  await table.refresh(db);
  const pendingRows = await db.query<{ source_system: string; source_id: string; link_method: string }>(
    "SELECT source_system, source_id, link_method FROM source_identity WHERE match_status = 'PENDING' ORDER BY source_system, source_id LIMIT $1",
    [limit],
  );
  if (!pendingRows.rows.length) {
    const d = defaultReport(opts);
    return { pending: 0, matched: 0, possible: 0, noMatch: 0, confirmed: 0, pairs: 0, nhsConflicts: 0, estimated: false, thresholds: d.thresholds, parameters: d };
  }
  const pendingKeys = pendingRows.rows.map((r) => `${r.source_system}|${r.source_id}`);
  // Committed after the last refresh read (a long ingest transaction): read them now.
  await table.add(db, pendingKeys.filter((k) => !table.index.has(k)));
  if (ctx.blockingVersion !== table.version) {
    log('identities added or changed since the last round: blocking index rebuilt');
    ctx.blocking = buildBlockingIndex(table);
    ctx.blockingVersion = table.version;
  }
  const num = (k: string) => table.index.get(k)!;
  // Identities linked by a new NHS number only need a check for a duplicate person: tight blocks.
  const wide = pendingRows.rows.filter((r) => r.link_method !== 'nhs-number').map((r) => num(`${r.source_system}|${r.source_id}`));
  const tight = pendingRows.rows.filter((r) => r.link_method === 'nhs-number').map((r) => num(`${r.source_system}|${r.source_id}`));
  log(`${pendingRows.rows.length} pending identities (${tight.length} new NHS numbers to check for duplicates)`);
  const lap = { at: process.hrtime.bigint(), parts: [] as string[] };
  const mark = (what: string) => {
    const now = process.hrtime.bigint();
    lap.parts.push(`${what} ${secondsSince(lap.at, now)} s`);
    lap.at = now;
  };

  // 1. Candidate pairs for the pending identities, each pair once (found from either side), the
  // wide pairs first, a chunk of pending identities at a time (blocking.ts): each chunk's pairs are
  // compared and counted for EM as they come, and kept only as four numbers a pair (RoundPairs).
  // Identities are compared as objects made for this round (their prepared features are cached
  // per object); the cache is let go whenever it holds FEATURE_CACHE identities, so its memory
  // does not grow with the locality.
  let round: (MatchIdentity | undefined)[] = [];
  let cached = 0;
  let prepared = 0;
  const cacheLimit = Math.max(1, opts.featureCache ?? FEATURE_CACHE);
  const identity = (i: number) => {
    let x = round[i];
    if (x === undefined) {
      if (cached === cacheLimit) (round = []), (cached = 0);
      round[i] = x = table.matchIdentity(i);
      cached++;
      prepared++;
    }
    return x;
  };
  // u is the population's (random pairs, once a run); the term-frequency addition of exact family
  // names and towns needs u as it is after EM (estimateUWithoutMatches), so what it needs of the
  // two identities (termRarity) is kept with the pair and the addition made when scoring.
  const randomU = ctx.random.count >= 10000 ? estimateU(ctx.random.patterns) : DEFAULT_PARAMETERS.u;
  if (ctx.tfVersion !== table.version || !ctx.tf) {
    ctx.tf = termFrequencies(table.family, table.town, table.size);
    ctx.tfVersion = table.version;
  }
  const tf = ctx.tf;
  // Identities the round looked at (for the share carrying an NHS number, below).
  const looked = new Uint8Array(table.size);
  for (const k of pendingKeys) looked[num(k)] = 1;
  const trainingCounts: PatternCounts = new Map();
  const pairs = new RoundPairs();
  for (const chunk of candidatePairChunks(ctx.blocking, table, { wide, tight, excludeSamePerson: true, cap: ctx.cap })) {
    for (let k = 0; k < chunk.length; k++) {
      const a = chunk.a[k]!;
      const b = chunk.b[k]!;
      const x = identity(a);
      const y = identity(b);
      const code = comparisonPattern(x, y);
      looked[a] = looked[b] = 1;
      if (k < chunk.wide) countPattern(trainingCounts, code);
      const [family, town] = termRarity(tf, x, y, code);
      pairs.push(a, b, code, family, town, emailNamesPerson(x, y, levelOf(code, F.given), levelOf(code, F.email)));
    }
    pairs.wide += chunk.wide;
  }
  mark(`blocking and comparing ${pairs.length} pairs (${prepared} identities prepared)`);

  // 2. Parameters. m and the prior by EM over the wide pending pairs together with the blocked
  // pairs of a sample of settled identities (which include known NHS-number matches). EM needs
  // only how many pairs showed each comparison pattern (a few thousand patterns however many
  // pairs), so the training pairs are counted as they are compared and none is kept.
  // The settled sample's pairs are the same in every round: found once a run (once there is a sample).
  if (!ctx.sample?.size) {
    const sample = await db.query<{ source_system: string; source_id: string }>(
      `SELECT source_system, source_id FROM source_identity WHERE match_status <> 'PENDING'
        ORDER BY md5(source_system || '|' || source_id), source_system, source_id LIMIT $1`,
      [opts.trainingSample ?? 2000],
    );
    const keys = sample.rows.map((r) => `${r.source_system}|${r.source_id}`).filter((k) => table.index.has(k));
    const counts: PatternCounts = new Map();
    let sampled = 0;
    for (const ps of candidatePairChunks(ctx.blocking, table, { wide: keys.map(num), excludeSamePerson: false, cap: ctx.cap })) {
      for (let k = 0; k < ps.length; k++) {
        countPattern(counts, comparisonPattern(identity(ps.a[k]!), identity(ps.b[k]!)));
        looked[ps.a[k]!] = looked[ps.b[k]!] = 1;
      }
      sampled += ps.length;
    }
    ctx.sample = { size: keys.length, counts, pairs: sampled };
  }
  round = [];
  const sampleSize = ctx.sample.size;
  for (const [code, count] of ctx.sample.counts) countPattern(trainingCounts, code, count);
  const training = patternsFromCounts(trainingCounts);
  const trainingCount = pairs.wide + ctx.sample.pairs;
  // m by EM on two training blocks with u fixed at the random pairs' (Splink's way): pairs that
  // share a date of birth teach m for every other field, pairs that share both names teach m for
  // the date of birth. Within a block every pair agrees on its fields whatever its status, so
  // those fields are left out there; with u fixed, EM cannot drift to a "class" that is really
  // one blocking pass (pairs sharing a postcode) rather than the matches.
  const byBirthDate = training.filter((t) => t.vector[F.birthDate] === 0);
  const byNames = training.filter((t) => t.vector[F.family] === 0 && t.vector[F.given] === 0);
  // Score with u from random pairs (the population) and m from EM; the prior is that of a random
  // pair: the matches EM found in a training block, scaled up by the share of matches that block
  // holds (m of its fields), over all the pairs the training pairs were drawn from.
  const counts = table.counts();
  const n = counts.identities;
  const drawnFrom = pairsDrawnFrom(wide.length, sampleSize, n);
  const sum = (ps: PatternCount[]) => ps.reduce((x, t) => x + t.count, 0);
  const train = (u: number[][]) => {
    const start: MatchParameters = { m: DEFAULT_PARAMETERS.m, u, lambda: 0.1 };
    const emA = estimateParameters(byBirthDate, start, { fixU: true, ignore: [F.birthDate], minPairs: 200 });
    const emB = estimateParameters(byNames, start, { fixU: true, ignore: [F.family, F.given], minPairs: 200 });
    const estimated = emA.estimated || emB.estimated;
    const m = FIELDS.map((_, f) => {
      const fromA = emA.estimated && f !== F.birthDate ? emA.parameters.m[f]! : null;
      const fromB = emB.estimated && f !== F.family && f !== F.given ? emB.parameters.m[f]! : null;
      if (fromA && fromB) return fromA.map((x, l) => (x + fromB[l]!) / 2);
      return fromA ?? fromB ?? DEFAULT_PARAMETERS.m[f]!;
    });
    const matches = !estimated ? 0 : emA.estimated
      ? (emA.parameters.lambda * sum(byBirthDate)) / m[F.birthDate]![0]!
      : (emB.parameters.lambda * sum(byNames)) / (m[F.family]![0]! * m[F.given]![0]!);
    return { emA, emB, estimated, m, matches, lambda: clamp(matches / drawnFrom, 1e-12, 0.5) };
  };
  // u from the random pairs first, then again with the matches among them taken out
  // (estimateUWithoutMatches: a random pair is a match with probability λ), and m and λ learnt
  // again with that u. Kept only when EM still finds a plausible answer with it.
  let u = randomU;
  let trained = train(u);
  if (trained.estimated && randomU !== DEFAULT_PARAMETERS.u) {
    const pure = estimateUWithoutMatches(ctx.random.patterns, trained.m, trained.lambda);
    const again = train(pure);
    if (again.estimated) (u = pure), (trained = again);
  }
  const { emA, emB, estimated, m } = trained;
  if (process.env.BEVAN_MPI_DEBUG) log(JSON.stringify({ emA, emB, randomU, u }));

  let lambda: number;
  let householdCap: number;
  let lookAlikes = 0;
  let blockedLambda: number;
  if (estimated) {
    lambda = trained.lambda;
    blockedLambda = clamp(trained.matches / Math.max(1, trainingCount), 0, 1);
    // What households share: P(all agree | match) from m; P(all agree | non-match) from the
    // look-alike pairs seen: pairs that agree on all of it yet carry different valid NHS numbers
    // (twins, mostly), scaled up from the pairs where both sides carry one to all pairs. A data set
    // with no such pair (no NHS numbers at all) is given a tenth of one, not none.
    for (const t of training) if (isLookAlike(t.vector)) lookAlikes += t.count;
    let withNhs = 0;
    let lookedAt = 0;
    for (let i = 0; i < looked.length; i++) {
      if (!looked[i]) continue;
      lookedAt++;
      if (table.nhsNumber[i]) withNhs++;
    }
    const share = withNhs / Math.max(1, lookedAt);
    const lookAlikesAll = lookAlikes ? lookAlikes / Math.max(share * share, 0.01) : 0.1;
    const residence = 1 - (1 - m[F.postcode]![0]!) * (1 - m[F.address]![0]! - m[F.address]![1]!);
    const mJoint = clamp((m[F.family]![0]! + m[F.family]![1]!) * m[F.birthDate]![0]! * residence, 0.01, 1);
    householdCap = Math.log2(mJoint / (lookAlikesAll / drawnFrom));
  } else {
    // Coincidences are judged against the locality's whole population, however few have been loaded.
    const population = Math.max(opts.minPopulation ?? 100_000, n);
    const perPerson = Math.min(5, Math.max(1, n / Math.max(1, counts.persons) - 1));
    lambda = Math.min(0.5, perPerson / population);
    blockedLambda = lambda;
    householdCap = DEFAULT_PARAMETERS.householdCap! + Math.log2(population / 100_000);
  }
  const em = { estimated, iterations: emA.iterations + emB.iterations, converged: emA.converged && emB.converged };
  mark('training');
  const params: MatchParameters = { m, u, lambda, householdCap };
  const limits = thresholds(params, mp, pp);
  await storeWeights(db, params);
  const parameters = report(params, blockedLambda, {
    thresholds: limits, matchProbability: mp, possibleProbability: pp, lookAlikePairs: lookAlikes,
    mSource: em.estimated ? 'em' : 'defaults', uSource: randomU === DEFAULT_PARAMETERS.u ? 'defaults' : u === randomU ? 'random-pairs' : 'random-pairs-without-matches',
    lambdaSource: em.estimated ? 'em' : 'defaults', randomPairs: ctx.random.count, trainingPairs: trainingCount,
    emIterations: em.iterations, emConverged: em.converged,
  });
  log(`${pairs.length} candidate pairs; m ${em.estimated ? `estimated by EM (${em.iterations} iterations)` : 'defaults'}; λ=${params.lambda.toPrecision(3)}; household cap ${householdCap.toFixed(1)}; match ≥ ${limits.match.toFixed(1)}, review ≥ ${limits.possible.toFixed(1)}`);

  // 3. Score, strongest first. Only pairs that could be a match or go to review are kept as
  // edges; for the rest each pending identity's best weight is all that is recorded (NO_MATCH).
  interface Edge {
    a: string;
    b: string;
    weight: number;
    vector: ComparisonVector;
  }
  const weightOf = new Map<number, number>();
  const best = new Float64Array(table.size).fill(-Infinity);
  const edges: Edge[] = [];
  // Per pattern: its weight, and what its household fields add before the cap and whether the cap
  // applies, so that a pair's term-frequency addition (termFrequencyWeight, found when compared)
  // needs no recomputation of the rest.
  const householdOf = new Map<number, { sum: number; capped: number | null }>();
  const uncapped = { ...params, householdCap: undefined };
  // A shared email beside a missing given name that the email's user name supplies (emailNamesPerson): rare, weighed apart.
  const namedWeightOf = new Map<number, number>();
  pairs.forEach((a, b, code, family, town, named) => {
    const extra = family || town ? termFrequencyWeightOf(params, family, town) : 0;
    const byCode = named ? namedWeightOf : weightOf;
    let w = byCode.get(code);
    if (w === undefined) byCode.set(code, (w = matchWeight(params, patternVector(code), 0, named)));
    if (extra !== 0) {
      let h = householdOf.get(code);
      if (!h) {
        const v = patternVector(code);
        householdOf.set(code, (h = { sum: householdWeight(uncapped, v), capped: householdAgrees(v) ? (params.householdCap ?? null) : null }));
      }
      const before = h.capped === null ? h.sum : Math.min(h.sum, h.capped);
      const after = h.capped === null ? h.sum + extra : Math.min(h.sum + extra, h.capped);
      w += after - before;
    }
    if (w > best[a]!) best[a] = w;
    if (w > best[b]!) best[b] = w;
    if (w >= limits.possible) edges.push({ a: table.key[a]!, b: table.key[b]!, weight: w, vector: patternVector(code) });
  });
  edges.sort((x, y) => y.weight - x.weight || cmp(x.a, y.a) || cmp(x.b, y.b));
  // The identities decisions are made about: the pending ones and both sides of every edge.
  const identities = new Map<string, Identity>();
  for (const k of [...pendingKeys, ...edges.flatMap((e) => [e.a, e.b])]) if (!identities.has(k)) identities.set(k, table.identity(num(k)));
  mark('scoring');

  // 4. Cluster persons, greedy on weight. A person holding a pending identity is provisional and
  // may join another person; two settled persons are never joined by the matcher, and nor are
  // two persons whose identities carry different valid NHS numbers.
  const pendingSet = new Set(pendingKeys);
  const provisional = new Set(pendingKeys.map((k) => identities.get(k)!.personId));
  // A pair over the match threshold on a birthday and a town alone (identifies) goes to review.
  const strong = edges.filter((e) => e.weight >= limits.match && identifies(e.vector));
  const members = await personMembers(db, [...new Set(strong.flatMap((e) => [identities.get(e.a)!.personId, identities.get(e.b)!.personId]))]);
  const parent = new Map<string, string>();
  const settledOf = new Map<string, string | null>(); // root → the settled person in its cluster
  const nhsOf = new Map<string, Set<string>>(); // root → valid NHS numbers its identities carry
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    for (let y = x; y !== r; ) {
      const next = parent.get(y)!;
      parent.set(y, r);
      y = next;
    }
    return r;
  };
  const ensure = (person: string) => {
    if (!parent.has(person)) {
      parent.set(person, person);
      settledOf.set(person, provisional.has(person) ? null : person);
      nhsOf.set(person, new Set((members.get(person) ?? []).filter((i) => i.nhsValid && i.nhsNumber).map((i) => i.nhsNumber!)));
    }
  };
  const linkedBy = new Map<string, number>(); // pending key → weight of the edge that joined it
  const conflicts = new Map<string, Edge>(); // pair → strong edge refused for an NHS number conflict
  for (const e of strong) {
    const pa = identities.get(e.a)!.personId;
    const pb = identities.get(e.b)!.personId;
    ensure(pa);
    ensure(pb);
    const ra = find(pa);
    const rb = find(pb);
    if (ra === rb) continue;
    const na = nhsOf.get(ra)!;
    const nb = nhsOf.get(rb)!;
    if (nhsNumbersConflict(e.vector) || (na.size && nb.size && [...nb].some((x) => !na.has(x)))) {
      conflicts.set(`${e.a}\u0000${e.b}`, e);
      continue;
    }
    const sa = settledOf.get(ra)!;
    const sb = settledOf.get(rb)!;
    if (sa && sb) continue;
    const [root, child] = ra < rb ? [ra, rb] : [rb, ra];
    parent.set(child, root);
    settledOf.set(root, sa ?? sb);
    nhsOf.set(root, new Set([...na, ...nb]));
    for (const k of [e.a, e.b]) if (pendingSet.has(k) && !linkedBy.has(k)) linkedBy.set(k, e.weight);
  }

  // 5. Decisions. Each cluster of more than one person becomes its settled person, or else the
  // provisional person with the most identities (then one with an NHS number, then by key).
  const clusters = new Map<string, string[]>(); // root → persons
  for (const person of parent.keys()) {
    const r = find(person);
    if (!clusters.has(r)) clusters.set(r, []);
    clusters.get(r)!.push(person);
  }
  const joined = [...clusters.values()].filter((c) => c.length > 1);
  const foundingKey = (person: string) => (members.get(person) ?? []).map((i) => `${i.system}|${i.id}`).sort(cmp)[0] ?? '';
  const moves: (IdentityMove & { fromPerson: string })[] = [];
  const finalPerson = new Map<string, string>(); // person → person it becomes
  const matchedKeys = new Set<string>();
  for (const cluster of joined) {
    const root = find(cluster[0]!);
    const target =
      settledOf.get(root) ??
      [...cluster].sort((x, y) => {
        const mx = members.get(x) ?? [];
        const my = members.get(y) ?? [];
        return my.length - mx.length || Number(my.some((i) => i.nhsValid)) - Number(mx.some((i) => i.nhsValid)) || cmp(foundingKey(x), foundingKey(y));
      })[0]!;
    for (const person of cluster) {
      finalPerson.set(person, target);
      for (const i of members.get(person) ?? []) {
        const key = `${i.system}|${i.id}`;
        const pending = pendingSet.has(key);
        if (pending) matchedKeys.add(key);
        if (person === target && !pending) continue;
        moves.push({
          fromPerson: person,
          system: i.system,
          id: i.id,
          to: target,
          // An identity keeps how it was linked unless this run is what linked it.
          linkMethod: pending && (person !== target || i.linkMethod !== 'nhs-number') ? 'probabilistic' : i.linkMethod,
          matchStatus: pending ? 'MATCH' : i.matchStatus,
          matchWeight: pending ? (linkedBy.get(key) ?? null) : i.matchWeight,
        });
      }
    }
  }
  // Each unresolved pending identity's strongest pair goes to review when it is a possible match,
  // or a match refused for an NHS number conflict; one item per pair, however it was found.
  const bestEdge = new Map<string, Edge>();
  for (const e of edges) for (const k of [e.a, e.b]) if (pendingSet.has(k) && !bestEdge.has(k)) bestEdge.set(k, e); // sorted strongest first
  const reviews = new Map<string, Edge>();
  const reviewKeys = new Set<string>();
  const noMatch: { key: string; weight: number | null }[] = [];
  let confirmed = 0;
  for (const key of [...pendingSet].sort(cmp)) {
    if (matchedKeys.has(key)) continue;
    const e = bestEdge.get(key);
    const decision = e ? decide(e.weight, limits) : 'NO_MATCH';
    const conflict = e && decision === 'MATCH' && conflicts.has(`${e.a}\u0000${e.b}`);
    if (e && (decision === 'POSSIBLE_MATCH' || conflict || (decision === 'MATCH' && !linkedBy.has(key)))) {
      reviews.set(`${e.a}\u0000${e.b}`, e);
      reviewKeys.add(key);
    } else {
      const w = best[num(key)]!;
      noMatch.push({ key, weight: e ? e.weight : Number.isFinite(w) ? w : null });
      if (identities.get(key)!.linkMethod === 'nhs-number') confirmed++;
    }
  }

  mark('clustering');
  // 6. Write: links (an event per person joined, so each can be undone), reviews, no-matches.
  const byFrom = new Map<string, typeof moves>();
  for (const m of moves) {
    if (!byFrom.has(m.fromPerson)) byFrom.set(m.fromPerson, []);
    byFrom.get(m.fromPerson)!.push(m);
  }
  const groups = [...byFrom.values()];
  for (let i = 0; i < groups.length; i += 1000) {
    const batch = groups.slice(i, i + 1000);
    await db.transaction(async (tx) => {
      // Ingest may have linked another identity to a provisional person since we read it: it
      // goes along, as it is, so no person is left half-moved.
      const planned = batch.flat();
      const plannedKeys = new Set(planned.map((m) => `${m.system}|${m.id}`));
      const targetOf = new Map(planned.map((m) => [m.fromPerson, m.to]));
      const late = await tx.query<{ person_id: string; source_system: string; source_id: string; link_method: string; match_status: string; match_weight: number | null }>(
        `SELECT person_id, source_system, source_id, link_method, match_status, match_weight FROM source_identity
          WHERE person_id = ANY($1::uuid[]) ORDER BY source_system, source_id`,
        [[...targetOf.keys()]],
      );
      for (const r of late.rows) {
        const to = targetOf.get(r.person_id)!;
        if (to === r.person_id || plannedKeys.has(`${r.source_system}|${r.source_id}`)) continue;
        planned.push({ fromPerson: r.person_id, system: r.source_system, id: r.source_id, to, linkMethod: r.link_method, matchStatus: r.match_status, matchWeight: r.match_weight });
      }
      const moved = await moveIdentities(tx, planned);
      const movedFrom = new Map<string, MovedIdentity[]>();
      for (const m of moved) {
        if (m.from === m.to) continue;
        if (!movedFrom.has(m.from!)) movedFrom.set(m.from!, []);
        movedFrom.get(m.from!)!.push(m);
      }
      await recordEvents(
        tx,
        [...movedFrom.entries()].map(([from, ids]) => ({
          personId: ids[0]!.to,
          kind: 'link' as const,
          otherPersonId: from,
          identities: ids,
          reason: `probabilistic match (weight ${Math.max(...ids.map((x) => linkedBy.get(`${x.system}|${x.id}`) ?? 0)).toFixed(1)})`,
          actor,
        })),
      );
    });
  }
  mark(`linking ${moves.length} identities`);
  const reviewList = [...reviews.values()].sort((x, y) => cmp(x.a, y.a) || cmp(x.b, y.b));
  for (let i = 0; i < reviewList.length; i += 2000) {
    const batch = reviewList.slice(i, i + 2000);
    await db.transaction(async (tx) => {
      await writeReviews(
        tx,
        batch.map((edge) => {
          const a = identities.get(edge.a)!;
          const b = identities.get(edge.b)!;
          const conflict = nhsNumbersConflict(edge.vector) ? 'different valid NHS numbers' : conflicts.has(`${edge.a}\u0000${edge.b}`) ? 'would join persons with different valid NHS numbers' : null;
          return {
            a,
            b,
            person: finalPerson.get(a.personId) ?? a.personId,
            candidatePerson: finalPerson.get(b.personId) ?? b.personId,
            weight: edge.weight,
            detail: { levels: describeComparison(edge.vector), probability: matchProbability(params, edge.weight), ...(conflict ? { conflict } : {}) },
          };
        }),
        [...new Set(batch.flatMap((e) => [e.a, e.b]))].filter((k) => reviewKeys.has(k)).map((k) => ({ key: k, weight: bestEdge.get(k)!.weight })),
      );
    });
  }
  mark(`${reviews.size} reviews`);
  for (let i = 0; i < noMatch.length; i += 2000) {
    const batch = noMatch.slice(i, i + 2000);
    // An identity linked by its NHS number with no duplicate found simply stays linked (MATCH).
    await db.query(
      `UPDATE source_identity s SET match_status = CASE WHEN s.link_method = 'nhs-number' THEN 'MATCH' ELSE 'NO_MATCH' END,
              match_weight = x.weight, updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::float8[]) AS x(sys, id, weight)
        WHERE s.source_system = x.sys AND s.source_id = x.id AND s.match_status = 'PENDING'`,
      [batch.map((x) => identities.get(x.key)!.system), batch.map((x) => identities.get(x.key)!.id), batch.map((x) => x.weight)],
    );
  }
  mark(`${noMatch.length} no match`);
  log(`${lap.parts.join(', ')}; heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MiB, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MiB`);
  return {
    pending: pendingSet.size,
    matched: matchedKeys.size,
    possible: reviewKeys.size,
    noMatch: noMatch.length - confirmed,
    confirmed,
    pairs: pairs.length,
    nhsConflicts: conflicts.size,
    estimated: em.estimated,
    thresholds: limits,
    parameters,
  };
}

/**
 * Identities whose prepared comparison features a round keeps at once (about 1 KiB each); past
 * that the cache starts afresh. Pairs come a chunk of pending identities at a time, and a chunk's
 * candidates are mostly its own, so little is prepared twice.
 */
const FEATURE_CACHE = 100_000;

/**
 * A round's candidate pairs as columns, in blocks of PAIR_BLOCK (nothing copied as they grow, at
 * most one block unused): identity numbers, comparison pattern, the rarity of an exact family name
 * and town (termRarity), whether the email names the person. 21 bytes a pair.
 */
class RoundPairs {
  private readonly blocks: { a: Int32Array; b: Int32Array; code: Int32Array; family: Float32Array; town: Float32Array; named: Uint8Array }[] = [];
  length = 0;
  /** Pairs [0, wide) were found by the wide passes (EM learns from them). */
  wide = 0;

  push(a: number, b: number, code: number, family: number, town: number, named: boolean): void {
    const at = this.length & (PAIR_BLOCK - 1);
    if (at === 0) this.blocks.push({ a: new Int32Array(PAIR_BLOCK), b: new Int32Array(PAIR_BLOCK), code: new Int32Array(PAIR_BLOCK), family: new Float32Array(PAIR_BLOCK), town: new Float32Array(PAIR_BLOCK), named: new Uint8Array(PAIR_BLOCK) });
    const block = this.blocks[this.blocks.length - 1]!;
    block.a[at] = a;
    block.b[at] = b;
    block.code[at] = code;
    block.family[at] = family;
    block.town[at] = town;
    block.named[at] = named ? 1 : 0;
    this.length++;
  }

  /** Calls fn for every pair, in the order pushed. */
  forEach(fn: (a: number, b: number, code: number, family: number, town: number, named: boolean) => void): void {
    let left = this.length;
    for (const block of this.blocks) {
      const n = Math.min(left, PAIR_BLOCK);
      for (let k = 0; k < n; k++) fn(block.a[k]!, block.b[k]!, block.code[k]!, block.family[k]!, block.town[k]!, block.named[k] === 1);
      left -= n;
    }
  }
}

const PAIR_BLOCK = 1 << 16;

/**
 * How many pairs the blocked pairs were drawn from: every pair of a wide pending identity with
 * any other identity (pending pairs counted once), and of a sampled settled identity with any other.
 */
function pairsDrawnFrom(pending: number, sampled: number, identities: number): number {
  const withOthers = (k: number) => k * Math.max(1, identities - 1) - (k * (k - 1)) / 2;
  return Math.max(1, withOthers(pending) + withOthers(sampled));
}

/** Agrees on what a household shares, yet two people as far as the NHS knows (different valid NHS numbers). */
function isLookAlike(v: ComparisonVector): boolean {
  return householdAgrees(v) && v[F.nhs] === 1;
}

function secondsSince(from: bigint, to = process.hrtime.bigint()): string {
  return (Number(to - from) / 1e9).toFixed(1);
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

interface Member {
  system: string;
  id: string;
  linkMethod: string;
  matchStatus: string;
  matchWeight: number | null;
  nhsNumber: string | null;
  nhsValid: boolean;
}

/** Every identity of some persons, with its current link. */
async function personMembers(db: Queryable, persons: string[]): Promise<Map<string, Member[]>> {
  const out = new Map<string, Member[]>();
  for (let i = 0; i < persons.length; i += 10000) {
    const r = await db.query<{ person_id: string; source_system: string; source_id: string; link_method: string; match_status: string; match_weight: number | null; nhs_number: string | null; nhs_number_valid: boolean }>(
      `SELECT person_id, source_system, source_id, link_method, match_status, match_weight, nhs_number, nhs_number_valid
         FROM source_identity WHERE person_id = ANY($1::uuid[]) ORDER BY source_system, source_id`,
      [persons.slice(i, i + 10000)],
    );
    for (const x of r.rows) {
      if (!out.has(x.person_id)) out.set(x.person_id, []);
      out.get(x.person_id)!.push({ system: x.source_system, id: x.source_id, linkMethod: x.link_method, matchStatus: x.match_status, matchWeight: x.match_weight, nhsNumber: x.nhs_number, nhsValid: x.nhs_number_valid });
    }
  }
  return out;
}

const IDENTITY_COLUMNS = `s.source_system, s.source_id, s.person_id, CASE WHEN s.nhs_number_valid THEN s.nhs_number END AS nhs_number,
  s.family, s.given, COALESCE(s.birth_date::text, s.birth_date_as_sent) AS birth_date, s.sex, s.postcode, s.address, s.town, s.email, s.phone, s.other_id, s.family_soundex,
  s.match_status, s.link_method`;

interface IdentityRow {
  source_system: string; source_id: string; person_id: string; nhs_number: string | null; family: string | null; given: string | null;
  birth_date: string | null; sex: string | null; postcode: string | null; address: string | null; town: string | null;
  email: string | null; phone: string | null; other_id: string | null; family_soundex: string | null; match_status: string; link_method: string;
}

// Ingest transactions still open when the table was last read may commit rows stamped earlier
// (updated_at is a transaction's start): each refresh reads back this far before the last one.
const REFRESH_OVERLAP = '60 seconds';

/**
 * Every identity of the database as the matcher needs it, column by column (identity number =
 * array index), read once a run in key pages and brought up to date before each round from the
 * rows written since (updated_at): the rounds' own links, and whatever ingest or a person did
 * meanwhile. Blocking (blocking.ts) and comparisons read it instead of the database.
 */
class IdentityTable implements BlockingColumns {
  key: string[] = [];
  /** Person number of each identity; personUuid turns it back into the person. */
  person: number[] = [];
  readonly personUuid: string[] = [];
  nhsNumber: (string | null)[] = [];
  family: (string | null)[] = [];
  given: (string | null)[] = [];
  birthDate: (string | null)[] = [];
  sex: (string | null)[] = [];
  postcode: (string | null)[] = [];
  address: (string | null)[] = [];
  town: (string | null)[] = [];
  email: (string | null)[] = [];
  phone: (string | null)[] = [];
  otherId: (string | null)[] = [];
  familySoundex: (string | null)[] = [];
  matchStatus: string[] = [];
  linkMethod: string[] = [];
  readonly index = new Map<string, number>();
  /** Bumped whenever a blocking field changes or an identity is added (the blocking index is then rebuilt). */
  version = 0;
  private readonly personNumbers = new Map<string, number>();
  private since: string | null = null;
  // Names, towns, dates and postcodes repeat across identities: one string each (memory at borough scale).
  private readonly strings = new Map<string, string>();

  get size(): number {
    return this.key.length;
  }

  async load(db: Queryable): Promise<void> {
    this.since = await this.clock(db);
    let last: [string, string] | null = null;
    for (;;) {
      const r: { rows: IdentityRow[] } = await db.query<IdentityRow>(
        `SELECT ${IDENTITY_COLUMNS} FROM source_identity s
          ${last ? 'WHERE (s.source_system, s.source_id) > ($2, $3)' : ''} ORDER BY s.source_system, s.source_id LIMIT $1`,
        last ? [20_000, last[0], last[1]] : [20_000],
      );
      for (const row of r.rows) this.put(row);
      if (r.rows.length < 20_000) break;
      const end = r.rows[r.rows.length - 1]!;
      last = [end.source_system, end.source_id];
    }
    this.strings.clear();
  }

  /** Reads back the rows written since the last read. */
  async refresh(db: Queryable): Promise<void> {
    const now = await this.clock(db);
    const r = await db.query<IdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM source_identity s WHERE s.updated_at >= $1::timestamptz - interval '${REFRESH_OVERLAP}'`, [this.since]);
    for (const row of r.rows) this.put(row);
    this.since = now;
    this.strings.clear();
  }

  /** Reads some identities by key (ones not in the table yet). */
  async add(db: Queryable, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 5000) {
      const chunk = keys.slice(i, i + 5000).map((k) => [k.slice(0, k.indexOf('|')), k.slice(k.indexOf('|') + 1)] as const);
      const r = await db.query<IdentityRow>(
        `SELECT ${IDENTITY_COLUMNS} FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id`,
        [chunk.map((c) => c[0]), chunk.map((c) => c[1])],
      );
      for (const row of r.rows) this.put(row);
    }
    this.strings.clear();
  }

  /** Identity count and person count, as they stand. */
  counts(): { identities: number; persons: number } {
    const seen = new Uint8Array(this.personNumbers.size);
    let persons = 0;
    for (const p of this.person) if (!seen[p]) (seen[p] = 1), persons++;
    return { identities: this.size, persons };
  }

  /** The demographics compared (a new object each call: features are cached per object). */
  matchIdentity(i: number): MatchIdentity {
    return {
      nhsNumber: this.nhsNumber[i], family: this.family[i], given: this.given[i], birthDate: this.birthDate[i],
      sex: this.sex[i], postcode: this.postcode[i], address: this.address[i], town: this.town[i],
      email: this.email[i], phone: this.phone[i], otherId: this.otherId[i],
    };
  }

  identity(i: number): Identity {
    const key = this.key[i]!;
    return {
      ...this.matchIdentity(i),
      key,
      // Split at the first '|': system names (gp:…, hl7:…, fhir:…, csv:…) have none.
      system: key.slice(0, key.indexOf('|')), id: key.slice(key.indexOf('|') + 1),
      personId: this.personUuid[this.person[i]!]!, matchStatus: this.matchStatus[i]!, linkMethod: this.linkMethod[i]!,
    };
  }

  private async clock(db: Queryable): Promise<string> {
    return (await db.query<{ at: string }>('SELECT clock_timestamp()::text AS at')).rows[0]!.at;
  }

  private intern(s: string | null): string | null {
    if (s === null) return null;
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit;
    this.strings.set(s, s);
    return s;
  }

  private put(r: IdentityRow): void {
    const key = `${r.source_system}|${r.source_id}`;
    let i = this.index.get(key);
    let person = this.personNumbers.get(r.person_id);
    if (person === undefined) {
      this.personNumbers.set(r.person_id, (person = this.personNumbers.size));
      this.personUuid.push(r.person_id);
    }
    const blockingFields = [r.nhs_number, r.family, r.given, r.birth_date, r.postcode, r.address, r.town, r.family_soundex, r.email, r.other_id] as const;
    if (i === undefined) {
      i = this.size;
      this.index.set(key, i);
      this.key.push(key);
      this.version++;
    } else if (
      this.nhsNumber[i] !== blockingFields[0] || this.family[i] !== blockingFields[1] || this.given[i] !== blockingFields[2] ||
      this.birthDate[i] !== blockingFields[3] || this.postcode[i] !== blockingFields[4] || this.address[i] !== blockingFields[5] ||
      this.town[i] !== blockingFields[6] || this.familySoundex[i] !== blockingFields[7] || this.email[i] !== blockingFields[8] ||
      this.otherId[i] !== blockingFields[9]
    ) {
      this.version++;
    }
    this.person[i] = person;
    this.nhsNumber[i] = r.nhs_number;
    this.family[i] = this.intern(r.family);
    this.given[i] = this.intern(r.given);
    this.birthDate[i] = this.intern(r.birth_date);
    this.sex[i] = this.intern(r.sex);
    this.postcode[i] = this.intern(r.postcode);
    this.address[i] = r.address;
    this.town[i] = this.intern(r.town);
    this.familySoundex[i] = this.intern(r.family_soundex);
    this.email[i] = r.email;
    this.phone[i] = r.phone;
    this.otherId[i] = r.other_id;
    this.matchStatus[i] = this.intern(r.match_status)!;
    this.linkMethod[i] = this.intern(r.link_method)!;
  }
}

/**
 * u's evidence: every pair within a sample of all identities (hash-ordered, so deterministic),
 * counted as patterns, leaving out pairs already known to be one person. 1000 identities give
 * about half a million pairs, enough to see birth-date agreement (about 1 in 30,000) a dozen times.
 * Pending identities are in the sample too, so a first load learns u from its own data.
 */
async function randomPairs(db: Queryable, table: IdentityTable, size: number): Promise<{ patterns: PatternCount[]; count: number }> {
  const r = await db.query<{ source_system: string; source_id: string }>(
    `SELECT source_system, source_id FROM source_identity ORDER BY md5(source_system || '|' || source_id), source_system, source_id LIMIT $1`,
    [size],
  );
  const s = r.rows.map((x) => table.index.get(`${x.source_system}|${x.source_id}`)).filter((i) => i !== undefined).sort((a, b) => cmp(table.key[a]!, table.key[b]!));
  const ids = s.map((i) => table.matchIdentity(i));
  const counts: PatternCounts = new Map();
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    for (let j = i + 1; j < s.length; j++) {
      if (table.person[s[i]!] === table.person[s[j]!]) continue;
      count++;
      countPattern(counts, comparisonPattern(ids[i]!, ids[j]!));
    }
  }
  return { patterns: patternsFromCounts(counts), count };
}

async function storeWeights(db: Queryable, p: MatchParameters): Promise<void> {
  const rows: [string, string, number, number][] = [];
  FIELDS.forEach((f, i) => f.levels.forEach((l, j) => rows.push([f.name, l, p.m[i]![j]!, p.u[i]![j]!])));
  rows.push(['_prior', 'lambda', p.lambda, 1 - p.lambda]);
  if (p.householdCap !== undefined) rows.push(['_household', 'cap', p.householdCap, 0]);
  await db.query(
    `INSERT INTO mpi_weight (field, level, m, u) SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[])
     ON CONFLICT (field, level) DO UPDATE SET m = EXCLUDED.m, u = EXCLUDED.u, estimated_at = now()`,
    [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
  );
}

/**
 * The parameters the matcher last estimated (mpi_weight, written by every run), for explaining
 * a pair's weight to a person; null when the matcher has not run or a field's levels are missing.
 */
export async function readMatchParameters(db: Queryable): Promise<MatchParameters | null> {
  const r = await db.query<{ field: string; level: string; m: number; u: number }>('SELECT field, level, m, u FROM mpi_weight');
  const at = new Map(r.rows.map((x) => [`${x.field}|${x.level}`, x]));
  const m: number[][] = [];
  const u: number[][] = [];
  for (const f of FIELDS) {
    const rows = f.levels.map((l) => at.get(`${f.name}|${l}`));
    if (rows.some((x) => !x)) return null;
    m.push(rows.map((x) => Number(x!.m)));
    u.push(rows.map((x) => Number(x!.u)));
  }
  const prior = at.get('_prior|lambda');
  if (!prior) return null;
  const cap = at.get('_household|cap');
  return { m, u, lambda: Number(prior.m), ...(cap ? { householdCap: Number(cap.m) } : {}) };
}

/** Identities written without a Soundex key (e.g. by older code) get one, so blocking finds them. */
async function backfillSoundex(db: Database): Promise<void> {
  for (;;) {
    const r = await db.query<{ source_system: string; source_id: string; family: string }>(
      `SELECT source_system, source_id, family FROM source_identity WHERE family_soundex IS NULL AND family ~ '[A-Za-z]' LIMIT 10000`,
    );
    if (!r.rows.length) return;
    await db.query(
      `UPDATE source_identity s SET family_soundex = x.code FROM unnest($1::text[], $2::text[], $3::text[]) AS x(sys, id, code)
        WHERE s.source_system = x.sys AND s.source_id = x.id`,
      [r.rows.map((x) => x.source_system), r.rows.map((x) => x.source_id), r.rows.map((x) => soundex(x.family))],
    );
  }
}

interface ReviewInput {
  /** The identity with the smaller key (canonical order), and the other. */
  a: Identity;
  b: Identity;
  person: string;
  candidatePerson: string;
  weight: number;
  detail: unknown;
}

/**
 * One review item per pair, stored canonically (smaller identity key as source_*), and the pending
 * identities among them marked POSSIBLE_MATCH.
 */
async function writeReviews(tx: Queryable, reviews: ReviewInput[], possible: { key: string; weight: number }[]): Promise<void> {
  if (!reviews.length) return;
  await tx.query(
    `INSERT INTO mpi_review (person_id, candidate_person_id, source_system, source_id, candidate_system, candidate_id, weight, detail)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::jsonb[])
     ON CONFLICT (source_system, source_id, candidate_system, candidate_id) DO UPDATE SET
       person_id = EXCLUDED.person_id, candidate_person_id = EXCLUDED.candidate_person_id, weight = EXCLUDED.weight, detail = EXCLUDED.detail
     WHERE mpi_review.status = 'open'`,
    [
      reviews.map((r) => r.person),
      reviews.map((r) => r.candidatePerson),
      reviews.map((r) => r.a.system),
      reviews.map((r) => r.a.id),
      reviews.map((r) => r.b.system),
      reviews.map((r) => r.b.id),
      reviews.map((r) => r.weight),
      reviews.map((r) => JSON.stringify(r.detail)),
    ],
  );
  const split = (k: string) => [k.slice(0, k.indexOf('|')), k.slice(k.indexOf('|') + 1)] as const;
  await tx.query(
    `UPDATE source_identity s SET match_status = 'POSSIBLE_MATCH', match_weight = x.weight, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::float8[]) AS x(sys, id, weight)
      WHERE s.source_system = x.sys AND s.source_id = x.id AND s.match_status = 'PENDING'`,
    [possible.map((p) => split(p.key)[0]), possible.map((p) => split(p.key)[1]), possible.map((p) => p.weight)],
  );
}
