/**
 * The MPI review queue behind the access layer, for the integration team's screens (HTTP
 * `/mpi/review`): the queue, one pair with both identities side by side and the evidence for
 * and against, a decision (link, reject, dismiss) and its undo. The use cases are merge.ts's
 * (`decideReviewIn`, `undoReviewDecisionIn`, the ones `bevan mpi decide|unmerge` run); this file
 * adds the decision point (access/policy.ts, action `mpi-review`: the integration team's role,
 * for administration) and the audit entries, written in the same transaction as what they record:
 *
 * - the queue (`mpi.review.list`): no personal data (review ids, source systems, weights), one
 *   entry for the call; a pair whose person is restricted is marked withheld.
 * - one pair (`mpi.review.read`): both identities, one entry per person the pair is in.
 * - decide and undo (`mpi.review.decide`, `mpi.review.undo`): one entry per person, committed with
 *   the change; a request the MPI refuses (the identities moved, different NHS numbers, already
 *   decided) changes nothing and is audited with the refusal.
 *
 * A pair is withheld (refused, audited) when a person it is in is restricted, as on every path.
 */
import { appendAuditBatch, type AuditEntry } from '../access/audit.ts';
import { BevanError, invalid, type RequestContext } from '../access/context.ts';
import { getPerson, type PersonView } from './person-view.ts';
import { auditEntry, decideForPerson, finishOutcome, type Outcome } from '../access/person-decision.ts';
import { currentPolicy, decide, type Decision, type Policy } from '../access/policy.ts';
import type { Queryable } from '../db/database.ts';
import { readMatchParameters } from './matcher.ts';
import {
  countReviews,
  decideReviewIn,
  decisionEventOf,
  eventPersons,
  mergePersonsIn,
  unmergeEventIn,
  getReview,
  listReviews,
  MpiRequestError,
  REVIEW_STATUSES,
  undoReviewDecisionIn,
  type MergeOptions,
  type Review,
  type ReviewDecision,
  type ReviewIdentity,
  type ReviewStatus,
  type ReviewUndo,
} from './merge.ts';
import { reviewEvidence, type ReviewEvidence } from './review-evidence.ts';

export const MAX_REVIEW_PAGE = 200;
export type ReviewChoice = 'link' | 'reject' | 'dismiss';
export type { ReviewIdentity };
export const REVIEW_CHOICES: readonly ReviewChoice[] = ['link', 'reject', 'dismiss'];

/** One pair in the queue: what it is about without who (no personal data). */
export interface ReviewQueueItem {
  reviewId: number;
  status: ReviewStatus;
  origin: 'matcher' | 'feed';
  /** The weight and match probability when queued. */
  weight: number;
  probability: number | null;
  /** Against linking, as queued: different valid NHS numbers, or a feed's conflict. */
  conflict: string | null;
  /** The source systems of the two identities. */
  systems: [string, string];
  /** An identity has moved since the pair was queued: a link or reject is refused (dismiss it). */
  moved: boolean;
  /** A person the pair is in is restricted: it cannot be opened. */
  withheld: boolean;
  createdAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
}

export interface ReviewQueuePage {
  status: ReviewStatus;
  total: number;
  offset: number;
  limit: number;
  items: ReviewQueueItem[];
}

/** One pair side by side, with the evidence. */
export interface ReviewPairView {
  reviewId: number;
  status: ReviewStatus;
  origin: 'matcher' | 'feed';
  createdAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  moved: boolean;
  identity: ReviewIdentity;
  candidate: ReviewIdentity;
  evidence: ReviewEvidence;
  /** The event that carried out the decision and still stands (what an undo undoes); null when open or when the decision changed nothing. */
  decisionEventId: number | null;
}

/** The queue, a page at a time: open pairs strongest first (feed proposals before them), decided ones latest first. */
export async function listReviewQueueFor(ctx: RequestContext, f: { status?: ReviewStatus; limit?: number; offset?: number } = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<ReviewQueuePage> {
  const status = f.status ?? 'open';
  const limit = f.limit ?? 20;
  const offset = f.offset ?? 0;
  if (!REVIEW_STATUSES.includes(status)) throw invalid(`status must be one of ${REVIEW_STATUSES.join(', ')}`);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REVIEW_PAGE) throw invalid(`limit must be a whole number from 1 to ${MAX_REVIEW_PAGE}`);
  if (!Number.isInteger(offset) || offset < 0) throw invalid('offset must be a whole number, 0 or more');
  const filter = { status, limit, offset };
  const out = await ctx.db.transaction(async (tx): Promise<Outcome<ReviewQueuePage>> => {
    const gate = decide(policy, { action: 'mpi-review', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (gate.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'mpi.review.list', { decision: 'deny', reason: gate.reason, detail: { filter } })], now);
      return { kind: 'forbidden', message: `access denied: ${gate.reason}` };
    }
    const [total, reviews] = await Promise.all([countReviews(tx, status), listReviews(tx, { status, limit, offset })]);
    const items: ReviewQueueItem[] = [];
    for (const r of reviews) {
      const judged = await judgePair(tx, ctx, policy, r, now);
      items.push(queueItem(r, judged.decision.kind === 'deny'));
    }
    await appendAuditBatch(
      tx,
      [auditEntry(ctx, 'mpi.review.list', { decision: 'permit', reason: gate.reason, detail: { filter, total, ids: items.map((i) => i.reviewId), withheld: items.filter((i) => i.withheld).length } })],
      now,
    );
    return { kind: 'ok', value: { status, total, offset, limit, items } };
  });
  return finishOutcome(out);
}

/** One pair with both identities and the evidence; audited per person (refused for a restricted person). */
export async function showReviewFor(ctx: RequestContext, reviewId: number, policy: Policy | null = currentPolicy(), now = new Date()): Promise<ReviewPairView> {
  checkId(reviewId);
  const out = await ctx.db.transaction(async (tx): Promise<Outcome<ReviewPairView>> => {
    const opened = await openPair(tx, ctx, policy, reviewId, 'mpi.review.read', { id: reviewId }, now);
    if (opened.kind !== 'ok') return opened;
    const { review, entries } = opened.value;
    const [params, decisionEventId] = await Promise.all([readMatchParameters(tx), review.status === 'open' ? Promise.resolve(null) : decisionEventOf(tx, reviewId)]);
    await appendAuditBatch(tx, entries, now);
    return {
      kind: 'ok',
      value: {
        reviewId,
        // The table holds REVIEW_STATUSES only.
        status: review.status as ReviewStatus,
        origin: review.origin,
        createdAt: review.createdAt,
        decidedBy: review.decidedBy,
        decidedAt: review.decidedAt,
        moved: review.moved,
        identity: review.identity,
        candidate: review.candidate,
        evidence: reviewEvidence(review.identity, review.candidate, review, params),
        decisionEventId,
      },
    };
  });
  return finishOutcome(out);
}

/**
 * Decides an open pair (merge.ts `decideReviewIn`: link makes the two persons one, reject keeps
 * them apart, dismiss closes it with no change), audited with the decision in one transaction.
 */
export async function decideReviewFor(ctx: RequestContext, reviewId: number, choice: ReviewChoice, opts: MergeOptions = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<ReviewDecision> {
  checkId(reviewId);
  if (!REVIEW_CHOICES.includes(choice)) throw invalid(`decision must be one of ${REVIEW_CHOICES.join(', ')}`);
  const detail = { id: reviewId, decision: choice, ...(opts.despiteDifferentNhsNumbers ? { despiteDifferentNhsNumbers: true } : {}) };
  const open = (tx: Queryable) => openPair(tx, ctx, policy, reviewId, 'mpi.review.decide', detail, now);
  return changePair(ctx, open, detail, now, (tx) => decideReviewIn(tx, reviewId, choice, ctx.principal.user, opts), (r) => ({ status: r.status, eventId: r.eventId }));
}

/** Undoes a pair's decision (merge.ts `undoReviewDecisionIn`): the pair is open again, the identities where they were. */
export async function undoReviewFor(ctx: RequestContext, reviewId: number, reason: string | undefined, policy: Policy | null = currentPolicy(), now = new Date()): Promise<ReviewUndo> {
  checkId(reviewId);
  const why = reason?.trim().slice(0, 500) || 'undo review decision';
  const open = (tx: Queryable) => openPair(tx, ctx, policy, reviewId, 'mpi.review.undo', { id: reviewId, why }, now);
  return changePair(ctx, open, { id: reviewId, why }, now, (tx) => undoReviewDecisionIn(tx, reviewId, ctx.principal.user, why), (r) => ({ undoneEventId: r.undoneEventId, eventId: r.eventId }));
}

/**
 * One person as the MPI holds them (`bevan mpi person`): identities with their demographics,
 * MPI events, resource count. The same gate and per-person decision as a review (a restricted
 * person withheld), audited (`mpi.person.read`) in the read's transaction.
 */
export async function showPersonFor(ctx: RequestContext, idOrNhs: string, policy: Policy | null = currentPolicy(), now = new Date()): Promise<PersonView> {
  const asked = idOrNhs.trim();
  if (!asked || asked.length > 200) throw invalid('give a person id, an NHS number or an identity as SYSTEM|ID');
  const out = await ctx.db.transaction(async (tx): Promise<Outcome<PersonView>> => {
    const person = await getPerson(tx, asked);
    const opened = await openPeople(tx, ctx, policy, person ? [person.personId] : [], 'mpi.person.read', { requested: asked }, now);
    if (opened.kind !== 'ok') return opened;
    if (!person) return { kind: 'not-found', message: `no person ${asked}` };
    await appendAuditBatch(tx, opened.value.entries, now);
    return { kind: 'ok', value: person };
  });
  return finishOutcome(out);
}

/**
 * Merges one person into another (merge.ts `mergePersonsIn`, `bevan mpi merge`): the same gate
 * and per-person decision as a review decision (both persons; restricted people withheld),
 * audited (`mpi.merge`, one entry per person) in the transaction of the merge.
 */
export async function mergePersonsFor(ctx: RequestContext, fromPersonId: string, intoPersonId: string, reason: string, opts: MergeOptions = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ eventId: number }> {
  for (const id of [fromPersonId, intoPersonId]) if (!PERSON_ID.test(id)) throw invalid(`"${id}" is not a person id (a UUID)`);
  const why = reason.trim().slice(0, 500);
  if (!why) throw invalid('a merge needs a reason (kept in the event log)');
  const detail = { from: fromPersonId, into: intoPersonId, why, ...(opts.despiteDifferentNhsNumbers ? { despiteDifferentNhsNumbers: true } : {}) };
  const open = (tx: Queryable) => openPeople(tx, ctx, policy, [fromPersonId, intoPersonId], 'mpi.merge', detail, now);
  return changePair(ctx, open, detail, now, async (tx) => ({ eventId: await mergePersonsIn(tx, fromPersonId, intoPersonId, ctx.principal.user, why, opts) }), (r) => ({ eventId: r.eventId }));
}

/**
 * Undoes any MPI event (merge, link, unlink, reject: merge.ts `unmergeEventIn`, `bevan mpi
 * unmerge`): decided for every person the event touched, audited (`mpi.unmerge`) with the undo.
 */
export async function unmergeEventFor(ctx: RequestContext, eventId: number, reason: string | undefined, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ eventId: number; undoneBy: number }> {
  if (!Number.isSafeInteger(eventId) || eventId < 1) throw invalid(`"${String(eventId)}" is not an MPI event id (a whole number from 1)`);
  const why = reason?.trim().slice(0, 500) || 'unmerge';
  const detail = { event: eventId, why };
  const open = async (tx: Queryable): Promise<Outcome<{ entries: AuditEntry[] }>> => {
    const persons = await eventPersons(tx, eventId);
    if (!persons) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'mpi.unmerge', { reason: 'not found', detail })], now);
      return { kind: 'not-found', message: `no MPI event ${eventId}` };
    }
    return openPeople(tx, ctx, policy, persons, 'mpi.unmerge', detail, now);
  };
  return changePair(ctx, open, detail, now, async (tx) => ({ eventId, undoneBy: await unmergeEventIn(tx, eventId, ctx.principal.user, why) }), (r) => ({ undoneBy: r.undoneBy }));
}

const PERSON_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The gate and the decision for each person a change touches; a refusal is audited here, a permit returns the entries to write with the change. */
async function openPeople(tx: Queryable, ctx: RequestContext, policy: Policy | null, personIds: readonly string[], action: string, detail: Record<string, unknown>, now: Date): Promise<Outcome<{ entries: AuditEntry[] }>> {
  const gate = decide(policy, { action: 'mpi-review', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
  if (gate.kind === 'deny') {
    await appendAuditBatch(tx, [auditEntry(ctx, action, { decision: 'deny', reason: gate.reason, detail })], now);
    return { kind: 'forbidden', message: `access denied: ${gate.reason}` };
  }
  const judged = await judgePersons(tx, ctx, policy, [...new Set(personIds)], now);
  const base = { decision: judged.decision.kind, reason: judged.decision.reason, detail };
  const entries = judged.personIds.map((personId) => auditEntry(ctx, action, { ...base, personId }));
  if (judged.decision.kind === 'deny') {
    await appendAuditBatch(tx, entries, now);
    return { kind: 'forbidden', message: `access denied: ${judged.decision.reason}` };
  }
  return { kind: 'ok', value: { entries } };
}

/**
 * A change to a pair: decided and audited with the change in one transaction. When the MPI
 * refuses (MpiRequestError: nothing was changed, the transaction rolls back), the refusal is
 * audited in a transaction of its own and answered with the same kind of error.
 */
async function changePair<T>(
  ctx: RequestContext,
  open: (tx: Queryable) => Promise<Outcome<{ entries: AuditEntry[] }>>,
  detail: Record<string, unknown>,
  now: Date,
  change: (tx: Queryable) => Promise<T>,
  outcome: (r: T) => Record<string, unknown>,
): Promise<T> {
  let planned: AuditEntry[] = [];
  try {
    const out = await ctx.db.transaction(async (tx): Promise<Outcome<T>> => {
      const opened = await open(tx);
      if (opened.kind !== 'ok') return opened;
      planned = opened.value.entries;
      const r = await change(tx);
      await appendAuditBatch(tx, planned.map((e) => ({ ...e, detail: { ...detail, ...outcome(r) } })), now);
      return { kind: 'ok', value: r };
    });
    return finishOutcome(out);
  } catch (err) {
    if (!(err instanceof MpiRequestError)) throw err;
    // One message for both edges: the CLI's flag and the HTTP body's field.
    const message = err.message.replace('repeat with --despite-different-nhs-numbers', 'decide again with --despite-different-nhs-numbers (HTTP: "despiteDifferentNhsNumbers": true)');
    if (planned.length) await ctx.db.transaction((tx) => appendAuditBatch(tx, planned.map((e) => ({ ...e, reason: `refused: ${message}`.slice(0, 1000) })), now));
    throw new BevanError(err.kind, message);
  }
}

/**
 * The common start of every call about one pair: the gate, the pair, the decision for each
 * person it is in. A refusal or a missing pair is audited here (and returned); a permit returns
 * the audit entries for the caller to write with what it does.
 */
async function openPair(
  tx: Queryable,
  ctx: RequestContext,
  policy: Policy | null,
  reviewId: number,
  action: string,
  detail: Record<string, unknown>,
  now: Date,
): Promise<Outcome<{ review: Review; entries: AuditEntry[] }>> {
  const gate = decide(policy, { action: 'mpi-review', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
  if (gate.kind === 'deny') {
    await appendAuditBatch(tx, [auditEntry(ctx, action, { decision: 'deny', reason: gate.reason, detail })], now);
    return { kind: 'forbidden', message: `access denied: ${gate.reason}` };
  }
  const review = await getReview(tx, reviewId);
  if (!review) {
    await appendAuditBatch(tx, [auditEntry(ctx, action, { reason: 'not found', detail })], now);
    return { kind: 'not-found', message: `no review ${reviewId}` };
  }
  const judged = await judgePair(tx, ctx, policy, review, now);
  const base = { decision: judged.decision.kind, reason: judged.decision.reason, detail };
  const entries = judged.personIds.length ? judged.personIds.map((personId) => auditEntry(ctx, action, { ...base, personId })) : [auditEntry(ctx, action, base)];
  if (judged.decision.kind === 'deny') {
    await appendAuditBatch(tx, entries, now);
    return { kind: 'forbidden', message: `access denied: ${judged.decision.reason}` };
  }
  return { kind: 'ok', value: { review, entries } };
}

/** The persons a pair's identities are in now, and the decision for it (deny when any of them is denied). */
async function judgePair(tx: Queryable, ctx: RequestContext, policy: Policy | null, review: Review, now: Date): Promise<{ personIds: string[]; decision: Decision }> {
  return judgePersons(tx, ctx, policy, [...new Set([review.identity.personId, review.candidate.personId].filter((p): p is string => !!p))], now);
}

/** The decision for a change touching these persons (deny when any of them is denied). */
async function judgePersons(tx: Queryable, ctx: RequestContext, policy: Policy | null, personIds: string[], now: Date): Promise<{ personIds: string[]; decision: Decision }> {
  let decision: Decision = decide(policy, { action: 'mpi-review', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
  for (const personId of personIds) {
    const d = await decideForPerson(tx, ctx, policy, { personId }, ['mpi-review'], now);
    const one = d?.decisions[0] ?? decision;
    decision = one;
    if (one.kind === 'deny') break;
  }
  return { personIds, decision };
}

function queueItem(r: Review, withheld: boolean): ReviewQueueItem {
  const d = (r.detail ?? {}) as { probability?: unknown; conflict?: unknown };
  return {
    reviewId: r.reviewId,
    status: r.status as ReviewStatus,
    origin: r.origin,
    weight: r.weight,
    probability: typeof d.probability === 'number' ? d.probability : null,
    conflict: typeof d.conflict === 'string' ? d.conflict : d.conflict ? 'different valid NHS numbers' : null,
    systems: [r.identity.system, r.candidate.system],
    moved: r.moved,
    withheld,
    createdAt: r.createdAt,
    decidedBy: r.decidedBy,
    decidedAt: r.decidedAt,
  };
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) throw invalid(`"${String(id)}" is not a review id (a whole number from 1)`);
}
