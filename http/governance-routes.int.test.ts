import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../access/audit.ts';
import { issueToken } from '../access/tokens.ts';
import type { Principal } from '../access/context.ts';
import { insertFixtures, NHS, PERSON_ID } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

interface AccessPage {
  personId: string;
  entries: Record<string, unknown>[];
}

for (const target of await testDatabases()) {
  test(`governance routes on ${target.name}: care team and consent writers behind the policy, who looked at a record, each audited`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertFixtures(db);
      app = Fastify({ logger: false });
      await registerOpenApi(app);
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const bearer = async (p: Principal) => `Bearer ${await issueToken(db, p)}`;
      const gp = await bearer({ user: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const far = await bearer({ user: 'dr.far', role: 'gp', organisation: 'P99999' });
      const nurse = await bearer({ user: 'nurse.khan', role: 'community-nurse', organisation: 'RM9' });
      const coordinator = await bearer({ user: 'coordinator', role: 'care-coordinator', organisation: 'TRAFFORD-ICB' });
      const admin = await bearer({ user: 'admin1', role: 'admin', organisation: null });
      const jon = await bearer({ user: 'jon', role: 'patient', organisation: null, nhsNumber: NHS });
      const someone = await bearer({ user: 'someone', role: 'patient', organisation: null, nhsNumber: '4010232137' });
      const call = (method: 'GET' | 'POST', url: string, auth: string, payload?: unknown) =>
        a.inject({ method, url, headers: { authorization: auth }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
      const diagnostics = (body: string) => (JSON.parse(body) as OperationOutcome).issue[0]!.diagnostics!;
      const lastAudit = async (actor: string) =>
        (await db.query<{ action: string; person_id: string | null; decision: string | null; purpose: string | null }>(`SELECT action, person_id::text AS person_id, decision, purpose FROM audit_log WHERE actor = $1 ORDER BY audit_id DESC LIMIT 1`, [actor])).rows[0];

      // The community nurse has no relationship: refused until the GP puts her on the care team.
      assert.equal((await call('GET', `/fhir/Patient/${PERSON_ID}`, nurse)).statusCode, 403);
      const added = await call('POST', `/care-team/${PERSON_ID}/members`, gp, { member: 'nurse.khan', role: 'lead-nurse' });
      assert.equal(added.statusCode, 200, added.body);
      assert.deepEqual({ ...(added.json() as { member: object }).member, startsAt: undefined }, { member: 'nurse.khan', role: 'lead-nurse', startsAt: undefined, endsAt: null, recordedBy: 'dr.jones', endedBy: null });
      assert.equal((added.json() as { changed: boolean }).changed, true);
      assert.deepEqual(await lastAudit('dr.jones'), { action: 'care-team.add', person_id: PERSON_ID, decision: 'permit', purpose: 'direct-care' });
      assert.equal(((await call('POST', `/care-team/${PERSON_ID}/members`, gp, { member: 'nurse.khan', role: 'lead-nurse' })).json() as { changed: boolean }).changed, false, 'already on it');
      assert.equal((await call('GET', `/fhir/Patient/${PERSON_ID}`, nurse)).statusCode, 200, 'the care team is a relationship');
      // A whole organisation, by an administrator (purpose administration by default).
      assert.equal((await call('POST', `/care-team/${PERSON_ID}/members`, admin, { member: 'org:RM3' })).statusCode, 200);
      assert.deepEqual(await lastAudit('admin1'), { action: 'care-team.add', person_id: PERSON_ID, decision: 'permit', purpose: 'administration' });
      // Refused: no relationship (a coordinator, a GP elsewhere), a patient; each audited as a denial.
      for (const [who, name] of [
        [coordinator, 'coordinator'],
        [far, 'dr.far'],
        [jon, 'jon'],
      ] as const) {
        const r = await call('POST', `/care-team/${PERSON_ID}/members`, who, { member: name });
        assert.equal(r.statusCode, 403, name);
        assert.deepEqual(await lastAudit(name), { action: 'care-team.add', person_id: PERSON_ID, decision: 'deny', purpose: name === 'jon' ? 'patient-access' : 'direct-care' });
      }
      assert.match(diagnostics((await call('POST', `/care-team/${PERSON_ID}/members`, coordinator, { member: 'coordinator' })).body), /no legitimate relationship/);
      assert.equal((await call('POST', `/care-team/${PERSON_ID}/members`, gp, { member: 'not a user!' })).statusCode, 400);
      assert.equal((await call('POST', '/care-team/0b6f4e8a-6a0e-4c49-9a59-000000000000/members', gp, { member: 'nurse.khan' })).statusCode, 404);
      assert.equal((await call('POST', '/care-team/not-a-person/members', gp, { member: 'nurse.khan' })).statusCode, 400);
      // Listing: the nurse (now a member) and the GP may; a GP elsewhere may not.
      const team = (await call('GET', `/care-team/${PERSON_ID}`, nurse)).json() as { members: { member: string }[] };
      assert.deepEqual(team.members.map((m) => m.member).sort(), ['nurse.khan', 'org:RM3']);
      assert.equal((await call('GET', `/care-team/${PERSON_ID}`, far)).statusCode, 403);
      // Ended: kept, and the relationship is gone.
      const ended = await call('POST', `/care-team/${PERSON_ID}/members/nurse.khan/end`, gp);
      assert.equal(ended.statusCode, 200, ended.body);
      assert.equal((ended.json() as { member: { endedBy: string } }).member.endedBy, 'dr.jones');
      assert.equal((await call('GET', `/fhir/Patient/${PERSON_ID}`, nurse)).statusCode, 403);
      assert.equal((await call('POST', `/care-team/${PERSON_ID}/members/nurse.khan/end`, gp)).statusCode, 404, 'not a member any more');
      const all = (await call('GET', `/care-team/${PERSON_ID}?all=true`, gp)).json() as { members: { member: string; endsAt: string | null }[] };
      assert.ok(all.members.some((m) => m.member === 'nurse.khan' && m.endsAt !== null));

      // Consent: the patient dissents from sharing; the GP then sees only the practice's own items.
      const before = (await call('GET', `/fhir/Patient/${PERSON_ID}/$everything`, gp)).json() as Bundle;
      const dissent = await call('POST', `/consent/${PERSON_ID}`, jon, { kind: 'dissent-sharing' });
      assert.equal(dissent.statusCode, 200, dissent.body);
      assert.equal((dissent.json() as { directive: { recordedBy: string } }).directive.recordedBy, 'jon');
      assert.deepEqual(await lastAudit('jon'), { action: 'consent.record', person_id: PERSON_ID, decision: 'permit', purpose: 'patient-access' });
      const after = (await call('GET', `/fhir/Patient/${PERSON_ID}/$everything`, gp)).json() as Bundle;
      assert.ok(after.entry!.length < before.entry!.length, 'dissent limits the GP to the practice');
      assert.ok(after.entry!.slice(1).filter((e) => e.resource!.resourceType !== 'OperationOutcome').every((e) => e.resource!.meta!.source!.includes('P91001')));
      assert.ok(after.entry!.some((e) => e.resource!.resourceType === 'OperationOutcome' && e.search?.mode === 'outcome'), 'the withheld count is said');
      const directives = (await call('GET', `/consent/${PERSON_ID}`, gp)).json() as { directives: { kind: string; withdrawnAt: string | null }[] };
      assert.deepEqual(directives.directives.map((d) => [d.kind, d.withdrawnAt]), [['dissent-sharing', null]]);
      assert.equal((await call('POST', `/consent/${PERSON_ID}`, someone, { kind: 'dissent-sharing' })).statusCode, 403, "another patient's record");
      assert.equal((await call('POST', `/consent/${PERSON_ID}`, coordinator, { kind: 'dissent-sharing' })).statusCode, 403);
      assert.equal((await call('POST', `/consent/${PERSON_ID}`, jon, { kind: 'please-no' })).statusCode, 400);
      assert.equal((await call('POST', `/consent/${PERSON_ID}`, admin, { kind: 'national-data-opt-out' })).statusCode, 200);
      const withdrawn = await call('POST', `/consent/${PERSON_ID}/dissent-sharing/withdraw`, jon);
      assert.equal(withdrawn.statusCode, 200, withdrawn.body);
      assert.equal((await call('POST', `/consent/${PERSON_ID}/dissent-sharing/withdraw`, jon)).statusCode, 404, 'none in force');
      assert.equal(((await call('GET', `/fhir/Patient/${PERSON_ID}/$everything`, gp)).json() as Bundle).entry!.length, before.entry!.length);

      // Who looked at my record: the patient sees who, role, organisation, when, what, why — nothing else.
      const mine = await call('GET', '/audit/me', jon);
      assert.equal(mine.statusCode, 200, mine.body);
      const page = mine.json() as AccessPage;
      assert.equal(page.personId, PERSON_ID);
      const gpRead = page.entries.find((e) => e.who === 'dr.jones' && e.action === 'record.everything')!;
      assert.deepEqual(Object.keys(gpRead).sort(), ['action', 'at', 'decision', 'organisation', 'purpose', 'reason', 'role', 'who']);
      assert.deepEqual([gpRead.role, gpRead.organisation, gpRead.purpose, gpRead.decision], ['gp', 'P91001', 'direct-care', 'permit']);
      assert.ok(page.entries.some((e) => e.who === 'dr.far' && e.decision === 'deny'), 'refusals too');
      assert.ok(!mine.body.includes('4010232137'), "nothing about anyone else");
      assert.deepEqual(await lastAudit('jon'), { action: 'audit.read', person_id: PERSON_ID, decision: 'permit', purpose: 'patient-access' });
      assert.equal(((await call('GET', '/audit/me?limit=2', jon)).json() as AccessPage).entries.length, 2);
      assert.equal(((await call('GET', '/audit/me?since=2999-01-01T00:00:00Z', jon)).json() as AccessPage).entries.length, 0);
      assert.equal((await call('GET', '/audit/me?limit=5000', jon)).statusCode, 400);
      assert.equal((await call('GET', '/audit/me', gp)).statusCode, 403, 'a GP has no record of their own here');
      assert.equal((await call('GET', '/audit/me', someone)).statusCode, 404, 'no record for that NHS number');
      // The person's care team and governance see it too; a GP elsewhere, a coordinator without a relationship, another patient do not.
      assert.equal((await call('GET', `/audit/person/${PERSON_ID}`, gp)).statusCode, 200);
      assert.equal((await call('GET', `/audit/person/${PERSON_ID}`, admin)).statusCode, 200);
      assert.equal((await call('GET', `/audit/person/${PERSON_ID}`, jon)).statusCode, 200, 'their own, by id');
      for (const [who, name] of [
        [far, 'dr.far'],
        [coordinator, 'coordinator'],
        [someone, 'someone'],
        [nurse, 'nurse.khan'],
      ] as const) {
        const r = await call('GET', `/audit/person/${PERSON_ID}`, who);
        assert.equal(r.statusCode, 403, name);
        assert.deepEqual(await lastAudit(name), { action: 'audit.read', person_id: PERSON_ID, decision: 'deny', purpose: name === 'someone' ? 'patient-access' : 'direct-care' });
      }

      // A restricted person: withheld on these paths too.
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'RCGP sensitive dataset')`, [PERSON_ID]);
      for (const [method, url, who, body] of [
        ['GET', '/audit/me', jon, undefined],
        ['GET', `/audit/person/${PERSON_ID}`, admin, undefined],
        ['GET', `/care-team/${PERSON_ID}`, gp, undefined],
        ['POST', `/care-team/${PERSON_ID}/members`, admin, { member: 'nurse.khan' }],
        ['POST', `/consent/${PERSON_ID}`, jon, { kind: 'dissent-sharing' }],
        ['GET', `/consent/${PERSON_ID}`, gp, undefined],
      ] as const) {
        const r = await call(method, url, who, body);
        assert.equal(r.statusCode, 403, `${method} ${url}`);
        assert.match(diagnostics(r.body), /restricted/);
      }

      const openapi = (await a.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
      for (const p of ['/audit/me', '/audit/person/{personId}', '/care-team/{personId}', '/care-team/{personId}/members', '/care-team/{personId}/members/{member}/end', '/consent/{personId}', '/consent/{personId}/{kind}/withdraw']) assert.ok(openapi.paths[p], p);
      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
