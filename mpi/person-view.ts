/** Read-only views of the MPI for people: one person with their identities and events. */
import type { Queryable } from '../db/database.ts';
import { normaliseNhsNumber } from './nhs-number.ts';
import { currentPersons } from './person-store.ts';

export interface PersonView {
  personId: string;
  nhsNumber: string | null;
  status: string;
  mergedInto: string | null;
  /** When the id asked for was merged away, the person it now lives in is shown; this is the id asked for. */
  requested: string;
  identities: {
    system: string; id: string; nhsNumber: string | null; nhsNumberValid: boolean; family: string | null; given: string | null;
    birthDate: string | null; sex: string | null; postcode: string | null; linkMethod: string; matchStatus: string; matchWeight: number | null;
  }[];
  events: { eventId: number; kind: string; personId: string; otherPersonId: string | null; identities: unknown; reason: string | null; actor: string; undoneBy: number | null; at: string }[];
  resources: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Finds a person by person id or NHS number, following merges; null when there is none. */
export async function getPerson(db: Queryable, idOrNhs: string): Promise<PersonView | null> {
  let requested: string | null = null;
  if (UUID.test(idOrNhs)) {
    const r = await db.query<{ person_id: string }>('SELECT person_id FROM person WHERE person_id = $1', [idOrNhs]);
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
  const ids = await db.query<Record<string, unknown>>(
    `SELECT source_system, source_id, nhs_number, nhs_number_valid, family, given, birth_date::text AS birth_date, sex, postcode, link_method, match_status, match_weight
       FROM source_identity WHERE person_id = $1 ORDER BY source_system, source_id`,
    [personId],
  );
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
    identities: ids.rows.map((x) => ({
      system: x.source_system as string, id: x.source_id as string, nhsNumber: (x.nhs_number as string) ?? null, nhsNumberValid: Boolean(x.nhs_number_valid),
      family: (x.family as string) ?? null, given: (x.given as string) ?? null, birthDate: (x.birth_date as string) ?? null, sex: (x.sex as string) ?? null,
      postcode: (x.postcode as string) ?? null, linkMethod: x.link_method as string, matchStatus: x.match_status as string,
      matchWeight: x.match_weight == null ? null : Number(x.match_weight),
    })),
    events: ev.rows.map((x) => ({
      eventId: Number(x.event_id), kind: x.kind as string, personId: x.person_id as string, otherPersonId: (x.other_person_id as string) ?? null,
      identities: x.identities, reason: (x.reason as string) ?? null, actor: x.actor as string, undoneBy: x.undone_by == null ? null : Number(x.undone_by), at: x.at as string,
    })),
    resources: res.rows[0]?.n ?? 0,
  };
}
