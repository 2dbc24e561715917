/**
 * Analytics routes: `POST /analytics/ViewDefinition/$run`, SQL-on-FHIR v2's $run operation
 * (https://sql-on-fhir.org/ig/operations-run.html) at type level. The body is a Parameters
 * resource (viewResource, and optionally resource, _format, header, _limit, _since) or the
 * ViewDefinition itself; `_format` (csv, ndjson, json) may also be a query parameter or come
 * from the Accept header. Over the store the run is secondary use of personal data
 * (`access: 'personal'`): the repository decides for the role and for each person and audits
 * the run (analytics/views/run-view.ts). With `resource` parameters it runs over those alone.
 * Rows are streamed as they are produced; an error before the first chunk is an
 * OperationOutcome (400, 403, 422), one after it ends the response early.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, isPurpose, type RequestContext } from '../access/context.ts';
import { CONTENT_TYPES, parseFormat, type TextSink, type ViewFormat } from '../analytics/views/output.ts';
import { runViewOnResources, runViewOnStore, type ViewRunOptions } from '../analytics/views/run-view.ts';
import { compileView, type CompiledView } from '../analytics/views/view-definition.ts';
import type { Database } from '../db/database.ts';
import { errorResponses } from './api-schemas.ts';
import { requestContext } from './fhir-routes.ts';

/** A $run request read from its body, query and Accept header. */
export interface RunRequest {
  view: CompiledView;
  format: ViewFormat;
  options: ViewRunOptions;
  /** Resources given in the request (`resource` parameters): run over these, not the store. */
  resources: unknown[] | null;
}

const UNSUPPORTED: Record<string, string> = {
  viewReference: 'stored ViewDefinitions are not kept on this server: send the view itself as viewResource',
  patient: 'the patient parameter is not supported: a view over the store is secondary use across people (use a where on the view to narrow it)',
  group: 'the group parameter is not supported yet',
  source: 'external data sources are not supported: send the resources as resource parameters, or run over the store',
};

/** Reads a $run request; throws invalid (400) or unprocessable (422, the ViewDefinition) errors. */
export function readRunRequest(body: unknown, query: Record<string, unknown>, accept: string | undefined): RunRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('the body is a Parameters resource (with viewResource) or a ViewDefinition');
  const b = body as { resourceType?: unknown; parameter?: unknown };
  let viewJson: unknown = body;
  let resources: unknown[] | null = null;
  const fromBody: Record<string, unknown> = {};
  if (b.resourceType === 'Parameters') {
    if (!Array.isArray(b.parameter)) throw invalid('Parameters.parameter is not a list');
    const views: unknown[] = [];
    for (const [i, p] of (b.parameter as Record<string, unknown>[]).entries()) {
      const name = p?.name;
      if (typeof name !== 'string') throw invalid(`parameter[${i}] has no name`);
      if (UNSUPPORTED[name]) throw invalid(UNSUPPORTED[name]!);
      switch (name) {
        case 'viewResource':
          views.push(p.resource);
          break;
        case 'resource':
          (resources ??= []).push(p.resource);
          break;
        case '_format':
          fromBody._format = p.valueCode ?? p.valueString;
          break;
        case 'header':
          fromBody.header = p.valueBoolean;
          break;
        case '_limit':
          fromBody._limit = p.valueInteger ?? p.valuePositiveInt ?? p.valueUnsignedInt;
          break;
        case '_since':
          fromBody._since = p.valueInstant ?? p.valueDateTime;
          break;
        default:
          throw invalid(`parameter "${name}" is not a parameter of $run (viewResource, resource, _format, header, _limit, _since)`);
      }
    }
    if (views.length !== 1) throw invalid(views.length ? 'only one viewResource is allowed' : 'Either viewReference or viewResource parameter is required when invoking at type level: send viewResource');
    viewJson = views[0];
  }
  for (const k of Object.keys(query)) if (UNSUPPORTED[k]) throw invalid(UNSUPPORTED[k]!);
  const pick = (k: string) => (fromBody[k] !== undefined ? fromBody[k] : query[k]);
  const formatAsked = pick('_format');
  const format = formatAsked !== undefined ? parseFormat(String(formatAsked)) : formatFromAccept(accept);
  const header = pick('header');
  const limit = pick('_limit');
  const since = pick('_since');
  const options: ViewRunOptions = { format };
  if (header !== undefined) {
    if (header !== true && header !== false && header !== 'true' && header !== 'false') throw invalid('header is true or false');
    options.header = header === true || header === 'true';
  }
  if (limit !== undefined) {
    const n = typeof limit === 'number' ? limit : /^\d{1,9}$/.test(String(limit)) ? Number(limit) : NaN;
    if (!Number.isInteger(n) || n < 0) throw invalid(`_limit "${String(limit)}" is not a whole number`);
    options.limit = n;
  }
  if (since !== undefined) {
    if (typeof since !== 'string' || Number.isNaN(Date.parse(since))) throw invalid(`_since "${String(since)}" is not an instant`);
    if (resources) throw invalid('_since filters the store: with resource parameters every resource given is used');
    options.since = since;
  }
  return { view: compileView(viewJson), format, options, resources };
}

/** The format an Accept header asks for (json when it names none of ours). */
function formatFromAccept(accept: string | undefined): ViewFormat {
  for (const part of (accept ?? '').split(',')) {
    const type = part.split(';')[0]!.trim().toLowerCase();
    if (type === 'text/csv') return 'csv';
    if (type === 'application/x-ndjson' || type === 'application/ndjson' || type === 'application/fhir+ndjson') return 'ndjson';
    if (type === 'application/json' || type === 'application/fhir+json') return 'json';
  }
  return 'json';
}

export async function registerAnalyticsRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  app.post<{ Querystring: Record<string, string> }>(
    '/analytics/ViewDefinition/$run',
    {
      config: { access: 'personal' },
      schema: {
        summary: 'Run a SQL-on-FHIR v2 ViewDefinition: over the store as secondary use (the access policy decides, each run audited; pseudonymised for analysts), or over the resources sent',
        tags: ['analytics'],
        querystring: {
          type: 'object',
          properties: {
            _format: { type: 'string', description: 'csv, ndjson or json (or text/csv, application/x-ndjson, application/json); else the Accept header; default json' },
            header: { type: 'string', enum: ['true', 'false'], description: 'CSV: a header line with the column names (default true)' },
            _limit: { type: 'string', pattern: '^[0-9]{1,9}$', description: 'at most this many rows' },
            _since: { type: 'string', description: 'over the store: only resources received after this instant' },
          },
        },
        body: { type: 'object', description: 'a Parameters resource (viewResource; resource, _format, header, _limit, _since) or a ViewDefinition', additionalProperties: true },
        response: errorResponses(400, 422),
      },
    },
    async (req, reply) => runRoute(req, reply, db),
  );
}

async function runRoute(req: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply, db: Database): Promise<FastifyReply> {
  const ctx = viewContext(req, db);
  const run = readRunRequest(req.body, req.query ?? {}, req.headers.accept);
  const stream = new PassThrough();
  let started = false;
  let onStart: () => void = () => undefined;
  const firstChunk = new Promise<void>((resolve) => (onStart = resolve));
  const sink: TextSink = (chunk) => {
    if (stream.destroyed) throw new Error('the client closed the connection');
    if (!started) {
      started = true;
      onStart();
    }
    return stream.write(chunk) ? undefined : drained(stream);
  };
  const running = (run.resources ? runViewOnResources(run.view, run.resources, sink, run.options) : runViewOnStore(ctx, run.view, sink, run.options)).then(
    () => {
      stream.end();
    },
    (err: unknown) => {
      if (!started) throw err;
      req.log.warn({ err }, 'view run stopped after its first rows');
      stream.destroy(err as Error);
    },
  );
  await Promise.race([firstChunk, running]);
  return reply.code(200).type(CONTENT_TYPES[run.format]).header('cache-control', 'no-store').send(stream);
}

/** The request context of a view run: secondary use, unless the user names another purpose (which the policy then refuses). */
function viewContext(req: FastifyRequest, db: Database): RequestContext {
  const ctx = requestContext(req, db);
  const asked = req.headers['x-bevan-purpose'];
  return typeof asked === 'string' && asked && isPurpose(asked) ? ctx : { ...ctx, purpose: 'secondary-use' };
}

/** Resolves when the stream can take more, or rejects when it is closed first (the reader went away). */
function drained(stream: PassThrough): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the client closed the connection'));
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}
