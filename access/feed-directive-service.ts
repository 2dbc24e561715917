/**
 * The ingest writer's hook for consent and care teams sent by the feeds: maps each message's
 * Consent and CareTeam resources (access/feed-directives.ts) and applies them through the services
 * that own the tables (access/consent.ts, access/care-team.ts), in the writer's transaction, so
 * dissent recorded at the GP and care teams sent by providers take effect in the next access
 * decision. What changed is audited as `consent.record` / `consent.withdraw` / `care-team.add` /
 * `care-team.end` by `feed:<system>`; what has no effect is audited as `consent.feed` /
 * `care-team.feed` with the reason (the resource itself is stored as sent).
 */
import type { Queryable } from '../db/database.ts';
import { appendAuditBatch, type AuditEntry } from './audit.ts';
import { applyFeedCareTeam, type FeedCareTeamMember } from './care-team.ts';
import { applyFeedConsent, type FeedConsent } from './consent.ts';
import { feedDirectives, organisationCodes } from './feed-directives.ts';

/** The resource types the hook reads (the writer passes these, and the Organizations they may name). */
export const DIRECTIVE_TYPES: ReadonlySet<string> = new Set(['Consent', 'CareTeam']);

export interface DirectiveMessage {
  system: string;
  messageId: string;
  /** The message's Consent, CareTeam and Organization resources, each with its Patient's source id and that identity's person. */
  resources: { resource: Record<string, unknown>; subject: string | null; personId: string | null }[];
}

/** Applies what the messages' Consent and CareTeam resources say; returns how many directives changed. */
export async function recordFeedDirectives(tx: Queryable, messages: readonly DirectiveMessage[], now = new Date()): Promise<number> {
  const consent: FeedConsent[] = [];
  const careTeam: FeedCareTeamMember[] = [];
  const audit: AuditEntry[] = [];
  for (const m of messages) {
    const personOf = new Map<string, string | null>();
    for (const r of m.resources) if (r.subject !== null) personOf.set(r.subject, r.personId ?? personOf.get(r.subject) ?? null);
    const organisations = organisationCodes(m.resources.map((r) => r.resource));
    const found = feedDirectives(m.resources.filter((r) => DIRECTIVE_TYPES.has(String(r.resource.resourceType))), organisations, now);
    const unlinked = (type: string, subject: string, reason: string) =>
      audit.push({ actor: `feed:${m.system}`, action: type === 'Consent' ? 'consent.feed' : 'care-team.feed', personId: null, decision: null, reason: `${reason}: its Patient ${subject} is not linked to a person yet; stored, no effect on access`, detail: { source: m.system, message: m.messageId, effect: 'none' } });
    for (const s of found.consent) {
      const personId = personOf.get(s.subject) ?? null;
      if (personId) consent.push({ ...s, personId, system: m.system, reason: `${s.reason} (message ${m.messageId})` });
      else unlinked('Consent', s.subject, s.reason);
    }
    for (const s of found.careTeam) {
      const personId = personOf.get(s.subject) ?? null;
      if (personId) careTeam.push({ ...s, personId, system: m.system, reason: `${s.reason} (message ${m.messageId})` });
      else unlinked('CareTeam', s.subject, s.reason);
    }
    for (const x of found.none) {
      audit.push({
        actor: `feed:${m.system}`, action: x.resourceType === 'Consent' ? 'consent.feed' : 'care-team.feed', personId: (x.subject && personOf.get(x.subject)) || null,
        decision: null, reason: `${x.reason} (message ${m.messageId})`, detail: { source: m.system, message: m.messageId, resource: `${x.resourceType}/${x.id}`, effect: 'none' },
      });
    }
  }
  const changed = [...(await applyFeedConsent(tx, consent, now)), ...(await applyFeedCareTeam(tx, careTeam, now))];
  await appendAuditBatch(tx, [...changed, ...audit], now);
  return changed.filter((e) => e.action !== 'consent.feed').length;
}
