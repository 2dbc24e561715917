import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyAuditChain } from '../../access/audit.ts';
import type { Principal } from '../../access/context.ts';
import { loadPolicy, type Policy } from '../../access/policy.ts';
import { pseudonymFor } from '../../access/pseudonymise.ts';
import { pseudonymKey } from '../../analytics/cohorts/pseudonym.ts';
import type { Database } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { claimSlice, findJob, nextChunk, slicesOf } from './job-store.ts';
import { runBatch, RUN_DEFAULTS, type RunOptions } from './run.ts';
import { BulkExportService, MAX_UNFINISHED_JOBS, TooManyExports } from './service.ts';
import { A, B, C, insertPeople } from './test-fixtures.ts';
import { ExportWorker } from './worker.ts';

const loaded = loadPolicy();
if (loaded.kind !== 'ok') throw new Error(loaded.problems.join('; '));
const policy: Policy = loaded.policy;
const ANALYST: Principal = { user: 'ann', role: 'analyst', organisation: null };

function service(db: Database, principal: Principal = ANALYST, p: Policy | null = policy) {
  return new BulkExportService({ principal, purpose: 'secondary-use', from: '127.0.0.1', db }, p, undefined, { slices: 2 });
}
const kickOff = (s: BulkExportService, parameters: Record<string, string[]> = {}) =>
  s.kickOff({ scope: { level: 'system' }, parameters, lenient: false, requestUrl: 'http://localhost/fhir/$export', protocolProblems: [] });
const run = (serverId: string, over: Partial<RunOptions> = {}): RunOptions => ({ ...RUN_DEFAULTS, serverId, batchPeople: 1, pageRows: 2, chunkBytes: 300, maxFileResources: 3, policy: () => policy, clock: () => new Date(), ...over });

/** The Patient ids in a complete job's Patient files, read chunk by chunk as a download does. */
async function exportedPatients(db: Database, jobId: string): Promise<string[]> {
  const files = await db.query<{ file_no: number }>(`SELECT file_no FROM export_file WHERE job_id = $1 AND resource_type = 'Patient' ORDER BY file_no`, [jobId]);
  const ids: string[] = [];
  for (const f of files.rows) {
    for (let seq = 0; ; ) {
      const c = await nextChunk(db, jobId, f.file_no, seq);
      if (!c) break;
      seq = c.seq;
      for (const line of c.ndjson.trimEnd().split('\n')) ids.push((JSON.parse(line) as { id: string }).id);
    }
  }
  return ids.sort();
}

for (const target of await testDatabases()) {
  test(`bulk export jobs on ${target.name}: a dead server's slice is taken over and finished once; abandoned, cancelled, withdrawn, several servers`, async () => {
    const db = await target.open();
    try {
      await insertPeople(db);
      // The analyst's export is pseudonymised: each person's Patient carries their keyed pseudonym.
      const everyone = [A, B, C].map(pseudonymFor(await pseudonymKey(db))).sort();

      // A server takes a job, commits one batch, then dies (its lease runs out): another finishes it, nobody twice.
      const { jobId } = await kickOff(service(db));
      const claimed = await claimSlice(db, 'dead-server', 1);
      assert.deepEqual([claimed?.jobId, claimed?.sliceNo], [jobId, 1]);
      assert.equal(await runBatch(db, jobId, 1, run('dead-server', { leaseMs: 1 })), 'more');
      await new Promise((r) => setTimeout(r, 20));
      const alive = new ExportWorker(db, { ...run('alive'), pollMs: 10 });
      assert.equal(await alive.drain(), 3, 'both slices of people and the reference data');
      const done = await findJob(db, jobId);
      assert.equal(done?.status, 'complete');
      assert.deepEqual((await slicesOf(db, jobId)).map((x) => [x.status, x.attempts]), [['done', 2], ['done', 1], ['done', 1]]);
      assert.deepEqual(await exportedPatients(db, jobId), everyone, 'each person once, though two servers worked on it');
      const st = await service(db).status(jobId);
      assert.equal(st.kind, 'complete');

      // A resource that changes after the kick-off is exported as it was at the transaction time (resource history).
      const asOf = (await kickOff(service(db))).jobId;
      await new Promise((r) => setTimeout(r, 5));
      await db.query(`UPDATE resource SET content = jsonb_set(content, '{code,text}', '"weight (corrected)"'), content_hash = 'h-obs-b-2', received_at = now()
                        WHERE source_system = 'gp:P91001' AND resource_type = 'Observation' AND source_id = 'obs-b'`);
      await new ExportWorker(db, run('alive')).drain();
      const obsFiles = await db.query<{ ndjson: string }>(`SELECT c.ndjson FROM export_chunk c JOIN export_file f USING (job_id, file_no) WHERE c.job_id = $1 AND f.resource_type = 'Observation'`, [asOf]);
      const obs = obsFiles.rows.flatMap((c) => c.ndjson.trimEnd().split('\n').map((l) => JSON.parse(l) as { code?: { text?: string }; meta: { versionId: string } }));
      const b = obs.filter((o) => o.code?.text?.startsWith('weight'));
      assert.deepEqual(b.map((o) => [o.code!.text, o.meta.versionId]), [['weight', '1']], 'the version current at the transaction time, once');
      // The next export has the new version.
      const after = (await kickOff(service(db))).jobId;
      await new ExportWorker(db, run('alive')).drain();
      const later = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_chunk WHERE job_id = $1 AND ndjson LIKE '%weight (corrected)%'`, [after]);
      assert.equal(later.rows[0]!.n, 1);

      // A job whose servers kept dying is failed, not retried for ever.
      const stuck = (await kickOff(service(db))).jobId;
      await db.query(`UPDATE export_slice SET status = 'running', lease_owner = 'gone', lease_expires_at = now() - interval '1 minute', attempts = 3 WHERE job_id = $1`, [stuck]);
      assert.equal(await new ExportWorker(db, { ...run('alive'), maxAttempts: 3, concurrency: 1 }).drain(), 1);
      const failed = await service(db).status(stuck);
      assert.equal(failed.kind, 'failed');
      assert.match(failed.kind === 'failed' ? failed.message : '', /abandoned/);
      const failAudit = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'export.complete' AND detail->>'job' = $1 AND detail->>'status' = 'failed'`, [stuck]);
      assert.equal(failAudit.rows[0]!.n, 1);

      // Cancelled between two batches: the running server's next batch finds it gone and writes nothing.
      const cancelled = (await kickOff(service(db))).jobId;
      assert.equal((await claimSlice(db, 'w1', 60_000))?.jobId, cancelled);
      assert.equal(await runBatch(db, cancelled, 1, run('w1')), 'more');
      await service(db).cancel(cancelled);
      assert.equal(await runBatch(db, cancelled, 1, run('w1')), 'lost');
      const left = await db.query<{ n: number }>(`SELECT (SELECT count(*) FROM export_chunk WHERE job_id = $1) + (SELECT count(*) FROM export_job WHERE job_id = $1) AS n`, [cancelled]);
      assert.equal(Number(left.rows[0]!.n), 0);
      await assert.rejects(service(db).status(cancelled), /no export of yours/);

      // The policy withdraws the role's export while the job waits: it fails, nothing is exported.
      const withdrawn = (await kickOff(service(db))).jobId;
      const strict = { ...policy, roles: { ...policy.roles, analyst: { ...policy.roles.analyst!, bulkExport: undefined } } } as Policy;
      await new ExportWorker(db, { ...run('alive'), policy: () => strict }).drain();
      const w = await service(db).status(withdrawn);
      assert.equal(w.kind, 'failed');
      assert.match(w.kind === 'failed' ? w.message : '', /access withdrawn: role analyst may not use bulk export/);

      // Several servers on one database take different jobs (SKIP LOCKED) and each job is done once.
      const users: Principal[] = ['u1', 'u2', 'u3'].map((user) => ({ user, role: 'analyst', organisation: null }));
      const jobs = await Promise.all(users.map((u) => kickOff(service(db, u))));
      const workers = ['s1', 's2'].map((id) => new ExportWorker(db, { ...run(id), pollMs: 10 }));
      const counts = await Promise.all(workers.map((w) => w.drain()));
      assert.equal(counts[0]! + counts[1]!, 9, 'three jobs of three slices, each slice run once');
      for (const j of jobs) {
        assert.equal((await findJob(db, j.jobId))?.status, 'complete');
        assert.deepEqual(await exportedPatients(db, j.jobId), everyone);
      }

      // At most MAX_UNFINISHED_JOBS waiting exports per user.
      const busy = service(db, { user: 'busy', role: 'analyst', organisation: null });
      for (let i = 0; i < MAX_UNFINISHED_JOBS; i++) await kickOff(busy);
      await assert.rejects(kickOff(busy), (err) => err instanceof TooManyExports);

      // A worker started in the background runs what is waiting, and stops cleanly.
      const bg = new ExportWorker(db, { ...run('bg'), pollMs: 10 });
      bg.start();
      bg.nudge();
      for (let i = 0; i < 500; i++) {
        const n = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_job WHERE username = 'busy' AND status <> 'complete'`);
        if (n.rows[0]!.n === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await bg.stop();
      const waiting = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM export_job WHERE username = 'busy' AND status <> 'complete'`);
      assert.equal(waiting.rows[0]!.n, 0);

      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await db.drop();
    }
  });
}
