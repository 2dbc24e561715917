import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTypeSpecifier, withModelTypeNames } from './fhirpath.ts';
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

test('a FHIR primitive type named as a choice element spells it (Instant for effectiveInstant) is read as the model names it', () => {
  assert.equal(withModelTypeNames("effective.ofType(Instant) = 'ofType(Instant)'"), "effective.ofType(instant) = 'ofType(Instant)'");
  assert.equal(withModelTypeNames('(effective as Instant).exists() and value is Uri'), '(effective as instant).exists() and value is uri');
  assert.equal(withModelTypeNames('value.ofType(Quantity).value\n  | value.ofType(Time)'), 'value.ofType(Quantity).value\n  | value.ofType(Time)');
  assert.equal(withModelTypeNames('value.ofType(Nonsense)'), 'value.ofType(Nonsense)');
  const view = {
    resource: 'Observation',
    constant: [{ name: 'at', valueInstant: '2024-05-01T09:00:00.000Z' }],
    select: [{ column: [{ name: 'id', path: 'id' }, { name: 'same', path: 'effective.ofType(Instant) = %at', type: 'boolean' }] }],
  };
  const obs = (id: string, x: object) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'c' }, ...x });
  const resources = [obs('a', { effectiveInstant: '2024-05-01T09:00:00.000Z' }), obs('b', { effectiveInstant: '2024-05-02T09:00:00.000Z' }), obs('c', { effectiveDateTime: '2024-05-01' })];
  for (const fastPath of [true, false]) {
    const v = compileView(view, { fastPath });
    const rows = resources.flatMap((r) => rowsOf(v, r).map((row) => rowObject(v, row)));
    assert.deepEqual(rows, [{ id: 'a', same: true }, { id: 'b', same: false }, { id: 'c', same: null }], `fastPath ${fastPath}`);
  }
});
