import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Bundle, CapabilityStatement, Resource } from '@medplum/fhirtypes';
import { addBackendClient, disableBackendClient } from '../access/backend-clients.ts';
import { pseudonymFor } from '../access/pseudonymise.ts';
import { pseudonymKey } from '../analytics/cohorts/pseudonym.ts';
import type { Database } from '../db/database.ts';
import { A, B, C, insertPeople } from '../fhir/bulk-export/test-fixtures.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { GP, insertResource } from '../record/test-fixtures.ts';
import { scopeQueryProblem } from '../fhir/scope-narrowing.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

const TOKEN_URL = 'http://localhost:80/auth/token';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function buildApp(db: Database): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await registerOpenApi(app);
  await app.register(bevanApi, { db, bulkExport: { worker: { pollMs: 20 } } });
  await app.ready();
  return app;
}

interface Key {
  privateKey: CryptoKey;
  jwk: JWK;
}
async function key(alg: 'RS384' | 'ES384', kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** A client assertion as SMART backend services asks for; `over` bends one part of it. */
async function assertion(k: Key, alg: string, claims: { iss?: string; sub?: string; aud?: string; exp?: number; jti?: string }, kid = k.jwk.kid!): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg, kid, typ: 'JWT' }).setIssuer(claims.iss ?? 'warehouse').setSubject(claims.sub ?? claims.iss ?? 'warehouse').setAudience(claims.aud ?? TOKEN_URL).setExpirationTime(claims.exp ?? now + 240).setJti(claims.jti ?? randomUUID());
  return jwt.sign(k.privateKey);
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}
const tokenRequest = (clientAssertion: string, scope = 'system/*.read') =>
  form({ grant_type: 'client_credentials', scope, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: clientAssertion });

for (const target of await testDatabases()) {
  test(`SMART backend services on ${target.name}: discovery, private_key_jwt token, scopes narrow reads and exports, refusals`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    const jwksServer = createServer();
    try {
      await insertPeople(db);
      const rsa = await key('RS384', 'wh-1');
      const ec = await key('ES384', 'gp-1');
      const stranger = await key('RS384', 'wh-1'); // same kid, another key
      await addBackendClient(db, { clientId: 'warehouse', role: 'analyst', jwks: { keys: [rsa.jwk] }, scope: 'system/*.read' });
      // A practice's tool, keys published at a URL (served here on loopback), allowed Patient and Observation only.
      jwksServer.on('request', (_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [ec.jwk] })));
      await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
      const port = (jwksServer.address() as { port: number }).port;
      await addBackendClient(db, { clientId: 'practice-tool', role: 'gp', organisation: 'P91001', jwksUrl: `http://127.0.0.1:${port}/jwks.json`, scope: 'system/Patient.rs system/Observation.rs' });

      // Registration refuses what could never work.
      await assert.rejects(addBackendClient(db, { clientId: 'bad', role: 'analyst', jwks: { keys: [{ ...rsa.jwk, d: 'secret' }] } }), /private or secret/);
      await assert.rejects(addBackendClient(db, { clientId: 'bad', role: 'patient', jwks: { keys: [rsa.jwk] } }), /never as a patient/);
      await assert.rejects(addBackendClient(db, { clientId: 'bad', role: 'analyst', jwks: { keys: [rsa.jwk] }, scope: 'system/Nonsense.read' }), /not a FHIR R4 resource type/);
      await assert.rejects(addBackendClient(db, { clientId: 'warehouse', role: 'analyst', jwks: { keys: [rsa.jwk] } }), /already exists/);

      app = await buildApp(db);
      const a = app;
      const token = (payload: string) => a.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload });

      // Discovery, and the CapabilityStatement says so.
      const conf = (await a.inject({ method: 'GET', url: '/.well-known/smart-configuration' })).json() as Record<string, unknown>;
      assert.equal(conf.token_endpoint, TOKEN_URL);
      assert.deepEqual(conf.grant_types_supported, ['client_credentials']);
      assert.ok((conf.token_endpoint_auth_signing_alg_values_supported as string[]).includes('RS384') && (conf.token_endpoint_auth_signing_alg_values_supported as string[]).includes('ES384'));
      const cs = (await a.inject({ method: 'GET', url: '/fhir/metadata' })).json() as CapabilityStatement;
      assert.ok(cs.rest![0]!.security!.service!.some((s) => s.coding![0]!.code === 'SMART-on-FHIR'));

      // A good assertion: a five-minute bearer token for the granted scopes.
      const ok = await token(tokenRequest(await assertion(rsa, 'RS384', {}), 'system/*.read openid'));
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.headers['cache-control'], 'no-store');
      const granted = ok.json() as { access_token: string; token_type: string; expires_in: number; scope: string };
      assert.equal(granted.token_type, 'bearer');
      assert.equal(granted.expires_in, 300);
      assert.equal(granted.scope, 'system/*.read');
      const warehouse = `Bearer ${granted.access_token}`;

      // Refusals, each an RFC 6749 error naming the problem.
      const refused = async (payload: string, error: string, status: number, why: RegExp) => {
        const r = await token(payload);
        assert.equal(r.statusCode, status, r.body);
        const body = r.json() as { error: string; error_description: string };
        assert.equal(body.error, error, r.body);
        assert.match(body.error_description, why);
      };
      const used = await assertion(rsa, 'RS384', {});
      assert.equal((await token(tokenRequest(used))).statusCode, 200);
      await refused(tokenRequest(used), 'invalid_client', 401, /used before/);
      await refused(tokenRequest(await assertion(stranger, 'RS384', {})), 'invalid_client', 401, /signature verification failed/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', { aud: 'https://elsewhere.example/token' })), 'invalid_client', 401, /aud/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', { exp: Math.floor(Date.now() / 1000) + 3600 })), 'invalid_client', 401, /more than 5 minutes/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', { exp: Math.floor(Date.now() / 1000) - 120 })), 'invalid_client', 401, /expired/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', { iss: 'warehouse', sub: 'someone-else' })), 'invalid_client', 401, /iss and sub/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', { iss: 'nobody' })), 'invalid_client', 401, /no backend client/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', {}, 'other-kid')), 'invalid_client', 401, /no registered key has kid/);
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'wh-1' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'warehouse', sub: 'warehouse', aud: TOKEN_URL, exp: Math.floor(Date.now() / 1000) + 60, jti: 'x' })).toString('base64url')}.`;
      await refused(tokenRequest(unsigned), 'invalid_client', 401, /alg "none" is not accepted/);
      await refused(tokenRequest('not-a-jwt'), 'invalid_client', 401, /not a JWT/);
      await refused(form({ grant_type: 'password', username: 'x', password: 'y' }), 'unsupported_grant_type', 400, /client_credentials/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', {}), 'system/Observation.rs?nonsense=1'), 'invalid_scope', 400, /nonsense is not a supported Observation search parameter/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', {}), 'system/Observation.rs?encounter=Encounter/1'), 'invalid_scope', 400, /reference parameter\) cannot narrow a scope/);
      await refused(tokenRequest(await assertion(rsa, 'RS384', {}), 'system/Patient.write'), 'invalid_scope', 400, /read access only/);
      const asJson = await a.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ grant_type: 'client_credentials' }) });
      assert.equal(asJson.statusCode, 400);
      assert.equal((asJson.json() as { error: string }).error, 'invalid_request');

      // The warehouse (analyst, secondary use) exports as an analyst would: pseudonymised.
      const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };
      const exportAll = async (url: string, who: string) => {
        const k = await a.inject({ method: 'GET', url, headers: { authorization: who, ...ASYNC } });
        assert.equal(k.statusCode, 202, k.body);
        const status = new URL(k.headers['content-location'] as string).pathname;
        for (let i = 0; i < 500; i++) {
          const s = await a.inject({ method: 'GET', url: status, headers: { authorization: who } });
          if (s.statusCode !== 202) return s;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error('the export did not finish');
      };
      const done = await exportAll('/fhir/$export?_type=Patient', warehouse);
      assert.equal(done.statusCode, 200, done.body);
      const manifest = done.json() as { output: { type: string; url: string }[] };
      assert.ok(manifest.output.length && manifest.output.every((o) => o.type === 'Patient'), 'only the type asked for');
      const ids: string[] = [];
      for (const o of manifest.output) {
        const file = await a.inject({ method: 'GET', url: new URL(o.url).pathname, headers: { authorization: warehouse } });
        assert.equal(file.statusCode, 200, file.body);
        ids.push(...file.body.trim().split('\n').map((l) => (JSON.parse(l) as Resource).id!));
      }
      ids.sort();
      const pseudonym = pseudonymFor(await pseudonymKey(db));
      assert.deepEqual(ids, [A, B, C].map(pseudonym).sort(), 'the analyst policy: pseudonymised, opted-out and restricted people left out');
      const audited = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = 'client:warehouse' AND action = 'record.export' AND decision = 'permit'`);
      assert.equal(audited.rows[0]!.n, 3, 'each exported person audited under the client');
      // A backend client reads the FHIR API only.
      assert.equal((await a.inject({ method: 'GET', url: '/analytics/dashboard/panels', headers: { authorization: warehouse } })).statusCode, 403);

      // The practice tool: ES384 assertion checked against keys fetched from its jwks_url; it may be granted Patient and Observation only.
      const toolAssertion = async () => {
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid: 'gp-1' }).setIssuer('practice-tool').setSubject('practice-tool').setAudience(TOKEN_URL).setExpirationTime(now + 120).setJti(randomUUID()).sign(ec.privateKey);
      };
      await refused(tokenRequest(await toolAssertion(), 'system/Encounter.read'), 'invalid_scope', 400, /none of the scopes/);
      const toolToken = await token(tokenRequest(await toolAssertion(), 'system/*.rs'));
      assert.equal(toolToken.statusCode, 200, toolToken.body);
      assert.equal((toolToken.json() as { scope: string }).scope, 'system/Patient.rs system/Observation.rs', 'a wildcard is granted what the client was registered for');
      const narrowed = await token(tokenRequest(await toolAssertion(), 'system/Patient.rs system/Observation.rs system/Encounter.rs'));
      assert.equal(narrowed.statusCode, 200, narrowed.body);
      assert.equal((narrowed.json() as { scope: string }).scope, 'system/Patient.rs system/Observation.rs');
      const tool = `Bearer ${(narrowed.json() as { access_token: string }).access_token}`;
      // As a GP at P91001 with the registered-practice relationship: A's Patient and Observations; no Encounter.
      const pat = await a.inject({ method: 'GET', url: `/fhir/Patient/${A}`, headers: { authorization: tool } });
      assert.equal(pat.statusCode, 200, pat.body);
      const enc = await a.inject({ method: 'GET', url: `/fhir/Encounter?patient=${A}`, headers: { authorization: tool } });
      assert.equal(enc.statusCode, 403, enc.body);
      assert.match(enc.body, /do not include Encounter/);
      const everything = await a.inject({ method: 'GET', url: `/fhir/Patient/${A}/$everything`, headers: { authorization: tool } });
      assert.equal(everything.statusCode, 200, everything.body);
      const types = new Set((everything.json() as Bundle).entry!.map((e) => e.resource!.resourceType));
      assert.ok([...types].every((t) => t === 'Patient' || t === 'Observation'), `$everything narrowed to the scopes: ${[...types].join(',')}`);
      const everythingEnc = await a.inject({ method: 'GET', url: `/fhir/Patient/${A}/$everything?_type=Encounter`, headers: { authorization: tool } });
      assert.equal(everythingEnc.statusCode, 403);
      const exportEnc = await a.inject({ method: 'GET', url: '/fhir/Group/P91001/$export?_type=Encounter', headers: { authorization: tool, ...ASYNC } });
      assert.equal(exportEnc.statusCode, 403, exportEnc.body);

      // A disabled client gets no new token.
      await disableBackendClient(db, 'practice-tool');
      await refused(tokenRequest(await toolAssertion(), 'system/Patient.rs'), 'invalid_client', 401, /disabled/);
    } finally {
      await app?.close();
      await new Promise((r) => jwksServer.close(r));
      await db.close();
    }
  });
}

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LAB_SCOPE = `system/Observation.rs?category=${CATEGORY}|laboratory`;

/** Observations of person A in two categories, a report naming both, and one relabelled from vital signs to laboratory (history). */
async function insertCategorised(db: Database): Promise<{ lab: string; vitals: string; relabelled: string; report: string }> {
  const row = (resource: Resource & { id: string }) => ({ source_system: GP, resource_type: resource.resourceType, source_id: resource.id, person_id: A, subject_id: 'gp-pat-1', version: 1, source_time: null, received_at: '2025-10-02T09:00:00.000Z', content: resource });
  const obs = (id: string, category: string, text: string) =>
    ({ resourceType: 'Observation', id, status: 'final', subject: { reference: 'Patient/gp-pat-1' }, category: [{ coding: [{ system: CATEGORY, code: category }] }], code: { text }, effectiveDateTime: '2025-09-01' }) as Resource & { id: string };
  await insertResource(db, row(obs('obs-lab', 'laboratory', 'serum potassium')));
  await insertResource(db, row(obs('obs-vitals', 'vital-signs', 'blood pressure')));
  await insertResource(db, row(obs('obs-relabelled', 'vital-signs', 'pulse oximetry')));
  await insertResource(db, row({ resourceType: 'DiagnosticReport', id: 'dr-1', status: 'final', subject: { reference: 'Patient/gp-pat-1' }, code: { text: 'clinic results' }, effectiveDateTime: '2025-09-01', result: [{ reference: 'Observation/obs-lab' }, { reference: 'Observation/obs-vitals' }] } as Resource & { id: string }));
  // A second version: now laboratory; the first (vital signs) is kept in resource_history.
  const relabelled = obs('obs-relabelled', 'laboratory', 'pulse oximetry');
  await db.query(`UPDATE resource SET content = $1::jsonb, content_hash = 'h-relabelled-2', version = 2 WHERE source_system = $2 AND resource_type = 'Observation' AND source_id = 'obs-relabelled'`, [JSON.stringify(relabelled), GP]);
  const id = (type: string, sourceId: string) => fhirLogicalId(GP, type, sourceId);
  return { lab: id('Observation', 'obs-lab'), vitals: id('Observation', 'obs-vitals'), relabelled: id('Observation', 'obs-relabelled'), report: id('DiagnosticReport', 'dr-1') };
}

for (const target of await testDatabases()) {
  test(`SMART scopes narrowed by a query on ${target.name}: a laboratory token sees no vital-signs Observation on any path`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertPeople(db);
      const ids = await insertCategorised(db);
      const ec = await key('ES384', 'lab-1');
      // A results tool at A's practice: Patients, reports, and laboratory Observations only.
      await addBackendClient(db, { clientId: 'lab-tool', role: 'gp', organisation: 'P91001', jwks: { keys: [ec.jwk] }, scope: `system/Patient.rs system/DiagnosticReport.rs ${LAB_SCOPE}` }, { checkQuery: scopeQueryProblem });
      // Without the server's check a narrowed registration is refused, as before.
      await assert.rejects(addBackendClient(db, { clientId: 'other', role: 'gp', jwks: { keys: [ec.jwk] }, scope: LAB_SCOPE }), /narrowed by a query are not granted here/);
      app = await buildApp(db);
      const a = app;
      const signed = async () => {
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid: 'lab-1' }).setIssuer('lab-tool').setSubject('lab-tool').setAudience(TOKEN_URL).setExpirationTime(now + 120).setJti(randomUUID()).sign(ec.privateKey);
      };
      const token = async (scope: string) => a.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: tokenRequest(await signed(), scope) });

      // The whole type asked for: granted the registered narrowing, and the response says so.
      const wide = await token('system/*.rs');
      assert.equal(wide.statusCode, 200, wide.body);
      assert.equal((wide.json() as { scope: string }).scope, `system/Patient.rs system/DiagnosticReport.rs ${LAB_SCOPE}`);
      const asked = await token(`system/Patient.rs system/DiagnosticReport.rs ${LAB_SCOPE}`);
      assert.equal((asked.json() as { scope: string }).scope, `system/Patient.rs system/DiagnosticReport.rs ${LAB_SCOPE}`, 'a narrowed scope is granted as asked');
      const other = await token('system/Observation.rs?code=4548-4');
      assert.equal(other.statusCode, 400, 'another narrowing is not within the registered one');
      const auth = { authorization: `Bearer ${(wide.json() as { access_token: string }).access_token}` };
      const get = (url: string) => a.inject({ method: 'GET', url, headers: auth });
      const ofType = (b: Bundle, type: string) => (b.entry ?? []).map((e) => e.resource!).filter((r) => r.resourceType === type).map((r) => r.id);

      // read, vread, history.
      assert.equal((await get(`/fhir/Observation/${ids.lab}`)).statusCode, 200);
      const vitals = await get(`/fhir/Observation/${ids.vitals}`);
      assert.equal(vitals.statusCode, 403, vitals.body);
      assert.match(vitals.body, /outside this token's scopes/);
      assert.equal((await get(`/fhir/Observation/${ids.vitals}/_history/1`)).statusCode, 403);
      assert.equal((await get(`/fhir/Observation/${ids.vitals}/_history`)).statusCode, 403);
      assert.equal((await get(`/fhir/Observation/${ids.relabelled}/_history/2`)).statusCode, 200);
      assert.equal((await get(`/fhir/Observation/${ids.relabelled}/_history/1`)).statusCode, 403, 'the version filed under vital signs');
      const history = (await get(`/fhir/Observation/${ids.relabelled}/_history`)).json() as Bundle;
      assert.deepEqual((history.entry ?? []).map((e) => e.resource!.meta?.versionId), ['2'], 'history lists the laboratory version only');
      assert.equal(history.total, 1);

      // search, with _include and _revinclude.
      const search = (await get(`/fhir/Observation?patient=${A}`)).json() as Bundle;
      assert.deepEqual(ofType(search, 'Observation').sort(), [ids.lab, ids.relabelled].sort());
      assert.equal(((await get(`/fhir/Observation?patient=${A}&category=vital-signs`)).json() as Bundle).total, 0);
      const reports = (await get(`/fhir/DiagnosticReport?patient=${A}&_include=DiagnosticReport:result`)).json() as Bundle;
      assert.ok(ofType(reports, 'DiagnosticReport').includes(ids.report));
      assert.deepEqual(ofType(reports, 'Observation'), [ids.lab], '_include brings the laboratory result only');
      const revinclude = (await get(`/fhir/Patient?_id=${A}&_revinclude=Observation:patient`)).json() as Bundle;
      assert.ok(ofType(revinclude, 'Observation').length > 0, JSON.stringify(revinclude).slice(0, 300));
      assert.ok(!ofType(revinclude, 'Observation').includes(ids.vitals), '_revinclude brings no vital signs');
      const has = (await get(`/fhir/Patient?_id=${A}&_has:Observation:patient:category=vital-signs`)).json() as Bundle;
      assert.equal(has.total, 0, '_has cannot find a person by an Observation the token may not see');

      // $everything: no vital signs, and no other type than the scopes name; a person's own request still sees them.
      const everything = (await get(`/fhir/Patient/${A}/$everything`)).json() as Bundle;
      const obsIds = ofType(everything, 'Observation');
      assert.ok(obsIds.includes(ids.lab) && !obsIds.includes(ids.vitals), `$everything: ${obsIds.join(',')}`);
      assert.ok((everything.entry ?? []).every((e) => ['Patient', 'DiagnosticReport', 'Observation', 'OperationOutcome'].includes(e.resource!.resourceType)));
      const again = (await get(`/fhir/Patient/${A}/$everything`)).json() as Bundle;
      assert.deepEqual(ofType(again, 'Observation'), obsIds, 'the same from the response cache');
      for (const e of everything.entry ?? []) {
        const r = e.resource as Resource & { category?: { coding?: { code?: string }[] }[] };
        if (r.resourceType === 'Observation') assert.ok(r.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory')), `${r.id} is a laboratory Observation`);
      }

      // $export: the Observation files hold laboratory results only.
      const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };
      const kick = await a.inject({ method: 'GET', url: '/fhir/Group/P91001/$export', headers: { ...auth, ...ASYNC } });
      assert.equal(kick.statusCode, 202, kick.body);
      const status = new URL(kick.headers['content-location'] as string).pathname;
      let done: Awaited<ReturnType<typeof get>> | undefined;
      for (let i = 0; i < 500 && !done; i++) {
        const s = await get(status);
        if (s.statusCode !== 202) done = s;
        else await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(done?.statusCode, 200, done?.body);
      const manifest = done!.json() as { output: { type: string; url: string }[] };
      const exported: Resource[] = [];
      for (const o of manifest.output) exported.push(...(await get(new URL(o.url).pathname)).body.trim().split('\n').map((l) => JSON.parse(l) as Resource));
      const exportedObs = exported.filter((r) => r.resourceType === 'Observation').map((r) => r.id!);
      assert.ok(exportedObs.includes(ids.lab) && !exportedObs.includes(ids.vitals), `exported: ${exportedObs.join(',')}`);
      assert.ok(exported.every((r) => ['Patient', 'DiagnosticReport', 'Observation'].includes(r.resourceType)), [...new Set(exported.map((r) => r.resourceType))].join(','));
      for (const r of exported.filter((x) => x.resourceType === 'Observation') as (Resource & { category?: { coding?: { code?: string }[] }[] })[]) {
        assert.ok(r.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory')), `${r.id} exported is a laboratory Observation`);
      }
    } finally {
      await app?.close();
      await db.close();
    }
  });
}
