/**
 * End-to-end robustness of `ingestPaths` on both databases: a generated locality loads and a
 * replay of it changes nothing; a folder of bad files next to good ones ends with each bad item
 * quarantined for a reason a person can act on and everything else ingested; and (PostgreSQL)
 * 50 feeds creating the same new NHS number at once agree on one person.
 * Bad files: test/fixtures/bad-input/ (written by test/fixtures/make-bad-input.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from '../db/database.ts';
import { testDatabases, testPostgresUrl, withOwnPostgresSchema } from '../test/databases.ts';
import { admission, identity, validNhs } from '../test/items.ts';
import { generateLocality } from '../synth/generate.ts';
import { ingestPaths, listFeedFiles, markAbandonedRuns } from './pipeline.ts';
import { feedFolders, loadFeeds } from './feeds.ts';
import { writeBatch } from './writer.ts';
import { CSV_CONTRACTS } from './csv/contracts.ts';

const BAD_INPUT = fileURLToPath(new URL('../test/fixtures/bad-input/', import.meta.url));

const root = await mkdtemp(join(tmpdir(), 'bevan-pipeline-'));
const locality = join(root, 'locality');
await generateLocality({ people: 150, seed: 3, out: locality });
// The mixed feed folder: the generated locality, and next to it a folder of bad (and some good) files.
const mixed = join(root, 'mixed');
await cp(locality, join(mixed, 'locality'), { recursive: true });
await cp(BAD_INPUT, join(mixed, 'bad'), { recursive: true });
test.after(() => rm(root, { recursive: true, force: true }));

/** What a replay must leave exactly as it was. */
async function snapshot(db: Database) {
  const q = async <R>(sql: string) => (await db.query<R>(sql)).rows;
  return {
    resources: await q<{ k: string }>(`SELECT source_system || '|' || resource_type || '|' || source_id || '|' || content_hash || '|' || version AS k FROM resource ORDER BY 1`),
    persons: (await q<{ n: number }>(`SELECT count(*)::int AS n FROM person`))[0]!.n,
    identities: (await q<{ n: number }>(`SELECT count(*)::int AS n FROM source_identity`))[0]!.n,
    identityLinks: await q<{ k: string }>(`SELECT source_system || '|' || source_id || '|' || person_id AS k FROM source_identity ORDER BY 1`),
    messages: await q<{ k: string }>(`SELECT source_system || '|' || message_id || '|' || content_hash || '|' || outcome AS k FROM ingest_message ORDER BY 1`),
    quarantine: await q<{ k: string }>(`SELECT raw_hash || '|' || reason AS k FROM quarantine ORDER BY 1`),
  };
}

/** Each bad item, by file, and the reason it must be quarantined for. */
const EXPECTED_QUARANTINE: Record<string, RegExp> = {
  'csv-missing-columns.csv': /header does not fit any CSV contract; closest is community-contact: it has no contact_date column, which the contract requires/,
  'fhir-xml-doctype.xml': /^FHIR XML, line 2 column \d+: the XML has a DOCTYPE declaration/,
  'csv-rows.csv': /^line 3: column date_of_birth value "31\/02\/1952" is not a valid date/,
  'fhir-bad-date.ndjson': /Patient\.birthDate "2001-02-30" is not a valid date/,
  'fhir-invalid-json.ndjson': /^invalid JSON at line 2/,
  'fhir-unknown-type.ndjson': /unknown resource type "?Spaceship/,
  'hl7-bad-date.hl7': /^PID-7 "19821340" is not a valid date$/,
  // Component and repetition the same character: the separators are not distinct. (A
  // three-character "^~&" and a doubled escape "^~\\&" are read: hl7-text.ts.)
  'hl7-bad-encoding.hl7': /^MSH-2 encoding characters "\^~\\&" expected, got "\^\^\\\\&"$/,
  'hl7-no-msh.hl7': /^not FHIR JSON, HL7 v2 or a known CSV contract: starts with "EVN\|A01/,
  'hl7-truncated.hl7': /^segment 4 "P" is truncated or unknown$/,
};

/** Source identities the bad folder must leave stored (the good items among the bad). */
const EXPECTED_IDENTITIES = [
  'csv:community|BADCL2', // a column no contract has: ignored, named in the run's notes
  'csv:community|BADCL3', // invalid NHS number: kept, flagged
  'csv:community|BADCL5',
  'csv:community|BADCL6', // UTF-8 BOM, CRLF
  'csv:community|BADCL7', // windows-1252
  'gp:P91001|bad-p1',
  'gp:P91001|bad-p3', // the good lines either side of a broken JSON line
  'gp:P91001|bad-p4', // bundle with an unknown resource type: the rest of it is kept
  'gp:P91001|bad-p5', // bundle with a reference to an Encounter in no file given: kept whole
  'gp:P91001|bad-p7', // FHIR XML
  'hl7:TST|TST0001', // LF segments
  'hl7:TST|TST0002', // CRLF segments
  'hl7:TST|TST0003', // UTF-8 BOM
  'hl7:TST|TST0004', // windows-1252
  'hl7:TST|TST0005', // invalid NHS number
  'hl7:TST|TST0008', // the good message after a bad one in the same file
];

for (const target of await testDatabases()) {
  test(`pipeline end to end on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const one = async <R>(sql: string, params: unknown[] = []) => (await db.query<R>(sql, params)).rows;

    let first: Awaited<ReturnType<typeof ingestPaths>>;
    await t.test('a generated locality loads, and replaying it changes nothing', async () => {
      first = await ingestPaths(db, [locality]);
      assert.ok(first.accepted > 1000, `accepted ${first.accepted}`);
      assert.ok(first.resources > 4000, `resources ${first.resources}`);
      assert.equal(first.duplicates, 0);
      const before = await snapshot(db);
      assert.ok(before.persons >= 140 && before.persons <= 200, `persons ${before.persons}`);

      const again = await ingestPaths(db, [locality]);
      assert.equal(again.accepted, 0);
      assert.equal(again.resources, 0, 'no resource changed');
      assert.equal(again.ignored, 0);
      assert.equal(again.duplicates, first.accepted + first.ignored);
      assert.equal(again.quarantined, first.quarantined, 'the same bad items are rejected again');
      assert.deepEqual(await snapshot(db), before);
    });

    await t.test('a replay skips the files loaded whole, and reading them again gives the same counts', async () => {
      // The clean files of the first load are known by their bytes (ingest/known-files.ts).
      const known = await one<{ n: number }>('SELECT count(*)::int AS n FROM ingest_known_file');
      assert.ok(known[0]!.n > 5, `known files ${known[0]!.n}`);
      const before = await snapshot(db);
      const skipped = await ingestPaths(db, [locality]);
      const reread = await ingestPaths(db, [locality], { readKnownFiles: true });
      assert.deepEqual({ ...skipped, seconds: 0 }, { ...reread, seconds: 0 });
      assert.deepEqual(await snapshot(db), before);
      // A message gone from the log (an erasure, a repair) makes every file be read again: it comes back.
      const [gone] = await one<{ source_system: string; message_id: string }>(`SELECT source_system, message_id FROM ingest_message WHERE source_system LIKE 'gp:%' ORDER BY 1, 2 LIMIT 1`);
      await db.query('DELETE FROM ingest_message WHERE source_system = $1 AND message_id = $2', [gone!.source_system, gone!.message_id]);
      assert.equal((await one<{ n: number }>('SELECT count(*)::int AS n FROM ingest_known_file'))[0]!.n, 0);
      const back = await ingestPaths(db, [locality]);
      assert.equal(back.accepted, 1);
      assert.deepEqual((await snapshot(db)).messages, before.messages);
    });

    await t.test('the generated layout described by a feeds file: ingesting through it changes nothing', async () => {
      // Every feed's key agrees with what its files say, so a load through the feeds file is all
      // duplicates; the mental health trust's HL7 and CSV share a folder, one feed for each format.
      const loc = JSON.parse(await readFile(join(locality, 'locality.json'), 'utf8')) as { practices: { ods: string }[]; hospitals: { facility: string }[] };
      const feedsFile = join(root, 'generated-feeds.json');
      await writeFile(
        feedsFile,
        JSON.stringify({
          locality: 'locality/locality.json',
          feeds: [
            ...loc.practices.map((p) => ({ key: `gp:${p.ods}`, kind: 'gp', ods: p.ods, format: 'fhir', folder: `locality/gp/${p.ods}.ndjson` })),
            ...loc.hospitals.map((h, n) => ({ key: `hl7:${h.facility}`, kind: 'hospital', ods: h.facility, format: 'hl7v2', ...(n === 0 ? { folder: 'locality/hospital', mllpPort: 2575 } : {}) })),
            { key: 'hl7:RXV', kind: 'mental-health', ods: 'RXV', format: 'hl7v2', folder: 'locality/mentalhealth' },
            { key: 'csv:mentalhealth', kind: 'mental-health', ods: 'RXV', format: 'csv', folder: 'locality/mentalhealth' },
            { key: 'csv:community', kind: 'community', format: 'csv', folder: 'locality/community' },
            { key: 'csv:socialcare', kind: 'social-care', format: 'csv', folder: 'locality/socialcare' },
          ],
        }),
      );
      const config = loadFeeds(feedsFile);
      const before = await snapshot(db);
      const files = await listFeedFiles(feedFolders(config));
      const mental = files.filter((f) => f.path.includes('/mentalhealth/')).map((f) => [basename(f.path), f.source]);
      assert.ok(mental.some(([f, s]) => f === 'contacts.csv' && s === 'csv:mentalhealth'));
      assert.ok(mental.some(([f, s]) => f!.endsWith('.hl7') && s === 'hl7:RXV'));
      const r = await ingestPaths(db, feedFolders(config));
      assert.equal(r.accepted, 0);
      assert.equal(r.duplicates, first.accepted + first.ignored);
      assert.deepEqual(await snapshot(db), before);
    });

    await t.test('bad files next to good ones: each bad item quarantined with its reason, the rest ingested', async () => {
      const before = await snapshot(db);
      const r = await ingestPaths(db, [mixed]);
      // The locality part is all duplicates; the bad folder adds its good items and its rejections.
      assert.equal(r.duplicates, first.accepted + first.ignored);
      assert.equal(r.accepted, EXPECTED_IDENTITIES.length);
      // +1: the 0-byte file (checked below).
      assert.equal(r.quarantined, first.quarantined + Object.keys(EXPECTED_QUARANTINE).length + 1);

      const q = await one<{ origin: string; reason: string; status: string; times_seen: number }>(
        `SELECT origin, reason, status, times_seen FROM quarantine WHERE origin LIKE $1 ORDER BY origin`,
        [`${join(mixed, 'bad')}/%`],
      );
      const extra = await one<{ notes: string[] }>(`SELECT notes FROM ingest_run WHERE origin LIKE $1`, ['%/csv-extra-columns.csv']);
      assert.deepEqual(extra[0]!.notes, ['a column not in the community-contact contract, so not read: favourite_colour']);
      assert.deepEqual(r.notes.map((n) => [basename(n.file), n.notes]), [['csv-extra-columns.csv', ['a column not in the community-contact contract, so not read: favourite_colour']]]);
      const byFile = new Map<string, string[]>();
      for (const row of q) {
        const file = basename(row.origin.replace(/#\d+$/, ''));
        byFile.set(file, [...(byFile.get(file) ?? []), row.reason]);
        assert.equal(row.status, 'open');
      }
      assert.deepEqual([...byFile.keys()].sort(), Object.keys(EXPECTED_QUARANTINE).sort(), 'exactly the bad files have quarantined items');
      for (const [file, reasons] of byFile) {
        assert.equal(reasons.length, 1, `${file}: ${reasons.join(' / ')}`);
        assert.match(reasons[0]!, EXPECTED_QUARANTINE[file]!, file);
      }

      // A 0-byte file is quarantined as "file is empty". Every empty file has the same raw text and
      // reason, so the quarantine keeps ONE open row for all of them (times_seen counts them) and it
      // names the first empty file seen — here the generator's empty gp/P91011.ndjson.
      const empty = await one<{ origin: string; times_seen: number }>(`SELECT origin, times_seen FROM quarantine WHERE reason = 'file is empty'`);
      assert.equal(empty.length, 1);
      assert.equal(empty[0]!.times_seen, 8, 'the locality six times (as folders, three more by the replay test, then through the feeds file), then the locality and empty.hl7');
      const ids = (await one<{ k: string }>(`SELECT source_system || '|' || source_id AS k FROM source_identity WHERE source_system = 'hl7:TST' OR source_id LIKE 'BADCL%' OR source_id LIKE 'bad-p%' ORDER BY 1`)).map(
        (x) => x.k,
      );
      assert.deepEqual(ids, [...EXPECTED_IDENTITIES].sort());
      // The locality is untouched.
      const after = await snapshot(db);
      assert.equal(after.resources.filter((x) => !/^(hl7:TST|csv:community\|[A-Za-z]+\|BADC|gp:P91001\|[A-Za-z]+\|bad-)/.test(x.k)).length, before.resources.length);
    });

    await t.test('LF and CRLF segment endings are both read as whole messages', async () => {
      const enc = await one<{ source_id: string; status: string }>(
        `SELECT source_id, content->>'status' AS status FROM resource WHERE source_system = 'hl7:TST' AND resource_type = 'Encounter' ORDER BY 1`,
      );
      assert.deepEqual(enc.map((e) => e.source_id), ['VBOM1', 'VCR1', 'VENC2', 'VLAT1', 'VLF1', 'VNHS1']);
      const lf = await one<{ family: string; birth_date: string; postcode: string }>(`SELECT family, birth_date::text AS birth_date, postcode FROM source_identity WHERE source_id = 'TST0001'`);
      assert.deepEqual(lf, [{ family: 'Lineberg', birth_date: '1970-01-01', postcode: 'M32 0XY' }]);
    });

    await t.test('an invalid NHS number is kept and flagged, and links nobody', async () => {
      const rows = await one<{ source_id: string; nhs_number: string; nhs_number_valid: boolean; person_id: string }>(
        `SELECT source_id, nhs_number, nhs_number_valid, person_id FROM source_identity WHERE source_id IN ('TST0005', 'BADCL3') ORDER BY 1`,
      );
      assert.equal(rows.length, 2);
      for (const r of rows) assert.deepEqual([r.nhs_number, r.nhs_number_valid], ['1234567890', false]);
      assert.notEqual(rows[0]!.person_id, rows[1]!.person_id, 'two people who share only an invalid NHS number are not linked by it');
      assert.deepEqual(await one(`SELECT person_id FROM person WHERE nhs_number = '1234567890'`), []);
      const valid = await one<{ nhs_number_valid: boolean }>(`SELECT nhs_number_valid FROM source_identity WHERE source_id = 'TST0001'`);
      assert.equal(valid[0]!.nhs_number_valid, true);
    });

    await t.test('windows-1252 text is decoded ("Zoë"), a UTF-8 byte-order mark is dropped', async () => {
      const names = await one<{ source_id: string; family: string; given: string }>(`SELECT source_id, family, given FROM source_identity WHERE source_id IN ('TST0004', 'BADCL7') ORDER BY 1`);
      assert.deepEqual(names, [
        { source_id: 'BADCL7', family: 'Brontë', given: 'Zoë' },
        { source_id: 'TST0004', family: 'Brontë', given: 'Zoë' },
      ]);
      const patient = await one<{ given: string }>(`SELECT content->'name'->0->'given'->>0 AS given FROM resource WHERE source_system = 'hl7:TST' AND resource_type = 'Patient' AND source_id = 'TST0004'`);
      assert.equal(patient[0]!.given, 'Zoë');
      const bom = await one<{ source_id: string }>(`SELECT source_id FROM resource WHERE resource_type = 'Patient' AND source_id IN ('TST0003', 'BADCL6') ORDER BY 1`);
      assert.deepEqual(bom.map((b) => b.source_id), ['BADCL6', 'TST0003']);
    });

    await t.test('a bundle keeps its good entries when one entry is bad', async () => {
      const obs = await one<{ source_id: string }>(`SELECT source_id FROM resource WHERE source_system = 'gp:P91001' AND source_id LIKE 'bad-p5%' ORDER BY 1`);
      // An Encounter that is not in the bundle may be in another file (Bulk Data): the Observation
      // that refers to it is kept, not rejected.
      assert.deepEqual(obs.map((o) => o.source_id), ['bad-p5', 'bad-p5-obs1', 'bad-p5-obs2']);
      assert.deepEqual(await one(`SELECT source_id FROM resource WHERE resource_type = 'Spaceship'`), []);
    });

    await t.test('replaying the bad folder counts the bad items again instead of copying them', async () => {
      const before = await snapshot(db);
      const r = await ingestPaths(db, [join(mixed, 'bad')]);
      assert.equal(r.accepted, 0);
      assert.equal(r.resources, 0);
      assert.equal(r.quarantined, Object.keys(EXPECTED_QUARANTINE).length + 1);
      assert.deepEqual(await snapshot(db), before);
      const seen = await one<{ times_seen: number }>(`SELECT DISTINCT times_seen FROM quarantine WHERE origin LIKE $1`, [`${join(mixed, 'bad')}/%`]);
      assert.deepEqual(seen, [{ times_seen: 2 }]);
    });
  });
}

// A killed ingest leaves its run 'running'; the next ingest on this host marks it abandoned.
for (const target of await testDatabases()) {
  test(`runs left 'running' by a process that is gone are marked abandoned, on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const gone = 4_194_305; // above Linux's largest pid: no such process
    const insert = (id: string, host: string, pid: number) =>
      db.query(`INSERT INTO ingest_run (run_id, origin, host, pid) VALUES ($1, $2, $3, $4)`, [id, `/feeds/${id}`, host, pid]);
    await insert('00000000-0000-4000-8000-000000000001', hostname(), gone);
    await insert('00000000-0000-4000-8000-000000000002', hostname(), process.pid); // alive: this process
    await insert('00000000-0000-4000-8000-000000000003', 'another-host', gone); // not ours to judge
    assert.equal(await markAbandonedRuns(db), 1);
    const runs = await db.query<{ origin: string; status: string; error: string | null }>('SELECT origin, status, error FROM ingest_run ORDER BY origin');
    assert.deepEqual(
      runs.rows.map((r) => [r.origin, r.status]),
      [
        ['/feeds/00000000-0000-4000-8000-000000000001', 'abandoned'],
        ['/feeds/00000000-0000-4000-8000-000000000002', 'running'],
        ['/feeds/00000000-0000-4000-8000-000000000003', 'running'],
      ],
    );
    assert.match(runs.rows[0]!.error!, /ingest the file again/);
    // ingestPaths does this on start, and records its own host and pid.
    await ingestPaths(db, [join(BAD_INPUT, 'hl7-lf.hl7')]);
    const mine = await db.query<{ host: string; pid: number; status: string }>(`SELECT host, pid, status FROM ingest_run WHERE origin LIKE '%hl7-lf.hl7'`);
    assert.deepEqual(mine.rows, [{ host: hostname(), pid: process.pid, status: 'done' }]);
  });
}

// Hostile files and faults in one run: each is quarantined with a reason and the good files beside
// them go in, on both parsing paths. (Root in a container reads any file, so EACCES is not tried
// here; a missing file and a file that goes between listing and reading stand for it.)
const hostile = join(root, 'hostile');
await mkdir(hostile, { recursive: true });
const CONTACT_COLUMNS = CSV_CONTRACTS.find((c) => c.name === 'community-contact')!.columns.map((c) => c.name);
const contactLine = (id: string) =>
  CONTACT_COLUMNS.map((c) => ({ contact_id: id, client_id: `HC-${id}`, date_of_birth: '1950-01-02', sex: 'F', family_name: 'Hale', given_name: 'Hana', contact_date: '2025-01-02' })[c] ?? '').join(',');
const bundle = (id: string, family: string) =>
  JSON.stringify({ resourceType: 'Bundle', id, type: 'collection', meta: { source: 'gp:P91001' }, entry: [{ resource: { resourceType: 'Patient', id: `${id}-p`, name: [{ family }] } }] });
await writeFile(join(hostile, 'good.csv'), `${CONTACT_COLUMNS.join(',')}\n${contactLine('HC1')}\n`);
// 10,000 columns beyond the contract's: read (the columns ignored); its one row is short.
await writeFile(join(hostile, 'wide.csv'), `${[...CONTACT_COLUMNS, ...Array.from({ length: 10_000 }, (_, n) => `col${n}`)].join(',')}\nx\n`);
await writeFile(join(hostile, 'nul.ndjson'), `${bundle('h-nul', 'Nul\u0000l')}\n${bundle('h-ok1', 'Okay')}\n`);
await writeFile(join(hostile, 'surrogate.ndjson'), `${bundle('h-sur', 'Half\ud800')}\n${bundle('h-ok2', 'Okay')}\n`);
await writeFile(join(hostile, 'deep.json'), `{"resourceType":"Bundle","type":"collection","entry":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
await writeFile(join(hostile, 'zz-vanishes.hl7'), 'MSH|^~\\&|PAS|TST|BEVAN|TRAFFORD|20250301||ADT^A08|GONE1|P|2.4\r');
await writeFile(join(hostile, 'sourced.csv'), `${CONTACT_COLUMNS.join(',')}\n${contactLine('HC2')}\n`);

for (const target of await testDatabases()) {
  for (const parseThread of [false, true]) {
    test(`hostile files and unreadable files in one run, parsing ${parseThread ? 'on a second thread' : 'in line'}, on ${target.name}`, async (t) => {
      const db = await target.open();
      t.after(() => db.drop());
      const vanishing = join(hostile, `vanishes-${target.name}-${parseThread}.hl7`);
      await cp(join(hostile, 'zz-vanishes.hl7'), vanishing);
      const files = ['good.csv', 'wide.csv', 'nul.ndjson', 'surrogate.ndjson', 'deep.json'].map((f) => join(hostile, f));
      const r = await ingestPaths(db, [...files, join(hostile, 'missing.hl7'), { path: join(hostile, 'sourced.csv'), source: 'csv:elsewhere' }, vanishing], {
        parseThread,
        // The last file goes once the run has started: listed, not yet read (files are read one ahead).
        onProgress: () => void rmSync(vanishing, { force: true }),
      });
      assert.equal(r.files, 8);
      const q = await db.query<{ origin: string; reason: string }>(`SELECT origin, reason FROM quarantine ORDER BY origin`);
      const reasons = new Map(q.rows.map((x) => [basename(x.origin).replace(/#.*$/, ''), x.reason]));
      assert.match(reasons.get('wide.csv')!, /^line 2: the row has 1 fields but the header has 10017$/);
      assert.ok(reasons.get('wide.csv')!.length < 500);
      assert.match(reasons.get('nul.ndjson')!, /NUL|\\u0000/);
      assert.match(reasons.get('surrogate.ndjson')!, /surrogate/);
      assert.ok(reasons.has('deep.json'), 'the deeply nested file is quarantined');
      assert.match(reasons.get('missing.hl7')!, /^the file could not be read: ENOENT/);
      assert.match(reasons.get(basename(vanishing))!, /could not be read.*ENOENT/);
      assert.equal(q.rows.length, 6);
      // The good items beside them went in; the configured feed's rows are of its source.
      const ids = await db.query<{ k: string }>(`SELECT source_system || '|' || source_id AS k FROM source_identity ORDER BY 1`);
      assert.deepEqual(ids.rows.map((x) => x.k), ['csv:community|HC-HC1', 'csv:elsewhere|HC-HC2', 'gp:P91001|h-ok1-p', 'gp:P91001|h-ok2-p']);
      const runs = await db.query<{ origin: string; source: string | null; status: string }>(`SELECT origin, source, status FROM ingest_run ORDER BY origin`);
      assert.deepEqual(new Set(runs.rows.map((x) => x.status)), new Set(['done']));
      assert.deepEqual(runs.rows.filter((x) => x.source).map((x) => [basename(x.origin), x.source]), [['sourced.csv', 'csv:elsewhere']]);
    });
  }
}

// Parsing on a second thread (the default for big loads) must leave exactly what parsing on the
// writing thread leaves: same resources, messages and quarantine, same counts.
for (const target of await testDatabases()) {
  test(`parsing on a second thread gives the same store as parsing in line, on ${target.name}`, async (t) => {
    const inline = await target.open();
    const threaded = await target.open();
    t.after(() => Promise.all([inline.drop(), threaded.drop()]));
    const a = await ingestPaths(inline, [mixed], { parseThread: false });
    const b = await ingestPaths(threaded, [mixed], { parseThread: true });
    const counts = (r: typeof a) => ({ ...r, seconds: 0 });
    assert.deepEqual(counts(b), counts(a));
    const [sa, sb] = [await snapshot(inline), await snapshot(threaded)];
    assert.deepEqual(sb.resources, sa.resources);
    assert.deepEqual(sb.messages, sa.messages);
    assert.deepEqual(sb.quarantine, sa.quarantine);
    assert.equal(sb.persons, sa.persons);
    assert.ok(sa.resources.length > 4000);
  });
}

// 50 feeds at once, each with a message for the same new NHS number, five rounds: one person each
// round. The shared test databases have a pool of 4, so this opens its own with 50 connections.
const url = await testPostgresUrl();
test('PostgreSQL: 50 concurrent writeBatch calls for one new NHS number make exactly one person, 5 rounds', { skip: url ? false : 'no PostgreSQL server' }, async () => {
  await withOwnPostgresSchema(url!, 50, async (db) => {
    for (let round = 0; round < 5; round++) {
      const nhs = validNhs(700000000 + round * 1000);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, feed) =>
          writeBatch(db, [admission(`R${round}`, identity({ system: `hl7:F${feed}`, id: `P${round}`, nhsNumber: nhs, family: `Feed${feed}` }), `V${round}`)]),
        ),
      );
      for (const r of results) assert.deepEqual(r.outcomes, ['committed']);
      const persons = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person WHERE nhs_number = $1', [nhs]);
      assert.equal(persons.rows[0]!.n, 1, `round ${round}: one person`);
      const linked = await db.query<{ identities: number; persons: number }>(
        `SELECT count(*)::int AS identities, count(DISTINCT person_id)::int AS persons FROM source_identity WHERE source_id = $1`,
        [`P${round}`],
      );
      assert.deepEqual(linked.rows[0], { identities: 50, persons: 1 });
      const res = await db.query<{ n: number; persons: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT person_id)::int AS persons FROM resource WHERE source_id IN ($1, $2)`,
        [`P${round}`, `V${round}`],
      );
      assert.deepEqual(res.rows[0], { n: 100, persons: 1 });
    }
    const orphans = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM person p WHERE NOT EXISTS (SELECT 1 FROM source_identity s WHERE s.person_id = p.person_id)');
    assert.equal(orphans.rows[0]!.n, 0);
  });
});

