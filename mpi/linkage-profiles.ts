/**
 * Record-linkage benchmark profiles shaped like the well-known public data sets, generated here
 * with a seed (none of their data is used), as FHIR R4 Patients so that a benchmark feeds them
 * through the real FHIR adapter's identity mapping (bench/mpi-linkage.ts --profile):
 *
 * - `febrl`: Christen's FEBRL data sets (given_name, surname, street_number, address_1,
 *   address_2, suburb, 4-digit postcode, state, date_of_birth YYYYMMDD, soc_sec_id): the records of
 *   linkage-benchmark.ts with a social security number, itself mistyped or missing in some
 *   duplicates, sent as an identifier with a system.
 * - `splink`: Splink's `fake_1000` (first_name, surname, dob, city, email; no postcode, no NHS
 *   number): clusters of 1–5 records with typing slips, missing values, first and surname swapped,
 *   diacritics and apostrophes written or not, a changed email and a move to another city.
 *
 * Pure and seeded: the same options give the same records.
 */
import { mulberry32 } from '../synth/random.ts';
import { linkageRecords, type LinkageRecord } from './linkage-benchmark.ts';

/** A FHIR R4 Patient (as JSON) with the original it is a record of. */
export interface ProfileRecord {
  patient: Record<string, unknown>;
  /** The true person: records of one original are one person. */
  originalId: string;
}

export interface ProfileOptions {
  /** People (originals) generated (default 2000). */
  originals?: number;
  seed?: number;
}

export const SOC_SEC_SYSTEM = 'urn:febrl:soc_sec_id';

/** FEBRL-shaped Patients: linkageRecords with a soc_sec_id (7 digits, as FEBRL's), corrupted in some duplicates. */
export function febrlProfile(opts: ProfileOptions = {}): ProfileRecord[] {
  const seed = opts.seed ?? 1;
  const records = linkageRecords({ originals: opts.originals ?? 2000, seed });
  // A stream of its own, so the other fields are exactly linkage-benchmark.ts's records.
  const rnd = mulberry32(seed * 7919 + 17);
  const ssnOf = new Map<string, string>();
  return records.map((r) => {
    let ssn = ssnOf.get(r.originalId);
    if (ssn === undefined) ssnOf.set(r.originalId, (ssn = String(1_000_000 + Math.floor(rnd() * 9_000_000))));
    if (r.recId !== r.originalId) {
      const x = rnd();
      if (x < 0.08) ssn = ''; // missing
      else if (x < 0.14) ssn = transpose(ssn, rnd);
      else if (x < 0.2) ssn = changeDigit(ssn, rnd);
    }
    return { patient: febrlPatient(r, ssn), originalId: r.originalId };
  });
}

function febrlPatient(r: LinkageRecord, ssn: string): Record<string, unknown> {
  const p: Record<string, unknown> = { resourceType: 'Patient', id: r.recId };
  if (r.givenName || r.surname) p.name = [{ ...(r.surname ? { family: r.surname } : {}), ...(r.givenName ? { given: [r.givenName] } : {}) }];
  const dob = /^(\d{4})(\d{2})(\d{2})$/.exec(r.dateOfBirth);
  if (dob && validDate(`${dob[1]}-${dob[2]}-${dob[3]}`)) p.birthDate = `${dob[1]}-${dob[2]}-${dob[3]}`;
  const line = [[r.streetNumber, r.address1].filter(Boolean).join(' '), r.address2].filter(Boolean);
  const address = { ...(line.length ? { line } : {}), ...(r.suburb ? { city: r.suburb } : {}), ...(r.state ? { state: r.state } : {}), ...(r.postcode ? { postalCode: r.postcode } : {}) };
  if (Object.keys(address).length) p.address = [address];
  if (ssn) p.identifier = [{ system: SOC_SEC_SYSTEM, value: ssn }];
  return p;
}

// Names as they are written in UK and international data, some with diacritics and apostrophes
// (their plain forms appear as other people's too).
const FIRST = ('oliver george harry jack jacob noah charlie muhammad thomas oscar william james leo alfie henry joshua freddie ' +
  'archie ethan isaac alexander joseph edward samuel max daniel arthur lucas mohammed logan theo harrison benjamin mason sebastian ' +
  'olivia amelia isla ava emily isabella mia poppy ella lily sophia grace evie chloe freya charlotte sophie ruby daisy jessica ' +
  'florence alice phoebe matilda ivy evelyn sienna rosie scarlett elsie harper emma anna mary sarah hannah ' +
  'josé zoë chloé renée siobhán seán éamon niamh aoife ciarán józef łukasz sören jürgen françois hélène inés maría').split(' ');
const SURNAME = ('smith jones taylor brown williams wilson johnson davies robinson wright thompson evans walker white roberts green ' +
  'hall wood jackson clarke patel khan lewis james phillips mason mitchell rose davis rodriguez cox alexander morgan moore ' +
  "martin harris king lee scott young baker hughes edwards hill moore ward turner watson o'brien o'connor o'neill mcdonald macdonald " +
  "mckenzie mackenzie mcgregor d'souza fernández garcía núñez müller schröder kowalczyk nowak łukaszewicz brontë le-roux van-der-berg " +
  'ahmed ali hussain begum akhtar rahman chowdhury singh kaur sharma gupta nguyen tran chen wang zhang okafor adeyemi mensah').split(' ');
const CITIES = ['London', 'London', 'London', 'Manchester', 'Birmingham', 'Leeds', 'Glasgow', 'Liverpool', 'Bristol', 'Sheffield', 'Edinburgh', 'Cardiff',
  'Leicester', 'Coventry', 'Bradford', 'Nottingham', 'Hull', 'Stoke-on-Trent', 'Wolverhampton', 'Derby', 'Swansea', 'Southampton', 'Salford', 'Aberdeen',
  'Westminster', 'Portsmouth', 'York', 'Peterborough', 'Dundee', 'Lancaster', 'Oxford', 'Newport', 'Preston', 'St Albans', 'Norwich', 'Chester'];
const DOMAINS = ['gmail.com', 'gmail.com', 'hotmail.com', 'yahoo.co.uk', 'outlook.com', 'btinternet.com', 'live.co.uk', 'icloud.com', 'aol.com'];
const KEYS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];

const title = (s: string) => s.replace(/(^|[\s'-])(\p{L})/gu, (_, a: string, b: string) => a + b.toUpperCase());
const plain = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/ł/g, 'l').replace(/Ł/g, 'L');

/** Splink fake_1000-shaped Patients: first name, surname, birth date, city, email. */
export function splinkProfile(opts: ProfileOptions = {}): ProfileRecord[] {
  const rnd = mulberry32((opts.seed ?? 1) * 104729 + 3);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const skewed = <T>(xs: readonly T[]): T => xs[Math.floor(Math.pow(rnd(), 1.8) * xs.length)]!;
  const out: ProfileRecord[] = [];
  const emails = new Set<string>();
  const n = opts.originals ?? 2000;
  for (let i = 0; i < n; i++) {
    const first = title(skewed(FIRST));
    const surname = title(skewed(SURNAME)).replace(/-(\w)/g, (_, c: string) => `-${c.toUpperCase()}`);
    const dob = new Date(Date.UTC(1930, 0, 1) + Math.floor(rnd() * 80 * 365.25) * 86_400_000).toISOString().slice(0, 10);
    const user = (() => {
      const f = plain(first).toLowerCase();
      const s = plain(surname).toLowerCase().replace(/[^a-z]/g, '');
      const style = rnd();
      if (style < 0.4) return `${f}.${s}`;
      if (style < 0.6) return `${f}${s}${Math.floor(rnd() * 99)}`;
      if (style < 0.8) return `${f[0]}${s}`;
      return `${s}.${f}${1950 + Math.floor(rnd() * 60)}`;
    })();
    // An address is one person's: a namesake who would have the same one gets a number in it.
    const domain = pick(DOMAINS);
    let email = rnd() < 0.85 ? `${user}@${domain}` : '';
    for (let k = 2; email && emails.has(email); k++) email = `${user}${k}@${domain}`;
    if (email) emails.add(email);
    const person = { first, surname, dob, city: pick(CITIES), email };
    // Cluster sizes 1–5, smaller more often (fake_1000's clusters).
    const x = rnd();
    const size = x < 0.3 ? 1 : x < 0.55 ? 2 : x < 0.75 ? 3 : x < 0.9 ? 4 : 5;
    for (let d = 0; d < size; d++) {
      const r = { ...person };
      if (d > 0) corruptSplink(r, rnd, pick);
      out.push({ patient: splinkPatient(`p${i}-${d}`, r), originalId: `p${i}` });
    }
  }
  return out;
}

interface SplinkRecord {
  first: string;
  surname: string;
  dob: string;
  city: string;
  email: string;
}

function corruptSplink(r: SplinkRecord, rnd: () => number, pick: <T>(xs: readonly T[]) => T): void {
  // Each field on its own: missing, or changed as real records change.
  if (rnd() < 0.1) r.first = '';
  else if (rnd() < 0.2) r.first = slip(r.first, rnd);
  if (rnd() < 0.08) r.surname = '';
  else if (rnd() < 0.2) r.surname = slip(r.surname, rnd);
  if (rnd() < 0.06 && r.first && r.surname) [r.first, r.surname] = [r.surname, r.first];
  // Written without diacritics or the apostrophe, or with a space for it (O'Brien / OBrien / O Brien).
  if (rnd() < 0.4) r.first = plain(r.first);
  if (rnd() < 0.4) r.surname = rnd() < 0.5 ? plain(r.surname).replace(/'/g, '') : plain(r.surname).replace(/'/g, ' ');
  if (rnd() < 0.12) r.dob = '';
  else if (rnd() < 0.15) {
    const [y, m, d] = r.dob.split('-').map(Number) as [number, number, number];
    const k = rnd();
    const next = k < 0.4 ? [y, m, Math.min(28, d + 1 + Math.floor(rnd() * 3))] : k < 0.7 ? [y, d <= 12 ? d : m, d <= 12 ? m : d] : [y + (rnd() < 0.5 ? -1 : 1), m, d];
    const s = `${next[0]}-${String(next[1]).padStart(2, '0')}-${String(next[2]).padStart(2, '0')}`;
    if (validDate(s)) r.dob = s;
  }
  if (rnd() < 0.15) r.city = '';
  else if (rnd() < 0.1) r.city = pick(CITIES); // moved
  if (rnd() < 0.15) r.email = '';
  else if (r.email && rnd() < 0.2) {
    const at = r.email.indexOf('@');
    const k = rnd();
    r.email = k < 0.4 ? `${r.email.slice(0, at)}@${pick(DOMAINS)}` : k < 0.7 ? slip(r.email.slice(0, at), rnd) + r.email.slice(at) : `${r.email.slice(0, at).replace(/[._0-9]/g, '')}${Math.floor(rnd() * 999)}@${pick(DOMAINS)}`;
  }
}

function splinkPatient(id: string, r: SplinkRecord): Record<string, unknown> {
  const p: Record<string, unknown> = { resourceType: 'Patient', id };
  if (r.first || r.surname) p.name = [{ ...(r.surname ? { family: r.surname } : {}), ...(r.first ? { given: [r.first] } : {}) }];
  if (r.dob) p.birthDate = r.dob;
  if (r.city) p.address = [{ city: r.city }];
  if (r.email) p.telecom = [{ system: 'email', value: r.email }];
  return p;
}

/** One typing slip: a letter dropped, two swapped, or one changed to a neighbouring key. */
function slip(v: string, rnd: () => number): string {
  if (v.length < 3) return v;
  const i = 1 + Math.floor(rnd() * (v.length - 2));
  const k = rnd();
  if (k < 0.33) return v.slice(0, i) + v.slice(i + 1);
  if (k < 0.66) return v.slice(0, i) + v[i + 1] + v[i] + v.slice(i + 2);
  const ch = v[i]!.toLowerCase();
  const row = KEYS.find((r) => r.includes(ch));
  const near = row ? row[Math.min(row.length - 1, Math.max(0, row.indexOf(ch) + (rnd() < 0.5 ? -1 : 1)))]! : 'e';
  return v.slice(0, i) + near + v.slice(i + 1);
}

function transpose(s: string, rnd: () => number): string {
  const i = Math.floor(rnd() * (s.length - 1));
  return s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
}

function changeDigit(s: string, rnd: () => number): string {
  const i = Math.floor(rnd() * s.length);
  return s.slice(0, i) + String((Number(s[i]) + 1 + Math.floor(rnd() * 9)) % 10) + s.slice(i + 1);
}

function validDate(s: string): boolean {
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}
