import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  oneSlipApart, compareBirthDate, compareFamily, compareGiven, compareIdentities, compareNhsNumber, comparePostcode, compareSex, countPatterns, decide,
  DEFAULT_PARAMETERS, estimateParameters, estimateU, FIELDS, jaroWinkler, matchProbability, matchWeight, normalisePostcode, soundex, thresholds,
  type ComparisonVector, type MatchParameters,
} from './fellegi-sunter.ts';

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
  assert.equal(compareFamily('Smith', 'Patel'), 3);
  assert.equal(compareFamily('', 'Patel'), -1);

  assert.equal(compareGiven('John', 'JOHN'), 0);
  assert.equal(compareGiven('Mary Ann', 'Mary'), 0);
  assert.equal(compareGiven('Jonathon', 'Jonathan'), 1);
  assert.equal(compareGiven('Ina', 'Ian'), 1);
  assert.equal(compareGiven('Bill', 'William'), 2);
  assert.equal(compareGiven('Jack', 'John'), 2);
  assert.equal(compareGiven('J', 'John'), 3);
  assert.equal(compareGiven('Jane', 'John'), 3);
  assert.equal(compareGiven('Peter', 'John'), 4);
  assert.equal(compareGiven(undefined, 'John'), -1);

  assert.equal(compareBirthDate('1950-03-01', '1950-03-01'), 0);
  assert.equal(compareBirthDate('1950-03-01', '1950-01-03'), 1);
  assert.equal(compareBirthDate('1950-03-01', '1950-03-21'), 2);
  assert.equal(compareBirthDate('1950-03-01', '1958-03-01'), 3);
  assert.equal(compareBirthDate('1950-03-01', '1951-04-01'), 4);
  assert.equal(compareBirthDate('1950-03-01', null), -1);

  assert.equal(compareSex('male', 'male'), 0);
  assert.equal(compareSex('male', 'female'), 1);
  assert.equal(compareSex('male', 'unknown'), -1);

  assert.equal(comparePostcode('M14 5AB', 'm145ab'), 0);
  assert.equal(comparePostcode('M14 5AB', 'M14 6XY'), 1);
  assert.equal(comparePostcode('M14 5AB', 'M1 4AB'), 2);
  assert.equal(comparePostcode('', 'M1 4AB'), -1);
  assert.equal(normalisePostcode(' m145ab'), 'M14 5AB');

  assert.deepEqual(
    compareIdentities(
      { nhsNumber: null, family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
      { nhsNumber: '9434765919', family: 'Thomson', given: 'Ann', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
    ),
    [-1, 1, 1, 0, 0, 0],
  );
});

test('weights, probability and decisions', () => {
  const p = DEFAULT_PARAMETERS;
  const t = thresholds(p);
  // A misspelt family name with everything else agreeing is a match; a same-birthday stranger is not.
  const typo: ComparisonVector = [-1, 1, 0, 0, 0, 0];
  const stranger: ComparisonVector = [-1, 3, 4, 0, 1, 2];
  assert.equal(decide(matchWeight(p, typo), t), 'MATCH');
  assert.equal(decide(matchWeight(p, stranger), t), 'NO_MATCH');
  assert.ok(matchProbability(p, t.match) > 0.989 && matchProbability(p, t.match) < 0.991);
  close(matchProbability(p, t.possible), 0.5);
  assert.equal(matchWeight(p, [-1, -1, -1, -1, -1, -1]), 0);
});

/** A seeded PRNG (mulberry32) so the synthetic pairs are the same every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
    m: [[0.95, 0.05], [0.8, 0.1, 0.05, 0.05], [0.7, 0.1, 0.05, 0.1, 0.05], [0.85, 0.03, 0.05, 0.05, 0.02], [0.97, 0.03], [0.7, 0.15, 0.15]],
    u: [[0.01, 0.99], [0.05, 0.03, 0.07, 0.85], [0.04, 0.02, 0.01, 0.1, 0.83], [0.3, 0.01, 0.1, 0.09, 0.5], [0.5, 0.5], [0.05, 0.2, 0.75]],
    lambda: 0.2,
  };
  const r = rng(42);
  const vectors: ComparisonVector[] = [];
  for (let i = 0; i < 40000; i++) {
    const match = r() < truth.lambda;
    vectors.push(FIELDS.map((_, f) => {
      if (f === 0 && r() < 0.6) return -1; // NHS number often missing
      return draw(r, (match ? truth.m : truth.u)[f]!);
    }));
  }
  const em = estimateParameters(countPatterns(vectors));
  assert.equal(em.estimated, true);
  close(em.parameters.lambda, truth.lambda, 0.02);
  for (let f = 0; f < FIELDS.length; f++) {
    for (let l = 0; l < FIELDS[f]!.levels.length; l++) {
      close(em.parameters.m[f]![l]!, truth.m[f]![l]!, 0.03);
      close(em.parameters.u[f]![l]!, truth.u[f]![l]!, 0.03);
    }
  }
});

test('EM keeps its starting point when there are too few pairs', () => {
  const em = estimateParameters(countPatterns([[0, 0, 0, 0, 0, 0]]));
  assert.equal(em.estimated, false);
  assert.deepEqual(em.parameters, DEFAULT_PARAMETERS);
});

test('u from random pairs is the level frequency, smoothed', () => {
  const vectors: ComparisonVector[] = [];
  for (let i = 0; i < 1000; i++) vectors.push([-1, i < 10 ? 0 : 3, 4, 4, i % 2, 2]);
  const u = estimateU(countPatterns(vectors));
  close(u[1]![0]!, 10 / 1000, 0.001);
  close(u[4]![0]!, 0.5, 0.001);
  assert.ok(u[3]![0]! > 0 && u[3]![0]! < 0.001); // unseen level: small, not zero
  assert.deepEqual(u[0], DEFAULT_PARAMETERS.u[0]); // no NHS comparisons at all: the prior
});
