import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../access/audit.ts';
import type { Principal, Role } from '../access/context.ts';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { pseudonymFor, pseudonymiseResource } from '../access/pseudonymise.ts';
import { pseudonymKey } from '../analytics/cohorts/pseudonym.ts';
import type { Database } from '../db/database.ts';
import { A, B, C, CHLAMYDIA, D, E, insertPeople } from '../fhir/bulk-export/test-fixtures.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { GP } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

async function buildApp(db: Database, routes: { method: string; url: string }[] = []): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) routes.push({ method: m, url: r.url });
  });
  await registerOpenApi(app);
  // Small batches, pages, chunks and files, so that paging, chunking and file splitting all happen.
  await app.register(bevanApi, { db, bulkExport: { worker: { pollMs: 20, batchPeople: 2, pageRows: 3, chunkBytes: 600, maxFileResources: 4 } } });
  await app.ready();
  return app;
}

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
}

for (const target of await testDatabases()) {
  test(`Bulk Data $export on ${target.name}: kick-off, status, manifest, NDJSON files, access and audit, hostile file names, cancel`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertPeople(db);
      const users: [string, Role, string | null, string?][] = [
        ['ann', 'analyst', null], ['bob', 'analyst', null], ['root', 'admin', null], ['dr.jones', 'gp', 'P91001'], ['dr.far', 'gp', 'P91002'], ['jon', 'patient', null, '9434765919'],
      ];
      const bearer: Record<string, string> = {};
      for (const [username, role, organisation, nhsNumber] of users) {
        await addUser(db, { username, role, organisation, nhsNumber });
        const p: Principal = { user: username, role, organisation, nhsNumber: nhsNumber ?? null };
        bearer[username] = `Bearer ${await issueToken(db, p)}`;
      }
      app = await buildApp(db);
      const a = app;
      const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };
      const get = (url: string, who: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { authorization: bearer[who]!, ...headers } });
      const path = (url: string) => new URL(url).pathname + new URL(url).search;
      const auditCount = async (where: string, params: unknown[] = []) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE ${where}`, params)).rows[0]!.n;

      /** Kick-off, then poll the status URL until it is no longer 202; the final response. */
      const exportAll = async (url: string, who: string, init: { method?: 'GET' | 'POST'; payload?: unknown; headers?: Record<string, string> } = {}) => {
        const k = await a.inject({ method: init.method ?? 'GET', url, headers: { authorization: bearer[who]!, ...ASYNC, ...(init.payload ? { 'content-type': 'application/fhir+json' } : {}), ...init.headers }, ...(init.payload ? { payload: JSON.stringify(init.payload) } : {}) });
        assert.equal(k.statusCode, 202, `${url}: ${k.body}`);
        const location = k.headers['content-location'] as string;
        assert.match(location, /^http:\/\/localhost(:\d+)?\/fhir\/bulk-status\/[0-9a-f-]{36}$/);
        let sawProgress = false;
        for (let i = 0; i < 500; i++) {
          const s = await get(path(location), who);
          if (s.statusCode !== 202) return { status: s, location, sawProgress };
          assert.ok(s.headers['x-progress'], 'X-Progress while running');
          assert.ok(Number(s.headers['retry-after']) > 0, 'Retry-After while running');
          sawProgress = true;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`${url}: the export did not finish`);
      };
      /** Every file of a manifest, downloaded: resources by type, checked line by line. */
      const download = async (m: Manifest, who: string) => {
        const byType = new Map<string, Resource[]>();
        for (const o of m.output) {
          const f = await get(path(o.url), who, { accept: 'application/fhir+ndjson' });
          assert.equal(f.statusCode, 200, f.body);
          assert.match(f.headers['content-type'] as string, /^application\/fhir\+ndjson/);
          assert.ok(f.body.endsWith('\n'));
          const lines = f.body.split('\n').slice(0, -1);
          assert.equal(lines.length, o.count, `${o.url}: the manifest's count is the number of lines`);
          for (const line of lines) {
            const r = JSON.parse(line) as Resource;
            assert.equal(r.resourceType, o.type, `${o.url} holds only ${o.type}`);
            byType.set(o.type, [...(byType.get(o.type) ?? []), r]);
          }
        }
        return byType;
      };

      // 1. System level, analyst (secondary use): opted-out and restricted people are excluded, sensitive items withheld,
      //    and the rest pseudonymised (the analyst's policy has no identifiable secondary use).
      const sys = await exportAll('/fhir/$export', 'ann');
      assert.equal(sys.status.statusCode, 200, sys.status.body);
      const m = sys.status.json() as Manifest;
      assert.equal(m.requiresAccessToken, true);
      assert.equal(m.request, 'http://localhost:80/fhir/$export');
      assert.ok(!Number.isNaN(Date.parse(m.transactionTime)));
      assert.deepEqual(m.error, []);
      assert.ok(sys.status.headers.expires, 'Expires: when the files go');
      assert.ok(m.output.filter((o) => o.type === 'Encounter').length >= 2, 'files are split (4 resources a file here)');
      const all = await download(m, 'ann');
      const pseudonym = pseudonymFor(await pseudonymKey(db));
      const patients = all.get('Patient')!;
      assert.deepEqual(patients.map((p) => p.id).sort(), [A, B, C].map(pseudonym).sort(), 'one Patient per person, its id the keyed pseudonym; D (opt-out) and E (restricted) are not exported');
      const refs = [...all.values()].flat().map((r) => JSON.stringify(r));
      for (const who of [D, E]) assert.ok(!refs.some((s) => s.includes(who)), `nothing of ${who}`);
      for (const who of [A, B, C]) assert.ok(!refs.some((s) => s.includes(who)), `${who}: no person id leaves a pseudonymised export`);
      for (const direct of ['9434765919', '9434765870', '9434765889', 'Smith', 'SMITH', 'Smyth', 'gp-pat-1', 'MRN100', 'M332AB', '"telecom"', '"line"']) {
        assert.ok(!refs.some((s) => s.includes(direct)), `no direct identifier: ${direct}`);
      }
      assert.ok(!refs.some((s) => s.includes('gp-d') || s.includes('gp-e')));
      assert.ok(!refs.some((s) => s.includes(CHLAMYDIA)), 'sexual health withheld from secondary use');
      for (const [type, list] of all) {
        if (type === 'Patient') continue;
        for (const r of list) {
          assert.match(r.id!, /^[0-9a-f]{32}$/, 'stable ids');
          assert.ok(r.meta?.source, 'meta.source names the source system');
          const subject = (r as { subject?: { reference?: string }; patient?: { reference?: string } }).subject ?? (r as { patient?: { reference?: string } }).patient;
          if (subject?.reference) assert.ok(patients.some((p) => subject.reference === `Patient/${p.id}`), `${subject.reference}: references point at the pseudonymised Patient`);
        }
      }
      assert.deepEqual(all.get('Organization')!.map((o) => o.id), [fhirLogicalId(GP, 'Organization', 'org-1')], 'reference data at system level');
      const aPatient = patients.find((p) => p.id === pseudonym(A)) as unknown as Record<string, unknown> & { address?: Record<string, unknown>[]; birthDate?: string };
      for (const k of ['identifier', 'name', 'telecom', 'link', 'contact', 'text']) assert.equal(aPatient[k], undefined, `no ${k}`);
      assert.deepEqual(aPatient.address, [{ postalCode: 'M33' }], 'the postcode district only');
      assert.match(aPatient.birthDate ?? '', /^\d{4}-\d{2}$/, 'the birth year and month');
      // The same resources as the record presents them ($everything, for A's own GP), pseudonymised as views are.
      const everything = (await get(`/fhir/Patient/${A}/$everything`, 'dr.jones')).json() as Bundle;
      for (const e of everything.entry!.filter((x) => x.resource!.resourceType === 'Encounter')) {
        const exported = all.get('Encounter')!.find((r) => r.id === e.resource!.id);
        assert.deepEqual(exported, pseudonymiseResource(structuredClone(e.resource!), pseudonym), `Encounter ${e.resource!.id} as $everything shows it, pseudonymised`);
      }
      // Audit: the kick-off, each person exported or excluded, the completion, each download; the chain holds.
      const job = new URL(sys.location).pathname.split('/').pop()!;
      assert.equal(await auditCount(`action = 'export.kick-off' AND actor = 'ann' AND decision = 'permit'`), 1);
      assert.equal(await auditCount(`action = 'record.export' AND actor = 'ann' AND decision = 'permit' AND detail->>'job' = $1`, [job]), 3);
      assert.equal(await auditCount(`action = 'record.export' AND decision = 'deny' AND person_id = $1 AND reason LIKE '%opt-out%'`, [D]), 1);
      assert.equal(await auditCount(`action = 'record.export' AND decision = 'deny' AND person_id = $1 AND reason LIKE '%restricted%'`, [E]), 1);
      assert.equal(await auditCount(`action = 'export.complete' AND detail->>'job' = $1`, [job]), 1);
      assert.equal(await auditCount(`action = 'export.download' AND decision = 'permit' AND detail->>'job' = $1`, [job]), m.output.length);
      assert.equal(await auditCount(`action = 'record.export' AND decision = 'permit' AND detail->>'job' = $1 AND detail->>'pseudonymised' = 'true'`, [job]), 3, 'each person\'s entry says the export was pseudonymised');

      // 1b. The governance lead (admin: identifiable secondary use) exports people as the record shows them.
      const identified = await download((await exportAll('/fhir/$export?_type=Patient,Encounter', 'root')).status.json() as Manifest, 'root');
      assert.deepEqual(identified.get('Patient')!.map((p) => p.id).sort(), [A, B, C].sort());
      const aIdentified = identified.get('Patient')!.find((p) => p.id === A) as { identifier: { value: string }[]; link?: unknown[] };
      assert.ok(aIdentified.identifier.some((i) => i.value === '9434765919'));
      assert.ok(aIdentified.link?.length, 'linked to the source Patients');
      for (const e of everything.entry!.filter((x) => x.resource!.resourceType === 'Encounter')) {
        assert.deepEqual(identified.get('Encounter')!.find((r) => r.id === e.resource!.id), e.resource, `Encounter ${e.resource!.id} as $everything shows it`);
      }

      // 2. Hostile file names: never a path, always 400 or 404.
      for (const bad of [
        `/fhir/bulk-files/${job}/..%2f..%2fetc%2fpasswd`, `/fhir/bulk-files/${job}/%2e%2e%2f%2e%2e%2fetc%2fpasswd`, `/fhir/bulk-files/${job}/..%252f..%252fetc%252fpasswd`,
        `/fhir/bulk-files/${job}/%2Fetc%2Fpasswd`, `/fhir/bulk-files/${job}//etc/passwd`, `/fhir/bulk-files/${job}/..%5c..%5cwindows%5cwin.ini`, `/fhir/bulk-files/..%2f..%2f/Patient.1.ndjson`,
        `/fhir/bulk-files/${job}/Patient.1.ndjson%00.txt`, `/fhir/bulk-files/${job}/Patient.999.ndjson`, `/fhir/bulk-files/${job}/Observation.${m.output.find((o) => o.type === 'Patient')!.url.split('.').at(-2)}.ndjson`,
        `/fhir/bulk-files/${job}/Patient.0.ndjson`, `/fhir/bulk-files/${job}/..`, `/fhir/bulk-files/${job}/.`, `/fhir/bulk-files/${job}/Patient.1.ndjson/..`,
      ]) {
        const r = await get(bad, 'ann');
        assert.ok([400, 404].includes(r.statusCode), `${bad}: ${r.statusCode}`);
        assert.equal((JSON.parse(r.body) as OperationOutcome).resourceType, 'OperationOutcome', bad);
      }
      // Another user's token: not their export (status, files, cancel).
      assert.equal((await get(path(sys.location), 'bob')).statusCode, 404);
      assert.equal((await get(path(m.output[0]!.url), 'bob')).statusCode, 404);
      assert.equal((await a.inject({ method: 'DELETE', url: path(sys.location), headers: { authorization: bearer.bob! } })).statusCode, 404);
      assert.equal(await auditCount(`action = 'export.download' AND actor = 'bob' AND decision = 'deny'`), 1);
      // No token at all.
      assert.equal((await a.inject({ method: 'GET', url: path(m.output[0]!.url) })).statusCode, 401);

      // 3. _type and _since; _outputFormat short forms; POST with a Parameters body.
      const typed = (await exportAll('/fhir/$export?_type=Patient,Observation&_outputFormat=ndjson', 'ann')).status.json() as Manifest;
      assert.deepEqual([...new Set(typed.output.map((o) => o.type))].sort(), ['Observation', 'Patient']);
      const since = (await exportAll('/fhir/$export?_since=2025-10-15T00:00:00Z&_outputFormat=application%2Ffhir%2Bndjson', 'ann')).status.json() as Manifest;
      const sinceFiles = await download(since, 'ann');
      assert.deepEqual([...sinceFiles.keys()].sort(), ['Observation', 'Patient'], 'only what changed after _since');
      assert.deepEqual(sinceFiles.get('Patient')!.map((p) => p.id), [pseudonym(B)]);
      assert.deepEqual(sinceFiles.get('Observation')!.map((o) => o.id), [fhirLogicalId('gp:P91001', 'Observation', 'obs-b')]);
      const posted = (await exportAll('/fhir/Patient/$export', 'root', { method: 'POST', payload: { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, { name: '_type', valueString: 'Encounter' }] } })).status.json() as Manifest;
      assert.deepEqual([...new Set(posted.output.map((o) => o.type))].sort(), ['Encounter', 'Patient'], 'admin, Patient level, POST');
      // Patient level has no reference data.
      const patientLevel = (await exportAll('/fhir/Patient/$export', 'root')).status.json() as Manifest;
      assert.ok(!patientLevel.output.some((o) => o.type === 'Organization'));

      // 4. Bad kick-offs: an OperationOutcome each.
      const bad = async (url: string, headers: Record<string, string>, want: number, pattern: RegExp, who = 'ann') => {
        const r = await a.inject({ method: 'GET', url, headers: { authorization: bearer[who]!, ...headers } });
        assert.equal(r.statusCode, want, `${url}: ${r.body}`);
        const o = JSON.parse(r.body) as OperationOutcome;
        assert.equal(o.resourceType, 'OperationOutcome');
        assert.match(o.issue.map((i) => i.diagnostics).join(' '), pattern, url);
      };
      await bad('/fhir/$export', { accept: 'application/fhir+json' }, 400, /Prefer: respond-async/);
      await bad('/fhir/$export', { ...ASYNC, accept: 'text/html' }, 400, /Accept/);
      await bad('/fhir/$export?_outputFormat=text/csv', ASYNC, 400, /_outputFormat/);
      await bad('/fhir/$export?_type=Bogus', ASYNC, 400, /_type: Bogus/);
      await bad('/fhir/$export?_since=yesterday', ASYNC, 400, /_since/);
      await bad('/fhir/$export?_typeFilter=Observation%3F_sort%3Ddate', ASYNC, 400, /_sort cannot be used in a _typeFilter/);
      await bad('/fhir/$export?_elements=Nonsense.id', ASYNC, 400, /_elements: Nonsense/);
      await bad('/fhir/Group/NOSUCH/$export', ASYNC, 404, /Group\/NOSUCH is not known/);
      // Lenient: the unsupported parameter is ignored and said so in the manifest's error list.
      const lenient = (await exportAll('/fhir/$export?_type=Patient&_typeFilter=Patient%3Fgender%3Dmale', 'ann', { headers: { prefer: 'respond-async, handling=lenient' } })).status.json() as Manifest;
      assert.equal(lenient.error.length, 1);
      const note = await get(path(lenient.error[0]!.url), 'ann');
      assert.match(note.body, /ignored.*_typeFilter/);
      // _typeFilter: only the resources of a type that match one of its queries.
      const statuses = all.get('Encounter')!.map((e) => (e as { status?: string }).status);
      const finishedCount = statuses.filter((x) => x === 'finished').length;
      assert.ok(finishedCount > 0 && finishedCount < statuses.length, `the fixture has finished encounters and others: ${statuses.join(',')}`);
      const finished = (await exportAll(`/fhir/$export?_type=Encounter&_typeFilter=${encodeURIComponent('Encounter?status=finished')}`, 'ann')).status.json() as Manifest;
      assert.equal(finished.output.reduce((n, o) => n + o.count, 0), finishedCount, 'the finished encounters only');
      const planned = (await exportAll(`/fhir/$export?_type=Encounter&_typeFilter=${encodeURIComponent('Encounter?status=planned')}`, 'ann')).status.json() as Manifest;
      assert.deepEqual(planned.output, [], 'none planned');
      // patient: a POSTed list of Patient references narrows a Patient-level export to them; an unknown one is reported.
      const nobody = '9b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a59';
      const named = (await exportAll('/fhir/Patient/$export', 'ann', {
        method: 'POST',
        payload: { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, { name: 'patient', valueReference: { reference: `Patient/${B}` } }, { name: 'patient', valueReference: { reference: `Patient/${nobody}` } }] },
      })).status.json() as Manifest;
      assert.deepEqual((await download(named, 'ann')).get('Patient')!.map((x) => x.id), [pseudonym(B)], 'only the person named');
      assert.equal(named.error.length, 1);
      assert.match((await get(path(named.error[0]!.url), 'ann')).body, new RegExp(`Patient/${nobody} is not known`));
      // _elements: the encounters cut to status (and what R4 makes mandatory), tagged SUBSETTED.
      const cut = (await exportAll('/fhir/$export?_type=Encounter&_elements=Encounter.status', 'ann')).status.json() as Manifest;
      const cutEncounters = (await download(cut, 'ann')).get('Encounter')!;
      assert.equal(cutEncounters.length, statuses.length);
      for (const e of cutEncounters) {
        assert.deepEqual(Object.keys(e).filter((k) => !['resourceType', 'id', 'meta', 'status', 'class'].includes(k)), [], JSON.stringify(e));
        assert.ok(e.meta!.tag!.some((t) => t.code === 'SUBSETTED'));
      }

      // 5. Group: a GP exports their own practice (each person decided by registration); not another practice.
      const group = (await exportAll('/fhir/Group/P91001/$export', 'dr.jones')).status.json() as Manifest;
      const groupFiles = await download(group, 'dr.jones');
      assert.deepEqual(groupFiles.get('Patient')!.map((p) => p.id).sort(), [A, B].sort(), 'the practice\'s registered people; E is restricted');
      assert.ok([...groupFiles.values()].flat().some((r) => JSON.stringify(r).includes(CHLAMYDIA)), 'the registered GP sees the sexual-health item');
      // A person who dissents from sharing: their GP's export holds only the practice's own items (and links only its own Patient).
      await db.query(`INSERT INTO consent_directive (person_id, kind) VALUES ($1, 'dissent-sharing')`, [A]);
      const dissent = await download((await exportAll('/fhir/Group/P91001/$export', 'dr.jones')).status.json() as Manifest, 'dr.jones');
      const ofA = [...dissent.values()].flat().filter((r) => r.resourceType !== 'Patient' && JSON.stringify(r).includes(A));
      assert.ok(ofA.length > 0);
      assert.deepEqual([...new Set(ofA.map((r) => r.meta!.source))], [GP], 'only the practice\'s own items');
      const aLinks = (dissent.get('Patient')!.find((p) => p.id === A) as { link?: { other: { reference: string } }[] }).link ?? [];
      assert.deepEqual(aLinks.map((l) => l.other.reference), [`Patient/${fhirLogicalId(GP, 'Patient', 'gp-pat-1')}`]);
      await db.query(`DELETE FROM consent_directive WHERE person_id = $1 AND kind = 'dissent-sharing'`, [A]);
      const farKick = await a.inject({ method: 'GET', url: '/fhir/Group/P91001/$export', headers: { authorization: bearer['dr.far']!, ...ASYNC } });
      assert.equal(farKick.statusCode, 403);
      assert.match((farKick.json() as OperationOutcome).issue[0]!.diagnostics!, /only the group of their own organisation \(P91002\)/);
      assert.equal(await auditCount(`action = 'export.kick-off' AND actor = 'dr.far' AND decision = 'deny'`), 1);
      assert.equal((await a.inject({ method: 'GET', url: '/fhir/$export', headers: { authorization: bearer['dr.jones']!, ...ASYNC } })).statusCode, 403, 'a GP exports groups only');
      const groupRes = (await get('/fhir/Group/P91001', 'dr.far')).json() as { resourceType: string; id: string; quantity: number; member?: unknown };
      assert.equal(groupRes.resourceType, 'Group');
      assert.equal(groupRes.quantity, 3);
      assert.equal(groupRes.member, undefined, 'no member list');

      assert.equal((await get('/fhir/Group/NOSUCH', 'ann')).statusCode, 404);
      const cap = (await a.inject({ method: 'GET', url: '/fhir/metadata' })).json() as { instantiates: string[]; rest: { operation: { name: string }[]; resource: { type: string; operation?: { name: string }[] }[] }[] };
      assert.ok(cap.instantiates.includes('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'));
      assert.ok(cap.rest[0]!.operation.some((o) => o.name === 'export'));
      for (const t of ['Patient', 'Group']) assert.ok(cap.rest[0]!.resource.find((r) => r.type === t)?.operation?.some((o) => o.name === 'export'), t);
      // A POST whose body is not a Parameters resource.
      const notParams = await a.inject({ method: 'POST', url: '/fhir/$export', headers: { authorization: bearer.ann!, ...ASYNC, 'content-type': 'application/fhir+json' }, payload: JSON.stringify({ resourceType: 'Patient' }) });
      assert.equal(notParams.statusCode, 400);
      assert.match(notParams.body, /Parameters resource/);

      // 6. A patient may not export: 403 and an audit entry.
      const pat = await a.inject({ method: 'GET', url: '/fhir/Patient/$export', headers: { authorization: bearer.jon!, ...ASYNC } });
      assert.equal(pat.statusCode, 403);
      assert.equal((pat.json() as OperationOutcome).resourceType, 'OperationOutcome');
      assert.equal(await auditCount(`action = 'export.kick-off' AND actor = 'jon' AND decision = 'deny'`), 1);

      // 7. DELETE cancels: the job and its files are gone, its status is 404.
      const k = await a.inject({ method: 'GET', url: '/fhir/$export', headers: { authorization: bearer.ann!, ...ASYNC } });
      const loc = path(k.headers['content-location'] as string);
      const del = await a.inject({ method: 'DELETE', url: loc, headers: { authorization: bearer.ann! } });
      assert.equal(del.statusCode, 202);
      assert.equal((await get(loc, 'ann')).statusCode, 404);
      assert.equal((await a.inject({ method: 'DELETE', url: loc, headers: { authorization: bearer.ann! } })).statusCode, 404);
      const gone = loc.split('/').pop()!;
      assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_chunk WHERE job_id = $1`, [gone])).rows[0]!.n, 0);
      assert.equal(await auditCount(`action = 'export.cancel' AND detail->>'job' = $1`, [gone]), 1);
      // Completed jobs can be deleted too.
      assert.equal((await a.inject({ method: 'DELETE', url: path(sys.location), headers: { authorization: bearer.ann! } })).statusCode, 202);
      assert.equal((await get(path(m.output[0]!.url), 'ann')).statusCode, 404);

      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}

for (const target of await testDatabases()) {
  test(`Bulk Data $export on ${target.name}, two servers on one database: kicked off on one, run and polled on the other, downloaded from the first`, async () => {
    const db = await target.open();
    const apps: FastifyInstance[] = [];
    try {
      await insertPeople(db);
      await addUser(db, { username: 'ann', role: 'analyst' });
      const auth = `Bearer ${await issueToken(db, { user: 'ann', role: 'analyst', organisation: null })}`;
      for (const worker of [false, { pollMs: 20 }] as const) {
        const app = Fastify({ logger: false });
        await registerOpenApi(app);
        await app.register(bevanApi, { db, bulkExport: { worker } });
        await app.ready();
        apps.push(app);
      }
      const [front, back] = apps as [FastifyInstance, FastifyInstance];
      const k = await front.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers: { authorization: auth, prefer: 'respond-async' } });
      assert.equal(k.statusCode, 202);
      const status = new URL(k.headers['content-location'] as string).pathname;
      let done;
      for (let i = 0; i < 500 && !done; i++) {
        const s = await back.inject({ method: 'GET', url: status, headers: { authorization: auth } });
        if (s.statusCode === 200) done = s.json() as Manifest;
        else await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(done, 'the server with a worker ran the job the other one accepted');
      const lines = [];
      for (const o of done.output) {
        const f = await front.inject({ method: 'GET', url: new URL(o.url).pathname, headers: { authorization: auth } });
        assert.equal(f.statusCode, 200);
        lines.push(...f.body.trimEnd().split('\n'));
      }
      const pseudonym = pseudonymFor(await pseudonymKey(db));
      assert.deepEqual(lines.map((l) => (JSON.parse(l) as Resource).id).sort(), [A, B, C].map(pseudonym).sort(), 'pseudonymised for the analyst');
    } finally {
      for (const app of apps) await app.close();
      await db.drop();
    }
  });
}
