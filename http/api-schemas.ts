/**
 * Pieces shared by the non-FHIR JSON routes (quarantine, care team, consent, audit views): the
 * request context with the purpose a role implies, and the OpenAPI schemas of errors (every error
 * is an OperationOutcome, http/outcome.ts) that feed /openapi.json.
 */
import type { FastifyRequest } from 'fastify';
import { defaultPurposeFor, type RequestContext } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { requestContext } from './fhir-routes.ts';

/** The request context; without an X-Bevan-Purpose header, the purpose the user's role implies (administration for integration and admin). */
export function serviceContext(req: FastifyRequest, db: Database): RequestContext {
  const ctx = requestContext(req, db);
  const asked = req.headers['x-bevan-purpose'];
  return typeof asked === 'string' && asked ? ctx : { ...ctx, purpose: defaultPurposeFor(ctx.principal.role) };
}

export const OPERATION_OUTCOME_SCHEMA = {
  type: 'object',
  description: 'A FHIR R4 OperationOutcome saying what went wrong',
  properties: {
    resourceType: { type: 'string', enum: ['OperationOutcome'] },
    issue: { type: 'array', items: { type: 'object', additionalProperties: true, properties: { severity: { type: 'string' }, code: { type: 'string' }, diagnostics: { type: 'string' } } } },
  },
} as const;

/** Error responses by status, for a route's `schema.response`. */
export function errorResponses(...statuses: number[]): Record<number, typeof OPERATION_OUTCOME_SCHEMA> {
  return Object.fromEntries([401, 403, ...statuses].map((s) => [s, OPERATION_OUTCOME_SCHEMA]));
}

/** A Bevan person id (UUID), as a path parameter. */
export const PERSON_ID_PARAMS = {
  type: 'object',
  required: ['personId'],
  properties: { personId: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: 'Bevan person id (the merged Patient id)' } },
} as const;

export const NULLABLE_STRING = { type: ['string', 'null'] } as const;
