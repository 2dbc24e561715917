/**
 * The ingest log (`bevan ingest log`) behind the access layer. What was received, from which
 * source and with what outcome is the feeds' administration view: the decision point's `feeds`
 * gate (roles with `feeds: true` — the integration team and administrators — for administration).
 * Quarantined items' reasons can name a person (an invalid NHS number, a name that did not
 * parse), so they are shown as the quarantine list shows them: only to a role that may handle
 * quarantined items (the `quarantine` decision), a restricted person's items withheld, and that
 * view audited (`ingest.log`: one entry for the call with the quarantine ids shown, one per person
 * an item names), in the same transaction as the read. A log without quarantine reasons shown
 * holds no personal data and is not audited; every refusal is.
 */
import { appendAuditBatch, type AuditEntry } from '../access/audit.ts';
import { forbidden, type RequestContext } from '../access/context.ts';
import { currentPolicy, decide, type Policy } from '../access/policy.ts';
import { readIngestLog, type IngestLog, type IngestLogFilter } from './ingest-log.ts';
import { judgeQuarantinedItems } from './quarantine-service.ts';

/** The log as one user may see it; `withheld` counts the quarantined items whose reason is not shown. */
export interface IngestLogView extends IngestLog {
  withheld: number;
}

const NOT_YOURS = "withheld: quarantined items hold personal data (the integration team's role: bevan quarantine list)";
const RESTRICTED = 'withheld: the item is about a restricted person';

/** Reads the log for the request's user: refused unless the policy lets them see the feeds. */
export async function readIngestLogFor(ctx: RequestContext, f: IngestLogFilter = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<IngestLogView> {
  const filter = { source: f.source ?? null, outcome: f.outcome ?? null, since: f.since?.toISOString() ?? null, limit: f.limit ?? 50 };
  const entry = (e: Partial<AuditEntry>): AuditEntry => ({ actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action: 'ingest.log', ...e });
  const out = await ctx.db.transaction(async (tx) => {
    const gate = decide(policy, { action: 'feeds', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (gate.kind === 'deny') {
      await appendAuditBatch(tx, [entry({ decision: 'deny', reason: gate.reason, detail: { filter } })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
    }
    const log = await readIngestLog(tx, f);
    const quarantined = log.messages.filter((m) => m.outcome === 'quarantined' && m.quarantineId);
    if (!quarantined.length) return { kind: 'ok' as const, value: { ...log, withheld: 0 } };
    const seeItems = decide(policy, { action: 'quarantine', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (seeItems.kind === 'deny') {
      // The feeds' view without the items' content: the counts and ids stay, the reasons go.
      for (const m of quarantined) m.reason = NOT_YOURS;
      return { kind: 'ok' as const, value: { ...log, withheld: quarantined.length } };
    }
    const judged = await judgeQuarantinedItems(tx, ctx, policy, quarantined.map((m) => m.quarantineId!), now);
    const entries: AuditEntry[] = [];
    let withheld = 0;
    for (const m of quarantined) {
      const j = judged.get(m.quarantineId!);
      const hide = !j || j.decision.kind === 'deny';
      if (hide) {
        withheld++;
        Object.assign(m, { reason: RESTRICTED, origin: '(withheld)', messageId: null });
      }
      for (const personId of j?.personIds ?? []) entries.push(entry({ personId, decision: hide ? 'deny' : 'permit', reason: hide ? `withheld: ${j!.decision.reason}` : 'listed in the ingest log (reason and origin)', detail: { id: m.quarantineId } }));
    }
    entries.push(entry({ decision: 'permit', reason: `${gate.reason}; ${seeItems.reason}`, detail: { filter, quarantineIds: quarantined.map((m) => m.quarantineId), withheld } }));
    await appendAuditBatch(tx, entries, now);
    return { kind: 'ok' as const, value: { ...log, withheld } };
  });
  if (out.kind === 'forbidden') throw forbidden(out.message);
  return out.value;
}
