/**
 * Decisions people make about identity: merging two persons, undoing an MPI event, and the
 * review queue of pairs the matcher (or a feed) was unsure about. Every change is an mpi_event
 * that lists the identities it moved (with their previous link) and the person rows it changed,
 * so any of them can be undone exactly. What every decision keeps true:
 * - each identity is in exactly one active person, and no active person is empty;
 * - a person's NHS number is one its identities carry; two different valid NHS numbers come
 *   together in one person only when a person says so (`despiteDifferentNhsNumbers`);
 * - a decision about a pair whose identities have moved since it was queued is refused.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';
import { canonicalPair, identityKey, type IdentityRef, type LinkedIdentity, type MergeInstruction } from './identity.ts';
import {
  identitiesOfPersons,
  personNhsNumbers,
  readIdentities,
  recordEvents,
  relocate,
  type IdentityMove,
  type MovedIdentity,
  type PersonChange,
  type PersonState,
  type Relocation,
} from './person-store.ts';

/** Why a request was not carried out: the thing asked for does not exist, the request is malformed, or it conflicts with the MPI's state. */
export type MpiRequestErrorKind = 'not-found' | 'invalid' | 'conflict';

/** Thrown for a request that cannot be carried out as asked; nothing was changed. */
export class MpiRequestError extends Error {
  readonly kind: MpiRequestErrorKind;
  constructor(kind: MpiRequestErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface MergeOptions {
  /** The two persons carry different valid NHS numbers and a person says they are one all the same. */
  despiteDifferentNhsNumbers?: boolean;
}

/**
 * Moves every identity (and resource) of fromPersonId into intoPersonId and marks fromPersonId
 * merged into it; the NHS number goes with the identities that carry it. Refused when the two
 * carry different valid NHS numbers, unless opts says a person has checked. Returns the event id.
 */
export async function mergePersons(db: Database, fromPersonId: string, intoPersonId: string, actor: string, reason: string, opts: MergeOptions = {}): Promise<number> {
  return db.transaction((tx) => mergePersonsIn(tx, fromPersonId, intoPersonId, actor, reason, opts));
}

/** mergePersons inside the caller's transaction (so an audit entry can commit with the merge). */
export async function mergePersonsIn(tx: Queryable, fromPersonId: string, intoPersonId: string, actor: string, reason: string, opts: MergeOptions = {}): Promise<number> {
  if (fromPersonId === intoPersonId) throw new MpiRequestError('invalid', 'a person cannot be merged into itself');
  {
    const persons = await tx.query<{ person_id: string; status: string; merged_into: string | null }>(
      'SELECT person_id, status, merged_into FROM person WHERE person_id = ANY($1::uuid[])',
      [[fromPersonId, intoPersonId]],
    );
    const from = persons.rows.find((p) => p.person_id === fromPersonId);
    const into = persons.rows.find((p) => p.person_id === intoPersonId);
    if (!from) throw new MpiRequestError('not-found', `no person ${fromPersonId}`);
    if (!into) throw new MpiRequestError('not-found', `no person ${intoPersonId}`);
    if (from.status !== 'active') throw new MpiRequestError('conflict', `person ${fromPersonId} is already ${from.status}${from.merged_into ? ` into ${from.merged_into}` : ''}`);
    if (into.status !== 'active') throw new MpiRequestError('conflict', `person ${intoPersonId} is ${into.status}; merge into the person it was merged into${into.merged_into ? ` (${into.merged_into})` : ''}`);
    await refuseDifferentNhsNumbers(tx, fromPersonId, intoPersonId, opts, 'merge');
    const result = await joinPersons(tx, fromPersonId, intoPersonId, () => ({ linkMethod: 'manual', matchStatus: 'MATCH', matchWeight: null }));
    // Resources with no subject identity follow the person (the writer gives every personal resource a subject, so these are few).
    await tx.query('UPDATE resource SET person_id = $2 WHERE person_id = $1 AND subject_id IS NULL', [fromPersonId, intoPersonId]);
    const [eventId] = await recordEvents(tx, [
      { personId: intoPersonId, kind: 'merge', otherPersonId: fromPersonId, identities: result.identities, persons: result.persons, reason, actor },
    ]);
    return eventId!;
  }
}

/** The persons an MPI event touched (its person, and every person its identities moved from or to), for the access decision before an undo. */
export async function eventPersons(tx: Queryable, eventId: number): Promise<string[] | null> {
  const r = await tx.query<{ person_id: string; identities: MovedIdentity[] | null }>('SELECT person_id::text AS person_id, identities FROM mpi_event WHERE event_id = $1', [eventId]);
  const ev = r.rows[0];
  if (!ev) return null;
  const ids = new Set<string>([ev.person_id]);
  for (const m of ev.identities ?? []) for (const p of [m.from, m.to]) if (p) ids.add(p);
  return [...ids];
}

/**
 * Moves every identity of `loser` into `survivor` (link from `link`, per identity) and settles
 * both. An identity that ingest adds to the loser meanwhile goes along too.
 */
async function joinPersons(
  tx: Queryable,
  loser: string,
  survivor: string,
  link: (i: LinkedIdentity) => { linkMethod: string; matchStatus: string; matchWeight: number | null },
  extra: IdentityMove[] = [],
): Promise<Relocation> {
  const all: Relocation = { identities: [], persons: [] };
  let moves: IdentityMove[] = [...extra];
  for (let round = 0; round < 3; round++) {
    const ids = await identitiesOfPersons(tx, [loser]);
    const extraKeys = new Set(moves.map((m) => identityKey(m.system, m.id)));
    for (const i of ids) if (!extraKeys.has(i.key)) moves.push({ system: i.system, id: i.id, to: survivor, ...link(i) });
    if (!moves.length) break;
    const r = await relocate(tx, moves, { mergedInto: new Map([[loser, survivor]]), alsoSettle: [loser, survivor] });
    all.identities.push(...r.identities);
    mergeChanges(all.persons, r.persons);
    moves = [];
    const left = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM source_identity WHERE person_id = $1', [loser]);
    if (!left.rows[0]!.n) break;
  }
  return all;
}

/** Folds later changes of the same person rows into one before/after each. */
function mergeChanges(into: PersonChange[], more: PersonChange[]): void {
  for (const c of more) {
    const prev = into.find((p) => p.personId === c.personId);
    if (prev) prev.after = c.after;
    else into.push(c);
  }
}

async function refuseDifferentNhsNumbers(tx: Queryable, a: string, b: string, opts: MergeOptions, what: string): Promise<void> {
  const conflict = await nhsConflict(tx, a, b);
  if (conflict && !opts.despiteDifferentNhsNumbers) {
    throw new MpiRequestError(
      'conflict',
      `refused to ${what}: the two persons carry different valid NHS numbers (${conflict[0].join(', ')} and ${conflict[1].join(', ')}), so they are most likely two people. ` +
        'If a person has checked that they are one, repeat with --despite-different-nhs-numbers.',
    );
  }
}

/** The two persons' valid NHS numbers when both carry some and they share none; else null. */
export async function nhsConflict(tx: Queryable, a: string, b: string): Promise<[string[], string[]] | null> {
  const n = await personNhsNumbers(tx, [a, b]);
  const na = numbersOf(n.get(a)!);
  const nb = numbersOf(n.get(b)!);
  if (!na.length || !nb.length || na.some((x) => nb.includes(x))) return null;
  return [na, nb];
}

const numbersOf = (x: { carried: string[]; onPerson: string | null }) => [...new Set([...x.carried, ...(x.onPerson ? [x.onPerson] : [])])].sort();

// ---------------------------------------------------------------------------------------------
// Undo

/** Event kinds that can be undone (an unmerge is undone by deciding again). */
const UNDOABLE = new Set(['merge', 'link', 'unlink', 'reject']);

/**
 * Undoes an MPI event: its identities go back to where they were with their previous link,
 * the person rows it changed return to their state before (status, merged_into, NHS number),
 * and the review it decided is open again. An identity that was PENDING comes back as a manual
 * NO_MATCH (or, linked by its NHS number, a MATCH), so the matcher does not link it again.
 * Refused when a later event (not undone) has moved any of its identities: undo that first.
 * Records an 'unmerge' event and marks the original undone_by it. Returns the new event id.
 */
export async function unmergeEvent(db: Database, eventId: number, actor: string, reason = 'unmerge'): Promise<number> {
  if (!Number.isSafeInteger(eventId) || eventId < 1) throw new MpiRequestError('invalid', `not an event id: ${eventId}`);
  return db.transaction((tx) => unmergeEventIn(tx, eventId, actor, reason));
}

/** unmergeEvent inside the caller's transaction (so an audit entry can commit with it). */
export async function unmergeEventIn(tx: Queryable, eventId: number, actor: string, reason = 'unmerge'): Promise<number> {
  if (!Number.isSafeInteger(eventId) || eventId < 1) throw new MpiRequestError('invalid', `not an event id: ${eventId}`);
  {
    const r = await tx.query<{ kind: string; person_id: string; identities: MovedIdentity[]; persons: PersonChange[] | null; review_id: number | null; undone_by: number | null }>(
      'SELECT kind, person_id, identities, persons, review_id, undone_by FROM mpi_event WHERE event_id = $1 FOR UPDATE',
      [eventId],
    );
    const ev = r.rows[0];
    if (!ev) throw new MpiRequestError('not-found', `no MPI event ${eventId}`);
    if (!UNDOABLE.has(ev.kind)) throw new MpiRequestError('invalid', `event ${eventId} is a ${ev.kind}; only merges, links, unlinks and rejections can be undone`);
    if (ev.undone_by != null) throw new MpiRequestError('conflict', `event ${eventId} was already undone by event ${ev.undone_by}`);

    const later = await laterEventsTouching(tx, eventId, ev.identities);
    if (later.length) {
      throw new MpiRequestError(
        'conflict',
        `refused: later event${later.length > 1 ? 's' : ''} ${later.join(', ')} changed identities of event ${eventId}; undo ${later.length > 1 ? 'them' : 'it'} first (latest first)`,
      );
    }
    const now = await readIdentities(tx, ev.identities, true);
    for (const m of ev.identities) {
      const cur = now.get(identityKey(m.system, m.id));
      if (!cur) throw new MpiRequestError('conflict', `refused: identity ${m.system} ${m.id} of event ${eventId} no longer exists`);
      if (cur.personId !== m.to) throw new MpiRequestError('conflict', `refused: identity ${m.system} ${m.id} has moved to person ${cur.personId} since event ${eventId} put it in ${m.to}`);
    }

    const moves: IdentityMove[] = [];
    const created: string[] = [];
    for (const m of ev.identities) {
      let back = m.from;
      if (!back) {
        // An identity the event created (a feed merge naming an unseen id) gets a person of its own.
        back = randomUUID();
        created.push(back);
      }
      const wasPending = m.matchStatus === 'PENDING' || m.matchStatus == null;
      const byNhs = m.linkMethod === 'nhs-number';
      moves.push({
        system: m.system,
        id: m.id,
        to: back,
        linkMethod: wasPending && !byNhs ? 'manual' : (m.linkMethod ?? 'manual'),
        matchStatus: wasPending ? (byNhs ? 'MATCH' : 'NO_MATCH') : m.matchStatus!,
        matchWeight: m.matchWeight,
      });
    }
    if (created.length) await tx.query('INSERT INTO person (person_id) SELECT unnest($1::uuid[])', [created]);
    const restore = new Map<string, { expect: PersonState; restore: PersonState }>();
    const madeByEvent: string[] = [];
    for (const c of ev.persons ?? []) {
      if (c.before) restore.set(c.personId, { expect: c.after, restore: c.before });
      else madeByEvent.push(c.personId);
    }
    const back = await relocate(tx, moves, { restore, alsoSettle: [ev.person_id, ...madeByEvent] });
    // A person the event created (an unlink's new person) is gone again once empty.
    let removed: string[] = [];
    if (madeByEvent.length) {
      const d = await tx.query<{ person_id: string }>(
        `DELETE FROM person p WHERE p.person_id = ANY($1::uuid[])
            AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)
            AND NOT EXISTS (SELECT 1 FROM resource x WHERE x.person_id = p.person_id)
          RETURNING person_id`,
        [madeByEvent],
      );
      removed = d.rows.map((x) => x.person_id);
    }
    if (ev.review_id != null) {
      const decided = ev.kind === 'reject' ? 'rejected' : 'linked';
      await tx.query("UPDATE mpi_review SET status = 'open', decided_by = NULL, decided_at = NULL WHERE review_id = $1 AND status = $2", [ev.review_id, decided]);
    }
    const toPersons = [...new Set(moves.map((m) => m.to))];
    const [undoId] = await recordEvents(tx, [
      {
        personId: toPersons[0] ?? ev.person_id,
        kind: 'unmerge',
        otherPersonId: ev.person_id,
        identities: back.identities,
        persons: back.persons.filter((p) => !removed.includes(p.personId)),
        reason: `${reason} (undoes event ${eventId})`,
        actor,
      },
    ]);
    await tx.query('UPDATE mpi_event SET undone_by = $2 WHERE event_id = $1', [eventId, undoId]);
    return undoId!;
  }
}

/** Events after eventId, not undone (and not themselves undos), that moved or relinked any of these identities. */
async function laterEventsTouching(tx: Queryable, eventId: number, refs: IdentityRef[]): Promise<number[]> {
  if (!refs.length) return [];
  const r = await tx.query<{ event_id: number }>(
    `SELECT e.event_id FROM mpi_event e
      WHERE e.event_id > $1 AND e.undone_by IS NULL AND e.kind <> 'unmerge'
        AND EXISTS (SELECT 1 FROM unnest($2::jsonb[]) AS q(ref) WHERE e.identities @> q.ref)
      ORDER BY e.event_id DESC`,
    [eventId, refs.map((x) => JSON.stringify([{ system: x.system, id: x.id }]))],
  );
  return r.rows.map((x) => Number(x.event_id));
}

/** The latest event (not undone) that put this identity where it is, if any. */
async function latestEventFor(tx: Queryable, ref: IdentityRef, personId: string): Promise<{ eventId: number; identities: MovedIdentity[] } | null> {
  const r = await tx.query<{ event_id: number; identities: MovedIdentity[] }>(
    `SELECT event_id, identities FROM mpi_event
      WHERE undone_by IS NULL AND kind IN ('merge', 'link') AND identities @> $1::jsonb
      ORDER BY event_id DESC LIMIT 1`,
    [JSON.stringify([{ system: ref.system, id: ref.id, to: personId }])],
  );
  return r.rows[0] ? { eventId: Number(r.rows[0].event_id), identities: r.rows[0].identities } : null;
}

// ---------------------------------------------------------------------------------------------
// Review queue

/** One side of a review: the identity as it is now (personId null when it no longer exists). */
export type ReviewIdentity = Omit<LinkedIdentity, 'personId'> & { personId: string | null };

export interface Review {
  reviewId: number;
  status: string;
  /** Who queued it: the probabilistic matcher, or a feed's merge/link/unlink that was unsafe to apply. */
  origin: 'matcher' | 'feed';
  weight: number;
  /** The matcher: agreement level per field and the match probability; a feed: the instruction, its event and the conflict. */
  detail: unknown;
  /** The pair in canonical order (smaller `system|id` first). */
  identity: ReviewIdentity;
  candidate: ReviewIdentity;
  /** The persons the two were in when the pair was queued. */
  queuedPersons: [string, string];
  /** An identity has moved since the pair was queued: a decision is refused (dismiss it, or decide about the persons). */
  moved: boolean;
  decidedBy: string | null;
  decidedAt: string | null;
  /** When the pair was first queued (ISO 8601 UTC). */
  createdAt: string;
}

export type ReviewStatus = 'open' | 'linked' | 'rejected' | 'dismissed';
export const REVIEW_STATUSES: readonly ReviewStatus[] = ['open', 'linked', 'rejected', 'dismissed'];

// Times as ISO 8601 UTC whatever the session's time zone, on both databases.
const isoUtc = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const REVIEW_COLUMNS = `review_id, status, weight, detail, decided_by, ${isoUtc('decided_at')} AS decided_at, ${isoUtc('created_at')} AS created_at,
            person_id, candidate_person_id, source_system, source_id, candidate_system, candidate_id`;

/** Reviews with both identities as they are now: feed proposals first, then strongest first (decided ones: latest decision first). */
export async function listReviews(db: Queryable, opts: { status?: ReviewStatus; limit?: number; offset?: number } = {}): Promise<Review[]> {
  const status = opts.status ?? 'open';
  const r = await db.query<Record<string, unknown>>(
    `SELECT ${REVIEW_COLUMNS}
       FROM mpi_review WHERE status = $1
      ORDER BY ${status === 'open' ? "(detail->>'origin' = 'feed') DESC NULLS LAST, weight DESC" : 'decided_at DESC NULLS LAST, weight DESC'}, review_id
      LIMIT $2 OFFSET $3`,
    [status, opts.limit ?? 1000, opts.offset ?? 0],
  );
  return withIdentities(db, r.rows);
}

/** How many reviews have this status. */
export async function countReviews(db: Queryable, status: ReviewStatus = 'open'): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM mpi_review WHERE status = $1', [status]);
  return r.rows[0]!.n;
}

/** One review with both identities as they are now; null when there is none. */
export async function getReview(db: Queryable, reviewId: number): Promise<Review | null> {
  if (!Number.isSafeInteger(reviewId) || reviewId < 1) return null;
  const r = await db.query<Record<string, unknown>>(`SELECT ${REVIEW_COLUMNS} FROM mpi_review WHERE review_id = $1`, [reviewId]);
  return (await withIdentities(db, r.rows))[0] ?? null;
}

async function withIdentities(db: Queryable, rows: Record<string, unknown>[]): Promise<Review[]> {
  const r = { rows };
  const refs = r.rows.flatMap((x) => [
    { system: String(x.source_system), id: String(x.source_id) },
    { system: String(x.candidate_system), id: String(x.candidate_id) },
  ]);
  const now = await readIdentities(db, refs);
  const side = (system: string, id: string): ReviewIdentity =>
    now.get(identityKey(system, id)) ?? {
      key: identityKey(system, id), system, id, personId: null, nhsNumber: null, nhsNumberValid: false, family: null, given: null, birthDate: null,
      sex: null, postcode: null, practice: null, address: null, town: null, email: null, phone: null, otherId: null, linkMethod: 'unknown', matchStatus: 'unknown', matchWeight: null,
    };
  return r.rows.map((x) => {
    const identity = side(String(x.source_system), String(x.source_id));
    const candidate = side(String(x.candidate_system), String(x.candidate_id));
    const queuedPersons: [string, string] = [String(x.person_id), String(x.candidate_person_id)];
    return {
      reviewId: Number(x.review_id),
      status: String(x.status),
      origin: (x.detail as { origin?: string } | null)?.origin === 'feed' ? 'feed' : 'matcher',
      weight: Number(x.weight),
      detail: x.detail,
      identity,
      candidate,
      queuedPersons,
      moved: identity.personId !== queuedPersons[0] || candidate.personId !== queuedPersons[1],
      decidedBy: (x.decided_by as string) ?? null,
      decidedAt: (x.decided_at as string) ?? null,
      createdAt: String(x.created_at),
    };
  });
}

/** The event that carried out a review's decision and still stands (undo it with unmergeEvent); null when none. */
export async function decisionEventOf(db: Queryable, reviewId: number): Promise<number | null> {
  const r = await db.query<{ event_id: number }>(
    `SELECT event_id FROM mpi_event WHERE review_id = $1 AND undone_by IS NULL AND kind IN ('link', 'reject', 'unlink') ORDER BY event_id DESC LIMIT 1`,
    [reviewId],
  );
  return r.rows[0] ? Number(r.rows[0].event_id) : null;
}

export interface ReviewUndo {
  reviewId: number;
  status: 'open';
  /** The decision's event that was undone, and the event that undid it; null when the decision changed nothing (a dismissal, a link of two already one). */
  undoneEventId: number | null;
  eventId: number | null;
}

/**
 * Undoes a review's decision, in the caller's transaction: a link or rejection that changed
 * something is undone as its event (unmergeEventIn: identities, persons and links as they were
 * before); a decision that changed nothing (a dismissal) simply reopens the item. Either way the
 * review is open again. Refused (conflict) for an open review, or while a later event has moved
 * the identities the decision moved (undo that first).
 */
export async function undoReviewDecisionIn(tx: Queryable, reviewId: number, actor: string, reason = 'undo review decision'): Promise<ReviewUndo> {
  if (!Number.isSafeInteger(reviewId) || reviewId < 1) throw new MpiRequestError('invalid', `not a review id: ${reviewId}`);
  const r = await tx.query<{ status: string }>('SELECT status FROM mpi_review WHERE review_id = $1 FOR UPDATE', [reviewId]);
  const review = r.rows[0];
  if (!review) throw new MpiRequestError('not-found', `no review ${reviewId}`);
  if (review.status === 'open') throw new MpiRequestError('conflict', `review ${reviewId} is open: there is no decision to undo`);
  const event = await decisionEventOf(tx, reviewId);
  const eventId = event === null ? null : await unmergeEventIn(tx, event, actor, `${reason} (review ${reviewId})`);
  // unmergeEventIn reopens the review it decided; a decision with no event (or a feed unlink's split) is reopened here.
  await tx.query("UPDATE mpi_review SET status = 'open', decided_by = NULL, decided_at = NULL WHERE review_id = $1 AND status <> 'open'", [reviewId]);
  return { reviewId, status: 'open', undoneEventId: event, eventId };
}

export interface ReviewDecision {
  reviewId: number;
  status: 'linked' | 'rejected' | 'dismissed';
  /** The event that carried the decision out (undo it with unmergeEvent); null when nothing changed. */
  eventId: number | null;
}

/** What a feed's review item says (detail.origin === 'feed'). */
export interface FeedReviewDetail {
  origin: 'feed';
  kind: 'merge' | 'link' | 'unlink';
  event: string | null;
  /** identityKey of the feed's surviving identity, and of the retired one. */
  survivor: string;
  retired: string;
  reason: string;
  conflict?: { survivorNhsNumbers: string[]; retiredNhsNumbers: string[] };
}

/**
 * Decides an open review:
 * - 'link': the two persons become one. The person holding an NHS number survives and the
 *   other's identities (all of them: it is one person) move into it; with neither or both,
 *   the candidate's person (a feed's surviving identity's person) survives. Refused when they
 *   carry different valid NHS numbers unless opts.despiteDifferentNhsNumbers.
 * - 'reject': they are different people; both stay where they are, and an identity with no
 *   other open review becomes a manual NO_MATCH. For a feed's unlink, this carries the split out.
 * - 'dismiss': closes the item with no change (e.g. one whose identities have moved).
 * Refused (kind 'conflict') when either identity has moved since the pair was queued, or when
 * a rejection concerns two identities already in one person.
 */
export async function decideReview(db: Database, reviewId: number, decision: 'link' | 'reject' | 'dismiss', actor: string, opts: MergeOptions = {}): Promise<ReviewDecision> {
  if (!Number.isSafeInteger(reviewId) || reviewId < 1) throw new MpiRequestError('invalid', `not a review id: ${reviewId}`);
  return db.transaction((tx) => decideReviewIn(tx, reviewId, decision, actor, opts));
}

/** decideReview inside the caller's transaction (so an audit entry can commit with the decision). */
export async function decideReviewIn(tx: Queryable, reviewId: number, decision: 'link' | 'reject' | 'dismiss', actor: string, opts: MergeOptions = {}): Promise<ReviewDecision> {
  if (!Number.isSafeInteger(reviewId) || reviewId < 1) throw new MpiRequestError('invalid', `not a review id: ${reviewId}`);
  {
    const r = await tx.query<{
      status: string; source_system: string; source_id: string; candidate_system: string; candidate_id: string; weight: number;
      person_id: string; candidate_person_id: string; detail: Record<string, unknown> | null;
    }>(
      `SELECT status, source_system, source_id, candidate_system, candidate_id, weight, person_id, candidate_person_id, detail
         FROM mpi_review WHERE review_id = $1 FOR UPDATE`,
      [reviewId],
    );
    const review = r.rows[0];
    if (!review) throw new MpiRequestError('not-found', `no review ${reviewId}`);
    if (review.status !== 'open') throw new MpiRequestError('conflict', `review ${reviewId} was already decided (${review.status})`);
    const close = async (status: ReviewDecision['status'], eventId: number | null): Promise<ReviewDecision> => {
      await tx.query('UPDATE mpi_review SET status = $2, decided_by = $3, decided_at = now() WHERE review_id = $1', [reviewId, status, actor]);
      return { reviewId, status, eventId };
    };
    if (decision === 'dismiss') return close('dismissed', null);

    const aRef = { system: review.source_system, id: review.source_id };
    const bRef = { system: review.candidate_system, id: review.candidate_id };
    const ids = await readIdentities(tx, [aRef, bRef], true);
    const a = ids.get(identityKey(aRef.system, aRef.id));
    const b = ids.get(identityKey(bRef.system, bRef.id));
    if (!a || !b) throw new MpiRequestError('conflict', `review ${reviewId}: identity ${(a ? bRef : aRef).system} ${(a ? bRef : aRef).id} no longer exists`);
    const moved = [a.personId !== review.person_id ? a : null, b.personId !== review.candidate_person_id ? b : null].filter((x): x is LinkedIdentity => !!x);
    if (moved.length) {
      const what = moved.map((i) => `${i.system} ${i.id} is now in person ${i.personId}, not ${i === a ? review.person_id : review.candidate_person_id}`).join('; ');
      throw new MpiRequestError(
        'conflict',
        `refused: the identities of review ${reviewId} have moved since it was queued (${what}). Look at the persons now (\`bevan mpi person …\`); ` +
          `merge or unmerge them directly, or close this item with \`bevan mpi decide ${reviewId} dismiss\`.`,
      );
    }
    const feed = review.detail?.origin === 'feed' ? (review.detail as unknown as FeedReviewDetail) : null;

    if (feed?.kind === 'unlink') {
      // The feed said these are two people; 'reject' agrees (split them), 'link' keeps them together.
      if (decision === 'link') return close('linked', null);
      const retired = feed.retired === a.key ? a : b;
      const survivor = retired === a ? b : a;
      const split = await splitOut(tx, retired, survivor, actor, `review ${reviewId}: ${feed.reason}`, { force: true, reviewId });
      return close('rejected', split.eventId);
    }

    if (decision === 'reject') {
      if (a.personId === b.personId) {
        throw new MpiRequestError(
          'conflict',
          `refused: ${a.system} ${a.id} and ${b.system} ${b.id} are already in one person (${a.personId}); rejecting the pair would leave them there. ` +
            'Undo the event that joined them (`bevan mpi person …` lists it), then reject.',
        );
      }
      const open = await tx.query<{ source_system: string; source_id: string }>(
        `SELECT source_system, source_id FROM mpi_review WHERE status = 'open' AND review_id <> $1 AND (
           (source_system = $2 AND source_id = $3) OR (source_system = $4 AND source_id = $5) OR
           (candidate_system = $2 AND candidate_id = $3) OR (candidate_system = $4 AND candidate_id = $5))
         UNION ALL
         SELECT candidate_system, candidate_id FROM mpi_review WHERE status = 'open' AND review_id <> $1 AND (
           (source_system = $2 AND source_id = $3) OR (source_system = $4 AND source_id = $5) OR
           (candidate_system = $2 AND candidate_id = $3) OR (candidate_system = $4 AND candidate_id = $5))`,
        [reviewId, a.system, a.id, b.system, b.id],
      );
      const stillQueued = new Set(open.rows.map((x) => identityKey(x.source_system, x.source_id)));
      const moves: IdentityMove[] = [a, b]
        .filter((i) => (i.matchStatus === 'POSSIBLE_MATCH' || i.matchStatus === 'PENDING') && !stillQueued.has(i.key))
        .map((i) => ({ system: i.system, id: i.id, to: i.personId, linkMethod: 'manual', matchStatus: 'NO_MATCH', matchWeight: i.matchWeight }));
      const rel = await relocate(tx, moves);
      const [eventId] = await recordEvents(tx, [
        { personId: a.personId, kind: 'reject', otherPersonId: b.personId, identities: rel.identities, persons: rel.persons, reason: `review ${reviewId}: different people`, actor, reviewId },
      ]);
      return close('rejected', eventId!);
    }

    // Link.
    if (a.personId === b.personId) return close('linked', null);
    await refuseDifferentNhsNumbers(tx, a.personId, b.personId, opts, `link review ${reviewId}`);
    const preferred = feed ? (feed.survivor === a.key ? a : b).personId : b.personId;
    const { survivor, loser } = await survivorOf(tx, preferred, preferred === a.personId ? b.personId : a.personId);
    const rel = await joinPersons(
      tx,
      loser,
      survivor,
      (i) => ({ linkMethod: i.linkMethod, matchStatus: i.matchStatus, matchWeight: i.matchWeight }),
      // The pair's identities are linked by a person now, unless one was settled where it stays.
      [a, b]
        .filter((i) => i.personId === loser || i.matchStatus === 'POSSIBLE_MATCH' || i.matchStatus === 'PENDING')
        .map((i) => ({ system: i.system, id: i.id, to: survivor, linkMethod: 'manual', matchStatus: 'MATCH', matchWeight: review.weight })),
    );
    const [eventId] = await recordEvents(tx, [
      { personId: survivor, kind: 'link', otherPersonId: loser, identities: rel.identities, persons: rel.persons, reason: `review ${reviewId}${feed ? `: ${feed.reason}` : ''}`, actor, reviewId },
    ]);
    return close('linked', eventId!);
  }
}

/**
 * Which of two persons survives when they become one: the one holding an NHS number (so an
 * identity carrying a number never moves into a person without it), else `preferred`.
 */
export async function survivorOf(tx: Queryable, preferred: string, other: string): Promise<{ survivor: string; loser: string }> {
  const n = await personNhsNumbers(tx, [preferred, other]);
  const has = (p: string) => (n.get(p)!.onPerson ? 2 : 0) + (n.get(p)!.carried.length ? 1 : 0);
  return has(other) > has(preferred) ? { survivor: other, loser: preferred } : { survivor: preferred, loser: other };
}

/**
 * Splits `retired` (and the identities that came into the person with it) out of the person it
 * shares with `survivor`: back into the person they came from when that is empty now, else into
 * a new person. Unsafe (and not done unless force) when the part split off carries a valid NHS
 * number that stays behind. Records an 'unlink' event that can be undone.
 */
export async function splitOut(
  tx: Queryable,
  retired: LinkedIdentity,
  survivor: LinkedIdentity,
  actor: string,
  reason: string,
  opts: { force?: boolean; linkMethod?: string; reviewId?: number } = {},
): Promise<{ eventId: number | null; unsafe?: string }> {
  const personId = retired.personId;
  const members = await identitiesOfPersons(tx, [personId]);
  const joined = await latestEventFor(tx, retired, personId);
  const cameFrom = joined?.identities.find((m) => m.system === retired.system && m.id === retired.id)?.from ?? null;
  let group = new Set<string>([retired.key]);
  if (joined && cameFrom) {
    for (const m of joined.identities) if (m.from === cameFrom && members.some((x) => x.key === identityKey(m.system, m.id))) group.add(identityKey(m.system, m.id));
  }
  if (group.has(survivor.key)) group = new Set([retired.key]);
  const leaving = members.filter((m) => group.has(m.key));
  const staying = members.filter((m) => !group.has(m.key));
  const shared = [...new Set(leaving.filter((m) => m.nhsNumberValid && m.nhsNumber && staying.some((s) => s.nhsNumberValid && s.nhsNumber === m.nhsNumber)).map((m) => m.nhsNumber!))];
  if (shared.length && !opts.force) return { eventId: null, unsafe: `the identities to split off share NHS number ${shared.join(', ')} with those that stay` };
  if (!staying.length) return { eventId: null };
  let target: string | null = null;
  if (cameFrom) {
    const p = await tx.query<{ status: string; n: number }>(
      'SELECT p.status, (SELECT count(*)::int FROM source_identity s WHERE s.person_id = p.person_id) AS n FROM person p WHERE p.person_id = $1',
      [cameFrom],
    );
    if (p.rows[0] && p.rows[0].n === 0) target = cameFrom;
  }
  const created = !target;
  if (!target) {
    target = randomUUID();
    await tx.query('INSERT INTO person (person_id) VALUES ($1)', [target]);
  }
  const moves: IdentityMove[] = leaving.map((m) =>
    m.key === retired.key
      ? { system: m.system, id: m.id, to: target!, linkMethod: opts.linkMethod ?? 'manual', matchStatus: 'NO_MATCH', matchWeight: null }
      : { system: m.system, id: m.id, to: target!, linkMethod: m.linkMethod, matchStatus: m.matchStatus, matchWeight: m.matchWeight },
  );
  const rel = await relocate(tx, moves, { alsoSettle: [personId, target] });
  const persons = rel.persons.filter((c) => c.personId !== target || !created);
  if (created) {
    const after = rel.persons.find((c) => c.personId === target)?.after ?? { status: 'active' as const, mergedInto: null, nhsNumber: null };
    persons.push({ personId: target, before: null, after });
  }
  const [eventId] = await recordEvents(tx, [
    { personId: target, kind: 'unlink', otherPersonId: personId, identities: rel.identities, persons, reason, actor, reviewId: opts.reviewId ?? null },
  ]);
  return { eventId: eventId! };
}

/**
 * Queues a pair for a person to decide, in canonical order, with the persons they are in now
 * (a later decision is refused if either has moved). An open item for the same pair takes the
 * new detail; a decided one is left as it was (a replayed message changes nothing).
 */
export async function queueReview(tx: Queryable, x: LinkedIdentity, y: LinkedIdentity, weight: number, detail: unknown): Promise<void> {
  const { first, second } = canonicalPair(x, y);
  await tx.query(
    `INSERT INTO mpi_review (person_id, candidate_person_id, source_system, source_id, candidate_system, candidate_id, weight, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (source_system, source_id, candidate_system, candidate_id) DO UPDATE SET
       person_id = EXCLUDED.person_id, candidate_person_id = EXCLUDED.candidate_person_id, weight = EXCLUDED.weight, detail = EXCLUDED.detail
     WHERE mpi_review.status = 'open'`,
    [first.personId, second.personId, first.system, first.id, second.system, second.id, weight, JSON.stringify(detail)],
  );
}

/** A feed instruction's two identities as review detail names them. */
export function feedDetail(m: MergeInstruction, kind: FeedReviewDetail['kind'], reason: string, conflict?: FeedReviewDetail['conflict']): FeedReviewDetail {
  return {
    origin: 'feed',
    kind,
    event: m.event ?? null,
    survivor: identityKey(m.system, m.survivorId),
    retired: identityKey(m.retiredSystem ?? m.system, m.retiredId),
    reason,
    ...(conflict ? { conflict } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Counts

export interface MpiStats {
  /** Active persons. */
  persons: number;
  identities: number;
  /** Identities waiting for the matcher. */
  pending: number;
  /** Open review items. */
  openReviews: number;
  /** Persons merged into another (kept so old ids and NHS numbers still resolve). */
  mergedPersons: number;
  /** Identities by match status. */
  byMatchStatus: Record<string, number>;
}

/** Counts for scripts and dashboards (`bevan mpi stats --json`). */
export async function mpiStats(db: Queryable): Promise<MpiStats> {
  const p = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM person GROUP BY status');
  const s = await db.query<{ match_status: string; n: number }>('SELECT match_status, count(*)::int AS n FROM source_identity GROUP BY match_status ORDER BY match_status');
  const r = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM mpi_review WHERE status = 'open'");
  const byMatchStatus = Object.fromEntries(s.rows.map((x) => [x.match_status, x.n]));
  return {
    persons: p.rows.find((x) => x.status === 'active')?.n ?? 0,
    identities: s.rows.reduce((t, x) => t + x.n, 0),
    pending: byMatchStatus.PENDING ?? 0,
    openReviews: r.rows[0]!.n,
    mergedPersons: p.rows.filter((x) => x.status !== 'active').reduce((t, x) => t + x.n, 0),
    byMatchStatus,
  };
}
