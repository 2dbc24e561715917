/**
 * Views compiled to SQL give the JS runner's rows: every conformance case (conformance-cases.ts,
 * one group per file of the specification's suite) and every example view, run both ways over
 * the same resources, on PGlite and PostgreSQL; and over the store, the example views as an
 * analyst (pseudonymised) and as the governance lead, in SQL and with the JS runner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestContext, Role } from '../../access/context.ts';
import { insertFixtures, insertIdentity, insertResource, identities as fixtureIdentities } from '../../record/test-fixtures.ts';
import type { Database } from '../../db/database.ts';
import type { ResourceRow } from '../../record/rows.ts';
import { testDatabases } from '../../test/databases.ts';
import { groups } from './conformance-cases.ts';
import { runViewOnStore } from './run-view.ts';
import { rowsInSql } from './sql-resources.ts';
import { compileViewToSql } from './sql-view.ts';
import { logicalIdSql } from '../../fhir/secondary-use-sql.ts';
import { compileView, type CompiledView } from './view-definition.ts';
import { rowsOf, type Row } from './view-runner.ts';

const EXAMPLES = join(import.meta.dirname, 'examples');
const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')).map((f) => compileView(JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8'))));

/** Rows as a sorted list of JSON texts (the same rows in any order compare equal). */
const bag = (rows: Row[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

type Outcome = { rows: string[] } | { error: string };

function inJs(view: CompiledView, resources: unknown[]): Outcome {
  try {
    return { rows: bag(resources.flatMap((r) => rowsOf(view, r))) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function inSql(db: Database, view: CompiledView, resources: unknown[]): Promise<Outcome | null> {
  try {
    const r = await rowsInSql(db, view, resources);
    return 'reasons' in r ? null : { rows: bag(r.rows) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

// Resources for the example views, shaped as the generator and the feeds send them.
const OBSERVATIONS: unknown[] = [
  { resourceType: 'Observation', id: 'o1', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }], code: { coding: [{ system: 'http://snomed.info/sct', code: '1107481000000106', display: 'HbA1c level' }] }, subject: { reference: 'Patient/p1' }, effectiveDateTime: '2024-05-01T09:00:00Z', valueQuantity: { value: 48.0, unit: 'mmol/mol', system: 'http://unitsofmeasure.org', code: 'mmol/mol' }, meta: { source: 'gp:P91001' } },
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { coding: [{ system: 'http://snomed.info/sct', code: '75367002', display: 'Blood pressure' }] }, subject: { reference: 'https://x.example/fhir/Patient/p2/_history/3' }, effectivePeriod: { start: '2024-05-02' }, component: [{ code: { coding: [{ system: 'http://snomed.info/sct', code: '271649006' }] }, valueQuantity: { value: 142, unit: 'mmHg' } }, { code: { coding: [{ code: 'DIA' }] }, valueQuantity: { value: 88, unit: 'mmHg' } }] },
  { resourceType: 'Observation', id: 'o3', status: 'entered-in-error', code: { coding: [{ code: 'X' }] } },
  { resourceType: 'Observation', id: 'o4', status: 'final', code: { text: 'smoking' }, subject: { reference: 'Group/g1' }, valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '77176002' }, { code: 'local' }] } },
  { resourceType: 'Observation', status: 'preliminary', code: { coding: [] }, valueString: 'no id' },
  { resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes' }], text: 'T2DM' }, clinicalStatus: { coding: [{ code: 'active' }] }, verificationStatus: { coding: [{ code: 'confirmed' }] }, onsetDateTime: '2019-01-01', meta: { source: 'gp:P91001' } },
  { resourceType: 'Condition', id: 'c2', subject: { reference: 'Patient/p2' }, code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'E11' }] }, onsetPeriod: { start: '2020' } },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'IMP' }, subject: { reference: 'Patient/p1' }, period: { start: '2024-01-01T10:00:00Z', end: '2024-01-03T10:00:00Z' }, hospitalization: { dischargeDisposition: { coding: [{ code: 'home' }] } }, meta: { source: 'hl7:RM2', tag: [{ system: 'urn:bevan:care-setting', code: 'hospital' }] } },
  { resourceType: 'Encounter', id: 'e2', status: 'planned', class: { code: 'AMB' }, type: [{ coding: [{ code: 'first' }] }], serviceType: { coding: [{ code: '300' }] } },
  { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '1950-03-12', name: [{ family: 'Okafor', given: ['Ada'] }], address: [{ postalCode: 'M33 7XX' }], identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000018' }] },
  { resourceType: 'Patient', id: 'p2', deceasedDateTime: '2024-02-02', generalPractitioner: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91001' } }] },
];

for (const target of await testDatabases()) {
  test(`views compiled to SQL give the JS runner's rows, every conformance case and example view, on ${target.name}`, async () => {
    const db = await target.open();
    try {
      let compiled = 0;
      let total = 0;
      const mismatches: string[] = [];
      for (const g of groups) {
        for (const t of g.tests) {
          let view: CompiledView;
          try {
            view = compileView(t.view);
          } catch {
            continue; // refused before any engine runs: the same for both
          }
          total++;
          const js = inJs(view, g.resources);
          const sql = await inSql(db, view, g.resources);
          if (!sql) continue;
          compiled++;
          if ('error' in js || 'error' in sql) {
            if (!('error' in js && 'error' in sql)) mismatches.push(`${g.title} / ${t.title}: JS ${JSON.stringify(js)}, SQL ${JSON.stringify(sql)}`);
          } else if (JSON.stringify(js.rows) !== JSON.stringify(sql.rows)) mismatches.push(`${g.title} / ${t.title}:\n  JS  ${js.rows.join(' ')}\n  SQL ${sql.rows.join(' ')}`);
        }
      }
      for (const view of examples) {
        total++;
        const sql = await inSql(db, view, OBSERVATIONS);
        if (!sql) {
          if (view.resource !== 'Patient') mismatches.push(`example ${view.name} does not compile: ${JSON.stringify(compileViewToSql(view, { kind: 'resources' }, () => '$1'))}`);
          continue;
        }
        compiled++;
        const js = inJs(view, OBSERVATIONS);
        if (JSON.stringify(js) !== JSON.stringify(sql)) mismatches.push(`example ${view.name}:\n  JS  ${JSON.stringify(js)}\n  SQL ${JSON.stringify(sql)}`);
      }
      assert.deepEqual(mismatches, []);
      assert.ok(compiled >= total * 0.5, `${compiled} of ${total} views compile to SQL`);
    } finally {
      await db.drop();
    }
  });

  test(`example views over the store on ${target.name}: in SQL, the same rows as the JS runner, for an analyst and the governance lead`, async () => {
    const db = await target.open();
    try {
      await insertFixtures(db);
      await addPeople(db);
      for (const role of ['analyst', 'admin'] as Role[]) {
        const ctx: RequestContext = { principal: { user: `${role}1`, role, organisation: null }, purpose: 'secondary-use', db, from: 'test' };
        for (const view of examples) {
          const js = await storeRows(ctx, view, 'js');
          const auto = await storeRows(ctx, view, 'auto');
          assert.deepEqual(auto.rows, js.rows, `${role}: ${view.name}`);
          const { engine: e1, ...a } = auto.counts as unknown as Record<string, unknown>;
          const { engine: e2, ...b } = js.counts as unknown as Record<string, unknown>;
          assert.deepEqual(a, b, `${role}: ${view.name} counts`);
          if (view.name === 'conditions_flat') assert.equal(a.withheld, 2, 'the SNOMED and the ICD-10 (by prefix) sexual health diagnoses of the one person left in, not the look-alike');
          assert.equal(e2, 'js');
          const sqlExpected = view.resource !== 'Patient' && !(view.name === 'encounters');
          if (sqlExpected) assert.equal(e1, 'sql', `${role}: ${view.name} ran in SQL`);
        }
      }
    } finally {
      await db.drop();
    }
  });

  test(`the stable id written out in a view's query is fhir_logical_id's, on ${target.name}`, async () => {
    const db = await target.open();
    try {
      const keys: [string, string, string][] = [['gp:P91001', 'Observation', 'obs-1'], ['hl7:RM2', 'Patient', 'N0002848'], ['gp:Ü', 'Encounter', 'é/1'], ['', 'Condition', '']];
      for (const [system, type, id] of keys) {
        const r = await db.query<{ a: string; b: string }>(`SELECT fhir_logical_id($1::text, $2::text, $3::text) AS a, ${logicalIdSql('$1::text', '$2::text', '$3::text')} AS b`, [system, type, id]);
        assert.equal(r.rows[0]!.b, r.rows[0]!.a, `${system} ${type} ${id}`);
      }
    } finally {
      await db.drop();
    }
  });
}

async function storeRows(ctx: RequestContext, view: CompiledView, engine: 'js' | 'auto') {
  let text = '';
  const r = await runViewOnStore(ctx, view, (t) => void (text += t), { format: 'ndjson', engine });
  return { rows: text.split('\n').filter(Boolean).sort(), counts: r.store! };
}

const GP2 = 'gp:P91002';
const PEOPLE: [string, string, string][] = [
  ['1d3c6a0e-2b7f-4d8e-9a1b-000000000012', '4010232137', 'G-12'],
  ['1d3c6a0e-2b7f-4d8e-9a1b-000000000013', '9990000018', 'G-13'],
  ['1d3c6a0e-2b7f-4d8e-9a1b-000000000014', '9990000026', 'G-14'],
];

/** An opted-out person, a restricted one, and one with a sensitive diagnosis, an unmapped and a mapped laboratory code, and references of every kind. */
async function addPeople(db: Database): Promise<void> {
  for (const [personId, nhs, sourceId] of PEOPLE) {
    await db.query(`INSERT INTO person (person_id, nhs_number) VALUES ($1, $2)`, [personId, nhs]);
    await insertIdentity(db, { ...fixtureIdentities[0]!, source_system: GP2, source_id: sourceId, person_id: personId, nhs_number: nhs, family: `F${sourceId}`, given: 'Alex', birth_date: '1980-07-15', sex: 'female', postcode: 'M41 0AA', practice: 'P91002' });
    const row = (type: string, id: string, content: Record<string, unknown>): ResourceRow => ({ source_system: GP2, resource_type: type, source_id: id, person_id: personId, subject_id: sourceId, version: 1, source_time: null, received_at: '2025-10-02T08:00:00.000Z', content: { resourceType: type, id, ...content } as never });
    await insertResource(db, row('Patient', sourceId, { name: [{ family: `F${sourceId}` }], gender: 'female', birthDate: '1980-07-15' }));
    await insertResource(db, row('Condition', `${sourceId}-c1`, { subject: { reference: `Patient/${sourceId}` }, code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] }, clinicalStatus: { coding: [{ code: 'active' }] } }));
    await insertResource(db, row('Condition', `${sourceId}-c2`, { subject: { reference: `Patient/${sourceId}` }, code: { coding: [{ system: 'http://snomed.info/sct', code: '105629000' }] } }));
    // An ICD-10 code on the list by its prefix (A54, gonococcal infection), and one that only looks like it.
    await insertResource(db, row('Condition', `${sourceId}-c3`, { subject: { reference: `Patient/${sourceId}` }, code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'A54.2' }] } }));
    await insertResource(db, row('Condition', `${sourceId}-c4`, { subject: { reference: `Patient/${sourceId}` }, code: { coding: [{ system: 'http://example.org/other', code: 'A54.2' }] }, note: [{ text: 'A54' }] }));
    await insertResource(db, row('Observation', `${sourceId}-o1`, { status: 'final', subject: { reference: `Patient/${sourceId}` }, encounter: { reference: 'Encounter/enc-1' }, code: { coding: [{ code: 'HBA1C', display: 'local HbA1c' }] }, valueQuantity: { value: 51.0, unit: 'mmol/mol' }, effectiveDateTime: '2025-01-01' }));
    await insertResource(db, row('Observation', `${sourceId}-o2`, { status: 'final', subject: { reference: 'Patient/someone-else' }, performer: [{ reference: 'https://x.example/Practitioner/pr1' }], code: { coding: [{ code: 'NA' }, { system: 'http://loinc.org', code: '2951-2' }] }, valueQuantity: { value: 139, unit: 'mmol/L' } }));
  }
  await db.query(`INSERT INTO consent_directive (person_id, kind, recorded_by) VALUES ($1, 'national-data-opt-out', 'test')`, [PEOPLE[0]![0]]);
  await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'protected record')`, [PEOPLE[1]![0]]);
}
