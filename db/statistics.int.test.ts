/**
 * Planner statistics refreshed during a load (db/statistics.ts): a table analysed never, or when
 * much smaller than the rows added since, is analysed (its recorded size then the table's); one
 * whose statistics already describe its size is left alone; names that are not plain identifiers
 * are refused before any SQL is sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { refreshStaleStatistics } from './statistics.ts';

for (const target of await testDatabases()) {
  test(`stale statistics are refreshed on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    await db.exec('CREATE TABLE stats_probe (k text PRIMARY KEY, v text); CREATE TABLE stats_other (k text PRIMARY KEY)');
    await db.query("INSERT INTO stats_probe SELECT 'k' || g, 'v' FROM generate_series(1, 2000) g");
    await db.query("INSERT INTO stats_other SELECT 'k' || g FROM generate_series(1, 10) g");
    const tuples = async (name: string) => (await db.query<{ n: number }>('SELECT reltuples::float8 AS n FROM pg_class WHERE oid = to_regclass($1)', [name])).rows[0]!.n;

    const first = await refreshStaleStatistics(db, [{ table: 'stats_probe', columns: ['k'] }, { table: 'stats_other' }], 2000);
    assert.deepEqual(first, ['stats_probe', 'stats_other'], 'never analysed: both');
    assert.equal(await tuples('stats_probe'), 2000);

    // Its statistics describe its size now: 2,000 more rows written is no reason to gather them again.
    const again = await refreshStaleStatistics(db, [{ table: 'stats_probe', columns: ['k'] }], 4000);
    assert.deepEqual(again, []);
    // A load that wrote far more than the table held when it was analysed: analysed again.
    await db.query("INSERT INTO stats_probe SELECT 'n' || g, 'v' FROM generate_series(1, 20000) g");
    assert.deepEqual(await refreshStaleStatistics(db, [{ table: 'stats_probe', columns: ['k'] }], 22000), ['stats_probe']);
    assert.equal(await tuples('stats_probe'), 22000);

    // A table that does not exist (a layout without it) is skipped, not an error.
    assert.deepEqual(await refreshStaleStatistics(db, [{ table: 'no_such_table' }], 10000), []);
    await assert.rejects(refreshStaleStatistics(db, [{ table: 'stats_probe; DROP TABLE stats_other' }], 10000), /not a plain SQL identifier/);
  });
}
