/**
 * The partitioned layout (db/layout.ts, docs/distribution.md), whatever BEVAN_DB_LAYOUT says: a
 * fresh schema migrated with it has its personal tables hash-partitioned by shard_key, and ingest,
 * a record read, a new version, a visit re-sent under another patient, and merge and unmerge work
 * on it with no row leaving its partition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { admission, identity } from '../test/items.ts';
import { writeBatch } from '../ingest/writer.ts';
import { layoutOf } from './layout.ts';
import { readPersonRecordRows } from '../record/record-store.ts';
import { mergePersons, unmergeEvent } from '../mpi/merge.ts';
import type { Queryable } from './database.ts';
import { migrate, loadMigrations } from './migrator.ts';
import { loadLayoutSteps } from './layout.ts';

const NHS_A = '9434765919';
const PERSONAL = ['source_identity', 'resource', 'resource_history'];

/** Each personal row's shard key, and whether it sits in the partition its key hashes to. */
async function placement(db: Queryable) {
  const r = await db.query<{ t: string; k: string; shard_key: string; partition: string }>(
    `SELECT 'resource' AS t, source_system || '|' || resource_type || '|' || source_id AS k, shard_key::text, tableoid::regclass::text AS partition FROM resource
     UNION ALL SELECT 'source_identity', source_system || '|' || source_id, shard_key::text, tableoid::regclass::text FROM source_identity
     UNION ALL SELECT 'resource_history', source_system || '|' || resource_type || '|' || source_id || '|' || version, shard_key::text, tableoid::regclass::text FROM resource_history
     ORDER BY 1, 2`,
  );
  return r.rows;
}

for (const target of await testDatabases({ layout: 'partitioned' })) {
  test(`partitioned layout on ${target.name}: personal tables by shard_key; ingest, record, versions, merge and unmerge`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());

    await t.test('the personal tables are partitioned by hash of shard_key, keys and indexes included', async () => {
      assert.equal(await layoutOf(db), 'partitioned');
      for (const table of PERSONAL) {
        const parts = await db.query<{ n: number; strategy: string; key: string }>(
          `SELECT (SELECT count(*)::int FROM pg_inherits i WHERE i.inhparent = c.oid) AS n, p.partstrat::text AS strategy,
                  (SELECT string_agg(a.attname, ',') FROM unnest(p.partattrs::int2[]) AS x(n) JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.n) AS key
             FROM pg_class c JOIN pg_partitioned_table p ON p.partrelid = c.oid WHERE c.oid = to_regclass($1)`,
          [table],
        );
        assert.deepEqual(parts.rows, [{ n: 8, strategy: 'h', key: 'shard_key' }], table);
        const pk = await db.query<{ cols: string }>(
          `SELECT string_agg(a.attname, ',' ORDER BY k.ord) AS cols FROM pg_index x
             CROSS JOIN unnest(x.indkey::int2[]) WITH ORDINALITY AS k(n, ord) JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
            WHERE x.indrelid = to_regclass($1) AND x.indisprimary`,
          [table],
        );
        assert.match(pk.rows[0]!.cols, /,shard_key$/, table);
      }
      // The ordinary migrations' secondary indexes and the history trigger came along.
      const idx = await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'resource' ORDER BY 1`);
      for (const name of ['resource_fhir_logical_id_idx', 'resource_person_idx', 'resource_pending_subject_idx', 'resource_type_person_idx']) {
        assert.ok(idx.rows.some((r) => r.indexname === name), name);
      }
      const trg = await db.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass('resource') AND tgname = 'resource_history_keep'`);
      assert.equal(trg.rows.length, 1);
    });

    const hospital = identity({ system: 'hl7:RM2', id: 'MRN1', nhsNumber: NHS_A });
    const gp = identity({ system: 'gp:P91001', id: 'G1', nhsNumber: NHS_A });
    const other = identity({ system: 'hl7:RM2', id: 'MRN2', nhsNumber: undefined, family: 'Ashworth', given: 'Ada', birthDate: '1941-03-05' });

    await t.test('ingest puts each identity and what it says in one shard; the record reads them all', async () => {
      const r = await writeBatch(db, [admission('m1', hospital, 'V1'), admission('m2', gp, 'E1'), admission('m3', other, 'V2')]);
      assert.equal(r.accepted, 3);
      const rows = await placement(db);
      const keyOf = await db.query<{ k: string; shard: string }>(
        `SELECT source_system || '|' || source_id AS k, shard_key_of(source_system, source_id)::text AS shard FROM source_identity`,
      );
      const shard = new Map(keyOf.rows.map((x) => [x.k, x.shard]));
      const want = (k: string) => shard.get(k)!;
      assert.deepEqual(
        rows.filter((x) => x.t === 'resource').map((x) => [x.k, x.shard_key]),
        [
          ['gp:P91001|Encounter|E1', want('gp:P91001|G1')],
          ['gp:P91001|Patient|G1', want('gp:P91001|G1')],
          ['hl7:RM2|Encounter|V1', want('hl7:RM2|MRN1')],
          ['hl7:RM2|Encounter|V2', want('hl7:RM2|MRN2')],
          ['hl7:RM2|Patient|MRN1', want('hl7:RM2|MRN1')],
          ['hl7:RM2|Patient|MRN2', want('hl7:RM2|MRN2')],
        ],
      );
      // Rows sharing a key sit in the same-numbered partition of each table (co-located, as Citus
      // places the shards of co-located tables on one node).
      const partitionOf = new Map<string, Set<string>>();
      for (const x of rows) partitionOf.set(x.shard_key, new Set([...(partitionOf.get(x.shard_key) ?? []), /_p\d+$/.exec(x.partition)![0]]));
      for (const s of partitionOf.values()) assert.equal(s.size, 1);
      const rec = await readPersonRecordRows(db, { nhsNumber: NHS_A });
      assert.deepEqual(rec!.identities.map((i) => `${i.source_system}|${i.source_id}`).sort(), ['gp:P91001|G1', 'hl7:RM2|MRN1']);
      assert.equal(rec!.rows.length, 4);
      // A replay changes nothing.
      const again = await writeBatch(db, [admission('m1', hospital, 'V1'), admission('m2', gp, 'E1'), admission('m3', other, 'V2')]);
      assert.equal(again.duplicates, 3);
      assert.deepEqual(await placement(db), rows);
    });

    await t.test('a new version keeps the shard; a visit re-sent under another patient stays one row where it was', async () => {
      const before = (await placement(db)).find((x) => x.k === 'hl7:RM2|Encounter|V1')!;
      await writeBatch(db, [admission('m4', hospital, 'V1', 'finished', '2025-03-02T10:00:00Z')]);
      // The same visit number, now sent about MRN2 (after the trust's merge of the two, say).
      await writeBatch(db, [admission('m5', other, 'V1', 'finished', '2025-03-03T10:00:00Z')]);
      const rows = (await placement(db)).filter((x) => x.k.startsWith('hl7:RM2|Encounter|V1'));
      assert.deepEqual(
        rows.map((x) => [x.t, x.k, x.shard_key, x.partition]),
        [
          ['resource', 'hl7:RM2|Encounter|V1', before.shard_key, before.partition],
          ['resource_history', 'hl7:RM2|Encounter|V1|1', before.shard_key, before.partition.replace('resource_', 'resource_history_')],
          ['resource_history', 'hl7:RM2|Encounter|V1|2', before.shard_key, before.partition.replace('resource_', 'resource_history_')],
        ],
      );
      const v1 = await db.query<{ subject_id: string; version: number }>(`SELECT subject_id, version FROM resource WHERE source_system = 'hl7:RM2' AND source_id = 'V1'`);
      assert.deepEqual(v1.rows, [{ subject_id: 'MRN2', version: 3 }]);
    });

    await t.test('merge and unmerge change person_id in place: no row moves', async () => {
      const ids = await db.query<{ source_id: string; person_id: string }>(`SELECT source_id, person_id FROM source_identity ORDER BY source_id`);
      const personOf = new Map(ids.rows.map((r) => [r.source_id, r.person_id]));
      const [a, b] = [personOf.get('MRN1')!, personOf.get('MRN2')!];
      assert.notEqual(a, b);
      const rows = await placement(db);
      const event = await mergePersons(db, b, a, 'test', 'the same patient');
      assert.deepEqual(await placement(db), rows);
      const merged = await readPersonRecordRows(db, { nhsNumber: NHS_A });
      assert.equal(merged!.identities.length, 3);
      const everyRow = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE person_id = $1`, [a]);
      assert.equal(everyRow.rows[0]!.n, 6);
      const history = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource_history WHERE person_id = $1`, [a]);
      assert.equal(history.rows[0]!.n, 2);

      await unmergeEvent(db, event, 'test', 'not the same patient');
      assert.deepEqual(await placement(db), rows);
      const back = await db.query<{ source_id: string; person_id: string }>(`SELECT source_id, person_id FROM source_identity ORDER BY source_id`);
      assert.deepEqual(new Map(back.rows.map((r) => [r.source_id, r.person_id])), personOf);
      const split = await readPersonRecordRows(db, { nhsNumber: NHS_A });
      assert.equal(split!.identities.length, 2);
    });
  });
}

for (const target of await testDatabases({ layout: 'plain' })) {
  test(`a loaded plain database on ${target.name} takes the partitioned layout with its rows, once`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    await writeBatch(db, [admission('m1', identity({ system: 'hl7:RM2', id: 'MRN1', nhsNumber: NHS_A }), 'V1'), admission('m2', identity({ system: 'gp:P91001', id: 'G1', nhsNumber: NHS_A }), 'E1')]);
    await writeBatch(db, [admission('m3', identity({ system: 'hl7:RM2', id: 'MRN1', nhsNumber: NHS_A }), 'V1', 'finished', '2025-03-02T10:00:00Z')]);
    assert.equal(await layoutOf(db), 'plain');
    const before = (await placement(db)).map((x) => [x.t, x.k, x.shard_key]);
    const m = await migrate(db, loadMigrations(), loadLayoutSteps('partitioned'));
    assert.deepEqual(m, { kind: 'ok', applied: ['partitioned/0001_personal_tables_by_shard_key'] });
    assert.equal(await layoutOf(db), 'partitioned');
    assert.deepEqual((await placement(db)).map((x) => [x.t, x.k, x.shard_key]), before);
    assert.ok((await placement(db)).every((x) => /_p\d+$/.test(x.partition)));
    // Applied once: a second run, and a run without the layout, change nothing.
    assert.deepEqual(await migrate(db, loadMigrations(), loadLayoutSteps('partitioned')), { kind: 'ok', applied: [] });
    assert.deepEqual(await migrate(db, loadMigrations(), []), { kind: 'ok', applied: [] });
    const r = await writeBatch(db, [admission('m4', identity({ system: 'hl7:RM2', id: 'MRN1', nhsNumber: NHS_A }), 'V1', 'cancelled', '2025-03-04T10:00:00Z')]);
    assert.equal(r.accepted, 1);
    const v = await db.query<{ n: number; version: number }>(`SELECT count(*)::int AS n, max(version) AS version FROM resource WHERE source_id = 'V1'`);
    assert.deepEqual(v.rows, [{ n: 1, version: 3 }]);
  });
}
