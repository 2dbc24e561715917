/**
 * Copy-first writes (ingest/writer.ts CopyFirstGuess) on both databases: a generated locality's GP
 * FHIR and HL7 v2 files loaded copy-first leave exactly the rows the normal path (read first) leaves
 * — resources, message log and identities compared by md5 of their ordered contents, persons by
 * their identities, timestamps left out — and a replay writes nothing; a copy-first batch reads
 * the stored hashes of the keys its run wrote before (restated HL7 v2 Patients) and COPYs the rest;
 * and one that meets keys stored by another writer (23505) rolls back to its savepoint and is
 * written the normal way, nothing lost or doubled, after which its source is read first until a
 * batch finds all its keys new.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { admission, identity, validNhs } from '../test/items.ts';
import { generateLocality } from '../synth/generate.ts';
import { ingestPaths } from './pipeline.ts';
import { CopyFirstGuess, writeBatch } from './writer.ts';

const root = await mkdtemp(join(tmpdir(), 'bevan-copy-first-'));
const locality = join(root, 'locality');
await generateLocality({ people: 30, seed: 5, out: locality });
const filesIn = async (sub: string) => (await readdir(join(locality, sub))).filter((f) => /\.(ndjson|hl7)$/.test(f)).sort().map((f) => join(locality, sub, f));
const files = [...(await filesIn('gp')), ...(await filesIn('hospital'))];
test.after(() => rm(root, { recursive: true, force: true }));

/** A person as the sorted keys of its identities (person ids are random per database). */
const PERSON = `(SELECT string_agg(s.source_system || '/' || s.source_id, ',' ORDER BY s.source_system, s.source_id) FROM source_identity s WHERE s.person_id = t.person_id)`;

/** md5 and count of each table the writer fills, ordered by key, without timestamps. */
async function fingerprint(db: Database): Promise<Record<string, { n: number; md5: string }>> {
  const tables = {
    resource: `SELECT t.source_system, t.resource_type, t.source_id, ${PERSON} AS person, t.subject_id, t.version, t.source_time, t.content_hash, t.content, t.shard_key, t.fhir_id FROM resource t ORDER BY 1, 2, 3`,
    ingest_message: `SELECT t.source_system, t.message_id, t.content_hash, t.format, t.event, t.outcome, ${PERSON} AS person, t.origin FROM ingest_message t ORDER BY 1, 2`,
    source_identity: `SELECT t.source_system, t.source_id, ${PERSON} AS person, t.nhs_number, t.family, t.given, t.birth_date, t.sex, t.postcode, t.practice, t.link_method, t.match_status FROM source_identity t ORDER BY 1, 2`,
  };
  const out: Record<string, { n: number; md5: string }> = {};
  for (const [name, sql] of Object.entries(tables)) {
    const r = await db.query<{ n: number; md5: string | null }>(`SELECT count(*)::int AS n, md5(string_agg(x::text, E'\\n' ORDER BY ord)) AS md5 FROM (SELECT x, row_number() OVER () AS ord FROM (${sql}) x) y`);
    out[name] = { n: r.rows[0]!.n, md5: r.rows[0]!.md5 ?? '' };
  }
  return out;
}

for (const target of await testDatabases()) {
  test(`copy-first writes on ${target.name}`, async (t) => {
    await t.test('a locality loaded copy-first holds the same rows as one loaded reading first; its replay writes nothing', async () => {
      const normal = await target.open();
      const fast = await target.open();
      try {
        // Small batches: many of them, so HL7 v2's restated Patients meet stored keys across batches (fallbacks).
        const opts = { batchItems: 25, batchResources: 400, parseThread: false };
        const a = await ingestPaths(normal, files, { ...opts, copyFirst: false });
        const guess = new CopyFirstGuess();
        const b = await ingestPaths(fast, files, { ...opts, copyFirst: guess });
        // Every batch went copy-first; HL7 v2's restated Patients and Encounters were read first
        // (keys this run wrote), so no COPY met a stored key.
        assert.ok(guess.copied > 5 && guess.reread > 0 && guess.fellBack === 0, `copied ${guess.copied}, read again ${guess.reread}, fell back ${guess.fellBack}`);
        assert.ok(a.resources > 500, `a locality's worth of resources (${a.resources})`);
        assert.deepEqual({ ...b, seconds: 0, notes: [] }, { ...a, seconds: 0, notes: [] });
        const fa = await fingerprint(normal);
        const fb = await fingerprint(fast);
        assert.ok(fb.resource!.n > 500);
        assert.deepEqual(fb, fa);
        const again = await ingestPaths(fast, files, { ...opts, readKnownFiles: true });
        assert.equal(again.resources, 0);
        assert.equal(again.accepted, 0);
        assert.deepEqual(await fingerprint(fast), fa);
      } finally {
        await normal.drop();
        await fast.drop();
      }
    });

    await t.test('a copy-first batch reads only what the run wrote; one that meets keys stored by another writer falls back whole, loses and doubles nothing; the source is read first until a batch is all new', async () => {
      const db = await target.open();
      t.after(() => db.drop());
      const guess = new CopyFirstGuess();
      const ada = identity();
      const rows = async () => (await db.query<{ id: string; version: number; status: string }>(`SELECT source_id AS id, version, content->>'status' AS status FROM resource WHERE resource_type = 'Encounter' ORDER BY source_id`)).rows;
      const counters = () => [guess.copied, guess.fellBack, guess.reread];

      // An empty store: copy-first.
      const first = await writeBatch(db, [admission('C1', ada, 'V1'), admission('C2', ada, 'V2')], { copyFirst: guess });
      assert.deepEqual(first.outcomes, ['committed', 'committed']);
      assert.equal(first.resources, 3); // one Patient, two Encounters
      assert.deepEqual(counters(), [1, 0, 0]);

      // The next batch restates the Patient (stored as sent), changes V1 and brings V3: the Patient
      // and V1 are keys this run wrote, so they are read first (the Patient unchanged, V1 upserted);
      // V3 is COPYed. No COPY meets a stored key.
      const second = await writeBatch(db, [admission('C3', ada, 'V1', 'finished', '2025-03-02T10:00:00Z'), admission('C4', ada, 'V3')], { copyFirst: guess });
      assert.deepEqual(second.outcomes, ['committed', 'committed']);
      assert.deepEqual(counters(), [2, 0, 2]);
      assert.equal(second.resources, 2); // V1 changed, V3 new; the Patient unchanged

      // Another writer (no guess of this run's) stores V4; this run's next batch changes V4 and
      // brings V5: V4 is not a key this run wrote, so the COPY meets it (23505), rolls back to its
      // savepoint, and the batch is written the normal way in the same transaction.
      await writeBatch(db, [admission('C5', ada, 'V4')]);
      const third = await writeBatch(db, [admission('C6', ada, 'V4', 'finished', '2025-03-03T10:00:00Z'), admission('C7', ada, 'V5')], { copyFirst: guess });
      assert.deepEqual(third.outcomes, ['committed', 'committed']);
      assert.deepEqual(counters(), [2, 1, 2]);
      assert.equal(third.resources, 2); // V4 changed, V5 new
      assert.deepEqual(await rows(), [
        { id: 'V1', version: 2, status: 'finished' },
        { id: 'V2', version: 1, status: 'in-progress' },
        { id: 'V3', version: 1, status: 'in-progress' },
        { id: 'V4', version: 2, status: 'finished' },
        { id: 'V5', version: 1, status: 'in-progress' },
      ]);
      const counts = await db.query<{ n: number; keys: number }>(`SELECT count(*)::int AS n, count(DISTINCT (resource_type, source_id))::int AS keys FROM resource`);
      assert.deepEqual(counts.rows[0], { n: 6, keys: 6 });
      const log = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ingest_message`);
      assert.equal(log.rows[0]!.n, 7);

      // Read first now: a batch about a new person, all new, is read first and tells the guess so…
      const bo = identity({ id: 'MRN2', nhsNumber: validNhs(900000100), given: 'Bo' });
      const fourth = await writeBatch(db, [admission('C8', bo, 'W1')], { copyFirst: guess });
      assert.equal(fourth.resources, 2);
      assert.deepEqual(counters(), [2, 1, 2]);
      // …so the next is copy-first again, its restated Patient (written by the read-first batch) read first.
      const fifth = await writeBatch(db, [admission('C9', bo, 'W2')], { copyFirst: guess });
      assert.equal(fifth.resources, 1);
      assert.deepEqual(counters(), [3, 1, 3]);
      const sixth = await writeBatch(db, [admission('C10', identity({ id: 'MRN3', nhsNumber: validNhs(900000200), given: 'Cy' }), 'X1')], { copyFirst: guess });
      assert.equal(sixth.resources, 2);
      assert.deepEqual(counters(), [4, 1, 3]);
      const all = await db.query<{ n: number; keys: number }>(`SELECT count(*)::int AS n, count(DISTINCT (resource_type, source_id))::int AS keys FROM resource`);
      assert.deepEqual(all.rows[0], { n: 11, keys: 11 });
    });

    await t.test('a loaded store starts reading first: a source with stored resources is not COPYed blind', async () => {
      const db = await target.open();
      t.after(() => db.drop());
      const ada = identity();
      await writeBatch(db, [admission('L1', ada, 'V1')]);
      const guess = new CopyFirstGuess();
      const r = await writeBatch(db, [admission('L2', ada, 'V2')], { copyFirst: guess });
      assert.equal(r.resources, 1);
      assert.deepEqual([guess.copied, guess.fellBack], [0, 0]);
    });
  });
}
