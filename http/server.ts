/**
 * The HTTP server. For now: health and ingestion status (aggregate counts, no personal data).
 * Later issues add the FHIR API and the web application behind the access layer.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import type { MllpCounters } from '../ingest/mllp-service.ts';
import { bevanApi, registerOpenApi } from './app.ts';
import type { MllpListenerStatus } from '../ingest/hl7v2/mllp.ts';
import { webApp } from './web.ts';

export interface ServerDeps {
  db: Database;
  mllp?: { port: number; counters: MllpCounters; status?: () => MllpListenerStatus };
  /** Folder of the built web application (default web/dist). */
  webDist?: string;
}

/** How long /health waits for the database before calling it unavailable. */
const HEALTH_DB_WAIT_MS = 5_000;

/** Builds the app without listening (tests call app.inject()). */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  // Sign-in, the FHIR API and /openapi.json (http/app.ts); OpenAPI first so it sees every route.
  void registerOpenApi(app);
  void app.register(bevanApi, { db: deps.db });

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
