/** The care team as the banner names it (`GET /care-team/{personId}`, access/care-team.ts). Pure. */
import type { CareTeamMember } from '../api/record.ts';

/** `org:RM3` → the organisation's name where the record names it, as a whole team; a role `lead-nurse` → `lead nurse`. */
export function describeMember(m: Pick<CareTeamMember, 'member' | 'role'>, orgNames: ReadonlyMap<string, string> = new Map()): { who: string; role: string | null } {
  const org = /^org:(.+)$/.exec(m.member)?.[1];
  const who = org ? `${orgNames.get(org) ?? 'Organisation'} (${org}), whole team` : m.member;
  return { who, role: m.role ? m.role.replace(/[-_]+/g, ' ').trim() : null };
}

/** Organisation names by ODS code from what the record's sources name (their organisations, the registered practice). */
export function organisationNames(sources: { sources: { organisation: { odsCode: string; name: string } | null }[]; registeredPractice: { odsCode: string; name: string | null } | null } | null): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of sources?.sources ?? []) if (s.organisation) out.set(s.organisation.odsCode, s.organisation.name);
  const rp = sources?.registeredPractice;
  if (rp?.name) out.set(rp.odsCode, rp.name);
  return out;
}
