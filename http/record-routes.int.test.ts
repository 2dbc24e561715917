/**
 * GET /record/{personId}/sources on both databases, and the break-glass expiry header on the FHIR
 * routes: a permit with its audit row, a GP of another practice refused and audited, the patient's
 * own record, the sources' settings and feed freshness, and X-Bevan-Break-Glass-Expires.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { CARE_SETTING_TAG } from '../record/care-setting.ts';
import { verifyAuditChain } from '../access/audit.ts';
import { issueToken } from '../access/tokens.ts';
import type { Principal } from '../access/context.ts';
import type { RecordSources } from '../record/record-sources.ts';
import { COMMUNITY, GP, HOSPITAL, insertFixtures, NHS, PERSON_ID, SOCIAL } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';
import { BREAK_GLASS_EXPIRES_HEADER } from './fhir-routes.ts';

for (const target of await testDatabases()) {
  test(`record sources and the break-glass expiry on ${target.name}`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertFixtures(db);
      await db.query(`INSERT INTO ingest_message (source_system, message_id, content_hash, format, outcome, received_at) VALUES ($1, 'A1', 'h1', 'hl7v2', 'accepted', now() - interval '4 minutes')`, [HOSPITAL]);
      app = Fastify({ logger: false });
      await registerOpenApi(app);
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const bearer = async (p: Principal) => `Bearer ${await issueToken(db, p)}`;
      const gp = await bearer({ user: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const far = await bearer({ user: 'dr.far', role: 'gp', organisation: 'P99999' });
      const jon = await bearer({ user: 'jon', role: 'patient', organisation: null, nhsNumber: NHS });
      const get = (url: string, auth: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { authorization: auth, ...headers } });
      const lastAudit = async (actor: string) =>
        (await db.query<{ action: string; person_id: string | null; decision: string | null; purpose: string | null }>(`SELECT action, person_id::text AS person_id, decision, purpose FROM audit_log WHERE actor = $1 ORDER BY audit_id DESC LIMIT 1`, [actor])).rows[0];

      // The registered practice's GP: every source, its setting, the hospital's feed 4 minutes ago.
      const ok = await get(`/record/${PERSON_ID}/sources`, gp);
      assert.equal(ok.statusCode, 200, ok.body);
      const body = ok.json() as RecordSources;
      assert.equal(body.personId, PERSON_ID);
      assert.deepEqual(body.sources.map((s) => [s.system, s.setting]), [[GP, 'gp'], [HOSPITAL, 'hospital'], [COMMUNITY, 'community'], [SOCIAL, 'social-care']]);
      const hospital = body.sources.find((s) => s.system === HOSPITAL)!;
      const ago = Date.parse(body.at) - Date.parse(hospital.feed.lastMessageAt!);
      assert.ok(ago >= 235_000 && ago < 300_000, `last message ${ago} ms before the answer`);
      assert.equal(body.sources.find((s) => s.system === GP)!.feed.lastMessageAt, null);
      assert.deepEqual(body.identities.map((i) => [i.system, i.localId]), [[HOSPITAL, 'MRN100'], [GP, 'gp-pat-1'], [COMMUNITY, 'C-5'], [SOCIAL, 'SC-77']]);
      assert.ok(body.disagreements.some((d) => d.field === 'family' && d.values.some((v) => v.value === 'Smyth' && v.sources.includes(SOCIAL))));
      assert.equal(body.registeredPractice?.neighbourhoodName, 'Sale');
      assert.equal(ok.headers[BREAK_GLASS_EXPIRES_HEADER.toLowerCase()], undefined, 'no break-glass, no expiry');
      assert.deepEqual(await lastAudit('dr.jones'), { action: 'record.sources', person_id: PERSON_ID, decision: 'permit', purpose: 'direct-care' });
      // $everything: each item carries its source's care setting as a tag.
      const all = (await get(`/fhir/Patient/${PERSON_ID}/$everything`, gp)).json() as Bundle;
      const tagged = (all.entry ?? []).filter((e) => e.resource?.meta?.source).map((e) => [e.resource!.meta!.source, e.resource!.meta!.tag?.find((t) => t.system === CARE_SETTING_TAG)?.code]);
      assert.ok(tagged.length > 10);
      assert.deepEqual(new Map(tagged as [string, string][]), new Map([[GP, 'gp'], [HOSPITAL, 'hospital'], [SOCIAL, 'social-care'], [COMMUNITY, 'community']]));

      // A GP of another practice: refused, and the refusal audited.
      const denied = await get(`/record/${PERSON_ID}/sources`, far);
      assert.equal(denied.statusCode, 403);
      assert.match((JSON.parse(denied.body) as OperationOutcome).issue[0]!.diagnostics!, /no legitimate relationship/);
      assert.deepEqual(await lastAudit('dr.far'), { action: 'record.sources', person_id: PERSON_ID, decision: 'deny', purpose: 'direct-care' });
      // Unknown person: 404, audited; a malformed id: 400.
      assert.equal((await get('/record/00000000-0000-4000-8000-000000000000/sources', gp)).statusCode, 404);
      assert.deepEqual(await lastAudit('dr.jones'), { action: 'record.sources', person_id: null, decision: null, purpose: 'direct-care' });
      assert.equal((await get('/record/not-a-person/sources', gp)).statusCode, 400);
      // The patient: their own record's sources.
      assert.equal((await get(`/record/${PERSON_ID}/sources`, jon)).statusCode, 200);
      assert.deepEqual(await lastAudit('jon'), { action: 'record.sources', person_id: PERSON_ID, decision: 'permit', purpose: 'patient-access' });

      // Break-glass: the response that starts it says when it ends, and so does every later one resting on it.
      const before = Date.now();
      const bg = await get(`/fhir/Patient/${PERSON_ID}/$everything?_count=5`, far, { 'x-bevan-break-glass': 'Unconscious in A&E, no GP record reachable' });
      assert.equal(bg.statusCode, 200, bg.body);
      const expires = bg.headers[BREAK_GLASS_EXPIRES_HEADER.toLowerCase()];
      assert.equal(typeof expires, 'string');
      const minutes = (Date.parse(String(expires)) - before) / 60_000;
      assert.ok(minutes > 59 && minutes <= 60.1, `break-glass lasts the policy's 60 minutes: ${minutes}`);
      for (const url of [`/fhir/Patient/${PERSON_ID}/$everything`, `/fhir/Patient/${PERSON_ID}`, `/record/${PERSON_ID}/sources`]) {
        const r = await get(url, far);
        assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
        assert.equal(r.headers[BREAK_GLASS_EXPIRES_HEADER.toLowerCase()], expires, `${url} says when the session ends`);
      }
      const enc = (await db.query<{ id: string }>(`SELECT fhir_logical_id($1, 'Encounter', 'V1001') AS id`, [HOSPITAL])).rows[0]!.id;
      assert.equal((await get(`/fhir/Encounter/${enc}`, far)).headers[BREAK_GLASS_EXPIRES_HEADER.toLowerCase()], expires);
      // The registered GP's reads rest on the relationship, not on break-glass.
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}`, gp)).headers[BREAK_GLASS_EXPIRES_HEADER.toLowerCase()], undefined);
      // When the session has ended, access is refused again (and no expiry is sent).
      await db.query(`UPDATE break_glass SET expires_at = now() - interval '1 second' WHERE username = 'dr.far'`);
      const after = await get(`/record/${PERSON_ID}/sources`, far);
      assert.equal(after.statusCode, 403);
      assert.equal(after.headers[BREAK_GLASS_EXPIRES_HEADER.toLowerCase()], undefined);

      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
