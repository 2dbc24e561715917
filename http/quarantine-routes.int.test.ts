import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../access/audit.ts';
import { issueToken } from '../access/tokens.ts';
import type { Database } from '../db/database.ts';
import { msh, PID_SARAH, PD1_SARAH, pv1, seg } from '../ingest/hl7v2/fixtures/samples.ts';
import { parseText } from '../ingest/quarantine.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';

const PID_ALEX = (dob: string) => seg('PID', { 1: '1', 3: 'RM2000999^^^RM2^MR~401 023 2137^^^NHS^NH', 5: 'Brown^Alex', 7: dob, 8: 'M', 11: '3 Low Road^^Sale^^M33 1AA' });
const PID_NEW = seg('PID', { 1: '1', 3: 'RM2000777^^^RM2^MR', 5: 'Green^Sam', 7: '19991399', 8: 'F' });

function adt(trigger: string, id: string, pid: string, pd1: string, time = '20250301120000'): string {
  return [msh({ type: `ADT^${trigger}^ADT_A01`, id, time }), seg('EVN', { 1: trigger, 2: time }), pid, pd1, pv1({})].join('\r') + '\r';
}

async function ingest(db: Database, text: string, origin: string) {
  return writeBatch(db, await parseText(text, origin));
}

interface Page {
  total: number;
  items: { quarantine_id: number; reason: string; origin: string; withheld: boolean; personIds: string[]; status: string }[];
}

for (const target of await testDatabases()) {
  test(`quarantine routes on ${target.name}: the integration team sees and fixes items (audited); a GP is refused (audited); a restricted person's items withheld`, async () => {
    const db = await target.open();
    let app: FastifyInstance | undefined;
    try {
      // Sarah (known), Alex (restricted by the hospital), then one bad message about each, one
      // about a new patient that flags itself restricted, and one file that is not a feed at all.
      await ingest(db, adt('A01', 'Q1', PID_SARAH, PD1_SARAH), 'a.hl7#1');
      await ingest(db, adt('A01', 'Q2', PID_ALEX('19700101'), seg('PD1', { 12: 'Y' })), 'a.hl7#2');
      assert.equal((await ingest(db, adt('A08', 'Q3', PID_SARAH.replace('19800315', '19801315'), PD1_SARAH, '20250302120000'), 'b.hl7#1')).quarantined, 1);
      assert.equal((await ingest(db, adt('A08', 'Q4', PID_ALEX('19701301'), '', '20250302120000'), 'b.hl7#2')).quarantined, 1);
      assert.equal((await ingest(db, adt('A01', 'Q5', PID_NEW, seg('PD1', { 12: 'Y' })), 'b.hl7#3')).quarantined, 1);
      assert.equal((await ingest(db, '{"resourceType": "Bundle", "entry": [', 'c.json')).quarantined, 1);
      const ids = (await db.query<{ id: number; message_id: string | null }>(`SELECT quarantine_id::int AS id, message_id FROM quarantine ORDER BY quarantine_id`)).rows;
      const idOf = (messageId: string | null) => ids.find((r) => r.message_id === messageId)!.id;
      const [sarahItem, alexItem, newItem, junkItem] = [idOf('Q3'), idOf('Q4'), idOf('Q5'), idOf(null)];
      const sarah = (await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM source_identity WHERE source_id = 'RM2000123'`)).rows[0]!.person_id;

      app = Fastify({ logger: false });
      await registerOpenApi(app);
      await app.register(bevanApi, { db });
      await app.ready();
      const a = app;
      const integration = `Bearer ${await issueToken(db, { user: 'int.lee', role: 'integration', organisation: 'TRAFFORD' })}`;
      const gp = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
      const call = (method: 'GET' | 'POST', url: string, auth: string, payload?: unknown, headers: Record<string, string> = {}) =>
        a.inject({ method, url, headers: { authorization: auth, ...headers }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
      const auditRows = (actor: string, action: string) =>
        db.query<{ person_id: string | null; decision: string | null; reason: string | null; detail: { id?: number } | null }>(
          `SELECT person_id::text AS person_id, decision, reason, detail FROM audit_log WHERE actor = $1 AND action = $2 ORDER BY audit_id`,
          [actor, action],
        );

      // The list: reasons, no raw text; the restricted person's item and the self-flagged one withheld.
      const list = await call('GET', '/quarantine', integration);
      assert.equal(list.statusCode, 200, list.body);
      const page = list.json() as Page;
      assert.equal(page.total, 4);
      assert.ok(!list.body.includes('Brown'), 'no raw text in the list');
      const item = (id: number) => page.items.find((i) => i.quarantine_id === id)!;
      assert.match(item(sarahItem).reason, /PID-7/);
      assert.deepEqual(item(sarahItem).personIds, [sarah]);
      assert.equal(item(sarahItem).withheld, false);
      for (const id of [alexItem, newItem]) {
        assert.equal(item(id).withheld, true);
        assert.match(item(id).reason, /withheld/);
        assert.equal(item(id).origin, '(withheld)');
      }
      assert.equal(item(junkItem).withheld, false);
      const listed = await auditRows('int.lee', 'quarantine.list');
      assert.ok(listed.rows.some((r) => r.person_id === sarah && r.decision === 'permit'), 'Sarah can see her item was listed');
      assert.ok(listed.rows.some((r) => r.person_id === null && r.decision === 'permit'), 'one entry for the call');
      // Paging and filters.
      const paged = (await call('GET', '/quarantine?limit=1&offset=1', integration)).json() as Page;
      assert.equal(paged.items.length, 1);
      assert.equal(paged.items[0]!.quarantine_id, ids[ids.length - 2]!.id, 'newest first');
      assert.equal(((await call('GET', '/quarantine?source=hl7:RM2', integration)).json() as Page).total, 3);
      assert.equal(((await call('GET', '/quarantine?format=fhir', integration)).json() as Page).total, 1);
      assert.equal((await call('GET', '/quarantine?limit=0', integration)).statusCode, 400);
      assert.equal((await call('GET', '/quarantine?status=bogus', integration)).statusCode, 400);

      // Show: the raw item, audited with its id and person.
      const shown = await call('GET', `/quarantine/${sarahItem}`, integration);
      assert.equal(shown.statusCode, 200, shown.body);
      assert.match((shown.json() as { raw: string }).raw, /Jones\^Sarah/);
      const reads = await auditRows('int.lee', 'quarantine.read');
      assert.deepEqual(reads.rows.map((r) => [r.person_id, r.decision, r.detail?.id]), [[sarah, 'permit', sarahItem]]);
      // A restricted person's item, and an item that flags itself restricted, are never shown.
      for (const id of [alexItem, newItem]) {
        const r = await call('GET', `/quarantine/${id}`, integration);
        assert.equal(r.statusCode, 403);
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /restricted/);
      }
      assert.equal((await auditRows('int.lee', 'quarantine.read')).rows.filter((r) => r.decision === 'deny').length, 2);
      assert.equal((await call('GET', '/quarantine/999999', integration)).statusCode, 404);
      assert.equal((await call('GET', '/quarantine/abc', integration)).statusCode, 400);

      // A GP (no quarantine role) and the integration team for another purpose: refused and audited.
      for (const [url, method, body] of [
        ['/quarantine', 'GET', undefined],
        [`/quarantine/${sarahItem}`, 'GET', undefined],
        [`/quarantine/${sarahItem}/replay`, 'POST', {}],
        [`/quarantine/${sarahItem}/discard`, 'POST', { reason: 'not mine to close' }],
      ] as const) {
        const r = await call(method, url, gp, body);
        assert.equal(r.statusCode, 403, `${method} ${url}`);
        assert.equal((r.json() as OperationOutcome).resourceType, 'OperationOutcome');
        assert.match((r.json() as OperationOutcome).issue[0]!.diagnostics!, /integration team/);
      }
      const gpDenials = await db.query<{ action: string }>(`SELECT action FROM audit_log WHERE actor = 'dr.jones' AND decision = 'deny' ORDER BY audit_id`);
      assert.deepEqual(gpDenials.rows.map((r) => r.action), ['quarantine.list', 'quarantine.read', 'quarantine.replay', 'quarantine.discard']);
      assert.equal((await call('GET', '/quarantine', integration, undefined, { 'x-bevan-purpose': 'direct-care' })).statusCode, 403);
      assert.equal((await call('GET', '/quarantine', 'Bearer nope')).statusCode, 401);

      // Replay: a repaired text that is still wrong stays quarantined; the right one goes in.
      const raw = (shown.json() as { raw: string }).raw;
      const stillBad = await call('POST', `/quarantine/${sarahItem}/replay`, integration, { text: raw.replace('19801315', '19800230') });
      assert.equal(stillBad.statusCode, 400);
      assert.match((stillBad.json() as OperationOutcome).issue[0]!.diagnostics!, /still rejected: .*PID-7/);
      const replayed = await call('POST', `/quarantine/${sarahItem}/replay`, integration, { text: raw.replace('19801315', '19800315') });
      assert.equal(replayed.statusCode, 200, replayed.body);
      assert.deepEqual((replayed.json() as { status: string; result: { accepted: number } }).result.accepted, 1);
      assert.equal((await call('POST', `/quarantine/${sarahItem}/replay`, integration, {})).statusCode, 409, 'not open any more');
      const resolution = await db.query<{ status: string; resolution: string }>(`SELECT status, resolution FROM quarantine WHERE quarantine_id = $1`, [sarahItem]);
      assert.equal(resolution.rows[0]!.status, 'replayed');
      assert.match(resolution.rows[0]!.resolution, /replayed by int\.lee with a repaired text/);
      assert.equal((await auditRows('int.lee', 'quarantine.replay')).rows.filter((r) => r.person_id === sarah).length, 3);
      // Replaying the restricted person's item as it is: allowed, but its reasons stay withheld.
      const blind = await call('POST', `/quarantine/${alexItem}/replay`, integration);
      assert.equal(blind.statusCode, 400);
      assert.match((blind.json() as OperationOutcome).issue[0]!.diagnostics!, /withheld/);
      assert.ok(!blind.body.includes('19701301'));

      // Discard: needs a reason; audited; once.
      assert.equal((await call('POST', `/quarantine/${junkItem}/discard`, integration, {})).statusCode, 400);
      assert.equal((await call('POST', `/quarantine/${junkItem}/discard`, integration, { reason: 'a test upload, not a feed' })).statusCode, 200);
      assert.equal((await call('POST', `/quarantine/${junkItem}/discard`, integration, { reason: 'again' })).statusCode, 409);
      assert.equal((await call('POST', '/quarantine/424242/discard', integration, { reason: 'none' })).statusCode, 404);
      const discards = await auditRows('int.lee', 'quarantine.discard');
      assert.ok(discards.rows.some((r) => r.decision === 'permit' && r.detail?.id === junkItem));
      assert.equal(((await call('GET', '/quarantine?status=all', integration)).json() as Page).total, 4);
      assert.equal(((await call('GET', '/quarantine', integration)).json() as Page).total, 2);

      // The OpenAPI document describes the routes.
      const openapi = (await a.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
      for (const p of ['/quarantine', '/quarantine/{id}', '/quarantine/{id}/replay', '/quarantine/{id}/discard']) assert.ok(openapi.paths[p], p);
      assert.ok((openapi.paths['/quarantine/{id}']!.get as { responses: Record<string, unknown> }).responses['403']);
      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
}
