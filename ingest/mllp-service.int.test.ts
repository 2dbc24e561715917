import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../db/database.ts';
import { DatabaseUnavailableError } from '../db/database.ts';
import { testDatabases, testPostgresUrl } from '../test/databases.ts';
import { msh, pv1, seg } from './hl7v2/fixtures/samples.ts';
import { sendMllp } from './hl7v2/mllp.ts';
import { startMllpIngest } from './mllp-service.ts';

/** A synthetic A01 for patient n (own MRN, no NHS number, own visit), so every message adds new rows. */
function admission(n: number): string {
  return (
    [
      msh({ type: 'ADT^A01^ADT_A01', id: `MLLP${String(n).padStart(4, '0')}` }),
      seg('EVN', { 1: 'A01', 2: '20250301123000' }),
      seg('PID', { 1: '1', 3: `RM2${900000 + n}^^^RM2^MR`, 5: `Testperson${n}^Alex`, 7: '19700101', 8: 'U' }),
      pv1({ visit: `MV${n}` }),
    ].join('\r') + '\r'
  );
}

/**
 * The real database behind a switch: while `down` is on, every call throws the error the
 * PostgreSQL adapter throws when the server is gone, so the listener's path is the real one.
 */
function switchable(db: Database): Database & { down: boolean } {
  const gone = () => new DatabaseUnavailableError('connect ECONNREFUSED 127.0.0.1:5432 (test switch)');
  const wrapped: Database & { down: boolean } = {
    down: false,
    kind: db.kind,
    location: db.location,
    query: async (sql, params) => {
      if (wrapped.down) throw gone();
      return db.query(sql, params);
    },
    exec: async (sql) => {
      if (wrapped.down) throw gone();
      return db.exec(sql);
    },
    transaction: async (fn) => {
      if (wrapped.down) throw gone();
      return db.transaction(fn);
    },
    close: () => db.close(),
  };
  return wrapped;
}

/** Polls until check() holds; the tests wait on events, not on elapsed time. */
async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const target of await testDatabases()) {
  test(`MLLP ingest on ${target.name}: AR while the database is down, the backlog drains when it returns`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const gate = switchable(db);
    const mllp = await startMllpIngest(gate, 0);
    t.after(() => mllp.close());
    const count = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0]!.n;
    const backlog = Array.from({ length: 8 }, (_, n) => admission(n + 1));

    // 1. Down: every message is refused with AR (the sender must retry) and nothing is stored.
    gate.down = true;
    const refused = await sendMllp('127.0.0.1', mllp.port, backlog, { maxRetries: 0 });
    assert.deepEqual(
      refused.map((r) => r.code),
      backlog.map(() => 'AR'),
    );
    assert.equal(refused[0]!.text, 'database unavailable, please retry');
    assert.equal(mllp.counters.byOutcome.unavailable, backlog.length);
    assert.equal(await count('SELECT count(*)::int AS n FROM ingest_message'), 0);
    assert.equal(await count('SELECT count(*)::int AS n FROM resource'), 0);
    assert.equal(await count('SELECT count(*)::int AS n FROM quarantine'), 0);

    // 2. A sender that retries on AR starts while the database is still down; it comes back mid-way.
    const sending = sendMllp('127.0.0.1', mllp.port, backlog, { retryDelayMs: 10, maxRetries: 1000 });
    await until(() => (mllp.counters.byOutcome.unavailable ?? 0) >= backlog.length + 3, 'three more ARs while down');
    assert.equal(await count('SELECT count(*)::int AS n FROM ingest_message'), 0);
    gate.down = false;
    const drained = await sending;
    assert.deepEqual(
      drained.map((r) => r.code),
      backlog.map(() => 'AA'),
    );
    // Each message committed exactly once: one log row, one Patient and one Encounter each, none rewritten.
    assert.equal(mllp.counters.byOutcome.committed, backlog.length);
    assert.equal(await count('SELECT count(*)::int AS n FROM ingest_message'), backlog.length);
    assert.equal(await count(`SELECT count(DISTINCT message_id)::int AS n FROM ingest_message WHERE message_id LIKE 'MLLP%'`), backlog.length);
    assert.equal(await count(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient'`), backlog.length);
    assert.equal(await count(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Encounter'`), backlog.length);
    assert.equal(await count('SELECT max(version)::int AS n FROM resource'), 1);
    const resources = await count('SELECT count(*)::int AS n FROM resource');
    const identities = await count('SELECT count(*)::int AS n FROM source_identity');
    assert.equal(identities, backlog.length);

    // 3. Resending the whole backlog (a sender that lost our ACKs) is acknowledged and changes nothing.
    const again = await sendMllp('127.0.0.1', mllp.port, backlog, { maxRetries: 0 });
    assert.deepEqual(
      again.map((r) => r.code),
      backlog.map(() => 'AA'),
    );
    assert.equal(mllp.counters.byOutcome.duplicate, backlog.length);
    assert.equal(mllp.counters.byOutcome.committed, backlog.length);
    assert.equal(await count('SELECT count(*)::int AS n FROM ingest_message'), backlog.length);
    assert.equal(await count('SELECT count(*)::int AS n FROM resource'), resources);
    assert.equal(await count('SELECT count(*)::int AS n FROM source_identity'), identities);
    assert.equal(await count('SELECT max(version)::int AS n FROM resource'), 1);
    assert.equal(await count('SELECT count(*)::int AS n FROM quarantine'), 0);
  });

  test(`MLLP ingest on ${target.name}: AA is sent only after the commit has resolved`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const events: string[] = [];
    let reachedCommit!: () => void;
    const atCommit = new Promise<void>((r) => (reachedCommit = r));
    let releaseCommit!: () => void;
    const commitHeld = new Promise<void>((r) => (releaseCommit = r));
    // The writer's work is done inside the transaction, then COMMIT waits until the test lets it go.
    const slowCommit: Database = {
      kind: db.kind,
      location: db.location,
      query: (sql, params) => db.query(sql, params),
      exec: (sql) => db.exec(sql),
      async transaction(fn) {
        const out = await db.transaction(async (tx) => {
          const r = await fn(tx);
          events.push('written, commit held');
          reachedCommit();
          await commitHeld;
          return r;
        });
        events.push('committed');
        return out;
      },
      close: () => db.close(),
    };
    const mllp = await startMllpIngest(slowCommit, 0);
    t.after(() => mllp.close());

    let acked = false;
    const sending = sendMllp('127.0.0.1', mllp.port, [admission(42)], { maxRetries: 0 }).then((r) => {
      acked = true;
      events.push('ACK received');
      return r;
    });
    await atCommit;
    // Give an early ACK every chance to arrive: a few turns of the event loop and a socket round trip.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(acked, false, 'the ACK arrived while the commit was still held');
    if (db.kind === 'postgres') {
      // Another connection cannot see the message yet: it is not committed. (PGlite has one
      // connection, which the held transaction owns, so this check is for the server only.)
      assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_message')).rows[0]!.n, 0);
    }
    releaseCommit();
    const [result] = await sending;
    assert.deepEqual(result, { code: 'AA' });
    assert.deepEqual(events, ['written, commit held', 'committed', 'ACK received']);
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_message')).rows[0]!.n, 1);
  });
}

const serverUrl = await testPostgresUrl();
const postgres = (await testDatabases()).find((d) => d.name === 'postgres');
if (serverUrl && postgres) {
  // What a server restart does to a connection in the middle of a write: the backend sends FATAL
  // 57P01 and goes. pg_terminate_backend does exactly that to one connection, without touching the
  // server. The FATAL arrives between statements, when no query is waiting on that client (unheard,
  // that 'error' event would end the process: db/postgres-adapter.ts listens for it).
  test('MLLP ingest on postgres: a connection lost inside the transaction answers AR, and the resend commits once', async (t) => {
    const db = await postgres.open();
    t.after(() => db.drop());
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    t.after(() => admin.end());
    let terminate = true;
    const losing: Database = {
      kind: db.kind,
      location: db.location,
      query: (sql, params) => db.query(sql, params),
      exec: (sql) => db.exec(sql),
      transaction: (fn) =>
        db.transaction(async (tx) => {
          const out = await fn(tx);
          if (terminate) {
            terminate = false;
            const pid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
            await admin.query('SELECT pg_terminate_backend($1)', [pid]);
            await until(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rows.length === 0, 'the backend to exit');
          }
          return out;
        }),
      close: () => db.close(),
    };
    const mllp = await startMllpIngest(losing, 0);
    t.after(() => mllp.close());
    const results = await sendMllp('127.0.0.1', mllp.port, [admission(7)], { retryDelayMs: 10, maxRetries: 5 });
    assert.deepEqual(results, [{ code: 'AA' }]);
    assert.equal(mllp.counters.byOutcome.unavailable, 1);
    assert.equal(mllp.counters.byOutcome.committed, 1);
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_message')).rows[0]!.n, 1);
    assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Encounter'`)).rows[0]!.n, 1);
  });
}

/** A database whose transactions fail with `error` while `failing(sql)` says so; everything else is the real one. */
function faulty(db: Database, failing: (sql: string) => boolean, error: () => unknown): Database {
  return {
    kind: db.kind,
    location: db.location,
    query: (sql, params) => db.query(sql, params),
    exec: (sql) => db.exec(sql),
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: async (sql, params) => {
            if (failing(sql)) throw error();
            return tx.query(sql, params);
          },
          exec: (sql) => tx.exec(sql),
        }),
      ),
    close: () => db.close(),
  };
}

const codeError = (code: string, message: string) => Object.assign(new Error(message), { code });

for (const target of await testDatabases()) {
  test(`MLLP ingest on ${target.name}: a message the writer fails on is AE and quarantined, not AR for ever; the next one goes in`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    let poison = true;
    // A fault a resend would meet again (here: the kind of error a bug or a schema mismatch throws).
    const broken = faulty(db, (sql) => poison && sql.includes('INSERT INTO resource'), () => codeError('42703', 'column "content" does not exist'));
    const mllp = await startMllpIngest(broken, 0);
    t.after(() => mllp.close());
    const [r] = await sendMllp('127.0.0.1', mllp.port, [admission(1)], { retryDelayMs: 5, maxRetries: 3 });
    assert.equal(r!.code, 'AE');
    assert.match(r!.text ?? '', /^could not be stored: column "content" does not exist \(SQLSTATE 42703\); kept for repair/);
    assert.equal(mllp.counters.received, 1, 'an AE is not resent');
    const q = await db.query<{ message_id: string; source_system: string; reason: string; raw: string }>('SELECT message_id, source_system, reason, raw FROM quarantine');
    assert.equal(q.rows.length, 1);
    assert.deepEqual({ ...q.rows[0], raw: q.rows[0]!.raw.slice(0, 3) }, { message_id: 'MLLP0001', source_system: 'hl7:RM2', reason: r!.text, raw: 'MSH' });
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_message')).rows[0]!.n, 0);
    poison = false;
    assert.deepEqual(await sendMllp('127.0.0.1', mllp.port, [admission(2)], { maxRetries: 0 }), [{ code: 'AA' }]);
  });

  test(`MLLP ingest on ${target.name}: a full disk, too many connections or a lost race is AR (a resend can succeed)`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const errors = [codeError('53100', 'could not extend file: No space left on device'), codeError('53300', 'sorry, too many clients already'), codeError('40001', 'could not serialize access')];
    let next = 0;
    const busy = faulty(db, (sql) => next < errors.length && sql.includes('INSERT INTO resource'), () => errors[next++]);
    const mllp = await startMllpIngest(busy, 0);
    t.after(() => mllp.close());
    const [r] = await sendMllp('127.0.0.1', mllp.port, [admission(3)], { retryDelayMs: 5, maxRetries: 10 });
    assert.deepEqual(r, { code: 'AA' });
    // 53100 and 53300 came back as AR; the writer retried the serialization failure itself.
    assert.equal(mllp.counters.byOutcome.unavailable, 2);
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM quarantine')).rows[0]!.n, 0);
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_message')).rows[0]!.n, 1);
  });

  test(`MLLP ingest on ${target.name}: a message the database refuses (an 8,000-character MSH-10) is AE with the reason and kept`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const mllp = await startMllpIngest(db, 0);
    t.after(() => mllp.close());
    // Random, so that the index cannot compress it below its 2,704-byte limit.
    const longId = randomBytes(6000).toString('base64');
    const message = admission(4).replace('MLLP0004', longId);
    const [r] = await sendMllp('127.0.0.1', mllp.port, [message], { retryDelayMs: 5, maxRetries: 3 });
    assert.equal(r!.code, 'AE');
    assert.equal(mllp.counters.received, 1);
    const q = await db.query<{ reason: string; raw: string }>('SELECT reason, raw FROM quarantine');
    assert.equal(q.rows.length, 1);
    assert.ok(q.rows[0]!.raw.includes(longId));
    assert.equal(r!.text, q.rows[0]!.reason.slice(0, 500));
    assert.deepEqual(await sendMllp('127.0.0.1', mllp.port, [admission(5)], { maxRetries: 0 }), [{ code: 'AA' }]);
  });

  test(`MLLP ingest on ${target.name}: an oversize message is kept with its MSH-10 and head; a junk flood writes a bounded number of rows`, async (t) => {
    const db = await target.open();
    t.after(() => db.drop());
    const mllp = await startMllpIngest(db, 0, '127.0.0.1', { maxMessageBytes: 4096, junkBudget: { burst: 5, perMinute: 1 } });
    const big = admission(6) + Array.from({ length: 200 }, (_, i) => `NTE|${i}||${'z'.repeat(70)}`).join('\r') + '\r';
    const [r] = await sendMllp('127.0.0.1', mllp.port, [big], { maxRetries: 0 });
    assert.equal(r!.code, 'AE');
    const q = await db.query<{ message_id: string; reason: string; raw: string }>('SELECT message_id, reason, raw FROM quarantine');
    assert.equal(q.rows[0]!.message_id, 'MLLP0006');
    assert.match(q.rows[0]!.reason, /larger than the 4096 byte limit/);
    assert.ok(q.rows[0]!.raw.startsWith('MSH|'));
    const junk = Array.from({ length: 60 }, (_, i) => `not HL7 at all ${i} ${'#'.repeat(i)}`);
    const acks = await sendMllp('127.0.0.1', mllp.port, junk, { maxRetries: 0 });
    assert.ok(acks.every((a) => a.code === 'AE'));
    await mllp.close();
    // 1 oversize + 4 junk within the budget of 5, then one row summing up the other 56.
    const rows = await db.query<{ reason: string }>('SELECT reason FROM quarantine ORDER BY quarantine_id');
    assert.equal(rows.rows.length, 6);
    assert.match(rows.rows[5]!.reason, /^56 more unreadable MLLP frames from 127\.0\.0\.1/);
  });
}
