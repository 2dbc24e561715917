import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONSENT_SCOPE_SYSTEM, feedDirectives, ODS_SYSTEM, organisationCodes } from './feed-directives.ts';

const NOW = new Date('2025-06-01T12:00:00Z');
const SCT = 'http://snomed.info/sct';
const privacy = { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] };
const consent = (over: Record<string, unknown>) => ({ resourceType: 'Consent', id: 'c1', status: 'active', scope: privacy, patient: { reference: 'Patient/p1' }, dateTime: '2025-05-01T09:00:00Z', ...over });
const code = (c: string) => [{ coding: [{ system: SCT, code: c }] }];
const map = (resource: Record<string, unknown>, orgs = new Map<string, string>()) => feedDirectives([{ resource, subject: 'p1' }], orgs, NOW);

test('Consent: national data opt-out and record-sharing codes, provision deny or permit, status and period', () => {
  const optOut = map(consent({ category: code('827241000000103'), provision: { type: 'deny' } }));
  assert.deepEqual(optOut.consent.map((s) => [s.kind, s.effect, s.at]), [['national-data-opt-out', 'record', '2025-05-01T09:00:00.000Z']]);
  assert.match(optOut.consent[0]!.reason, /Consent\/c1 active: national-data-opt-out in force \(provision.type deny; 827241000000103 Dissent from secondary use/);
  // A dissent code with no provision type says deny itself; a consent-given code under permit withdraws.
  assert.deepEqual(map(consent({ category: code('416409005') })).consent.map((s) => [s.kind, s.effect]), [['dissent-sharing', 'record']]);
  assert.deepEqual(map(consent({ provision: { type: 'permit', code: code('417528008') } })).consent.map((s) => [s.kind, s.effect]), [['dissent-sharing', 'withdraw']]);
  // Contradictions take the restrictive reading.
  assert.deepEqual(map(consent({ category: code('425691002'), provision: { type: 'deny' } })).consent.map((s) => s.effect), ['record']);
  assert.deepEqual(map(consent({ category: code('881561000000100'), provision: { type: 'permit' } })).consent.map((s) => s.effect), ['record']);
  // Taken back: inactive, rejected, entered in error, or a period that has ended.
  for (const status of ['inactive', 'rejected', 'entered-in-error']) assert.deepEqual(map(consent({ status, category: code('827241000000103') })).consent.map((s) => s.effect), ['withdraw'], status);
  assert.deepEqual(map(consent({ category: code('416409005'), provision: { type: 'deny', period: { end: '2025-01-01' } } })).consent.map((s) => s.effect), ['withdraw']);
});

test('Consent shapes that change nothing say why', () => {
  const why = (r: Record<string, unknown>) => map(r).none.map((n) => n.reason).join(' | ');
  assert.match(why(consent({ scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'research' }] }, category: code('827241000000103') })), /scope research is not patient-privacy.*no effect on access/);
  assert.match(why(consent({ category: code('123456789') })), /no category or provision code Bevan knows/);
  assert.match(why(consent({ status: 'proposed', category: code('416409005') })), /status proposed is not in force/);
  assert.match(why(consent({ category: [...code('416409005'), ...code('827241000000103')] })), /more than one directive/);
  assert.match(why(consent({ category: code('416409005'), provision: { type: 'deny', period: { start: '2026-01-01' } } })), /not in force until 2026-01-01/);
  assert.match(feedDirectives([{ resource: consent({ category: code('416409005') }), subject: null }], new Map(), NOW).none[0]!.reason, /names no Patient/);
});

test('CareTeam: organisations by ODS code, practitioners through the organisation they act for, status and periods', () => {
  const team = {
    resourceType: 'CareTeam', id: 't1', status: 'active', subject: { reference: 'Patient/p1' },
    managingOrganization: [{ reference: 'Organization/o-gp' }],
    participant: [
      { role: [{ coding: [{ system: SCT, code: '224535009', display: 'Registered nurse' }] }], member: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: 'RM3' } }, period: { start: '2025-02-01' } },
      { member: { reference: 'Practitioner/dr1', identifier: { system: 'https://fhir.hl7.org.uk/Id/gmc-number', value: 'G1234567' } }, onBehalfOf: { identifier: { system: ODS_SYSTEM, value: 'rm2' } } },
      { member: { reference: 'Practitioner/dr2' } },
      { member: { reference: 'Organization/o-sc' }, period: { end: '2025-03-01' } },
      { member: { reference: 'Patient/p1' } },
      { member: { type: 'Organization', display: 'no code' } },
    ],
  };
  const orgs = organisationCodes([
    { resourceType: 'Organization', id: 'o-gp', identifier: [{ system: ODS_SYSTEM, value: 'P91001' }] },
    { resourceType: 'Organization', id: 'o-sc', identifier: [{ system: ODS_SYSTEM, value: 'TRAFFORD-SC' }] },
  ]);
  const out = map(team, orgs);
  assert.deepEqual(out.careTeam.map((s) => [s.member, s.effect, s.role, s.at]), [
    ['org:RM3', 'add', 'Registered nurse', '2025-02-01T00:00:00.000Z'],
    ['org:RM2', 'add', null, null],
    ['org:P91001', 'add', null, null],
    ['org:TRAFFORD-SC', 'end', null, '2025-03-01T00:00:00.000Z'],
  ]);
  assert.match(out.careTeam[1]!.reason, /Practitioner G1234567 for RM2/);
  assert.deepEqual(out.none.map((n) => n.reason.replace(/^CareTeam\/t1: /, '').split(':')[0]), ['participant 5', 'participant 6 (an Organization without an ODS code)']);
  // Without a managing organisation, a practitioner alone counts for nothing, and says so.
  const alone = map({ ...team, managingOrganization: undefined, participant: [{ member: { reference: 'Practitioner/dr2' } }] });
  assert.match(alone.none[0]!.reason, /a practitioner counts through the organisation they act for/);
  // An inactive team ends every member it names.
  assert.deepEqual(map({ ...team, status: 'inactive' }, orgs).careTeam.map((s) => s.effect), ['end', 'end', 'end', 'end']);
  assert.match(map({ ...team, status: 'proposed' }).none[0]!.reason, /status proposed is not in force/);
});
