/**
 * The residents of a locality, one at a time: each person and their simulated history, and right
 * after a mother, the babies she had in the window (new people with new NHS numbers, registered
 * at her practice). Streaming keeps memory flat at borough scale; the order and every random
 * stream depend only on the seed, the size and the end date.
 */
import type { Locality } from './locality.ts';
import type { NhsNumberAllocator } from './nhs-number.ts';
import { CONDITIONS, createPerson, simulateHistory, type History, type Newborn, type Person, type SimWindow } from './population.ts';
import { Random } from './random.ts';
import { addYears, ymd } from './dates.ts';
import { lookAlike } from './identity.ts';

export interface Resident {
  index: number;
  person: Person;
  history: History;
}

/**
 * People are made in shards of SHARD_SIZE consecutive indices that depend on nothing outside the
 * shard (a mother's babies and a look-alike's original come from her own shard), so that shards
 * can be generated on several threads and still give the same output for a seed.
 */
export const SHARD_SIZE = 500;

/**
 * Yields residents `from` to `to - 1` (default all `people`): people sampled from the age
 * structure, and the babies born to them. `nhs` must stand at `from` (NhsNumberAllocator.skip).
 * Babies still owed when a shard ends are not born into the next one.
 */
export function* residents(people: number, seed: number, window: SimWindow, locality: Locality, nhs: NhsNumberAllocator, from = 0, to = people): Generator<Resident> {
  const babies: Newborn[] = [];
  const lastBornIn = new Map<number, Person>(); // birth year → the latest adult born then (for look-alikes)
  for (let index = from; index < to; index++) {
    if (index % SHARD_SIZE === 0) {
      babies.length = 0;
      lastBornIn.clear();
    }
    const born = babies.shift();
    let person = born
      ? createPerson(new Random(seed, index, 7), index, nhs.next(), locality, window, born)
      : createPerson(new Random(seed, index, 1), index, nhs.next(), locality, window);
    if (!born) {
      const year = ymd(person.birthDay)[0];
      const looks = lookAlike(person, lastBornIn.get(year), new Random(seed, index, 8));
      if (looks === person) lastBornIn.set(year, person);
      // A look-alike takes the earlier person's birthday; a condition that would then start before
      // its minimum age (codes/conditions.json) cannot happen, so that person stays as made.
      else if (conditionsFitBirthday(looks)) person = looks;
    }
    const history = simulateHistory(person, new Random(seed, index, 2), window, locality);
    for (const day of history.births) babies.push({ mother: person, day });
    yield { index, person, history };
  }
}

/** Whether every condition of the person starts at or after its minimum age. */
function conditionsFitBirthday(person: Person): boolean {
  for (const c of CONDITIONS) {
    const onset = person.conditions[c.key];
    if (onset !== undefined && onset < addYears(person.birthDay, c.minAge)) return false;
  }
  return true;
}
