import { test } from 'node:test';
import assert from 'node:assert/strict';
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
