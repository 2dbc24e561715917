/**
 * What a person typed into "Find a person", as FHIR Patient search parameters
 * (https://hl7.org/fhir/R4/patient.html#search): an NHS number (with or without spaces) is an
 * identifier search; otherwise each word is a name (all must match), a date of birth
 * (dd/mm/yyyy, d/m/yyyy, dd-mm-yyyy or yyyy-mm-dd) is `birthdate`, and a UK postcode (whole, or
 * its outward code such as `M33`) is `address-postalcode`. Pure.
 */
import { isValidNhsNumber, nhsNumberDigits } from './nhs-number.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';

export type SearchInput =
  | { kind: 'search'; params: [string, string][]; described: string[] }
  | { kind: 'invalid'; message: string };

// UK postcode: outward code (area, district) then an optional inward code (sector digit, unit letters).
const OUTWARD = /^[A-Z]{1,2}\d[A-Z\d]?$/;
const INWARD = /^\d[A-Z]{2}$/;
const FULL = /^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$/;

/** Parses the search text; never throws. */
export function parseSearchInput(text: string): SearchInput {
  const trimmed = text.trim();
  if (!trimmed) return { kind: 'invalid', message: 'Enter an NHS number, a name, a date of birth or a postcode' };
  const nhs = nhsNumberDigits(trimmed);
  if (nhs) {
    if (!isValidNhsNumber(nhs)) return { kind: 'invalid', message: `${trimmed} is not a valid NHS number: check the digits` };
    return { kind: 'search', params: [['identifier', `${NHS_NUMBER_SYSTEM}|${nhs}`]], described: [`NHS number ${nhs.slice(0, 3)} ${nhs.slice(3, 6)} ${nhs.slice(6)}`] };
  }
  const params: [string, string][] = [];
  const described: string[] = [];
  const words = trimmed.split(/[\s,]+/).filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const up = w.toUpperCase();
    const date = parseDate(w);
    if (date === 'invalid') return { kind: 'invalid', message: `${w} is not a real date: enter a date of birth as 12/03/1950 or 1950-03-12` };
    if (date) {
      params.push(['birthdate', date]);
      described.push(`born ${date}`);
      continue;
    }
    const full = FULL.exec(up);
    if (full) {
      params.push(['address-postalcode', `${full[1]} ${full[2]}`]);
      described.push(`postcode ${full[1]} ${full[2]}`);
      continue;
    }
    if (OUTWARD.test(up)) {
      const next = words[i + 1]?.toUpperCase();
      if (next && INWARD.test(next)) {
        params.push(['address-postalcode', `${up} ${next}`]);
        described.push(`postcode ${up} ${next}`);
        i++;
      } else {
        params.push(['address-postalcode', up]);
        described.push(`postcode starting ${up}`);
      }
      continue;
    }
    if (/\d/.test(w)) return { kind: 'invalid', message: `${w} is not an NHS number, a date of birth or a postcode` };
    const name = w.replace(/[^\p{L}'’-]/gu, '');
    if (name.length < 2) continue;
    params.push(['name', name]);
    described.push(`name ${name}`);
  }
  if (!params.length) return { kind: 'invalid', message: 'Enter at least two letters of a name, or an NHS number, date of birth or postcode' };
  if (params.every(([k]) => k === 'address-postalcode') && params.every(([, v]) => !v.includes(' '))) {
    return { kind: 'invalid', message: 'A postcode district alone matches too many people: add a name or a date of birth, or give the whole postcode' };
  }
  return { kind: 'search', params, described };
}

/** A date of birth typed the British or the ISO way → YYYY-MM-DD; 'invalid' for a date that does not exist; null when not a date. */
export function parseDate(w: string): string | 'invalid' | null {
  let y: number, m: number, d: number;
  let match = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(w);
  if (match) [d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
  else if ((match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(w))) [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  else return null;
  const t = new Date(Date.UTC(y, m - 1, d));
  if (m < 1 || m > 12 || t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) return 'invalid';
  return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}
