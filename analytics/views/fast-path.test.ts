import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { syntheaBundle } from '../../ingest/fhir/fixtures/synthea.ts';
import { gpBundle } from '../../ingest/fhir/test-bundles.ts';
import { rows as fixtureRows } from '../../record/test-fixtures.ts';
import { compileFast, compileFastTyped } from './fast-path.ts';
import { resourcesOf } from './input.ts';
import { compileView } from './view-definition.ts';
import { rowsOf } from './view-runner.ts';

const EXAMPLES = join(import.meta.dirname, 'examples');
const examples = readdirSync(EXAMPLES).map((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as Record<string, unknown>);

// Views beyond the examples that lean on what the fast path does and what it leaves to FHIRPath.js.
const extra: Record<string, unknown>[] = [
  { resource: 'Patient', constant: [{ name: 'sys', valueUri: 'https://fhir.nhs.uk/Id/nhs-number' }, { name: 'born', valueDate: '1950-03-12' }], select: [{ column: [{ name: 'id', path: 'getResourceKey()' }, { name: 'nhs', path: 'identifier.where(system = %sys).value.first()' }, { name: 'given', path: "name.given.join(' ')" }, { name: 'b', path: 'birthDate = %born' }, { name: 'n', path: 'name.count()' }, { name: 'official', path: "name.where(use = 'official').exists()" }] }] },
  { resource: 'Observation', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'has_value', path: 'value.exists()' }, { name: 'q', path: 'value.ofType(Quantity).value' }, { name: 'not_final', path: "(status = 'final').not()" }, { name: 'both', path: "status = 'final' and code.coding.exists()" }, { name: 'either', path: "status = 'amended' or code.coding.code.first() = '1234'" }, { name: 'codes', path: 'code.coding.code | component.code.coding.code', collection: true }, { name: 'things', path: 'code.coding | category.coding', collection: true, type: 'Coding' }] }, { forEachOrNull: 'component', column: [{ name: 'cv', path: 'value.ofType(Quantity).value' }, { name: 'cc', path: 'code.coding.code', collection: true }] }] },
  { resource: 'Encounter', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'first_type', path: 'type[0].coding[0].code' }, { name: 'ext', path: "extension('https://x.example/ext').value.ofType(string)" }] }, { forEach: 'participant', column: [{ name: 'who', path: 'individual.getReferenceKey()' }, { name: 'who_type', path: 'individual.getReferenceKey(Practitioner)' }] }] },
  { resource: 'Condition', select: [{ column: [{ name: 'id', path: 'id' }, { name: 'onset', path: 'onset.ofType(dateTime)' }, { name: 'codes', path: 'code.coding.code', collection: true }, { name: 'active', path: "clinicalStatus.coding.exists(code = 'active')" }] }] },
];

function outcome(view: Record<string, unknown>, resources: unknown[], fastPath: boolean): unknown {
  try {
    const v = compileView({ resourceType: 'ViewDefinition', ...view }, { fastPath });
    return resources.flatMap((r) => rowsOf(v, r));
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

test('the fast path gives what FHIRPath.js gives, for the example views and more, over Synthea-shaped, GP and integrated-record data', () => {
  const resources = [
    ...resourcesOf(syntheaBundle({ seed: 3, encounters: 20 })),
    ...resourcesOf(gpBundle({ observations: 20 })),
    ...fixtureRows.map((r) => r.content),
    // A primitive with extensions, and an element with only an extension: FHIRPath.js's road.
    { resourceType: 'Patient', id: 'ext', name: [{ family: 'A', _family: { extension: [{ url: 'x', valueString: 'y' }] } }, { _family: { extension: [{ url: 'x' }] } }], birthDate: '1950-03-12' },
  ];
  assert.ok(resources.length > 300);
  let rows = 0;
  for (const view of [...examples, ...extra]) {
    const fast = outcome(view, resources, true);
    const slow = outcome(view, resources, false);
    assert.deepEqual(fast, slow, String(view.name ?? view.resource));
    if (Array.isArray(fast)) rows += fast.length;
  }
  assert.ok(rows > 200, `${rows} rows compared`);
});

test('what the fast path takes on, and what it leaves to FHIRPath.js', () => {
  for (const [path, type] of [
    ['code.coding.where(system = %s).code.first()', 'Observation'],
    ['value.ofType(Quantity).unit', 'Observation'],
    ['subject.getReferenceKey(Patient)', 'Observation'],
    ["extension('u').value.ofType(code)", 'Patient'],
    ['name[1].given.join()', 'Patient'],
    ['getResourceKey()', 'Patient'],
    ["active = true and gender != 'male'", 'Patient'],
    ['effective.ofType(dateTime) | effective.ofType(Period).start', 'Observation'],
  ] as const) assert.ok(compileFast(path, type), `${path} on the fast path`);
  for (const [path, type] of [
    ['birthDate < @2000-01-01', 'Patient'],
    ['value.unit', 'Observation'],
    ['Patient.name', 'Patient'],
    ['name.family.lowBoundary()', 'Patient'],
    ["'a\\'b'", 'Patient'],
    ['valueQuantity.value + 1', 'Observation'],
  ] as const) assert.equal(compileFast(path, type), null, `${path} left to FHIRPath.js`);
  assert.deepEqual(compileFastTyped('component', 'Observation')?.type, 'Observation.component');
  assert.deepEqual(compileFastTyped('item.item', 'QuestionnaireResponse')?.type, 'QuestionnaireResponse.item');
});
