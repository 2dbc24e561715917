import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../test/databases.ts';
import { appendAudit, appendAuditBatch, AuditCommitter, chainOf, searchAudit, verifyAuditChain } from './audit.ts';

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

  test(`audit group commit on ${target.name}: several committers (servers) and write transactions at once, many entries of one chain per batch, never fork a chain`, async () => {
    const db = await target.open();
    try {
      // Five people: a batch holds several entries of the same chain (chained one after another in one statement).
      const people = ['6f1c1f3e-2a4b-4c8d-9e0f-000000000001', '6f1c1f3e-2a4b-4c8d-9e0f-000000000002', '6f1c1f3e-2a4b-4c8d-9e0f-000000000003', '6f1c1f3e-2a4b-4c8d-9e0f-000000000004', '6f1c1f3e-2a4b-4c8d-9e0f-000000000005'];
      const committers = [new AuditCommitter(db), new AuditCommitter(db), new AuditCommitter(db)];
      const at = new Date('2025-10-04T12:00:00Z');
      const submissions = committers.flatMap((c, ci) =>
        Array.from({ length: 80 }, (_, i) => {
          const n = 1 + (i % 3);
          return c.submit(Array.from({ length: n }, (_, j) => ({ actor: `server-${ci}`, action: 'record.read', personId: people[(i + j) % people.length]!, decision: 'permit' as const, detail: { ci, i, j } })), new Date(at.getTime() + i));
        }),
      );
      // Writes with their audit rows in their own transactions, on the same chains, at the same time.
      const writes = Array.from({ length: 10 }, (_, w) =>
        db.transaction((tx) => appendAuditBatch(tx, people.map((personId) => ({ actor: 'writer', action: 'record.write', personId, detail: { w } })), at)),
      );
      const written = await Promise.all(writes);
      await Promise.all(submissions);
      const expected = 3 * (80 / 3) * 6 + 10 * 5; // 80 submissions of 1, 2, 3 entries in turn (the last one short) per committer
      const rows = await searchAudit(db, { limit: 10_000 });
      const reads = rows.filter((r) => r.action === 'record.read').length;
      assert.equal(reads, 3 * Array.from({ length: 80 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0));
      assert.equal(rows.filter((r) => r.action === 'record.write').length, 50);
      assert.ok(rows.length >= 50 && expected > 0);
      assert.ok(committers.every((c) => c.stats.batches < 80), `batches: ${committers.map((c) => c.stats.batches).join(', ')}`);
      // What appendAuditBatch returned is what was stored, in the order asked.
      for (const batch of written) {
        assert.deepEqual(batch.map((r) => r.personId), people);
        for (const r of batch) {
          const stored = rows.find((x) => x.auditId === r.auditId)!;
          assert.deepEqual([stored.chain, stored.seq, stored.hash, stored.prevHash], [chainOf(r), r.seq, r.hash, r.prevHash]);
        }
      }
      const check = await verifyAuditChain(db);
      assert.equal(check.ok, true, check.reason);
      assert.equal(check.rows, rows.length);
    } finally {
      await db.close();
    }
  });
}
