import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Patient } from '@medplum/fhirtypes';
import { buildIntegratedRecord } from './integrated-record.ts';
import { CARE_SETTING_TAG, sourceSetting, tagCareSettings } from './care-setting.ts';
import { OrganisationDirectory } from './organisations.ts';
import { defaultReferenceData } from './reference/reference-data.ts';
import { addressText, buildRecordSources, type FeedFreshness } from './record-sources.ts';
import type { ResourceRow } from './rows.ts';
import { COMMUNITY, GP, HOSPITAL, identities, NOW, PERSON_ID, person, practices, rows, SOCIAL } from './test-fixtures.ts';

const directory = new OrganisationDirectory(defaultReferenceData(), practices);

test('care setting of a source: the feeds file, then the organisation running it, then the key', () => {
  // The mental health trust's HL7 v2 feed: its organisation's kind (reference/organisations.csv), not its hl7: prefix.
  assert.deepEqual(sourceSetting('hl7:RXV', directory), { setting: 'mental-health', from: 'organisation', organisation: { odsCode: 'RXV', name: 'Trafford Synthetic Mental Health Trust' } });
  assert.equal(sourceSetting('csv:mentalhealth', directory).setting, 'mental-health');
  assert.equal(sourceSetting('hl7:RM2', directory).setting, 'hospital');
  assert.equal(sourceSetting('csv:community', directory).setting, 'community');
  assert.equal(sourceSetting('csv:socialcare', directory).setting, 'social-care');
  assert.deepEqual(sourceSetting(GP, directory), { setting: 'gp', from: 'organisation', organisation: { odsCode: 'P91001', name: 'Sale Moor Medical Centre' } });
  // Keys no reference data knows: the documented conventions, and "other" for the rest.
  assert.deepEqual(sourceSetting('hl7:ZZ9', directory), { setting: 'hospital', from: 'key', organisation: null });
  assert.equal(sourceSetting('gp:Y00001', directory).setting, 'gp');
  assert.equal(sourceSetting('fhir:hospice', directory).setting, 'other');
  // A feeds file's kind wins.
  assert.deepEqual(sourceSetting('hl7:ZZ9', directory, new Map([['hl7:ZZ9', 'community']])), { setting: 'community', from: 'feeds', organisation: null });
});

test('addressText: the home address in use as one line', () => {
  assert.equal(addressText([{ use: 'old', line: ['1 Old Road'], postalCode: 'M1 1AA' }, { use: 'home', line: ['12 Cross Street', 'Sale'], city: 'Manchester', postalCode: 'M33 2AB' }]), '12 Cross Street, Sale, Manchester, M33 2AB');
  assert.equal(addressText([{ use: 'home', line: ['1 Gone'], period: { end: '2020-01-01' } }, { text: '5 Kept Lane, Sale' }]), '5 Kept Lane, Sale');
  assert.equal(addressText(undefined), null);
});

function patientRow(system: string, id: string, p: Omit<Patient, 'resourceType' | 'id'>): ResourceRow {
  return { source_system: system, resource_type: 'Patient', source_id: id, person_id: PERSON_ID, subject_id: id, version: 1, source_time: null, received_at: '2025-10-01T08:00:00.000Z', content: { resourceType: 'Patient', id, ...p } };
}

const FRESH: FeedFreshness[] = [
  { source: HOSPITAL, lastMessageAt: '2025-10-04T11:56:00.000Z', lastAcceptedAt: '2025-10-04T11:56:00.000Z', lastQuarantinedAt: null, lastRunAt: '2025-10-04T11:50:00.000Z' },
  { source: GP, lastMessageAt: '2025-10-03T02:00:00.000Z', lastAcceptedAt: '2025-10-03T02:00:00.000Z', lastQuarantinedAt: null, lastRunAt: null },
];

test('the sources of a record: setting, organisation and freshness per source; identities; disagreements', () => {
  const extra = [
    // The GP and hospital Patients hold different addresses; the hospital says the person died.
    patientRow(HOSPITAL, 'MRN100', { address: [{ use: 'home', line: ['14 Cross Street'], city: 'Sale', postalCode: 'M33 2AB' }], deceasedDateTime: '2025-10-02T03:00:00Z' }),
    patientRow(COMMUNITY, 'C-5', { address: [{ postalCode: 'M33 2AB' }] }),
  ];
  const all = [...rows.filter((r) => !(r.resource_type === 'Patient' && r.source_system === GP)), patientRow(GP, 'gp-pat-1', { address: [{ use: 'home', line: ['12 Cross Street'], city: 'Sale', postalCode: 'M33 2AB' }] }), ...extra];
  // The hospital names another practice than the GP system's own.
  const ids = identities.map((i) => (i.source_system === HOSPITAL ? { ...i, practice: 'P91002' } : i));
  const record = buildIntegratedRecord(person, ids, all, practices, { now: NOW });
  const v = buildRecordSources(record, all, FRESH, { practices, now: NOW });

  assert.equal(v.personId, PERSON_ID);
  assert.equal(v.at, NOW.toISOString());
  assert.deepEqual(v.sources.map((s) => [s.system, s.setting]), [[GP, 'gp'], [HOSPITAL, 'hospital'], [COMMUNITY, 'community'], [SOCIAL, 'social-care']]);
  const hospital = v.sources.find((s) => s.system === HOSPITAL)!;
  assert.deepEqual(hospital.feed, { lastMessageAt: '2025-10-04T11:56:00.000Z', lastAcceptedAt: '2025-10-04T11:56:00.000Z', lastQuarantinedAt: null, lastRunAt: '2025-10-04T11:50:00.000Z' });
  assert.deepEqual(hospital.organisation, { odsCode: 'RM2', name: 'Trafford Synthetic Acute Hospital, south site' });
  // A source the ingest log knows nothing of: nulls, not a guess.
  assert.equal(v.sources.find((s) => s.system === SOCIAL)!.feed.lastMessageAt, null);

  assert.equal(v.identities.length, 4);
  const gp = v.identities.find((i) => i.system === GP)!;
  assert.equal(gp.localId, 'gp-pat-1');
  assert.equal(gp.address, '12 Cross Street, Sale, M33 2AB');
  assert.deepEqual(gp.practice, { odsCode: 'P91001', name: 'Sale Moor Medical Centre' });
  assert.equal(gp.death, null);
  assert.equal(gp.linkMethod, 'nhs-number');
  const hos = v.identities.find((i) => i.system === HOSPITAL)!;
  assert.equal(hos.preferred, true, 'the most recent identity with a valid NHS number');
  assert.deepEqual(hos.death, { status: 'deceased', date: '2025-10-02T03:00:00Z', detail: 'date of death' });
  assert.equal(v.identities.find((i) => i.system === SOCIAL)!.linkMethod, 'probabilistic');

  const by = Object.fromEntries(v.disagreements.map((d) => [d.field, d.values]));
  assert.deepEqual(Object.keys(by).sort(), ['address', 'death', 'family', 'given', 'practice']);
  assert.deepEqual(by.family, [
    { value: 'SMITH', sources: [HOSPITAL, GP, COMMUNITY] },
    { value: 'Smyth', sources: [SOCIAL] },
  ]);
  assert.deepEqual(by.practice, [
    { value: 'P91001', sources: [GP, COMMUNITY] },
    { value: 'P91002', sources: [HOSPITAL] },
  ]);
  assert.deepEqual(by.death, [
    { value: 'no death recorded', sources: [GP, COMMUNITY, SOCIAL] },
    { value: 'died 2025-10-02', sources: [HOSPITAL] },
  ]);
  assert.equal(by.address!.length, 2);
  // The community's Patient holds only a postcode: not a different address.
  assert.ok(by.address!.every((v) => !v.sources.includes(COMMUNITY)));
  // "M33 2AB" and "M332AB" are one postcode.
  assert.equal(by.postcode, undefined);
  assert.deepEqual(v.registeredPractice, { odsCode: 'P91001', name: 'Sale Moor Medical Centre', neighbourhood: 'SALE', neighbourhoodName: 'Sale' });
  assert.equal(v.address, '14 Cross Street, Sale, M33 2AB', "the preferred source's address");
  assert.equal(v.notShown, 0);
});

test('no death reported: silence is not a disagreement; dissent hides other organisations\' sources', () => {
  const record = buildIntegratedRecord(person, identities, rows, practices, { now: NOW });
  const v = buildRecordSources(record, rows, [], { practices, now: NOW, shown: (s) => s === GP });
  assert.deepEqual(v.sources.map((s) => s.system), [GP]);
  assert.deepEqual(v.identities.map((i) => i.system), [GP]);
  assert.equal(v.notShown, 3);
  assert.deepEqual(v.disagreements, [], 'one source cannot disagree with itself');
  const everyone = buildRecordSources(record, rows, [], { practices, now: NOW });
  assert.equal(everyone.disagreements.some((d) => d.field === 'death'), false);
  assert.equal(everyone.disagreements.some((d) => d.field === 'practice'), false, 'sources that name no practice do not disagree');
});

test('tagCareSettings: each item that names its source carries its setting as a meta.tag', () => {
  const entries = [
    { resource: { meta: {} } },
    { resource: { meta: { source: 'hl7:RXV', tag: [{ system: CARE_SETTING_TAG, code: 'hospital' }, { system: 'urn:other', code: 'x' }] } } },
    { resource: { meta: { source: GP } } },
  ];
  tagCareSettings(entries, directory);
  assert.equal(entries[0]!.resource.meta.tag, undefined, 'the merged Patient names no source');
  assert.deepEqual(entries[1]!.resource.meta.tag, [{ system: 'urn:other', code: 'x' }, { system: CARE_SETTING_TAG, code: 'mental-health', display: 'Mental health' }]);
  assert.deepEqual(entries[2]!.resource.meta.tag, [{ system: CARE_SETTING_TAG, code: 'gp', display: 'GP' }]);
});
