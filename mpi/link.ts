/**
 * Deterministic linking during ingest: every source identity gets a person at once, inside the
 * ingest transaction. A valid NHS number whose date of birth agrees links to that NHS number's
 * person; anything else gets a provisional person of its own, PENDING for the probabilistic
 * matcher (matcher.ts). The first identity of a new NHS number is also PENDING (link_method
 * 'nhs-number'): the matcher checks it for a duplicate under a mistyped number. All statements are multi-row (unnest) so a batch of hundreds of
 * identities costs a handful of round trips.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { identityKey, type MergeInstruction, type SourceIdentity } from './identity.ts';
import { normaliseNhsNumber, isValidNhsNumber } from './nhs-number.ts';
import { normalisePostcode, soundex } from './fellegi-sunter.ts';
import { cmp, currentPersons, moveIdentities, recordEvents } from './person-store.ts';

export { identityKey };

interface Prepared {
  key: string;
  system: string;
  id: string;
  nhsNumber: string | null;
  nhsValid: boolean;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  sex: string | null;
  postcode: string | null;
  practice: string | null;
  soundex: string | null;
  address: string | null;
  town: string | null;
}

const COLUMNS = ['nhs_number', 'nhs_number_valid', 'family', 'given', 'birth_date', 'sex', 'postcode', 'practice', 'family_soundex', 'address', 'town'] as const;

/**
 * Upserts identities and returns `${system}|${id}` → person_id for every one of them.
 * Demographics take the latest non-empty values; an identity already linked keeps its person.
 */
export async function resolveIdentities(tx: Queryable, identities: SourceIdentity[]): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  if (!identities.length) return result;
  const prepared = [...dedupe(identities).values()].sort((a, b) => cmp(a.key, b.key));
  const sys = prepared.map((p) => p.system);
  const ids = prepared.map((p) => p.id);

  // 1. Which identities exist already.
  const existing = await tx.query<{ source_system: string; source_id: string; person_id: string }>(
    `SELECT s.source_system, s.source_id, s.person_id
       FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id`,
    [sys, ids],
  );
  const known = new Map(existing.rows.map((r) => [identityKey(r.source_system, r.source_id), r.person_id]));
  const fresh = prepared.filter((p) => !known.has(p.key));

  // 2. Persons for new identities.
  const assigned = new Map<string, { person: string; method: string; status: string }>();
  const createdHere = new Set<string>();
  const nhsNumbers = [...new Set(fresh.filter((p) => p.nhsValid).map((p) => p.nhsNumber!))].sort();
  if (nhsNumbers.length) {
    const byNhs = await personsForNhsNumbers(tx, nhsNumbers, createdHere);
    for (const p of fresh) {
      if (!p.nhsValid) continue;
      const target = byNhs.get(p.nhsNumber!)!;
      if (!p.birthDate || target.birthDates.size === 0 || target.birthDates.has(p.birthDate)) {
        // The first identity of a new NHS number is checked by the matcher for a duplicate (a
        // mistyped number that still passes Modulus 11 makes a second person); later ones match.
        const founding = target.created && !target.founded;
        target.founded = true;
        assigned.set(p.key, { person: target.personId, method: 'nhs-number', status: founding ? 'PENDING' : 'MATCH' });
        if (p.birthDate) target.birthDates.add(p.birthDate);
      }
    }
  }
  const provisional: string[] = [];
  for (const p of fresh) {
    if (assigned.has(p.key)) continue;
    const person = randomUUID();
    provisional.push(person);
    createdHere.add(person);
    assigned.set(p.key, { person, method: 'new', status: 'PENDING' });
  }
  if (provisional.length) await tx.query('INSERT INTO person (person_id) SELECT unnest($1::uuid[])', [provisional]);

  // 3. One upsert for all, in key order so concurrent batches lock rows in the same order.
  // Demographics change only when a new non-empty value differs, so replays write nothing.
  const col = (c: (typeof COLUMNS)[number]) => `COALESCE(EXCLUDED.${c}, source_identity.${c})`;
  const upsert = await tx.query<{ source_system: string; source_id: string; person_id: string }>(
    `INSERT INTO source_identity (source_system, source_id, person_id, link_method, match_status, ${COLUMNS.join(', ')})
     SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[], $9::text[], $10::date[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
     ON CONFLICT (source_system, source_id) DO UPDATE SET
       ${COLUMNS.filter((c) => c !== 'nhs_number_valid').map((c) => `${c} = ${col(c)}`).join(', ')},
       nhs_number_valid = CASE WHEN EXCLUDED.nhs_number IS NULL THEN source_identity.nhs_number_valid ELSE EXCLUDED.nhs_number_valid END,
       updated_at = now()
     WHERE (${COLUMNS.filter((c) => c !== 'nhs_number_valid').map((c) => `source_identity.${c}`).join(', ')})
           IS DISTINCT FROM (${COLUMNS.filter((c) => c !== 'nhs_number_valid').map(col).join(', ')})
     RETURNING source_system, source_id, person_id`,
    [
      sys,
      ids,
      prepared.map((p) => assigned.get(p.key)?.person ?? known.get(p.key)!),
      prepared.map((p) => assigned.get(p.key)?.method ?? 'new'),
      prepared.map((p) => assigned.get(p.key)?.status ?? 'PENDING'),
      prepared.map((p) => p.nhsNumber),
      prepared.map((p) => p.nhsValid),
      prepared.map((p) => p.family),
      prepared.map((p) => p.given),
      prepared.map((p) => p.birthDate),
      prepared.map((p) => p.sex),
      prepared.map((p) => p.postcode),
      prepared.map((p) => p.practice),
      prepared.map((p) => p.soundex),
      prepared.map((p) => p.address),
      prepared.map((p) => p.town),
    ],
  );
  for (const r of upsert.rows) result.set(identityKey(r.source_system, r.source_id), r.person_id);

  // 4. Unchanged rows are not returned; read them now (after the upsert has locked them, so a
  // matcher move that committed meanwhile is seen).
  const missing = prepared.filter((p) => !result.has(p.key));
  if (missing.length) {
    const r = await tx.query<{ source_system: string; source_id: string; person_id: string }>(
      `SELECT s.source_system, s.source_id, s.person_id
         FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id`,
      [missing.map((p) => p.system), missing.map((p) => p.id)],
    );
    for (const row of r.rows) result.set(identityKey(row.source_system, row.source_id), row.person_id);
  }

  // 5. A concurrent transaction may have inserted one of our "new" identities first: drop the
  // persons we created for nothing.
  const used = new Set(result.values());
  const unused = [...createdHere].filter((p) => !used.has(p));
  if (unused.length) {
    await tx.query(
      'DELETE FROM person p WHERE p.person_id = ANY($1::uuid[]) AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)',
      [unused],
    );
  }
  return result;
}

interface NhsPerson {
  personId: string;
  birthDates: Set<string>;
  /** Created by this call (no identity had this NHS number before). */
  created: boolean;
  /** An identity of this call has been linked to it already. */
  founded: boolean;
}

/**
 * The person for each NHS number, creating the missing ones. `INSERT … ON CONFLICT DO NOTHING`
 * waits for a concurrent transaction inserting the same number and then yields to it, so fifty
 * feeds creating one NHS number agree on one person (the unique index person_nhs_number_uq).
 */
async function personsForNhsNumbers(tx: Queryable, nhsNumbers: string[], createdHere: Set<string>): Promise<Map<string, NhsPerson>> {
  const out = new Map<string, NhsPerson>();
  const inserted = await tx.query<{ person_id: string; nhs_number: string }>(
    `INSERT INTO person (person_id, nhs_number) SELECT * FROM unnest($1::uuid[], $2::text[])
     ON CONFLICT (nhs_number) DO NOTHING RETURNING person_id, nhs_number`,
    [nhsNumbers.map(() => randomUUID()), nhsNumbers],
  );
  for (const r of inserted.rows) {
    out.set(r.nhs_number, { personId: r.person_id, birthDates: new Set(), created: true, founded: false });
    createdHere.add(r.person_id);
  }
  const rest = nhsNumbers.filter((n) => !out.has(n));
  if (!rest.length) return out;
  const found = await tx.query<{ person_id: string; nhs_number: string }>('SELECT person_id, nhs_number FROM person WHERE nhs_number = ANY($1::text[])', [rest]);
  // A merged person's NHS number now belongs to the person it was merged into.
  const current = await currentPersons(tx, found.rows.map((r) => r.person_id));
  const targets = [...new Set(current.values())];
  const dobs = await tx.query<{ person_id: string; birth_date: string }>(
    'SELECT DISTINCT person_id, birth_date::text AS birth_date FROM source_identity WHERE person_id = ANY($1::uuid[]) AND birth_date IS NOT NULL',
    [targets],
  );
  const byPerson = new Map<string, Set<string>>();
  for (const r of dobs.rows) {
    let s = byPerson.get(r.person_id);
    if (!s) byPerson.set(r.person_id, (s = new Set()));
    s.add(r.birth_date);
  }
  for (const r of found.rows) {
    const personId = current.get(r.person_id)!;
    if (!byPerson.has(personId)) byPerson.set(personId, new Set());
    out.set(r.nhs_number, { personId, birthDates: byPerson.get(personId)!, created: false, founded: true });
  }
  return out;
}

/** Merges duplicate keys (later non-empty values win) and normalises values for storage and blocking. */
function dedupe(identities: SourceIdentity[]): Map<string, Prepared> {
  const out = new Map<string, Prepared>();
  for (const i of identities) {
    const key = identityKey(i.system, i.id);
    const nhsRaw = i.nhsNumber?.trim() ? i.nhsNumber.trim() : null;
    const nhsNumber = nhsRaw ? (normaliseNhsNumber(nhsRaw) ?? nhsRaw) : null;
    const family = clean(i.family);
    const p: Prepared = {
      key,
      system: i.system,
      id: i.id,
      nhsNumber,
      nhsValid: nhsNumber ? isValidNhsNumber(nhsNumber) : false,
      family,
      given: clean(i.given),
      birthDate: i.birthDate && isIsoDate(i.birthDate) ? i.birthDate.slice(0, 10) : null,
      sex: clean(i.sex),
      postcode: normalisePostcode(i.postcode),
      practice: clean(i.practice),
      soundex: family ? soundex(family) || null : null,
      address: clean(i.address),
      town: clean(i.town),
    };
    const prev = out.get(key);
    if (!prev) {
      out.set(key, p);
      continue;
    }
    for (const k of Object.keys(p) as (keyof Prepared)[]) {
      if (p[k] !== null && p[k] !== undefined) (prev as unknown as Record<string, unknown>)[k] = p[k];
    }
    if (p.nhsNumber) prev.nhsValid = p.nhsValid;
  }
  return out;
}

function clean(s: string | null | undefined): string | null {
  const t = s?.trim();
  return t ? t : null;
}

function isIsoDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/**
 * HL7 A40: the retired identity is the survivor identity's patient. The retired identity moves
 * into the survivor's person with its resources — and so does everything the MPI had linked to
 * it (its person's other identities), since they are the same patient too. Records an mpi_event
 * 'merge' listing the identities moved; the emptied person is marked merged. An unknown retired
 * identity is created in the survivor's person so later messages land there. Replaying the same
 * merge changes nothing.
 */
export async function applyMerge(tx: Queryable, m: MergeInstruction, actor: string): Promise<void> {
  if (m.survivorId === m.retiredId) return;
  const rows = await tx.query<{ source_id: string; person_id: string }>(
    `SELECT source_id, person_id FROM source_identity WHERE source_system = $1 AND source_id = ANY($2::text[])
      ORDER BY source_id FOR UPDATE`,
    [m.system, [m.survivorId, m.retiredId]],
  );
  const survivor = rows.rows.find((r) => r.source_id === m.survivorId);
  const retired = rows.rows.find((r) => r.source_id === m.retiredId);
  if (!survivor) throw new Error(`merge into unknown identity ${m.system} ${m.survivorId}: the surviving patient must be sent first`);
  const to = survivor.person_id;
  const reason = `HL7 A40: ${m.retiredId} merged into ${m.survivorId}`;
  if (!retired) {
    const ins = await tx.query(
      `INSERT INTO source_identity (source_system, source_id, person_id, link_method, match_status)
       VALUES ($1, $2, $3, 'hl7-a40', 'MATCH') ON CONFLICT (source_system, source_id) DO NOTHING`,
      [m.system, m.retiredId, to],
    );
    if (ins.rowCount) {
      await recordEvents(tx, [
        {
          personId: to,
          kind: 'merge',
          otherPersonId: null,
          identities: [{ system: m.system, id: m.retiredId, from: null, to, linkMethod: null, matchStatus: null, matchWeight: null }],
          reason,
          actor,
        },
      ]);
    }
    return;
  }
  if (retired.person_id === to) return; // already done (a replay)
  const others = await tx.query<{ source_system: string; source_id: string; link_method: string; match_status: string; match_weight: number | null }>(
    'SELECT source_system, source_id, link_method, match_status, match_weight FROM source_identity WHERE person_id = $1 ORDER BY source_system, source_id',
    [retired.person_id],
  );
  const moved = await moveIdentities(
    tx,
    others.rows.map((r) =>
      r.source_system === m.system && r.source_id === m.retiredId
        ? { system: r.source_system, id: r.source_id, to, linkMethod: 'hl7-a40', matchStatus: 'MATCH' }
        : { system: r.source_system, id: r.source_id, to, linkMethod: r.link_method, matchStatus: r.match_status, matchWeight: r.match_weight },
    ),
  );
  if (!moved.length) return;
  await recordEvents(tx, [{ personId: to, kind: 'merge', otherPersonId: retired.person_id, identities: moved, reason, actor }]);
}
