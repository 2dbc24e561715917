import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource } from '@medplum/fhirtypes';
import { includeReferences, matchesSearch, revincluded, sortResources, tokenCodes, valuesAt } from './match.ts';
import { paramOf, parseClinicalSearch, parseIncludeSpec, type ClinicalType, type IncludeSpec } from './params.ts';

const NOW = Date.parse('2025-10-04T12:00:00Z');
const SCT = 'http://snomed.info/sct';
const PERSON = '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51';

const obs = (id: string, extra: Record<string, unknown>): Resource => ({ resourceType: 'Observation', id, status: 'final', subject: { reference: `Patient/${PERSON}` }, code: { coding: [{ system: SCT, code: '1107481000000106', display: 'HbA1c level' }] }, ...extra }) as Resource;
const o1 = obs('o1', { effectiveDateTime: '2024-03-01' });
const o2 = obs('o2', { effectiveDateTime: '2025-03-01T09:30:00Z', encounter: { reference: 'Encounter/e1' }, category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }] });
const bp = obs('o3', { code: { coding: [{ system: SCT, code: '75367002', display: 'Blood pressure' }], text: 'BP (sitting)' }, effectivePeriod: { start: '2025-03-01T10:00:00Z', end: '2025-03-01T10:05:00Z' }, status: 'amended' });
const noDate = obs('o0', { code: { text: 'Smoking status' } });
const all = [o1, o2, bp, noDate];

function search(type: ClinicalType, q: Record<string, string | string[]>, resources: Resource[]): string[] {
  const p = parseClinicalSearch(type, { patient: PERSON, ...q }, { zone: 'UTC' });
  assert.equal(p.kind, 'ok', JSON.stringify(p));
  const s = (p as { search: Parameters<typeof matchesSearch>[1] }).search;
  return resources.filter((r) => matchesSearch(r, s, NOW, 'UTC')).map((r) => r.id!);
}

test('valuesAt walks arrays at every step', () => {
  const r = { reaction: [{ substance: { text: 'a' } }, { substance: { text: 'b' }, manifestation: [{ text: 'c' }, { text: 'd' }] }] };
  assert.deepEqual(valuesAt(r, 'reaction.substance').map((x) => (x as { text: string }).text), ['a', 'b']);
  assert.deepEqual(valuesAt(r, 'reaction.manifestation').map((x) => (x as { text: string }).text), ['c', 'd']);
  assert.deepEqual(valuesAt(r, 'nothing.here'), []);
});

test('tokens: system|code, code, |code, system|, :not, :text', () => {
  assert.deepEqual(search('Observation', { code: `${SCT}|1107481000000106` }, all), ['o1', 'o2']);
  assert.deepEqual(search('Observation', { code: '75367002' }, all), ['o3']);
  assert.deepEqual(search('Observation', { code: `http://loinc.org|75367002` }, all), [], 'another system');
  assert.deepEqual(search('Observation', { code: '|75367002' }, all), [], 'the coding has a system');
  assert.deepEqual(search('Observation', { code: `${SCT}|` }, all), ['o1', 'o2', 'o3']);
  assert.deepEqual(search('Observation', { code: '1107481000000106,75367002' }, all), ['o1', 'o2', 'o3'], 'comma is OR');
  assert.deepEqual(search('Observation', { code: ['1107481000000106', '75367002'] }, all), [], 'repeated is AND');
  assert.deepEqual(search('Observation', { 'code:not': '1107481000000106' }, all), ['o3', 'o0'], ':not keeps those with no value too');
  assert.deepEqual(search('Observation', { 'code:text': 'blood' }, all), ['o3'], 'display, any case');
  assert.deepEqual(search('Observation', { 'code:text': 'sitt' }, all), ['o3'], 'a word of CodeableConcept.text');
  assert.deepEqual(search('Observation', { 'code:text': 'moking' }, all), [], 'words start with the value');
  assert.deepEqual(search('Observation', { 'code:text': 'SMOKING ST' }, all), ['o0']);
  // Bare codes (status) carry their element's system.
  assert.deepEqual(search('Observation', { status: 'amended' }, all), ['o3']);
  assert.deepEqual(search('Observation', { status: 'http://hl7.org/fhir/observation-status|final' }, all), ['o1', 'o2', 'o0']);
  assert.deepEqual(search('Observation', { status: 'Final' }, all), [], 'codes are case-sensitive');
  assert.deepEqual(search('Observation', { category: 'laboratory' }, all), ['o2']);
  assert.deepEqual(search('Observation', { 'category:missing': 'true' }, all), ['o1', 'o3', 'o0']);
  assert.deepEqual(search('Observation', { _id: 'o2,o3' }, all), ['o2', 'o3']);
});

test('identifiers and Codings are tokens too', () => {
  const enc = { resourceType: 'Encounter', id: 'e', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, identifier: [{ system: 'urn:x', value: 'V1' }] } as Resource;
  assert.deepEqual(tokenCodes(enc, paramOf('Encounter', 'class')!).map((c) => c.code), ['IMP']);
  assert.deepEqual(search('Encounter', { class: 'http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP' }, [enc]), ['e']);
  assert.deepEqual(search('Encounter', { class: 'AMB' }, [enc]), []);
});

test('dates: prefixes over dates, instants and periods; no date matches no date criterion', () => {
  assert.deepEqual(search('Observation', { date: '2025-03-01' }, all), ['o2', 'o3']);
  assert.deepEqual(search('Observation', { date: '2025' }, all), ['o2', 'o3']);
  assert.deepEqual(search('Observation', { date: ['ge2024-01-01', 'lt2025'] }, all), ['o1']);
  assert.deepEqual(search('Observation', { date: 'ge2025-03-01T10:00:00Z' }, all), ['o3']);
  assert.deepEqual(search('Observation', { date: 'lt2025-03-01T10:00Z' }, all), ['o1', 'o2']);
  assert.deepEqual(search('Observation', { date: 'sa2024-12-31' }, all), ['o2', 'o3']);
  assert.deepEqual(search('Observation', { date: 'eb2025' }, all), ['o1']);
  assert.deepEqual(search('Observation', { date: 'ne2025-03-01' }, all), ['o1']);
  assert.deepEqual(search('Observation', { date: '2024,2025-03-01T09:30:00Z' }, all), ['o1', 'o2']);
  assert.deepEqual(search('Observation', { date: 'ap2024-03-05' }, all), ['o1'], 'about: within a tenth of the time since');
  assert.deepEqual(search('Observation', { 'date:missing': 'true' }, all), ['o0']);
  // An ongoing encounter (no end) is still going: after any date, and within no finished range.
  const ongoing = { resourceType: 'Encounter', id: 'v3', status: 'in-progress', period: { start: '2025-10-01T09:00:00Z' } } as Resource;
  const stay = { resourceType: 'Encounter', id: 'v1', status: 'finished', period: { start: '2025-07-01T22:30:00Z', end: '2025-07-05T11:00:00Z' } } as Resource;
  assert.deepEqual(search('Encounter', { date: 'ge2025-07-03' }, [ongoing, stay]), ['v3', 'v1']);
  assert.deepEqual(search('Encounter', { date: '2025-07' }, [ongoing, stay]), ['v1']);
  assert.deepEqual(search('Encounter', { date: 'gt2030-01-01' }, [ongoing, stay]), ['v3']);
  assert.deepEqual(search('Encounter', { date: 'lt2025-07-02' }, [ongoing, stay]), ['v1']);
  // Condition's onset as a dateTime or a Period.
  const c1 = { resourceType: 'Condition', id: 'c1', onsetDateTime: '2015-04-20' } as Resource;
  const c2 = { resourceType: 'Condition', id: 'c2', onsetPeriod: { start: '1990-01-01', end: '1990-06-01' }, recordedDate: '2016-01-01' } as Resource;
  assert.deepEqual(search('Condition', { 'onset-date': 'lt2000' }, [c1, c2]), ['c2']);
  assert.deepEqual(search('Condition', { 'recorded-date': '2016' }, [c1, c2]), ['c2']);
});

test('references as served: Type/id or id, :[type]', () => {
  assert.deepEqual(search('Observation', { encounter: 'Encounter/e1' }, all), ['o2']);
  assert.deepEqual(search('Observation', { encounter: 'e1' }, all), ['o2']);
  assert.deepEqual(search('Observation', { 'encounter:Encounter': 'e1' }, all), ['o2']);
  assert.deepEqual(search('Observation', { encounter: 'e2' }, all), []);
});

test('sort by date, newest first, missing last, ties by id; _lastUpdated and _id', () => {
  const keys = (q: string) => {
    const p = parseClinicalSearch('Observation', { patient: PERSON, _sort: q }, { zone: 'UTC' });
    assert.equal(p.kind, 'ok');
    return (p as { search: { sort: Parameters<typeof sortResources>[1] } }).search.sort;
  };
  assert.deepEqual(sortResources(all, keys('-date'), 'UTC').map((r) => r.id), ['o3', 'o2', 'o1', 'o0']);
  assert.deepEqual(sortResources(all, keys('date'), 'UTC').map((r) => r.id), ['o1', 'o2', 'o3', 'o0']);
  assert.deepEqual(sortResources(all, keys('-_id'), 'UTC').map((r) => r.id), ['o3', 'o2', 'o1', 'o0']);
  const tied = [obs('b', { effectiveDateTime: '2025-01-01' }), obs('a', { effectiveDateTime: '2025-01-01' })];
  assert.deepEqual(sortResources(tied, keys('-date'), 'UTC').map((r) => r.id), ['a', 'b'], 'ties in id order, for stable pages');
  const updated = [obs('x', { meta: { lastUpdated: '2025-02-01T00:00:00Z' } }), obs('y', { meta: { lastUpdated: '2025-01-01T00:00:00Z' } })];
  assert.deepEqual(sortResources(updated, keys('_lastUpdated'), 'UTC').map((r) => r.id), ['y', 'x']);
  assert.deepEqual(sortResources(updated, keys('-_lastUpdated,date'), 'UTC').map((r) => r.id), ['x', 'y']);
});

test('_include references and _revinclude candidates', () => {
  const spec = (s: string) => parseIncludeSpec(s) as IncludeSpec;
  const report = { resourceType: 'DiagnosticReport', id: 'r1', subject: { reference: `Patient/${PERSON}` }, result: [{ reference: 'Observation/o1' }, { reference: 'Observation/o2' }, { reference: 'Observation/o1' }] } as Resource;
  assert.deepEqual(includeReferences([report], spec('DiagnosticReport:result')), ['Observation/o1', 'Observation/o2'], 'once each');
  assert.deepEqual(includeReferences([report], spec('DiagnosticReport:patient')), [`Patient/${PERSON}`]);
  assert.deepEqual(includeReferences([o1, o2], spec('Observation:encounter')), ['Encounter/e1']);
  assert.deepEqual(includeReferences([o2], spec('Observation:subject:Patient')), [`Patient/${PERSON}`]);
  assert.deepEqual(revincluded(all, spec('Observation:encounter'), new Set(['Encounter/e1'])).map((r) => r.id), ['o2']);
  assert.deepEqual(revincluded(all, spec('Observation:patient'), new Set([`Patient/${PERSON}`])).length, 4);
  assert.deepEqual(revincluded(all, spec('Observation:patient'), new Set(['Patient/someone-else'])).length, 0);
});
