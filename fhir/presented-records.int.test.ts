import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Bundle } from '@medplum/fhirtypes';
import { recordConsent } from '../access/consent.ts';
import { recordRestrictions } from '../access/restrictions.ts';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import type { Database } from '../db/database.ts';
import { bevanApi } from '../http/app.ts';
import { prebuildEverything } from '../cli/commands/everything.ts';
import { GP, insertFixtures, insertResource, PERSON_ID, rows } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { BASE_PLACEHOLDER, keepPresentedPage, presentedRecordCounts, readPresentedPage } from './presented-records.ts';
import { responseCacheFor } from './response-cache.ts';

interface Row {
  view_key: string;
  stamp: string;
  items: number;
  withheld: number;
}

const stored = async (db: Database): Promise<Row[]> => (await db.query<Row>('SELECT view_key, stamp, items, withheld FROM presented_record WHERE person_id = $1 ORDER BY rendered_at, view_key', [PERSON_ID])).rows;
const audits = async (db: Database, action = 'record.everything'): Promise<number> => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE action = $1', [action])).rows[0]!.n;

/** A page that only the shared store could have served: it names itself, with the base where the placeholder was. */
function marker(name: string): Buffer {
  return Buffer.from(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 0, id: name, link: [{ relation: 'self', url: `${BASE_PLACEHOLDER}/Patient/${PERSON_ID}/$everything` }] }), 'utf8');
}

for (const target of await testDatabases()) {
  test(`$everything pages shared by every server on ${target.name}: kept by stamp and view, stale never served, every request decided and audited`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertFixtures(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      await addUser(db, { username: 'dr.far', role: 'gp', organisation: 'P99999' });
      app = Fastify({ logger: false });
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const gp = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
      const far = `Bearer ${await issueToken(db, { user: 'dr.far', role: 'gp', organisation: 'P99999' })}`;
      const everything = (auth = gp, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url: `/fhir/Patient/${PERSON_ID}/$everything`, headers: { authorization: auth, ...headers } });
      // Another server: a process cache of its own, empty. Clearing this process's stands in for it.
      const otherServer = () => responseCacheFor(db)!.clear();

      const first = await everything();
      assert.equal(first.statusCode, 200, first.body);
      const firstBundle = first.json() as Bundle;
      const kept = await stored(db);
      assert.equal(kept.length, 1, 'the rendered page is kept for every server');
      assert.equal(kept[0]!.items, firstBundle.total);
      // Kept with the placeholder, sent with the request's own base.
      assert.ok(firstBundle.entry![0]!.fullUrl!.startsWith('http://localhost:80/fhir/Patient/'), firstBundle.entry![0]!.fullUrl);
      assert.ok(!first.body.includes('\\u0000'), 'no placeholder reaches the client');
      const page = await readPresentedPage(db, PERSON_ID, kept[0]!.view_key, kept[0]!.stamp);
      assert.ok(page && page.json.toString('utf8').includes('\\u0000bevan-base\\u0000/Patient/'), 'the stored page holds the placeholder');

      // Another server serves the kept page: the row is what is sent (a marker put in its place shows it), with that server's base.
      await keepPresentedPage(db, PERSON_ID, kept[0]!.view_key, kept[0]!.stamp, { json: marker('from-the-shared-store'), items: 7, withheld: 0 });
      otherServer();
      const before = await audits(db);
      const shared = await everything(gp, { host: '127.0.0.1:80' });
      assert.equal(shared.statusCode, 200, shared.body);
      const sharedBundle = shared.json() as Bundle;
      assert.equal(sharedBundle.id, 'from-the-shared-store');
      assert.equal(sharedBundle.link![0]!.url, `http://127.0.0.1:80/fhir/Patient/${PERSON_ID}/$everything`);
      assert.equal(await audits(db), before + 1, 'a shared page is audited like any read');
      const last = await db.query<{ detail: { items: number } }>(`SELECT detail FROM audit_log WHERE action = 'record.everything' ORDER BY seq DESC, at DESC LIMIT 1`);
      assert.equal(last.rows[0]!.detail.items, 7, 'the audit entry says what the page shown held');

      // gzip: a client that accepts it gets the kept bytes compressed, the same page.
      const zipped = await everything(gp, { host: '127.0.0.1:80', 'accept-encoding': 'gzip, deflate' });
      assert.equal(zipped.headers['content-encoding'], 'gzip');
      assert.equal(zipped.headers.vary, 'Accept-Encoding');
      assert.equal((JSON.parse(gunzipSync(zipped.rawPayload).toString('utf8')) as Bundle).id, 'from-the-shared-store', 'the same page');

      // A page under another stamp (the record as it was) is never served.
      await db.query(`UPDATE presented_record SET stamp = 'an-older-record:2020-01-01' WHERE person_id = $1`, [PERSON_ID]);
      otherServer();
      const fresh = (await everything()).json() as Bundle;
      assert.notEqual(fresh.id, 'from-the-shared-store');
      assert.equal(fresh.total, firstBundle.total, 'rendered again from the record');
      assert.equal((await stored(db)).length, 1, 'the new render replaced the row (one per person and view)');

      // A new resource changes the stamp: the kept page (marker again) is not served, by this server or another.
      const now = await stored(db);
      await keepPresentedPage(db, PERSON_ID, now[0]!.view_key, now[0]!.stamp, { json: marker('before-the-new-item'), items: 1, withheld: 0 });
      await insertResource(db, { ...rows[1]!, source_id: 'new-c9', received_at: '2025-10-03T08:00:00.000Z', content: { ...rows[1]!.content, id: 'new-c9' } });
      const withNew = (await everything()).json() as Bundle;
      assert.notEqual(withNew.id, 'before-the-new-item');
      assert.equal(withNew.total, firstBundle.total! + 1);
      otherServer();
      assert.equal(((await everything()).json() as Bundle).total, firstBundle.total! + 1, 'another server finds the new page');

      // Another view, another page: a user with no relationship is refused (nothing served), whatever is kept.
      const refused = await everything(far);
      assert.equal(refused.statusCode, 403);
      assert.ok(!refused.body.includes('"Bundle"'));
      // Parameters are part of the view.
      const onlyObs = await a.inject({ method: 'GET', url: `/fhir/Patient/${PERSON_ID}/$everything?_type=Observation`, headers: { authorization: gp } });
      assert.equal(onlyObs.statusCode, 200);
      assert.equal((await stored(db)).length, 2, 'a page for each view');
      // A _since window is open-ended: served from this process's cache alone, nothing kept for every server.
      const since = await a.inject({ method: 'GET', url: `/fhir/Patient/${PERSON_ID}/$everything?_since=2020-01-01T00:00:00Z`, headers: { authorization: gp } });
      assert.equal(since.statusCode, 200);
      assert.equal((await stored(db)).length, 2, 'no row for a _since window');

      // A consent change (dissent from sharing between organisations) changes the obligations: another page, with the other organisations' items withheld.
      const viewsBefore = new Set((await stored(db)).map((r) => r.view_key));
      await recordConsent({ principal: { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, purpose: 'direct-care', db, from: 'test' }, { personId: PERSON_ID }, 'dissent-sharing');
      otherServer();
      const dissent = (await everything()).json() as Bundle;
      const sources = new Set((dissent.entry ?? []).filter((e) => e.resource!.resourceType !== 'Patient' && e.search?.mode !== 'outcome').map((e) => e.resource!.meta?.source));
      assert.ok(sources.size > 0 && [...sources].every((s) => s === GP), `only the practice's own items: ${[...sources].join(', ')}`);
      assert.ok(dissent.total! < withNew.total!, 'the other organisations\' items are withheld');
      const dissentRows = (await stored(db)).filter((r) => !viewsBefore.has(r.view_key));
      assert.equal(dissentRows.length, 1, 'kept under a view of its own');
      assert.ok(dissentRows[0]!.withheld > 0);

      // A restricted person is never served, from either store.
      await db.transaction((tx) => recordRestrictions(tx, [{ system: GP, id: 'gp-pat-1', restricted: true, reason: 'test: PD1-12 Y' }]));
      assert.notEqual((await everything()).statusCode, 200);
      otherServer();
      assert.notEqual((await everything()).statusCode, 200);

      // Every request was audited, hit or miss (refusals included).
      assert.equal(await audits(db), 12);
    } finally {
      await app?.close();
      await db.close();
    }
  });

  test(`bevan everything prebuild on ${target.name}: renders the registered list as the user sees it, audited; a request then finds the page`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      await insertFixtures(db);
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const ctx = { principal: { user: 'dr.jones', role: 'gp' as const, organisation: 'P91001' }, purpose: 'direct-care' as const, db, from: 'test' };
      const counts = await prebuildEverything(ctx, { practice: 'P91001' });
      assert.deepEqual({ ...counts, seconds: 0 }, { people: 1, rendered: 1, alreadyKept: 0, refused: 0, pruned: 0, seconds: 0 });
      assert.equal(await audits(db, 'record.prebuild'), 1, 'each page rendered is an audited read');
      assert.equal((await presentedRecordCounts(db)).pages, 1);
      const again = await prebuildEverything(ctx, { practice: 'P91001' });
      assert.equal(again.alreadyKept, 1, 'nothing to render when nothing changed');
      assert.equal((await prebuildEverything(ctx, { practice: 'P99999' })).people, 0, 'another practice: nobody');
      // A page rendered on an earlier day is removed by the next prebuild (its stamp names that day).
      await db.query(`UPDATE presented_record SET rendered_at = now() - interval '2 days'`);
      const next = await prebuildEverything(ctx, { practice: 'P91001' });
      assert.equal(next.pruned, 1);
      assert.equal(next.rendered, 1);

      // A request by any GP of the practice finds the prebuilt page (a marker in its place shows it).
      const row = (await stored(db))[0]!;
      await keepPresentedPage(db, PERSON_ID, row.view_key, row.stamp, { json: marker('prebuilt'), items: 3, withheld: 0 });
      responseCacheFor(db)?.clear();
      await addUser(db, { username: 'dr.smith', role: 'gp', organisation: 'P91001' });
      app = Fastify({ logger: false });
      await app.register(bevanApi, { db });
      await app.ready();
      const res = await app.inject({ method: 'GET', url: `/fhir/Patient/${PERSON_ID}/$everything`, headers: { authorization: `Bearer ${await issueToken(db, { user: 'dr.smith', role: 'gp', organisation: 'P91001' })}` } });
      assert.equal((res.json() as Bundle).id, 'prebuilt');

      // A person deleted takes their pages (ON DELETE CASCADE), as mpi/link.ts deletes an empty person it made.
      await db.query('DELETE FROM resource WHERE person_id = $1', [PERSON_ID]);
      await db.query('DELETE FROM source_identity WHERE person_id = $1', [PERSON_ID]);
      await db.query('DELETE FROM person p WHERE p.person_id = $1 AND NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)', [PERSON_ID]);
      assert.equal((await presentedRecordCounts(db)).pages, 0);
      // And nothing is kept for a person who is not there.
      await keepPresentedPage(db, PERSON_ID, row.view_key, row.stamp, { json: marker('gone'), items: 0, withheld: 0 });
      assert.equal((await presentedRecordCounts(db)).pages, 0);
    } finally {
      await app?.close();
      await db.close();
    }
  });
}
