import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScopes, grantScopes, parseSystemScopes, scopeAllows, scopedTypes } from './smart-scopes.ts';

const TYPES = new Set(['Patient', 'Observation', 'Encounter', 'Condition']);

test('SMART system scopes: v1 and v2 read grants, others ignored or refused by name', () => {
  const ok = parseSystemScopes('system/Patient.read  system/Observation.rs system/Condition.cruds openid offline_access system/*.*', TYPES);
  assert.equal(ok.kind, 'ok');
  if (ok.kind !== 'ok') return;
  assert.deepEqual(ok.scopes, [
    { type: 'Patient', syntax: 'v1' },
    { type: 'Observation', syntax: 'v2' },
    { type: 'Condition', syntax: 'v2' },
    { type: '*', syntax: 'v1' },
  ]);
  assert.deepEqual(ok.ignored, ['openid', 'offline_access']);
  assert.equal(formatScopes(ok.scopes), 'system/Patient.read system/Observation.rs system/Condition.rs system/*.read');
  for (const [bad, why] of [
    ['system/Patient.write', /read access only/],
    ['system/Patient.cud', /read and search/],
    ['system/Patient.sr', /not read, write/],
    ['system/Nonsense.read', /not a FHIR R4 resource type/],
    ['system/Observation.rs?category=laboratory', /narrowed by a query/],
    ['system/Patient', /not a SMART system scope/],
  ] as const) {
    const r = parseSystemScopes(bad, TYPES);
    assert.equal(r.kind, 'invalid', bad);
    if (r.kind === 'invalid') assert.match(r.problems[0]!, why, bad);
  }
});

test('SMART system scopes: granting within a registration, and what a token may read', () => {
  const parse = (s: string) => {
    const r = parseSystemScopes(s, TYPES);
    assert.equal(r.kind, 'ok');
    return r.kind === 'ok' ? r.scopes : [];
  };
  const registered = parse('system/Patient.rs system/Observation.rs');
  assert.equal(formatScopes(grantScopes(parse('system/*.read'), registered)), 'system/Patient.read system/Observation.read');
  assert.equal(formatScopes(grantScopes(parse('system/Encounter.rs system/Patient.rs'), registered)), 'system/Patient.rs');
  assert.deepEqual(grantScopes(parse('system/Encounter.read'), registered), []);
  assert.equal(formatScopes(grantScopes(parse('system/Encounter.read'), parse('system/*.read'))), 'system/Encounter.read');
  assert.equal(scopedTypes(['system/*.rs']), '*');
  assert.deepEqual([...(scopedTypes(['system/Patient.read', 'system/Observation.rs']) as Set<string>)], ['Patient', 'Observation']);
  assert.equal(scopeAllows(['system/Patient.read'], 'Patient'), true);
  assert.equal(scopeAllows(['system/Patient.read'], 'Observation'), false);
  assert.equal(scopeAllows([], 'Patient'), false, 'no scope, nothing');
});
