/**
 * Risk of emergency admission over HTTP: `GET /analytics/risk/model` (coefficients, version, date
 * fitted, validation metrics: no personal data, but only for roles with a risk rule) and
 * `GET /analytics/risk/cohort?practice=|neighbourhood=&tier=` (the latest scoring's high-risk
 * people: a GP or practice nurse their own practice's, identified, for direct care; an analyst a
 * practice's or neighbourhood's, pseudonymised). Both go through analytics/risk/cohort.ts, which
 * asks the access policy (action risk) and audits. Errors are OperationOutcomes.
 */
import type { FastifyInstance } from 'fastify';
import { riskCohort, riskModelFor } from '../analytics/risk/cohort.ts';
import { TIERS } from '../analytics/risk/model.ts';
import type { Database } from '../db/database.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const TOP = { type: 'object', properties: { '0.5': { type: 'number' }, '1': { type: 'number' }, '5': { type: 'number' } } } as const;
const TIER = { type: ['string', 'null'], enum: [...TIERS, null], description: 'the smallest top-per-cent tier holding the person (0.5, 1, 5, 20), null outside the top 20 %' } as const;

const RISK_MODEL = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    fittedAt: { type: 'string', format: 'date-time' },
    method: { type: 'string' },
    l2: { type: 'number' },
    intercept: { type: 'number' },
    terms: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, label: { type: 'string' }, coefficient: { type: 'number' }, mean: { type: 'number', description: "the term's mean over the people fitted on (factors are measured from it)" } } },
    },
    fitIndexDate: { type: 'string', format: 'date', description: "features from before this date, outcome the 12 months after" },
    validationIndexDate: { type: 'string', format: 'date', description: 'the validation year (held-out people) starts here' },
    fittedPeople: { type: 'integer' },
    validationPeople: { type: 'integer' },
    iterations: { type: 'integer' },
    metrics: {
      type: 'object',
      properties: {
        cStatistic: { type: 'number' },
        calibration: { type: 'array', items: { type: 'object', properties: { decile: { type: 'integer' }, predicted: { type: 'number' }, observed: { type: 'number' }, observedCount: { type: 'integer' }, people: { type: 'integer' } } } },
        ppv: TOP,
        sensitivity: TOP,
        people: { type: 'integer' },
        admitted: { type: 'integer' },
      },
    },
  },
} as const;

const RISK_COHORT = {
  type: 'object',
  properties: {
    view: { type: 'string', enum: ['identified', 'pseudonymised'] },
    practice: NULLABLE_STRING,
    neighbourhood: NULLABLE_STRING,
    tier: { type: 'string', enum: [...TIERS] },
    run: {
      type: ['object', 'null'],
      properties: { runId: { type: 'integer' }, indexDate: { type: 'string', format: 'date' }, scoredAt: { type: 'string', format: 'date-time' }, modelVersion: { type: 'integer' }, people: { type: 'integer' } },
    },
    withheld: { type: 'object', properties: { restricted: { type: 'integer' }, optedOut: { type: 'integer' }, dissent: { type: 'integer' } } },
    people: {
      type: 'array',
      description: 'highest risk first; identified (personId, nhsNumber, name, birthDate, age, sex, record) or pseudonymised (pseudonym, ageBand)',
      items: {
        type: 'object',
        properties: {
          personId: { type: 'string' },
          nhsNumber: NULLABLE_STRING,
          name: NULLABLE_STRING,
          birthDate: NULLABLE_STRING,
          age: { type: 'integer' },
          sex: NULLABLE_STRING,
          record: { type: 'string', description: 'the FHIR Patient of the person (Patient/{personId})' },
          pseudonym: { type: 'string' },
          ageBand: { type: 'string' },
          practice: NULLABLE_STRING,
          neighbourhood: NULLABLE_STRING,
          probability: { type: 'number', description: 'risk of an emergency admission in the next 12 months' },
          tier: TIER,
          populationRank: { type: 'integer' },
          efi: { type: 'number', description: 'electronic frailty index (deficits / 36)' },
          efiBand: { type: 'string', enum: ['fit', 'mild', 'moderate', 'severe'] },
          factors: {
            type: 'array',
            items: { type: 'object', properties: { name: { type: 'string' }, label: { type: 'string' }, value: { type: 'number' }, contribution: { type: 'number', description: 'log-odds against the average person' }, oddsRatio: { type: 'number' } } },
          },
          history: {
            type: 'array',
            items: { type: 'object', properties: { indexDate: { type: 'string', format: 'date' }, scoredAt: { type: 'string', format: 'date-time' }, modelVersion: { type: 'integer' }, probability: { type: 'number' }, tier: TIER } },
          },
        },
      },
    },
  },
} as const;

export async function registerRiskRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  app.get(
    '/analytics/risk/model',
    {
      config: { access: 'personal' },
      schema: { summary: 'The risk of emergency admission model: coefficients, version, date fitted, validation metrics', tags: ['analytics'], response: { 200: RISK_MODEL, ...errorResponses(404) } },
    },
    async (req) => riskModelFor(serviceContext(req, db)),
  );

  app.get<{ Querystring: { practice?: string; neighbourhood?: string; tier?: string } }>(
    '/analytics/risk/cohort',
    {
      config: { access: 'personal' },
      schema: {
        summary: "High-risk people in the latest scoring, with score, tier, top factors and tier history (GP: own practice identified; analyst: pseudonymised)",
        tags: ['analytics'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            practice: { type: 'string', pattern: '^[A-Z0-9]{3,10}$', description: 'ODS code of a practice (a GP: their own, the default)' },
            neighbourhood: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$', description: 'a neighbourhood code (secondary use)' },
            tier: { type: 'string', enum: [...TIERS], description: 'top 0.5, 1, 5 (default) or 20 per cent, with the tiers above it' },
          },
        },
        response: { 200: RISK_COHORT, ...errorResponses(400) },
      },
    },
    async (req) => riskCohort(serviceContext(req, db), { practice: req.query.practice ?? null, neighbourhood: req.query.neighbourhood ?? null, tier: req.query.tier }),
  );
}
