/**
 * The MPI's writes that several services share: moving source identities (and the resources
 * about them) from one person to another, settling what follows for the persons (an emptied
 * person is merged into where its identities went; the NHS number sits on the person whose
 * identities carry it), and recording each change as an mpi_event so it can be undone exactly.
 * Everything is multi-row SQL; callers pass their transaction.
 *
 * Lock order, everywhere: source_identity rows in key order, then person rows in id order
 * (the ingest writer's upserts lock identities in key order too).
 */
import type { Queryable } from '../db/database.ts';
import { identityKey, type IdentityRef, type LinkedIdentity } from './identity.ts';

/** One identity to move into a person (or to keep there), with the link it then has. */
export interface IdentityMove extends IdentityRef {
  to: string;
  linkMethod: string;
  matchStatus: string;
  matchWeight?: number | null;
}

/** What a move did, kept in mpi_event.identities so an undo can put everything back. */
export interface MovedIdentity extends IdentityRef {
  /** The person before (null: the event created the identity). */
  from: string | null;
  to: string;
  /** The link before the move. */
  linkMethod: string | null;
  matchStatus: string | null;
  matchWeight: number | null;
}

/** The parts of a person row that MPI events change. */
export interface PersonState {
  status: 'active' | 'merged';
  mergedInto: string | null;
  nhsNumber: string | null;
}

/** A person row before and after an event (before null: the event created it). */
export interface PersonChange {
  personId: string;
  before: PersonState | null;
  after: PersonState;
}

/** The columns of source_identity read back as a LinkedIdentity (see toLinkedIdentity). */
export const IDENTITY_COLUMNS =
  's.source_system, s.source_id, s.person_id, s.nhs_number, s.nhs_number_valid, s.family, s.given, COALESCE(s.birth_date::text, s.birth_date_as_sent) AS birth_date, ' +
  's.sex, s.postcode, s.practice, s.address, s.town, s.email, s.phone, s.other_id, s.link_method, s.match_status, s.match_weight';

/** One row selected with IDENTITY_COLUMNS as the MPI's identity shape. */
export function toLinkedIdentity(x: Record<string, unknown>): LinkedIdentity {
  const s = (v: unknown) => (v == null ? null : String(v));
  return {
    key: identityKey(String(x.source_system), String(x.source_id)),
    system: String(x.source_system),
    id: String(x.source_id),
    personId: String(x.person_id),
    nhsNumber: s(x.nhs_number),
    nhsNumberValid: Boolean(x.nhs_number_valid),
    family: s(x.family),
    given: s(x.given),
    birthDate: s(x.birth_date),
    sex: s(x.sex),
    postcode: s(x.postcode),
    practice: s(x.practice),
    address: s(x.address),
    town: s(x.town),
    email: s(x.email),
    phone: s(x.phone),
    otherId: s(x.other_id),
    linkMethod: String(x.link_method),
    matchStatus: String(x.match_status),
    matchWeight: x.match_weight == null ? null : Number(x.match_weight),
  };
}

/** Identities by key, locked for update (in key order) when asked. Missing ones are absent. */
export async function readIdentities(tx: Queryable, refs: IdentityRef[], lock = false): Promise<Map<string, LinkedIdentity>> {
  const sorted = [...new Map(refs.map((r) => [identityKey(r.system, r.id), r])).entries()].sort((a, b) => cmp(a[0], b[0])).map((e) => e[1]);
  if (!sorted.length) return new Map();
  const r = await tx.query<Record<string, unknown>>(
    `SELECT ${IDENTITY_COLUMNS}
       FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id
      ORDER BY s.source_system, s.source_id${lock ? ' FOR UPDATE OF s' : ''}`,
    [sorted.map((m) => m.system), sorted.map((m) => m.id)],
  );
  return new Map(r.rows.map((x) => toLinkedIdentity(x)).map((i) => [i.key, i]));
}

/** Every identity of some persons, in key order. */
export async function identitiesOfPersons(tx: Queryable, personIds: string[], lock = false): Promise<LinkedIdentity[]> {
  if (!personIds.length) return [];
  const r = await tx.query<Record<string, unknown>>(
    `SELECT ${IDENTITY_COLUMNS} FROM source_identity s WHERE s.person_id = ANY($1::uuid[]) ORDER BY s.source_system, s.source_id${lock ? ' FOR UPDATE' : ''}`,
    [[...new Set(personIds)]],
  );
  return r.rows.map((x) => toLinkedIdentity(x));
}

/**
 * Moves identities into their target persons: source_identity.person_id and link, and the
 * resources whose subject is that identity. Identities already in their target with the same
 * link are skipped. Does not settle the persons: use relocate, unless the caller settles.
 */
async function moveRows(tx: Queryable, moves: IdentityMove[]): Promise<MovedIdentity[]> {
  if (!moves.length) return [];
  const sorted = [...new Map(moves.map((m) => [identityKey(m.system, m.id), m])).values()].sort((a, b) => cmp(identityKey(a.system, a.id), identityKey(b.system, b.id)));
  // Lock in key order (concurrent ingest upserts lock the same rows in the same order).
  const before = await readIdentities(tx, sorted, true);
  const todo = sorted.filter((m) => {
    const b = before.get(identityKey(m.system, m.id));
    return b && (b.personId !== m.to || b.linkMethod !== m.linkMethod || b.matchStatus !== m.matchStatus || (b.matchWeight ?? null) !== (m.matchWeight ?? null));
  });
  if (!todo.length) return [];
  await tx.query(
    `UPDATE source_identity s SET person_id = m.target, link_method = m.method, match_status = m.status, match_weight = m.weight, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::float8[]) AS m(sys, id, target, method, status, weight)
      WHERE s.source_system = m.sys AND s.source_id = m.id`,
    [todo.map((m) => m.system), todo.map((m) => m.id), todo.map((m) => m.to), todo.map((m) => m.linkMethod), todo.map((m) => m.matchStatus), todo.map((m) => m.matchWeight ?? null)],
  );
  const moved: MovedIdentity[] = todo.map((m) => {
    const b = before.get(identityKey(m.system, m.id))!;
    return { system: m.system, id: m.id, from: b.personId, to: m.to, linkMethod: b.linkMethod, matchStatus: b.matchStatus, matchWeight: b.matchWeight };
  });
  const changedPerson = moved.filter((m) => m.from !== m.to);
  if (changedPerson.length) {
    await tx.query(
      `UPDATE resource r SET person_id = m.target
         FROM unnest($1::text[], $2::text[], $3::uuid[]) AS m(sys, id, target)
        WHERE r.source_system = m.sys AND r.subject_id = m.id AND r.person_id IS DISTINCT FROM m.target`,
      [changedPerson.map((m) => m.system), changedPerson.map((m) => m.id), changedPerson.map((m) => m.to)],
    );
  }
  return moved;
}

export interface Relocation {
  identities: MovedIdentity[];
  persons: PersonChange[];
}

/**
 * Moves identities (see moveRows) and settles every person the moves touched (settlePersons).
 * `mergedInto` names where an emptied person goes when that is not simply where its identities
 * went; `alsoSettle` adds persons to settle; `restore` gives persons' states to return to (an undo).
 */
export async function relocate(
  tx: Queryable,
  moves: IdentityMove[],
  opts: { mergedInto?: Map<string, string>; alsoSettle?: string[]; restore?: Map<string, { expect: PersonState; restore: PersonState }> } = {},
): Promise<Relocation> {
  const identities = await moveRows(tx, moves);
  const target = new Map(opts.mergedInto ?? []);
  for (const m of identities) if (m.from && m.from !== m.to && !target.has(m.from)) target.set(m.from, m.to);
  const affected = new Set<string>([...(opts.alsoSettle ?? []), ...(opts.restore?.keys() ?? [])]);
  for (const m of identities) {
    if (m.from === m.to) continue;
    if (m.from) affected.add(m.from);
    affected.add(m.to);
  }
  const persons = affected.size ? await settlePersons(tx, [...affected], target, opts.restore) : [];
  return { identities, persons };
}

/**
 * Moves identities and settles their persons; returns what moved (the matcher's entry point).
 * An emptied person is marked merged into where its identities went; a person that has
 * identities again is active; NHS numbers follow the identities that carry them.
 */
export async function moveIdentities(tx: Queryable, moves: IdentityMove[]): Promise<MovedIdentity[]> {
  return (await relocate(tx, moves)).identities;
}

interface PersonRow {
  person_id: string;
  status: string;
  merged_into: string | null;
  nhs_number: string | null;
}

const stateOf = (r: PersonRow): PersonState => ({ status: r.status === 'merged' ? 'merged' : 'active', mergedInto: r.merged_into, nhsNumber: r.nhs_number });
const sameState = (a: PersonState | null, b: PersonState | null) =>
  !!a && !!b && a.status === b.status && (a.mergedInto ?? null) === (b.mergedInto ?? null) && (a.nhsNumber ?? null) === (b.nhsNumber ?? null);

/**
 * Brings persons' rows in line with their identities and returns what changed:
 * - a person with identities is active; an emptied one is merged into `mergedInto` (else it
 *   stays as it is, e.g. already merged);
 * - an active person's NHS number is one its valid-NHS identities carry: it gives up a number
 *   none carries any more, and takes a carried number no other person holds — or one held by a
 *   merged person that now lives in it, or whose survivor no longer carries it (a merged person
 *   keeps its number, for look-ups that follow merged_into, only while its survivor carries it
 *   and holds another);
 * - `restore` (an undo): a person whose row is still as the event left it (`expect`) returns to
 *   its state before (`restore`); then the same rules apply.
 * The one unique NHS number per person row (person_nhs_number_uq) is kept throughout.
 */
export async function settlePersons(
  tx: Queryable,
  personIds: string[],
  mergedInto: Map<string, string> = new Map(),
  restore?: Map<string, { expect: PersonState; restore: PersonState }>,
): Promise<PersonChange[]> {
  // Who else may change: persons carrying a number one of these holds, and holders of a
  // number one of these carries (read unlocked to find them, then everything locked in id order).
  const base = [...new Set(personIds)];
  const carriedRows = await tx.query<{ person_id: string; nhs_number: string }>(
    'SELECT DISTINCT person_id, nhs_number FROM source_identity WHERE person_id = ANY($1::uuid[]) AND nhs_number_valid AND nhs_number IS NOT NULL',
    [base],
  );
  const held = await tx.query<{ nhs_number: string }>('SELECT nhs_number FROM person WHERE person_id = ANY($1::uuid[]) AND nhs_number IS NOT NULL', [base]);
  const restoredNumbers = [...(restore?.values() ?? [])].map((r) => r.restore.nhsNumber).filter((n): n is string => !!n);
  const numbers = [...new Set([...carriedRows.rows.map((r) => r.nhs_number), ...held.rows.map((r) => r.nhs_number), ...restoredNumbers])];
  const extra = numbers.length
    ? await tx.query<{ person_id: string }>(
        `SELECT person_id FROM person WHERE nhs_number = ANY($1::text[])
         UNION SELECT DISTINCT person_id FROM source_identity WHERE nhs_number = ANY($1::text[]) AND nhs_number_valid`,
        [numbers],
      )
    : { rows: [] as { person_id: string }[] };
  // A merged holder's number may move to whoever carries it: its survivor is needed too.
  const redirects = await tx.query<{ person_id: string }>(
    "SELECT person_id FROM person WHERE person_id = ANY($1::uuid[]) AND status = 'merged' AND nhs_number IS NOT NULL",
    [extra.rows.map((r) => r.person_id)],
  );
  const survivors = await currentPersons(tx, redirects.rows.map((r) => r.person_id));
  const all = [...new Set([...base, ...extra.rows.map((r) => r.person_id), ...survivors.values()])].sort(cmp);
  const locked = await tx.query<PersonRow>('SELECT person_id, status, merged_into, nhs_number FROM person WHERE person_id = ANY($1::uuid[]) ORDER BY person_id FOR UPDATE', [all]);
  const before = new Map(locked.rows.map((r) => [r.person_id, stateOf(r)]));
  const counts = await tx.query<{ person_id: string; n: number }>('SELECT person_id, count(*)::int AS n FROM source_identity WHERE person_id = ANY($1::uuid[]) GROUP BY person_id', [all]);
  const size = new Map(counts.rows.map((r) => [r.person_id, r.n]));
  const carriedAll = await tx.query<{ person_id: string; nhs_number: string }>(
    'SELECT DISTINCT person_id, nhs_number FROM source_identity WHERE person_id = ANY($1::uuid[]) AND nhs_number_valid AND nhs_number IS NOT NULL ORDER BY nhs_number',
    [all],
  );
  const carried = new Map<string, string[]>();
  for (const r of carriedAll.rows) {
    if (!carried.has(r.person_id)) carried.set(r.person_id, []);
    carried.get(r.person_id)!.push(r.nhs_number);
  }
  const allNumbers = [...new Set([...numbers, ...carriedAll.rows.map((r) => r.nhs_number)])];
  const holdersOutside = allNumbers.length
    ? await tx.query<{ person_id: string; nhs_number: string }>('SELECT person_id, nhs_number FROM person WHERE nhs_number = ANY($1::text[]) AND NOT (person_id = ANY($2::uuid[]))', [allNumbers, all])
    : { rows: [] as { person_id: string; nhs_number: string }[] };
  const heldOutside = new Set(holdersOutside.rows.map((r) => r.nhs_number));

  // 1. Status, and the starting NHS number (restored where the event's result still stands).
  const after = new Map<string, PersonState>();
  for (const id of all) {
    const b = before.get(id);
    if (!b) continue;
    const r = restore?.get(id);
    const start = r && sameState(b, r.expect) ? { ...r.restore } : { ...b };
    if ((size.get(id) ?? 0) > 0) {
      start.status = 'active';
      start.mergedInto = null;
    } else if (mergedInto.has(id)) {
      start.status = 'merged';
      start.mergedInto = mergedInto.get(id)!;
    } else if (start.status === 'active' && b.status === 'merged') {
      // A restore asks an empty person to be active: keep it merged where it was.
      start.status = 'merged';
      start.mergedInto = b.mergedInto;
    }
    after.set(id, start);
  }
  // A number restored onto a person that someone else holds now stays with that holder.
  for (const [id, s] of after) {
    if (!s.nhsNumber || s.nhsNumber === before.get(id)!.nhsNumber) continue;
    const clash = heldOutside.has(s.nhsNumber) || [...after].some(([o, t]) => o !== id && t.nhsNumber === s.nhsNumber);
    if (clash) s.nhsNumber = null;
  }
  // The active person a merged person now lives in (following merged_into through the new states).
  const current = (id: string): string => {
    let p = id;
    for (let hop = 0; hop < 50; hop++) {
      const s = after.get(p);
      if (!s || s.status !== 'merged' || !s.mergedInto) return p;
      p = s.mergedInto;
    }
    return p;
  };
  // 2. Give up numbers no identity of an active person carries.
  for (const [id, s] of after) {
    if (s.status === 'active' && s.nhsNumber && !(carried.get(id) ?? []).includes(s.nhsNumber)) s.nhsNumber = null;
  }
  // 3. Take a carried number no one holds, or one a merged person living here holds.
  const holderOf = (n: string): string | null => {
    for (const [id, s] of after) if (s.nhsNumber === n) return id;
    return heldOutside.has(n) ? '(outside)' : null;
  };
  const order = [...base.filter((id) => after.has(id)).sort(cmp), ...all.filter((id) => !base.includes(id))];
  for (const id of order) {
    const s = after.get(id)!;
    if (s.status !== 'active' || s.nhsNumber) continue;
    for (const n of carried.get(id) ?? []) {
      const h = holderOf(n);
      if (h === null) {
        s.nhsNumber = n;
        break;
      }
      // A merged person's number redirects look-ups to its survivor: it follows the identity
      // when the survivor is this person or no longer carries the number.
      if (h !== '(outside)' && after.get(h)!.status === 'merged' && (current(h) === id || !(carried.get(current(h)) ?? []).includes(n))) {
        after.get(h)!.nhsNumber = null;
        s.nhsNumber = n;
        break;
      }
    }
  }
  // 4. Write: numbers given up first, so the unique index never sees one number twice.
  const changes: PersonChange[] = [];
  for (const id of all) {
    const b = before.get(id);
    const a = after.get(id);
    if (b && a && !sameState(b, a)) changes.push({ personId: id, before: b, after: a });
  }
  if (!changes.length) return [];
  const releasing = changes.filter((c) => c.before!.nhsNumber && c.before!.nhsNumber !== c.after.nhsNumber).map((c) => c.personId);
  if (releasing.length) await tx.query('UPDATE person SET nhs_number = NULL WHERE person_id = ANY($1::uuid[])', [releasing]);
  await tx.query(
    `UPDATE person p SET status = x.status, merged_into = x.merged_into, nhs_number = x.nhs, updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[]) AS x(id, status, merged_into, nhs)
      WHERE p.person_id = x.id`,
    [changes.map((c) => c.personId), changes.map((c) => c.after.status), changes.map((c) => c.after.mergedInto), changes.map((c) => c.after.nhsNumber)],
  );
  return changes;
}

/** One row of mpi_event. */
export interface MpiEventInput {
  personId: string;
  kind: 'merge' | 'unmerge' | 'link' | 'unlink' | 'reject';
  otherPersonId: string | null;
  identities: MovedIdentity[];
  reason: string | null;
  actor: string;
  /** The person rows the event changed, so an undo restores them. */
  persons?: PersonChange[];
  /** The review the event decided. */
  reviewId?: number | null;
}

/** Records events (one statement for many); returns their ids in input order. */
export async function recordEvents(tx: Queryable, events: MpiEventInput[]): Promise<number[]> {
  if (!events.length) return [];
  const r = await tx.query<{ event_id: number }>(
    `INSERT INTO mpi_event (person_id, kind, other_person_id, identities, reason, actor, persons, review_id)
     SELECT e.person_id, e.kind, e.other, e.identities, e.reason, e.actor, e.persons, e.review_id
       FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[], $5::text[], $6::text[], $7::jsonb[], $8::bigint[])
            WITH ORDINALITY AS e(person_id, kind, other, identities, reason, actor, persons, review_id, ord)
      ORDER BY e.ord
     RETURNING event_id`,
    [
      events.map((e) => e.personId),
      events.map((e) => e.kind),
      events.map((e) => e.otherPersonId),
      events.map((e) => JSON.stringify(e.identities)),
      events.map((e) => e.reason),
      events.map((e) => e.actor),
      events.map((e) => (e.persons ? JSON.stringify(e.persons) : null)),
      events.map((e) => e.reviewId ?? null),
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

/** The valid NHS numbers each person's identities carry (sorted), and the number on the person row. */
export async function personNhsNumbers(tx: Queryable, personIds: string[]): Promise<Map<string, { carried: string[]; onPerson: string | null }>> {
  const out = new Map<string, { carried: string[]; onPerson: string | null }>(personIds.map((p) => [p, { carried: [], onPerson: null }]));
  if (!personIds.length) return out;
  const c = await tx.query<{ person_id: string; nhs_number: string }>(
    'SELECT DISTINCT person_id, nhs_number FROM source_identity WHERE person_id = ANY($1::uuid[]) AND nhs_number_valid AND nhs_number IS NOT NULL ORDER BY nhs_number',
    [personIds],
  );
  for (const r of c.rows) out.get(r.person_id)?.carried.push(r.nhs_number);
  const p = await tx.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id, nhs_number FROM person WHERE person_id = ANY($1::uuid[])', [personIds]);
  for (const r of p.rows) {
    const e = out.get(r.person_id);
    if (e) e.onPerson = r.nhs_number;
  }
  return out;
}

/** Byte-order string comparison (locale-independent, so results are deterministic). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
