import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBevanError, type Principal, type PurposeOfUse, type RequestContext } from '../../access/context.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { AS_OF, idOf, loadCraftedStore } from './fixtures.ts';
import { loadRegisters } from './registers.ts';
import { compileCohort } from './compile.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import { gatherAccessFacts } from '../../access/facts-store.ts';
import { currentPolicy, decide } from '../../access/policy.ts';
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

for (const target of await testDatabases()) {
  test(`secondary use on ${target.name}: every register's counts, lists and withheld people as deciding every member on their own facts`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      // Besides the crafted restricted (S), opted-out (T) and dissenting (X) people: a source's
      // restriction of W1's GP identity, a withdrawn opt-out for W2 (no longer a reason), a lifted
      // source restriction for W3, and an opt-out for someone on the COPD registers (F).
      await db.query(`INSERT INTO source_restriction (source_system, source_id, reason) VALUES ('gp:P91001', 'gp-W1', 'test: restricted by the source')`);
      await db.query(`INSERT INTO source_restriction (source_system, source_id, reason, lifted_at) VALUES ('gp:P91001', 'gp-W3', 'test: lifted', now())`);
      await db.query(`INSERT INTO consent_directive (person_id, kind, withdrawn_at) VALUES ($1, 'national-data-opt-out', now())`, [idOf('W2')]);
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'national-data-opt-out')`, [idOf('F')]);
      await ensureFlatTablesCurrent(db);
      const policy = currentPolicy()!;
      const principal = analyst(db).principal;
      let checked = 0;
      for (const def of registers.values()) {
        // The reference: every member the register finds, decided on their own facts.
        const compiled = compileCohort(def, { asOf: AS_OF, resolve });
        const found = (await db.query<{ person_id: string; practice: string | null }>(compiled.sql, compiled.params)).rows;
        const facts = await gatherAccessFacts(db, policy, principal, found.map((r) => ({ personId: r.person_id, nhsNumber: null, memberIds: [r.person_id] })), NOW, { relationships: false });
        const shown = found.filter((r) => decide(policy, { action: 'export', principal, purpose: 'secondary-use', facts: facts.get(r.person_id) ?? null, now: NOW }).kind === 'permit');
        const restricted = found.filter((r) => facts.get(r.person_id)?.restricted).length;
        const optedOut = found.filter((r) => !facts.get(r.person_id)?.restricted && facts.get(r.person_id)?.nationalDataOptOut).length;

        const counted = await runCohort(analyst(db), def, { asOf: AS_OF, resolve, now: NOW, output: 'count' });
        const listed = await runCohort(analyst(db), def, { asOf: AS_OF, resolve, now: NOW, output: 'list' });
        const sdc = (n: number) => (n === 0 ? 0 : n < 8 ? null : Math.round(n / 5) * 5);
        for (const r of [counted, listed]) {
          assert.equal(r.count, sdc(shown.length), def.name);
          assert.deepEqual(r.withheld, { restricted: sdc(restricted), optedOut: sdc(optedOut), dissent: sdc(found.length - shown.length - restricted - optedOut) }, def.name);
          const per = new Map<string | null, number>();
          for (const x of shown) per.set(x.practice, (per.get(x.practice) ?? 0) + 1);
          assert.deepEqual(r.byPractice, [...per].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([practice, n]) => ({ practice, count: sdc(n) })), def.name);
        }
        const members = listed.members as PseudonymisedMember[];
        assert.equal(members.length, shown.length, def.name);
        const pseudonyms = (await runCohort(analyst(db), def, { asOf: AS_OF, resolve, now: NOW, output: 'list' })).members as PseudonymisedMember[];
        assert.deepEqual(pseudonyms, members, `${def.name}: the same list each time`);
        checked += found.length;
      }
      assert.ok(checked > 30, 'the registers found people');
      // The people with a record are the ones left out: the source-restricted W1 and opted-out F and T, the restricted S.
      const diabetes = await runCohort(analyst(db), registers.get('diabetes')!, { asOf: AS_OF, resolve, now: NOW, output: 'list' });
      assert.equal((diabetes.members as PseudonymisedMember[]).length, 11, 'A B C D V W2-5 X R: 11 of the 14 found');
      // One audit entry per run, found and shown counted exactly.
      const last = (await auditRows(db, 'ann.alyst')).at(-1)!;
      assert.deepEqual({ found: last.detail!.found, shown: last.detail!.shown, person: last.person_id }, { found: 14, shown: 11, person: null });
    } finally {
      await db.drop();
    }
  });
}
