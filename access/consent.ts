/**
 * A person's consent directives (table `consent_directive`): dissent from sharing between
 * organisations (each user then sees only their own organisation's items) and the national data
 * opt-out (no secondary use). Who may record or withdraw them is policy: action `consent`, the
 * role's `consent` rule in policy.json (the patient themselves, a GP with a direct-care
 * relationship, an administrator). Every change and listing is decided and audited in the same
 * transaction as what it does.
 */
import type { PersonQuery } from '../record/record-store.ts';
import type { Queryable } from '../db/database.ts';
import { appendAuditBatch, type AuditEntry } from './audit.ts';
import { invalid, type RequestContext } from './context.ts';
import { auditEntry, decideForPerson, finishOutcome, type Outcome } from './person-decision.ts';
import { currentPolicy, type Policy } from './policy.ts';

export const CONSENT_KINDS = ['dissent-sharing', 'national-data-opt-out'] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];

export function isConsentKind(s: unknown): s is ConsentKind {
  return typeof s === 'string' && (CONSENT_KINDS as readonly string[]).includes(s);
}

export interface ConsentDirective {
  kind: ConsentKind | string;
  recordedAt: string;
  recordedBy: string | null;
  withdrawnAt: string | null;
  withdrawnBy: string | null;
}

function checkKind(kind: string): asserts kind is ConsentKind {
  if (!isConsentKind(kind)) throw invalid(`"${kind}" is not a consent directive (${CONSENT_KINDS.join(', ')})`);
}

/** Records a directive (again, if it was withdrawn); unchanged when it is already in force. */
export async function recordConsent(ctx: RequestContext, who: PersonQuery, kind: string, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ personId: string; changed: boolean; directive: ConsentDirective }> {
  checkKind(kind);
  const out: Outcome<{ personId: string; changed: boolean; directive: ConsentDirective }> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['consent'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'consent.record', { reason: 'not found', detail: { kind } })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const decision = d.decisions[0]!;
    const personId = d.person.person_id;
    if (decision.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'consent.record', { personId, decision: 'deny', reason: decision.reason, detail: { kind } })], now);
      return { kind: 'forbidden', message: `access denied: ${decision.reason}` };
    }
    const inForce = await tx.query<Row>(`SELECT ${COLUMNS} FROM consent_directive WHERE person_id = ANY($1::uuid[]) AND kind = $2 AND withdrawn_at IS NULL`, [d.memberIds, kind]);
    const changed = !inForce.rows[0];
    if (changed) {
      await tx.query(
        `INSERT INTO consent_directive (person_id, kind, recorded_at, recorded_by, withdrawn_at, withdrawn_by) VALUES ($1, $2, $3, $4, NULL, NULL)
         ON CONFLICT (person_id, kind) DO UPDATE SET recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by, withdrawn_at = NULL, withdrawn_by = NULL`,
        [personId, kind, now.toISOString(), ctx.principal.user],
      );
    }
    const row = await tx.query<Row>(`SELECT ${COLUMNS} FROM consent_directive WHERE person_id = ANY($1::uuid[]) AND kind = $2 ORDER BY withdrawn_at DESC NULLS FIRST, recorded_at DESC LIMIT 1`, [d.memberIds, kind]);
    await appendAuditBatch(tx, [auditEntry(ctx, 'consent.record', { personId, decision: 'permit', reason: decision.reason, detail: { kind, changed } })], now);
    return { kind: 'ok', value: { personId, changed, directive: toDirective(row.rows[0]!) } };
  });
  return finishOutcome(out);
}

/** Withdraws a directive in force (the row is kept, with when and by whom). */
export async function withdrawConsent(ctx: RequestContext, who: PersonQuery, kind: string, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ personId: string; directive: ConsentDirective }> {
  checkKind(kind);
  const out: Outcome<{ personId: string; directive: ConsentDirective }> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['consent'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'consent.withdraw', { reason: 'not found', detail: { kind } })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const decision = d.decisions[0]!;
    const personId = d.person.person_id;
    if (decision.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'consent.withdraw', { personId, decision: 'deny', reason: decision.reason, detail: { kind } })], now);
      return { kind: 'forbidden', message: `access denied: ${decision.reason}` };
    }
    const r = await tx.query<Row>(
      `UPDATE consent_directive SET withdrawn_at = $3, withdrawn_by = $4 WHERE person_id = ANY($1::uuid[]) AND kind = $2 AND withdrawn_at IS NULL RETURNING ${COLUMNS}`,
      [d.memberIds, kind, now.toISOString(), ctx.principal.user],
    );
    await appendAuditBatch(tx, [auditEntry(ctx, 'consent.withdraw', { personId, decision: 'permit', reason: r.rows[0] ? decision.reason : `${decision.reason}; none in force`, detail: { kind, changed: r.rows.length > 0 } })], now);
    if (!r.rows[0]) return { kind: 'not-found', message: `the person has no ${kind} directive in force` };
    return { kind: 'ok', value: { personId, directive: toDirective(r.rows[0]) } };
  });
  return finishOutcome(out);
}

/** The person's directives, in force and withdrawn, for anyone who may read the record or record consent. */
export async function listConsent(ctx: RequestContext, who: PersonQuery, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ personId: string; directives: ConsentDirective[] }> {
  const out: Outcome<{ personId: string; directives: ConsentDirective[] }> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['read', 'consent'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'consent.list', { reason: 'not found' })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const personId = d.person.person_id;
    const permit = d.decisions.find((x) => x.kind === 'permit');
    if (!permit) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'consent.list', { personId, decision: 'deny', reason: d.decisions[0]!.reason })], now);
      return { kind: 'forbidden', message: `access denied: ${d.decisions[0]!.reason}` };
    }
    const r = await tx.query<Row>(`SELECT ${COLUMNS} FROM consent_directive WHERE person_id = ANY($1::uuid[]) ORDER BY kind, recorded_at`, [d.memberIds]);
    await appendAuditBatch(tx, [auditEntry(ctx, 'consent.list', { personId, decision: 'permit', reason: permit.reason, detail: { directives: r.rows.length } })], now);
    return { kind: 'ok', value: { personId, directives: r.rows.map(toDirective) } };
  });
  return finishOutcome(out);
}

const COLUMNS = 'kind, recorded_at, recorded_by, withdrawn_at, withdrawn_by';

interface Row {
  kind: string;
  recorded_at: Date | string;
  recorded_by: string | null;
  withdrawn_at: Date | string | null;
  withdrawn_by: string | null;
}

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();

function toDirective(r: Row): ConsentDirective {
  return { kind: r.kind, recordedAt: iso(r.recorded_at), recordedBy: r.recorded_by, withdrawnAt: r.withdrawn_at === null ? null : iso(r.withdrawn_at), withdrawnBy: r.withdrawn_by };
}

/** A feed's statement about a person's directive (access/feed-directives.ts), its person resolved by the ingest writer. */
export interface FeedConsent {
  personId: string;
  /** The source system that sent it: the directive is recorded by `feed:<system>`. */
  system: string;
  kind: ConsentKind;
  effect: 'record' | 'withdraw';
  at: string | null;
  reason: string;
}

/**
 * Applies directives the feeds sent (a GP system's Consent resources), inside the ingest
 * writer's transaction; returns the audit entries of what changed (the caller appends them with
 * its batch). A feed records a directive, or records it again after a withdrawal older than its
 * own statement; it withdraws only what that same source recorded (a patient's or a GP's choice
 * made in Bevan stays until they change it), and never with a statement older than the record.
 */
export async function applyFeedConsent(tx: Queryable, statements: readonly FeedConsent[], now = new Date()): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for (const s of statements) {
    const by = `feed:${s.system}`;
    const at = s.at ?? now.toISOString();
    const entry = (action: string, reason: string, detail: Record<string, unknown>): AuditEntry => ({ actor: by, action, personId: s.personId, decision: null, reason, detail: { kind: s.kind, ...detail } });
    if (s.effect === 'record') {
      const r = await tx.query(
        `INSERT INTO consent_directive AS c (person_id, kind, recorded_at, recorded_by, withdrawn_at, withdrawn_by) VALUES ($1, $2, $3, $4, NULL, NULL)
         ON CONFLICT (person_id, kind) DO UPDATE SET recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by, withdrawn_at = NULL, withdrawn_by = NULL
          WHERE c.withdrawn_at IS NOT NULL AND c.withdrawn_at < EXCLUDED.recorded_at
         RETURNING kind`,
        [s.personId, s.kind, at, by],
      );
      if (r.rows.length) entries.push(entry('consent.record', s.reason, { source: s.system }));
      continue;
    }
    const r = await tx.query<{ kind: string }>(
      `UPDATE consent_directive SET withdrawn_at = GREATEST(recorded_at, $3::timestamptz), withdrawn_by = $4
        WHERE person_id = $1 AND kind = $2 AND withdrawn_at IS NULL AND recorded_by = $4 AND recorded_at <= $3::timestamptz RETURNING kind`,
      [s.personId, s.kind, at, by],
    );
    if (r.rows.length) {
      entries.push(entry('consent.withdraw', s.reason, { source: s.system }));
      continue;
    }
    const other = await tx.query<{ recorded_by: string | null }>(`SELECT recorded_by FROM consent_directive WHERE person_id = $1 AND kind = $2 AND withdrawn_at IS NULL`, [s.personId, s.kind]);
    const holder = other.rows[0];
    if (holder && holder.recorded_by !== by) {
      entries.push(entry('consent.feed', `${s.reason}: not withdrawn, it was recorded by ${holder.recorded_by ?? 'governance'} (a feed withdraws only what it recorded itself)`, { source: s.system, effect: 'none' }));
    }
  }
  return entries;
}
