import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import type { SourceIdentity } from './identity.ts';
import { resolveIdentities } from './link.ts';
import { runMatcher } from './matcher.ts';
import { linkageRecords, toSourceIdentity } from './linkage-benchmark.ts';

// A population to learn from (FEBRL-style, no NHS numbers), so the matcher estimates its own
// parameters as it would on a real first load, and the pairs under test among it.
const background = linkageRecords({ originals: 600, seed: 5 }).map((r) => toSourceIdentity(r, 'csv:background'));

const family: SourceIdentity[] = [
  // A mother and her son share the home landline (written two ways) and the surname, nothing else.
  { system: 'gp:P91001', id: 'grace', family: 'Okonkwo', given: 'Grace', birthDate: '1968-04-02', sex: 'female', phones: ['0161 496 0000'], emails: ['okonkwo.home@example.org'] },
  { system: 'hl7:RM2', id: 'daniel', family: 'Okonkwo', given: 'Daniel', birthDate: '2001-09-17', sex: 'male', phones: ['+44 (0)161 496 0000'], emails: ['Okonkwo.Home@example.org'] },
  // A record with only the surname and the landline: it could be anyone in the house.
  { system: 'csv:community', id: 'okonkwo', family: 'Okonkwo', phones: ['01614960000'] },
];
const siobhan: SourceIdentity[] = [
  { system: 'gp:P91001', id: 'siobhan', family: 'Fitzgerald', given: 'Siobhán', birthDate: '1983-07-21', emails: ['Siobhan.Fitz@example.org'] },
  // Another source: the surname mistyped, the accent dropped, the email in other case with a space.
  { system: 'csv:socialcare', id: 's-77', family: 'Fitzgerlad', given: 'Siobhan', birthDate: '1983-07-21', emails: [' siobhan.fitz@EXAMPLE.org'] },
];

for (const tdb of await testDatabases()) {
  test(`email and phone: evidence weighted with the name, never a link on their own (${tdb.name})`, async (t) => {
    const db = await tdb.open();
    t.after(() => db.drop());
    const all = [...background, ...family, ...siobhan];
    for (let i = 0; i < all.length; i += 500) await db.transaction((tx) => resolveIdentities(tx, all.slice(i, i + 500)));
    const stored = await db.query<{ source_id: string; email: string | null; phone: string | null }>(
      "SELECT source_id, email, phone FROM source_identity WHERE source_id IN ('grace', 'daniel', 'okonkwo', 'siobhan', 's-77') ORDER BY source_id",
    );
    assert.deepEqual(stored.rows.find((r) => r.source_id === 'daniel'), { source_id: 'daniel', email: 'okonkwo.home@example.org', phone: '01614960000' });
    assert.equal(stored.rows.find((r) => r.source_id === 's-77')!.email, 'siobhan.fitz@example.org');

    const m = await runMatcher(db);
    assert.equal(m.parameters.mSource, 'em');
    const person = async (id: string) => (await db.query<{ person_id: string; match_status: string }>('SELECT person_id, match_status FROM source_identity WHERE source_id = $1', [id])).rows[0]!;
    const [grace, daniel, okonkwo, a, b] = await Promise.all(['grace', 'daniel', 'okonkwo', 'siobhan', 's-77'].map(person));
    // A shared phone (and email) with the surname is not one person.
    assert.equal(new Set([grace!.person_id, daniel!.person_id, okonkwo!.person_id]).size, 3);
    for (const x of [grace!, daniel!, okonkwo!]) assert.notEqual(x.match_status, 'MATCH');
    // The same email, given name and birth date with a mistyped surname is.
    assert.equal(a!.person_id, b!.person_id);
    assert.equal(a!.match_status === 'MATCH' || b!.match_status === 'MATCH', true);
  });
}
