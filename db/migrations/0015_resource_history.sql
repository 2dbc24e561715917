-- Resource versions (issue 9: vread and history). `resource` keeps only each resource's newest
-- version; when an UPDATE replaces its content (a different content_hash), a trigger copies the
-- replaced row here first. Inserts pay nothing (no INSERT trigger), an unchanged re-ingest pays
-- nothing (the ingest writer's upsert does not update an unchanged row, and the trigger's WHEN
-- clause skips updates that keep the content), and only a real new version costs one insert.

-- One row per replaced version, keyed like `resource` plus the version. person_id is the person
-- the resource belongs to now (the trigger below keeps it equal to resource.person_id), so a
-- table sharded by person keeps a resource's versions beside it.
CREATE TABLE IF NOT EXISTS resource_history (
  source_system text NOT NULL,
  resource_type text NOT NULL,
  source_id text NOT NULL,
  version integer NOT NULL,
  person_id uuid,
  source_time timestamptz,                         -- when the source said this version happened or changed
  received_at timestamptz NOT NULL,                -- when Bevan received this version (its lastUpdated)
  replaced_at timestamptz NOT NULL DEFAULT now(),  -- when the next version replaced it
  content_hash text NOT NULL,
  content jsonb NOT NULL,
  PRIMARY KEY (source_system, resource_type, source_id, version)
);
CREATE INDEX IF NOT EXISTS resource_history_person_idx ON resource_history (person_id);

-- BEFORE UPDATE, so the copy is made with the row's old values and nothing is queued for the end
-- of the statement (an AFTER trigger would hold every changed row of a large batch in memory).
-- A content change is always a new version: an UPDATE that changes content_hash without raising
-- version (a hand-made fix, say) is given the next one, so versions stay unique and ordered.
-- When the resource moves to another person (an MPI merge or unmerge moves resource.person_id;
-- a pending resource is linked when its Patient arrives) its older versions move with it.
CREATE OR REPLACE FUNCTION resource_history_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.person_id IS DISTINCT FROM OLD.person_id THEN
    UPDATE resource_history SET person_id = NEW.person_id
     WHERE source_system = OLD.source_system AND resource_type = OLD.resource_type AND source_id = OLD.source_id
       AND person_id IS DISTINCT FROM NEW.person_id;
  END IF;
  IF NEW.content_hash IS DISTINCT FROM OLD.content_hash THEN
    INSERT INTO resource_history (source_system, resource_type, source_id, version, person_id, source_time, received_at, content_hash, content)
    VALUES (OLD.source_system, OLD.resource_type, OLD.source_id, OLD.version, NEW.person_id, OLD.source_time, OLD.received_at, OLD.content_hash, OLD.content)
    ON CONFLICT (source_system, resource_type, source_id, version) DO NOTHING;
    IF NEW.version <= OLD.version THEN
      NEW.version := OLD.version + 1;
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS resource_history_keep ON resource;
CREATE TRIGGER resource_history_keep BEFORE UPDATE OF content_hash, person_id ON resource
  FOR EACH ROW
  WHEN (OLD.content_hash IS DISTINCT FROM NEW.content_hash OR OLD.person_id IS DISTINCT FROM NEW.person_id)
  EXECUTE FUNCTION resource_history_keep();
