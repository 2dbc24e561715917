/**
 * How each source system identifies a person: its own identifier (GP patient id, hospital MRN,
 * community client id, social care person id) and the demographics it holds, with the errors
 * real systems have (typing slips, day/month swaps, missing or mistyped NHS numbers, maiden
 * names, old addresses, nicknames, a missing date of birth or given name, a given name changed to
 * the middle one, given and family swapped, postcode characters transposed, a year out) at rates
 * typical of each kind of system; and the look-alikes a locality has (adult twins, namesakes one
 * letter apart born the same day at the same address), who carry different NHS numbers.
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
  /**
   * No date of birth recorded. Only community and social care records lack one or have its year
   * out (GP records are traced on PDS; the generator's tests read ages from hospital messages).
   */
  missingDob?: number;
  /** No given name recorded (a baby, "Unknown"), or the middle name recorded as the given name. */
  missingGiven?: number;
  changedGiven?: number;
  /** Given and family name in each other's boxes. */
  swappedNames?: number;
  /** Two neighbouring characters of the postcode transposed ("M14" → "M41"). */
  postcodeTransposed?: number;
  /** Year of birth one out. */
  yearError?: number;
}

export type SystemKind = 'gp' | 'gpDuplicate' | 'hospital' | 'hospitalDuplicate' | 'community' | 'socialcare';

/** Error rates per kind of system; duplicates are registrations made in a hurry. */
export const NOISE: Record<SystemKind, NoiseRates> = {
  gp: { typo: 0.003, dobSwap: 0.002, wrongNhs: 0.002, missingNhs: 0.002, nickname: 0, oldSurname: 0, oldAddress: 0, changedGiven: 0.001, swappedNames: 0.0005, postcodeTransposed: 0.001 },
  gpDuplicate: { typo: 0.3, dobSwap: 0.1, wrongNhs: 0.1, missingNhs: 0.4, nickname: 0.2, oldSurname: 0.5, oldAddress: 0.5, missingGiven: 0.02, changedGiven: 0.03, swappedNames: 0.02, postcodeTransposed: 0.03 },
  hospital: { typo: 0.02, dobSwap: 0.01, wrongNhs: 0.005, missingNhs: 0.03, nickname: 0.005, oldSurname: 0.5, oldAddress: 0.5, missingGiven: 0.003, changedGiven: 0.005, swappedNames: 0.005, postcodeTransposed: 0.005 },
  hospitalDuplicate: { typo: 0.3, dobSwap: 0.1, wrongNhs: 0.05, missingNhs: 0.6, nickname: 0.15, oldSurname: 0.5, oldAddress: 0.4, missingGiven: 0.03, changedGiven: 0.03, swappedNames: 0.03, postcodeTransposed: 0.03 },
  community: { typo: 0.02, dobSwap: 0.01, wrongNhs: 0.005, missingNhs: 0.05, nickname: 0.03, oldSurname: 0.3, oldAddress: 0.3, missingDob: 0.01, missingGiven: 0.005, changedGiven: 0.01, swappedNames: 0.01, postcodeTransposed: 0.01, yearError: 0.01 },
  socialcare: { typo: 0.03, dobSwap: 0.015, wrongNhs: 0.005, missingNhs: 0.3, nickname: 0.06, oldSurname: 0.3, oldAddress: 0.5, missingDob: 0.02, missingGiven: 0.005, changedGiven: 0.01, swappedNames: 0.01, postcodeTransposed: 0.01, yearError: 0.01 },
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
  let middle = person.middle;
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
  // The kinds added for the MPI's generalisation (issue 7); each draws only when its rate is set,
  // so systems without them keep their random streams.
  if (rates.yearError && rng.chance(rates.yearError)) {
    const shifted = `${y + (rng.chance(0.5) ? 1 : -1)}${birthDate.slice(4)}`;
    if (!(shifted.endsWith('-02-29'))) birthDate = shifted;
  }
  if (rates.missingDob && rng.chance(rates.missingDob)) birthDate = '';
  if (rates.changedGiven && rng.chance(rates.changedGiven) && middle) [given, middle] = [middle, undefined];
  if (rates.missingGiven && rng.chance(rates.missingGiven)) [given, middle] = ['', undefined];
  if (rates.swappedNames && rng.chance(rates.swappedNames) && given) [given, family] = [family, given];
  if (rates.postcodeTransposed && rng.chance(rates.postcodeTransposed)) address = { ...address, postcode: transposeOnce(address.postcode, rng) };
  return { nhsNumber, family, given, middle, birthDate, sex: person.sex, address };
}

/** Two neighbouring characters (letters or digits, not the space) swapped. */
export function transposeOnce(s: string, rng: Random): string {
  const spots: number[] = [];
  for (let i = 0; i + 1 < s.length; i++) if (s[i] !== ' ' && s[i + 1] !== ' ' && s[i] !== s[i + 1]) spots.push(i);
  if (!spots.length) return s;
  const i = spots[rng.int(0, spots.length - 1)]!;
  return s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
}

/** Chance that an adult resident is the twin of, or a namesake of, an earlier resident born the same year. */
export const LOOK_ALIKES = { twin: 0.012, namesake: 0.002 };

/**
 * Makes a resident a look-alike of an earlier one born the same year, now and then: an adult twin
 * (same family name, date of birth and home, own given name) or a namesake (same family name,
 * date of birth, sex and home, a given name one letter apart: Jane and Jayne). Each keeps their
 * own NHS number: the MPI must never link them automatically. Returns the person unchanged otherwise.
 */
export function lookAlike(person: Person, earlier: Person | undefined, rng: Random): Person {
  const r = rng.next();
  if (!earlier || r >= LOOK_ALIKES.twin + LOOK_ALIKES.namesake) return person;
  const shared = {
    family: earlier.family,
    previousFamily: undefined,
    familyChangedDay: undefined,
    birthDay: earlier.birthDay,
    practice: earlier.practice,
    neighbourhood: earlier.neighbourhood,
    address: earlier.address,
    previousAddress: earlier.previousAddress,
    movedDay: earlier.movedDay,
    homeHospital: earlier.homeHospital,
  };
  if (r < LOOK_ALIKES.twin) {
    // Twins are never given one name; one with the same name goes by the middle one.
    const given = person.given === earlier.given && person.middle ? person.middle : person.given;
    return { ...person, ...shared, given, middle: given === person.given ? person.middle : undefined };
  }
  let given = typo(earlier.given, rng);
  if (given === earlier.given) given = earlier.given + 'e';
  return { ...person, ...shared, sex: earlier.sex, given };
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
