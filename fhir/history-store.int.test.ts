/**
 * Migration 0015 on PGlite and PostgreSQL: the trigger keeps replaced versions in
 * resource_history as the real ingest writer updates resources, pays nothing for inserts and
 * unchanged re-ingests, and keeps the versions with their resource's person through MPI moves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { itemsFromFhirJson } from '../ingest/fhir/bundle.ts';
import { writeBatch } from '../ingest/writer.ts';
import { mergePersons, unmergeEvent } from '../mpi/merge.ts';
import { testDatabases } from '../test/databases.ts';
import { resourceVersion, resourceVersions } from './history-store.ts';
import { pgFhirStore } from './pg-store.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import type { Policy } from '../access/policy.ts';

async function ingest(db: Database, source: string, resource: Record<string, unknown>) {
  const raw = JSON.stringify(resource);
  const r = await writeBatch(db, itemsFromFhirJson(resource, { contentHash: createHash('sha256').update(raw).digest('hex'), raw, origin: 'test' }, { source }));
  return r.outcomes[0];
}
const patient = (id: string, nhs: string, family: string, birthDate: string) => ({ resourceType: 'Patient', id, identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs }], name: [{ family, given: ['Test'] }], birthDate });
const obs = (id: string, patientId: string, value: number) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'Systolic blood pressure' }, subject: { reference: `Patient/${patientId}` }, valueQuantity: { value, unit: 'mmHg' } });

for (const target of await testDatabases()) {
  test(`resource history (migration 0015) on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const count = async (sql: string, params: unknown[] = []) => (await db.query<{ n: number }>(sql, params)).rows[0]!.n;
    const current = async (id: string) =>
      (await db.query<{ version: number; person_id: string | null; v: number }>(`SELECT version, person_id::text AS person_id, (content->'valueQuantity'->>'value')::int AS v FROM resource WHERE source_id = $1`, [id])).rows[0]!;
    const kept = async (id: string) =>
      (await db.query<{ version: number; person_id: string | null; v: number }>(`SELECT version, person_id::text AS person_id, (content->'valueQuantity'->>'value')::int AS v FROM resource_history WHERE source_id = $1 ORDER BY version`, [id])).rows;

    await t.test('an insert keeps no history; a change keeps the old version; an unchanged re-ingest adds nothing', async () => {
      assert.equal(await ingest(db, 'gp:A', patient('pa', '9434765919', 'Alpha', '1950-01-01')), 'committed');
      assert.equal(await ingest(db, 'gp:A', obs('o1', 'pa', 120)), 'committed');
      assert.equal(await count('SELECT count(*)::int AS n FROM resource_history'), 0, 'inserts pay nothing');
      assert.equal(await ingest(db, 'gp:A', obs('o1', 'pa', 135)), 'committed');
      assert.deepEqual(await current('o1'), { ...(await current('o1')), version: 2, v: 135 });
      const h = await kept('o1');
      assert.equal(h.length, 1);
      assert.deepEqual([h[0]!.version, h[0]!.v], [1, 120]);
      assert.equal(h[0]!.person_id, (await current('o1')).person_id);
      // The same content again (a replayed message, or a new message saying the same): nothing new.
      assert.equal(await ingest(db, 'gp:A', obs('o1', 'pa', 135)), 'duplicate');
      const sameContentNewMessage = { ...obs('o1', 'pa', 135) };
      await writeBatch(db, itemsFromFhirJson({ resourceType: 'Bundle', id: 'b-2', type: 'collection', entry: [{ resource: sameContentNewMessage }] }, { contentHash: 'other', raw: '{}', origin: 'test' }, { source: 'gp:A' }));
      assert.equal((await current('o1')).version, 2);
      assert.equal((await kept('o1')).length, 1);
      assert.equal(await ingest(db, 'gp:A', obs('o1', 'pa', 128)), 'committed');
      assert.deepEqual((await kept('o1')).map((x) => [x.version, x.v]), [[1, 120], [2, 135]]);
      assert.equal((await current('o1')).version, 3);
      // received_at of a kept version is when that version came, before the next one.
      const times = await db.query<{ received_at: Date; replaced_at: Date }>(`SELECT received_at, replaced_at FROM resource_history WHERE source_id = 'o1' ORDER BY version`);
      for (const r of times.rows) assert.ok(new Date(r.received_at) <= new Date(r.replaced_at));
    });

    await t.test('the store reads versions by key: paged, newest first, _since', async () => {
      const store = pgFhirStore(db, { sourceOrganisations: {}, recentEncounterDays: 0 } as unknown as Policy);
      await store.transaction(async (tx) => {
        const row = (await tx.findResource('Observation', fhirLogicalId('gp:A', 'Observation', 'o1')))!;
        assert.equal(row.version, 3);
        const all = await tx.resourceVersions(row, { limit: 10, offset: 0 });
        assert.equal(all.total, 2);
        assert.deepEqual(all.rows.map((r) => [r.version, (r.content as { valueQuantity: { value: number } }).valueQuantity.value]), [[2, 135], [1, 120]]);
        assert.equal(all.rows[0]!.person_id, row.person_id);
        assert.deepEqual((await tx.resourceVersions(row, { limit: 1, offset: 1 })).rows.map((r) => r.version), [1]);
        assert.deepEqual(await tx.resourceVersions(row, { limit: 5, offset: 7 }), { total: 2, rows: [] });
        const since = await tx.resourceVersions(row, { limit: 10, offset: 0, since: all.rows[0]!.received_at });
        assert.deepEqual(since.rows.map((r) => r.version), [2]);
        assert.equal((await tx.resourceVersion(row, 1))!.version, 1);
        assert.equal(await tx.resourceVersion(row, 3), null, 'the current version is not a replaced one');
        return row;
      }).then(async (row) => {
        assert.equal(await resourceVersion(db, row, 9), null);
        assert.equal((await resourceVersions(db, { ...row, source_id: 'none' }, { limit: 5, offset: 0 })).total, 0);
      });
    });

    await t.test('a hand-made content change without a new version number is given one', async () => {
      await db.query(`UPDATE resource SET content = jsonb_set(content, '{status}', '"amended"'), content_hash = 'by-hand' WHERE source_id = 'o1'`);
      assert.equal((await current('o1')).version, 4);
      assert.deepEqual((await kept('o1')).map((x) => x.version), [1, 2, 3]);
      // An update that keeps the content (a source time fix) keeps no version.
      await db.query(`UPDATE resource SET source_time = now() WHERE source_id = 'o1'`);
      assert.equal((await kept('o1')).length, 3);
    });

    await t.test('MPI merge and unmerge move the versions with their resource', async () => {
      await ingest(db, 'hl7:B', patient('pb', '4010232137', 'Bravo', '1961-06-30'));
      await ingest(db, 'hl7:B', obs('ob', 'pb', 100));
      await ingest(db, 'hl7:B', obs('ob', 'pb', 101));
      const personA = (await current('o1')).person_id!;
      const personB = (await current('ob')).person_id!;
      assert.notEqual(personA, personB);
      assert.deepEqual((await kept('ob')).map((x) => x.person_id), [personB]);
      const event = await mergePersons(db, personB, personA, 'test', 'same person', { despiteDifferentNhsNumbers: true });
      assert.equal((await current('ob')).person_id, personA);
      assert.deepEqual((await kept('ob')).map((x) => x.person_id), [personA], 'history follows the merge');
      assert.equal(await count('SELECT count(*)::int AS n FROM resource_history WHERE person_id = $1', [personA]), 4);
      await unmergeEvent(db, event, 'test', 'not the same');
      assert.equal((await current('ob')).person_id, personB);
      assert.deepEqual((await kept('ob')).map((x) => x.person_id), [personB], 'and the unmerge');
      assert.equal((await kept('ob')).length, 1, 'a move is not a version');
    });

    await t.test('versions of a resource kept before its Patient arrived are linked with it', async () => {
      await ingest(db, 'bulk:C', obs('oc', 'pc', 90));
      await ingest(db, 'bulk:C', obs('oc', 'pc', 91));
      assert.deepEqual((await kept('oc')).map((x) => x.person_id), [null]);
      await ingest(db, 'bulk:C', patient('pc', '9990000026', 'Charlie', '1970-01-01'));
      const person = (await current('oc')).person_id;
      assert.ok(person);
      assert.deepEqual((await kept('oc')).map((x) => x.person_id), [person]);
    });
  });
}
