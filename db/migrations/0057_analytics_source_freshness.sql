-- Issue 12: the data freshness per source shown with every commissioning figure (analytics/
-- commissioning/report.ts sourceFreshness) read every resource's JSON (a scan of the store per
-- report and per dashboard refresh: at 215,000 people some 15 M rows). Now a row per source system,
-- kept by analytics/flat/refresh.ts with the flat tables: the newest received_at and the latest
-- activity date of the source's resources that belong to a person, folded in from the resources
-- received since the flat watermark (GREATEST), and from the pending resources linked to a person
-- since (a queue the person trigger below appends to: a resource linked later keeps its received_at,
-- so the watermark alone would miss it). Insert-only for the writers: no row that concurrent
-- ingests or matchers would wait on.

-- The latest activity a resource reports, as the freshness query computed it: the first of
-- period.start, performedDateTime, effectiveDateTime when it begins with a YYYY-MM-DD date.
CREATE OR REPLACE FUNCTION analytics_activity_date(content jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN left(COALESCE(content->'period'->>'start', content->>'performedDateTime', content->>'effectiveDateTime', ''), 10) ~ '^\d{4}-\d{2}-\d{2}$'
              THEN left(COALESCE(content->'period'->>'start', content->>'performedDateTime', content->>'effectiveDateTime'), 10) END
$$;

CREATE TABLE IF NOT EXISTS analytics_source_freshness (
  source_system text PRIMARY KEY,
  last_received timestamptz,
  latest_activity text
);

-- Pending resources linked to a person (by the ingest writer or the MPI) since the last refresh.
CREATE TABLE IF NOT EXISTS analytics_source_freshness_linked (
  source_system text NOT NULL,
  received_at timestamptz,
  latest_activity text
);

CREATE OR REPLACE FUNCTION analytics_flat_follow_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.resource_type IN ('Encounter', 'EpisodeOfCare') THEN
    UPDATE analytics_encounter SET person_id = NEW.person_id
     WHERE source_system = NEW.source_system AND resource_type = NEW.resource_type AND source_id = NEW.source_id;
  ELSIF NEW.resource_type IN ('Condition', 'Procedure', 'Observation', 'MedicationRequest', 'MedicationStatement', 'ServiceRequest') THEN
    UPDATE analytics_coded_entry SET person_id = NEW.person_id
     WHERE source_system = NEW.source_system AND resource_type = NEW.resource_type AND source_id = NEW.source_id;
  ELSIF NEW.resource_type = 'Patient' THEN
    INSERT INTO analytics_person_stale (person_id)
      SELECT x FROM unnest(ARRAY[OLD.person_id, NEW.person_id]) AS x WHERE x IS NOT NULL
      ON CONFLICT DO NOTHING;
  END IF;
  IF OLD.person_id IS NULL AND NEW.person_id IS NOT NULL THEN
    INSERT INTO analytics_source_freshness_linked (source_system, received_at, latest_activity)
      VALUES (NEW.source_system, NEW.received_at, analytics_activity_date(NEW.content));
  END IF;
  RETURN NULL;
END $$;
