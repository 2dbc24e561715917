/**
 * A record a clinician can trust, end to end on each database: feeds in (a GP FHIR bundle with a
 * death and an Organization resource, hospital HL7 v2 ADT with PID-29 and a discharge "died", a
 * WinPath-style ORU with comments and local codes, social care CSV closing the case), the writer
 * and the MPI, then the record as `bevan record` and the FHIR form show it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, DiagnosticReport, Observation, Patient } from '@medplum/fhirtypes';
import { addUser, findUser, principalOf } from '../access/users.ts';
import { csvAdapter } from '../ingest/csv/adapter.ts';
import { fhirAdapter } from '../ingest/fhir/adapter.ts';
import { seg } from '../ingest/hl7v2/fixtures/samples.ts';
import { fixture, header, message } from '../ingest/hl7v2/fixtures/vendors.ts';
import { parseHl7Message } from '../ingest/hl7v2/to-item.ts';
import type { FeedAdapter, IngestItem } from '../ingest/model.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { fhirLogicalId } from './fhir-bundle.ts';
import { buildIntegratedRecord } from './integrated-record.ts';
import { readIntegratedRecord } from './record-service.ts';
import { readPersonRecordRows } from './record-store.ts';

const NHS = '9434765919';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const SCT = 'http://snomed.info/sct';

async function read(adapter: FeedAdapter, text: string, origin: string): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  async function* one() {
    yield Buffer.from(text, 'utf8');
  }
  for await (const item of adapter.read(one(), origin)) out.push(item);
  return out;
}

const gpBundle: Bundle = {
  resourceType: 'Bundle',
  type: 'collection',
  meta: { source: 'gp:P91001' },
  entry: [
    {
      resource: {
        resourceType: 'Patient', id: 'gp-1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS }], name: [{ use: 'official', family: 'Smith', given: ['John'] }],
        gender: 'male', birthDate: '1950-03-12', address: [{ postalCode: 'M33 2AB' }], deceasedDateTime: '2025-09-20',
        generalPractitioner: [{ identifier: { system: ODS, value: 'P91001' } }],
      },
    },
    { resource: { resourceType: 'Encounter', id: 'enc-1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, type: [{ coding: [{ system: SCT, code: '11429006', display: 'Consultation' }] }], subject: { reference: 'Patient/gp-1' }, period: { start: '2025-06-02T09:00:00Z', end: '2025-06-02T09:10:00Z' }, serviceProvider: { identifier: { system: ODS, value: 'P91001' } } } },
    { resource: { resourceType: 'Encounter', id: 'enc-2', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' }, type: [{ coding: [{ system: SCT, code: '185317003', display: 'Telephone encounter' }] }], subject: { reference: 'Patient/gp-1' }, period: { start: '2025-07-01T11:00:00Z' } } },
    { resource: { resourceType: 'Observation', id: 'smk-1', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'social-history' }] }], code: { coding: [{ system: SCT, code: '77176002', display: 'Smoker' }] }, subject: { reference: 'Patient/gp-1' }, effectiveDateTime: '2019-05-01' } },
    // Reference data the GP system sent: a trust the locality's reference file does not list.
    { resource: { resourceType: 'Organization', id: 'org-r0a', identifier: [{ system: ODS, value: 'R0A' }], name: 'Manchester University NHS Foundation Trust' } },
  ],
};

const PID = (extra: Record<number, string> = {}) => seg('PID', { 1: '1', 3: `RM2004411^^^RM2^MR~${NHS}^^^NHS^NH`, 5: 'SMITH^Jon^^^Mr', 7: '19500312', 8: 'M', 11: '14 Washway Road^^Sale^^M33 2AB^GBR', ...extra });
const adt = (facility: string, trigger: string, id: string, time: string, body: string[], pid = PID()) =>
  message([header(`ADT^${trigger}^ADT_A01`, id, { facility, time, version: '2.4' }), seg('EVN', { 1: trigger, 2: time }), pid, seg('PD1', { 3: 'Sale Moor Medical Centre^^P91001' }), ...body]);
const stay = (extra: Record<number, string>) => seg('PV1', { 1: '1', 2: 'I', 3: 'WARD7^BAY2^BED3^RM2', 4: 'EM', 10: 'GER', 19: 'V1009', 44: '20250915100000', ...extra });

const hl7Messages = [
  adt('RM2', 'A01', 'ADT-1', '20250915100500', [stay({})]),
  adt('RM2', 'A03', 'ADT-2', '20250920235000', [stay({ 36: '4', 45: '20250920234000+0100' })], PID({ 29: '20250920234000+0100', 30: 'Y' })),
  fixture('winpath-v24-oru-comments.hl7'),
  // Another trust's outpatient clinic: named from the Organization resource the GP system sent.
  adt('R0A', 'A04', 'ADT-3', '20250404103000', [seg('PV1', { 1: '1', 2: 'O', 3: 'OPD^DIA^^R0A', 4: 'EL', 10: 'DIA', 19: 'R0AV77', 44: '20250404103000' })], seg('PID', { 1: '1', 3: `R0A7788^^^R0A^MR~${NHS}^^^NHS^NH`, 5: 'SMITH^Jon', 7: '19500312', 8: 'M' })),
];

const socialCare = [
  'assessment_id,person_id,nhs_number,family_name,given_name,date_of_birth,sex,postcode,assessment_date,assessment_type,outcome,snomed_code,snomed_display,worker_team',
  `SC-77-A1,SC-77,${NHS},Smith,John,1950-03-12,male,M33 2AB,2025-07-20,Care Act assessment,Eligible,,,Central Trafford Adult Social Care`,
  `SC-77-A2,SC-77,${NHS},Smith,John,1950-03-12,male,M33 2AB,2025-09-22,Case closure,Died,,,Central Trafford Adult Social Care`,
].join('\n') + '\n';

for (const target of await testDatabases()) {
  test(`a record a clinician can trust on ${target.name}: ingest → record (death first, names, groups, mapped codes, comments)`, async () => {
    const db = await target.open();
    try {
      await db.query(`INSERT INTO neighbourhood (code, name) VALUES ('central', 'Central Trafford')`);
      await db.query(`INSERT INTO practice (ods_code, name, neighbourhood, postcode) VALUES ('P91001', 'Sale Moor Medical Centre', 'central', 'M33 4AA')`);
      const items = [
        ...(await read(fhirAdapter, JSON.stringify(gpBundle) + '\n', 'gp/P91001.ndjson')),
        ...hl7Messages.map((m, i) => parseHl7Message(m, `hospital/${i}.hl7`)),
        ...(await read(csvAdapter, socialCare, 'socialcare/assessments.csv')),
      ];
      for (const item of items) assert.equal(item.kind, 'accepted', item.kind === 'rejected' ? item.reason : item.kind);
      const written = await writeBatch(db, items);
      assert.ok(written.outcomes.every((o) => o === 'committed'), written.outcomes.join(', '));

      const loaded = (await readPersonRecordRows(db, { nhsNumber: NHS }))!;
      assert.deepEqual(new Set(loaded.identities.map((i) => i.source_system)), new Set(['gp:P91001', 'hl7:RM2', 'hl7:R0A', 'csv:socialcare']), 'one person across the sources');
      // The Organization the GP system sent is reference data: no person, but its name is found by its ODS code.
      assert.deepEqual(loaded.practices.filter((p) => p.origin === 'feed').map((p) => [p.ods_code, p.name]), [['R0A', 'Manchester University NHS Foundation Trust']]);

      const record = buildIntegratedRecord(loaded.person, loaded.identities, loaded.rows, loaded.practices, { now: new Date('2025-10-01T12:00:00Z') });
      const d = record.death!;
      assert.equal(d.date, '2025-09-20');
      assert.deepEqual(d.reportedBy.map((s) => s.system), ['gp:P91001', 'hl7:RM2', 'csv:socialcare']);
      assert.deepEqual(d.reports.map((r) => r.evidence), ['patient-record', 'patient-record', 'discharge', 'case-closure']);
      assert.deepEqual(d.notRecordedBy.map((s) => s.system), ['hl7:R0A']);
      assert.equal(record.admissions[0]!.died, true);

      assert.deepEqual(record.gpConsultations.map((c) => [c.mode, c.practice.name]), [['telephone', 'Sale Moor Medical Centre'], ['face-to-face', 'Sale Moor Medical Centre']]);
      assert.deepEqual(record.encounters.map((e) => [e.location, e.source.name]), [['OPD DIA', 'Manchester University NHS Foundation Trust (hl7:R0A)']]);
      const groups = Object.fromEntries(record.results.groups.map((g) => [g.key, g.latest.map((r) => r.name)]));
      assert.deepEqual(groups, { laboratory: ['Haemoglobin', 'Platelets'], 'social-history': ['Tobacco smoking status', 'Smoker'] });
      const hb = record.results.latestByCode.find((r) => r.name === 'Haemoglobin')!;
      assert.equal(hb.code, `${SCT}|1022431000000105`);
      assert.equal(hb.localCode, 'HB');
      assert.deepEqual(hb.notes, ['Result confirmed on repeat analysis.', 'Film reviewed: hypochromic microcytic.']);
      assert.deepEqual(record.results.reports.find((r) => r.name === 'Full blood count')!.notes, ['Sample received 6 hours after collection.']);

      // Through the use case `bevan record` calls (access decision and audit inside the repository).
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001' });
      const ctx = { principal: principalOf((await findUser(db, 'dr.jones'))!), purpose: 'direct-care' as const, db, from: 'test' };
      const text = await readIntegratedRecord(ctx, { query: { nhsNumber: NHS }, label: `NHS number ${NHS}`, by: 'nhs-number', format: 'text' });
      const lines = text.split('\n');
      assert.equal(lines[0], 'Integrated care record: SMITH, John');
      assert.match(lines[1]!, /^DECEASED: died 20 Sep 2025, aged 75 — recorded by Sale Moor Medical Centre \(gp:P91001\); Trafford Synthetic Acute Hospital, south site \(hl7:RM2\); Trafford Synthetic Adult Social Care \(csv:socialcare\)$/);
      assert.ok(lines.includes('  Not recorded as deceased by: Manchester University NHS Foundation Trust (hl7:R0A)'));
      assert.match(text, /\n {6}comment: Sample received 6 hours after collection\.\n/);
      assert.match(text, /SOCIAL HISTORY \(SMOKING, ALCOHOL\), LATEST OF EACH \(2\)\n {2}10 Aug 2025 {2}Tobacco smoking status {2}Ex-smoker/);
      assert.match(text, /GP telephone consultation, Sale Moor Medical Centre/);
      assert.match(text, /DIED {2}Geriatric medicine — Ward 7 \(BAY2 BED3\)/);

      const json = JSON.parse(await readIntegratedRecord(ctx, { query: { nhsNumber: NHS }, label: `NHS number ${NHS}`, by: 'nhs-number', format: 'fhir' })) as Bundle;
      const merged = json.entry![0]!.resource as Patient;
      assert.equal(merged.id, loaded.person.person_id);
      assert.equal(merged.deceasedDateTime, '2025-09-20');
      const obs = json.entry!.find((e) => e.resource!.id === fhirLogicalId('hl7:RM2', 'Observation', 'L25.7701-1'))!.resource as Observation;
      assert.deepEqual(obs.code.coding, [{ system: SCT, code: '1022431000000105', display: 'Haemoglobin estimation' }, { code: 'HB', display: 'Haemoglobin' }]);
      assert.equal(obs.note?.length, 2);
      const report = json.entry!.find((e) => e.resource!.id === fhirLogicalId('hl7:RM2', 'DiagnosticReport', 'L25.7701'))!.resource as DiagnosticReport;
      assert.deepEqual(report.code.coding?.map((c) => c.code), ['58410-2', 'FBC']);
      // The stored resource is as the laboratory sent it.
      const stored = await db.query<{ content: Observation }>(`SELECT content FROM resource WHERE source_system = 'hl7:RM2' AND resource_type = 'Observation' AND source_id = 'L25.7701-1'`);
      assert.deepEqual(stored.rows[0]!.content.code.coding, [{ code: 'HB', display: 'Haemoglobin' }]);
    } finally {
      await db.drop();
    }
  });
}
