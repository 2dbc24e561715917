/**
 * Fellegi–Sunter record linkage, pure: compare two identities field by field into agreement
 * levels, estimate m (P(level | match)) and u (P(level | non-match)) by expectation–maximisation,
 * and turn a comparison into a log2 match weight and a decision.
 * Reference: Fellegi & Sunter (1969), "A theory for record linkage"; Winkler (1990) for Jaro–Winkler.
 */

/** The demographics the matcher compares (a source identity as the MPI holds it). */
export interface MatchIdentity {
  /** A valid NHS number (normalised), or null/undefined when absent or invalid. */
  nhsNumber?: string | null;
  family?: string | null;
  given?: string | null;
  /** ISO YYYY-MM-DD. */
  birthDate?: string | null;
  sex?: string | null;
  postcode?: string | null;
}

/** Fields compared, each with its agreement levels from strongest to weakest. */
export const FIELDS = [
  { name: 'nhs_number', levels: ['agree', 'disagree'] },
  { name: 'family', levels: ['exact', 'jaro-winkler', 'soundex', 'disagree'] },
  { name: 'given', levels: ['exact', 'jaro-winkler', 'nickname', 'initial', 'disagree'] },
  { name: 'birth_date', levels: ['exact', 'day-month-swapped', 'year-month', 'one-digit', 'disagree'] },
  { name: 'sex', levels: ['agree', 'disagree'] },
  { name: 'postcode', levels: ['exact', 'district', 'disagree'] },
] as const;

export type FieldName = (typeof FIELDS)[number]['name'];

/**
 * A comparison: for each field (in FIELDS order) the index of its level, or -1 when either side
 * is missing (a missing value carries no evidence: weight 0).
 */
export type ComparisonVector = number[];

/** m and u per field and level (same shape as FIELDS), and the proportion of matches λ among the pairs. */
export interface MatchParameters {
  m: number[][];
  u: number[][];
  lambda: number;
}

export type MatchDecision = 'MATCH' | 'POSSIBLE_MATCH' | 'NO_MATCH';

// ---------------------------------------------------------------------------------------------
// String comparators

/** Jaro–Winkler similarity in [0, 1] (prefix scale 0.1, prefix up to 4 characters). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const la = a.length;
  const lb = b.length;
  if (!la || !lb) return 0;
  const window = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  const matchedA = new Uint8Array(la);
  const matchedB = new Uint8Array(lb);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const lo = Math.max(0, i - window);
    const hi = Math.min(lb - 1, i + window);
    for (let j = lo; j <= hi; j++) {
      if (!matchedB[j] && a[i] === b[j]) {
        matchedA[i] = 1;
        matchedB[j] = 1;
        matches++;
        break;
      }
    }
  }
  if (!matches) return 0;
  // Transpositions: matched characters in order that differ, halved.
  let t = 0;
  let k = 0;
  for (let i = 0; i < la; i++) {
    if (!matchedA[i]) continue;
    while (!matchedB[k]) k++;
    if (a[i] !== b[k]) t++;
    k++;
  }
  const jaro = (matches / la + matches / lb + (matches - t / 2) / matches) / 3;
  let prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] === b[prefix]) prefix++;
  return jaro + prefix * 0.1 * (1 - jaro);
}

/** True when b is a one typing slip from a: one letter inserted, dropped, changed, or two neighbours swapped. */
export function oneSlipApart(a: string, b: string): boolean {
  if (a === b) return false;
  const la = a.length;
  const lb = b.length;
  if (Math.abs(la - lb) > 1) return false;
  let i = 0;
  while (i < la && i < lb && a[i] === b[i]) i++;
  if (la === lb) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true; // changed
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2); // swapped
  }
  return la > lb ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1); // dropped or inserted
}

const SOUNDEX_CODES: Record<string, string> = {
  B: '1', F: '1', P: '1', V: '1',
  C: '2', G: '2', J: '2', K: '2', Q: '2', S: '2', X: '2', Z: '2',
  D: '3', T: '3',
  L: '4',
  M: '5', N: '5',
  R: '6',
};

/** American Soundex (letter + three digits; H and W do not separate equal codes). '' for no letters. */
export function soundex(name: string): string {
  const s = name.toUpperCase().replace(/[^A-Z]/g, '');
  if (!s) return '';
  let out = s[0]!;
  let last = SOUNDEX_CODES[s[0]!] ?? '';
  for (let i = 1; i < s.length && out.length < 4; i++) {
    const ch = s[i]!;
    const code = SOUNDEX_CODES[ch];
    if (code) {
      if (code !== last) out += code;
      last = code;
    } else if (ch !== 'H' && ch !== 'W') {
      last = ''; // a vowel separates two equal codes; H and W do not
    }
  }
  return out.padEnd(4, '0');
}

/** Upper-case letters only, for name comparison ("O'Brien-Smith" → "OBRIENSMITH"). */
export function normaliseName(name: string | null | undefined): string {
  return (name ?? '').toUpperCase().replace(/[^A-Z]/g, '');
}

/** Normalises a UK postcode to "OUTWARD INWARD" upper case ("m14 5ab" → "M14 5AB"); null if empty. */
export function normalisePostcode(postcode: string | null | undefined): string | null {
  const s = (postcode ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (!s) return null;
  return s.length > 3 ? `${s.slice(0, -3)} ${s.slice(-3)}` : s;
}

function outwardCode(postcode: string): string {
  const s = postcode.toUpperCase().replace(/[^A-Z0-9]/g, '');
  return s.length > 3 ? s.slice(0, -3) : s;
}

// ---------------------------------------------------------------------------------------------
// Comparison levels

/** NHS number level: 0 agree, 1 disagree, -1 missing (either side absent or invalid). */
export function compareNhsNumber(a: string | null | undefined, b: string | null | undefined): number {
  if (!a || !b) return -1;
  return a === b ? 0 : 1;
}

/** Family name level: 0 exact, 1 Jaro–Winkler ≥ 0.92 (or one typing slip), 2 same Soundex, 3 disagree, -1 missing. */
export function compareFamily(a: string | null | undefined, b: string | null | undefined): number {
  const x = normaliseName(a);
  const y = normaliseName(b);
  if (!x || !y) return -1;
  if (x === y) return 0;
  if (jaroWinkler(x, y) >= 0.92 || (Math.min(x.length, y.length) >= 4 && oneSlipApart(x, y))) return 1;
  if (soundex(x) === soundex(y)) return 2;
  return 3;
}

// Familiar forms of given names that services record instead of the registered name. Each
// group is one set of names that may stand for each other; a name may be in several groups.
const NICKNAME_GROUPS = [
  'WILLIAM BILL BILLY WILL WILLIE LIAM', 'ROBERT BOB BOBBY ROB ROBBIE BERT', 'RICHARD DICK RICH RICHIE RICKY',
  'JAMES JIM JIMMY JAMIE', 'THOMAS TOM TOMMY', 'MICHAEL MIKE MICK MICKEY', 'CHRISTOPHER CHRIS KIT',
  'CHRISTINE CHRIS CHRISSIE TINA', 'ANTHONY TONY', 'JOSEPH JOE JOEY', 'DANIEL DAN DANNY', 'MATTHEW MATT',
  'STEPHEN STEVE STEVIE', 'STEVEN STEVE STEVIE', 'ANDREW ANDY DREW', 'BENJAMIN BEN BENNY', 'SAMUEL SAM SAMMY',
  'SAMANTHA SAM SAMMY', 'JONATHAN JON JONNY', 'JOHN JACK JOHNNY', 'PHILIP PHIL', 'PHILLIP PHIL', 'KENNETH KEN KENNY',
  'FREDERICK FRED FREDDIE FREDDY', 'HAROLD HARRY HAL', 'HENRY HARRY HAL', 'PETER PETE', 'EDWARD ED EDDIE TED TEDDY',
  'MARGARET MAGGIE MEG PEGGY MAG MADGE', 'ELIZABETH LIZ LIZZIE BETH BETTY ELIZA LIBBY BESS',
  'PATRICIA PAT PATSY TRISH', 'PATRICK PAT PADDY', 'JENNIFER JENNY JEN', 'CATHERINE CATH CATHY KATE KATIE',
  'KATHERINE KATE KATIE KATH KATHY', 'KATHLEEN KATH KATHY', 'REBECCA BECKY BEX', 'VICTORIA VICKY VICKI TORI',
  'DOROTHY DOT DOTTIE DOLLY', 'SUSAN SUE SUSIE', 'DEBORAH DEBBIE DEB', 'ABIGAIL ABBY ABBIE', 'CHARLOTTE CHARLIE LOTTIE',
  'CHARLES CHARLIE CHAS CHUCK', 'BARBARA BABS BARB', 'GILLIAN GILL JILL', 'NICOLA NICKY NIKKI', 'NICHOLAS NICK NICKY',
  'ALEXANDER ALEX SANDY', 'ALEXANDRA ALEX SANDRA', 'ALFRED ALF ALFIE', 'ALBERT BERT ALBIE', 'RONALD RON RONNIE',
  'DONALD DON DONNIE', 'TIMOTHY TIM', 'GERALD GERRY', 'JACQUELINE JACKIE', 'JOSEPHINE JO JOSIE', 'JOANNE JO',
  'ANNE ANNIE NAN', 'ANN ANNIE NAN', 'MARY MOLLY POLLY', 'HELEN NELL NELLIE', 'ELEANOR ELLIE NELL', 'DAVID DAVE DAVY',
  'DOUGLAS DOUG', 'LEONARD LEN LENNY', 'RAYMOND RAY', 'TERENCE TERRY', 'VINCENT VINCE', 'ZACHARY ZACH',
];
const NICKNAMES = new Map<string, Set<number>>();
NICKNAME_GROUPS.forEach((g, i) => {
  for (const n of g.split(' ')) {
    if (!NICKNAMES.has(n)) NICKNAMES.set(n, new Set());
    NICKNAMES.get(n)!.add(i);
  }
});

/** True when one given name is a familiar form of the other (Bill / William). */
export function isNickname(a: string, b: string): boolean {
  const ga = NICKNAMES.get(normaliseName(a));
  const gb = NICKNAMES.get(normaliseName(b));
  if (!ga || !gb) return false;
  for (const g of ga) if (gb.has(g)) return true;
  return false;
}

/** Given name level: 0 exact (or same first name), 1 Jaro–Winkler ≥ 0.9 (or one typing slip), 2 nickname, 3 same initial, 4 disagree, -1 missing. */
export function compareGiven(a: string | null | undefined, b: string | null | undefined): number {
  const firstA = normaliseName((a ?? '').trim().split(/\s+/)[0]);
  const firstB = normaliseName((b ?? '').trim().split(/\s+/)[0]);
  if (!firstA || !firstB) return -1;
  if (firstA === firstB || normaliseName(a) === normaliseName(b)) return 0;
  // Jaro–Winkler misses a slip in a short name (IAN / INA scores 0.6), so one slip counts as close too.
  if (jaroWinkler(firstA, firstB) >= 0.9 || (Math.max(firstA.length, firstB.length) >= 3 && oneSlipApart(firstA, firstB))) return 1;
  if (isNickname(firstA, firstB)) return 2;
  if (firstA[0] === firstB[0]) return 3;
  return 4;
}

/** Date of birth level: 0 exact, 1 day and month swapped, 2 same year and month, 3 one digit differs, 4 disagree, -1 missing. */
export function compareBirthDate(a: string | null | undefined, b: string | null | undefined): number {
  if (!a || !b) return -1;
  const x = a.slice(0, 10);
  const y = b.slice(0, 10);
  if (x === y) return 0;
  const [ya, ma, da] = x.split('-');
  const [yb, mb, db] = y.split('-');
  if (ya === yb && ma === db && da === mb) return 1;
  if (ya === yb && ma === mb) return 2;
  const dx = x.replace(/-/g, '');
  const dy = y.replace(/-/g, '');
  if (dx.length === dy.length) {
    let diff = 0;
    for (let i = 0; i < dx.length && diff < 2; i++) if (dx[i] !== dy[i]) diff++;
    if (diff === 1) return 3;
  }
  return 4;
}

/** Sex level: 0 agree, 1 disagree, -1 missing or unknown. */
export function compareSex(a: string | null | undefined, b: string | null | undefined): number {
  const known = (s: string | null | undefined) => (s === 'male' || s === 'female' || s === 'other' ? s : null);
  const x = known(a);
  const y = known(b);
  if (!x || !y) return -1;
  return x === y ? 0 : 1;
}

/** Postcode level: 0 exact, 1 same district (outward code), 2 disagree, -1 missing. */
export function comparePostcode(a: string | null | undefined, b: string | null | undefined): number {
  const x = (a ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  const y = (b ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (!x || !y) return -1;
  if (x === y) return 0;
  if (outwardCode(x) === outwardCode(y)) return 1;
  return 2;
}

/** Compares two identities field by field (FIELDS order). */
export function compareIdentities(a: MatchIdentity, b: MatchIdentity): ComparisonVector {
  return [
    compareNhsNumber(a.nhsNumber, b.nhsNumber),
    compareFamily(a.family, b.family),
    compareGiven(a.given, b.given),
    compareBirthDate(a.birthDate, b.birthDate),
    compareSex(a.sex, b.sex),
    comparePostcode(a.postcode, b.postcode),
  ];
}

/** A readable form of a comparison: field → level name ('missing' when absent). */
export function describeComparison(v: ComparisonVector): Record<FieldName, string> {
  const out = {} as Record<FieldName, string>;
  FIELDS.forEach((f, i) => {
    out[f.name] = v[i]! < 0 ? 'missing' : f.levels[v[i]!]!;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parameters, weights and decisions

/**
 * Starting values: m from what record-keeping errors look like (most true matches agree exactly),
 * u from random pairs in a population of ~10^5–10^6 people. Used as EM's starting point, and
 * as the parameters themselves when there are too few pairs to learn from.
 */
export const DEFAULT_PARAMETERS: MatchParameters = {
  m: [
    [0.97, 0.03],
    [0.88, 0.06, 0.03, 0.03],
    [0.85, 0.05, 0.03, 0.04, 0.03],
    [0.9, 0.01, 0.03, 0.04, 0.02],
    [0.98, 0.02],
    [0.8, 0.08, 0.12],
  ],
  u: [
    [0.0001, 0.9999],
    [0.01, 0.005, 0.02, 0.965],
    [0.02, 0.01, 0.0005, 0.06, 0.9095],
    [0.0001, 0.0001, 0.003, 0.01, 0.9868],
    [0.5, 0.5],
    [0.001, 0.02, 0.979],
  ],
  lambda: 1e-6,
};

/** Weight of one field at one level: log2(m/u); 0 when missing. */
export function fieldWeight(p: MatchParameters, field: number, level: number): number {
  if (level < 0) return 0;
  return Math.log2(p.m[field]![level]! / p.u[field]![level]!);
}

/** Total match weight of a comparison: the sum of log2(m/u) over fields. */
export function matchWeight(p: MatchParameters, v: ComparisonVector): number {
  let w = 0;
  for (let f = 0; f < v.length; f++) w += fieldWeight(p, f, v[f]!);
  return w;
}

/** P(match | comparison) from a total weight and the prior λ. */
export function matchProbability(p: MatchParameters, weight: number): number {
  const priorLog2Odds = Math.log2(p.lambda / (1 - p.lambda));
  return 1 / (1 + Math.pow(2, -(weight + priorLog2Odds)));
}

export interface Thresholds {
  /** Weight at or above which a pair is a MATCH. */
  match: number;
  /** Weight at or above which a pair is a POSSIBLE_MATCH. */
  possible: number;
}

/** Weight thresholds where the posterior P(match) reaches matchProbability and possibleProbability. */
export function thresholds(p: MatchParameters, matchProbabilityAt = 0.99, possibleProbabilityAt = 0.5): Thresholds {
  const priorLog2Odds = Math.log2(p.lambda / (1 - p.lambda));
  const at = (q: number) => Math.log2(q / (1 - q)) - priorLog2Odds;
  return { match: at(matchProbabilityAt), possible: at(possibleProbabilityAt) };
}

/** MATCH, POSSIBLE_MATCH or NO_MATCH for a weight. */
export function decide(weight: number, t: Thresholds): MatchDecision {
  if (weight >= t.match) return 'MATCH';
  if (weight >= t.possible) return 'POSSIBLE_MATCH';
  return 'NO_MATCH';
}

/** Comparison patterns with how many pairs showed each (EM works on the distinct patterns). */
export interface PatternCount {
  vector: ComparisonVector;
  count: number;
}

/** Groups comparison vectors into distinct patterns with counts. */
export function countPatterns(vectors: Iterable<ComparisonVector>): PatternCount[] {
  const byKey = new Map<string, PatternCount>();
  for (const v of vectors) {
    const key = v.join(',');
    const hit = byKey.get(key);
    if (hit) hit.count++;
    else byKey.set(key, { vector: v.slice(), count: 1 });
  }
  return [...byKey.values()];
}

/** u from pairs known (or assumed, being random) to be non-matches: level frequencies with smoothing. */
export function estimateU(randomPairs: PatternCount[], prior: MatchParameters = DEFAULT_PARAMETERS): number[][] {
  return FIELDS.map((f, i) => {
    const counts = new Array<number>(f.levels.length).fill(0);
    let total = 0;
    for (const p of randomPairs) {
      const l = p.vector[i]!;
      if (l < 0) continue;
      counts[l]! += p.count;
      total += p.count;
    }
    // Pseudo-counts from the prior keep unseen levels (rare agreements) from getting u = 0.
    const alpha = 1;
    return counts.map((c, l) => (c + alpha * prior.u[i]![l]!) / (total + alpha));
  });
}

export interface EmOptions {
  /** Maximum iterations (default 100). */
  iterations?: number;
  /** Keep u fixed (e.g. estimated from random pairs) and estimate only m and λ. */
  fixU?: boolean;
  /** Fewer pairs than this: return the starting parameters unchanged (default 200). */
  minPairs?: number;
}

export interface EmResult {
  parameters: MatchParameters;
  iterations: number;
  converged: boolean;
  /** False when there were too few pairs, or EM drifted to an implausible answer, and start was kept. */
  estimated: boolean;
  /** What EM arrived at when it was judged implausible (for diagnosis). */
  rejected?: MatchParameters;
}

/**
 * Estimates m, u and λ by expectation–maximisation over candidate pairs, assuming fields are
 * conditionally independent given match status. Missing levels are left out of each field's
 * likelihood. Pseudo-counts keep every probability strictly between 0 and 1.
 */
export function estimateParameters(patterns: PatternCount[], start: MatchParameters = DEFAULT_PARAMETERS, opts: EmOptions = {}): EmResult {
  const maxIter = opts.iterations ?? 100;
  const total = patterns.reduce((s, p) => s + p.count, 0);
  const clone = (x: MatchParameters): MatchParameters => ({ m: x.m.map((r) => r.slice()), u: x.u.map((r) => r.slice()), lambda: x.lambda });
  if (total < (opts.minPairs ?? 200)) return { parameters: clone(start), iterations: 0, converged: false, estimated: false };

  let p = clone(start);
  // Blocked candidate pairs are far richer in matches than random pairs: start λ at a useful guess.
  p.lambda = Math.min(0.5, Math.max(p.lambda, 0.1));
  const post = new Float64Array(patterns.length);
  let iter = 0;
  let converged = false;
  for (; iter < maxIter; iter++) {
    // E-step: posterior probability that each pattern is a match.
    for (let i = 0; i < patterns.length; i++) {
      const v = patterns[i]!.vector;
      let lm = Math.log(p.lambda);
      let lu = Math.log(1 - p.lambda);
      for (let f = 0; f < v.length; f++) {
        const l = v[f]!;
        if (l < 0) continue;
        lm += Math.log(p.m[f]![l]!);
        lu += Math.log(p.u[f]![l]!);
      }
      post[i] = 1 / (1 + Math.exp(lu - lm));
    }
    // M-step.
    const next = clone(p);
    let matchMass = 0;
    for (let i = 0; i < patterns.length; i++) matchMass += post[i]! * patterns[i]!.count;
    next.lambda = clamp(matchMass / total, 1e-9, 1 - 1e-9);
    FIELDS.forEach((field, f) => {
      const mc = new Array<number>(field.levels.length).fill(0);
      const uc = new Array<number>(field.levels.length).fill(0);
      for (let i = 0; i < patterns.length; i++) {
        const l = patterns[i]!.vector[f]!;
        if (l < 0) continue;
        mc[l]! += post[i]! * patterns[i]!.count;
        uc[l]! += (1 - post[i]!) * patterns[i]!.count;
      }
      next.m[f] = smooth(mc, start.m[f]!, M_FLOOR);
      if (!opts.fixU) next.u[f] = smooth(uc, start.u[f]!, 1e-6);
    });
    const delta = maxDelta(p, next);
    p = next;
    if (delta < 1e-6) {
      converged = true;
      iter++;
      break;
    }
  }
  // EM can swap the classes or settle on a "match" class that is really a household: insist that
  // exact agreement on names and date of birth is better evidence of a match than disagreement.
  // (Not m > u outright: within blocks of common surnames most non-matches share the surname too.)
  const ratio = (f: number, l: number) => p.m[f]![l]! / p.u[f]![l]!;
  const plausible = [1, 2, 3].every((f) => ratio(f, 0) > ratio(f, p.m[f]!.length - 1)) && ratio(3, 0) > 1 && p.m[3]![0]! > 0.5;
  if (!plausible) return { parameters: clone(start), iterations: iter, converged, estimated: false, rejected: p };
  return { parameters: p, iterations: iter, converged, estimated: true };
}

// No recording error is impossible for a true match: with hundreds of thousands of pairs EM would
// otherwise drive m for rare levels (a day–month swap) towards 0 and veto those matches outright.
const M_FLOOR = 0.001;

function smooth(counts: number[], prior: number[], floor: number): number[] {
  const alpha = 1; // one pseudo-pair spread as the prior
  const total = counts.reduce((s, c) => s + c, 0);
  const raw = counts.map((c, l) => Math.max(floor, (c + alpha * prior[l]!) / (total + alpha)));
  const sum = raw.reduce((s, x) => s + x, 0);
  return raw.map((x) => clamp(x / sum, 1e-9, 1 - 1e-9));
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function maxDelta(a: MatchParameters, b: MatchParameters): number {
  let d = Math.abs(a.lambda - b.lambda);
  for (let f = 0; f < a.m.length; f++) {
    for (let l = 0; l < a.m[f]!.length; l++) {
      d = Math.max(d, Math.abs(a.m[f]![l]! - b.m[f]![l]!), Math.abs(a.u[f]![l]! - b.u[f]![l]!));
    }
  }
  return d;
}
