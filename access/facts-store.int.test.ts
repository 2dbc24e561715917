import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Principal } from './context.ts';
import { gatherAccessFacts } from './facts-store.ts';
import { currentPolicy } from './policy.ts';
import { testDatabases } from '../test/databases.ts';

// The care team, consent and source-restriction parts of the access facts are read by a probe per person or identity (facts-store.ts):
// each person gets exactly their own rows and those of the people merged into them, current ones only,
// whatever the number of people asked for at once (and an id asked for twice counts once).
const NURSE: Principal = { user: 'nurse.kay', role: 'community-nurse', organisation: 'RM3' };

for (const target of await testDatabases()) {
  test(`care team and consent facts per person on ${target.name}: own and merged rows, current only`, async () => {
    const db = await target.open();
    try {
      const policy = currentPolicy()!;
      const now = new Date('2026-06-01T12:00:00Z');
      const [a, merged, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const member = (person: string, m: string, starts: string, ends: string | null) =>
        db.query(`INSERT INTO care_team_member (person_id, member, starts_at, ends_at) VALUES ($1, $2, $3, $4)`, [person, m, starts, ends]);
      await member(a, 'nurse.kay', '2026-01-01T00:00:00Z', null);
      await member(a, 'org:RM2', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'); // ended
      await member(merged, 'org:RM3', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z');
      await member(c, 'dr.who', '2026-07-01T00:00:00Z', null); // not yet begun
      await member(d, 'someone.else', '2026-01-01T00:00:00Z', null); // a person not asked for
      const consent = (person: string, kind: string, withdrawn: string | null) =>
        db.query(`INSERT INTO consent_directive (person_id, kind, recorded_at, withdrawn_at) VALUES ($1, $2, $3, $4)`, [person, kind, '2026-01-01T00:00:00Z', withdrawn]);
      await consent(a, 'dissent-sharing', null);
      await consent(merged, 'national-data-opt-out', null);
      await consent(c, 'national-data-opt-out', '2026-02-01T00:00:00Z'); // withdrawn
      await consent(d, 'dissent-sharing', null);

      // Restrictions: a source's flag on one of a merged person's identities (not lifted), a lifted one, another person's.
      const identity = (person: string, system: string, id: string) =>
        db.query(`INSERT INTO source_identity (source_system, source_id, person_id, link_method, match_status) VALUES ($1, $2, $3, 'nhs-number', 'matched')`, [system, id, person]);
      const flag = (system: string, id: string, lifted: string | null) =>
        db.query(`INSERT INTO source_restriction (source_system, source_id, reason, lifted_at) VALUES ($1, $2, 'test', $3)`, [system, id, lifted]);
      await identity(a, 'gp:P91001', 'a-gp');
      await identity(merged, 'hl7:RM2', 'm-hl7');
      await identity(c, 'gp:P91001', 'c-gp');
      await identity(d, 'gp:P91001', 'd-gp');
      await flag('hl7:RM2', 'm-hl7', null);
      await flag('gp:P91001', 'c-gp', '2026-03-01T00:00:00Z');
      await flag('gp:P91001', 'd-gp', null);

      const people = [
        { personId: a, nhsNumber: null, memberIds: [a, merged, merged] },
        { personId: c, nhsNumber: null, memberIds: [c] },
      ];
      const facts = await gatherAccessFacts(db, policy, NURSE, people, now);
      assert.deepEqual([...facts.get(a)!.careTeam].sort(), ['nurse.kay', 'org:RM3']);
      assert.equal(facts.get(a)!.dissentSharing, true);
      assert.equal(facts.get(a)!.nationalDataOptOut, true, 'the merged person’s opt-out is the person’s');
      assert.deepEqual(facts.get(c)!.careTeam, []);
      assert.equal(facts.get(c)!.nationalDataOptOut, false, 'a withdrawn opt-out no longer counts');
      assert.equal(facts.get(c)!.dissentSharing, false);
      assert.equal(facts.get(a)!.restricted, true, 'a flag on a merged identity restricts the person');
      assert.equal(facts.get(c)!.restricted, false, 'a lifted flag does not');
      assert.equal(facts.has(d), false);

      // A change is seen by the next read (nothing is remembered between reads).
      await db.query(`UPDATE care_team_member SET ends_at = $2 WHERE person_id = $1 AND member = 'nurse.kay'`, [a, '2026-05-01T00:00:00Z']);
      await db.query(`UPDATE consent_directive SET withdrawn_at = $2 WHERE person_id = $1`, [a, '2026-05-01T00:00:00Z']);
      await consent(c, 'dissent-sharing', null);
      await flag('gp:P91001', 'c-gp-2', null);
      await identity(c, 'gp:P91001', 'c-gp-2');
      const again = await gatherAccessFacts(db, policy, NURSE, people, now);
      assert.deepEqual(again.get(a)!.careTeam, ['org:RM3']);
      assert.equal(again.get(a)!.dissentSharing, false);
      assert.equal(again.get(c)!.dissentSharing, true);
      assert.equal(again.get(c)!.restricted, true, 'a new flag restricts at once');

      // Secondary use reads consent only: no care team.
      const secondary = await gatherAccessFacts(db, policy, NURSE, people, now, { relationships: false });
      assert.deepEqual(secondary.get(a)!.careTeam, []);
      assert.equal(secondary.get(a)!.nationalDataOptOut, true);
      assert.equal(secondary.get(c)!.dissentSharing, true);
    } finally {
      await db.drop();
    }
  });
}
