import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Principal, RequestContext, Role } from '../../access/context.ts';
import { pseudonymFor } from '../../access/pseudonymise.ts';
import { insertFixtures, insertIdentity, insertResource, identities as fixtureIdentities, PERSON_ID } from '../../record/test-fixtures.ts';
import type { Database } from '../../db/database.ts';
import type { ResourceRow } from '../../record/rows.ts';
import { testDatabases } from '../../test/databases.ts';
import { dropMaterialisedView, listMaterialisedViews, materialiseView, refreshMaterialisedViews } from './materialised.ts';
import { runViewOnStore, type ViewRunOptions } from './run-view.ts';
import { compileView, type CompiledView } from './view-definition.ts';

const EXAMPLES = join(import.meta.dirname, 'examples');
const example = (name: string): CompiledView => compileView(JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), 'utf8')));

const OPTED_OUT = '1d3c6a0e-2b7f-4d8e-9a1b-000000000002';
const PLAIN = '1d3c6a0e-2b7f-4d8e-9a1b-000000000004';
const OTHER = '1d3c6a0e-2b7f-4d8e-9a1b-000000000005';
const GP2 = 'gp:P91002';

const row = (personId: string, sourceId: string, type: string, id: string, content: Record<string, unknown>): ResourceRow => ({
  source_system: GP2,
  resource_type: type,
  source_id: id,
  person_id: personId,
  subject_id: sourceId,
  version: 1,
  source_time: null,
  received_at: new Date().toISOString(),
  content: { resourceType: type, id, ...content } as never,
});

async function addPerson(db: Database, personId: string, nhs: string, sourceId: string, conditions: [string, string][]): Promise<void> {
  await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [personId, nhs]);
  await insertIdentity(db, { ...fixtureIdentities[0]!, source_system: GP2, source_id: sourceId, person_id: personId, nhs_number: nhs, family: `Family${sourceId}`, given: 'Alex', birth_date: '1980-07-15', sex: 'female', postcode: 'M41 0AA', practice: 'P91002' });
  for (const [id, code] of conditions) {
    await insertResource(db, row(personId, sourceId, 'Condition', id, { subject: { reference: `Patient/${sourceId}` }, code: { coding: [{ system: 'http://snomed.info/sct', code, display: 'Diabetes, "type 2"\r\nmellitus \\ \t é' }] }, clinicalStatus: { coding: [{ code: 'active' }] }, note: [{ text: 'a "quoted", \r\nnote' }] }));
  }
}

function ctxFor(db: Database, user: string, role: Role): RequestContext {
  const principal: Principal = { user, role, organisation: null };
  return { principal, purpose: 'secondary-use', db, from: 'test' };
}

async function csv(ctx: RequestContext, view: CompiledView, opts: Partial<ViewRunOptions> = {}) {
  let text = '';
  const result = await runViewOnStore(ctx, view, (chunk) => void (text += chunk), { format: 'csv', ...opts });
  const [header, ...lines] = text.split('\r\n');
  return { header, lines: lines.filter(Boolean).sort(), result, text };
}

/** The run read the materialisation and gave exactly the rows (and counts) of the view run the usual way. */
async function same(ctx: RequestContext, view: CompiledView, materialised: boolean): Promise<string[]> {
  const m = await csv(ctx, view);
  const js = await csv(ctx, view, { engine: 'js' });
  assert.equal(m.result.store?.materialised === true, materialised, `materialised: ${JSON.stringify(m.result.store)}`);
  assert.equal(m.header, js.header);
  assert.deepEqual(m.lines, js.lines);
  const { engine: _e, materialised: _m, ...counts } = m.result.store!;
  const { engine: _e2, materialised: _m2, ...jsCounts } = js.result.store!;
  assert.deepEqual(counts, jsCounts);
  assert.equal(m.result.rows, js.result.rows);
  return m.lines;
}

for (const target of await testDatabases()) {
  test(`materialised views on ${target.name}: the same rows as the view run over the store, the policy applied at each run, kept up to date`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      await addPerson(db, OPTED_OUT, '4010232137', 'G-2', [['oc1', '44054006']]);
      // Diabetes and a sexual health diagnosis (a sensitive category, withheld from analysts).
      await addPerson(db, PLAIN, '9990000026', 'G-4', [['pc1', '44054006'], ['pc2', '105629000']]);
      await db.query(`INSERT INTO consent_directive (person_id, kind, recorded_by) VALUES ($1, 'national-data-opt-out', 'test')`, [OPTED_OUT]);
      const analyst = ctxFor(db, 'analyst1', 'analyst');
      const admin = ctxFor(db, 'admin1', 'admin');
      const conditions = example('conditions');
      const observations = example('observations');

      const before = await same(analyst, conditions, false);
      const m = await materialiseView(db, conditions);
      assert.equal(m.mode, 'full');
      assert.equal(m.broken, null);
      await materialiseView(db, observations);
      assert.equal((await listMaterialisedViews(db)).length, 2);

      // Read from the materialisation: the same rows as before, for the analyst (pseudonymised, the
      // opted-out person left out, the sensitive condition withheld) and the governance lead.
      assert.deepEqual(await same(analyst, conditions, true), before);
      await same(admin, conditions, false); // the identifiable run's SQL differs (absolute Patient references kept): it runs the usual way
      await same(analyst, observations, true);
      await same(admin, observations, false);
      const key = (await db.query<{ key_hex: string }>(`SELECT key_hex FROM pseudonym_key WHERE purpose = 'secondary-use'`)).rows[0]!.key_hex;
      assert.ok((await csv(analyst, conditions)).lines.some((l) => l.includes(pseudonymFor(Buffer.from(key, 'hex'))(PLAIN))), 'the pseudonym made in the database is access/pseudonymise.ts’s');
      // Other formats, a limit and --since run the usual way.
      const nd = await runViewOnStore(analyst, conditions, () => undefined, { format: 'ndjson' });
      assert.equal(nd.store?.materialised, undefined);
      assert.equal((await csv(analyst, conditions, { limit: 1 })).lines.length, 1);

      // A load: a new condition for a new person and one for PLAIN; the run brings it up to date first.
      await addPerson(db, OTHER, '9990000034', 'G-5', [['xc1', '195967001']]);
      await insertResource(db, row(PLAIN, 'G-4', 'Condition', 'pc3', { subject: { reference: 'Patient/G-4' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '73211009' }] } }));
      // …and one whose subject is a Patient not of the person (its key is that Patient's stable id, beside the text).
      await insertResource(db, row(PLAIN, 'G-4', 'Condition', 'pc4', { subject: { reference: 'Patient/not-"theirs"' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] } }));
      const after = await same(analyst, conditions, true);
      const others = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM analytics_view_row WHERE other_keys IS NOT NULL`);
      assert.equal(others.rows[0]!.n, 1);
      assert.equal(after.length, before.length + 4, "two rows more (the new person's display holds a line break: two lines)");
      const refreshed = await listMaterialisedViews(db);
      assert.ok(refreshed.every((v) => v.broken === null));

      // A merge: OTHER's condition moves to PLAIN (migration 0071's trigger queues both people).
      await db.query(`UPDATE resource SET person_id = $1 WHERE person_id = $2`, [PLAIN, OTHER]);
      await same(analyst, conditions, true);
      await same(admin, conditions, false); // the identifiable run's SQL differs (absolute Patient references kept): it runs the usual way
      // A new opt-out is honoured at the next run (decided at each run, not materialised).
      await db.query(`INSERT INTO consent_directive (person_id, kind, recorded_by) VALUES ($1, 'national-data-opt-out', 'test')`, [PLAIN]);
      const optedOut = await same(analyst, conditions, true);
      assert.ok(optedOut.length < after.length);

      // The refresh after a load (bevan analytics refresh): the observations view had not been run since.
      // (Conditions may be made again for the same people: a transaction open elsewhere in the
      // database, another test's, holds the watermark back.)
      const modes = await refreshMaterialisedViews(db);
      assert.equal(modes.find((r) => r.name === 'observations')?.mode, 'incremental');
      assert.ok(modes.every((r) => r.mode === 'current' || r.mode === 'incremental'));
      await same(analyst, observations, true);

      // Data that break the view mark it broken: runs go the usual way and fail there as before.
      const strict = compileView({ resourceType: 'ViewDefinition', name: 'strict', resource: 'Observation', select: [{ column: [{ name: 'id', path: 'getResourceKey()' }, { name: 'v', path: 'component.value.ofType(Quantity).value' }] }] });
      const b = await materialiseView(db, strict);
      assert.match(b.broken ?? '', /gave 2 values/);
      await assert.rejects(csv(analyst, strict), /gave 2 values/);
      // A broken materialisation stays broken (the refresh leaves it) until materialised again.
      assert.ok((await refreshMaterialisedViews(db, strict)).every((r) => r.mode === 'broken'));

      // The run's audit entry says it read the materialisation.
      const audited = await db.query<{ detail: Record<string, unknown> }>(`SELECT detail FROM audit_log WHERE action = 'view.run' AND detail->>'view' = 'conditions_flat' AND detail->>'engine' = 'sql' ORDER BY audit_id DESC LIMIT 1`);
      assert.equal(audited.rows[0]!.detail.materialised, true);

      assert.equal(await dropMaterialisedView(db, conditions), 1);
      await same(analyst, conditions, false);
      void PERSON_ID;
    } finally {
      await db.drop();
    }
  });
}
