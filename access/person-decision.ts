/**
 * The common start of every governance service about one person (care team, consent, "who looked
 * at my record"): find the person, gather their access facts and ask the decision point, inside
 * the caller's transaction, so that the audit entry the service writes commits with what it did.
 * Also the audit entry of a request context and the turn of a transaction's outcome into a value
 * or a BevanError after the commit (a denial is audited, then thrown).
 */
import type { Queryable } from '../db/database.ts';
import { findPerson, recordPersonIds, type PersonQuery } from '../record/record-store.ts';
import type { PersonRow } from '../record/rows.ts';
import type { AuditEntry } from './audit.ts';
import { conflict, forbidden, notFound, type RequestContext } from './context.ts';
import { gatherAccessFacts } from './facts-store.ts';
import { decide, type AccessAction, type AccessFacts, type Decision, type Policy } from './policy.ts';

export interface PersonDecision {
  person: PersonRow;
  /** The person and anyone merged into them. */
  memberIds: string[];
  facts: AccessFacts | null;
  /** One decision per action asked, in the order asked. */
  decisions: Decision[];
}

/** Finds the person and decides each action for them; null when nobody is found. Never throws for a policy reason. */
export async function decideForPerson(tx: Queryable, ctx: RequestContext, policy: Policy | null, query: PersonQuery, actions: readonly AccessAction[], now: Date): Promise<PersonDecision | null> {
  const person = await findPerson(tx, query);
  if (!person) return null;
  const memberIds = await recordPersonIds(tx, person.person_id);
  let facts: AccessFacts | null = null;
  try {
    if (policy) facts = (await gatherAccessFacts(tx, policy, ctx.principal, [{ personId: person.person_id, nhsNumber: person.nhs_number, memberIds }], now)).get(person.person_id) ?? null;
  } catch (err) {
    const reason = `access facts could not be read (fails closed): ${(err as Error).message}`;
    return { person, memberIds, facts: null, decisions: actions.map(() => ({ kind: 'deny', reason })) };
  }
  // No break-glass here: these services never start an emergency session.
  const decisions = actions.map((action) => decide(policy, { action, principal: ctx.principal, purpose: ctx.purpose, facts, now }));
  return { person, memberIds, facts, decisions };
}

/** An audit entry for the context's user. */
export function auditEntry(ctx: RequestContext, action: string, e: Partial<AuditEntry> = {}): AuditEntry {
  const p = ctx.principal;
  return { actor: p.user, role: p.role, organisation: p.organisation, purpose: ctx.purpose, from: ctx.from, action, ...e };
}

export type Outcome<T> = { kind: 'ok'; value: T } | { kind: 'forbidden' | 'not-found' | 'conflict'; message: string };

/** A transaction's outcome as its value, or thrown as a BevanError once its audit rows have committed. */
export function finishOutcome<T>(out: Outcome<T>): T {
  switch (out.kind) {
    case 'ok':
      return out.value;
    case 'forbidden':
      throw forbidden(out.message);
    case 'not-found':
      throw notFound(out.message);
    case 'conflict':
      throw conflict(out.message);
  }
}
