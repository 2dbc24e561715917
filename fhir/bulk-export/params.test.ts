import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '@medplum/fhirtypes';
import { exportable, fromParameters, fromQuery, NDJSON, parseExportParameters, wantsReference } from './params.ts';
import { TypeFilters } from './type-filter.ts';
import { ExportElements } from './elements.ts';

const ok = (raw: Record<string, string[]>, level: 'system' | 'patient' | 'group' = 'system', lenient = false) => {
  const r = parseExportParameters(raw, level, lenient);
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r.kind === 'ok' ? r.params : (null as never);
};
const problems = (raw: Record<string, string[]>, level: 'system' | 'patient' | 'group' = 'system', lenient = false) => {
  const r = parseExportParameters(raw, level, lenient);
  assert.equal(r.kind, 'invalid', JSON.stringify(r));
  return r.kind === 'invalid' ? r.problems.join('\n') : '';
};

test('kick-off parameters: _outputFormat in its three spellings, _since as an instant, _type lists', () => {
  assert.deepEqual(ok({}), { types: null, typeFilters: [], elements: [], patients: [], since: null, outputFormat: NDJSON, ignored: [] });
  for (const f of ['application/fhir+ndjson', 'application/ndjson', 'ndjson', 'application/fhir ndjson']) assert.equal(ok({ _outputFormat: [f] }).outputFormat, NDJSON, f);
  assert.match(problems({ _outputFormat: ['text/csv'] }), /_outputFormat "text\/csv"/);
  assert.match(problems({ _outputFormat: ['ndjson', 'ndjson'] }), /once/);
  assert.equal(ok({ _since: ['2025-10-15T00:00:00Z'] }).since, '2025-10-15T00:00:00.000Z');
  assert.equal(ok({ _since: ['2025-10-15T01:30:00+01:00'] }).since, '2025-10-15T00:30:00.000Z');
  assert.equal(ok({ _since: ['2025-10-15'] }).since, '2025-10-15T00:00:00.000Z');
  for (const s of ['yesterday', '2025-13-01', '2025-10-15T25:00:00Z', '2025-10-15T10:00:00', "2025-01-01' OR 1=1"]) assert.match(problems({ _since: [s] }), /_since/, s);
  // Repeated and comma-separated, duplicates once, order kept.
  assert.deepEqual(ok({ _type: ['Patient,Observation', 'Encounter', 'Patient'] }).types, ['Patient', 'Observation', 'Encounter']);
  assert.match(problems({ _type: ['Organization'] }, 'patient'), /Organization is not exported at patient level/);
  assert.deepEqual(ok({ _type: ['Organization'] }, 'system').types, ['Organization']);
  assert.match(problems({ _type: ['Bogus,Patient'] }), /_type: Bogus/);
  assert.match(problems({ _type: [''] }), /at least one/);
  assert.deepEqual(ok({ _type: ['Flag,Appointment'] }, 'patient').types, ['Flag', 'Appointment'], 'any FHIR R4 type a person may have');
  assert.ok(exportable('Patient', 'group') && !exportable('Practitioner', 'group') && exportable('Practitioner', 'system') && !exportable('Patients', 'system'));
  assert.equal(wantsReference(null, 'system'), true);
  assert.equal(wantsReference(['Patient'], 'system'), false);
  assert.equal(wantsReference(null, 'patient'), false);
});

test('unsupported and unknown parameters are refused, or ignored and reported when lenient', () => {
  for (const p of ['includeAssociatedData', '_until']) assert.match(problems({ [p]: ['x'] }), new RegExp(`${p} is not supported`));
  assert.match(problems({ _count: ['10'] }), /_count is not a Bulk Data kick-off parameter/);
  const lenient = ok({ _typeFilter: ['Observation?code=x'], _type: ['Patient,Bogus'] }, 'system', true);
  assert.deepEqual(lenient.ignored, ['_type=Bogus', '_typeFilter=Observation?code=x (Observation is not in _type)']);
  assert.deepEqual(lenient.types, ['Patient']);
  assert.match(problems({ _type: ['Bogus'] }, 'system', true), /none of Bogus/);
});

test('query strings and Parameters bodies become name → values', () => {
  assert.deepEqual({ ...fromQuery({ _type: ['A', 'B'], _since: 'x' }) }, { _type: ['A', 'B'], _since: ['x'] });
  const body = fromParameters({ resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, { name: '_since', valueInstant: '2025-01-01T00:00:00Z' }, { name: 'patient', valueReference: { reference: 'Patient/1' } }] });
  assert.equal(body.kind, 'ok');
  if (body.kind === 'ok') assert.deepEqual({ ...body.raw }, { _type: ['Patient'], _since: ['2025-01-01T00:00:00Z'], patient: ['{"reference":"Patient/1"}'] });
  assert.equal(fromParameters({ resourceType: 'Patient' }).kind, 'invalid');
  assert.equal(fromParameters({ resourceType: 'Parameters', parameter: {} }).kind, 'invalid');
  assert.equal(fromParameters({ resourceType: 'Parameters', parameter: [{ valueString: 'x' }] }).kind, 'invalid');
  assert.equal(fromParameters(undefined).kind, 'ok');
  // __proto__ as a parameter name is a name like any other (and unknown), never a prototype.
  const proto = fromParameters({ resourceType: 'Parameters', parameter: [{ name: '__proto__', valueString: 'x' }] });
  assert.equal(proto.kind, 'ok');
  if (proto.kind === 'ok') assert.match(problems(proto.raw), /__proto__ is not a Bulk Data kick-off parameter/);
});

test('_typeFilter: search queries per type, checked by that type\'s search parser', () => {
  const one = ok({ _type: ['Observation,Condition,Patient'], _typeFilter: ['Observation?code=http://loinc.org|4548-4,http://loinc.org|17856-6&date=ge2025-01-01,Condition?clinical-status=active', 'Observation?category=laboratory'] });
  assert.deepEqual(one.typeFilters, ['Observation?code=http://loinc.org|4548-4,http://loinc.org|17856-6&date=ge2025-01-01', 'Condition?clinical-status=active', 'Observation?category=laboratory'], 'a comma starts a new query only before Type?');
  assert.deepEqual(ok({ _typeFilter: ['MedicationRequest?status=active'] }).typeFilters, ['MedicationRequest?status=active'], 'without _type: every type, this one filtered');
  assert.match(problems({ _typeFilter: ['Observation?_sort=date'] }), /_sort cannot be used in a _typeFilter/);
  assert.match(problems({ _typeFilter: ['Observation?patient=Patient/1'] }), /chooses the people/);
  assert.match(problems({ _typeFilter: ['Observation?nonsense=1'] }), /nonsense is not a supported Observation search parameter/);
  assert.match(problems({ _typeFilter: ['Observation?date=yesterday'] }), /_typeFilter "Observation\?date=yesterday"/);
  assert.match(problems({ _typeFilter: ['Observation'] }), /not Type\?parameters/);
  assert.match(problems({ _typeFilter: ['Organization?name=x'] }), /filters are supported for/);
  assert.deepEqual(ok({ _typeFilter: ['Observation?nonsense=1'] }, 'system', true).ignored, ['_typeFilter=Observation?nonsense=1']);
});

test('_typeFilter: a resource is kept when its type has no filter or it matches one of them (OR)', () => {
  const f = new TypeFilters(['Observation?code=http://loinc.org|4548-4', 'Observation?status=amended']);
  const obs = (code: string, status = 'final') => ({ resourceType: 'Observation', status, code: { coding: [{ system: 'http://loinc.org', code }] } }) as unknown as Resource;
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(f.keeps(obs('4548-4'), now), true);
  assert.equal(f.keeps(obs('2345-7'), now), false);
  assert.equal(f.keeps(obs('2345-7', 'amended'), now), true, 'queries for one type are ORed');
  assert.equal(f.keeps({ resourceType: 'Condition' } as Resource, now), true, 'a type without a filter is exported whole');
  assert.equal(new TypeFilters([]).empty, true);
});

test('_elements: Type.element or element, checked against the level\'s types', () => {
  assert.deepEqual(ok({ _elements: ['Patient.birthDate,code', 'Observation.value[x]', 'code'] }).elements, ['Patient.birthDate', 'code', 'Observation.value']);
  assert.match(problems({ _elements: ['Nonsense.id'] }), /Nonsense is not a type this export holds/);
  assert.match(problems({ _elements: ['Organization.name'] }, 'patient'), /Organization is not a type/);
  assert.match(problems({ _elements: ['name.given'] }), /not \[Type\.\]element/);
  assert.match(problems({ _elements: [''] }), /at least one/);
  const cut = new ExportElements(['Observation.code', 'status']);
  const obs = cut.apply({ resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1 }, subject: { reference: 'Patient/p' } } as unknown as Resource) as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(obs).sort(), ['code', 'id', 'meta', 'resourceType', 'status']);
  assert.equal((obs.meta as { tag: { code: string }[] }).tag[0]!.code, 'SUBSETTED');
  const enc = cut.apply({ resourceType: 'Encounter', id: 'e', status: 'finished', class: { code: 'AMB' }, period: {} } as unknown as Resource) as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(enc).sort(), ['class', 'id', 'meta', 'resourceType', 'status'], 'a bare name cuts every type; mandatory elements stay');
  const whole = new ExportElements(['Observation.code']).apply({ resourceType: 'Condition', id: 'c', subject: {}, code: {} } as unknown as Resource);
  assert.deepEqual(Object.keys(whole).sort(), ['code', 'id', 'resourceType', 'subject'], 'a type with no element named is exported whole');
});

test('patient: Patient references (a POSTed valueReference or Patient/{id}), not at system level', () => {
  const person = '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51';
  const source = 'a'.repeat(32);
  assert.deepEqual(ok({ patient: [JSON.stringify({ reference: `Patient/${person}` }), `https://bevan.example/fhir/Patient/${source}`, `Patient/${person.toUpperCase()}`] }, 'patient').patients, [person, source]);
  assert.deepEqual(ok({}, 'group').patients, []);
  assert.match(problems({ patient: [`Patient/${person}`] }, 'system'), /not for a system-level export/);
  assert.match(problems({ patient: ['Observation/1'] }, 'patient'), /not a reference to a Patient/);
  assert.match(problems({ patient: ["Patient/1' OR 1=1"] }, 'group'), /not a reference to a Patient/);
  assert.match(problems({ patient: [JSON.stringify({ identifier: { value: '9434765919' } })] }, 'patient'), /not a reference to a Patient/);
});
