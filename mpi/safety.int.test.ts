import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import type { Database } from '../db/database.ts';
import type { SourceIdentity } from './identity.ts';
import { resolveIdentities } from './link.ts';
import { runMatcher } from './matcher.ts';
import { nhsCheckDigit } from './nhs-number.ts';
import { scoreClusters } from './evaluate.ts';
import { linkageRecords, linkageTruth, toSourceIdentity } from './linkage-benchmark.ts';

/** The i-th valid NHS number of a range no other test uses. */
function validNhs(i: number): string {
  for (let n = 600_000_000 + i * 11; ; n++) {
    const c = nhsCheckDigit(String(n));
    if (c !== null) return `${n}${c}`;
  }
}

const GIVEN = ['Jane', 'John', 'Mary', 'Peter', 'Anne', 'David', 'Susan', 'James', 'Karen', 'Paul', 'Emma', 'Mark', 'Sarah', 'Ian', 'Ruth'];
const FAMILY = ['Smith', 'Jones', 'Patel', 'Khan', 'Brown', 'Taylor', 'Okafor', 'Nowak', 'Evans', 'Walsh'];

/** Jane → Jayne, Ian → Iain: the given name one letter apart. */
const oneLetterApart = (g: string) => g.slice(0, 2) + 'y' + g.slice(2);

function lookAlikes(pairs: number, twins: number): { identities: SourceIdentity[]; bridges: SourceIdentity[] } {
  const identities: SourceIdentity[] = [];
  const bridges: SourceIdentity[] = [];
  let k = 0;
  for (let i = 0; i < pairs + twins; i++) {
    const twin = i >= pairs;
    const given = GIVEN[i % GIVEN.length]!;
    const base = {
      family: FAMILY[(i * 7) % FAMILY.length]!,
      // Each pair its own birth date, so pairs are strangers to one another.
      birthDate: new Date(Date.UTC(1930, 0, 1) + i * 9 * 86_400_000).toISOString().slice(0, 10),
      sex: (i % 2 ? 'male' : 'female') as 'male' | 'female',
      postcode: `M${1 + (i % 40)} ${i % 10}AB`,
      address: `${1 + (i % 180)} Chester Road`,
      town: 'Stretford',
    };
    // Two GP systems; a look-alike's given name is one letter away, a twin's is another name.
    const other = twin ? GIVEN[(i + 5) % GIVEN.length]! : oneLetterApart(given);
    identities.push({ system: 'gp:P91001', id: `a${i}`, nhsNumber: validNhs(k++), given, ...base });
    identities.push({ system: 'gp:P91002', id: `b${i}`, nhsNumber: validNhs(k++), given: other, ...base });
    // A hospital identity with no NHS number that looks like both: it may join one, never both.
    if (i % 4 === 0) bridges.push({ system: 'hl7:RM2', id: `h${i}`, given, ...base });
  }
  return { identities, bridges };
}

async function personsWithTwoNhsNumbers(db: Database): Promise<number> {
  const r = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT person_id FROM source_identity WHERE nhs_number_valid GROUP BY person_id HAVING count(DISTINCT nhs_number) > 1
     ) x`,
  );
  return r.rows[0]!.n;
}

for (const tdb of await testDatabases()) {
  test(`no automatic link between different valid NHS numbers, ever (${tdb.name})`, async (t) => {
    const db = await tdb.open();
    t.after(() => db.drop());

    await t.test('the NHS demographics sandbox pair: Jane Smith and Jayne Smyth', async () => {
      const common = { birthDate: '2010-10-22', sex: 'female' as const, postcode: 'LS1 6AE', address: '1 Trevelyan Square, Boar Lane', town: 'Leeds' };
      await db.transaction((tx) =>
        resolveIdentities(tx, [
          { system: 'gp:Y12345', id: 'jane', nhsNumber: '9000000009', family: 'Smith', given: 'Jane', ...common },
          { system: 'gp:Y23456', id: 'jayne', nhsNumber: '9000000017', family: 'Smyth', given: 'Jayne', ...common },
        ]),
      );
      const r = await runMatcher(db);
      assert.equal(r.matched, 0);
      const persons = await db.query<{ n: number }>("SELECT count(DISTINCT person_id)::int AS n FROM source_identity WHERE source_id IN ('jane', 'jayne')");
      assert.equal(persons.rows[0]!.n, 2);
      // Queued for a person to look at, with the conflict named; one item for the pair.
      const reviews = await db.query<{ source_id: string; candidate_id: string; detail: { conflict?: string } }>(
        "SELECT source_id, candidate_id, detail FROM mpi_review WHERE source_id IN ('jane', 'jayne') OR candidate_id IN ('jane', 'jayne')",
      );
      assert.equal(reviews.rows.length, 1);
      assert.deepEqual([reviews.rows[0]!.source_id, reviews.rows[0]!.candidate_id], ['jane', 'jayne']); // gp:Y12345|jane < gp:Y23456|jayne
      assert.equal(reviews.rows[0]!.detail.conflict, 'different valid NHS numbers');
    });

    await t.test('3,000 look-alikes and 1,000 twins from two GP systems, with hospital identities that look like both', async () => {
      const { identities, bridges } = lookAlikes(1500, 500);
      for (let i = 0; i < identities.length; i += 500) await db.transaction((tx) => resolveIdentities(tx, identities.slice(i, i + 500)));
      await db.transaction((tx) => resolveIdentities(tx, bridges));
      const r = await runMatcher(db);
      assert.ok(r.pending >= identities.length);
      assert.equal(await personsWithTwoNhsNumbers(db), 0);
      // Every GP identity is still a person of its own NHS number.
      const gp = await db.query<{ n: number }>("SELECT count(DISTINCT person_id)::int AS n FROM source_identity WHERE source_system LIKE 'gp:P9100%'");
      assert.equal(gp.rows[0]!.n, identities.length);
      // Each pair is at most one review item, in canonical order.
      const dup = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM mpi_review a JOIN mpi_review b ON a.source_system = b.candidate_system AND a.source_id = b.candidate_id
           AND a.candidate_system = b.source_system AND a.candidate_id = b.source_id`,
      );
      assert.equal(dup.rows[0]!.n, 0);
      const order = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM mpi_review WHERE (source_system || '|' || source_id) COLLATE "C" > (candidate_system || '|' || candidate_id) COLLATE "C"`,
      );
      assert.equal(order.rows[0]!.n, 0);
      // A hospital identity that is exactly one of the look-alikes joins that one (the given name decides).
      const joined = await db.query<{ id: string; with: string }>(
        `SELECT h.source_id AS id, g.source_id AS with FROM source_identity h JOIN source_identity g ON g.person_id = h.person_id AND g.source_system LIKE 'gp:%'
          WHERE h.source_system = 'hl7:RM2'`,
      );
      for (const j of joined.rows) assert.equal(j.with, `a${j.id.slice(1)}`, `${j.id} joined ${j.with}`);
      assert.ok(joined.rows.length >= bridges.length * 0.9, `${joined.rows.length} of ${bridges.length} hospital identities linked`);
      // Running again changes nothing and still links no two NHS numbers.
      await runMatcher(db);
      assert.equal(await personsWithTwoNhsNumbers(db), 0);
    });
  });
}

test('FEBRL-style records with no NHS number: F1 of at least 0.99 through the writer and the matcher (pglite)', async (t) => {
  const [pglite] = await testDatabases();
  const db = await pglite!.open();
  t.after(() => db.drop());
  const records = linkageRecords({ originals: 1000, seed: 11 });
  const ids = records.map((r) => toSourceIdentity(r));
  for (let i = 0; i < ids.length; i += 500) await db.transaction((tx) => resolveIdentities(tx, ids.slice(i, i + 500)));
  const m = await runMatcher(db);
  assert.notEqual(m.parameters.uSource, 'defaults'); // learnt on a first load (random pairs, the matches among them taken out)
  assert.equal(m.parameters.mSource, 'em');
  const rows = await db.query<{ source_system: string; source_id: string; person_id: string }>('SELECT source_system, source_id, person_id FROM source_identity');
  const e = scoreClusters(rows.rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id] as const), linkageTruth(records));
  assert.ok(e.precision >= 0.995, `precision ${e.precision}`);
  assert.ok(e.f1 >= 0.99, `F1 ${e.f1} (precision ${e.precision}, recall ${e.recall})`);
});
