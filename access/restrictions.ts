/**
 * Restricted people from the demographics feeds (table `source_restriction`, migration 0020).
 * A source system says of one of its identities that the person is restricted (HL7 v2 PD1-12
 * protection indicator `Y`; a FHIR Patient labelled v3-Confidentiality `R` or `V` in
 * meta.security, as NHS PDS marks its restricted, "S-flagged", records) or, later, that they no
 * longer are (PD1-12 `N` or `""`; the Patient sent again without the label). The ingest writer
 * calls `recordRestrictions` inside its transaction; nothing outside access/ writes the table.
 *
 * How sources combine: a person is restricted while ANY of their identities is (or while
 * governance holds them in person_restriction). One source lifting its own flag lifts only that
 * source's; another source's flag, or a person-level restriction, still withholds the person.
 * A flag is always applied; a lift older (by the source's own time) than the flag it would lift
 * is ignored, so a delayed old message cannot expose a person.
 */
import type { Queryable } from '../db/database.ts';
import { appendAuditBatch, type AuditEntry } from './audit.ts';

/** One source's statement about one of its identities. */
export interface RestrictionStatement {
  system: string;
  /** The identity's id in that source system. */
  id: string;
  restricted: boolean;
  /** What said so, for a person to read: e.g. `HL7 PD1-12 protection indicator Y (message MSG0001)`. */
  reason: string;
  /** When the source says it was so (ISO instant), if it says. */
  at?: string;
}

export interface RestrictionChange {
  system: string;
  id: string;
  personId: string | null;
  change: 'restricted' | 'lifted';
}

/**
 * Applies the statements inside the caller's transaction (the one that stores the message that
 * made them) and audits each change of state (`restriction.set`, `restriction.lift`, by
 * `feed:<system>`). Later statements about the same identity win over earlier ones.
 */
export async function recordRestrictions(tx: Queryable, statements: readonly RestrictionStatement[], now: Date = new Date()): Promise<RestrictionChange[]> {
  if (!statements.length) return [];
  const last = new Map<string, RestrictionStatement>();
  for (const s of statements) last.set(`${s.system}\u0000${s.id}`, s);
  // In key order, so concurrent writers lock rows in one order.
  const all = [...last.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  const set = all.filter((s) => s.restricted);
  const lift = all.filter((s) => !s.restricted);
  const changed: { system: string; id: string; change: RestrictionChange['change'] }[] = [];
  if (set.length) {
    // Only rows that were not restricted before count as a change (a repeated flag is no news).
    const r = await tx.query<{ source_system: string; source_id: string }>(
      `INSERT INTO source_restriction (source_system, source_id, reason, source_time)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
       ON CONFLICT (source_system, source_id) DO UPDATE SET
         reason = EXCLUDED.reason,
         source_time = GREATEST(source_restriction.source_time, EXCLUDED.source_time),
         flagged_at = CASE WHEN source_restriction.lifted_at IS NULL THEN source_restriction.flagged_at ELSE now() END,
         lifted_at = NULL, lifted_reason = NULL
       WHERE source_restriction.lifted_at IS NOT NULL
       RETURNING source_system, source_id`,
      [set.map((s) => s.system), set.map((s) => s.id), set.map((s) => s.reason), set.map((s) => s.at ?? null)],
    );
    for (const x of r.rows) changed.push({ system: x.source_system, id: x.source_id, change: 'restricted' });
  }
  if (lift.length) {
    const r = await tx.query<{ source_system: string; source_id: string }>(
      `UPDATE source_restriction sr SET lifted_at = now(), lifted_reason = k.reason
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS k(sys, id, reason, at)
        WHERE sr.source_system = k.sys AND sr.source_id = k.id AND sr.lifted_at IS NULL
          AND (k.at IS NULL OR sr.source_time IS NULL OR k.at >= sr.source_time)
        RETURNING sr.source_system, sr.source_id`,
      [lift.map((s) => s.system), lift.map((s) => s.id), lift.map((s) => s.reason), lift.map((s) => s.at ?? null)],
    );
    for (const x of r.rows) changed.push({ system: x.source_system, id: x.source_id, change: 'lifted' });
  }
  if (!changed.length) return [];
  const persons = await tx.query<{ source_system: string; source_id: string; person_id: string }>(
    `SELECT s.source_system, s.source_id, s.person_id::text AS person_id FROM source_identity s
       JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id`,
    [changed.map((c) => c.system), changed.map((c) => c.id)],
  );
  const personOf = new Map(persons.rows.map((p) => [`${p.source_system}\u0000${p.source_id}`, p.person_id]));
  const out = changed.map((c) => ({ ...c, personId: personOf.get(`${c.system}\u0000${c.id}`) ?? null }));
  const entries: AuditEntry[] = out.map((c) => ({
    actor: `feed:${c.system}`,
    action: c.change === 'restricted' ? 'restriction.set' : 'restriction.lift',
    personId: c.personId,
    decision: null,
    reason: last.get(`${c.system}\u0000${c.id}`)!.reason,
    detail: { system: c.system, id: c.id },
  }));
  await appendAuditBatch(tx, entries, now);
  return out;
}

/** The restrictions a person's identities carry (flagged and lifted), for governance and tests. */
export async function restrictionsOf(db: Queryable, personIds: readonly string[]): Promise<{ system: string; id: string; reason: string; flaggedAt: string; liftedAt: string | null }[]> {
  const r = await db.query<{ source_system: string; source_id: string; reason: string; flagged_at: Date | string; lifted_at: Date | string | null }>(
    `SELECT sr.source_system, sr.source_id, sr.reason, sr.flagged_at, sr.lifted_at FROM source_restriction sr
       JOIN source_identity s ON s.source_system = sr.source_system AND s.source_id = sr.source_id
      WHERE s.person_id = ANY($1::uuid[]) ORDER BY sr.source_system, sr.source_id`,
    [personIds],
  );
  const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();
  return r.rows.map((x) => ({ system: x.source_system, id: x.source_id, reason: x.reason, flaggedAt: iso(x.flagged_at), liftedAt: x.lifted_at === null ? null : iso(x.lifted_at) }));
}
