/** `bevan ingest log` behind the access layer: who may read it, whose quarantine reasons are shown, and the audit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBevanError, type RequestContext, type Role } from '../access/context.ts';
import { testDatabases } from '../test/databases.ts';
import { admission, identity, rejected } from '../test/items.ts';
import type { IngestItem } from './model.ts';
import { readIngestLogFor } from './ingest-log-service.ts';
import { ingestStream } from './pipeline.ts';

async function* itemsOf(items: IngestItem[]): AsyncIterable<IngestItem> {
  yield* items;
}

for (const target of await testDatabases()) {
  test(`ingest log through the access layer on ${target.name}: the feeds' roles only, quarantine reasons for the integration team, audited`, async () => {
    const db = await target.open();
    try {
      await ingestStream(db, itemsOf([admission('M1', identity(), 'V1'), { ...rejected('PID-7 "19821340" is not a valid date'), sourceSystem: 'hl7:RM2', messageId: 'M2', origin: 'feed.hl7#3' }]), 'feed.hl7', { source: 'hl7:RM2' });
      const ctx = (user: string, role: Role, purpose: RequestContext['purpose'] = 'administration'): RequestContext => ({ principal: { user, role, organisation: null }, purpose, db, from: 'test' });
      const audit = async (actor: string) => (await db.query<{ decision: string | null; detail: Record<string, unknown> }>(`SELECT decision, detail FROM audit_log WHERE action = 'ingest.log' AND actor = $1 ORDER BY audit_id`, [actor])).rows;

      // The integration team sees the reasons; the call is audited with the quarantine ids shown.
      const mine = await readIngestLogFor(ctx('int1', 'integration'));
      const q = mine.messages.find((m) => m.outcome === 'quarantined')!;
      assert.equal(q.reason, 'PID-7 "19821340" is not a valid date');
      assert.equal(mine.withheld, 0);
      assert.deepEqual((await audit('int1')).map((r) => [r.decision, r.detail.quarantineIds]), [['permit', [q.quarantineId]]]);

      // An administrator sees the feeds but not the items' content; nothing personal shown, nothing audited.
      const admin = await readIngestLogFor(ctx('root', 'admin'));
      assert.match(admin.messages.find((m) => m.outcome === 'quarantined')!.reason!, /withheld: quarantined items hold personal data/);
      assert.equal(admin.withheld, 1);
      assert.equal((await audit('root')).length, 0);
      // Accepted messages only: no reasons to show, no audit.
      await readIngestLogFor(ctx('int1', 'integration'), { outcome: 'accepted' });
      assert.equal((await audit('int1')).length, 1);

      // Anyone else, or the right role for another purpose: refused, and the refusal audited.
      for (const [user, role, purpose] of [['dr.jones', 'gp', 'direct-care'], ['ann', 'analyst', 'secondary-use'], ['int2', 'integration', 'direct-care']] as const) {
        await assert.rejects(readIngestLogFor(ctx(user, role, purpose)), (err) => isBevanError(err) && err.kind === 'forbidden', user);
        assert.deepEqual((await audit(user)).map((r) => r.decision), ['deny'], user);
      }
    } finally {
      await db.drop();
    }
  });
}
