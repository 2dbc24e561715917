/**
 * Runs a bulk export job one batch of people at a time, each batch one transaction: read the
 * next page of people (keyset), gather their access facts, ask the decision point for each
 * (access/policy.ts `decide`, with the export's scope), read the permitted people's resources a
 * page at a time, drop what the obligations withhold, present the rest as the record does,
 * append it to the output files as chunks, move the job's cursor and renew its lease, and write
 * the audit rows (one per person exported or excluded, in one batch statement) — all committed
 * together, so a crash loses at most the batch in hand and the job resumes from its cursor.
 */
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { gatherAccessFacts, type PersonKey } from '../../access/facts-store.ts';
import { decide, visibleUnder, type Decision, type ExportScope, type Policy } from '../../access/policy.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { presentResource } from '../../record/fhir-bundle.ts';
import type { PracticeRow } from '../../record/rows.ts';
import { allPractices, countPeople, identitiesOf, membersOf, peoplePage, referencePage, resourcesPage, sourcePatientsOf, type PeopleScope, type ReferenceKey, type ResourceKey } from './export-store.ts';
import { advanceJob, appendChunks, filesOf, finishJob, insertFile, lockJob, openFiles, type ExportJob } from './job-store.ts';
import { PERSON_TYPES, REFERENCE_TYPES, typesOf } from './params.ts';
import { addSubjectKey, ChunkWriter, demographicsChangedAt, exportedPatient, patientKeysOf } from './present.ts';

export interface RunOptions {
  /** This server's name in leases. */
  serverId: string;
  /** How long a lease lasts without renewal (each batch renews it). */
  leaseMs: number;
  /** People weighed per batch (one transaction). */
  batchPeople: number;
  /** Resource rows read per query. */
  pageRows: number;
  /** A file is closed once it holds this many resources. */
  maxFileResources: number;
  /** Chunks are cut at about this many characters. */
  chunkBytes: number;
  /** How long a finished job's files are kept. */
  retentionMs: number;
  policy: () => Policy | null;
  clock: () => Date;
}

export const RUN_DEFAULTS = {
  leaseMs: 60_000,
  batchPeople: 100,
  pageRows: 5000,
  maxFileResources: 100_000,
  chunkBytes: 4 << 20,
  retentionMs: 24 * 3_600_000,
} as const;

export type BatchOutcome = 'more' | 'complete' | 'failed' | 'lost';

/** The audit entry of the job's user (the export acts for them, on whichever server runs it). */
export function jobEntry(job: ExportJob, e: Partial<AuditEntry> & { action: string }): AuditEntry {
  const p = job.principal;
  return { actor: p.user, role: p.role, organisation: p.organisation, purpose: job.purpose, from: job.from, ...e };
}

export function scopeOf(job: Pick<ExportJob, 'level' | 'group'>): ExportScope {
  return { level: job.level, group: job.group };
}

/** Runs the next batch of a job this server holds. */
export async function runBatch(db: Database, jobId: string, o: RunOptions): Promise<BatchOutcome> {
  return db.transaction(async (tx) => {
    // The row lock keeps a cancel (DELETE) or a second server from changing the job mid-batch.
    const job = await lockJob(tx, jobId);
    if (!job || job.status !== 'running' || job.leaseOwner !== o.serverId) return 'lost';
    const now = o.clock();
    const policy = o.policy();
    const gate = decide(policy, { action: 'export', principal: job.principal, purpose: job.purpose, facts: null, export: scopeOf(job), now });
    if (gate.kind === 'deny') {
      await finishJob(tx, job.jobId, o.serverId, { status: 'failed', error: `access withdrawn: ${gate.reason}`, retentionMs: o.retentionMs });
      await appendAuditBatch(tx, [jobEntry(job, { action: 'export.complete', decision: 'deny', reason: gate.reason, detail: { job: job.jobId, status: 'failed' } })], now);
      return 'failed';
    }
    const wanted = job.types ?? typesOf(job.level);
    const { open, maxFileNo } = await openFiles(tx, job.jobId);
    const writer = new ChunkWriter(open, maxFileNo, o);
    const write = async () => {
      const { files, chunks } = writer.take();
      for (const f of files) await insertFile(tx, job.jobId, f.fileNo, f.resourceType, f.firstPerson);
      await appendChunks(tx, job.jobId, chunks);
    };

    if (job.phase === 'people') {
      const scope: PeopleScope = { group: job.level === 'group' ? job.group : null, before: job.transactionTime };
      const people = await peoplePage(tx, scope, job.cursorPerson, o.batchPeople);
      const total = job.peopleTotal ?? (await countPeople(tx, scope));
      if (people.length) {
        const result = await exportPeople(tx, job, policy!, people, wanted, writer, write, o, now);
        writer.flush();
        await write();
        const moved = await advanceJob(tx, job.jobId, o.serverId, o.leaseMs, {
          phase: 'people', cursorPerson: people[people.length - 1]!.person_id, cursorReference: null, peopleTotal: total,
          addDone: people.length, addExported: result.exported, addExcluded: result.excluded,
        });
        if (!moved) throw new LeaseLost();
        // Last, so the chain heads are locked only for the commit.
        await appendAuditBatch(tx, result.audit, now);
        return 'more';
      }
      const references = job.level === 'system' ? wanted.filter((t) => (REFERENCE_TYPES as readonly string[]).includes(t)) : [];
      if (references.length) {
        if (!(await advanceJob(tx, job.jobId, o.serverId, o.leaseMs, { phase: 'reference', cursorPerson: job.cursorPerson, cursorReference: null, peopleTotal: total, addDone: 0, addExported: 0, addExcluded: 0 }))) throw new LeaseLost();
        return 'more';
      }
    } else if (job.phase === 'reference') {
      const types = wanted.filter((t) => (REFERENCE_TYPES as readonly string[]).includes(t));
      const rows = await referencePage(tx, { types, since: job.since, before: job.transactionTime }, job.cursorReference, o.pageRows);
      for (const r of rows) writer.add(r.resource_type, null, JSON.stringify(presentResource(r, null, new Set())));
      writer.flush();
      await write();
      if (rows.length === o.pageRows) {
        const last = rows[rows.length - 1]!;
        const cursor: ReferenceKey = [last.source_system, last.resource_type, last.source_id];
        if (!(await advanceJob(tx, job.jobId, o.serverId, o.leaseMs, { phase: 'reference', cursorPerson: job.cursorPerson, cursorReference: cursor, peopleTotal: null, addDone: 0, addExported: 0, addExcluded: 0 }))) throw new LeaseLost();
        return 'more';
      }
    }

    // Done: close the files, mark the job complete, audit the completion with what was written.
    const files = await filesOf(tx, job.jobId);
    const byType: Record<string, number> = {};
    for (const f of files) byType[f.resourceType] = (byType[f.resourceType] ?? 0) + f.resources;
    if (!(await finishJob(tx, job.jobId, o.serverId, { status: 'complete', retentionMs: o.retentionMs }))) throw new LeaseLost();
    const fresh = await lockJob(tx, job.jobId);
    await appendAuditBatch(tx, [jobEntry(job, {
      action: 'export.complete', decision: 'permit', reason: gate.reason,
      detail: { job: job.jobId, level: job.level, group: job.group, files: files.length, resources: byType, people: { weighed: fresh?.peopleDone ?? null, exported: fresh?.peopleExported ?? null, excluded: fresh?.peopleExcluded ?? null } },
    })], now);
    return 'complete';
  });
}

/** Thrown inside a batch whose job was cancelled or taken over: the transaction rolls back. */
export class LeaseLost extends Error {
  constructor() {
    super('the export job was cancelled or taken over by another server');
  }
}

/** Decides, reads, presents and writes one page of people; returns the audit entries and counts. */
async function exportPeople(
  tx: Queryable,
  job: ExportJob,
  policy: Policy,
  people: Awaited<ReturnType<typeof peoplePage>>,
  wanted: string[],
  writer: ChunkWriter,
  write: () => Promise<void>,
  o: RunOptions,
  now: Date,
): Promise<{ audit: AuditEntry[]; exported: number; excluded: number }> {
  const members = await membersOf(tx, people.map((p) => p.person_id));
  const keys: PersonKey[] = people.map((p) => ({ personId: p.person_id, nhsNumber: p.nhs_number, memberIds: members.get(p.person_id) ?? [p.person_id] }));
  const facts = await gatherAccessFacts(tx, policy, job.principal, keys, now);
  const scope = scopeOf(job);
  const audit: AuditEntry[] = [];
  const permitted = new Map<string, { decision: Extract<Decision, { kind: 'permit' }>; counts: Record<string, number>; withheld: number; keys: Set<string> }>();
  let excluded = 0;
  for (const p of people) {
    const f = facts.get(p.person_id) ?? null;
    // A group's members are the people registered at its practice now (the registered-practice fact).
    if (job.level === 'group' && !(f?.registeredPractices.includes(job.group ?? ''))) continue;
    const d = decide(policy, { action: 'export', principal: job.principal, purpose: job.purpose, facts: f, export: scope, now });
    if (d.kind === 'deny') {
      excluded++;
      audit.push(jobEntry(job, { action: 'record.export', personId: p.person_id, decision: 'deny', reason: d.reason, detail: { job: job.jobId } }));
      continue;
    }
    permitted.set(p.person_id, { decision: d, counts: {}, withheld: 0, keys: new Set() });
  }
  const ownerOf = new Map<string, string>();
  for (const id of permitted.keys()) for (const m of members.get(id) ?? [id]) ownerOf.set(m, id);
  const memberIds = [...ownerOf.keys()];

  if (memberIds.length) {
    const identities = await identitiesOf(tx, memberIds);
    const sourcePatients = await sourcePatientsOf(tx, memberIds, job.transactionTime);
    const identitiesOfPerson = groupBy(identities, (i) => ownerOf.get(i.person_id));
    const patientsOfPerson = groupBy(sourcePatients, (s) => ownerOf.get(s.person_id));
    const practices: PracticeRow[] = wanted.includes('Patient') ? await allPractices(tx) : [];
    const personById = new Map(people.map((p) => [p.person_id, p]));
    for (const [personId, state] of permitted) {
      const ids = identitiesOfPerson.get(personId) ?? [];
      // Source Patients from another organisation are not linked when the person dissents from sharing.
      const shown = (patientsOfPerson.get(personId) ?? []).filter((s) => visibleUnder(policy, { ...state.decision.obligations, withholdCategories: [] }, { source_system: s.source_system, content: null }));
      state.keys = patientKeysOf(ids, patientsOfPerson.get(personId) ?? []);
      if (!wanted.includes('Patient')) continue;
      const changed = demographicsChangedAt(ids);
      if (job.since && !(changed && changed > job.since)) continue;
      writer.add('Patient', personId, JSON.stringify(exportedPatient(personById.get(personId)!, ids, practices, shown, now)));
      state.counts.Patient = 1;
    }
    const types = wanted.filter((t) => t !== 'Patient' && (PERSON_TYPES as readonly string[]).includes(t));
    let after: ResourceKey | null = null;
    for (;;) {
      const rows = await resourcesPage(tx, memberIds, { types, since: job.since, before: job.transactionTime }, after, o.pageRows);
      for (const r of rows) {
        const owner = ownerOf.get(r.person_id ?? '');
        const state = owner ? permitted.get(owner) : undefined;
        if (!owner || !state) continue;
        if (!visibleUnder(policy, state.decision.obligations, r)) {
          state.withheld++;
          continue;
        }
        addSubjectKey(state.keys, r.source_system, r.subject_id);
        writer.add(r.resource_type, owner, JSON.stringify(presentResource(r, owner, state.keys)));
        state.counts[r.resource_type] = (state.counts[r.resource_type] ?? 0) + 1;
      }
      await write();
      if (rows.length < o.pageRows) break;
      const last = rows[rows.length - 1]!;
      after = [last.person_id!, last.resource_type, last.source_system, last.source_id];
    }
  }
  let exported = 0;
  for (const [personId, state] of permitted) {
    const items = Object.values(state.counts).reduce((a, b) => a + b, 0);
    if (!items && !state.withheld) continue; // nothing of theirs in this export (_type, _since)
    if (items) exported++;
    audit.push(jobEntry(job, {
      action: 'record.export', personId, decision: 'permit', reason: state.decision.reason,
      detail: { job: job.jobId, level: job.level, ...(job.group ? { group: job.group } : {}), resources: state.counts, withheld: state.withheld },
    }));
  }
  return { audit, exported, excluded };
}

function groupBy<T>(items: readonly T[], key: (t: T) => string | undefined): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k === undefined) continue;
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
