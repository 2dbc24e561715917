import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileViewToSql, type SqlSource } from './sql-view.ts';
import { compileView } from './view-definition.ts';

const store = (pseudonymised: boolean): SqlSource => ({ kind: 'store', pseudonymised, patientKey: (id) => `pk(${id})`, logicalId: (s, t, i) => `lid(${s}, ${t}, ${i})` });
const compile = (view: Record<string, unknown>, source: SqlSource) => {
  const params: unknown[] = [];
  return { result: compileViewToSql(compileView({ resourceType: 'ViewDefinition', status: 'active', ...view }), source, (v) => `$${params.push(v)}`), params };
};
const obs = (columns: { name: string; path: string }[], extra: Record<string, unknown> = {}) => ({ resource: 'Observation', select: [{ column: columns }], ...extra });

test('a view within the subset compiles to one query; every literal is bound, none is spliced into the SQL', () => {
  const { result, params } = compile(obs([{ name: 'code', path: "code.coding.where(system = 'http://snomed.info/sct').code.first()" }, { name: 'patient', path: 'subject.getReferenceKey(Patient)' }]), store(true));
  assert.equal(result.kind, 'sql');
  if (result.kind !== 'sql') return;
  assert.ok(!result.view.rowsSql.includes('snomed'), 'the code system is a parameter');
  assert.ok(params.some((p) => typeof p === 'string' && p.includes('http://snomed.info/sct')));
  assert.deepEqual(result.view.columns.map((c) => [c.name, c.shape, c.patientKey]), [['code', 'single', false], ['patient', 'single', true]]);
  assert.ok(result.view.needs.has('pcode'), 'an Observation code is read as served, national coding first');
});

test('what is left to the JS runner, with the reason', () => {
  const reasons = (view: Record<string, unknown>, source: SqlSource = store(true)) => {
    const { result } = compile(view, source);
    return result.kind === 'js' ? result.reasons.join('\n') : 'compiled';
  };
  assert.match(reasons(obs([{ name: 'setting', path: "meta.tag.where(system = 'x').code.first()" }])), /meta\.tag is presented by the store/);
  assert.match(reasons(obs([{ name: 'ref', path: 'subject.reference' }])), /use getReferenceKey/);
  assert.match(reasons(obs([{ name: 'i', path: '%rowIndex' }], {})), /%rowIndex is not compiled/);
  assert.match(reasons({ resource: 'QuestionnaireResponse', select: [{ repeat: ['item'], column: [{ name: 'l', path: 'linkId' }] }] }), /repeat is not compiled/);
  assert.match(reasons(obs([{ name: 'v', path: 'value.ofType(Quantity).value > 5' }])), /not compiled/);
  assert.match(reasons({ resource: 'Patient', select: [{ column: [{ name: 'id', path: 'getResourceKey()' }] }] }), /merged Patient/);
  // Identifiers go when the output is pseudonymised; a role that sees people identified keeps them.
  const ids = obs([{ name: 'acc', path: 'identifier.value.first()' }]);
  assert.match(reasons(ids, store(true)), /removed by pseudonymisation/);
  assert.equal(reasons(ids, store(false)), 'compiled');
  assert.match(reasons(obs([{ name: 'k', path: 'subject.getReferenceKey()' }]), store(true)), /name the type/);
  assert.equal(reasons(obs([{ name: 'k', path: 'subject.getReferenceKey()' }]), { kind: 'resources' }), 'compiled');
});
