/**
 * FHIR R4 REST under /fhir. Handlers only translate: they build the request context from the
 * signed-in principal, call the login-bound repository (which decides and audits) and
 * serialise. Every route that reaches personal data is marked `access: 'personal'` (the route
 * inventory test holds each of them to a decision and an audit entry).
 */
import { subsetResource } from '../fhir/search/elements.ts';
import type { Bundle, CapabilityStatement, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, isPurpose, unauthenticated, type PurposeOfUse, type RequestContext } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { parseOrganizationSearch, parsePatientSearch, PATIENT_SEARCH_PARAMS } from '../fhir/patient-search.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { registerSearchRoutes, searchParameters, withSearchCapabilities } from './fhir-search-routes.ts';
import { operationOutcome } from './outcome.ts';
import { R4_RESOURCE_TYPES } from '../ingest/fhir/r4.ts';
import { parsePaging } from '../fhir/paging.ts';
import { dateRange } from '../fhir/search/date-range.ts';
import type { CareDates } from '../fhir/repository.ts';
import { INSTANCE_INTERACTIONS, sendVersioned, VERSIONING } from './versioning.ts';
import { careDates, everythingPresenter, FHIR_JSON, parseEverythingQuery, sendEverything } from './everything-render.ts';

export { FHIR_JSON, careDates };
/**
 * Types Bevan stores and serves by id (read, vread, history): every FHIR R4 type the ingest keeps,
 * but Patient, which has its own entry (the merged Patient, search and $everything).
 */
export const READABLE_TYPES = [...R4_RESOURCE_TYPES].filter((t) => t !== 'Patient').sort();
const ID = '^[A-Za-z0-9\\-.]{1,64}$';

/** The request context, built once per request from the principal the auth hook verified. */
export function requestContext(req: FastifyRequest, db: Database): RequestContext {
  const principal = req.principal;
  if (!principal) throw unauthenticated('sign in first');
  const asked = req.headers['x-bevan-purpose'];
  const purpose: PurposeOfUse = typeof asked === 'string' && asked ? (isPurpose(asked) ? asked : (() => { throw invalid(`X-Bevan-Purpose "${asked}" is not a purpose of use`); })()) : principal.role === 'patient' ? 'patient-access' : principal.role === 'analyst' ? 'secondary-use' : 'direct-care';
  const bg = req.headers['x-bevan-break-glass'];
  return { principal, purpose, db, from: req.ip, ...(typeof bg === 'string' && bg.trim() ? { breakGlassReason: bg.trim().slice(0, 500) } : {}), ...(req.signOutCheck ? { signOutCheck: req.signOutCheck } : {}) };
}

/** Response header: when the break-glass session a request's access rested on ends (ISO 8601 instant), so a client can count down. */
export const BREAK_GLASS_EXPIRES_HEADER = 'X-Bevan-Break-Glass-Expires';

/** Sets BREAK_GLASS_EXPIRES_HEADER when the repository's decision used or started break-glass. */
export function breakGlassHeader(reply: FastifyReply, repo: { breakGlassExpiresAt: string | null }): void {
  if (repo.breakGlassExpiresAt) reply.header(BREAK_GLASS_EXPIRES_HEADER, repo.breakGlassExpiresAt);
}

export function strict(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer;
  return typeof prefer === 'string' && /\bhandling\s*=\s*strict\b/i.test(prefer);
}

export function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? 'localhost'}/fhir`;
}

/**
 * Bevan serves FHIR as JSON (and bulk files as NDJSON). A request that accepts only another
 * format (`_format=xml`, `Accept: application/fhir+xml`) gets a 406, not JSON it did not ask for
 * (https://hl7.org/fhir/R4/http.html#mime-type). No Accept header, `*\/*`, or any JSON type is fine.
 */
export function unacceptableFormat(format: unknown, accept: string | undefined): string | null {
  const json = /^(json|application\/json|application\/fhir\+json|application\/json\+fhir|application\/(fhir\+)?ndjson|application\/x-ndjson|ndjson)$/i;
  if (format !== undefined) {
    // An unencoded "+" in a query string arrives as a space (application/fhir json).
    const f = String(Array.isArray(format) ? format.at(-1) : format).split(';')[0]!.trim().replace(/ /g, '+');
    if (!json.test(f)) return `_format "${f}" is not served: Bevan's FHIR API speaks JSON (_format=json or application/fhir+json)`;
    return null;
  }
  if (!accept || !accept.trim()) return null;
  const ranges = accept.split(',').map((r) => r.split(';')[0]!.trim().toLowerCase()).filter(Boolean);
  if (!ranges.length || ranges.some((r) => r === '*/*' || r === 'application/*' || json.test(r) || r === 'text/html' || r === 'text/plain')) return null;
  return `Accept "${accept.slice(0, 100)}" names no format Bevan serves: its FHIR API speaks application/fhir+json`;
}

export async function registerFhirRoutes(app: FastifyInstance, o: { db: Database }): Promise<void> {
  const { db } = o;
  const send = (reply: FastifyReply, body: Resource) => reply.type(FHIR_JSON).send(body);
  app.addHook('preHandler', async (req, reply) => {
    if (!req.url.startsWith('/fhir/') && req.url !== '/fhir') return;
    const problem = unacceptableFormat((req.query as Record<string, unknown> | undefined)?._format, req.headers.accept);
    if (problem) return reply.code(406).type(FHIR_JSON).send(operationOutcome('not-supported', problem));
  });
  const personal = { config: { access: 'personal' as const } };
  // GETs that only read through the repository: a bearer token's sign-out check rides on its first statement (auth.ts).
  const reads = { config: { access: 'personal' as const, signOutCheck: 'first-statement' as const } };
  const idParams = { type: 'object', properties: { id: { type: 'string', pattern: ID } }, required: ['id'] };

  app.get('/fhir/metadata', { config: { access: 'public' } }, async (_req, reply) => send(reply, capabilityStatement()));

  const patientSearch = async (req: FastifyRequest, reply: FastifyReply) => {
    const ctx = requestContext(req, db);
    const query = searchParameters(req);
    const parsed = parsePatientSearch(query);
    if (parsed.kind === 'invalid') throw invalid(parsed.problems[0]!, parsed.problems);
    if (parsed.unknown.length && strict(req)) throw invalid(`unknown or unsupported search parameters: ${parsed.unknown.join(', ')} (supported: ${PATIENT_SEARCH_PARAMS.join(', ')})`);
    const found = await repositoryFor(ctx).searchPatients(parsed.criteria, { count: parsed.count, offset: parsed.offset, revinclude: parsed.revinclude, has: parsed.has }, { query });
    const link = offsetLinks(`${baseUrl(req)}/Patient`, query, parsed, found.total);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.total,
      link,
      entry: found.patients.map((p) => ({ fullUrl: `${baseUrl(req)}/Patient/${p.id}`, resource: parsed.subset ? subsetResource(p, parsed.subset) : p, search: { mode: 'match' as const } })),
    };
    const practices = parsed.includePractices ? await repositoryFor(ctx).includePractices(found.patients) : [];
    for (const r of [...(found.included ?? []), ...practices]) bundle.entry!.push({ fullUrl: `${baseUrl(req)}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' } });
    if (parsed.unknown.length) bundle.entry!.push({ resource: operationOutcome('not-supported', `ignored unknown or unsupported search parameters: ${parsed.unknown.join(', ')}`, [], 'warning'), search: { mode: 'outcome' } });
    return send(reply, bundle);
  };
  app.get('/fhir/Patient', reads, patientSearch);
  // Clinical search (GET {type}, POST {type}/_search) and Patient's POST form: http/fhir-search-routes.ts.
  await registerSearchRoutes(app, { db, requestContext, strict, baseUrl, send, patientSearch });

  app.get<{ Params: { id: string } }>('/fhir/Patient/:id', { ...reads, schema: { params: idParams } }, async (req, reply) => {
    const repo = repositoryFor(requestContext(req, db));
    const patient = await repo.readPatient(req.params.id);
    breakGlassHeader(reply, repo);
    return sendVersioned(req, reply, patient, send);
  });

  // Type-level $everything (every patient at once) is a bulk read: Bevan offers it as Bulk Data $export, not as one Bundle.
  app.get('/fhir/Patient/$everything', { config: { access: 'signed-in' } }, async () => {
    throw invalid('Patient/$everything without a patient id is not offered: ask for one person (Patient/{id}/$everything) or export many with Bulk Data (Patient/$export, Group/{id}/$export)');
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/fhir/Patient/:id/$everything', { ...reads, schema: { params: idParams } }, async (req, reply) => {
    const q = parseEverythingQuery(req.query, strict(req));
    const repo = repositoryFor(requestContext(req, db));
    // The page as kept for every server (the base URL a placeholder) and sent with this request's base (http/everything-render.ts).
    const out = await repo.everythingJson(req.params.id, q.request, everythingPresenter(req.params.id, q, baseUrl(req)));
    breakGlassHeader(reply, repo);
    return sendEverything(req, reply, out);
  });

  // Organization: an ODS code is the locality's directory entry; a 32-hex id is an Organization a feed sent (stored).
  app.get<{ Params: { id: string } }>('/fhir/Organization/:id', { config: { access: 'signed-in' as const }, schema: { params: idParams } }, async (req, reply) => {
    const repo = repositoryFor(requestContext(req, db));
    const id = req.params.id;
    if (/^[0-9a-f]{32}$/.test(id)) return sendVersioned(req, reply, await repo.readResource('Organization', id), send);
    return send(reply, await repo.readOrganization(id));
  });
  app.get<{ Querystring: Record<string, string | string[]> }>('/fhir/Organization', { config: { access: 'signed-in' } }, async (req, reply) => {
    const query = searchParameters(req);
    const parsed = parseOrganizationSearch(query);
    if (parsed.kind === 'invalid') throw invalid(parsed.problems[0]!, parsed.problems);
    if (parsed.unknown.length && strict(req)) throw invalid(`unknown or unsupported search parameters: ${parsed.unknown.join(', ')} (supported: identifier, _id, name, _count, _offset)`);
    const all = await repositoryFor(requestContext(req, db)).searchOrganizations(parsed.query);
    const base = baseUrl(req);
    const link = offsetLinks(`${base}/Organization`, query, parsed, all.length);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: all.length,
      link,
      entry: all.slice(parsed.offset, parsed.offset + parsed.count).map((o) => ({ fullUrl: `${base}/Organization/${o.id}`, resource: o, search: { mode: 'match' as const } })),
    };
    if (parsed.unknown.length) bundle.entry!.push({ resource: operationOutcome('not-supported', `ignored unknown or unsupported search parameters: ${parsed.unknown.join(', ')}`, [], 'warning'), search: { mode: 'outcome' } });
    return send(reply, bundle);
  });

  app.get<{ Params: { type: string; id: string } }>(
    '/fhir/:type/:id',
    { ...reads, schema: { params: { type: 'object', properties: { type: { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' }, id: { type: 'string', pattern: ID } }, required: ['type', 'id'] } } },
    async (req, reply) => {
      if (!READABLE_TYPES.includes(req.params.type)) throw invalid(`${req.params.type} is not a resource type this server serves (see /fhir/metadata)`);
      const repo = repositoryFor(requestContext(req, db));
      const resource = await repo.readResource(req.params.type, req.params.id);
      breakGlassHeader(reply, repo);
      return sendVersioned(req, reply, resource, send);
    },
  );
}

/** Organization: the locality's directory by ODS code (fhir/organization-directory.ts), and Organizations feeds sent (32-hex ids, with history). */
const ORGANIZATION = {
  documentation: 'Organization/{ODS code}: the locality directory (GP practices, trusts, community, mental health and social care providers); Organization/{32-hex id}: an Organization a feed sent. Search covers the directory.',
  interaction: [...INSTANCE_INTERACTIONS, { code: 'search-type' as const }],
  searchParam: [
    { name: 'identifier', type: 'token' as const, documentation: 'https://fhir.nhs.uk/Id/ods-organization-code|<ODS code>, or the code alone' },
    { name: '_id', type: 'token' as const, documentation: 'the ODS code' },
    { name: 'name', type: 'string' as const, documentation: 'a word of the name starts with (case-insensitive)' },
    { name: '_count', type: 'number' as const },
  ],
};

/** A searchset's self, next and previous links by _count/_offset, keeping the parameters used (not the unknown ones). */
function offsetLinks(base: string, query: Record<string, unknown>, page: { count: number; offset: number; unknown: string[] }, total: number): Bundle['link'] {
  const self = new URL(base);
  for (const [k, v] of Object.entries(query)) for (const x of [v].flat()) if (k !== '_offset' && !page.unknown.includes(k)) self.searchParams.append(k, String(x));
  const at = (offset: number) => {
    const u = new URL(self);
    u.searchParams.set('_count', String(page.count));
    u.searchParams.set('_offset', String(offset));
    return u.toString();
  };
  const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: at(page.offset) }];
  if (page.count > 0 && page.offset + page.count < total) link.push({ relation: 'next', url: at(page.offset + page.count) });
  if (page.offset > 0 && page.count > 0) link.push({ relation: 'previous', url: at(Math.max(0, page.offset - page.count)) });
  return link;
}

/**
 * Groups (http/group-routes.ts, http/bulk-export-routes.ts): a GP practice (`practice-<ODS>`, or
 * the bare ODS code) or a register (`cohort-<name>`, an actual Group of its people as the policy
 * allows); searchable, and each exportable with Bulk Data.
 */
const GROUP_EXPORT = {
  documentation: 'Group/practice-<ODS> (or Group/<ODS>): the people registered at a GP practice; Group/cohort-<register>: the people on a register (analytics/cohorts/registers), members as the access policy allows (Patient references for a GP\'s own practice; pseudonymised identifiers and a disclosure-controlled quantity for secondary use)',
  interaction: [{ code: 'read' as const }, { code: 'search-type' as const }],
  searchParam: [
    { name: '_id', type: 'token' as const },
    { name: 'identifier', type: 'token' as const, documentation: 'https://fhir.nhs.uk/Id/ods-organization-code|<ODS> or urn:bevan:register|<name>' },
    { name: 'name', type: 'string' as const },
    { name: 'type', type: 'token' as const },
    { name: 'actual', type: 'token' as const },
    { name: 'code', type: 'token' as const, documentation: 'matches the code text (e.g. diabetes, registered GP practice)' },
    { name: '_count', type: 'number' as const },
  ],
  operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' }],
};

/** The panels' measures (http/measure-routes.ts): proportions over the registers, evaluated into summary MeasureReports. */
const MEASURES = {
  documentation: "the clinical panels' measures that are proportions (analytics/spc/measures.json, populations in analytics/measures/populations.json); $evaluate-measure gives a summary MeasureReport, each population a register run through the access policy (counts under disclosure control for secondary use)",
  interaction: [{ code: 'read' as const }, { code: 'search-type' as const }],
  searchParam: [
    { name: '_id', type: 'token' as const },
    { name: 'url', type: 'uri' as const },
    { name: 'name', type: 'string' as const },
    { name: 'title', type: 'string' as const },
    { name: 'status', type: 'token' as const },
  ],
  operation: [{ name: 'evaluate-measure', definition: 'http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure', documentation: 'periodStart, periodEnd (populations counted as of periodEnd), reportType=summary only, practice (ODS code)' }],
};

/** The CapabilityStatement: what this server implements, and only that. */
export function capabilityStatement(): CapabilityStatement {
  return withSearchCapabilities({
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-10-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    instantiates: ['http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'],
    format: ['application/fhir+json', 'json'],
    software: { name: 'Bevan', version: '0.1.0' },
    implementation: { description: 'Bevan integrated care record: read-only FHIR R4 API behind the access policy; every access audited' },
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
          // SMART backend services for systems (/.well-known/smart-configuration); people sign in with POST /auth/login.
          extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: '/auth/token' }] }],
          service: [
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }] },
            { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] },
          ],
          description: 'Bearer JWT from POST /auth/login or bevan token; for systems, SMART backend services (client_credentials with private_key_jwt at POST /auth/token, see /.well-known/smart-configuration); JWKS at /.well-known/jwks.json',
        },
        resource: [
          {
            type: 'Patient',
            interaction: [...INSTANCE_INTERACTIONS, { code: 'search-type' }],
            ...VERSIONING,
            searchParam: [
              { name: 'identifier', type: 'token', documentation: 'https://fhir.nhs.uk/Id/nhs-number|<NHS number>, or urn:bevan:source:<system>|<id>' },
              { name: 'name', type: 'string', documentation: 'family or given name starts with (case-insensitive); :exact, :contains' },
              { name: 'family', type: 'string', documentation: 'starts with; :exact, :contains' },
              { name: 'given', type: 'string', documentation: 'any given name starts with; :exact (one given name, as sent), :contains' },
              { name: 'birthdate', type: 'date' },
              { name: 'gender', type: 'token' },
              { name: 'address-postalcode', type: 'string', documentation: 'starts with, spaces ignored; :exact, :contains' },
              { name: 'address-city', type: 'string', documentation: 'town or city starts with; :exact, :contains' },
              { name: 'address', type: 'string', documentation: 'a street line, the town or the postcode starts with; :exact (one line, the town or the postcode as sent), :contains' },
              { name: 'address-use', type: 'token', documentation: 'home (the address Bevan keeps); any other use finds no one' },
              { name: 'death-date', type: 'date', documentation: "the day of a source Patient's deceasedDateTime; eq, ne, gt, lt, ge, le, sa, eb (not ap)" },
              { name: 'deceased', type: 'token', documentation: "true: a source Patient says the person died (deceasedDateTime, or deceasedBoolean true); false: none does" },
              { name: 'phone', type: 'token', documentation: 'digits compared, UK numbers in national form (+44 7700 900123 = 07700900123)' },
              { name: 'email', type: 'token', documentation: 'case-insensitive' },
              { name: 'telecom', type: 'token', documentation: 'phone|{number}, sms|{number}, email|{address}, or a bare value (either)' },
              { name: 'active', type: 'token', documentation: 'the Patients search finds are active: false finds no one' },
              { name: 'general-practitioner', type: 'reference', documentation: 'the registered practice: Organization/{ODS code}, {ODS code}, or :identifier=https://fhir.nhs.uk/Id/ods-organization-code|{ODS code}' },
              { name: '_id', type: 'token' },
              { name: '_count', type: 'number' },
            ],
            searchInclude: ['Patient:general-practitioner', 'Patient:organization'],
            operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }, { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' }],
          },
          ...READABLE_TYPES.map((type) => ({ type: type as 'Condition', ...VERSIONING, ...(type === 'Group' ? GROUP_EXPORT : type === 'Measure' ? MEASURES : type === 'Organization' ? ORGANIZATION : { interaction: INSTANCE_INTERACTIONS }) })),
        ],
        operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }],
      },
    ],
  });
}
