-- Master patient index: one review item per pair of identities. A pair is stored canonically:
-- the smaller `${system}|${id}` (byte order) as source_system/source_id, the larger as
-- candidate_*. Earlier matchers queued a→b and b→a as two items; working through both split
-- people. Of two reversed twins the decided one is kept (the later decision when both were
-- decided), else the heavier; the other's decision is kept in the survivor's detail.
-- Idempotent: a second run finds no twins and nothing out of order.

-- 1. Drop one of each reversed pair.
WITH twins AS (
  SELECT r.review_id, t.review_id AS twin_id,
         row_number() OVER (
           PARTITION BY LEAST(r.review_id, t.review_id)
           ORDER BY (r.status <> 'open') DESC, r.decided_at DESC NULLS LAST, r.weight DESC, r.review_id
         ) AS rank
    FROM mpi_review r
    JOIN mpi_review t
      ON t.source_system = r.candidate_system AND t.source_id = r.candidate_id
     AND t.candidate_system = r.source_system AND t.candidate_id = r.source_id
     AND t.review_id <> r.review_id
), dropped AS (
  DELETE FROM mpi_review d USING twins w
   WHERE d.review_id = w.review_id AND w.rank > 1
  RETURNING w.twin_id AS kept_id, d.review_id, d.status, d.decided_by, d.decided_at
)
UPDATE mpi_review k
   SET detail = COALESCE(k.detail, '{}'::jsonb) || jsonb_build_object('twin',
         jsonb_build_object('reviewId', x.review_id, 'status', x.status, 'decidedBy', x.decided_by, 'decidedAt', x.decided_at))
  FROM dropped x
 WHERE k.review_id = x.kept_id;

-- 2. Put every pair in canonical order (its person columns swap with it).
UPDATE mpi_review r
   SET source_system = r.candidate_system, source_id = r.candidate_id, person_id = r.candidate_person_id,
       candidate_system = r.source_system, candidate_id = r.source_id, candidate_person_id = r.person_id
 WHERE (r.source_system || '|' || r.source_id) COLLATE "C" > (r.candidate_system || '|' || r.candidate_id) COLLATE "C";

-- 3. One row per unordered pair, whatever order a writer uses.
CREATE UNIQUE INDEX IF NOT EXISTS mpi_review_pair_uq ON mpi_review (
  LEAST((source_system || '|' || source_id) COLLATE "C", (candidate_system || '|' || candidate_id) COLLATE "C"),
  GREATEST((source_system || '|' || source_id) COLLATE "C", (candidate_system || '|' || candidate_id) COLLATE "C")
);

-- Events record the persons they changed (status, merged_into, NHS number before and after) and
-- the review they decided, so that undoing one restores the state before it exactly.
ALTER TABLE mpi_event ADD COLUMN IF NOT EXISTS persons jsonb;
ALTER TABLE mpi_event ADD COLUMN IF NOT EXISTS review_id bigint;
