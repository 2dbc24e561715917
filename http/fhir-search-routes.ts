/**
 * FHIR R4 search for clinical resources: `GET /fhir/{type}?…` and `POST /fhir/{type}/_search`
 * (form-encoded, https://hl7.org/fhir/R4/http.html#search) for the ten clinical types, and the
 * POST form of Patient search. Handlers only translate: parse (fhir/search/params.ts), refuse
 * what is invalid, call the login-bound repository (which decides and audits), build the
 * searchset Bundle. The form parser lives in this plugin's scope only, so no other route (e.g.
 * sign-in) starts accepting form posts.
 */
import { subsetResource } from '../fhir/search/elements.ts';
import type { Bundle, BundleEntry, CapabilityStatement, CapabilityStatementRestResource, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, type RequestContext } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { MAX_INCLUDED } from '../fhir/search/clinical-search.ts';
import { CLINICAL_TYPES, CONTROL_PARAMS, DEFAULT_COUNT, DEFAULT_SORT, includesOf, isClinicalType, MAX_COUNT, paramsOf, parseClinicalSearch, revincludesOf, sortable, type ClinicalType } from '../fhir/search/params.ts';
import { patientChain } from '../fhir/patient-search.ts';
import { operationOutcome } from './outcome.ts';

export type SearchQuery = Record<string, string | string[]>;
const FORM = 'application/x-www-form-urlencoded';
/** A search form is parameters, not documents. */
export const SEARCH_BODY_LIMIT = 64 * 1024;

/** A form body as search parameters (repeated names kept in order; no prototype keys). */
export function formParameters(body: string): SearchQuery {
  const out: SearchQuery = Object.create(null) as SearchQuery;
  for (const [k, v] of new URLSearchParams(body)) {
    const had = out[k];
    out[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return out;
}

/** The search's parameters: the URL's and, for POST _search, the form's (both count, as FHIR says). */
export function searchParameters(req: FastifyRequest): SearchQuery {
  const out: SearchQuery = Object.create(null) as SearchQuery;
  const add = (src: unknown) => {
    if (!src || typeof src !== 'object') return;
    for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
      const vs = (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined && x !== null).map(String);
      if (!vs.length) continue;
      const had = out[k];
      const all = [...(had === undefined ? [] : Array.isArray(had) ? had : [had]), ...vs];
      out[k] = all.length === 1 ? all[0]! : all;
    }
  };
  add(req.query);
  // Only a form body holds parameters (https://hl7.org/fhir/R4/http.html#search); anything else is refused.
  // (An empty JSON object carries no parameters either, so it is taken as no body.)
  const empty = req.body === undefined || req.body === null || req.body === '' || (typeof req.body === 'object' && !Array.isArray(req.body) && Object.keys(req.body as object).length === 0);
  if (!empty) {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== FORM) throw Object.assign(new Error(`a search body is a form (${FORM}), not ${type || 'untyped'}`), { statusCode: 415 });
    add(req.body);
  }
  return out;
}

export interface SearchRouteHelpers {
  db: Database;
  requestContext: (req: FastifyRequest, db: Database) => RequestContext;
  strict: (req: FastifyRequest) => boolean;
  baseUrl: (req: FastifyRequest) => string;
  send: (reply: FastifyReply, body: Resource) => FastifyReply;
  /** The Patient search handler (fhir-routes.ts), for its POST form. */
  patientSearch: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

export async function registerSearchRoutes(app: FastifyInstance, h: SearchRouteHelpers): Promise<void> {
  await app.register(async (scope) => {
    if (!scope.hasContentTypeParser(FORM)) {
      scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: SEARCH_BODY_LIMIT }, (_req, body, done) => done(null, formParameters(String(body))));
    }
    const personal = { config: { access: 'personal' as const } };
    const post = { ...personal, bodyLimit: SEARCH_BODY_LIMIT };
    for (const type of CLINICAL_TYPES) {
      // A GET only reads through the repository: a bearer token's sign-out check rides on its first statement (auth.ts).
      scope.get(`/fhir/${type}`, { config: { ...personal.config, signOutCheck: 'first-statement' as const } }, (req, reply) => clinicalSearch(h, type, req, reply));
      scope.post(`/fhir/${type}/_search`, post, (req, reply) => clinicalSearch(h, type, req, reply));
    }
    scope.post('/fhir/Patient/_search', post, (req, reply) => h.patientSearch(req, reply));
  });
}

async function clinicalSearch(h: SearchRouteHelpers, type: ClinicalType, req: FastifyRequest, reply: FastifyReply) {
  const ctx = h.requestContext(req, h.db);
  const query = searchParameters(req);
  const parsed = parseClinicalSearch(type, query, { patientChain });
  if (parsed.kind === 'invalid') throw invalid(parsed.problems[0]!, parsed.problems);
  const s = parsed.search;
  if (s.unknown.length && h.strict(req)) throw invalid(`unknown or unsupported search parameters: ${s.unknown.join(', ')} (${type} supports: ${supported(type).join(', ')})`);
  const found = await repositoryFor(ctx).searchResources(s, { query });
  const base = h.baseUrl(req);
  const count = s.summaryCount ? 0 : s.count;
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: found.total,
    link: pagingLinks(`${base}/${type}`, query, s.unknown, count, s.offset, found.total),
    entry: [
      ...found.matches.map((r) => entry(base, s.subset ? subsetResource(r, s.subset) : r, 'match')),
      ...found.included.map((r) => entry(base, r, 'include')),
    ],
  };
  if (found.redacted) bundle.meta = { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'some items were withheld by the access policy' }] };
  const warnings: string[] = [];
  if (s.unknown.length) warnings.push(`ignored unknown or unsupported search parameters: ${s.unknown.join(', ')}`);
  if (found.truncated) warnings.push(`_include/_revinclude stopped at ${MAX_INCLUDED} resources: ask for a smaller page`);
  if (warnings.length) bundle.entry!.push({ resource: operationOutcome('not-supported', warnings[0]!, warnings.slice(1), 'warning'), search: { mode: 'outcome' } });
  if (!bundle.entry!.length) delete bundle.entry;
  return h.send(reply, bundle);
}

function entry(base: string, resource: Resource, mode: 'match' | 'include'): BundleEntry {
  return { fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode } };
}

/** self, next and previous, as GET URLs with _count and _offset (the unknown parameters left out). */
export function pagingLinks(url: string, query: SearchQuery, unknown: readonly string[], count: number, offset: number, total: number): Bundle['link'] {
  const self = new URL(url);
  for (const [k, v] of Object.entries(query)) {
    if (k === '_offset' || k === '_count' || unknown.includes(k)) continue;
    for (const x of Array.isArray(v) ? v : [v]) self.searchParams.append(k, x);
  }
  const at = (o: number) => {
    const u = new URL(self);
    u.searchParams.set('_count', String(count));
    u.searchParams.set('_offset', String(o));
    return u.toString();
  };
  const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: at(offset) }];
  if (count > 0 && offset + count < total) link.push({ relation: 'next', url: at(offset + count) });
  if (count > 0 && offset > 0) link.push({ relation: 'previous', url: at(Math.max(0, Math.min(offset - count, Math.max(0, total - count)))) });
  return link;
}

function supported(type: ClinicalType): string[] {
  return [...paramsOf(type).map((p) => p.name), ...CONTROL_PARAMS.filter((c) => c !== '_format' && c !== '_pretty')];
}

/**
 * Adds what search implements to a CapabilityStatement: for each clinical type, search-type and
 * exactly its parameters, includes and revincludes; for Patient, its revincludes, _summary and
 * the POST form. Types and interactions already listed are kept.
 */
export function withSearchCapabilities(cs: CapabilityStatement): CapabilityStatement {
  for (const rest of cs.rest ?? []) {
    for (const r of rest.resource ?? []) {
      if (isClinicalType(r.type)) describeClinical(r, r.type);
      else if (r.type === 'Patient') {
        r.searchParam = [...(r.searchParam ?? []), { name: '_summary', type: 'token', documentation: 'count: the total only; data: without the narrative' }, { name: '_elements', type: 'string', documentation: 'the matches cut to these top-level elements, tagged SUBSETTED' }];
        r.searchRevInclude = revincludesOf('Patient');
        r.documentation = joinDoc(r.documentation, 'Search by GET or by POST Patient/_search with a form body.');
      }
    }
    const listed = new Set((rest.resource ?? []).map((r) => r.type));
    for (const type of CLINICAL_TYPES) {
      if (listed.has(type)) continue;
      const r: CapabilityStatementRestResource = { type, interaction: [] };
      describeClinical(r, type);
      (rest.resource ??= []).push(r);
    }
  }
  return cs;
}

function describeClinical(r: CapabilityStatementRestResource, type: ClinicalType): void {
  if (!(r.interaction ?? []).some((i) => i.code === 'search-type')) r.interaction = [...(r.interaction ?? []), { code: 'search-type' }];
  r.searchParam = [
    ...paramsOf(type).map((p) => ({ name: p.name, type: p.type, documentation: `${p.description} (${p.paths.map((x) => `${type}.${x}`).join(' | ')})${p.name === 'patient' || p.name === 'subject' ? '; required (this or patient/subject): a clinical search names the patient' : ''}` })),
    { name: '_count', type: 'number', documentation: `page size, default ${DEFAULT_COUNT}, at most ${MAX_COUNT}` },
    { name: '_offset', type: 'number', documentation: 'paging: where the page starts (the next and previous links carry it)' },
    { name: '_sort', type: 'special', documentation: `${sortable(type).join(', ')}, each with an optional leading - (default -${DEFAULT_SORT[type]})` },
    { name: '_summary', type: 'token', documentation: 'count: the total only; data: without the narrative' },
    { name: '_elements', type: 'string', documentation: 'the matches cut to these top-level elements (id, meta, status and mandatory elements kept), tagged SUBSETTED' },
  ];
  r.searchInclude = includesOf(type);
  r.searchRevInclude = revincludesOf(type);
  r.documentation = joinDoc(r.documentation, 'Search by GET or by POST {type}/_search with a form body; token modifiers :text, :not, :missing; reference modifiers :[type], :missing; date prefixes eq ne gt lt ge le sa eb ap; dates without a zone are Europe/London; quantities [prefix]number[|system|code] (units compared, not converted); the patient chained to Patient search parameters (patient.identifier=…, subject:Patient.birthdate=…; at most 20 people).');
}

function joinDoc(a: string | undefined, b: string): string {
  return a ? `${a} ${b}` : b;
}
