import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases, testPostgresUrl, withOwnPostgresSchema } from '../test/databases.ts';
import type { SourceIdentity } from './identity.ts';
import { applyMerge, resolveIdentities } from './link.ts';
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
        `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content) VALUES ('hl7:RM3', 'Encounter', 'V1', $1, 'MRN2', 'h', '{}')`,
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
      assert.deepEqual(after.rows.map((r) => [r.source_id, r.person_id, r.link_method]), [
        ['G5', m.get('hl7:RW3|N2'), 'nhs-number'],
        ['N1', m.get('hl7:RW3|N2'), 'hl7-a40'],
        ['N2', m.get('hl7:RW3|N2'), 'new'],
      ]);
      // New identities with that NHS number land in the surviving person too.
      const later = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'csv:community', id: 'C5', nhsNumber: nhs, birthDate: '1977-05-14' }]));
      assert.equal(later.get('csv:community|C5'), m.get('hl7:RW3|N2'));
    });

    await t.test('an NHS number whose person was merged away follows merged_into', async () => {
      const nhs = validNhs(612345000);
      const m = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'hl7:RM4', id: 'A', nhsNumber: nhs, birthDate: '1990-01-01' }, { system: 'hl7:RM4', id: 'B', birthDate: '1990-01-01' }]));
      await db.transaction((tx) => applyMerge(tx, { system: 'hl7:RM4', survivorId: 'B', retiredId: 'A' }, 'test'));
      const later = await db.transaction((tx) => resolveIdentities(tx, [{ system: 'gp:X', id: 'G', nhsNumber: nhs, birthDate: '1990-01-01' }]));
      assert.equal(later.get('gp:X|G'), m.get('hl7:RM4|B'));
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

