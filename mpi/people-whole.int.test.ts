/**
 * Property: whatever people decide, merge and undo, and whatever feeds instruct, people stay
 * whole. Random sequences of review decisions (link, reject, dismiss), merges, feed
 * merge/link/unlink instructions and undos on a small random population, with the invariants
 * checked after every step (see checkInvariants), a refused step changing nothing, and the undo
 * of an event whose result still stands restoring the state before it exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Database, Queryable } from '../db/database.ts';
import { testDatabases, testPostgresUrl, withOwnPostgresSchema } from '../test/databases.ts';
import { validNhs } from '../test/items.ts';
import { identityKey, type IdentityRef, type MergeInstruction, type SourceIdentity } from './identity.ts';
import { applyMerge, resolveIdentities } from './link.ts';
import { decideReview, listReviews, mergePersons, MpiRequestError, queueReview, unmergeEvent } from './merge.ts';
import { readIdentities } from './person-store.ts';
import { mulberry32 } from '../synth/random.ts';

const prng = mulberry32; // a failing seed can be replayed

interface Snapshot {
  identities: Record<string, string>;
  persons: Record<string, string>;
  reviews: Record<string, string>;
  resources: Record<string, string>;
}

async function snapshot(db: Queryable): Promise<Snapshot> {
  const i = await db.query<{ k: string; v: string }>(
    `SELECT source_system || '|' || source_id AS k, concat_ws(' ', person_id, link_method, match_status, match_weight) AS v FROM source_identity`,
  );
  const p = await db.query<{ k: string; v: string }>(`SELECT person_id::text AS k, concat_ws(' ', status, merged_into, nhs_number) AS v FROM person`);
  const r = await db.query<{ k: string; v: string }>(`SELECT review_id::text AS k, status AS v FROM mpi_review`);
  const x = await db.query<{ k: string; v: string }>(`SELECT source_system || '|' || source_id AS k, coalesce(person_id::text, '-') AS v FROM resource`);
  const obj = (rows: { k: string; v: string }[]) => Object.fromEntries(rows.map((row) => [row.k, row.v]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
  return { identities: obj(i.rows), persons: obj(p.rows), reviews: obj(r.rows), resources: obj(x.rows) };
}

/**
 * The invariants:
 * 1. every identity is in exactly one person, and that person is active;
 * 2. no active person is empty; a merged person has no identities and its merged_into leads to an active person;
 * 3. an active person's NHS number is one its valid-NHS identities carry;
 * 4. a valid NHS number an active person carries but does not hold is held by another person — an
 *    active one (a date of birth that disagreed at ingest), or a merged one whose survivor carries
 *    it and holds another number (a redirect, so look-ups by it still find the person);
 * 5. (strict) no active person carries two different valid NHS numbers — only a person can force that;
 * 6. every resource is in the person of its subject identity;
 * 7. review pairs are canonical (smaller key first) and one item per pair.
 */
async function checkInvariants(db: Queryable, strict: boolean): Promise<void> {
  const q = async (sql: string) => (await db.query<Record<string, unknown>>(sql)).rows;
  assert.deepEqual(await q(`SELECT s.source_system, s.source_id FROM source_identity s LEFT JOIN person p ON p.person_id = s.person_id WHERE p.person_id IS NULL OR p.status <> 'active'`), [], 'identity outside an active person');
  assert.deepEqual(await q(`SELECT p.person_id FROM person p WHERE p.status = 'active' AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)`), [], 'empty active person');
  const merged = await db.query<{ person_id: string; merged_into: string | null }>(`SELECT person_id, merged_into FROM person WHERE status = 'merged'`);
  const status = new Map((await db.query<{ person_id: string; status: string; merged_into: string | null }>('SELECT person_id, status, merged_into FROM person')).rows.map((r) => [r.person_id, r]));
  const currentOf = (id: string) => {
    let p = id;
    for (let hop = 0; hop < 50 && status.get(p)?.status === 'merged'; hop++) p = status.get(p)!.merged_into!;
    return p;
  };
  for (const m of merged.rows) {
    assert.ok(m.merged_into, `merged person ${m.person_id} names no survivor`);
    assert.equal(status.get(currentOf(m.person_id))?.status, 'active', `merged person ${m.person_id} leads to no active person`);
  }
  assert.deepEqual(
    await q(`SELECT p.person_id, p.nhs_number FROM person p WHERE p.status = 'active' AND p.nhs_number IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id AND s.nhs_number = p.nhs_number AND s.nhs_number_valid)`),
    [],
    'person shows an NHS number none of its identities carries',
  );
  const carried = await db.query<{ person_id: string; nhs_number: string; held: string | null }>(
    `SELECT DISTINCT s.person_id, s.nhs_number, p.nhs_number AS held FROM source_identity s JOIN person p ON p.person_id = s.person_id WHERE s.nhs_number_valid`,
  );
  const holder = new Map((await db.query<{ person_id: string; nhs_number: string }>('SELECT person_id, nhs_number FROM person WHERE nhs_number IS NOT NULL')).rows.map((r) => [r.nhs_number, r.person_id]));
  const nhsOf = new Map((await db.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id, nhs_number FROM person')).rows.map((r) => [r.person_id, r.nhs_number]));
  const carries = new Set(carried.rows.map((r) => `${r.person_id} ${r.nhs_number}`));
  for (const c of carried.rows) {
    if (c.held === c.nhs_number) continue;
    const h = holder.get(c.nhs_number);
    assert.ok(h, `NHS number ${c.nhs_number} carried by person ${c.person_id} is held by no person`);
    if (status.get(h)!.status === 'merged') {
      // A merged person keeps a number only as a redirect to a survivor that carries it and holds another.
      const survivor = currentOf(h);
      assert.ok(carries.has(`${survivor} ${c.nhs_number}`), `NHS number ${c.nhs_number} redirects to a person that does not carry it`);
      assert.ok(nhsOf.get(survivor), `NHS number ${c.nhs_number} stays on merged person ${h} although its survivor ${survivor} holds none`);
    }
  }
  if (strict) {
    assert.deepEqual(
      await q(`SELECT person_id FROM source_identity WHERE nhs_number_valid GROUP BY person_id HAVING count(DISTINCT nhs_number) > 1`),
      [],
      'a person carries two different valid NHS numbers',
    );
  }
  assert.deepEqual(
    await q(`SELECT r.source_id FROM resource r JOIN source_identity s ON s.source_system = r.source_system AND s.source_id = r.subject_id WHERE r.person_id IS DISTINCT FROM s.person_id`),
    [],
    'resource outside its subject identity’s person',
  );
  assert.deepEqual(
    await q(`SELECT review_id FROM mpi_review WHERE (source_system || '|' || source_id) COLLATE "C" >= (candidate_system || '|' || candidate_id) COLLATE "C"`),
    [],
    'review pair not in canonical order',
  );
}

const SYSTEMS = ['csv:community', 'gp:P91001', 'hl7:RM2'];

async function population(db: Database, rnd: () => number, tag: string): Promise<SourceIdentity[]> {
  const numbers = [0, 1, 2].map((k) => validNhs(300000000 + Math.floor(rnd() * 1e8) + k));
  const dobs = ['1950-03-01', '1950-03-11'];
  const people: SourceIdentity[] = [];
  for (let i = 0; i < 14; i++) {
    people.push({
      system: SYSTEMS[i % 3]!,
      id: `${tag}-${i}`,
      nhsNumber: rnd() < 0.55 ? numbers[Math.floor(rnd() * numbers.length)] : undefined,
      family: 'Smith',
      given: rnd() < 0.5 ? 'Anne' : 'Ann',
      birthDate: dobs[rnd() < 0.8 ? 0 : 1],
      postcode: 'M14 5AB',
    });
  }
  for (let i = 0; i < people.length; i += 5) await db.transaction((tx) => resolveIdentities(tx, people.slice(i, i + 5)));
  // One resource per identity, about it.
  for (const p of people) {
    await db.query(
      `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content, shard_key)
       SELECT $1, 'Encounter', $3, person_id, $2, 'h', '{}', shard_key FROM source_identity WHERE source_system = $1 AND source_id = $2`,
      [p.system, p.id, `enc-${p.id}`],
    );
  }
  // What the matcher would leave: no pending identities, and some pairs queued for review.
  await db.query(`UPDATE source_identity SET match_status = CASE WHEN link_method = 'nhs-number' THEN 'MATCH' ELSE 'NO_MATCH' END WHERE match_status = 'PENDING'`);
  for (let k = 0; k < 9; k++) {
    const [x, y] = [people[Math.floor(rnd() * people.length)]!, people[Math.floor(rnd() * people.length)]!];
    await db.transaction(async (tx) => {
      const ids = await readIdentities(tx, [x, y]);
      const a = ids.get(identityKey(x.system, x.id))!;
      const b = ids.get(identityKey(y.system, y.id))!;
      if (a.personId === b.personId) return;
      await queueReview(tx, a, b, Math.round(rnd() * 100) / 10, { levels: {}, probability: 0.7 });
      await tx.query(`UPDATE source_identity SET match_status = 'POSSIBLE_MATCH' WHERE source_system = $1 AND source_id = $2 AND match_status = 'NO_MATCH'`, [a.system, a.id]);
    });
  }
  return people;
}

async function latestUndoable(db: Queryable): Promise<number | null> {
  const r = await db.query<{ event_id: number }>(`SELECT event_id FROM mpi_event WHERE undone_by IS NULL AND kind IN ('merge', 'link', 'unlink', 'reject') ORDER BY event_id DESC LIMIT 1`);
  return r.rows[0] ? Number(r.rows[0].event_id) : null;
}

async function runSequence(db: Database, seed: number, strict: boolean, steps: number): Promise<{ done: Record<string, number> }> {
  const rnd = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const people = await population(db, rnd, `s${seed}${strict ? 's' : 'f'}`);
  const done: Record<string, number> = {};
  // Per event: the state before and after it, and whether it created identities (then its undo gives them persons of their own).
  const around = new Map<number, { before: Snapshot; after: Snapshot }>();
  await checkInvariants(db, strict);
  for (let step = 0; step < steps; step++) {
    const before = await snapshot(db);
    const lastEvent = (await db.query<{ n: number | null }>('SELECT max(event_id)::int AS n FROM mpi_event')).rows[0]!.n ?? 0;
    const force = !strict && rnd() < 0.5;
    const roll = rnd();
    let what = '';
    let undone: number | null = null;
    let rejected: [IdentityRef, IdentityRef] | null = null;
    try {
      if (roll < 0.35) {
        const open = await listReviews(db, { status: 'open' });
        if (!open.length) continue;
        const r = pick(open);
        const decision = rnd() < 0.07 ? 'dismiss' : rnd() < 0.6 ? 'link' : 'reject';
        what = `decide #${r.reviewId} ${decision}${force ? ' (forced)' : ''}`;
        await decideReview(db, r.reviewId, decision, 'test', { despiteDifferentNhsNumbers: force });
        if (decision === 'reject' && r.origin === 'matcher') rejected = [r.identity, r.candidate];
      } else if (roll < 0.5) {
        const active = (await db.query<{ person_id: string }>(`SELECT person_id FROM person WHERE status = 'active' ORDER BY person_id`)).rows.map((x) => x.person_id);
        const [from, into] = [pick(active), pick(active)];
        what = `merge ${from} into ${into}${force ? ' (forced)' : ''}`;
        await mergePersons(db, from, into, 'test', 'property', { despiteDifferentNhsNumbers: force });
      } else if (roll < 0.72) {
        const e = await latestUndoable(db);
        if (e === null) continue;
        what = `undo last event ${e}`;
        undone = e;
        await unmergeEvent(db, e, 'test');
      } else if (roll < 0.8) {
        const all = (await db.query<{ event_id: number }>(`SELECT event_id FROM mpi_event WHERE undone_by IS NULL AND kind IN ('merge', 'link', 'unlink', 'reject')`)).rows;
        if (!all.length) continue;
        const e = Number(pick(all).event_id);
        what = `undo event ${e}`;
        undone = e;
        await unmergeEvent(db, e, 'test');
      } else {
        const [s, r] = [pick(people), pick(people)];
        const kind = pick(['merge', 'link', 'unlink', 'unlink'] as const);
        const m: MergeInstruction = { kind, system: s.system, survivorId: s.id, retiredSystem: r.system, retiredId: rnd() < 0.1 ? `${r.id}-unseen` : r.id, event: `test ${kind}` };
        what = `feed ${JSON.stringify(m)}`;
        const out = await db.transaction((tx) => applyMerge(tx, m, 'feed:test'));
        what += ` → ${out.outcome}`;
      }
      done[what.split(' ')[0]!] = (done[what.split(' ')[0]!] ?? 0) + 1;
    } catch (err) {
      if (!(err instanceof MpiRequestError)) throw new Error(`seed ${seed} step ${step} (${what}): ${(err as Error).stack}`);
      assert.deepEqual(await snapshot(db), before, `seed ${seed} step ${step}: refused (${err.message}) but changed something`);
      done.refused = (done.refused ?? 0) + 1;
      continue;
    }
    const now = await snapshot(db);
    try {
      await checkInvariants(db, strict);
    } catch (err) {
      throw new Error(`seed ${seed} step ${step} (${what}): ${(err as Error).message}`);
    }
    if (rejected) {
      const ids = await readIdentities(db, rejected);
      assert.notEqual(ids.get(identityKey(rejected[0].system, rejected[0].id))!.personId, ids.get(identityKey(rejected[1].system, rejected[1].id))!.personId, `seed ${seed} step ${step}: rejected pair in one person`);
    }
    if (undone !== null) {
      const a = around.get(undone);
      if (a && JSON.stringify(a.after) === JSON.stringify(before)) {
        assert.deepEqual(now, a.before, `seed ${seed} step ${step} (${what}): undo did not restore the state before event ${undone}`);
        done.exactUndo = (done.exactUndo ?? 0) + 1;
      }
    } else {
      const created = await db.query<{ event_id: number; identities: { from: string | null }[] }>('SELECT event_id, identities FROM mpi_event WHERE event_id > $1', [lastEvent]);
      for (const e of created.rows) {
        if (e.identities.some((i) => i.from === null)) continue; // it created identities: not undone exactly
        around.set(Number(e.event_id), { before, after: now });
      }
    }
  }
  return { done };
}

for (const tdb of await testDatabases()) {
  for (const strict of [true, false]) {
    test(`random decisions, merges, feed instructions and undos keep people whole (${tdb.name}, ${strict ? 'no one forces different NHS numbers together' : 'people sometimes force it'})`, async () => {
      const db = await tdb.open();
      try {
        const totals: Record<string, number> = {};
        const seeds = (process.env.BEVAN_PROPERTY_SEEDS ?? (tdb.name === 'pglite' ? '1,2,3' : '7,8')).split(',').map(Number);
        for (const seed of seeds) {
          const { done } = await runSequence(db, seed, strict, 45);
          for (const [k, v] of Object.entries(done)) totals[k] = (totals[k] ?? 0) + v;
        }
        // The sequences must exercise every kind of step, including exact undos and refusals.
        for (const k of ['decide', 'merge', 'undo', 'feed', 'refused', 'exactUndo']) assert.ok((totals[k] ?? 0) > 0, `no ${k} steps: ${JSON.stringify(totals)}`);
        console.log(`# ${tdb.name} ${strict ? 'strict' : 'forced'}: ${JSON.stringify(totals)}`);
      } finally {
        await db.drop();
      }
    });
  }

  test(`the tester's case: twin review items, linking both, undo, reject after link (${tdb.name})`, async () => {
    const db = await tdb.open();
    try {
      const nhs = validNhs(944000000);
      const m = await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'gp:P91001', id: 'G1', nhsNumber: nhs, family: 'Jones', given: 'Mary', birthDate: '1961-04-04', sex: 'female' },
          { system: 'hl7:RM2', id: 'H1', family: 'Jones', given: 'Mari', birthDate: '1961-04-04', sex: 'female' },
        ]),
      );
      const [gp, hosp] = [m.get('gp:P91001|G1')!, m.get('hl7:RM2|H1')!];
      await db.query(`UPDATE source_identity SET match_status = CASE WHEN link_method = 'nhs-number' THEN 'MATCH' ELSE 'POSSIBLE_MATCH' END`);
      // The old matcher queued the pair both ways: put the twins back as it left them, then migrate.
      await db.exec('DROP INDEX mpi_review_pair_uq');
      await db.query(
        `INSERT INTO mpi_review (person_id, candidate_person_id, source_system, source_id, candidate_system, candidate_id, weight, detail)
         VALUES ($1, $2, 'hl7:RM2', 'H1', 'gp:P91001', 'G1', 9, '{}'), ($2, $1, 'gp:P91001', 'G1', 'hl7:RM2', 'H1', 9, '{}')`,
        [hosp, gp],
      );
      const migration = readFileSync(new URL('../db/migrations/0011_mpi_review_pairs.sql', import.meta.url), 'utf8');
      await db.exec(migration);
      await db.exec(migration); // idempotent
      const reviews = await listReviews(db);
      assert.equal(reviews.length, 1, 'one item per pair');
      const r = reviews[0]!;
      assert.deepEqual([r.identity.key, r.candidate.key], ['gp:P91001|G1', 'hl7:RM2|H1']);
      await assert.rejects(
        db.query(`INSERT INTO mpi_review (person_id, candidate_person_id, source_system, source_id, candidate_system, candidate_id, weight) VALUES ($1, $2, 'hl7:RM2', 'H1', 'gp:P91001', 'G1', 1)`, [hosp, gp]),
        /duplicate key|unique/,
      );

      // Linking keeps the GP identity (and its NHS number) in its person; the hospital identity joins it.
      const before = await snapshot(db);
      const d = await decideReview(db, r.reviewId, 'link', 'test');
      assert.equal((await readIdentities(db, [{ system: 'gp:P91001', id: 'G1' }])).get('gp:P91001|G1')!.personId, gp);
      assert.equal((await readIdentities(db, [{ system: 'hl7:RM2', id: 'H1' }])).get('hl7:RM2|H1')!.personId, gp);
      const p = await db.query<{ nhs_number: string }>('SELECT nhs_number FROM person WHERE person_id = $1', [gp]);
      assert.equal(p.rows[0]!.nhs_number, nhs);
      await checkInvariants(db, true);

      // Undo puts everything back, review open again.
      await unmergeEvent(db, d.eventId!, 'test');
      assert.deepEqual(await snapshot(db), before);
      assert.equal((await listReviews(db)).length, 1);

      // Rejecting a pair whose identities were joined since it was queued is refused, and changes nothing.
      const joined = await mergePersons(db, hosp, gp, 'test', 'a person merged them by hand');
      const mid = await snapshot(db);
      await assert.rejects(decideReview(db, r.reviewId, 'reject', 'test'), (e: MpiRequestError) => e.kind === 'conflict' && /moved since it was queued/.test(e.message));
      assert.deepEqual(await snapshot(db), mid);
      await unmergeEvent(db, joined, 'test');
      const rej = await decideReview(db, r.reviewId, 'reject', 'test');
      assert.equal(rej.status, 'rejected');
      const h = (await readIdentities(db, [{ system: 'hl7:RM2', id: 'H1' }])).get('hl7:RM2|H1')!;
      assert.deepEqual([h.personId, h.matchStatus], [hosp, 'NO_MATCH']);
      await checkInvariants(db, true);
    } finally {
      await db.drop();
    }
  });
}

/** Retries a transaction the way the ingest writer does (deadlock, serialisation failure, lost insert race). */
async function asWriter<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((code === '40P01' || code === '40001' || code === '23505') && attempt < 8) continue;
      throw err;
    }
  }
}

const url = await testPostgresUrl();
test('PostgreSQL: feed merges from many connections at once keep people whole', { skip: url ? false : 'no PostgreSQL server' }, async () => {
  await withOwnPostgresSchema(url!, 12, async (db) => {
    const nhs = validNhs(977000000);
    const mrns = Array.from({ length: 10 }, (_, i) => ({ system: 'hl7:C1', id: `R${i}`, family: 'Evans', birthDate: '1944-04-04' }));
    await db.transaction((tx) => resolveIdentities(tx, [{ system: 'hl7:C1', id: 'S', nhsNumber: nhs, family: 'Evans', birthDate: '1944-04-04' }, ...mrns]));
    const instructions: MergeInstruction[] = [
      // The same merge replayed by several feeds, merges of every retired MRN into one survivor,
      // merges naming identities no one has sent yet, and unlinks racing them.
      ...Array.from({ length: 4 }, () => ({ system: 'hl7:C1', survivorId: 'S', retiredId: 'R0', event: 'ADT^A40' })),
      ...mrns.map((r) => ({ system: 'hl7:C1', survivorId: 'S', retiredId: r.id, event: 'ADT^A40' })),
      ...Array.from({ length: 4 }, () => ({ kind: 'link' as const, system: 'hl7:C1', survivorId: 'NEW-S', retiredId: 'NEW-R', event: 'ADT^A24' })),
      ...[3, 5, 7].map((i) => ({ kind: 'unlink' as const, system: 'hl7:C1', survivorId: 'S', retiredId: `R${i}`, event: 'ADT^A37' })),
    ];
    await Promise.all(instructions.map((m) => asWriter(() => db.transaction((tx) => applyMerge(tx, m, 'feed:test')))));
    await checkInvariants(db, true);
    const ids = await readIdentities(db, [{ system: 'hl7:C1', id: 'NEW-S' }, { system: 'hl7:C1', id: 'NEW-R' }]);
    assert.equal(ids.get('hl7:C1|NEW-S')!.personId, ids.get('hl7:C1|NEW-R')!.personId);
    const r0 = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM mpi_event WHERE kind = 'merge' AND identities @> '[{"id": "R0"}]'::jsonb`);
    assert.equal(r0.rows[0]!.n, 1, 'a replayed merge is applied once');
  });
});
