/**
 * Blocking: which pairs of identities the matcher compares at all. Several passes, each on one
 * combination of fields, their union deduplicated, so that a record missing its date of birth,
 * its given name or its postcode (or with any one of them mistyped) still meets its candidates
 * through another pass:
 *
 * | pass | key | catches |
 * | --- | --- | --- |
 * | `name` | Soundex of family name + given initial | any date of birth or address |
 * | `swapped` | Soundex of the given name as family name + family initial as given initial | given and family written in the wrong boxes |
 * | `birth-date` | date of birth | names changed or badly mistyped |
 * | `postcode` | postcode | names and date of birth both wrong |
 * | `given-year` | given name + birth year | a new surname (marriage), a day or month mistyped |
 * | `family-year` | Soundex of family name + birth year | a missing or changed given name |
 * | `house` | house number + first letter of the street + town | a new surname and a mistyped date at the same address |
 * | `family-town` | family name + town | a missing date of birth and a new house |
 * | `email` | an email address (the first one held) | names and date of birth both changed or missing |
 * | `other-id` | an identifier other than the NHS number (kind and value: a national id, passport, driving licence) | everything else wrong, where no NHS number is held |
 * | `nhs-number` | NHS number | everything else wrong |
 *
 * A key shared by more identities than the block cap (a common surname with a common initial,
 * a town's house number 1) is left out of its pass: every such identity still meets its
 * candidates through the other passes, and the matcher stays fast at borough scale. The weak
 * passes (`name`, `swapped`, `family-town`) have a third of the cap (weakPassCap).
 *
 * Pure and in memory: the matcher reads every identity's blocking fields once a run (column by
 * column, a few bytes each) and builds one grouping per pass here. At borough scale that is far
 * cheaper than asking the database for each pending identity's candidates by nine index-backed
 * joins (two thirds of the old matcher's time, most of it sorting and sending text pairs that
 * were mostly the same pair found by several passes); here a pair is two array indexes,
 * deduplicated as it is found.
 */
import { normaliseName, soundex } from './fellegi-sunter.ts';

/** The blocking fields of every identity, one array per field, index = the identity's number. */
export interface BlockingColumns {
  /** `system|id`: pairs are written with the smaller key first (comparisons are not symmetric). */
  key: string[];
  /** Its person as a number: identities of one person share it. May change between searches. */
  person: number[];
  family: (string | null)[];
  /** Soundex of the family name, as stored (source_identity.family_soundex). */
  familySoundex: (string | null)[];
  given: (string | null)[];
  /** ISO YYYY-MM-DD. */
  birthDate: (string | null)[];
  postcode: (string | null)[];
  address: (string | null)[];
  town: (string | null)[];
  /** A valid NHS number, else null. */
  nhsNumber: (string | null)[];
  /** Email addresses (normalised, space-separated), else null. */
  email: (string | null)[];
  /** Other identifiers (`kind|VALUE`, space-separated), else null. */
  otherId: (string | null)[];
}

const PASSES = ['name', 'birthDate', 'postcode', 'givenYear', 'familyYear', 'house', 'familyTown', 'email', 'otherId', 'nhs'] as const;
type PassName = (typeof PASSES)[number];
const WEAK_PASSES = new Set<PassName>(['name', 'familyTown']);
/** Passes of an identity already linked by a new NHS number (a duplicate under a mistyped number). */
const TIGHT_PASSES = ['soundexDate', 'postcodeDate'] as const;
type TightPassName = (typeof TIGHT_PASSES)[number];

// upper(left(s, 1)) and the year of a date, as the SQL of earlier matchers wrote the keys.
const upperFirst = (s: string | null) => (s === null ? null : s.slice(0, 1).toUpperCase());
const year = (d: string | null) => (d ? String(Number(d.slice(0, 4))) : null);
// The first of a space-separated list (blocking keys are one value).
const firstOf = (s: string | null | undefined) => (s ? (s.split(' ', 1)[0] ?? null) : null);
// The first given name, without diacritics or punctuation ("Mary Ann" and "Mary" meet; so do "José" and "Jose").
const firstGiven = (s: string | null | undefined) => (s ? normaliseName(s.trim().split(/[\s-]+/)[0]) || null : null);
const join = (...parts: (string | null)[]) => (parts.some((p) => p === null) ? null : parts.join('|'));

/** Each pass's key of identity i, or null when a field it needs is missing. */
const KEYS: Record<PassName | TightPassName, (c: BlockingColumns, i: number) => string | null> = {
  name: (c, i) => join(c.familySoundex[i]!, upperFirst(c.given[i]!)),
  birthDate: (c, i) => c.birthDate[i]!,
  postcode: (c, i) => c.postcode[i]!,
  givenYear: (c, i) => join(firstGiven(c.given[i]), year(c.birthDate[i]!)),
  familyYear: (c, i) => join(c.familySoundex[i]!, year(c.birthDate[i]!)),
  house: (c, i) => {
    const a = c.address[i];
    if (!a) return null;
    return join(c.town[i]?.toUpperCase() ?? null, /[0-9]+/.exec(a)?.[0] ?? null, /[A-Za-z]/.exec(a)?.[0]?.toUpperCase() ?? null);
  },
  familyTown: (c, i) => join(c.family[i]?.toUpperCase() ?? null, c.town[i]?.toUpperCase() ?? null),
  email: (c, i) => firstOf(c.email[i]),
  otherId: (c, i) => firstOf(c.otherId[i]),
  nhs: (c, i) => c.nhsNumber[i]!,
  soundexDate: (c, i) => join(c.familySoundex[i]!, c.birthDate[i]!),
  postcodeDate: (c, i) => join(c.postcode[i]!, c.birthDate[i]!),
};

/** Identities grouped by one key: group of each identity (-1: no key), and each group's members in index order. */
interface Grouping {
  group: Int32Array;
  start: Int32Array;
  members: Int32Array;
}

function groupBy(n: number, keyOf: (i: number) => string | null, keep?: Map<string, number>): Grouping {
  const ids = keep ?? new Map<string, number>();
  const group = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    if (k === null) {
      group[i] = -1;
      continue;
    }
    let g = ids.get(k);
    if (g === undefined) ids.set(k, (g = ids.size));
    group[i] = g;
  }
  // Counting sort into one array of members.
  const start = new Int32Array(ids.size + 1);
  for (let i = 0; i < n; i++) if (group[i]! >= 0) start[group[i]! + 1]!++;
  for (let g = 0; g < ids.size; g++) start[g + 1]! += start[g]!;
  const at = start.slice(0, ids.size);
  const members = new Int32Array(start[ids.size]!);
  for (let i = 0; i < n; i++) if (group[i]! >= 0) members[at[group[i]!]!++] = i;
  return { group, start, members };
}

/** The groupings of every pass over some identities (build once, search many times). */
export interface BlockingIndex {
  readonly size: number;
  readonly passes: Record<PassName | TightPassName, Grouping>;
  /** The name pass's group of each name key (the swapped pass looks a made-up key up). */
  readonly nameGroups: Map<string, number>;
}

/** Groups identities 0 … n−1 of the columns by every pass's key. */
export function buildBlockingIndex(c: BlockingColumns, n = c.key.length): BlockingIndex {
  const nameGroups = new Map<string, number>();
  const passes = {} as Record<PassName | TightPassName, Grouping>;
  for (const p of [...PASSES, ...TIGHT_PASSES]) passes[p] = groupBy(n, (i) => KEYS[p](c, i), p === 'name' ? nameGroups : undefined);
  return { size: n, passes, nameGroups };
}

/** Default block cap: no pass compares an identity with more than this many others by one key. */
export const DEFAULT_BLOCK_CAP = 150;

/**
 * The cap for a table of this many identities: 1% of them, between 50 and 150. A key shared by
 * more than that says little (a town's only postcode) and costs many pairs: at borough scale
 * (half a million identities) nine passes of up to 150 candidates each.
 */
export function defaultBlockCap(identities: number): number {
  return Math.max(50, Math.min(DEFAULT_BLOCK_CAP, Math.round(identities / 100)));
}

/** Candidate pairs, each once, the identity with the smaller key first. */
export interface PairList {
  a: Int32Array;
  b: Int32Array;
  length: number;
  /** Pairs [0, wide) were found by the wide passes, the rest only by the tight ones. */
  wide: number;
}

/**
 * The cap of the passes whose keys say least about a person: a surname's sound with an initial
 * (and its swap) and a surname within a town. A third of the cap, at least 25. Their blocks of
 * more than 50 made two thirds of all pairs on the generator's locality (50,000 people: 463,000
 * of 731,000 pairs for 4,831 wide identities) while finding 4 of 11,563 true pairs no other pass
 * found; the identities in them still meet their candidates by birth date, postcode, house,
 * given name or surname sound with birth year.
 */
export function weakPassCap(cap: number): number {
  return Math.max(25, Math.round(cap / 3));
}

export interface BlockingSearch {
  /** Identities to find candidates for by every pass. */
  wide: readonly number[];
  /** Identities linked by a new NHS number: only a duplicate person (same birth date and surname sound or postcode). */
  tight?: readonly number[];
  /** Leave out candidates in the identity's own person (matching); else only itself (training: those are the known matches). */
  excludeSamePerson: boolean;
  /** Keys shared by more identities than this are left out of their (wide) pass (weakPassCap for the weak passes). */
  cap: number;
}

/**
 * Candidate pairs for some identities. A pair of two searched identities is found once however
 * many passes (and which side) find it; the key order decides which is `a`.
 */
export function candidatePairs(index: BlockingIndex, c: BlockingColumns, search: BlockingSearch): PairList {
  const n = index.size;
  const out = new PairBuffer();
  // Candidates already taken for the identity being searched (stamped with its number).
  const seen = new Int32Array(n).fill(-1);
  const searched = new Uint8Array(n);
  for (const i of search.wide) searched[i] = 1;
  for (const i of search.tight ?? []) searched[i] = 1;
  // Pairs of two searched identities would be found from both sides: kept once.
  const both = new Set<number>();
  const person = c.person;
  const take = (p: number, q: number) => {
    if (q === p || seen[q] === p) return;
    seen[q] = p;
    if (search.excludeSamePerson && person[q] === person[p]) return;
    if (searched[q]) {
      const packed = p < q ? p * n + q : q * n + p;
      if (both.has(packed)) return;
      both.add(packed);
    }
    if (c.key[p]! < c.key[q]!) out.push(p, q);
    else out.push(q, p);
  };
  const scan = (g: Grouping, gi: number, p: number, cap: number) => {
    if (gi < 0) return;
    const from = g.start[gi]!;
    const to = g.start[gi + 1]!;
    if (to - from > cap) return;
    for (let k = from; k < to; k++) take(p, g.members[k]!);
  };
  const P = index.passes;
  const weak = weakPassCap(search.cap);
  const caps = PASSES.map((name) => (name === 'nhs' ? Infinity : WEAK_PASSES.has(name) ? weak : search.cap));
  for (const p of search.wide) {
    if (p >= n) continue;
    PASSES.forEach((name, k) => scan(P[name], P[name].group[p]!, p, caps[k]!));
    const swapped = join(firstGivenSoundex(c.given[p]!), upperFirst(c.family[p]!));
    if (swapped !== null) scan(P.name, index.nameGroups.get(swapped) ?? -1, p, weak);
  }
  const wide = out.length;
  for (const p of search.tight ?? []) {
    if (p >= n) continue;
    for (const name of TIGHT_PASSES) scan(P[name], P[name].group[p]!, p, Infinity);
  }
  return { a: out.a.subarray(0, out.length), b: out.b.subarray(0, out.length), length: out.length, wide };
}

/** Soundex of the first given name, for the swapped pass (null when none). */
export function firstGivenSoundex(given: string | null | undefined): string | null {
  const first = (given ?? '').trim().split(/[\s-]+/)[0] ?? '';
  return soundex(first) || null;
}

/** Two growing arrays of identity numbers. */
class PairBuffer {
  a = new Int32Array(1 << 16);
  b = new Int32Array(1 << 16);
  length = 0;
  push(x: number, y: number): void {
    if (this.length === this.a.length) {
      const a = new Int32Array(this.a.length * 2);
      const b = new Int32Array(this.a.length * 2);
      a.set(this.a);
      b.set(this.b);
      this.a = a;
      this.b = b;
    }
    this.a[this.length] = x;
    this.b[this.length++] = y;
  }
}
