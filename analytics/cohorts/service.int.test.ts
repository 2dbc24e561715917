import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBevanError, type Principal, type PurposeOfUse, type RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { AS_OF, idOf, loadCraftedStore } from './fixtures.ts';
import { loadRegisters } from './registers.ts';
import { cohortCsv, runCohort, type IdentifiedMember, type PseudonymisedMember } from './service.ts';

const registers = loadRegisters();
const resolve = (n: string) => registers.get(n);
const diabetes = registers.get('diabetes')!;
const NOW = new Date('2025-10-01T12:00:00Z');

const ctxFor = (db: Database, principal: Principal, purpose: PurposeOfUse): RequestContext => ({ principal, purpose, db, from: 'test' });
const gp = (db: Database) => ctxFor(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, 'direct-care');
const analyst = (db: Database) => ctxFor(db, { user: 'ann.alyst', role: 'analyst', organisation: 'TRAFFORD-ICB' }, 'secondary-use');

async function auditRows(db: Database, actor: string) {
  const r = await db.query<{ action: string; person_id: string | null; decision: string; detail: Record<string, unknown> | null }>(
    `SELECT action, person_id::text AS person_id, decision, detail FROM audit_log WHERE actor = $1 ORDER BY audit_id`,
    [actor],
  );
  return r.rows;
}

for (const target of await testDatabases()) {
  test(`cohorts through the access policy on ${target.name}: GP identified own practice, analyst controlled and pseudonymised, audited`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      const opts = { asOf: AS_OF, resolve, now: NOW };

      // GP: own practice, identified; the restricted person (S) and the dissenter (X) are left out.
      const list = await runCohort(gp(db), diabetes, { ...opts, output: 'list' });
      assert.equal(list.view, 'identified');
      assert.equal(list.practice, 'P91001');
      assert.equal(list.count, 11);
      assert.equal(list.disclosureControl, false);
      assert.deepEqual(list.withheld, { restricted: 1, optedOut: 0, dissent: 1 });
      const members = list.members as IdentifiedMember[];
      assert.equal(members.length, 11);
      assert.ok(members.some((m) => m.personId === idOf('T')), 'a national data opt-out does not apply to direct care');
      assert.ok(!members.some((m) => m.personId === idOf('S') || m.personId === idOf('X') || m.personId === idOf('R')));
      const a = members.find((m) => m.personId === idOf('A'))!;
      assert.equal(a.name, 'Test PersonA');
      assert.equal(a.record, `Patient/${idOf('A')}`);
      assert.equal(a.neighbourhood, 'N1');
      assert.match(cohortCsv(list), /^person_id,nhs_number,name,birth_date,practice,neighbourhood,record\n/);
      assert.equal(cohortCsv(list).trim().split('\n').length, 12);

      let rows = await auditRows(db, 'dr.jones');
      assert.equal(rows.length, 12, 'one entry for the run and one per person shown');
      assert.equal(rows[0]!.action, 'cohort.list');
      assert.equal(rows[0]!.person_id, null);
      assert.deepEqual({ found: rows[0]!.detail!.found, shown: rows[0]!.detail!.shown }, { found: 13, shown: 11 });
      assert.ok(rows.slice(1).every((r) => r.action === 'cohort.list.person' && r.person_id && r.decision === 'permit'));

      // GP asking for another practice: denied, and the denial audited.
      await assert.rejects(runCohort(gp(db), diabetes, { ...opts, output: 'count', practice: 'P91002' }), (e: unknown) => isBevanError(e) && e.kind === 'forbidden' && /only their own practice/.test(e.message));
      rows = await auditRows(db, 'dr.jones');
      assert.equal(rows.at(-1)!.decision, 'deny');

      // A count writes one entry, no per-person entries.
      const count = await runCohort(gp(db), diabetes, { ...opts, output: 'count' });
      assert.equal(count.count, 11);
      assert.equal(count.members, undefined);
      assert.equal((await auditRows(db, 'dr.jones')).length, 14);

      // Analyst: every practice; opt-out (T) and restricted (S) excluded; 12 people → 10; per practice 11 → 10, 1 → suppressed.
      const counted = await runCohort(analyst(db), diabetes, { ...opts, output: 'count' });
      assert.equal(counted.view, 'pseudonymised');
      assert.equal(counted.disclosureControl, true);
      assert.equal(counted.count, 10); // A B C D V W1-5 X R = 12
      assert.deepEqual(counted.withheld, { restricted: null, optedOut: null, dissent: 0 });
      assert.deepEqual(counted.byPractice, [{ practice: 'P91001', count: 10 }, { practice: 'P91002', count: null }]);
      assert.match(cohortCsv(counted), /diabetes,P91002,\*/);
      const small = await runCohort(analyst(db), registers.get('diabetes-hba1c-75-no-care-plan')!, { ...opts, output: 'count' });
      assert.equal(small.count, null, 'one person: suppressed');

      const pseud = await runCohort(analyst(db), diabetes, { ...opts, output: 'list' });
      const pm = pseud.members as PseudonymisedMember[];
      assert.equal(pm.length, 12);
      assert.ok(pm.every((m) => /^[0-9a-f]{32}$/.test(m.pseudonym) && !('personId' in m)));
      assert.ok(!JSON.stringify(pseud).includes(idOf('A')), 'no person id in a pseudonymised list');
      const again = await runCohort(analyst(db), diabetes, { ...opts, output: 'list' });
      assert.deepEqual((again.members as PseudonymisedMember[]).map((m) => m.pseudonym), pm.map((m) => m.pseudonym), 'pseudonyms are stable (the key is in the database)');
      const arows = await auditRows(db, 'ann.alyst');
      assert.equal(arows.length, 4, 'one entry per run, none per pseudonymised person');
      assert.ok(arows.every((r) => r.person_id === null));

      // Roles without a cohort rule, and the analyst for direct care, are refused.
      await assert.rejects(runCohort(ctxFor(db, { user: 'c', role: 'consultant', organisation: 'RM2' }, 'direct-care'), diabetes, { ...opts, output: 'count' }), /may not run cohorts/);
      await assert.rejects(runCohort(ctxFor(db, { user: 'a2', role: 'analyst', organisation: null }, 'direct-care'), diabetes, { ...opts, output: 'list' }), /secondary use/);
      await assert.rejects(runCohort(gp(db), diabetes, { ...opts, output: 'count', policy: null }), /no access policy/);
    } finally {
      await db.drop();
    }
  });
}
