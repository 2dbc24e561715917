/**
 * NHS numbers (NHS Data Dictionary, "NHS Number"): ten digits, the last a modulus 11 check
 * digit; shown to people as 3 3 4 (`943 476 5919`), as the NHS's own systems show it.
 */

/** The ten digits of an NHS number typed with or without spaces or hyphens, else null. */
export function nhsNumberDigits(text: string): string | null {
  const digits = text.replace(/[\s-]/g, '');
  return /^\d{10}$/.test(digits) ? digits : null;
}

/** True when the ten digits carry a correct modulus 11 check digit. */
export function isValidNhsNumber(digits: string): boolean {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return false;
  return (check === 11 ? 0 : check) === Number(digits[9]);
}

/** `9434765919` → `943 476 5919`; anything that is not ten digits is returned as it came. */
export function formatNhsNumber(value: string | null | undefined): string {
  if (!value) return '';
  const d = nhsNumberDigits(value);
  return d ? `${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}` : value;
}
