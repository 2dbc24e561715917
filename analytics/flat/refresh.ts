// The flat analytic tables (migration 0044): one narrow row per Encounter / EpisodeOfCare
// (`analytics_encounter`) and per coded entry (`analytics_coded_entry`), extracted from the stored
// JSON once, so that the risk features, the registers and the dashboards read a few columns per
// row instead of parsing every resource (issue 12: "flat tables or views that it owns, refreshed
// after each load").
//
// A third table, `analytics_person` (migration 0050), holds the registered population: each active
// person's latest GP registration and the earliest death on their Patients, recomputed for the
// people whose identities, person record or Patients changed since the same watermark.
//
// Kept up to date incrementally: the resources received since the watermark (resource.received_at
// is set on insert and on every content change) are upserted, by their resource key. A person
// change (MPI link, merge, unmerge) does not touch received_at; migration 0044's trigger moves the
// flat rows with their resource instead, in the MPI's own transaction.
//
// The watermark. received_at is now() of the writing transaction, i.e. when it BEGAN, and it is
// visible only when it commits: a transaction open while we read could still commit rows received
// before our clock. So the new watermark is the earlier of now() and the start of every other
// transaction open in this database, read BEFORE the rows are read (pg_stat_activity): everything
// received before it was committed by then, and so is in the snapshot that follows. (The role
// running the refresh must see the other sessions' xact_start: the same role as the writers, or
// pg_read_all_stats.) Rows received at the watermark or later are read again next time: the upsert
// makes that harmless.
//
// A fourth, `analytics_source_freshness` (migration 0057), holds each source system's newest
// received_at and latest activity date over the resources that belong to a person (what
// commissioning/report.ts sourceFreshness shows with every figure): rebuilt with the tables, else
// raised (GREATEST) by the resources received since the watermark and by the queue of pending
// resources linked to a person since (migration 0057's trigger). It only rises: a resource that
// later leaves every person (none of Bevan's writers do that) still counts.
//
// Concurrency with the MPI: the refresh holds SHARE ROW EXCLUSIVE on both tables while it writes.
// A person move either finished before (its trigger held ROW EXCLUSIVE, so the refresh waited,
// then read the new person) or waits for the refresh and then moves the rows just written.
import { oneOffStatements, type Queryable, type Database } from '../../db/database.ts';

export const FLAT_TABLES = ['analytics_encounter', 'analytics_coded_entry', 'analytics_person'] as const;
const WATERMARK = 'flat';
/** Set once analytics_source_freshness has been filled from every resource (a store refreshed before migration 0057 has not). */
const FRESHNESS_WATERMARK = 'source-freshness';

const FRESHNESS_UPSERT = `
ON CONFLICT (source_system) DO UPDATE SET last_received = GREATEST(analytics_source_freshness.last_received, EXCLUDED.last_received),
                                          latest_activity = GREATEST(analytics_source_freshness.latest_activity, EXCLUDED.latest_activity)`;
/** Every source's freshness from every resource that belongs to a person (the query sourceFreshness ran before 0057). */
const FRESHNESS_FULL = `INSERT INTO analytics_source_freshness (source_system, last_received, latest_activity)
SELECT r.source_system, max(r.received_at), max(analytics_activity_date(r.content)) FROM resource r WHERE r.person_id IS NOT NULL GROUP BY r.source_system`;
/** Raised by the resources received since the watermark ($1) and the pending resources linked since the last refresh (the queue, emptied). */
const FRESHNESS_DELTA = `WITH linked AS (DELETE FROM analytics_source_freshness_linked RETURNING source_system, received_at, latest_activity),
     fresh AS (SELECT r.source_system, r.received_at, analytics_activity_date(r.content) AS latest_activity FROM resource r
                WHERE r.received_at >= $1::timestamptz AND r.person_id IS NOT NULL
               UNION ALL SELECT source_system, received_at, latest_activity FROM linked)
INSERT INTO analytics_source_freshness (source_system, last_received, latest_activity)
SELECT source_system, max(received_at), max(latest_activity) FROM fresh GROUP BY source_system${FRESHNESS_UPSERT}`;

/** Fills analytics_source_freshness from every resource (rebuilt, or never filled), else raises it by what changed since `since`. */
async function refreshFreshness(tx: Queryable, since: string | undefined): Promise<void> {
  const filled = await tx.query('SELECT 1 FROM analytics_flat_watermark WHERE name = $1', [FRESHNESS_WATERMARK]);
  if (since === undefined || !filled.rowCount) {
    await tx.query('DELETE FROM analytics_source_freshness_linked');
    await tx.query('DELETE FROM analytics_source_freshness');
    await tx.query(FRESHNESS_FULL);
    await tx.query(
      `INSERT INTO analytics_flat_watermark (name, received_before, refreshed_at) VALUES ($1, now(), now())
       ON CONFLICT (name) DO UPDATE SET received_before = EXCLUDED.received_before, refreshed_at = EXCLUDED.refreshed_at`,
      [FRESHNESS_WATERMARK],
    );
  } else await tx.query(FRESHNESS_DELTA, [since]);
}
const GIN_INDEXES = ['analytics_coded_entry_codes_idx', 'analytics_coded_entry_codings_idx', 'analytics_encounter_type_idx', 'analytics_encounter_service_type_idx'];

const V2_0069 = 'http://terminology.hl7.org/CodeSystem/v2-0069';
/** A social care package's hours a week (an EpisodeOfCare extension, valueDecimal). */
export const HOURS_PER_WEEK_URL = 'https://bevan.example/fhir/StructureDefinition/hours-per-week';

/** A JSON value as an array (anything else as no elements): a malformed resource yields no codes rather than an error. */
const arr = (path: string) => `(CASE WHEN jsonb_typeof(${path}) = 'array' THEN ${path} ELSE '[]'::jsonb END)`;

const ENCOUNTER_COLUMNS = 'source_system, resource_type, source_id, person_id, shard_key, status, class_code, emergency, hospital_outpatient, service_type_codes, type_codes, start_date, end_date, service, hours_per_week';
const ENCOUNTER_SELECT = `
SELECT r.source_system, r.resource_type, r.source_id, r.person_id, r.shard_key,
       r.content->>'status',
       r.content->'class'->>'code',
       COALESCE(r.content->'priority'->'coding', '[]'::jsonb) @> '[{"code":"EM"}]'::jsonb,
       COALESCE(r.content->'serviceType'->'coding', '[]'::jsonb) @> '[{"system":"${V2_0069}"}]'::jsonb,
       ARRAY(SELECT c->>'code' FROM jsonb_array_elements(${arr("r.content->'serviceType'->'coding'")}) AS c WHERE c->>'code' IS NOT NULL),
       ARRAY(SELECT c->>'code' FROM jsonb_array_elements(${arr("r.content->'type'")}) AS t, jsonb_array_elements(${arr("t->'coding'")}) AS c WHERE c->>'code' IS NOT NULL),
       left(r.content->'period'->>'start', 10),
       left(r.content->'period'->>'end', 10),
       COALESCE(r.content->'serviceType'->'coding'->0->>'code', r.content->'serviceType'->>'text'),
       CASE WHEN r.resource_type = 'EpisodeOfCare' THEN
         (SELECT (x->>'valueDecimal')::numeric FROM jsonb_array_elements(${arr("r.content->'extension'")}) AS x
           WHERE x->>'url' = '${HOURS_PER_WEEK_URL}' AND jsonb_typeof(x->'valueDecimal') = 'number' LIMIT 1) END
  FROM resource r
 WHERE r.resource_type IN ('Encounter', 'EpisodeOfCare')`;

// The concept a coded entry is about: the medicine for medication records, else `code`.
const concept = "(CASE WHEN r.resource_type IN ('MedicationRequest', 'MedicationStatement') THEN r.content->'medicationCodeableConcept' ELSE r.content->'code' END)";
// Each type's clinical date, as analytics/cohorts/compile.ts (dateOf) and analytics/risk/features.ts compared it.
const entryDate = `left(CASE r.resource_type
    WHEN 'Observation' THEN COALESCE(r.content->>'effectiveDateTime', r.content->'effectivePeriod'->>'start', r.content->>'issued')
    WHEN 'Procedure' THEN COALESCE(r.content->>'performedDateTime', r.content->'performedPeriod'->>'start')
    WHEN 'ServiceRequest' THEN COALESCE(r.content->>'authoredOn', r.content->>'occurrenceDateTime')
    WHEN 'Condition' THEN COALESCE(r.content->>'onsetDateTime', r.content->'onsetPeriod'->>'start', r.content->>'recordedDate')
    ELSE COALESCE(r.content->>'authoredOn', r.content->>'effectiveDateTime', r.content->'effectivePeriod'->>'start', r.content->>'dateAsserted') END, 10)`;
const onsetDate = "left(COALESCE(r.content->>'onsetDateTime', r.content->'onsetPeriod'->>'start', r.content->>'performedDateTime', r.content->'performedPeriod'->>'start', r.content->>'recordedDate'), 10)";

const CODED_COLUMNS = 'source_system, resource_type, source_id, person_id, shard_key, kind, codes, codings, first_code, concept_text, entry_date, onset_date, status, verification_status, clinical_status, abatement_date, value, unit';
const CODED_SELECT = `
SELECT r.source_system, r.resource_type, r.source_id, r.person_id, r.shard_key,
       CASE r.resource_type WHEN 'Condition' THEN 'condition' WHEN 'Procedure' THEN 'procedure' WHEN 'Observation' THEN 'observation'
            WHEN 'ServiceRequest' THEN 'referral' ELSE 'medication' END,
       ARRAY(SELECT c->>'code' FROM jsonb_array_elements(${arr(`${concept}->'coding'`)}) AS c WHERE c->>'code' IS NOT NULL),
       ARRAY(SELECT COALESCE(c->>'system', '') || '|' || (c->>'code') FROM jsonb_array_elements(${arr(`${concept}->'coding'`)}) AS c WHERE c->>'code' IS NOT NULL),
       ${concept}->'coding'->0->>'code',
       ${concept}->>'text',
       ${entryDate},
       CASE WHEN r.resource_type IN ('Condition', 'Procedure') THEN ${onsetDate} END,
       r.content->>'status',
       r.content->'verificationStatus'->'coding'->0->>'code',
       r.content->'clinicalStatus'->'coding'->0->>'code',
       left(r.content->>'abatementDateTime', 10),
       CASE WHEN jsonb_typeof(r.content->'valueQuantity'->'value') = 'number' THEN (r.content->'valueQuantity'->>'value')::numeric END,
       COALESCE(r.content->'valueQuantity'->>'unit', r.content->'valueQuantity'->>'code')
  FROM resource r
 WHERE r.resource_type IN ('Condition', 'Procedure', 'Observation', 'MedicationRequest', 'MedicationStatement', 'ServiceRequest')`;

// The registered population (migration 0050): each active person's latest GP registration (by the
// identity's updated_at), with the earliest death recorded on their Patients. What the registers and
// the risk features began with, computed once per change instead of once per query.
const PERSON_COLUMNS = 'person_id, practice, birth_date, sex, died_on';
const personSelect = (only: (personColumn: string) => string = () => '') => `
SELECT g.person_id, g.practice, g.birth_date, g.sex, d.died_on
  FROM (SELECT DISTINCT ON (s.person_id) s.person_id, substr(s.source_system, 4) AS practice, s.birth_date, s.sex
          FROM source_identity s JOIN person p ON p.person_id = s.person_id AND p.status = 'active'
         WHERE s.source_system LIKE 'gp:%'${only('s.person_id')}
         ORDER BY s.person_id, s.updated_at DESC) g
  LEFT JOIN (SELECT r.person_id, min(COALESCE(left(r.content->>'deceasedDateTime', 10), '0001-01-01')) AS died_on
               FROM resource r
              WHERE r.resource_type = 'Patient' AND r.person_id IS NOT NULL AND (r.content ? 'deceasedDateTime' OR r.content->>'deceasedBoolean' = 'true')${only('r.person_id')}
              GROUP BY r.person_id) d ON d.person_id = g.person_id`;
// The people whose row may have changed since the watermark ($1): their identities, their person
// record (status on a merge or unmerge), their Patients' content, or a Patient moved (the queue).
const CHANGED_PEOPLE = `
SELECT s.person_id FROM source_identity s WHERE s.updated_at >= $1::timestamptz
UNION SELECT p.person_id FROM person p WHERE p.updated_at >= $1::timestamptz
UNION SELECT r.person_id FROM resource r WHERE r.received_at >= $1::timestamptz AND r.resource_type = 'Patient' AND r.person_id IS NOT NULL
UNION SELECT q.person_id FROM analytics_person_stale q`;

const upsert = (table: string, columns: string, select: string, since: string) => {
  const set = columns
    .split(', ')
    .filter((c) => !['source_system', 'resource_type', 'source_id'].includes(c))
    .map((c) => `${c} = EXCLUDED.${c}`)
    .join(', ');
  return `INSERT INTO ${table} (${columns}) ${select} ${since}
ON CONFLICT (source_system, resource_type, source_id) DO UPDATE SET ${set}`;
};

export interface FlatRefreshResult {
  /** full: rebuilt from every resource; incremental: the resources received since the last watermark. */
  mode: 'full' | 'incremental';
  encounters: number;
  codedEntries: number;
  /** Registered people's rows written (full: all of them; incremental: those recomputed). */
  people: number;
  /** Every resource received before this instant is in the tables (ISO). */
  receivedBefore: string;
  seconds: number;
}

/** The instant below which every resource received is committed (see the head of this file); materialised views (analytics/views/materialised.ts) use it too. */
export async function nextWatermark(db: Queryable): Promise<string> {
  const r = await db.query<{ w: string }>(
    `SELECT to_char(LEAST(now(), (SELECT min(a.xact_start) FROM pg_stat_activity a
                                   WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL))
                    AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS w`,
  );
  return r.rows[0]!.w;
}

/**
 * Brings the flat tables up to date: with `full`, or when never refreshed, rebuilt from every
 * resource; otherwise the resources received since the watermark are upserted. One transaction.
 */
export async function refreshFlatTables(db: Database, opts: { full?: boolean } = {}): Promise<FlatRefreshResult> {
  return db.transaction((tx) => refreshFlatTablesIn(tx, opts));
}

/**
 * refreshFlatTables inside the caller's transaction (READ COMMITTED: each statement sees what was
 * committed when it began, so the watermark read first bounds what the later statements read).
 */
export async function refreshFlatTablesIn(tx: Queryable, opts: { full?: boolean } = {}): Promise<FlatRefreshResult> {
  const t0 = performance.now();
  const receivedBefore = await nextWatermark(tx);
  {
    // Plans made for the watermark's value (an index range on received_at), not a generic plan.
    await oneOffStatements(tx);
    await tx.query(`LOCK TABLE ${FLAT_TABLES.join(', ')}, analytics_source_freshness IN SHARE ROW EXCLUSIVE MODE`);
    const prev = await tx.query<{ w: string }>(`SELECT to_char(received_before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS w FROM analytics_flat_watermark WHERE name = $1`, [WATERMARK]);
    const since = opts.full ? undefined : prev.rows[0]?.w;
    let encounters: number;
    let codedEntries: number;
    let people = 0;
    if (since === undefined) {
      // Rebuilt: emptied and filled in one pass each (no conflicts to look for).
      await tx.query(`TRUNCATE ${FLAT_TABLES.join(', ')}`);
      encounters = (await tx.query(`INSERT INTO analytics_encounter (${ENCOUNTER_COLUMNS}) ${ENCOUNTER_SELECT}`)).rowCount;
      codedEntries = (await tx.query(`INSERT INTO analytics_coded_entry (${CODED_COLUMNS}) ${CODED_SELECT}`)).rowCount;
      people = (await tx.query(`INSERT INTO analytics_person (${PERSON_COLUMNS}) ${personSelect()}`)).rowCount;
      await tx.query('DELETE FROM analytics_person_stale');
      // A bulk insert leaves the GIN indexes' new entries in their pending lists, which every
      // search then reads in full (0.2 s for the code lists at 20,000 people): merged in now.
      for (const index of GIN_INDEXES) await tx.query('SELECT gin_clean_pending_list($1::regclass)', [index]).catch(() => undefined);
    } else {
      const changed = ' AND r.received_at >= $1::timestamptz';
      encounters = (await tx.query(upsert('analytics_encounter', ENCOUNTER_COLUMNS, ENCOUNTER_SELECT, changed), [since])).rowCount;
      codedEntries = (await tx.query(upsert('analytics_coded_entry', CODED_COLUMNS, CODED_SELECT, changed), [since])).rowCount;
      // The people who may have changed: their rows deleted and computed again (a person merged
      // away, or no longer registered, simply has none).
      // (Never filled yet, as after migration 0050 on a store refreshed before it: filled whole.)
      const filled = await tx.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM analytics_person) AS any');
      const changedPeople = filled.rows[0]!.any ? await tx.query<{ person_id: string }>(`SELECT person_id FROM (${CHANGED_PEOPLE}) c WHERE person_id IS NOT NULL`, [since]) : null;
      const ids = changedPeople?.rows.map((r) => r.person_id) ?? [];
      if (!changedPeople) {
        people = (await tx.query(`INSERT INTO analytics_person (${PERSON_COLUMNS}) ${personSelect()}`)).rowCount;
        await tx.query('DELETE FROM analytics_person_stale');
      } else if (ids.length) {
        await tx.query('DELETE FROM analytics_person WHERE person_id = ANY($1::uuid[])', [ids]);
        people = (await tx.query(`INSERT INTO analytics_person (${PERSON_COLUMNS}) ${personSelect((c) => ` AND ${c} = ANY($1::uuid[])`)}`, [ids])).rowCount;
        await tx.query('DELETE FROM analytics_person_stale WHERE person_id = ANY($1::uuid[])', [ids]);
      }
    }
    await refreshFreshness(tx, since);
    await tx.query(
      `INSERT INTO analytics_flat_watermark (name, received_before, refreshed_at, rows_changed) VALUES ($1, $2::timestamptz, now(), $3)
       ON CONFLICT (name) DO UPDATE SET received_before = EXCLUDED.received_before, refreshed_at = EXCLUDED.refreshed_at, rows_changed = EXCLUDED.rows_changed`,
      [WATERMARK, receivedBefore, encounters + codedEntries + people],
    );
    if (since === undefined) await tx.query(`ANALYZE ${FLAT_TABLES.join(', ')}`).catch(() => undefined);
    return { mode: since === undefined ? 'full' : 'incremental', encounters, codedEntries, people, receivedBefore, seconds: (performance.now() - t0) / 1000 };
  }
}

/**
 * Refreshes the flat tables only when a resource has been received since the watermark (one index
 * probe on resource.received_at otherwise), in the caller's transaction: what every reader of the tables calls first, so that
 * what it reads is what the store holds. Returns null when nothing had changed.
 */
export async function ensureFlatTablesCurrent(tx: Queryable | Database): Promise<FlatRefreshResult | null> {
  const r = await tx.query<{ stale: boolean }>(
    // max() over resource_received_idx is one index probe whatever the plan (an EXISTS over the
    // watermark's subquery was planned with a generic estimate, as a scan of the store).
    // The same for the identities and persons (the registered population), and the queue of moved Patients.
    `SELECT COALESCE(GREATEST((SELECT max(received_at) FROM resource), (SELECT max(updated_at) FROM source_identity), (SELECT max(updated_at) FROM person))
                     >= (SELECT received_before FROM analytics_flat_watermark WHERE name = $1), true)
            OR EXISTS (SELECT 1 FROM analytics_person_stale) AS stale`,
    [WATERMARK],
  );
  if (!r.rows[0]?.stale) return null;
  // Given a pool rather than a transaction: the refresh opens its own.
  return 'transaction' in tx ? tx.transaction((t) => refreshFlatTablesIn(t)) : refreshFlatTablesIn(tx);
}

/**
 * VACUUM (ANALYZE) of the flat tables, after a load has changed them (outside any transaction:
 * `bevan analytics refresh`, which `bevan ingest` runs after each load). It marks their pages all
 * visible, so that the risk features read the encounters from an index alone (migration 0050's
 * analytics_encounter_window_idx), and gives the planner their new sizes. Autovacuum would, later.
 */
export async function vacuumFlatTables(db: Database): Promise<void> {
  await db.query(`VACUUM (ANALYZE) ${FLAT_TABLES.join(', ')}`);
}
