/**
 * The mental health trust's community extract (docs/feeds.md, "Mental health trust"): one CSV
 * row per contact with a community team, with the care programme approach (CPA) status and the
 * care coordinator at the time, and the trust's own identity noise. Its inpatient stays go out
 * as HL7 v2 ADT from the trust's PAS (hl7.ts, facility RXV).
 */
import { ukDate } from './dates.ts';
import { csvLine } from './csv.ts';
import { distinctNumber, type Demographics, type NoiseRates } from './identity.ts';
import type { MentalHealthContact, Person } from './population.ts';
import { hash32, type Random } from './random.ts';

export const MENTAL_HEALTH_CONTACT_COLUMNS = [
  'contact_id', 'client_id', 'nhs_number', 'family_name', 'given_name', 'date_of_birth', 'sex', 'postcode', 'gp_practice',
  'contact_date', 'team', 'service_line', 'contact_type', 'cpa_status', 'care_coordinator', 'care_coordinator_role', 'duration_minutes',
] as const;

/**
 * Error rates of a mental health trust's records: the NHS number is usually traced (referrals come
 * from the GP), but people are often known by a preferred name and an old address.
 */
export const MENTAL_HEALTH_NOISE: NoiseRates = { typo: 0.02, dobSwap: 0.01, wrongNhs: 0.004, missingNhs: 0.04, nickname: 0.05, oldSurname: 0.3, oldAddress: 0.45 };

/** The trust's client id (the same in its PAS and its community system). */
export function mentalHealthClientId(index: number, seed: number): string {
  return 'MH' + distinctNumber(index, 7, hash32(seed, 0x3d));
}

/** Community mental health contact rows for one client, in date order. */
export function mentalHealthContactRows(person: Person, clientId: string, d: Demographics, contacts: MentalHealthContact[], rng: Random): string {
  let out = '';
  const sorted = [...contacts].sort((a, b) => a.day - b.day || a.minute - b.minute);
  sorted.forEach((c, i) => {
    const minutes = c.contactType === 'Telephone' ? rng.int(10, 30) : rng.int(30, 75);
    out += csvLine([
      `${clientId}-C${String(i + 1).padStart(4, '0')}`, clientId, d.nhsNumber, d.family, d.given, ukDob(d.birthDate), d.sex === 'male' ? 'M' : 'F',
      d.address.postcode, person.practice.ods, ukDate(c.day), c.team, c.serviceLine, c.contactType, c.cpa ? 'CPA' : 'Non-CPA',
      c.coordinator, c.coordinatorRole, minutes,
    ]);
  });
  return out;
}

const ukDob = (iso: string) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`;
