/**
 * Bevan's API on a Fastify instance: OpenAPI for the non-FHIR endpoints (/openapi.json), sign-in
 * (auth.ts) and the FHIR R4 API (fhir-routes.ts), with one error handler turning every error into
 * an OperationOutcome. Stateless: the signing key and all state are in the database, so several
 * servers can run behind a load balancer on one PostgreSQL server.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Database } from '../db/database.ts';
import { registerAuth, type AuthOptions } from './auth.ts';
import { registerSmartAuth } from './smart-auth.ts';
import { registerBulkExportRoutes, type BulkExportRouteOptions } from './bulk-export-routes.ts';
import { FHIR_JSON, registerFhirRoutes } from './fhir-routes.ts';
import { errorReply, operationOutcome } from './outcome.ts';
import { invalid } from '../access/context.ts';
import { registerHistoryRoutes } from './history-routes.ts';
import { registerQuarantineRoutes } from './quarantine-routes.ts';
import { registerGovernanceRoutes } from './governance-routes.ts';
import { registerCohortRoutes } from './cohort-routes.ts';
import { registerIngestRoutes } from './ingest-routes.ts';
import { registerMpiRoutes } from './mpi-routes.ts';
import { registerRecordRoutes } from './record-routes.ts';
import { registerAnalyticsRoutes } from './analytics-routes.ts';
import { registerRiskRoutes } from './risk-routes.ts';
import { registerDashboardRoutes } from './dashboard-routes.ts';
import { registerDuplicateTestRoutes } from './duplicate-test-routes.ts';
import { registerGroupRoutes } from './group-routes.ts';
import { registerMeasureRoutes } from './measure-routes.ts';

export interface ApiOptions extends Omit<AuthOptions, 'db'> {
  db: Database;
  /** Bulk Data $export: the background worker's options, or worker: false (docs/api/bulk-export.md). */
  bulkExport?: Omit<BulkExportRouteOptions, 'db'>;
}

/** Registers the OpenAPI generator on the root instance: call before any route is added. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Bevan (non-FHIR endpoints)', version: '0.1.0', description: 'Sign-in, keys, health, ingestion status, the quarantine, care teams, consent and who looked at a record. The FHIR R4 API is described by /fhir/metadata.' },
      // Sign-in (docs/api/sign-in.md): a bearer JWT, or a browser session cookie with its CSRF token on unsafe requests.
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "The server's own token (POST /auth/login, bevan token) or one from the configured OpenID Connect provider" },
          session: { type: 'apiKey', in: 'cookie', name: '__Host-bevan_session', description: 'A browser session (POST /auth/login with "session": true); POST, PUT, PATCH and DELETE also need the X-CSRF-Token header' },
        },
      },
    },
    hideUntagged: false,
    transform: ({ schema, url }) => ({ schema: { ...(schema ?? {}), hide: url.startsWith('/fhir') || url === '/openapi.json' } as typeof schema, url }),
  });
}

/** The API plugin: sign-in, FHIR routes, OperationOutcome errors, /openapi.json. */
export async function bevanApi(app: FastifyInstance, o: ApiOptions): Promise<void> {
  // FHIR clients send application/fhir+json; parse it as JSON (prototype poisoning refused).
  app.addContentTypeParser(['application/fhir+json', 'application/json+fhir'], { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = errorReply(err);
    reply.code(status).type(FHIR_JSON).send(body);
  });
  // No field Bevan stores or searches may hold U+0000 (PostgreSQL text cannot): a parameter or body
  // with one is a 400 naming where it is, before any handler (and the database) sees it.
  app.addHook('preHandler', async (req) => {
    const where = nulAt(req.query, 'query') ?? nulAt(req.params, 'path') ?? nulAt(req.body, 'body');
    if (where) throw invalid(`${where} holds a NUL character (U+0000), which no field may contain`);
  });
  await registerAuth(app, o);
  await registerSmartAuth(app, { db: o.db, ...(o.now ? { now: o.now } : {}) });
  await registerFhirRoutes(app, o);
  await registerHistoryRoutes(app, o);
  await registerQuarantineRoutes(app, o);
  await registerGovernanceRoutes(app, o);
  await registerCohortRoutes(app, o);
  await registerRecordRoutes(app, o);
  await registerBulkExportRoutes(app, { db: o.db, ...o.bulkExport });
  await registerIngestRoutes(app, o);
  await registerMpiRoutes(app, o);
  await registerAnalyticsRoutes(app, o);
  await registerRiskRoutes(app, o);
  await registerDashboardRoutes(app, o);
  await registerDuplicateTestRoutes(app, o);
  await registerGroupRoutes(app, o);
  await registerMeasureRoutes(app, o);
  // Unknown FHIR paths get an OperationOutcome (after sign-in); other paths keep the server's own 404.
  await app.register(async (fhir) => {
    fhir.setNotFoundHandler((req, reply) => {
      reply.code(404).type(FHIR_JSON).send(operationOutcome('not-found', `no route ${req.method} ${req.url.split('?')[0]}`));
    });
  }, { prefix: '/fhir' });
  app.get('/openapi.json', { config: { access: 'public' } }, async () => app.swagger());
}

/** Where a U+0000 sits in a parsed request part (a parameter name, or a JSON path), or null. Iterative: any depth. */
export function nulAt(value: unknown, root: string): string | null {
  const stack: [unknown, string][] = [[value, root]];
  let seen = 0;
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return path;
    } else if (v && typeof v === 'object') {
      // Bounded: a body is at most the body limit; past a million nodes the parser has done worse already.
      if (++seen > 1_000_000) return null;
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k.includes('\u0000')) return `${path} (a name)`;
        stack.push([x, Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`]);
      }
    }
  }
  return null;
}
