/**
 * The feeds' health for the integration team's screens: `GET /ingest/feeds` (per source system
 * its last message and counts of accepted, ignored and quarantined) and
 * `GET /ingest/feeds/hourly`, `GET /ingest/feeds/{source}/hourly` (messages per hour over 24
 * hours or 7 days). Counts only (`access: 'signed-in'`: no personal data); the service
 * (ingest/feed-status.ts) still asks the decision point (action `feeds`). Errors are
 * OperationOutcomes.
 */
import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { feedHourlyFor, feedsStatusFor, HOURLY_RANGES, type HourlyRange } from '../ingest/feed-status.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const TAGS = ['feeds'];
const COUNTS = { type: 'object', properties: { accepted: { type: 'integer' }, ignored: { type: 'integer' }, quarantined: { type: 'integer' } } } as const;

const FEEDS_STATUS = {
  type: 'object',
  properties: {
    at: { type: 'string', description: 'when the counts were read (ISO 8601 UTC)' },
    sources: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          source: { ...NULLABLE_STRING, description: 'source system key (null: quarantined items whose source could not be told)' },
          formats: { type: 'array', items: { type: 'string' } },
          lastReceivedAt: { ...NULLABLE_STRING, description: 'latest arrival of a message or quarantined item' },
          lastAcceptedAt: NULLABLE_STRING,
          accepted: { type: 'integer' },
          ignored: { type: 'integer' },
          quarantined: { type: 'integer', description: 'items quarantined, any status' },
          quarantinedOpen: { type: 'integer', description: 'items still open in the quarantine' },
          last24h: COUNTS,
        },
      },
    },
    totals: { type: 'object', properties: { ...COUNTS.properties, quarantinedOpen: { type: 'integer' } } },
  },
} as const;

const HOURLY = {
  type: 'object',
  properties: {
    source: NULLABLE_STRING,
    range: { type: 'string', enum: [...HOURLY_RANGES] },
    hours: { type: 'array', items: { type: 'object', properties: { hour: { type: 'string', description: 'start of the hour, ISO 8601 UTC' }, ...COUNTS.properties } } },
  },
} as const;

const RANGE_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { range: { type: 'string', enum: [...HOURLY_RANGES], default: '24h', description: 'the last 24 hours or the last 7 days' } },
} as const;

export async function registerIngestRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const config = { access: 'signed-in' as const };

  app.get(
    '/ingest/feeds',
    {
      config,
      schema: {
        summary: 'Each source system with its last message and counts of accepted, ignored and quarantined (the integration team and administrators; no personal data)',
        tags: TAGS,
        response: { 200: FEEDS_STATUS, ...errorResponses() },
      },
    },
    async (req) => feedsStatusFor(serviceContext(req, db)),
  );

  app.get<{ Querystring: { range?: HourlyRange } }>(
    '/ingest/feeds/hourly',
    {
      config,
      schema: { summary: 'Messages per hour from every source system together, over the last 24 hours or 7 days', tags: TAGS, querystring: RANGE_QUERY, response: { 200: HOURLY, ...errorResponses(400) } },
    },
    async (req) => feedHourlyFor(serviceContext(req, db), null, req.query.range ?? '24h'),
  );

  app.get<{ Params: { source: string }; Querystring: { range?: HourlyRange } }>(
    '/ingest/feeds/:source/hourly',
    {
      config,
      schema: {
        summary: 'Messages per hour from one source system (accepted, ignored, quarantined), over the last 24 hours or 7 days',
        tags: TAGS,
        params: { type: 'object', required: ['source'], properties: { source: { type: 'string', minLength: 1, maxLength: 64, description: 'source system key, e.g. hl7:RM2' } } },
        querystring: RANGE_QUERY,
        response: { 200: HOURLY, ...errorResponses(400) },
      },
    },
    async (req) => feedHourlyFor(serviceContext(req, db), req.params.source, req.query.range ?? '24h'),
  );
}
