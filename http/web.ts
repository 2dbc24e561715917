/**
 * The web application (web/, built by `npm run build:web` into web/dist) served by the same
 * server at `/`: the content-hashed files under /assets/ with a year's immutable caching (their
 * names change when their content does), precompressed (Brotli, gzip) when the browser accepts
 * it; index.html with `no-cache` (always revalidated, so a new release is picked up at once);
 * and index.html again for the application's own routes (`/person/{id}`, `/search`, …) so a
 * shared link opens — never for the API's paths, which keep their own 404s. Every response here
 * carries the security headers (Content-Security-Policy of this origin only, no framing,
 * nosniff, no referrer). Without a build, `/` says how to make one.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';

export const WEB_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'web', 'dist');

/** Paths that belong to the API (now or in later issues): never answered with the application. */
export const API_PREFIXES = ['/fhir', '/auth', '/health', '/ingest', '/openapi.json', '/.well-known', '/quarantine', '/audit', '/care-team', '/consent', '/bulk', '/assets', '/record', '/mpi'];

/**
 * This origin only; no inline script or style elements (React sets style properties through the
 * DOM, which a policy does not govern); images may be data: URIs (the design system's icons);
 * no plugins, no framing, forms and <base> to this origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

export interface WebOptions {
  /** The built application (default web/dist beside this repository's code). */
  dist?: string;
}

/** True when a path is one of the API's (or the assets'), by whole path segment. */
export function isApiPath(path: string): boolean {
  return API_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`) || (p.includes('.') && path.startsWith(p)));
}

/** The application as a plugin: `app.register(webApp, { dist })` from buildServer. */
export async function webApp(app: FastifyInstance, o: WebOptions = {}): Promise<void> {
  const dist = o.dist ?? WEB_DIST;
  const assets = join(dist, 'assets');
  const secure = (reply: FastifyReply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  };

  // Hashed files: served from whatever the latest build wrote (a rebuild needs no restart).
  await app.register(async (scope) => {
    scope.addHook('onSend', async (_req, reply) => secure(reply));
    await scope.register(fastifyStatic, {
      root: existsSync(assets) ? assets : dist,
      prefix: '/assets/',
      decorateReply: false,
      index: false,
      dotfiles: 'deny',
      preCompressed: true,
      cacheControl: false,
      wildcard: true,
      setHeaders: (reply: FastifyReply) => void reply.header('cache-control', 'public, max-age=31536000, immutable'),
    });
  });

  const sendIndex = async (req: FastifyRequest, reply: FastifyReply) => {
    secure(reply);
    reply.header('cache-control', 'no-cache');
    const file = join(dist, 'index.html');
    if (!existsSync(file)) {
      return reply
        .code(503)
        .type('text/html; charset=utf-8')
        .send('<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Bevan: the web application is not built</title></head><body><h1>The web application is not built</h1><p>Build it with <code>npm run build:web</code> (<code>npm install</code> and <code>npm ci</code> build it too), then reload this page. The API is running: <a href="/health">/health</a>, <a href="/fhir/metadata">/fhir/metadata</a>.</p></body></html>');
    }
    // Small and revalidated on every visit: read it each time, with a weak ETag from its mtime.
    const st = statSync(file);
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    reply.header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(req.method === 'HEAD' ? '' : readFileSync(file));
  };

  app.route({ method: ['GET', 'HEAD'], url: '/', config: { access: 'public' }, schema: { hide: true }, handler: sendIndex });

  // The application's own routes: anything else a browser asks for that is not the API's.
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    if ((req.method === 'GET' || req.method === 'HEAD') && !isApiPath(path) && acceptsHtml(req)) return sendIndex(req, reply);
    return reply.code(404).type('application/fhir+json; charset=utf-8').send({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: `no route ${req.method} ${path}` }] });
  });
}

/** A browser navigating (Accept names text/html), not an API client asking for JSON. */
function acceptsHtml(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? '';
  return /\btext\/html\b|\*\/\*/.test(accept) && !/^application\/(fhir\+)?json\b/.test(accept);
}
