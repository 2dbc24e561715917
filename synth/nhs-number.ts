/**
 * NHS numbers: Modulus 11 check digit and a generator confined to the synthetic test range
 * 999 000 0000 – 999 999 9999, so generated numbers can never belong to a real person.
 * https://www.datadictionary.nhs.uk/attributes/nhs_number.html
 */
import { hash32, type Random } from './random.ts';

// The Modulus 11 rule is the MPI's; the generator uses the same one so its numbers validate.
import { isValidNhsNumber, nhsCheckDigit } from '../mpi/nhs-number.ts';
export { isValidNhsNumber, nhsCheckDigit };

const RANGE = 1_000_000; // 999 followed by six free digits, then the check digit

/**
 * Hands out distinct valid NHS numbers in the 999 range, in a seed-dependent order.
 * An affine map (a·k + b) mod 10^6 with a coprime to 10^6 is a bijection, so no number repeats
 * until the range (about 909,000 usable numbers) is exhausted.
 */
export class NhsNumberAllocator {
  private k = 0;
  private readonly a: number;
  private readonly b: number;

  constructor(seed: number) {
    let a = (hash32(seed, 0x4e48) % RANGE) | 1;
    while (a % 5 === 0) a += 2;
    this.a = a;
    this.b = hash32(seed, 0x5331) % RANGE;
  }

  /** Moves past the first `count` numbers (a shard starting at person `count` gets the same numbers as a sequential run). */
  skip(count: number): this {
    for (let i = 0; i < count; i++) this.next();
    return this;
  }

  /** The next unused valid NHS number. */
  next(): string {
    for (;;) {
      if (this.k >= RANGE) throw new Error('the synthetic NHS number range (999…) is exhausted');
      // a·k + b < 10^12 < 2^53: exact in a double, no BigInt needed (this runs once per person).
      const n = (this.a * this.k++ + this.b) % RANGE;
      const first9 = '999' + String(n).padStart(6, '0');
      const check = nhsCheckDigit(first9);
      if (check !== null) return first9 + check;
    }
  }
}

/** A random valid NHS number in the synthetic range (may coincide with an allocated one). */
export function randomValidNhsNumber(rng: Random): string {
  for (;;) {
    const first9 = '999' + String(rng.int(0, RANGE - 1)).padStart(6, '0');
    const check = nhsCheckDigit(first9);
    if (check !== null) return first9 + check;
  }
}

/**
 * An NHS number as mis-keyed by a person: one digit changed (Modulus 11 always catches a single
 * changed digit, so the result is invalid); occasionally (10%) a wrong but valid number instead.
 */
export function mistypeNhsNumber(nhsNumber: string, rng: Random): string {
  if (rng.chance(0.1)) {
    for (;;) {
      const other = randomValidNhsNumber(rng);
      if (other !== nhsNumber) return other;
    }
  }
  const pos = rng.int(3, 9);
  const old = nhsNumber.charCodeAt(pos) - 48;
  const digit = (old + rng.int(1, 9)) % 10;
  return nhsNumber.slice(0, pos) + digit + nhsNumber.slice(pos + 1);
}
