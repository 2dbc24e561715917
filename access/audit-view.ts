/**
 * "A person can see who looked at their record": the audit entries about one person (and anyone
 * merged into them) — who, in what role and organisation, when, what, for what purpose, and the
 * decision — never an entry's detail (a search's query), the address it came from, or anything
 * about another person. For the patient themselves (`auditOfMyRecord`), and for users the policy
 * lets see it (action `audit`: a direct-care relationship, or governance for administration).
 * Each view is decided and audited itself (`audit.read`), in the transaction that reads.
 */
import type { PersonQuery } from '../record/record-store.ts';
import { appendAuditBatch, searchAudit, type AuditRow } from './audit.ts';
import { invalid, type RequestContext } from './context.ts';
import { auditEntry, decideForPerson, finishOutcome, type Outcome } from './person-decision.ts';
import { currentPolicy, type Policy } from './policy.ts';

/** One access to the person's record, as the person (or their care team) sees it. */
export interface RecordAccess {
  at: string;
  /** The user (or feed) that did it. */
  who: string;
  role: string | null;
  organisation: string | null;
  /** What, as `area.verb`: record.read, patient.search, break-glass.start… */
  action: string;
  purpose: string | null;
  decision: string | null;
  reason: string | null;
}

export interface RecordAccessPage {
  personId: string;
  entries: RecordAccess[];
}

export interface AccessQuery {
  /** ISO date or instant. */
  since?: string;
  /** At most this many, newest first (1-1000, default 100). */
  limit?: number;
}

function checkQuery(q: AccessQuery): { since?: string; limit: number } {
  const limit = q.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit must be a whole number from 1 to 1000');
  if (q.since !== undefined && Number.isNaN(Date.parse(q.since))) throw invalid(`since "${q.since}" is not a date (YYYY-MM-DD or an ISO instant)`);
  return { ...(q.since !== undefined ? { since: new Date(q.since).toISOString() } : {}), limit };
}

/** Who looked at the signed-in patient's own record (their NHS number names it). */
export async function auditOfMyRecord(ctx: RequestContext, q: AccessQuery = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<RecordAccessPage> {
  const nhs = ctx.principal.nhsNumber;
  if (!nhs) {
    const reason = 'this user has no record of their own (a patient user names theirs by NHS number); see /audit/person/{id}';
    const out = await ctx.db.transaction(async (tx) => {
      await appendAuditBatch(tx, [auditEntry(ctx, 'audit.read', { decision: 'deny', reason, detail: { of: 'me' } })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${reason}` };
    });
    return finishOutcome(out);
  }
  return accessesOf(ctx, { nhsNumber: nhs }, q, policy, now, 'me');
}

/** Who looked at a person's record, for a user the policy lets see it. */
export async function auditOfPerson(ctx: RequestContext, who: PersonQuery, q: AccessQuery = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<RecordAccessPage> {
  return accessesOf(ctx, who, q, policy, now, 'person');
}

async function accessesOf(ctx: RequestContext, who: PersonQuery, q: AccessQuery, policy: Policy | null, now: Date, of: 'me' | 'person'): Promise<RecordAccessPage> {
  const { since, limit } = checkQuery(q);
  const detail = { of, ...(since ? { since } : {}), limit };
  const out: Outcome<RecordAccessPage> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['audit'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'audit.read', { reason: 'not found', detail })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const decision = d.decisions[0]!;
    const personId = d.person.person_id;
    if (decision.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'audit.read', { personId, decision: 'deny', reason: decision.reason, detail })], now);
      return { kind: 'forbidden', message: `access denied: ${decision.reason}` };
    }
    const entries = (await searchAudit(tx, { personIds: d.memberIds, ...(since ? { since } : {}), limit })).map(toRecordAccess);
    await appendAuditBatch(tx, [auditEntry(ctx, 'audit.read', { personId, decision: 'permit', reason: decision.reason, detail: { ...detail, entries: entries.length } })], now);
    return { kind: 'ok', value: { personId, entries } };
  });
  return finishOutcome(out);
}

/** The parts of an audit row a person sees: not its detail, its address or its hashes. */
function toRecordAccess(r: AuditRow): RecordAccess {
  return { at: r.at, who: r.actor, role: r.role, organisation: r.organisation, action: r.action, purpose: r.purpose, decision: r.decision, reason: r.reason };
}
