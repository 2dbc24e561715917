import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { appendAudit, appendAuditBatch, auditForPerson, auditHash, canonicalJson, chainOf, searchAudit, toAuditEvent, verifyAuditChain } from './audit.ts';

const PERSON = '6f1c1f3e-2a4b-4c8d-9e0f-111111111111';
const OTHER = '6f1c1f3e-2a4b-4c8d-9e0f-222222222222';

test('canonical JSON sorts keys at every level and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 2, y: null }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[1,{"y":null,"z":2}]},"b":1}');
});

test('entries about one person share a chain; entries about nobody go by user', () => {
  assert.equal(chainOf({ personId: PERSON, actor: 'a' }), chainOf({ personId: PERSON.toUpperCase(), actor: 'b' }));
  assert.equal(chainOf({ actor: 'dr.jones' }), chainOf({ actor: 'dr.jones', personId: null }));
  const chains = new Set(Array.from({ length: 200 }, (_, i) => chainOf({ actor: `user-${i}` })));
  assert.ok(chains.size > 40, 'spread over the chains');
});

/** A database role that can alter the table (the owner) is the only way to tamper: triggers off. */
async function tamper(db: Database, sql: string, params: unknown[] = []) {
  await db.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
  await db.query('ALTER TABLE audit_chain DISABLE TRIGGER USER');
  try {
    await db.query(sql, params);
  } finally {
    await db.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    await db.query('ALTER TABLE audit_chain ENABLE TRIGGER USER');
  }
}

async function reset(db: Database) {
  await tamper(db, 'DELETE FROM audit_log');
  await tamper(db, `UPDATE audit_chain SET seq = 0, hash = repeat('0', 64)`);
}

async function seed(db: Database) {
  const rows = [];
  for (let i = 0; i < 6; i++) rows.push(await appendAudit(db, { actor: 'dr.jones', role: 'gp', organisation: 'P91001', action: 'record.read', personId: PERSON, purpose: 'direct-care', decision: 'permit', reason: 'registered', from: '127.0.0.1', detail: { i } }));
  await appendAudit(db, { actor: 'nurse', action: 'patient.search', detail: { name: 'smith' } });
  return rows;
}

for (const target of await testDatabases()) {
  test(`audit log on ${target.name}: chains, search, AuditEvent, append-only`, async () => {
    const db = await target.open();
    try {
      const empty = await verifyAuditChain(db);
      assert.equal(empty.ok, true);
      assert.equal(empty.rows, 0);
      const first = await appendAudit(db, { actor: 'dr.jones', role: 'gp', organisation: 'P91001', action: 'record.read', personId: PERSON, purpose: 'direct-care', decision: 'permit', reason: 'r', from: '10.0.0.1', detail: { query: 'nhs', b: [1, 2], a: { y: 1, x: 'é' } } });
      assert.equal(first.seq, 1);
      const second = await appendAudit(db, { actor: 'dr.jones', action: 'record.read', personId: PERSON, decision: 'deny', reason: 'no relationship' });
      assert.equal(second.prevHash, first.hash);
      assert.equal(second.seq, 2);

      // Concurrent appenders (several pool connections on PostgreSQL) never fork a chain.
      await Promise.all(Array.from({ length: 40 }, (_, i) => appendAudit(db, { actor: `worker-${i % 4}`, action: 'record.read', personId: i % 2 ? PERSON : OTHER, detail: { i } })));
      // Batches (a search's one entry per person found) across many chains, concurrently too.
      await Promise.all(
        Array.from({ length: 5 }, (_, k) =>
          db.transaction((tx) => appendAuditBatch(tx, Array.from({ length: 8 }, (_, i) => ({ actor: 'searcher', action: 'patient.search', personId: `6f1c1f3e-2a4b-4c8d-9e0f-${String((k * 8 + i) % 12).padStart(12, '0')}` })))),
        ),
      );
      const ok = await verifyAuditChain(db);
      assert.equal(ok.ok, true, ok.reason);
      assert.equal(ok.rows, 82);
      const forks = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM (SELECT chain, prev_hash FROM audit_log GROUP BY chain, prev_hash HAVING count(*) > 1) f');
      assert.equal(forks.rows[0]!.n, 0, 'no two rows share a predecessor');

      const mine = await auditForPerson(db, PERSON);
      assert.equal(mine.length, 22);
      assert.deepEqual(mine.at(-1)!.detail, { query: 'nhs', b: [1, 2], a: { y: 1, x: 'é' } });
      assert.equal((await searchAudit(db, { user: 'worker-1' })).length, 10);
      assert.equal((await searchAudit(db, { since: '2999-01-01' })).length, 0);
      const ev = toAuditEvent(second);
      assert.equal(ev.resourceType, 'AuditEvent');
      assert.equal(ev.outcome, '4');
      assert.equal(ev.entity![0]!.what!.reference, `Patient/${PERSON}`);
      assert.equal(toAuditEvent(first).agent[0]!.network!.address, '10.0.0.1');

      // The application cannot change or remove audit rows, nor rewind a chain's head.
      await assert.rejects(db.query(`UPDATE audit_log SET actor = 'x' WHERE audit_id = $1`, [first.auditId]), /append-only/);
      await assert.rejects(db.query(`DELETE FROM audit_log WHERE audit_id = $1`, [first.auditId]), /append-only/);
      await assert.rejects(db.query(`TRUNCATE audit_log`), /append-only/);
      await assert.rejects(db.query(`UPDATE audit_chain SET seq = 0 WHERE chain = $1`, [first.chain]), /only move forward/);
      await assert.rejects(db.query(`DELETE FROM audit_chain`), /only move forward/);
    } finally {
      await db.drop();
    }
  });

  test(`audit verify on ${target.name} detects each kind of tampering`, async () => {
    const db = await target.open();
    try {
      // The unique (chain, seq) index would stop a swap mid-statement: drop it as an attacker could.
      await db.query('DROP INDEX IF EXISTS audit_log_chain_seq_uq');
      const attacks = [
        ['an altered entry', async (db: Database, ids: number[]) => tamper(db, `UPDATE audit_log SET detail = '{"i": 999}'::jsonb WHERE audit_id = $1`, [ids[3]]), (ids: number[]) => ids[3]],
        ['an altered actor with its hash recomputed', async (db: Database, ids: number[]) => tamper(db, `UPDATE audit_log SET actor = 'someone', hash = md5('x') || md5('y') WHERE audit_id = $1`, [ids[2]]), (ids: number[]) => ids[2]],
        ['a deleted middle entry', async (db: Database, ids: number[]) => tamper(db, `DELETE FROM audit_log WHERE audit_id = $1`, [ids[2]]), (ids: number[]) => ids[3]],
        ['a deleted first entry (head)', async (db: Database, ids: number[]) => tamper(db, `DELETE FROM audit_log WHERE audit_id = $1`, [ids[0]]), (ids: number[]) => ids[1]],
        ['a deleted newest entry (tail)', async (db: Database, ids: number[]) => tamper(db, `DELETE FROM audit_log WHERE audit_id = $1`, [ids[5]]), (ids: number[]) => ids[4]],
        ['two entries swapped (reordered)', async (db: Database, ids: number[]) => tamper(db, `UPDATE audit_log a SET seq = b.seq FROM audit_log b WHERE (a.audit_id = $1 AND b.audit_id = $2) OR (a.audit_id = $2 AND b.audit_id = $1)`, [ids[1], ids[2]]), (ids: number[]) => ids[2]],
        ['a whole chain deleted', async (db: Database) => tamper(db, `DELETE FROM audit_log WHERE person_id = $1`, [PERSON]), () => undefined],
      ] as const;
      for (const [name, attack, expect] of attacks) {
        await reset(db);
        const rows = await seed(db);
        assert.equal((await verifyAuditChain(db)).ok, true);
        const ids = rows.map((r) => r.auditId);
        await attack(db, ids);
        const check = await verifyAuditChain(db);
        assert.equal(check.ok, false, name);
        assert.equal(check.firstBadId, expect(ids), `${name}: ${check.reason}`);
        assert.ok(check.reason, name);
      }
      // A rewound anchor: consistent inside the database, caught only against the digest kept elsewhere.
      await reset(db);
      {
        const rows = await seed(db);
        const before = await verifyAuditChain(db);
        const last = rows.at(-1)!;
        const prev = rows.at(-2)!;
        await tamper(db, `DELETE FROM audit_log WHERE audit_id = $1`, [last.auditId]);
        await tamper(db, `UPDATE audit_chain SET seq = seq - 1, hash = $2 WHERE chain = $1`, [last.chain, prev.hash]);
        const after = await verifyAuditChain(db);
        assert.equal(after.ok, true, 'consistent inside the database');
        assert.notEqual(after.headHash, before.headHash, 'but the digest no longer matches the one kept elsewhere');
      }
      // Rows from before chains were partitioned are still checked, by their own rules.
      await reset(db);
      {
        const at = '2025-01-01T10:00:00.000Z';
        const seq = await db.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence('audit_log', 'audit_id'))::text AS id`);
        const id = Number(seq.rows[0]!.id);
        const body = { auditId: id, at, actor: 'old', action: 'record.read', personId: null, purpose: 'direct-care', detail: null };
        const hash = auditHash('0'.repeat(64), body);
        await db.query(`INSERT INTO audit_log (audit_id, at, actor, action, purpose, prev_hash, hash) VALUES ($1, $2, 'old', 'record.read', 'direct-care', $3, $4)`, [id, at, '0'.repeat(64), hash]);
        await appendAudit(db, { actor: 'new', action: 'record.read' });
        const ok = await verifyAuditChain(db);
        assert.equal(ok.ok, true, ok.reason);
        assert.equal(ok.rows, 2);
        await tamper(db, `UPDATE audit_log SET actor = 'older' WHERE audit_id = $1`, [id]);
        const bad = await verifyAuditChain(db);
        assert.equal(bad.firstBadId, id);
      }
    } finally {
      await db.drop();
    }
  });
}
