/**
 * The MPI's writes that several services share: moving source identities (and the resources
 * about them) from one person to another, and recording each move as an mpi_event so it can be
 * undone. Everything is multi-row SQL; callers pass their transaction.
 */
import type { Queryable } from '../db/database.ts';

/** One identity to move into a person, with the link it then has. */
export interface IdentityMove {
  system: string;
  id: string;
  to: string;
  linkMethod: string;
  matchStatus: string;
  matchWeight?: number | null;
}

/** What a move did, kept in mpi_event.identities so an unmerge can put everything back. */
export interface MovedIdentity {
  system: string;
  id: string;
  from: string | null;
  to: string;
  /** The link before the move. */
  linkMethod: string | null;
  matchStatus: string | null;
  matchWeight: number | null;
}

/**
 * Moves identities into their target persons: source_identity.person_id, the resources whose
 * subject is that identity, the emptied persons marked merged into the target, and any target
 * that had been marked merged made active again. Identities already in their target are skipped.
 */
export async function moveIdentities(tx: Queryable, moves: IdentityMove[]): Promise<MovedIdentity[]> {
  if (!moves.length) return [];
  const sorted = [...new Map(moves.map((m) => [`${m.system}|${m.id}`, m])).values()].sort((a, b) => cmp(`${a.system}|${a.id}`, `${b.system}|${b.id}`));
  // Lock in key order (concurrent ingest upserts lock the same rows in the same order).
  const old = await tx.query<{ source_system: string; source_id: string; person_id: string; link_method: string; match_status: string; match_weight: number | null }>(
    `SELECT s.source_system, s.source_id, s.person_id, s.link_method, s.match_status, s.match_weight
       FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id
      ORDER BY s.source_system, s.source_id FOR UPDATE OF s`,
    [sorted.map((m) => m.system), sorted.map((m) => m.id)],
  );
  const before = new Map(old.rows.map((r) => [`${r.source_system}|${r.source_id}`, r]));
  const todo = sorted.filter((m) => {
    const b = before.get(`${m.system}|${m.id}`);
    return b && (b.person_id !== m.to || b.link_method !== m.linkMethod || b.match_status !== m.matchStatus);
  });
  if (!todo.length) return [];
  await tx.query(
    `UPDATE source_identity s SET person_id = m.target, link_method = m.method, match_status = m.status, match_weight = m.weight, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::float8[]) AS m(sys, id, target, method, status, weight)
      WHERE s.source_system = m.sys AND s.source_id = m.id`,
    [todo.map((m) => m.system), todo.map((m) => m.id), todo.map((m) => m.to), todo.map((m) => m.linkMethod), todo.map((m) => m.matchStatus), todo.map((m) => m.matchWeight ?? null)],
  );
  const moved: MovedIdentity[] = todo.map((m) => {
    const b = before.get(`${m.system}|${m.id}`)!;
    return { system: m.system, id: m.id, from: b.person_id, to: m.to, linkMethod: b.link_method, matchStatus: b.match_status, matchWeight: b.match_weight };
  });
  const changedPerson = moved.filter((m) => m.from !== m.to);
  if (changedPerson.length) {
    await tx.query(
      `UPDATE resource r SET person_id = m.target
         FROM unnest($1::text[], $2::text[], $3::uuid[]) AS m(sys, id, target)
        WHERE r.source_system = m.sys AND r.subject_id = m.id AND r.person_id IS DISTINCT FROM m.target`,
      [changedPerson.map((m) => m.system), changedPerson.map((m) => m.id), changedPerson.map((m) => m.to)],
    );
    await tx.query(`UPDATE person SET status = 'active', merged_into = NULL, updated_at = now() WHERE person_id = ANY($1::uuid[]) AND status <> 'active'`, [
      [...new Set(changedPerson.map((m) => m.to))],
    ]);
    const emptied = new Map(changedPerson.map((m) => [m.from!, m.to]));
    await tx.query(
      `UPDATE person p SET status = 'merged', merged_into = x.target, updated_at = now()
         FROM unnest($1::uuid[], $2::uuid[]) AS x(src, target)
        WHERE p.person_id = x.src AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)`,
      [[...emptied.keys()], [...emptied.values()]],
    );
  }
  return moved;
}

/** One row of mpi_event. */
export interface MpiEventInput {
  personId: string;
  kind: 'merge' | 'unmerge' | 'link' | 'unlink';
  otherPersonId: string | null;
  identities: MovedIdentity[];
  reason: string | null;
  actor: string;
}

/** Records events (one statement for many); returns their ids in input order. */
export async function recordEvents(tx: Queryable, events: MpiEventInput[]): Promise<number[]> {
  if (!events.length) return [];
  const r = await tx.query<{ event_id: number; ord: number }>(
    `INSERT INTO mpi_event (person_id, kind, other_person_id, identities, reason, actor)
     SELECT e.person_id, e.kind, e.other, e.identities, e.reason, e.actor
       FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[], $5::text[], $6::text[]) WITH ORDINALITY AS e(person_id, kind, other, identities, reason, actor, ord)
      ORDER BY e.ord
     RETURNING event_id`,
    [
      events.map((e) => e.personId),
      events.map((e) => e.kind),
      events.map((e) => e.otherPersonId),
      events.map((e) => JSON.stringify(e.identities)),
      events.map((e) => e.reason),
      events.map((e) => e.actor),
    ],
  );
  // bigserial values are handed out in insertion order, which ORDER BY e.ord fixes.
  return r.rows.map((x) => Number(x.event_id)).sort((a, b) => a - b);
}

/** The active person a (possibly merged) person now lives in, following merged_into. */
export async function currentPersons(tx: Queryable, personIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>(personIds.map((p) => [p, p]));
  let frontier = [...new Set(personIds)];
  for (let hop = 0; hop < 20 && frontier.length; hop++) {
    const r = await tx.query<{ person_id: string; merged_into: string | null; status: string }>(
      'SELECT person_id, merged_into, status FROM person WHERE person_id = ANY($1::uuid[])',
      [frontier],
    );
    const next = new Map<string, string>();
    for (const row of r.rows) if (row.status === 'merged' && row.merged_into) next.set(row.person_id, row.merged_into);
    if (!next.size) break;
    for (const [k, v] of out) {
      const n = next.get(v);
      if (n) out.set(k, n);
    }
    frontier = [...new Set(next.values())];
  }
  return out;
}

/** Byte-order string comparison (locale-independent, so results are deterministic). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
