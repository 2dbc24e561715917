/**
 * The quarantine behind the access layer: list, show, replay and discard quarantined items as
 * services of the request context, called alike by the CLI (`bevan quarantine`) and HTTP
 * (`/quarantine`). Quarantined items hold personal data (a message that could not be read is
 * still about someone), so every call asks the decision point (access/policy.ts, action
 * `quarantine`: the integration team's role, for administration) and writes its audit entries:
 *
 * - list (`quarantine.list`): reasons and origins, never the raw text; one entry for the call
 *   and one per person an item shown names, so a person can see who saw their item listed.
 * - show (`quarantine.read`): the raw text, audited with the item id, in the same transaction.
 * - replay and discard (`quarantine.replay`, `quarantine.discard`): writes, audited before the
 *   replay runs (the replay commits in the writer's own transactions) and with the discard.
 *
 * An item whose person can be told (its identifiers are read leniently from the raw text,
 * quarantine-subject.ts) and is restricted, or whose text itself flags the person restricted, is
 * withheld like every other path to them: listed with its reason and origin withheld, never
 * shown. It can still be replayed as it is after a fix, or discarded (writes that show nothing;
 * a replay's still-rejected reasons are withheld too).
 */
import { appendAuditBatch, type AuditEntry } from '../access/audit.ts';
import { invalid, type RequestContext } from '../access/context.ts';
import { auditEntry, finishOutcome } from '../access/person-decision.ts';
import { gatherAccessFacts, type PersonKey } from '../access/facts-store.ts';
import { currentPolicy, decide, type AccessFacts, type Decision, type Policy } from '../access/policy.ts';
import type { Queryable } from '../db/database.ts';
import { isValidNhsNumber } from '../mpi/nhs-number.ts';
import { findPerson, recordPersonIds } from '../record/record-store.ts';
import { discardQuarantined, getQuarantined, listQuarantine, replayQuarantined, type QuarantinedItem, type QuarantineFilter, type ReplayResult } from './quarantine.ts';
import { quarantineSubject, type QuarantinedText } from './quarantine-subject.ts';

export interface QuarantineListItem extends QuarantinedItem {
  /** Bevan persons the item names, when they can be told. */
  personIds: string[];
  /** The item is about a restricted person: its reason and origin are not shown. */
  withheld: boolean;
}

export interface QuarantinePage {
  total: number;
  offset: number;
  limit: number;
  items: QuarantineListItem[];
}

export type QuarantinedItemView = QuarantinedItem & { raw: string; personIds: string[] };

export const MAX_PAGE = 200;
const WITHHELD = 'withheld: the item is about a restricted person';

/** Quarantined items, newest first, without their raw text; a restricted person's items withheld. */
export async function listQuarantineFor(ctx: RequestContext, f: QuarantineFilter = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<QuarantinePage> {
  const limit = f.limit ?? 50;
  const offset = f.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw invalid(`limit must be a whole number from 1 to ${MAX_PAGE}`);
  if (!Number.isInteger(offset) || offset < 0) throw invalid('offset must be a whole number, 0 or more');
  const detail = { filter: { status: f.status ?? 'open', format: f.format ?? null, source: f.source ?? null, limit, offset } };
  const out = await ctx.db.transaction(async (tx) => {
    const gate = decide(policy, { action: 'quarantine', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (gate.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.list', { decision: 'deny', reason: gate.reason, detail })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
    }
    const page = await listQuarantine(tx, { ...f, limit, offset });
    const judgedOf = await judgeQuarantinedItems(tx, ctx, policy, page.items.map((i) => i.quarantine_id), now);
    const items: QuarantineListItem[] = [];
    const entries: AuditEntry[] = [];
    for (const item of page.items) {
      const judged = judgedOf.get(item.quarantine_id) ?? { personIds: [], decision: { kind: 'deny' as const, reason: 'the item could not be read back (fails closed)' } };
      const withheld = judged.decision.kind === 'deny';
      items.push(withheld ? { ...item, message_id: null, origin: '(withheld)', reason: WITHHELD, personIds: judged.personIds, withheld } : { ...item, personIds: judged.personIds, withheld });
      for (const personId of judged.personIds) entries.push(auditEntry(ctx, 'quarantine.list', { personId, decision: judged.decision.kind, reason: withheld ? `withheld: ${judged.decision.reason}` : 'listed (reason and origin)', detail: { id: item.quarantine_id } }));
    }
    entries.push(auditEntry(ctx, 'quarantine.list', { decision: 'permit', reason: gate.reason, detail: { ...detail, total: page.total, ids: items.map((i) => i.quarantine_id), withheld: items.filter((i) => i.withheld).length } }));
    await appendAuditBatch(tx, entries, now);
    return { kind: 'ok' as const, value: { total: page.total, offset, limit, items } };
  });
  return finishOutcome(out);
}

/** One quarantined item with its raw text (the integration team's, audited with the item id). */
export async function showQuarantinedFor(ctx: RequestContext, id: number, policy: Policy | null = currentPolicy(), now = new Date()): Promise<QuarantinedItemView> {
  checkId(id);
  const out = await ctx.db.transaction(async (tx) => {
    const gate = decide(policy, { action: 'quarantine', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (gate.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.read', { decision: 'deny', reason: gate.reason, detail: { id } })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
    }
    const item = await getQuarantined(tx, id);
    if (!item) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.read', { reason: 'not found', detail: { id } })], now);
      return { kind: 'not-found' as const, message: `no quarantined item #${id}` };
    }
    const judged = await judgeItem(tx, ctx, policy, item, now);
    await appendAuditBatch(tx, entriesFor(ctx, 'quarantine.read', judged, { id }), now);
    if (judged.decision.kind === 'deny') return { kind: 'forbidden' as const, message: `access denied: ${judged.decision.reason}` };
    return { kind: 'ok' as const, value: { ...item, personIds: judged.personIds } };
  });
  return finishOutcome(out);
}

export interface ReplayOptions {
  /** The repaired text (a CSV row may come without its header line). */
  text?: string;
  /** The source system the item comes from, for an item whose source could not be told. */
  source?: string;
}

/**
 * Replays a quarantined item after a fix (the code now understands it, a repaired text, or the
 * source it came from). The decision and its audit entry commit before the replay is tried.
 */
export async function replayQuarantinedFor(ctx: RequestContext, id: number, o: ReplayOptions = {}, policy: Policy | null = currentPolicy(), now = new Date()): Promise<ReplayResult> {
  checkId(id);
  const detail = { id, repaired: o.text !== undefined, ...(o.source !== undefined ? { source: o.source } : {}) };
  const out = await ctx.db.transaction(async (tx) => {
    const gate = decide(policy, { action: 'quarantine', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (gate.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.replay', { decision: 'deny', reason: gate.reason, detail })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
    }
    const item = await getQuarantined(tx, id);
    if (!item) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.replay', { reason: 'not found', detail })], now);
      return { kind: 'not-found' as const, message: `no quarantined item #${id}` };
    }
    const judged = await judgeItem(tx, ctx, policy, item, now);
    // A write that shows nothing: permitted on the gate even for a restricted person's item.
    await appendAuditBatch(tx, entriesFor(ctx, 'quarantine.replay', { ...judged, decision: gate }, detail), now);
    return { kind: 'ok' as const, value: judged.decision.kind === 'deny' };
  });
  const withheld = finishOutcome(out);
  const r = await replayQuarantined(ctx.db, id, o.text, ctx.principal.user, o.source !== undefined ? { source: o.source } : undefined);
  if (r.kind === 'still-rejected' && withheld) return { ...r, reasons: [WITHHELD] };
  return r;
}

/** Closes an item without replaying it (kept for the record); audited in the same transaction. */
export async function discardQuarantinedFor(ctx: RequestContext, id: number, why: string, policy: Policy | null = currentPolicy(), now = new Date()): Promise<void> {
  checkId(id);
  if (!why.trim()) throw invalid('say why the item is discarded (--reason, or "reason" in the body)');
  const detail = { id, why: why.slice(0, 500) };
  const out = await ctx.db.transaction(async (tx) => {
    const gate = decide(policy, { action: 'quarantine', principal: ctx.principal, purpose: ctx.purpose, facts: null, now });
    if (gate.kind === 'deny') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.discard', { decision: 'deny', reason: gate.reason, detail })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
    }
    const item = await getQuarantined(tx, id);
    if (!item) {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.discard', { reason: 'not found', detail })], now);
      return { kind: 'not-found' as const, message: `no quarantined item #${id}` };
    }
    if (item.status !== 'open') {
      await appendAuditBatch(tx, [auditEntry(ctx, 'quarantine.discard', { reason: `not open (${item.status})`, detail })], now);
      return { kind: 'conflict' as const, message: `quarantined item #${id} is ${item.status}, not open` };
    }
    const judged = await judgeItem(tx, ctx, policy, item, now);
    await discardQuarantined(tx, id, why, ctx.principal.user);
    await appendAuditBatch(tx, entriesFor(ctx, 'quarantine.discard', { ...judged, decision: gate }, detail), now);
    return { kind: 'ok' as const, value: undefined };
  });
  finishOutcome(out);
}

/**
 * The persons each quarantined item names and the quarantine decision for it (deny when a person
 * is restricted, or the text flags them so): for every view that shows items' reasons (the
 * quarantine list, the ingest log), inside the caller's transaction.
 */
export async function judgeQuarantinedItems(tx: Queryable, ctx: RequestContext, policy: Policy | null, ids: readonly number[], now: Date): Promise<Map<number, { personIds: string[]; decision: Decision }>> {
  const out = new Map<number, { personIds: string[]; decision: Decision }>();
  if (!ids.length) return out;
  const raws = await tx.query<QuarantinedText & { quarantine_id: number }>(
    `SELECT quarantine_id::int AS quarantine_id, format, source_system, message_id, raw FROM quarantine WHERE quarantine_id = ANY($1::bigint[])`,
    [ids],
  );
  for (const r of raws.rows) out.set(r.quarantine_id, await judgeItem(tx, ctx, policy, r, now));
  return out;
}

/** The persons an item names and the decision for it (deny when any of them is restricted). */
async function judgeItem(tx: Queryable, ctx: RequestContext, policy: Policy | null, item: QuarantinedText, now: Date): Promise<{ personIds: string[]; decision: Decision }> {
  const subject = quarantineSubject(item);
  const keys = new Map<string, PersonKey>();
  for (const identity of subject.identities) {
    const p = await findPerson(tx, { source: identity });
    if (p && !keys.has(p.person_id)) keys.set(p.person_id, { personId: p.person_id, nhsNumber: p.nhs_number, memberIds: await recordPersonIds(tx, p.person_id) });
  }
  for (const nhs of subject.nhsNumbers) {
    if (!isValidNhsNumber(nhs)) continue;
    const p = await findPerson(tx, { nhsNumber: nhs });
    if (p && !keys.has(p.person_id)) keys.set(p.person_id, { personId: p.person_id, nhsNumber: p.nhs_number, memberIds: await recordPersonIds(tx, p.person_id) });
  }
  const people = [...keys.values()];
  let facts: Map<string, AccessFacts>;
  try {
    facts = policy ? await gatherAccessFacts(tx, policy, ctx.principal, people, now) : new Map();
  } catch (err) {
    return { personIds: people.map((p) => p.personId), decision: { kind: 'deny', reason: `access facts could not be read (fails closed): ${(err as Error).message}` } };
  }
  const ask = (f: AccessFacts | null) => decide(policy, { action: 'quarantine', principal: ctx.principal, purpose: ctx.purpose, facts: f, now });
  // The item's own text flags its person restricted: withheld even when the person is not known yet.
  if (subject.flaggedRestricted) {
    const d = ask({ ...unknownPerson(), restricted: true });
    return { personIds: people.map((p) => p.personId), decision: d.kind === 'deny' ? { kind: 'deny', reason: `${d.reason} (the item itself flags the person restricted)` } : d };
  }
  let decision: Decision = ask(null);
  for (const p of people) {
    const d = ask(facts.get(p.personId) ?? null);
    if (d.kind === 'deny') {
      decision = d;
      break;
    }
    decision = d;
  }
  return { personIds: people.map((p) => p.personId), decision };
}

function unknownPerson(): AccessFacts {
  return { personId: 'unknown', nhsNumber: null, registeredPractices: [], careTeam: [], openEpisodeOrganisations: [], recentEncounters: [], dissentSharing: false, nationalDataOptOut: false, restricted: false, breakGlass: null };
}

function entriesFor(ctx: RequestContext, action: string, judged: { personIds: string[]; decision: Decision }, detail: Record<string, unknown>): AuditEntry[] {
  const base = { decision: judged.decision.kind, reason: judged.decision.reason, detail };
  return judged.personIds.length ? judged.personIds.map((personId) => auditEntry(ctx, action, { ...base, personId })) : [auditEntry(ctx, action, base)];
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) throw invalid(`"${String(id)}" is not a quarantine id (a whole number from 1)`);
}

