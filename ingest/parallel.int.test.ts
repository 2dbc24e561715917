/**
 * Issue 11, beyond one server: several ingest pipelines and an MLLP listener on different feeds of
 * one locality (people shared between them) write to one PostgreSQL server at once, each with its
 * own connections, and the end state equals a load of the same files by one pipeline: the same
 * persons, identities, resources, message log and quarantine; the matcher's accuracy against the
 * generator's truth the same; the audit chain intact. PostgreSQL only: PGlite is one process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database, Queryable } from '../db/database.ts';
import { openPostgres } from '../db/postgres-adapter.ts';
import { migrate } from '../db/migrator.ts';
import { testPostgresUrl } from '../test/databases.ts';
import { generateLocality } from '../synth/generate.ts';
import { ingestPaths, listFeedFiles } from './pipeline.ts';
import { loadLocality } from './locality.ts';
import { startMllpIngest } from './mllp-service.ts';
import { sendMllp } from './hl7v2/mllp.ts';
import { splitHl7Messages } from '../cli/commands/demo.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { evaluateAgainstTruth } from '../mpi/evaluate.ts';
import { verifyAuditChain } from '../access/audit.ts';

const url = await testPostgresUrl();

/** Everything a load leaves that must not depend on how it was split, as sorted lines. */
async function endState(db: Queryable) {
  const ids = await db.query<{ k: string; person_id: string; nhs: string | null }>(
    `SELECT source_system || '|' || source_id AS k, person_id, nhs_number AS nhs FROM source_identity ORDER BY 1`,
  );
  // A person is named by its identities (its uuid differs from load to load).
  const members = new Map<string, string[]>();
  for (const r of ids.rows) members.set(r.person_id, [...(members.get(r.person_id) ?? []), r.k]);
  const nameOf = (p: string | null) => (p === null ? '-' : (members.get(p) ?? [`(empty ${p})`]).join(' + '));
  const persons = await db.query<{ person_id: string; nhs_number: string | null }>(`SELECT person_id, nhs_number FROM person WHERE status = 'active'`);
  const resources = await db.query<{ k: string; person_id: string | null }>(
    `SELECT source_system || '|' || resource_type || '|' || source_id || '|' || content_hash AS k, person_id FROM resource`,
  );
  const messages = await db.query<{ k: string }>(`SELECT source_system || '|' || message_id || '|' || content_hash || '|' || outcome AS k FROM ingest_message`);
  const quarantine = await db.query<{ k: string }>(`SELECT raw_hash || '|' || md5(reason) || '|' || status AS k FROM quarantine`);
  const sorted = (xs: string[]) => xs.sort();
  return {
    persons: sorted(persons.rows.map((p) => `${p.nhs_number ?? '-'} ${nameOf(p.person_id)}`)),
    identities: sorted(ids.rows.map((r) => `${r.k} ${r.nhs ?? '-'}`)),
    resources: sorted(resources.rows.map((r) => `${r.k} → ${nameOf(r.person_id)}`)),
    messages: sorted(messages.rows.map((r) => r.k)),
    quarantine: sorted(quarantine.rows.map((r) => r.k)),
  };
}

async function freshSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url! });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return {
    schema,
    async drop() {
      const a = new pg.Client({ connectionString: url! });
      await a.connect();
      await a.query(`DROP SCHEMA ${schema} CASCADE`);
      await a.end();
    },
  };
}

test('two ingest pipelines and an MLLP listener on different feeds, at once, leave what one pipeline leaves', { skip: url ? false : 'no PostgreSQL server (PGlite is one process)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-parallel-'));
  const schemas: { drop(): Promise<void> }[] = [];
  const open: Database[] = [];
  try {
    await generateLocality({ people: 150, seed: 11, out: dir, workers: 0 });
    const files = (await listFeedFiles([dir])).map((f) => f.path);
    const mllpFile = join(dir, 'hospital', 'mllp', 'messages.hl7');
    const under = (...folders: string[]) => files.filter((f) => folders.some((d) => f.startsWith(join(dir, d) + '/')) && f !== mllpFile);
    // The feeds share people: a hospital patient is a GP patient too, found by NHS number from both sides.
    const feedA = under('gp', 'community');
    const feedB = under('hospital', 'mentalhealth', 'socialcare');
    assert.ok(feedA.length > 1 && feedB.length > 1);
    assert.equal(feedA.length + feedB.length + 1, files.length);
    const live = splitHl7Messages(readFileSync(mllpFile, 'utf8'));
    assert.ok(live.length > 0);

    const openOn = async (schema: string) => {
      const db = await openPostgres(url!, { schema, max: 3 });
      open.push(db);
      return db;
    };

    // One pipeline: every file in order, the MLLP messages as their file.
    const one = await freshSchema();
    schemas.push(one);
    const single = await openOn(one.schema);
    const m1 = await migrate(single);
    assert.equal(m1.kind, 'ok');
    await loadLocality(single, join(dir, 'locality.json'));
    await ingestPaths(single, files);
    await runMatcher(single);

    // Two pipelines and a listener, each with its own connections, all at once; then each
    // pipeline's matcher run, as `bevan ingest` does (the lease makes them take turns).
    const two = await freshSchema();
    schemas.push(two);
    const [a, b, c] = [await openOn(two.schema), await openOn(two.schema), await openOn(two.schema)];
    const migrations = await Promise.all([migrate(a), migrate(b)]);
    assert.deepEqual(migrations.map((m) => m.kind), ['ok', 'ok']);
    await loadLocality(a, join(dir, 'locality.json'));
    const mllp = await startMllpIngest(c, 0);
    try {
      const [ra, rb, acks] = await Promise.all([ingestPaths(a, feedA), ingestPaths(b, feedB), sendMllp('127.0.0.1', mllp.port, live, { retryDelayMs: 20, maxRetries: 50 })]);
      assert.ok(ra.accepted > 0 && rb.accepted > 0);
      // Every live message committed (AA), none refused for a lost race.
      assert.deepEqual([...new Set(acks.map((x) => x.code))], ['AA']);
    } finally {
      await mllp.close();
    }
    await Promise.all([runMatcher(a), runMatcher(b)]);

    const [want, got] = [await endState(single), await endState(a)];
    assert.equal(got.identities.length, want.identities.length, 'identities');
    assert.deepEqual(got.identities, want.identities);
    assert.deepEqual(got.persons, want.persons);
    // One person per NHS number.
    const nhs = got.persons.map((p) => p.split(' ')[0]!).filter((n) => n !== '-');
    assert.equal(new Set(nhs).size, nhs.length);
    assert.equal(got.resources.length, want.resources.length, 'resources');
    assert.deepEqual(got.resources, want.resources);
    assert.deepEqual(got.messages, want.messages);
    assert.deepEqual(got.quarantine, want.quarantine);

    const truth = join(dir, 'truth', 'persons.ndjson');
    const [e1, e2] = [await evaluateAgainstTruth(single, truth), await evaluateAgainstTruth(a, truth)];
    assert.equal(e2.precision, e1.precision);
    assert.equal(e2.recall, e1.recall);
    assert.ok(e2.precision > 0.95 && e2.recall > 0.9, JSON.stringify(e2));
    assert.equal((await verifyAuditChain(a)).ok, true);
  } finally {
    for (const db of open) await db.close().catch(() => {});
    for (const s of schemas) await s.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

test('batches cut by person and written three at once (small batches, merges among them) leave what one batch at a time leaves', { skip: url ? false : 'no PostgreSQL server' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-lanes-'));
  const schemas: { drop(): Promise<void> }[] = [];
  const open: Database[] = [];
  try {
    await generateLocality({ people: 120, seed: 5, out: dir, workers: 0 });
    // HL7 v2 restates patients event after event and carries merges (A40); the GP and CSV feeds share people with it.
    const files = (await listFeedFiles([dir])).map((f) => f.path);
    assert.ok(files.some((f) => f.endsWith('.hl7') && readFileSync(f, 'utf8').includes('ADT^A40')), 'the feed holds merges');
    const states = [];
    for (const writesInFlight of [1, 3]) {
      const s = await freshSchema();
      schemas.push(s);
      const db = await openPostgres(url!, { schema: s.schema, max: 4 });
      open.push(db);
      assert.equal((await migrate(db)).kind, 'ok');
      await loadLocality(db, join(dir, 'locality.json'));
      const r = await ingestPaths(db, files, { writesInFlight, batchItems: 25, batchResources: 100 });
      assert.ok(r.accepted > 0);
      // Items by outcome (resource rows written depend on how the items fall in batches: a
      // resource changed twice within one batch is written once).
      states.push({ counts: [r.accepted, r.ignored, r.quarantined, r.duplicates], state: await endState(db) });
    }
    const [want, got] = states as [(typeof states)[number], (typeof states)[number]];
    assert.deepEqual(got.counts, want.counts);
    assert.deepEqual(got.state.identities, want.state.identities);
    assert.deepEqual(got.state.persons, want.state.persons);
    assert.equal(got.state.resources.length, want.state.resources.length, 'resources');
    assert.deepEqual(got.state.resources, want.state.resources);
    assert.deepEqual(got.state.messages, want.state.messages);
    assert.deepEqual(got.state.quarantine, want.state.quarantine);
  } finally {
    for (const db of open) await db.close().catch(() => {});
    for (const s of schemas) await s.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
