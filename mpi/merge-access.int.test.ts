/** `bevan mpi merge|unmerge` as services of the request context: the MPI review gate, each person decided, audited with the change. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyAuditChain } from '../access/audit.ts';
import { isBevanError, type RequestContext, type Role } from '../access/context.ts';
import { testDatabases } from '../test/databases.ts';
import type { SourceIdentity } from './identity.ts';
import { resolveIdentities } from './link.ts';
import { mergePersonsFor, unmergeEventFor } from './review-service.ts';

const people: SourceIdentity[] = [
  { system: 'csv:socialcare', id: 's1', family: 'Thomson', given: 'Anne', birthDate: '1950-03-01', sex: 'female', postcode: 'M14 5AB' },
  { system: 'csv:community', id: 'c1', family: 'Thompson', given: 'Anne', birthDate: '1950-03-11', sex: 'female', postcode: 'M14 9ZZ' },
  { system: 'csv:community', id: 'c2', family: 'Patel', given: 'Ravi', birthDate: '1972-08-19', sex: 'male', postcode: 'M13 9PL' },
];

for (const target of await testDatabases()) {
  test(`MPI merge and unmerge through the access layer on ${target.name}: integration only, restricted people withheld, audited with the change`, async () => {
    const db = await target.open();
    try {
      await db.transaction((tx) => resolveIdentities(tx, people));
      const personOf = async (id: string) => (await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM source_identity WHERE source_id = $1`, [id])).rows[0]!.person_id;
      const [s1, c1, c2] = [await personOf('s1'), await personOf('c1'), await personOf('c2')];
      const ctx = (user: string, role: Role, purpose: RequestContext['purpose'] = 'administration'): RequestContext => ({ principal: { user, role, organisation: null }, purpose, db, from: 'cli:test' });
      const audit = async (action: string) => (await db.query<{ actor: string; person_id: string | null; decision: string | null; reason: string }>(`SELECT actor, person_id::text AS person_id, decision, reason FROM audit_log WHERE action = $1 ORDER BY audit_id`, [action])).rows;

      // A GP, or the integration team for another purpose: refused, audited, nothing changed.
      await assert.rejects(mergePersonsFor(ctx('dr.jones', 'gp', 'direct-care'), c1, s1, 'same person'), (e) => isBevanError(e) && e.kind === 'forbidden');
      await assert.rejects(mergePersonsFor(ctx('int1', 'integration', 'direct-care'), c1, s1, 'same person'), (e) => isBevanError(e) && e.kind === 'forbidden');
      assert.deepEqual((await audit('mpi.merge')).map((r) => [r.actor, r.decision]), [['dr.jones', 'deny'], ['int1', 'deny']]);
      assert.notEqual(await personOf('c1'), await personOf('s1'));

      // The integration team merges: one entry per person, with the event.
      const { eventId } = await mergePersonsFor(ctx('int1', 'integration'), c1, s1, 'same person (checked with the social worker)');
      assert.equal(await personOf('c1'), s1);
      const merged = (await audit('mpi.merge')).slice(2);
      assert.deepEqual(merged.map((r) => [r.actor, r.decision, r.person_id]).sort(), [['int1', 'permit', c1], ['int1', 'permit', s1]].sort());
      const ev = await db.query<{ actor: string }>(`SELECT actor FROM mpi_event WHERE event_id = $1`, [eventId]);
      assert.equal(ev.rows[0]!.actor, 'int1', 'the event names the user, not the machine account');

      // A refusal by the MPI (merging into a merged person) is a conflict, audited with its reason.
      await assert.rejects(mergePersonsFor(ctx('int1', 'integration'), c2, c1, 'wrong'), (e) => isBevanError(e) && e.kind === 'conflict');
      assert.match((await audit('mpi.merge')).at(-1)!.reason, /^refused: person .* is merged/);

      // Undo: decided for every person the event touched, audited; a second undo conflicts; an unknown event is not found.
      const undone = await unmergeEventFor(ctx('int1', 'integration'), eventId, 'not the same person after all');
      assert.equal(undone.eventId, eventId);
      assert.notEqual(await personOf('c1'), s1);
      assert.ok((await audit('mpi.unmerge')).every((r) => r.decision === 'permit'));
      await assert.rejects(unmergeEventFor(ctx('int1', 'integration'), eventId, undefined), (e) => isBevanError(e) && e.kind === 'conflict');
      await assert.rejects(unmergeEventFor(ctx('int1', 'integration'), 999_999, undefined), (e) => isBevanError(e) && e.kind === 'not-found');

      // A restricted person is withheld here too.
      await db.query(`INSERT INTO person_restriction (person_id, reason) VALUES ($1, 'RCGP sensitive dataset')`, [c2]);
      await assert.rejects(mergePersonsFor(ctx('int1', 'integration'), c2, s1, 'same person'), (e) => isBevanError(e) && e.kind === 'forbidden' && /restricted/.test(e.message));

      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await db.drop();
    }
  });
}
