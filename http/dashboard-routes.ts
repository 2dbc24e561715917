/**
 * The dashboards over HTTP (analytics/dashboards/service.ts, which asks the access policy and
 * audits refusals): `GET /analytics/dashboard/panels`, `GET /analytics/dashboard/panel/{panel}`
 * (registers, measures with SPC charts, aims), `GET /analytics/spc/{measure}`, `GET /analytics/aims`
 * (each `?practice=` or `?neighbourhood=`; a GP or practice nurse always gets their own practice),
 * and `GET /analytics/commissioning?by=&from=&to=` (use and cost by month; analysts). Figures come
 * from the summary `bevan analytics refresh` builds; each carries its data freshness. Errors are
 * OperationOutcomes. The routes are `signed-in`, not `personal`: they answer with aggregates only
 * (disclosure-controlled, or a GP's own practice's counts) and reach no one's record; the service
 * still asks the policy on every request and audits each refusal. The people behind a figure are
 * reached through GET /analytics/cohorts/{name}, a personal route, decided and audited person by person.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { aimsDashboard, commissioningDashboard, COMMISSIONING_GROUPINGS, measureDashboard, panelDashboard, panels } from '../analytics/dashboards/service.ts';
import type { Database } from '../db/database.ts';
import { errorResponses, NULLABLE_STRING, serviceContext } from './api-schemas.ts';

const CONTROLLED = { type: ['number', 'null'], description: 'null: suppressed under disclosure control (fewer than 8 people behind it)' } as const;

const FRESHNESS = {
  type: 'object',
  description: 'How fresh the data behind the figure is',
  properties: {
    refreshedAt: { ...NULLABLE_STRING, description: 'when the summary was built (bevan analytics refresh; null: never)' },
    asOf: { ...NULLABLE_STRING, description: 'the last day the summary counts' },
    sources: {
      type: 'array',
      items: {
        type: 'object',
        properties: { source: { type: 'string' }, setting: NULLABLE_STRING, lastMessageAt: { ...NULLABLE_STRING, description: 'the latest message received from the source' }, latestActivity: { ...NULLABLE_STRING, description: 'the latest activity date it reported' } },
      },
    },
  },
} as const;

const FIGURE_FRESHNESS = {
  type: 'object',
  description: "How fresh this figure's data is: the summary's time, the sources behind it (each described in the answer's freshness), the least recent of their last messages",
  properties: {
    refreshedAt: NULLABLE_STRING,
    asOf: NULLABLE_STRING,
    sources: { type: 'array', items: { type: 'string' } },
    oldestLastMessageAt: { ...NULLABLE_STRING, description: 'null when a source behind it has sent nothing' },
  },
} as const;

const PLACE = { type: 'object', properties: { level: { type: 'string', enum: ['locality', 'neighbourhood', 'practice'] }, key: { type: 'string' }, name: { type: 'string' } } } as const;

const POINT = {
  type: 'object',
  additionalProperties: true,
  properties: { label: { type: 'string' }, value: { type: 'number' }, movingRange: { type: ['number', 'null'] }, rules: { type: 'array', items: { type: 'string' } }, direction: NULLABLE_STRING, signal: { type: 'string', enum: ['improvement', 'concern', 'neutral'] }, outsideTolerance: { type: 'boolean' } },
} as const;

const MEASURE_VIEW = {
  type: 'object',
  properties: {
    measure: { type: 'object', additionalProperties: true, description: 'the measure (analytics/spc/measures.json): id, title, panel, unit, polarity, tolerance, aim, series' },
    place: PLACE,
    disclosureControl: { type: 'boolean' },
    points: { type: 'array', items: { type: 'object', properties: { month: { type: 'string' }, value: CONTROLLED, numerator: CONTROLLED, denominator: CONTROLLED } } },
    chart: {
      type: ['object', 'null'],
      description: 'XmR chart (Making Data Count rules) of the months with a value; null with fewer than two',
      properties: {
        mean: { type: 'number' }, meanMovingRange: { type: 'number' }, upperProcessLimit: { type: 'number' }, lowerProcessLimit: { type: 'number' }, upperTwoThirds: { type: 'number' }, lowerTwoThirds: { type: 'number' },
        assurance: { type: 'string' }, points: { type: 'array', items: POINT },
      },
    },
    aim: {
      type: ['object', 'null'],
      additionalProperties: true,
      description: 'the aim tracked month by month: status achieved | on-track | off-track | missed | no-data; each month met | on-track | behind | no-data against a straight trajectory from the baseline',
    },
    freshness: FIGURE_FRESHNESS,
  },
} as const;

const PLACE_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    practice: { type: 'string', pattern: '^[A-Za-z0-9]{1,10}$', description: 'ODS code of a practice' },
    neighbourhood: { type: 'string', pattern: '^[A-Za-z0-9]{1,10}$', description: 'a neighbourhood code' },
  },
} as const;

// The service hands back the same answer object while its summary and feeds are unchanged: its
// JSON is written once and sent again (the response schemas still describe it in /openapi.json).
const written = new WeakMap<object, string>();
function sendAnswer(reply: FastifyReply, answer: object): FastifyReply {
  let json = written.get(answer);
  if (json === undefined) {
    json = JSON.stringify(answer);
    written.set(answer, json);
  }
  return reply.type('application/json; charset=utf-8').serializer((x: unknown) => x as string).send(json);
}

export async function registerDashboardRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  type PlaceQuery = { practice?: string; neighbourhood?: string };

  app.get(
    '/analytics/dashboard/panels',
    {
      config: { access: 'signed-in' },
      schema: { summary: 'The clinical panels (names only)', tags: ['analytics'], response: { 200: { type: 'object', properties: { panels: { type: 'array', items: { type: 'object', properties: { panel: { type: 'string' }, title: { type: 'string' } } } } } }, ...errorResponses() } },
    },
    async () => ({ panels: panels() }),
  );

  app.get<{ Params: { panel: string }; Querystring: PlaceQuery }>(
    '/analytics/dashboard/panel/:panel',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: "A clinical panel's dashboard: registers with counts and trend, measures with SPC charts, aims with progress (aggregates; GP: own practice exact, analyst: any place under disclosure control)",
        tags: ['analytics'],
        params: { type: 'object', required: ['panel'], properties: { panel: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' } } },
        querystring: PLACE_QUERY,
        response: {
          200: {
            type: 'object',
            properties: {
              panel: { type: 'string' },
              title: { type: 'string' },
              place: PLACE,
              disclosureControl: { type: 'boolean' },
              registers: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' }, title: { type: 'string' }, panel: { type: 'string' }, description: NULLABLE_STRING, count: CONTROLLED,
                    trend: { type: 'array', items: { type: 'object', properties: { month: { type: 'string' }, count: CONTROLLED } } },
                    drillDown: { type: 'string', description: "the register's people: GET this path (the policy decides what is shown)" },
                  },
                },
              },
              measures: { type: 'array', items: MEASURE_VIEW },
              freshness: FRESHNESS,
            },
          },
          ...errorResponses(400, 404),
        },
      },
    },
    async (req, reply) => sendAnswer(reply, await panelDashboard(serviceContext(req, db), req.params.panel, req.query)),
  );

  app.get<{ Params: { measure: string }; Querystring: PlaceQuery }>(
    '/analytics/spc/:measure',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: "A measure's monthly series with its XmR chart (mean, process limits, special-cause points marked improvement, concern or neutral; tolerance) and aim",
        tags: ['analytics'],
        params: { type: 'object', required: ['measure'], properties: { measure: { type: 'string', pattern: '^[a-z0-9-]{1,80}$' } } },
        querystring: PLACE_QUERY,
        response: { 200: MEASURE_VIEW, ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => sendAnswer(reply, await measureDashboard(serviceContext(req, db), req.params.measure, req.query)),
  );

  app.get<{ Querystring: PlaceQuery }>(
    '/analytics/aims',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: "The clinical panels' aims (target and date), tracked month by month",
        tags: ['analytics'],
        querystring: PLACE_QUERY,
        response: { 200: { type: 'object', properties: { place: PLACE, disclosureControl: { type: 'boolean' }, aims: { type: 'array', items: MEASURE_VIEW }, freshness: FRESHNESS } }, ...errorResponses(400) },
      },
    },
    async (req, reply) => sendAnswer(reply, await aimsDashboard(serviceContext(req, db), req.query)),
  );

  app.get<{ Querystring: { by?: string; from?: string; to?: string } }>(
    '/analytics/commissioning',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: 'Use and cost of care by month (tariff-costed), by practice, neighbourhood, setting, cohort or for the locality, with the shift from hospital to community and data freshness; secondary use (analysts), disclosure controlled',
        tags: ['analytics'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            by: { type: 'string', enum: [...COMMISSIONING_GROUPINGS], default: 'setting' },
            from: { type: 'string', pattern: '^\\d{4}-\\d{2}$', description: 'first month (YYYY-MM); default 11 months before to' },
            to: { type: 'string', pattern: '^\\d{4}-\\d{2}$', description: "last month (YYYY-MM); default the summary's as-of month" },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              by: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, months: { type: 'array', items: { type: 'string' } }, disclosureControl: { type: 'boolean' },
              rows: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    month: { type: 'string' }, key: { type: 'string' }, name: { type: 'string' }, people: CONTROLLED, costGbp: CONTROLLED,
                    activity: { type: 'object', additionalProperties: CONTROLLED, description: 'activity (tariff activities) → count, or hours of social care' },
                    drillDown: { ...NULLABLE_STRING, description: "for a cohort: its people (GET /analytics/cohorts/{name}, pseudonymised for analysts)" },
                    freshness: FIGURE_FRESHNESS,
                  },
                },
              },
              shift: { type: 'array', items: { type: 'object', properties: { month: { type: 'string' }, hospital: CONTROLLED, outOfHospital: CONTROLLED, outOfHospitalShare: { type: ['number', 'null'] } } } },
              tariff: { type: 'array', items: { type: 'object', additionalProperties: true } },
              freshness: FRESHNESS,
            },
          },
          ...errorResponses(400),
        },
      },
    },
    async (req, reply) => sendAnswer(reply, await commissioningDashboard(serviceContext(req, db), { by: req.query.by ?? 'setting', from: req.query.from, to: req.query.to })),
  );
}
