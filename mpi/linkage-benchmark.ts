/**
 * A record-linkage benchmark in the style of FEBRL (Christen's Freely Extensible Biomedical
 * Record Linkage data sets): people with no NHS number — given name, surname, street number,
 * address lines, suburb, 4-digit postcode, state, date of birth (YYYYMMDD, sometimes missing) —
 * each original with 0–9 duplicates carrying the usual corruption: typing slips, OCR errors,
 * phonetic variants, missing fields, given and surname swapped, digits transposed. Pure and
 * seeded: the same options give the same records. Used by the matcher's tests and by
 * bench/mpi-linkage.ts; independent of `bevan generate`, so the matcher is not tuned to one
 * generator's habits.
 */
import type { SourceIdentity } from './identity.ts';
import { mulberry32 } from '../synth/random.ts';

/** One record as a FEBRL-like file holds it. */
export interface LinkageRecord {
  recId: string;
  /** The original this record is (a duplicate's original, or itself). */
  originalId: string;
  givenName: string;
  surname: string;
  streetNumber: string;
  address1: string;
  address2: string;
  suburb: string;
  postcode: string;
  state: string;
  /** YYYYMMDD, or '' when missing. */
  dateOfBirth: string;
}

export interface LinkageOptions {
  originals?: number;
  seed?: number;
  /** Share of originals with at least one duplicate (default 0.6). */
  duplicatedShare?: number;
  /** Most duplicates of one original (default 9). */
  maxDuplicates?: number;
  /** Most modifications in one duplicate (default 3). */
  maxModifications?: number;
}

const GIVEN = ('james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony mark steven paul andrew joshua ' +
  'kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin ' +
  'samuel gregory alexander patrick frank raymond jack dennis jerry tyler aaron henry adam peter harold nathan zachary kyle noah ethan liam lachlan ' +
  'cooper riley jayden mitchell bailey hayden connor dylan blake jordan jake luke isaac callum declan lucas oliver harrison hamish angus fraser ' +
  'mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley kimberly emily donna michelle ' +
  'carol amanda dorothy melissa deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicola katherine ' +
  'christine samantha rachel catherine janet ruth maria heather diane olivia chloe isabella mia sophie ella charlotte grace ruby lily zoe hannah ' +
  'jasmine madison georgia paige brooke tayla caitlin kayla jade bianca courtney danielle kirsten alana annabel matilda imogen eliza tahlia').split(' ');
const SURNAMES = ('smith jones williams brown wilson taylor johnson white martin anderson thompson nguyen thomas walker harris lee ryan robinson kelly king ' +
  'davis wright evans roberts green hall wood jackson clarke patel khan lewis james phillips mitchell turner campbell cooper morris ward moore ' +
  'young murphy edwards collins bell stewart hughes parker baker carter scott murray watson cook morgan hill wallace reid adams graham allen ' +
  'miller russell price bennett davies gray kennedy cox mason hunter barnes fraser johnston marshall owen hudson ross lloyd sullivan simpson ' +
  'grant webb morrison chapman hamilton shaw knight henderson ellis harrison rogers gibson dixon black burke quinn doyle oconnor mcdonald ' +
  'mckenzie maclean macdonald fitzgerald obrien riley byrne walsh brennan nolan gallagher tran le pham huynh chen wang zhang li liu yang huang ' +
  'wu zhou singh kaur sharma gupta kumar rossi russo ferrari esposito bianchi romano colombo ricci marino greco papadopoulos nikolaidis ' +
  'georgiou schmidt schneider fischer weber meyer wagner becker schulz hoffmann koch richter klein wolf neumann schwarz zimmermann braun ' +
  'kruger hartmann lange werner krause lehmann kowalski nowak wisniewski wojcik kaminski lewandowski zielinski szymanski dabrowski ' +
  'garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres flores rivera gomez diaz reyes morales cruz ortiz ' +
  'santos silva pereira costa oliveira ferreira almeida carvalho ribeiro goncalves kovacs horvath nagy toth szabo varga molnar').split(' ');
const STREET_NAMES = ('acacia banksia wattle jacaranda kurrajong waratah boronia grevillea bottlebrush eucalyptus ironbark stringybark blackwood ' +
  'red gum peppermint melaleuca casuarina paperbark lilly pilly macadamia king queen victoria albert george elizabeth william charles ' +
  'station railway church school park mill bridge hill river creek ocean beach bay harbour lake valley ridge spring forest garden orchard ' +
  'cook flinders hume sturt mitchell oxley kennedy leichhardt eyre forrest lawson wentworth blaxland macquarie bligh phillip hunter ' +
  'darling murray murrumbidgee lachlan macleay clarence hastings manning barwon goulburn campaspe loddon wimmera avoca tamar derwent').split(' ');
const STREET_TYPES = ['street', 'road', 'avenue', 'place', 'crescent', 'drive', 'court', 'close', 'parade', 'circuit', 'lane', 'way', 'terrace', 'grove'];
const PLACES = ('rosedale glenwood kingsford elmhurst fairview oakleigh ashgrove westmead riverview hillcrest lakeside seaford bayview ' +
  'northcote southbank eastwood westbury springvale greenvale redcliffe blackwood whitfield longreach broadmeadows highett lowood ' +
  'middleton newtown oldbury clifton hampton ashfield belmont carlton dalby emerald forbes gosford hamilton inverell jindabyne ' +
  'kiama leeton moree narrabri orange parkes queanbeyan rutherford singleton tamworth ulladulla wagga yass zetland allambie ' +
  'bellbird coorparoo dundas elanora frenchs gymea hornsby ingleburn jannali kellyville lindfield mosman narwee oatley pymble ' +
  'quakers revesby sylvania turramurra umina vaucluse wahroonga yagoona bankstown chatswood epping kogarah marrickville penrith').split(' ');
const STATES = ['nsw', 'vic', 'qld', 'wa', 'sa', 'tas', 'act', 'nt'];
const UNITS = ['', '', '', 'unit 4', 'flat 2', 'rosedale village', 'wattle brae', 'the grange', 'kilkenny', 'brentwood vlge', 'st james court', 'po box 17'];

// Keys near one another on a keyboard (QWERTY), for substitutions that look like slips.
const KEYBOARD = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
// Characters a scanner misreads for others.
const OCR: [string, string][] = [['m', 'rn'], ['rn', 'm'], ['l', '1'], ['1', 'l'], ['o', '0'], ['0', 'o'], ['s', '5'], ['5', 's'], ['b', '6'], ['g', '9'], ['i', 'l'], ['e', 'c'], ['h', 'b'], ['u', 'v'], ['cl', 'd'], ['d', 'cl']];
// Spellings that sound alike.
const PHONETIC: [string, string][] = [['ph', 'f'], ['f', 'ph'], ['c', 'k'], ['k', 'c'], ['ie', 'y'], ['y', 'ie'], ['ee', 'ea'], ['ou', 'ow'], ['mac', 'mc'], ['mc', 'mac'], ['th', 't'], ['z', 's'], ['s', 'z'], ['ll', 'l'], ['nn', 'n'], ['tt', 't'], ['ey', 'y'], ['ck', 'k'], ['ai', 'ay'], ['oo', 'u']];

const prng = mulberry32;

/** FEBRL-like records with their originals; see the module comment. */
export function linkageRecords(opts: LinkageOptions = {}): LinkageRecord[] {
  const rnd = prng(opts.seed ?? 1);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // Name frequencies are skewed, as in a real population (a few names are very common).
  const skewed = <T>(xs: readonly T[]): T => xs[Math.floor(Math.pow(rnd(), 2) * xs.length)]!;
  const suburbs = PLACES.map((name, i) => ({ name, postcode: String(2000 + ((i * 37 + 11) % 7000)).padStart(4, '0'), state: STATES[i % STATES.length]! }));
  const out: LinkageRecord[] = [];
  const n = opts.originals ?? 2000;
  for (let i = 0; i < n; i++) {
    const s = skewed(suburbs);
    const day = int(0, 365 * 90);
    const dob = new Date(Date.UTC(1925, 0, 1) + day * 86400000).toISOString().slice(0, 10).replace(/-/g, '');
    const original: LinkageRecord = {
      recId: `rec-${i}-org`,
      originalId: `rec-${i}-org`,
      givenName: skewed(GIVEN),
      surname: skewed(SURNAMES),
      streetNumber: String(int(1, 300)),
      address1: `${pick(STREET_NAMES)} ${pick(STREET_TYPES)}`,
      address2: pick(UNITS),
      suburb: s.name,
      postcode: s.postcode,
      state: s.state,
      dateOfBirth: rnd() < 0.05 ? '' : dob,
    };
    out.push(original);
    if (rnd() >= (opts.duplicatedShare ?? 0.6)) continue;
    // 1–9 duplicates, fewer more often (as in FEBRL's Zipf-like duplicate counts).
    const dups = Math.min(opts.maxDuplicates ?? 9, 1 + Math.floor(-Math.log(1 - rnd() * 0.999) * 1.2));
    for (let d = 0; d < dups; d++) {
      const dup = { ...original, recId: `rec-${i}-dup-${d}` };
      const mods = int(1, opts.maxModifications ?? 3);
      for (let k = 0; k < mods; k++) corrupt(dup, rnd, int, pick);
      out.push(dup);
    }
  }
  return out;
}

type Field = 'givenName' | 'surname' | 'streetNumber' | 'address1' | 'address2' | 'suburb' | 'postcode' | 'state' | 'dateOfBirth';
const FIELD_WEIGHTS: [Field, number][] = [
  ['givenName', 0.2], ['surname', 0.2], ['streetNumber', 0.08], ['address1', 0.12], ['address2', 0.05],
  ['suburb', 0.1], ['postcode', 0.1], ['state', 0.03], ['dateOfBirth', 0.12],
];

function corrupt(r: LinkageRecord, rnd: () => number, int: (lo: number, hi: number) => number, pick: <T>(xs: readonly T[]) => T): void {
  let x = rnd();
  let field: Field = 'givenName';
  for (const [f, w] of FIELD_WEIGHTS) {
    x -= w;
    if (x < 0) {
      field = f;
      break;
    }
  }
  const v = r[field];
  const kind = rnd();
  if (kind < 0.07) {
    r[field] = ''; // missing
    return;
  }
  if (field === 'givenName' || field === 'surname') {
    if (kind < 0.14) {
      [r.givenName, r.surname] = [r.surname, r.givenName]; // written in the wrong boxes
      return;
    }
    if (kind < 0.3) {
      r[field] = replaceOnce(v, PHONETIC, rnd);
      return;
    }
    if (kind < 0.42) {
      r[field] = replaceOnce(v, OCR, rnd);
      return;
    }
    r[field] = slip(v, rnd, int);
    return;
  }
  if (field === 'dateOfBirth' && v) {
    if (kind < 0.3) {
      r.dateOfBirth = v.slice(0, 4) + v.slice(6, 8) + v.slice(4, 6); // day and month swapped
      if (!validYmd(r.dateOfBirth)) r.dateOfBirth = v;
      return;
    }
    if (kind < 0.5) {
      r.dateOfBirth = String(Number(v.slice(0, 4)) + (rnd() < 0.5 ? -1 : 1)) + v.slice(4); // a year out
      if (!validYmd(r.dateOfBirth)) r.dateOfBirth = v;
      return;
    }
    const i = int(2, 7);
    const changed = v.slice(0, i) + String((Number(v[i]) + int(1, 9)) % 10) + v.slice(i + 1);
    r.dateOfBirth = validYmd(changed) ? changed : v;
    return;
  }
  if (field === 'postcode' || field === 'streetNumber') {
    if (v.length >= 2 && kind < 0.5) {
      const i = int(0, v.length - 2);
      r[field] = v.slice(0, i) + v[i + 1] + v[i] + v.slice(i + 2); // transposed digits
      return;
    }
    const i = int(0, v.length - 1);
    r[field] = v ? v.slice(0, i) + String((Number(v[i]) + int(1, 9)) % 10) + v.slice(i + 1) : v;
    return;
  }
  if (field === 'state') {
    r.state = pick(STATES);
    return;
  }
  r[field] = kind < 0.3 ? replaceOnce(v, OCR, rnd) : slip(v, rnd, int);
}

/** One typing slip: a letter inserted, dropped, changed (to a neighbouring key) or two swapped. */
function slip(v: string, rnd: () => number, int: (lo: number, hi: number) => number): string {
  if (v.length < 2) return v;
  const i = int(0, v.length - 1);
  const r = rnd();
  if (r < 0.25) return v.slice(0, i) + v.slice(i + 1);
  if (r < 0.5 && i < v.length - 1) return v.slice(0, i) + v[i + 1] + v[i] + v.slice(i + 2);
  const row = KEYBOARD.find((k) => k.includes(v[i]!));
  const near = row ? row[Math.max(0, Math.min(row.length - 1, row.indexOf(v[i]!) + (rnd() < 0.5 ? -1 : 1)))]! : 'e';
  if (r < 0.75) return v.slice(0, i) + near + v.slice(i + 1);
  return v.slice(0, i) + near + v.slice(i);
}

function replaceOnce(v: string, table: [string, string][], rnd: () => number): string {
  const options = table.filter(([from]) => v.includes(from));
  if (!options.length) return v;
  const [from, to] = options[Math.floor(rnd() * options.length)]!;
  const at = v.indexOf(from);
  return v.slice(0, at) + to + v.slice(at + from.length);
}

function validYmd(s: string): boolean {
  if (!/^\d{8}$/.test(s)) return false;
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(4, 6));
  const d = Number(s.slice(6, 8));
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/** A record as the source identity a CSV feed would send (the state has no field of its own). */
export function toSourceIdentity(r: LinkageRecord, system = 'csv:linkage'): SourceIdentity {
  const street = [r.streetNumber, r.address1].filter(Boolean).join(' ');
  const address = [street, r.address2].filter(Boolean).join(', ');
  return {
    system,
    id: r.recId,
    given: r.givenName || undefined,
    family: r.surname || undefined,
    birthDate: validYmd(r.dateOfBirth) ? `${r.dateOfBirth.slice(0, 4)}-${r.dateOfBirth.slice(4, 6)}-${r.dateOfBirth.slice(6, 8)}` : undefined,
    postcode: r.postcode || undefined,
    address: address || undefined,
    town: r.suburb || undefined,
  };
}

/** Truth for scoreClusters: `${system}|${recId}` → original. */
export function linkageTruth(records: LinkageRecord[], system = 'csv:linkage'): Map<string, string> {
  return new Map(records.map((r) => [`${system}|${r.recId}`, r.originalId]));
}
