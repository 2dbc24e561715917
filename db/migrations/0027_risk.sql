-- Issue 12, item 1: risk of emergency admission in the next 12 months (analytics/risk/).
-- Tables owned by analytics/risk: only its code writes them. Every table about people is keyed
-- by person_id first, so that a distributed PostgreSQL (Citus) can shard them with `resource`.

-- One row per person and index date: the features computed from the record as it stood before
-- the index date (and, for fitting and validation, the emergency admissions in the 12 months
-- after it). Refreshed by `bevan risk fit` (two index dates) and `bevan risk score` (one).
CREATE TABLE IF NOT EXISTS risk_feature (
  person_id uuid NOT NULL,
  index_date date NOT NULL,
  practice text,
  neighbourhood text,
  age integer NOT NULL,
  sex text,
  emergency_admissions_12m integer NOT NULL DEFAULT 0,
  emergency_admissions_24m integer NOT NULL DEFAULT 0,
  ae_attendances_12m integer NOT NULL DEFAULT 0,
  ae_attendances_24m integer NOT NULL DEFAULT 0,
  outpatient_attendances_12m integer NOT NULL DEFAULT 0,
  gp_consultations_12m integer NOT NULL DEFAULT 0,
  home_visits_12m integer NOT NULL DEFAULT 0,
  community_contacts_12m integer NOT NULL DEFAULT 0,
  long_term_conditions integer NOT NULL DEFAULT 0,
  long_term_condition_kinds text[] NOT NULL DEFAULT '{}',
  medications_12m integer NOT NULL DEFAULT 0,
  frailty_coded boolean NOT NULL DEFAULT false,
  efi_deficits integer NOT NULL DEFAULT 0,
  efi double precision NOT NULL DEFAULT 0,
  efi_band text NOT NULL DEFAULT 'fit',
  hba1c double precision,
  egfr double precision,
  social_care_package boolean NOT NULL DEFAULT false,
  -- Emergency admissions in [index date, index date + 12 months): the outcome, known only once that year is over.
  emergency_admissions_next_12m integer NOT NULL DEFAULT 0,
  computed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (person_id, index_date)
);
CREATE INDEX IF NOT EXISTS risk_feature_index_date_idx ON risk_feature (index_date);

-- Fitted models: coefficients (with each term's population mean, for explanations), how and on
-- what they were fitted, and the validation metrics. The newest version is the one in use.
CREATE TABLE IF NOT EXISTS risk_model (
  version integer PRIMARY KEY,
  fitted_at timestamptz NOT NULL DEFAULT now(),
  method text NOT NULL,
  l2 double precision NOT NULL,
  intercept double precision NOT NULL,
  terms jsonb NOT NULL,
  fit_index_date date NOT NULL,
  validation_index_date date NOT NULL,
  fitted_people integer NOT NULL,
  validation_people integer NOT NULL,
  iterations integer NOT NULL,
  metrics jsonb NOT NULL
);

-- Each scoring of the population (one model, one index date).
CREATE TABLE IF NOT EXISTS risk_score_run (
  run_id bigserial PRIMARY KEY,
  model_version integer NOT NULL,
  index_date date NOT NULL,
  scored_at timestamptz NOT NULL DEFAULT now(),
  people integer NOT NULL DEFAULT 0,
  seconds double precision
);

-- Each person's score in each run, kept so that a person's tier history can be shown.
CREATE TABLE IF NOT EXISTS risk_score (
  person_id uuid NOT NULL,
  run_id bigint NOT NULL,
  probability double precision NOT NULL,
  population_rank integer NOT NULL,
  tier text,
  PRIMARY KEY (person_id, run_id)
);
CREATE INDEX IF NOT EXISTS risk_score_run_idx ON risk_score (run_id, tier);
