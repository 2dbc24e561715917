-- Issue 12, dashboards: analytics-owned summary tables behind the panel and commissioner
-- dashboards (analytics/dashboards/). Aggregates only (counts and costs per month and practice,
-- neighbourhood, setting or cohort; no person_id: no row is about one person), rebuilt whole by
-- `bevan analytics refresh` and after each load, so that a dashboard request reads a few hundred
-- rows instead of classifying the whole store. Figures are exact here; disclosure control is
-- applied when they are read for secondary use (analytics/dashboards/service.ts).

-- A measure's (or a register's) monthly series: numerator, and the denominator of a rate.
CREATE TABLE IF NOT EXISTS analytics_measure_month (
  series text NOT NULL,          -- a measure id (analytics/spc/measures.json) or register:NAME
  level text NOT NULL,           -- locality, neighbourhood, practice
  key text NOT NULL,             -- '' for the locality; a neighbourhood code; a practice ODS code
  month text NOT NULL,           -- YYYY-MM
  numerator bigint NOT NULL,
  denominator bigint,            -- people behind a rate (a register, the registered list), else null
  PRIMARY KEY (series, level, key, month)
);

-- Use and cost of care per month (the commissioning classification, analytics/commissioning/report.ts).
CREATE TABLE IF NOT EXISTS analytics_use_month (
  level text NOT NULL,           -- locality, practice, neighbourhood, setting, cohort
  key text NOT NULL,             -- '' for the locality; a practice, neighbourhood, setting or register name
  month text NOT NULL,           -- YYYY-MM
  activity text NOT NULL,        -- a tariff activity, or '' for every activity together
  people bigint NOT NULL,
  quantity double precision NOT NULL,
  contacts double precision NOT NULL,
  cost_gbp double precision NOT NULL,
  sources text[] NOT NULL,
  PRIMARY KEY (level, key, month, activity)
);

-- When each summary was last rebuilt, for what, and the sources' latest activity at that time.
CREATE TABLE IF NOT EXISTS analytics_refresh (
  summary text PRIMARY KEY,      -- measures, use
  as_of date NOT NULL,
  months integer NOT NULL,
  refreshed_at timestamptz NOT NULL,
  seconds double precision NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
