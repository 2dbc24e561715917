import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, CompactSign } from 'jose';
import type { Database } from '../db/database.ts';
import { testDatabases } from '../test/databases.ts';
import { makeAnchor, verifyAnchors, type AuditAnchor } from './audit-anchor.ts';
import { appendAudit, canonicalJson, chainOf, verifyAuditChain } from './audit.ts';

const PERSON = '6f1c1f3e-2a4b-4c8d-9e0f-333333333333';
const OTHER = '6f1c1f3e-2a4b-4c8d-9e0f-444444444444';

/** Only someone who can alter the tables (the owner, a superuser) can do this: triggers off. */
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

/** Removes the newest `n` entries of a chain and rewinds its head to match: the chain alone still verifies. */
async function truncateTail(db: Database, chain: number, n: number) {
  const keep = await db.query<{ seq: string; hash: string }>(`SELECT seq::text AS seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1`, [chain, n]);
  const seq = keep.rows[0] ? Number(keep.rows[0].seq) : 0;
  const hash = keep.rows[0]?.hash ?? '0'.repeat(64);
  await tamper(db, `DELETE FROM audit_log WHERE chain = $1 AND seq > $2`, [chain, seq]);
  await tamper(db, `UPDATE audit_chain SET seq = $2, hash = $3 WHERE chain = $1`, [chain, seq, hash]);
}

for (const target of await testDatabases()) {
  test(`audit anchors on ${target.name}: signed heads kept outside; a truncated chain, a rewound or deleted head, a replaced entry and an edited anchor are found`, async () => {
    const db = await target.open();
    try {
      const read = (personId: string, i: number) => appendAudit(db, { actor: 'dr.jones', role: 'gp', action: 'record.read', personId, decision: 'permit', reason: 'registered', detail: { i } });
      for (let i = 0; i < 5; i++) await read(PERSON, i);
      for (let i = 0; i < 3; i++) await read(OTHER, i);
      const chain = chainOf({ personId: PERSON, actor: 'x' });

      const first = await makeAnchor(db, new Date('2025-10-01T10:00:00Z'));
      assert.equal(first.heads.length, 64);
      assert.deepEqual(first.heads.find((h) => h[0] === chain)!.slice(0, 2), [chain, 5]);
      assert.equal(first.headsDigest, (await verifyAuditChain(db)).headHash, 'the digest verify prints');
      let file = JSON.stringify(first) + '\n';
      assert.deepEqual(await verifyAnchors(db, file), { ok: true, anchors: 1, heads: 64, problems: [] });

      // The log grows: the chains still extend the anchor; a second anchor is appended.
      for (let i = 5; i < 8; i++) await read(PERSON, i);
      assert.equal((await verifyAnchors(db, file)).ok, true);
      file += JSON.stringify(await makeAnchor(db)) + '\n';
      assert.equal((await verifyAnchors(db, file)).anchors, 2);

      // The newest two entries removed and the head rewound with them: the chains alone still
      // verify, the second anchor does not.
      await truncateTail(db, chain, 2);
      assert.equal((await verifyAuditChain(db)).ok, true, 'undetectable without an anchor');
      const truncated = await verifyAnchors(db, file);
      assert.equal(truncated.ok, false);
      assert.equal(truncated.problems.length, 1);
      assert.equal(truncated.problems[0]!.line, 2);
      assert.equal(truncated.problems[0]!.chain, chain);
      assert.match(truncated.problems[0]!.reason, /head is at entry 6, behind entry 8 .* rewound/);

      // Written again up to the anchored seq with other content: the anchored hash is not there.
      await read(PERSON, 100);
      await read(PERSON, 101);
      assert.equal((await verifyAuditChain(db)).ok, true);
      const replaced = await verifyAnchors(db, file);
      assert.match(replaced.problems[0]!.reason, /entry 8 of chain \d+ no longer has the hash anchored/);

      // The head row deleted (the chain alone says so too).
      const other = chainOf({ personId: OTHER, actor: 'x' });
      await tamper(db, 'DELETE FROM audit_chain WHERE chain = $1', [other]);
      const deleted = await verifyAnchors(db, file);
      assert.ok(deleted.problems.some((p) => p.chain === other && /no head row any more/.test(p.reason)));

      // Every entry of a chain removed and its head rewound to nothing.
      await tamper(db, 'INSERT INTO audit_chain (chain, seq, hash) VALUES ($1, 0, $2)', [other, '0'.repeat(64)]);
      await tamper(db, 'DELETE FROM audit_log WHERE chain = $1', [other]);
      assert.equal((await verifyAuditChain(db)).ok, true, 'an empty chain at seq 0 looks like a new one');
      assert.ok((await verifyAnchors(db, JSON.stringify(first))).problems.some((p) => p.chain === other && /behind entry 3/.test(p.reason)));

      // An anchor line edited (a head moved back), one signed by another key, and junk.
      const edited: AuditAnchor = { ...first, heads: first.heads.map((h) => (h[0] === chain ? [h[0], 1, h[2]] : h)) };
      assert.match((await verifyAnchors(db, JSON.stringify(edited))).problems[0]!.reason, /changed after it was signed/);
      const { privateKey } = await generateKeyPair('ES256');
      const { jws: _j, ...body } = first;
      const forged = { ...body, jws: await new CompactSign(new TextEncoder().encode(canonicalJson(body))).setProtectedHeader({ alg: 'ES256', kid: 'someone-else' }).sign(privateKey) };
      assert.match((await verifyAnchors(db, JSON.stringify(forged))).problems[0]!.reason, /does not hold/);
      const wrongKey = { ...body, jws: await new CompactSign(new TextEncoder().encode(canonicalJson(body))).setProtectedHeader({ alg: 'ES256', kid: first.kid }).sign(privateKey) };
      assert.match((await verifyAnchors(db, JSON.stringify(wrongKey))).problems[0]!.reason, /does not verify/);
      assert.match((await verifyAnchors(db, 'not json\n')).problems[0]!.reason, /not JSON/);
      assert.match((await verifyAnchors(db, '')).problems[0]!.reason, /no anchors/);
    } finally {
      await db.drop();
    }
  });
}
