import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { appendAudit, AuditCommitter, searchAudit, verifyAuditChain } from './audit.ts';

const PERSON = '6f1c1f3e-2a4b-4c8d-9e0f-333333333333';

for (const target of await testDatabases()) {
  test(`audit group commit on ${target.name}: concurrent reads share transactions, the chains stay whole, a bad entry fails only its own request`, async () => {
    const db = await target.open();
    try {
      const committer = new AuditCommitter(db);
      const at = new Date('2025-10-04T12:00:00Z');
      // 60 requests at once, with a direct append in the middle (another writer on the same chains).
      const writes = Array.from({ length: 60 }, (_, i) =>
        committer.submit([{ actor: `user-${i % 7}`, action: 'record.read', personId: i % 3 ? PERSON : null, decision: 'permit', detail: { i } }], new Date(at.getTime() + i * 1000)),
      );
      const direct = appendAudit(db, { actor: 'other-server', action: 'record.read', personId: PERSON });
      await Promise.all([...writes, direct]);
      assert.equal(committer.stats.entries, 60);
      assert.ok(committer.stats.batches < 60, `fewer transactions than requests (${committer.stats.batches})`);
      const rows = await searchAudit(db, { action: 'record.read', limit: 1000 });
      assert.equal(rows.length, 61);
      // Each entry keeps its own request's time.
      const byI = new Map(rows.filter((r) => r.actor !== 'other-server').map((r) => [(r.detail as { i: number }).i, r.at]));
      assert.equal(byI.get(5), new Date(at.getTime() + 5000).toISOString());
      assert.equal((await verifyAuditChain(db)).ok, true);

      // A batch that fails: each request is tried on its own; the one whose entry is bad fails (and is not written), the other is written.
      const bad = new AuditCommitter(db);
      const before = (await searchAudit(db, { limit: 10_000 })).length;
      const results = await Promise.allSettled([
        bad.submit([{ actor: 'a', action: 'record.read', personId: PERSON }]),
        bad.submit([{ actor: 'b', action: 'record.read', personId: 'not-a-uuid' }]),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected']);
      assert.equal((await searchAudit(db, { limit: 10_000 })).length, before + 1);
      await assert.rejects(bad.submit([{ actor: '', action: 'record.read' }]), /needs an actor/);
      assert.equal((await verifyAuditChain(db)).ok, true);
    } finally {
      await db.close();
    }
  });
}
