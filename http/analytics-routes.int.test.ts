import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { issueToken } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import { insertFixtures, NHS, PERSON_ID } from '../record/test-fixtures.ts';
import { testDatabases } from '../test/databases.ts';
import { materialiseView } from '../analytics/views/materialised.ts';
import { compileView } from '../analytics/views/view-definition.ts';
import { bevanApi, registerOpenApi } from './app.ts';

const example = (name: string) => JSON.parse(readFileSync(new URL(`../analytics/views/examples/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
const params = (view: unknown, more: Record<string, unknown>[] = []) => ({ resourceType: 'Parameters', parameter: [{ name: 'viewResource', resource: view }, ...more] });

for (const target of await testDatabases()) {
  test(`POST /analytics/ViewDefinition/$run on ${target.name}: SQL-on-FHIR $run behind the access policy`, async () => {
    const db = await target.open();
    const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
    try {
      await insertFixtures(db);
      await addUser(db, { username: 'analyst1', role: 'analyst' });
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      await registerOpenApi(app);
      await app.register(bevanApi, { db, loginPerMinute: 5 });
      await app.ready();
      const analyst = `Bearer ${await issueToken(db, { user: 'analyst1', role: 'analyst', organisation: null })}`;
      const gp = `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}`;
      const post = (body: unknown, auth: string, query = '', headers: Record<string, string> = {}) =>
        app.inject({ method: 'POST', url: `/analytics/ViewDefinition/$run${query}`, headers: { authorization: auth, 'content-type': 'application/fhir+json', ...headers }, payload: JSON.stringify(body) });

      // An analyst over the store: CSV, pseudonymised, the fixture person's three conditions.
      const csv = await post(params(example('conditions'), [{ name: '_format', valueCode: 'csv' }]), analyst);
      assert.equal(csv.statusCode, 200, csv.body);
      assert.match(csv.headers['content-type'] as string, /^text\/csv/);
      const lines = csv.body.trim().split('\r\n');
      assert.equal(lines[0]!.split(',')[0], 'condition_id');
      assert.equal(lines.length, 4);
      assert.ok(!csv.body.includes(PERSON_ID), 'no person id leaves');
      const pseudonyms = new Set(lines.slice(1).map((l) => l.split(',')[1]));
      assert.equal(pseudonyms.size, 1);
      assert.match([...pseudonyms][0]!, /^[0-9a-f]{32}$/);

      // Materialised (bevan view materialise): the same body, read from analytics_view_row, audited as such.
      await materialiseView(db, compileView(example('conditions')));
      const again = await post(params(example('conditions'), [{ name: '_format', valueCode: 'csv' }]), analyst);
      assert.equal(again.statusCode, 200, again.body);
      assert.deepEqual(again.body.trim().split('\r\n').sort(), [...lines].sort());
      const entry = await db.query<{ detail: Record<string, unknown> }>(`SELECT detail FROM audit_log WHERE action = 'view.run' ORDER BY audit_id DESC LIMIT 1`);
      assert.equal(entry.rows[0]!.detail.materialised, true);

      // The ViewDefinition itself as the body, the format from the query or the Accept header.
      const nd = await post(example('patient-demographics'), analyst, '?_format=ndjson');
      assert.equal(nd.statusCode, 200, nd.body);
      assert.equal(nd.headers['content-type'], 'application/x-ndjson');
      const row = JSON.parse(nd.body.trim()) as Record<string, unknown>;
      assert.equal(row.patient_id, [...pseudonyms][0], 'joins the conditions');
      assert.equal(row.nhs_number, null);
      assert.ok(!nd.body.includes(NHS));
      const json = await post(params(example('observations')), analyst, '?_limit=2', { accept: 'application/json' });
      assert.equal(json.statusCode, 200, json.body);
      assert.equal((json.json() as unknown[]).length, 2);

      // Resources sent with the request: run over those alone.
      const inline = await post(params(example('observations'), [{ name: 'resource', resource: { resourceType: 'Observation', id: 'x1', status: 'final', code: { coding: [{ code: 'abc' }] }, valueQuantity: { value: 3, unit: 'mg' } } }, { name: '_format', valueCode: 'json' }]), analyst);
      assert.equal(inline.statusCode, 200, inline.body);
      assert.deepEqual((inline.json() as { observation_id: string; value: number }[]).map((r) => [r.observation_id, r.value]), [['x1', 3]]);

      // A GP is refused secondary use (403, audited); an invalid view is a 422 naming every problem;
      // unsupported parameters and formats are 400.
      const refused = await post(params(example('conditions')), gp);
      assert.equal(refused.statusCode, 403);
      assert.match((refused.json() as OperationOutcome).issue[0]!.diagnostics!, /may not use records for secondary purposes/);
      const bad = await post(params({ resourceType: 'ViewDefinition', resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id(' }, { name: 'id', path: 'id' }] }] }), analyst);
      assert.equal(bad.statusCode, 422);
      const outcome = bad.json() as OperationOutcome;
      assert.equal(outcome.resourceType, 'OperationOutcome');
      assert.equal(outcome.issue.length, 3, JSON.stringify(outcome));
      assert.equal((await post({ resourceType: 'Parameters', parameter: [] }, analyst)).statusCode, 400);
      assert.equal((await post(params(example('conditions'), [{ name: 'patient', valueReference: { reference: `Patient/${PERSON_ID}` } }]), analyst)).statusCode, 400);
      assert.equal((await post(params(example('conditions')), analyst, '?_format=xml')).statusCode, 400);
      assert.equal((await app.inject({ method: 'POST', url: '/analytics/ViewDefinition/$run', payload: params(example('conditions')) })).statusCode, 401);

      const audit = await db.query<{ actor: string; decision: string; detail: { rows?: number; view?: string } }>(`SELECT actor, decision, detail FROM audit_log WHERE action = 'view.run' ORDER BY audit_id`);
      assert.deepEqual(
        audit.rows.map((r) => [r.actor, r.decision, r.detail.view, r.detail.rows]),
        [
          ['analyst1', 'permit', 'conditions_flat', 3],
          ['analyst1', 'permit', 'conditions_flat', 3],
          ['analyst1', 'permit', 'patient_demographics', 1],
          ['analyst1', 'permit', 'observations', 2],
          ['dr.jones', 'deny', 'conditions_flat', 0],
        ],
        'one entry per run over the store; none for a run over the resources sent',
      );
      const openapi = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/analytics/ViewDefinition/$run']);
    } finally {
      await app.close();
      await db.drop();
    }
  });
}
