/**
 * FHIR Measure and MeasureReport for the clinical panels' measures that are proportions
 * (analytics/measures): `GET /fhir/Measure` (search), `GET /fhir/Measure/{id}` (definitions, no
 * personal data) and `GET /fhir/Measure/{id}/$evaluate-measure?periodStart&periodEnd` (a summary
 * MeasureReport: each population a register run through the access policy, audited; counts
 * under disclosure control for secondary use). Handlers only translate.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { invalid } from '../access/context.ts';
import { loadRegisters } from '../analytics/cohorts/registers.ts';
import { evaluateMeasure, findMeasure, loadPanelMeasures, measureResource } from '../analytics/measures/fhir-measures.ts';
import type { Database } from '../db/database.ts';
import { baseUrl, FHIR_JSON, requestContext, strict } from './fhir-routes.ts';

const MEASURE_ID = '^[a-z0-9][a-z0-9-]{0,79}$';
const SEARCH = new Set(['_id', 'url', 'name', 'title', 'status', '_count', '_format']);

export async function registerMeasureRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const registers = loadRegisters();
  const measures = loadPanelMeasures(registers);
  const resources = measures.map(measureResource);

  app.get<{ Querystring: Record<string, string> }>('/fhir/Measure', { config: { access: 'signed-in' } }, async (req, reply) => {
    requestContext(req, db);
    const q = req.query;
    const unknown = Object.keys(q).filter((k) => !SEARCH.has(k));
    if (unknown.length && strict(req)) throw invalid(`unknown or unsupported search parameters: ${unknown.join(', ')} (supported: ${[...SEARCH].join(', ')})`);
    const any = (v: string | undefined) => (v === undefined ? null : v.split(',').map((x) => x.trim()));
    const ids = any(q._id);
    const urls = any(q.url);
    const found = resources.filter(
      (m) =>
        (!ids || ids.includes(String(m.id))) &&
        (!urls || urls.includes(String(m.url))) &&
        (q.name === undefined || String(m.name).toLowerCase().startsWith(q.name.toLowerCase())) &&
        (q.title === undefined || String(m.title).toLowerCase().includes(q.title.toLowerCase())) &&
        (q.status === undefined || q.status === m.status),
    );
    const base = baseUrl(req);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      link: [{ relation: 'self', url: `${base}/Measure${req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''}` }],
      entry: found.map((m) => ({ fullUrl: `${base}/Measure/${String(m.id)}`, resource: m as never, search: { mode: 'match' as const } })),
    };
    return reply.type(FHIR_JSON).send(bundle);
  });

  const params = { type: 'object', required: ['measure'], properties: { measure: { type: 'string', pattern: MEASURE_ID } } };
  app.get<{ Params: { measure: string } }>('/fhir/Measure/:measure', { config: { access: 'signed-in' }, schema: { params } }, async (req, reply) => {
    requestContext(req, db);
    return reply.type(FHIR_JSON).send(measureResource(findMeasure(measures, req.params.measure)));
  });

  app.get<{ Params: { measure: string }; Querystring: { periodStart?: string; periodEnd?: string; reportType?: string; practice?: string } }>(
    '/fhir/Measure/:measure/$evaluate-measure',
    {
      config: { access: 'personal' },
      schema: {
        params,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            periodStart: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
            periodEnd: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'the populations are counted as of this date (default today)' },
            reportType: { type: 'string', description: 'summary (the only one served)' },
            practice: { type: 'string', pattern: '^[A-Z0-9]{3,10}$', description: "an ODS code: one practice (a GP's own practice is the default and the limit)" },
            _format: { type: 'string' },
          },
        },
      },
    },
    async (req, reply) => {
      const m = findMeasure(measures, req.params.measure);
      if (req.query.reportType !== undefined && req.query.reportType !== 'summary') throw invalid(`reportType "${req.query.reportType}": only summary reports are served (individual and subject-list reports would disclose people; a register's people are Group/cohort-<name>)`);
      const report = await evaluateMeasure(requestContext(req, db), m, { periodStart: req.query.periodStart, periodEnd: req.query.periodEnd, practice: req.query.practice ?? null, resolve: (n) => registers.get(n) });
      return reply.type(FHIR_JSON).send(report);
    },
  );
}
