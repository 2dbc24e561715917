/**
 * Governance routes for the web application: who looked at a record (`GET /audit/me` for a
 * patient, `GET /audit/person/{personId}` for users with a direct-care relationship and for
 * governance), a person's care team (`/care-team/{personId}`) and consent directives
 * (`/consent/{personId}`). Every route reaches personal data (`access: 'personal'`) through a
 * service in access/ that decides by policy and audits the call. Errors are OperationOutcomes.
 */
import type { FastifyInstance } from 'fastify';
import { auditOfMyRecord, auditOfPerson } from '../access/audit-view.ts';
import { addCareTeamMember, endCareTeamMember, listCareTeam } from '../access/care-team.ts';
import { CONSENT_KINDS, listConsent, recordConsent, withdrawConsent } from '../access/consent.ts';
import type { Database } from '../db/database.ts';
import { errorResponses, NULLABLE_STRING, PERSON_ID_PARAMS, serviceContext } from './api-schemas.ts';

const ACCESS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: { type: 'string', format: 'date-time', description: 'entries at or after this instant' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const;

const ACCESS_PAGE = {
  type: 'object',
  properties: {
    personId: { type: 'string' },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          at: { type: 'string' },
          who: { type: 'string' },
          role: NULLABLE_STRING,
          organisation: { ...NULLABLE_STRING, description: 'ODS code' },
          action: { type: 'string', description: 'record.read, patient.search, break-glass.start…' },
          purpose: NULLABLE_STRING,
          decision: NULLABLE_STRING,
          reason: NULLABLE_STRING,
        },
      },
    },
  },
} as const;

const MEMBER = {
  type: 'object',
  properties: { member: { type: 'string' }, role: NULLABLE_STRING, startsAt: { type: 'string' }, endsAt: NULLABLE_STRING, recordedBy: NULLABLE_STRING, endedBy: NULLABLE_STRING },
} as const;

const DIRECTIVE = {
  type: 'object',
  properties: { kind: { type: 'string' }, recordedAt: { type: 'string' }, recordedBy: NULLABLE_STRING, withdrawnAt: NULLABLE_STRING, withdrawnBy: NULLABLE_STRING },
} as const;

const MEMBER_NAME = { type: 'string', minLength: 1, maxLength: 80, description: 'a user name, or org:<ODS code> for a whole organisation' } as const;

export async function registerGovernanceRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const config = { access: 'personal' as const };

  app.get<{ Querystring: { since?: string; limit?: number } }>(
    '/audit/me',
    {
      config,
      schema: {
        summary: 'Who looked at my record: the audit entries about the signed-in patient (this view is audited too)',
        tags: ['audit'],
        querystring: ACCESS_QUERY,
        response: { 200: ACCESS_PAGE, ...errorResponses(400, 404) },
      },
    },
    async (req) => auditOfMyRecord(serviceContext(req, db), req.query),
  );

  app.get<{ Params: { personId: string }; Querystring: { since?: string; limit?: number } }>(
    '/audit/person/:personId',
    {
      config,
      schema: {
        summary: "Who looked at a person's record: for users with a direct-care relationship, and governance (admin, purpose administration); audited",
        tags: ['audit'],
        params: PERSON_ID_PARAMS,
        querystring: ACCESS_QUERY,
        response: { 200: ACCESS_PAGE, ...errorResponses(400, 404) },
      },
    },
    async (req) => auditOfPerson(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }, req.query),
  );

  app.get<{ Params: { personId: string }; Querystring: { all?: boolean } }>(
    '/care-team/:personId',
    {
      config,
      schema: {
        summary: "A person's care team (current members; all=true for those who left too)",
        tags: ['care-team'],
        params: PERSON_ID_PARAMS,
        querystring: { type: 'object', additionalProperties: false, properties: { all: { type: 'boolean', default: false } } },
        response: { 200: { type: 'object', properties: { personId: { type: 'string' }, members: { type: 'array', items: MEMBER } } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => listCareTeam(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }, { all: req.query.all === true }),
  );

  app.post<{ Params: { personId: string }; Body: { member: string; role?: string } }>(
    '/care-team/:personId/members',
    {
      config,
      schema: {
        summary: "Add a member to a person's care team (a GP or care coordinator with a relationship, an administrator); audited",
        tags: ['care-team'],
        params: PERSON_ID_PARAMS,
        body: { type: 'object', required: ['member'], additionalProperties: false, properties: { member: MEMBER_NAME, role: { type: 'string', minLength: 1, maxLength: 64 } } },
        response: { 200: { type: 'object', properties: { personId: { type: 'string' }, changed: { type: 'boolean' }, member: MEMBER } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => addCareTeamMember(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }, req.body),
  );

  app.post<{ Params: { personId: string; member: string } }>(
    '/care-team/:personId/members/:member/end',
    {
      config,
      schema: {
        summary: "End a member's place on a person's care team (kept for the record); audited",
        tags: ['care-team'],
        params: { type: 'object', required: ['personId', 'member'], properties: { ...PERSON_ID_PARAMS.properties, member: MEMBER_NAME } },
        response: { 200: { type: 'object', properties: { personId: { type: 'string' }, member: MEMBER } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => endCareTeamMember(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }, req.params.member),
  );

  app.get<{ Params: { personId: string } }>(
    '/consent/:personId',
    {
      config,
      schema: {
        summary: "A person's consent directives, in force and withdrawn",
        tags: ['consent'],
        params: PERSON_ID_PARAMS,
        response: { 200: { type: 'object', properties: { personId: { type: 'string' }, directives: { type: 'array', items: DIRECTIVE } } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => listConsent(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }),
  );

  app.post<{ Params: { personId: string }; Body: { kind: string } }>(
    '/consent/:personId',
    {
      config,
      schema: {
        summary: 'Record a consent directive (the patient themselves, a GP with a relationship, an administrator); audited',
        tags: ['consent'],
        params: PERSON_ID_PARAMS,
        body: { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { type: 'string', enum: [...CONSENT_KINDS] } } },
        response: { 200: { type: 'object', properties: { personId: { type: 'string' }, changed: { type: 'boolean' }, directive: DIRECTIVE } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => recordConsent(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }, req.body.kind),
  );

  app.post<{ Params: { personId: string; kind: string } }>(
    '/consent/:personId/:kind/withdraw',
    {
      config,
      schema: {
        summary: 'Withdraw a consent directive in force (kept for the record); audited',
        tags: ['consent'],
        params: { type: 'object', required: ['personId', 'kind'], properties: { ...PERSON_ID_PARAMS.properties, kind: { type: 'string', enum: [...CONSENT_KINDS] } } },
        response: { 200: { type: 'object', properties: { personId: { type: 'string' }, directive: DIRECTIVE } }, ...errorResponses(400, 404) },
      },
    },
    async (req) => withdrawConsent(serviceContext(req, db), { personId: req.params.personId.toLowerCase() }, req.params.kind),
  );
}
