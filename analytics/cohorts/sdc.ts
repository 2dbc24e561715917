// Statistical disclosure control for figures that leave the system for secondary use, as NHS
// England publishes them: a count from 1 to 7 is suppressed (shown as "*"), every other count is
// rounded to the nearest 5. Zero stays zero only when told so: NHS Digital's rule suppresses
// small non-zero counts, and a true zero discloses nothing about a person.

export const SUPPRESS_BELOW = 8;
export const ROUND_TO = 5;

/** A count after disclosure control: a number (rounded) or null (suppressed). */
export type ControlledCount = number | null;

/** Suppresses 1–7 and rounds the rest to the nearest 5 (12 → 10, 13 → 15). */
export function disclosureControl(count: number): ControlledCount {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`a count is a whole number from 0, got ${count}`);
  if (count === 0) return 0;
  if (count < SUPPRESS_BELOW) return null;
  return Math.round(count / ROUND_TO) * ROUND_TO;
}

/** Money or activity totals built from people: suppressed when the people behind them are fewer than 8, else rounded to the nearest 5 units. */
export function controlledTotal(total: number, people: number): number | null {
  if (people > 0 && people < SUPPRESS_BELOW) return null;
  return Math.round(total / ROUND_TO) * ROUND_TO;
}

/** How a controlled count is printed: "*" when suppressed. */
export function showControlled(c: ControlledCount): string {
  return c === null ? '*' : String(c);
}
