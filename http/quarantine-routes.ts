/**
 * The quarantine for the web application (the integration team's screens): `GET /quarantine`
 * (paged, by status, format and source), `GET /quarantine/{id}` (the raw item),
 * `POST /quarantine/{id}/replay` (optionally with the repaired text) and
 * `POST /quarantine/{id}/discard`. Quarantined items hold personal data: each route is
 * `access: 'personal'` and calls the quarantine service (ingest/quarantine-service.ts), which
 * decides by policy and audits every call. Errors are OperationOutcomes.
 */
import type { FastifyInstance } from 'fastify';
import { conflict, invalid, notFound } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { sourceKeyProblem } from '../ingest/feeds.ts';
import { discardQuarantinedFor, listQuarantineFor, MAX_PAGE, replayQuarantinedFor, showQuarantinedFor } from '../ingest/quarantine-service.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const ITEM_PROPERTIES = {
  quarantine_id: { type: 'integer' },
  source_system: NULLABLE_STRING,
  message_id: NULLABLE_STRING,
  format: { type: 'string', enum: ['fhir', 'hl7v2', 'csv'] },
  origin: { type: 'string', description: 'where it came from: file#line or mllp:peer' },
  reason: { type: 'string', description: 'why it was quarantined, for a person to act on' },
  status: { type: 'string', enum: ['open', 'replayed', 'discarded'] },
  times_seen: { type: 'integer' },
  received_at: { type: 'string' },
  resolved_at: NULLABLE_STRING,
  resolution: NULLABLE_STRING,
  personIds: { type: 'array', items: { type: 'string' }, description: 'Bevan persons the item names, when they can be told' },
} as const;

const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'quarantine id' } } } as const;
const TAGS = ['quarantine'];
/** A repaired item may be as large as a kept one (1 MiB of text), with JSON escaping. */
const REPLAY_BODY_LIMIT = 4 << 20;

export async function registerQuarantineRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const personal = { access: 'personal' as const };

  app.get<{ Querystring: { status?: 'open' | 'replayed' | 'discarded' | 'all'; format?: string; source?: string; limit?: number; offset?: number } }>(
    '/quarantine',
    {
      config: personal,
      schema: {
        summary: 'Quarantined items, newest first: reasons, never the raw text (the integration team; audited)',
        description: "Items about a restricted person are listed with their reason and origin withheld (withheld: true). Purpose: administration unless X-Bevan-Purpose says otherwise.",
        tags: TAGS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['open', 'replayed', 'discarded', 'all'], default: 'open' },
            format: { type: 'string', enum: ['fhir', 'hl7v2', 'csv'] },
            source: { type: 'string', minLength: 1, maxLength: 100, description: 'source system key, e.g. hl7:RM2' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              total: { type: 'integer' },
              offset: { type: 'integer' },
              limit: { type: 'integer' },
              items: { type: 'array', items: { type: 'object', properties: { ...ITEM_PROPERTIES, withheld: { type: 'boolean' } } } },
            },
          },
          ...errorResponses(400),
        },
      },
    },
    async (req) => {
      const q = req.query;
      return listQuarantineFor(serviceContext(req, db), { status: q.status ?? 'open', format: q.format, source: q.source, limit: q.limit ?? 50, offset: q.offset ?? 0 });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/quarantine/:id',
    {
      config: personal,
      schema: {
        summary: 'One quarantined item with its raw text (the integration team; each view audited with the item id)',
        tags: TAGS,
        params: ID_PARAMS,
        response: { 200: { type: 'object', properties: { ...ITEM_PROPERTIES, raw: { type: 'string', description: 'the item as received' } } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => showQuarantinedFor(serviceContext(req, db), Number(req.params.id)),
  );

  app.post<{ Params: { id: string }; Body: { text?: string; source?: string } | undefined }>(
    '/quarantine/:id/replay',
    {
      config: personal,
      bodyLimit: REPLAY_BODY_LIMIT,
      // No body at all is a replay as it is, like an empty object.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
      schema: {
        summary: 'Replay a quarantined item after a fix: as it is, with a repaired text, or as from a named source (audited)',
        tags: TAGS,
        params: ID_PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            text: { type: 'string', minLength: 1, description: 'the repaired message (a CSV row may come without its header line)' },
            source: { type: 'string', minLength: 1, maxLength: 100, description: 'the source system the item comes from, e.g. gp:P91001' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'integer' },
              status: { type: 'string', enum: ['replayed'] },
              result: { type: 'object', properties: { accepted: { type: 'integer' }, ignored: { type: 'integer' }, quarantined: { type: 'integer' }, duplicates: { type: 'integer' }, resources: { type: 'integer' } } },
            },
          },
          ...errorResponses(400, 404, 409),
        },
      },
    },
    async (req) => {
      const body = req.body ?? {};
      if (body.source !== undefined) {
        const problem = sourceKeyProblem(body.source);
        if (problem) throw invalid(`source: ${problem}`);
      }
      const id = Number(req.params.id);
      const r = await replayQuarantinedFor(serviceContext(req, db), id, { ...(body.text !== undefined ? { text: body.text } : {}), ...(body.source !== undefined ? { source: body.source } : {}) });
      switch (r.kind) {
        case 'replayed':
          return { id, status: 'replayed', result: r.result };
        case 'still-rejected':
          throw invalid(`quarantined item #${id} is still rejected: ${r.reasons[0] ?? ''}`, r.reasons);
        case 'not-open':
          throw conflict(`quarantined item #${id} is ${r.status}, not open`);
        case 'not-found':
          throw notFound(`no quarantined item #${id}`);
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/quarantine/:id/discard',
    {
      config: personal,
      schema: {
        summary: 'Close a quarantined item without replaying it (it is kept; audited)',
        tags: TAGS,
        params: ID_PARAMS,
        body: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500, description: 'why it will not be replayed' } } },
        response: { 200: { type: 'object', properties: { id: { type: 'integer' }, status: { type: 'string', enum: ['discarded'] } } }, ...errorResponses(400, 404, 409) },
      },
    },
    async (req) => {
      const id = Number(req.params.id);
      await discardQuarantinedFor(serviceContext(req, db), id, req.body.reason);
      return { id, status: 'discarded' };
    },
  );
}
