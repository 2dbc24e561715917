/**
 * Fellegi–Sunter record linkage, pure: compare two identities field by field into agreement
 * levels, estimate m (P(level | match)) and u (P(level | non-match)) by expectation–maximisation,
 * and turn a comparison into a log2 match weight and a decision.
 * Reference: Fellegi & Sunter (1969), "A theory for record linkage"; Winkler (1990) for Jaro–Winkler.
 * Reads its list of familiar given names (data/nicknames.csv) once, at import.
 */
import { readFileSync } from 'node:fs';

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
  /** Street part of the address (house name or number, street, further lines). */
  address?: string | null;
  /** Town, city or suburb. */
  town?: string | null;
  /** Email addresses, normalised (normaliseEmail), space-separated. */
  email?: string | null;
  /** Phone numbers, digits only (normalisePhone), space-separated. */
  phone?: string | null;
  /** Identifiers other than the NHS number, each `type|VALUE` (normaliseIdentifier), space-separated. */
  otherId?: string | null;
}

/** Fields compared, each with its agreement levels from strongest to weakest. */
export const FIELDS = [
  { name: 'nhs_number', levels: ['agree', 'disagree'] },
  { name: 'family', levels: ['exact', 'jaro-winkler', 'soundex', 'two-edits', 'disagree'] },
  { name: 'given', levels: ['exact', 'jaro-winkler', 'nickname', 'two-edits', 'initial', 'disagree'] },
  { name: 'birth_date', levels: ['exact', 'day-month-swapped', 'one-digit', 'one-year', 'year-month', 'within-a-year', 'within-ten-years', 'disagree'] },
  { name: 'sex', levels: ['agree', 'disagree'] },
  { name: 'postcode', levels: ['exact', 'one-edit', 'district', 'disagree'] },
  { name: 'address', levels: ['exact', 'close', 'street', 'disagree'] },
  { name: 'town', levels: ['exact', 'close', 'disagree'] },
  { name: 'email', levels: ['exact', 'close', 'fuzzy', 'disagree'] },
  { name: 'phone', levels: ['exact', 'close', 'disagree'] },
  { name: 'other_id', levels: ['exact', 'close', 'disagree'] },
] as const;

export type FieldName = (typeof FIELDS)[number]['name'];

/** Index of each field in a comparison vector. */
export const F = { nhs: 0, family: 1, given: 2, birthDate: 3, sex: 4, postcode: 5, address: 6, town: 7, email: 8, phone: 9, otherId: 10 } as const;

/**
 * A comparison: for each field (in FIELDS order) the index of its level, or -1 when either side
 * is missing (a missing value carries no evidence: weight 0).
 */
export type ComparisonVector = number[];

/**
 * m and u per field and level (same shape as FIELDS), the proportion of matches λ among the pairs,
 * and optionally the most that what one household shares may count (see householdWeight).
 */
export interface MatchParameters {
  m: number[][];
  u: number[][];
  lambda: number;
  /**
   * log2 likelihood ratio cap for agreeing on family name, date of birth and address together.
   * Fields are scored as independent, but twins and other members of one household agree on all
   * of these at once far more often than the product of their chances: the cap is
   * log2(P(all agree | match) / P(all agree | non-match)) measured on look-alike pairs.
   */
  householdCap?: number;
}

export type MatchDecision = 'MATCH' | 'POSSIBLE_MATCH' | 'NO_MATCH';

// ---------------------------------------------------------------------------------------------
// String comparators

// Scratch for jaroWinkler: it runs several times for every pair the matcher compares, and
// allocating its two marks arrays each time was half the matcher's comparison time.
let matchedA = new Uint8Array(64);
let matchedB = new Uint8Array(64);

/** Jaro–Winkler similarity in [0, 1] (prefix scale 0.1, prefix up to 4 characters). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const la = a.length;
  const lb = b.length;
  if (!la || !lb) return 0;
  if (la > matchedA.length) matchedA = new Uint8Array(la * 2);
  if (lb > matchedB.length) matchedB = new Uint8Array(lb * 2);
  matchedA.fill(0, 0, la);
  matchedB.fill(0, 0, lb);
  const window = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const lo = Math.max(0, i - window);
    const hi = Math.min(lb - 1, i + window);
    const ch = a.charCodeAt(i);
    for (let j = lo; j <= hi; j++) {
      if (!matchedB[j] && ch === b.charCodeAt(j)) {
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
    if (a.charCodeAt(i) !== b.charCodeAt(k)) t++;
    k++;
  }
  const jaro = (matches / la + matches / lb + (matches - t / 2) / matches) / 3;
  return jaro + commonPrefix(a, b) * 0.1 * (1 - jaro);
}

function commonPrefix(a: string, b: string): number {
  let prefix = 0;
  while (prefix < 4 && prefix < a.length && prefix < b.length && a.charCodeAt(prefix) === b.charCodeAt(prefix)) prefix++;
  return prefix;
}

const letterCounts = new Int32Array(128);

/**
 * jaroWinkler(a, b) ≥ threshold, answered without the full computation when even the most the
 * two strings could score is below it: Jaro's matches are at most the characters they share
 * (counted as multisets) and its transpositions at least none. Most pairs the matcher compares
 * are strangers, so this usually ends here. Same answer as the full test.
 */
export function jaroWinklerAtLeast(a: string, b: string, threshold: number): boolean {
  const la = a.length;
  const lb = b.length;
  if (la && lb && a !== b) {
    let ascii = true;
    for (let i = 0; i < la; i++) {
      const c = a.charCodeAt(i);
      if (c > 127) ascii = false;
      else letterCounts[c]!++;
    }
    let common = 0;
    for (let i = 0; i < lb; i++) {
      const c = b.charCodeAt(i);
      if (c > 127) ascii = false;
      else if (letterCounts[c]! > 0) {
        letterCounts[c]!--;
        common++;
      }
    }
    for (let i = 0; i < la; i++) {
      const c = a.charCodeAt(i);
      if (c <= 127) letterCounts[c] = 0;
    }
    if (ascii) {
      if (!common) return false;
      // The same expression jaroWinkler evaluates, at its largest (matches = common, t = 0).
      const jaro = (common / la + common / lb + (common - 0 / 2) / common) / 3;
      if (jaro + commonPrefix(a, b) * 0.1 * (1 - jaro) < threshold) return false;
    }
  }
  return jaroWinkler(a, b) >= threshold;
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
  const s = foldDiacritics(name).toUpperCase().replace(/[^A-Z]/g, '');
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

// Letters that Unicode decomposition does not split into a base letter and a mark.
const FOLDED: Record<string, string> = { ß: 'SS', ẞ: 'SS', Æ: 'AE', æ: 'AE', Œ: 'OE', œ: 'OE', Ø: 'O', ø: 'O', Ł: 'L', ł: 'L', Đ: 'D', đ: 'D', Ð: 'D', ð: 'D', Þ: 'TH', þ: 'TH', ı: 'I' };

/** A name with its diacritics folded to plain letters (José → Jose, Zoë → Zoe, Łukasz → Lukasz, Straße → Strasse). */
export function foldDiacritics(name: string): string {
  if (/^[\x00-\x7f]*$/.test(name)) return name;
  return name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[ßẞÆæŒœØøŁłĐđÐðÞþı]/g, (c) => FOLDED[c]!);
}

/**
 * Upper-case letters only, for name comparison: diacritics folded, apostrophes, spaces and hyphens
 * dropped ("O'Brien-Smith", "O Brien Smith" → "OBRIENSMITH"; "Zoë" → "ZOE").
 */
export function normaliseName(name: string | null | undefined): string {
  return foldDiacritics(name ?? '').toUpperCase().replace(/[^A-Z]/g, '');
}

/**
 * The parts of a name: hyphenated and double surnames, or given and middle names ("Smith-Jones" →
 * SMITH, JONES; "Mary Ann" → MARY, ANN). An apostrophe joins ("O'Brien" → OBRIEN), and so does a
 * one-letter particle before a name ("O Brien" → OBRIEN), so the parts agree however it was typed.
 */
export function nameParts(name: string | null | undefined): string[] {
  const raw = foldDiacritics(name ?? '').toUpperCase().replace(/['’`‘]/g, '').split(/[\s\-‐.,]+/).map((s) => s.replace(/[^A-Z]/g, '')).filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    // "O Brien", "D Souza": the particle belongs to the next part. A given name's initials ("J R") stay.
    if ((raw[i] === 'O' || raw[i] === 'D') && i + 1 < raw.length && raw[i + 1]!.length > 2) {
      out.push(raw[i] + raw[i + 1]!);
      i++;
    } else out.push(raw[i]!);
  }
  return out;
}

/** A surname's Mac written as Mc (MACDONALD → MCDONALD), for comparison only; short names (MACK, MACE) are left alone. */
export function macAsMc(norm: string): string {
  return norm.length >= 6 && norm.startsWith('MAC') ? `MC${norm.slice(3)}` : norm;
}

/**
 * An email address for comparison and blocking: spaces removed and lower case. Nothing else:
 * dots and +tags are part of the address at most providers, and two people may differ only there.
 * Null when it is not shaped like an address (no @ with text on both sides).
 */
export function normaliseEmail(email: string | null | undefined): string | null {
  const s = (email ?? '').replace(/\s+/g, '').replace(/^mailto:/i, '').toLowerCase();
  const at = s.lastIndexOf('@');
  return at > 0 && at < s.length - 1 ? s : null;
}

/**
 * A phone number for comparison and blocking: digits only, a UK number in its national form
 * (+44 / 0044 / 44 and 11 digits → leading 0; "+44 (0)161 …" → "0161 …"). Other numbers are kept
 * as their digits. Null when fewer than 6 digits (an extension, a placeholder).
 */
export function normalisePhone(phone: string | null | undefined): string | null {
  const s = (phone ?? '').replace(/^tel:/i, '').replace(/\(0\)/g, '').trim();
  let digits = s.replace(/[^0-9]/g, '');
  if (s.startsWith('+')) digits = `00${digits}`;
  if (digits.startsWith('0044')) digits = `0${digits.slice(4)}`;
  else if (digits.length === 12 && digits.startsWith('44')) digits = `0${digits.slice(2)}`;
  return digits.replace(/^0+/, '').length >= 6 ? digits : null;
}

/**
 * The kind of an identifier other than the NHS number, from its system (a FHIR identifier
 * system URI or OID, an HL7 v2 identifier type code, or what a CSV feed names it): national ids
 * that different senders name differently become one kind, so they compare; anything else keeps
 * its system (lower case).
 */
export function identifierKind(system: string): string {
  const s = system.trim().toLowerCase();
  if (/us-ssn|2\.16\.840\.1\.113883\.4\.1$|^ss$|^ssn$|soc_?sec|social.?security/.test(s)) return 'ssn';
  if (/national.?insurance|^ni$|^nino$|uk-ni/.test(s)) return 'ni';
  if (/passport|^ppn$/.test(s)) return 'passport';
  if (/driv|^dl$|licen[cs]e/.test(s)) return 'driving-licence';
  return s.replace(/\s+/g, '-');
}

/** An identifier as the matcher compares it: `kind|VALUE`, the value upper case without spaces, dashes or dots. Null when empty. */
export function normaliseIdentifier(system: string, value: string | null | undefined): string | null {
  const v = (value ?? '').toUpperCase().replace(/[\s\-./]/g, '');
  if (!v || !system.trim()) return null;
  return `${identifierKind(system).replace(/[|\s]/g, '-')}|${v}`;
}

// UK postcode shape (BS 7666): outward code (area, district) and inward code (sector, unit).
const UK_POSTCODE = /^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$/;

/** True for a string shaped like a UK postcode ("M14 5AB", "SW1A1AA"). */
export function isUkPostcode(postcode: string | null | undefined): boolean {
  return UK_POSTCODE.test((postcode ?? '').toUpperCase().replace(/[^A-Z0-9]/g, ''));
}

/**
 * Normalises a postcode for storage and blocking: a UK postcode becomes "OUTWARD INWARD" upper
 * case ("m14 5ab" → "M14 5AB"); any other (a 4-digit Australian or a 5-digit US one) is kept as
 * its upper-case letters and digits ("4223"), never split. Null if empty.
 */
export function normalisePostcode(postcode: string | null | undefined): string | null {
  const s = (postcode ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (!s) return null;
  const uk = UK_POSTCODE.exec(s);
  return uk ? `${uk[1]} ${uk[2]}` : s;
}

// ---------------------------------------------------------------------------------------------
// Comparison levels

/** NHS number level: 0 agree, 1 disagree, -1 missing (either side absent or invalid). */
export function compareNhsNumber(a: string | null | undefined, b: string | null | undefined): number {
  if (!a || !b) return -1;
  return a === b ? 0 : 1;
}

/**
 * Family name level: 0 exact, 1 close (Jaro–Winkler ≥ 0.92, one typing slip, or one part of a
 * hyphenated or double surname is the other's), 2 same Soundex, 3 two edits (twoEditsApart), 4
 * disagree, -1 missing.
 */
export function compareFamily(a: string | null | undefined, b: string | null | undefined): number {
  return compareFamilyName(nameFeatures(a), nameFeatures(b));
}

/** A name prepared once for many comparisons. */
interface NameFeatures {
  /** Letters only, upper case. */
  norm: string;
  /** Its parts (hyphenated, double or middle names). */
  parts: string[];
  first: string;
  soundex: string;
}

function nameFeatures(name: string | null | undefined): NameFeatures | null {
  const norm = normaliseName(name);
  if (!norm) return null;
  const parts = nameParts(name);
  return { norm, parts, first: parts[0] ?? norm, soundex: soundex(norm) };
}

function compareFamilyName(x: NameFeatures | null, y: NameFeatures | null): number {
  if (!x || !y) return -1;
  if (x.norm === y.norm) return 0;
  if (jaroWinklerAtLeast(x.norm, y.norm, 0.92) || (Math.min(x.norm.length, y.norm.length) >= 4 && oneSlipApart(x.norm, y.norm))) return 1;
  if (macAsMc(x.norm) === macAsMc(y.norm)) return 1; // MacKay / McKay
  if ((x.parts.length > 1 || y.parts.length > 1) && x.parts.some((p) => p.length >= 2 && y.parts.includes(p))) return 1;
  if (x.soundex === y.soundex) return 2;
  if (twoEditsApart(x.norm, y.norm)) return 3;
  return 4;
}

/**
 * True when two names (normalised, not equal) are at most two typing edits apart, both of five
 * letters or more (Tarlo / Taylor: a letter changed and one dropped; Cooper / Coepo), or are the
 * same letters keyed out of order, one perhaps dropped, the shorter of four letters or more
 * (Ethan / Etnah, Brown / Orbw, Thomas / Ahots). What this level is worth is learnt like any
 * other: u from the random pairs (strangers' names rarely share their letters), m by EM.
 */
export function twoEditsApart(a: string, b: string): boolean {
  const la = a.length;
  const lb = b.length;
  if (la < 4 || lb < 4 || Math.abs(la - lb) > 2) return false;
  // Letters in common (as multisets), counted once: the same letters one perhaps dropped is all of
  // the shorter's; and k edits leave at least the longer's length less k in common, so most
  // strangers are told apart here without the edit distance (the matcher compares millions).
  const common = lettersInCommon(a, b);
  if (Math.abs(la - lb) <= 1 && common === Math.min(la, lb)) return true;
  return la >= 5 && lb >= 5 && Math.max(la, lb) - common <= 2 && editDistanceAtMost(a, b, 2);
}

/** The same letters keyed out of order, one perhaps dropped, the shorter of four letters or more (Blotn / Bolton). */
export function lettersJumbled(a: string, b: string): boolean {
  const la = a.length;
  const lb = b.length;
  return la >= 4 && lb >= 4 && Math.abs(la - lb) <= 1 && lettersInCommon(a, b) === Math.min(la, lb);
}

const rearranged = new Int32Array(128);

/** How many letters a and b have in common, counted as multisets. */
function lettersInCommon(a: string, b: string): number {
  let ascii = true;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c > 127) ascii = false;
    else rearranged[c]!++;
  }
  let common = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b.charCodeAt(i);
    if (c > 127) ascii = false;
    else if (rearranged[c]! > 0) {
      rearranged[c]!--;
      common++;
    }
  }
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c <= 127) rearranged[c] = 0;
  }
  if (ascii) return common;
  // Letters beyond ASCII (left as they were by normalisation): the same count on code points.
  const left = [...a];
  common = 0;
  for (const c of b) {
    const i = left.indexOf(c);
    if (i >= 0) {
      left.splice(i, 1);
      common++;
    }
  }
  return common;
}

// Familiar forms of given names: one group per line of data/nicknames.csv. A name may be in
// several groups (CHRIS: Christopher and Christine).
const NICKNAMES = new Map<string, Set<number>>();
readFileSync(new URL('./data/nicknames.csv', import.meta.url), 'utf8')
  .split(/\r?\n/)
  .filter((l) => l.trim() && !l.startsWith('#'))
  .forEach((line, i) => {
    for (const n of line.split(',').map((s) => normaliseName(s)).filter(Boolean)) {
      if (!NICKNAMES.has(n)) NICKNAMES.set(n, new Set());
      NICKNAMES.get(n)!.add(i);
    }
  });

/** True when one given name is a familiar form of the other (Bill / William). */
export function isNickname(a: string, b: string): boolean {
  return nicknames(normaliseName(a), normaliseName(b));
}

/** isNickname for names already normalised. */
function nicknames(a: string, b: string): boolean {
  const ga = NICKNAMES.get(a);
  const gb = NICKNAMES.get(b);
  if (!ga || !gb) return false;
  for (const g of ga) if (gb.has(g)) return true;
  return false;
}

/**
 * Given name level: 0 exact (or same first name), 1 close (Jaro–Winkler ≥ 0.9, one typing slip,
 * or one's first name is among the other's names), 2 nickname, 3 two edits (twoEditsApart),
 * 4 same initial, 5 disagree, -1 missing. A name of several parts against one of one part is also
 * compared with its parts joined (a space keyed inside a name: "Scar ett" / Scarlett close,
 * "Ja prs" / Jasper two edits).
 */
export function compareGiven(a: string | null | undefined, b: string | null | undefined): number {
  return compareGivenName(nameFeatures(a), nameFeatures(b));
}

function compareGivenName(x: NameFeatures | null, y: NameFeatures | null): number {
  if (!x || !y) return -1;
  const firstA = x.first;
  const firstB = y.first;
  if (firstA === firstB || x.norm === y.norm) return 0;
  // Jaro–Winkler misses a slip in a short name (IAN / INA scores 0.6), so one slip counts as close too.
  if (jaroWinklerAtLeast(firstA, firstB, 0.9) || (Math.max(firstA.length, firstB.length) >= 3 && oneSlipApart(firstA, firstB))) return 1;
  // Known by a middle name in one system ("Mary Ann" / "Ann").
  if ((firstA.length > 1 && y.parts.includes(firstA)) || (firstB.length > 1 && x.parts.includes(firstB))) return 1;
  // A name keyed with a space inside it ("Scar ett", "Osc a", "Achi e") is not a first and a
  // middle name: when only one side has several parts, its letters joined are compared as one name.
  const spaced = x.parts.length > 1 !== y.parts.length > 1;
  if (spaced && (jaroWinklerAtLeast(x.norm, y.norm, 0.9) || (Math.min(x.norm.length, y.norm.length) >= 4 && oneSlipApart(x.norm, y.norm)))) return 1;
  if (nicknames(firstA, firstB)) return 2;
  if (twoEditsApart(firstA, firstB) || (spaced && twoEditsApart(x.norm, y.norm))) return 3;
  if (firstA[0] === firstB[0]) return 4;
  return 5;
}

/**
 * Family and given levels together, compared straight and crosswise (given and family swapped,
 * as a form filled in the wrong boxes); the better of the two.
 */
export function compareNames(a: MatchIdentity, b: MatchIdentity): [number, number] {
  return compareNameFeatures(features(a), features(b));
}

// Missing counts as the weakest level, so a swap is taken only when it explains more.
const FAMILY_DISAGREE = FIELDS[F.family].levels.length - 1;
const GIVEN_DISAGREE = FIELDS[F.given].levels.length - 1;
const BIRTH_DATE_DISAGREE = FIELDS[F.birthDate].levels.length - 1;
function nameRank(v: [number, number]): number {
  return (v[0] < 0 ? FAMILY_DISAGREE : v[0]) + (v[1] < 0 ? GIVEN_DISAGREE : v[1]);
}

function compareNameFeatures(a: Features, b: Features): [number, number] {
  const straight: [number, number] = [compareFamilyName(a.family, b.family), compareGivenName(a.given, b.given)];
  if (straight[0] === 0 && straight[1] === 0) return straight;
  // A swap that explains the names starts at least one of them with the same letter (cheap test
  // first: most pairs compared are strangers). One side may hold a single name: a record with its
  // names in the wrong boxes against one with a name missing ("Hart | Max" / "Max | –") is
  // compared crosswise too when the name held agrees exactly, the missing name left missing (no
  // evidence either way), never as the disagreement the straight comparison makes of it.
  const familyGiven = !!a.family && !!b.given && a.family.norm[0] === b.given.norm[0];
  const givenFamily = !!a.given && !!b.family && a.given.norm[0] === b.family.norm[0];
  if (!familyGiven && !givenFamily) return straight;
  const crossed: [number, number] = [compareFamilyName(a.family, b.given), compareGivenName(a.given, b.family)];
  if (crossed[0] < 0 && crossed[1] < 0) return straight;
  // With a name missing, only a name agreeing exactly crosswise explains the swap.
  if ((crossed[0] < 0 || crossed[1] < 0) && Math.max(crossed[0], crossed[1]) !== 0) return straight;
  // Both names crosswise: each close, or one exact and the other two typing slips out (Sandra Huynh / Huienh Sandra).
  const explains = (crossed[0] <= 1 && crossed[1] <= 1) || (crossed[0] === 0 && crossed[1] === 3) || (crossed[1] === 0 && crossed[0] === 3);
  return nameRank(crossed) < nameRank(straight) && explains ? crossed : straight;
}

/**
 * Date of birth level: 0 exact, 1 day and month swapped, 2 one digit differs, 3 one year apart
 * (same day and month), 4 same year and month, 5 within a year of each other (a date written
 * from memory, a registration date for the birth date), 6 years at most ten apart (a decade keyed
 * wrong, perhaps with a day or month out too: 2016-10-10 / 2006-09-14; Splink's date-of-birth
 * comparison has a like band), 7 disagree, -1 missing. Each level has its own m and u, so what "within a
 * year" or "within ten years" is worth is learnt from the data (by chance about 1 pair in 40, and
 * 1 in 4 or 5, of a population spread over 80 years): where true matches never show such slips
 * the band weighs against, and taking it out of "disagree" leaves dates decades apart counting
 * further against. A date with an impossible day or month as sent
 * (1987-02-30, 1987-13-05) is compared character by character like any other: a slip of one
 * digit, or the day and month swapped, from the real date; a year or a year and month alone is
 * compared as far as it goes (comparePartialBirthDates).
 */
export function compareBirthDate(a: string | null | undefined, b: string | null | undefined): number {
  if (!a || !b) return -1;
  if (a.length !== 10 || b.length !== 10) return comparePartialBirthDates(a, b);
  // Character by character on YYYY-MM-DD: this runs for every pair compared.
  let diff = 0;
  for (let i = 0; i < 10; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) diff++;
  if (diff === 0) return 0;
  const sameYear = a.startsWith(b.slice(0, 4));
  if (sameYear && a[5] === b[8] && a[6] === b[9] && a[8] === b[5] && a[9] === b[6]) return 1;
  if (diff === 1) return 2;
  const sameDayMonth = a.slice(5, 10) === b.slice(5, 10);
  if (sameDayMonth && Math.abs(Number(a.slice(0, 4)) - Number(b.slice(0, 4))) === 1) return 3;
  if (sameYear && a[5] === b[5] && a[6] === b[6]) return 4;
  // Most pairs compared are years apart: the day count only for neighbouring years.
  const years = Math.abs(yearOf(a) - yearOf(b));
  if (years > 10) return BIRTH_DATE_DISAGREE;
  return years <= 1 && Math.abs(dayNumber(a) - dayNumber(b)) <= 366 ? 5 : 6;
}

/**
 * Dates of which one is less than a whole date (a year, or a year and month, as sent: link.ts
 * birthDateOf), compared as far as the less precise one goes, onto the levels whole dates have:
 * the same year and month is level 4 (as for two whole dates of one month, about 1 pair in 1,000
 * by chance); dates further apart than the less precise one can explain (two years or more for a
 * year, more than twelve months for a year and month) are within ten years (level 6) or disagree; anything between (the same year,
 * neighbouring months) is -1, neither for nor against. Not "within a year" for the same year:
 * that level's m is learnt from whole dates a few days or months out, and the many same-year
 * pairs of a file with partial dates pulled EM's birth-date m below its plausibility check
 * (exact under 0.5), leaving the defaults, by which "within a year" counts against. Their m and u
 * are the whole dates'. Never exact: "1987-06" and "1987-06" are not one date.
 */
function comparePartialBirthDates(a: string, b: string): number {
  const ya = yearOf(a);
  const yb = yearOf(b);
  if (a.length >= 7 && b.length >= 7) {
    if (a.charCodeAt(5) === b.charCodeAt(5) && a.charCodeAt(6) === b.charCodeAt(6) && ya === yb) return 4;
    const months = Math.abs(ya * 12 + Number(a.slice(5, 7)) - (yb * 12 + Number(b.slice(5, 7))));
    if (months <= 12) return -1;
    return months <= 120 ? 6 : BIRTH_DATE_DISAGREE;
  }
  const years = Math.abs(ya - yb);
  return years <= 1 ? -1 : years <= 10 ? 6 : BIRTH_DATE_DISAGREE;
}

/** The year of an ISO date, from its first four characters without making a string. */
function yearOf(iso: string): number {
  return (iso.charCodeAt(0) - 48) * 1000 + (iso.charCodeAt(1) - 48) * 100 + (iso.charCodeAt(2) - 48) * 10 + (iso.charCodeAt(3) - 48);
}

/** Days since 1970 of an ISO date (NaN when it is not one: then no level but disagree). */
function dayNumber(iso: string): number {
  return Date.UTC(Number(iso.slice(0, 4)), Number(iso.slice(5, 7)) - 1, Number(iso.slice(8, 10))) / 86_400_000;
}

function knownSex(s: string | null | undefined): string | null {
  return s === 'male' || s === 'female' || s === 'other' ? s : null;
}

/** Sex level: 0 agree, 1 disagree, -1 missing or unknown. */
export function compareSex(a: string | null | undefined, b: string | null | undefined): number {
  const x = knownSex(a);
  const y = knownSex(b);
  if (!x || !y) return -1;
  return x === y ? 0 : 1;
}

/**
 * Postcode level: 0 exact, 1 one edit apart (a slip or two neighbouring characters swapped),
 * 2 same district (outward code; UK postcodes only), 3 disagree, -1 missing. A postcode that is
 * not UK-shaped is compared as a plain string: its "district" would agree by chance.
 */
export function comparePostcode(a: string | null | undefined, b: string | null | undefined): number {
  return comparePostcodeFeatures(postcodeFeatures(a), postcodeFeatures(b));
}

interface PostcodeFeatures {
  plain: string;
  /** Outward code of a UK postcode; null for any other. */
  outward: string | null;
}

function postcodeFeatures(postcode: string | null | undefined): PostcodeFeatures | null {
  const plain = (postcode ?? '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (!plain) return null;
  return { plain, outward: UK_POSTCODE.exec(plain)?.[1] ?? null };
}

function comparePostcodeFeatures(x: PostcodeFeatures | null, y: PostcodeFeatures | null): number {
  if (!x || !y) return -1;
  if (x.plain === y.plain) return 0;
  if (oneSlipApart(x.plain, y.plain)) return 1;
  if (x.outward && x.outward === y.outward) return 2;
  return 3;
}

// Street words written in full or short ("Rd" / "Road") are the same word.
const STREET_WORDS: Record<string, string> = {
  RD: 'ROAD', ST: 'STREET', STR: 'STREET', AVE: 'AVENUE', AV: 'AVENUE', LN: 'LANE', DR: 'DRIVE', CL: 'CLOSE', CRES: 'CRESCENT',
  CR: 'CRESCENT', CT: 'COURT', PL: 'PLACE', SQ: 'SQUARE', GR: 'GROVE', GDNS: 'GARDENS', TCE: 'TERRACE', TER: 'TERRACE', PDE: 'PARADE',
  HWY: 'HIGHWAY', CIRC: 'CIRCUIT', CCT: 'CIRCUIT', PKWY: 'PARKWAY', BLVD: 'BOULEVARD', WY: 'WAY', FLT: 'FLAT', APT: 'APARTMENT',
};

/** An address's house number (the first number in it) and its words, normalised. */
export function addressParts(address: string | null | undefined): { number: string | null; words: string } {
  const tokens = (address ?? '').toUpperCase().replace(/[^A-Z0-9]+/g, ' ').trim().split(' ').filter(Boolean);
  const number = tokens.find((t) => /^[0-9]+[A-Z]?$/.test(t))?.replace(/[A-Z]$/, '') ?? null;
  const words = tokens.filter((t) => !/[0-9]/.test(t)).map((t) => STREET_WORDS[t] ?? t).join(' ');
  return { number, words };
}

/**
 * Address (street part) level: 0 exact, 1 close (same house number, street words close), 2 same
 * street (words close, number differs or missing), 3 disagree, -1 missing.
 */
export function compareAddress(a: string | null | undefined, b: string | null | undefined): number {
  return compareAddressParts(addressFeatures(a), addressFeatures(b));
}

function addressFeatures(address: string | null | undefined): { number: string | null; words: string } | null {
  const x = addressParts(address);
  return x.words || x.number ? x : null;
}

function compareAddressParts(x: { number: string | null; words: string } | null, y: { number: string | null; words: string } | null): number {
  if (!x || !y) return -1;
  const sameNumber = x.number !== null && x.number === y.number;
  if (x.words === y.words && (sameNumber || (x.number === null && y.number === null))) return 0;
  const close = x.words && y.words && (x.words.startsWith(y.words) || y.words.startsWith(x.words) || jaroWinklerAtLeast(x.words, y.words, 0.88));
  if (close) return sameNumber ? 1 : 2;
  return 3;
}

/** Town level: 0 exact, 1 close (Jaro–Winkler ≥ 0.9 or one slip), 2 disagree, -1 missing. */
export function compareTown(a: string | null | undefined, b: string | null | undefined): number {
  return compareTownName(normaliseName(a), normaliseName(b));
}

function compareTownName(x: string, y: string): number {
  if (!x || !y) return -1;
  if (x === y) return 0;
  if (jaroWinklerAtLeast(x, y, 0.9) || (Math.min(x.length, y.length) >= 4 && oneSlipApart(x, y)) || lettersJumbled(x, y)) return 1;
  return 2;
}

/** The values of a space-separated list (email, phone, other identifiers), none when empty. */
function listOf(s: string | null | undefined): string[] | null {
  if (!s) return null;
  const xs = s.split(' ').filter(Boolean);
  return xs.length ? xs : null;
}

/**
 * Email level: 0 exact (one address in common), 1 close (one typing slip apart, not in a digit),
 * 2 fuzzy (at most two edits apart — a letter dropped, added, changed, or two neighbours swapped,
 * twice — in addresses of 10 characters or more, not only in digits), 3 disagree, -1 missing. Values as normaliseEmail gives them, space-separated. The same user
 * name at another provider (john.smith@gmail / @hotmail) counts as missing, neither for nor
 * against: a user name is mostly the person's name again, which the name fields already weigh, and
 * namesakes have it too; so are addresses differing only in a digit (jsmith1 / jsmith2).
 */
export function compareEmail(a: string | null | undefined, b: string | null | undefined): number {
  return compareEmails(listOf(a), listOf(b));
}

const withoutDigits = (s: string) => s.replace(/[0-9]/g, '');

function compareEmails(x: string[] | null, y: string[] | null): number {
  if (!x || !y) return -1;
  // 0 exact, 1 close, 2 fuzzy, 3 same user elsewhere (missing), 4 disagree.
  let best = 4;
  for (const p of x) {
    for (const q of y) {
      if (p === q) return 0;
      const digitsOnly = withoutDigits(p) === withoutDigits(q);
      if (best > 1 && !digitsOnly && oneSlipApart(p, q)) best = 1;
      else if (best > 2 && !digitsOnly && Math.min(p.length, q.length) >= 10 && editDistanceAtMost(p, q, 2)) best = 2;
      else if (best > 3 && withoutDigits(p.slice(0, p.lastIndexOf('@'))) === withoutDigits(q.slice(0, q.lastIndexOf('@')))) best = 3;
    }
  }
  return best === 4 ? 3 : best === 3 ? -1 : best;
}

/**
 * True when a and b are at most k edits apart (optimal string alignment: a character inserted,
 * dropped or changed, or two neighbours swapped, each one edit). Gives up as soon as a row of the
 * table exceeds k, so strangers cost little.
 */
export function editDistanceAtMost(a: string, b: string, k: number): boolean {
  if (Math.abs(a.length - b.length) > k) return false;
  const n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= n; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur[j] = d;
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > k) return false;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n]! <= k;
}

/**
 * Level of a list of codes (phone numbers, other identifiers): 0 exact (one in common), 1 close
 * (one digit or character slipped, or two neighbours swapped), 2 disagree, -1 missing. Identifiers
 * (`kind|VALUE`) are compared only with one of the same kind: a passport says nothing about a
 * driving licence, so two identities with no kind in common are missing, not disagreeing.
 */
export function compareCodes(a: string | null | undefined, b: string | null | undefined): number {
  return compareCodeLists(listOf(a), listOf(b));
}

function compareCodeLists(x: string[] | null, y: string[] | null): number {
  if (!x || !y) return -1;
  let best = -1;
  for (const p of x) {
    const kp = p.indexOf('|');
    for (const q of y) {
      const kq = q.indexOf('|');
      if (kp !== kq || (kp > 0 && p.slice(0, kp) !== q.slice(0, kq))) continue;
      if (p === q) return 0;
      const level = oneSlipApart(p.slice(kp + 1), q.slice(kq + 1)) ? 1 : 2;
      if (best < 0 || level < best) best = level;
    }
  }
  return best;
}

/** An identity prepared once for many comparisons (cached per object). */
interface Features {
  nhs: string | null;
  family: NameFeatures | null;
  given: NameFeatures | null;
  birthDate: string | null;
  sex: string | null | undefined;
  postcode: PostcodeFeatures | null;
  address: { number: string | null; words: string } | null;
  town: string;
  email: string[] | null;
  phone: string[] | null;
  otherId: string[] | null;
}

const FEATURES = new WeakMap<MatchIdentity, Features>();

function features(i: MatchIdentity): Features {
  let f = FEATURES.get(i);
  if (!f) {
    let family = nameFeatures(i.family);
    let given = nameFeatures(i.given);
    // A given-name field holding the whole name ("John Smith") with no family name: its last part is the family name.
    if (!family && given && given.parts.length > 1) {
      family = nameFeatures(given.parts[given.parts.length - 1]);
      given = nameFeatures(given.parts.slice(0, -1).join(' '));
    }
    f = {
      nhs: i.nhsNumber || null,
      family,
      given,
      birthDate: i.birthDate ? i.birthDate.slice(0, 10) : null,
      sex: i.sex,
      postcode: postcodeFeatures(i.postcode),
      address: addressFeatures(i.address),
      town: normaliseName(i.town),
      email: listOf(i.email),
      phone: listOf(i.phone),
      otherId: listOf(i.otherId),
    };
    FEATURES.set(i, f);
  }
  return f;
}

/** Compares two identities field by field (FIELDS order). */
export function compareIdentities(a: MatchIdentity, b: MatchIdentity): ComparisonVector {
  return patternVector(comparisonPattern(a, b));
}

// A comparison packed into one number, field by field in FIELDS order, each level + 1 (0 = missing)
// in its own digit: the matcher compares millions of pairs, and a number needs no array, counts
// straight into a table (PATTERNS entries) and looks its weight up there.
const RADIX = FIELDS.map((f) => f.levels.length + 1);
const PLACE = RADIX.map((_, i) => RADIX.slice(0, i).reduce((p, r) => p * r, 1));

/** How many pattern codes there are (every code is below this). */
export const PATTERNS = RADIX.reduce((p, r) => p * r, 1);

/** A comparison vector as its pattern code. */
export function patternCode(v: ComparisonVector): number {
  let code = 0;
  for (let f = 0; f < PLACE.length; f++) code += (v[f]! + 1) * PLACE[f]!;
  return code;
}

/** The comparison vector of a pattern code. */
export function patternVector(code: number): ComparisonVector {
  const v = new Array<number>(RADIX.length);
  for (let f = 0; f < RADIX.length; f++) {
    v[f] = (code % RADIX[f]!) - 1;
    code = Math.floor(code / RADIX[f]!);
  }
  return v;
}

/** compareIdentities as a pattern code (the same levels, no array made). */
export function comparisonPattern(a: MatchIdentity, b: MatchIdentity): number {
  const x = features(a);
  const y = features(b);
  const [family, given] = compareNameFeatures(x, y);
  return (
    (compareNhsNumber(x.nhs, y.nhs) + 1) * PLACE[0]! +
    (family + 1) * PLACE[1]! +
    (given + 1) * PLACE[2]! +
    (compareBirthDate(x.birthDate, y.birthDate) + 1) * PLACE[3]! +
    (compareSex(x.sex, y.sex) + 1) * PLACE[4]! +
    (comparePostcodeFeatures(x.postcode, y.postcode) + 1) * PLACE[5]! +
    (compareAddressParts(x.address, y.address) + 1) * PLACE[6]! +
    (compareTownName(x.town, y.town) + 1) * PLACE[7]! +
    (compareEmails(x.email, y.email) + 1) * PLACE[8]! +
    (compareCodeLists(x.phone, y.phone) + 1) * PLACE[9]! +
    (compareCodeLists(x.otherId, y.otherId) + 1) * PLACE[10]!
  );
}

/**
 * Pattern code → how many pairs showed it. Sparse: there are millions of possible codes (PATTERNS)
 * but a data set shows a few thousand.
 */
export type PatternCounts = Map<number, number>;

/** Counts one more pair of a pattern. */
export function countPattern(counts: PatternCounts, code: number, by = 1): void {
  counts.set(code, (counts.get(code) ?? 0) + by);
}

/** Pattern counts as the distinct patterns EM works on (in code order, so results do not depend on counting order). */
export function patternsFromCounts(counts: PatternCounts): PatternCount[] {
  return [...counts.keys()].sort((a, b) => a - b).map((code) => ({ vector: patternVector(code), count: counts.get(code)! }));
}

/** A readable form of a comparison: field → level name ('missing' when absent). */
export function describeComparison(v: ComparisonVector): Record<FieldName, string> {
  const out = {} as Record<FieldName, string>;
  FIELDS.forEach((f, i) => {
    out[f.name] = v[i]! < 0 ? 'missing' : f.levels[v[i]!]!;
  });
  return out;
}

/** True when two valid NHS numbers disagree: two people, as far as the NHS knows. */
export function nhsNumbersConflict(v: ComparisonVector): boolean {
  return v[F.nhs] === 1;
}

/**
 * True when a pair agrees on what one household shares: family name (exact or close), date of
 * birth, and where they live (postcode or address). Twins agree on all of these.
 */
export function householdAgrees(v: ComparisonVector): boolean {
  const family = v[F.family]!;
  const residence = v[F.postcode] === 0 || v[F.address] === 0 || v[F.address] === 1;
  return family >= 0 && family <= 1 && v[F.birthDate] === 0 && residence;
}

const HOUSEHOLD_FIELDS = [F.family, F.birthDate, F.postcode, F.address, F.town];

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
    [0.88, 0.06, 0.03, 0.01, 0.02],
    [0.85, 0.05, 0.03, 0.01, 0.03, 0.03],
    [0.88, 0.01, 0.03, 0.01, 0.04, 0.01, 0.01, 0.01],
    [0.98, 0.02],
    [0.8, 0.03, 0.05, 0.12],
    [0.75, 0.05, 0.05, 0.15],
    [0.85, 0.03, 0.12],
    [0.8, 0.04, 0.04, 0.12],
    [0.75, 0.05, 0.2],
    [0.9, 0.05, 0.05],
  ],
  u: [
    [0.0001, 0.9999],
    [0.01, 0.005, 0.02, 0.002, 0.963],
    [0.02, 0.01, 0.0005, 0.002, 0.06, 0.9075],
    [0.00003, 0.00003, 0.0006, 0.0001, 0.003, 0.02, 0.22, 0.75623],
    [0.5, 0.5],
    [0.001, 0.002, 0.02, 0.977],
    [0.0005, 0.001, 0.01, 0.9885],
    [0.3, 0.02, 0.68],
    [0.00001, 0.00001, 0.00002, 0.99996],
    [0.00002, 0.0001, 0.99988],
    [0.000001, 0.00001, 0.999989],
  ],
  lambda: 1e-6,
  // A household of look-alikes (twins) among ~10^5 people: about 1 in 10^7 random pairs.
  householdCap: Math.log2(0.6 / 1e-7),
};

/** Weight of one field at one level: log2(m/u); 0 when missing. */
export function fieldWeight(p: MatchParameters, field: number, level: number): number {
  if (level < 0) return 0;
  return Math.log2(p.m[field]![level]! / p.u[field]![level]!);
}

/**
 * What the household fields (family, date of birth, postcode, address, town) add together: their
 * sum, capped at householdCap when they all agree (see MatchParameters.householdCap).
 */
export function householdWeight(p: MatchParameters, v: ComparisonVector, extra = 0): number {
  let w = extra;
  for (const f of HOUSEHOLD_FIELDS) w += fieldWeight(p, f, v[f]!);
  return p.householdCap !== undefined && householdAgrees(v) ? Math.min(w, p.householdCap) : w;
}

// What a household shares besides its name and address: a landline, a family email.
const CONTACT_FIELDS: readonly number[] = [F.email, F.phone];
const SCORED_ALONE = FIELDS.map((_, f) => !HOUSEHOLD_FIELDS.includes(f as (typeof HOUSEHOLD_FIELDS)[number]) && !CONTACT_FIELDS.includes(f));

/**
 * True when the pair agrees on something the members of one household do not share: the given
 * name (exact, close or a familiar form) or the date of birth (exact, day and month swapped, one
 * digit apart, the same day and month a year apart, or the same year and month: two siblings are
 * never born in one month, twins aside, who share the date). Not a birth date merely within a year:
 * siblings can be ten months apart.
 */
export function personalAgrees(v: ComparisonVector): boolean {
  const g = v[F.given]!;
  const d = v[F.birthDate]!;
  return (g >= 0 && g <= 2) || (d >= 0 && d <= 4);
}

/**
 * What email and phone add together. Agreement counts only alongside a given name or a date of
 * birth that agrees too: a family shares its landline and often one email address, so a shared
 * phone or email with the same surname and another (or no) given name and birth date is no
 * evidence of one person. Nor when the dates of birth disagree outright (more than ten years
 * apart): a father and son of one name share the family's address and email. (Once u no longer
 * counts the matches among the random pairs, estimateUWithoutMatches, an exact email weighs 15–18
 * bits, enough on its own to outweigh dates decades apart.) Disagreement always counts against.
 */
export function contactWeight(p: MatchParameters, v: ComparisonVector, named = false): number {
  let w = 0;
  for (const f of CONTACT_FIELDS) w += fieldWeight(p, f, v[f]!);
  return (personalAgrees(v) || named) && v[F.birthDate] !== BIRTH_DATE_DISAGREE ? w : Math.min(w, 0);
}

/**
 * True when the pair agrees on something that picks out a person rather than a birthday in a
 * town: a family or given name (any agreeing level but a bare initial), an email, phone or other
 * identifier (exact, close, or for emails fuzzy), a postcode or an address (exact or one slip),
 * or the NHS number. A pair with nothing but a date of birth, a town and a sex in common (both
 * names missing on one side, no contact) may outweigh the match threshold in a small file, where
 * the prior is high, yet no person would merge two records on that: the matcher sends it to
 * review instead (matcher.ts). Missing is not agreement.
 */
export function identifies(v: ComparisonVector): boolean {
  const at = (f: number, upTo: number) => v[f]! >= 0 && v[f]! <= upTo;
  return at(F.nhs, 0) || at(F.family, 3) || at(F.given, 3) || at(F.email, 2) || at(F.phone, 1) || at(F.otherId, 1) || at(F.postcode, 1) || at(F.address, 1);
}

/**
 * True when the given name is missing on one side, or the two given names are only two typing
 * slips or an initial apart, and the email the two share (exact, or one character slipped) has a
 * given name of either side in its user name (`thea.h20@…` for Thea, `oliviaholmes63@…` for
 * Olivia, `jaydengraham62@…` for Jayden against "Jnydea"): an address that names one member of a
 * family is that member's, not the household's, so a record sharing it whose given name is
 * missing, mistyped or an initial is evidence of that person (contactWeight counts it). A family
 * address (`thejonesfamily@…`), given names that disagree, or no given name on either side: still
 * withheld. Names of fewer than three letters never count.
 */
export function emailNamesPerson(a: MatchIdentity, b: MatchIdentity, givenLevel: number, emailLevel: number): boolean {
  if (emailLevel < 0 || emailLevel > 1 || !(givenLevel === -1 || givenLevel === GIVEN_TWO_EDITS || givenLevel === GIVEN_INITIAL)) return false;
  const names = [...nameParts(a.given), ...nameParts(b.given)].filter((n) => n.length >= 3);
  if (!names.length) return false;
  const users = `${a.email ?? ''} ${b.email ?? ''}`.split(' ').filter(Boolean).map((e) => e.slice(0, Math.max(0, e.lastIndexOf('@'))).toUpperCase().replace(/[^A-Z]/g, ''));
  return users.some((u) => names.some((n) => u.includes(n)));
}
const GIVEN_TWO_EDITS = FIELDS[F.given].levels.indexOf('two-edits');
const GIVEN_INITIAL = FIELDS[F.given].levels.indexOf('initial');

/**
 * Total match weight of a comparison: the sum of log2(m/u) over fields, the household fields
 * capped together (householdWeight) and the contact fields only with a given name or birth date (contactWeight).
 * `householdExtra` (termFrequencyWeight) is added to the household fields before their cap; `named`
 * (emailNamesPerson) counts a shared email that names the person beside a given name missing, mistyped or an initial.
 */
export function matchWeight(p: MatchParameters, v: ComparisonVector, householdExtra = 0, named = false): number {
  let w = householdWeight(p, v, householdExtra) + contactWeight(p, v, named);
  for (let f = 0; f < v.length; f++) if (SCORED_ALONE[f]) w += fieldWeight(p, f, v[f]!);
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

/**
 * u from random pairs with the matches among them taken out. A random pair is a match with
 * probability λ, so the level frequencies of random pairs are λ·m + (1 − λ)·u, not u. Where u is
 * tiny that matters: in a file of 20,000 records holding three or four records a person, about 1
 * random pair in 7,000 is a match, and most matches share their email and date of birth, so the
 * raw frequency of an exact email is mostly matches (u overstated many times over, its weight
 * several bits too low) and that of an exact date of birth two to three times u. In a sample of
 * such a file it is worse (λ grows as the file shrinks). With m and λ known (EM on the blocked
 * pairs), each random pattern's posterior P(match) is taken out of its count and u re-estimated
 * from what is left, a few times over (the posterior depends on u). λ ≤ 0 or no m: estimateU.
 */
export function estimateUWithoutMatches(randomPairs: PatternCount[], m: number[][], lambda: number, prior: MatchParameters = DEFAULT_PARAMETERS, rounds = 10): number[][] {
  const raw = estimateU(randomPairs, prior);
  if (!(lambda > 0) || lambda >= 1) return raw;
  // Never finer than the sample can see: a level the random pairs showed keeps at least one
  // pair's worth (1 ÷ the pairs with that field), however many of its pairs were matches.
  const seen = FIELDS.map((_, f) => randomPairs.reduce((s, t) => s + (t.vector[f]! >= 0 ? t.count : 0), 0));
  const floored = (u: number[][]) => u.map((row, f) => row.map((x, l) => Math.max(x, Math.min(raw[f]![l]!, 1 / Math.max(1, seen[f]!)))));
  let u = raw;
  for (let r = 0; r < rounds; r++) {
    const p: MatchParameters = { m, u, lambda };
    const rest = randomPairs.map((t) => ({ vector: t.vector, count: t.count * (1 - independentPosterior(p, t.vector)) }));
    const next = floored(estimateU(rest, prior));
    let delta = 0;
    for (let f = 0; f < u.length; f++) for (let l = 0; l < u[f]!.length; l++) delta = Math.max(delta, Math.abs(Math.log(next[f]![l]! / u[f]![l]!)));
    u = next;
    if (delta < 1e-3) break;
  }
  return u;
}

export interface EmOptions {
  /** Maximum iterations (default 100). */
  iterations?: number;
  /** Keep u fixed (e.g. estimated from random pairs) and estimate only m and λ. */
  fixU?: boolean;
  /** Fewer pairs than this: return the starting parameters unchanged (default 200). */
  minPairs?: number;
  /**
   * Fields left out (their m and u kept as start): the fields a training block was chosen by,
   * which every pair in it agrees on whatever its status (Splink's way of training on blocks).
   */
  ignore?: number[];
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
  const clone = (x: MatchParameters): MatchParameters => ({ ...x, m: x.m.map((r) => r.slice()), u: x.u.map((r) => r.slice()) });
  if (total < (opts.minPairs ?? 200)) return { parameters: clone(start), iterations: 0, converged: false, estimated: false };

  let p = clone(start);
  // Blocked candidate pairs are far richer in matches than random pairs: start λ at a useful guess.
  p.lambda = Math.min(0.5, Math.max(p.lambda, 0.1));
  const post = new Float64Array(patterns.length);
  const ignored = new Set(opts.ignore ?? []);
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
        if (l < 0 || ignored.has(f)) continue;
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
      if (ignored.has(f)) return;
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
  // For the date of birth, also that a match's date is more often exact than at any other level:
  // a class of strangers or of namesakes has its dates mostly years apart. Not a fixed share
  // exact: a source whose dates are often a month or a decade out (about half exact in Splink's
  // synthetic 20,000) is learnt as it is, where a rule of "more than half exact" fell back to the
  // defaults (88% exact), which then weighed its many slipped dates as strangers'.
  const ratio = (f: number, l: number) => p.m[f]![l]! / p.u[f]![l]!;
  const checked = [1, 2, 3].filter((f) => !ignored.has(f));
  const dateMostlyExact = p.m[3]!.every((x, l) => l === 0 || x < p.m[3]![0]!);
  const plausible = checked.every((f) => ratio(f, 0) > ratio(f, p.m[f]!.length - 1)) && (ignored.has(3) || (ratio(3, 0) > 1 && dateMostlyExact));
  if (!plausible) return { parameters: clone(start), iterations: iter, converged, estimated: false, rejected: p };
  return { parameters: p, iterations: iter, converged, estimated: true };
}

/** P(match | comparison) under independence (every field scored on its own, no household cap), e.g. for EM's own pairs. */
export function independentPosterior(p: MatchParameters, v: ComparisonVector): number {
  let lm = Math.log(p.lambda);
  let lu = Math.log(1 - p.lambda);
  for (let f = 0; f < v.length; f++) {
    const l = v[f]!;
    if (l < 0) continue;
    lm += Math.log(p.m[f]![l]!);
    lu += Math.log(p.u[f]![l]!);
  }
  return 1 / (1 + Math.exp(lu - lm));
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

// ---------------------------------------------------------------------------------------------
// Term frequencies

/**
 * How many identities carry each family name and each town, normalised as they are compared
 * (normaliseName), among `identities` in all: agreeing on a rare surname or a small town says more
 * than agreeing on Smith or London.
 */
export interface TermFrequencies {
  family: Map<string, number>;
  town: Map<string, number>;
  identities: number;
}

/** Counts family names and towns (raw values as stored; each distinct raw value normalised once). */
export function termFrequencies(family: Iterable<string | null | undefined>, town: Iterable<string | null | undefined>, identities: number): TermFrequencies {
  const count = (values: Iterable<string | null | undefined>) => {
    const norm = new Map<string, string>();
    const out = new Map<string, number>();
    for (const v of values) {
      if (!v) continue;
      let n = norm.get(v);
      if (n === undefined) norm.set(v, (n = normaliseName(v)));
      if (n) out.set(n, (out.get(n) ?? 0) + 1);
    }
    return out;
  };
  return { family: count(family), town: count(town), identities: Math.max(1, identities) };
}

/** The most a term-frequency adjustment adds to one field's weight (bits). */
export const TERM_FREQUENCY_LIMIT = 3;

/**
 * Term-frequency adjustment of exact agreement on family name and town (Winkler's; Splink's
 * "tf adjustment"): u of the exact level is the average chance that two people share a value;
 * for the value these two share it is its own frequency, count ÷ identities. The adjustment,
 * log2(u_exact / u_value), is positive for a value rarer than the average, at most
 * TERM_FREQUENCY_LIMIT bits (a value seen once or twice is noisy evidence of its rarity), and 0
 * when the field is not an exact agreement of the two written values (a crosswise or close
 * agreement keeps its level's weight). One-sided: a common value keeps its level's weight, never
 * less. The average u is dominated by the common values already (a sum of squared shares), and
 * lowering it further for Smith or London lost true pairs on the benchmarks (FEBRL-style recall
 * 0.9949 → 0.9938) and stopped no wrong link there. Both are household fields: the caller adds the
 * result inside the household cap (matchWeight's householdExtra), so twins with a rare surname are
 * still capped.
 */
export function termFrequencyWeight(p: MatchParameters, tf: TermFrequencies, a: MatchIdentity, b: MatchIdentity, code: number): number {
  const [family, town] = termRarity(tf, a, b, code);
  return termFrequencyWeightOf(p, family, town);
}

/**
 * The part of termFrequencyWeight that needs the two identities: −log2 of the share of all
 * identities holding the family name (and the town) the two agree on exactly, 0 where they do not.
 * The matcher keeps these two numbers a pair and adds them up (termFrequencyWeightOf) once u is
 * final, which it is only after EM (estimateUWithoutMatches).
 */
export function termRarity(tf: TermFrequencies, a: MatchIdentity, b: MatchIdentity, code: number): [number, number] {
  let family = 0;
  let town = 0;
  if (levelOf(code, F.family) === 0) {
    const x = features(a).family?.norm;
    if (x && x === features(b).family?.norm) family = rarity(tf.family.get(x), tf.identities);
  }
  if (levelOf(code, F.town) === 0) {
    const x = features(a).town;
    if (x && x === features(b).town) town = rarity(tf.town.get(x), tf.identities);
  }
  return [family, town];
}

/** termFrequencyWeight from termRarity's two numbers and u. */
export function termFrequencyWeightOf(p: MatchParameters, family: number, town: number): number {
  return adjust(p.u[F.family]![0]!, family) + adjust(p.u[F.town]![0]!, town);
}

function rarity(count: number | undefined, identities: number): number {
  return count ? Math.log2(identities / Math.max(count, 2)) : 0;
}

function adjust(uExact: number, rarity: number): number {
  if (!(rarity > 0) || !(uExact > 0)) return 0;
  return Math.max(0, Math.min(TERM_FREQUENCY_LIMIT, Math.log2(uExact) + rarity));
}

/** One field's level in a pattern code (-1 missing). */
export function levelOf(code: number, field: number): number {
  return (Math.floor(code / PLACE[field]!) % RADIX[field]!) - 1;
}
