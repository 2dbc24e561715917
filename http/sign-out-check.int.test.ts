/**
 * A bearer token signed out on one server is refused by another sharing the database, on every
 * read route, whether the sign-out check rode on the repository's first statement (a server:
 * `$everything`, Patient read and search, clinical search, read by id), was read at the end of a
 * transaction that ran no such statement (a person not found), or was read as the reply was about
 * to leave (a request refused before it reached the repository). A refused request writes no audit
 * row and the chain still verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../access/audit.ts';
import { addUser } from '../access/users.ts';
import type { Database } from '../db/database.ts';
import { insertFixtures, PERSON_ID } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi } from './app.ts';

const PASSWORD = 'correct horse battery staple';
const UNKNOWN = '7e3f1c2a-9b8d-4e6f-a1b2-c3d4e5f60718';

async function buildApp(db: Database): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(bevanApi, { db, loginPerMinute: 100 });
  await app.ready();
  return app;
}

const auditRows = async (db: Database) => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n;
const diagnostics = (r: LightMyRequestResponse) => (JSON.parse(r.body) as OperationOutcome).issue[0]!.diagnostics ?? '';

for (const target of await testDatabases()) {
  test(`sign-out check on ${target.name}: a token signed out on one server is refused by another on every read route, before any data or audit row`, async () => {
    const db = await target.open();
    const apps: FastifyInstance[] = [];
    try {
      await insertFixtures(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001', password: PASSWORD });
      const a = await buildApp(db);
      const b = await buildApp(db);
      apps.push(a, b);
      const login = await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'dr.jones', password: PASSWORD } });
      assert.equal(login.statusCode, 200, login.body);
      const bearer = `Bearer ${(login.json() as { access_token: string }).access_token}`;
      const get = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url, headers: { authorization: bearer } });
      // The check on the statement that finds the person, on the search's statement, at the end of a
      // transaction that found nobody, and (bad parameter, unknown type) as the reply leaves.
      const reads: [string, number][] = [
        [`/fhir/Patient/${PERSON_ID}/$everything`, 200],
        [`/fhir/Patient/${PERSON_ID}`, 200],
        ['/fhir/Patient?family=smith', 200],
        [`/fhir/Condition?patient=${PERSON_ID}`, 200],
        [`/fhir/Patient/${UNKNOWN}/$everything`, 404],
        [`/fhir/Patient/${PERSON_ID}/$everything?start=not-a-date`, 400],
        [`/fhir/Spaceship/0123456789abcdef0123456789abcdef`, 400],
      ];
      for (const [url, status] of reads) {
        const r = await get(b, url);
        assert.equal(r.statusCode, status, `${url}: ${r.body}`);
      }
      const everything = (await get(b, `/fhir/Patient/${PERSON_ID}/$everything`)).json() as Bundle;
      assert.equal(everything.entry![0]!.resource!.id, PERSON_ID);
      // Twice, so that the second read of each comes from the servers' caches (verified token, presented response).
      for (const [url, status] of reads) assert.equal((await get(b, url)).statusCode, status, url);

      const out = await a.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: bearer } });
      assert.deepEqual(out.json(), { session_ended: false, token_revoked: true });

      const before = await auditRows(db);
      for (const app of [b, a]) {
        for (const [url] of reads) {
          const r = await get(app, url);
          assert.equal(r.statusCode, 401, `${url} after sign-out: ${r.body}`);
          assert.match(diagnostics(r), /signed out/, url);
          assert.equal(r.headers['www-authenticate'], 'Bearer realm="bevan"', url);
          assert.ok(!r.body.includes(PERSON_ID), `${url}: nothing of the record`);
        }
        // A HEAD (Fastify's for each GET) is refused too.
        assert.equal((await b.inject({ method: 'HEAD', url: `/fhir/Patient/${PERSON_ID}/$everything`, headers: { authorization: bearer } })).statusCode, 401);
      }
      assert.equal(await auditRows(db), before, 'a refused request writes no audit row (it reached no data)');
      assert.equal((await verifyAuditChain(db)).ok, true);
    } finally {
      for (const app of apps) await app.close();
      await db.close();
    }
  });
}
