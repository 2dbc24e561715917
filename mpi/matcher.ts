/**
 * The probabilistic matcher: resolves PENDING identities (no usable NHS number, or a date of
 * birth that disagreed) against everyone else. Candidates come from blocking in SQL (same date
 * of birth; same Soundex of family name and birth year; same postcode and birth year; same NHS
 * number), pairs are scored with Fellegi–Sunter weights estimated by EM on this database's own
 * pairs, and each pending identity is linked (MATCH), queued for review (POSSIBLE_MATCH) or
 * left on its own (NO_MATCH). The result depends only on the data, not on run order or uuids.
 */
import type { Database, Queryable } from '../db/database.ts';
import {
  compareIdentities,
  countPatterns,
  decide,
  DEFAULT_PARAMETERS,
  describeComparison,
  estimateParameters,
  estimateU,
  FIELDS,
  matchProbability,
  matchWeight,
  soundex,
  thresholds,
  type ComparisonVector,
  type MatchIdentity,
  type PatternCount,
  type MatchParameters,
  type Thresholds,
} from './fellegi-sunter.ts';
import { cmp, moveIdentities, recordEvents, type IdentityMove, type MovedIdentity } from './person-store.ts';

export interface MatcherOptions {
  /** Pending identities blocked per query (default 1000). */
  chunkSize?: number;
  /**
   * Pending identities resolved per round (default 20,000). A first load of a whole borough leaves
   * hundreds of thousands pending; taking them in rounds keeps memory flat, and later rounds match
   * against the persons earlier rounds settled.
   */
  roundSize?: number;
  /** Settled identities sampled to learn from alongside the pending pairs (default 3000). */
  trainingSample?: number;
  /** Posterior P(match) for an automatic link (default 0.99). */
  matchProbability?: number;
  /** Posterior P(match) for the review queue (default 0.5). */
  possibleProbability?: number;
  actor?: string;
  /**
   * How weights are calibrated: 'population' (default) scores with u from random pairs and m from
   * EM; 'blocked' uses m, u and λ all from EM over the blocked candidate pairs.
   */
  calibration?: 'population' | 'blocked';
  /** Population size below which the prior does not go (default 100,000): see runMatcher. */
  minPopulation?: number;
  /** Progress messages for people. */
  log?: (message: string) => void;
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
  /** True when m and u were learnt from this data (false: too few pairs, defaults used). */
  estimated: boolean;
  thresholds: Thresholds;
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

interface Pair {
  a: string;
  b: string;
}

/** Resolves every PENDING identity, in rounds; see the module comment. */
export async function runMatcher(db: Database, opts: MatcherOptions = {}): Promise<MatcherResult> {
  const started = process.hrtime.bigint();
  const total: MatcherResult = { pending: 0, matched: 0, possible: 0, noMatch: 0, confirmed: 0, pairs: 0, estimated: false, thresholds: { match: 0, possible: 0 }, seconds: 0 };
  const size = Math.max(1, opts.roundSize ?? 20_000);
  await backfillSoundex(db);
  // Fresh statistics first: after a bulk load the planner still believes the table is small and
  // picks sort-merge joins over the whole table for each chunk's blocking query (seconds per
  // chunk at borough scale) instead of index lookups (milliseconds). Sampled, so cheap.
  await db.exec('ANALYZE source_identity');
  const pendingAtStart = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM source_identity WHERE match_status = 'PENDING'")).rows[0]!.n;
  // Bounded even if identities arrive (or stay pending) while it runs.
  const maxRounds = Math.ceil(pendingAtStart / size) + 1;
  for (let round = 1; round <= maxRounds; round++) {
    const r = await matchRound(db, opts, size);
    for (const k of ['pending', 'matched', 'possible', 'noMatch', 'confirmed', 'pairs'] as const) total[k] += r[k];
    total.estimated ||= r.estimated;
    if (r.pending || round === 1) total.thresholds = r.thresholds; // an empty round has only the defaults
    // Every identity a round takes leaves PENDING; a round that takes none (or fewer than it
    // could) was the last.
    if (r.pending < size) break;
  }
  total.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return total;
}

async function matchRound(db: Database, opts: MatcherOptions, limit: number): Promise<MatcherResult> {
  const started = process.hrtime.bigint();
  const log = opts.log ?? (() => {});
  const actor = opts.actor ?? 'mpi-matcher';
  const chunkSize = opts.chunkSize ?? 1000;
  const pendingRows = await db.query<{ source_system: string; source_id: string; link_method: string }>(
    "SELECT source_system, source_id, link_method FROM source_identity WHERE match_status = 'PENDING' ORDER BY source_system, source_id LIMIT $1",
    [limit],
  );
  // Identities linked by a new NHS number only need a check for a duplicate person: tight blocks.
  const wide = pendingRows.rows.filter((r) => r.link_method !== 'nhs-number').map((r) => ({ system: r.source_system, id: r.source_id }));
  const tight = pendingRows.rows.filter((r) => r.link_method === 'nhs-number').map((r) => ({ system: r.source_system, id: r.source_id }));
  log(`${pendingRows.rows.length} pending identities (${tight.length} new NHS numbers to check for duplicates)`);
  if (!pendingRows.rows.length) {
    const limits = thresholds(DEFAULT_PARAMETERS, opts.matchProbability ?? 0.99, opts.possibleProbability ?? 0.5);
    return { pending: 0, matched: 0, possible: 0, noMatch: 0, confirmed: 0, pairs: 0, estimated: false, thresholds: limits, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  }

  // 1. Candidate pairs for the pending identities, and the identities they involve.
  const identities = new Map<string, Identity>();
  const pendingPairs: Pair[] = [];
  for (const [keys, mode] of [[wide, 'wide'], [tight, 'tight']] as const) {
    for (let i = 0; i < keys.length; i += chunkSize) {
      const chunk = keys.slice(i, i + chunkSize);
      pendingPairs.push(...(await blockedPairs(db, chunk, true, mode)));
      await loadIdentities(db, identities, chunk.map((k) => `${k.system}|${k.id}`));
    }
  }
  await loadIdentities(db, identities, pendingPairs.map((p) => p.b));

  // 2. Parameters: m by EM over the pending pairs together with the blocked pairs of a sample of
  // settled identities (which include known NHS-number matches); u from random pairs.
  const sample = await db.query<{ source_system: string; source_id: string }>(
    `SELECT source_system, source_id FROM source_identity WHERE match_status <> 'PENDING'
      ORDER BY md5(source_system || '|' || source_id), source_system, source_id LIMIT $1`,
    [opts.trainingSample ?? 3000],
  );
  const sampleKeys = sample.rows.map((r) => ({ system: r.source_system, id: r.source_id }));
  const samplePairs: Pair[] = [];
  for (let i = 0; i < sampleKeys.length; i += chunkSize) samplePairs.push(...(await blockedPairs(db, sampleKeys.slice(i, i + chunkSize), false, 'wide')));
  await loadIdentities(db, identities, [...sampleKeys.map((k) => `${k.system}|${k.id}`), ...samplePairs.map((p) => p.b)]);

  const vector = (p: Pair) => compareIdentities(identities.get(p.a)!, identities.get(p.b)!);
  const randomPairs = randomPairPatterns(sampleKeys.map((k) => identities.get(`${k.system}|${k.id}`)!));
  const randomCount = randomPairs.reduce((s, p) => s + p.count, 0);
  const randomU = randomCount >= 10000 ? estimateU(randomPairs) : DEFAULT_PARAMETERS.u;
  const training = countPatterns([...pendingPairs, ...samplePairs].map(vector));
  // EM starts from u = how candidate pairs look overall (most of them are non-matches), not from
  // random pairs: within blocks, sharing a birth date is common and must not look like a match.
  const start: MatchParameters = { m: DEFAULT_PARAMETERS.m, u: estimateU(training), lambda: 0.1 };
  const em = estimateParameters(training, start, { minPairs: 500 });
  if (process.env.BEVAN_MPI_DEBUG) log(JSON.stringify({ em, randomU, start }));
  let params: MatchParameters;
  if ((opts.calibration ?? 'population') === 'blocked') {
    params = em.parameters;
  } else {
    // Blocked pairs agree on the blocking fields whatever their status, so u learnt from them
    // understates what agreeing on name and birth date means. Score with u from random pairs
    // (the population) and m from EM; the prior is then that of a random pair being one person:
    // about (other identities per person) / (identities).
    const counts = await db.query<{ identities: number; persons: number }>(
      'SELECT count(*)::int AS identities, count(DISTINCT person_id)::int AS persons FROM source_identity',
    );
    // Coincidences are judged against the locality's whole population, however few have been loaded.
    const n = Math.max(opts.minPopulation ?? 100_000, counts.rows[0]!.identities);
    const perPerson = Math.min(5, Math.max(1, counts.rows[0]!.identities / Math.max(1, counts.rows[0]!.persons) - 1));
    params = { m: em.estimated ? em.parameters.m : DEFAULT_PARAMETERS.m, u: randomU, lambda: Math.min(0.5, perPerson / n) };
  }
  const limits = thresholds(params, opts.matchProbability ?? 0.99, opts.possibleProbability ?? 0.5);
  await storeWeights(db, params);
  log(`${pendingPairs.length} candidate pairs; m ${em.estimated ? `estimated by EM (${em.iterations} iterations)` : 'defaults'}; λ=${params.lambda.toPrecision(3)}; match ≥ ${limits.match.toFixed(1)}, review ≥ ${limits.possible.toFixed(1)}`);

  // 3. Score, strongest first.
  interface Edge {
    a: string;
    b: string;
    weight: number;
    vector: ComparisonVector;
  }
  const edges: Edge[] = pendingPairs.map((p) => {
    const v = vector(p);
    return { a: p.a, b: p.b, weight: matchWeight(params, v), vector: v };
  });
  edges.sort((x, y) => y.weight - x.weight || cmp(x.a, y.a) || cmp(x.b, y.b));

  // 4. Cluster persons, greedy on weight. A person holding a pending identity is provisional and
  // may join another person; two settled persons are never joined by the matcher.
  const pendingSet = new Set(pendingRows.rows.map((r) => `${r.source_system}|${r.source_id}`));
  const provisional = new Set([...pendingSet].map((k) => identities.get(k)!.personId));
  const parent = new Map<string, string>();
  const settledOf = new Map<string, string | null>(); // root → the settled person in its cluster
  const find = (n: string): string => {
    let r = n;
    while (parent.get(r) !== r) r = parent.get(r)!;
    for (let x = n; x !== r; ) {
      const next = parent.get(x)!;
      parent.set(x, r);
      x = next;
    }
    return r;
  };
  const ensure = (person: string) => {
    if (!parent.has(person)) {
      parent.set(person, person);
      settledOf.set(person, provisional.has(person) ? null : person);
    }
  };
  const linkedBy = new Map<string, number>(); // pending key → weight of the edge that joined it
  for (const e of edges) {
    if (e.weight < limits.match) break;
    if (!autoLinkAllowed(e.vector)) continue;
    const pa = identities.get(e.a)!.personId;
    const pb = identities.get(e.b)!.personId;
    ensure(pa);
    ensure(pb);
    const ra = find(pa);
    const rb = find(pb);
    if (ra === rb) continue;
    const sa = settledOf.get(ra)!;
    const sb = settledOf.get(rb)!;
    if (sa && sb) continue;
    const [root, child] = ra < rb ? [ra, rb] : [rb, ra];
    parent.set(child, root);
    settledOf.set(root, sa ?? sb);
    if (!linkedBy.has(e.a)) linkedBy.set(e.a, e.weight);
    if (pendingSet.has(e.b) && !linkedBy.has(e.b)) linkedBy.set(e.b, e.weight);
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
  const members = await personMembers(db, joined.flat());
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
  const bestEdge = new Map<string, Edge>();
  for (const e of edges) if (!bestEdge.has(e.a)) bestEdge.set(e.a, e); // edges are sorted strongest first
  const reviews: { key: string; edge: Edge }[] = [];
  const noMatch: { key: string; weight: number | null }[] = [];
  let confirmed = 0;
  for (const key of [...pendingSet].sort(cmp)) {
    if (matchedKeys.has(key)) continue;
    const e = bestEdge.get(key);
    const decision = e ? decide(e.weight, limits) : 'NO_MATCH';
    if (e && (decision === 'POSSIBLE_MATCH' || (decision === 'MATCH' && !autoLinkAllowed(e.vector)))) reviews.push({ key, edge: e });
    else {
      noMatch.push({ key, weight: e ? e.weight : null });
      if (identities.get(key)!.linkMethod === 'nhs-number') confirmed++;
    }
  }

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
  for (let i = 0; i < reviews.length; i += 2000) {
    const batch = reviews.slice(i, i + 2000);
    await db.transaction(async (tx) => {
      await writeReviews(tx, batch.map(({ key, edge }) => {
        const a = identities.get(key)!;
        const b = identities.get(edge.b)!;
        return {
          a,
          b,
          candidatePerson: finalPerson.get(b.personId) ?? b.personId,
          weight: edge.weight,
          detail: { levels: describeComparison(edge.vector), probability: matchProbability(params, edge.weight) },
        };
      }));
    });
  }
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
  return {
    pending: pendingSet.size,
    matched: matchedKeys.size,
    possible: reviews.length,
    noMatch: noMatch.length - confirmed,
    confirmed,
    pairs: pendingPairs.length,
    estimated: em.estimated,
    thresholds: limits,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

interface Member {
  system: string;
  id: string;
  linkMethod: string;
  matchStatus: string;
  matchWeight: number | null;
  nhsValid: boolean;
}

/** Every identity of some persons, with its current link. */
async function personMembers(db: Queryable, persons: string[]): Promise<Map<string, Member[]>> {
  const out = new Map<string, Member[]>();
  for (let i = 0; i < persons.length; i += 10000) {
    const r = await db.query<{ person_id: string; source_system: string; source_id: string; link_method: string; match_status: string; match_weight: number | null; nhs_number_valid: boolean }>(
      `SELECT person_id, source_system, source_id, link_method, match_status, match_weight, nhs_number_valid
         FROM source_identity WHERE person_id = ANY($1::uuid[]) ORDER BY source_system, source_id`,
      [persons.slice(i, i + 10000)],
    );
    for (const x of r.rows) {
      if (!out.has(x.person_id)) out.set(x.person_id, []);
      out.get(x.person_id)!.push({ system: x.source_system, id: x.source_id, linkMethod: x.link_method, matchStatus: x.match_status, matchWeight: x.match_weight, nhsValid: x.nhs_number_valid });
    }
  }
  return out;
}

/**
 * Surname, birth date and address are what twins and other members of one household share, so
 * they alone never link automatically: the NHS number or the given name (exact, close or a
 * familiar form) must agree too; otherwise a person decides.
 */
export function autoLinkAllowed(v: ComparisonVector): boolean {
  return v[0] === 0 || (v[2]! >= 0 && v[2]! <= 2);
}

/**
 * Candidate pairs for some identities by blocking. excludeSamePerson leaves out identities
 * already in the same person (for matching); the training sample keeps them (they are the
 * known matches EM learns m from).
 */
async function blockedPairs(db: Queryable, keys: { system: string; id: string }[], excludeSamePerson: boolean, mode: 'wide' | 'tight'): Promise<Pair[]> {
  if (!keys.length) return [];
  if (mode === 'tight') return tightPairs(db, keys);
  const other = excludeSamePerson ? 'c.person_id <> p.person_id' : 'NOT (c.source_system = p.source_system AND c.source_id = p.source_id)';
  const yearRange = `c.birth_date >= make_date(extract(year FROM p.birth_date)::int, 1, 1) AND c.birth_date < make_date(extract(year FROM p.birth_date)::int + 1, 1, 1)`;
  const r = await db.query<{ a_sys: string; a_id: string; b_sys: string; b_id: string }>(
    `WITH p AS (
       SELECT s.* FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id
     )
     SELECT p.source_system AS a_sys, p.source_id AS a_id, c.source_system AS b_sys, c.source_id AS b_id
       FROM p JOIN source_identity c ON c.birth_date = p.birth_date AND ${other}
     UNION
     SELECT p.source_system, p.source_id, c.source_system, c.source_id
       FROM p JOIN source_identity c ON c.family_soundex = p.family_soundex AND ${yearRange} AND ${other}
     UNION
     SELECT p.source_system, p.source_id, c.source_system, c.source_id
       FROM p JOIN source_identity c ON c.postcode = p.postcode AND ${yearRange} AND ${other}
     UNION
     SELECT p.source_system, p.source_id, c.source_system, c.source_id
       FROM p JOIN source_identity c ON c.nhs_number = p.nhs_number AND p.nhs_number_valid AND c.nhs_number_valid AND ${other}
     ORDER BY 1, 2, 3, 4`,
    [keys.map((k) => k.system), keys.map((k) => k.id)],
  );
  return r.rows.map((x) => ({ a: `${x.a_sys}|${x.a_id}`, b: `${x.b_sys}|${x.b_id}` }));
}

/**
 * Candidates for an identity already linked by a new NHS number: another person with the same
 * birth date and surname sound or postcode (a duplicate under a mistyped number shares those).
 */
async function tightPairs(db: Queryable, keys: { system: string; id: string }[]): Promise<Pair[]> {
  const r = await db.query<{ a_sys: string; a_id: string; b_sys: string; b_id: string }>(
    `WITH p AS (
       SELECT s.* FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id
     )
     SELECT p.source_system AS a_sys, p.source_id AS a_id, c.source_system AS b_sys, c.source_id AS b_id
       FROM p JOIN source_identity c ON c.family_soundex = p.family_soundex AND c.birth_date = p.birth_date AND c.person_id <> p.person_id
     UNION
     SELECT p.source_system, p.source_id, c.source_system, c.source_id
       FROM p JOIN source_identity c ON c.postcode = p.postcode AND c.birth_date = p.birth_date AND c.person_id <> p.person_id
     ORDER BY 1, 2, 3, 4`,
    [keys.map((k) => k.system), keys.map((k) => k.id)],
  );
  return r.rows.map((x) => ({ a: `${x.a_sys}|${x.a_id}`, b: `${x.b_sys}|${x.b_id}` }));
}

/** Loads the demographics of identities not yet in the map. */
async function loadIdentities(db: Queryable, into: Map<string, Identity>, keys: string[]): Promise<void> {
  const need = [...new Set(keys)].filter((k) => !into.has(k));
  for (let i = 0; i < need.length; i += 5000) {
    const chunk = need.slice(i, i + 5000).map((k) => {
      const at = k.indexOf('|');
      return [k.slice(0, at), k.slice(at + 1)] as const;
    });
    const r = await db.query<{
      source_system: string; source_id: string; person_id: string; nhs_number: string | null; nhs_number_valid: boolean; family: string | null;
      given: string | null; birth_date: string | null; sex: string | null; postcode: string | null; match_status: string; link_method: string;
    }>(
      `SELECT s.source_system, s.source_id, s.person_id, s.nhs_number, s.nhs_number_valid, s.family, s.given, s.birth_date::text AS birth_date,
              s.sex, s.postcode, s.match_status, s.link_method
         FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id`,
      [chunk.map((c) => c[0]), chunk.map((c) => c[1])],
    );
    for (const x of r.rows) {
      const key = `${x.source_system}|${x.source_id}`;
      into.set(key, {
        key,
        system: x.source_system,
        id: x.source_id,
        personId: x.person_id,
        matchStatus: x.match_status,
        linkMethod: x.link_method,
        nhsNumber: x.nhs_number_valid ? x.nhs_number : null,
        family: x.family,
        given: x.given,
        birthDate: x.birth_date,
        sex: x.sex,
        postcode: x.postcode,
      });
    }
  }
}

/**
 * u's evidence: every pair within a sample of identities (hash-ordered, so deterministic),
 * counted as patterns. Up to 1500 identities: about a million pairs, enough to see birth-date
 * agreement (about 1 in 30,000) a few dozen times.
 */
function randomPairPatterns(sample: Identity[]): PatternCount[] {
  const vectors = function* () {
    const s = sample.slice(0, 1500);
    for (let i = 0; i < s.length; i++) {
      for (let j = i + 1; j < s.length; j++) if (s[i]!.personId !== s[j]!.personId) yield compareIdentities(s[i]!, s[j]!);
    }
  };
  return countPatterns(vectors());
}

async function storeWeights(db: Queryable, p: MatchParameters): Promise<void> {
  const rows: [string, string, number, number][] = [];
  FIELDS.forEach((f, i) => f.levels.forEach((l, j) => rows.push([f.name, l, p.m[i]![j]!, p.u[i]![j]!])));
  rows.push(['_prior', 'lambda', p.lambda, 1 - p.lambda]);
  await db.query(
    `INSERT INTO mpi_weight (field, level, m, u) SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[])
     ON CONFLICT (field, level) DO UPDATE SET m = EXCLUDED.m, u = EXCLUDED.u, estimated_at = now()`,
    [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
  );
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
  a: Identity;
  b: Identity;
  candidatePerson: string;
  weight: number;
  detail: unknown;
}

async function writeReviews(tx: Queryable, reviews: ReviewInput[]): Promise<void> {
  if (!reviews.length) return;
  await tx.query(
    `INSERT INTO mpi_review (person_id, candidate_person_id, source_system, source_id, candidate_system, candidate_id, weight, detail)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::jsonb[])
     ON CONFLICT (source_system, source_id, candidate_system, candidate_id) DO UPDATE SET
       person_id = EXCLUDED.person_id, candidate_person_id = EXCLUDED.candidate_person_id, weight = EXCLUDED.weight, detail = EXCLUDED.detail
     WHERE mpi_review.status = 'open'`,
    [
      reviews.map((r) => r.a.personId),
      reviews.map((r) => r.candidatePerson),
      reviews.map((r) => r.a.system),
      reviews.map((r) => r.a.id),
      reviews.map((r) => r.b.system),
      reviews.map((r) => r.b.id),
      reviews.map((r) => r.weight),
      reviews.map((r) => JSON.stringify(r.detail)),
    ],
  );
  await tx.query(
    `UPDATE source_identity s SET match_status = 'POSSIBLE_MATCH', match_weight = x.weight, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::float8[]) AS x(sys, id, weight)
      WHERE s.source_system = x.sys AND s.source_id = x.id AND s.match_status = 'PENDING'`,
    [reviews.map((r) => r.a.system), reviews.map((r) => r.a.id), reviews.map((r) => r.weight)],
  );
}
