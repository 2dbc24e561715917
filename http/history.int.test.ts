/**
 * Versions over HTTP on PGlite and PostgreSQL (app.inject): vread, instance history with paging
 * and _since, ETag and conditional reads, refusals audited, read of every stored R4 type (Claim,
 * Provenance stored through the FHIR ingest) and $everything paged to the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, CapabilityStatement, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { verifyAuditChain } from '../access/audit.ts';
import type { Database } from '../db/database.ts';
import { itemsFromFhirJson } from '../ingest/fhir/bundle.ts';
import { R4_RESOURCE_TYPES } from '../ingest/fhir/r4.ts';
import { writeBatch } from '../ingest/writer.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { GP, insertFixtures, PERSON_ID } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

async function ingest(db: Database, resource: Record<string, unknown>) {
  const raw = JSON.stringify(resource);
  const r = await writeBatch(db, itemsFromFhirJson(resource, { contentHash: createHash('sha256').update(raw).digest('hex'), raw, origin: 'test' }, { source: GP }));
  assert.deepEqual(r.outcomes, ['committed']);
}
const bp = (value: number): Record<string, unknown> => ({ resourceType: 'Observation', id: 'bp-1', status: 'final', code: { text: 'Systolic blood pressure' }, subject: { reference: 'Patient/gp-pat-1' }, valueQuantity: { value, unit: 'mmHg' } });

for (const target of await testDatabases()) {
  test(`FHIR versions, history and $everything paging over HTTP on ${target.name}`, async (t) => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    t.after(async () => {
      await app?.close();
      await db.drop();
    });
    await insertFixtures(db);
    await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
    await addUser(db, { username: 'dr.far', role: 'gp', organisation: 'P99999' });
    for (const v of [120, 135, 128]) await ingest(db, bp(v));
    await ingest(db, { resourceType: 'Claim', id: 'cl-1', status: 'active', use: 'claim', type: { text: 'institutional' }, patient: { reference: 'Patient/gp-pat-1' }, created: '2025-09-01', provider: { display: 'Sale Moor Medical Centre' }, priority: { text: 'normal' }, insurance: [{ sequence: 1, focal: true, coverage: { display: 'NHS' } }] });
    await ingest(db, { resourceType: 'Provenance', id: 'prov-1', target: [{ reference: 'Patient/gp-pat-1' }], recorded: '2025-09-01T10:00:00Z', agent: [{ who: { display: 'GP system' } }] });
    await ingest(db, { resourceType: 'Organization', id: 'org-9', name: 'Trafford Home Care Ltd' });

    app = Fastify({ logger: false });
    await registerOpenApi(app);
    await app.register(bevanApi, { db, loginPerMinute: 5 });
    await app.ready();
    const a = app;
    const gp = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
    const far = `Bearer ${await issueToken(db, { user: 'dr.far', role: 'gp', organisation: 'P99999' })}`;
    const get = (url: string, auth = gp, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { authorization: auth, ...headers } });
    const path = (link: string) => {
      const u = new URL(link);
      return u.pathname + u.search;
    };
    const audits = async (where = 'true', params: unknown[] = []) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE ${where}`, params)).rows[0]!.n;
    const BP = fhirLogicalId(GP, 'Observation', 'bp-1');

    await t.test('read and vread carry versionId, lastUpdated, ETag and Last-Modified; conditional reads answer 304', async () => {
      const read = await get(`/fhir/Observation/${BP}`);
      assert.equal(read.statusCode, 200, read.body);
      const o = read.json() as Observation;
      assert.equal(o.meta!.versionId, '3');
      assert.equal(o.valueQuantity!.value, 128);
      assert.equal(read.headers.etag, 'W/"3"');
      assert.equal(read.headers['last-modified'], new Date(o.meta!.lastUpdated!).toUTCString());
      const v1 = await get(`/fhir/Observation/${BP}/_history/1`);
      assert.equal(v1.statusCode, 200, v1.body);
      const o1 = v1.json() as Observation;
      assert.deepEqual([o1.id, o1.meta!.versionId, o1.valueQuantity!.value], [BP, '1', 120]);
      assert.equal(o1.subject!.reference, `Patient/${PERSON_ID}`);
      assert.equal(v1.headers.etag, 'W/"1"');
      assert.ok(o1.meta!.lastUpdated! < o.meta!.lastUpdated!);
      assert.equal(((await get(`/fhir/Observation/${BP}/_history/3`)).json() as Observation).valueQuantity!.value, 128);
      for (const vid of ['4', '0', 'abc']) {
        const missing = await get(`/fhir/Observation/${BP}/_history/${vid}`);
        assert.equal(missing.statusCode, 404, vid);
        assert.equal((missing.json() as OperationOutcome).resourceType, 'OperationOutcome');
      }
      const before = await audits();
      const same = await get(`/fhir/Observation/${BP}`, gp, { 'if-none-match': 'W/"3"' });
      assert.equal(same.statusCode, 304);
      assert.equal(same.body, '');
      assert.equal(same.headers.etag, 'W/"3"');
      assert.equal(await audits(), before + 1, 'a conditional read is a read, audited');
      assert.equal((await get(`/fhir/Observation/${BP}`, gp, { 'if-none-match': 'W/"2"' })).statusCode, 200);
      assert.equal((await get(`/fhir/Observation/${BP}`, gp, { 'if-modified-since': read.headers['last-modified'] as string })).statusCode, 304);
      assert.equal((await get(`/fhir/Observation/${BP}`, gp, { 'if-modified-since': 'Thu, 01 Jan 2015 00:00:00 GMT' })).statusCode, 200);
    });

    await t.test('instance history: newest first, each entry as FHIR R4 says, _count paging walked to the end, _since', async () => {
      const h = await get(`/fhir/Observation/${BP}/_history`);
      assert.equal(h.statusCode, 200, h.body);
      const b = h.json() as Bundle;
      assert.equal(b.type, 'history');
      assert.equal(b.total, 3);
      assert.deepEqual(b.entry!.map((e) => e.resource!.meta!.versionId), ['3', '2', '1']);
      for (const e of b.entry!) {
        assert.equal(e.fullUrl, `http://localhost:80/fhir/Observation/${BP}`);
        assert.equal(e.response!.etag, `W/"${e.resource!.meta!.versionId}"`);
        assert.equal(e.response!.lastModified, e.resource!.meta!.lastUpdated);
      }
      assert.deepEqual(b.entry!.map((e) => [e.request!.method, e.request!.url, e.response!.status]), [
        ['PUT', `Observation/${BP}`, '200 OK'],
        ['PUT', `Observation/${BP}`, '200 OK'],
        ['POST', 'Observation', '201 Created'],
      ]);
      const before = await audits(`action = 'resource.history-instance'`);
      const seen: string[] = [];
      let next: string | undefined = `/fhir/Observation/${BP}/_history?_count=1`;
      let pages = 0;
      while (next) {
        const page = (await get(next)).json() as Bundle;
        pages++;
        assert.equal(page.total, 3);
        seen.push(...(page.entry ?? []).map((e) => e.resource!.meta!.versionId!));
        const n = page.link!.find((l) => l.relation === 'next');
        next = n ? path(n.url) : undefined;
        assert.ok(pages < 10);
      }
      assert.deepEqual(seen, ['3', '2', '1']);
      assert.equal(await audits(`action = 'resource.history-instance'`), before + pages);
      const v2 = b.entry![1]!.resource!.meta!.lastUpdated!;
      const since = (await get(`/fhir/Observation/${BP}/_history?_since=${encodeURIComponent(v2)}`)).json() as Bundle;
      assert.equal(since.total, 2);
      assert.deepEqual(since.entry!.map((e) => e.resource!.meta!.versionId), ['3', '2']);
      assert.equal(new URL(since.link![0]!.url).searchParams.get('_since'), new Date(v2).toISOString());
      const past = await get(`/fhir/Observation/${BP}/_history?_count=2&_offset=50`);
      assert.equal(past.statusCode, 200);
      assert.equal((past.json() as Bundle).entry, undefined);
    });

    await t.test('a user with no relationship gets 403 on vread and history, each with an audit deny row', async () => {
      for (const [url, action] of [
        [`/fhir/Observation/${BP}/_history/1`, 'resource.vread'],
        [`/fhir/Observation/${BP}/_history`, 'resource.history-instance'],
        [`/fhir/Observation/${BP}/_history/99`, 'resource.vread'],
      ] as const) {
        const before = await audits(`actor = 'dr.far' AND decision = 'deny' AND action = $1 AND person_id = $2`, [action, PERSON_ID]);
        const r = await get(url, far);
        assert.equal(r.statusCode, 403, url);
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /no legitimate relationship/);
        assert.equal(await audits(`actor = 'dr.far' AND decision = 'deny' AND action = $1 AND person_id = $2`, [action, PERSON_ID]), before + 1, url);
      }
    });

    await t.test('every stored R4 type: Claim and Provenance from the FHIR ingest, reference data for anyone signed in', async () => {
      const claimId = fhirLogicalId(GP, 'Claim', 'cl-1');
      const claim = await get(`/fhir/Claim/${claimId}`);
      assert.equal(claim.statusCode, 200, claim.body);
      assert.equal((claim.json() as { patient: { reference: string } }).patient.reference, `Patient/${PERSON_ID}`);
      assert.equal(claim.headers.etag, 'W/"1"');
      const ch = (await get(`/fhir/Claim/${claimId}/_history`)).json() as Bundle;
      assert.deepEqual(ch.entry!.map((e) => e.request!.method), ['POST']);
      assert.equal((await get(`/fhir/Claim/${claimId}/_history/1`)).statusCode, 200);
      assert.equal((await get(`/fhir/Claim/${claimId}`, far)).statusCode, 403);
      const prov = await get(`/fhir/Provenance/${fhirLogicalId(GP, 'Provenance', 'prov-1')}`);
      assert.equal(prov.statusCode, 200, prov.body);
      const orgId = fhirLogicalId(GP, 'Organization', 'org-9');
      const before = await audits(`actor = 'dr.far' AND decision = 'permit'`);
      assert.equal((await get(`/fhir/Organization/${orgId}`, far)).statusCode, 200);
      assert.equal((await get(`/fhir/Organization/${orgId}/_history/1`, far)).statusCode, 200);
      assert.equal(await audits(`actor = 'dr.far' AND decision = 'permit'`), before + 2);
      assert.equal((await get(`/fhir/NotAType/${orgId}`)).statusCode, 400);
      assert.equal((await get(`/fhir/NotAType/${orgId}/_history`)).statusCode, 400);

      const cap = (await get('/fhir/metadata')).json() as CapabilityStatement;
      const resources = cap.rest![0]!.resource!;
      assert.equal(new Set(resources.map((r) => r.type)).size, resources.length, 'each type once');
      assert.deepEqual(new Set(resources.map((r) => r.type)), new Set(R4_RESOURCE_TYPES), 'every R4 type Bevan stores');
      const codes = (type: string) => resources.find((r) => r.type === type)!.interaction!.map((i) => i.code);
      assert.deepEqual(codes('Claim'), ['read', 'vread', 'history-instance']);
      assert.deepEqual(codes('Provenance'), ['read', 'vread', 'history-instance']);
      assert.deepEqual(codes('Patient'), ['read', 'vread', 'history-instance', 'search-type']);
      assert.equal(resources.find((r) => r.type === 'Claim')!.versioning, 'versioned');
    });

    await t.test('the merged Patient: a computed versionId, ETag, vread of that version, history of one', async () => {
      const r = await get(`/fhir/Patient/${PERSON_ID}`);
      const p = r.json() as Patient;
      assert.match(p.meta!.versionId!, /^[0-9a-f]{16}$/);
      assert.equal(r.headers.etag, `W/"${p.meta!.versionId}"`);
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/_history/${p.meta!.versionId}`)).statusCode, 200);
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/_history/1`)).statusCode, 404);
      const h = (await get(`/fhir/Patient/${PERSON_ID}/_history`)).json() as Bundle;
      assert.equal(h.total, 1);
      assert.equal(h.entry![0]!.resource!.meta!.versionId, p.meta!.versionId);
      assert.equal((await get(`/fhir/Patient/${PERSON_ID}/_history`, far)).statusCode, 403);
    });

    await t.test('$everything: _count paging walked to the end, every resource once, one audit entry per page', async () => {
      const whole = (await get(`/fhir/Patient/${PERSON_ID}/$everything`)).json() as Bundle;
      const all = whole.entry!.map((e) => e.fullUrl!);
      assert.equal(whole.total, all.length);
      assert.equal(new Set(all).size, all.length);
      assert.ok(all.includes(`http://localhost:80/fhir/Claim/${fhirLogicalId(GP, 'Claim', 'cl-1')}`));
      const before = await audits(`action = 'record.everything' AND actor = 'dr.jones'`);
      const seen: string[] = [];
      let next: string | undefined = `/fhir/Patient/${PERSON_ID}/$everything?_count=4`;
      let pages = 0;
      while (next) {
        const res = await get(next);
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json() as Bundle;
        pages++;
        assert.equal(page.total, whole.total);
        assert.ok((page.entry?.length ?? 0) <= 4);
        if (pages === 1) assert.equal(page.entry![0]!.resource!.resourceType, 'Patient', 'the Patient on the first page');
        else assert.ok(!page.entry!.some((e) => e.resource!.resourceType === 'Patient'));
        seen.push(...page.entry!.map((e) => e.fullUrl!));
        assert.ok(page.link!.some((l) => l.relation === 'self'));
        if (pages > 1) assert.ok(page.link!.some((l) => l.relation === 'previous'));
        const n = page.link!.find((l) => l.relation === 'next');
        next = n ? path(n.url) : undefined;
        assert.ok(pages < 50);
      }
      assert.equal(pages, Math.ceil(all.length / 4));
      assert.deepEqual(seen.sort(), [...all].sort(), 'every resource seen once');
      assert.equal(await audits(`action = 'record.everything' AND actor = 'dr.jones'`), before + pages, 'one audited access per page');
      // Paging past the end: an empty page with the total, not an error.
      const past = await get(`/fhir/Patient/${PERSON_ID}/$everything?_count=4&_offset=400`);
      assert.equal(past.statusCode, 200);
      assert.equal((past.json() as Bundle).entry, undefined);
      assert.equal((past.json() as Bundle).total, whole.total);
      // _type and _since stay in the links.
      const enc = (await get(`/fhir/Patient/${PERSON_ID}/$everything?_type=Encounter&_count=2`)).json() as Bundle;
      assert.equal(enc.total, 6);
      const encNext = new URL(enc.link!.find((l) => l.relation === 'next')!.url);
      assert.equal(encNext.searchParams.get('_type'), 'Encounter');
      const bpAt = ((await get(`/fhir/Observation/${BP}`)).json() as Observation).meta!.lastUpdated!;
      const recent = (await get(`/fhir/Patient/${PERSON_ID}/$everything?_since=${encodeURIComponent(bpAt)}`)).json() as Bundle;
      assert.ok(recent.entry!.slice(1).every((e) => e.resource!.meta!.lastUpdated! >= bpAt));
      assert.ok(recent.entry!.some((e) => e.resource!.id === BP));
      assert.ok(recent.total! < whole.total!);
    });

    await t.test('bad _count or _since: 400 with an OperationOutcome', async () => {
      for (const url of [
        `/fhir/Patient/${PERSON_ID}/$everything?_count=-1`,
        `/fhir/Patient/${PERSON_ID}/$everything?_count=ten`,
        `/fhir/Patient/${PERSON_ID}/$everything?_since=yesterday`,
        `/fhir/Patient/${PERSON_ID}/$everything?_offset=-4`,
        `/fhir/Observation/${BP}/_history?_count=1.5`,
        `/fhir/Observation/${BP}/_history?_since=2025-10-01T09:00:00`,
        `/fhir/Observation/${BP}/_history?_since=%27%20OR%201%3D1`,
      ]) {
        const r = await get(url);
        assert.equal(r.statusCode, 400, url);
        assert.equal((r.json() as OperationOutcome).resourceType, 'OperationOutcome', url);
      }
      assert.equal((await get(`/fhir/Observation/${BP}/_history?_sort=x`, gp, { prefer: 'handling=strict' })).statusCode, 400);
      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    });
  });
}
