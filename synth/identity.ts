/**
 * How each source system identifies a person: its own identifier (GP patient id, hospital MRN,
 * community client id, social care person id) and the demographics it holds, with the errors
 * real systems have (typing slips, day/month swaps, missing or mistyped NHS numbers, maiden
 * names, old addresses, nicknames) at rates typical of each kind of system.
 */
import { isoDate, ymd } from './dates.ts';
import { mistypeNhsNumber } from './nhs-number.ts';
import { NICKNAMES } from './names.ts';
import type { Address, Person } from './population.ts';
import { hash32, type Random } from './random.ts';

export interface Demographics {
  /** Empty when the system holds no NHS number. */
  nhsNumber: string;
  family: string;
  given: string;
  middle?: string;
  /** ISO date as the system holds it (may have day and month swapped). */
  birthDate: string;
  sex: 'male' | 'female';
  address: Address;
}

export interface NoiseRates {
  typo: number;
  dobSwap: number;
  wrongNhs: number;
  missingNhs: number;
  nickname: number;
  /** Chance of still holding the surname from before a change. */
  oldSurname: number;
  /** Chance of still holding the address from before a move. */
  oldAddress: number;
}

export type SystemKind = 'gp' | 'gpDuplicate' | 'hospital' | 'hospitalDuplicate' | 'community' | 'socialcare';

/** Error rates per kind of system; duplicates are registrations made in a hurry. */
export const NOISE: Record<SystemKind, NoiseRates> = {
  gp: { typo: 0.003, dobSwap: 0.002, wrongNhs: 0.002, missingNhs: 0.002, nickname: 0, oldSurname: 0, oldAddress: 0 },
  gpDuplicate: { typo: 0.3, dobSwap: 0.1, wrongNhs: 0.1, missingNhs: 0.4, nickname: 0.2, oldSurname: 0.5, oldAddress: 0.5 },
  hospital: { typo: 0.02, dobSwap: 0.01, wrongNhs: 0.005, missingNhs: 0.03, nickname: 0.005, oldSurname: 0.5, oldAddress: 0.5 },
  hospitalDuplicate: { typo: 0.3, dobSwap: 0.1, wrongNhs: 0.05, missingNhs: 0.6, nickname: 0.15, oldSurname: 0.5, oldAddress: 0.4 },
  community: { typo: 0.02, dobSwap: 0.01, wrongNhs: 0.005, missingNhs: 0.05, nickname: 0.03, oldSurname: 0.3, oldAddress: 0.3 },
  socialcare: { typo: 0.03, dobSwap: 0.015, wrongNhs: 0.005, missingNhs: 0.3, nickname: 0.06, oldSurname: 0.3, oldAddress: 0.5 },
};

/** A typing slip: two neighbouring letters swapped, one dropped, or one doubled. */
export function typo(word: string, rng: Random): string {
  if (word.length < 3) return word;
  const i = rng.int(1, word.length - 2);
  const r = rng.next();
  if (r < 0.4) return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
  if (r < 0.75) return word.slice(0, i) + word.slice(i + 1);
  return word.slice(0, i) + word[i] + word.slice(i);
}

/** The demographics one system holds for a person, as of the day it registered them. */
export function noisyDemographics(person: Person, rng: Random, rates: NoiseRates, registeredDay: number): Demographics {
  let family = person.family;
  if (person.previousFamily && (registeredDay < person.familyChangedDay! || rng.chance(rates.oldSurname))) family = person.previousFamily;
  let address = person.address;
  if (person.previousAddress && (registeredDay < person.movedDay! || rng.chance(rates.oldAddress))) address = person.previousAddress;
  let given = person.given;
  if (rng.chance(rates.nickname) && NICKNAMES[given]) given = NICKNAMES[given]!;
  if (rng.chance(rates.typo)) {
    if (rng.chance(0.6)) family = typo(family, rng);
    else given = typo(given, rng);
  }
  let birthDate = isoDate(person.birthDay);
  const [y, m, d] = ymd(person.birthDay);
  if (d <= 12 && d !== m && rng.chance(rates.dobSwap)) birthDate = `${y}-${String(d).padStart(2, '0')}-${String(m).padStart(2, '0')}`;
  let nhsNumber = person.nhsNumber;
  if (rng.chance(rates.missingNhs)) nhsNumber = '';
  else if (rng.chance(rates.wrongNhs)) nhsNumber = mistypeNhsNumber(nhsNumber, rng);
  return { nhsNumber, family, given, middle: person.middle, birthDate, sex: person.sex, address };
}

/**
 * A distinct number of `digits` digits for each key below 10^digits: an affine bijection, so
 * identifiers never collide and need no lookup table.
 */
export function distinctNumber(key: number, digits: number, salt: number): string {
  const m = 10 ** digits;
  let a = (hash32(salt, 0xa11) % m) | 1;
  while (a % 5 === 0) a += 2;
  const b = hash32(salt, 0xb22) % m;
  return String(Number((BigInt(a) * BigInt(key) + BigInt(b)) % BigInt(m))).padStart(digits, '0');
}

const DUPLICATE_OFFSET = 5_000_000; // duplicate registrations draw from a disjoint key range

/** Hospital number (MRN) of a person at a facility; slot 1 is a duplicate registration. */
export function hospitalNumber(facility: string, index: number, slot: 0 | 1, seed: number): string {
  const prefix = facility === 'RM2' ? 'W' : facility === 'RW3' ? 'N' : facility.slice(0, 1);
  return prefix + distinctNumber(index + slot * DUPLICATE_OFFSET, 7, hash32(seed, hash32(...Array.from(facility, (c) => c.charCodeAt(0)))));
}

/** Community services client id. */
export function communityClientId(index: number, seed: number): string {
  return 'CL' + distinctNumber(index, 7, hash32(seed, 0xc0));
}

/** Social care person id. */
export function socialCarePersonId(index: number, seed: number): string {
  return 'SC' + distinctNumber(index, 7, hash32(seed, 0x5c));
}
