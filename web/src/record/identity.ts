/**
 * The identity view: which source records make up the person and where they disagree, in words
 * a clinician reads. The server lists each source record and the disagreements
 * (`GET /record/{id}/sources`); this says which cells to highlight and how to word them. A value
 * held by fewer sources than another is highlighted as differing; when two values tie, both are. Pure.
 */
import type { Disagreement, DisagreementField, SourceIdentity } from '../api/record.ts';
import { formatDate } from '../lib/dates.ts';
import { formatNhsNumber } from '../lib/nhs-number.ts';

export const FIELD_LABEL: Record<DisagreementField, string> = {
  family: 'Surname',
  given: 'Given name',
  birthDate: 'Date of birth',
  sex: 'Sex',
  nhsNumber: 'NHS number',
  postcode: 'Postcode',
  address: 'Address',
  practice: 'Registered practice',
  death: 'Death',
};

export const LINK_METHOD_LABEL: Record<string, string> = {
  'nhs-number': 'NHS number',
  probabilistic: 'Matched on demographics',
  manual: 'Linked by a person (MPI review)',
  'hl7-a40': 'Merged by the sending hospital (HL7 A40)',
  new: 'First record of this person',
  'feed-unlink': 'Unlinked by the sending system',
};

export const MATCH_STATUS_LABEL: Record<string, string> = {
  MATCH: 'Matched',
  POSSIBLE_MATCH: 'Possible match, waiting for review',
  NO_MATCH: 'Not matched',
  PENDING: 'Waiting for the matcher',
};

const SEX: Record<string, string> = { male: 'Male', m: 'Male', female: 'Female', f: 'Female', other: 'Other', unknown: 'Not known', u: 'Not known' };

/** A value as the identity table shows it. */
export function showValue(field: DisagreementField, value: string): string {
  switch (field) {
    case 'birthDate':
      return formatDate(value);
    case 'nhsNumber':
      return /^\d{10}$/.test(value) ? formatNhsNumber(value) : value;
    case 'sex':
      return SEX[value.toLowerCase()] ?? value;
    case 'death': {
      const m = /^died (\d{4}-\d{2}-\d{2})$/.exec(value);
      return m ? `Died ${formatDate(m[1])}` : value.charAt(0).toUpperCase() + value.slice(1);
    }
    default:
      return value;
  }
}

/** The fields on which this source's value differs from the value most sources hold. */
export function differingFields(disagreements: readonly Disagreement[], system: string): Set<DisagreementField> {
  const out = new Set<DisagreementField>();
  for (const d of disagreements) {
    const most = Math.max(...d.values.map((v) => v.sources.length));
    const majority = d.values.filter((v) => v.sources.length === most);
    const held = d.values.find((v) => v.sources.includes(system));
    if (held && (majority.length > 1 || !majority.includes(held))) out.add(d.field);
  }
  return out;
}

/** "Surname: SMITH (GP, hospital) · Smyth (social care)", each source named by `label`. */
export function describeDisagreement(d: Disagreement, label: (system: string) => string): string {
  return `${FIELD_LABEL[d.field]}: ${d.values.map((v) => `${showValue(d.field, v.value)} (${v.sources.map(label).join(', ')})`).join(' · ')}`;
}

/** What one source record says of a death, in words. */
export function deathText(d: SourceIdentity['death']): string {
  if (!d) return 'None recorded';
  if (d.status === 'alive') return 'Recorded as alive';
  return d.date ? `Died ${formatDate(d.date)}` : 'Deceased (no date)';
}

/** The person's name as one source holds it. */
export function identityName(i: Pick<SourceIdentity, 'given' | 'family'>): string {
  return [i.given, i.family ? i.family.toUpperCase() : null].filter(Boolean).join(' ') || 'Name not known';
}
