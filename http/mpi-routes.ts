/**
 * The MPI review queue for the integration team's screens: `GET /mpi/review` (the queue, paged,
 * by status), `GET /mpi/review/{id}` (both identities side by side and the evidence for and
 * against), `POST /mpi/review/{id}/decide` ({decision: link|reject|dismiss}) and
 * `POST /mpi/review/{id}/undo`. The pairs hold personal data: each route is `access: 'personal'`
 * and calls the review service (mpi/review-service.ts), which decides by policy (`mpi-review`)
 * and audits every call. Errors are OperationOutcomes (a decision the MPI refuses is a 409).
 */
import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { REVIEW_STATUSES, type ReviewStatus } from '../mpi/merge.ts';
import { decideReviewFor, listReviewQueueFor, MAX_REVIEW_PAGE, REVIEW_CHOICES, showReviewFor, undoReviewFor, type ReviewChoice } from '../mpi/review-service.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const TAGS = ['mpi'];
const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'review id' } } } as const;
const ORIGIN = { type: 'string', enum: ['matcher', 'feed'], description: 'who queued the pair: the probabilistic matcher, or a feed instruction that was unsafe to apply' } as const;
const STATUS = { type: 'string', enum: [...REVIEW_STATUSES] } as const;

const IDENTITY = {
  type: 'object',
  description: 'one source identity as the MPI holds it now (personId null: it no longer exists)',
  properties: {
    key: { type: 'string' },
    system: { type: 'string', description: 'source system key, e.g. hl7:RM2' },
    id: { type: 'string', description: "the person's id in that system (hospital number, GP patient id)" },
    personId: NULLABLE_STRING,
    nhsNumber: NULLABLE_STRING,
    nhsNumberValid: { type: 'boolean' },
    family: NULLABLE_STRING,
    given: NULLABLE_STRING,
    birthDate: NULLABLE_STRING,
    sex: NULLABLE_STRING,
    postcode: NULLABLE_STRING,
    address: NULLABLE_STRING,
    town: NULLABLE_STRING,
    email: { ...NULLABLE_STRING, description: 'email addresses, lower case, space-separated' },
    phone: { ...NULLABLE_STRING, description: 'phone numbers, digits only (UK ones from 0), space-separated' },
    otherId: { ...NULLABLE_STRING, description: 'identifiers other than the NHS number, kind|VALUE, space-separated' },
    practice: { ...NULLABLE_STRING, description: 'registered GP practice (ODS code)' },
    linkMethod: { type: 'string' },
    matchStatus: { type: 'string' },
    matchWeight: { type: ['number', 'null'] },
  },
} as const;

const EVIDENCE = {
  type: 'object',
  properties: {
    fields: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string', enum: ['nhs_number', 'family', 'given', 'birth_date', 'sex', 'postcode', 'address', 'town', 'email', 'phone', 'other_id'] },
          level: { type: 'string', description: 'agreement level (exact, jaro-winkler, one-digit, district, disagree, …) or missing' },
          weight: { type: 'number', description: 'log2(m/u): above 0 for one person, below 0 against' },
          verdict: { type: 'string', enum: ['for', 'against', 'none'] },
          household: { type: 'boolean' },
        },
      },
    },
    total: { type: 'number' },
    probability: { type: 'number' },
    thresholds: { type: 'object', properties: { match: { type: 'number' }, possible: { type: 'number' } } },
    household: { type: 'object', properties: { applied: { type: 'boolean' }, sum: { type: 'number' }, cap: { type: ['number', 'null'] } } },
    contactWithheld: { type: 'boolean', description: 'a shared email or phone not counted: no given name or birth date agrees and the email names nobody held, or the birth dates are more than ten years apart (families share them)' },
    queuedWeight: { type: 'number' },
    conflict: NULLABLE_STRING,
    feed: { type: ['object', 'null'], properties: { kind: { type: 'string' }, event: NULLABLE_STRING, reason: { type: 'string' }, survivor: { type: 'string' }, retired: { type: 'string' } } },
    parameters: { type: 'string', enum: ['estimated', 'defaults'] },
  },
} as const;

const DECISION = { type: 'object', properties: { reviewId: { type: 'integer' }, status: STATUS, eventId: { type: ['integer', 'null'], description: 'the MPI event that carried it out (null: nothing changed)' } } } as const;

export async function registerMpiRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const config = { access: 'personal' as const };

  app.get<{ Querystring: { status?: ReviewStatus; limit?: number; offset?: number } }>(
    '/mpi/review',
    {
      config,
      schema: {
        summary: 'The MPI review queue: pairs of identities the matcher (or a feed) was unsure about, without their demographics (the integration team; audited)',
        description: 'Open pairs: feed proposals first, then the strongest. Decided pairs: the latest decision first. A pair whose person is restricted is marked withheld.',
        tags: TAGS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { ...STATUS, default: 'open' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_REVIEW_PAGE, default: 20 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              status: STATUS,
              total: { type: 'integer' },
              offset: { type: 'integer' },
              limit: { type: 'integer' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    reviewId: { type: 'integer' },
                    status: STATUS,
                    origin: ORIGIN,
                    weight: { type: 'number' },
                    probability: { type: ['number', 'null'] },
                    conflict: NULLABLE_STRING,
                    systems: { type: 'array', items: { type: 'string' } },
                    moved: { type: 'boolean' },
                    withheld: { type: 'boolean' },
                    createdAt: { type: 'string' },
                    decidedBy: NULLABLE_STRING,
                    decidedAt: NULLABLE_STRING,
                  },
                },
              },
            },
          },
          ...errorResponses(400),
        },
      },
    },
    async (req) => listReviewQueueFor(serviceContext(req, db), { status: req.query.status ?? 'open', limit: req.query.limit ?? 20, offset: req.query.offset ?? 0 }),
  );

  app.get<{ Params: { id: string } }>(
    '/mpi/review/:id',
    {
      config,
      schema: {
        summary: 'One pair: both identities side by side and the evidence for and against (field comparisons and weights); audited per person',
        tags: TAGS,
        params: ID_PARAMS,
        response: {
          200: {
            type: 'object',
            properties: {
              reviewId: { type: 'integer' },
              status: STATUS,
              origin: ORIGIN,
              createdAt: { type: 'string' },
              decidedBy: NULLABLE_STRING,
              decidedAt: NULLABLE_STRING,
              moved: { type: 'boolean', description: 'an identity has moved since the pair was queued: link and reject are refused (dismiss it)' },
              identity: IDENTITY,
              candidate: IDENTITY,
              evidence: EVIDENCE,
              decisionEventId: { type: ['integer', 'null'], description: 'the event an undo would undo' },
            },
          },
          ...errorResponses(400, 404),
        },
      },
    },
    async (req) => showReviewFor(serviceContext(req, db), Number(req.params.id)),
  );

  app.post<{ Params: { id: string }; Body: { decision: ReviewChoice; despiteDifferentNhsNumbers?: boolean } }>(
    '/mpi/review/:id/decide',
    {
      config,
      schema: {
        summary: 'Decide an open pair: link (one person), reject (two people) or dismiss (close, no change); audited with the decision',
        description: 'Refused (409, nothing changed) when an identity has moved since the pair was queued, when the pair was already decided, or, for a link, when the two carry different valid NHS numbers and despiteDifferentNhsNumbers is not true.',
        tags: TAGS,
        params: ID_PARAMS,
        body: {
          type: 'object',
          required: ['decision'],
          additionalProperties: false,
          properties: {
            decision: { type: 'string', enum: [...REVIEW_CHOICES] },
            despiteDifferentNhsNumbers: { type: 'boolean', description: 'link even though the two carry different valid NHS numbers (a person has checked)' },
          },
        },
        response: { 200: DECISION, ...errorResponses(400, 404, 409) },
      },
    },
    async (req) => decideReviewFor(serviceContext(req, db), Number(req.params.id), req.body.decision, { despiteDifferentNhsNumbers: req.body.despiteDifferentNhsNumbers === true }),
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    '/mpi/review/:id/undo',
    {
      config,
      // No body at all is an undo with the default reason, like an empty object.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
      schema: {
        summary: "Undo a pair's decision: a link is unlinked, a rejection reopened (identities, persons and links as they were); audited",
        description: 'Refused (409) for an open pair, or while a later MPI event has moved the identities the decision moved (undo that first).',
        tags: TAGS,
        params: ID_PARAMS,
        body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } },
        response: {
          200: {
            type: 'object',
            properties: {
              reviewId: { type: 'integer' },
              status: { type: 'string', enum: ['open'] },
              undoneEventId: { type: ['integer', 'null'] },
              eventId: { type: ['integer', 'null'], description: 'the unmerge event that undid it' },
            },
          },
          ...errorResponses(400, 404, 409),
        },
      },
    },
    async (req) => undoReviewFor(serviceContext(req, db), Number(req.params.id), req.body?.reason),
  );
}
