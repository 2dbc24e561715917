import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle, Condition } from '@medplum/fhirtypes';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { recordRestrictions } from '../access/restrictions.ts';
import { verifyAuditChain } from '../access/audit.ts';
import type { Database } from '../db/database.ts';
import { mergePersons } from '../mpi/merge.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import { responseCacheFor } from '../fhir/response-cache.ts';
import { GP, identities, insertFixtures, insertIdentity, insertResource, NHS, PERSON_ID, rows } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi } from './app.ts';

const OTHER = '5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const OTHER_NHS = '4010232137';

async function auditCount(db: Database, action: string): Promise<number> {
  return (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE action = $1', [action])).rows[0]!.n;
}

for (const target of await testDatabases()) {
  test(`$everything's presented-response cache on ${target.name}: hits are decided and audited, any change to the record or the view is seen at once`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertFixtures(db);
      // A second person at the same practice, with a record of their own.
      await db.query('INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)', [OTHER, OTHER_NHS]);
      await insertIdentity(db, { ...identities[0]!, source_id: 'gp-pat-2', person_id: OTHER, nhs_number: OTHER_NHS, family: 'Jones', given: 'Mary' });
      await insertResource(db, { ...rows[1]!, source_id: 'other-c1', person_id: OTHER, subject_id: 'gp-pat-2', content: { ...(rows[1]!.content as Condition), id: 'other-c1', subject: { reference: 'Patient/gp-pat-2' } } });
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      await addUser(db, { username: 'dr.far', role: 'gp', organisation: 'P99999' });
      app = Fastify({ logger: false });
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const gp = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
      const far = `Bearer ${await issueToken(db, { user: 'dr.far', role: 'gp', organisation: 'P99999' })}`;
      const everything = async (id: string, auth = gp, q = '') => a.inject({ method: 'GET', url: `/fhir/Patient/${id}/$everything${q}`, headers: { authorization: auth } });
      const ids = (b: Bundle) => (b.entry ?? []).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
      const cache = responseCacheFor(db)!;
      assert.ok(cache, 'the cache is on by default');

      const first = await everything(PERSON_ID);
      assert.equal(first.statusCode, 200, first.body);
      const hits = cache.stats.hits;
      const second = await everything(PERSON_ID);
      assert.equal(second.statusCode, 200);
      assert.equal(cache.stats.hits, hits + 1, 'the second read is served from the cache');
      assert.equal(second.body, first.body);
      assert.equal(second.headers['content-type'], first.headers['content-type']);
      assert.equal(await auditCount(db, 'record.everything'), 2, 'a cached answer is audited like any other');

      // Never one person's record for another: the other person's own record, under their own id.
      const other = (await everything(OTHER)).json() as Bundle;
      assert.equal(other.entry![0]!.resource!.id, OTHER);
      assert.ok(ids(other).every((x) => !ids(first.json() as Bundle).slice(1).includes(x)), 'none of the first person\'s items');

      // The view is part of the key: another user, with no relationship, is refused though the record is cached.
      assert.equal((await everything(PERSON_ID, far)).statusCode, 403);
      // Parameters are part of the key.
      const onlyObs = (await everything(PERSON_ID, gp, '?_type=Observation')).json() as Bundle;
      assert.ok(ids(onlyObs).slice(1).every((x) => x.startsWith('Observation/')));

      // A newly stored resource appears at once.
      await insertResource(db, { ...rows[1]!, source_id: 'new-c9', received_at: '2025-10-03T08:00:00.000Z', content: { ...rows[1]!.content, id: 'new-c9' } });
      const withNew = (await everything(PERSON_ID)).json() as Bundle;
      assert.equal(withNew.total, (first.json() as Bundle).total! + 1);
      assert.ok(ids(withNew).includes(`Condition/${fhirLogicalId(GP, 'Condition', 'new-c9')}`));

      // A merge shows both members' items, asked by either id.
      await mergePersons(db, OTHER, PERSON_ID, 'test', 'same person', { despiteDifferentNhsNumbers: true });
      const merged = (await everything(PERSON_ID)).json() as Bundle;
      assert.equal(merged.total, withNew.total! + 1, 'the merged person\'s condition is there');
      assert.ok(ids(merged).includes(`Condition/${fhirLogicalId(GP, 'Condition', 'other-c1')}`));
      const viaOld = (await everything(OTHER)).json() as Bundle;
      assert.equal(viaOld.entry![0]!.resource!.id, PERSON_ID);
      assert.equal(viaOld.total, merged.total);

      // A restriction flagged by a feed takes effect at once (restricted people are withheld on every path).
      await db.transaction((tx) => recordRestrictions(tx, [{ system: GP, id: 'gp-pat-1', restricted: true, reason: 'test: PD1-12 Y' }]));
      const restricted = await everything(PERSON_ID);
      assert.notEqual(restricted.statusCode, 200, 'a restricted person is not served from the cache');

      assert.equal(await auditCount(db, 'record.everything'), 9, 'every request audited, hit or miss');
      assert.equal((await verifyAuditChain(db)).ok, true);
      void NHS;
    } finally {
      await app?.close();
      await db.close();
    }
  });
}
