// The flat analytic tables (migration 0044): one narrow row per Encounter / EpisodeOfCare
// (`analytics_encounter`) and per coded entry (`analytics_coded_entry`), extracted from the stored
// JSON once, so that the risk features, the registers and the dashboards read a few columns per
// row instead of parsing every resource (issue 12: "flat tables or views that it owns, refreshed
// after each load").
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
// Concurrency with the MPI: the refresh holds SHARE ROW EXCLUSIVE on both tables while it writes.
// A person move either finished before (its trigger held ROW EXCLUSIVE, so the refresh waited,
// then read the new person) or waits for the refresh and then moves the rows just written.
import { oneOffStatements, type Queryable, type Database } from '../../db/database.ts';

export const FLAT_TABLES = ['analytics_encounter', 'analytics_coded_entry'] as const;
const WATERMARK = 'flat';

const V2_0069 = 'http://terminology.hl7.org/CodeSystem/v2-0069';

/** A JSON value as an array (anything else as no elements): a malformed resource yields no codes rather than an error. */
const arr = (path: string) => `(CASE WHEN jsonb_typeof(${path}) = 'array' THEN ${path} ELSE '[]'::jsonb END)`;

const ENCOUNTER_COLUMNS = 'source_system, resource_type, source_id, person_id, shard_key, status, class_code, emergency, hospital_outpatient, service_type_codes, type_codes, start_date, end_date';
const ENCOUNTER_SELECT = `
SELECT r.source_system, r.resource_type, r.source_id, r.person_id, r.shard_key,
       r.content->>'status',
       r.content->'class'->>'code',
       COALESCE(r.content->'priority'->'coding', '[]'::jsonb) @> '[{"code":"EM"}]'::jsonb,
       COALESCE(r.content->'serviceType'->'coding', '[]'::jsonb) @> '[{"system":"${V2_0069}"}]'::jsonb,
       ARRAY(SELECT c->>'code' FROM jsonb_array_elements(${arr("r.content->'serviceType'->'coding'")}) AS c WHERE c->>'code' IS NOT NULL),
       ARRAY(SELECT c->>'code' FROM jsonb_array_elements(${arr("r.content->'type'")}) AS t, jsonb_array_elements(${arr("t->'coding'")}) AS c WHERE c->>'code' IS NOT NULL),
       left(r.content->'period'->>'start', 10),
       left(r.content->'period'->>'end', 10)
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
  /** Every resource received before this instant is in the tables (ISO). */
  receivedBefore: string;
  seconds: number;
}

/** The instant below which every resource received is committed (see the head of this file). */
async function nextWatermark(db: Queryable): Promise<string> {
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
    await tx.query(`LOCK TABLE ${FLAT_TABLES.join(', ')} IN SHARE ROW EXCLUSIVE MODE`);
    const prev = await tx.query<{ w: string }>(`SELECT to_char(received_before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS w FROM analytics_flat_watermark WHERE name = $1`, [WATERMARK]);
    const since = opts.full ? undefined : prev.rows[0]?.w;
    let encounters: number;
    let codedEntries: number;
    if (since === undefined) {
      // Rebuilt: emptied and filled in one pass each (no conflicts to look for).
      await tx.query(`TRUNCATE ${FLAT_TABLES.join(', ')}`);
      encounters = (await tx.query(`INSERT INTO analytics_encounter (${ENCOUNTER_COLUMNS}) ${ENCOUNTER_SELECT}`)).rowCount;
      codedEntries = (await tx.query(`INSERT INTO analytics_coded_entry (${CODED_COLUMNS}) ${CODED_SELECT}`)).rowCount;
    } else {
      const changed = ' AND r.received_at >= $1::timestamptz';
      encounters = (await tx.query(upsert('analytics_encounter', ENCOUNTER_COLUMNS, ENCOUNTER_SELECT, changed), [since])).rowCount;
      codedEntries = (await tx.query(upsert('analytics_coded_entry', CODED_COLUMNS, CODED_SELECT, changed), [since])).rowCount;
    }
    await tx.query(
      `INSERT INTO analytics_flat_watermark (name, received_before, refreshed_at, rows_changed) VALUES ($1, $2::timestamptz, now(), $3)
       ON CONFLICT (name) DO UPDATE SET received_before = EXCLUDED.received_before, refreshed_at = EXCLUDED.refreshed_at, rows_changed = EXCLUDED.rows_changed`,
      [WATERMARK, receivedBefore, encounters + codedEntries],
    );
    if (since === undefined) await tx.query(`ANALYZE ${FLAT_TABLES.join(', ')}`).catch(() => undefined);
    return { mode: since === undefined ? 'full' : 'incremental', encounters, codedEntries, receivedBefore, seconds: (performance.now() - t0) / 1000 };
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
    `SELECT COALESCE((SELECT max(received_at) FROM resource) >= (SELECT received_before FROM analytics_flat_watermark WHERE name = $1), true) AS stale`,
    [WATERMARK],
  );
  if (!r.rows[0]?.stale) return null;
  // Given a pool rather than a transaction: the refresh opens its own.
  return 'transaction' in tx ? tx.transaction((t) => refreshFlatTablesIn(t)) : refreshFlatTablesIn(tx);
}
