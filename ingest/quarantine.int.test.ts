/**
 * The quarantine round trip on both databases: a bad item is listed and shown, replayed with a
 * repaired text, accepted and marked replayed; without a fix it stays rejected with its reason.
 * Covers an HL7 message with an impossible date, CSV rows (kept without their file's header
 * line) and an HL7 control-id conflict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../test/databases.ts';
import { adt, pv1, seg, msh, PD1_SARAH } from './hl7v2/fixtures/samples.ts';
import { parseHl7Message } from './hl7v2/to-item.ts';
import { CSV_CONTRACTS } from './csv/contracts.ts';
import { ingestPaths } from './pipeline.ts';
import { getQuarantined, listQuarantine, replayQuarantined } from './quarantine.ts';
import { writeBatch } from './writer.ts';

const dir = await mkdtemp(join(tmpdir(), 'bevan-quarantine-'));
test.after(() => rm(dir, { recursive: true, force: true }));

const pid = (dob: string) =>
  seg('PID', { 1: '1', 3: 'RMQ0001^^^RM2^MR~943 476 5919^^^NHS^NH', 5: 'Quarry^Quentin', 7: dob, 8: 'M', 11: '1 Test Road^^Sale^^M33 7XY^GBR' });
const badDate = [msh({ type: 'ADT^A01^ADT_A01', id: 'QMSG1' }), seg('EVN', { 1: 'A01', 2: '20250301123000' }), pid('19821340'), PD1_SARAH, pv1({ visit: 'VQ1' })].join('\r') + '\r';

const COMMUNITY = CSV_CONTRACTS.find((c) => c.name === 'community-contact')!;
const ASSESSMENT = CSV_CONTRACTS.find((c) => c.name === 'socialcare-assessment')!;
const header = (c: typeof COMMUNITY) => c.columns.map((x) => x.name);
/** A community contact row as a record of column → value. */
const contact = (id: string, dob: string): Record<string, string> => ({
  contact_id: id,
  client_id: `CLQ-${id}`,
  nhs_number: '',
  family_name: 'Rowe',
  given_name: 'Rita',
  date_of_birth: dob,
  sex: 'F',
  postcode: 'M33 7AA',
  gp_practice: 'P91001',
  contact_date: '01/03/2025',
  service: 'District Nursing',
  team: 'Team Q',
  contact_type: 'Home visit',
  snomed_code: '225358003',
  snomed_display: 'Wound care',
  duration_minutes: '30',
  staff_role: 'Registered Nurse',
});
const csv = (cols: string[], rows: Record<string, string>[]) => [cols.join(','), ...rows.map((r) => cols.map((c) => r[c] ?? '').join(','))].join('\n') + '\n';

for (const target of await testDatabases()) {
  test(`quarantine on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const openIdFor = async (like: string) => {
      const r = await db.query<{ id: number }>(`SELECT quarantine_id::int AS id FROM quarantine WHERE status = 'open' AND reason LIKE $1`, [like]);
      assert.equal(r.rows.length, 1, like);
      return r.rows[0]!.id;
    };

    await t.test('an HL7 message with an impossible date: listed, shown, replayed with a fix, accepted', async () => {
      const r = await writeBatch(db, [parseHl7Message(badDate, 'test-file.hl7#1')]);
      assert.deepEqual(r.outcomes, ['quarantined']);
      const list = await listQuarantine(db);
      assert.equal(list.total, 1);
      const item = list.items[0]!;
      assert.equal(item.reason, 'PID-7 "19821340" is not a valid date');
      assert.deepEqual([item.format, item.source_system, item.message_id, item.origin, item.status], ['hl7v2', 'hl7:RM2', 'QMSG1', 'test-file.hl7#1', 'open']);
      const shown = await getQuarantined(db, item.quarantine_id);
      assert.equal(shown!.raw, badDate);

      // Without a fix, the same reason, and nothing written.
      const again = await replayQuarantined(db, item.quarantine_id);
      assert.deepEqual(again, { kind: 'still-rejected', id: item.quarantine_id, reasons: ['PID-7 "19821340" is not a valid date'] });
      assert.equal((await getQuarantined(db, item.quarantine_id))!.status, 'open');
      assert.equal((await db.query(`SELECT 1 FROM resource`)).rows.length, 0);

      const fixed = badDate.replace('19821340', '19821230');
      const ok = await replayQuarantined(db, item.quarantine_id, fixed, 'tester');
      assert.equal(ok.kind, 'replayed');
      assert.equal(ok.kind === 'replayed' && ok.result.accepted, 1);
      const after = (await getQuarantined(db, item.quarantine_id))!;
      assert.equal(after.status, 'replayed');
      assert.match(after.resolution!, /^replayed by tester with a repaired text: 1 accepted/);
      const dob = await db.query<{ d: string }>(`SELECT birth_date::text AS d FROM source_identity WHERE source_system = 'hl7:RM2' AND source_id = 'RMQ0001'`);
      assert.equal(dob.rows[0]!.d, '1982-12-30');
      const enc = await db.query(`SELECT 1 FROM resource WHERE source_system = 'hl7:RM2' AND resource_type = 'Encounter' AND source_id = 'VQ1'`);
      assert.equal(enc.rows.length, 1);
      assert.equal((await listQuarantine(db)).total, 0, 'nothing left open');
      assert.deepEqual(await replayQuarantined(db, item.quarantine_id, fixed), { kind: 'not-open', id: item.quarantine_id, status: 'replayed' });
    });

    await t.test('CSV rows are kept without the header line, and replay puts the contract header back', async () => {
      // A file in the contract's column order, deleted before the replay: the contract's header is used.
      const inOrder = join(dir, `${target.name}-in-order.csv`);
      await writeFile(inOrder, csv(header(COMMUNITY), [contact('Q1', '31/02/1950'), contact('Q2', '01/02/1950')]));
      // A file with its columns in another order, still there at replay: its own header is used.
      const shuffled = join(dir, `${target.name}-shuffled.csv`);
      const cols = [...header(COMMUNITY)].reverse();
      await writeFile(shuffled, csv(cols, [contact('Q3', '30/02/1950')]));
      const r = await ingestPaths(db, [inOrder, shuffled]);
      assert.deepEqual([r.accepted, r.quarantined], [1, 2]);
      await rm(inOrder);

      const q1 = await openIdFor('%"31/02/1950"%');
      const raw = (await getQuarantined(db, q1))!.raw;
      assert.ok(raw.startsWith('Q1,CLQ-Q1,'), `the raw is the row alone: ${raw}`);
      const still = await replayQuarantined(db, q1);
      assert.equal(still.kind, 'still-rejected');
      assert.deepEqual(still.kind === 'still-rejected' && still.reasons, ['line 2: column date_of_birth value "31/02/1950" is not a valid date (YYYY-MM-DD, YYYYMMDD, day first: DD/MM/YYYY, DD-MM-YYYY, D-Mon-YYYY, or an Excel serial)']);
      const ok = await replayQuarantined(db, q1, raw.replace('31/02/1950', '28/02/1950'));
      assert.equal(ok.kind, 'replayed', JSON.stringify(ok));

      const q3 = await openIdFor('%"30/02/1950"%');
      const raw3 = (await getQuarantined(db, q3))!.raw;
      assert.ok(raw3.startsWith('Registered Nurse,'), 'the row is in its file’s own column order');
      const ok3 = await replayQuarantined(db, q3, raw3.replace('30/02/1950', '01/03/1950'));
      assert.equal(ok3.kind, 'replayed', JSON.stringify(ok3));

      const rows = await db.query<{ source_id: string; family: string; given: string; d: string }>(
        `SELECT source_id, family, given, birth_date::text AS d FROM source_identity WHERE source_id LIKE 'CLQ-%' ORDER BY 1`,
      );
      assert.deepEqual(rows.rows, [
        { source_id: 'CLQ-Q1', family: 'Rowe', given: 'Rita', d: '1950-02-28' },
        { source_id: 'CLQ-Q2', family: 'Rowe', given: 'Rita', d: '1950-02-01' },
        { source_id: 'CLQ-Q3', family: 'Rowe', given: 'Rita', d: '1950-03-01' },
      ]);
      const enc = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE source_system = 'csv:community' AND resource_type = 'Encounter' AND source_id IN ('Q1', 'Q2', 'Q3')`);
      assert.equal(enc.rows[0]!.n, 3);
    });

    await t.test('a CSV row whose contract cannot be told says how to replay it', async () => {
      // No row id (so no message id), a source system with two 14-column contracts, and the file gone.
      const file = join(dir, `${target.name}-socialcare.csv`);
      const cols = header(ASSESSMENT);
      await writeFile(file, csv(cols, [{ assessment_id: '', person_id: 'SCQ1', assessment_date: '2025-01-01' }]));
      const r = await ingestPaths(db, [file]);
      assert.equal(r.quarantined, 1);
      await rm(file);
      const id = await openIdFor('%assessment_id is required%');
      const res = await replayQuarantined(db, id);
      assert.equal(res.kind, 'still-rejected');
      assert.match(res.kind === 'still-rejected' ? res.reasons[0]! : '', /no header line and its contract cannot be told \(socialcare-assessment or socialcare-package\)/);
      // With the header line given, it is read — and a fix makes it go in.
      const fixed = `${cols.join(',')}\nSCQ1-A1,SCQ1,,,,,,,2025-01-01,,,,,\n`;
      const ok = await replayQuarantined(db, id, fixed);
      assert.equal(ok.kind, 'replayed', JSON.stringify(ok));
    });

    await t.test('a control id reused for other content is applied as a new message, not quarantined', async () => {
      const first = adt('A01', 'QCONF1', [pv1({ visit: 'VQC1' })]);
      const reused = adt('A01', 'QCONF1', [pv1({ visit: 'VQC2' })]);
      const r = await writeBatch(db, [parseHl7Message(first, 'feed#1'), parseHl7Message(reused, 'feed#2')]);
      assert.deepEqual(r.outcomes, ['committed', 'committed']);
      const visits = async () => (await db.query<{ id: string }>(`SELECT source_id AS id FROM resource WHERE resource_type = 'Encounter' AND source_id LIKE 'VQC%' ORDER BY 1`)).rows.map((x) => x.id);
      assert.deepEqual(await visits(), ['VQC1', 'VQC2']);
      assert.equal((await db.query(`SELECT 1 FROM quarantine WHERE message_id LIKE 'QCONF1%'`)).rows.length, 0);
    });

    await t.test('a bundle whose meta.source cannot be a source key: the reason names the option, and replay --source applies it', async () => {
      // A meta.source over 200 characters names no usable source (one naming none is read as fhir:unknown).
      const bundle = JSON.stringify({
        resourceType: 'Bundle',
        id: 'qs-b1',
        type: 'collection',
        meta: { source: `http://example.org/${'x'.repeat(200)}` },
        entry: [
          { resource: { resourceType: 'Patient', id: 'qs-p1', name: [{ family: 'Sourceless' }], birthDate: '1970-01-01' } },
          { resource: { resourceType: 'Condition', id: 'qs-c1', subject: { reference: 'Patient/qs-p1' }, code: { text: 'asthma' } } },
        ],
      });
      const file = join(dir, `${target.name}-sourceless.ndjson`);
      await writeFile(file, `${bundle}\n`);
      assert.equal((await ingestPaths(db, [file])).quarantined, 1);
      const id = await openIdFor('%cannot be a source system key%');
      assert.match((await getQuarantined(db, id))!.reason, /--source/);
      assert.equal((await replayQuarantined(db, id)).kind, 'still-rejected');
      const ok = await replayQuarantined(db, id, undefined, 'tester', { source: 'gp:P91009' });
      assert.equal(ok.kind, 'replayed', JSON.stringify(ok));
      assert.match((await getQuarantined(db, id))!.resolution!, /^replayed by tester as source gp:P91009: 1 accepted/);
      const rows = await db.query<{ k: string }>(`SELECT source_system || '|' || resource_type || '|' || source_id AS k FROM resource WHERE source_id LIKE 'qs-%' ORDER BY 1`);
      assert.deepEqual(rows.rows.map((r) => r.k), ['gp:P91009|Condition|qs-c1', 'gp:P91009|Patient|qs-p1']);
      // The same file ingested with --source goes straight in (a duplicate of the replayed bundle).
      const again = await ingestPaths(db, [file], { source: 'gp:P91009' });
      assert.deepEqual([again.accepted, again.duplicates, again.quarantined], [0, 1, 0]);
    });

    await t.test('a CSV row of a feed with its own source key replays with that key', async () => {
      const file = join(dir, `${target.name}-own-source.csv`);
      await writeFile(file, csv(header(COMMUNITY), [contact('QS1', '31/02/1950')]));
      assert.equal((await ingestPaths(db, [{ path: file, source: 'csv:trafford-community' }])).quarantined, 1);
      await rm(file);
      const id = await openIdFor('%"31/02/1950"%');
      const raw = (await getQuarantined(db, id))!.raw;
      const ok = await replayQuarantined(db, id, raw.replace('31/02/1950', '28/02/1950'), 'tester', { source: 'csv:trafford-community' });
      assert.equal(ok.kind, 'replayed', JSON.stringify(ok));
      const who = await db.query<{ k: string }>(`SELECT source_system || '|' || source_id AS k FROM source_identity WHERE source_id = 'CLQ-QS1'`);
      assert.deepEqual(who.rows.map((r) => r.k), ['csv:trafford-community|CLQ-QS1']);
    });
  });
}
