/**
 * A person's care team (table `care_team_member`): the named users and whole organisations caring
 * for them. Membership is a legitimate relationship for direct care (access/policy.ts), so who
 * may change it is itself policy: action `care-team`, the role's `careTeam` rule in policy.json
 * (a GP or care coordinator with a direct-care relationship, an administrator for anyone). Every
 * change and every listing is decided and audited in the same transaction as what it does.
 */
import type { PersonQuery } from '../record/record-store.ts';
import { currentPolicy, type Policy } from './policy.ts';
import type { Queryable } from '../db/database.ts';
import { appendAuditBatch, type AuditEntry } from './audit.ts';
import { invalid, type RequestContext } from './context.ts';
import { auditEntry, decideForPerson, finishOutcome, type Outcome } from './person-decision.ts';

export interface CareTeamMember {
  /** A user name, or `org:<ODS code>` for a whole organisation. */
  member: string;
  /** Their part in the person's care, e.g. named GP, key worker, lead nurse. */
  role: string | null;
  startsAt: string;
  endsAt: string | null;
  recordedBy: string | null;
  endedBy: string | null;
}

const USER = /^[a-z0-9][a-z0-9._@-]{0,63}$/i;
const ORG = /^org:[A-Z0-9-]{3,12}$/;

/** Why a member is not a user name or `org:<ODS>`, or null. */
export function memberProblem(member: string): string | null {
  if (ORG.test(member) || (USER.test(member) && !member.includes(':'))) return null;
  return `"${member}" is not a care team member: a user name (letters, digits, . _ @ -) or org:<ODS code> (e.g. org:RM3)`;
}

function checkRole(role: string | undefined): void {
  if (role !== undefined && (!role.trim() || role.length > 64 || /[\u0000-\u001f]/.test(role))) throw invalid('--role: a short name for their part in the care (1-64 characters), e.g. named-gp, key-worker');
}

/** Adds a member to the person's care team (again, if they had left it); unchanged when already on it with that role. */
export async function addCareTeamMember(ctx: RequestContext, who: PersonQuery, m: { member: string; role?: string }, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ personId: string; changed: boolean; member: CareTeamMember }> {
  const problem = memberProblem(m.member);
  if (problem) throw invalid(problem);
  checkRole(m.role);
  const detail = { member: m.member, ...(m.role ? { role: m.role } : {}) };
  const out: Outcome<{ personId: string; changed: boolean; member: CareTeamMember }> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['care-team'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.add', { reason: 'not found', detail })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const decision = d.decisions[0]!;
    const personId = d.person.person_id;
    if (decision.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.add', { personId, decision: 'deny', reason: decision.reason, detail })], now);
      return { kind: 'forbidden', message: `access denied: ${decision.reason}` };
    }
    const current = await tx.query<Row>(`SELECT ${COLUMNS} FROM care_team_member WHERE person_id = ANY($1::uuid[]) AND member = $2 AND starts_at <= $3 AND (ends_at IS NULL OR ends_at > $3)`, [d.memberIds, m.member, now.toISOString()]);
    let changed = true;
    if (current.rows[0] && (m.role === undefined || current.rows[0].role === m.role)) changed = false;
    else {
      await tx.query(
        `INSERT INTO care_team_member (person_id, member, role, starts_at, ends_at, recorded_by, ended_by) VALUES ($1, $2, $3, $4, NULL, $5, NULL)
         ON CONFLICT (person_id, member) DO UPDATE SET role = EXCLUDED.role, starts_at = EXCLUDED.starts_at, ends_at = NULL, recorded_by = EXCLUDED.recorded_by, ended_by = NULL`,
        [personId, m.member, m.role ?? current.rows[0]?.role ?? null, now.toISOString(), ctx.principal.user],
      );
    }
    const row = await tx.query<Row>(`SELECT ${COLUMNS} FROM care_team_member WHERE person_id = ANY($1::uuid[]) AND member = $2 ORDER BY starts_at DESC LIMIT 1`, [d.memberIds, m.member]);
    await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.add', { personId, decision: 'permit', reason: decision.reason, detail: { ...detail, changed } })], now);
    return { kind: 'ok', value: { personId, changed, member: toMember(row.rows[0]!) } };
  });
  return finishOutcome(out);
}

/** Ends a member's place on the person's care team (the row is kept, with when and by whom). */
export async function endCareTeamMember(ctx: RequestContext, who: PersonQuery, member: string, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ personId: string; member: CareTeamMember }> {
  const problem = memberProblem(member);
  if (problem) throw invalid(problem);
  const detail = { member };
  const out: Outcome<{ personId: string; member: CareTeamMember }> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['care-team'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.end', { reason: 'not found', detail })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const decision = d.decisions[0]!;
    const personId = d.person.person_id;
    if (decision.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.end', { personId, decision: 'deny', reason: decision.reason, detail })], now);
      return { kind: 'forbidden', message: `access denied: ${decision.reason}` };
    }
    const r = await tx.query<Row>(
      `UPDATE care_team_member SET ends_at = $3, ended_by = $4 WHERE person_id = ANY($1::uuid[]) AND member = $2 AND (ends_at IS NULL OR ends_at > $3) RETURNING ${COLUMNS}`,
      [d.memberIds, member, now.toISOString(), ctx.principal.user],
    );
    await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.end', { personId, decision: 'permit', reason: r.rows[0] ? decision.reason : `${decision.reason}; not a member`, detail: { ...detail, changed: r.rows.length > 0 } })], now);
    if (!r.rows[0]) return { kind: 'not-found', message: `${member} is not on the person's care team` };
    return { kind: 'ok', value: { personId, member: toMember(r.rows[0]) } };
  });
  return finishOutcome(out);
}

/** The person's care team (current members; with `all`, those who left too), for anyone who may read the record or change its care team. */
export async function listCareTeam(ctx: RequestContext, who: PersonQuery, o: { all?: boolean } = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<{ personId: string; members: CareTeamMember[] }> {
  const out: Outcome<{ personId: string; members: CareTeamMember[] }> = await ctx.db.transaction(async (tx) => {
    const d = await decideForPerson(tx, ctx, policy, who, ['read', 'care-team'], now);
    if (!d) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.list', { reason: 'not found' })], now);
      return { kind: 'not-found', message: 'no record found' };
    }
    const personId = d.person.person_id;
    const permit = d.decisions.find((x) => x.kind === 'permit');
    if (!permit) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.list', { personId, decision: 'deny', reason: d.decisions[0]!.reason })], now);
      return { kind: 'forbidden', message: `access denied: ${d.decisions[0]!.reason}` };
    }
    const r = await tx.query<Row>(
      `SELECT ${COLUMNS} FROM care_team_member WHERE person_id = ANY($1::uuid[]) ${o.all ? '' : 'AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)'} ORDER BY starts_at, member`,
      o.all ? [d.memberIds] : [d.memberIds, now.toISOString()],
    );
    await appendAuditBatch(tx, [auditEntry(ctx, 'care-team.list', { personId, decision: 'permit', reason: permit.reason, detail: { members: r.rows.length, all: !!o.all } })], now);
    return { kind: 'ok', value: { personId, members: r.rows.map(toMember) } };
  });
  return finishOutcome(out);
}

const COLUMNS = 'member, role, starts_at, ends_at, recorded_by, ended_by';

interface Row {
  member: string;
  role: string | null;
  starts_at: Date | string;
  ends_at: Date | string | null;
  recorded_by: string | null;
  ended_by: string | null;
}

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();

function toMember(r: Row): CareTeamMember {
  return { member: r.member, role: r.role, startsAt: iso(r.starts_at), endsAt: r.ends_at === null ? null : iso(r.ends_at), recordedBy: r.recorded_by, endedBy: r.ended_by };
}

/** A feed's statement about a care team member (access/feed-directives.ts), its person resolved by the ingest writer. */
export interface FeedCareTeamMember {
  personId: string;
  /** The source system that sent it: the membership is recorded by `feed:<system>`. */
  system: string;
  /** `org:<ODS code>`. */
  member: string;
  role: string | null;
  effect: 'add' | 'end';
  at: string | null;
  reason: string;
}

/**
 * Applies care teams the feeds sent (CareTeam resources), inside the ingest writer's transaction;
 * returns the audit entries of what changed. A feed adds a member (again, if they had left), or
 * changes the role of a membership it recorded itself; it ends only memberships that same source
 * recorded (one a GP or coordinator added in Bevan stays until they end it).
 */
export async function applyFeedCareTeam(tx: Queryable, statements: readonly FeedCareTeamMember[], now = new Date()): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for (const s of statements) {
    if (memberProblem(s.member)) continue;
    const by = `feed:${s.system}`;
    const at = s.at ?? now.toISOString();
    const entry = (action: string, reason: string): AuditEntry => ({ actor: by, action, personId: s.personId, decision: null, reason, detail: { member: s.member, ...(s.role ? { role: s.role } : {}), source: s.system } });
    if (s.effect === 'add') {
      const r = await tx.query(
        `INSERT INTO care_team_member AS m (person_id, member, role, starts_at, ends_at, recorded_by, ended_by) VALUES ($1, $2, $3, $4, NULL, $5, NULL)
         ON CONFLICT (person_id, member) DO UPDATE SET role = EXCLUDED.role, starts_at = EXCLUDED.starts_at, ends_at = NULL, recorded_by = EXCLUDED.recorded_by, ended_by = NULL
          WHERE (m.ends_at IS NOT NULL AND m.ends_at <= $6::timestamptz) OR (m.ends_at IS NULL AND m.recorded_by = EXCLUDED.recorded_by AND m.role IS DISTINCT FROM EXCLUDED.role)
         RETURNING member`,
        [s.personId, s.member, s.role, at, by, now.toISOString()],
      );
      if (r.rows.length) entries.push(entry('care-team.add', s.reason));
      continue;
    }
    const r = await tx.query(
      `UPDATE care_team_member SET ends_at = GREATEST(starts_at, $3::timestamptz), ended_by = $4
        WHERE person_id = $1 AND member = $2 AND (ends_at IS NULL OR ends_at > $3::timestamptz) AND recorded_by = $4 RETURNING member`,
      [s.personId, s.member, at, by],
    );
    if (r.rows.length) entries.push(entry('care-team.end', s.reason));
  }
  return entries;
}
