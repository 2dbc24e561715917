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
import type { StatisticsTarget } from '../db/statistics.ts';
import { identityKey, type MergeInstruction, type NormalisedIdentity, type SourceIdentity } from './identity.ts';
import { normaliseNhsNumber, isValidNhsNumber } from './nhs-number.ts';
import { normaliseEmail, normaliseIdentifier, normalisePhone, normalisePostcode, soundex } from './fellegi-sunter.ts';
import { cmp, currentPersons, identitiesOfPersons, readIdentities, recordEvents, relocate, type IdentityMove, type MovedIdentity } from './person-store.ts';
import { feedDetail, nhsConflict, queueReview, splitOut, survivorOf } from './merge.ts';

export { identityKey };

/** The tables resolveIdentities reads by key every batch, for db/statistics.ts (refreshed during a long load). */
export const LINK_TABLES: readonly StatisticsTarget[] = [{ table: 'source_identity' }, { table: 'person' }];

/**
 * An identity as it will be stored: normalised, with its blocking key. `birthDate` is a whole,
 * valid date (the column birth_date); `birthDateAsSent` a date that is not one, as sent
 * (birthDateOf: migration 0077).
 */
type Prepared = NormalisedIdentity & { soundex: string | null; birthDateAsSent: string | null };

const COLUMNS = ['nhs_number', 'nhs_number_valid', 'family', 'given', 'birth_date', 'sex', 'postcode', 'practice', 'family_soundex', 'address', 'town', 'email', 'phone', 'other_id', 'birth_date_as_sent'] as const;

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

  // 1. Which identities exist already, as stored. FOR SHARE: a matcher move of one of them waits
  // for this transaction, so the person read here is the one this batch's resources go to.
  const existing = await tx.query<StoredIdentity>(
    `SELECT s.source_system, s.source_id, s.person_id, ${COLUMNS.map((c) => (c === 'birth_date' ? 's.birth_date::text AS birth_date' : `s.${c}`)).join(', ')}
       FROM source_identity s JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id
        FOR SHARE OF s`,
    [sys, ids],
  );
  const stored = new Map(existing.rows.map((r) => [identityKey(r.source_system, r.source_id), r]));
  const known = new Map(existing.rows.map((r) => [identityKey(r.source_system, r.source_id), r.person_id]));
  const fresh = prepared.filter((p) => !known.has(p.key));
  // An identity stored exactly as sent (every value sent is the one kept) needs no write: most
  // messages restate a patient Bevan already holds (every HL7 event carries the PID).
  for (const p of prepared) {
    const row = stored.get(p.key);
    if (row && storedAsSent(p, row)) result.set(p.key, row.person_id);
  }
  const toWrite = prepared.filter((p) => !result.has(p.key));
  if (!toWrite.length) return result;

  // 2. Persons for new identities.
  const assigned = new Map<string, { person: string; method: string; status: string }>();
  const createdHere = new Set<string>();
  const nhsNumbers = [...new Set(fresh.filter((p) => p.nhsNumberValid).map((p) => p.nhsNumber!))].sort();
  if (nhsNumbers.length) {
    const byNhs = await personsForNhsNumbers(tx, nhsNumbers, createdHere);
    for (const p of fresh) {
      if (!p.nhsNumberValid) continue;
      const target = byNhs.get(p.nhsNumber!)!;
      if (target.birthDates.size === 0 || (p.birthDate ? target.birthDates.has(p.birthDate) : !p.birthDateAsSent || consistentWith(p.birthDateAsSent, target.birthDates))) {
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
    // shard_key: the identity's distribution key (migration 0029, docs/distribution.md); the
    // primary key is named rather than its columns, since the partitioned layout's holds shard_key too.
    `INSERT INTO source_identity (source_system, source_id, person_id, link_method, match_status, ${COLUMNS.join(', ')}, shard_key)
     SELECT u.*, shard_key_of(u.sys, u.id) FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[], $9::text[], $10::date[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[]) AS u(sys, id)
     ON CONFLICT ON CONSTRAINT source_identity_pkey DO UPDATE SET
       ${COLUMNS.filter((c) => c !== 'nhs_number_valid').map((c) => `${c} = ${col(c)}`).join(', ')},
       nhs_number_valid = CASE WHEN EXCLUDED.nhs_number IS NULL THEN source_identity.nhs_number_valid ELSE EXCLUDED.nhs_number_valid END,
       updated_at = now()
     WHERE (${COLUMNS.filter((c) => c !== 'nhs_number_valid').map((c) => `source_identity.${c}`).join(', ')})
           IS DISTINCT FROM (${COLUMNS.filter((c) => c !== 'nhs_number_valid').map(col).join(', ')})
     RETURNING source_system, source_id, person_id`,
    [
      toWrite.map((p) => p.system),
      toWrite.map((p) => p.id),
      toWrite.map((p) => assigned.get(p.key)?.person ?? known.get(p.key)!),
      toWrite.map((p) => assigned.get(p.key)?.method ?? 'new'),
      toWrite.map((p) => assigned.get(p.key)?.status ?? 'PENDING'),
      toWrite.map((p) => p.nhsNumber),
      toWrite.map((p) => p.nhsNumberValid),
      toWrite.map((p) => p.family),
      toWrite.map((p) => p.given),
      toWrite.map((p) => p.birthDate),
      toWrite.map((p) => p.sex),
      toWrite.map((p) => p.postcode),
      toWrite.map((p) => p.practice),
      toWrite.map((p) => p.soundex),
      toWrite.map((p) => p.address),
      toWrite.map((p) => p.town),
      toWrite.map((p) => p.email),
      toWrite.map((p) => p.phone),
      toWrite.map((p) => p.otherId),
      toWrite.map((p) => p.birthDateAsSent),
    ],
  );
  for (const r of upsert.rows) result.set(identityKey(r.source_system, r.source_id), r.person_id);

  // 4. Unchanged rows are not returned; read them now (after the upsert has locked them, so a
  // matcher move that committed meanwhile is seen).
  const missing = toWrite.filter((p) => !result.has(p.key));
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

type StoredIdentity = { source_system: string; source_id: string; person_id: string } & Record<(typeof COLUMNS)[number], string | boolean | null>;

/** True when upserting p would change nothing: each value it sends is null or the one stored (the upsert's own rule). */
function storedAsSent(p: Prepared, row: StoredIdentity): boolean {
  const sent: Record<(typeof COLUMNS)[number], string | boolean | null> = {
    nhs_number: p.nhsNumber,
    nhs_number_valid: p.nhsNumber === null ? null : p.nhsNumberValid,
    family: p.family,
    given: p.given,
    birth_date: p.birthDate,
    sex: p.sex,
    postcode: p.postcode,
    practice: p.practice,
    family_soundex: p.soundex,
    address: p.address,
    town: p.town,
    email: p.email,
    phone: p.phone,
    other_id: p.otherId,
    birth_date_as_sent: p.birthDateAsSent,
  };
  for (const c of COLUMNS) if (sent[c] !== null && sent[c] !== row[c]) return false;
  return true;
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

/** Stands for an absent value in dedupe's content key. */
const U = '\u0001';

/** Merges duplicate keys (later non-empty values win) and normalises values for storage and blocking. */
function dedupe(identities: SourceIdentity[]): Map<string, Prepared> {
  const out = new Map<string, Prepared>();
  // A batch restates the same identity many times (every HL7 event carries its patient's PID):
  // each distinct one is normalised once; a copy is taken, since the merge below changes `prev`.
  const normalised = new Map<string, Prepared>();
  // The same identity object restated (an adapter shares one per patient, mapPatient, and a
  // chunk from the parsing thread keeps that sharing) is read once per call: its content key is a
  // long text, built only for the first. Nothing changes an identity during the call.
  const byObject = new Map<SourceIdentity, Prepared>();
  for (const i of identities) {
    let p = byObject.get(i);
    if (p) p = { ...p };
    else {
      p = normalisedOf(i, normalised);
      byObject.set(i, { ...p });
    }
    const prev = out.get(p.key);
    if (!prev) {
      out.set(p.key, p);
      continue;
    }
    for (const k of Object.keys(p) as (keyof Prepared)[]) {
      if (p[k] !== null && p[k] !== undefined) (prev as unknown as Record<string, unknown>)[k] = p[k];
    }
    if (p.nhsNumber) prev.nhsNumberValid = p.nhsNumberValid;
  }
  return out;
}

/** One identity normalised (a copy, the caller's to change), each distinct content once per call. */
function normalisedOf(i: SourceIdentity, normalised: Map<string, Prepared>): Prepared {
  const content = `${i.system}\u0000${i.id}\u0000${i.nhsNumber ?? U}\u0000${i.family ?? U}\u0000${i.given ?? U}\u0000${i.birthDate ?? U}\u0000${i.sex ?? U}\u0000${i.postcode ?? U}\u0000${i.practice ?? U}\u0000${i.address ?? U}\u0000${i.town ?? U}\u0000${i.emails?.join(' ') ?? U}\u0000${i.phones?.join(' ') ?? U}\u0000${i.identifiers?.map((x) => `${x.system}\u0002${x.value}`).join(' ') ?? U}`;
  const known = normalised.get(content);
  if (known) return { ...known };
  const p = normalise(i);
  normalised.set(content, { ...p });
  return p;
}

/** One identity normalised for storage and blocking. */
function normalise(i: SourceIdentity): Prepared {
  const key = identityKey(i.system, i.id);
  const nhsRaw = i.nhsNumber?.trim() ? i.nhsNumber.trim() : null;
  const nhsNumber = nhsRaw ? (normaliseNhsNumber(nhsRaw) ?? nhsRaw) : null;
  const family = clean(i.family);
  const dob = birthDateOf(i.birthDate);
  const p: Prepared = {
    key,
    system: i.system,
    id: i.id,
    nhsNumber,
    nhsNumberValid: nhsNumber ? isValidNhsNumber(nhsNumber) : false,
    family,
    given: clean(i.given),
    birthDate: dob.date,
    birthDateAsSent: dob.asSent,
    sex: clean(i.sex),
    postcode: normalisePostcode(i.postcode),
    practice: clean(i.practice),
    soundex: family ? soundex(family) || null : null,
    address: clean(i.address),
    town: clean(i.town),
    email: list((i.emails ?? []).map(normaliseEmail)),
    phone: list((i.phones ?? []).map(normalisePhone)),
    otherId: list((i.identifiers ?? []).map((x) => normaliseIdentifier(x.system, x.value))),
  };
  return p;
}

/** Normalised values as one space-separated text (none has a space), each once, in the order sent; null when none. */
function list(values: (string | null)[]): string | null {
  const kept = [...new Set(values.filter((v): v is string => !!v && !/\s/.test(v)))];
  return kept.length ? kept.join(' ') : null;
}

function clean(s: string | null | undefined): string | null {
  const t = s?.trim();
  return t ? t : null;
}

/**
 * A birth date as sent, read at the precision it has: `date` when it is a whole, valid date
 * (YYYY-MM-DD, YYYYMMDD, or either followed by a time), else `asSent` for what it still says: a year
 * (YYYY), a year and month (YYYY-MM or YYYYMM; HL7 v2 DTM and FHIR date allow both), or a day that
 * does not exist (1987-02-30; a day and month swapped, 1987-13-05), normalised to YYYY[-MM[-DD]].
 * Anything else (text, a year before 1800 or after 2199, a month 00 with no day) is neither.
 */
export function birthDateOf(s: string | null | undefined): { date: string | null; asSent: string | null } {
  const none = { date: null, asSent: null };
  const m = /^(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?(?:$|T|\s)/.exec(s?.trim() ?? '');
  if (!m) return none;
  const [y, mo, d] = [Number(m[1]), m[2] === undefined ? null : Number(m[2]), m[3] === undefined ? null : Number(m[3])];
  if (y < 1800 || y > 2199) return none;
  if (mo === null) return { date: null, asSent: m[1]! };
  if (d === null) return mo >= 1 && mo <= 12 ? { date: null, asSent: `${m[1]}-${m[2]}` } : none;
  const iso = `${m[1]}-${m[2]}-${m[3]}`;
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d) return { date: iso, asSent: null };
  return { date: null, asSent: iso };
}

/**
 * True when a birth date that is not a whole valid one (birthDateOf's asSent) agrees with one of
 * the person's dates as far as it goes: its year and month (an impossible day is not compared), or
 * its year alone. A valid NHS number with such a date joins its person directly, as one with no
 * date does; one that disagrees waits for the matcher.
 */
export function consistentWith(asSent: string, dates: Set<string>): boolean {
  const prefix = asSent.slice(0, 7);
  for (const d of dates) if (d.startsWith(prefix)) return true;
  return false;
}

/** What applyMerge did with one instruction. */
export interface MergeOutcome {
  outcome: 'applied' | 'unchanged' | 'queued' | 'ignored';
  /** Why it was queued for review or ignored. */
  reason?: string;
  eventId?: number;
}

const KINDS = new Set(['merge', 'link', 'unlink']);

/**
 * Applies a feed's instruction about two identities (HL7 A40/A34/A47 merge, A24 link, A37
 * unlink; FHIR Patient.link), inside the ingest transaction. Never throws for what the
 * instruction says: anything unsafe is queued for a person to review, with the reason.
 * - merge / link: the two identities are one person. Their persons become one — the person
 *   holding an NHS number survives, else the survivor identity's person — with everything
 *   the MPI had linked to either (they are the same patient). A merge marks the retired
 *   identity 'hl7-a40', a link 'feed-link'. Not applied but queued for review when the two
 *   persons carry different valid NHS numbers (two people, most likely: a person confirms it
 *   with `bevan mpi decide N link --despite-different-nhs-numbers`).
 *   An identity Bevan has not seen yet is created where the other is (HL7 A40 carries the
 *   survivor's PID in the same message, so it normally exists; a FHIR replaced-by may point
 *   at a Patient that comes later): later messages about it land in that person. Neither
 *   seen: both are created in one new person.
 * - unlink: when the two are in one person, the retired identity — and the identities that came
 *   into the person with it — are split out (recorded as an 'unlink' event that can be
 *   undone). Queued instead when the part split off shares a valid NHS number with the rest.
 * Replaying the same instruction changes nothing.
 */
export async function applyMerge(tx: Queryable, m: MergeInstruction, actor: string): Promise<MergeOutcome> {
  const kind = m.kind ?? 'merge';
  const survivorRef = { system: m.system, id: m.survivorId };
  const retiredRef = { system: m.retiredSystem ?? m.system, id: m.retiredId };
  const usable = (x: unknown) => typeof x === 'string' && x.trim() !== '' && !x.includes('\u0000');
  if (![survivorRef.system, survivorRef.id, retiredRef.system, retiredRef.id].every(usable)) {
    return { outcome: 'ignored', reason: 'the instruction does not name both identities' };
  }
  const sKey = identityKey(survivorRef.system, survivorRef.id);
  const rKey = identityKey(retiredRef.system, retiredRef.id);
  if (sKey === rKey) return { outcome: 'unchanged' };
  const label = m.event ?? `feed ${kind}`;
  const verb = kind === 'merge' ? 'merged into' : kind === 'link' ? 'linked with' : kind === 'unlink' ? 'unlinked from' : `(${String(kind)})`;
  const reason = `${label}: ${retiredRef.system} ${retiredRef.id} ${verb} ${survivorRef.system} ${survivorRef.id}`;

  let ids = await readIdentities(tx, [survivorRef, retiredRef], true);
  if (!KINDS.has(kind)) {
    const [s, r] = [ids.get(sKey), ids.get(rKey)];
    if (!s || !r) return { outcome: 'ignored', reason: `unknown instruction kind ${JSON.stringify(kind)}` };
    await queueReview(tx, s, r, 0, feedDetail(m, 'link', `${reason}: unknown instruction kind ${JSON.stringify(kind)}; a person decides`));
    return { outcome: 'queued', reason: 'unknown instruction kind' };
  }

  if (kind === 'unlink') {
    const [s, r] = [ids.get(sKey), ids.get(rKey)];
    if (!s || !r || s.personId !== r.personId) return { outcome: 'unchanged' };
    const split = await splitOut(tx, r, s, actor, reason, { linkMethod: 'feed-unlink' });
    if (split.unsafe) {
      await queueReview(tx, s, r, 0, feedDetail(m, 'unlink', `${reason}: not applied, ${split.unsafe}; a person decides (reject splits them)`));
      return { outcome: 'queued', reason: split.unsafe };
    }
    return split.eventId ? { outcome: 'applied', eventId: split.eventId } : { outcome: 'unchanged' };
  }

  const method = kind === 'merge' ? 'hl7-a40' : 'feed-link';
  // An identity not seen yet is created where the other one is (or both in a new person).
  const missing = [ids.has(sKey) ? null : survivorRef, ids.has(rKey) ? null : retiredRef].filter((x): x is { system: string; id: string } => !!x);
  const created: MovedIdentity[] = [];
  if (missing.length) {
    const home = ids.get(sKey)?.personId ?? ids.get(rKey)?.personId ?? randomUUID();
    const newPerson = missing.length === 2;
    if (newPerson) await tx.query('INSERT INTO person (person_id) VALUES ($1)', [home]);
    const ins = await tx.query<{ source_system: string; source_id: string }>(
      `INSERT INTO source_identity (source_system, source_id, person_id, link_method, match_status, shard_key)
       SELECT k.sys, k.id, $3::uuid, k.method, k.status, shard_key_of(k.sys, k.id) FROM unnest($1::text[], $2::text[], $4::text[], $5::text[]) AS k(sys, id, method, status)
       ORDER BY k.sys, k.id
       ON CONFLICT ON CONSTRAINT source_identity_pkey DO NOTHING RETURNING source_system, source_id`,
      [
        missing.map((x) => x.system),
        missing.map((x) => x.id),
        home,
        // The survivor, created because it is named, waits for the matcher when it is alone with the retired one.
        missing.map((x) => (identityKey(x.system, x.id) === rKey ? method : 'new')),
        missing.map((x) => (identityKey(x.system, x.id) === rKey ? 'MATCH' : newPerson ? 'PENDING' : 'MATCH')),
      ],
    );
    for (const x of ins.rows) created.push({ system: x.source_system, id: x.source_id, from: null, to: home, linkMethod: null, matchStatus: null, matchWeight: null });
    if (newPerson && ins.rows.length < 2) {
      // Another feed created one of them meanwhile: our new person may be empty.
      await tx.query('DELETE FROM person p WHERE p.person_id = $1 AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)', [home]);
    }
    ids = await readIdentities(tx, [survivorRef, retiredRef], true);
  }
  const s = ids.get(sKey);
  const r = ids.get(rKey);
  if (!s || !r) return { outcome: 'ignored', reason: 'the identities could not be created' };
  if (s.personId === r.personId) {
    if (!created.length) return { outcome: 'unchanged' };
    const [eventId] = await recordEvents(tx, [{ personId: s.personId, kind: kind === 'merge' ? 'merge' : 'link', otherPersonId: null, identities: created, reason, actor }]);
    return { outcome: 'applied', eventId: eventId! };
  }
  const conflict = await nhsConflict(tx, s.personId, r.personId);
  if (conflict) {
    const why = `different valid NHS numbers (${conflict[0].join(', ')} and ${conflict[1].join(', ')})`;
    await queueReview(
      tx, s, r, 0,
      feedDetail(m, kind, `${reason}: not applied, the two carry ${why}; a person must confirm it`, { survivorNhsNumbers: conflict[0], retiredNhsNumbers: conflict[1] }),
    );
    return { outcome: 'queued', reason: why };
  }
  const { survivor, loser } = await survivorOf(tx, s.personId, r.personId);
  const loserIds = await identitiesOfPersons(tx, [loser]);
  // The retired identity's own entry comes last, so its new link wins.
  const moves: IdentityMove[] = [
    ...loserIds.map((i) => ({ system: i.system, id: i.id, to: survivor, linkMethod: i.linkMethod, matchStatus: i.matchStatus, matchWeight: i.matchWeight })),
    { system: r.system, id: r.id, to: survivor, linkMethod: method, matchStatus: 'MATCH', matchWeight: null },
  ];
  const rel = await relocate(tx, moves, { mergedInto: new Map([[loser, survivor]]), alsoSettle: [loser, survivor] });
  if (!rel.identities.length) return { outcome: 'unchanged' };
  const [eventId] = await recordEvents(tx, [
    { personId: survivor, kind: kind === 'merge' ? 'merge' : 'link', otherPersonId: loser, identities: [...created, ...rel.identities], persons: rel.persons, reason, actor },
  ]);
  return { outcome: 'applied', eventId: eventId! };
}
