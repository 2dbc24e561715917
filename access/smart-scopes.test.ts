import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScopes, grantScopes, parseSystemScopes, scopeAllows, scopedTypes, tokenReadScopes, type ScopeQueryCheck } from './smart-scopes.ts';

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
    ['system/Observation.rs?category=laboratory', /narrowed by a query are not granted here/],
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

// Stands in for fhir/scope-narrowing.ts: category and code on Observation can be applied, nothing else.
const check: ScopeQueryCheck = (type, query) => (type === 'Observation' && /^(category|code)=[^&]+$/.test(query) ? null : `${type}?${query} cannot be applied`);
const LAB = 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

test('SMART v2 scopes narrowed by a query: granted where the server can apply the query, refused by name otherwise', () => {
  const ok = parseSystemScopes(`system/Observation.rs?${LAB} system/Observation.rs?code=4548-4 system/Patient.rs`, TYPES, check);
  assert.equal(ok.kind, 'ok');
  if (ok.kind !== 'ok') return;
  assert.deepEqual(ok.scopes, [
    { type: 'Observation', syntax: 'v2', query: LAB },
    { type: 'Observation', syntax: 'v2', query: 'code=4548-4' },
    { type: 'Patient', syntax: 'v2' },
  ]);
  assert.equal(formatScopes(ok.scopes), `system/Observation.rs?${LAB} system/Observation.rs?code=4548-4 system/Patient.rs`, 'granted as asked, query and all');
  for (const [bad, why] of [
    ['system/Observation.rs?status=final', /cannot be applied/],
    ['system/*.rs?category=laboratory', /one resource type, not \*/],
    ['system/Observation.read?category=laboratory', /SMART v2 scope/],
    ['system/Observation.rs?', /the query is empty/],
    ['system/Observation.cud?category=laboratory', /read and search/],
  ] as const) {
    const r = parseSystemScopes(bad, TYPES, check);
    assert.equal(r.kind, 'invalid', bad);
    if (r.kind === 'invalid') assert.match(r.problems[0]!, why, bad);
  }
});

test('SMART v2 scopes narrowed by a query: granting within a registration, and what a token carries', () => {
  const parse = (s: string) => {
    const r = parseSystemScopes(s, TYPES, check);
    assert.equal(r.kind, 'ok', s);
    return r.kind === 'ok' ? r.scopes : [];
  };
  const lab = parse(`system/Patient.rs system/Observation.rs?${LAB}`);
  // The whole type asked for by a client registered for a narrowing: the narrowing (less than asked, and the token says so).
  assert.equal(formatScopes(grantScopes(parse('system/Observation.read'), lab)), `system/Observation.rs?${LAB}`);
  assert.equal(formatScopes(grantScopes(parse('system/*.rs'), lab)), `system/Patient.rs system/Observation.rs?${LAB}`);
  // A narrowing asked for: granted within the whole type or the same narrowing, never another.
  assert.equal(formatScopes(grantScopes(parse(`system/Observation.rs?${LAB}`), lab)), `system/Observation.rs?${LAB}`);
  assert.deepEqual(grantScopes(parse('system/Observation.rs?code=4548-4'), lab), []);
  assert.equal(formatScopes(grantScopes(parse('system/Observation.rs?code=4548-4'), parse('system/Observation.rs'))), 'system/Observation.rs?code=4548-4');
  // What a token's scope strings say.
  const carried = [`system/Observation.rs?${LAB}`, 'system/Patient.rs'];
  assert.deepEqual(tokenReadScopes(carried), [{ type: 'Observation', query: LAB }, { type: 'Patient' }]);
  assert.deepEqual([...(scopedTypes(carried) as Set<string>)], ['Observation', 'Patient'], 'a narrowed type is read (the repository applies the narrowing)');
  assert.equal(scopeAllows(carried, 'Observation'), true);
  assert.equal(scopeAllows(carried, 'Encounter'), false);
});
