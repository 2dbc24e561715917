/**
 * HL7 v2 immunisation, document, appointment and pharmacy messages (ingest/hl7v2/pharmacy.ts,
 * documents.ts, scheduling.ts) through the pipeline into the database, on both databases: each
 * resource is stored under the person of its PID, a replay changes nothing, and a later cancel
 * replaces the resource it names rather than adding one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../test/databases.ts';
import { seg } from './hl7v2/fixtures/samples.ts';
import { header, message, PID_ANNA } from './hl7v2/fixtures/vendors.ts';
import { ingestPaths } from './pipeline.ts';

const root = await mkdtemp(join(tmpdir(), 'bevan-hl7-clinical-'));
test.after(() => rm(root, { recursive: true, force: true }));

const sch = (fields: Record<number, string>) => seg('SCH', { 1: 'PA-1', 2: 'FA-1', 11: '^^^20250412093000^20250412100000', 25: 'Booked', ...fields });
const first = [
  message([header('VXU^V04^VXU_V04', 'C1', { version: '2.5.1' }), PID_ANNA, seg('ORC', { 1: 'RE', 3: 'IMM-1' }), seg('RXA', { 1: '0', 2: '1', 3: '20250310', 5: '208^COVID-19 mRNA^CVX', 6: '0.3', 7: 'mL^^UCUM', 20: 'CP' })]),
  message([header('MDM^T02', 'C2', { version: '2.5.1' }), seg('EVN', { 1: 'T02' }), PID_ANNA, seg('TXA', { 1: '1', 2: 'DS', 3: 'TX', 4: '20250304160000', 12: 'DOC-1', 17: 'LA', 19: 'AV' }), seg('OBX', { 1: '1', 2: 'TX', 5: 'Discharged home.' })]),
  message([header('SIU^S12', 'C3', { version: '2.3' }), sch({}), PID_ANNA, seg('RGS', { 1: '1' }), seg('AIS', { 1: '1', 3: 'CARD^Cardiology^L' })]),
  message([header('RDE^O11', 'C4', { version: '2.5.1' }), PID_ANNA, seg('ORC', { 1: 'NW', 2: 'RX1' }), seg('RXE', { 2: '323509004^Amoxicillin 500mg capsules^SCT', 3: '500', 5: 'mg' })]),
  message([header('RDS^O13', 'C5', { version: '2.5.1' }), PID_ANNA, seg('ORC', { 1: 'RE', 2: 'RX1' }), seg('RXD', { 1: '1', 2: '323509004^Amoxicillin 500mg capsules^SCT', 3: '20250305', 4: '21' })]),
  message([header('RAS^O17', 'C6', { version: '2.5.1' }), PID_ANNA, seg('ORC', { 1: 'RE', 2: 'RX1' }), seg('RXA', { 1: '1', 2: '1', 3: '20250305140000', 5: '323509004^Amoxicillin 500mg capsules^SCT', 6: '500', 7: 'mg' })]),
].join('');
const later = [
  message([header('SIU^S15', 'C7', { version: '2.3', time: '20250302090000' }), sch({ 25: 'Cancelled' }), PID_ANNA, seg('RGS', { 1: '1' }), seg('AIS', { 1: '1', 3: 'CARD^Cardiology^L' })]),
  message([header('MDM^T11', 'C8', { version: '2.5.1', time: '20250302090000' }), seg('EVN', { 1: 'T11' }), PID_ANNA, seg('TXA', { 1: '1', 2: 'DS', 12: 'DOC-1', 19: 'CA' })]),
].join('');

for (const target of await testDatabases()) {
  test(`HL7 v2 immunisation, documents, appointments and pharmacy on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    await writeFile(join(root, `${target.name}-first.hl7`), first);
    const rows = async () =>
      (await db.query<{ resource_type: string; source_id: string; status: string; person: boolean }>(
        `SELECT resource_type, source_id, content->>'status' AS status, person_id IS NOT NULL AS person FROM resource WHERE source_system = 'hl7:RM2' ORDER BY resource_type, source_id`,
      )).rows;

    const loaded = await ingestPaths(db, [join(root, `${target.name}-first.hl7`)]);
    assert.equal(loaded.accepted, 6);
    assert.equal(loaded.quarantined, 0);
    assert.deepEqual(await rows(), [
      { resource_type: 'Appointment', source_id: 'appointment-FA-1', status: 'booked', person: true },
      { resource_type: 'DocumentReference', source_id: 'document-DOC-1', status: 'current', person: true },
      { resource_type: 'Immunization', source_id: 'order-filler-IMM-1', status: 'completed', person: true },
      { resource_type: 'MedicationAdministration', source_id: 'order-RX1-administration-1-1', status: 'completed', person: true },
      { resource_type: 'MedicationDispense', source_id: 'order-RX1-dispense-1', status: 'completed', person: true },
      { resource_type: 'MedicationRequest', source_id: 'order-RX1', status: 'active', person: true },
    ]);
    const persons = await db.query<{ n: number }>(`SELECT count(DISTINCT person_id)::int AS n FROM resource WHERE source_system = 'hl7:RM2'`);
    assert.equal(persons.rows[0]!.n, 1, 'every resource under the one person of the PID');

    const replay = await ingestPaths(db, [join(root, `${target.name}-first.hl7`)], { readKnownFiles: true });
    assert.equal(replay.accepted, 0);
    assert.equal(replay.duplicates, 6);
    assert.equal(replay.resources, 0);

    await writeFile(join(root, `${target.name}-later.hl7`), later);
    const cancels = await ingestPaths(db, [join(root, `${target.name}-later.hl7`)]);
    assert.equal(cancels.accepted, 2);
    const after = await rows();
    assert.equal(after.length, 6, 'a cancel replaces, it does not add');
    assert.equal(after.find((r) => r.source_id === 'appointment-FA-1')!.status, 'cancelled');
    assert.equal(after.find((r) => r.source_id === 'document-DOC-1')!.status, 'entered-in-error');
  });
}
