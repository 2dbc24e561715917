import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { appendAudit, auditForPerson, canonicalJson, GENESIS_HASH, verifyAuditChain } from './audit.ts';

const PERSON = '6f1c1f3e-2a4b-4c8d-9e0f-111111111111';

test('canonical JSON sorts keys at every level and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 2, y: null }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[1,{"y":null,"z":2}]},"b":1}');
});

for (const target of await testDatabases()) {
  test(`audit log on ${target.name}: chains, detects tampering and deletion, stays linear under concurrency`, async () => {
    const db = await target.open();
    try {
      assert.deepEqual(await verifyAuditChain(db), { ok: true, rows: 0, headHash: GENESIS_HASH });

      const first = await appendAudit(db, { actor: 'dr.jones', action: 'record.read', personId: PERSON, purpose: 'direct-care', detail: { query: 'nhs', b: [1, 2], a: { y: 1, x: 'é' } } });
      assert.equal(first.prevHash, GENESIS_HASH);
      const second = await appendAudit(db, { actor: 'coordinator', action: 'record.read' });
      assert.equal(second.prevHash, first.hash);
      assert.ok(second.auditId > first.auditId);

      // Concurrent appenders (several pool connections on PostgreSQL) still make one chain.
      await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(db, { actor: `worker-${i % 4}`, action: 'record.read', personId: PERSON, detail: { i } })));
      const ok = await verifyAuditChain(db);
      assert.equal(ok.ok, true, ok.reason);
      assert.equal(ok.rows, 22);
      const links = await db.query<{ n: number }>('SELECT count(DISTINCT prev_hash)::int AS n FROM audit_log');
      assert.equal(links.rows[0]!.n, 22, 'no two rows share a predecessor');

      const mine = await auditForPerson(db, PERSON);
      assert.equal(mine.length, 21);
      assert.deepEqual(mine.at(-1)!.detail, { query: 'nhs', b: [1, 2], a: { y: 1, x: 'é' } });

      // Tampering with one row's detail is found at that row.
      const victim = await db.query<{ id: string }>('SELECT audit_id::text AS id FROM audit_log ORDER BY audit_id OFFSET 5 LIMIT 1');
      const victimId = Number(victim.rows[0]!.id);
      await db.query(`UPDATE audit_log SET detail = '{"i": 999}'::jsonb WHERE audit_id = $1`, [victimId]);
      const bad = await verifyAuditChain(db);
      assert.equal(bad.ok, false);
      assert.equal(bad.firstBadId, victimId);
      assert.equal(bad.rows, 5);
      assert.match(bad.reason ?? '', /content does not match/);

      // Deleting a row (even after repairing the tampered one) breaks the link of the next.
      await db.query('DELETE FROM audit_log WHERE audit_id = $1', [victimId]);
      const gap = await verifyAuditChain(db);
      assert.equal(gap.ok, false);
      assert.ok(gap.firstBadId! > victimId);
      assert.match(gap.reason ?? '', /does not link/);
    } finally {
      await db.drop();
    }
  });
}
