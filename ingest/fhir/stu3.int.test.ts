/**
 * GP Connect STU3 bundles through the real pipeline (ingestPaths: file reader, parsing, writer)
 * on PGlite and PostgreSQL: they land in the record as R4 resources, tagged as converted, the
 * conversion counted in the run's notes; an entry that cannot be R4 is quarantined naming the element.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../../test/databases.ts';
import { ingestPaths } from '../pipeline.ts';
import { gpConnectStu3Bundle } from './fixtures/gpconnect-stu3.ts';

const dir = mkdtempSync(join(tmpdir(), 'bevan-stu3-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(join(dir, 'gpc-one.json'), JSON.stringify(gpConnectStu3Bundle(), null, 2));
// NDJSON: a second person's record, and a third whose one Condition has a code STU3 does not have.
const second = gpConnectStu3Bundle({ patientId: 'gpc-pat-2', nhsNumber: '9434765870', family: 'Samplesworth', given: 'Bo' });
const third = gpConnectStu3Bundle({ patientId: 'gpc-pat-3', nhsNumber: '9434765862', family: 'Exampleton', given: 'Cy' });
((third.entry as { resource: Record<string, unknown> }[]).find((e) => e.resource.id === 'gpc-cond-2')!.resource).clinicalStatus = 'cured';
writeFileSync(join(dir, 'gpc-more.ndjson'), `${JSON.stringify(second)}\n${JSON.stringify(third)}\n`);

for (const target of await testDatabases()) {
  test(`GP Connect STU3 bundles land as R4 resources on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const r = await ingestPaths(db, [join(dir, 'gpc-one.json'), join(dir, 'gpc-more.ndjson')], { parseThread: false });
    assert.equal(r.accepted, 3);
    assert.equal(r.quarantined, 1);

    const rows = (await db.query<{ resource_type: string; source_id: string; person_id: string | null; content: Record<string, any> }>(
      `SELECT resource_type, source_id, person_id, content FROM resource WHERE source_system = 'gp:Y90001' ORDER BY resource_type, source_id`,
    )).rows;
    const types = new Set(rows.map((x) => x.resource_type));
    for (const type of ['Patient', 'Organization', 'Practitioner', 'PractitionerRole', 'Encounter', 'Condition', 'AllergyIntolerance', 'Medication', 'MedicationStatement', 'MedicationRequest', 'Immunization', 'Observation', 'List']) {
      assert.ok(types.has(type), `${type} stored`);
    }
    assert.ok(rows.every((x) => x.content.meta.tag.some((tag: any) => tag.system === 'urn:bevan:converted' && tag.code === 'stu3')), 'every resource tagged as converted');

    const condition = rows.find((x) => x.source_id === 'gpc-cond-1')!;
    assert.deepEqual(condition.content.clinicalStatus, { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] });
    assert.equal(condition.content.recordedDate, '2019-03-02T11:00:00+00:00');
    assert.deepEqual(condition.content.encounter, { reference: 'Encounter/gpc-enc-1' });
    const immunisation = rows.find((x) => x.resource_type === 'Immunization' && x.source_id === 'gpc-imm-1')!;
    assert.equal(immunisation.content.occurrenceDateTime, '2023-10-12');
    assert.deepEqual(immunisation.content.performer[0].actor, { reference: 'Practitioner/gpc-prac-1' });
    const request = rows.find((x) => x.resource_type === 'MedicationRequest')!;
    assert.deepEqual(request.content.requester, { reference: 'Practitioner/gpc-prac-1' });

    // Three people, by NHS number; each one's clinical resources are linked to them.
    const persons = (await db.query<{ n: number }>(`SELECT count(DISTINCT person_id)::int AS n FROM resource WHERE source_system = 'gp:Y90001' AND resource_type = 'Patient'`)).rows[0]!.n;
    assert.equal(persons, 3);
    const unlinked = rows.filter((x) => !['Organization', 'Practitioner', 'PractitionerRole', 'Medication'].includes(x.resource_type) && x.person_id === null);
    assert.deepEqual(unlinked.map((x) => `${x.resource_type}/${x.source_id}`), []);

    const quarantined = (await db.query<{ reason: string; raw: string }>(`SELECT reason, raw FROM quarantine WHERE origin LIKE '%gpc-more.ndjson%'`)).rows;
    assert.equal(quarantined.length, 1);
    assert.match(quarantined[0]!.reason, /\(STU3 Condition\/gpc-cond-2\): Condition\.clinicalStatus "cured" is not an STU3 code/);
    assert.match(quarantined[0]!.raw, /"clinicalStatus":"cured"/, 'kept as it came');

    const notes = (await db.query<{ notes: string[] }>(`SELECT notes FROM ingest_run WHERE origin LIKE '%gpc-one.json'`)).rows[0]!.notes;
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, /^FHIR STU3 converted to R4: 15 resources .*MedicationStatement\.taken ×1/);
    assert.ok(r.notes.some((n) => n.file.endsWith('gpc-one.json')));
    // NDJSON (a Bundle per patient): one note per kind of line, not one per line.
    const ndjsonNotes = (await db.query<{ notes: string[] }>(`SELECT notes FROM ingest_run WHERE origin LIKE '%gpc-more.ndjson'`)).rows[0]!.notes;
    assert.equal(ndjsonNotes.length, 1, ndjsonNotes.join("\n"));
    assert.match(ndjsonNotes[0]!, /^FHIR STU3 converted to R4: 15 resources .* \(line 1; later lines like it are not noted again\)$/);

    const again = await ingestPaths(db, [join(dir, 'gpc-one.json')], { parseThread: false, readKnownFiles: true });
    assert.equal(again.resources, 0, 'a replay changes nothing');
  });
}
