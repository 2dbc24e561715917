/**
 * The tamper-evident audit log (table `audit_log`). Each row's hash is
 * sha256(previous row's hash + canonical JSON of the row), so changing, inserting or deleting
 * any row breaks the chain from that row on. Appends are serialised by a transaction-scoped
 * advisory lock, so concurrent writers (many connections, many processes) keep one linear chain.
 * Deleting the newest rows is only detectable against a head hash kept elsewhere: verify
 * returns it for that purpose.
 */
import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';

export interface AuditEntry {
  /** Who: a user name, a service name. */
  actor: string;
  /** What, as `area.verb`, e.g. `record.read`. */
  action: string;
  personId?: string | null;
  /** Purpose of use, e.g. `direct-care`. */
  purpose?: string | null;
  /** Anything else worth keeping; must be JSON. */
  detail?: unknown;
}

export interface AuditRow {
  auditId: number;
  /** ISO instant */
  at: string;
  actor: string;
  action: string;
  personId: string | null;
  purpose: string | null;
  detail: unknown;
  prevHash: string;
  hash: string;
}

export interface ChainCheck {
  ok: boolean;
  /** Rows checked (all of them when ok). */
  rows: number;
  /** The first row whose hash or link to the previous row is wrong. */
  firstBadId?: number;
  reason?: string;
  /** The hash of the newest row: keep it elsewhere to detect truncation later. */
  headHash: string;
}

/** The prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);
// An arbitrary constant, different from the migrator's: the lock that serialises audit appends.
const AUDIT_LOCK = 7_305_221_19;
const VERIFY_PAGE = 2000;

/** Appends one audit row in its own transaction and returns it. */
export async function appendAudit(db: Database, entry: AuditEntry): Promise<AuditRow> {
  return db.transaction((tx) => appendAuditIn(tx, entry));
}

/**
 * Appends one audit row inside the caller's transaction (so the audited change and its audit
 * row commit together). The advisory lock is held until that transaction ends.
 */
export async function appendAuditIn(tx: Queryable, entry: AuditEntry, now: Date = new Date()): Promise<AuditRow> {
  if (!entry.actor) throw new Error('an audit entry needs an actor');
  if (!entry.action) throw new Error('an audit entry needs an action');
  await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
  const last = await tx.query<{ hash: string }>('SELECT hash FROM audit_log ORDER BY audit_id DESC LIMIT 1');
  const prevHash = last.rows[0]?.hash ?? GENESIS_HASH;
  // The id is taken under the lock, so ids increase in chain order.
  const seq = await tx.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence('audit_log', 'audit_id'))::text AS id`);
  const body = {
    auditId: Number(seq.rows[0]!.id),
    at: now.toISOString(),
    actor: entry.actor,
    action: entry.action,
    personId: entry.personId ?? null,
    purpose: entry.purpose ?? null,
    // Stored as jsonb and read back as JSON: hash exactly what will come back.
    detail: entry.detail === undefined ? null : (JSON.parse(JSON.stringify(entry.detail)) as unknown),
  };
  const hash = auditHash(prevHash, body);
  await tx.query(
    `INSERT INTO audit_log (audit_id, at, actor, action, person_id, purpose, detail, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
    [body.auditId, body.at, body.actor, body.action, body.personId, body.purpose, body.detail === null ? null : JSON.stringify(body.detail), prevHash, hash],
  );
  return { ...body, prevHash, hash };
}

/** Re-computes every hash in order and checks each row links to the one before. */
export async function verifyAuditChain(db: Queryable): Promise<ChainCheck> {
  let expectedPrev = GENESIS_HASH;
  let rows = 0;
  let after = 0;
  for (;;) {
    const page = await readAuditPage(db, after, VERIFY_PAGE);
    for (const row of page) {
      if (row.prevHash !== expectedPrev) return { ok: false, rows, firstBadId: row.auditId, reason: 'does not link to the row before it (a row was changed, removed or inserted)', headHash: expectedPrev };
      const { prevHash, hash, ...body } = row;
      if (auditHash(prevHash, body) !== hash) return { ok: false, rows, firstBadId: row.auditId, reason: 'its content does not match its hash (the row was changed)', headHash: expectedPrev };
      expectedPrev = hash;
      rows++;
      after = row.auditId;
    }
    if (page.length < VERIFY_PAGE) break;
  }
  return { ok: true, rows, headHash: expectedPrev };
}

/** The audit rows about one person, newest first ("who has looked at my record"). */
export async function auditForPerson(db: Queryable, personId: string, limit = 100): Promise<AuditRow[]> {
  const r = await db.query<RawAuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE person_id = $1 ORDER BY audit_log.audit_id DESC LIMIT $2`, [personId, limit]);
  return r.rows.map(toAuditRow);
}

/** sha256(prevHash + canonical JSON of the row body), hex. */
export function auditHash(prevHash: string, body: Omit<AuditRow, 'prevHash' | 'hash'>): string {
  return createHash('sha256').update(prevHash + canonicalJson(body)).digest('hex');
}

/** JSON with object keys sorted at every level and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

const COLUMNS = 'audit_id::text AS audit_id, at, actor, action, person_id::text AS person_id, purpose, detail, prev_hash, hash';

interface RawAuditRow {
  audit_id: string;
  at: Date | string;
  actor: string;
  action: string;
  person_id: string | null;
  purpose: string | null;
  detail: unknown;
  prev_hash: string;
  hash: string;
}

async function readAuditPage(db: Queryable, after: number, limit: number): Promise<AuditRow[]> {
  const r = await db.query<RawAuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE audit_id > $1 ORDER BY audit_log.audit_id LIMIT $2`, [after, limit]);
  return r.rows.map(toAuditRow);
}

function toAuditRow(r: RawAuditRow): AuditRow {
  return {
    auditId: Number(r.audit_id),
    at: (r.at instanceof Date ? r.at : new Date(r.at)).toISOString(),
    actor: r.actor,
    action: r.action,
    personId: r.person_id,
    purpose: r.purpose,
    detail: r.detail ?? null,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
