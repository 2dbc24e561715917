/**
 * SMART Backend Services at the HTTP edge (https://hl7.org/fhir/smart-app-launch/backend-services.html):
 * `GET /.well-known/smart-configuration` (discovery), `POST /auth/token` (client_credentials with a
 * private_key_jwt assertion, answered as RFC 6749 §5.1/§5.2 say), and the hook that holds a backend
 * client's token to its scopes: FHIR reads of the scoped types only, `$everything` and `$export`
 * narrowed to them, and none of the application's other routes. Scopes narrowed by a query
 * (`system/Observation.rs?category=…`) are applied by the FHIR repository on every read
 * (fhir/scope-narrowing.ts). The checks themselves are in access/backend-clients.ts and
 * access/smart-scopes.ts; this file only translates HTTP.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { forbidden } from '../access/context.ts';
import { ASSERTION_ALGORITHMS, authenticateClient, CLIENT_TOKEN_SECONDS, OAuthError } from '../access/backend-clients.ts';
import { scopeAllows, scopedTypes } from '../access/smart-scopes.ts';
import { issueToken } from '../access/tokens.ts';
import { scopeQueryProblem } from '../fhir/scope-narrowing.ts';
import type { Database } from '../db/database.ts';
import { FixedWindow } from './auth.ts';

const FORM = 'application/x-www-form-urlencoded';
export const TOKEN_PATH = '/auth/token';

/** The URLs this token endpoint answers to for a request (the Host header was checked by the auth hook): an assertion's aud must be one of them. */
export function tokenUrls(req: FastifyRequest): string[] {
  const host = req.headers.host ?? 'localhost';
  // Behind a TLS-terminating proxy the server sees http while the client signed https: both name this endpoint.
  return [`https://${host}${TOKEN_PATH}`, `http://${host}${TOKEN_PATH}`];
}

/** The SMART configuration (https://hl7.org/fhir/smart-app-launch/conformance.html), for backend services. */
export function smartConfiguration(origin: string) {
  return {
    issuer: 'urn:bevan:server',
    jwks_uri: `${origin}/.well-known/jwks.json`,
    token_endpoint: `${origin}${TOKEN_PATH}`,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: ['system/*.read', 'system/*.rs'],
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
  };
}

/** Routes a backend client may use besides FHIR reads of its scoped types. */
const CLIENT_ROUTES = new Set(['/auth/session', '/auth/logout', '/fhir/bulk-status/:job', '/fhir/bulk-files/:job/:file']);
const EXPORT_ROUTES = new Set(['/fhir/$export', '/fhir/Patient/$export', '/fhir/Group/:id/$export']);

/** The resource type a FHIR route reads (`/fhir/:type/...` by its parameter, else the path's first segment), or null for no FHIR route. */
function routeType(url: string, params: unknown): string | null {
  if (!url.startsWith('/fhir/')) return null;
  const first = url.slice('/fhir/'.length).split('/')[0]!;
  if (first === ':type') {
    const t = (params as { type?: unknown } | undefined)?.type;
    return typeof t === 'string' ? t : null;
  }
  return first;
}

/** Every `_type` value a request names, in its query and (for a kick-off POST) its Parameters body. */
function typesAsked(req: FastifyRequest): string[] {
  const out: string[] = [];
  const q = (req.query as Record<string, unknown> | undefined)?._type;
  for (const v of q === undefined ? [] : Array.isArray(q) ? q : [q]) out.push(...String(v).split(','));
  const body = req.body as { resourceType?: unknown; parameter?: unknown } | undefined;
  if (body && typeof body === 'object' && body.resourceType === 'Parameters' && Array.isArray(body.parameter)) {
    for (const p of body.parameter as { name?: unknown; valueString?: unknown }[]) if (p?.name === '_type' && typeof p.valueString === 'string') out.push(...p.valueString.split(','));
  }
  return out.map((t) => t.trim()).filter(Boolean);
}

/**
 * Holds a backend client's request to its token's scopes (before the handler, after the body is
 * parsed); a person's request (no scopes) passes untouched. Throws forbidden.
 */
export function enforceScopes(req: FastifyRequest): void {
  const scopes = req.principal?.scopes;
  if (!scopes) return;
  const url = req.routeOptions.url;
  if (!url || req.routeOptions.config?.access === 'public' || CLIENT_ROUTES.has(url)) return;
  const allowed = scopedTypes(scopes);
  const within = (t: string) => allowed === '*' || allowed.has(t);
  const narrow = (what: string) => {
    const asked = typesAsked(req);
    const outside = asked.filter((t) => !within(t));
    if (outside.length) throw forbidden(`${what}: _type ${outside.join(',')} is outside this token's scopes (${scopes.join(' ')})`);
    // No _type: what the scopes allow, not everything.
    if (!asked.length && allowed !== '*') (req.query as Record<string, unknown>)._type = [...allowed].join(',');
  };
  if (EXPORT_ROUTES.has(url)) return narrow('a bulk export');
  const type = routeType(url, req.params);
  if (type === null) throw forbidden(`a backend client's token reads the FHIR API only (${req.method} ${url} is not for it)`);
  if (!scopeAllows(scopes, type)) throw forbidden(`this token's scopes (${scopes.join(' ')}) do not include ${type}`);
  if (url === '/fhir/Patient/:id/$everything') narrow('$everything');
}

export interface SmartAuthOptions {
  db: Database;
  now?: () => Date;
  /** Token requests allowed per address per minute. */
  tokenPerMinute?: number;
}

/** Registers discovery, the token endpoint and the scope hook (after registerAuth, whose hook sets the principal). */
export async function registerSmartAuth(app: FastifyInstance, o: SmartAuthOptions): Promise<void> {
  const now = o.now ?? (() => new Date());
  const perAddress = new FixedWindow(o.tokenPerMinute ?? 60, 60_000);
  app.addHook('preHandler', async (req) => enforceScopes(req));

  app.get('/.well-known/smart-configuration', { config: { access: 'public' }, schema: { summary: 'SMART configuration: how a backend service gets a token (client_credentials, private_key_jwt)', tags: ['auth'] } }, async (req, reply) => {
    reply.header('cache-control', 'public, max-age=3600');
    return smartConfiguration(`${req.protocol}://${req.headers.host ?? 'localhost'}`);
  });

  await app.register(async (scope) => {
    if (!scope.hasContentTypeParser(FORM)) {
      scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: 16_384 }, (_req, body, done) => {
        // One value per name (the first): OAuth 2.0 says parameters must not repeat (RFC 6749 §3.2).
        const out: Record<string, string> = Object.create(null);
        for (const [k, v] of new URLSearchParams(String(body))) if (!(k in out)) out[k] = v;
        done(null, out);
      });
    }
    scope.post(
      TOKEN_PATH,
      {
        config: { access: 'public' },
        bodyLimit: 16_384,
        schema: {
          summary: 'SMART backend services token endpoint: client_credentials with a signed client_assertion → a bearer token (five minutes) for the granted system scopes',
          description:
            'Form body (application/x-www-form-urlencoded): grant_type=client_credentials, scope (system/Type.read or system/Type.rs, or system/*.read; ' +
            'a v2 scope may be narrowed by a search query on the type, e.g. system/Observation.rs?category=laboratory, applied on every read), ' +
            'client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer, client_assertion (a JWT: iss = sub = client_id, aud = this URL, exp at most 5 minutes ahead, a new jti; ' +
            'signed RS384/ES384 with a key registered by bevan client add). Errors as RFC 6749 §5.2: {error, error_description}; invalid_client is 401.',
          tags: ['auth'],
          response: {
            200: { type: 'object', properties: { access_token: { type: 'string' }, token_type: { type: 'string' }, expires_in: { type: 'integer' }, scope: { type: 'string' } } },
          },
        },
      },
      async (req: FastifyRequest, reply: FastifyReply) => {
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        const oauthError = (e: OAuthError) => reply.code(e.status).send({ error: e.error, error_description: e.description });
        if (!perAddress.hit(`addr:${req.ip}`, Date.now())) return reply.code(429).header('retry-after', '60').send({ error: 'invalid_request', error_description: 'too many token requests from this address: wait a minute' });
        const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== FORM || !req.body || typeof req.body !== 'object') return oauthError(new OAuthError('invalid_request', `send the token request as ${FORM} (RFC 6749 §4.4.2)`));
        try {
          const at = now();
          const grant = await authenticateClient(o.db, req.body as Record<string, unknown>, { tokenUrls: tokenUrls(req), now: at, checkQuery: scopeQueryProblem });
          const token = await issueToken(o.db, grant.principal, CLIENT_TOKEN_SECONDS, at);
          return { access_token: token, token_type: 'bearer', expires_in: CLIENT_TOKEN_SECONDS, scope: grant.scope };
        } catch (err) {
          if (err instanceof OAuthError) return oauthError(err);
          throw err;
        }
      },
    );
  });
}
