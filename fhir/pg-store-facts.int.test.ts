import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '../access/context.ts';
import { gatherAccessFacts, type PersonKey } from '../access/facts-store.ts';
import { ODS_SYSTEM } from '../access/feed-directives.ts';
import { currentPolicy } from '../access/policy.ts';
import { gpBundle } from '../ingest/fhir/test-bundles.ts';
import { parseText } from '../ingest/quarantine.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { pgFhirStore } from './pg-store.ts';

// The access facts read in the statement that finds the person (or the people a search finds) are
// the facts gatherAccessFacts reads on its own, and are handed out only for the person, principal
// and instant they were read for.
const NURSE: Principal = { user: 'nurse.kay', role: 'community-nurse', organisation: 'RM3' };
const careTeam = {
  resourceType: 'CareTeam', id: 'team-1', status: 'active', subject: { reference: 'Patient/pat-1' },
  participant: [{ member: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: 'RM3' } }, role: [{ text: 'district nursing' }] }],
};

for (const target of await testDatabases()) {
  test(`access facts with the person and with the search on ${target.name}: the same as read alone, and only for the instant asked`, async () => {
    const db = await target.open();
    try {
      const policy = currentPolicy()!;
      const items = await parseText(JSON.stringify(gpBundle({ id: 'b1', extra: [careTeam] })), 'test');
      assert.equal((await writeBatch(db, items)).quarantined, 0);
      const personId = (await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM person WHERE nhs_number = '9434765919'`)).rows[0]!.person_id;
      const now = new Date();
      const alone = (await gatherAccessFacts(db, policy, NURSE, [{ personId, nhsNumber: '9434765919', memberIds: [personId] }], now)).get(personId)!;
      assert.deepEqual(alone.careTeam, ['org:RM3']);
      assert.ok(alone.registeredPractices.length > 0);

      const store = pgFhirStore(db, policy);
      await store.transaction(async (tx) => {
        const person = await tx.findPerson({ personId }, { stamp: true, factsFor: { principal: NURSE, now } });
        assert.equal(person?.person_id, personId);
        const key: PersonKey = { personId, nhsNumber: person!.nhs_number, memberIds: await tx.memberIds(personId) };
        assert.deepEqual((await tx.accessFacts(NURSE, [key], now)).get(personId), alone);
        // Another instant (before the care team began): read for it, not the facts read with the person.
        const past = new Date('2000-01-01T00:00:00Z');
        assert.deepEqual((await tx.accessFacts(NURSE, [key], past)).get(personId)!.careTeam, []);
        // Another principal (a copy): read for it.
        assert.deepEqual((await tx.accessFacts({ ...NURSE }, [key], now)).get(personId), alone);
      });
      await store.transaction(async (tx) => {
        const { ids, matched } = await tx.searchPatients({ nhsNumbers: ['9434765919'] }, 1000, { factsFor: { principal: NURSE, now } });
        assert.deepEqual(ids, [personId]);
        assert.equal(matched, 1);
        const [found] = await tx.personsById(ids);
        assert.deepEqual((await tx.accessFacts(NURSE, [{ personId, nhsNumber: found!.nhs_number, memberIds: [personId] }], now)).get(personId), alone);
      });
      // More people than the cap: the search says so, and no facts were read for them.
      await store.transaction(async (tx) => {
        const hits = await tx.searchPatients({}, 0, { factsFor: { principal: NURSE, now } });
        assert.equal(hits.matched, 1);
      });
    } finally {
      await db.drop();
    }
  });
}
