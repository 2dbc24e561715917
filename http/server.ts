/**
 * The HTTP server. For now: health and ingestion status (aggregate counts, no personal data).
 * Later issues add the FHIR API and the web application behind the access layer.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import type { MllpCounters } from '../ingest/mllp-service.ts';
import { bevanApi, registerOpenApi } from './app.ts';
import type { AuthOptions } from './auth.ts';
import type { MllpListenerStatus } from '../ingest/hl7v2/mllp.ts';
import { webApp } from './web.ts';

export interface ServerDeps {
  db: Database;
  mllp?: { port: number; counters: MllpCounters; status?: () => MllpListenerStatus };
  /** Folder of the built web application (default web/dist). */
  webDist?: string;
  /** Sign-in settings: public host names, the OpenID Connect provider, rate limits (access/auth-config.ts). */
  auth?: Omit<AuthOptions, 'db'>;
  /** Overrides of HTTP_TIMEOUTS (tests shorten them). */
  timeouts?: Partial<HttpTimeouts>;
}

/**
 * How long a client may take, so that slow or idle clients cannot hold the server's sockets
 * (a "slowloris" sends a request a byte at a time): the headers within 10 s, the whole request
 * within 30 s (bodies are at most 1 MiB), 60 s of silence on a connection, 10 s idle between
 * keep-alive requests (behind a load balancer keep this above its idle timeout). Node checks
 * the first two every `connectionsCheckingInterval` (its default, 30 s, would let a slow client
 * hold on for 40 s). Responses are not limited: an export streams for as long as it takes.
 */
export interface HttpTimeouts {
  headersTimeout: number;
  requestTimeout: number;
  connectionTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
}
export const HTTP_TIMEOUTS: HttpTimeouts = { headersTimeout: 10_000, requestTimeout: 30_000, connectionTimeout: 60_000, keepAliveTimeout: 10_000, connectionsCheckingInterval: 1_000 };
/** Largest request body: 1 MiB (POST /auth/login takes 4 KiB). */
export const BODY_LIMIT = 1 << 20;

/** How long /health waits for the database before calling it unavailable. */
const HEALTH_DB_WAIT_MS = 5_000;

/** Builds the app without listening (tests call app.inject()). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const t = { ...HTTP_TIMEOUTS, ...deps.timeouts };
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    requestTimeout: t.requestTimeout,
    connectionTimeout: t.connectionTimeout,
    keepAliveTimeout: t.keepAliveTimeout,
    http: { headersTimeout: t.headersTimeout, connectionsCheckingInterval: t.connectionsCheckingInterval },
  });
  // Sign-in, the FHIR API and /openapi.json (http/app.ts); OpenAPI first so it sees every route.
  void registerOpenApi(app);
  void app.register(bevanApi, { ...deps.auth, db: deps.db });

  // ok; degraded (the MLLP listener is not listening: HL7 v2 feeds cannot deliver); unavailable
  // (the database does not answer: 503). Answered whatever the MLLP side is doing.
  app.get('/health', async (_req, reply) => {
    const mllp = deps.mllp ? { ...(deps.mllp.status?.() ?? { port: deps.mllp.port }), received: deps.mllp.counters.received } : null;
    const t = performance.now();
    let error: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        deps.db.query('SELECT 1'),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_DB_WAIT_MS / 1000} s`)), HEALTH_DB_WAIT_MS))),
      ]);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
    const latencyMs = Math.round((performance.now() - t) * 10) / 10;
    if (error !== undefined) {
      return reply.status(503).send({ status: 'unavailable', database: deps.db.kind, latencyMs, error, mllp });
    }
    const status = mllp && 'state' in mllp && mllp.state !== 'listening' ? 'degraded' : 'ok';
    return { status, database: deps.db.kind, latencyMs, mllp };
  });

  app.get('/ingest/status', async () => ingestionStatus(deps));
  // The web application at / (http/web.ts): its assets, index.html, its client routes.
  void app.register(webApp, { dist: deps.webDist });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode ?? 500;
    reply.status(status).send({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: status === 404 ? 'not-found' : 'exception', diagnostics: status >= 500 ? 'internal error' : err.message }] });
  });
  return app;
}

/** Ingestion status: per source system, what arrived and when; the quarantine; MLLP counters. */
export async function ingestionStatus(deps: ServerDeps) {
  const { db } = deps;
  const [sources, quarantine, totals, runs] = await Promise.all([
    db.query<{ source_system: string; messages: number; last_received: string }>(
      `SELECT source_system, count(*)::int AS messages, max(received_at)::text AS last_received
         FROM ingest_message GROUP BY source_system ORDER BY source_system`,
    ),
    db.query<{ open: number; total: number }>(`SELECT count(*) FILTER (WHERE status = 'open')::int AS open, count(*)::int AS total FROM quarantine`),
    db.query<{ persons: number; identities: number; resources: number; pending_reviews: number }>(
      `SELECT (SELECT count(*)::int FROM person WHERE status = 'active') AS persons,
              (SELECT count(*)::int FROM source_identity) AS identities,
              (SELECT count(*)::int FROM resource) AS resources,
              (SELECT count(*)::int FROM mpi_review WHERE status = 'open') AS pending_reviews`,
    ),
    db.query(
      `SELECT origin, format, status, accepted, ignored, quarantined, duplicates, resources, started_at::text AS started_at, finished_at::text AS finished_at
         FROM ingest_run ORDER BY started_at DESC LIMIT 20`,
    ),
  ]);
  return {
    database: db.kind,
    totals: totals.rows[0],
    quarantine: quarantine.rows[0],
    sources: sources.rows,
    recentRuns: runs.rows,
    mllp: deps.mllp ? { port: deps.mllp.port, ...deps.mllp.counters, ...(deps.mllp.status ? { listener: deps.mllp.status() } : {}) } : null,
  };
}
