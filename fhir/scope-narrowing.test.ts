import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '@medplum/fhirtypes';
import { ScopeNarrowing, scopeQueryProblem } from './scope-narrowing.ts';

const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LAB = `category=${CAT}|laboratory`;
const obs = (id: string, category: string, extra: Record<string, unknown> = {}): Resource =>
  ({ resourceType: 'Observation', id, status: 'final', category: [{ coding: [{ system: CAT, code: category }] }], code: { text: id }, ...extra }) as Resource;
const lab = obs('lab', 'laboratory', { effectiveDateTime: '2025-03-01' });
const vitals = obs('vitals', 'vital-signs', { effectiveDateTime: '2024-03-01' });
const NOW = Date.parse('2026-01-01T00:00:00Z');

test('scope queries: the search parameters this server can apply to an item, refused by name otherwise', () => {
  assert.equal(scopeQueryProblem('Observation', LAB), null);
  assert.equal(scopeQueryProblem('Observation', 'code=http://loinc.org|4548-4&status=final,amended'), null);
  assert.equal(scopeQueryProblem('Condition', 'clinical-status=active&onset-date=ge2020'), null);
  assert.equal(scopeQueryProblem('Observation', 'category:not=social-history'), null);
  for (const [type, query, why] of [
    ['Observation', 'nonsense=1', /nonsense is not a supported Observation search parameter/],
    ['Observation', 'encounter=Encounter/1', /encounter \(a reference parameter\) cannot narrow a scope/],
    ['Observation', 'patient=Patient/1', /not whose/],
    ['Observation', '_sort=date', /_sort cannot be used in a scope/],
    ['Observation', 'date=yesterday', /"yesterday" has no known prefix/],
    ['Observation', 'category:in=http://example.org/vs', /modifier "in" is not supported/],
    ['Patient', 'gender=female', /filters are supported for/],
  ] as const) assert.match(scopeQueryProblem(type, query) ?? '', why, `${type}?${query}`);
});

test('scope narrowing: a narrowed type keeps what one of its queries matches; scopes on a type are a union', () => {
  assert.equal(ScopeNarrowing.of(undefined), null, "a person's request: no scopes, nothing narrowed");
  assert.equal(ScopeNarrowing.of(['system/*.rs', `system/Observation.rs?${LAB}`]), null, 'every type whole');

  const s = ScopeNarrowing.of(['system/Patient.rs', `system/Observation.rs?${LAB}`])!;
  assert.equal(s.allows('Patient'), true);
  assert.equal(s.allows('Observation'), true);
  assert.equal(s.allows('Encounter'), false, 'a type no scope names');
  assert.equal(s.narrows('Observation'), true);
  assert.equal(s.narrows('Patient'), false);
  assert.equal(s.keeps(lab, NOW), true);
  assert.equal(s.keeps(vitals, NOW), false, 'a vital-signs Observation is outside a laboratory narrowing');
  assert.equal(s.keeps({ resourceType: 'Encounter', id: 'e', status: 'finished' } as Resource, NOW), false);

  const union = ScopeNarrowing.of([`system/Observation.rs?${LAB}`, 'system/Observation.rs?date=lt2025'])!;
  assert.equal(union.keeps(lab, NOW), true);
  assert.equal(union.keeps(vitals, NOW), true, 'the second scope keeps it');
  assert.equal(union.keeps(obs('late-vitals', 'vital-signs', { effectiveDateTime: '2025-06-01' }), NOW), false);

  const and = ScopeNarrowing.of([`system/Observation.rs?${LAB}&date=lt2025`])!;
  assert.equal(and.keeps(lab, NOW), false, 'parameters within one query are AND');

  const whole = ScopeNarrowing.of([`system/Observation.rs?${LAB}`, 'system/Observation.read'])!;
  assert.equal(whole.narrows('Observation'), false, 'a scope on the whole type keeps every Observation');
  assert.equal(whole.keeps(vitals, NOW), true);

  // A narrowing the server cannot apply (granted by an older version, say) keeps nothing of its type.
  const stale = ScopeNarrowing.of(['system/Observation.rs?nonsense=1'])!;
  assert.equal(stale.allows('Observation'), true);
  assert.equal(stale.keeps(lab, NOW), false);
  assert.notEqual(s.key, union.key, 'two tokens with different scopes never share a cached response');
});
