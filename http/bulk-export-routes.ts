/**
 * FHIR Bulk Data `$export` over HTTP (https://hl7.org/fhir/uv/bulkdata/STU2/export.html):
 * kick-off at `/fhir/$export`, `/fhir/Patient/$export` and `/fhir/Group/{id}/$export` (GET, or
 * POST with a Parameters body), status and cancel at the Content-Location it returns, files at
 * the manifest's URLs, and `GET /fhir/Group/{id}` (a GP practice). Handlers only translate: the
 * service (fhir/bulk-export/service.ts) decides, audits and reads. The background worker that
 * runs jobs starts and stops with the app.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ExportScope } from '../access/policy.ts';
import { currentPolicy } from '../access/policy.ts';
import type { Database } from '../db/database.ts';
import { fromParameters, fromQuery, NDJSON } from '../fhir/bulk-export/params.ts';
import { BulkExportService, defaultExportPurpose, FILE_NAME, manifestOf, readGroup, TooManyExports } from '../fhir/bulk-export/service.ts';
import { ExportWorker, type WorkerOptions } from '../fhir/bulk-export/worker.ts';
import { cohortMembersAdapter } from '../analytics/cohorts/groups.ts';
import { loadRegisters } from '../analytics/cohorts/registers.ts';
import { FHIR_JSON, requestContext } from './fhir-routes.ts';
import { operationOutcome } from './outcome.ts';

export interface BulkExportRouteOptions {
  db: Database;
  /** The background worker's options, or false (or BEVAN_EXPORT_WORKER=off) for a server that only answers (others run the jobs). */
  worker?: WorkerOptions | false;
  /** Slices each export is cut into (default 8, or BEVAN_EXPORT_SLICES). */
  slices?: number;
}

const ID = '^[A-Za-z0-9\\-.]{1,64}$';
const JOB = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? 'localhost'}/fhir`;
}

/** What is wrong with a kick-off's headers (the IG: Prefer: respond-async is required; Accept, when sent, application/fhir+json). */
export function kickOffHeaderProblems(headers: FastifyRequest['headers']): string[] {
  const problems: string[] = [];
  const prefer = String(headers.prefer ?? '');
  if (!/(^|[,;\s])respond-async(\s*($|[,;]))/i.test(prefer)) problems.push('a bulk export is asynchronous: send Prefer: respond-async');
  const accept = headers.accept;
  if (accept !== undefined && !/(^|,)\s*(application\/fhir\+json|application\/json|application\/\*|\*\/\*)\s*(;|,|$)/i.test(String(accept))) problems.push(`Accept "${String(accept)}": the kick-off answers in application/fhir+json`);
  return problems;
}

export async function registerBulkExportRoutes(app: FastifyInstance, o: BulkExportRouteOptions): Promise<void> {
  const { db } = o;
  const slices = o.slices ?? (Number(process.env.BEVAN_EXPORT_SLICES) || undefined);
  // Group/cohort-<register>: the register's people, as the cohort rule lets the user see them (analytics/cohorts/groups.ts).
  const cohorts = cohortMembersAdapter(loadRegisters());
  const worker = o.worker === false || process.env.BEVAN_EXPORT_WORKER === 'off' ? null : new ExportWorker(db, { cohorts, ...(o.worker ?? {}) });
  if (worker) {
    app.addHook('onReady', async () => worker.start());
    app.addHook('onClose', async () => worker.stop());
  }
  const service = (req: FastifyRequest) => {
    const ctx = requestContext(req, db);
    const policy = currentPolicy();
    // A Bulk Data client does not know X-Bevan-Purpose: the policy's one purpose for the role's export, then.
    if (!req.headers['x-bevan-purpose']) ctx.purpose = defaultExportPurpose(policy, ctx.principal.role) ?? ctx.purpose;
    return new BulkExportService(ctx, policy, undefined, { slices, cohorts });
  };
  const personal = { config: { access: 'personal' as const } };
  const signedIn = { config: { access: 'signed-in' as const } };

  const kickOff = async (req: FastifyRequest, reply: FastifyReply, scope: ExportScope) => {
    const query = fromQuery(req.query as Record<string, string | string[]>);
    const protocolProblems = kickOffHeaderProblems(req.headers);
    let parameters = query;
    if (req.method === 'POST') {
      const body = fromParameters(req.body);
      if (body.kind === 'ok') parameters = { ...query, ...body.raw };
      else protocolProblems.push(...body.problems);
    }
    const lenient = /\bhandling\s*=\s*lenient\b/i.test(String(req.headers.prefer ?? ''));
    const { jobId } = await service(req).kickOff({ scope, parameters, lenient, requestUrl: `${baseUrl(req)}${req.url.replace(/^\/fhir/, '')}`, protocolProblems });
    worker?.nudge();
    return reply
      .code(202)
      .header('content-location', `${baseUrl(req)}/bulk-status/${jobId}`)
      .type(FHIR_JSON)
      .send(operationOutcome('informational', `export ${jobId} accepted: poll the Content-Location for its status`, [], 'information'));
  };
  const handleKickOff = (scope: (req: FastifyRequest) => ExportScope) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await kickOff(req, reply, scope(req));
    } catch (err) {
      if (err instanceof TooManyExports) return reply.code(429).header('retry-after', '60').type(FHIR_JSON).send(operationOutcome('throttled', err.message));
      throw err;
    }
  };
  const groupParams = { type: 'object', properties: { id: { type: 'string', pattern: ID } }, required: ['id'] };
  const system = handleKickOff(() => ({ level: 'system' }));
  const patient = handleKickOff(() => ({ level: 'patient' }));
  const group = handleKickOff((req) => ({ level: 'group', group: (req.params as { id: string }).id }));
  app.get('/fhir/$export', personal, system);
  app.post('/fhir/$export', personal, system);
  app.get('/fhir/Patient/$export', personal, patient);
  app.post('/fhir/Patient/$export', personal, patient);
  app.get('/fhir/Group/:id/$export', { ...personal, schema: { params: groupParams } }, group);
  app.post('/fhir/Group/:id/$export', { ...personal, schema: { params: groupParams } }, group);

  // The Group itself: a practice, without its member list (see service.ts readGroup).
  app.get<{ Params: { id: string } }>('/fhir/Group/:id', { ...signedIn, schema: { params: groupParams } }, async (req, reply) => {
    requestContext(req, db);
    return reply.type(FHIR_JSON).send(await readGroup(db, req.params.id));
  });

  const jobParams = { type: 'object', properties: { job: { type: 'string', pattern: JOB } }, required: ['job'] };
  // Status: no personal data (progress, or the manifest's file URLs and counts).
  app.get<{ Params: { job: string } }>('/fhir/bulk-status/:job', { ...signedIn, schema: { params: jobParams } }, async (req, reply) => {
    const s = await service(req).status(req.params.job);
    switch (s.kind) {
      case 'in-progress':
        return reply.code(202).header('x-progress', s.progress).header('retry-after', String(s.retryAfterSeconds)).send();
      case 'failed':
        return reply.code(500).type(FHIR_JSON).send(operationOutcome('exception', s.message));
      case 'complete': {
        if (s.job.expiresAt) reply.header('expires', new Date(s.job.expiresAt).toUTCString());
        return reply.code(200).type('application/json; charset=utf-8').send(manifestOf(s.job, s.files, baseUrl(req)));
      }
    }
  });
  app.delete<{ Params: { job: string } }>('/fhir/bulk-status/:job', { ...signedIn, schema: { params: jobParams } }, async (req, reply) => {
    await service(req).cancel(req.params.job);
    return reply.code(202).type(FHIR_JSON).send(operationOutcome('informational', `export ${req.params.job} cancelled; its files are removed`, [], 'information'));
  });

  // A file: only by its job (a UUID) and its name (<type>.<n>.ndjson), looked up in the database.
  const fileParams = { type: 'object', properties: { job: { type: 'string', pattern: JOB }, file: { type: 'string', pattern: FILE_NAME.source } }, required: ['job', 'file'] };
  app.get<{ Params: { job: string; file: string } }>('/fhir/bulk-files/:job/:file', { ...personal, schema: { params: fileParams } }, async (req, reply) => {
    const { file, chunks } = await service(req).openFile(req.params.job, req.params.file);
    reply.header('x-resource-count', String(file.resources));
    return reply.code(200).type(NDJSON).send(Readable.from(chunks, { objectMode: false }));
  });
}
