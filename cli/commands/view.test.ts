import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const examples = join(root, 'analytics/views/examples');

function bevan(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.BEVAN_USER;
  const child = spawn(process.execPath, [join(root, 'bin/bevan.mjs'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const patient = (id: string, family: string, birthDate: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  id,
  gender: 'female',
  birthDate,
  name: [{ use: 'official', family }],
  identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: `94347659${id.length}9` }],
  generalPractitioner: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'P91001' } }],
  ...extra,
});
const observation = (id: string, patientId: string, value: number) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  subject: { reference: `Patient/${patientId}` },
  code: { coding: [{ system: 'http://snomed.info/sct', code: '1107481000000106', display: 'HbA1c level' }] },
  effectiveDateTime: '2025-03-01',
  valueQuantity: { value, unit: 'mmol/mol', system: 'http://unitsofmeasure.org', code: 'mmol/mol' },
});

test('bevan view run --input: a Bundle and an NDJSON file, without a database or a user', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-view-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'bundle.json');
  writeFileSync(
    bundle,
    JSON.stringify(
      {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: patient('pa', 'Hughes, "Jo"', '1971-04-05') }, { resource: patient('pb', 'Doyle', '1948-11-30', { deceasedDateTime: '2024-01-02' }) }, { resource: observation('ob', 'pa', 61) }],
      },
      null,
      2,
    ),
  );
  const ndjson = join(dir, 'Observation.ndjson');
  writeFileSync(ndjson, [observation('o1', 'pa', 48), observation('o2', 'pb', 75), { resourceType: 'Patient', id: 'not-an-observation' }].map((r) => JSON.stringify(r)).join('\n') + '\n');

  // CSV from a Bundle (the default format): a header, RFC 4180 quoting, one row per Patient.
  const csv = await bevan(['view', 'run', join(examples, 'patient-demographics.json'), '--input', bundle], dir);
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(
    csv.stdout,
    [
      'patient_id,nhs_number,family_name,gender,birth_date,deceased,deceased_date,postcode,registered_practice',
      'pa,9434765929,"Hughes, ""Jo""",female,1971-04-05,false,,,P91001',
      'pb,9434765929,Doyle,female,1948-11-30,true,2024-01-02,,P91001',
      '',
    ].join('\r\n'),
  );
  assert.equal(csv.stderr, '');

  // NDJSON from an NDJSON file, with a summary on stderr; resources of other types give no rows.
  const nd = await bevan(['view', 'run', join(examples, 'observations.json'), '--input', ndjson, '--format', 'ndjson', '--summary'], dir);
  assert.equal(nd.code, 0, nd.stderr);
  const rows = nd.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    rows.map((r) => [r.observation_id, r.patient_id, r.value, r.unit, r.effective]),
    [
      ['o1', 'pa', 48, 'mmol/mol', '2025-03-01'],
      ['o2', 'pb', 75, 'mmol/mol', '2025-03-01'],
    ],
  );
  assert.deepEqual(JSON.parse(nd.stderr), { view: 'observations', input: ndjson, rows: 2, resources: 3 });

  // JSON, a row limit, and CSV without its header.
  const json = await bevan(['view', 'run', join(examples, 'observations.json'), '--input', ndjson, '--format', 'json', '--limit', '1'], dir);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as unknown[]).length, 1);
  const bare = await bevan(['view', 'run', join(examples, 'conditions.json'), '--input', bundle, '--no-header'], dir);
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(bare.stdout, '', 'no conditions, no header');

  // Errors: an invalid view (65, every problem), a view that the data breaks (65), a missing file (66), bad JSON input (64).
  const badView = join(dir, 'bad-view.json');
  writeFileSync(badView, JSON.stringify({ resourceType: 'ViewDefinition', resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id', type: 'varchar' }, { name: 'id', path: 'name.family' }] }] }));
  const bad = await bevan(['view', 'run', badView, '--input', bundle], dir);
  assert.equal(bad.code, 65);
  assert.match(bad.stderr, /the ViewDefinition is not valid: select\[0\]\.column\[0\]\.type: "varchar" is not a FHIR R4 type.*\(and 1 more\)/);
  const check = await bevan(['view', 'check', badView, '--json'], dir);
  assert.equal(check.code, 65);
  assert.equal((JSON.parse(check.stdout) as { problems: string[] }).problems.length, 2);
  const many = join(dir, 'many.json');
  writeFileSync(many, JSON.stringify({ resourceType: 'ViewDefinition', resource: 'Patient', select: [{ column: [{ name: 'given', path: 'name.family | name.use' }] }] }));
  const broke = await bevan(['view', 'run', many, '--input', bundle], dir);
  assert.equal(broke.code, 65);
  assert.match(broke.stderr, /column "given" \(select\[0\]\.column\[0\]\) gave 2 values for Patient\/pa/);
  assert.equal((await bevan(['view', 'run', join(examples, 'conditions.json'), '--input', join(dir, 'nowhere.ndjson')], dir)).code, 66);
  const garbled = join(dir, 'garbled.ndjson');
  writeFileSync(garbled, `${JSON.stringify(observation('o1', 'pa', 1))}\n{"resourceType": \n`);
  const g = await bevan(['view', 'run', join(examples, 'observations.json'), '--input', garbled], dir);
  assert.equal(g.code, 64);
  assert.match(g.stderr, /line 2 is not JSON/);
  assert.equal((await bevan(['view', 'run', join(examples, 'observations.json'), '--input', ndjson, '--format', 'xml'], dir)).code, 64);

  // Over the store a user is needed (secondary use of personal data).
  const store = await bevan(['view', 'run', join(examples, 'conditions.json'), '--data', join(dir, 'data')], dir);
  assert.equal(store.code, 77);
  assert.match(store.stderr, /name the user reading/);
});

test('bevan view test: files in the SQL-on-FHIR suite format', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-view-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mine.json');
  writeFileSync(
    file,
    JSON.stringify({
      title: 'mine',
      resources: [{ resourceType: 'Patient', id: 'x', active: true }],
      tests: [
        { title: 'passes', view: { resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id' }] }] }, expect: [{ id: 'x' }] },
        { title: 'expects an error', view: { resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id', type: 'nope' }] }] }, expectError: true },
        { title: 'fails', view: { resource: 'Patient', select: [{ column: [{ name: 'id', path: 'id' }] }] }, expect: [{ id: 'y' }] },
      ],
    }),
  );
  const r = await bevan(['view', 'test', file, '--json'], dir);
  assert.equal(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { passed: number; tests: number; failures: { title: string }[] };
  assert.equal(out.passed, 2);
  assert.equal(out.tests, 3);
  assert.deepEqual(out.failures.map((f) => f.title), ['fails']);
});
