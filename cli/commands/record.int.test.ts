import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../../access/audit.ts';
import { BevanError } from '../../access/context.ts';
import { addUser } from '../../access/users.ts';
import { insertFixtures, NHS, PERSON_ID } from '../../record/test-fixtures.ts';
import { testDatabases } from '../../test/databases.ts';
import { cliContext } from './cli-context.ts';
import { parseWho, showRecord } from './record.ts';

const ok = (who: string) => {
  const p = parseWho(who);
  if (p.kind !== 'ok') throw new Error(p.message);
  return p;
};

for (const target of await testDatabases()) {
  test(`bevan record on ${target.name}: shows text or one FHIR Bundle to whom the policy permits, audits every lookup`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      await addUser(db, { username: 'coordinator', role: 'care-coordinator', organisation: 'TRAFFORD-ICB' });
      await addUser(db, { username: 'dr.far', role: 'gp', organisation: 'P99999' });
      await db.query(`INSERT INTO care_team_member (person_id, member, starts_at) VALUES ($1, 'coordinator', '2020-01-01')`, [PERSON_ID]);
      await assert.rejects(cliContext(db, {}), /name the user reading/);
      await assert.rejects(cliContext(db, { user: 'nobody' }), /not a local user/);
      await assert.rejects(cliContext(db, { user: 'dr.jones', purpose: 'curiosity' }), /not a purpose of use/);

      let out = '';
      const gp = await cliContext(db, { user: 'dr.jones' });
      await showRecord(gp, ok('943 476 5919'), {}, (t) => (out += t));
      assert.match(out, /^Integrated care record: SMITH, Jon\n/);
      assert.match(out, /TIMELINE, NEWEST FIRST \(20\)/);

      out = '';
      await showRecord(await cliContext(db, { user: 'coordinator' }), ok(NHS), { json: true }, (t) => (out += t));
      assert.equal(out.trimEnd().split('\n').length, 1, 'one JSON object on one line');
      const bundle = JSON.parse(out) as Bundle;
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.entry![0]!.resource!.id, PERSON_ID);

      await assert.rejects(showRecord(gp, ok('401 023 2137'), {}, () => assert.fail('nothing is shown')), /no record found for NHS number 401 023 2137/);
      await assert.rejects(showRecord(await cliContext(db, { user: 'dr.far' }), ok(NHS), {}, () => assert.fail('nothing is shown')), (err: unknown) => err instanceof BevanError && err.kind === 'forbidden');

      const audit = await db.query<{ actor: string; role: string; action: string; person_id: string | null; purpose: string; decision: string | null; source_address: string; detail: { found?: boolean; format: string } }>(
        'SELECT actor, role, action, person_id::text AS person_id, purpose, decision, source_address, detail FROM audit_log ORDER BY audit_id',
      );
      assert.deepEqual(
        audit.rows.map((r) => [r.actor, r.role, r.action, r.person_id, r.purpose, r.decision, r.detail.found ?? null, r.detail.format]),
        [
          ['dr.jones', 'gp', 'record.read', PERSON_ID, 'direct-care', 'permit', true, 'text'],
          ['coordinator', 'care-coordinator', 'record.read', PERSON_ID, 'direct-care', 'permit', true, 'fhir'],
          ['dr.jones', 'gp', 'record.read', null, 'direct-care', null, false, 'text'],
          ['dr.far', 'gp', 'record.read', PERSON_ID, 'direct-care', 'deny', null, 'text'],
        ],
      );
      assert.match(audit.rows[0]!.source_address, /^cli:/);
      assert.equal((await verifyAuditChain(db)).ok, true);
    } finally {
      await db.drop();
    }
  });
}
