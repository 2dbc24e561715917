import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../../access/audit.ts';
import { insertFixtures, NHS, PERSON_ID } from '../../record/test-fixtures.ts';
import { testDatabases } from '../../test/databases.ts';
import { parseWho, showRecord } from './record.ts';

const ok = (who: string) => {
  const p = parseWho(who);
  if (p.kind !== 'ok') throw new Error(p.message);
  return p;
};

for (const target of await testDatabases()) {
  test(`bevan record on ${target.name}: shows text or one FHIR Bundle, audits every lookup`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      let out = '';
      await showRecord(db, '943 476 5919', ok('943 476 5919'), { actor: 'dr.jones', purpose: 'direct-care' }, (t) => (out += t));
      assert.match(out, /^Integrated care record: SMITH, Jon\n/);
      assert.match(out, /TIMELINE, NEWEST FIRST \(20\)/);

      out = '';
      await showRecord(db, NHS, ok(NHS), { actor: 'coordinator', purpose: 'direct-care', json: true }, (t) => (out += t));
      assert.equal(out.trimEnd().split('\n').length, 1, 'one JSON object on one line');
      const bundle = JSON.parse(out) as Bundle;
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.entry![0]!.resource!.id, PERSON_ID);

      await assert.rejects(showRecord(db, '401 023 2137', ok('401 023 2137'), { actor: 'dr.jones', purpose: 'direct-care' }, () => assert.fail('nothing is shown')), /no record found for NHS number 401 023 2137/);

      const audit = await db.query<{ actor: string; action: string; person_id: string | null; purpose: string; detail: { found: boolean; format: string } }>(
        'SELECT actor, action, person_id::text AS person_id, purpose, detail FROM audit_log ORDER BY audit_id',
      );
      assert.deepEqual(
        audit.rows.map((r) => [r.actor, r.action, r.person_id, r.purpose, r.detail.found, r.detail.format]),
        [
          ['dr.jones', 'record.read', PERSON_ID, 'direct-care', true, 'text'],
          ['coordinator', 'record.read', PERSON_ID, 'direct-care', true, 'fhir'],
          ['dr.jones', 'record.read', null, 'direct-care', false, 'text'],
        ],
      );
      assert.equal((await verifyAuditChain(db)).ok, true);
    } finally {
      await db.drop();
    }
  });
}
