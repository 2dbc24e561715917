-- Issue 11 (the matcher's cost at scale, docs/ingest-performance.md "Stop 21"): what follows a
-- resource's move to another person (an MPI link, merge or unmerge; a pending resource linked) is
-- done once per UPDATE statement, set-based, instead of by three row triggers on every row moved:
-- migration 0015/0029's history trigger (its older versions follow the person), 0044's as 0050
-- and 0057 left it (its analytics flat rows follow) and 0071's (its old and new person are queued for the materialised
-- views). The matcher moves tens of thousands of rows in one statement, and three PL/pgSQL calls
-- and three single-row statements a row were about a seventh of that statement's time.
--
-- Same semantics, same transaction: an AFTER statement trigger runs before the UPDATE returns, so
-- a query never sees a flat row or a history row under a person its resource has left.
-- A trigger with transition tables cannot name columns (UPDATE OF person_id), so this one fires
-- on every UPDATE of resource; it returns at once when no row changed person (the writer's
-- content upserts), after one join of the statement's old and new rows.

-- History: the BEFORE row trigger keeps only the content part (a replaced version copied first);
-- its person part moves to the statement trigger below.
CREATE OR REPLACE FUNCTION resource_history_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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

DROP TRIGGER IF EXISTS resource_history_keep ON resource;
CREATE TRIGGER resource_history_keep BEFORE UPDATE OF content_hash ON resource
  FOR EACH ROW
  WHEN (OLD.content_hash IS DISTINCT FROM NEW.content_hash)
  EXECUTE FUNCTION resource_history_keep();

DROP TRIGGER IF EXISTS resource_analytics_flat_person ON resource;
DROP TRIGGER IF EXISTS resource_analytics_view_person ON resource;
DROP FUNCTION IF EXISTS analytics_flat_follow_person();
DROP FUNCTION IF EXISTS analytics_view_follow_person();

-- The rows of one UPDATE that changed person, as 0044/0050/0057's and 0071's row triggers did:
-- their older versions and their flat rows (analytics encounter and coded entry, each only where
-- it is not there already) follow; a Patient's old and new person are queued for analytics_person;
-- a pending resource linked is noted for the source freshness (0057); both persons are queued for
-- the materialised views. The statement is planned at each call (EXECUTE), so a
-- move of one row and a move of seventy thousand each get a plan for their size.
CREATE OR REPLACE FUNCTION resource_person_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM resource_moved_new n
      JOIN resource_moved_old o ON o.source_system = n.source_system AND o.resource_type = n.resource_type AND o.source_id = n.source_id
     WHERE o.person_id IS DISTINCT FROM n.person_id
  ) THEN
    RETURN NULL;
  END IF;
  EXECUTE $sql$
    WITH moved AS MATERIALIZED (
      SELECT n.source_system, n.resource_type, n.source_id, o.shard_key, o.person_id AS from_person, n.person_id AS to_person, n.received_at,
             CASE WHEN o.person_id IS NULL THEN analytics_activity_date(n.content) END AS latest_activity
        FROM resource_moved_new n
        JOIN resource_moved_old o ON o.source_system = n.source_system AND o.resource_type = n.resource_type AND o.source_id = n.source_id
       WHERE o.person_id IS DISTINCT FROM n.person_id
    ), history AS (
      UPDATE resource_history h SET person_id = m.to_person
        FROM moved m
       WHERE h.source_system = m.source_system AND h.resource_type = m.resource_type AND h.source_id = m.source_id
         AND (m.shard_key IS NULL OR h.shard_key = m.shard_key)
         AND h.person_id IS DISTINCT FROM m.to_person
    ), encounters AS (
      UPDATE analytics_encounter a SET person_id = m.to_person
        FROM moved m
       WHERE m.resource_type IN ('Encounter', 'EpisodeOfCare')
         AND a.source_system = m.source_system AND a.resource_type = m.resource_type AND a.source_id = m.source_id
         AND a.person_id IS DISTINCT FROM m.to_person
    ), coded AS (
      UPDATE analytics_coded_entry a SET person_id = m.to_person
        FROM moved m
       WHERE m.resource_type IN ('Condition', 'Procedure', 'Observation', 'MedicationRequest', 'MedicationStatement', 'ServiceRequest')
         AND a.source_system = m.source_system AND a.resource_type = m.resource_type AND a.source_id = m.source_id
         AND a.person_id IS DISTINCT FROM m.to_person
    ), people AS (
      INSERT INTO analytics_person_stale (person_id)
      SELECT DISTINCT p.person_id FROM moved m, LATERAL (VALUES (m.from_person), (m.to_person)) AS p(person_id)
       WHERE m.resource_type = 'Patient' AND p.person_id IS NOT NULL
      ORDER BY 1
      ON CONFLICT DO NOTHING
    ), linked AS (
      INSERT INTO analytics_source_freshness_linked (source_system, received_at, latest_activity)
      SELECT m.source_system, m.received_at, m.latest_activity FROM moved m
       WHERE m.from_person IS NULL AND m.to_person IS NOT NULL
    )
    INSERT INTO analytics_view_stale (person_id)
    SELECT DISTINCT p.person_id FROM moved m, LATERAL (VALUES (m.from_person), (m.to_person)) AS p(person_id)
     WHERE p.person_id IS NOT NULL
    ORDER BY 1
    ON CONFLICT DO NOTHING
  $sql$;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS resource_person_moved ON resource;
CREATE TRIGGER resource_person_moved AFTER UPDATE ON resource
  REFERENCING OLD TABLE AS resource_moved_old NEW TABLE AS resource_moved_new
  FOR EACH STATEMENT
  EXECUTE FUNCTION resource_person_moved();
