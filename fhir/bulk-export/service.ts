/**
 * Bulk Data `$export` for one request's user (https://hl7.org/fhir/uv/bulkdata/STU2/export.html):
 * kick-off, status and manifest, cancel, and file download. The kick-off is decided by
 * access/policy.ts `decide` (the export gate) and audited in the same transaction as the job it
 * creates; the people are decided one by one when the job runs (run.ts); each download is
 * audited before a byte is sent. Only the user who started an export may poll, cancel or
 * download it (the manifest says requiresAccessToken: true). Files are read from the database
 * a chunk at a time: never a path on disk, so a file name can only name a file of the job.
 */
import { randomUUID } from 'node:crypto';
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { BevanError, forbidden, invalid, notFound, type Principal, type PurposeOfUse, type Role } from '../../access/context.ts';
import { decide, parseGroupId, type ExportScope, type Policy } from '../../access/policy.ts';
import type { CohortMembers } from './cohort-members.ts';
import type { Database } from '../../db/database.ts';
import { ODS_SYSTEM } from '../../record/fhir-bundle.ts';
import { allPractices, countPeople, findPractice, resolvePatients } from './export-store.ts';
import { appendChunks, deleteJob, filesOf, findFile, findJob, insertFile, insertJob, lockJobForDelete, nextChunk, slicesOf, unfinishedJobs, type ExportFile, type ExportJob } from './job-store.ts';
import { parseExportParameters, wantsReference } from './params.ts';

/** The most exports one user may have queued or running at once. */
export const MAX_UNFINISHED_JOBS = 3;

/** A file's name in its URL: `<type>.<number>.ndjson`. Anything else is not a file of an export. */
export const FILE_NAME = /^([A-Z][A-Za-z]{1,63})\.([1-9]\d{0,5})\.ndjson$/;

export interface ExportRequester {
  principal: Principal;
  purpose: PurposeOfUse;
  from: string;
  db: Database;
}

export interface KickOff {
  scope: ExportScope;
  /** Parameters by name, each with every value given (query string and Parameters body). */
  parameters: Record<string, string[]>;
  /** Prefer: handling=lenient. */
  lenient: boolean;
  /** The kick-off URL, for the manifest's `request`. */
  requestUrl: string;
  /** What the HTTP layer found wrong with the request itself (Prefer, Accept). */
  protocolProblems: string[];
}

/** Too many exports at once: HTTP 429. */
export class TooManyExports extends BevanError {
  constructor(message: string) {
    super('conflict', message);
  }
}

export type ExportStatus =
  | { kind: 'in-progress'; progress: string; retryAfterSeconds: number }
  | { kind: 'complete'; job: ExportJob; files: ExportFile[] }
  | { kind: 'failed'; message: string };

/** The manifest of a complete export (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status). */
export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: true;
  output: { type: string; url: string; count: number }[];
  error: { type: 'OperationOutcome'; url: string; count: number }[];
}

/** The purpose of use of an export when the client names none: the one the policy gives the role's bulk export, if it gives one. */
export function defaultExportPurpose(policy: Policy | null, role: Role): PurposeOfUse | null {
  const purposes = policy?.roles[role]?.bulkExport?.purposes ?? [];
  return purposes.length === 1 ? purposes[0]! : null;
}

/** The URL of one output file. */
export function fileUrl(base: string, jobId: string, f: Pick<ExportFile, 'resourceType' | 'fileNo'>): string {
  return `${base}/bulk-files/${jobId}/${f.resourceType}.${f.fileNo}.ndjson`;
}

/** The manifest of a complete job, its URLs under base (the FHIR base URL the client used). */
export function manifestOf(job: ExportJob, files: readonly ExportFile[], base: string): Manifest {
  return {
    transactionTime: job.transactionTime,
    request: job.requestUrl,
    requiresAccessToken: true,
    output: files.filter((f) => f.resourceType !== 'OperationOutcome' && f.resources > 0).map((f) => ({ type: f.resourceType, url: fileUrl(base, job.jobId, f), count: f.resources })),
    error: files.filter((f) => f.resourceType === 'OperationOutcome' && f.resources > 0).map((f) => ({ type: 'OperationOutcome' as const, url: fileUrl(base, job.jobId, f), count: f.resources })),
  };
}

/** Slices of people a job is cut into (servers and the slots of each work on different slices at once). */
export const DEFAULT_SLICES = 8;

export class BulkExportService {
  constructor(
    private readonly ctx: ExportRequester,
    private readonly policy: Policy | null,
    private readonly clock: () => Date = () => new Date(),
    private readonly o: { slices?: number; cohorts?: CohortMembers } = {},
  ) {}

  /** Kick-off: decides, checks the request, creates the job; the job id, for the status URL. */
  async kickOff(k: KickOff): Promise<{ jobId: string }> {
    const now = this.clock();
    const { principal, purpose } = this.ctx;
    const out = await this.ctx.db.transaction(async (tx) => {
      const detail = { level: k.scope.level, ...(k.scope.group ? { group: k.scope.group } : {}), request: k.requestUrl };
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'export.kick-off', detail, ...over });
      const gate = decide(this.policy, { action: 'export', principal, purpose, facts: null, export: k.scope, now });
      if (gate.kind === 'deny') {
        await appendAuditBatch(tx, [audit({ decision: 'deny', reason: gate.reason })], now);
        return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
      }
      const parsed = parseExportParameters(k.parameters, k.scope.level, k.lenient);
      const problems = [...k.protocolProblems, ...(parsed.kind === 'invalid' ? parsed.problems : [])];
      if (problems.length || parsed.kind === 'invalid') {
        await appendAuditBatch(tx, [audit({ reason: `refused: ${problems.join('; ')}` })], now);
        return { kind: 'invalid' as const, problems };
      }
      const ref = k.scope.level === 'group' ? parseGroupId(k.scope.group ?? '') : null;
      if (ref?.kind === 'practice' && !(await findPractice(tx, ref.odsCode))) {
        await appendAuditBatch(tx, [audit({ reason: 'no such group' })], now);
        return { kind: 'not-found' as const, message: `Group/${k.scope.group} is not known: a Group is a GP practice (practice-<ODS code>, or the ODS code) or a register (cohort-<name>)` };
      }
      let cohortIds: string[] | null = null;
      if (ref?.kind === 'cohort') {
        if (!this.o.cohorts?.has(ref.register)) {
          await appendAuditBatch(tx, [audit({ reason: 'no such group' })], now);
          return { kind: 'not-found' as const, message: `Group/${k.scope.group} is not known: no register "${ref.register}" (GET /fhir/Group lists the Groups)` };
        }
        try {
          // The register run is decided as any register run: refused, the export is refused.
          cohortIds = await this.o.cohorts.members(tx, { principal, purpose }, ref.register, now);
        } catch (err) {
          if (!(err instanceof BevanError && err.kind === 'forbidden')) throw err;
          await appendAuditBatch(tx, [audit({ decision: 'deny', reason: err.message })], now);
          return { kind: 'forbidden' as const, message: `access denied: ${err.message}` };
        }
      }
      if ((await unfinishedJobs(tx, principal.user)) >= MAX_UNFINISHED_JOBS) {
        await appendAuditBatch(tx, [audit({ reason: `refused: ${MAX_UNFINISHED_JOBS} exports already in progress` })], now);
        return { kind: 'busy' as const, message: `you have ${MAX_UNFINISHED_JOBS} exports in progress already: wait for one to finish, or cancel one (DELETE its status URL)` };
      }
      const p = parsed.params;
      // patient: the people named, as they are now (merges followed); names of nobody go to the error file.
      let patientIds: string[] | null = null;
      let unknownPatients: string[] = [];
      if (p.patients.length) {
        const resolved = await resolvePatients(tx, p.patients);
        patientIds = cohortIds ? resolved.people.filter((id) => cohortIds!.includes(id)) : resolved.people;
        unknownPatients = resolved.unknown;
      }
      const peopleTotal = await countPeople(tx, { group: ref?.kind === 'practice' ? ref.odsCode : null, ids: patientIds ?? cohortIds, before: now.toISOString() });
      const job = await insertJob(tx, {
        jobId: randomUUID(), principal, purpose, from: this.ctx.from, level: k.scope.level, group: k.scope.group ?? null,
        types: p.types, typeFilters: p.typeFilters, elements: p.elements, patientIds, since: p.since, outputFormat: p.outputFormat, requestUrl: k.requestUrl, ignoredParameters: p.ignored,
      }, { peopleSlices: Math.max(1, Math.min(64, this.o.slices ?? DEFAULT_SLICES)), reference: wantsReference(p.types, k.scope.level), peopleTotal });
      if (p.ignored.length || unknownPatients.length) {
        // Parameters ignored (at the client's request, or a _typeFilter for a type outside _type), and patients named that
        // are not known, are reported in the manifest's error list.
        const issue = [
          ...(p.ignored.length ? [{ severity: 'information', code: 'not-supported', diagnostics: `ignored${k.lenient ? ' (Prefer: handling=lenient)' : ''}: ${p.ignored.join(', ')}` }] : []),
          ...unknownPatients.map((id) => ({ severity: 'warning', code: 'not-found', diagnostics: `patient: Patient/${id} is not known to this server (or was merged into nobody active): nothing of it is exported` })),
        ];
        const outcome = { resourceType: 'OperationOutcome', issue };
        await insertFile(tx, job.jobId, 1, 'OperationOutcome', null);
        await appendChunks(tx, job.jobId, [{ fileNo: 1, seq: 1, resources: 1, ndjson: `${JSON.stringify(outcome)}\n`, lastPerson: null, close: true }]);
      }
      await appendAuditBatch(tx, [audit({ decision: 'permit', reason: gate.reason, detail: { ...detail, job: job.jobId, types: p.types, ...(p.typeFilters.length ? { typeFilters: p.typeFilters } : {}), ...(p.elements.length ? { elements: p.elements } : {}), ...(p.patients.length ? { patients: p.patients } : {}), since: p.since, ignored: p.ignored } })], now);
      return { kind: 'ok' as const, jobId: job.jobId };
    });
    switch (out.kind) {
      case 'ok':
        return { jobId: out.jobId };
      case 'forbidden':
        throw forbidden(out.message);
      case 'invalid':
        throw invalid(out.problems[0]!, out.problems);
      case 'not-found':
        throw notFound(out.message);
      case 'busy':
        throw new TooManyExports(out.message);
    }
  }

  /** Status of one of the user's exports. */
  async status(jobId: string): Promise<ExportStatus> {
    const job = await findJob(this.ctx.db, jobId);
    if (!job || !this.owns(job)) throw notFound('no export of yours has that id (it may have been cancelled or have expired)');
    switch (job.status) {
      case 'queued':
        return { kind: 'in-progress', progress: 'queued', retryAfterSeconds: 2 };
      case 'running': {
        const slices = await slicesOf(this.ctx.db, jobId);
        const done = slices.reduce((n, x) => n + x.peopleDone, 0);
        const total = job.peopleTotal ?? 0;
        const pct = total ? Math.min(99, Math.floor((done / total) * 100)) : 0;
        const working = slices.filter((x) => x.status === 'running').length;
        return { kind: 'in-progress', progress: `${pct}%: ${done} of ${total} people weighed; ${slices.filter((x) => x.status === 'done').length} of ${slices.length} slices done, ${working} in progress`, retryAfterSeconds: 2 };
      }
      case 'complete':
        return { kind: 'complete', job, files: await filesOf(this.ctx.db, jobId) };
      case 'failed':
        return { kind: 'failed', message: job.error ?? 'the export failed' };
    }
  }

  /** Cancels an export (running or finished) and removes its files. */
  async cancel(jobId: string): Promise<void> {
    const now = this.clock();
    const attempt = () =>
      this.ctx.db.transaction(async (tx) => {
        // Waits for the batches in hand to commit; the workers then find the job gone and stop.
        const job = await lockJobForDelete(tx, jobId);
        if (!job || !this.owns(job)) return false;
        await deleteJob(tx, jobId);
        await appendAuditBatch(tx, [this.entry({ action: 'export.cancel', decision: 'permit', reason: `cancelled while ${job.status}`, detail: { job: jobId } })], now);
        return true;
      });
    let out = false;
    for (let i = 0; ; i++) {
      try {
        out = await attempt();
        break;
      } catch (err) {
        // A batch finishing its job at the same moment may deadlock with the delete: the database picks one; try again.
        if ((err as { code?: string }).code !== '40P01' || i >= 3) throw err;
      }
    }
    if (!out) throw notFound('no export of yours has that id (it may have been cancelled or have expired)');
  }

  /**
   * Opens one output file for download: audits it, then returns its chunks in order (read from
   * the database one at a time as the caller consumes them).
   */
  async openFile(jobId: string, fileName: string): Promise<{ file: ExportFile; chunks: AsyncIterable<string> }> {
    const now = this.clock();
    const m = FILE_NAME.exec(fileName);
    const db = this.ctx.db;
    const out = await db.transaction(async (tx) => {
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'export.download', detail: { job: jobId, file: m ? fileName : '(not a file name)' }, ...over });
      const job = await findJob(tx, jobId);
      if (!job || !this.owns(job) || !m) {
        await appendAuditBatch(tx, [audit({ decision: 'deny', reason: !job ? 'no such export' : !this.owns(job) ? "another user's export" : 'not a file name' })], now);
        return { kind: 'not-found' as const, message: 'no such file in an export of yours' };
      }
      if (job.status !== 'complete') {
        await appendAuditBatch(tx, [audit({ decision: 'deny', reason: `the export is ${job.status}` })], now);
        return { kind: 'not-found' as const, message: 'the export is not complete: poll its status URL for the manifest' };
      }
      // The policy may have changed since the kick-off: the user must still be allowed this export.
      const gate = decide(this.policy, { action: 'export', principal: this.ctx.principal, purpose: job.purpose, facts: null, export: { level: job.level, group: job.group }, now });
      if (gate.kind === 'deny') {
        await appendAuditBatch(tx, [audit({ decision: 'deny', reason: gate.reason })], now);
        return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
      }
      const file = await findFile(tx, jobId, Number(m[2]));
      if (!file || file.resourceType !== m[1]) {
        await appendAuditBatch(tx, [audit({ decision: 'deny', reason: 'no such file in the export' })], now);
        return { kind: 'not-found' as const, message: 'no such file in an export of yours' };
      }
      await appendAuditBatch(tx, [audit({ decision: 'permit', reason: gate.reason, detail: { job: jobId, file: fileName, type: file.resourceType, resources: file.resources } })], now);
      return { kind: 'ok' as const, file };
    });
    if (out.kind === 'not-found') throw notFound(out.message);
    if (out.kind === 'forbidden') throw forbidden(out.message);
    const file = out.file;
    async function* chunks(): AsyncGenerator<string> {
      for (let seq = 0; ; ) {
        const c = await nextChunk(db, jobId, file.fileNo, seq);
        if (!c) return;
        seq = c.seq;
        yield c.ndjson;
      }
    }
    return { file, chunks: chunks() };
  }

  private owns(job: ExportJob): boolean {
    return job.username === this.ctx.principal.user && job.principal.role === this.ctx.principal.role;
  }

  private entry(e: Partial<AuditEntry> & { action: string }): AuditEntry {
    const p = this.ctx.principal;
    return { actor: p.user, role: p.role, organisation: p.organisation, purpose: this.ctx.purpose, from: this.ctx.from, ...e };
  }
}

/**
 * A Group as Bevan defines it: a GP practice, its id the practice's ODS code, its members the
 * people registered there now. Served without the member list (who is registered where is
 * personal data: a Group export decides each member); `quantity` is the number registered.
 */
export async function readGroup(db: Database, id: string, now: Date = new Date()): Promise<Record<string, unknown>> {
  const ref = parseGroupId(id);
  const practice = ref.kind === 'practice' ? await findPractice(db, ref.odsCode) : null;
  if (!practice) throw notFound(`Group/${id} is not known: a Group is a GP practice (practice-<ODS code>, or the ODS code) or a register (cohort-<name>)`);
  const quantity = await countPeople(db, { group: practice.ods_code, before: now.toISOString() });
  const org = { identifier: { system: ODS_SYSTEM, value: practice.ods_code }, display: practice.name };
  return {
    resourceType: 'Group',
    // The id asked for: practice-<ODS> (as a Group search lists it) or the bare ODS code (as first served).
    id,
    identifier: [{ system: ODS_SYSTEM, value: practice.ods_code }],
    active: true,
    type: 'person',
    actual: true,
    name: `People registered at ${practice.name}`,
    quantity,
    managingEntity: { type: 'Organization', ...org },
    characteristic: [{ code: { text: 'registered GP practice' }, valueReference: { type: 'Organization', ...org }, exclude: false }],
  };
}

/** Every practice's Group, without quantity (a Group search's summaries; read a Group for its quantity). */
export async function practiceGroupSummaries(db: Database): Promise<Record<string, unknown>[]> {
  return (await allPractices(db)).map((p) => {
    const org = { identifier: { system: ODS_SYSTEM, value: p.ods_code }, display: p.name };
    return {
      resourceType: 'Group',
      id: `practice-${p.ods_code}`,
      meta: { tag: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted: read the Group for its quantity' }] },
      identifier: [{ system: ODS_SYSTEM, value: p.ods_code }],
      active: true,
      type: 'person',
      actual: true,
      code: { text: 'registered GP practice' },
      name: `People registered at ${p.name}`,
      managingEntity: { type: 'Organization', ...org },
      characteristic: [{ code: { text: 'registered GP practice' }, valueReference: { type: 'Organization', ...org }, exclude: false }],
    };
  });
}
