-- Issue 9 (docs/performance.md "Stop 24"): the record's version stamp (record/record-store.ts
-- RECORD_STAMP_SQL, the key of the presented-record caches) read the row header (xmin) of every
-- resource of the person: 40–90 heap pages a read, scattered over a 1.5 GB table at 20,000 people,
-- most of them not in shared buffers, on every `$everything` even when its page was cached.
--
-- Now every statement that inserts, updates or deletes resource rows notes, for each person whose
-- rows it touched (old and new person of a move), its own transaction id here, in the same
-- transaction. The stamp reads these few rows instead of the resources. The set of a person's rows
-- only grows by ids no earlier state held (a transaction id is new when it writes, xid8 never wraps),
-- so every change to a person's resources gives a stamp no earlier state had, whatever order
-- concurrent writers commit in. Writers never wait for each other here: each inserts its own key.
-- record/record-store.ts compactRecordChanges folds a person's rows into one new row of its own
-- transaction (a new id again, never an older state's set); `bevan everything prebuild` runs it.
-- Only record/record-store.ts reads or compacts the table; the triggers below write it.
CREATE TABLE IF NOT EXISTS record_change (
  person_id uuid NOT NULL,
  xact xid8 NOT NULL,
  PRIMARY KEY (person_id, xact)
);

CREATE OR REPLACE FUNCTION resource_record_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO record_change (person_id, xact)
  SELECT DISTINCT n.person_id, pg_current_xact_id() FROM resource_record_new n WHERE n.person_id IS NOT NULL
  ORDER BY 1
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION resource_record_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO record_change (person_id, xact)
  SELECT DISTINCT p.person_id, pg_current_xact_id()
    FROM (SELECT n.person_id FROM resource_record_new n UNION ALL SELECT o.person_id FROM resource_record_old o) AS p
   WHERE p.person_id IS NOT NULL
  ORDER BY 1
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION resource_record_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO record_change (person_id, xact)
  SELECT DISTINCT o.person_id, pg_current_xact_id() FROM resource_record_old o WHERE o.person_id IS NOT NULL
  ORDER BY 1
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

-- TRUNCATE names no rows: every person is noted.
CREATE OR REPLACE FUNCTION resource_record_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO record_change (person_id, xact)
  SELECT p.person_id, pg_current_xact_id() FROM person p ORDER BY 1
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

-- A trigger with transition tables has one event; the UPDATE one shares its transition tables with
-- resource_person_moved (0074), so an update captures its rows once.
DROP TRIGGER IF EXISTS resource_record_inserted ON resource;
CREATE TRIGGER resource_record_inserted AFTER INSERT ON resource
  REFERENCING NEW TABLE AS resource_record_new
  FOR EACH STATEMENT EXECUTE FUNCTION resource_record_inserted();
DROP TRIGGER IF EXISTS resource_record_updated ON resource;
CREATE TRIGGER resource_record_updated AFTER UPDATE ON resource
  REFERENCING OLD TABLE AS resource_record_old NEW TABLE AS resource_record_new
  FOR EACH STATEMENT EXECUTE FUNCTION resource_record_updated();
DROP TRIGGER IF EXISTS resource_record_deleted ON resource;
CREATE TRIGGER resource_record_deleted AFTER DELETE ON resource
  REFERENCING OLD TABLE AS resource_record_old
  FOR EACH STATEMENT EXECUTE FUNCTION resource_record_deleted();
DROP TRIGGER IF EXISTS resource_record_truncated ON resource;
CREATE TRIGGER resource_record_truncated AFTER TRUNCATE ON resource
  FOR EACH STATEMENT EXECUTE FUNCTION resource_record_truncated();
