import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  oneSlipApart, addressParts, compareAddress, compareBirthDate, compareFamily, compareGiven, compareIdentities, compareNames, compareNhsNumber, comparePostcode, compareSex, compareTown, countPatterns, decide,
  householdAgrees, householdWeight, isNickname, twoEditsApart, lettersJumbled, isUkPostcode, nhsNumbersConflict,
  DEFAULT_PARAMETERS, editDistanceAtMost, estimateParameters, estimateU, estimateUWithoutMatches, identifies, FIELDS, jaroWinkler, jaroWinklerAtLeast, comparisonPattern, patternCode, patternVector, PATTERNS, matchProbability, matchWeight, normalisePostcode, soundex, thresholds,
  compareCodes, compareEmail, contactWeight, emailNamesPerson, F, identifierKind, levelOf, termFrequencies, termFrequencyWeight, termFrequencyWeightOf, termRarity, TERM_FREQUENCY_LIMIT, macAsMc, nameParts, normaliseEmail, normaliseIdentifier, normaliseName, normalisePhone,
  type ComparisonVector, type MatchParameters,
} from './fellegi-sunter.ts';
import { mulberry32 } from '../synth/random.ts';

const close = (a: number, b: number, eps = 0.001) => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

test('Jaro–Winkler on textbook pairs', () => {
  close(jaroWinkler('MARTHA', 'MARHTA'), 0.961);
  close(jaroWinkler('DWAYNE', 'DUANE'), 0.84);
  close(jaroWinkler('DIXON', 'DICKSONX'), 0.813);
  close(jaroWinkler('JONES', 'JOHNSON'), 0.832);
  assert.equal(jaroWinkler('SMITH', 'SMITH'), 1);
  assert.equal(jaroWinkler('ABC', 'XYZ'), 0);
  assert.equal(jaroWinkler('', 'A'), 0);
});

test('one typing slip', () => {
  for (const [a, b] of [['IAN', 'INA'], ['AMY', 'AY'], ['GREEN', 'GREN'], ['SMITH', 'SMYTH'], ['JONES', 'JONESS'], ['AB', 'BA']]) {
    assert.equal(oneSlipApart(a!, b!), true, `${a}/${b}`);
    assert.equal(oneSlipApart(b!, a!), true, `${b}/${a}`);
  }
  for (const [a, b] of [['IAN', 'IAN'], ['IAN', 'NIA'], ['SMITH', 'SMYTHE'], ['AB', 'ABCD'], ['JONES', 'JOENS S']]) assert.equal(oneSlipApart(a!, b!), false, `${a}/${b}`);
});

test('Soundex', () => {
  const cases: [string, string][] = [
    ['Robert', 'R163'], ['Rupert', 'R163'], ['Rubin', 'R150'], ['Ashcraft', 'A261'], ['Ashcroft', 'A261'],
    ['Tymczak', 'T522'], ['Pfister', 'P236'], ['Honeyman', 'H555'], ['Lee', 'L000'], ["O'Brien", 'O165'], ['', ''],
  ];
  for (const [name, code] of cases) assert.equal(soundex(name), code, name);
});

test('comparison levels', () => {
  assert.equal(compareNhsNumber('9434765919', '9434765919'), 0);
  assert.equal(compareNhsNumber('9434765919', '4010232137'), 1);
  assert.equal(compareNhsNumber(null, '4010232137'), -1);

  assert.equal(compareFamily('Smith', 'SMITH'), 0);
  assert.equal(compareFamily("O'Neill", 'ONeill'), 0);
  assert.equal(compareFamily('Thompson', 'Thomson'), 1);
  assert.equal(compareFamily('Pfister', 'Fister'), 1); // JW 0.952 even without a shared first letter
  assert.equal(compareFamily('Ashcraft', 'Ashcroft'), 1);
  assert.equal(compareFamily('Reid', 'Reade'), 2); // JW 0.83, both R300
  assert.equal(compareFamily('Smith', 'Patel'), 4);
  assert.equal(compareFamily('', 'Patel'), -1);

  assert.equal(compareGiven('John', 'JOHN'), 0);
  assert.equal(compareGiven('Mary Ann', 'Mary'), 0);
  assert.equal(compareGiven('Jonathon', 'Jonathan'), 1);
  assert.equal(compareGiven('Ina', 'Ian'), 1);
  assert.equal(compareGiven('Bill', 'William'), 2);
  assert.equal(compareGiven('Jack', 'John'), 2);
  assert.equal(compareGiven('J', 'John'), 4);
  assert.equal(compareGiven('Jane', 'John'), 4);
  assert.equal(compareGiven('Peter', 'John'), 5);
  assert.equal(compareGiven(undefined, 'John'), -1);
  // A space keyed inside a given name: its letters joined are compared as one name.
  assert.equal(compareGiven('Scar ett', 'Scarlett'), 1);
  assert.equal(compareGiven('Osc a', 'Oscar'), 1);
  assert.equal(compareGiven('Achi e', 'Archie'), 1);
  assert.equal(compareGiven('Ja prs', 'Jasper'), 3);
  assert.equal(compareGiven('Moha edm', 'Mohammed'), 1);
  assert.equal(compareGiven('Mary Ann', 'Marianne'), 1); // joined, close: one person by either
  assert.equal(compareGiven('Mary Ann', 'Ann Mary'), 1); // both of several parts: compared part by part, as before
  assert.equal(compareGiven('Jo An', 'Joan'), 0); // the same letters
  assert.equal(compareGiven('Li Na', 'Maria'), 5); // joined, still another name
  assert.equal(compareGiven('Li Na', 'Lina'), 0); // the same letters

  assert.equal(compareBirthDate('1950-03-01', '1950-03-01'), 0);
  assert.equal(compareBirthDate('1950-03-01', '1950-01-03'), 1);
  assert.equal(compareBirthDate('1950-03-01', '1950-03-21'), 2); // one digit
  assert.equal(compareBirthDate('1950-03-01', '1958-03-01'), 2);
  assert.equal(compareBirthDate('1959-03-01', '1960-03-01'), 3); // one year, three digits
  assert.equal(compareBirthDate('1950-03-01', '1950-03-28'), 4); // same year and month
  assert.equal(compareBirthDate('1950-03-01', '1950-11-20'), 5); // within a year
  assert.equal(compareBirthDate('2015-10-29', '2016-01-27'), 5); // within a year, across its end
  assert.equal(compareBirthDate('1950-03-01', '1951-04-01'), 6); // more than a year apart, within ten
  assert.equal(compareBirthDate('2016-10-10', '2006-09-14'), 6); // a decade keyed wrong and a month out
  assert.equal(compareBirthDate('1950-03-01', '1960-12-31'), 6); // years ten apart
  assert.equal(compareBirthDate('1950-12-31', '1961-01-01'), 7); // eleven
  assert.equal(compareBirthDate('1950-02-30', '1955-02-03'), 6); // an impossible day: the years still count
  assert.equal(compareBirthDate('1950-03-01', '1972-08-15'), 7); // decades apart: disagree
  assert.equal(compareBirthDate('1950-03-01', null), -1);
  // What a source sent that is not a whole date (link.ts birthDateOf), compared as far as it goes.
  assert.equal(compareBirthDate('1950-03', '1950-03-01'), 4); // the same year and month
  assert.equal(compareBirthDate('1950-03', '1950-03'), 4); // never exact: neither says the day
  assert.equal(compareBirthDate('1950-03', '1950-11-20'), -1); // months within a year: neither for nor against
  assert.equal(compareBirthDate('1950-12', '1951-02'), -1);
  assert.equal(compareBirthDate('1950-12', '1952-02'), 6); // more than twelve months, within ten years
  assert.equal(compareBirthDate('1950-03', '1952-03-01'), 6);
  assert.equal(compareBirthDate('1950-03', '1961-03-01'), 7); // more than 120 months
  assert.equal(compareBirthDate('1950', '1950-03-01'), -1); // the same year: neither for nor against
  assert.equal(compareBirthDate('1950', '1950'), -1);
  assert.equal(compareBirthDate('1950', '1951-01-02'), -1); // a year out: perhaps within a year, perhaps not
  assert.equal(compareBirthDate('1950-03', '1951'), -1);
  assert.equal(compareBirthDate('1950', '1953-03-01'), 6);
  assert.equal(compareBirthDate('1950', '1961-03-01'), 7);
  assert.equal(compareBirthDate('1987-02-30', '1987-02-03'), 4); // no such day: its year and month agree
  assert.equal(compareBirthDate('1987-13-05', '1987-05-13'), 1); // day and month swapped into a month 13
  assert.equal(compareBirthDate('1945-04-93', '1945-04-23'), 2); // one digit slipped
  assert.equal(compareBirthDate('1987-02-30', '1987-02-30'), 0); // the same digits sent twice

  assert.equal(compareSex('male', 'male'), 0);
  assert.equal(compareSex('male', 'female'), 1);
  assert.equal(compareSex('male', 'unknown'), -1);

  assert.equal(comparePostcode('M14 5AB', 'm145ab'), 0);
  assert.equal(comparePostcode('M14 5AB', 'M14 6XY'), 2); // same district
  assert.equal(comparePostcode('M14 5AB', 'M41 5AB'), 1); // digits transposed
  assert.equal(comparePostcode('M14 5AB', 'M1 4AB'), 1); // one character dropped
  assert.equal(comparePostcode('M14 5AB', 'M20 4XY'), 3);
  assert.equal(comparePostcode('', 'M1 4AB'), -1);
  assert.equal(normalisePostcode(' m145ab'), 'M14 5AB');

  assert.deepEqual(
    compareIdentities(
      { nhsNumber: null, family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
      { nhsNumber: '9434765919', family: 'Thomson', given: 'Ann', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
    ),
    [-1, 1, 1, 0, 0, 0, -1, -1, -1, -1, -1],
  );
});

test('weights, probability and decisions', () => {
  const p = DEFAULT_PARAMETERS;
  const t = thresholds(p);
  // A misspelt family name with everything else agreeing is a match; a same-birthday stranger is not.
  const typo: ComparisonVector = [-1, 1, 0, 0, 0, 0, 0, 0, -1, -1, -1];
  const stranger: ComparisonVector = [-1, 3, 4, 0, 1, 3, 3, 0, -1, -1, -1];
  assert.equal(decide(matchWeight(p, typo), t), 'MATCH');
  assert.equal(decide(matchWeight(p, stranger), t), 'NO_MATCH');
  assert.ok(matchProbability(p, t.match) > 0.989 && matchProbability(p, t.match) < 0.991);
  close(matchProbability(p, t.possible), 0.5);
  assert.equal(matchWeight(p, FIELDS.map(() => -1)), 0);
});

const rng = mulberry32; // the synthetic pairs are the same every run

function draw(r: () => number, probs: number[]): number {
  let x = r();
  for (let i = 0; i < probs.length; i++) {
    x -= probs[i]!;
    if (x < 0) return i;
  }
  return probs.length - 1;
}

test('EM recovers m, u and λ from synthetic candidate pairs', () => {
  const truth: MatchParameters = {
    m: [[0.95, 0.05], [0.8, 0.1, 0.05, 0.02, 0.03], [0.7, 0.1, 0.05, 0.03, 0.07, 0.05], [0.8, 0.03, 0.05, 0.05, 0.05, 0.01, 0.005, 0.005], [0.97, 0.03], [0.7, 0.05, 0.1, 0.15], [0.6, 0.1, 0.1, 0.2], [0.8, 0.05, 0.15]],
    u: [[0.01, 0.99], [0.05, 0.03, 0.07, 0.05, 0.8], [0.04, 0.02, 0.01, 0.03, 0.1, 0.8], [0.3, 0.01, 0.05, 0.05, 0.09, 0.1, 0.1, 0.3], [0.5, 0.5], [0.05, 0.05, 0.15, 0.75], [0.02, 0.03, 0.1, 0.85], [0.3, 0.05, 0.65]],
    lambda: 0.2,
  };
  const r = rng(42);
  const vectors: ComparisonVector[] = [];
  for (let i = 0; i < 40000; i++) {
    const match = r() < truth.lambda;
    vectors.push(FIELDS.map((_, f) => {
      if (f === 0 && r() < 0.6) return -1; // NHS number often missing
      if (f >= truth.m.length) return -1; // email, phone, other identifiers: not in this data
      return draw(r, (match ? truth.m : truth.u)[f]!);
    }));
  }
  const em = estimateParameters(countPatterns(vectors));
  assert.equal(em.estimated, true);
  close(em.parameters.lambda, truth.lambda, 0.02);
  for (let f = 0; f < truth.m.length; f++) {
    for (let l = 0; l < FIELDS[f]!.levels.length; l++) {
      close(em.parameters.m[f]![l]!, truth.m[f]![l]!, 0.03);
      close(em.parameters.u[f]![l]!, truth.u[f]![l]!, 0.03);
    }
  }
});

test('EM learns a source whose dates of birth are often slipped', () => {
  // Pairs sharing both names (the matcher's second training block): the date of birth of a match
  // exact in under half of them, a month or a decade out in most of the rest (Splink's synthetic 20,000).
  const F_DOB = 3;
  const mDob = [0.46, 0.01, 0.09, 0.005, 0.005, 0.2, 0.18, 0.05];
  const uDob = DEFAULT_PARAMETERS.u[F_DOB]!;
  const r = rng(7);
  const vectors: ComparisonVector[] = [];
  for (let i = 0; i < 5000; i++) {
    const match = r() < 0.7;
    vectors.push(FIELDS.map((_, f) => (f === F_DOB ? draw(r, match ? mDob : uDob) : f === 7 ? draw(r, match ? [0.6, 0.35, 0.05] : [0.3, 0.02, 0.68]) : -1)));
  }
  const start = { ...DEFAULT_PARAMETERS, lambda: 0.1 };
  const em = estimateParameters(countPatterns(vectors), start, { fixU: true, ignore: [1, 2] });
  assert.equal(em.estimated, true); // "more than half exact" used to refuse this and keep 88% exact
  close(em.parameters.m[F_DOB]![0]!, 0.46, 0.03);
  close(em.parameters.m[F_DOB]![5]!, 0.2, 0.03);
  close(em.parameters.m[F_DOB]![6]!, 0.18, 0.03);
});

test('EM keeps its starting point when there are too few pairs', () => {
  const em = estimateParameters(countPatterns([[0, 0, 0, 0, 0, 0, 0, 0]]));
  assert.equal(em.estimated, false);
  assert.deepEqual(em.parameters, DEFAULT_PARAMETERS);
});

test('u from random pairs is the level frequency, smoothed', () => {
  const vectors: ComparisonVector[] = [];
  for (let i = 0; i < 1000; i++) vectors.push([-1, i < 10 ? 0 : 3, 4, 5, i % 2, 3, 3, 2]);
  const u = estimateU(countPatterns(vectors));
  close(u[1]![0]!, 10 / 1000, 0.001);
  close(u[4]![0]!, 0.5, 0.001);
  assert.ok(u[3]![0]! > 0 && u[3]![0]! < 0.001); // unseen level: small, not zero
  assert.deepEqual(u[0], DEFAULT_PARAMETERS.u[0]); // no NHS comparisons at all: the prior
});

test('u without the matches among the random pairs: a sample of a small file holds many', () => {
  // 200,000 random pairs, 1 in 500 a match (a small file: λ = 0.002). Matches agree on the email
  // and mostly on the date of birth; strangers share an email 1 time in 100,000 and a date of birth
  // 1 time in 20,000 (vectors in FIELDS order; sex, postcode, address, phone and other identifier missing).
  const rand = mulberry32(5);
  const vectors: ComparisonVector[] = [];
  const E = F.email;
  for (let i = 0; i < 200_000; i++) {
    const match = i % 500 === 0;
    const v: ComparisonVector = new Array(FIELDS.length).fill(-1);
    v[F.family] = match ? (rand() < 0.8 ? 0 : 4) : rand() < 0.01 ? 0 : 4;
    v[F.given] = match ? (rand() < 0.8 ? 0 : 5) : rand() < 0.02 ? 0 : 5;
    v[F.birthDate] = match ? (rand() < 0.6 ? 0 : 6) : rand() < 0.00005 ? 0 : rand() < 0.25 ? 6 : 7;
    v[F.town] = match ? 0 : rand() < 0.1 ? 0 : 2;
    v[E] = match ? 0 : rand() < 0.00001 ? 0 : 3;
    vectors.push(v);
  }
  const patterns = countPatterns(vectors);
  const raw = estimateU(patterns);
  const m = DEFAULT_PARAMETERS.m.map((r) => r.slice());
  m[F.family] = [0.8, 0.001, 0.001, 0.001, 0.197];
  m[F.given] = [0.8, 0.001, 0.001, 0.001, 0.001, 0.196];
  m[F.birthDate] = [0.6, 0.001, 0.001, 0.001, 0.001, 0.001, 0.394, 0.001];
  m[F.town] = [0.98, 0.01, 0.01];
  m[E] = [0.97, 0.01, 0.01, 0.01];
  const u = estimateUWithoutMatches(patterns, m, 1 / 500);
  // Raw: the 400 matches dominate the rare agreements (≈ 400 emails against ≈ 2 of strangers).
  assert.ok(raw[E]![0]! > 0.0015, `raw ${raw[E]![0]}`);
  assert.ok(u[E]![0]! < 0.0001, `email ${u[E]![0]}`);
  assert.ok(u[E]![0]! >= 1 / 200_000); // never below one pair's worth of the sample
  assert.ok(raw[F.birthDate]![0]! > 0.001);
  assert.ok(u[F.birthDate]![0]! < 0.0002, `birth date ${u[F.birthDate]![0]}`);
  // Common agreements barely move: the matches are a small share of them.
  close(u[F.family]![0]!, 0.01, 0.002);
  close(u[F.town]![0]!, 0.1, 0.005);
  // No prior given, or none of the pairs a match: u as the random pairs say.
  assert.deepEqual(estimateUWithoutMatches(patterns, m, 0), raw);
  const strangers = countPatterns(vectors.filter((_, i) => i % 500 !== 0));
  const pure = estimateUWithoutMatches(strangers, m, 1e-9);
  close(pure[E]![0]!, estimateU(strangers)[E]![0]!, 1e-6);
});

test('a pair identifies a person on a name, a contact, an address or an NHS number, not on a birthday in a town', () => {
  const v = (set: Partial<Record<number, number>>): ComparisonVector => FIELDS.map((_, f) => set[f] ?? -1);
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.town]: 0 })), false);
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.town]: 1, [F.sex]: 0 })), false);
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.given]: 4 })), false); // an initial alone
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.family]: 4, [F.given]: 5 })), false); // names that disagree
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.postcode]: 2 })), false); // the district only
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.given]: 0 })), true);
  assert.equal(identifies(v({ [F.family]: 3 })), true); // two edits apart
  assert.equal(identifies(v({ [F.birthDate]: 6, [F.email]: 2 })), true);
  assert.equal(identifies(v({ [F.birthDate]: 0, [F.postcode]: 1 })), true);
  assert.equal(identifies(v({ [F.address]: 0 })), true);
  assert.equal(identifies(v({ [F.phone]: 0 })), true);
  assert.equal(identifies(v({ [F.otherId]: 1 })), true);
  assert.equal(identifies(v({ [F.nhs]: 0 })), true);
});

test('postcodes: UK ones normalised, others kept whole and compared as plain strings', () => {
  assert.equal(normalisePostcode('4223'), '4223'); // not "4 223"
  assert.equal(normalisePostcode('sw1a1aa'), 'SW1A 1AA');
  assert.equal(normalisePostcode('90210-1234'), '902101234');
  assert.equal(isUkPostcode('M14 5AB'), true);
  assert.equal(isUkPostcode('4223'), false);
  assert.equal(comparePostcode('4223', '4223'), 0);
  assert.equal(comparePostcode('4223', '4232'), 1); // transposed digits
  assert.equal(comparePostcode('4223', '4299'), 3); // a shared "district" means nothing
  assert.equal(comparePostcode('2000', '2600'), 1);
});

test('names: swapped crosswise, double and hyphenated surnames, middle names, nicknames from the data file', () => {
  assert.deepEqual(compareNames({ family: 'John', given: 'Smith' }, { family: 'Smith', given: 'John' }), [0, 0]);
  assert.deepEqual(compareNames({ family: 'Jonh', given: 'Smith' }, { family: 'Smith', given: 'John' }), [1, 0]);
  // Two strangers do not become a swap.
  assert.deepEqual(compareNames({ family: 'Patel', given: 'Ravi' }, { family: 'Smith', given: 'John' }), [4, 5]);
  // Swapped with one name exact and the other two typing slips out.
  assert.deepEqual(compareNames({ given: 'Huienh', family: 'Sandra' }, { given: 'Sandra', family: 'Huynh' }), [0, 3]);
  // Names in the wrong boxes against a record with one name missing: the name held is compared
  // with the other's crosswise, the missing one stays missing (not a disagreement).
  assert.deepEqual(compareNames({ given: 'Hart', family: 'Max' }, { given: 'Max' }), [0, -1]);
  assert.deepEqual(compareNames({ given: 'Max' }, { given: 'Hart', family: 'Max' }), [-1, 0]);
  // With a name missing, only an exact crosswise agreement explains a swap (a close one does not).
  assert.deepEqual(compareNames({ given: 'Bailey', family: 'Emily' }, { given: 'Emiyl' }), [-1, 5]);
  assert.deepEqual(compareNames({ family: 'Lawrence' }, { given: 'Lawrence', family: 'Freya' }), [0, -1]);
  // Straight when that explains as much, and never a swap of two strangers' names.
  assert.deepEqual(compareNames({ given: 'Max' }, { given: 'Max', family: 'Hart' }), [-1, 0]);
  assert.deepEqual(compareNames({ given: 'Ravi' }, { given: 'John', family: 'Smith' }), [-1, 5]);
  assert.deepEqual(compareNames({ given: 'Sam' }, { given: 'John', family: 'Sanders' }), [-1, 5]);
  assert.equal(compareFamily('Smith-Jones', 'Jones'), 1);
  assert.equal(compareFamily('Garcia Lopez', 'Garcia'), 1);
  assert.equal(compareFamily('SmithJones', 'Smith-Jones'), 0);
  assert.equal(compareGiven('Mary Ann', 'Ann'), 1);
  for (const [a, b] of [['Bill', 'William'], ['Peggy', 'Margaret'], ['Ned', 'Edward'], ['Sandy', 'Alexander'], ['Fred', 'Alfred']]) assert.equal(compareGiven(a, b), 2, `${a}/${b}`);
  assert.equal(isNickname('Ted', 'Edward'), true);
  assert.equal(isNickname('Ted', 'Peter'), false);
});

test('dates of birth: day/month swap, one digit, one year', () => {
  assert.equal(compareBirthDate('1950-03-04', '1950-04-03'), 1);
  assert.equal(compareBirthDate('1950-03-04', '1951-03-04'), 2); // one digit too
  assert.equal(compareBirthDate('1949-12-31', '1950-12-31'), 3);
  assert.equal(compareBirthDate(null, '1950-12-31'), -1);
});

test('address and town', () => {
  assert.equal(compareAddress('12 Chester Road', '12 chester rd'), 0);
  assert.equal(compareAddress('12 Chester Road, Flat 2', '12 Chester Road'), 1);
  assert.equal(compareAddress('12 Chester Road', '12 Chestre Road'), 1);
  assert.equal(compareAddress('14 Chester Road', '12 Chester Road'), 2);
  assert.equal(compareAddress('12 Chester Road', '12 Moss Lane'), 3);
  assert.equal(compareAddress('', '12 Moss Lane'), -1);
  assert.deepEqual(addressParts('12a Wilkins St, Rosedale'), { number: '12', words: 'WILKINS STREET ROSEDALE' });
  assert.equal(compareTown('Stretford', 'STRETFORD'), 0);
  assert.equal(compareTown('Stretford', 'Strettford'), 1);
  assert.equal(compareTown('Stretford', 'Sale'), 2);
  assert.equal(compareTown(undefined, 'Sale'), -1);
});

test('what one household shares counts once: twins with different given names are not a match', () => {
  const p = DEFAULT_PARAMETERS;
  const t = thresholds(p);
  const twin = { family: 'Okafor', birthDate: '1988-05-05', sex: 'male', postcode: 'M15 5AA', address: '4 Moss Lane', town: 'Hulme' };
  const v = compareIdentities({ ...twin, given: 'Chidi' }, { ...twin, given: 'Emeka' });
  assert.equal(householdAgrees(v), true);
  assert.notEqual(decide(matchWeight(p, v), t), 'MATCH');
  assert.ok(householdWeight(p, v) <= p.householdCap!);
  // The same person seen twice (given name agrees) still is.
  assert.equal(decide(matchWeight(p, compareIdentities({ ...twin, given: 'Chidi' }, { ...twin, given: 'Chidi' })), t), 'MATCH');
  // Different valid NHS numbers are flagged whatever the weight.
  assert.equal(nhsNumbersConflict(compareIdentities({ ...twin, given: 'Jane', nhsNumber: '9000000009' }, { ...twin, given: 'Jayne', nhsNumber: '9000000017' })), true);
});

test('the Jaro–Winkler shortcut gives the full answer; pattern codes round-trip', () => {
  const rnd = mulberry32(7);
  const word = () => Array.from({ length: 1 + Math.floor(rnd() * 9) }, () => 'ABEHNORST '[Math.floor(rnd() * 10)]).join('');
  for (let i = 0; i < 20000; i++) {
    const a = word();
    const b = rnd() < 0.3 ? a.slice(0, -1) + word().slice(0, 1) : word();
    for (const t of [0.88, 0.9, 0.92]) assert.equal(jaroWinklerAtLeast(a, b, t), jaroWinkler(a, b) >= t, `${a} / ${b} at ${t}`);
  }
  const a = { family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', postcode: 'M14 5AB', town: 'Leeds' };
  const b = { family: 'Anne', given: 'Thomson', birthDate: '1950-01-03', sex: 'female', postcode: 'M14 5BA', address: '1 Oak Rd' };
  assert.deepEqual(patternVector(comparisonPattern(a, b)), compareIdentities(a, b));
  for (let code = 0; code < PATTERNS; code += 97) assert.equal(patternCode(patternVector(code)), code);
});

test('names across cultures: diacritics, apostrophes and spaces, Mc/Mac, middle names, the whole name in the given field, initials', () => {
  assert.equal(normaliseName('José'), 'JOSE');
  assert.equal(normaliseName('Zoë'), 'ZOE');
  assert.equal(normaliseName('Łukasz Müller-Straße'), 'LUKASZMULLERSTRASSE');
  for (const n of ["O'Brien", 'OBrien', 'O Brien', 'O’Brien', 'o brien']) assert.equal(normaliseName(n), 'OBRIEN', n);
  assert.deepEqual(nameParts('O Brien'), ['OBRIEN']);
  assert.deepEqual(nameParts("D'Souza-Smith"), ['DSOUZA', 'SMITH']);
  assert.deepEqual(nameParts('Mary Ann'), ['MARY', 'ANN']);
  assert.deepEqual(nameParts('J R'), ['J', 'R']); // initials stay initials
  assert.equal(compareFamily('Fernández', 'Fernandez'), 0);
  assert.equal(compareGiven('Zoë', 'Zoe'), 0);
  assert.equal(compareGiven('Siobhán', 'SIOBHAN'), 0);
  assert.equal(compareFamily("O'Brien", 'O Brien'), 0);
  assert.equal(compareFamily('McKay', 'MacKay'), 1); // Jaro–Winkler misses it (short name); Mac as Mc does not
  assert.equal(compareFamily('MacDonald', 'McDonald'), 1);
  assert.equal(macAsMc('MACK'), 'MACK'); // a short name is not a Mac prefix
  assert.equal(soundex('Müller'), soundex('Muller'));
  assert.equal(compareGiven('Mary Ann', 'Mary'), 0);
  assert.equal(compareGiven('Mary Ann', 'Ann'), 1); // known by the middle name
  assert.equal(compareGiven('J', 'John'), 4); // an initial
  assert.equal(compareGiven('J.', 'John'), 4);
  // The whole name in the given field, no family name: the last part is taken as the family name.
  assert.deepEqual(compareNames({ given: 'John Smith' }, { given: 'John', family: 'Smith' }), [0, 0]);
});

test('email and phone normalised: case and spaces only for email; digits, UK +44/0044/0 as 0', () => {
  assert.equal(normaliseEmail(' John.Smith+NHS@Example.COM '), 'john.smith+nhs@example.com'); // dots and +tags kept
  assert.equal(normaliseEmail('mailto:a@b.org'), 'a@b.org');
  assert.equal(normaliseEmail('not an email'), null);
  assert.equal(normaliseEmail('@b.org'), null);
  for (const p of ['+44 161 496 0000', '0044 161 496 0000', '0161 496 0000', '(0161) 496-0000', '+44 (0)161 496 0000', '441614960000', 'tel:+441614960000']) {
    assert.equal(normalisePhone(p), '01614960000', p);
  }
  assert.equal(normalisePhone('+61 2 9999 1234'), '0061299991234'); // not UK: its digits, international prefix
  assert.equal(normalisePhone('x123'), null);
});

test('other identifiers: kinds from systems and type codes, values without separators', () => {
  assert.equal(identifierKind('http://hl7.org/fhir/sid/us-ssn'), 'ssn');
  assert.equal(identifierKind('SS'), 'ssn');
  assert.equal(identifierKind('urn:febrl:soc_sec_id'), 'ssn');
  assert.equal(identifierKind('PPN'), 'passport');
  assert.equal(identifierKind('DL'), 'driving-licence');
  assert.equal(identifierKind('NI'), 'ni');
  assert.equal(normaliseIdentifier('http://hl7.org/fhir/sid/us-ssn', '123-45-6789'), 'ssn|123456789');
  assert.equal(normaliseIdentifier('SS', '123 45 6789'), 'ssn|123456789');
  assert.equal(normaliseIdentifier('NI', 'qq 12 34 56 c'), 'ni|QQ123456C');
  assert.equal(normaliseIdentifier('SS', ''), null);
});

test('email, phone and identifier levels: exact, one slip or transposition, fuzzy (emails), disagree; like with like', () => {
  assert.equal(compareEmail('a.b@x.com', 'a.b@x.com'), 0);
  assert.equal(compareEmail('jane.doe@x.com', 'jnae.doe@x.com'), 1); // transposed
  assert.equal(compareEmail('jsmith1@x.com', 'jsmith2@x.com'), -1); // only a digit: namesakes numbered by their provider
  assert.equal(compareEmail('john.smith@gmail.com', 'john.smith@hotmail.com'), -1); // the same user name elsewhere: no evidence
  assert.equal(compareEmail('a.b@x.com', 'zz@y.org'), 3);
  assert.equal(compareEmail('old@x.com new@y.com', 'new@y.com'), 0); // any address in common
  assert.equal(compareEmail(null, 'a@b.c'), -1);
  assert.equal(compareCodes('01614960000', '01614960000'), 0);
  assert.equal(compareCodes('01614960000', '01614960090'), 1);
  assert.equal(compareCodes('01614960000', '01614690000'), 1); // two digits swapped
  assert.equal(compareCodes('01614960000', '07700900123'), 2);
  assert.equal(compareCodes('ssn|1234567', 'ssn|1234576'), 1);
  assert.equal(compareCodes('ssn|1234567', 'ssn|7654321'), 2);
  assert.equal(compareCodes('ssn|1234567', 'passport|1234567'), -1); // no kind in common: missing, not disagreeing
  assert.equal(compareCodes('passport|X1 ssn|1234567', 'ssn|1234567'), 0);
  const v = compareIdentities({ email: 'a@b.com', phone: '01614960000', otherId: 'ssn|1234567' }, { email: 'a@b.com', phone: '01614960000', otherId: 'ssn|1234567' });
  assert.deepEqual([v[F.email], v[F.phone], v[F.otherId]], [0, 0, 0]);
  assert.equal(patternCode(v), comparisonPattern({ email: 'a@b.com', phone: '01614960000', otherId: 'ssn|1234567' }, { email: 'a@b.com', phone: '01614960000', otherId: 'ssn|1234567' }));
});

test('a shared phone or email counts only with a given name or birth date that agrees (families share them)', () => {
  const p = DEFAULT_PARAMETERS;
  const parent = { family: 'Okafor', given: 'Grace', birthDate: '1970-02-01', phone: '01614960000', email: 'okafor.family@example.com' };
  const child = { family: 'Okafor', given: 'Daniel', birthDate: '2004-06-12', phone: '01614960000', email: 'okafor.family@example.com' };
  const v = compareIdentities(parent, child);
  assert.equal(v[F.phone], 0);
  assert.equal(contactWeight(p, v), 0);
  assert.ok(decide(matchWeight(p, v), thresholds(p)) === 'NO_MATCH');
  // Only a surname and a phone in common, nothing else known: still no evidence from the phone.
  const sparse = compareIdentities({ family: 'Okafor', phone: '01614960000' }, { family: 'Okafor', given: 'Daniel', phone: '01614960000' });
  assert.equal(contactWeight(p, sparse), 0);
  // The same given name, or the same birth date: the email is evidence of one person.
  const same = compareIdentities({ ...parent, family: 'Okafr' }, parent);
  assert.ok(contactWeight(p, same) > 10);
  const noGiven = compareIdentities({ ...parent, given: null }, parent);
  assert.ok(contactWeight(p, noGiven) > 10);
  // A birth date in the same year and month (siblings never are, twins share the date) counts as
  // personal; one merely within a year does not (siblings can be ten months apart).
  const sameMonth = compareIdentities({ ...parent, given: null, birthDate: '1970-02-19' }, parent);
  assert.equal(sameMonth[F.birthDate], 4);
  assert.ok(contactWeight(p, sameMonth) > 10);
  const sibling = compareIdentities({ ...parent, given: null, birthDate: '1970-12-03' }, parent);
  assert.equal(sibling[F.birthDate], 5);
  assert.equal(contactWeight(p, sibling), 0);
  // Disagreement always counts against.
  const other = compareIdentities({ ...parent, email: 'someone@else.org', phone: null }, parent);
  assert.ok(contactWeight(p, other) < 0);
  // A father and son of one name share the family email: dates decades apart withhold it.
  const son = compareIdentities({ ...parent, birthDate: '1998-04-02' }, parent);
  assert.deepEqual([son[F.given], son[F.email], son[F.birthDate]], [0, 0, 7]);
  assert.equal(contactWeight(p, son), 0);
  assert.equal(contactWeight(p, son, true), 0);
  const decade = compareIdentities({ ...parent, birthDate: '1980-04-02' }, parent); // a decade keyed wrong
  assert.equal(decade[F.birthDate], 6);
  assert.ok(contactWeight(p, decade) > 10);
});

test('a shared email beside a missing given name counts when its user name names the person held (emailNamesPerson)', () => {
  const p = DEFAULT_PARAMETERS;
  const thea = { given: 'Thea', family: 'Hart', birthDate: '1986-07-19', email: 'thea.h20@keith.com' };
  const noGiven = { family: 'Hart', birthDate: '1996-09-14', email: 'thea.h20@keith.com' };
  const v = compareIdentities(noGiven, thea);
  assert.deepEqual([v[F.given], v[F.email]], [-1, 0]);
  assert.equal(emailNamesPerson(noGiven, thea, v[F.given]!, v[F.email]!), true);
  assert.equal(emailNamesPerson(thea, noGiven, v[F.given]!, v[F.email]!), true);
  assert.equal(contactWeight(p, v), 0, 'withheld by default: the birth dates are a decade apart');
  assert.ok(contactWeight(p, v, true) > 10);
  assert.ok(matchWeight(p, v, 0, true) > matchWeight(p, v));
  // One character slipped in the address still names her.
  const slipped = { ...noGiven, email: 'thea.h20@keith.cm' };
  const vs = compareIdentities(slipped, thea);
  assert.equal(vs[F.email], 1);
  assert.equal(emailNamesPerson(slipped, thea, vs[F.given]!, vs[F.email]!), true);
  // A family's address names nobody: withheld. So is a given name that disagrees, or none on either side.
  const family = { given: 'Grace', family: 'Okafor', birthDate: '1970-02-01', email: 'okafor.family@example.com' };
  const child = { family: 'Okafor', birthDate: '1975-06-12', email: 'okafor.family@example.com' };
  const vf = compareIdentities(child, family);
  assert.equal(emailNamesPerson(child, family, vf[F.given]!, vf[F.email]!), false);
  const daniel = { ...child, given: 'Daniel', email: 'grace.okafor@example.com' };
  const grace = { ...family, email: 'grace.okafor@example.com' };
  const vd = compareIdentities(daniel, grace);
  assert.equal(vd[F.given], 5);
  assert.equal(emailNamesPerson(daniel, grace, vd[F.given]!, vd[F.email]!), false);
  // A given name keyed out of order, or an initial, beside an email naming the person: counts.
  const jayden = { given: 'Jayden', family: 'Graham', birthDate: '2015-12-20', email: 'jaydengraham62@mitchell-hayden.org' };
  const jumbled = { given: 'Jnydea', family: 'Graham', birthDate: '2016-11-21', email: 'jaydengraham62@mitchell-hayden.org' };
  const vj = compareIdentities(jumbled, jayden);
  assert.equal(vj[F.given], 3);
  assert.equal(emailNamesPerson(jumbled, jayden, vj[F.given]!, vj[F.email]!), true);
  assert.equal(contactWeight(p, vj), 0);
  assert.ok(contactWeight(p, vj, true) > 10);
  const initial = { ...jayden, given: 'J' };
  const vi = compareIdentities(initial, jayden);
  assert.equal(vi[F.given], 4);
  assert.equal(emailNamesPerson(initial, jayden, vi[F.given]!, vi[F.email]!), true);
  // …but not an address naming someone else (the mother's, shared with her son Jake: "J").
  const mother = { given: 'Grace', family: 'Okafor', birthDate: '1990-02-01', email: 'grace.okafor@example.com' };
  const jake = { given: 'J', family: 'Okafor', birthDate: '2015-06-12', email: 'grace.okafor@example.com' };
  const vm = compareIdentities(jake, mother);
  assert.equal(emailNamesPerson(jake, { ...mother, given: 'Jake' }, 4, vm[F.email]!), false);
  const nobody = { family: 'Hart', email: 'thea.h20@keith.com' };
  assert.equal(emailNamesPerson(nobody, nobody, -1, 0), false);
  // Names under three letters never count; another address is no shared email.
  const al = { given: 'Al', family: 'Hart', email: 'al.hart@keith.com' };
  assert.equal(emailNamesPerson({ family: 'Hart', email: 'al.hart@keith.com' }, al, -1, 0), false);
  assert.equal(emailNamesPerson({ family: 'Hart', email: 'x@y.org' }, thea, -1, 3), false);
});

test('email fuzzy level: at most two edits in an address of 10 characters or more, never only digits', () => {
  assert.equal(compareEmail('hannah88@powers.com', 'hannah88opowersc@m'), 3); // more than two edits: disagree
  assert.equal(compareEmail('lynn04@jones.com', 'lynn04@jone.cos'), 2); // a letter dropped and one changed
  assert.equal(compareEmail('matthew78@ballard.net', 'mattheaw78@bllard.net'), 2); // one added, one dropped
  assert.equal(compareEmail('jsmith12@x.com', 'jsmith34@x.com'), -1); // only digits: as before, no evidence
  assert.equal(compareEmail('ab@x.com', 'ba@y.com'), 3); // too short for two edits to mean anything
  assert.equal(compareEmail('john.smith@x.com', 'jane.smith@x.com'), 3); // another given name (three edits): disagree
  assert.equal(editDistanceAtMost('kitten', 'sitting', 3), true);
  assert.equal(editDistanceAtMost('kitten', 'sitting', 2), false);
  assert.equal(editDistanceAtMost('abcd', 'acbd', 1), true); // neighbours swapped: one edit
  assert.equal(editDistanceAtMost('', 'ab', 2), true);
  assert.equal(editDistanceAtMost('abc', 'abcdef', 2), false);
});

test('term-frequency adjustment: a rare family name or town adds weight, a common one keeps its level, within the household cap', () => {
  const id = (family: string, town: string) => ({ family, given: 'Ann', birthDate: '1970-01-01', town });
  // 1,000 identities: Smith on 200, Quilliam on 2; London on 300, Stoke on Trent on 10.
  const tf = termFrequencies(
    [...Array(200).fill('Smith'), 'Quilliam', 'QUILLIAM', ...Array(798).fill(null)],
    [...Array(300).fill('London'), ...Array(10).fill('Stoke-on-Trent'), ...Array(690).fill(null)],
    1000,
  );
  assert.equal(tf.family.get('QUILLIAM'), 2); // counted as compared (normalised)
  const p: MatchParameters = { ...DEFAULT_PARAMETERS, u: DEFAULT_PARAMETERS.u.map((r, f) => (f === F.family ? [0.05, 0.01, 0.02, 0.92] : f === F.town ? [0.1, 0.02, 0.88] : r)) };
  const at = (a: ReturnType<typeof id>, b: ReturnType<typeof id>) => termFrequencyWeight(p, tf, a, b, comparisonPattern(a, b));
  // Quilliam: 2 of 1,000 → u 0.002 against 0.05 on average: log2(25) = 4.6, limited to 3 bits.
  close(at(id('Quilliam', ''), id('QUILLIAM', '')), TERM_FREQUENCY_LIMIT);
  // Smith: 0.2 > 0.05: common, no change (never below the level's weight).
  assert.equal(at(id('Smith', ''), id('Smith', '')), 0);
  // Stoke-on-Trent: 0.01 against 0.1: log2(10) = 3.32 → 3; London (0.3): 0.
  close(at(id('', 'Stoke-on-Trent'), id('', 'stoke on trent')), 3);
  assert.equal(at(id('', 'London'), id('', 'London')), 0);
  // Only an exact agreement of the written values: a close family name keeps its level's weight.
  assert.equal(at(id('Quilliam', ''), id('Quiliam', '')), 0);
  // Both added to one pair; and inside the household cap.
  const a = id('Quilliam', 'Stoke-on-Trent');
  const extra = at(a, id('Quilliam', 'Stoke-on-Trent'));
  close(extra, 6);
  const v = compareIdentities(a, id('Quilliam', 'Stoke-on-Trent'));
  close(matchWeight(p, v, extra), matchWeight(p, v) + 6);
  const twin = { ...a, postcode: 'M1 1AA' };
  const vt = compareIdentities(twin, { ...twin, given: 'Bea' });
  const capped = { ...p, householdCap: 10 };
  assert.ok(householdAgrees(vt));
  close(householdWeight(capped, vt, extra), 10);
  assert.equal(levelOf(comparisonPattern(a, a), F.family), 0);
  assert.equal(levelOf(comparisonPattern(a, { town: 'x' }), F.family), -1);
  // What the matcher keeps a pair (termRarity) gives the same addition once u is known, and
  // follows u: with u of an exact family name of 0.01, Quilliam (0.002) adds log2(5).
  const b = id('Quilliam', 'Stoke-on-Trent');
  const [family, town] = termRarity(tf, a, b, comparisonPattern(a, b));
  close(family, Math.log2(1000 / 2));
  close(town, Math.log2(1000 / 10));
  close(termFrequencyWeightOf(p, family, town), extra);
  const lower = { ...p, u: p.u.map((r, f) => (f === F.family ? [0.01, 0.01, 0.02, 0.96] : r)) };
  close(termFrequencyWeightOf(lower, family, 0), Math.log2(5));
  assert.deepEqual(termRarity(tf, a, id('Quiliam', 'Leeds'), comparisonPattern(a, id('Quiliam', 'Leeds'))), [0, 0]);
});

test('names two edits apart or keyed out of order: a level of their own, below Soundex (family) and above the initial (given)', () => {
  // Two edits in names of five letters or more.
  assert.equal(twoEditsApart('TARLO', 'TAYLOR'), true); // a letter changed, one dropped
  assert.equal(twoEditsApart('COEPO', 'COOPER'), true);
  assert.equal(twoEditsApart('JONES', 'JAMES'), true); // two changes: counted, and u from the data weighs it
  assert.equal(twoEditsApart('SMITH', 'PATEL'), false);
  assert.equal(twoEditsApart('ANNA', 'ALMA'), false); // four letters: two edits would be half the name
  // The same letters in another order, one perhaps dropped; the shorter of four letters or more.
  assert.equal(twoEditsApart('ETHAN', 'ETNAH'), true);
  assert.equal(twoEditsApart('BROWN', 'ORBW'), true);
  assert.equal(twoEditsApart('THOMAS', 'AHOTS'), true);
  assert.equal(twoEditsApart('MCDONALD', 'LCONAMD'), true);
  assert.equal(twoEditsApart('AMY', 'MAY'), false); // three letters: too short to tell
  assert.equal(twoEditsApart('HARRIS', 'SHARP'), false); // SHARP has a P that HARRIS lacks
  assert.equal(twoEditsApart('MARTIN', 'MARTINELLI'), false); // four letters more
  // Letters beyond ASCII are compared as they are.
  assert.equal(twoEditsApart('ŁUKASZ', 'ŁUKSAZ'), true);
  // The scratch counts are left clean: a later comparison is not disturbed by an earlier failure.
  assert.equal(twoEditsApart('ABCD', 'WXYZ'), false);
  assert.equal(twoEditsApart('DCBA', 'ABCD'), true);
  assert.equal(jaroWinklerAtLeast('MARTHA', 'MARHTA', 0.96), true);

  assert.equal(FIELDS[F.family].levels[3], 'two-edits');
  assert.equal(FIELDS[F.given].levels[3], 'two-edits');
  assert.equal(compareFamily('Taylor', 'Tarlo'), 3);
  assert.equal(compareFamily('Brown', 'orBw'), 3);
  assert.equal(compareFamily('Taylor', 'Tailor'), 1); // one slip stays close
  assert.equal(compareFamily('Reid', 'Reade'), 2); // Soundex first
  assert.equal(compareGiven('Millie', 'Mliie'), 3); // before the same-initial level
  assert.equal(compareGiven('Ethan', 'Etnah'), 3); // Jaro–Winkler 0.79: keyed out of order
  assert.equal(compareGiven('Edward', 'ddwaE'), 3);
  assert.equal(compareGiven('Harriet', 'Hannah'), 4); // same initial only
  // A swap is still taken only when both crossed names are close or exact.
  assert.deepEqual(compareNames({ given: 'Smith', family: 'Jon' }, { given: 'John', family: 'Smith' }), [1, 0]);
  assert.deepEqual(compareNames({ given: 'Tihms', family: 'Jon' }, { given: 'John', family: 'Smith' }), [4, 5]); // a swap explained only by a jumble is not taken
});

test('the two-edits level is learnt from the data: strangers rarely reach it, so its u is small and a true pair gains', () => {
  // u from random pairs of a synthetic population with no true pairs: the level is rare.
  const rnd = mulberry32(7);
  const families = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Patel', 'Robinson', 'Wright', 'Thompson', 'Evans', 'Walker', 'White', 'Roberts', 'Green', 'Hall', 'Thomas', 'Clarke'];
  const givens = ['Oliver', 'George', 'Harry', 'Jack', 'Noah', 'Amelia', 'Olivia', 'Isla', 'Emily', 'Ava', 'Thomas', 'James', 'Sophie', 'Grace', 'Lily', 'Charlie', 'Freddie', 'Mia', 'Ella', 'Jacob'];
  const people = Array.from({ length: 400 }, () => ({ family: families[Math.floor(rnd() * families.length)], given: givens[Math.floor(rnd() * givens.length)] }));
  let twoEdits = 0;
  let pairs = 0;
  for (let i = 0; i < people.length; i++)
    for (let j = i + 1; j < people.length; j++) {
      pairs++;
      if (compareFamily(people[i]!.family, people[j]!.family) === 3) twoEdits++;
    }
  assert.ok(twoEdits / pairs < 0.03, `${twoEdits} of ${pairs}`);
  // With a small u and a real m, the level weighs for a match, less than exact agreement.
  const p: MatchParameters = structuredClone(DEFAULT_PARAMETERS);
  const w = (level: number) => Math.log2(p.m[F.family]![level]! / p.u[F.family]![level]!);
  assert.ok(w(3) > 0 && w(3) < w(0));
  assert.ok(Math.log2(p.m[F.given]![3]! / p.u[F.given]![3]!) > Math.log2(p.m[F.given]![4]! / p.u[F.given]![4]!));
  for (const f of [F.family, F.given]) {
    close(p.m[f]!.reduce((a, b) => a + b, 0), 1);
    close(p.u[f]!.reduce((a, b) => a + b, 0), 1);
    assert.equal(p.m[f]!.length, FIELDS[f].levels.length);
  }
});

test('a town keyed out of order counts as close (Blotn / Bolton), never one of three letters, nor another town', () => {
  assert.equal(lettersJumbled('BLOTN', 'BOLTON'), true);
  assert.equal(lettersJumbled('OLDON', 'LONDON'), true);
  assert.equal(lettersJumbled('TANCHESME', 'MANCHESTER'), true); // out of order and the R dropped
  assert.equal(lettersJumbled('YRO', 'YORK'), false); // three letters
  assert.equal(lettersJumbled('LEEDS', 'SALE'), false);
  assert.equal(compareTown('Bolton', 'Blotn'), 1);
  assert.equal(compareTown('Bolton', 'Boston'), 1); // one slip: close already
  assert.equal(compareTown('Leeds', 'Salford'), 2);
  assert.equal(compareTown('Derby', 'Bradford'), 2);
});
