/**
 * Gathers the access facts (access/policy.ts `AccessFacts`) for one or many people in one
 * statement: the registered practice, care team, open referrals and episodes, recent encounters,
 * consent directives, restrictions and the user's break-glass session. It reads the record's
 * tables (`source_identity`, `resource`) without changing them, and owns the access tables of
 * migration 0012 (`care_team_member`, `consent_directive`, `person_restriction`, `break_glass`).
 */
import type { Queryable } from '../db/database.ts';
import type { Principal } from './context.ts';
import { organisationOfSource, type AccessFacts, type Policy, type ReadNeeds } from './policy.ts';

/** A person and the person ids whose data is theirs (themselves and anyone merged into them). */
export interface PersonKey {
  personId: string;
  nhsNumber: string | null;
  memberIds: string[];
}

const OPEN_EPISODE = ['active', 'onhold', 'waitlist', 'planned'];
const OPEN_REFERRAL = ['active', 'on-hold'];
const OPEN_ENCOUNTER = ['in-progress', 'arrived', 'triaged', 'onleave'];

const quoted = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');
/**
 * An open episode, referral or encounter (a row of \`resource\`): the predicate of the partial index
 * resource_open_item_idx (migration 0082, which holds exactly these rows, a few hundred at 20,000
 * people), written with the statuses as literals (code constants, not input) so that a generic plan
 * can prove it implies the index's predicate. One index descent per person, where the statuses as
 * parameters took one per person and status (ten) on resource_open_status_idx.
 */
export const OPEN_ITEM_SQL = `((resource_type = 'EpisodeOfCare' AND content->>'status' IN (${quoted(OPEN_EPISODE)})) OR (resource_type = 'ServiceRequest' AND content->>'status' IN (${quoted(OPEN_REFERRAL)})) OR (resource_type = 'Encounter' AND content->>'status' IN (${quoted(OPEN_ENCOUNTER)})))`;

/**
 * The facts for each person, keyed by person id. With `relationships: false` only consent
 * directives and restrictions are read (all secondary use looks at), and the relationship
 * facts are left empty.
 */
export async function gatherAccessFacts(db: Queryable, policy: Policy, principal: Principal, people: readonly PersonKey[], now: Date, opts: { relationships?: boolean } = {}): Promise<Map<string, AccessFacts>> {
  if (!people.length) return new Map();
  const ids = [...new Set(people.flatMap((p) => [p.personId, ...p.memberIds]))];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  // One statement for every fact (one round trip, one plan): each part is a JSON array of rows.
  const r = await db.query<FactRows>(`SELECT ${accessFactsColumns(`${p(ids)}::uuid[]`, p, policy, principal, now, opts)}`, params);
  return assembleAccessFacts(policy, people, r.rows[0]!);
}

/**
 * The access facts as the columns of a SELECT (each part a JSON array of rows), for `ids` (an SQL
 * expression of type uuid[]: a parameter, or the ids a statement has just found), with their
 * parameters added through `p`. gatherAccessFacts selects them alone; a store may select them
 * beside the statement that finds the person (one round trip), then `assembleAccessFacts` reads the row.
 * With `relationships: false` those parts' one-time filter skips their scans.
 */
export function accessFactsColumns(ids: string, p: (v: unknown) => string, policy: Policy, principal: Principal, now: Date, opts: { relationships?: boolean } = {}): string {
  const since = new Date(now.getTime() - policy.recentEncounterDays * 86_400_000).toISOString();
  const at = p(now.toISOString());
  const values: Record<string, string> = { ids, now: at, since: p(since), user: p(principal.user), relationships: p(opts.relationships !== false) };
  return FACTS_TEMPLATE.map((part, i) => (i % 2 ? values[part]! : part)).join('');
}

/**
 * May the person `id` (an SQL expression of type uuid; `nhs` their NHS number) hold one of
 * `needs.relationships` with this user, or (`breakGlassSession`) an open break-glass session of
 * theirs (access/policy.ts `readNeeds`)? An SQL condition, its parameters added through `p`: an
 * index probe per relationship, in the role's order, until one is found. Each is a superset of what
 * `heldRelationships` finds in the facts (any GP identity at the user's practice, not only the
 * latest; any source system whose name ends in the organisation's code; encounters since the start
 * of "recent", however late), so everyone for whom it is false is someone `decide` would deny: a
 * Patient search reads the facts of the others only.
 */
export function mayRelateSql(id: string, nhs: string, p: (v: unknown) => string, policy: Policy, principal: Principal, now: Date, needs: ReadNeeds): string {
  const org = principal.organisation || null;
  const parts: string[] = [];
  // Source systems whose organisation (organisationOfSource) may be the user's: named so in the policy, or `<kind>:<ODS>`.
  const orgSystems = () => {
    const named = Object.entries(policy.sourceOrganisations).filter(([, v]) => v === org).map(([k]) => k);
    return `(source_system = ANY(${p(named)}::text[]) OR right(source_system, ${p(org!.length + 1)}::int) = ${p(`:${org}`)}::text)`;
  };
  for (const r of new Set(needs.relationships)) {
    if (r === 'self' && principal.nhsNumber) parts.push(`${nhs} = ${p(principal.nhsNumber)}::text`);
    if (r === 'registered-practice' && org) {
      parts.push(`EXISTS (SELECT 1 FROM source_identity WHERE person_id = ${id} AND (source_system = ${p(`gp:${org}`)}::text OR (source_system = 'gp:' AND practice = ${p(org)}::text)))`);
    }
    if (r === 'care-team') {
      const members = [principal.user, ...(org ? [`org:${org}`] : [])];
      const at = p(now.toISOString());
      parts.push(`EXISTS (SELECT 1 FROM care_team_member WHERE person_id = ${id} AND member = ANY(${p(members)}::text[]) AND starts_at <= ${at}::timestamptz AND (ends_at IS NULL OR ends_at > ${at}::timestamptz))`);
    }
    if (r === 'open-episode' && org) {
      parts.push(`EXISTS (SELECT 1 FROM resource WHERE person_id = ${id} AND ${OPEN_ITEM_SQL} AND ${orgSystems()})`);
    }
    if (r === 'recent-encounter' && org) {
      const since = new Date(now.getTime() - policy.recentEncounterDays * 86_400_000).toISOString();
      parts.push(`EXISTS (SELECT 1 FROM resource WHERE person_id = ${id} AND resource_type = 'Encounter' AND source_time >= ${p(since)}::timestamptz AND ${orgSystems()})`);
    }
  }
  if (needs.breakGlassSession) {
    parts.push(`EXISTS (SELECT 1 FROM break_glass WHERE username = ${p(principal.user)}::text AND person_id = ${id} AND ended_at IS NULL AND expires_at > ${p(now.toISOString())}::timestamptz)`);
  }
  return parts.length ? `(${parts.join('\n       OR ')})` : 'false';
}

/** The facts for each person, keyed by person id, from a row of accessFactsColumns. */
export function assembleAccessFacts(policy: Policy, people: readonly PersonKey[], row: FactRows): Map<string, AccessFacts> {
  const out = new Map<string, AccessFacts>();
  const ownerOf = new Map<string, string>();
  for (const p of people) {
    out.set(p.personId, {
      personId: p.personId,
      nhsNumber: p.nhsNumber,
      registeredPractices: [],
      careTeam: [],
      openEpisodeOrganisations: [],
      recentEncounters: [],
      dissentSharing: false,
      nationalDataOptOut: false,
      restricted: false,
      breakGlass: null,
    });
    for (const m of p.memberIds) ownerOf.set(m, p.personId);
    ownerOf.set(p.personId, p.personId);
  }
  const factsOf = (personId: string) => out.get(ownerOf.get(personId) ?? '')!;
  const { practices, care_team: careTeam, episodes, encounters, consent, restricted, break_glass: breakGlass } = row;
  for (const r of practices) {
    const ods = r.source_system.slice(3) || r.practice;
    if (ods) factsOf(r.person_id).registeredPractices.push(ods);
  }
  for (const r of careTeam) factsOf(r.person_id).careTeam.push(r.member);
  for (const r of episodes) {
    const org = organisationOfSource(policy, r.source_system);
    if (org) factsOf(r.person_id).openEpisodeOrganisations.push(org);
  }
  for (const r of encounters) {
    const org = organisationOfSource(policy, r.source_system);
    if (org) factsOf(r.person_id).recentEncounters.push({ organisation: org, at: iso(r.at) });
  }
  for (const r of consent) {
    if (r.kind === 'dissent-sharing') factsOf(r.person_id).dissentSharing = true;
    if (r.kind === 'national-data-opt-out') factsOf(r.person_id).nationalDataOptOut = true;
  }
  for (const r of restricted) factsOf(r.person_id).restricted = true;
  for (const r of breakGlass) factsOf(r.person_id).breakGlass = { reason: r.reason, expiresAt: iso(r.expires_at) };
  return out;
}

/**
 * The people whose facts could bear on secondary use (a consent directive not withdrawn, or a
 * restriction by governance or by a source): everyone else has the facts of a person with
 * nothing recorded, so a scan over many people decides these one by one and the rest once
 * (fhir/secondary-use-sql.ts).
 */
export async function secondaryUseCandidates(db: Queryable): Promise<string[]> {
  const r = await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM (${SECONDARY_USE_CANDIDATES_SQL}) c`);
  return r.rows.map((x) => x.person_id);
}

/**
 * secondaryUseCandidates as a query (one uuid column, person_id), for a statement that finds many
 * people to flag those whose facts must be read (analytics/cohorts/service.ts).
 */
export const SECONDARY_USE_CANDIDATES_SQL = `SELECT person_id FROM consent_directive WHERE withdrawn_at IS NULL
     UNION SELECT person_id FROM person_restriction
     UNION SELECT s.person_id FROM source_identity s
       JOIN source_restriction sr ON sr.source_system = s.source_system AND sr.source_id = s.source_id AND sr.lifted_at IS NULL
      WHERE s.person_id IS NOT NULL`;

/** A row of accessFactsColumns. */
export interface FactRows {
  practices: { person_id: string; source_system: string; practice: string | null }[];
  care_team: { person_id: string; member: string }[];
  episodes: { person_id: string; source_system: string }[];
  encounters: { person_id: string; source_system: string; at: string }[];
  consent: { person_id: string; kind: string }[];
  restricted: { person_id: string }[];
  break_glass: { person_id: string; reason: string; expires_at: string }[];
}

/**
 * :ids the person ids, :now, :since the start of "recent", :user the user, :relationships whether to read the
 * relationships (each placeholder becomes a parameter, accessFactsColumns). The record's rows that
 * bear on relationships are found by partial indexes (open items: migration 0082; recent encounters:
 * 0021), so that only the open and the recent ones are read, not every encounter of every person weighed.
 */
const FACTS_COLUMNS = `
  -- The registered practice: the most recently updated GP identity's practice (the GP system's own key).
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT DISTINCT ON (person_id) person_id::text AS person_id, source_system, practice
       FROM source_identity WHERE :relationships::boolean AND person_id = ANY(:ids) AND source_system LIKE 'gp:%'
      ORDER BY person_id, updated_at DESC) x) AS practices,
  -- Care team and consent: a primary-key probe per person (the LATERAL subquery, kept apart by OFFSET 0,
  -- is planned for one person). Compared with the whole id array, the generic plan (made for an array of
  -- unknown length) read these tables whole: 1,170 and 766 rows at 20,000 people, 0.3-0.45 ms a search.
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT k.id::text AS person_id, c.member FROM (SELECT DISTINCT id FROM unnest(:ids) k(id)) k
       CROSS JOIN LATERAL (SELECT member FROM care_team_member
        WHERE person_id = k.id AND starts_at <= :now::timestamptz AND (ends_at IS NULL OR ends_at > :now::timestamptz) OFFSET 0) c
      WHERE :relationships::boolean) x) AS care_team,
  -- Open episodes, referrals and encounters: the partial index resource_open_item_idx holds only the open ones (OPEN_ITEM_SQL).
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT DISTINCT person_id::text AS person_id, source_system FROM resource
      WHERE :relationships::boolean AND person_id = ANY(:ids) AND ${OPEN_ITEM_SQL}) x) AS episodes,
  -- Recent encounters: index resource_encounter_time_idx reads only those since :since.
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT person_id::text AS person_id, source_system, max(source_time) AS at FROM resource
      WHERE :relationships::boolean AND person_id = ANY(:ids) AND resource_type = 'Encounter' AND source_time >= :since::timestamptz
      GROUP BY person_id, source_system) x) AS encounters,
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT k.id::text AS person_id, c.kind FROM (SELECT DISTINCT id FROM unnest(:ids) k(id)) k
       CROSS JOIN LATERAL (SELECT kind FROM consent_directive WHERE person_id = k.id AND withdrawn_at IS NULL OFFSET 0) c) x) AS consent,
  -- Restricted by governance (person_restriction), or by any source's flag on any of the
  -- person's identities that is not lifted (source_restriction, access/restrictions.ts).
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT person_id::text AS person_id FROM person_restriction WHERE person_id = ANY(:ids)
     UNION
     SELECT s.person_id::text FROM source_identity s
      WHERE s.person_id = ANY(:ids)
        -- A primary-key probe per identity (OFFSET 0 keeps the EXISTS a subplan, not a join that read every flag).
        AND EXISTS (SELECT 1 FROM source_restriction sr WHERE sr.source_system = s.source_system AND sr.source_id = s.source_id AND sr.lifted_at IS NULL OFFSET 0)) x) AS restricted,
  (SELECT coalesce(json_agg(x), '[]') FROM (
     SELECT DISTINCT ON (person_id) person_id::text AS person_id, reason, expires_at FROM break_glass
      WHERE :relationships::boolean AND username = :user::text AND person_id = ANY(:ids) AND ended_at IS NULL AND expires_at > :now::timestamptz
      ORDER BY person_id, expires_at DESC) x) AS break_glass`;

// FACTS_COLUMNS split once at its placeholders (odd entries are their names): a request joins the parts.
const FACTS_TEMPLATE = FACTS_COLUMNS.split(/:(ids|now|since|user|relationships)\b/);

/** Opens a break-glass session for the user and person, for the policy's minutes. */
export async function startBreakGlass(db: Queryable, user: string, personId: string, reason: string, minutes: number, now: Date): Promise<{ expiresAt: string }> {
  const expiresAt = new Date(now.getTime() + minutes * 60_000).toISOString();
  await db.query(`INSERT INTO break_glass (username, person_id, reason, started_at, expires_at) VALUES ($1, $2, $3, $4, $5)`, [user, personId, reason, now.toISOString(), expiresAt]);
  return { expiresAt };
}

function iso(v: Date | string): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}
