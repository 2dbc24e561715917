import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { AUDIENCE, issueToken, ISSUER } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { verifyAuditChain } from '../access/audit.ts';
import type { Database } from '../db/database.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { HOSPITAL, insertFixtures, NHS, PERSON_ID } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

const PASSWORD = 'correct horse battery staple';

async function buildApp(db: Database, routes: { method: string; url: string; access?: string }[]) {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) routes.push({ method: m, url: r.url, access: (r.config as { access?: string } | undefined)?.access });
  });
  await registerOpenApi(app);
  await app.register(bevanApi, { db, loginPerMinute: 5 });
  await app.ready();
  return app;
}

async function audits(db: Database): Promise<number> {
  return (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n;
}

for (const target of await testDatabases()) {
  test(`HTTP API on ${target.name}: sign-in, FHIR reads and searches behind the policy, hostile input`, async () => {
    const db = await target.open();
    const routes: { method: string; url: string; access?: string }[] = [];
    let app: FastifyInstance | undefined;
    try {
      await insertFixtures(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001', password: PASSWORD });
      await addUser(db, { username: 'dr.far', role: 'gp', organisation: 'P99999' });
      await addUser(db, { username: 'jon', role: 'patient', nhsNumber: NHS });
      await addUser(db, { username: 'someone', role: 'patient', nhsNumber: '4010232137' });
      app = await buildApp(db, routes);
      const a = app;
      const bearer = async (user: string, role: 'gp' | 'patient', org: string | null, nhs?: string) => `Bearer ${await issueToken(db, { user, role, organisation: org, nhsNumber: nhs })}`;
      const gp = await bearer('dr.jones', 'gp', 'P91001');
      const far = await bearer('dr.far', 'gp', 'P99999');
      const get = (url: string, auth?: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { ...(auth ? { authorization: auth } : {}), ...headers } });
      const outcome = (body: string) => JSON.parse(body) as OperationOutcome;

      // The stable id in SQL is the one the bundles use.
      const sqlId = await db.query<{ id: string }>(`SELECT fhir_logical_id($1, 'Encounter', 'V1001') AS id`, [HOSPITAL]);
      assert.equal(sqlId.rows[0]!.id, fhirLogicalId(HOSPITAL, 'Encounter', 'V1001'));
      const odd = await db.query<{ id: string }>(`SELECT fhir_logical_id('gp:é|x', 'Observation', 'ä/1') AS id`);
      assert.equal(odd.rows[0]!.id, fhirLogicalId('gp:é|x', 'Observation', 'ä/1'));

      // Sign-in.
      const login = await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'dr.jones', password: PASSWORD } });
      assert.equal(login.statusCode, 200, login.body);
      const tok = login.json() as { access_token: string; token_type: string; expires_in: number };
      assert.equal(tok.token_type, 'Bearer');
      assert.equal(tok.expires_in, 3600);
      assert.equal((await get('/fhir/Patient?family=smith', `Bearer ${tok.access_token}`)).statusCode, 200);
      assert.equal((await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'dr.jones', password: 'wrong password!' } })).statusCode, 401);
      assert.equal((await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'dr.far', password: PASSWORD } })).statusCode, 401, 'no password set');
      const jwks = (await get('/.well-known/jwks.json')).json() as { keys: { kid: string; kty: string; d?: string }[] };
      assert.equal(jwks.keys[0]!.kty, 'EC');
      assert.equal(jwks.keys[0]!.d, undefined, 'no private part');
      // Rate-limited per user name (5 a minute in this app).
      const tries = [];
      for (let i = 0; i < 6; i++) tries.push((await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'dr.jones', password: `wrong ${i} password` }, remoteAddress: `10.0.0.${i + 1}` })).statusCode);
      assert.ok(tries.includes(429), `rate limited: ${tries}`);

      // Malformed, oversized, prototype-poisoned bodies: 400/413 with an OperationOutcome.
      const bad = await a.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username": "x", ', remoteAddress: '10.1.0.1' });
      assert.equal(bad.statusCode, 400);
      assert.equal(outcome(bad.body).resourceType, 'OperationOutcome');
      const proto = await a.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":"x","password":"y","__proto__":{"admin":true}}', remoteAddress: '10.1.0.2' });
      assert.equal(proto.statusCode, 400);
      const ctor = await a.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":"x","password":"y","constructor":{"prototype":{"a":1}}}', remoteAddress: '10.1.0.3' });
      assert.equal(ctor.statusCode, 400);
      const big = await a.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'x', password: 'y'.repeat(2 << 20) }), remoteAddress: '10.1.0.4' });
      assert.equal(big.statusCode, 413);
      // Without credentials the body is never read: 401, not 413.
      const unauthBig = await a.inject({ method: 'POST', url: '/fhir/Patient', headers: { 'content-type': 'application/fhir+json' }, payload: 'x'.repeat(2 << 20) });
      assert.equal(unauthBig.statusCode, 401);

      // Tokens: missing, forged (another key), alg none, expired, another issuer.
      assert.equal((await get('/fhir/Patient')).statusCode, 401);
      const other = await generateKeyPair('ES256');
      const forged = await new SignJWT({ role: 'gp', org: 'P91001' }).setProtectedHeader({ alg: 'ES256', kid: jwks.keys[0]!.kid }).setSubject('dr.jones').setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('1h').sign(other.privateKey);
      assert.equal((await get('/fhir/Patient', `Bearer ${forged}`)).statusCode, 401);
      const none = new UnsecuredJWT({ role: 'gp', org: 'P91001' }).setSubject('dr.jones').setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('1h').encode();
      assert.equal((await get('/fhir/Patient', `Bearer ${none}`)).statusCode, 401);
      const expired = await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, 60, new Date(Date.now() - 3_600_000));
      const exp = await get('/fhir/Patient', `Bearer ${expired}`);
      assert.equal(exp.statusCode, 401);
      assert.match(outcome(exp.body).issue[0]!.diagnostics!, /exp/);
      assert.equal((await get('/fhir/Patient', 'Bearer not.a.token')).statusCode, 401);
      assert.equal((await get('/fhir/Patient', `Basic ${Buffer.from('dr.jones:x').toString('base64')}`)).statusCode, 401);
      // Host header check.
      assert.equal((await get('/fhir/metadata', undefined, { host: 'attacker.example' })).statusCode, 421);

      // Metadata (public) and OpenAPI.
      const cap = (await get('/fhir/metadata')).json() as { resourceType: string; rest: { resource: { type: string }[] }[] };
      assert.equal(cap.resourceType, 'CapabilityStatement');
      assert.ok(cap.rest[0]!.resource.some((r) => r.type === 'Observation'));
      const openapi = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/auth/login']);

      // Patient search: the registered GP finds him; a GP elsewhere finds nobody.
      const byNhs = (await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS}`, gp)).json() as Bundle;
      assert.equal(byNhs.total, 1);
      assert.equal(byNhs.entry![0]!.resource!.id, PERSON_ID);
      assert.equal(((await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS}`, far)).json() as Bundle).total, 0);
      for (const q of ['family=SMI', 'given=jon', 'name=smyth', 'birthdate=1950-03-12', 'birthdate=1950', 'birthdate=ge1950-01-01&birthdate=le1950-12-31', 'gender=male', 'address-postalcode=M33', `_id=${PERSON_ID}`]) {
        const r = await get(`/fhir/Patient?${q}`, gp);
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        assert.equal((r.json() as Bundle).total, 1, q);
      }
      // String modifiers and the registered practice.
      for (const [q, n] of [
        ['family:exact=Smith', 1],
        ['family:exact=smith', 0],
        ['family:exact=Smit', 0],
        ['family:contains=myt', 1],
        ['family:contains=zzz', 0],
        ['given:exact=Jon', 1],
        ['given:exact=Jo', 0],
        ['name:contains=OHN', 1],
        ['name:exact=Smyth', 1],
        ['address-postalcode:contains=32A', 1],
        ['address-postalcode:exact=M33 2AB', 1],
        ['general-practitioner=P91001', 1],
        ['general-practitioner=Organization/P91001', 1],
        ['general-practitioner:identifier=https://fhir.nhs.uk/Id/ods-organization-code|P91001', 1],
        ['general-practitioner=P91999', 0],
        ['general-practitioner=Practitioner/P91001', 0],
        ['family:contains=%25', 0],
      ] as const) {
        const r = await get(`/fhir/Patient?${q}`, gp, { prefer: 'handling=strict' });
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        assert.equal((r.json() as Bundle).total, n, q);
      }
      assert.equal((await get('/fhir/Patient?general-practitioner:identifier=http://example.org|P91001', gp)).statusCode, 400);
      // An identifier by the system its source sent it with (not only NHS numbers and Bevan's source keys).
      await db.query(`UPDATE resource SET content = jsonb_set(content, '{identifier}', (content->'identifier') || '[{"system":"https://example.org/gp-mrn","value":"GPX-42"}]'::jsonb) WHERE resource_type = 'Patient' AND source_id = 'gp-pat-1'`);
      for (const [q, n] of [
        ['identifier=https://example.org/gp-mrn|GPX-42', 1],
        ['identifier=GPX-42', 1],
        ['identifier=https://example.org/other|GPX-42', 0],
        ['identifier=http://example.org/mrn|123', 0],
        ['identifier=https://example.org/gp-mrn|GPX-42,http://example.org/mrn|123', 1],
      ] as const) {
        const r = await get(`/fhir/Patient?${q}`, gp);
        assert.equal(r.statusCode, 200, `${q}: ${r.body}`);
        assert.equal((r.json() as Bundle).total, n, q);
      }
      assert.equal((await get('/fhir/Patient?birthdate:contains=1950', gp, { prefer: 'handling=strict' })).statusCode, 400);
      assert.equal(((await get('/fhir/Patient?birthdate=1951', gp)).json() as Bundle).total, 0);
      assert.equal(((await get('/fhir/Patient?gender=female', gp)).json() as Bundle).total, 0);
      // Injection in search parameters and _sort: no effect but no match / a reported parameter.
      for (const q of ["family=' OR 1=1 --", 'family=%25', 'name=_', "identifier=x'; DROP TABLE person; --", 'given=<script>alert(1)</script>']) {
        const r = await get(`/fhir/Patient?${q.replace(/ /g, '%20').replace(/;/g, '%3B')}`, gp);
        assert.equal(r.statusCode, 200, q);
        assert.equal((r.json() as Bundle).total, 0, q);
      }
      // A NUL in any parameter or body is a 400 naming where, never a database error (a 500).
      for (const q of ['Patient?family=%00', 'Patient?identifier=%00', 'Patient?identifier=http://x|a%00b', 'Patient?_id=%00', 'Patient?family:contains=%00', `Observation?patient=${PERSON_ID}&code=%00`, 'Observation?patient.identifier=%00', 'Patient?x%00y=1']) {
        const r = await get(`/fhir/${q}`, gp);
        assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
        assert.match(outcome(r.body).issue[0]!.diagnostics!, /NUL/, q);
      }
      const nulForm = await a.inject({ method: 'POST', url: '/fhir/Patient/_search', headers: { authorization: gp, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'family=a%00' });
      assert.equal(nulForm.statusCode, 400);
      const nulJson = await a.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":"dr.jones\u0000","password":"x"}', remoteAddress: '10.9.0.1' });
      assert.equal(nulJson.statusCode, 400, nulJson.body);
      // A sort the server does not offer (an injection included) is a 400 naming _sort (http/patient-sort.int.test.ts sorts).
      const sorted = await get('/fhir/Patient?family=smith&_sort=name%3BDROP%20TABLE%20person', gp);
      assert.equal(sorted.statusCode, 400);
      assert.match(outcome(sorted.body).issue[0]!.diagnostics!, /_sort/);
      const unknownParam = await get('/fhir/Patient?family=smith&colour=blue', gp);
      assert.equal(unknownParam.statusCode, 200);
      assert.equal((unknownParam.json() as Bundle).entry!.at(-1)!.search!.mode, 'outcome', 'unknown parameters are reported');
      const strict = await get('/fhir/Patient?family=smith&colour=blue', gp, { prefer: 'handling=strict' });
      assert.equal(strict.statusCode, 400);
      assert.match(outcome(strict.body).issue[0]!.diagnostics!, /colour/);
      assert.equal((await get('/fhir/Patient?birthdate=yesterday', gp)).statusCode, 400);
      assert.equal((await get('/fhir/Patient?_count=-1', gp)).statusCode, 400);
      // Paging past the end: an empty page, the right total, no next link.
      const past = (await get('/fhir/Patient?family=smith&_count=1&_offset=100', gp)).json() as Bundle;
      assert.equal(past.total, 1);
      assert.equal(past.entry?.length ?? 0, 0);
      assert.ok(!past.link!.some((l) => l.relation === 'next'));
      assert.ok(past.link!.some((l) => l.relation === 'previous'));
      const first = (await get('/fhir/Patient?family=smith&_count=1', gp)).json() as Bundle;
      assert.equal(first.entry!.length, 1);
      assert.ok(!first.link!.some((l) => l.relation === 'next'));

      // Read and $everything.
      const patient = await get(`/fhir/Patient/${PERSON_ID}`, gp);
      assert.equal(patient.statusCode, 200);
      assert.match(patient.headers['content-type'] as string, /application\/fhir\+json/);
      assert.equal((patient.json() as Patient).identifier![0]!.value, NHS);
      // Formats: JSON (any JSON type, */*, none) is served; XML only is a 406 with an OperationOutcome.
      for (const [h, q, status] of [
        [{ accept: 'application/fhir+json' }, '', 200],
        [{ accept: 'application/fhir+json; fhirVersion=4.0' }, '', 200],
        [{ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }, '', 200],
        [{}, '?_format=json', 200],
        [{}, '?_format=application/fhir%2Bjson', 200],
        [{}, '?_format=application/fhir+json', 200],
        [{ accept: 'application/fhir+xml' }, '', 406],
        [{}, '?_format=xml', 406],
      ] as const) {
        const r = await get(`/fhir/Patient/${PERSON_ID}${q}`, gp, h);
        assert.equal(r.statusCode, status, `${JSON.stringify(h)} ${q}`);
        if (status === 406) assert.equal(outcome(r.body).resourceType, 'OperationOutcome');
      }
      const farRead = await get(`/fhir/Patient/${PERSON_ID}`, far);
      assert.equal(farRead.statusCode, 403);
      assert.match(outcome(farRead.body).issue[0]!.diagnostics!, /no legitimate relationship/);
      const everything = (await get(`/fhir/Patient/${PERSON_ID}/$everything`, gp)).json() as Bundle;
      assert.equal(everything.entry!.filter((e) => e.resource!.resourceType === 'Patient').length, 1, 'one Patient for the person');
      for (const e of everything.entry!.slice(1)) assert.ok(e.resource!.meta!.source, 'each entry names its source system');
      const onlyEnc = (await get(`/fhir/Patient/${PERSON_ID}/$everything?_type=Encounter`, gp)).json() as Bundle;
      assert.ok(onlyEnc.entry!.slice(1).every((e) => e.resource!.resourceType === 'Encounter'));
      // Care dates (start/end): what the care happened in, not when Bevan received it.
      const obsIds = async (q: string) => ((await get(`/fhir/Patient/${PERSON_ID}/$everything?_type=Observation&${q}`, gp)).json() as Bundle).entry!.filter((e) => e.resource!.resourceType === 'Observation').map((e) => e.resource!.id);
      const o1 = fhirLogicalId('gp:P91001', 'Observation', 'o1');
      const o2 = fhirLogicalId('gp:P91001', 'Observation', 'o2');
      const in2025 = await obsIds('start=2025-01-01&end=2025-12-31');
      assert.ok(in2025.includes(o2) && !in2025.includes(o1), `2025: ${in2025}`);
      const march2024 = await obsIds('start=2024-03-01&end=2024-03-01');
      assert.ok(march2024.includes(o1) && !march2024.includes(o2));
      assert.ok((await obsIds('end=2024')).includes(o1));
      assert.ok(!(await obsIds('end=2024')).includes(o2));
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/$everything?start=soon`, gp)).statusCode, 400);
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/$everything?start=2026&end=2025`, gp)).statusCode, 400);
      const oddParam = (await get(`/fhir/Patient/${PERSON_ID}/$everything?foo=1`, gp)).json() as Bundle;
      assert.equal(oddParam.entry!.at(-1)!.search!.mode, 'outcome', 'an unknown parameter is reported');
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/$everything?foo=1`, gp, { prefer: 'handling=strict' })).statusCode, 400);
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/$everything?_since=soon`, gp)).statusCode, 400);
      // Every stored type by its stable id.
      const encId = fhirLogicalId(HOSPITAL, 'Encounter', 'V1001');
      const enc = await get(`/fhir/Encounter/${encId}`, gp);
      assert.equal(enc.statusCode, 200, enc.body);
      assert.equal((enc.json() as { id: string; subject: { reference: string } }).subject.reference, `Patient/${PERSON_ID}`);
      assert.equal((await get(`/fhir/Encounter/${encId}`, far)).statusCode, 403);
      assert.equal((await get(`/fhir/Observation/${encId}`, gp)).statusCode, 404);
      assert.equal((await get('/fhir/Observation/..%2F..%2Fetc%2Fpasswd', gp)).statusCode, 400);
      assert.equal((await get(`/fhir/Patient/not-a-person`, gp)).statusCode, 404);
      // A patient sees their own record only.
      const jon = await bearer('jon', 'patient', null, NHS);
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}`, jon)).statusCode, 200);
      const someone = await get(`/fhir/Patient/${PERSON_ID}`, await bearer('someone', 'patient', null, '4010232137'));
      assert.equal(someone.statusCode, 403);
      assert.match(outcome(someone.body).issue[0]!.diagnostics!, /only their own record/);
      assert.equal((await get('/fhir/Patient?family=smith', jon)).statusCode, 403, 'patients do not search');

      // Route inventory: every route is classified; every personal route decides and audits, for a permit and a deny alike.
      const unclassified = routes.filter((r) => r.method !== 'HEAD' && !r.access);
      assert.deepEqual(unclassified, [], 'every route says whether it reaches personal data');
      const personal = routes.filter((r) => r.access === 'personal' && r.method !== 'HEAD');
      assert.ok(personal.length >= 4);
      // The record page's sources (identity and feed freshness): sampled as /record/{PERSON_ID}/sources below.
      assert.ok(personal.some((r) => r.method === 'GET' && r.url === '/record/:personId/sources'), 'GET /record/:personId/sources is a personal route');
      // V1001 is at version 3 in the fixtures.
      const sample = (url: string) =>
        url
          .replace(':type', 'Encounter')
          .replace(':id', url.includes(':type') ? encId : url.startsWith('/quarantine') || url.startsWith('/mpi/') ? '1' : PERSON_ID)
          .replace(':vid', '3')
          .replace(':personId', PERSON_ID)
          .replace(':member', 'nurse.khan')
          .replace(':kind', 'dissent-sharing')
          .replace(':job', '5b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a56')
          .replace(':file', 'Patient.1.ndjson')
          .replace(':name', 'diabetes')
          .replace(':measure', 'diabetes-hba1c-75-care-plan') + (url === '/fhir/Patient' ? '?family=smith' : '');
      // An export file of nobody's export: 404, its denial audited (bulk-export.int.test.ts downloads real ones).
      // The risk model: 404 ("run bevan risk fit") in a store where none is fitted; the read is audited all the same.
      const allowed = (url: string) => (url.startsWith('/fhir/bulk-files/') ? [404] : url === '/analytics/risk/model' ? [200, 403, 404] : [200, 403]);
      const bodies: Record<string, unknown> = {
        '/care-team/:personId/members': { member: 'nurse.khan' },
        '/consent/:personId': { kind: 'dissent-sharing' },
        '/quarantine/:id/discard': { reason: 'a test message' },
        '/mpi/review/:id/decide': { decision: 'link' },
        '/analytics/ViewDefinition/$run': { resourceType: 'Parameters', parameter: [{ name: 'viewResource', resource: { resourceType: 'ViewDefinition', resource: 'Patient', select: [{ column: [{ name: 'id', path: 'getResourceKey()' }] }] } }] },
      };
      for (const r of personal) {
        for (const who of [gp, far]) {
          const before = await audits(db);
          const res = await a.inject({ method: r.method as 'GET', url: sample(r.url), headers: { authorization: who }, ...(r.method === 'POST' ? { payload: (bodies[r.url] ?? {}) as Record<string, unknown> } : {}) });
          assert.ok(allowed(r.url).includes(res.statusCode), `${r.method} ${r.url}: ${res.statusCode} ${res.body}`);
          assert.ok((await audits(db)) > before, `${r.method} ${r.url} wrote an audit entry (${res.statusCode})`);
        }
      }
      const denials = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = 'dr.far' AND decision = 'deny'`);
      assert.ok(denials.rows[0]!.n >= 3);
      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
