/**
 * NHS number checks. An NHS number is ten digits, the last a Modulus 11 check digit
 * (NHS Data Dictionary, "NHS Number"). Adapters keep numbers as sent; the MPI decides validity.
 */

const WEIGHTS = [10, 9, 8, 7, 6, 5, 4, 3, 2] as const;

/** Strips spaces and dashes; returns the ten digits, or null when it is not ten digits. */
export function normaliseNhsNumber(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  const digits = raw.replace(/[\s-]/g, '');
  return /^\d{10}$/.test(digits) ? digits : null;
}

/** The Modulus 11 check digit for nine digits, or null when the remainder makes it 10 (no valid number). */
export function nhsCheckDigit(firstNine: string): number | null {
  if (!/^\d{9}$/.test(firstNine)) throw new Error(`nhsCheckDigit needs nine digits, got "${firstNine}"`);
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(firstNine[i]) * WEIGHTS[i]!;
  const check = 11 - (sum % 11);
  if (check === 11) return 0;
  if (check === 10) return null;
  return check;
}

/** True when raw (spaces and dashes allowed) is ten digits whose last digit is the Modulus 11 check digit. */
export function isValidNhsNumber(raw: string | null | undefined): boolean {
  const n = normaliseNhsNumber(raw);
  if (!n) return false;
  const check = nhsCheckDigit(n.slice(0, 9));
  return check !== null && check === Number(n[9]);
}

/** The normalised number when valid, else null. */
export function validNhsNumber(raw: string | null | undefined): string | null {
  const n = normaliseNhsNumber(raw);
  return n && isValidNhsNumber(n) ? n : null;
}

/** Formats as people write it: "943 476 5919" (3-3-4). Returns the input unchanged when it is not ten digits. */
export function formatNhsNumber(raw: string): string {
  const n = normaliseNhsNumber(raw);
  return n ? `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}` : raw;
}
