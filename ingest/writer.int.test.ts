import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { randomBytes } from 'node:crypto';
import { admission, identity, rejected } from '../test/items.ts';
import type { AcceptedItem, IgnoredItem } from './model.ts';
import { parseHl7Message, reusedIdKey } from './hl7v2/to-item.ts';
import { jsonbProblem } from './prepare.ts';
import { writeBatch } from './writer.ts';

test('jsonbProblem: the escapes jsonb refuses, and only those', () => {
  assert.equal(jsonbProblem(JSON.stringify({ a: 'x\u0000y' })), 'a NUL character (\\u0000)');
  assert.match(jsonbProblem(JSON.stringify({ a: 'x\ud800y' }))!, /\\ud800 without the character after it/);
  assert.match(jsonbProblem(JSON.stringify({ a: 'x\udc00' }))!, /\\udc00 without the character before it/);
  assert.match(jsonbProblem('{"a":"\\ud83d\\ude00\\udc00"}')!, /udc00 without the character before/);
  // A real pair written as escapes, an escaped backslash before "u0000", control characters: all storable.
  assert.equal(jsonbProblem('{"a":"\\ud83d\\ude00"}'), null);
  assert.equal(jsonbProblem(JSON.stringify({ a: '\\u0000 \u001f 😀' })), null);
  assert.equal(jsonbProblem('{"a":"\\\\\\u0000"}'), 'a NUL character (\\u0000)');
});

for (const target of await testDatabases()) {
  test(`writer on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const ada = identity();
    const count = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0]!.n;

    await t.test('commits messages, links the person, keeps provenance', async () => {
      const r = await writeBatch(db, [admission('M1', ada, 'V1'), rejected('MSH-2 encoding characters expected')]);
      assert.deepEqual(r.outcomes, ['committed', 'quarantined']);
      assert.equal(r.resources, 2);
      const rows = await db.query<{ resource_type: string; person_id: string; subject_id: string; version: number }>(
        `SELECT resource_type, person_id, subject_id, version FROM resource ORDER BY resource_type`,
      );
      assert.equal(rows.rows.length, 2);
      assert.equal(rows.rows[0]!.person_id, rows.rows[1]!.person_id);
      assert.equal(rows.rows[0]!.subject_id, 'MRN1');
      assert.equal(await count(`SELECT count(*)::int AS n FROM person WHERE nhs_number = '9434765919'`), 1);
      assert.equal(await count(`SELECT count(*)::int AS n FROM quarantine WHERE status = 'open'`), 1);
    });

    await t.test('replaying the same messages changes nothing', async () => {
      const before = await db.query(`SELECT source_id, version, content_hash FROM resource ORDER BY source_id`);
      const r = await writeBatch(db, [admission('M1', ada, 'V1'), rejected('MSH-2 encoding characters expected')]);
      assert.deepEqual(r.outcomes, ['duplicate', 'quarantined']);
      assert.equal(r.resources, 0);
      const after = await db.query(`SELECT source_id, version, content_hash FROM resource ORDER BY source_id`);
      assert.deepEqual(after.rows, before.rows);
      // The same bad item again is counted on its existing quarantine row, not copied.
      assert.equal(await count(`SELECT count(*)::int AS n FROM quarantine`), 1);
      assert.equal(await count(`SELECT times_seen AS n FROM quarantine`), 2);
    });

    await t.test('same control id with different content: a new message, applied under its own key; a resend is a duplicate', async () => {
      // Results with no order number are keyed by the control id: the second message must not overwrite the first's.
      const oru = (value: string) =>
        ['MSH|^~\\&|LAB|RM2|BEVAN|TRAFFORD|20250301090000||ORU^R01|R77|P|2.4', 'PID|1||MRN77^^^RM2^MR||Lane^Ada||19700101|F', 'OBR|1|||1234-5^Sodium^LN|||20250301080000', `OBX|1|NM|2951-2^Sodium^LN||${value}|mmol/L|||||F`].join('\r');
      const first = parseHl7Message(oru('140'), 'test#r1');
      const second = parseHl7Message(oru('131'), 'test#r2');
      assert.deepEqual((await writeBatch(db, [first])).outcomes, ['committed']);
      assert.deepEqual((await writeBatch(db, [second])).outcomes, ['committed']);
      const values = await db.query<{ id: string; v: string }>(
        `SELECT source_id AS id, content->'valueQuantity'->>'value' AS v FROM resource WHERE resource_type = 'Observation' AND source_id LIKE 'R77%' ORDER BY v`,
      );
      assert.equal(values.rows.length, 2);
      assert.deepEqual(values.rows.map((r) => r.v), ['131', '140']);
      const log = await db.query<{ message_id: string }>(`SELECT message_id FROM ingest_message WHERE message_id LIKE 'R77%' ORDER BY message_id`);
      assert.deepEqual(log.rows.map((r) => r.message_id), ['R77', reusedIdKey('R77', (second as AcceptedItem).contentHash)]);
      // Both sent again, and both in one batch: duplicates, nothing quarantined.
      assert.deepEqual((await writeBatch(db, [second, first])).outcomes, ['duplicate', 'duplicate']);
      assert.equal(await count(`SELECT count(*)::int AS n FROM quarantine WHERE message_id LIKE 'R77%'`), 0);
      // Two messages reusing one id in the same batch are both applied.
      const third = parseHl7Message(oru('150').replace('|R77|', '|R78|'), 'test#r3');
      const fourth = parseHl7Message(oru('151').replace('|R77|', '|R78|'), 'test#r4');
      assert.deepEqual((await writeBatch(db, [third, fourth])).outcomes, ['committed', 'committed']);
      assert.equal(await count(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Observation' AND source_id LIKE 'R78%'`), 2);
    });

    await t.test('a newer message updates; an older one does not overwrite', async () => {
      await writeBatch(db, [admission('M2', ada, 'V1', 'finished', '2025-03-05T10:00:00Z')]);
      await writeBatch(db, [admission('M0', ada, 'V1', 'planned', '2025-02-01T10:00:00Z')]);
      const enc = await db.query<{ status: string; version: number }>(`SELECT content->>'status' AS status, version FROM resource WHERE resource_type = 'Encounter'`);
      assert.deepEqual(enc.rows[0], { status: 'finished', version: 2 });
    });

    await t.test('two items for one resource in one batch: the newest wins', async () => {
      const r = await writeBatch(db, [admission('M5', ada, 'V2', 'finished', '2025-04-02T00:00:00Z'), admission('M4', ada, 'V2', 'in-progress', '2025-04-01T00:00:00Z')]);
      assert.deepEqual(r.outcomes, ['committed', 'committed']);
      const enc = await db.query<{ status: string }>(`SELECT content->>'status' AS status FROM resource WHERE source_id = 'V2'`);
      assert.equal(enc.rows[0]!.status, 'finished');
    });

    await t.test('the message log: a new message is logged once; an updatable item sent again with other content updates its row; racing writers of one new message log it once', async () => {
      const logOf = async (id: string) =>
        (await db.query<{ content_hash: string; outcome: string; origin: string }>(`SELECT content_hash, outcome, origin FROM ingest_message WHERE message_id = $1`, [id])).rows;
      // A FHIR Bundle or a CSV row is updated under the same id (idIsUnique false).
      const bundle = (status: string): AcceptedItem => ({ ...admission('B1', ada, 'VB1', status), format: 'fhir', idIsUnique: false, origin: `test#${status}` });
      const first = bundle('in-progress');
      const second = bundle('finished');
      assert.deepEqual((await writeBatch(db, [first])).outcomes, ['committed']);
      assert.deepEqual(await logOf('B1'), [{ content_hash: first.contentHash, outcome: 'accepted', origin: 'test#in-progress' }]);
      assert.deepEqual((await writeBatch(db, [second])).outcomes, ['committed']);
      assert.deepEqual(await logOf('B1'), [{ content_hash: second.contentHash, outcome: 'accepted', origin: 'test#finished' }]);
      // Two versions of an id not logged yet, in one batch: one row, the later.
      const a = { ...bundle('planned'), messageId: 'B2' };
      const b = { ...bundle('arrived'), messageId: 'B2' };
      assert.deepEqual((await writeBatch(db, [a, b])).outcomes, ['committed', 'committed']);
      assert.deepEqual(await logOf('B2'), [{ content_hash: b.contentHash, outcome: 'accepted', origin: 'test#arrived' }]);
      // The same new message from two writers at once: one commits it, the other finds it logged.
      const race = admission('RACE1', identity({ id: 'MRN-RACE', nhsNumber: undefined }), 'VRACE');
      const outcomes = (await Promise.all([writeBatch(db, [race]), writeBatch(db, [race])])).map((r) => r.outcomes[0]).sort();
      assert.deepEqual(outcomes, ['committed', 'duplicate']);
      assert.equal((await logOf('RACE1')).length, 1);
      assert.equal(await count(`SELECT count(*)::int AS n FROM resource WHERE source_id = 'VRACE'`), 1);
    });

    const reasonOf = async (messageId: string) =>
      (await db.query<{ reason: string }>(`SELECT reason FROM quarantine WHERE message_id = $1 AND status = 'open'`, [messageId])).rows.map((r) => r.reason);

    await t.test('an ignored message that reuses an accepted control id with other content is logged under its own key; the log keeps the accepted one', async () => {
      const siu = parseHl7Message('MSH|^~\\&|PAS|RM2|||20250301||SIU^S12|M1|P|2.4', 'test#siu');
      assert.equal(siu.kind, 'ignored');
      assert.deepEqual((await writeBatch(db, [siu])).outcomes, ['ignored']);
      const log = await db.query<{ outcome: string; event: string }>(`SELECT outcome, event FROM ingest_message WHERE message_id = 'M1'`);
      assert.deepEqual(log.rows, [{ outcome: 'accepted', event: 'ADT^A01' }]);
      const own = await db.query<{ outcome: string; origin: string }>(`SELECT outcome, origin FROM ingest_message WHERE message_id = $1`, [reusedIdKey('M1', (siu as IgnoredItem).contentHash)]);
      assert.deepEqual(own.rows, [{ outcome: 'ignored', origin: 'test#siu' }]);
      // The same ignored message again is a duplicate.
      assert.deepEqual((await writeBatch(db, [siu])).outcomes, ['duplicate']);
      // An ignored message with a fresh id is logged as ignored, with where it came from.
      assert.deepEqual((await writeBatch(db, [{ ...(siu as IgnoredItem), messageId: 'S1', origin: 'test#s1' }])).outcomes, ['ignored']);
      const s1 = await db.query<{ outcome: string; origin: string }>(`SELECT outcome, origin FROM ingest_message WHERE message_id = 'S1'`);
      assert.deepEqual(s1.rows, [{ outcome: 'ignored', origin: 'test#s1' }]);
    });

    await t.test('a NUL or a lone surrogate in a resource is quarantined before the database; the rest of the batch goes in', async () => {
      const nul = admission('N1', identity({ id: 'MRN-N1', nhsNumber: undefined }), 'VN1');
      (nul.resources[0]!.resource as { name: unknown }).name = [{ family: 'Ash\u0000worth' }];
      const lone = admission('N2', identity({ id: 'MRN-N2', nhsNumber: undefined }), 'VN2');
      (lone.resources[1]!.resource as { status: string }).status = 'in-\ud800progress';
      const nulId = admission('N3', identity({ id: 'MRN\u0000N3', nhsNumber: undefined }), 'VN3');
      const good = admission('N4', identity({ id: 'MRN-N4', nhsNumber: undefined }), 'VN4');
      const r = await writeBatch(db, [nul, lone, nulId, good]);
      assert.deepEqual(r.outcomes, ['quarantined', 'quarantined', 'quarantined', 'committed']);
      assert.match((await reasonOf('N1'))[0]!, /^Patient\/MRN-N1 holds a NUL character \(\\u0000\), which the database cannot store/);
      assert.match((await reasonOf('N2'))[0]!, /^Encounter\/VN2 holds half a UTF-16 surrogate pair \(\\ud800 without the character after it\)/);
      assert.match((await reasonOf('N3'))[0]!, /^the identity's id holds a NUL character/);
      assert.equal((await db.query(`SELECT 1 FROM resource WHERE source_id = 'VN4'`)).rows.length, 1);
    });

    await t.test('an item the database refuses is isolated and quarantined with its reason; the rest of the batch goes in', async () => {
      // A resource id too big for the primary key's index row (random, so it does not compress),
      // and a source time the database cannot read as a timestamp: neither is caught before it is sent.
      const hugeId = admission('D1', identity({ id: 'MRN-D1', nhsNumber: undefined }), randomBytes(4000).toString('hex'));
      const badTime = admission('D2', identity({ id: 'MRN-D2', nhsNumber: undefined }), 'VD2', 'in-progress', '2025-13-45T99:00:00Z');
      const batch = [...Array.from({ length: 7 }, (_, n) => admission(`D-ok${n}`, identity({ id: `MRN-OK${n}`, nhsNumber: undefined }), `VOK${n}`)), hugeId, badTime];
      const r = await writeBatch(db, batch);
      assert.deepEqual(r.outcomes, [...Array(7).fill('committed'), 'quarantined', 'quarantined']);
      assert.equal(r.accepted, 7);
      assert.equal(r.quarantined, 2);
      assert.match((await reasonOf('D1'))[0]!, /^the database refused this message: .*index row.*\(SQLSTATE 54000\)/);
      assert.match((await reasonOf('D2'))[0]!, /^the database refused this message: .*(timestamp|time zone|out of range).*\(SQLSTATE 22/);
      assert.equal((await db.query(`SELECT 1 FROM resource WHERE source_id LIKE 'VOK%'`)).rows.length, 7);
      // Nothing of the refused messages is logged: a replay tries them again.
      assert.equal((await db.query(`SELECT 1 FROM ingest_message WHERE message_id IN ('D1', 'D2')`)).rows.length, 0);
      assert.deepEqual((await writeBatch(db, [badTime])).outcomes, ['quarantined']);
      assert.equal((await db.query<{ n: number }>(`SELECT times_seen AS n FROM quarantine WHERE message_id = 'D2'`)).rows[0]!.n, 2);
    });

    await t.test('a reason of any length is quarantined, and counted again as the same item', async () => {
      const long = `the header does not match: ${randomBytes(20000).toString('hex')}`;
      assert.deepEqual((await writeBatch(db, [rejected(long, 'long-raw')])).outcomes, ['quarantined']);
      assert.deepEqual((await writeBatch(db, [rejected(long, 'long-raw')])).outcomes, ['quarantined']);
      const q = await db.query<{ reason: string; times_seen: number }>(`SELECT reason, times_seen FROM quarantine WHERE raw = 'long-raw'`);
      assert.equal(q.rows.length, 1);
      assert.equal(q.rows[0]!.times_seen, 2);
      assert.ok(q.rows[0]!.reason.length < 2100, 'a reason is cut to what a person reads');
      assert.match(q.rows[0]!.reason, /… \[40027 characters in all\]$/);
    });

    await t.test('every resource written carries its FHIR logical id, the value fhir_logical_id() gives its key, by COPY and by the upsert', async () => {
      // A Location (a directory resource: always the upsert) beside a new Patient and Encounter (COPY).
      const item = admission('F1', identity({ id: 'MRNF1' }), 'VF1');
      item.resources.push({ resource: { resourceType: 'Location', id: 'WARD9', name: 'Ward 9' } as never, sourceTime: '2025-03-01T10:00:00Z' });
      assert.deepEqual((await writeBatch(db, [item])).outcomes, ['committed']);
      const rows = await db.query<{ resource_type: string; ok: boolean }>(
        `SELECT resource_type, fhir_id = fhir_logical_id(source_system, resource_type, source_id) AS ok FROM resource ORDER BY resource_type`,
      );
      assert.ok(rows.rows.some((r) => r.resource_type === 'Location'), 'a Location was written');
      assert.ok(rows.rows.length > 5);
      assert.deepEqual(rows.rows.filter((r) => r.ok !== true), []);
    });
  });
}
