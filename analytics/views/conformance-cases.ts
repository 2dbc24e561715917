/**
 * Our own conformance cases for SQL-on-FHIR v2, in the suite's file format: one group for each
 * file of the specification's test suite (tests/*.json in github.com/FHIR/sql-on-fhir-v2), each
 * exercising the behaviours that file tests with our own resources and views. Used by
 * conformance.test.ts (the JS runner, with and without the fast path) and
 * sql-view.int.test.ts (the same cases compiled to SQL). Data only.
 */
import type { SpecTest, SpecTestFile } from './spec-tests.ts';

export type Json = Record<string, unknown>;
export const col = (name: string, path: string, extra: Json = {}): Json => ({ name, path, ...extra });
export const view = (resource: string, select: Json[], extra: Json = {}): Json => ({ resourceType: 'ViewDefinition', status: 'active', resource, select, ...extra });
const ids = (...xs: string[]) => xs.map((id) => ({ id }));

export const groups: SpecTestFile[] = [];
const group = (title: string, resources: unknown[], tests: SpecTest[]) => groups.push({ title, resources, tests });

// ---------------------------------------------------------------------------------------------
group(
  'basic',
  [
    { resourceType: 'Patient', id: 'a1', active: true, name: [{ family: 'Okafor' }] },
    { resourceType: 'Patient', id: 'a2', active: false, name: [{ family: 'Byrne' }] },
    { resourceType: 'Patient', id: 'a3' },
  ],
  [
    { title: 'one column', view: view('Patient', [{ column: [col('id', 'id', { type: 'id' })] }]), expect: ids('a1', 'a2', 'a3') },
    {
      title: 'boolean column: true, false and absent',
      view: view('Patient', [{ column: [col('id', 'id'), col('active', 'active', { type: 'boolean' })] }]),
      expect: [{ id: 'a1', active: true }, { id: 'a2', active: false }, { id: 'a3', active: null }],
    },
    {
      title: 'two columns, one with first()',
      view: view('Patient', [{ column: [col('id', 'id'), col('family', 'name.family.first()', { type: 'string' })] }]),
      expect: [{ id: 'a1', family: 'Okafor' }, { id: 'a2', family: 'Byrne' }, { id: 'a3', family: null }],
    },
    {
      title: 'two sibling selects',
      view: view('Patient', [{ column: [col('id', 'id')] }, { column: [col('family', 'name.family.first()')] }]),
      expect: [{ id: 'a1', family: 'Okafor' }, { id: 'a2', family: 'Byrne' }, { id: 'a3', family: null }],
    },
    { title: 'where true', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: 'active.exists() and active = true' }] }), expect: ids('a1') },
    { title: 'where false', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: 'active.exists() and active = false' }] }), expect: ids('a2') },
    { title: 'where giving nothing for some resources', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: 'active' }] }), expect: ids('a1') },
    { title: 'where on an expression', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.family.exists() and name.family = 'Byrne'" }] }), expect: ids('a2') },
    {
      title: 'columns and a nested select',
      view: view('Patient', [{ column: [col('outer_id', 'id')], select: [{ column: [col('inner_id', 'id')] }] }]),
      expect: [{ outer_id: 'a1', inner_id: 'a1' }, { outer_id: 'a2', inner_id: 'a2' }, { outer_id: 'a3', inner_id: 'a3' }],
    },
    {
      title: 'column order: parent columns, nested selects, unionAll, then siblings',
      view: view('Patient', [
        {
          column: [col('c1', "'one'"), col('c2', "'two'")],
          select: [{ forEach: 'name', column: [col('c3', "'three'"), col('c4', "'four'")] }],
          unionAll: [{ column: [col('c5', "'u1'"), col('c6', "'v1'")] }, { column: [col('c5', "'u2'"), col('c6', "'v2'")] }],
        },
        { column: [col('c7', "'seven'"), col('c8', "'eight'")] },
      ]),
      expectColumns: ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'],
      expect: ['a1', 'a2'].flatMap(() => [
        { c1: 'one', c2: 'two', c3: 'three', c4: 'four', c5: 'u1', c6: 'v1', c7: 'seven', c8: 'eight' },
        { c1: 'one', c2: 'two', c3: 'three', c4: 'four', c5: 'u2', c6: 'v2', c7: 'seven', c8: 'eight' },
      ]),
    },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'collection',
  [
    { resourceType: 'Patient', id: 'c1', name: [{ use: 'official', family: 'Ahmed', given: ['Samira'] }, { family: 'Khan', given: ['Sam', 'Mira'] }] },
    { resourceType: 'Patient', id: 'c2', name: [{ family: 'Lowe', given: ['Ted'] }] },
    { resourceType: 'Patient', id: 'c3' },
  ],
  [
    { title: 'several values in a column that is not a collection is an error', view: view('Patient', [{ column: [col('id', 'id'), col('family', 'name.family', { collection: false })] }]), expectError: true },
    {
      title: 'collection columns are lists (empty when nothing)',
      view: view('Patient', [{ column: [col('id', 'id'), col('family', 'name.family', { collection: true }), col('given', 'name.given', { collection: true })] }]),
      expect: [
        { id: 'c1', family: ['Ahmed', 'Khan'], given: ['Samira', 'Sam', 'Mira'] },
        { id: 'c2', family: ['Lowe'], given: ['Ted'] },
        { id: 'c3', family: [], given: [] },
      ],
    },
    {
      title: 'collection false is relative to the forEach focus',
      view: view('Patient', [{ column: [col('id', 'id')], select: [{ forEach: 'name', column: [col('family', 'family', { collection: false }), col('given', 'given', { collection: true })] }] }]),
      expect: [
        { id: 'c1', family: 'Ahmed', given: ['Samira'] },
        { id: 'c1', family: 'Khan', given: ['Sam', 'Mira'] },
        { id: 'c2', family: 'Lowe', given: ['Ted'] },
      ],
    },
    {
      title: 'collection false relative to a forEachOrNull focus',
      view: view('Patient', [{ column: [col('id', 'id')], select: [{ forEachOrNull: 'name', column: [col('family', 'family', { collection: false })] }] }]),
      expect: [{ id: 'c1', family: 'Ahmed' }, { id: 'c1', family: 'Khan' }, { id: 'c2', family: 'Lowe' }, { id: 'c3', family: null }],
    },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'combinations',
  [
    { resourceType: 'Patient', id: 'k1' },
    { resourceType: 'Patient', id: 'k2' },
  ],
  [
    { title: 'a select holding only a select', view: view('Patient', [{ select: [{ column: [col('id', 'id')] }] }]), expect: ids('k1', 'k2') },
    { title: 'column and select', view: view('Patient', [{ column: [col('a', 'id')], select: [{ column: [col('b', 'id')] }] }]), expect: [{ a: 'k1', b: 'k1' }, { a: 'k2', b: 'k2' }] },
    { title: 'sibling selects', view: view('Patient', [{ column: [col('a', 'id')] }, { column: [col('b', 'id')] }]), expect: [{ a: 'k1', b: 'k1' }, { a: 'k2', b: 'k2' }] },
    { title: 'sibling selects inside a select', view: view('Patient', [{ select: [{ column: [col('a', 'id')] }, { column: [col('b', 'id')] }] }]), expect: [{ a: 'k1', b: 'k1' }, { a: 'k2', b: 'k2' }] },
    { title: 'column and select, with where', view: view('Patient', [{ column: [col('a', 'id')], select: [{ column: [col('b', 'id')] }] }], { where: [{ path: "id = 'k2'" }] }), expect: [{ a: 'k2', b: 'k2' }] },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'constant',
  [
    { resourceType: 'Patient', id: 'n1', name: [{ use: 'usual', family: 'Jay' }, { use: 'official', family: 'Jayasuriya' }] },
    { resourceType: 'Patient', id: 'n2', deceasedBoolean: true, name: [{ use: 'usual', family: 'Rees' }, { use: 'old', family: 'Price' }] },
  ],
  [
    {
      title: 'constant in a column path',
      view: view('Patient', [{ column: [col('id', 'id'), col('official', 'name.where(use = %use).family')] }], { constant: [{ name: 'use', valueString: 'official' }] }),
      expect: [{ id: 'n1', official: 'Jayasuriya' }, { id: 'n2', official: null }],
    },
    {
      title: 'constant in forEach',
      view: view('Patient', [{ forEach: 'name.where(use = %use)', column: [col('official', 'family')] }], { constant: [{ name: 'use', valueCode: 'official' }] }),
      expect: [{ official: 'Jayasuriya' }],
    },
    {
      title: 'constant in where',
      view: view('Patient', [{ column: [col('id', 'id')] }], { constant: [{ name: 'use', valueString: 'official' }], where: [{ path: 'name.where(use = %use).exists()' }] }),
      expect: ids('n1'),
    },
    {
      title: 'constants in unionAll branches',
      view: view('Patient', [{ unionAll: [{ forEach: 'name.where(use = %first)', column: [col('family', 'family')] }, { forEach: 'name.where(use = %use2)', column: [col('family', 'family')] }] }], {
        constant: [
          { name: 'first', valueString: 'official' },
          { name: 'use2', valueString: 'usual' },
        ],
      }),
      expect: [{ family: 'Jayasuriya' }, { family: 'Jay' }, { family: 'Rees' }],
    },
    {
      title: 'integer constant as an index',
      view: view('Patient', [{ column: [col('id', 'id'), col('second', 'name[%i].family')] }], { constant: [{ name: 'i', valueInteger: 1 }] }),
      expect: [{ id: 'n1', second: 'Jayasuriya' }, { id: 'n2', second: 'Price' }],
    },
    {
      title: 'boolean constant',
      view: view('Patient', [{ column: [col('id', 'id')] }], { constant: [{ name: 'dead', valueBoolean: true }], where: [{ path: 'deceased.ofType(boolean).exists() and deceased.ofType(boolean) = %dead' }] }),
      expect: ids('n2'),
    },
    { title: 'an undefined constant is an error', view: view('Patient', [{ forEach: 'name.where(use = %nowhere)', column: [col('family', 'family')] }], { constant: [{ name: 'use', valueString: 'official' }] }), expectError: true },
    { title: 'a constant without a value is an error', view: view('Patient', [{ column: [col('id', 'id')] }], { constant: [{ name: 'use' }] }), expectError: true },
    { title: 'a constant with two values is an error', view: view('Patient', [{ column: [col('id', 'id')] }], { constant: [{ name: 'use', valueString: 'a', valueCode: 'b' }] }), expectError: true },
    { title: 'a constant value of the wrong type is an error', view: view('Patient', [{ column: [col('id', 'id')] }], { constant: [{ name: 'n', valueInteger: true }] }), expectError: true },
  ],
);

// ---------------------------------------------------------------------------------------------
const boolOf = (resource: string, constant: Json, path: string, expect: [string, boolean | null][]): SpecTest => ({
  title: Object.keys(constant).find((k) => k.startsWith('value'))!.slice(5),
  view: view(resource, [{ column: [col('id', 'id', { type: 'id' }), col('b', path, { type: 'boolean' })] }], { constant: [{ name: 'c', ...constant }] }),
  expect: expect.map(([id, b]) => ({ id, b })),
});
group(
  'constant_types',
  [
    { resourceType: 'DocumentReference', id: 'dr1', status: 'current', content: [{ attachment: { data: 'aGVsbG8=' } }] },
    { resourceType: 'DocumentReference', id: 'dr2', status: 'current', content: [{ attachment: { data: 'Ynll' } }] },
    { resourceType: 'DocumentReference', id: 'dr3', status: 'current', content: [{ attachment: { url: 'x' } }] },
    { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '1971-04-05', active: true, name: [{ family: 'Hughes' }] },
    { resourceType: 'Patient', id: 'p2', gender: 'male', birthDate: '1948-11-30', active: false, name: [{ family: 'Doyle' }] },
    { resourceType: 'Patient', id: 'p3' },
    { resourceType: 'Procedure', id: 'pr1', status: 'completed', subject: { reference: 'Patient/p1' }, performedDateTime: '2019-06-01' },
    { resourceType: 'Procedure', id: 'pr2', status: 'completed', subject: { reference: 'Patient/p1' }, performedDateTime: '2021-02-14' },
    { resourceType: 'Procedure', id: 'pr3', status: 'completed', subject: { reference: 'Patient/p1' } },
    { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'a' }, valueQuantity: { value: 4.2 }, issued: '2023-05-01T09:30:00.000+01:00' },
    { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'a' }, valueQuantity: { value: 7.9 }, issued: '2023-05-02T09:30:00.000+01:00' },
    { resourceType: 'Observation', id: 'o3', status: 'final', code: { text: 'a' }, valueTime: '07:45:00' },
    { resourceType: 'Observation', id: 'o4', status: 'final', code: { text: 'a' }, valueInteger: 3 },
    { resourceType: 'Claim', id: 'cl1', status: 'active', use: 'claim', created: '2020-01-01', item: [{ sequence: 1 }] },
    { resourceType: 'Claim', id: 'cl2', status: 'active', use: 'claim', created: '2020-01-01', item: [{ sequence: 4 }] },
    { resourceType: 'ImagingStudy', id: 'is1', status: 'available', numberOfInstances: 0 },
    { resourceType: 'ImagingStudy', id: 'is2', status: 'available', numberOfInstances: 120 },
    { resourceType: 'ValueSet', id: 'vs1', status: 'active', url: 'https://example.org/ValueSet/diabetes' },
    { resourceType: 'ValueSet', id: 'vs2', status: 'active', url: 'https://example.org/ValueSet/copd' },
    { resourceType: 'QuestionnaireResponse', id: 'qr1', status: 'completed', questionnaire: 'https://example.org/Questionnaire/phq9' },
    { resourceType: 'QuestionnaireResponse', id: 'qr2', status: 'completed', questionnaire: 'https://example.org/Questionnaire/gad7' },
    { resourceType: 'Task', id: 't1', status: 'requested', intent: 'order', input: [{ type: { text: 'x' }, valueId: 'alpha' }] },
    { resourceType: 'Task', id: 't2', status: 'requested', intent: 'order', input: [{ type: { text: 'x' }, valueOid: 'urn:oid:2.16.840.1.113883' }] },
    { resourceType: 'Task', id: 't3', status: 'requested', intent: 'order', input: [{ type: { text: 'x' }, valueUuid: 'urn:uuid:7d3a5b2e-8f7c-4b3a-9c1d-2e4f6a8b0c1d' }] },
    { resourceType: 'Task', id: 't4', status: 'requested', intent: 'order', input: [{ type: { text: 'x' }, valueUrl: 'https://example.org/a' }] },
    { resourceType: 'Task', id: 't5', status: 'requested', intent: 'order' },
  ],
  [
    boolOf('DocumentReference', { valueBase64Binary: 'aGVsbG8=' }, 'content.first().attachment.data = %c', [['dr1', true], ['dr2', false], ['dr3', null]]),
    boolOf('Patient', { valueBoolean: true }, 'active = %c', [['p1', true], ['p2', false], ['p3', null]]),
    boolOf('QuestionnaireResponse', { valueCanonical: 'https://example.org/Questionnaire/phq9' }, 'questionnaire = %c', [['qr1', true], ['qr2', false]]),
    boolOf('Patient', { valueCode: 'female' }, 'gender = %c', [['p1', true], ['p2', false], ['p3', null]]),
    boolOf('Patient', { valueDate: '1971-04-05' }, 'birthDate = %c', [['p1', true], ['p2', false], ['p3', null]]),
    boolOf('Procedure', { valueDateTime: '2021-02-14' }, 'performed.ofType(dateTime) = %c', [['pr1', false], ['pr2', true], ['pr3', null]]),
    boolOf('Observation', { valueDecimal: 5.5 }, 'value.ofType(Quantity).value < %c', [['o1', true], ['o2', false], ['o3', null], ['o4', null]]),
    boolOf('Task', { valueId: 'alpha' }, 'input.first().value.ofType(id) = %c', [['t1', true], ['t2', null], ['t3', null], ['t4', null], ['t5', null]]),
    boolOf('Observation', { valueInstant: '2023-05-01T09:30:00.000+01:00' }, 'issued = %c', [['o1', true], ['o2', false], ['o3', null], ['o4', null]]),
    boolOf('Observation', { valueInteger: 3 }, 'value.ofType(integer) = %c', [['o1', null], ['o2', null], ['o3', null], ['o4', true]]),
    boolOf('Task', { valueOid: 'urn:oid:2.16.840.1.113883' }, 'input.first().value.ofType(oid) = %c', [['t1', null], ['t2', true], ['t3', null], ['t4', null], ['t5', null]]),
    boolOf('Claim', { valuePositiveInt: 1 }, 'item.first().sequence = %c', [['cl1', true], ['cl2', false]]),
    boolOf('Patient', { valueString: 'Hughes' }, 'name.family.first() = %c', [['p1', true], ['p2', false], ['p3', null]]),
    boolOf('Observation', { valueTime: '07:45:00' }, 'value.ofType(time) = %c', [['o1', null], ['o2', null], ['o3', true], ['o4', null]]),
    boolOf('ImagingStudy', { valueUnsignedInt: 0 }, 'numberOfInstances = %c', [['is1', true], ['is2', false]]),
    boolOf('ValueSet', { valueUri: 'https://example.org/ValueSet/diabetes' }, 'url = %c', [['vs1', true], ['vs2', false]]),
    boolOf('Task', { valueUrl: 'https://example.org/a' }, 'input.first().value.ofType(url) = %c', [['t1', null], ['t2', null], ['t3', null], ['t4', true], ['t5', null]]),
    boolOf('Task', { valueUuid: 'urn:uuid:7d3a5b2e-8f7c-4b3a-9c1d-2e4f6a8b0c1d' }, 'input.first().value.ofType(uuid) = %c', [['t1', null], ['t2', null], ['t3', true], ['t4', null], ['t5', null]]),
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'fhirpath',
  [
    { resourceType: 'Patient', id: 'f1', managingOrganization: { reference: 'Organization/org1' }, name: [{ family: 'Cole', use: 'official', given: ['Ann', 'Marie'] }, { family: 'Hart', given: ['Annie'] }] },
    { resourceType: 'Patient', id: 'f2', managingOrganization: { reference: 'https://fhir.example.org/r4/Organization/org2/_history/3' }, name: [{ family: 'West' }, { family: 'Wood', use: 'official' }] },
    { resourceType: 'Patient', id: 'f3' },
  ],
  [
    { title: 'one element', view: view('Patient', [{ column: [col('id', 'id')] }]), expect: ids('f1', 'f2', 'f3') },
    { title: 'two levels and first()', view: view('Patient', [{ column: [col('v', 'name.family.first()')] }]), expect: [{ v: 'Cole' }, { v: 'West' }, { v: null }] },
    { title: 'a collection', view: view('Patient', [{ column: [col('v', 'name.family', { collection: true })] }]), expect: [{ v: ['Cole', 'Hart'] }, { v: ['West', 'Wood'] }, { v: [] }] },
    { title: 'index [0]', view: view('Patient', [{ column: [col('v', 'name[0].family')] }]), expect: [{ v: 'Cole' }, { v: 'West' }, { v: null }] },
    { title: 'index [1]', view: view('Patient', [{ column: [col('v', 'name[1].family')] }]), expect: [{ v: 'Hart' }, { v: 'Wood' }, { v: null }] },
    { title: 'index out of range', view: view('Patient', [{ column: [col('v', 'name[5].family')] }]), expect: [{ v: null }, { v: null }, { v: null }] },
    { title: 'where()', view: view('Patient', [{ column: [col('v', "name.where(use = 'official').family")] }]), expect: [{ v: 'Cole' }, { v: 'Wood' }, { v: null }] },
    { title: 'exists()', view: view('Patient', [{ column: [col('id', 'id'), col('v', 'name.exists()')] }]), expect: [{ id: 'f1', v: true }, { id: 'f2', v: true }, { id: 'f3', v: false }] },
    { title: 'exists() two levels down', view: view('Patient', [{ column: [col('id', 'id'), col('v', 'name.given.exists()')] }]), expect: [{ id: 'f1', v: true }, { id: 'f2', v: false }, { id: 'f3', v: false }] },
    { title: 'first() of a repeating element', view: view('Patient', [{ column: [col('id', 'id'), col('v', 'name.given.first()')] }]), expect: [{ id: 'f1', v: 'Ann' }, { id: 'f2', v: null }, { id: 'f3', v: null }] },
    { title: 'join(separator)', view: view('Patient', [{ column: [col('id', 'id'), col('v', "name.given.join(' / ')")] }]), expect: [{ id: 'f1', v: 'Ann / Marie / Annie' }, { id: 'f2', v: '' }, { id: 'f3', v: '' }] },
    { title: 'join() with no separator', view: view('Patient', [{ column: [col('id', 'id'), col('v', 'name.given.join()')] }]), expect: [{ id: 'f1', v: 'AnnMarieAnnie' }, { id: 'f2', v: '' }, { id: 'f3', v: '' }] },
    { title: 'getResourceKey()', view: view('Patient', [{ column: [col('k', 'getResourceKey()')] }]), expect: [{ k: 'f1' }, { k: 'f2' }, { k: 'f3' }] },
    {
      title: 'getReferenceKey() of relative and absolute references',
      view: view('Patient', [{ column: [col('id', 'id'), col('org', 'managingOrganization.getReferenceKey()')] }]),
      expect: [{ id: 'f1', org: 'org1' }, { id: 'f2', org: 'org2' }, { id: 'f3', org: null }],
    },
    {
      title: 'getReferenceKey(type): the type referred to',
      view: view('Patient', [{ column: [col('id', 'id'), col('org', 'managingOrganization.getReferenceKey(Organization)')] }]),
      expect: [{ id: 'f1', org: 'org1' }, { id: 'f2', org: 'org2' }, { id: 'f3', org: null }],
    },
    {
      title: 'getReferenceKey(type): another type gives nothing',
      view: view('Patient', [{ column: [col('id', 'id'), col('org', 'managingOrganization.getReferenceKey(Location)')] }]),
      expect: [{ id: 'f1', org: null }, { id: 'f2', org: null }, { id: 'f3', org: null }],
    },
  ],
);

// ---------------------------------------------------------------------------------------------
group('fhirpath_numbers', [{ resourceType: 'Observation', id: 'r1', status: 'final', code: { text: 'eGFR' }, valueRange: { low: { value: 4 }, high: { value: 10 } } }], [
  {
    title: 'arithmetic and comparison',
    view: view('Observation', [
      {
        column: [
          col('id', 'id', { type: 'id' }),
          col('add', 'value.ofType(Range).low.value + value.ofType(Range).high.value', { type: 'decimal' }),
          col('sub', 'value.ofType(Range).high.value - value.ofType(Range).low.value', { type: 'decimal' }),
          col('mul', 'value.ofType(Range).low.value * value.ofType(Range).high.value', { type: 'decimal' }),
          col('div', 'value.ofType(Range).high.value / value.ofType(Range).low.value', { type: 'decimal' }),
          col('eq', 'value.ofType(Range).high.value = value.ofType(Range).low.value', { type: 'boolean' }),
          col('ne', 'value.ofType(Range).high.value != value.ofType(Range).low.value', { type: 'boolean' }),
          col('gt', 'value.ofType(Range).high.value > value.ofType(Range).low.value', { type: 'boolean' }),
          col('ge', 'value.ofType(Range).high.value >= value.ofType(Range).low.value', { type: 'boolean' }),
          col('lt', 'value.ofType(Range).high.value < value.ofType(Range).low.value', { type: 'boolean' }),
          col('le', 'value.ofType(Range).high.value <= value.ofType(Range).low.value', { type: 'boolean' }),
        ],
      },
    ]),
    expect: [{ id: 'r1', add: 14, sub: 6, mul: 40, div: 2.5, eq: false, ne: true, gt: true, ge: true, lt: false, le: false }],
  },
]);

// ---------------------------------------------------------------------------------------------
group(
  'fn_boundary',
  [
    { resourceType: 'Patient', id: 'b1', birthDate: '1980-02' },
    { resourceType: 'Patient', id: 'b2', birthDate: '1981-02' },
    { resourceType: 'Patient', id: 'b3', birthDate: '1990' },
    { resourceType: 'Patient', id: 'b4', birthDate: '2001-07-21' },
    { resourceType: 'Observation', id: 't1', status: 'final', code: { text: 't' }, valueTime: '09:15' },
    { resourceType: 'Observation', id: 't2', status: 'final', code: { text: 't' }, valueTime: '09:15:30' },
    { resourceType: 'Observation', id: 't3', status: 'final', code: { text: 't' }, valueQuantity: { value: 2 } },
    { resourceType: 'Observation', id: 't4', status: 'final', code: { text: 't' }, valueTime: '18:05:12.25' },
    { resourceType: 'Observation', id: 'q1', status: 'final', code: { text: 'q' }, valueQuantity: { value: 37.25 } },
    { resourceType: 'Observation', id: 'q2', status: 'final', code: { text: 'q' }, valueQuantity: { value: -0.4 } },
    { resourceType: 'Observation', id: 'q3', status: 'final', code: { text: 'q' }, valueQuantity: { value: 98765432101.5 } },
    { resourceType: 'Observation', id: 'd1', status: 'final', code: { text: 'd' }, valueDateTime: '2019-11' },
    { resourceType: 'Observation', id: 'd2', status: 'final', code: { text: 'd' }, valueDateTime: '2021-06-30T08:15' },
    { resourceType: 'Observation', id: 'd3', status: 'final', code: { text: 'd' }, valueDateTime: '2021-06-30T08:15:44.3+01:00' },
    { resourceType: 'Observation', id: 'd4', status: 'final', code: { text: 'd' }, valueDateTime: '2023-01-02T23:00:00Z' },
    { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, period: { start: '2022-04-05T09:30', end: '2022-04' } },
    { resourceType: 'Encounter', id: 'e2', status: 'in-progress', class: { code: 'IMP' }, period: { start: '2022-04-05T09:30:00+01:00' } },
  ],
  [
    {
      title: 'date lowBoundary and highBoundary of partial dates',
      view: view('Patient', [{ column: [col('id', 'id'), col('lo', 'birthDate.lowBoundary()', { type: 'date' }), col('hi', 'birthDate.highBoundary()', { type: 'date' })] }]),
      expect: [
        { id: 'b1', lo: '1980-02-01', hi: '1980-02-29' },
        { id: 'b2', lo: '1981-02-01', hi: '1981-02-28' },
        { id: 'b3', lo: '1990-01-01', hi: '1990-12-31' },
        { id: 'b4', lo: '2001-07-21', hi: '2001-07-21' },
      ],
    },
    {
      title: 'time lowBoundary and highBoundary',
      view: view('Observation', [{ column: [col('id', 'id'), col('lo', 'value.ofType(time).lowBoundary()', { type: 'time' }), col('hi', 'value.ofType(time).highBoundary()', { type: 'time' })] }], { where: [{ path: 'value.ofType(time).exists()' }] }),
      expect: [
        { id: 't1', lo: '09:15:00.000000000', hi: '09:15:59.999999999' },
        { id: 't2', lo: '09:15:30.000000000', hi: '09:15:30.999999999' },
        { id: 't4', lo: '18:05:12.250000000', hi: '18:05:12.259999999' },
      ],
    },
    {
      title: 'decimal lowBoundary and highBoundary: 8 places, 9s appended; empty past 15 digits',
      view: view('Observation', [{ column: [col('id', 'id'), col('lo', 'value.ofType(Quantity).value.lowBoundary()', { type: 'decimal' }), col('hi', 'value.ofType(Quantity).value.highBoundary()', { type: 'decimal' })] }], { where: [{ path: 'value.ofType(Quantity).exists()' }] }),
      expect: [
        { id: 't3', lo: 2, hi: 2.99999999 },
        { id: 'q1', lo: 37.25, hi: 37.25999999 },
        { id: 'q2', lo: -0.4, hi: -0.49999999 },
        { id: 'q3', lo: null, hi: null },
      ],
    },
    {
      title: 'dateTime lowBoundary and highBoundary: to the nanosecond, the widest offsets without a time zone',
      view: view('Observation', [{ column: [col('id', 'id'), col('lo', 'value.ofType(dateTime).lowBoundary()', { type: 'dateTime' }), col('hi', 'value.ofType(dateTime).highBoundary()', { type: 'dateTime' })] }], { where: [{ path: 'value.ofType(dateTime).exists()' }] }),
      expect: [
        { id: 'd1', lo: '2019-11-01T00:00:00.000000000+14:00', hi: '2019-11-30T23:59:59.999999999-12:00' },
        { id: 'd2', lo: '2021-06-30T08:15:00.000000000+14:00', hi: '2021-06-30T08:15:59.999999999-12:00' },
        { id: 'd3', lo: '2021-06-30T08:15:44.300000000+01:00', hi: '2021-06-30T08:15:44.399999999+01:00' },
        { id: 'd4', lo: '2023-01-02T23:00:00.000000000Z', hi: '2023-01-02T23:00:00.999999999Z' },
      ],
    },
    {
      title: 'Period lowBoundary (its start) and highBoundary (its end), and boundaries compared as date-times',
      view: view('Encounter', [
        {
          column: [
            col('id', 'id'),
            col('lo', 'period.lowBoundary()', { type: 'dateTime' }),
            col('hi', 'period.highBoundary()', { type: 'dateTime' }),
            col('before_noon_utc', 'period.lowBoundary() < @2022-04-05T12:00:00Z', { type: 'boolean' }),
          ],
        },
      ]),
      expect: [
        { id: 'e1', lo: '2022-04-05T09:30:00.000000000+14:00', hi: '2022-04-30T23:59:59.999999999-12:00', before_noon_utc: true },
        { id: 'e2', lo: '2022-04-05T09:30:00.000000000+01:00', hi: null, before_noon_utc: true },
      ],
    },
  ],
);

// ---------------------------------------------------------------------------------------------
group('fn_empty', [{ resourceType: 'Patient', id: 'e1', name: [{ family: 'Nash' }] }, { resourceType: 'Patient', id: 'e2' }], [
  { title: 'empty()', view: view('Patient', [{ column: [col('id', 'id'), col('no_name', 'name.empty()')] }]), expect: [{ id: 'e1', no_name: false }, { id: 'e2', no_name: true }] },
]);

// ---------------------------------------------------------------------------------------------
const ETHNIC = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory';
const NATIONALITY = 'http://hl7.org/fhir/StructureDefinition/patient-nationality';
group(
  'fn_extension',
  [
    {
      resourceType: 'Patient',
      id: 'x1',
      extension: [
        { url: ETHNIC, valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory', code: 'A' }] } },
        { url: NATIONALITY, extension: [{ url: 'code', valueCodeableConcept: { coding: [{ system: 'urn:iso:std:iso:3166', code: 'GB' }] } }, { url: 'period', valuePeriod: { start: '1990-01-01' } }] },
      ],
    },
    { resourceType: 'Patient', id: 'x2', extension: [{ url: ETHNIC, valueCodeableConcept: { coding: [{ code: 'M' }] } }, { url: NATIONALITY, extension: [{ url: 'code', valueCodeableConcept: { coding: [{ code: 'IE' }] } }] }] },
    { resourceType: 'Patient', id: 'x3', extension: [] },
  ],
  [
    {
      title: 'an extension by its url',
      view: view('Patient', [{ column: [col('id', 'id', { type: 'id' }), col('ethnic', `extension('${ETHNIC}').value.ofType(CodeableConcept).coding.code.first()`, { type: 'code' })] }]),
      expect: [{ id: 'x1', ethnic: 'A' }, { id: 'x2', ethnic: 'M' }, { id: 'x3', ethnic: null }],
    },
    {
      title: 'an extension inside an extension',
      view: view('Patient', [{ column: [col('id', 'id', { type: 'id' }), col('nationality', `extension('${NATIONALITY}').extension('code').value.ofType(CodeableConcept).coding.code.first()`, { type: 'code' })] }]),
      expect: [{ id: 'x1', nationality: 'GB' }, { id: 'x2', nationality: 'IE' }, { id: 'x3', nationality: null }],
    },
  ],
);

// ---------------------------------------------------------------------------------------------
group('fn_first', [{ resourceType: 'Patient', id: 'fi', name: [{ use: 'official', family: 'Lee', given: ['Min', 'Jun'] }, { use: 'nickname', given: ['MJ'] }] }], [
  { title: 'first() of the resource level', view: view('Patient', [{ column: [col('use', 'name.first().use')] }]), expect: [{ use: 'official' }] },
  { title: 'first() at two levels', view: view('Patient', [{ column: [col('given', 'name.first().given.first()')] }]), expect: [{ given: 'Min' }] },
]);

// ---------------------------------------------------------------------------------------------
group('fn_join', [{ resourceType: 'Patient', id: 'j1', name: [{ given: ['Ada', 'Lovelace'] }] }], [
  { title: 'join with a comma', view: view('Patient', [{ column: [col('id', 'id'), col('g', "name.given.join(',')")] }]), expect: [{ id: 'j1', g: 'Ada,Lovelace' }] },
  { title: 'join with an empty separator', view: view('Patient', [{ column: [col('id', 'id'), col('g', "name.given.join('')")] }]), expect: [{ id: 'j1', g: 'AdaLovelace' }] },
  { title: 'join with no separator', view: view('Patient', [{ column: [col('id', 'id'), col('g', 'name.given.join()')] }]), expect: [{ id: 'j1', g: 'AdaLovelace' }] },
]);

// ---------------------------------------------------------------------------------------------
group(
  'fn_oftype',
  [
    { resourceType: 'Observation', id: 's1', status: 'final', code: { text: 'c' }, valueString: 'positive' },
    { resourceType: 'Observation', id: 's2', status: 'final', code: { text: 'c' }, valueInteger: 7 },
    { resourceType: 'Observation', id: 's3', status: 'final', code: { text: 'c' } },
  ],
  [
    { title: 'ofType(string)', view: view('Observation', [{ column: [col('id', 'id'), col('v', 'value.ofType(string)')] }]), expect: [{ id: 's1', v: 'positive' }, { id: 's2', v: null }, { id: 's3', v: null }] },
    { title: 'ofType(integer)', view: view('Observation', [{ column: [col('id', 'id'), col('v', 'value.ofType(integer)')] }]), expect: [{ id: 's1', v: null }, { id: 's2', v: 7 }, { id: 's3', v: null }] },
    { title: 'ofType of a type that does not exist is an error', view: view('Observation', [{ column: [col('id', 'id'), col('v', 'value.ofType(Nonsense)')] }]), expectError: true },
    { title: 'ofType of a number is an error', view: view('Observation', [{ column: [col('id', 'id'), col('v', 'value.ofType(7)')] }]), expectError: true },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'fn_reference_keys',
  [
    { resourceType: 'Encounter', id: 'en1', status: 'finished', class: { code: 'IMP' }, partOf: { reference: 'Encounter/en1' } },
    { resourceType: 'Encounter', id: 'en2', status: 'finished', class: { code: 'IMP' }, partOf: { reference: 'Encounter/en9' } },
  ],
  [
    { title: 'getReferenceKey() equals the getResourceKey() of what it points to', view: view('Encounter', [{ column: [col('same', 'getResourceKey() = partOf.getReferenceKey()', { type: 'boolean' })] }]), expect: [{ same: true }, { same: false }] },
    { title: 'with the right type', view: view('Encounter', [{ column: [col('same', 'getResourceKey() = partOf.getReferenceKey(Encounter)', { type: 'boolean' })] }]), expect: [{ same: true }, { same: false }] },
    { title: 'with the wrong type: nothing', view: view('Encounter', [{ column: [col('same', 'getResourceKey() = partOf.getReferenceKey(Patient)', { type: 'boolean' })] }]), expect: [{ same: null }, { same: null }] },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'foreach',
  [
    {
      resourceType: 'Patient',
      id: 'fe1',
      name: [{ family: 'Quinn' }, { family: 'Mac Cuinn' }],
      contact: [
        { telecom: [{ system: 'phone' }], name: { given: ['Orla', 'Rose'] } },
        { telecom: [{ system: 'email' }], name: { given: ['Niamh'] } },
      ],
    },
    { resourceType: 'Patient', id: 'fe2', name: [{ family: 'Shah' }] },
    { resourceType: 'Patient', id: 'fe3' },
  ],
  [
    {
      title: 'forEach',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'name', column: [col('family', 'family')] }]),
      expect: [{ id: 'fe1', family: 'Quinn' }, { id: 'fe1', family: 'Mac Cuinn' }, { id: 'fe2', family: 'Shah' }],
    },
    {
      title: 'forEachOrNull',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEachOrNull: 'name', column: [col('family', 'family')] }]),
      expect: [{ id: 'fe1', family: 'Quinn' }, { id: 'fe1', family: 'Mac Cuinn' }, { id: 'fe2', family: 'Shah' }, { id: 'fe3', family: null }],
    },
    { title: 'forEach over nothing gives no rows', view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'identifier', column: [col('value', 'value')] }]), expect: [] },
    {
      title: 'forEachOrNull over nothing gives a row of nulls',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEachOrNull: 'identifier', column: [col('value', 'value')] }]),
      expect: [{ id: 'fe1', value: null }, { id: 'fe2', value: null }, { id: 'fe3', value: null }],
    },
    {
      title: 'nested forEach',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'contact', select: [{ column: [col('system', 'telecom.system')] }, { forEach: 'name.given', column: [col('given', '$this')] }] }]),
      expect: [{ id: 'fe1', system: 'phone', given: 'Orla' }, { id: 'fe1', system: 'phone', given: 'Rose' }, { id: 'fe1', system: 'email', given: 'Niamh' }],
    },
    {
      title: 'nested forEach with the columns on the outer select',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'contact', column: [col('system', 'telecom.system')], select: [{ forEach: 'name.given', column: [col('given', '$this')] }] }]),
      expect: [{ id: 'fe1', system: 'phone', given: 'Orla' }, { id: 'fe1', system: 'phone', given: 'Rose' }, { id: 'fe1', system: 'email', given: 'Niamh' }],
    },
    {
      title: 'forEachOrNull inside forEach',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'name', column: [col('family', 'family')], select: [{ forEachOrNull: 'given', column: [col('given', '$this')] }] }]),
      expect: [{ id: 'fe1', family: 'Quinn', given: null }, { id: 'fe1', family: 'Mac Cuinn', given: null }, { id: 'fe2', family: 'Shah', given: null }],
    },
    { title: 'forEach and forEachOrNull in one select is an error', view: view('Patient', [{ forEach: 'name', forEachOrNull: 'name', column: [col('family', 'family')] }]), expectError: true },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'logic',
  [
    { resourceType: 'Patient', id: 'l1', gender: 'male', deceasedBoolean: false },
    { resourceType: 'Patient', id: 'l2', gender: 'female', deceasedBoolean: false },
    { resourceType: 'Patient', id: 'l3', gender: 'male', deceasedBoolean: true },
    { resourceType: 'Patient', id: 'l4', gender: 'female' },
  ],
  [
    { title: 'and', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "gender = 'female' and deceased.ofType(boolean) = false" }] }), expect: ids('l2') },
    { title: 'or', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "gender = 'female' or deceased.ofType(boolean) = true" }] }), expect: ids('l2', 'l3', 'l4') },
    { title: 'not()', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "(gender = 'female').not()" }] }), expect: ids('l1', 'l3') },
  ],
);

// ---------------------------------------------------------------------------------------------
const qr = {
  resourceType: 'QuestionnaireResponse',
  id: 'q1',
  status: 'completed',
  item: [
    {
      linkId: 'a',
      text: 'Housing',
      item: [
        { linkId: 'a.1', text: 'Lives alone?', answer: [{ valueString: 'yes', item: [{ linkId: 'a.1.x', text: 'Since when?' }] }] },
        { linkId: 'a.2', text: 'Stairs?', item: [{ linkId: 'a.2.1', text: 'Stair lift?' }] },
      ],
    },
    { linkId: 'b', text: 'Carer' },
  ],
};
const link = (type: string | null, linkId: string, text: string) => ({ id: 'q1', ...(type ? { type } : {}), linkId, text });
group('repeat', [qr], [
  {
    title: 'repeat over item',
    view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['item'], column: [col('linkId', 'linkId'), col('text', 'text')] }]),
    expect: [link(null, 'a', 'Housing'), link(null, 'a.1', 'Lives alone?'), link(null, 'a.2', 'Stairs?'), link(null, 'a.2.1', 'Stair lift?'), link(null, 'b', 'Carer')],
  },
  {
    title: 'repeat over item and answer.item',
    view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['item', 'answer.item'], column: [col('linkId', 'linkId'), col('text', 'text')] }]),
    expect: [link(null, 'a', 'Housing'), link(null, 'a.1', 'Lives alone?'), link(null, 'a.1.x', 'Since when?'), link(null, 'a.2', 'Stairs?'), link(null, 'a.2.1', 'Stair lift?'), link(null, 'b', 'Carer')],
  },
  { title: 'repeat over nothing gives no rows', view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['contained'], column: [col('x', 'id')] }]), expect: [] },
  {
    title: 'repeat with a column that is empty',
    view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['item'], column: [col('linkId', 'linkId'), col('definition', 'definition', { type: 'uri' })] }]),
    expect: ['a', 'a.1', 'a.2', 'a.2.1', 'b'].map((l) => ({ id: 'q1', linkId: l, definition: null })),
  },
  {
    title: 'repeat with forEach inside',
    view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['item'], select: [{ column: [col('linkId', 'linkId')] }, { forEach: 'answer', column: [col('answer', 'value.ofType(string)')] }] }]),
    expect: [{ id: 'q1', linkId: 'a.1', answer: 'yes' }],
  },
  {
    title: 'repeat with forEachOrNull inside',
    view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['item'], select: [{ column: [col('linkId', 'linkId')] }, { forEachOrNull: 'answer', column: [col('answer', 'value.ofType(string)')] }] }]),
    expect: ['a', 'a.1', 'a.2', 'a.2.1', 'b'].map((l) => ({ id: 'q1', linkId: l, answer: l === 'a.1' ? 'yes' : null })),
  },
  {
    title: 'repeat in unionAll branches',
    view: view('QuestionnaireResponse', [
      { column: [col('id', 'id')] },
      { unionAll: [{ repeat: ['item'], column: [col('type', "'item'"), col('linkId', 'linkId'), col('text', 'text')] }, { repeat: ['answer.item'], column: [col('type', "'answer'"), col('linkId', 'linkId'), col('text', 'text')] }] },
    ]),
    expect: [link('item', 'a', 'Housing'), link('item', 'a.1', 'Lives alone?'), link('item', 'a.2', 'Stairs?'), link('item', 'a.2.1', 'Stair lift?'), link('item', 'b', 'Carer')],
  },
]);

// ---------------------------------------------------------------------------------------------
group(
  'row_index',
  [
    { resourceType: 'Patient', id: 'ri1', name: [{ family: 'Ng' }, { family: 'Wu' }], contact: [{ name: { family: 'Ng' }, telecom: [{ system: 'phone' }, { system: 'sms' }] }, { name: { family: 'Lam' }, telecom: [{ system: 'email' }] }] },
    { resourceType: 'Patient', id: 'ri2', name: [{ family: 'Tan' }] },
    { resourceType: 'Patient', id: 'ri3' },
    qr,
  ],
  [
    { title: '%rowIndex of a resource is 0', view: view('Patient', [{ column: [col('id', 'id'), col('i', '%rowIndex', { type: 'integer' })] }]), expect: [{ id: 'ri1', i: 0 }, { id: 'ri2', i: 0 }, { id: 'ri3', i: 0 }] },
    {
      title: '%rowIndex in forEach',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'name', column: [col('i', '%rowIndex'), col('family', 'family')] }]),
      expect: [{ id: 'ri1', i: 0, family: 'Ng' }, { id: 'ri1', i: 1, family: 'Wu' }, { id: 'ri2', i: 0, family: 'Tan' }],
    },
    {
      title: '%rowIndex in forEachOrNull: 0 in the row of nulls',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEachOrNull: 'name', column: [col('i', '%rowIndex'), col('family', 'family')] }]),
      expect: [{ id: 'ri1', i: 0, family: 'Ng' }, { id: 'ri1', i: 1, family: 'Wu' }, { id: 'ri2', i: 0, family: 'Tan' }, { id: 'ri3', i: 0, family: null }],
    },
    {
      title: '%rowIndex at each level of nested forEach',
      view: view('Patient', [{ column: [col('id', 'id')] }, { forEach: 'contact', column: [col('ci', '%rowIndex'), col('cf', 'name.family')], select: [{ forEach: 'telecom', column: [col('ti', '%rowIndex'), col('system', 'system')] }] }]),
      expect: [
        { id: 'ri1', ci: 0, cf: 'Ng', ti: 0, system: 'phone' },
        { id: 'ri1', ci: 0, cf: 'Ng', ti: 1, system: 'sms' },
        { id: 'ri1', ci: 1, cf: 'Lam', ti: 0, system: 'email' },
      ],
    },
    {
      title: '%rowIndex across a repeat',
      view: view('QuestionnaireResponse', [{ column: [col('id', 'id')] }, { repeat: ['item'], column: [col('i', '%rowIndex'), col('linkId', 'linkId')] }]),
      expect: ['a', 'a.1', 'a.2', 'a.2.1', 'b'].map((l, i) => ({ id: 'q1', i, linkId: l })),
    },
    {
      title: '%rowIndex in each unionAll branch',
      view: view('Patient', [{ column: [col('id', 'id')] }, { unionAll: [{ forEach: 'name', column: [col('i', '%rowIndex'), col('v', 'family')] }, { forEach: 'contact', column: [col('i', '%rowIndex'), col('v', 'name.family')] }] }]),
      expect: [{ id: 'ri1', i: 0, v: 'Ng' }, { id: 'ri1', i: 1, v: 'Wu' }, { id: 'ri1', i: 0, v: 'Ng' }, { id: 'ri1', i: 1, v: 'Lam' }, { id: 'ri2', i: 0, v: 'Tan' }],
    },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'union',
  [
    { resourceType: 'Patient', id: 'u1', telecom: [{ system: 'phone', value: '0161 1' }, { system: 'email', value: 'u1@x' }], contact: [{ telecom: [{ system: 'phone', value: '0161 9' }] }] },
    { resourceType: 'Patient', id: 'u2', telecom: [{ system: 'phone', value: '0161 2' }] },
    { resourceType: 'Patient', id: 'u3', contact: [{ telecom: [{ system: 'sms', value: '07700 3' }, { system: 'phone', value: '0161 3' }] }] },
    { resourceType: 'Patient', id: 'u4' },
  ],
  [
    {
      title: 'unionAll beside a column select',
      view: view('Patient', [{ column: [col('id', 'id')] }, { unionAll: [{ forEach: 'telecom', column: [col('tel', 'value'), col('sys', 'system')] }, { forEach: 'contact.telecom', column: [col('tel', 'value'), col('sys', 'system')] }] }]),
      expect: [
        { id: 'u1', tel: '0161 1', sys: 'phone' },
        { id: 'u1', tel: 'u1@x', sys: 'email' },
        { id: 'u1', tel: '0161 9', sys: 'phone' },
        { id: 'u2', tel: '0161 2', sys: 'phone' },
        { id: 'u3', tel: '07700 3', sys: 'sms' },
        { id: 'u3', tel: '0161 3', sys: 'phone' },
      ],
    },
    {
      title: 'unionAll and columns in one select',
      view: view('Patient', [{ column: [col('id', 'id')], unionAll: [{ forEach: 'telecom', column: [col('tel', 'value')] }, { forEach: 'contact.telecom', column: [col('tel', 'value')] }] }]),
      expect: [{ id: 'u1', tel: '0161 1' }, { id: 'u1', tel: 'u1@x' }, { id: 'u1', tel: '0161 9' }, { id: 'u2', tel: '0161 2' }, { id: 'u3', tel: '07700 3' }, { id: 'u3', tel: '0161 3' }],
    },
    {
      title: 'duplicates are kept',
      view: view('Patient', [{ column: [col('id', 'id')], unionAll: [{ forEach: 'telecom', column: [col('tel', 'value')] }, { forEach: 'telecom', column: [col('tel', 'value')] }] }]),
      expect: [{ id: 'u1', tel: '0161 1' }, { id: 'u1', tel: 'u1@x' }, { id: 'u1', tel: '0161 1' }, { id: 'u1', tel: 'u1@x' }, { id: 'u2', tel: '0161 2' }, { id: 'u2', tel: '0161 2' }],
    },
    { title: 'nothing from every branch: no rows', view: view('Patient', [{ column: [col('id', 'id')], unionAll: [{ forEach: 'name', column: [col('g', 'given')] }, { forEach: 'name', column: [col('g', 'given')] }] }]), expect: [] },
    {
      title: 'forEachOrNull branches over nothing: a row of nulls from each',
      view: view('Patient', [{ column: [col('id', 'id')], unionAll: [{ forEachOrNull: 'name', column: [col('g', 'given')] }, { forEachOrNull: 'name', column: [col('g', 'given')] }] }]),
      expect: ['u1', 'u1', 'u2', 'u2', 'u3', 'u3', 'u4', 'u4'].map((id) => ({ id, g: null })),
    },
    {
      title: 'unionAll inside unionAll',
      view: view('Patient', [{ column: [col('id', 'id')], unionAll: [{ forEach: 'telecom[0]', column: [col('tel', 'value')] }, { unionAll: [{ forEach: 'telecom[0]', column: [col('tel', 'value')] }, { forEach: 'contact.telecom[0]', column: [col('tel', 'value')] }] }] }]),
      expect: [{ id: 'u1', tel: '0161 1' }, { id: 'u1', tel: '0161 1' }, { id: 'u1', tel: '0161 9' }, { id: 'u2', tel: '0161 2' }, { id: 'u2', tel: '0161 2' }, { id: 'u3', tel: '07700 3' }],
    },
    {
      title: 'one branch empty',
      view: view('Patient', [{ column: [col('id', 'id')] }, { unionAll: [{ forEach: 'telecom.where(false)', column: [col('tel', 'value')] }, { forEach: 'contact.telecom', column: [col('tel', 'value')] }] }]),
      expect: [{ id: 'u1', tel: '0161 9' }, { id: 'u3', tel: '07700 3' }, { id: 'u3', tel: '0161 3' }],
    },
    { title: 'branches with different columns are an error', view: view('Patient', [{ unionAll: [{ column: [col('a', 'id'), col('b', 'id')] }, { column: [col('a', 'id'), col('c', 'id')] }] }]), expectError: true },
    { title: 'branches with columns in another order are an error', view: view('Patient', [{ unionAll: [{ column: [col('a', 'id'), col('b', 'id')] }, { column: [col('b', 'id'), col('a', 'id')] }] }]), expectError: true },
    { title: 'branches with different column types are an error', view: view('Patient', [{ unionAll: [{ column: [col('a', 'id', { type: 'id' })] }, { column: [col('a', 'active', { type: 'boolean' })] }] }]), expectError: true },
  ],
);

// ---------------------------------------------------------------------------------------------
group('validate', [{ resourceType: 'Patient', id: 'v1', name: [{ family: 'Park' }] }, { resourceType: 'Patient', id: 'v2' }], [
  { title: 'an empty view', view: {}, expectError: true },
  { title: 'no resource', view: { select: [{ column: [col('id', 'id')] }] }, expectError: true },
  { title: 'FHIRPath that does not parse', view: view('Patient', [{ forEach: '@@' }]), expectError: true },
  { title: 'forEach that is not text', view: view('Patient', [{ forEach: 1 }]), expectError: true },
  { title: 'a where that is not boolean', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: 'name.family' }] }), expectError: true },
  { title: 'an unknown column type', view: view('Patient', [{ column: [col('id', 'id', { type: 'varchar' })] }]), expectError: true },
  { title: 'two columns with one name', view: view('Patient', [{ column: [col('id', 'id')] }, { column: [col('id', 'id')] }]), expectError: true },
  { title: 'a column name that is not a sql-name', view: view('Patient', [{ column: [col('last name', 'name.family')] }]), expectError: true },
  { title: 'collection that is not true or false', view: view('Patient', [{ column: [col('f', 'name.family', { collection: 'yes' })] }]), expectError: true },
  { title: 'an element in a column with no type', view: view('Patient', [{ column: [col('n', 'name.first()')] }]), expectError: true },
  { title: 'an element in a column with its type', view: view('Patient', [{ column: [col('n', 'name.first()', { type: 'HumanName' })] }]), expect: [{ n: { family: 'Park' } }, { n: null }] },
  { title: 'a value not of the column type', view: view('Patient', [{ column: [col('n', 'name.family.first()', { type: 'boolean' })] }]), expectError: true },
  { title: 'a select element that does not exist', view: view('Patient', [{ forEachOrNul: 'name', column: [col('f', 'family')] }]), expectError: true },
]);

// ---------------------------------------------------------------------------------------------
group(
  'view_resource',
  [
    { resourceType: 'Patient', id: 'vr1' },
    { resourceType: 'Patient', id: 'vr2' },
    { resourceType: 'Observation', id: 'vr3', status: 'final', code: { text: 'x' } },
    { resourceType: 'Practitioner', id: 'vr4', name: [{ family: 'Achebe' }] },
    { resourceType: 'Patient', id: 'vr5', contained: [{ resourceType: 'Practitioner', id: 'gp', name: [{ family: 'Mensah' }] }], generalPractitioner: [{ reference: '#gp' }] },
  ],
  [
    { title: 'only Patients', view: view('Patient', [{ column: [col('id', 'id')] }]), expect: ids('vr1', 'vr2', 'vr5') },
    // The specification leaves contained resources out of a view's output; a reference to one gives no key.
    { title: 'a resource contained in another is no row of a view over its type', view: view('Practitioner', [{ column: [col('id', 'id'), col('family', 'name.family.first()')] }]), expect: [{ id: 'vr4', family: 'Achebe' }] },
    {
      title: 'a reference to a contained resource gives no key',
      view: view('Patient', [{ column: [col('id', 'id'), col('gp', 'generalPractitioner.getReferenceKey(Practitioner)'), col('contained_gp', 'contained.ofType(Practitioner).name.family.first()')] }], { where: [{ path: 'contained.exists()' }] }),
      expect: [{ id: 'vr5', gp: null, contained_gp: 'Mensah' }],
    },
    { title: 'only Observations', view: view('Observation', [{ column: [col('id', 'id')] }]), expect: ids('vr3') },
    { title: 'no resource type', view: { status: 'active', select: [{ column: [col('id', 'id')] }] }, expectError: true },
    { title: 'a resource type that does not exist', view: view('Patients', [{ column: [col('id', 'id')] }]), expectError: true },
  ],
);

// ---------------------------------------------------------------------------------------------
group(
  'where',
  [
    { resourceType: 'Patient', id: 'w1', name: [{ use: 'official', family: 'Moss' }] },
    { resourceType: 'Patient', id: 'w2', name: [{ use: 'nickname', family: 'Moss' }] },
    { resourceType: 'Patient', id: 'w3', name: [{ use: 'nickname', family: 'Reid', given: ['Al'] }] },
    { resourceType: 'Observation', id: 'wo1', status: 'final', code: { text: 'x' }, valueInteger: 30 },
    { resourceType: 'Observation', id: 'wo2', status: 'final', code: { text: 'x' }, valueInteger: 12 },
  ],
  [
    { title: 'a where that matches', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.where(use = 'official').exists()" }] }), expect: ids('w1') },
    { title: 'a where that matches nothing', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.where(use = 'maiden').exists()" }] }), expect: [] },
    { title: 'greater than', view: view('Observation', [{ column: [col('id', 'id')] }], { where: [{ path: 'where(value.ofType(integer) > 20).exists()' }] }), expect: ids('wo1') },
    { title: 'less than', view: view('Observation', [{ column: [col('id', 'id')] }], { where: [{ path: 'where(value.ofType(integer) < 20).exists()' }] }), expect: ids('wo2') },
    { title: 'several wheres must all hold', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.where(family = 'Moss').exists()" }, { path: "name.where(use = 'nickname').exists()" }] }), expect: ids('w2') },
    { title: 'and inside where()', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.where(use = 'nickname' and family = 'Reid').exists()" }] }), expect: ids('w3') },
    { title: 'or inside where()', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.where(use = 'official' or family = 'Reid').exists()" }] }), expect: ids('w1', 'w3') },
    { title: 'empty() is true', view: view('Patient', [{ column: [col('id', 'id')] }], { where: [{ path: "name.where(family = 'Moss').empty()" }] }), expect: ids('w3') },
  ],
);

