import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Principal, RequestContext, Role } from '../../access/context.ts';
import { verifyAuditChain } from '../../access/audit.ts';
import { fhirLogicalId } from '../../record/fhir-bundle.ts';
import { insertFixtures, insertIdentity, insertResource, identities as fixtureIdentities, NHS, PERSON_ID } from '../../record/test-fixtures.ts';
import type { Database } from '../../db/database.ts';
import type { ResourceRow } from '../../record/rows.ts';
import { testDatabases } from '../../test/databases.ts';
import { runViewOnStore, type ViewRunOptions } from './run-view.ts';
import { compileView, type CompiledView } from './view-definition.ts';

const EXAMPLES = join(import.meta.dirname, 'examples');
const example = (name: string): CompiledView => compileView(JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), 'utf8')));

// Besides the fixture person (PERSON_ID, two conditions at the GP, one at the hospital):
const OPTED_OUT = '1d3c6a0e-2b7f-4d8e-9a1b-000000000002';
const RESTRICTED = '1d3c6a0e-2b7f-4d8e-9a1b-000000000003';
const PLAIN = '1d3c6a0e-2b7f-4d8e-9a1b-000000000004';
const GP2 = 'gp:P91002';

async function addPerson(db: Database, personId: string, nhs: string, sourceId: string, extra: { conditions: [string, string][] }): Promise<void> {
  await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [personId, nhs]);
  await insertIdentity(db, { ...fixtureIdentities[0]!, source_system: GP2, source_id: sourceId, person_id: personId, nhs_number: nhs, family: `Family${sourceId}`, given: 'Alex', birth_date: '1980-07-15', sex: 'female', postcode: 'M41 0AA', practice: 'P91002' });
  const row = (type: string, id: string, content: Record<string, unknown>): ResourceRow => ({ source_system: GP2, resource_type: type, source_id: id, person_id: personId, subject_id: sourceId, version: 1, source_time: null, received_at: '2025-10-02T08:00:00.000Z', content: { resourceType: type, id, ...content } as never });
  await insertResource(db, row('Patient', sourceId, { name: [{ family: `Family${sourceId}` }], identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs }], gender: 'female', birthDate: '1980-07-15' }));
  for (const [id, code] of extra.conditions) {
    await insertResource(db, row('Condition', id, { subject: { reference: `Patient/${sourceId}`, display: `Alex Family${sourceId}` }, code: { coding: [{ system: 'http://snomed.info/sct', code }] }, clinicalStatus: { coding: [{ code: 'active' }] } }));
  }
}

function ctxFor(db: Database, user: string, role: Role, organisation: string | null = null): RequestContext {
  const principal: Principal = { user, role, organisation };
  return { principal, purpose: 'secondary-use', db, from: 'test' };
}

async function run(ctx: RequestContext, view: CompiledView, opts: Partial<ViewRunOptions> = {}) {
  let text = '';
  const result = await runViewOnStore(ctx, view, (chunk) => void (text += chunk), { format: 'ndjson', ...opts });
  const rows = (opts.format ?? 'ndjson') === 'ndjson' ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { rows, text, result };
}

for (const target of await testDatabases()) {
  test(`ViewDefinitions over the store on ${target.name}: secondary use through the access layer, pseudonymised for analysts`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      await addPerson(db, OPTED_OUT, '4010232137', 'G-2', { conditions: [['oc1', '44054006']] });
      await addPerson(db, RESTRICTED, '9990000018', 'G-3', { conditions: [['rc1', '44054006']] });
      // The plain person has diabetes and a sexual health diagnosis (chlamydia, a sensitive category).
      await addPerson(db, PLAIN, '9990000026', 'G-4', { conditions: [['pc1', '44054006'], ['pc2', '105629000']] });
      await db.query(`INSERT INTO consent_directive (person_id, kind, recorded_by) VALUES ($1, 'national-data-opt-out', 'test')`, [OPTED_OUT]);
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'protected record')`, [RESTRICTED]);
      const analyst = ctxFor(db, 'analyst1', 'analyst');

      // Conditions: the opted-out and the restricted person are absent, the sensitive item withheld,
      // every key a pseudonym; small pages so that the scan crosses people and pages.
      const conditions = example('conditions');
      const c = await run(analyst, conditions, { pageSize: 2 });
      const fixtureConditions = ['c1', 'c2', 'h-c1'];
      assert.equal(c.rows.length, fixtureConditions.length + 1, c.text);
      const patientIds = new Set(c.rows.map((r) => r.patient_id));
      assert.equal(patientIds.size, 2, 'two people');
      for (const id of patientIds) assert.match(String(id), /^[0-9a-f]{32}$/, 'a keyed pseudonym');
      assert.ok(!c.text.includes(PERSON_ID) && !c.text.includes(PLAIN) && !c.text.includes(OPTED_OUT), 'no person id leaves');
      assert.ok(!c.rows.some((r) => r.snomed_code === '105629000'), 'sensitive item withheld');
      assert.deepEqual(c.rows.map((r) => r.condition_id).sort(), [...fixtureConditions.map((id) => fhirLogicalId(id.startsWith('h-') ? 'hl7:RM2' : 'gp:P91001', 'Condition', id)), fhirLogicalId(GP2, 'Condition', 'pc1')].sort(), 'stable ids, as the FHIR API serves them');
      assert.deepEqual(c.result.store?.excluded, { nationalDataOptOut: 1, restricted: 1, other: 0 });
      assert.equal(c.result.store?.people, 2);
      assert.equal(c.result.store?.withheld, 1);
      assert.equal(c.result.store?.pseudonymised, true);
      // The hospital's and the GP's conditions of one person share their pseudonym (references to either source Patient are the person).
      const fixtureRows = c.rows.filter((r) => r.code === '44054006' || r.code === '195967001');
      assert.equal(new Set(fixtureRows.filter((r) => String(r.source).startsWith('gp:P91001') || r.source === 'hl7:RM2').map((r) => r.patient_id)).size, 1);

      // One audit entry for the run, with the counts.
      const audit = await db.query<{ actor: string; action: string; decision: string; purpose: string; person_id: string | null; detail: Record<string, unknown> }>(`SELECT actor, action, decision, purpose, person_id::text AS person_id, detail FROM audit_log WHERE action = 'view.run' ORDER BY audit_id`);
      assert.equal(audit.rows.length, 1);
      const entry = audit.rows[0]!;
      assert.equal(entry.actor, 'analyst1');
      assert.equal(entry.decision, 'permit');
      assert.equal(entry.purpose, 'secondary-use');
      assert.equal(entry.person_id, null);
      assert.equal(entry.detail.view, 'conditions_flat');
      assert.equal(entry.detail.rows, 4);
      assert.equal(entry.detail.people, 2);
      assert.deepEqual(entry.detail.excluded, { nationalDataOptOut: 1, restricted: 1, other: 0 });

      // Patients: one row per person, pseudonymised; the pseudonym joins with the conditions.
      const p = await run(analyst, example('patient-demographics'), { pageSize: 1 });
      assert.equal(p.rows.length, 2, p.text);
      assert.deepEqual(new Set(p.rows.map((r) => r.patient_id)), patientIds, 'patient_id joins conditions.patient_id');
      const fixture = p.rows.find((r) => r.registered_practice === 'P91001')!;
      assert.equal(fixture.nhs_number, null);
      assert.equal(fixture.family_name, null);
      assert.equal(fixture.birth_date, '1950-03', 'year and month of birth only');
      assert.equal(fixture.postcode, 'M33', 'postcode district only');
      assert.equal(fixture.gender, 'male');
      assert.ok(!p.text.includes(NHS) && !p.text.includes('Smith'), 'no NHS number, no name');

      // Observations: the blood pressure's two components are two rows, the HbA1c one row each.
      const o = await run(analyst, example('observations'), { format: 'csv' });
      const lines = o.text.trim().split('\r\n');
      assert.equal(lines[0], 'observation_id,patient_id,status,category,effective,source,code,display,value,unit,ucum,value_code');
      assert.equal(lines.length - 1, 5, o.text);
      assert.ok(lines.some((l) => l.includes(',142,mmHg,')) && lines.some((l) => l.includes(',88,mmHg,')));
      assert.ok(lines.some((l) => l.includes(',Serum sodium,131,mmol/L,')));

      // Encounters carry their care setting, as $everything tags them.
      const e = await run(analyst, example('encounters'));
      assert.deepEqual(e.rows.map((r) => `${r.source}=${r.care_setting}`).sort(), ['csv:community=community', 'gp:P91001=gp', 'hl7:RM2=hospital', 'hl7:RM2=hospital', 'hl7:RM2=hospital']);

      // A row limit stops the scan early; --since leaves out what came before.
      assert.equal((await run(analyst, conditions, { limit: 1 })).rows.length, 1);
      assert.equal((await run(analyst, conditions, { since: '2025-10-01T12:00:00Z' })).rows.length, 1, 'only the plain person’s condition came after');

      // The governance lead's policy allows identifiable data: the person id and NHS number.
      const admin = ctxFor(db, 'admin1', 'admin');
      const a = await run(admin, example('patient-demographics'));
      const me = a.rows.find((r) => r.patient_id === PERSON_ID);
      assert.ok(me, a.text);
      assert.equal(me.nhs_number, NHS);
      assert.equal(me.birth_date, '1950-03-12');
      assert.equal(a.result.store?.pseudonymised, false);
      assert.equal(a.rows.length, 2, 'opted-out and restricted people are left out for the governance lead too');
      const ac = await run(admin, conditions);
      assert.ok(ac.rows.every((r) => r.patient_id === PERSON_ID || r.patient_id === PLAIN), 'references are the merged Patient');

      // A GP may not use records for secondary purposes: refused, audited, nothing written.
      const gp = ctxFor(db, 'dr.jones', 'gp', 'P91001');
      let written = '';
      await assert.rejects(runViewOnStore(gp, conditions, (t) => void (written += t), { format: 'csv' }), (err: { kind?: string; message: string }) => err.kind === 'forbidden' && /may not use records for secondary purposes/.test(err.message));
      assert.equal(written, '');
      // Direct care is not a purpose for a view over the store, whoever asks.
      await assert.rejects(runViewOnStore({ ...analyst, purpose: 'direct-care' }, conditions, () => undefined, { format: 'csv' }), /for secondary use, not direct-care/);
      const denied = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'view.run' AND decision = 'deny'`);
      assert.equal(denied.rows[0]!.n, 2);

      // A run that stops on the data (several values in a column that is not a collection) is audited with why.
      const broken = compileView({ resourceType: 'ViewDefinition', resource: 'Observation', select: [{ column: [{ name: 'v', path: 'component.value.ofType(Quantity).value' }] }] });
      await assert.rejects(run(analyst, broken), /gave 2 values/);
      const stopped = await db.query<{ reason: string }>(`SELECT reason FROM audit_log WHERE action = 'view.run' ORDER BY audit_id DESC LIMIT 1`);
      assert.match(stopped.rows[0]!.reason, /stopped: column "v"/);

      // The same person has the same pseudonym from one run to the next (the key is kept).
      const again = await run(analyst, example('patient-demographics'));
      assert.deepEqual(new Set(again.rows.map((r) => r.patient_id)), patientIds);
      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await db.drop();
    }
  });
}
