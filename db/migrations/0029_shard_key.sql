-- Issue 11, beyond one server: the key the personal tables are distributed (Citus) or
-- hash-partitioned (BEVAN_DB_LAYOUT=partitioned) by. See docs/distribution.md.
--
-- person_id cannot be that key: the MPI moves identities, and with them their resources, between
-- persons on every link, merge and unmerge, and a distribution column never changes. The shard
-- key is the source identity instead — the (source system, local patient id) a row is about —
-- which no MPI decision changes: an identity's rows stay where they are whoever it is linked to,
-- so merge and unmerge update person_id in place and move no row.
--   source_identity.shard_key = shard_key_of(source_system, source_id)
--   resource.shard_key        = shard_key_of(source_system, subject_id), the identity it is
--                               about; a resource about no one (Organization, Practitioner…) is
--                               keyed by itself: shard_key_of(source_system, type || '/' || id).
--                               A resource keeps the key it was first written with (its subject
--                               may change later: a visit re-sent under the surviving MRN).
--   resource_history.shard_key = its resource's.
-- Plain layout: the column is filled by the writers and nothing is indexed on it (no cost on
-- the write path beyond computing it). Nullable here so that rows written before this migration
-- and back-filled below need no rewrite of the table's constraints.

-- 128 bits of md5 over the length-prefixed identity key, as a uuid: deterministic, so every
-- writer (and any node of a cluster) computes the same key without a look-up.
CREATE OR REPLACE FUNCTION shard_key_of(source_system text, source_id text)
  RETURNS uuid LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT md5(length(source_system)::text || ':' || source_system || '|' || source_id)::uuid $$;

ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS shard_key uuid;
ALTER TABLE resource ADD COLUMN IF NOT EXISTS shard_key uuid;
ALTER TABLE resource_history ADD COLUMN IF NOT EXISTS shard_key uuid;

-- Back-fill (a no-op on a fresh database; on a loaded one, one pass over each table; the history
-- trigger does not fire, it watches content_hash and person_id only).
UPDATE source_identity SET shard_key = shard_key_of(source_system, source_id) WHERE shard_key IS NULL;
UPDATE resource SET shard_key = shard_key_of(source_system, COALESCE(subject_id, resource_type || '/' || source_id)) WHERE shard_key IS NULL;
UPDATE resource_history h SET shard_key = r.shard_key
  FROM resource r
 WHERE h.shard_key IS NULL AND r.source_system = h.source_system AND r.resource_type = h.resource_type AND r.source_id = h.source_id;
UPDATE resource_history SET shard_key = shard_key_of(source_system, resource_type || '/' || source_id) WHERE shard_key IS NULL;

-- The history trigger (migration 0015) now keeps the shard key with each version and names the
-- primary key by constraint, so it runs unchanged on the partitioned layout (whose primary key
-- also holds shard_key), and its person move is pruned to the resource's own shard.
CREATE OR REPLACE FUNCTION resource_history_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.person_id IS DISTINCT FROM OLD.person_id THEN
    UPDATE resource_history SET person_id = NEW.person_id
     WHERE source_system = OLD.source_system AND resource_type = OLD.resource_type AND source_id = OLD.source_id
       AND (OLD.shard_key IS NULL OR shard_key = OLD.shard_key)
       AND person_id IS DISTINCT FROM NEW.person_id;
  END IF;
  IF NEW.content_hash IS DISTINCT FROM OLD.content_hash THEN
    INSERT INTO resource_history (source_system, resource_type, source_id, version, person_id, source_time, received_at, content_hash, content, shard_key)
    VALUES (OLD.source_system, OLD.resource_type, OLD.source_id, OLD.version, NEW.person_id, OLD.source_time, OLD.received_at, OLD.content_hash, OLD.content,
            COALESCE(OLD.shard_key, shard_key_of(OLD.source_system, COALESCE(OLD.subject_id, OLD.resource_type || '/' || OLD.source_id))))
    ON CONFLICT ON CONSTRAINT resource_history_pkey DO NOTHING;
    IF NEW.version <= OLD.version THEN
      NEW.version := OLD.version + 1;
    END IF;
  END IF;
  RETURN NEW;
END $$;
