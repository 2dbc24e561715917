/**
 * The MPI review page's logic: both identities of a pair side by side (what agrees, what does
 * not), the matcher's evidence in words (each field's agreement level and weight, for or
 * against one person), and the decisions in words. Pure.
 */
import type { FieldEvidence, MatchField, ReviewEvidence, ReviewIdentity, ReviewStatus } from '../api/integration.ts';
import { formatDate } from '../lib/dates.ts';
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { sourceLabel } from '../record/sources.ts';

export interface SideBySideRow {
  label: string;
  left: string;
  right: string;
  /** true: the same; false: different; null: one side or both have nothing, or the row is context (source, id, link). */
  same: boolean | null;
}

const norm = (s: string | null | undefined) => (s ?? '').trim().toLowerCase().replace(/\s+/g, ' ');
const shown = (s: string | null | undefined) => (s && s.trim() ? s.trim() : 'Not known');
const nameOf = (i: ReviewIdentity) => [i.given, i.family ? i.family.toUpperCase() : null].filter(Boolean).join(' ') || 'Not known';
const SEX: Record<string, string> = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Not known' };

function row(label: string, a: string | null | undefined, b: string | null | undefined, show: (s: string | null | undefined) => string = shown): SideBySideRow {
  const same = !norm(a) || !norm(b) ? null : norm(a) === norm(b);
  return { label, left: show(a), right: show(b), same };
}

/** The two identities field by field: name, date of birth, sex, NHS number, postcode, address, practice, source and id. */
export function sideBySide(a: ReviewIdentity, b: ReviewIdentity): SideBySideRow[] {
  const nhs = (i: ReviewIdentity) => (i.nhsNumber ? `${formatNhsNumber(i.nhsNumber)}${i.nhsNumberValid ? '' : ' (not a valid NHS number)'}` : null);
  return [
    { ...row('Name', [a.given, a.family].filter(Boolean).join(' '), [b.given, b.family].filter(Boolean).join(' ')), left: nameOf(a), right: nameOf(b) },
    row('Date of birth', a.birthDate, b.birthDate, (s) => (s ? formatDate(s) : 'Not known')),
    row('Sex', a.sex, b.sex, (s) => (s ? SEX[s] ?? s : 'Not known')),
    row('NHS number', nhs(a), nhs(b)),
    row('Postcode', a.postcode, b.postcode),
    row('Address', [a.address, a.town].filter(Boolean).join(', '), [b.address, b.town].filter(Boolean).join(', ')),
    row('GP practice', a.practice, b.practice),
    row('Email', a.email, b.email),
    row('Phone', a.phone, b.phone),
    // Stored as kind|VALUE (mpi/fellegi-sunter.ts normaliseIdentifier): shown as "kind VALUE".
    row('Other identifiers', a.otherId?.replace(/\|/g, ' '), b.otherId?.replace(/\|/g, ' ')),
    // Where each record comes from and where it is linked now: context, not evidence.
    { label: 'Source', left: sourceLabel(a.system), right: sourceLabel(b.system), same: null },
    { label: 'Identifier in the source', left: a.id, right: b.id, same: null },
    { label: 'Linked now', left: linkWords(a), right: linkWords(b), same: null },
  ];
}

function linkWords(i: ReviewIdentity): string {
  if (!i.personId) return 'No longer exists';
  const status: Record<string, string> = { MATCH: 'matched', POSSIBLE_MATCH: 'possible match', NO_MATCH: 'no match', PENDING: 'waiting for the matcher' };
  return `Person ${i.personId.slice(0, 8)} (${status[i.matchStatus] ?? i.matchStatus})`;
}

export const FIELD_LABEL: Record<MatchField, string> = {
  nhs_number: 'NHS number',
  family: 'Family name',
  given: 'Given name',
  birth_date: 'Date of birth',
  sex: 'Sex',
  postcode: 'Postcode',
  address: 'Address',
  town: 'Town',
  email: 'Email',
  phone: 'Phone',
  other_id: 'Other identifier',
};

/** Agreement levels (mpi/fellegi-sunter.ts FIELDS) in words. */
const LEVEL_WORDS: Record<string, string> = {
  agree: 'The same',
  exact: 'The same',
  disagree: 'Different',
  missing: 'Missing on one side',
  'jaro-winkler': 'Nearly the same (a spelling slip)',
  soundex: 'Sounds the same',
  'two-edits': 'Two typing slips apart, or the same letters in another order',
  nickname: 'A familiar form of the name',
  initial: 'Only an initial agrees',
  'day-month-swapped': 'Day and month swapped',
  'one-digit': 'One digit different',
  'one-year': 'One year apart',
  'year-month': 'Same year and month, different day',
  'within-a-year': 'Within a year of each other',
  fuzzy: 'Similar (two characters or fewer different)',
  'one-edit': 'One character different',
  district: 'Same postcode district',
  close: 'Nearly the same',
  street: 'Same street, different house',
};

export function levelWords(level: string): string {
  return LEVEL_WORDS[level] ?? level;
}

/** `+8.2`, `−12.0`, `0`. */
export function weightText(w: number): string {
  if (Math.abs(w) < 0.05) return '0';
  return `${w > 0 ? '+' : '−'}${Math.abs(w).toFixed(1)}`;
}

/** `90%`, `more than 99.9%`, `less than 0.1%`. */
export function probabilityText(p: number): string {
  if (p >= 0.9995) return 'more than 99.9%';
  if (p < 0.0005) return 'less than 0.1%';
  return `${p >= 0.1 ? Math.round(p * 100) : (p * 100).toFixed(1)}%`;
}

export interface EvidenceRow {
  label: string;
  words: string;
  weight: string;
  verdict: FieldEvidence['verdict'];
}

/** The evidence rows, and those for and those against, strongest first. */
export function evidenceRows(e: ReviewEvidence): { rows: EvidenceRow[]; forOne: EvidenceRow[]; against: EvidenceRow[] } {
  const rows = e.fields.map((f) => ({ label: FIELD_LABEL[f.field] ?? f.field, words: levelWords(f.level), weight: weightText(f.weight), verdict: f.verdict, w: f.weight }));
  const strip = ({ w: _w, ...r }: EvidenceRow & { w: number }): EvidenceRow => r;
  return {
    rows: rows.map(strip),
    forOne: rows.filter((r) => r.verdict === 'for').sort((x, y) => y.w - x.w).map(strip),
    against: rows.filter((r) => r.verdict === 'against').sort((x, y) => x.w - y.w).map(strip),
  };
}

/** What the matcher would do with the pair's weight now. */
export function matcherWouldSay(e: ReviewEvidence): string {
  if (e.total >= e.thresholds.match) return 'strong enough to link without review';
  if (e.total >= e.thresholds.possible) return 'unsure: a person decides';
  return 'too weak to link';
}

/** True when a link needs the person's explicit say-so (the two carry different valid NHS numbers). */
export function needsNhsOverride(e: ReviewEvidence): boolean {
  return /different valid NHS numbers/i.test(e.conflict ?? '');
}

export const STATUS_WORDS: Record<ReviewStatus, string> = {
  open: 'Waiting for a decision',
  linked: 'Linked: one person',
  rejected: 'Rejected: two people',
  dismissed: 'Dismissed: closed with no change',
};

export const REVIEW_STATUS_CHOICES: readonly { value: ReviewStatus; label: string }[] = [
  { value: 'open', label: 'Waiting' },
  { value: 'linked', label: 'Linked' },
  { value: 'rejected', label: 'Rejected' },
  { value: 'dismissed', label: 'Dismissed' },
];

/** The next open pair after this one in the queue, or the first when it is the last. */
export function nextInQueue(ids: readonly number[], current: number): number | null {
  const others = ids.filter((id) => id !== current);
  if (!others.length) return null;
  const i = ids.indexOf(current);
  return i >= 0 && i + 1 < ids.length ? ids[i + 1]! : others[0]!;
}
