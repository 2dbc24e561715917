/**
 * Record extras for the web application's record page (docs/api/record-extras.md):
 * `GET /record/{personId}/sources` — the record's source systems with their care setting and
 * feed freshness, the source records that make up the person, and where the sources disagree.
 * It reaches personal data (`access: 'personal'`) only through the login-bound repository, which
 * decides and audits (`record.sources`) in the transaction that reads; a permit resting on
 * break-glass says when it ends (X-Bevan-Break-Glass-Expires). Errors are OperationOutcomes.
 */
import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { DISAGREEMENT_FIELDS } from '../record/record-sources.ts';
import { FEED_KINDS } from '../ingest/feeds.ts';
import { errorResponses, NULLABLE_STRING, PERSON_ID_PARAMS } from './api-schemas.ts';
import { breakGlassHeader, requestContext } from './fhir-routes.ts';

const INSTANT = { type: ['string', 'null'], description: 'ISO 8601 instant, or null when none is known' } as const;
const SETTING = { type: 'string', enum: [...FEED_KINDS], description: 'care setting (the words of a feed\'s kind)' } as const;
const ORGANISATION = { type: ['object', 'null'], properties: { odsCode: { type: 'string' }, name: { type: 'string' } } } as const;

const SOURCE = {
  type: 'object',
  properties: {
    system: { type: 'string', description: 'source system key (docs/feeds.md)' },
    name: { type: 'string' },
    setting: SETTING,
    settingFrom: { type: 'string', enum: ['feeds', 'organisation', 'key'], description: 'what says so: the feeds file, the organisation\'s kind in the reference data, or the key\'s convention' },
    organisation: ORGANISATION,
    feed: {
      type: 'object',
      properties: { lastMessageAt: INSTANT, lastAcceptedAt: INSTANT, lastQuarantinedAt: INSTANT, lastRunAt: INSTANT },
    },
  },
} as const;

const IDENTITY = {
  type: 'object',
  properties: {
    system: { type: 'string' },
    sourceName: { type: 'string' },
    setting: SETTING,
    localId: { type: 'string', description: "the person's id in the source system" },
    family: NULLABLE_STRING,
    given: NULLABLE_STRING,
    birthDate: NULLABLE_STRING,
    sex: NULLABLE_STRING,
    nhsNumber: NULLABLE_STRING,
    nhsNumberValid: { type: 'boolean' },
    postcode: NULLABLE_STRING,
    address: NULLABLE_STRING,
    practice: { type: ['object', 'null'], properties: { odsCode: { type: 'string' }, name: NULLABLE_STRING } },
    death: {
      type: ['object', 'null'],
      properties: { status: { type: 'string', enum: ['deceased', 'alive'] }, date: NULLABLE_STRING, detail: { type: 'string' } },
    },
    linkMethod: { type: 'string' },
    matchStatus: { type: 'string' },
    updatedAt: { type: 'string' },
    preferred: { type: 'boolean' },
  },
} as const;

const RECORD_SOURCES = {
  type: 'object',
  properties: {
    personId: { type: 'string' },
    at: { type: 'string', description: "the server's clock when it answered" },
    sources: { type: 'array', items: SOURCE },
    identities: { type: 'array', items: IDENTITY },
    disagreements: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string', enum: [...DISAGREEMENT_FIELDS] },
          values: { type: 'array', items: { type: 'object', properties: { value: { type: 'string' }, sources: { type: 'array', items: { type: 'string' } } } } },
        },
      },
    },
    registeredPractice: {
      type: ['object', 'null'],
      properties: { odsCode: { type: 'string' }, name: NULLABLE_STRING, neighbourhood: NULLABLE_STRING, neighbourhoodName: NULLABLE_STRING },
    },
    address: NULLABLE_STRING,
    notShown: { type: 'integer', description: 'source records not shown: the person dissents from sharing beyond your organisation' },
  },
} as const;

export async function registerRecordRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  app.get<{ Params: { personId: string } }>(
    '/record/:personId/sources',
    {
      config: { access: 'personal' },
      schema: {
        summary: "The sources of a person's record: each source system (name, care setting, when its feed last sent anything), each source record that makes up the person, and where they disagree; decided and audited like a read of the record",
        tags: ['record'],
        params: PERSON_ID_PARAMS,
        response: { 200: RECORD_SOURCES, ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      const repo = repositoryFor(requestContext(req, db));
      const out = await repo.recordSources(req.params.personId.toLowerCase());
      breakGlassHeader(reply, repo);
      return out;
    },
  );
}
