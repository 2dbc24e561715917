/** The writer's running counts of the message log agree with counting the log, through new messages, re-sent ones, changed outcomes and repeats. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { admission, identity } from '../test/items.ts';
import { countDeltas, readFeedCounts } from './feed-counts.ts';
import type { IgnoredItem, IngestItem } from './model.ts';
import { writeBatch } from './writer.ts';

test('countDeltas: new messages count once, a changed outcome moves, the same outcome again changes nothing', () => {
  assert.deepEqual(
    countDeltas([
      { system: 'gp:P1', format: 'fhir', outcome: 'accepted' },
      { system: 'gp:P1', format: 'fhir', outcome: 'accepted', previous: { outcome: 'accepted', format: 'fhir' } },
      { system: 'gp:P1', format: 'fhir', outcome: 'accepted', previous: { outcome: 'ignored', format: 'fhir' } },
      { system: 'hl7:RM2', format: 'hl7v2', outcome: 'ignored' },
    ]),
    [
      { source: 'gp:P1', format: 'fhir', outcome: 'accepted', change: 2 },
      { source: 'gp:P1', format: 'fhir', outcome: 'ignored', change: -1 },
      { source: 'hl7:RM2', format: 'hl7v2', outcome: 'ignored', change: 1 },
    ],
  );
});

async function logCounts(db: Queryable) {
  const r = await db.query<{ source: string; outcome: string; n: number }>(`SELECT source_system AS source, outcome, count(*)::int AS n FROM ingest_message GROUP BY 1, 2 ORDER BY 1, 2`);
  return r.rows.map((x) => [x.source, x.outcome, x.n]);
}

for (const target of await testDatabases()) {
  test(`feed counts on ${target.name}: kept by the writer, equal to counting the message log`, async () => {
    const db = await target.open();
    try {
      const fhir = (id: string, hash: string): IngestItem => ({ ...admission(id, identity({ system: 'gp:P91001', id: 'p1' }), `V-${id}`), format: 'fhir', sourceSystem: 'gp:P91001', idIsUnique: false, contentHash: hash });
      const ignored = (id: string, hash: string): IgnoredItem => ({ kind: 'ignored', format: 'fhir', sourceSystem: 'gp:P91001', messageId: id, contentHash: hash, event: 'searchset', origin: 'test' });
      const counts = async () => (await readFeedCounts(db)).map((c) => [c.source, c.outcome, c.messages]).sort((a, b) => String(a).localeCompare(String(b)));
      await writeBatch(db, [admission('M1', identity(), 'V1'), admission('M2', identity(), 'V2'), fhir('B1', 'h1'), ignored('B2', 'h2')]);
      assert.deepEqual(await counts(), await logCounts(db));
      // The same again (duplicates), B1 with new content (still one message), B2 now accepted (moves), a new one.
      await writeBatch(db, [admission('M1', identity(), 'V1'), fhir('B1', 'h1b'), fhir('B2', 'h2b'), fhir('B3', 'h3')]);
      assert.deepEqual(await counts(), await logCounts(db));
      assert.deepEqual(await logCounts(db), [['gp:P91001', 'accepted', 3], ['hl7:RM2', 'accepted', 2]]);
      // Concurrent batches of one source: the counts still add up.
      await Promise.all(Array.from({ length: 6 }, (_, i) => writeBatch(db, [fhir(`C${i}`, `hc${i}`)])));
      assert.deepEqual(await counts(), await logCounts(db));
    } finally {
      await db.drop();
    }
  });
}
