import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases, testPostgresUrl, withOwnPostgresSchema } from '../test/databases.ts';
import type { SourceIdentity } from './identity.ts';
import type { Queryable } from '../db/database.ts';
import { applyMerge, resolveIdentities } from './link.ts';
import { decideReview, listReviews, mergePersons, MpiRequestError, unmergeEvent } from './merge.ts';
import { validNhs } from '../test/items.ts';

const NHS_A = '9434765919';
const NHS_B = '4010232137';

const gp = (id: string, extra: Partial<SourceIdentity> = {}): SourceIdentity => ({
  system: 'gp:P91001', id, nhsNumber: NHS_A, family: 'Smith', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB', ...extra,
});

for (const tdb of await testDatabases()) {
  test(`resolveIdentities (${tdb.name})`, async (t) => {
    const db = await tdb.open();
    t.after(() => db.drop());

    await t.test('links identities with the same valid NHS number and date of birth to one person', async () => {
      const a = await db.transaction((tx) => resolveIdentities(tx, [gp('g1'), { ...gp('h1'), system: 'hl7:RM2', nhsNumber: '943 476 5919' }]));
      assert.equal(a.size, 2);
      assert.equal(a.get('gp:P91001|g1'), a.get('hl7:RM2|h1'));
      const rows = await db.query<{ link_method: string; match_status: string; nhs_number: string; family_soundex: string }>(
        "SELECT link_method, match_status, nhs_number, family_soundex FROM source_identity WHERE source_id IN ('g1','h1')",
      );
      // The first identity of a new NHS number waits for the matcher's duplicate check; the second matches.
      assert.deepEqual(rows.rows.map((r) => [r.link_method, r.match_status, r.nhs_number, r.family_soundex]).sort(), [
        ['nhs-number', 'MATCH', NHS_A, 'S530'],
        ['nhs-number', 'PENDING', NHS_A, 'S530'],
      ]);
      const p = await db.query<{ nhs_number: string }>('SELECT nhs_number FROM person WHERE person_id = $1', [a.get('gp:P91001|g1')]);
      assert.equal(p.rows[0]!.nhs_number, NHS_A);
    });

    await t.test('a new identity whose date of birth disagrees gets its own pending person', async () => {
      const before = await db.query<{ person_id: string }>("SELECT person_id FROM source_identity WHERE source_id = 'g1'");
      const m = await db.transaction((tx) => resolveIdentities(tx, [{ ...gp('c1'), system: 'csv:community', birthDate: '1961-07-09' }]));
      const pid = m.get('csv:community|c1')!;
      assert.notEqual(pid, before.rows[0]!.person_id);
      const row = await db.query<{ link_method: string; match_status: string }>("SELECT link_method, match_status FROM source_identity WHERE source_id = 'c1'");
      assert.deepEqual(row.rows[0], { link_method: 'new', match_status: 'PENDING' });
      const p = await db.query<{ nhs_number: string | null }>('SELECT nhs_number FROM person WHERE person_id = $1', [pid]);
      assert.equal(p.rows[0]!.nhs_number, null);
    });

    await t.test('a partial or impossible birth date is kept as sent; with the NHS number it joins directly only when it agrees as far as it goes', async () => {
      const m = await db.transaction((tx) =>
        resolveIdentities(tx, [
          { ...gp('y1'), system: 'hl7:PAS', birthDate: '1950' }, // a year only: agrees with 1950-03-01
          { ...gp('y2'), system: 'hl7:PAS', birthDate: '1950-03' }, // year and month: agrees
          { ...gp('y3'), system: 'hl7:PAS', birthDate: '1950-02-30' }, // no such day: its year and month disagree
          { ...gp('y4'), system: 'hl7:PAS', birthDate: '1961' }, // another year
          { ...gp('y5'), system: 'hl7:PAS', birthDate: 'unknown' },
        ]),
      );
      const anne = (await db.query<{ person_id: string }>("SELECT person_id FROM source_identity WHERE source_id = 'g1'")).rows[0]!.person_id;
      const rows = await db.query<{ source_id: string; person_id: string; birth_date: string | null; birth_date_as_sent: string | null; match_status: string }>(
        "SELECT source_id, person_id, birth_date::text AS birth_date, birth_date_as_sent, match_status FROM source_identity WHERE source_system = 'hl7:PAS' ORDER BY source_id",
      );
      assert.deepEqual(rows.rows.map((r) => [r.source_id, r.birth_date, r.birth_date_as_sent, r.person_id === anne ? 'anne' : 'own', r.match_status]), [
        ['y1', null, '1950', 'anne', 'MATCH'],
        ['y2', null, '1950-03', 'anne', 'MATCH'],
        ['y3', null, '1950-02-30', 'own', 'PENDING'],
        ['y4', null, '1961', 'own', 'PENDING'],
        ['y5', null, null, 'anne', 'MATCH'], // no date, as before: the NHS number alone
      ]);
      assert.equal(m.get('hl7:PAS|y1'), anne);
      // The matcher and the review screens read the date at the precision it was sent.
      const read = await db.query<{ d: string }>(
        "SELECT COALESCE(birth_date::text, birth_date_as_sent) AS d FROM source_identity WHERE source_system = 'hl7:PAS' AND source_id = 'y3'",
      );
      assert.equal(read.rows[0]!.d, '1950-02-30');
      // A whole date sent later is stored as the date; replaying the same message writes nothing new.
      await db.transaction((tx) => resolveIdentities(tx, [{ ...gp('y4'), system: 'hl7:PAS', birthDate: '1961-07-09' }]));
      const y4 = await db.query<{ birth_date: string; birth_date_as_sent: string }>("SELECT birth_date::text AS birth_date, birth_date_as_sent FROM source_identity WHERE source_id = 'y4'");
      assert.deepEqual(y4.rows[0], { birth_date: '1961-07-09', birth_date_as_sent: '1961' });
    });

    await t.test('no or invalid NHS number → pending; duplicates in one call and replays keep one person', async () => {
      const batch = [
        { ...gp('s1'), system: 'csv:socialcare', nhsNumber: undefined },
        { ...gp('s2'), system: 'csv:socialcare', nhsNumber: '9434765918' },
        { ...gp('s1'), system: 'csv:socialcare', nhsNumber: undefined, postcode: 'M14 6XY' },
      ];
      const m1 = await db.transaction((tx) => resolveIdentities(tx, batch));
      assert.equal(m1.size, 2);
      assert.notEqual(m1.get('csv:socialcare|s1'), m1.get('csv:socialcare|s2'));
      const m2 = await db.transaction((tx) => resolveIdentities(tx, batch));
      assert.deepEqual([...m2.entries()].sort(), [...m1.entries()].sort());
      const r = await db.query<{ source_id: string; postcode: string; nhs_number_valid: boolean; match_status: string }>(
        "SELECT source_id, postcode, nhs_number_valid, match_status FROM source_identity WHERE source_system = 'csv:socialcare' ORDER BY source_id",
      );
      assert.deepEqual(r.rows, [
        { source_id: 's1', postcode: 'M14 6XY', nhs_number_valid: false, match_status: 'PENDING' },
        { source_id: 's2', postcode: 'M14 5AB', nhs_number_valid: false, match_status: 'PENDING' },
      ]);
      const orphans = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person p WHERE NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)');
      assert.equal(orphans.rows[0]!.n, 0);
    });

    await t.test('an existing identity keeps its person and takes the latest demographics', async () => {
      const m = await db.transaction((tx) => resolveIdentities(tx, [gp('g1', { family: 'Smith-Jones', nhsNumber: NHS_B })]));
      const r = await db.query<{ person_id: string; family: string; nhs_number: string }>("SELECT person_id, family, nhs_number FROM source_identity WHERE source_id = 'g1'");
      assert.equal(r.rows[0]!.person_id, m.get('gp:P91001|g1'));
      assert.equal(r.rows[0]!.family, 'Smith-Jones');
      assert.equal(r.rows[0]!.nhs_number, NHS_B);
    });

    await t.test('concurrent transactions creating the same NHS number agree on exactly one person', async () => {
      for (let round = 0; round < 5; round++) {
        const nhs = validNhs(700000000 + round * 37);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            db.transaction((tx) => resolveIdentities(tx, [{ system: `hl7:T${i}`, id: `r${round}`, nhsNumber: nhs, family: 'Jones', birthDate: '1980-01-02' }])),
          ),
        );
        const persons = new Set(results.map((m, i) => m.get(`hl7:T${i}|r${round}`)));
        assert.equal(persons.size, 1, `round ${round}`);
        const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person WHERE nhs_number = $1', [nhs]);
        assert.equal(rows.rows[0]!.n, 1);
        const ids = await db.query<{ n: number; p: number }>('SELECT count(*)::int AS n, count(DISTINCT person_id)::int AS p FROM source_identity WHERE nhs_number = $1', [nhs]);
        assert.deepEqual(ids.rows[0], { n: 50, p: 1 });
      }
    });

    await t.test('A40 merge moves the retired identity and its resources, and is idempotent', async () => {
      const m = await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'hl7:RM3', id: 'MRN1', family: 'Brown', birthDate: '1940-02-02' },
          { system: 'hl7:RM3', id: 'MRN2', family: 'Brown', birthDate: '1940-02-02' },
        ]),
      );
      const survivor = m.get('hl7:RM3|MRN1')!;
      const retired = m.get('hl7:RM3|MRN2')!;
      await db.query(
        `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content, shard_key) VALUES ('hl7:RM3', 'Encounter', 'V1', $1, 'MRN2', 'h', '{}', shard_key_of('hl7:RM3', 'MRN2'))`,
        [retired],
      );
      const merge = { system: 'hl7:RM3', survivorId: 'MRN1', retiredId: 'MRN2' };
      for (let i = 0; i < 2; i++) await db.transaction((tx) => applyMerge(tx, merge, 'feed:hl7:RM3'));
      const si = await db.query<{ person_id: string; link_method: string }>("SELECT person_id, link_method FROM source_identity WHERE source_id = 'MRN2'");
      assert.deepEqual(si.rows[0], { person_id: survivor, link_method: 'hl7-a40' });
      const res = await db.query<{ person_id: string }>("SELECT person_id FROM resource WHERE source_id = 'V1'");
      assert.equal(res.rows[0]!.person_id, survivor);
      const p = await db.query<{ status: string; merged_into: string }>('SELECT status, merged_into FROM person WHERE person_id = $1', [retired]);
      assert.deepEqual(p.rows[0], { status: 'merged', merged_into: survivor });
      const ev = await db.query<{ kind: string; identities: { id: string; from: string; to: string }[] }>("SELECT kind, identities FROM mpi_event WHERE kind = 'merge'");
      assert.equal(ev.rows.length, 1);
      assert.deepEqual([ev.rows[0]!.identities[0]!.id, ev.rows[0]!.identities[0]!.from, ev.rows[0]!.identities[0]!.to], ['MRN2', retired, survivor]);

      // A retired identity Bevan has not seen yet is created in the survivor's person.
      for (let i = 0; i < 2; i++) await db.transaction((tx) => applyMerge(tx, { system: 'hl7:RM3', survivorId: 'MRN1', retiredId: 'MRN9' }, 'feed:hl7:RM3'));
      const later = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'hl7:RM3', id: 'MRN9', family: 'Brown' }]));
      assert.equal(later.get('hl7:RM3|MRN9'), survivor);
      const ev2 = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM mpi_event WHERE kind = 'merge'");
      assert.equal(ev2.rows[0]!.n, 2);
    });

    await t.test('A40 brings along what the MPI had linked to the retired identity', async () => {
      const nhs = validNhs(523456000);
      const m = await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'gp:P91009', id: 'G5', nhsNumber: nhs, family: 'Fisher', birthDate: '1977-05-14' },
          { system: 'hl7:RW3', id: 'N1', nhsNumber: nhs, family: 'Fisher', birthDate: '1977-05-14' },
          { system: 'hl7:RW3', id: 'N2', family: 'Fisher', birthDate: '1977-05-14' },
        ]),
      );
      assert.equal(m.get('gp:P91009|G5'), m.get('hl7:RW3|N1'));
      await db.transaction((tx) => applyMerge(tx, { system: 'hl7:RW3', survivorId: 'N2', retiredId: 'N1' }, 'test'));
      const after = await db.query<{ source_id: string; person_id: string; link_method: string }>(
        "SELECT source_id, person_id, link_method FROM source_identity WHERE source_id IN ('G5', 'N1', 'N2') ORDER BY source_id",
      );
      // One person, and it is the one holding the NHS number: N2's person is merged into it.
      const nhsPerson = m.get('gp:P91009|G5')!;
      assert.deepEqual(after.rows.map((r) => [r.source_id, r.person_id, r.link_method]), [
        ['G5', nhsPerson, 'nhs-number'],
        ['N1', nhsPerson, 'hl7-a40'],
        ['N2', nhsPerson, 'new'],
      ]);
      const gone = await db.query<{ status: string; merged_into: string }>('SELECT status, merged_into FROM person WHERE person_id = $1', [m.get('hl7:RW3|N2')]);
      assert.deepEqual(gone.rows[0], { status: 'merged', merged_into: nhsPerson });
      // New identities with that NHS number land in the surviving person too.
      const later = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'csv:community', id: 'C5', nhsNumber: nhs, birthDate: '1977-05-14' }]));
      assert.equal(later.get('csv:community|C5'), nhsPerson);
    });

    await t.test('an NHS number whose person was merged away follows it, or stays behind as a redirect', async () => {
      const nhs = validNhs(612345000);
      const m = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'hl7:RM4', id: 'A', nhsNumber: nhs, birthDate: '1990-01-01' }, { system: 'hl7:RM4', id: 'B', birthDate: '1990-01-01' }]));
      const [a, b] = [m.get('hl7:RM4|A')!, m.get('hl7:RM4|B')!];
      // A person merges the NHS number's person into the other: the number goes with its identity.
      await mergePersons(db, a, b, 'test', 'same patient');
      assert.deepEqual(await personRow(db, a), { status: 'merged', merged_into: b, nhs_number: null });
      assert.deepEqual(await personRow(db, b), { status: 'active', merged_into: null, nhs_number: nhs });
      const later = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'gp:X', id: 'G', nhsNumber: nhs, birthDate: '1990-01-01' }]));
      assert.equal(later.get('gp:X|G'), b);

      // Forced together with another NHS number: the merged person keeps its number, and look-ups follow it.
      const other = validNhs(612346000);
      const c = (await db.transaction((tx) => resolveIdentities(tx, [{ system: 'hl7:RM4', id: 'C', nhsNumber: other, birthDate: '1990-01-01' }]))).get('hl7:RM4|C')!;
      await assert.rejects(mergePersons(db, c, b, 'test', 'same?'), (e: MpiRequestError) => e.kind === 'conflict' && /different valid NHS numbers/.test(e.message));
      await mergePersons(db, c, b, 'test', 'checked: one patient with two numbers', { despiteDifferentNhsNumbers: true });
      assert.deepEqual(await personRow(db, c), { status: 'merged', merged_into: b, nhs_number: other });
      const again = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'gp:X', id: 'G2', nhsNumber: other, birthDate: '1990-01-01' }]));
      assert.equal(again.get('gp:X|G2'), b);
    });

    await t.test('feed merges: different valid NHS numbers are queued for a person, never applied', async () => {
      const [x, y] = [validNhs(631000000), validNhs(631000100)];
      const m = await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'gp:F1', id: 'jane', nhsNumber: x, family: 'Smith', given: 'Jane', birthDate: '1970-01-01' },
          { system: 'gp:F2', id: 'jayne', nhsNumber: y, family: 'Smyth', given: 'Jayne', birthDate: '1970-01-01' },
        ]),
      );
      const instruction = { kind: 'merge' as const, system: 'gp:F1', survivorId: 'jane', retiredSystem: 'gp:F2', retiredId: 'jayne', event: 'ADT^A40' };
      for (let i = 0; i < 2; i++) {
        const out = await db.transaction((tx) => applyMerge(tx, instruction, 'feed:test'));
        assert.equal(out.outcome, 'queued');
      }
      assert.notEqual(await personOf(db, 'gp:F1', 'jane'), await personOf(db, 'gp:F2', 'jayne'));
      const reviews = (await listReviews(db)).filter((r) => r.origin === 'feed');
      assert.equal(reviews.length, 1);
      const r = reviews[0]!;
      assert.deepEqual([r.identity.id, r.candidate.id], ['jane', 'jayne']);
      const detail = r.detail as { event: string; reason: string; conflict: { survivorNhsNumbers: string[]; retiredNhsNumbers: string[] } };
      assert.equal(detail.event, 'ADT^A40');
      assert.match(detail.reason, /different valid NHS numbers/);
      assert.deepEqual(detail.conflict, { survivorNhsNumbers: [x], retiredNhsNumbers: [y] });
      // A person must confirm it, explicitly.
      await assert.rejects(decideReview(db, r.reviewId, 'link', 'test'), /different valid NHS numbers/);
      const d = await decideReview(db, r.reviewId, 'link', 'test', { despiteDifferentNhsNumbers: true });
      assert.equal(await personOf(db, 'gp:F1', 'jane'), await personOf(db, 'gp:F2', 'jayne'));
      await unmergeEvent(db, d.eventId!, 'test');
      assert.equal(await personOf(db, 'gp:F1', 'jane'), m.get('gp:F1|jane'));
      assert.equal(await personOf(db, 'gp:F2', 'jayne'), m.get('gp:F2|jayne'));
      assert.deepEqual(await personRow(db, m.get('gp:F2|jayne')!), { status: 'active', merged_into: null, nhs_number: y });
    });

    await t.test('feed merges into an identity not seen yet create it; nothing in an instruction throws', async () => {
      await db.transaction((tx) => resolveIdentities(tx, [{ system: 'hl7:U1', id: 'OLD', family: 'Ng', birthDate: '1960-06-06' }]));
      const out = await db.transaction((tx) => applyMerge(tx, { system: 'hl7:U1', survivorId: 'NEW', retiredId: 'OLD', event: 'ADT^A40' }, 'feed:test'));
      assert.equal(out.outcome, 'applied');
      assert.equal(await personOf(db, 'hl7:U1', 'NEW'), await personOf(db, 'hl7:U1', 'OLD'));
      const both = await db.transaction((tx) => applyMerge(tx, { kind: 'link', system: 'hl7:U1', survivorId: 'S9', retiredSystem: 'hl7:U2', retiredId: 'R9' }, 'feed:test'));
      assert.equal(both.outcome, 'applied');
      assert.equal(await personOf(db, 'hl7:U1', 'S9'), await personOf(db, 'hl7:U2', 'R9'));
      const weird = [
        { system: '', survivorId: 'a', retiredId: 'b' },
        { system: 'hl7:U1', survivorId: 'OLD', retiredId: 'OLD' },
        { system: 'hl7:U1', survivorId: 'a\u0000', retiredId: 'b' },
        { kind: 'swap' as unknown as 'merge', system: 'hl7:U1', survivorId: 'NEW', retiredId: 'S9' },
        { kind: 'unlink' as const, system: 'hl7:U1', survivorId: 'nobody', retiredId: 'OLD' },
      ];
      for (const w of weird) await db.transaction((tx) => applyMerge(tx, w, 'feed:test'));
      const q = (await listReviews(db)).filter((r) => r.origin === 'feed' && /unknown instruction kind/.test((r.detail as { reason: string }).reason));
      assert.equal(q.length, 1);
    });

    await t.test('feed unlink (A37) splits the retired identity and what came with it; undo joins them again', async () => {
      const m = await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'hl7:L1', id: 'M1', family: 'Okafor', birthDate: '1985-02-02' },
          { system: 'hl7:L1', id: 'M2', family: 'Okafor', birthDate: '1985-02-02' },
          { system: 'csv:community', id: 'LC2', family: 'Okafor', birthDate: '1985-02-02' },
        ]),
      );
      // M2 came with LC2 (linked earlier), then M2's person was merged into M1's.
      await mergePersons(db, m.get('csv:community|LC2')!, m.get('hl7:L1|M2')!, 'test', 'same');
      const joined = await db.transaction((tx) => applyMerge(tx, { kind: 'link', system: 'hl7:L1', survivorId: 'M1', retiredId: 'M2', event: 'ADT^A24' }, 'feed:test'));
      assert.equal(joined.outcome, 'applied');
      const one = await personOf(db, 'hl7:L1', 'M1');
      assert.equal(await personOf(db, 'csv:community', 'LC2'), one);
      const split = await db.transaction((tx) => applyMerge(tx, { kind: 'unlink', system: 'hl7:L1', survivorId: 'M1', retiredId: 'M2', event: 'ADT^A37' }, 'feed:test'));
      assert.equal(split.outcome, 'applied');
      const apart = await personOf(db, 'hl7:L1', 'M2');
      assert.notEqual(apart, one);
      assert.equal(await personOf(db, 'csv:community', 'LC2'), apart);
      assert.equal(apart, m.get('hl7:L1|M2'), 'back in the person it came from');
      const replay = await db.transaction((tx) => applyMerge(tx, { kind: 'unlink', system: 'hl7:L1', survivorId: 'M1', retiredId: 'M2' }, 'feed:test'));
      assert.equal(replay.outcome, 'unchanged');
      await unmergeEvent(db, split.eventId!, 'test');
      assert.equal(await personOf(db, 'hl7:L1', 'M2'), one);
      assert.equal(await personOf(db, 'csv:community', 'LC2'), one);
    });

    await t.test('feed unlink of identities that share a valid NHS number is queued, not applied', async () => {
      const nhs = validNhs(655000000);
      await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'hl7:L2', id: 'N1', nhsNumber: nhs, birthDate: '1991-03-03' },
          { system: 'hl7:L2', id: 'N2', nhsNumber: nhs, birthDate: '1991-03-03' },
        ]),
      );
      const out = await db.transaction((tx) => applyMerge(tx, { kind: 'unlink', system: 'hl7:L2', survivorId: 'N1', retiredId: 'N2', event: 'ADT^A37' }, 'feed:test'));
      assert.equal(out.outcome, 'queued');
      assert.equal(await personOf(db, 'hl7:L2', 'N1'), await personOf(db, 'hl7:L2', 'N2'));
      const r = (await listReviews(db)).find((x) => x.identity.id === 'N1' && x.candidate.id === 'N2')!;
      assert.match((r.detail as { reason: string }).reason, /share NHS number/);
      // A person agrees they are two people: the split is carried out.
      await decideReview(db, r.reviewId, 'reject', 'test');
      assert.notEqual(await personOf(db, 'hl7:L2', 'N1'), await personOf(db, 'hl7:L2', 'N2'));
    });
  });
}

// The shared test databases use a pool of 4; here 50 real connections race, as 50 feeds would.
const url = await testPostgresUrl();
test('PostgreSQL: 50 concurrent connections creating the same NHS numbers agree on one person each', { skip: url ? false : 'no PostgreSQL server' }, async () => {
  await withOwnPostgresSchema(url!, 50, async (db) => {
    for (let round = 0; round < 10; round++) {
      // Three shared NHS numbers per round, sent in different orders by different feeds.
      const shared = [0, 1, 2].map((k) => validNhs(800000000 + round * 1000 + k * 100));
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const order = i % 2 ? [...shared].reverse() : shared;
          return db.transaction((tx) =>
            resolveIdentities(tx, order.map((nhs, k) => ({ system: `hl7:F${i}`, id: `r${round}-${k}`, nhsNumber: nhs, family: 'Khan', birthDate: '1975-06-30' }))),
          );
        }),
      );
      for (let k = 0; k < 3; k++) {
        const persons = new Set(results.map((m, i) => m.get(`hl7:F${i}|r${round}-${i % 2 ? 2 - k : k}`)));
        assert.equal(persons.size, 1, `round ${round}, number ${k}`);
      }
      const counts = await db.query<{ nhs_number: string; n: number }>(
        'SELECT nhs_number, count(*)::int AS n FROM person WHERE nhs_number = ANY($1::text[]) GROUP BY nhs_number',
        [shared],
      );
      assert.deepEqual(counts.rows.map((r) => r.n), [1, 1, 1]);
      const orphans = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person p WHERE NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)');
      assert.equal(orphans.rows[0]!.n, 0);
    }
  });
});


async function personOf(db: Queryable, system: string, id: string): Promise<string> {
  const r = await db.query<{ person_id: string }>('SELECT person_id FROM source_identity WHERE source_system = $1 AND source_id = $2', [system, id]);
  return r.rows[0]!.person_id;
}

async function personRow(db: Queryable, personId: string): Promise<{ status: string; merged_into: string | null; nhs_number: string | null }> {
  const r = await db.query<{ status: string; merged_into: string | null; nhs_number: string | null }>('SELECT status, merged_into, nhs_number FROM person WHERE person_id = $1', [personId]);
  return r.rows[0]!;
}
