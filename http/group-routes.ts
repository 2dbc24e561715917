/**
 * FHIR Groups beyond a practice's: `GET /fhir/Group` (search over the Groups Bevan defines: GP
 * practices `practice-<ODS>` and registers `cohort-<name>`, as summaries without people) and
 * `GET /fhir/Group/cohort-{name}` (a register as an actual Group: quantity and members, as the
 * access policy lets the user see them, the run audited by analytics/cohorts/service.ts). A
 * practice's Group (`practice-<ODS>` or the bare ODS code) and every `Group/{id}/$export` are in
 * http/bulk-export-routes.ts. Handlers only translate.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid, notFound } from '../access/context.ts';
import { cohortGroupDefinition, readCohortGroup } from '../analytics/cohorts/groups.ts';
import { loadRegisters } from '../analytics/cohorts/registers.ts';
import type { Database } from '../db/database.ts';
import { practiceGroupSummaries } from '../fhir/bulk-export/service.ts';
import { GROUP_SEARCH_PARAMS, parseGroupSearch } from '../fhir/group-search.ts';
import { baseUrl, FHIR_JSON, requestContext, strict } from './fhir-routes.ts';
import { operationOutcome } from './outcome.ts';

export async function registerGroupRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const registers = loadRegisters();

  app.get('/fhir/Group', { config: { access: 'signed-in' } }, async (req: FastifyRequest, reply) => {
    requestContext(req, db);
    const query = req.query as Record<string, string | string[]>;
    const parsed = parseGroupSearch(query);
    if ('problems' in parsed) throw invalid(parsed.problems[0]!, parsed.problems);
    if (parsed.unknown.length && strict(req)) throw invalid(`unknown or unsupported search parameters: ${parsed.unknown.join(', ')} (supported: ${GROUP_SEARCH_PARAMS.join(', ')})`);
    const all = [...(await practiceGroupSummaries(db)), ...[...registers.values()].map(cohortGroupDefinition)].filter(parsed.filter);
    const base = baseUrl(req);
    const self = new URL(`${base}/Group`);
    for (const [k, v] of Object.entries(query)) for (const x of [v].flat()) if (k !== '_offset' && !parsed.unknown.includes(k)) self.searchParams.append(k, String(x));
    const at = (offset: number) => {
      const u = new URL(self);
      u.searchParams.set('_offset', String(offset));
      return u.toString();
    };
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: all.length, link: [{ relation: 'self', url: at(parsed.offset) }] };
    if (!parsed.summaryCount) {
      const page = all.slice(parsed.offset, parsed.offset + parsed.count);
      if (parsed.offset + parsed.count < all.length) bundle.link!.push({ relation: 'next', url: at(parsed.offset + parsed.count) });
      bundle.entry = page.map((g) => ({ fullUrl: `${base}/Group/${String(g.id)}`, resource: g as never, search: { mode: 'match' as const } }));
      if (parsed.unknown.length) bundle.entry.push({ resource: operationOutcome('not-supported', `ignored unknown or unsupported search parameters: ${parsed.unknown.join(', ')}`, [], 'warning'), search: { mode: 'outcome' } });
    }
    return reply.type(FHIR_JSON).send(bundle);
  });

  app.get<{ Params: { name: string }; Querystring: { asOf?: string } }>(
    '/fhir/Group/cohort-:name',
    { config: { access: 'personal' }, schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,79}$' } } } } },
    async (req, reply) => {
      const def = registers.get(req.params.name);
      if (!def) throw notFound(`Group/cohort-${req.params.name} is not known: no register "${req.params.name}" (GET /fhir/Group lists the Groups)`);
      const asOf = req.query.asOf;
      if (asOf !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(asOf)) throw invalid(`asOf "${asOf}" is not a date YYYY-MM-DD`);
      const group = await readCohortGroup(requestContext(req, db), def, { resolve: (n) => registers.get(n), asOf });
      return reply.type(FHIR_JSON).send(group);
    },
  );
}
