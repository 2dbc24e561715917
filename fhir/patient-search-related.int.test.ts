import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntry } from '../access/audit.ts';
import { ROLES, type Principal, type PurposeOfUse } from '../access/context.ts';
import { currentPolicy } from '../access/policy.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { admission, identity, validNhs } from '../test/items.ts';
import { pgFhirStore } from './pg-store.ts';
import { FhirRepository } from './repository.ts';
import type { FhirStore } from './store.ts';

// A Patient search reads the access facts only of the people who may hold a relationship with the
// user (readNeeds, mayRelateSql): for every role of the policy, at several organisations, for direct
// care and in an emergency, it finds, shows and audits exactly what it did when it read everyone's.
const DAY = 86_400_000;
const recent = new Date(Date.now() - 5 * DAY).toISOString();
const old = '2020-01-01T10:00:00Z';

/** The same store with the search asked to keep everyone found (no `needs`): the facts of all of them are read. */
function everyone(store: FhirStore): FhirStore {
  return {
    ...store,
    transaction: (fn) =>
      store.transaction((tx) =>
        fn({ ...tx, searchPatients: (c, cap, o) => tx.searchPatients(c, cap, o && { ...o, ...(o.factsFor ? { factsFor: { principal: o.factsFor.principal, now: o.factsFor.now } } : {}) }) }),
      ),
  };
}

/** The store with the audit entries it is handed recorded. */
function recording(store: FhirStore, out: AuditEntry[]): FhirStore {
  return { ...store, transaction: (fn) => store.transaction((tx) => fn({ ...tx, appendAudit: (entries, now) => (out.push(...entries), tx.appendAudit(entries, now)) })) };
}

for (const target of await testDatabases()) {
  // (On PGlite the store reads everyone's facts, as before: there the comparison shows the search's results are those of every other path.)
  test(`Patient search on ${target.name}: only the people who may relate to the user are weighed, with the same results and audit for every role`, async () => {
    const db = await target.open();
    try {
      const policy = currentPolicy()!;
      const who = (n: number, system: string, over = {}) => identity({ system, id: `ID${n}`, nhsNumber: validNhs(400000000 + n * 1000), family: 'Ashworth', given: `Ada${n}`, ...over });
      const items = [
        admission('m1', who(1, 'gp:P91001'), 'v1', 'finished', old), // registered at P91001
        admission('m2', who(2, 'hl7:RM2'), 'v2', 'in-progress', recent), // open and recent encounter at RM2
        admission('m3', who(3, 'hl7:RM2'), 'v3', 'finished', old), // an old encounter at RM2 only
        admission('m4', who(4, 'gp:P91002'), 'v4', 'finished', old), // another practice; care team below
        admission('m5', who(5, 'hl7:RM2'), 'v5', 'finished', old), // break-glass below
        admission('m6', who(6, 'gp:P91001'), 'v6', 'finished', old), // registered at P91001, restricted
        admission('m7', who(7, 'csv:community'), 'v7', 'finished', recent), // recent encounter at RM3 (policy's sourceOrganisations)
        admission('m8', who(8, 'hl7:RM2'), 'v8', 'finished', recent), // recent encounter at RM2; dissents from sharing
        admission('m9', who(9, 'gp:', { practice: 'P91001' }), 'v9', 'finished', old), // a GP identity with no practice in its key
      ];
      await writeBatch(db, items);
      const ids = new Map((await db.query<{ source_id: string; person_id: string }>(`SELECT source_id, person_id::text AS person_id FROM source_identity`)).rows.map((r) => [r.source_id, r.person_id]));
      const id = (n: number) => ids.get(`ID${n}`)!;
      await db.query(`INSERT INTO care_team_member (person_id, member, starts_at) VALUES ($1, 'org:RM3', now() - interval '1 day'), ($1, 'dr.a', now() - interval '1 day'), ($2, 'org:RM2', now() - interval '2 days')`, [id(4), id(3)]);
      await db.query(`UPDATE care_team_member SET ends_at = now() - interval '1 day' WHERE person_id = $1`, [id(3)]);
      await db.query(`INSERT INTO break_glass (username, person_id, reason, expires_at) VALUES ('dr.a', $1, 'unconscious in ED', now() + interval '30 minutes'), ('dr.a', $2, 'unconscious in ED', now() - interval '1 minute'), ('dr.b', $3, 'unconscious in ED', now() + interval '30 minutes')`, [id(5), id(3), id(1)]);
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'RCGP sensitive dataset')`, [id(6)]);
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'dissent-sharing')`, [id(8)]);

      const store = pgFhirStore(db, policy);
      let weighed = 0;
      let compared = 0;
      for (const role of ROLES) {
        for (const organisation of ['P91001', 'P91002', 'RM2', 'RM3', null]) {
          for (const user of ['dr.a', 'dr.b']) {
            for (const purpose of ['direct-care', 'emergency'] as PurposeOfUse[]) {
              const principal: Principal = { user, role, organisation, ...(role === 'patient' ? { nhsNumber: validNhs(401000000) } : {}) };
              const now = new Date();
              const run = async (s: FhirStore) => {
                const audit: AuditEntry[] = [];
                const repo = new FhirRepository({ principal, purpose, from: 'test' }, recording(s, audit), policy, () => now);
                const out = await repo.searchPatients({ family: [['ashw']] }, { count: 3, offset: 0 }).then((r) => ({ total: r.total, ids: r.patients.map((p) => p.id) }), (e: Error) => ({ error: e.message }));
                return { out, audit };
              };
              const before = await run(everyone(store));
              const after = await run(store);
              const label = `${role} at ${organisation} as ${user} for ${purpose}`;
              assert.deepEqual(after.out, before.out, label);
              assert.deepEqual(after.audit, before.audit, label);
              compared++;
              if ('total' in after.out && after.out.total > 0) weighed++;
            }
          }
        }
      }
      assert.equal(compared, ROLES.length * 5 * 2 * 2);
      // Some of those searches showed people (the fixture gives each role something to find).
      assert.ok(weighed >= 20, `${weighed} searches showed people`);
      // The GP at P91001 sees the person registered there, not the restricted one.
      const gp = await new FhirRepository({ principal: { user: 'dr.b', role: 'gp', organisation: 'P91001' }, purpose: 'direct-care', from: 'test' }, store, policy).searchPatients({ family: [['ashw']] }, { count: 20, offset: 0 });
      const shown = gp.patients.map((p) => p.id);
      assert.ok(shown.includes(id(1)) && !shown.includes(id(6)), JSON.stringify(shown));
      // A consultant elsewhere: person 4 by dr.a's care team membership, person 5 by dr.a's open break-glass session; not the expired one (person 3).
      const bg = await new FhirRepository({ principal: { user: 'dr.a', role: 'consultant', organisation: 'RX1' }, purpose: 'direct-care', from: 'test' }, store, policy).searchPatients({ family: [['ashw']] }, { count: 20, offset: 0 });
      assert.deepEqual(bg.patients.map((p) => p.id).sort(), [id(4), id(5)].sort());
    } finally {
      await db.drop();
    }
  });
}
