/**
 * The clinical panels' registers over HTTP: `GET /analytics/cohorts` (the registers, no personal
 * data), `GET /analytics/cohorts/{name}?practice=&output=count|list&asOf=` (a GP or practice nurse:
 * their own practice's people, identified; an analyst: counts under disclosure control, or a
 * pseudonymised list) and `GET /analytics/cohorts/{name}.csv` (the same as CSV). Each run goes
 * through analytics/cohorts/service.ts, which asks the access policy and audits. Errors are
 * OperationOutcomes.
 */
import type { FastifyInstance } from 'fastify';
import { notFound } from '../access/context.ts';
import { findRegister, loadRegisters } from '../analytics/cohorts/registers.ts';
import { cohortCsv, runCohort, type CohortOutput } from '../analytics/cohorts/service.ts';
import type { Database } from '../db/database.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const CONTROLLED = { type: ['integer', 'null'], description: 'null: suppressed (fewer than 8 people) under disclosure control' } as const;

const REGISTER_LIST = {
  type: 'object',
  properties: {
    registers: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, title: { type: 'string' }, panel: { type: 'string' }, description: NULLABLE_STRING, codeSource: NULLABLE_STRING } },
    },
  },
} as const;

const COHORT_RESULT = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    title: { type: 'string' },
    asOf: { type: 'string', format: 'date' },
    practice: NULLABLE_STRING,
    view: { type: 'string', enum: ['identified', 'pseudonymised'] },
    count: CONTROLLED,
    disclosureControl: { type: 'boolean', description: 'true: counts under 8 suppressed, others rounded to the nearest 5' },
    withheld: { type: 'object', properties: { restricted: CONTROLLED, optedOut: CONTROLLED, dissent: CONTROLLED } },
    byPractice: { type: 'array', items: { type: 'object', properties: { practice: NULLABLE_STRING, count: CONTROLLED } } },
    members: {
      type: 'array',
      description: 'identified (personId, nhsNumber, name, birthDate, record) or pseudonymised (pseudonym) people',
      items: {
        type: 'object',
        properties: {
          personId: { type: 'string' },
          nhsNumber: NULLABLE_STRING,
          name: NULLABLE_STRING,
          birthDate: NULLABLE_STRING,
          record: { type: 'string', description: 'the FHIR Patient of the person (Patient/{personId})' },
          pseudonym: { type: 'string', description: 'HMAC-SHA256 of the person id under a key held in the database' },
          practice: NULLABLE_STRING,
          neighbourhood: NULLABLE_STRING,
        },
      },
    },
    seconds: { type: 'number' },
  },
} as const;

export async function registerCohortRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const registers = loadRegisters();

  app.get(
    '/analytics/cohorts',
    {
      config: { access: 'signed-in' },
      schema: { summary: "The clinical panels' registers (definitions only, no people)", tags: ['analytics'], response: { 200: REGISTER_LIST, ...errorResponses() } },
    },
    async () => ({ registers: [...registers.values()].map((d) => ({ name: d.name, title: d.title, panel: d.panel, description: d.description ?? null, codeSource: d.codeSource ?? null })) }),
  );

  app.get<{ Params: { name: string }; Querystring: { practice?: string; output?: CohortOutput; asOf?: string } }>(
    '/analytics/cohorts/:name',
    {
      config: { access: 'personal' },
      schema: {
        summary: "A register's count or people, by the caller's policy (GP: own practice identified; analyst: disclosure-controlled counts, pseudonymised list). A name ending .csv returns CSV.",
        tags: ['analytics'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,79}(\\.csv)?$', description: 'register name, or name.csv for CSV' } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            practice: { type: 'string', pattern: '^[A-Z0-9]{3,10}$', description: 'ODS code of a practice' },
            output: { type: 'string', enum: ['count', 'list'], description: 'default: list for direct care, count for secondary use' },
            asOf: { type: 'string', format: 'date', description: 'run the register for this date (windows end here); default today' },
          },
        },
        response: { 200: COHORT_RESULT, ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      const csv = req.params.name.endsWith('.csv');
      const name = csv ? req.params.name.slice(0, -4) : req.params.name;
      const def = findRegister(name, registers, false);
      if (!def) throw notFound(`no register "${name}" (GET /analytics/cohorts lists them)`);
      const ctx = serviceContext(req, db);
      const output: CohortOutput = req.query.output ?? (csv ? 'export' : ctx.purpose === 'secondary-use' ? 'count' : 'list');
      const r = await runCohort(ctx, def, { output: csv && output === 'list' ? 'export' : output, practice: req.query.practice ?? null, asOf: req.query.asOf, resolve: (n) => registers.get(n) });
      if (csv) return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${def.name}.csv"`).serializer((x: unknown) => x as string).send(cohortCsv(r));
      return r;
    },
  );
}
