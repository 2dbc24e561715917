/**
 * COPY through the database port (Queryable.copyFrom, db/copy.ts CopyChunks) on both adapters: text with
 * every character COPY escapes comes back as sent, null stays null, in a transaction and outside
 * one; a rolled-back COPY leaves nothing; and the shard key computed for COPY (db/shard-key.ts)
 * equals the SQL function's (migration 0029), multi-byte characters included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { CopyChunks, copyLine } from './copy.ts';
import { shardKeyOf } from './shard-key.ts';

const AWKWARD = ['plain', 'tab\there', 'new\nline', 'cr\rreturn', 'back\\slash \\N \\\\', '{"a":"q\\"uote\\n"}', 'ünïcödé 😀 ☃', '\\', ''];

/** Rows as COPY chunks; small chunks, so rows cross buffer boundaries in the tests. */
const chunksOf = (rows: readonly (string | null)[][], chunkBytes?: number): CopyChunks => {
  const c = new CopyChunks(chunkBytes);
  for (const r of rows) c.row(r);
  return c;
};

test('CopyChunks encodes exactly what copyLine writes, in whole rows, whatever the chunk size', () => {
  const rows = AWKWARD.map((s, n) => [String(n), s, null, JSON.stringify({ s }), s.repeat(50)]);
  const text = rows.map(copyLine).join('');
  for (const size of [16, 64, 1000, 256 * 1024]) {
    const c = chunksOf(rows, size);
    assert.equal(c.rows, rows.length);
    const chunks = c.chunks();
    assert.equal(Buffer.concat(chunks).toString('utf8'), text);
    assert.equal(c.bytes, Buffer.byteLength(text));
    for (const b of chunks) assert.equal(b.at(-1), 0x0a, 'each chunk ends a row');
  }
  // One row larger than a chunk gets a buffer of its own.
  const big = [['1', 'é'.repeat(5000)]];
  assert.equal(Buffer.concat(chunksOf(big, 64).chunks()).toString('utf8'), big.map(copyLine).join(''));
  assert.deepEqual(new CopyChunks().chunks(), []);
});

for (const target of await testDatabases()) {
  test(`COPY through the port on ${target.name}`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    await db.exec('CREATE TABLE copy_probe (n integer PRIMARY KEY, t text, j jsonb)');
    assert.ok(db.copyFrom, 'the adapter offers copyFrom');

    await t.test('awkward text and JSON come back as sent; null stays null', async () => {
      const rows: (string | null)[][] = AWKWARD.map((s, n) => [String(n), s, JSON.stringify({ s })]);
      rows.push(['99', null, null]);
      const loaded = await db.transaction((tx) => tx.copyFrom!('copy_probe', ['n', 't', 'j'], chunksOf(rows, 64)));
      assert.equal(loaded, AWKWARD.length + 1);
      const r = await db.query<{ n: number; t: string | null; j: { s: string } | null }>('SELECT n, t, j FROM copy_probe ORDER BY n');
      assert.deepEqual(
        r.rows.map((x) => [x.t, x.j?.s ?? null]),
        [...AWKWARD.map((s) => [s, s]), [null, null]],
      );
    });

    await t.test('outside a transaction too; a failed COPY in a rolled-back transaction leaves nothing', async () => {
      assert.equal(await db.copyFrom!('copy_probe', ['n', 't'], chunksOf([['100', 'x']])), 1);
      await assert.rejects(db.transaction(async (tx) => {
        await tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['101', 'y']]));
        await tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['101', 'again']])); // duplicate key
      }), (err: { code?: string }) => err.code === '23505');
      const r = await db.query<{ n: number }>('SELECT n FROM copy_probe WHERE n >= 100 ORDER BY n');
      assert.deepEqual(r.rows.map((x) => x.n), [100]);
      // The connection is usable afterwards.
      assert.equal((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1);
    });

    await t.test('a COPY refused before or in the middle of its rows (rows sent ahead of the server\'s answer) fails alone; the next statements work', async () => {
      // Several CopyData messages' worth (a few hundred kilobytes each) so that rows are still
      // arriving when the server refuses the statement.
      const big = Array.from({ length: 3000 }, (_, n) => [String(1000 + n), 'x'.repeat(400)]);
      await assert.rejects(db.copyFrom!('copy_probe', ['n', 'no_such_column'], chunksOf(big)), (err: { code?: string }) => err.code === '42703');
      const clash = [...big.slice(0, 1500), ['100', 'stored already'], ...big.slice(1500)];
      for (let round = 0; round < 3; round++) {
        await assert.rejects(db.transaction((tx) => tx.copyFrom!('copy_probe', ['n', 't'], chunksOf(clash))), (err: { code?: string }) => err.code === '23505');
        assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_probe WHERE n >= 1000')).rows[0]!.n, 0);
      }
      assert.equal(await db.transaction((tx) => tx.copyFrom!('copy_probe', ['n', 't'], chunksOf(big))), big.length);
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_probe WHERE n >= 1000')).rows[0]!.n, big.length);
    });

    await t.test('under a savepoint: a COPY that fails is rolled back to it alone; one that succeeds releases it', async () => {
      const kept = await db.transaction(async (tx) => {
        await tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['200', 'before']]));
        await assert.rejects(tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['201', 'new'], ['200', 'clash']]), { savepoint: 'probe_sp' }), (err: { code?: string }) => err.code === '23505');
        await tx.exec('ROLLBACK TO SAVEPOINT probe_sp; RELEASE SAVEPOINT probe_sp');
        assert.equal(await tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['202', 'after'], ['203', 'after']]), { savepoint: 'probe_sp' }), 2);
        return (await tx.query<{ n: number }>('SELECT n FROM copy_probe WHERE n BETWEEN 200 AND 299 ORDER BY n')).rows.map((x) => x.n);
      });
      assert.deepEqual(kept, [200, 202, 203]);
      assert.deepEqual((await db.query<{ n: number }>('SELECT n FROM copy_probe WHERE n BETWEEN 200 AND 299 ORDER BY n')).rows.map((x) => x.n), [200, 202, 203]);
      await db.query('DELETE FROM copy_probe WHERE n BETWEEN 200 AND 299');
      const r = await db.transaction(async (tx) => {
        await tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['210', 'before']]));
        await assert.rejects(tx.copyFrom!('copy_probe', ['n', 't'], chunksOf(Array.from({ length: 2000 }, (_, i) => [String(211 + (i % 50)), 'y'.repeat(300)])), { savepoint: 'probe_sp' }), (err: { code?: string }) => err.code === '23505');
        await tx.exec('ROLLBACK TO SAVEPOINT probe_sp; RELEASE SAVEPOINT probe_sp');
        return tx.copyFrom!('copy_probe', ['n', 't'], chunksOf([['211', 'after']]), { savepoint: 'probe_sp' });
      });
      assert.equal(r, 1);
      assert.deepEqual((await db.query<{ n: number; t: string }>('SELECT n, t FROM copy_probe WHERE n BETWEEN 200 AND 299 ORDER BY n')).rows, [{ n: 210, t: 'before' }, { n: 211, t: 'after' }]);
      // Outside a transaction a savepoint is refused, and the connection is usable afterwards.
      await assert.rejects(db.copyFrom!('copy_probe', ['n', 't'], chunksOf([['220', 'x']]), { savepoint: 'probe_sp' }), (err: { code?: string }) => err.code === '25P01');
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_probe WHERE n = 220')).rows[0]!.n, 0);
      await assert.rejects(db.transaction((tx) => tx.copyFrom!('copy_probe', ['n'], new CopyChunks(), { savepoint: 'x; DROP TABLE copy_probe' })), /not a plain SQL identifier/);
    });

    await t.test('names that are not plain identifiers are refused before the database', async () => {
      await assert.rejects(db.copyFrom!('copy_probe; DROP TABLE x', ['n'], new CopyChunks()), /not a plain SQL identifier/);
    });

    await t.test('shardKeyOf equals shard_key_of', async () => {
      const pairs = [['gp:P91001', 'a1b2'], ['hl7:RM3', 'MRN 1'], ['söurce', 'ïd'], ['𝔰𝔶𝔰', '😀/x'], ['', ''], ['x', 'Organization/o1']];
      const r = await db.query<{ k: string }>('SELECT shard_key_of(s, i)::text AS k FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, i, n) ORDER BY n', [pairs.map((p) => p[0]), pairs.map((p) => p[1])]);
      assert.deepEqual(r.rows.map((x) => x.k), pairs.map(([s, i]) => shardKeyOf(s!, i!)));
    });
  });
}
