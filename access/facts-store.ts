/**
 * Gathers the access facts (access/policy.ts `AccessFacts`) for one or many people in a few
 * queries: the registered practice, care team, open referrals and episodes, recent encounters,
 * consent directives, restrictions and the user's break-glass session. It reads the record's
 * tables (`source_identity`, `resource`) without changing them, and owns the access tables of
 * migration 0012 (`care_team_member`, `consent_directive`, `person_restriction`, `break_glass`).
 */
import type { Queryable } from '../db/database.ts';
import type { Principal } from './context.ts';
import { organisationOfSource, type AccessFacts, type Policy } from './policy.ts';

/** A person and the person ids whose data is theirs (themselves and anyone merged into them). */
export interface PersonKey {
  personId: string;
  nhsNumber: string | null;
  memberIds: string[];
}

const OPEN_EPISODE = ['active', 'onhold', 'waitlist', 'planned'];
const OPEN_REFERRAL = ['active', 'on-hold'];
const OPEN_ENCOUNTER = ['in-progress', 'arrived', 'triaged', 'onleave'];

/**
 * The facts for each person, keyed by person id. With `relationships: false` only consent
 * directives and restrictions are read (all secondary use looks at), and the relationship
 * facts are left empty.
 */
export async function gatherAccessFacts(db: Queryable, policy: Policy, principal: Principal, people: readonly PersonKey[], now: Date, opts: { relationships?: boolean } = {}): Promise<Map<string, AccessFacts>> {
  const out = new Map<string, AccessFacts>();
  if (!people.length) return out;
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
  const ids = [...ownerOf.keys()];
  const factsOf = (personId: string) => out.get(ownerOf.get(personId) ?? '')!;
  const since = new Date(now.getTime() - policy.recentEncounterDays * 86_400_000).toISOString();

  const relationships = opts.relationships !== false;
  const none = <R>() => Promise.resolve({ rows: [] as R[], rowCount: 0 });
  const [practices, careTeam, episodes, encounters, consent, restricted, breakGlass] = await Promise.all([
    // The registered practice: the most recently updated GP identity's practice (the GP system's own key).
    !relationships ? none<{ person_id: string; source_system: string; practice: string | null }>() : db.query<{ person_id: string; source_system: string; practice: string | null }>(
      `SELECT DISTINCT ON (person_id) person_id::text AS person_id, source_system, practice
         FROM source_identity WHERE person_id = ANY($1::uuid[]) AND source_system LIKE 'gp:%'
        ORDER BY person_id, updated_at DESC`,
      [ids],
    ),
    !relationships ? none<{ person_id: string; member: string }>() : db.query<{ person_id: string; member: string }>(
      `SELECT person_id::text AS person_id, member FROM care_team_member
        WHERE person_id = ANY($1::uuid[]) AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)`,
      [ids, now.toISOString()],
    ),
    !relationships ? none<{ person_id: string; source_system: string }>() : db.query<{ person_id: string; source_system: string }>(
      `SELECT DISTINCT person_id::text AS person_id, source_system FROM resource
        WHERE person_id = ANY($1::uuid[])
          AND ((resource_type = 'EpisodeOfCare' AND content->>'status' = ANY($2::text[]))
            OR (resource_type = 'ServiceRequest' AND content->>'status' = ANY($3::text[]))
            OR (resource_type = 'Encounter' AND content->>'status' = ANY($4::text[])))`,
      [ids, OPEN_EPISODE, OPEN_REFERRAL, OPEN_ENCOUNTER],
    ),
    !relationships ? none<{ person_id: string; source_system: string; at: Date | string }>() : db.query<{ person_id: string; source_system: string; at: Date | string }>(
      `SELECT person_id::text AS person_id, source_system, max(source_time) AS at FROM resource
        WHERE person_id = ANY($1::uuid[]) AND resource_type = 'Encounter' AND source_time >= $2
        GROUP BY person_id, source_system`,
      [ids, since],
    ),
    db.query<{ person_id: string; kind: string }>(
      `SELECT person_id::text AS person_id, kind FROM consent_directive WHERE person_id = ANY($1::uuid[]) AND withdrawn_at IS NULL`,
      [ids],
    ),
    // Restricted by governance (person_restriction), or by any source's flag on any of the
    // person's identities that is not lifted (source_restriction, access/restrictions.ts).
    db.query<{ person_id: string }>(
      `SELECT person_id::text AS person_id FROM person_restriction WHERE person_id = ANY($1::uuid[])
       UNION
       SELECT s.person_id::text FROM source_identity s
         JOIN source_restriction sr ON sr.source_system = s.source_system AND sr.source_id = s.source_id AND sr.lifted_at IS NULL
        WHERE s.person_id = ANY($1::uuid[])`,
      [ids],
    ),
    !relationships ? none<{ person_id: string; reason: string; expires_at: Date | string }>() : db.query<{ person_id: string; reason: string; expires_at: Date | string }>(
      `SELECT DISTINCT ON (person_id) person_id::text AS person_id, reason, expires_at FROM break_glass
        WHERE username = $1 AND person_id = ANY($2::uuid[]) AND ended_at IS NULL AND expires_at > $3
        ORDER BY person_id, expires_at DESC`,
      [principal.user, ids, now.toISOString()],
    ),
  ]);
  for (const r of practices.rows) {
    const ods = r.source_system.slice(3) || r.practice;
    if (ods) factsOf(r.person_id).registeredPractices.push(ods);
  }
  for (const r of careTeam.rows) factsOf(r.person_id).careTeam.push(r.member);
  for (const r of episodes.rows) {
    const org = organisationOfSource(policy, r.source_system);
    if (org) factsOf(r.person_id).openEpisodeOrganisations.push(org);
  }
  for (const r of encounters.rows) {
    const org = organisationOfSource(policy, r.source_system);
    if (org) factsOf(r.person_id).recentEncounters.push({ organisation: org, at: iso(r.at) });
  }
  for (const r of consent.rows) {
    if (r.kind === 'dissent-sharing') factsOf(r.person_id).dissentSharing = true;
    if (r.kind === 'national-data-opt-out') factsOf(r.person_id).nationalDataOptOut = true;
  }
  for (const r of restricted.rows) factsOf(r.person_id).restricted = true;
  for (const r of breakGlass.rows) factsOf(r.person_id).breakGlass = { reason: r.reason, expiresAt: iso(r.expires_at) };
  return out;
}

/**
 * The people whose facts could bear on secondary use (a consent directive not withdrawn, or a
 * restriction by governance or by a source): everyone else has the facts of a person with
 * nothing recorded, so a scan over many people decides these one by one and the rest once
 * (fhir/secondary-use-sql.ts).
 */
export async function secondaryUseCandidates(db: Queryable): Promise<string[]> {
  const r = await db.query<{ person_id: string }>(
    `SELECT person_id::text AS person_id FROM consent_directive WHERE withdrawn_at IS NULL
     UNION SELECT person_id::text FROM person_restriction
     UNION SELECT s.person_id::text FROM source_identity s
       JOIN source_restriction sr ON sr.source_system = s.source_system AND sr.source_id = s.source_id AND sr.lifted_at IS NULL
      WHERE s.person_id IS NOT NULL`,
  );
  return r.rows.map((x) => x.person_id);
}

/** Opens a break-glass session for the user and person, for the policy's minutes. */
export async function startBreakGlass(db: Queryable, user: string, personId: string, reason: string, minutes: number, now: Date): Promise<{ expiresAt: string }> {
  const expiresAt = new Date(now.getTime() + minutes * 60_000).toISOString();
  await db.query(`INSERT INTO break_glass (username, person_id, reason, started_at, expires_at) VALUES ($1, $2, $3, $4, $5)`, [user, personId, reason, now.toISOString(), expiresAt]);
  return { expiresAt };
}

function iso(v: Date | string): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}
