/** Read-only views of the MPI for people: one person with their identities and events. */
import type { Queryable } from '../db/database.ts';
import { normaliseNhsNumber } from './nhs-number.ts';
import type { LinkedIdentity } from './identity.ts';
import { currentPersons, identitiesOfPersons } from './person-store.ts';

export interface PersonView {
  personId: string;
  nhsNumber: string | null;
  status: string;
  mergedInto: string | null;
  /** When the id asked for was merged away, the person it now lives in is shown; this is the id asked for. */
  requested: string;
  /** Every identity of the person, in key order (the MPI's one identity shape). */
  identities: LinkedIdentity[];
  events: { eventId: number; kind: string; personId: string; otherPersonId: string | null; identities: unknown; reason: string | null; actor: string; undoneBy: number | null; at: string }[];
  resources: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Finds a person by person id, NHS number or identity (`SYSTEM|ID`), following merges; null when there is none. */
export async function getPerson(db: Queryable, idOrNhs: string): Promise<PersonView | null> {
  let requested: string | null = null;
  if (UUID.test(idOrNhs)) {
    const r = await db.query<{ person_id: string }>('SELECT person_id FROM person WHERE person_id = $1', [idOrNhs]);
    requested = r.rows[0]?.person_id ?? null;
  } else if (idOrNhs.includes('|')) {
    const cut = idOrNhs.indexOf('|');
    const r = await db.query<{ person_id: string }>('SELECT person_id FROM source_identity WHERE source_system = $1 AND source_id = $2', [idOrNhs.slice(0, cut), idOrNhs.slice(cut + 1)]);
    requested = r.rows[0]?.person_id ?? null;
  } else {
    const nhs = normaliseNhsNumber(idOrNhs) ?? idOrNhs;
    const r = await db.query<{ person_id: string }>('SELECT person_id FROM person WHERE nhs_number = $1', [nhs]);
    requested = r.rows[0]?.person_id ?? null;
    if (!requested) {
      const s = await db.query<{ person_id: string }>('SELECT person_id FROM source_identity WHERE nhs_number = $1 ORDER BY source_system, source_id LIMIT 1', [nhs]);
      requested = s.rows[0]?.person_id ?? null;
    }
  }
  if (!requested) return null;
  const personId = (await currentPersons(db, [requested])).get(requested)!;
  const p = await db.query<{ nhs_number: string | null; status: string; merged_into: string | null }>('SELECT nhs_number, status, merged_into FROM person WHERE person_id = $1', [personId]);
  const identities = await identitiesOfPersons(db, [personId]);
  const ev = await db.query<Record<string, unknown>>(
    `SELECT event_id, kind, person_id, other_person_id, identities, reason, actor, undone_by, at::text AS at
       FROM mpi_event WHERE person_id = $1 OR other_person_id = $1 OR person_id = $2 OR other_person_id = $2 ORDER BY event_id`,
    [personId, requested],
  );
  const res = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource WHERE person_id = $1', [personId]);
  return {
    personId,
    requested,
    nhsNumber: p.rows[0]?.nhs_number ?? null,
    status: p.rows[0]?.status ?? 'unknown',
    mergedInto: p.rows[0]?.merged_into ?? null,
    identities,
    events: ev.rows.map((x) => ({
      eventId: Number(x.event_id), kind: x.kind as string, personId: x.person_id as string, otherPersonId: (x.other_person_id as string) ?? null,
      identities: x.identities, reason: (x.reason as string) ?? null, actor: x.actor as string, undoneBy: x.undone_by == null ? null : Number(x.undone_by), at: x.at as string,
    })),
    resources: res.rows[0]?.n ?? 0,
  };
}
