-- Issue 12: the commissioning classification (analytics/commissioning/report.ts activityCtes: the
-- report, and the dashboards' use-and-cost summary) reads migration 0044's analytics_encounter
-- instead of every Encounter's, Procedure's and EpisodeOfCare's JSON. It needs two fields the
-- table did not hold:
--   service         the service an outpatient attendance belongs to (first or follow-up is counted
--                   per person and service): serviceType.coding[0].code, else serviceType.text
--   hours_per_week  a social care package's hours a week (EpisodeOfCare extension
--                   https://bevan.example/fhir/StructureDefinition/hours-per-week, a JSON number)
-- Only 0044's table is touched (this number is below 0050's; it depends on nothing after 0044).
ALTER TABLE analytics_encounter ADD COLUMN IF NOT EXISTS service text;
ALTER TABLE analytics_encounter ADD COLUMN IF NOT EXISTS hours_per_week numeric;

-- The rows already in the table lack both: the watermark is forgotten, so the next refresh
-- (`bevan analytics refresh`, after each load, or the first reader: ensureFlatTablesCurrent)
-- rebuilds the flat tables from the store, once, instead of a back-fill here.
DELETE FROM analytics_flat_watermark WHERE name = 'flat';
