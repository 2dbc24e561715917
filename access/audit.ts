/**
 * The tamper-evident audit log (tables `audit_log`, `audit_chain`), shaped after FHIR
 * AuditEvent and the IHE Basic Audit Log Patterns: who (user, role, organisation), what
 * (action, the person), why (purpose), the decision and its reason, when and from where.
 *
 * Rows are hash-chained, but not in one chain: each row belongs to one of CHAINS chains (the
 * bucket of its person key, or of its user when it is about nobody) and is numbered 1, 2, 3…
 * within it. Its hash = sha256(previous hash in its chain + canonical JSON of the row). An
 * append locks only its chain's head row (`audit_chain`), so readers of different people do
 * not queue behind one global lock, and the head moves in the same transaction as the row, so
 * chains never fork. Deleting the first rows of a chain breaks its numbering from 1; deleting
 * the newest breaks the match with its head (the anchor); the head only moves forward (a
  * trigger), and audit_log refuses UPDATE, DELETE and TRUNCATE (another trigger).
 *
 * Rows written before migration 0012 (chain IS NULL) form the original single chain and are
 * verified by its own rules (hash over auditId, at, actor, action, personId, purpose, detail).
 */
import { createHash } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../db/database.ts';

export interface AuditEntry {
  /** Who: a user name, a service name. */
  actor: string;
  role?: string | null;
  /** ODS code of the actor's organisation. */
  organisation?: string | null;
  /** What, as `area.verb`: `record.read`, `patient.search`, `resource.read`, `record.export`, `break-glass.start`, `auth.login`… */
  action: string;
  personId?: string | null;
  /** Purpose of use, e.g. `direct-care`. */
  purpose?: string | null;
  decision?: 'permit' | 'deny' | null;
  /** Why the decision was made (the policy rule), or why the action failed. */
  reason?: string | null;
  /** Where the request came from: an address, or `cli:<host>`. */
  from?: string | null;
  /** Anything else worth keeping; must be JSON. */
  detail?: unknown;
}

export interface AuditRow {
  auditId: number;
  /** null for rows written before chains were partitioned (migration 0012). */
  chain: number | null;
  seq: number | null;
  /** ISO instant */
  at: string;
  actor: string;
  role: string | null;
  organisation: string | null;
  action: string;
  personId: string | null;
  purpose: string | null;
  decision: string | null;
  reason: string | null;
  from: string | null;
  detail: unknown;
  prevHash: string;
  hash: string;
}

export interface ChainCheck {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  /** The audit id of the first bad row found (lowest id over all chains). */
  firstBadId?: number;
  reason?: string;
  /** Every problem found, one per chain at most. */
  problems: { chain: number | null; auditId: number | null; reason: string }[];
  /** sha256 over every chain's head (chain:seq:hash): keep it elsewhere to detect a rewound head later. */
  headHash: string;
}

/** The prev_hash of every chain's first row. */
export const GENESIS_HASH = '0'.repeat(64);
/** Number of chains (rows exist for 0..CHAINS-1 from migration 0012). */
export const CHAINS = 64;
const VERIFY_PAGE = 2000;

/** The chain of an entry: its person's bucket, or its actor's when it is about nobody. */
export function chainOf(entry: Pick<AuditEntry, 'personId' | 'actor'>): number {
  const key = entry.personId ? `person:${entry.personId.toLowerCase()}` : `actor:${entry.actor}`;
  return createHash('sha256').update(key).digest().readUInt32BE(0) % CHAINS;
}

/** Appends one audit row in its own transaction and returns it. */
export async function appendAudit(db: Database, entry: AuditEntry): Promise<AuditRow> {
  return db.transaction((tx) => appendAuditIn(tx, entry));
}

/**
 * Appends one audit row inside the caller's transaction, so the audited access and its audit
 * row commit together. Holds the row lock on its chain's head until that transaction ends.
 */
export async function appendAuditIn(tx: Queryable, entry: AuditEntry, now: Date = new Date()): Promise<AuditRow> {
  if (!entry.actor) throw new Error('an audit entry needs an actor');
  if (!entry.action) throw new Error('an audit entry needs an action');
  const chain = chainOf(entry);
  const body = {
    chain,
    seq: 0,
    at: now.toISOString(),
    actor: entry.actor,
    role: entry.role ?? null,
    organisation: entry.organisation ?? null,
    action: entry.action,
    personId: entry.personId ?? null,
    purpose: entry.purpose ?? null,
    decision: entry.decision ?? null,
    reason: entry.reason ?? null,
    from: entry.from ?? null,
    // Stored as jsonb and read back as JSON: hash exactly what will come back.
    detail: entry.detail === undefined ? null : (JSON.parse(JSON.stringify(entry.detail)) as unknown),
  };
  // One statement: the head row moves (its UPDATE locks it, so concurrent appends to the chain
  // queue on the row and each sees the head the one before it left), and the row is inserted with
  // the head's old hash as prev_hash and the new one as hash. seq is the last key of the canonical
  // JSON, so the server completes the text hashed here: sha256(prev hash + prefix + seq + "}"), the
  // same as chainedHash computes (verifyAuditChain checks it).
  const canonical = canonicalJson(body);
  if (!canonical.endsWith(',"seq":0}')) throw new Error('audit entry: seq is not the last key of its canonical JSON');
  const upToSeq = canonical.slice(0, -'0}'.length);
  const r = await tx.query<{ audit_id: string; seq: string; prev_hash: string; hash: string }>(APPEND_ONE_SQL, [
    chain,
    upToSeq,
    body.at,
    body.actor,
    body.role,
    body.organisation,
    body.action,
    body.personId,
    body.purpose,
    body.decision,
    body.reason,
    body.from,
    body.detail === null ? null : JSON.stringify(body.detail),
  ]);
  const row = r.rows[0];
  if (!row) throw new Error(`audit chain ${chain} has no head row (migration 0012 not applied?)`);
  return { auditId: Number(row.audit_id), ...body, seq: Number(row.seq), prevHash: row.prev_hash, hash: row.hash };
}

/** $1 chain, $2 the canonical JSON of the row up to its seq value, $3… the columns. prev_hash on audit_chain: migration 0021. */
const APPEND_ONE_SQL = `
WITH head AS (
  UPDATE audit_chain
     SET prev_hash = hash,
         seq = seq + 1,
         hash = encode(sha256(convert_to(hash || $2::text || (seq + 1)::text || '}', 'UTF8')), 'hex'),
         updated_at = now()
   WHERE chain = $1::int
  RETURNING chain, seq, prev_hash, hash
)
INSERT INTO audit_log (chain, seq, at, actor, role, organisation, action, person_id, purpose, decision, reason, source_address, detail, prev_hash, hash)
SELECT head.chain, head.seq, $3::timestamptz, $4::text, $5::text, $6::text, $7::text, $8::uuid, $9::text, $10::text, $11::text, $12::text, $13::jsonb, head.prev_hash, head.hash FROM head
RETURNING audit_id::text AS audit_id, seq::text AS seq, prev_hash, hash`;

/**
 * Appends several audit rows in one statement whatever their number (a search that returns 20
 * people writes 20 rows), atomic on its own: inside the caller's transaction, or in autocommit mode
 * (the group committer). The statement locks the chain heads it moves in ascending chain order
 * (`FOR UPDATE` over a sort), so two statements or transactions appending to overlapping chains
 * cannot deadlock, and chains the rows one after another in SQL (a recursive step per entry of the
 * same chain): each row's hash = sha256(previous hash + its canonical JSON up to its seq + seq + "}"),
 * as APPEND_ONE_SQL computes for one and `verifyAuditChain` checks. Each head moves to its chain's
 * last new row in the same statement.
 */
export async function appendAuditBatch(tx: Queryable, entries: readonly AuditEntry[], now: Date | readonly Date[] = new Date()): Promise<AuditRow[]> {
  if (!entries.length) return [];
  // One instant for all, or one per entry (the group committer's batch: each request's own clock).
  const atOf = (i: number): Date => (Array.isArray(now) ? ((now as readonly Date[])[i] ?? new Date()) : (now as Date));
  if (entries.length === 1) return [await appendAuditIn(tx, entries[0]!, atOf(0))];
  const bodies = entries.map((e, i) => {
    if (!e.actor) throw new Error('an audit entry needs an actor');
    if (!e.action) throw new Error('an audit entry needs an action');
    return {
      chain: chainOf(e),
      seq: 0,
      at: atOf(i).toISOString(),
      actor: e.actor,
      role: e.role ?? null,
      organisation: e.organisation ?? null,
      action: e.action,
      personId: e.personId ?? null,
      purpose: e.purpose ?? null,
      decision: e.decision ?? null,
      reason: e.reason ?? null,
      from: e.from ?? null,
      // Stored as jsonb and read back as JSON: hash exactly what will come back.
      detail: e.detail === undefined ? null : (JSON.parse(JSON.stringify(e.detail)) as unknown),
    };
  });
  const upToSeq = bodies.map((b) => {
    const canonical = canonicalJson(b);
    if (!canonical.endsWith(',"seq":0}')) throw new Error('audit entry: seq is not the last key of its canonical JSON');
    return canonical.slice(0, -'0}'.length);
  });
  const col = <K extends keyof (typeof bodies)[number]>(k: K) => bodies.map((b) => b[k]);
  const r = await tx.query<{ n: string; audit_id: string; seq: string; prev_hash: string; hash: string }>(APPEND_MANY_SQL, [
    col('chain'), upToSeq, col('at'), col('actor'), col('role'), col('organisation'), col('action'), col('personId'), col('purpose'), col('decision'), col('reason'), col('from'),
    bodies.map((b) => (b.detail === null ? null : JSON.stringify(b.detail))),
  ]);
  if (r.rows.length !== bodies.length) throw new Error('audit batch: a chain has no head row (migration 0012 not applied?)');
  const byN = new Map(r.rows.map((x) => [Number(x.n), x]));
  return bodies.map((b, i) => {
    const row = byN.get(i + 1)!;
    return { auditId: Number(row.audit_id), ...b, seq: Number(row.seq), prevHash: row.prev_hash, hash: row.hash };
  });
}

/**
 * $1 the chains, $2 each row's canonical JSON up to its seq value, $3… the columns, in the batch's
 * order. `locked` takes the heads in chain order; `chained` walks each chain's new rows in batch
 * order (k = 1, 2…), each hash from the one before; `moved` sets each head to its last new row.
 * The insert returns n (the row's place in the batch) with what the server chose.
 */
const APPEND_MANY_SQL = `
WITH RECURSIVE x AS (
  SELECT u.*, row_number() OVER (PARTITION BY u.chain ORDER BY u.n) AS k
    FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], $13::jsonb[])
         WITH ORDINALITY AS u(chain, up_to_seq, at, actor, role, organisation, action, person_id, purpose, decision, reason, source_address, detail, n)
), locked AS MATERIALIZED (
  SELECT chain, seq, hash FROM audit_chain WHERE chain = ANY($1::int[]) ORDER BY chain FOR UPDATE
), chained(chain, k, seq, prev_hash, hash) AS (
  SELECT x.chain, x.k, l.seq + 1, l.hash, encode(sha256(convert_to(l.hash || x.up_to_seq || (l.seq + 1)::text || '}', 'UTF8')), 'hex')
    FROM x JOIN locked l ON l.chain = x.chain WHERE x.k = 1
  UNION ALL
  SELECT x.chain, x.k, c.seq + 1, c.hash, encode(sha256(convert_to(c.hash || x.up_to_seq || (c.seq + 1)::text || '}', 'UTF8')), 'hex')
    FROM chained c JOIN x ON x.chain = c.chain AND x.k = c.k + 1
), moved AS (
  UPDATE audit_chain h SET seq = t.seq, hash = t.hash, prev_hash = t.prev_hash, updated_at = now()
    FROM (SELECT DISTINCT ON (chain) chain, seq, hash, prev_hash FROM chained ORDER BY chain, k DESC) t
   WHERE h.chain = t.chain
), ins AS (
  INSERT INTO audit_log (chain, seq, at, actor, role, organisation, action, person_id, purpose, decision, reason, source_address, detail, prev_hash, hash)
  SELECT x.chain, c.seq, x.at, x.actor, x.role, x.organisation, x.action, x.person_id, x.purpose, x.decision, x.reason, x.source_address, x.detail, c.prev_hash, c.hash
    FROM x JOIN chained c ON c.chain = x.chain AND c.k = x.k
   ORDER BY x.n
  RETURNING audit_id, chain, seq, prev_hash, hash
)
SELECT x.n::text AS n, ins.audit_id::text AS audit_id, ins.seq::text AS seq, ins.prev_hash, ins.hash
  FROM ins JOIN chained c ON c.chain = ins.chain AND c.seq = ins.seq JOIN x ON x.chain = c.chain AND x.k = c.k`;

/**
 * Group commit of audit rows (after Postgres' own group commit of WAL): concurrent requests hand
 * their entries to one committer per database, which writes everything handed to it while the
 * previous batch was in flight as one statement in autocommit mode (`appendAuditBatch`: the heads
 * locked in chain order, moved, and the rows inserted, all or nothing) and resolves every request's
 * promise when that statement has committed. A request serves its data only after its promise
 * resolves, so no read leaves without its audit rows durably written; if the batch fails, each
 * request's entries are tried again on their own, and a request whose entries fail serves nothing. Nothing waits for a timer: an idle server writes a
 * lone entry at once (the next turn of the event loop), a busy one writes fewer, larger
 * transactions — one commit (one WAL flush) and one statement for N entries, instead of N (no
 * BEGIN/COMMIT: the statement is atomic on its own).
 * The chain rules are those of appendAuditBatch, so `verifyAuditChain` checks the rows alike,
 * and several servers (each with its committer) still never fork a chain: the head rows are locked.
 * Used for reads (no write of their own to commit with); a write commits its audit rows in its own transaction.
 */
export class AuditCommitter {
  private queue: { entries: readonly AuditEntry[]; now: Date; done: (err?: unknown) => void }[] = [];
  private running = false;
  /** Batches and entries written (for the benchmark and tests). */
  readonly stats = { batches: 0, entries: 0 };

  constructor(private readonly db: Database, private readonly maxBatch = MAX_GROUP_BATCH) {}

  /** Resolves when the entries have committed; rejects (and nothing of them is written) if their batch fails. */
  submit(entries: readonly AuditEntry[], now: Date = new Date()): Promise<void> {
    if (!entries.length) return Promise.resolve();
    for (const e of entries) {
      if (!e.actor) return Promise.reject(new Error('an audit entry needs an actor'));
      if (!e.action) return Promise.reject(new Error('an audit entry needs an action'));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entries, now, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!this.running) {
        this.running = true;
        // Gather what else arrives in this turn of the event loop before the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch: typeof this.queue = [];
        let n = 0;
        while (this.queue.length && (n === 0 || n + this.queue[0]!.entries.length <= this.maxBatch)) {
          const item = this.queue.shift()!;
          batch.push(item);
          n += item.entries.length;
        }
        const entries = batch.flatMap((b) => b.entries);
        const ats = batch.flatMap((b) => b.entries.map(() => b.now));
        try {
          // One statement whatever the number (APPEND_ONE_SQL for one, APPEND_MANY_SQL for several: the
          // heads locked, moved and the rows inserted), atomic on its own: no BEGIN and COMMIT round trips.
          await appendAuditBatch(this.db, entries, ats);
          this.stats.batches++;
          this.stats.entries += entries.length;
          for (const b of batch) b.done();
        } catch (err) {
          if (batch.length === 1) batch[0]!.done(err ?? new Error('audit batch failed'));
          else {
            // One request's bad entry must not fail the others: each on its own, in order.
            for (const b of batch) {
              try {
                await appendAuditBatch(this.db, b.entries, b.now);
                this.stats.batches++;
                this.stats.entries += b.entries.length;
                b.done();
              } catch (one) {
                b.done(one ?? new Error('audit append failed'));
              }
            }
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** The most entries one group-commit batch writes (a statement's arrays stay small). */
const MAX_GROUP_BATCH = 500;
const committers = new WeakMap<Database, AuditCommitter>();

/** The group committer of a database (one per open database in this process). */
export function auditCommitterFor(db: Database): AuditCommitter {
  let c = committers.get(db);
  if (!c) committers.set(db, (c = new AuditCommitter(db)));
  return c;
}

/**
 * Re-computes every hash, chain by chain: each chain must run 1, 2, 3… from the genesis hash,
 * each row link to the one before and match its own content, and the last row must be the
 * chain's head (the anchor). Then the rows from before chains were partitioned.
 */
export async function verifyAuditChain(db: Queryable): Promise<ChainCheck> {
  const problems: ChainCheck['problems'] = [];
  let rows = 0;
  const heads = await db.query<{ chain: number; seq: string; hash: string }>('SELECT chain, seq::text AS seq, hash FROM audit_chain ORDER BY chain');
  const headOf = new Map(heads.rows.map((h) => [h.chain, { seq: Number(h.seq), hash: h.hash }]));
  // One pass over every chained row in (chain, seq) order.
  let current: { chain: number; expectSeq: number; prev: string; lastId: number | null; broken: boolean } | null = null;
  const seen = new Set<number>();
  const finish = () => {
    if (!current || current.broken) return;
    const head = headOf.get(current.chain);
    if (!head) problems.push({ chain: current.chain, auditId: current.lastId, reason: `chain ${current.chain} has no anchor (its head row was removed)` });
    else if (head.seq !== current.expectSeq - 1 || head.hash !== current.prev)
      problems.push({ chain: current.chain, auditId: current.lastId, reason: `chain ${current.chain} ends at entry ${current.expectSeq - 1} but its anchor says ${head.seq}: the newest entries were removed or the anchor was changed` });
  };
  let after: [number, number] = [-1, 0];
  for (;;) {
    const page = await db.query<RawAuditRow>(
      `SELECT ${COLUMNS} FROM audit_log WHERE chain IS NOT NULL AND (chain, seq) > ($1, $2) ORDER BY audit_log.chain, audit_log.seq LIMIT $3`,
      [after[0], after[1], VERIFY_PAGE],
    );
    for (const raw of page.rows) {
      const row = toAuditRow(raw);
      const chain = row.chain!;
      if (!current || current.chain !== chain) {
        finish();
        current = { chain, expectSeq: 1, prev: GENESIS_HASH, lastId: null, broken: false };
        seen.add(chain);
      }
      rows++;
      after = [chain, row.seq!];
      if (current.broken) continue;
      let bad: string | null = null;
      if (row.seq !== current.expectSeq) bad = `entry ${row.seq} of chain ${chain} follows entry ${current.expectSeq - 1}: ${row.seq! > current.expectSeq ? 'entries before it were removed' : 'it is out of order'}`;
      else if (row.prevHash !== current.prev) bad = 'does not link to the entry before it in its chain (an entry was changed, removed, inserted or moved)';
      else if (chainedHash(row.prevHash, chainedBody(row)) !== row.hash) bad = 'its content does not match its hash (the entry was changed)';
      if (bad) {
        problems.push({ chain, auditId: row.auditId, reason: bad });
        current.broken = true;
        continue;
      }
      current.prev = row.hash;
      current.expectSeq++;
      current.lastId = row.auditId;
    }
    if (page.rows.length < VERIFY_PAGE) break;
  }
  finish();
  // A chain whose head has moved on but which has no rows left at all.
  for (const [chain, head] of headOf) {
    if (head.seq > 0 && !seen.has(chain)) problems.push({ chain, auditId: null, reason: `chain ${chain} is empty but its anchor says ${head.seq} entries: they were removed` });
  }
  const legacy = await verifyLegacyChain(db);
  rows += legacy.rows;
  if (legacy.problem) problems.push(legacy.problem);

  const headHash = createHash('sha256')
    .update(heads.rows.map((h) => `${h.chain}:${h.seq}:${h.hash}`).join('\n'))
    .digest('hex');
  const ids = problems.map((p) => p.auditId).filter((x): x is number => x !== null);
  const first = ids.length ? Math.min(...ids) : undefined;
  const firstProblem = problems.find((p) => p.auditId === first) ?? problems[0];
  return { ok: problems.length === 0, rows, problems, headHash, ...(problems.length ? { firstBadId: first, reason: firstProblem?.reason } : {}) };
}

async function verifyLegacyChain(db: Queryable): Promise<{ rows: number; problem?: ChainCheck['problems'][number] }> {
  let expectedPrev = GENESIS_HASH;
  let rows = 0;
  let after = 0;
  for (;;) {
    const page = await db.query<RawAuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE chain IS NULL AND audit_id > $1 ORDER BY audit_id LIMIT $2`, [after, VERIFY_PAGE]);
    for (const raw of page.rows) {
      const row = toAuditRow(raw);
      const body = { auditId: row.auditId, at: row.at, actor: row.actor, action: row.action, personId: row.personId, purpose: row.purpose, detail: row.detail };
      if (row.prevHash !== expectedPrev) return { rows, problem: { chain: null, auditId: row.auditId, reason: 'does not link to the row before it (a row was changed, removed or inserted)' } };
      if (auditHash(row.prevHash, body) !== row.hash) return { rows, problem: { chain: null, auditId: row.auditId, reason: 'its content does not match its hash (the row was changed)' } };
      expectedPrev = row.hash;
      rows++;
      after = row.auditId;
    }
    if (page.rows.length < VERIFY_PAGE) return { rows };
  }
}

export interface AuditQuery {
  personId?: string;
  /** Rows about any of these persons (a person and those merged into them). */
  personIds?: string[];
  user?: string;
  /** ISO date or instant. */
  since?: string;
  action?: string;
  limit?: number;
}

/** Audit rows matching a query, newest first (for a governance lead, or "who looked at my record"). */
export async function searchAudit(db: Queryable, q: AuditQuery): Promise<AuditRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const ids = q.personIds ?? (q.personId ? [q.personId] : undefined);
  if (ids) {
    params.push(ids);
    where.push(`person_id = ANY($${params.length}::uuid[])`);
  }
  if (q.user) {
    params.push(q.user);
    where.push(`actor = $${params.length}`);
  }
  if (q.since) {
    params.push(q.since);
    where.push(`at >= $${params.length}::timestamptz`);
  }
  if (q.action) {
    params.push(q.action);
    where.push(`action = $${params.length}`);
  }
  params.push(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
  const r = await db.query<RawAuditRow>(
    `SELECT ${COLUMNS} FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY audit_id DESC LIMIT $${params.length}`,
    params,
  );
  return r.rows.map(toAuditRow);
}

/** The audit rows about one person, newest first ("who has looked at my record"). */
export async function auditForPerson(db: Queryable, personId: string, limit = 100): Promise<AuditRow[]> {
  return searchAudit(db, { personId, limit });
}

/** One audit row as a FHIR R4 AuditEvent (https://hl7.org/fhir/R4/auditevent.html), after IHE BALP. */
export function toAuditEvent(row: AuditRow): AuditEvent {
  const verb = row.action.split('.').pop() ?? '';
  const subtype = verb === 'search' ? 'search-type' : verb === 'export' ? 'export' : verb === 'read' ? 'read' : verb === 'everything' ? 'operation' : verb;
  // BALP: read, vread and history are R (read); search, export and operations are E (execute).
  const action: AuditEvent['action'] = verb === 'read' || verb === 'vread' || verb === 'history-instance' ? 'R' : 'E';
  const ev: AuditEvent = {
    resourceType: 'AuditEvent',
    id: String(row.auditId),
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: subtype }, { system: 'urn:bevan:audit-action', code: row.action }],
    action,
    recorded: row.at,
    outcome: row.decision === 'deny' ? '4' : '0',
    outcomeDesc: row.reason ?? undefined,
    purposeOfEvent: row.purpose ? [{ coding: [{ system: 'urn:bevan:purpose-of-use', code: row.purpose }] }] : undefined,
    agent: [
      {
        who: { identifier: { system: 'urn:bevan:user', value: row.actor }, display: row.actor },
        role: row.role ? [{ coding: [{ system: 'urn:bevan:role', code: row.role }] }] : undefined,
        requestor: true,
        network: row.from ? { address: row.from, type: '2' } : undefined,
        ...(row.organisation ? { location: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: row.organisation } } } : {}),
      },
    ],
    source: { observer: { display: 'Bevan' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    entity: row.personId
      ? [{ what: { reference: `Patient/${row.personId}` }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' }, role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' } }]
      : undefined,
  };
  return JSON.parse(JSON.stringify(ev)) as AuditEvent;
}

/** sha256(prevHash + canonical JSON of the body), hex. Used for the rows before migration 0012. */
export function auditHash(prevHash: string, body: unknown): string {
  return createHash('sha256').update(prevHash + canonicalJson(body)).digest('hex');
}

function chainedBody(row: AuditRow) {
  const { auditId: _id, prevHash: _p, hash: _h, ...body } = row;
  return body;
}

function chainedHash(prevHash: string, body: ReturnType<typeof chainedBody>): string {
  return auditHash(prevHash, body);
}

/** JSON with object keys sorted at every level and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

const COLUMNS = `audit_id::text AS audit_id, chain, seq::text AS seq, at, actor, role, organisation, action, person_id::text AS person_id,
  purpose, decision, reason, source_address, detail, prev_hash, hash`;

interface RawAuditRow {
  audit_id: string;
  chain: number | null;
  seq: string | null;
  at: Date | string;
  actor: string;
  role: string | null;
  organisation: string | null;
  action: string;
  person_id: string | null;
  purpose: string | null;
  decision: string | null;
  reason: string | null;
  source_address: string | null;
  detail: unknown;
  prev_hash: string;
  hash: string;
}

function toAuditRow(r: RawAuditRow): AuditRow {
  return {
    auditId: Number(r.audit_id),
    chain: r.chain,
    seq: r.seq === null ? null : Number(r.seq),
    at: (r.at instanceof Date ? r.at : new Date(r.at)).toISOString(),
    actor: r.actor,
    role: r.role,
    organisation: r.organisation,
    action: r.action,
    personId: r.person_id,
    purpose: r.purpose,
    decision: r.decision,
    reason: r.reason,
    from: r.source_address,
    detail: r.detail ?? null,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
