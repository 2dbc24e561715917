/**
 * The evidence for and against a review pair, for the person deciding it: the two identities
 * compared field by field exactly as the matcher compares them (fellegi-sunter.ts), each field's
 * agreement level and its weight log2(m/u) under the parameters the matcher last estimated, the
 * household cap when it applied, the total and the match probability, and what the matcher or a
 * feed said when it queued the pair (a conflict of NHS numbers, a feed instruction). Pure.
 */
import {
  compareIdentities,
  DEFAULT_PARAMETERS,
  F,
  FIELDS,
  fieldWeight,
  householdAgrees,
  matchProbability,
  matchWeight,
  contactWeight,
  emailNamesPerson,
  thresholds,
  type FieldName,
  type MatchIdentity,
  type MatchParameters,
} from './fellegi-sunter.ts';
import type { ReviewIdentity } from './merge.ts';

export type Verdict = 'for' | 'against' | 'none';

export interface FieldEvidence {
  field: FieldName;
  /** The agreement level (FIELDS' names, e.g. `exact`, `one-digit`, `disagree`), or `missing` when either side has no value. */
  level: string;
  /** log2(m/u) for that level (0 when missing): above 0 is evidence for one person, below 0 against. */
  weight: number;
  verdict: Verdict;
  /** This field counts in the household sum that the cap limits (family, birth date, postcode, address, town). */
  household: boolean;
}

export interface ReviewEvidence {
  fields: FieldEvidence[];
  /** The sum of the fields' weights, the household ones capped together when the cap applied. */
  total: number;
  probability: number;
  /** Weights at and above which the matcher links (match) or queues for review (possible). */
  thresholds: { match: number; possible: number };
  /** When the pair agrees on everything a household shares, those fields count at most `cap` together. */
  household: { applied: boolean; sum: number; cap: number | null };
  /** True when a shared email or phone was not counted: no given name or birth date agrees, nor does the email name the person beside a given name missing, mistyped or an initial, or the birth dates are more than ten years apart (families share them; fellegi-sunter.ts contactWeight, emailNamesPerson). */
  contactWithheld: boolean;
  /** The weight the pair had when it was queued (the parameters may have been re-estimated since). */
  queuedWeight: number;
  /** What the queue said against linking: `different valid NHS numbers`, `would join persons with different valid NHS numbers`, or a feed's conflict; null when nothing. */
  conflict: string | null;
  /** A feed's instruction that was unsafe to apply (HL7 A24/A40/A37, FHIR replaced-by), when a feed queued the pair. */
  feed: { kind: string; event: string | null; reason: string; survivor: string; retired: string } | null;
  /** Where the weights come from: the matcher's last estimate, or its defaults (the matcher has not run). */
  parameters: 'estimated' | 'defaults';
}

const HOUSEHOLD: readonly number[] = [F.family, F.birthDate, F.postcode, F.address, F.town];
/** A weight that cannot be represented (u = 0 for a level never seen among non-matches) is shown as this. */
const WEIGHT_LIMIT = 64;

/** The demographics the matcher compares: a valid NHS number only (an invalid one is no evidence). */
export function matchIdentityOf(i: ReviewIdentity): MatchIdentity {
  return {
    nhsNumber: i.nhsNumberValid ? i.nhsNumber : null,
    family: i.family,
    given: i.given,
    birthDate: i.birthDate,
    sex: i.sex,
    postcode: i.postcode,
    address: i.address,
    town: i.town,
    email: i.email,
    phone: i.phone,
    otherId: i.otherId,
  };
}

/** The evidence for a pair as the two identities stand now. `params` null: the matcher's defaults. */
export function reviewEvidence(a: ReviewIdentity, b: ReviewIdentity, review: { weight: number; detail: unknown }, params: MatchParameters | null): ReviewEvidence {
  const p = params ?? DEFAULT_PARAMETERS;
  const v = compareIdentities(matchIdentityOf(a), matchIdentityOf(b));
  const fields = FIELDS.map((f, i): FieldEvidence => {
    const level = v[i]!;
    const weight = bounded(fieldWeight(p, i, level));
    return { field: f.name, level: level < 0 ? 'missing' : f.levels[level]!, weight, verdict: level < 0 || weight === 0 ? 'none' : weight > 0 ? 'for' : 'against', household: HOUSEHOLD.includes(i) };
  });
  const sum = fields.filter((f) => f.household).reduce((t, f) => t + f.weight, 0);
  const cap = p.householdCap ?? null;
  const applied = cap !== null && householdAgrees(v) && sum > cap;
  const detail = (review.detail ?? {}) as { conflict?: unknown; origin?: unknown; kind?: unknown; event?: unknown; reason?: unknown; survivor?: unknown; retired?: unknown };
  const feed =
    detail.origin === 'feed'
      ? { kind: String(detail.kind ?? ''), event: typeof detail.event === 'string' ? detail.event : null, reason: String(detail.reason ?? ''), survivor: String(detail.survivor ?? ''), retired: String(detail.retired ?? '') }
      : null;
  const feedConflict = detail.conflict && typeof detail.conflict === 'object' ? feedConflictText(detail.conflict as { survivorNhsNumbers?: string[]; retiredNhsNumbers?: string[] }) : null;
  const named = emailNamesPerson(matchIdentityOf(a), matchIdentityOf(b), v[F.given]!, v[F.email]!);
  const total = bounded(matchWeight(p, v, 0, named));
  return {
    fields,
    total,
    probability: matchProbability(p, total),
    thresholds: thresholds(p),
    household: { applied, sum, cap },
    contactWithheld: contactWeight(p, v, named) < [F.email, F.phone].reduce((w, f) => w + fieldWeight(p, f, v[f]!), 0),
    queuedWeight: review.weight,
    conflict: typeof detail.conflict === 'string' ? detail.conflict : feedConflict,
    feed,
    parameters: params ? 'estimated' : 'defaults',
  };
}

function feedConflictText(c: { survivorNhsNumbers?: string[]; retiredNhsNumbers?: string[] }): string {
  return `different valid NHS numbers (${(c.survivorNhsNumbers ?? []).join(', ') || '?'} and ${(c.retiredNhsNumbers ?? []).join(', ') || '?'})`;
}

function bounded(w: number): number {
  if (Number.isNaN(w)) return 0;
  return Math.max(-WEIGHT_LIMIT, Math.min(WEIGHT_LIMIT, w));
}
