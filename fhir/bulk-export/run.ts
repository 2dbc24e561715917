/**
 * Runs a bulk export job's slices (ranges of people, and the reference data) one batch at a
 * time, each batch one transaction: read the slice's next page of people (keyset), gather their access facts, ask the decision point for each
 * (access/policy.ts `decide`, with the export's scope), read the permitted people's resources a
 * page at a time, drop what the obligations withhold, present the rest as the record does
 * (pseudonymised when the obligations say so: secondary use by a role without identifiable access),
 * append it to the output files as chunks, move the job's cursor and renew its lease, and write
 * the audit rows (one per person exported or excluded, in one batch statement) — all committed
 * together, so a crash loses at most the batch in hand and the slice resumes from its cursor.
 * The batch that finishes the last slice completes the job.
 */
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { isBevanError } from '../../access/context.ts';
import { gatherAccessFacts, type PersonKey } from '../../access/facts-store.ts';
import { decide, parseGroupId, visibleUnder, type Decision, type ExportScope, type Policy } from '../../access/policy.ts';
import { pseudonymFor, pseudonymiseResource, type Pseudonym } from '../../access/pseudonymise.ts';
import { pseudonymKey, SECONDARY_USE_KEY } from '../../analytics/cohorts/pseudonym.ts';
import type { Resource } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../../db/database.ts';
import { tagCareSettings } from '../../record/care-setting.ts';
import { presentResource } from '../../record/fhir-bundle.ts';
import { OrganisationDirectory } from '../../record/organisations.ts';
import { defaultReferenceData } from '../../record/reference/reference-data.ts';
import type { PracticeRow } from '../../record/rows.ts';
import type { CohortMembers } from './cohort-members.ts';
import { allPractices, identitiesOf, membersOf, peoplePage, referencePage, resourcesPage, sourcePatientsOf, type PeopleScope, type ResourceKey } from './export-store.ts';
import { advanceSlice, appendChunks, filesOf, finishJob, holdJob, insertFile, lockJob, lockSlice, openFiles, slicesLeft, slicesOf, type ExportJob, type SliceProgress } from './job-store.ts';
import { REFERENCE_TYPES } from './params.ts';
import { addSubjectKey, ChunkWriter, demographicsChangedAt, exportedPatient, patientKeysOf } from './present.ts';
import { TypeFilters } from './type-filter.ts';
import { ScopeNarrowing } from '../scope-narrowing.ts';
import { ExportElements } from './elements.ts';

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
  /** The people of a cohort's Group (`Group/cohort-<register>`); without it such a job fails. */
  cohorts?: CohortMembers;
}

export const RUN_DEFAULTS = {
  leaseMs: 60_000,
  batchPeople: 100,
  pageRows: 5000,
  maxFileResources: 100_000,
  chunkBytes: 4 << 20,
  retentionMs: 24 * 3_600_000,
} as const;

/** more: call again; complete: the slice is done; failed: the job failed; lost: cancelled, or another server has the slice. */
export type BatchOutcome = 'more' | 'complete' | 'failed' | 'lost';

/** The audit entry of the job's user (the export acts for them, on whichever server runs it). */
export function jobEntry(job: ExportJob, e: Partial<AuditEntry> & { action: string }): AuditEntry {
  const p = job.principal;
  return { actor: p.user, role: p.role, organisation: p.organisation, purpose: job.purpose, from: job.from, ...e };
}

export function scopeOf(job: Pick<ExportJob, 'level' | 'group'>): ExportScope {
  return { level: job.level, group: job.group };
}

/** Runs the next batch of a slice this server holds. */
export async function runBatch(db: Database, jobId: string, sliceNo: number, o: RunOptions): Promise<BatchOutcome> {
  return db.transaction(async (tx) => {
    // The job's row is held against a cancel (DELETE waits for the batch), not against the other slices' batches.
    const job = await holdJob(tx, jobId);
    const slice = job && (await lockSlice(tx, jobId, sliceNo));
    if (!job || !slice || (job.status !== 'running' && job.status !== 'queued') || slice.status !== 'running' || slice.leaseOwner !== o.serverId) return 'lost';
    const now = o.clock();
    const policy = o.policy();
    const gate = decide(policy, { action: 'export', principal: job.principal, purpose: job.purpose, facts: null, export: scopeOf(job), now });
    if (gate.kind === 'deny') {
      if (await lockJob(tx, jobId) && (await finishJob(tx, jobId, { status: 'failed', error: `access withdrawn: ${gate.reason}`, retentionMs: o.retentionMs }))) {
        await appendAuditBatch(tx, [jobEntry(job, { action: 'export.complete', decision: 'deny', reason: gate.reason, detail: { job: jobId, status: 'failed' } })], now);
      }
      return 'failed';
    }
    // null: every type.
    const wanted = job.types;
    const { open, maxFileNo } = await openFiles(tx, jobId, sliceNo);
    const writer = new ChunkWriter(open, maxFileNo, o);
    const write = async () => {
      const { files, chunks } = writer.take();
      for (const f of files) await insertFile(tx, jobId, f.fileNo, f.resourceType, f.firstPerson);
      await appendChunks(tx, jobId, chunks);
    };
    let audit: AuditEntry[] = [];
    let progress: SliceProgress;
    if (slice.kind === 'people') {
      const ref = job.level === 'group' && job.group ? parseGroupId(job.group) : null;
      let ids: string[] | null = null;
      if (ref?.kind === 'cohort') {
        // The register is run again for each batch (as of the export's transaction time), decided for the job's user as a register run is.
        if (!o.cohorts) throw new Error(`Group/${job.group}: this server has no registers to resolve a cohort's members`);
        try {
          ids = await o.cohorts.members(tx, { principal: job.principal, purpose: job.purpose }, ref.register, new Date(job.transactionTime));
        } catch (err) {
          if (!(isBevanError(err) && err.kind === 'forbidden')) throw err;
          if (await lockJob(tx, jobId) && (await finishJob(tx, jobId, { status: 'failed', error: `access withdrawn: ${err.message}`, retentionMs: o.retentionMs }))) {
            await appendAuditBatch(tx, [jobEntry(job, { action: 'export.complete', decision: 'deny', reason: err.message, detail: { job: jobId, status: 'failed' } })], now);
          }
          return 'failed';
        }
      }
      // patient: only the people the kick-off named (within the cohort, for a cohort's Group).
      if (job.patientIds) ids = ids ? ids.filter((id) => job.patientIds!.includes(id)) : job.patientIds;
      const scope: PeopleScope = { group: ref?.kind === 'practice' ? ref.odsCode : null, ids, before: job.transactionTime, lo: slice.lo, hi: slice.hi };
      const people = await peoplePage(tx, scope, slice.cursorPerson, o.batchPeople);
      const result = people.length ? await exportPeople(tx, job, policy!, people, wanted, writer, write, o, now) : { audit: [], exported: 0, excluded: 0 };
      audit = result.audit;
      progress = {
        cursorPerson: people.at(-1)?.person_id ?? slice.cursorPerson, cursorReference: null,
        addDone: people.length, addExported: result.exported, addExcluded: result.excluded, done: people.length < o.batchPeople,
      };
    } else {
      const scopes = ScopeNarrowing.of(job.principal.scopes);
      const types = (wanted ?? REFERENCE_TYPES).filter((t) => (REFERENCE_TYPES as readonly string[]).includes(t) && (!scopes || scopes.allows(t)));
      const rows = await referencePage(tx, { types, since: job.since, before: job.transactionTime }, slice.cursorReference, o.pageRows);
      const elements = new ExportElements(job.elements);
      for (const r of rows) writer.add(r.resource_type, null, JSON.stringify(elements.apply(presentResource(r, null, new Set()))));
      const last = rows.at(-1);
      progress = { cursorPerson: null, cursorReference: last ? [last.source_system, last.resource_type, last.source_id] : slice.cursorReference, addDone: 0, addExported: 0, addExcluded: 0, done: rows.length < o.pageRows };
    }
    writer.flush();
    await write();
    if (!(await advanceSlice(tx, jobId, sliceNo, o.serverId, o.leaseMs, progress))) throw new LeaseLost();
    const outcome: BatchOutcome = progress.done ? 'complete' : 'more';
    if (progress.done) {
      // The last slice done completes the job: the job's row lock makes two slices finishing at once agree on which is last.
      await lockJob(tx, jobId);
      if ((await slicesLeft(tx, jobId)) === 0) {
        const files = await filesOf(tx, jobId);
        const slices = await slicesOf(tx, jobId);
        const byType: Record<string, number> = {};
        for (const f of files) byType[f.resourceType] = (byType[f.resourceType] ?? 0) + f.resources;
        const sum = (k: 'peopleDone' | 'peopleExported' | 'peopleExcluded') => slices.reduce((n, x) => n + x[k], 0);
        if (!(await finishJob(tx, jobId, { status: 'complete', retentionMs: o.retentionMs }))) throw new LeaseLost();
        audit.push(jobEntry(job, {
          action: 'export.complete', decision: 'permit', reason: gate.reason,
          detail: { job: jobId, level: job.level, group: job.group, files: files.length, resources: byType, people: { weighed: sum('peopleDone'), exported: sum('peopleExported'), excluded: sum('peopleExcluded') } },
        }));
      }
    }
    // Last, so the chain heads are locked only for the commit.
    await appendAuditBatch(tx, audit, now);
    return outcome;
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
  wanted: string[] | null,
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
    const ref = job.level === 'group' ? parseGroupId(job.group ?? '') : null;
    if (ref?.kind === 'practice' && !f?.registeredPractices.includes(ref.odsCode)) continue;
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
    const sourcePatients = await sourcePatientsOf(tx, memberIds);
    const identitiesOfPerson = groupBy(identities, (i) => ownerOf.get(i.person_id));
    const patientsOfPerson = groupBy(sourcePatients, (s) => ownerOf.get(s.person_id));
    // A backend client's token scopes, as every read applies them (fhir/scope-narrowing.ts): its types, and the narrowed types' queries.
    const scopes = ScopeNarrowing.of(job.principal.scopes);
    const withPatient = (wanted === null || wanted.includes('Patient')) && (!scopes || scopes.allows('Patient'));
    const practices: PracticeRow[] = await allPractices(tx);
    // Each item's care setting as a meta.tag, as $everything presents it (record/care-setting.ts).
    const directory = new OrganisationDirectory(defaultReferenceData(), practices);
    const personById = new Map(people.map((p) => [p.person_id, p]));
    // Secondary use without identifiable access: keyed pseudonyms, no direct identifiers (access/pseudonymise.ts),
    // under the key views and cohort lists use, so an export's people join a register's list.
    const pseudonym: Pseudonym | null = [...permitted.values()].some((x) => x.decision.obligations.pseudonymise) ? pseudonymFor(await pseudonymKey(tx, SECONDARY_USE_KEY)) : null;
    // _elements cut before pseudonymising (which then works on what is left).
    const elements = new ExportElements(job.elements);
    const handOn = <T extends Resource>(state: { decision: Extract<Decision, { kind: 'permit' }> }, r: T): T => {
      const cut = elements.apply(r);
      return state.decision.obligations.pseudonymise ? pseudonymiseResource(cut, pseudonym!) : cut;
    };
    // _typeFilter: matched on each resource as presented (dates against the export's transaction time).
    const filters = new TypeFilters(job.typeFilters);
    const filterNow = Date.parse(job.transactionTime);
    for (const [personId, state] of permitted) {
      const ids = identitiesOfPerson.get(personId) ?? [];
      // Source Patients from another organisation are not linked when the person dissents from sharing.
      const shown = (patientsOfPerson.get(personId) ?? []).filter((s) => visibleUnder(policy, { ...state.decision.obligations, withholdCategories: [] }, { source_system: s.source_system, content: null }));
      state.keys = patientKeysOf(ids, patientsOfPerson.get(personId) ?? []);
      if (!withPatient) continue;
      const changed = demographicsChangedAt(ids);
      if (job.since && !(changed && changed > job.since)) continue;
      writer.add('Patient', personId, JSON.stringify(handOn(state, exportedPatient(personById.get(personId)!, ids, practices, shown, now))));
      state.counts.Patient = 1;
    }
    // Reference data is never a person's; a source's own Patient is replaced by the merged one.
    const types = wanted === null ? null : wanted.filter((t) => t !== 'Patient' && !(REFERENCE_TYPES as readonly string[]).includes(t));
    let after: ResourceKey | null = null;
    for (;;) {
      const rows = await resourcesPage(tx, memberIds, { types, since: job.since, before: job.transactionTime }, after, o.pageRows);
      const shownRows: { owner: string; type: string; resource: ReturnType<typeof presentResource>; state: { decision: Extract<Decision, { kind: 'permit' }> } }[] = [];
      for (const r of rows) {
        const owner = ownerOf.get(r.person_id ?? '');
        const state = owner ? permitted.get(owner) : undefined;
        if (!owner || !state) continue;
        if (scopes && !scopes.allows(r.resource_type)) continue;
        if (!visibleUnder(policy, state.decision.obligations, r)) {
          state.withheld++;
          continue;
        }
        addSubjectKey(state.keys, r.source_system, r.subject_id);
        const resource = presentResource(r, owner, state.keys);
        if (!filters.empty && !filters.keeps(resource, filterNow)) continue;
        if (scopes?.narrows(r.resource_type) && !scopes.keeps(resource, filterNow)) continue;
        shownRows.push({ owner, type: r.resource_type, resource, state });
        state.counts[r.resource_type] = (state.counts[r.resource_type] ?? 0) + 1;
      }
      tagCareSettings(shownRows, directory);
      // Pseudonymised after the care setting is told (it reads the resource's organisations and source).
      for (const x of shownRows) writer.add(x.type, x.owner, JSON.stringify(handOn(x.state, x.resource)));
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
      detail: { job: job.jobId, level: job.level, ...(job.group ? { group: job.group } : {}), resources: state.counts, withheld: state.withheld, ...(state.decision.obligations.pseudonymise ? { pseudonymised: true } : {}) },
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
