/**
 * Decisions people make about identity: merging two persons, undoing a merge or link, and the
 * review queue of pairs the matcher was unsure about. Every change is an mpi_event that lists
 * the identities it moved (with their previous link), so any of them can be undone exactly.
 */
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';
import { currentPersons, moveIdentities, recordEvents, type IdentityMove, type MovedIdentity } from './person-store.ts';

/** Thrown for a request that cannot be carried out as asked (unknown id, already undone…). */
export class MpiRequestError extends Error {
  readonly kind = 'mpi-request';
}

/**
 * Moves every identity (and resource) of fromPersonId into intoPersonId and marks fromPersonId
 * merged into it. Returns the mpi_event id, for unmergeEvent.
 */
export async function mergePersons(db: Database, fromPersonId: string, intoPersonId: string, actor: string, reason: string): Promise<number> {
  if (fromPersonId === intoPersonId) throw new MpiRequestError('a person cannot be merged into itself');
  return db.transaction(async (tx) => {
    const persons = await tx.query<{ person_id: string; status: string }>(
      'SELECT person_id, status FROM person WHERE person_id = ANY($1::uuid[]) ORDER BY person_id FOR UPDATE',
      [[fromPersonId, intoPersonId]],
    );
    const from = persons.rows.find((p) => p.person_id === fromPersonId);
    const into = persons.rows.find((p) => p.person_id === intoPersonId);
    if (!from) throw new MpiRequestError(`no person ${fromPersonId}`);
    if (!into) throw new MpiRequestError(`no person ${intoPersonId}`);
    if (from.status !== 'active') throw new MpiRequestError(`person ${fromPersonId} is already ${from.status}`);
    if (into.status !== 'active') throw new MpiRequestError(`person ${intoPersonId} is ${into.status}; merge into the person it was merged into`);
    const ids = await tx.query<{ source_system: string; source_id: string }>(
      'SELECT source_system, source_id FROM source_identity WHERE person_id = $1 ORDER BY source_system, source_id',
      [fromPersonId],
    );
    const moved = await moveIdentities(
      tx,
      ids.rows.map((r) => ({ system: r.source_system, id: r.source_id, to: intoPersonId, linkMethod: 'manual', matchStatus: 'MATCH' })),
    );
    // Resources with no subject identity follow the person.
    await tx.query('UPDATE resource SET person_id = $2 WHERE person_id = $1', [fromPersonId, intoPersonId]);
    await tx.query("UPDATE person SET status = 'merged', merged_into = $2, updated_at = now() WHERE person_id = $1", [fromPersonId, intoPersonId]);
    const [eventId] = await recordEvents(tx, [{ personId: intoPersonId, kind: 'merge', otherPersonId: fromPersonId, identities: moved, reason, actor }]);
    return eventId!;
  });
}

/**
 * Undoes a merge or link event: its identities go back to the persons they came from (made
 * active again), their resources follow, and their previous link is restored — except that an
 * identity that was PENDING becomes a manual NO_MATCH (or, linked by its NHS number, a MATCH),
 * so the matcher does not link it again.
 * Records an 'unmerge' event and marks the original undone_by it. Returns the new event id.
 */
export async function unmergeEvent(db: Database, eventId: number, actor: string, reason = 'unmerge'): Promise<number> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ event_id: number; kind: string; person_id: string; identities: MovedIdentity[]; undone_by: number | null }>(
      'SELECT event_id, kind, person_id, identities, undone_by FROM mpi_event WHERE event_id = $1 FOR UPDATE',
      [eventId],
    );
    const ev = r.rows[0];
    if (!ev) throw new MpiRequestError(`no MPI event ${eventId}`);
    if (ev.kind !== 'merge' && ev.kind !== 'link') throw new MpiRequestError(`event ${eventId} is a ${ev.kind}; only merges and links can be undone`);
    if (ev.undone_by != null) throw new MpiRequestError(`event ${eventId} was already undone by event ${ev.undone_by}`);

    const moves: IdentityMove[] = [];
    const created: string[] = [];
    for (const m of ev.identities) {
      let back = m.from;
      if (!back) {
        // An identity the event created (an A40 for an unseen MRN) gets a person of its own.
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
    const moved = await moveIdentities(tx, moves);
    const fromPersons = [...new Set(moves.map((m) => m.to))];
    await tx.query("UPDATE person SET status = 'active', merged_into = NULL, updated_at = now() WHERE person_id = ANY($1::uuid[])", [fromPersons]);
    const [undoId] = await recordEvents(tx, [
      { personId: fromPersons[0] ?? ev.person_id, kind: 'unmerge', otherPersonId: ev.person_id, identities: moved, reason: `${reason} (undoes event ${eventId})`, actor },
    ]);
    await tx.query('UPDATE mpi_event SET undone_by = $2 WHERE event_id = $1', [eventId, undoId]);
    return undoId!;
  });
}

// ---------------------------------------------------------------------------------------------
// Review queue

export interface ReviewIdentity {
  system: string;
  id: string;
  personId: string | null;
  nhsNumber: string | null;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  sex: string | null;
  postcode: string | null;
}

export interface Review {
  reviewId: number;
  status: string;
  weight: number;
  /** Agreement level per field and the match probability, as the matcher saw them. */
  detail: unknown;
  identity: ReviewIdentity;
  candidate: ReviewIdentity;
  decidedBy: string | null;
  decidedAt: string | null;
}

/** Reviews with both identities as they are now, strongest first. */
export async function listReviews(db: Queryable, opts: { status?: 'open' | 'linked' | 'rejected'; limit?: number } = {}): Promise<Review[]> {
  const r = await db.query<Record<string, unknown>>(
    `SELECT r.review_id, r.status, r.weight, r.detail, r.decided_by, r.decided_at::text AS decided_at,
            r.source_system, r.source_id, a.person_id AS a_person, a.nhs_number AS a_nhs, a.family AS a_family, a.given AS a_given,
            a.birth_date::text AS a_dob, a.sex AS a_sex, a.postcode AS a_postcode,
            r.candidate_system, r.candidate_id, b.person_id AS b_person, b.nhs_number AS b_nhs, b.family AS b_family, b.given AS b_given,
            b.birth_date::text AS b_dob, b.sex AS b_sex, b.postcode AS b_postcode
       FROM mpi_review r
       LEFT JOIN source_identity a ON a.source_system = r.source_system AND a.source_id = r.source_id
       LEFT JOIN source_identity b ON b.source_system = r.candidate_system AND b.source_id = r.candidate_id
      WHERE r.status = $1
      ORDER BY r.weight DESC, r.review_id
      LIMIT $2`,
    [opts.status ?? 'open', opts.limit ?? 1000],
  );
  const side = (x: Record<string, unknown>, p: 'a' | 'b', sys: string, id: string): ReviewIdentity => ({
    system: x[sys] as string,
    id: x[id] as string,
    personId: (x[`${p}_person`] as string) ?? null,
    nhsNumber: (x[`${p}_nhs`] as string) ?? null,
    family: (x[`${p}_family`] as string) ?? null,
    given: (x[`${p}_given`] as string) ?? null,
    birthDate: (x[`${p}_dob`] as string) ?? null,
    sex: (x[`${p}_sex`] as string) ?? null,
    postcode: (x[`${p}_postcode`] as string) ?? null,
  });
  return r.rows.map((x) => ({
    reviewId: Number(x.review_id),
    status: x.status as string,
    weight: Number(x.weight),
    detail: x.detail,
    identity: side(x, 'a', 'source_system', 'source_id'),
    candidate: side(x, 'b', 'candidate_system', 'candidate_id'),
    decidedBy: (x.decided_by as string) ?? null,
    decidedAt: (x.decided_at as string) ?? null,
  }));
}

export interface ReviewDecision {
  reviewId: number;
  status: 'linked' | 'rejected';
  /** The link event, when linked (undo it with unmergeEvent). */
  eventId: number | null;
}

/**
 * Decides an open review. 'link' moves the uncertain identity (and its resources) into the
 * candidate's person as it is now; 'reject' leaves it where it is as NO_MATCH.
 */
export async function decideReview(db: Database, reviewId: number, decision: 'link' | 'reject', actor: string): Promise<ReviewDecision> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ status: string; source_system: string; source_id: string; candidate_system: string; candidate_id: string; weight: number }>(
      'SELECT status, source_system, source_id, candidate_system, candidate_id, weight FROM mpi_review WHERE review_id = $1 FOR UPDATE',
      [reviewId],
    );
    const review = r.rows[0];
    if (!review) throw new MpiRequestError(`no review ${reviewId}`);
    if (review.status !== 'open') throw new MpiRequestError(`review ${reviewId} was already decided (${review.status})`);
    let eventId: number | null = null;
    if (decision === 'link') {
      const c = await tx.query<{ person_id: string }>('SELECT person_id FROM source_identity WHERE source_system = $1 AND source_id = $2', [
        review.candidate_system,
        review.candidate_id,
      ]);
      if (!c.rows[0]) throw new MpiRequestError(`review ${reviewId}: candidate identity ${review.candidate_system} ${review.candidate_id} no longer exists`);
      const target = (await currentPersons(tx, [c.rows[0].person_id])).get(c.rows[0].person_id)!;
      const moved = await moveIdentities(tx, [
        { system: review.source_system, id: review.source_id, to: target, linkMethod: 'manual', matchStatus: 'MATCH', matchWeight: review.weight },
      ]);
      const from = moved[0]?.from ?? null;
      if (moved.length) {
        [eventId] = (await recordEvents(tx, [
          { personId: target, kind: 'link', otherPersonId: from !== target ? from : null, identities: moved, reason: `review ${reviewId}`, actor },
        ])) as [number];
      }
    } else {
      await tx.query(
        `UPDATE source_identity SET match_status = 'NO_MATCH', link_method = 'manual', updated_at = now()
          WHERE source_system = $1 AND source_id = $2 AND match_status IN ('POSSIBLE_MATCH', 'PENDING')`,
        [review.source_system, review.source_id],
      );
    }
    const status = decision === 'link' ? 'linked' : 'rejected';
    await tx.query('UPDATE mpi_review SET status = $2, decided_by = $3, decided_at = now() WHERE review_id = $1', [reviewId, status, actor]);
    return { reviewId, status, eventId };
  });
}
