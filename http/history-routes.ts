/**
 * FHIR R4 version interactions under /fhir (https://hl7.org/fhir/R4/http.html#vread and #history):
 * `GET {type}/{id}/_history/{vid}` (vread) and `GET {type}/{id}/_history` (instance history,
 * `_count`, `_since`, paging links), for every type Bevan stores. Handlers only translate: the
 * login-bound repository decides and audits each one.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { invalid } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { parsePaging } from '../fhir/paging.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { baseUrl as base, FHIR_JSON, READABLE_TYPES, requestContext, strict } from './fhir-routes.ts';
import { HISTORY_PAGE, pageLinks, sendVersioned, withLinks } from './versioning.ts';

const TYPE = '^[A-Z][A-Za-z]{1,63}$';
const ID = '^[A-Za-z0-9\\-.]{1,64}$';
const HISTORY_PARAMS = new Set(['_count', '_offset', '_since', '_format', '_pretty']);

/** The types with read, vread and history: every stored type (the merged Patient included). */
function served(type: string): boolean {
  return type === 'Patient' || READABLE_TYPES.includes(type);
}

export async function registerHistoryRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const personal = { config: { access: 'personal' as const } };
  const params = (withVid: boolean) => ({
    type: 'object',
    properties: { type: { type: 'string', pattern: TYPE }, id: { type: 'string', pattern: ID }, ...(withVid ? { vid: { type: 'string', pattern: ID } } : {}) },
    required: ['type', 'id', ...(withVid ? ['vid'] : [])],
  });

  app.get<{ Params: { type: string; id: string; vid: string } }>('/fhir/:type/:id/_history/:vid', { ...personal, schema: { params: params(true) } }, async (req, reply) => {
    const { type, id, vid } = req.params;
    if (!served(type)) throw invalid(`${type} is not a resource type this server serves (see /fhir/metadata)`);
    const resource = await repositoryFor(requestContext(req, db)).vread(type, id, vid);
    return sendVersioned(req, reply, resource, (r, body) => r.type(FHIR_JSON).send(body));
  });

  app.get<{ Params: { type: string; id: string }; Querystring: Record<string, string | string[]> }>('/fhir/:type/:id/_history', { ...personal, schema: { params: params(false) } }, async (req, reply) => {
    const { type, id } = req.params;
    if (!served(type)) throw invalid(`${type} is not a resource type this server serves (see /fhir/metadata)`);
    const unknown = Object.keys(req.query).filter((k) => !HISTORY_PARAMS.has(k));
    if (unknown.length && strict(req)) throw invalid(`unknown _history parameters: ${unknown.join(', ')} (supported: _count, _since)`);
    const parsed = parsePaging(req.query, HISTORY_PAGE);
    if (parsed.kind === 'invalid') throw invalid(parsed.problems[0]!, parsed.problems);
    const bundle = await repositoryFor(requestContext(req, db)).history(type, id, parsed.paging);
    for (const e of bundle.entry ?? []) e.fullUrl = `${base(req)}/${e.resource!.resourceType}/${e.resource!.id}`;
    const keep: Record<string, string> = parsed.paging.since ? { _since: parsed.paging.since } : {};
    const body: Bundle = withLinks(bundle, pageLinks(`${base(req)}/${type}/${id}/_history`, keep, parsed.paging, bundle.total ?? 0));
    return reply.type(FHIR_JSON).send(body);
  });
}
