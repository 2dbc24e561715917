import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal, PurposeOfUse } from './context.ts';
import { testDatabases } from '../test/databases.ts';
import { idOf, loadCraftedStore } from '../analytics/cohorts/fixtures.ts';
import { gatherAccessFacts } from './facts-store.ts';
import { decideListed, decideSecondaryUse, recordedAmong } from './many-people.ts';
import { currentPolicy, decide } from './policy.ts';

const NOW = new Date('2025-10-01T12:00:00Z');
const askers: [string, Principal, PurposeOfUse, boolean][] = [
  ['analyst', { user: 'ann.alyst', role: 'analyst', organisation: 'TRAFFORD-ICB' }, 'secondary-use', false],
  ['gp', { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, 'direct-care', true],
];

for (const target of await testDatabases()) {
  test(`many people on ${target.name}: decideListed equals deciding each person on their own facts, for secondary use and direct care`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      // Besides the crafted restricted (S), opted-out (T) and dissenting (X) people: a source's
      // restriction of W1's GP identity, a withdrawn opt-out for W2 and a lifted source restriction for W3 (no longer reasons).
      await db.query(`INSERT INTO source_restriction (source_system, source_id, reason) VALUES ('gp:P91001', 'gp-W1', 'test: restricted by the source')`);
      await db.query(`INSERT INTO source_restriction (source_system, source_id, reason, lifted_at) VALUES ('gp:P91001', 'gp-W3', 'test: lifted', now())`);
      await db.query(`INSERT INTO consent_directive (person_id, kind, withdrawn_at) VALUES ($1, 'national-data-opt-out', now())`, [idOf('W2')]);
      const policy = currentPolicy()!;
      const people = await db.query<{ person_id: string; nhs_number: string | null }>('SELECT person_id::text AS person_id, nhs_number FROM person ORDER BY person_id');
      const ids = people.rows.map((r) => r.person_id);
      assert.deepEqual(new Set(await recordedAmong(db, ids)), new Set([idOf('S'), idOf('T'), idOf('X'), idOf('W1')]), 'those with a record: not W2 or W3');
      for (const [who, principal, purpose, identified] of askers) {
        const facts = await gatherAccessFacts(db, policy, principal, people.rows.map((r) => ({ personId: r.person_id, nhsNumber: r.nhs_number, memberIds: [r.person_id] })), NOW);
        const withheld = { restricted: 0, optedOut: 0, dissent: 0 };
        const shown = ids.filter((id) => {
          const f = facts.get(id) ?? null;
          const d = decide(policy, { action: identified ? 'read' : 'export', principal, purpose, facts: f, now: NOW });
          if (d.kind === 'permit' && !(identified && d.obligations.onlyOrganisation !== null)) return true;
          if (f?.restricted) withheld.restricted++;
          else if (f?.nationalDataOptOut && !identified) withheld.optedOut++;
          else withheld.dissent++;
          return false;
        });
        const got = await decideListed(db, policy, { principal, purpose, identified }, NOW, ids);
        assert.deepEqual([...got.shown], shown, who);
        assert.deepEqual(got.withheld, withheld, who);
        assert.ok(withheld.restricted >= 2 && (identified ? withheld.dissent >= 1 : withheld.optedOut >= 1), `${who}: the records bear on it ${JSON.stringify(withheld)}`);
      }
      // No policy: no one is shown.
      const none = await decideListed(db, null, { principal: askers[0]![1], purpose: 'secondary-use', identified: false }, NOW, ids);
      assert.equal(none.shown.size, 0);
      // One decision for everyone with nothing recorded: theirs is the answer for any id not given as recorded.
      const d = await decideSecondaryUse(db, policy, { principal: askers[0]![1], purpose: 'secondary-use' }, NOW, [idOf('T')]);
      assert.deepEqual([d.nothingRecorded.shown, d.of(idOf('A')).shown, d.of(idOf('T')).shown, d.of(idOf('T')).facts?.nationalDataOptOut], [true, true, false, true]);
    } finally {
      await db.drop();
    }
  });
}
