/**
 * The export tables of migration 0016 (`export_job`, `export_slice`, `export_file`,
 * `export_chunk`): jobs, their slices of work and the slices' leases, output files and their
 * content. The only SQL on those tables. Parameterised SQL.
 */
import type { Principal, PurposeOfUse } from '../../access/context.ts';
import type { ExportLevel } from '../../access/policy.ts';
import type { Queryable } from '../../db/database.ts';

export type JobStatus = 'queued' | 'running' | 'complete' | 'failed';
export type SliceStatus = 'queued' | 'running' | 'done';

export interface ExportJob {
  jobId: string;
  username: string;
  principal: Principal;
  purpose: PurposeOfUse;
  from: string | null;
  level: ExportLevel;
  group: string | null;
  types: string[] | null;
  /** `_typeFilter` queries (`Type?parameters`), none for a whole export. */
  typeFilters: string[];
  /** `_elements` (`Type.element` or `element`), none for whole resources. */
  elements: string[];
  /** `patient`: the people named (person ids, resolved at kick-off); null for everyone in the level or Group. */
  patientIds: string[] | null;
  since: string | null;
  outputFormat: string;
  requestUrl: string;
  ignoredParameters: string[];
  status: JobStatus;
  transactionTime: string;
  peopleTotal: number | null;
  error: string | null;
  createdAt: string;
  completedAt: string | null;
  expiresAt: string | null;
}

/** A slice of a job's work: the people whose id is in [lo, hi), or the reference data. */
export interface ExportSlice {
  jobId: string;
  sliceNo: number;
  kind: 'people' | 'reference';
  lo: string | null;
  hi: string | null;
  status: SliceStatus;
  cursorPerson: string | null;
  cursorReference: [string, string, string] | null;
  peopleDone: number;
  peopleExported: number;
  peopleExcluded: number;
  leaseOwner: string | null;
  attempts: number;
}

export interface ExportFile {
  fileNo: number;
  resourceType: string;
  resources: number;
  bytes: number;
  closed: boolean;
}

const JOB_COLUMNS = `job_id::text AS job_id, username, principal, purpose, source_address, level, group_id, types, type_filters, elements, patient_ids::text[] AS patient_ids, since, output_format, request_url,
  ignored_parameters, status, transaction_time, people_total, error, created_at, completed_at, expires_at`;

interface JobRow {
  job_id: string;
  username: string;
  principal: Principal | string;
  purpose: PurposeOfUse;
  source_address: string | null;
  level: ExportLevel;
  group_id: string | null;
  types: string[] | null;
  type_filters: string[] | null;
  elements: string[] | null;
  patient_ids: string[] | null;
  since: unknown;
  output_format: string;
  request_url: string;
  ignored_parameters: string[];
  status: JobStatus;
  transaction_time: unknown;
  people_total: number | null;
  error: string | null;
  created_at: unknown;
  completed_at: unknown;
  expires_at: unknown;
}

function toJob(r: JobRow): ExportJob {
  return {
    jobId: r.job_id,
    username: r.username,
    principal: typeof r.principal === 'string' ? (JSON.parse(r.principal) as Principal) : r.principal,
    purpose: r.purpose,
    from: r.source_address,
    level: r.level,
    group: r.group_id,
    types: r.types,
    typeFilters: r.type_filters ?? [],
    elements: r.elements ?? [],
    patientIds: r.patient_ids ?? null,
    since: iso(r.since),
    outputFormat: r.output_format,
    requestUrl: r.request_url,
    ignoredParameters: r.ignored_parameters ?? [],
    status: r.status,
    transactionTime: iso(r.transaction_time)!,
    peopleTotal: r.people_total === null ? null : Number(r.people_total),
    error: r.error,
    createdAt: iso(r.created_at)!,
    completedAt: iso(r.completed_at),
    expiresAt: iso(r.expires_at),
  };
}

const SLICE_COLUMNS = `job_id::text AS job_id, slice_no, kind, lo::text AS lo, hi::text AS hi, status, cursor_person::text AS cursor_person, cursor_reference,
  people_done, people_exported, people_excluded, lease_owner, attempts`;

interface SliceRow {
  job_id: string;
  slice_no: number;
  kind: 'people' | 'reference';
  lo: string | null;
  hi: string | null;
  status: SliceStatus;
  cursor_person: string | null;
  cursor_reference: string[] | null;
  people_done: number;
  people_exported: number;
  people_excluded: number;
  lease_owner: string | null;
  attempts: number;
}

function toSlice(r: SliceRow): ExportSlice {
  return {
    jobId: r.job_id,
    sliceNo: Number(r.slice_no),
    kind: r.kind,
    lo: r.lo,
    hi: r.hi,
    status: r.status,
    cursorPerson: r.cursor_person,
    cursorReference: r.cursor_reference && r.cursor_reference.length === 3 ? (r.cursor_reference as [string, string, string]) : null,
    peopleDone: Number(r.people_done),
    peopleExported: Number(r.people_exported),
    peopleExcluded: Number(r.people_excluded),
    leaseOwner: r.lease_owner,
    attempts: Number(r.attempts),
  };
}

/**
 * The person-id ranges of `n` slices: the UUID space cut evenly on its first 32 bits (person ids
 * are random, so each slice holds about 1/n of the people).
 */
export function personRanges(n: number): { lo: string; hi: string | null }[] {
  const at = (i: number) => `${Math.floor((i * 2 ** 32) / n).toString(16).padStart(8, '0')}-0000-0000-0000-000000000000`;
  return Array.from({ length: n }, (_, i) => ({ lo: at(i), hi: i + 1 < n ? at(i + 1) : null }));
}

export interface NewJob {
  jobId: string;
  principal: Principal;
  purpose: PurposeOfUse;
  from: string | null;
  level: ExportLevel;
  group: string | null;
  types: string[] | null;
  typeFilters?: string[];
  elements?: string[];
  patientIds?: string[] | null;
  since: string | null;
  outputFormat: string;
  requestUrl: string;
  ignoredParameters: string[];
}

/**
 * Inserts a queued job and its slices: `peopleSlices` ranges of people, and one slice of
 * reference data when asked. Its transaction time is the database's clock now (one clock for
 * every server).
 */
export async function insertJob(tx: Queryable, j: NewJob, o: { peopleSlices: number; reference: boolean; peopleTotal: number }): Promise<ExportJob> {
  const r = await tx.query<JobRow>(
    `INSERT INTO export_job (job_id, username, principal, purpose, source_address, level, group_id, types, since, output_format, request_url, ignored_parameters, people_total, type_filters, elements, patient_ids, transaction_time)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8::text[], $9, $10, $11, $12::text[], $13, $14::text[], $15::text[], $16::uuid[], now())
     RETURNING ${JOB_COLUMNS}`,
    [j.jobId, j.principal.user, JSON.stringify(j.principal), j.purpose, j.from, j.level, j.group, j.types, j.since, j.outputFormat, j.requestUrl, j.ignoredParameters, o.peopleTotal, j.typeFilters ?? [], j.elements ?? [], j.patientIds ?? null],
  );
  const ranges = personRanges(o.peopleSlices);
  const kinds = [...ranges.map(() => 'people'), ...(o.reference ? ['reference'] : [])];
  await tx.query(
    `INSERT INTO export_slice (job_id, slice_no, kind, lo, hi)
     SELECT $1, n, kind, lo, hi FROM unnest($2::int[], $3::text[], $4::uuid[], $5::uuid[]) AS s(n, kind, lo, hi)`,
    [j.jobId, kinds.map((_, i) => i + 1), kinds, [...ranges.map((x) => x.lo), ...(o.reference ? [null] : [])], [...ranges.map((x) => x.hi), ...(o.reference ? [null] : [])]],
  );
  return toJob(r.rows[0]!);
}

/** A job by id, or null. */
export async function findJob(db: Queryable, jobId: string): Promise<ExportJob | null> {
  const r = await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM export_job WHERE job_id = $1`, [jobId]);
  return r.rows[0] ? toJob(r.rows[0]) : null;
}

/** A job by id, its row locked against a cancel (DELETE) until the transaction ends, but not against other batches. */
export async function holdJob(tx: Queryable, jobId: string): Promise<ExportJob | null> {
  const r = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM export_job WHERE job_id = $1 FOR KEY SHARE`, [jobId]);
  return r.rows[0] ? toJob(r.rows[0]) : null;
}

/** A job by id, its row locked until the transaction ends (a cancel; the last slice completing the job). */
export async function lockJob(tx: Queryable, jobId: string): Promise<ExportJob | null> {
  const r = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM export_job WHERE job_id = $1 FOR NO KEY UPDATE`, [jobId]);
  return r.rows[0] ? toJob(r.rows[0]) : null;
}

/** A job by id, its row locked for deletion (waits for the batches in hand to commit). */
export async function lockJobForDelete(tx: Queryable, jobId: string): Promise<ExportJob | null> {
  const r = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM export_job WHERE job_id = $1 FOR UPDATE`, [jobId]);
  return r.rows[0] ? toJob(r.rows[0]) : null;
}

/** One slice, its row locked until the transaction ends. */
export async function lockSlice(tx: Queryable, jobId: string, sliceNo: number): Promise<ExportSlice | null> {
  const r = await tx.query<SliceRow>(`SELECT ${SLICE_COLUMNS} FROM export_slice WHERE job_id = $1 AND slice_no = $2 FOR UPDATE`, [jobId, sliceNo]);
  return r.rows[0] ? toSlice(r.rows[0]) : null;
}

/** A job's slices in order. */
export async function slicesOf(db: Queryable, jobId: string): Promise<ExportSlice[]> {
  const r = await db.query<SliceRow>(`SELECT ${SLICE_COLUMNS} FROM export_slice WHERE job_id = $1 ORDER BY slice_no`, [jobId]);
  return r.rows.map(toSlice);
}

/** How many of the user's jobs are still queued or running. */
export async function unfinishedJobs(db: Queryable, username: string): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_job WHERE username = $1 AND status IN ('queued', 'running')`, [username]);
  return r.rows[0]?.n ?? 0;
}

/** Deletes a job, its files and their content; true when there was one. */
export async function deleteJob(tx: Queryable, jobId: string): Promise<boolean> {
  const r = await tx.query(`DELETE FROM export_job WHERE job_id = $1`, [jobId]);
  return r.rowCount > 0;
}

/**
 * Takes the next slice that is queued, or running under a lease that has run out (its server
 * died or hung), of the oldest unfinished job, for this server: SKIP LOCKED, so servers (and
 * the slices one server runs at once) take different slices. The lease is the database's clock
 * plus leaseMs. The job is marked running.
 */
export async function claimSlice(db: Queryable, serverId: string, leaseMs: number): Promise<ExportSlice | null> {
  const r = await db.query<SliceRow>(
    `UPDATE export_slice SET status = 'running', lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond', attempts = attempts + 1
      WHERE (job_id, slice_no) = (
        SELECT s.job_id, s.slice_no FROM export_slice s JOIN export_job j ON j.job_id = s.job_id
         WHERE j.status IN ('queued', 'running')
           AND (s.status = 'queued' OR (s.status = 'running' AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now())))
         ORDER BY j.created_at, s.slice_no LIMIT 1 FOR UPDATE OF s SKIP LOCKED)
      RETURNING ${SLICE_COLUMNS}`,
    [serverId, leaseMs],
  );
  const slice = r.rows[0] ? toSlice(r.rows[0]) : null;
  if (slice) await db.query(`UPDATE export_job SET status = 'running', updated_at = now() WHERE job_id = $1 AND status = 'queued'`, [slice.jobId]);
  return slice;
}

export interface SliceProgress {
  cursorPerson: string | null;
  cursorReference: [string, string, string] | null;
  addDone: number;
  addExported: number;
  addExcluded: number;
  /** The slice is finished. */
  done: boolean;
}

/**
 * Moves the slice's cursor and renews its lease, only while this server still holds it: false
 * when it was taken over, and the caller's transaction must roll back.
 */
export async function advanceSlice(tx: Queryable, jobId: string, sliceNo: number, serverId: string, leaseMs: number, p: SliceProgress): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_slice SET cursor_person = $4::uuid, cursor_reference = $5::text[], people_done = people_done + $6,
            people_exported = people_exported + $7, people_excluded = people_excluded + $8,
            status = CASE WHEN $9::boolean THEN 'done' ELSE status END,
            lease_owner = CASE WHEN $9::boolean THEN NULL ELSE lease_owner END,
            lease_expires_at = CASE WHEN $9::boolean THEN NULL ELSE now() + $10 * interval '1 millisecond' END
      WHERE job_id = $1 AND slice_no = $2 AND lease_owner = $3 AND status = 'running'`,
    [jobId, sliceNo, serverId, p.cursorPerson, p.cursorReference, p.addDone, p.addExported, p.addExcluded, p.done, leaseMs],
  );
  return r.rowCount > 0;
}

/** How many of the job's slices are not done yet. */
export async function slicesLeft(tx: Queryable, jobId: string): Promise<number> {
  const r = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_slice WHERE job_id = $1 AND status <> 'done'`, [jobId]);
  return r.rows[0]?.n ?? 0;
}

/** Marks the job complete (or failed), stops its slices and sets when its files go; false when it was already finished. */
export async function finishJob(tx: Queryable, jobId: string, outcome: { status: 'complete' | 'failed'; error?: string; retentionMs: number }): Promise<boolean> {
  const r = await tx.query(
    `UPDATE export_job SET status = $2, error = $3, completed_at = now(), expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
      WHERE job_id = $1 AND status IN ('queued', 'running')`,
    [jobId, outcome.status, outcome.error ?? null, outcome.retentionMs],
  );
  if (!r.rowCount) return false;
  await tx.query(`UPDATE export_file SET closed = true WHERE job_id = $1 AND NOT closed`, [jobId]);
  await tx.query(`UPDATE export_slice SET status = 'done', lease_owner = NULL, lease_expires_at = NULL WHERE job_id = $1 AND status <> 'done'`, [jobId]);
  return true;
}

/** Gives a running slice back (this server is stopping), so that any server takes it at once. */
export async function releaseSlice(db: Queryable, jobId: string, sliceNo: number, serverId: string): Promise<void> {
  await db.query(
    `UPDATE export_slice SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, attempts = greatest(attempts - 1, 0)
      WHERE job_id = $1 AND slice_no = $2 AND lease_owner = $3 AND status = 'running'`,
    [jobId, sliceNo, serverId],
  );
}

/** Removes jobs whose files have expired; the number removed. */
export async function deleteExpiredJobs(db: Queryable): Promise<number> {
  const r = await db.query(`DELETE FROM export_job WHERE expires_at IS NOT NULL AND expires_at < now()`);
  return r.rowCount;
}

/** The job's files in order. */
export async function filesOf(db: Queryable, jobId: string): Promise<ExportFile[]> {
  const r = await db.query<{ file_no: number; resource_type: string; resources: number; bytes: number; closed: boolean }>(
    `SELECT file_no, resource_type, resources, bytes, closed FROM export_file WHERE job_id = $1 ORDER BY file_no`,
    [jobId],
  );
  return r.rows.map((f) => ({ fileNo: Number(f.file_no), resourceType: f.resource_type, resources: Number(f.resources), bytes: Number(f.bytes), closed: f.closed }));
}

/** One file of a job, or null. */
export async function findFile(db: Queryable, jobId: string, fileNo: number): Promise<ExportFile | null> {
  const r = await db.query<{ file_no: number; resource_type: string; resources: number; bytes: number; closed: boolean }>(
    `SELECT file_no, resource_type, resources, bytes, closed FROM export_file WHERE job_id = $1 AND file_no = $2`,
    [jobId, fileNo],
  );
  const f = r.rows[0];
  return f ? { fileNo: Number(f.file_no), resourceType: f.resource_type, resources: Number(f.resources), bytes: Number(f.bytes), closed: f.closed } : null;
}

/** A slice's files still open for more content, with the last chunk number of each, and the highest file number the slice used. */
export async function openFiles(tx: Queryable, jobId: string, sliceNo: number): Promise<{ open: (ExportFile & { lastSeq: number })[]; maxFileNo: number }> {
  const r = await tx.query<{ file_no: number; resource_type: string; resources: number; bytes: number; closed: boolean; last_seq: number }>(
    `SELECT f.file_no, f.resource_type, f.resources, f.bytes, f.closed,
            (SELECT coalesce(max(c.seq), 0) FROM export_chunk c WHERE c.job_id = f.job_id AND c.file_no = f.file_no)::int AS last_seq
       FROM export_file f WHERE f.job_id = $1 AND f.slice_no = $2 AND NOT f.closed ORDER BY f.file_no`,
    [jobId, sliceNo],
  );
  const m = await tx.query<{ n: number }>(`SELECT coalesce(max(file_no), $2 * ${FILES_PER_SLICE})::int AS n FROM export_file WHERE job_id = $1 AND slice_no = $2`, [jobId, sliceNo]);
  return {
    open: r.rows.map((f) => ({ fileNo: Number(f.file_no), resourceType: f.resource_type, resources: Number(f.resources), bytes: Number(f.bytes), closed: f.closed, lastSeq: Number(f.last_seq) })),
    maxFileNo: m.rows[0]?.n ?? 0,
  };
}

/** File numbers of slice n are n * FILES_PER_SLICE + 1, + 2, …: slices number their files without asking each other. */
export const FILES_PER_SLICE = 1000;

/** Starts a file. */
export async function insertFile(tx: Queryable, jobId: string, fileNo: number, resourceType: string, firstPerson: string | null): Promise<void> {
  if (fileNo % FILES_PER_SLICE === 0) throw new Error(`slice ${Math.floor(fileNo / FILES_PER_SLICE) - 1} has written ${FILES_PER_SLICE - 1} files: raise maxFileResources`);
  await tx.query(`INSERT INTO export_file (job_id, file_no, slice_no, resource_type, first_person) VALUES ($1, $2, $3, $4, $5::uuid)`, [jobId, fileNo, Math.floor(fileNo / FILES_PER_SLICE), resourceType, firstPerson]);
}

export interface NewChunk {
  fileNo: number;
  seq: number;
  resources: number;
  ndjson: string;
  lastPerson: string | null;
  /** Close the file after this chunk (it is full). */
  close: boolean;
}

/** Appends chunks and adds their counts to their files (one statement for all the files). */
export async function appendChunks(tx: Queryable, jobId: string, chunks: readonly NewChunk[]): Promise<void> {
  if (!chunks.length) return;
  // One statement a chunk: a chunk's text goes as a plain parameter (an array literal of megabytes
  // costs escaping on both sides, measured at ten times slower).
  for (const c of chunks) {
    await tx.query(`INSERT INTO export_chunk (job_id, file_no, seq, resources, ndjson) VALUES ($1, $2, $3, $4, $5)`, [jobId, c.fileNo, c.seq, c.resources, c.ndjson]);
  }
  const byFile = new Map<number, { resources: number; bytes: number; lastPerson: string | null; close: boolean }>();
  for (const c of chunks) {
    const f = byFile.get(c.fileNo) ?? { resources: 0, bytes: 0, lastPerson: null, close: false };
    f.resources += c.resources;
    f.bytes += Buffer.byteLength(c.ndjson, 'utf8');
    f.lastPerson = c.lastPerson ?? f.lastPerson;
    f.close ||= c.close;
    byFile.set(c.fileNo, f);
  }
  const files = [...byFile.entries()];
  await tx.query(
    `UPDATE export_file f SET resources = f.resources + n.resources, bytes = f.bytes + n.bytes,
            last_person = coalesce(n.last_person, f.last_person), closed = f.closed OR n.close
       FROM unnest($2::int[], $3::int[], $4::bigint[], $5::uuid[], $6::boolean[]) AS n(file_no, resources, bytes, last_person, close)
      WHERE f.job_id = $1 AND f.file_no = n.file_no`,
    [jobId, files.map(([n]) => n), files.map(([, f]) => f.resources), files.map(([, f]) => f.bytes), files.map(([, f]) => f.lastPerson), files.map(([, f]) => f.close)],
  );
}

/** The next chunk of a file after `afterSeq`, or null at the end (a file is read one chunk at a time). */
export async function nextChunk(db: Queryable, jobId: string, fileNo: number, afterSeq: number): Promise<{ seq: number; ndjson: string } | null> {
  const r = await db.query<{ seq: number; ndjson: string }>(
    `SELECT seq, ndjson FROM export_chunk WHERE job_id = $1 AND file_no = $2 AND seq > $3 ORDER BY seq LIMIT 1`,
    [jobId, fileNo, afterSeq],
  );
  const c = r.rows[0];
  return c ? { seq: Number(c.seq), ndjson: c.ndjson } : null;
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}
