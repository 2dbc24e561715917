import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoDate } from './dates.ts';
import { buildLocality } from './locality.ts';
import { createPerson, simulationWindow } from './population.ts';
import { Random } from './random.ts';
import { lookAlike, noisyDemographics, NOISE, transposeOnce, type NoiseRates } from './identity.ts';

const window = simulationWindow('2025-12-31');
const locality = buildLocality();
const people = Array.from({ length: 400 }, (_, i) => createPerson(new Random(5, i, 1), i, `900000${String(i).padStart(4, '0')}`, locality, window));

test('each kind of identity noise happens, at about its rate', () => {
  const rates: NoiseRates = { ...NOISE.gp, missingDob: 0.1, missingGiven: 0.1, changedGiven: 0.5, swappedNames: 0.1, postcodeTransposed: 0.1, yearError: 0.1 };
  const seen = { missingDob: 0, missingGiven: 0, changedGiven: 0, swapped: 0, postcode: 0, year: 0 };
  let n = 0;
  for (let k = 0; k < 10; k++) {
    for (const p of people) {
      const d = noisyDemographics(p, new Random(9, p.index, k), rates, window.end);
      n++;
      if (!d.birthDate) seen.missingDob++;
      else if (Math.abs(Number(d.birthDate.slice(0, 4)) - Number(isoDate(p.birthDay).slice(0, 4))) === 1) seen.year++;
      if (!d.given) seen.missingGiven++;
      else if (p.middle && d.given === p.middle) seen.changedGiven++;
      if (d.given === p.family && d.family === p.given) seen.swapped++;
      if (d.address.postcode !== p.address.postcode && d.address.postcode.replace(/\s/g, '').split('').sort().join('') === p.address.postcode.replace(/\s/g, '').split('').sort().join('')) seen.postcode++;
    }
  }
  for (const [k, v] of Object.entries(seen)) assert.ok(v > n * 0.02, `${k}: ${v} of ${n}`);
  assert.ok(seen.missingDob < n * 0.15 && seen.postcode < n * 0.15);
});

test('systems without the new kinds keep a full date of birth and given name', () => {
  for (const p of people) {
    const d = noisyDemographics(p, new Random(9, p.index, 0), NOISE.gp, window.end);
    assert.ok(d.birthDate && d.given);
  }
});

test('transposed postcode characters never move the space', () => {
  const r = new Random(1, 2, 3);
  for (let i = 0; i < 50; i++) {
    const t = transposeOnce('M14 5AB', r);
    assert.notEqual(t, 'M14 5AB');
    assert.equal(t.indexOf(' '), 3);
  }
});

test('look-alikes: twins share family, date of birth and home with their own given name; namesakes are one letter apart', () => {
  let twins = 0;
  let namesakes = 0;
  for (let i = 1; i < people.length; i++) {
    const earlier = people[i - 1]!;
    const p = lookAlike(people[i]!, earlier, new Random(3, i, 8));
    if (p === people[i]) continue;
    assert.equal(p.family, earlier.family);
    assert.equal(p.birthDay, earlier.birthDay);
    assert.deepEqual(p.address, earlier.address);
    assert.notEqual(p.nhsNumber, earlier.nhsNumber);
    if (p.sex === earlier.sex && p.given !== earlier.given && Math.abs(p.given.length - earlier.given.length) <= 1 && p.given[0] === earlier.given[0]) namesakes++;
    else twins++;
  }
  assert.ok(twins + namesakes >= 1);
  assert.equal(lookAlike(people[1]!, undefined, new Random(1)), people[1]);
});
