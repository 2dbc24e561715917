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
 * | `email-user` | the email's user name (before the @) | the same, with the domain mistyped (`…@smith.biz` / `…@smith.bz`) |
 * | `email-domain` | the email's domain (after the @) | the same, with the user name mistyped; common providers' domains are over the cap |
 * | `other-id` | an identifier other than the NHS number (kind and value: a national id, passport, driving licence) | everything else wrong, where no NHS number is held |
 * | `nhs-number` | NHS number | everything else wrong |
 *
 * A key shared by more identities than the block cap (a common surname with a common initial,
 * a town's house number 1) is left out of its pass: every such identity still meets its
 * candidates through the other passes, and the matcher stays fast at borough scale. The weak
 * passes (`name`, `swapped`, `family-town`, `email-domain`) have a third of the cap (weakPassCap).
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

const PASSES = ['name', 'birthDate', 'postcode', 'givenYear', 'familyYear', 'house', 'familyTown', 'email', 'emailUser', 'emailDomain', 'otherId', 'nhs'] as const;
type PassName = (typeof PASSES)[number];
const WEAK_PASSES = new Set<PassName>(['name', 'familyTown', 'emailDomain']);
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
// The user name (before the last @) or the domain of an email address: one of them mistyped leaves the other.
const emailPart = (e: string | null, part: 'user' | 'domain') => {
  const at = e ? e.lastIndexOf('@') : -1;
  if (!e || at <= 0 || at === e.length - 1) return null;
  return part === 'user' ? e.slice(0, at) : e.slice(at + 1);
};
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
  emailUser: (c, i) => emailPart(firstOf(c.email[i]), 'user'),
  emailDomain: (c, i) => emailPart(firstOf(c.email[i]), 'domain'),
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
  /** The name pass's group of each identity's swapped key (given name's Soundex + family initial), -1 when none. */
  readonly swappedGroup: Int32Array;
}

/** Groups identities 0 … n−1 of the columns by every pass's key. */
export function buildBlockingIndex(c: BlockingColumns, n = c.key.length): BlockingIndex {
  const nameGroups = new Map<string, number>();
  const passes = {} as Record<PassName | TightPassName, Grouping>;
  for (const p of [...PASSES, ...TIGHT_PASSES]) passes[p] = groupBy(n, (i) => KEYS[p](c, i), p === 'name' ? nameGroups : undefined);
  const swappedGroup = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = join(firstGivenSoundex(c.given[i]!), upperFirst(c.family[i]!));
    swappedGroup[i] = k === null ? -1 : (nameGroups.get(k) ?? -1);
  }
  return { size: n, passes, swappedGroup };
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
 * many passes (and which side) find it; the key order decides which is `a`. The pairs of the wide
 * identities come first (`wide` of them), then those found only by the tight passes.
 */
export function candidatePairs(index: BlockingIndex, c: BlockingColumns, search: BlockingSearch): PairList {
  const all = new PairBuffer();
  let wide = 0;
  for (const chunk of candidatePairChunks(index, c, search)) {
    for (let k = 0; k < chunk.length; k++) all.push(chunk.a[k]!, chunk.b[k]!);
    wide += chunk.wide;
  }
  return { a: all.a.subarray(0, all.length), b: all.b.subarray(0, all.length), length: all.length, wide };
}

/** Searched identities per chunk of candidatePairChunks (a chunk's pairs: about 100 times as many). */
export const SEARCH_CHUNK = 2048;

/**
 * candidatePairs a chunk of searched identities at a time, so that a caller can compare and count
 * them as they come and memory stays bounded however many identities are searched. Each chunk is
 * wholly wide (`wide` = its length) or wholly tight (`wide` = 0); the wide chunks come first. The
 * arrays of a chunk are reused for the next one: copy what must outlive it.
 *
 * A pair of two searched identities p and q may be found from both sides. It is kept on one side
 * only, decided from the pair itself (no set of pairs seen): the wide side when one is wide and the
 * other tight, else the side whose scan finds it, the smaller identity number when both do. The
 * passes are symmetric (one group, one cap) except the swapped pass, so whether q's scan finds p is
 * a few integer comparisons (finds, below).
 */
export function* candidatePairChunks(index: BlockingIndex, c: BlockingColumns, search: BlockingSearch, chunkSize = SEARCH_CHUNK): Generator<PairList> {
  const n = index.size;
  const out = new PairBuffer();
  // Candidates already taken for the identity being searched (stamped with its number).
  const seen = new Int32Array(n).fill(-1);
  // 1: searched by every pass, 2: by the tight passes only.
  const searched = new Uint8Array(n);
  for (const i of search.tight ?? []) if (i < n) searched[i] = 2;
  for (const i of search.wide) if (i < n) searched[i] = 1;
  const person = c.person;
  const P = index.passes;
  const weak = weakPassCap(search.cap);
  const caps = PASSES.map((name) => (name === 'nhs' ? Infinity : WEAK_PASSES.has(name) ? weak : search.cap));
  const groups = PASSES.map((name) => P[name]);
  const size = (g: Grouping, gi: number) => g.start[gi + 1]! - g.start[gi]!;
  // Does q's own search find p (q searched as searched[q] says)?
  const finds = (q: number, p: number): boolean => {
    if (searched[q] === 1) {
      for (let k = 0; k < groups.length; k++) {
        const g = groups[k]!;
        const gi = g.group[q]!;
        if (gi >= 0 && gi === g.group[p] && size(g, gi) <= caps[k]!) return true;
      }
      const s = index.swappedGroup[q]!;
      return s >= 0 && s === P.name.group[p] && size(P.name, s) <= weak;
    }
    for (const name of TIGHT_PASSES) {
      const gi = P[name].group[q]!;
      if (gi >= 0 && gi === P[name].group[p]) return true;
    }
    return false;
  };
  const take = (p: number, q: number) => {
    if (q === p || seen[q] === p) return;
    seen[q] = p;
    if (search.excludeSamePerson && person[q] === person[p]) return;
    const sq = searched[q]!;
    // Found from q's side too? Then one side keeps it: the wide one, else the smaller number.
    if (sq && (searched[p] === 1 ? sq === 1 && q < p : sq === 1 || q < p) && finds(q, p)) return;
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
  const chunk = (wide: boolean): PairList => {
    const list = { a: out.a.subarray(0, out.length), b: out.b.subarray(0, out.length), length: out.length, wide: wide ? out.length : 0 };
    out.length = 0;
    return list;
  };
  let count = 0;
  for (const p of search.wide) {
    if (p >= n) continue;
    for (let k = 0; k < groups.length; k++) scan(groups[k]!, groups[k]!.group[p]!, p, caps[k]!);
    scan(P.name, index.swappedGroup[p]!, p, weak);
    if (++count % chunkSize === 0 && out.length) yield chunk(true);
  }
  if (out.length) yield chunk(true);
  count = 0;
  for (const p of search.tight ?? []) {
    if (p >= n || searched[p] !== 2) continue;
    for (const name of TIGHT_PASSES) scan(P[name], P[name].group[p]!, p, Infinity);
    if (++count % chunkSize === 0 && out.length) yield chunk(false);
  }
  if (out.length) yield chunk(false);
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
