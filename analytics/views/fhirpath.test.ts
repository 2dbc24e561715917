import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTypeSpecifier } from './fhirpath.ts';
import { compileView } from './view-definition.ts';
import { rowsOf, rowObject } from './view-runner.ts';

test('a type name that is no FHIR type resolves in the System namespace, as FHIRPath says', () => {
  assert.equal(isTypeSpecifier('Time'), true);
  assert.equal(isTypeSpecifier('DateTime'), true);
  assert.equal(isTypeSpecifier('System.Time'), true);
  assert.equal(isTypeSpecifier('time'), true);
  assert.equal(isTypeSpecifier('FHIR.Time'), false);
  assert.equal(isTypeSpecifier('Instant'), false);
  assert.equal(isTypeSpecifier('Nonsense'), false);
});

test('ofType(Time) on a choice element compares with a time constant, on both paths', () => {
  const view = {
    resource: 'Observation',
    constant: [{ name: 'noon', valueTime: '12:00:00' }],
    select: [{ column: [{ name: 'id', path: 'id' }, { name: 'at_noon', path: 'value.ofType(Time) = %noon', type: 'boolean' }] }],
  };
  const obs = (id: string, x: object) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'c' }, ...x });
  const resources = [obs('a', { valueTime: '12:00:00' }), obs('b', { valueTime: '07:30:00' }), obs('c', { valueString: '12:00:00' })];
  for (const fastPath of [true, false]) {
    const v = compileView(view, { fastPath });
    const rows = resources.flatMap((r) => rowsOf(v, r).map((row) => rowObject(v, row)));
    assert.deepEqual(rows, [{ id: 'a', at_noon: true }, { id: 'b', at_noon: false }, { id: 'c', at_noon: null }], `fastPath ${fastPath}`);
  }
});
