/**
 * `GET /analytics/duplicate-tests` (and `.csv`): laboratory tests repeated across primary and
 * secondary care within the minimum retesting interval, counted by practice and listed, through
 * analytics/duplicate-tests/service.ts (the access policy's `duplicate-tests` analysis, audited).
 * Handlers only translate; errors are OperationOutcomes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { loadSources } from '../analytics/commissioning/tariff.ts';
import { loadIntervals } from '../analytics/duplicate-tests/intervals.ts';
import { duplicateTests, duplicateTestsCsv, type DuplicateOutput } from '../analytics/duplicate-tests/service.ts';
import type { Database } from '../db/database.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const CONTROLLED = { type: ['integer', 'null'], description: 'null: suppressed (fewer than 8) under disclosure control' } as const;
const TAKEN = {
  type: 'object',
  properties: {
    at: { type: 'string', description: 'when the specimen was taken (UTC)' },
    setting: { type: 'string', enum: ['primary', 'secondary'] },
    sources: { type: 'array', items: { type: 'string' }, description: 'source systems that sent it (one specimen may come through two feeds)' },
  },
} as const;

export const DUPLICATE_TESTS_RESULT = {
  type: 'object',
  properties: {
    since: NULLABLE_STRING,
    until: { type: 'string', format: 'date' },
    practice: NULLABLE_STRING,
    view: { type: 'string', enum: ['identified', 'pseudonymised'] },
    disclosureControl: { type: 'boolean', description: 'true: counts under 8 suppressed, others rounded to the nearest 5' },
    total: { type: 'object', properties: { repeats: CONTROLLED, people: CONTROLLED } },
    byPractice: {
      type: 'array',
      items: { type: 'object', properties: { practice: NULLABLE_STRING, repeats: CONTROLLED, people: CONTROLLED, byTest: { type: 'object', additionalProperties: CONTROLLED } } },
    },
    withheld: { type: 'object', properties: { restricted: CONTROLLED, optedOut: CONTROLLED, dissent: CONTROLLED } },
    repeats: {
      type: 'array',
      description: 'identified (personId, nhsNumber, name, record) for direct care, or pseudonymised (pseudonym) for secondary use',
      items: {
        type: 'object',
        properties: {
          personId: { type: 'string' },
          nhsNumber: NULLABLE_STRING,
          name: NULLABLE_STRING,
          record: { type: 'string', description: 'the FHIR Patient of the person (Patient/{personId})' },
          pseudonym: { type: 'string' },
          practice: NULLABLE_STRING,
          test: { type: 'string' },
          title: { type: 'string' },
          intervalDays: { type: 'integer' },
          first: TAKEN,
          repeat: TAKEN,
          daysApart: { type: 'number' },
        },
      },
    },
    intervals: { type: 'array', items: { type: 'object', properties: { test: { type: 'string' }, title: { type: 'string' }, days: { type: 'integer' }, source: { type: 'string' } } } },
    seconds: { type: 'number' },
  },
} as const;

export async function registerDuplicateTestRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const intervals = loadIntervals();
  const sources = loadSources();
  const querystring = {
    type: 'object',
    additionalProperties: false,
    properties: {
      practice: { type: 'string', pattern: '^[A-Z0-9]{3,10}$', description: "ODS code of a practice (a GP's own practice is the default and the limit)" },
      since: { type: 'string', format: 'date', description: 'only repeats on or after this date' },
      until: { type: 'string', format: 'date', description: 'only repeats on or before this date (default today)' },
      output: { type: 'string', enum: ['count', 'list'], description: 'default: list for direct care, counts for secondary use' },
    },
  } as const;
  const summary = 'Laboratory tests repeated across GP and hospital within the minimum retesting interval (analytics/duplicate-tests/retest-intervals.csv), counted by practice and listed: a GP their own practice identified; an analyst counts under disclosure control and a pseudonymised list';
  type Query = { Querystring: { practice?: string; since?: string; until?: string; output?: DuplicateOutput } };
  const run = async (req: FastifyRequest<Query>, csv: boolean) => {
    const ctx = serviceContext(req, db);
    const output: DuplicateOutput = req.query.output ?? (ctx.purpose === 'secondary-use' && !csv ? 'count' : 'list');
    return duplicateTests(ctx, { intervals, sources, practice: req.query.practice ?? null, since: req.query.since ?? null, until: req.query.until ?? null, output });
  };
  app.get<Query>('/analytics/duplicate-tests', { config: { access: 'personal' }, schema: { summary, tags: ['analytics'], querystring, response: { 200: DUPLICATE_TESTS_RESULT, ...errorResponses(400) } } }, async (req) => run(req, false));
  app.get<Query>('/analytics/duplicate-tests.csv', { config: { access: 'personal' }, schema: { summary: `${summary} (CSV)`, tags: ['analytics'], querystring, response: errorResponses(400) } }, async (req, reply) =>
    reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="duplicate-tests.csv"').serializer((x: unknown) => x as string).send(duplicateTestsCsv(await run(req, true))),
  );
}
