import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../test/databases.ts';
import type { Queryable } from '../db/database.ts';
import type { SourceIdentity } from './identity.ts';
import { resolveIdentities } from './link.ts';
import { runMatcher } from './matcher.ts';
import { decideReview, listReviews, mergePersons, unmergeEvent } from './merge.ts';
import { evaluateAgainstTruth } from './evaluate.ts';
import { getPerson } from './person-view.ts';

const NHS_ANNE = '9434765919';

const people: SourceIdentity[] = [
  // Anne Thompson: GP and hospital agree on her NHS number.
  { system: 'gp:P91001', id: 'A1', nhsNumber: NHS_ANNE, family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
  { system: 'hl7:RM2', id: 'A2', nhsNumber: NHS_ANNE, family: 'Thompson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
  // Peter Thompson: same birthday, different man.
  { system: 'gp:P91001', id: 'P1', nhsNumber: '4010232137', family: 'Thompson', given: 'Peter', birthDate: '1950-03-01', sex: 'male', postcode: 'M20 1AA' },
  // Social care knows Anne without an NHS number, surname misspelt: should join Anne.
  { system: 'csv:socialcare', id: 's1', family: 'Thomson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
  // Community has Anne with a wrong day of birth and a postcode in the same district: unsure → review.
  { system: 'csv:community', id: 'c1', family: 'Thompson', given: 'Anne', birthDate: '1950-03-11', sex: 'female', postcode: 'M14 9ZZ' },
  // Someone nobody else knows.
  { system: 'csv:socialcare', id: 's2', family: 'Patel', given: 'Ravi', birthDate: '1972-08-19', sex: 'male', postcode: 'M13 9PL' },
  // Two services know Chidi, neither with an NHS number: pending-vs-pending.
  { system: 'csv:socialcare', id: 's10', family: 'Okafor', given: 'Chidi', birthDate: '1988-05-05', sex: 'male', postcode: 'M15 5AA' },
  { system: 'csv:community', id: 'c10', family: 'Okafor', given: 'Chidi', birthDate: '1988-05-05', sex: 'male', postcode: 'M15 5AA' },
  // His twin sister at the same address must not be linked to him.
  { system: 'csv:socialcare', id: 's11', family: 'Okafor', given: 'Chioma', birthDate: '1988-05-05', sex: 'female', postcode: 'M15 5AA' },
];

async function personOf(db: Queryable, system: string, id: string): Promise<string> {
  const r = await db.query<{ person_id: string }>('SELECT person_id FROM source_identity WHERE source_system = $1 AND source_id = $2', [system, id]);
  return r.rows[0]!.person_id;
}

async function snapshot(db: Queryable) {
  const ids = await db.query<{ k: string; person_id: string }>("SELECT source_system || '|' || source_id AS k, person_id FROM source_identity ORDER BY 1");
  const res = await db.query<{ source_id: string; person_id: string }>('SELECT source_id, person_id FROM resource ORDER BY source_id');
  const persons = await db.query<{ person_id: string; status: string }>(
    'SELECT person_id, status FROM person p WHERE EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id) ORDER BY 1',
  );
  return { ids: ids.rows, res: res.rows, persons: persons.rows };
}

for (const tdb of await testDatabases()) {
  test(`matcher in rounds: every pending identity is resolved, the misspelt one still joins (${tdb.name})`, async (t) => {
    const db = await tdb.open();
    t.after(() => db.drop());
    await db.transaction((tx) => resolveIdentities(tx, people));
    const r = await runMatcher(db, { roundSize: 3 });
    assert.equal(r.pending, 8, 'all eight pending identities, over three rounds');
    assert.equal(r.matched + r.possible + r.noMatch + r.confirmed, 8);
    const left = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM source_identity WHERE match_status = 'PENDING'");
    assert.equal(left.rows[0]!.n, 0);
    assert.equal(await personOf(db, 'csv:socialcare', 's1'), await personOf(db, 'gp:P91001', 'A1'));
    assert.notEqual(await personOf(db, 'gp:P91001', 'P1'), await personOf(db, 'gp:P91001', 'A1'));
  });
}

for (const tdb of await testDatabases()) {
  test(`matcher, review, merge and evaluation (${tdb.name})`, async (t) => {
    const db = await tdb.open();
    t.after(() => db.drop());
    await db.transaction((tx) => resolveIdentities(tx, people));
    // One resource per identity, about that identity.
    for (const p of people) {
      await db.query(
        `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content, shard_key)
         SELECT source_system, 'Encounter', 'enc-' || source_id, person_id, source_id, 'h', '{}', shard_key FROM source_identity WHERE source_system = $1 AND source_id = $2`,
        [p.system, p.id],
      );
    }

    await t.test('links the misspelt identity, queues the unsure one, leaves strangers and the twin alone', async () => {
      // Six without a usable NHS number, and the first identity of each new NHS number (A1, P1).
      const pending = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM source_identity WHERE match_status = 'PENDING'");
      assert.equal(pending.rows[0]!.n, 8);
      const r = await runMatcher(db);
      // s1 joins A1's person; s10 and c10 join each other. The twin shares surname, birthday and
      // address: a person should look (review), not the matcher.
      assert.deepEqual([r.pending, r.matched, r.possible, r.noMatch, r.confirmed], [8, 4, 2, 1, 1]);

      const anne = await personOf(db, 'gp:P91001', 'A1');
      assert.equal(await personOf(db, 'csv:socialcare', 's1'), anne);
      assert.notEqual(await personOf(db, 'csv:community', 'c1'), anne);
      assert.notEqual(await personOf(db, 'gp:P91001', 'P1'), anne);
      assert.equal(await personOf(db, 'csv:socialcare', 's10'), await personOf(db, 'csv:community', 'c10'));
      assert.notEqual(await personOf(db, 'csv:socialcare', 's11'), await personOf(db, 'csv:socialcare', 's10'));

      const res = await db.query<{ person_id: string }>("SELECT person_id FROM resource WHERE source_id = 'enc-s1'");
      assert.equal(res.rows[0]!.person_id, anne);
      const statuses = await db.query<{ source_id: string; match_status: string; link_method: string }>(
        'SELECT source_id, match_status, link_method FROM source_identity ORDER BY source_id',
      );
      assert.deepEqual(Object.fromEntries(statuses.rows.map((s) => [s.source_id, `${s.match_status}/${s.link_method}`])), {
        A1: 'MATCH/nhs-number', A2: 'MATCH/nhs-number', P1: 'MATCH/nhs-number', c1: 'POSSIBLE_MATCH/new', c10: 'MATCH/probabilistic',
        s1: 'MATCH/probabilistic', s10: 'MATCH/probabilistic', s11: 'POSSIBLE_MATCH/new', s2: 'NO_MATCH/new',
      });
      const view = await getPerson(db, '943 476 5919');
      assert.deepEqual(view!.identities.map((i) => i.id), ['s1', 'A1', 'A2']);
      assert.equal(view!.events.filter((e) => e.kind === 'link').length, 1);
      const weights = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM mpi_weight');
      assert.ok(weights.rows[0]!.n >= 20);

      // Running again finds nothing pending and changes nothing.
      const before = await snapshot(db);
      const again = await runMatcher(db);
      assert.equal(again.pending, 0);
      assert.deepEqual(await snapshot(db), before);
    });

    await t.test('the possible match is in the review queue; linking and undoing it', async () => {
      const reviews = await listReviews(db);
      // One item per pair, the smaller identity key first (csv:community|c10 < csv:socialcare|s11).
      assert.deepEqual(reviews.map((x) => `${x.identity.id}~${x.candidate.id}`).sort(), ['c10~s11', 'c1~A1']);
      const r = reviews.find((x) => x.identity.id === 'c1')!;
      assert.deepEqual([r.identity.system, r.identity.id, r.candidate.system, r.candidate.id], ['csv:community', 'c1', 'gp:P91001', 'A1']);
      assert.equal(r.identity.birthDate, '1950-03-11');
      const before = await snapshot(db);
      const d = await decideReview(db, r.reviewId, 'link', 'test');
      assert.equal(d.status, 'linked');
      const anne = await personOf(db, 'gp:P91001', 'A1');
      assert.equal(await personOf(db, 'csv:community', 'c1'), anne);
      assert.deepEqual((await listReviews(db)).map((x) => x.candidate.id), ['s11']);
      await assert.rejects(decideReview(db, r.reviewId, 'reject', 'test'), /already decided/);
      await unmergeEvent(db, d.eventId!, 'test');
      assert.deepEqual(await snapshot(db), before);
    });

    await t.test('merge then unmerge restores identities and resources exactly', async () => {
      const before = await snapshot(db);
      const anne = await personOf(db, 'gp:P91001', 'A1');
      const peter = await personOf(db, 'gp:P91001', 'P1');
      // Anne and Peter carry different valid NHS numbers: a person must say so explicitly.
      const eventId = await mergePersons(db, anne, peter, 'test', 'same person, says the GP', { despiteDifferentNhsNumbers: true });
      const merged = await db.query<{ n: number }>('SELECT count(DISTINCT person_id)::int AS n FROM source_identity WHERE person_id = ANY($1::uuid[])', [[anne, peter]]);
      assert.equal(merged.rows[0]!.n, 1);
      const res = await db.query<{ person_id: string }>("SELECT DISTINCT person_id FROM resource WHERE source_id IN ('enc-A1', 'enc-A2', 'enc-s1', 'enc-P1')");
      assert.deepEqual(res.rows, [{ person_id: peter }]);
      const p = await db.query<{ status: string; merged_into: string }>('SELECT status, merged_into FROM person WHERE person_id = $1', [anne]);
      assert.deepEqual(p.rows[0], { status: 'merged', merged_into: peter });
      // Looking Anne up by her NHS number or old id now shows the surviving person.
      assert.equal((await getPerson(db, NHS_ANNE))!.personId, peter);

      const undo = await unmergeEvent(db, eventId, 'test');
      assert.deepEqual(await snapshot(db), before);
      const ev = await db.query<{ undone_by: number }>('SELECT undone_by FROM mpi_event WHERE event_id = $1', [eventId]);
      assert.equal(Number(ev.rows[0]!.undone_by), undo);
      await assert.rejects(unmergeEvent(db, eventId, 'test'), /already undone/);
    });

    await t.test('evaluation against a tiny truth file', async () => {
      // Truth says s10 and c10 are different people (so linking them is a false positive), adds an
      // identity the database never saw (ignored), and leaves s2 out (ignored).
      const dir = mkdtempSync(join(tmpdir(), 'bevan-truth-'));
      const file = join(dir, 'persons.ndjson');
      const lines = [
        { personId: 'T-anne', identities: [{ system: 'gp:P91001', id: 'A1' }, { system: 'hl7:RM2', id: 'A2' }, { system: 'csv:socialcare', id: 's1' }, { system: 'csv:community', id: 'c1' }, { system: 'gp:GHOST', id: 'x' }] },
        { personId: 'T-peter', identities: [{ system: 'gp:P91001', id: 'P1' }] },
        { personId: 'T-chidi', identities: [{ system: 'csv:socialcare', id: 's10' }] },
        { personId: 'T-other', identities: ['csv:community|c10'] },
        { personId: 'T-chioma', identities: [{ system: 'csv:socialcare', id: 's11' }] },
      ];
      writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const e = await evaluateAgainstTruth(db, file);
      // Bevan: {A1,A2,s1} {c1} {P1} {s10,c10} {s11}. TP = C(3,2) = 3; predicted = 3 + 1 = 4; true = C(4,2) = 6.
      assert.equal(e.precision, 3 / 4);
      assert.equal(e.recall, 3 / 6);
      assert.deepEqual([e.identities, e.persons, e.truePersons, e.identitiesOnlyInDatabase, e.identitiesOnlyInTruth], [8, 5, 5, 1, 1]);
    });
  });
}
