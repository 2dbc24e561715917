/**
 * Community services and social care extracts as CSV with exactly the contract's columns
 * (docs/feeds.md, "CSV"). Community dates are UK style (DD/MM/YYYY), social care ISO, as the
 * contract allows both.
 */
import procedureData from './codes/procedures.json' with { type: 'json' };
import { isoDate, ukDate } from './dates.ts';
import type { Demographics } from './identity.ts';
import type { CarePackage, CommunityContact, Person, SocialCareAssessment } from './population.ts';
import type { Random } from './random.ts';

export const COMMUNITY_COLUMNS = ['contact_id', 'client_id', 'nhs_number', 'family_name', 'given_name', 'date_of_birth', 'sex', 'postcode', 'gp_practice', 'contact_date', 'service', 'team', 'contact_type', 'snomed_code', 'snomed_display', 'duration_minutes', 'staff_role'] as const;
export const ASSESSMENT_COLUMNS = ['assessment_id', 'person_id', 'nhs_number', 'family_name', 'given_name', 'date_of_birth', 'sex', 'postcode', 'assessment_date', 'assessment_type', 'outcome', 'snomed_code', 'snomed_display', 'worker_team'] as const;
export const PACKAGE_COLUMNS = ['package_id', 'person_id', 'nhs_number', 'family_name', 'given_name', 'date_of_birth', 'sex', 'postcode', 'service_type', 'start_date', 'end_date', 'hours_per_week', 'weekly_cost', 'provider'] as const;

/** One RFC 4180 line (CRLF-terminated), quoting fields that need it. */
export function csvLine(fields: readonly (string | number)[]): string {
  let s = '';
  for (let i = 0; i < fields.length; i++) {
    const v = String(fields[i]);
    if (i) s += ',';
    s += /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  }
  return s + '\r\n';
}

const ukDob = (iso: string) => (iso ? `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}` : '');

/** Community contact rows for one client. */
export function communityRows(person: Person, clientId: string, d: Demographics, contacts: CommunityContact[], rng: Random): string {
  let out = '';
  const sorted = [...contacts].sort((a, b) => a.day - b.day || a.minute - b.minute);
  sorted.forEach((c, i) => {
    const svc = procedureData.community[c.serviceIndex]!;
    const minutes = rng.int(svc.minutes[0]!, svc.minutes[1]!);
    out += csvLine([
      `${clientId}-${String(i + 1).padStart(4, '0')}`, clientId, d.nhsNumber, d.family, d.given, ukDob(d.birthDate), d.sex === 'male' ? 'M' : 'F',
      d.address.postcode, person.practice.ods, ukDate(c.day), svc.service, `${person.neighbourhood.name} ${svc.service}`, c.contactType,
      svc.code, svc.display, c.contactType === 'Telephone' ? Math.min(minutes, 15) : minutes, svc.staffRole,
    ]);
  });
  return out;
}

/** Social care assessment rows for one person. */
export function assessmentRows(person: Person, personId: string, d: Demographics, assessments: SocialCareAssessment[]): string {
  const code = procedureData.socialCareAssessment;
  let out = '';
  assessments.forEach((a, i) => {
    out += csvLine([
      `${personId}-A${i + 1}`, personId, d.nhsNumber, d.family, d.given, d.birthDate, d.sex, d.address.postcode, isoDate(a.day), a.type, a.outcome,
      code.code, code.display, `${person.neighbourhood.name} Adult Social Care`,
    ]);
  });
  return out;
}

/** Social care package rows for one person. */
export function packageRows(personId: string, d: Demographics, packages: CarePackage[]): string {
  let out = '';
  packages.forEach((p, i) => {
    out += csvLine([
      `${personId}-P${i + 1}`, personId, d.nhsNumber, d.family, d.given, d.birthDate, d.sex, d.address.postcode, p.serviceType, isoDate(p.start),
      p.end !== undefined ? isoDate(p.end) : '', p.hoursPerWeek, p.weeklyCost.toFixed(2), p.provider,
    ]);
  });
  return out;
}
