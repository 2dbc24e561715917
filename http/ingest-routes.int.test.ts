import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { issueToken } from '../access/tokens.ts';
import type { Database } from '../db/database.ts';
import { msh, PID_SARAH, PD1_SARAH, pv1, seg } from '../ingest/hl7v2/fixtures/samples.ts';
import { parseText } from '../ingest/quarantine.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

function adt(trigger: string, id: string, pid = PID_SARAH): string {
  return [msh({ type: `ADT^${trigger}^ADT_A01`, id }), seg('EVN', { 1: trigger, 2: '20250301120000' }), pid, PD1_SARAH, pv1({})].join('\r') + '\r';
}

async function ingest(db: Database, text: string, origin: string) {
  return writeBatch(db, await parseText(text, origin));
}

interface Feeds {
  at: string;
  sources: { source: string | null; formats: string[]; lastReceivedAt: string | null; lastAcceptedAt: string | null; accepted: number; ignored: number; quarantined: number; quarantinedOpen: number; last24h: { accepted: number; ignored: number; quarantined: number } }[];
  totals: { accepted: number; ignored: number; quarantined: number; quarantinedOpen: number };
}
interface Hourly {
  source: string | null;
  range: string;
  hours: { hour: string; accepted: number; ignored: number; quarantined: number }[];
}

for (const target of await testDatabases()) {
  test(`feeds routes on ${target.name}: per source its last message and counts, messages per hour; the integration team and administrators only`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      // Three hospital messages (one of them three hours ago, one two days ago), one quarantined
      // (an impossible date of birth), and a file that is no feed at all (its source cannot be told).
      for (const id of ['F1', 'F2', 'F3']) assert.equal((await ingest(db, adt('A01', id), `a.hl7#${id}`)).accepted, 1);
      assert.equal((await ingest(db, adt('A08', 'F4', PID_SARAH.replace('19800315', '19801315')), 'b.hl7#1')).quarantined, 1);
      assert.equal((await ingest(db, '{"resourceType": "Bundle", "entry": [', 'c.json')).quarantined, 1);
      await db.query(`UPDATE ingest_message SET received_at = now() - interval '3 hours' WHERE message_id = 'F2'`);
      await db.query(`UPDATE ingest_message SET received_at = now() - interval '2 days' WHERE message_id = 'F3'`);

      app = Fastify({ logger: false });
      await registerOpenApi(app);
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const token = async (user: string, role: 'integration' | 'admin' | 'gp') => `Bearer ${await issueToken(db, { user, role, organisation: role === 'gp' ? 'P91001' : 'TRAFFORD' })}`;
      const integration = await token('int.lee', 'integration');
      const get = (url: string, auth: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers: { authorization: auth, ...headers } });

      const res = await get('/ingest/feeds', integration);
      assert.equal(res.statusCode, 200, res.body);
      const feeds = res.json() as Feeds;
      const hospital = feeds.sources.find((s) => s.source === 'hl7:RM2')!;
      assert.deepEqual([hospital.accepted, hospital.ignored, hospital.quarantined, hospital.quarantinedOpen], [3, 0, 1, 1]);
      assert.deepEqual(hospital.last24h, { accepted: 2, ignored: 0, quarantined: 1 });
      assert.deepEqual(hospital.formats, ['hl7v2']);
      assert.ok(Date.parse(hospital.lastReceivedAt!) <= Date.parse(feeds.at) && Date.parse(feeds.at) - Date.parse(hospital.lastReceivedAt!) < 120_000, `${hospital.lastReceivedAt} vs ${feeds.at}`);
      assert.ok(Date.parse(hospital.lastAcceptedAt!) <= Date.parse(hospital.lastReceivedAt!));
      const unknown = feeds.sources.at(-1)!;
      assert.equal(unknown.source, null, 'items whose source could not be told come last');
      assert.equal(unknown.quarantined, 1);
      assert.deepEqual(feeds.totals, { accepted: 3, ignored: 0, quarantined: 2, quarantinedOpen: 2 });
      assert.ok(!res.body.includes('Jones'), 'counts, no personal data');

      // Messages per hour: the current hour last; the message three hours ago in its own hour.
      const day = (await get('/ingest/feeds/hl7:RM2/hourly?range=24h', integration)).json() as Hourly;
      assert.equal(day.hours.length, 24);
      assert.equal(day.source, 'hl7:RM2');
      const sum = (h: Hourly, k: 'accepted' | 'quarantined') => h.hours.reduce((t, x) => t + x[k], 0);
      assert.equal(sum(day, 'accepted'), 2);
      assert.equal(sum(day, 'quarantined'), 1);
      const at = async (id: string) => (await db.query<{ t: string }>(`SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00.000"Z"') AS t FROM ingest_message WHERE message_id = $1`, [id])).rows[0]!.t;
      for (const id of ['F1', 'F2']) {
        const hour = await at(id);
        assert.equal(day.hours.find((h) => h.hour === hour)?.accepted, 1, `${id} in the hour from ${hour}`);
      }
      assert.notEqual(await at('F1'), await at('F2'), 'three hours apart');
      assert.ok(Date.parse(day.hours.at(-1)!.hour) <= Date.now() && Date.now() - Date.parse(day.hours.at(-1)!.hour) < 3_600_000);
      const week = (await get('/ingest/feeds/hl7:RM2/hourly?range=7d', integration)).json() as Hourly;
      assert.equal(week.hours.length, 168);
      assert.equal(sum(week, 'accepted'), 3);
      const all = (await get('/ingest/feeds/hourly', integration)).json() as Hourly;
      assert.equal(all.source, null);
      assert.equal(all.range, '24h');
      assert.equal(sum(all, 'quarantined'), 2);
      assert.equal(sum((await get('/ingest/feeds/gp:P91001/hourly', integration)).json() as Hourly, 'accepted'), 0);
      assert.equal((await get('/ingest/feeds/hl7:RM2/hourly?range=1y', integration)).statusCode, 400);
      assert.equal((await get('/ingest/feeds/bad%20key/hourly', integration)).statusCode, 400);

      // Administrators see the feeds too; a GP, a patient, the integration team for direct care: refused.
      assert.equal((await get('/ingest/feeds', await token('admin1', 'admin'))).statusCode, 200);
      const gp = await get('/ingest/feeds', await token('dr.jones', 'gp'));
      assert.equal(gp.statusCode, 403);
      assert.match((gp.json() as OperationOutcome).issue[0]!.diagnostics!, /integration team and administrators/);
      assert.equal((await get('/ingest/feeds/hourly', await token('dr.jones', 'gp'))).statusCode, 403);
      assert.equal((await get('/ingest/feeds', integration, { 'x-bevan-purpose': 'direct-care' })).statusCode, 403);
      assert.equal((await a.inject({ method: 'GET', url: '/ingest/feeds' })).statusCode, 401);

      const openapi = (await a.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
      for (const p of ['/ingest/feeds', '/ingest/feeds/hourly', '/ingest/feeds/{source}/hourly']) assert.ok(openapi.paths[p], p);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
