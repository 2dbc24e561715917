import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { parseElements, subsetResource, SUBSETTED } from './elements.ts';

const obs: Observation = {
  resourceType: 'Observation',
  id: 'o1',
  meta: { source: 'hl7:RM2', tag: [{ system: 'urn:x', code: 'hospital' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">HbA1c 61</div>' },
  status: 'final',
  category: [{ text: 'laboratory' }],
  code: { text: 'HbA1c' },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2025-05-20',
  valueQuantity: { value: 61, unit: 'mmol/mol' },
  interpretation: [{ text: 'High' }],
};

test('_elements: the names asked for, a choice by its stem, plus id, meta, status and the mandatory code; tagged SUBSETTED', () => {
  const cut = subsetResource(obs, { kind: 'elements', names: ['value', 'subject'] }) as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(cut).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'subject', 'valueQuantity']);
  assert.deepEqual((cut.meta as { tag: unknown[] }).tag, [{ system: 'urn:x', code: 'hospital' }, SUBSETTED]);
  assert.equal((cut.meta as { source: string }).source, 'hl7:RM2');
  assert.equal(obs.meta!.tag!.length, 1, 'the input is not changed');
});

test('_summary=data: everything but the narrative', () => {
  const cut = subsetResource(obs, { kind: 'data' });
  assert.equal(cut.text, undefined);
  assert.deepEqual(cut.valueQuantity, obs.valueQuantity);
  assert.ok(cut.meta!.tag!.some((t) => t.code === 'SUBSETTED'));
});

test('parseElements: comma lists and repeats, Type.element, [x]; a bad name is a problem', () => {
  assert.deepEqual(parseElements(['code,value[x]', 'Observation.subject']), { names: ['code', 'value', 'subject'] });
  assert.match((parseElements(["code;DROP TABLE"]) as { problem: string }).problem, /not an element name/);
  assert.match((parseElements(['']) as { problem: string }).problem, /at least one/);
});
