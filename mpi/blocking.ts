/**
 * Blocking: which pairs of identities the matcher compares at all. Several passes, each an
 * index-backed join on one combination of fields, their union deduplicated, so that a record
 * missing its date of birth, its given name or its postcode (or with any one of them mistyped)
 * still meets its candidates through another pass:
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
 * | `nhs-number` | NHS number | everything else wrong |
 *
 * A key shared by more identities than the block cap (a common surname with a common initial,
 * a town's house number 1) is left out of its pass: every such identity still meets its
 * candidates through the other passes, and the matcher stays fast at borough scale.
 * Keys are computed in SQL on both sides (the same expressions as the indexes of migration 0006),
 * except the Soundex of the given name, which only the pending side needs.
 */
import type { Queryable } from '../db/database.ts';
import { soundex } from './fellegi-sunter.ts';

/** A pending (or sampled) identity to find candidates for. */
export interface BlockIdentity {
  system: string;
  id: string;
  given?: string | null;
}

/** A candidate pair: `${system}|${id}` of the identity blocked for, and of its candidate. */
export interface Pair {
  a: string;
  b: string;
}

// One SQL expression per key; the same text as the index expressions of migration 0006, so the
// planner uses the indexes on the candidate side.
const KEYS = {
  name: `x.family_soundex || '|' || upper(left(x.given, 1))`,
  birthDate: `x.birth_date::text`,
  postcode: `x.postcode`,
  givenYear: `upper(x.given) || '|' || extract(year FROM x.birth_date)::int`,
  familyYear: `x.family_soundex || '|' || extract(year FROM x.birth_date)::int`,
  house: `upper(x.town) || '|' || substring(x.address FROM '[0-9]+') || '|' || upper(substring(x.address FROM '[A-Za-z]'))`,
  familyTown: `upper(x.family) || '|' || upper(x.town)`,
} as const;
type KeyName = keyof typeof KEYS;

/** Per pass, the key values shared by more identities than the cap (left out of that pass). */
export type CommonKeys = Record<KeyName, string[]>;

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

/** The keys too common to block on, per pass (one grouped scan of the table per pass). */
export async function commonBlockKeys(db: Queryable, cap = DEFAULT_BLOCK_CAP): Promise<CommonKeys> {
  const out = {} as CommonKeys;
  for (const [name, expr] of Object.entries(KEYS) as [KeyName, string][]) {
    const r = await db.query<{ k: string }>(
      `SELECT ${expr} AS k FROM source_identity x WHERE ${expr} IS NOT NULL GROUP BY 1 HAVING count(*) > $1 ORDER BY 1`,
      [cap],
    );
    out[name] = r.rows.map((x) => x.k);
  }
  return out;
}

/**
 * Candidate pairs for some identities by every pass. excludeSamePerson leaves out identities
 * already in the same person (for matching); the training sample keeps them (they are the
 * known matches EM learns m from). Pairs come back with `a` the identity blocked for.
 */
export async function blockedPairs(db: Queryable, keys: BlockIdentity[], excludeSamePerson: boolean, common: CommonKeys): Promise<Pair[]> {
  if (!keys.length) return [];
  const other = excludeSamePerson ? 'c.person_id <> p.person_id' : 'NOT (c.source_system = p.source_system AND c.source_id = p.source_id)';
  const k = (name: KeyName, side: 'p' | 'c') => KEYS[name].replaceAll('x.', `${side}.`);
  // Each pass: the candidate's key equals the pending identity's, unless that key is too common.
  const pass = (name: KeyName, idx: number, on: string) =>
    `SELECT p.source_system AS a_sys, p.source_id AS a_id, c.source_system AS b_sys, c.source_id AS b_id
       FROM p JOIN source_identity c ON ${on} AND ${other}
      WHERE NOT (${k(name, 'p')} = ANY($${idx}::text[]))`;
  const yearOf = (side: string) => `extract(year FROM ${side}.birth_date)::int`;
  const yearRange = `c.birth_date >= make_date(${yearOf('p')}, 1, 1) AND c.birth_date < make_date(${yearOf('p')} + 1, 1, 1)`;
  const sql = `WITH p AS (
       SELECT s.*, k.given_soundex FROM source_identity s
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(sys, id, given_soundex) ON s.source_system = k.sys AND s.source_id = k.id
     )
     ${pass('name', 4, `c.family_soundex = p.family_soundex AND upper(left(c.given, 1)) = upper(left(p.given, 1))`)}
     UNION
     SELECT p.source_system, p.source_id, c.source_system, c.source_id
       FROM p JOIN source_identity c ON c.family_soundex = p.given_soundex AND upper(left(c.given, 1)) = upper(left(p.family, 1)) AND ${other}
      WHERE NOT ((p.given_soundex || '|' || upper(left(p.family, 1))) = ANY($4::text[]))
     UNION
     ${pass('birthDate', 5, `c.birth_date = p.birth_date`)}
     UNION
     ${pass('postcode', 6, `c.postcode = p.postcode`)}
     UNION
     ${pass('givenYear', 7, `upper(c.given) = upper(p.given) AND ${yearRange}`)}
     UNION
     ${pass('familyYear', 8, `c.family_soundex = p.family_soundex AND ${yearRange}`)}
     UNION
     ${pass('house', 9, `upper(c.town) = upper(p.town) AND substring(c.address FROM '[0-9]+') = substring(p.address FROM '[0-9]+') AND upper(substring(c.address FROM '[A-Za-z]')) = upper(substring(p.address FROM '[A-Za-z]'))`)}
     UNION
     ${pass('familyTown', 10, `upper(c.family) = upper(p.family) AND upper(c.town) = upper(p.town)`)}
     UNION
     SELECT p.source_system, p.source_id, c.source_system, c.source_id
       FROM p JOIN source_identity c ON c.nhs_number = p.nhs_number AND p.nhs_number_valid AND c.nhs_number_valid AND ${other}
     ORDER BY 1, 2, 3, 4`;
  const r = await db.query<{ a_sys: string; a_id: string; b_sys: string; b_id: string }>(sql, [
    keys.map((x) => x.system),
    keys.map((x) => x.id),
    keys.map((x) => firstGivenSoundex(x.given)),
    common.name,
    common.birthDate,
    common.postcode,
    common.givenYear,
    common.familyYear,
    common.house,
    common.familyTown,
  ]);
  return r.rows.map((x) => ({ a: `${x.a_sys}|${x.a_id}`, b: `${x.b_sys}|${x.b_id}` }));
}

/**
 * Candidates for an identity already linked by a new NHS number: another person with the same
 * birth date and surname sound, postcode or house (a duplicate under a mistyped number shares those).
 */
export async function tightPairs(db: Queryable, keys: BlockIdentity[]): Promise<Pair[]> {
  if (!keys.length) return [];
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

/** Soundex of the first given name, for the swapped pass ('' when none: matches no family_soundex). */
export function firstGivenSoundex(given: string | null | undefined): string | null {
  const first = (given ?? '').trim().split(/[\s-]+/)[0] ?? '';
  return soundex(first) || null;
}

/** A pair written with the smaller identity key first, so a pair found from either side is one pair. */
export function canonicalPair(a: string, b: string): Pair {
  return cmpKeys(a, b) <= 0 ? { a, b } : { a: b, b: a };
}

function cmpKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
