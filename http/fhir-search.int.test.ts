import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, CapabilityStatement, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { loadPolicy } from '../access/policy.ts';
import { verifyAuditChain } from '../access/audit.ts';
import type { Role } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { MemoryFhirStore } from '../fhir/memory-store.ts';
import { FhirRepository } from '../fhir/repository.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { parseClinicalSearch, paramsOf, type ClinicalType } from '../fhir/search/params.ts';
import { OTHER_NHS, OTHER_PERSON_ID, otherIdentity, otherPerson, searchRows, allRows } from '../fhir/search/search-fixtures.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { GP, HOSPITAL, identities, insertFixtures, insertIdentity, insertResource, NHS, person, PERSON_ID, practices } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

const HBA1C = 'http://snomed.info/sct|1107481000000106';
const id = (system: string, type: string, sourceId: string) => fhirLogicalId(system, type, sourceId);

async function buildApp(db: Database): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  await registerOpenApi(app);
  await app.register(bevanApi, { db, loginPerMinute: 50 });
  await app.ready();
  return app;
}

async function insertSearchData(db: Database) {
  await insertFixtures(db);
  await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [OTHER_PERSON_ID, otherPerson.nhs_number]);
  await insertIdentity(db, otherIdentity);
  for (const r of searchRows) await insertResource(db, r);
}

for (const target of await testDatabases()) {
  test(`FHIR clinical search over HTTP on ${target.name}: access, audit, paging, includes, hostile input`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertSearchData(db);
      const users: [string, Role, string][] = [['dr.jones', 'gp', 'P91001'], ['dr.far', 'gp', 'P99999'], ['dr.house', 'consultant', 'RM2']];
      const bearer: Record<string, string> = {};
      for (const [u, role, org] of users) {
        await addUser(db, { username: u, role, organisation: org });
        bearer[u] = `Bearer ${await issueToken(db, { user: u, role, organisation: org })}`;
      }
      app = await buildApp(db);
      const a = app;
      const get = (url: string, who = 'dr.jones', headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { authorization: bearer[who]!, ...headers } });
      const bundle = (r: { statusCode: number; body: string }) => {
        assert.equal(r.statusCode, 200, r.body);
        return JSON.parse(r.body) as Bundle;
      };
      const matches = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
      const includes = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
      const audits = async (where = 'true', params: unknown[] = []) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE ${where}`, params)).rows[0]!.n;

      // The GP's own patient: HbA1c in 2025, newest first, a page at a time, then past the end.
      const url = `/fhir/Observation?patient=Patient/${PERSON_ID}&code=${encodeURIComponent(HBA1C)}&date=ge2025-01-01&date=lt2026&_sort=-date&_count=1`;
      const p1 = bundle(await get(url));
      assert.equal(p1.type, 'searchset');
      assert.equal(p1.total, 2);
      assert.deepEqual(matches(p1), [`Observation/${id(GP, 'Observation', 'o2')}`]);
      const o2 = p1.entry![0]!;
      assert.match(o2.fullUrl!, new RegExp(`^http://localhost(:\\d+)?/fhir/Observation/${id(GP, 'Observation', 'o2')}$`), 'fullUrl on this server');
      assert.equal(o2.resource!.meta!.source, GP, 'meta.source names the source system');
      assert.equal((o2.resource as { subject: { reference: string } }).subject.reference, `Patient/${PERSON_ID}`);
      const next = p1.link!.find((l) => l.relation === 'next')!.url!;
      assert.ok(!p1.link!.some((l) => l.relation === 'previous'));
      const p2 = bundle(await get(next.replace(/^http:\/\/[^/]+/, '')));
      assert.deepEqual(matches(p2), [`Observation/${id(GP, 'Observation', 'o4')}`]);
      assert.ok(!p2.link!.some((l) => l.relation === 'next'), 'no next on the last page');
      const past = bundle(await get(`${url}&_offset=10`));
      assert.equal(past.total, 2);
      assert.equal(past.entry, undefined, 'an empty page');
      assert.ok(!past.link!.some((l) => l.relation === 'next'));
      assert.match(past.link!.find((l) => l.relation === 'previous')!.url!, /_offset=1\b/, 'previous goes back to the last page');
      const searchAudit = await db.query<{ person_id: string; decision: string; action: string; detail: { resourceType: string; matched: number; query: Record<string, unknown> } }>(
        `SELECT person_id::text AS person_id, decision, action, detail FROM audit_log WHERE actor = 'dr.jones' AND action = 'resource.search' ORDER BY audit_id LIMIT 1`,
      );
      assert.deepEqual([searchAudit.rows[0]!.person_id, searchAudit.rows[0]!.decision], [PERSON_ID, 'permit']);
      assert.equal(searchAudit.rows[0]!.detail.resourceType, 'Observation');
      assert.equal(searchAudit.rows[0]!.detail.matched, 2);
      assert.equal(searchAudit.rows[0]!.detail.query.code, HBA1C, 'the query is in the audit detail');

      // The same search as a form POST.
      const posted = await a.inject({ method: 'POST', url: '/fhir/Observation/_search', headers: { authorization: bearer['dr.jones']!, 'content-type': 'application/x-www-form-urlencoded' }, payload: `patient=${PERSON_ID}&code=${encodeURIComponent(HBA1C)}&date=ge2025-01-01&_sort=-date` });
      assert.deepEqual(matches(bundle(posted)), [`Observation/${id(GP, 'Observation', 'o2')}`, `Observation/${id(GP, 'Observation', 'o4')}`]);
      const postedPatient = await a.inject({ method: 'POST', url: '/fhir/Patient/_search', headers: { authorization: bearer['dr.jones']!, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'family=smith' });
      assert.equal(bundle(postedPatient).total, 1);
      const jsonBody = await a.inject({ method: 'POST', url: '/fhir/Observation/_search', headers: { authorization: bearer['dr.jones']!, 'content-type': 'application/json' }, payload: JSON.stringify({ patient: PERSON_ID }) });
      assert.equal(jsonBody.statusCode, 415, 'a search body is a form');
      const both = await a.inject({ method: 'POST', url: `/fhir/Observation/_search?patient=${PERSON_ID}`, headers: { authorization: bearer['dr.jones']!, 'content-type': 'application/x-www-form-urlencoded' }, payload: `code=${encodeURIComponent(HBA1C)}&_count=1` });
      assert.equal(bundle(both).total, 3, 'URL and form parameters both count');
      const protoForm = await a.inject({ method: 'POST', url: '/fhir/Observation/_search', headers: { authorization: bearer['dr.jones']!, 'content-type': 'application/x-www-form-urlencoded' }, payload: `__proto__=x&constructor=y&patient=${PERSON_ID}&_summary=count` });
      const protoBundle = bundle(protoForm);
      assert.equal(protoBundle.total, 6);
      assert.match((protoBundle.entry!.at(-1)!.resource as OperationOutcome).issue[0]!.diagnostics!, /__proto__, constructor/);
      const protoQuery = bundle(await get(`/fhir/Observation?patient=${PERSON_ID}&__proto__=x&_summary=count`));
      assert.equal(protoQuery.total, 6);
      // Sign-in still takes JSON only: the form parser is the search routes' own.
      const formLogin = await a.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=dr.jones&password=x' });
      assert.equal(formLogin.statusCode, 415);

      // _include and _revinclude.
      const inc = bundle(await get(`/fhir/Observation?patient=${PERSON_ID}&code=${encodeURIComponent(HBA1C)}&_include=Observation:patient&_include=Observation:encounter`));
      assert.deepEqual(includes(inc), [`Patient/${PERSON_ID}`, `Encounter/${id(GP, 'Encounter', 'e1')}`]);
      assert.equal(matches(inc).length, 3);
      const dr = bundle(await get(`/fhir/DiagnosticReport?patient=${PERSON_ID}&_include=DiagnosticReport:result`));
      assert.deepEqual(includes(dr), [`Observation/${id(HOSPITAL, 'Observation', 'F500-1')}`]);
      const med = bundle(await get(`/fhir/MedicationRequest?patient=${PERSON_ID}&status=active&_include=MedicationRequest:medication`));
      assert.deepEqual(includes(med), [`Medication/${id(GP, 'Medication', 'med-1')}`]);
      const rev = bundle(await get(`/fhir/Encounter?patient=${PERSON_ID}&_id=${id(GP, 'Encounter', 'e1')}&_revinclude=Observation:encounter&_revinclude=Condition:encounter`));
      assert.deepEqual(includes(rev).sort(), [`Condition/${id(GP, 'Condition', 'sh2')}`, `Observation/${id(GP, 'Observation', 'o4')}`].sort());
      const patRev = bundle(await get(`/fhir/Patient?family=smith&_revinclude=Observation:patient`));
      assert.equal(matches(patRev).length, 1);
      assert.equal(includes(patRev).length, 6, 'every observation of the person');

      // _summary=count: the total only, on clinical and Patient search.
      const counted = bundle(await get(`/fhir/Observation?patient=${PERSON_ID}&_summary=count`));
      assert.deepEqual([counted.total, counted.entry], [6, undefined]);
      const pCount = bundle(await get('/fhir/Patient?family=smith&_summary=count'));
      assert.equal(pCount.total, 1);
      assert.equal(pCount.entry?.length ?? 0, 0);

      // _elements and _summary=data: the matches cut down, tagged SUBSETTED; id, meta and status kept.
      const cut = bundle(await get(`/fhir/Observation?patient=${PERSON_ID}&_elements=value,subject`));
      assert.equal(cut.total, 6);
      for (const e of cut.entry!.filter((x) => x.search?.mode === 'match')) {
        const keys = Object.keys(e.resource!).filter((k) => !['resourceType', 'id', 'meta', 'status', 'code', 'subject'].includes(k));
        assert.ok(keys.every((k) => k.startsWith('value')), keys.join(', '));
        assert.ok(e.resource!.meta?.tag?.some((t) => t.code === 'SUBSETTED'));
      }
      const pCut = bundle(await get('/fhir/Patient?family=smith&_elements=birthDate'));
      assert.deepEqual(Object.keys(pCut.entry![0]!.resource!).sort(), ['birthDate', 'id', 'meta', 'resourceType']);
      const noText = bundle(await get(`/fhir/Condition?patient=${PERSON_ID}&_summary=data`));
      assert.ok(noText.entry!.every((e) => e.search?.mode !== 'match' || (!('text' in e.resource!) && e.resource!.meta?.tag?.some((t) => t.code === 'SUBSETTED'))));
      assert.equal((await get(`/fhir/Observation?patient=${PERSON_ID}&_elements=${encodeURIComponent("x'--")}`)).statusCode, 400);

      // Sensitive items: the consultant (open episode at RM2) sees neither the diagnosis nor it included.
      const cons = bundle(await get(`/fhir/Condition?patient=${PERSON_ID}`, 'dr.house'));
      assert.ok(!matches(cons).includes(`Condition/${id(GP, 'Condition', 'sh2')}`));
      assert.equal(cons.meta?.security?.[0]?.code, 'REDACTED');
      assert.equal(bundle(await get(`/fhir/Condition?patient=${PERSON_ID}&code=105629000`, 'dr.house')).total, 0);
      const consRev = bundle(await get(`/fhir/Encounter?patient=${PERSON_ID}&_id=${id(GP, 'Encounter', 'e1')}&_revinclude=Condition:encounter`, 'dr.house'));
      assert.deepEqual(includes(consRev), []);
      const gpCond = bundle(await get(`/fhir/Condition?patient=${PERSON_ID}&code=105629000`));
      assert.equal(gpCond.total, 1, 'the registered GP sees it');

      // Another practice's GP: 403 and a denial in the audit log for that person.
      const before = await audits(`actor = 'dr.far' AND decision = 'deny' AND person_id = $1`, [PERSON_ID]);
      const far = await get(`/fhir/Observation?patient=${PERSON_ID}`, 'dr.far');
      assert.equal(far.statusCode, 403);
      assert.match((JSON.parse(far.body) as OperationOutcome).issue[0]!.diagnostics!, /no legitimate relationship/);
      assert.equal(await audits(`actor = 'dr.far' AND decision = 'deny' AND person_id = $1 AND action = 'resource.search'`, [PERSON_ID]), before + 1);
      // No patient named: 403 saying so, audited.
      const none = await get('/fhir/Observation?code=1107481000000106');
      assert.equal(none.statusCode, 403);
      assert.match((JSON.parse(none.body) as OperationOutcome).issue[0]!.diagnostics!, /names the patient/);

      // Unknown parameters: reported as an outcome entry; refused under handling=strict.
      const lenient = bundle(await get(`/fhir/Condition?patient=${PERSON_ID}&status=active&_contained=true`));
      const outcome = lenient.entry!.find((e) => e.search?.mode === 'outcome')!;
      assert.match((outcome.resource as OperationOutcome).issue[0]!.diagnostics!, /status, _contained/);
      assert.ok(!lenient.link![0]!.url!.includes('_contained'), 'the self link leaves out what was ignored');
      const strict = await get(`/fhir/Condition?patient=${PERSON_ID}&status=active`, 'dr.jones', { prefer: 'handling=strict' });
      assert.equal(strict.statusCode, 400);
      assert.match((JSON.parse(strict.body) as OperationOutcome).issue[0]!.diagnostics!, /status.*clinical-status/s);
      // Invalid values: 400 with an OperationOutcome.
      for (const bad of ['date=yesterday', 'date=zz2024', '_sort=code', '_count=-1', '_count=abc', '_include=Encounter:patient', 'code:below=1']) {
        const r = await get(`/fhir/Observation?patient=${PERSON_ID}&${bad}`);
        assert.equal(r.statusCode, 400, bad);
        assert.equal((JSON.parse(r.body) as OperationOutcome).resourceType, 'OperationOutcome');
      }

      // SQL and script injection in every parameter and in _sort: 400 or harmless, never 500; data intact.
      const rowsBefore = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0]!.n;
      const hostile = ["' OR 1=1 --", "x'); DROP TABLE resource; --", '<script>alert(1)</script>', '%', '_', '\\', '1 UNION SELECT content FROM resource', "Patient/' OR ''='"];
      for (const type of ['Observation', 'Condition', 'Encounter'] as ClinicalType[]) {
        const names = [...paramsOf(type).map((p) => p.name), '_sort', '_include', '_revinclude', '_count', '_offset', '_summary', '_elements', '_total', 'code:text'];
        for (const name of names) {
          for (const v of hostile) {
            const qs = name === 'patient' ? `patient=${encodeURIComponent(v)}` : `patient=${PERSON_ID}&${name}=${encodeURIComponent(v)}`;
            const r = await get(`/fhir/${type}?${qs}`);
            assert.ok([200, 400].includes(r.statusCode), `${type}?${name}=${v}: ${r.statusCode} ${r.body}`);
            if (r.statusCode === 200 && !['_summary', '_total', '_elements'].includes(name)) assert.ok(((JSON.parse(r.body) as Bundle).total ?? 0) <= 10, `${name}=${v} matches no more than there is`);
          }
        }
      }
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource')).rows[0]!.n, rowsBefore);
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person')).rows[0]!.n, 2);
      const scriptSearch = bundle(await get(`/fhir/Observation?patient=${PERSON_ID}&code:text=${encodeURIComponent('<script>alert(1)</script>')}`));
      assert.equal(scriptSearch.total, 0);

      // The CapabilityStatement lists exactly the parameters implemented.
      const cs = (await a.inject({ method: 'GET', url: '/fhir/metadata' })).json() as CapabilityStatement;
      const obsCap = cs.rest![0]!.resource!.find((r) => r.type === 'Observation')!;
      assert.ok(obsCap.interaction!.some((i) => i.code === 'search-type'));
      assert.ok(obsCap.interaction!.some((i) => i.code === 'read'), 'read kept');
      const declared = obsCap.searchParam!.map((p) => p.name);
      for (const p of paramsOf('Observation')) assert.ok(declared.includes(p.name), p.name);
      assert.ok(obsCap.searchInclude!.includes('Observation:encounter'));
      assert.ok(obsCap.searchRevInclude!.includes('DiagnosticReport:result'));
      const patCap = cs.rest![0]!.resource!.find((r) => r.type === 'Patient')!;
      assert.ok(patCap.searchRevInclude!.includes('Observation:patient'));
      assert.ok(patCap.searchParam!.some((p) => p.name === '_summary'));
      assert.ok(cs.rest![0]!.resource!.find((r) => r.type === 'Immunization')!.searchParam!.some((p) => p.name === 'vaccine-code'));

      // The in-memory twin gives the same answers as this database.
      const policy = (() => {
        const r = loadPolicy();
        if (r.kind !== 'ok') throw new Error(r.problems.join('; '));
        return r.policy;
      })();
      const memory = new MemoryFhirStore({ persons: [person, otherPerson], identities: [...identities, otherIdentity], resources: allRows, practices, facts: { [PERSON_ID]: { registeredPractices: ['P91001'], openEpisodeOrganisations: ['RM2'] } } });
      const queries: [ClinicalType, Record<string, string | string[]>][] = [
        ['Observation', { patient: PERSON_ID, code: HBA1C, _sort: 'date' }],
        ['Observation', { patient: PERSON_ID, date: 'ge2025-03-01', _include: 'Observation:encounter' }],
        ['Condition', { patient: PERSON_ID, 'clinical-status': 'active', _sort: '-onset-date' }],
        ['Encounter', { patient: PERSON_ID, date: 'ge2025-07', _sort: '-date', _revinclude: 'Observation:encounter' }],
        ['MedicationRequest', { patient: PERSON_ID, _include: 'MedicationRequest:medication' }],
        ['Procedure', { patient: PERSON_ID }],
        ['Observation', { patient: PERSON_ID, code: 'http://snomed.info/sct|1000651000000109' }],
      ];
      for (const principal of [{ user: 'dr.jones', role: 'gp' as const, organisation: 'P91001' }, { user: 'dr.house', role: 'consultant' as const, organisation: 'RM2' }]) {
        for (const [type, query] of queries) {
          const parsed = parseClinicalSearch(type, query);
          assert.equal(parsed.kind, 'ok');
          const s = (parsed as { search: Parameters<FhirRepository['searchResources']>[0] }).search;
          const fromDb = await repositoryFor({ principal, purpose: 'direct-care', db, from: 'test' }).searchResources(s);
          const fromMemory = await new FhirRepository({ principal, purpose: 'direct-care', from: 'test' }, memory, policy).searchResources(s);
          const shape = (r: { total: number; matches: Resource[]; included: Resource[] }) => [r.total, r.matches.map((x) => x.id), r.included.map((x) => x.id)];
          assert.deepEqual(shape(fromDb), shape(fromMemory), `${principal.user} ${type} ${JSON.stringify(query)}`);
        }
      }

      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });

  test(`FHIR clinical search on ${target.name}: quantities and chained patient parameters`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertSearchData(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const auth = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
      app = await buildApp(db);
      const a = app;
      const get = (url: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { authorization: auth, prefer: 'handling=strict', ...headers } });
      const ids = async (url: string) => {
        const r = await get(url);
        assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
        const b = JSON.parse(r.body) as Bundle;
        return (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id).sort();
      };
      const hba1c = (...xs: string[]) => xs.map((x) => id(GP, 'Observation', x)).sort();
      const p = `patient=${PERSON_ID}&code=${encodeURIComponent(HBA1C)}`;
      assert.deepEqual(await ids(`/fhir/Observation?${p}`), hba1c('o1', 'o2', 'o4'));
      assert.deepEqual(await ids(`/fhir/Observation?${p}&value-quantity=ge55`), hba1c('o1', 'o4'));
      assert.deepEqual(await ids(`/fhir/Observation?${p}&value-quantity=ge55&value-quantity=lt60`), hba1c('o1'));
      assert.deepEqual(await ids(`/fhir/Observation?${p}&value-quantity=52,61`), hba1c('o2', 'o4'));
      assert.deepEqual(await ids(`/fhir/Observation?${p}&value-quantity=${encodeURIComponent('ge55||mmol/mol')}`), hba1c('o1', 'o4'));
      assert.deepEqual(await ids(`/fhir/Observation?${p}&value-quantity=${encodeURIComponent('ge55||%')}`), []);
      assert.deepEqual(await ids(`/fhir/Observation?patient=${PERSON_ID}&value-quantity=4.1`), [id('hl7:RM2', 'Observation', 'F500-2')]);
      assert.equal((await get(`/fhir/Observation?${p}&value-quantity=high`)).statusCode, 400);

      // Chains: the NHS number instead of the id; the same answer, audited against the person.
      const nhs = encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${NHS}`);
      const code = `code=${encodeURIComponent(HBA1C)}`;
      assert.deepEqual(await ids(`/fhir/Observation?patient.identifier=${nhs}&${code}`), hba1c('o1', 'o2', 'o4'));
      assert.deepEqual(await ids(`/fhir/Observation?subject:Patient.identifier=${nhs}&${code}&value-quantity=lt55`), hba1c('o2'));
      assert.deepEqual(await ids(`/fhir/Observation?patient.family:exact=Smith&patient.birthdate=1950&${code}`), hba1c('o1', 'o2', 'o4'));
      assert.deepEqual(await ids(`/fhir/Observation?patient.family=Nobody&${code}`), []);
      assert.equal((await get(`/fhir/Observation?patient.identifier=${nhs}&patient=${OTHER_PERSON_ID}&${code}`)).statusCode, 403, 'a person named by id and refused is still a 403');
      const audited = async (person: string, decision: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE person_id = $1 AND decision = $2 AND action = 'resource.search'`, [person, decision])).rows[0]!.n;
      assert.ok((await audited(PERSON_ID, 'permit')) >= 3);
      // A chain that finds someone this GP may not see: left out (an empty page), the refusal audited.
      const before = await audited(OTHER_PERSON_ID, 'deny');
      const other = encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${OTHER_NHS}`);
      assert.deepEqual(await ids(`/fhir/Observation?patient.identifier=${other}`), []);
      assert.equal(await audited(OTHER_PERSON_ID, 'deny'), before + 1);
      assert.equal((await get(`/fhir/Observation?patient=${OTHER_PERSON_ID}`)).statusCode, 403);
      // Unsupported chains are reported; bad chained values are 400s.
      assert.equal((await get(`/fhir/Observation?encounter.status=finished&patient=${PERSON_ID}`)).statusCode, 400);
      assert.equal((await get(`/fhir/Observation?patient.birthdate=yesterday`)).statusCode, 400);
      assert.equal((await get(`/fhir/Observation?patient.language=en`)).statusCode, 400);
      const chain = await verifyAuditChain(db);
      assert.equal(chain.ok, true, chain.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
