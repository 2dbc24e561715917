/**
 * Sign-in at the HTTP edge: the Host header check, bearer tokens checked in `onRequest` (before
 * any body is parsed, so an unauthenticated client cannot make the server read its upload),
 * `POST /auth/login` (rate-limited per address and per user name) and the JWKS.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type {} from '@fastify/swagger';
import { unauthenticated, type Principal } from '../access/context.ts';
import { issueToken, jwks, TOKEN_SECONDS, verifyToken } from '../access/tokens.ts';
import { checkPassword, principalOf } from '../access/users.ts';
import type { Database } from '../db/database.ts';
import { errorReply, operationOutcome } from './outcome.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** How a route touches data: public (no sign-in), signed-in (no personal data), personal (through the FHIR repository). */
    access?: 'public' | 'signed-in' | 'personal';
  }
}

export interface AuthOptions {
  db: Database;
  /** Host names the server answers to besides localhost and 127.0.0.1 (BEVAN_PUBLIC_HOSTS). */
  publicHosts?: string[];
  /** Login attempts allowed per address, and per user name, per minute. */
  loginPerMinute?: number;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** True when the Host header names this server: a configured public host, or a local name on the port it listens on. */
export function hostAllowed(host: string | undefined, publicHosts: readonly string[], listeningPort: number | null): boolean {
  if (!host) return false;
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  if (!m) return false;
  const name = m[1]!.toLowerCase();
  const port = m[2] ? Number(m[2]) : null;
  if (publicHosts.map((h) => h.toLowerCase()).includes(name)) return true;
  if (!LOCAL_HOSTS.has(name)) return false;
  // In-process tests (app.inject) do not listen: any port then.
  return listeningPort === null || port === null || port === listeningPort;
}

/** Hooks and routes for sign-in, on the given (encapsulated) instance. */
export async function registerAuth(app: FastifyInstance, o: AuthOptions): Promise<void> {
  const publicHosts = o.publicHosts ?? (process.env.BEVAN_PUBLIC_HOSTS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const perMinute = o.loginPerMinute ?? 10;
  await app.register(rateLimit, { global: false });
  const perUser = new FixedWindow(perMinute, 60_000);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const addr = app.server.address();
    const port = addr && typeof addr === 'object' ? addr.port : null;
    if (!hostAllowed(req.headers.host, publicHosts, port)) {
      return reply.code(421).type('application/fhir+json').send(operationOutcome('forbidden', `this server does not answer to host "${req.headers.host ?? ''}"`));
    }
    const access = req.routeOptions.config?.access;
    // Anything not marked public needs a valid token (an unknown route too: fail closed).
    if (access === 'public') return;
    const header = req.headers.authorization;
    try {
      if (!header || !/^Bearer\s+\S+$/i.test(header)) throw unauthenticated('sign in first: send Authorization: Bearer <token> (POST /auth/login, or bevan token NAME)');
      req.principal = await verifyToken(o.db, header.replace(/^Bearer\s+/i, ''));
    } catch (err) {
      const { status, body } = errorReply(err);
      return reply.code(status).header('WWW-Authenticate', 'Bearer realm="bevan"').type('application/fhir+json').send(body);
    }
  });

  app.get('/.well-known/jwks.json', { config: { access: 'public' }, schema: { summary: "The server's public signing keys (JWKS)", tags: ['auth'] } }, async () => jwks(o.db));

  app.post<{ Body: { username: string; password: string } }>(
    '/auth/login',
    {
      config: { access: 'public' },
      // Per address by @fastify/rate-limit, before the body is read; per user name once it is, by
      // a small counter here (the plugin runs once per request, so it cannot hold both keys).
      onRequest: app.rateLimit({ max: perMinute, timeWindow: '1 minute', keyGenerator: (req: FastifyRequest) => `addr:${req.ip}` }),
      preHandler: async (req, reply) => {
        const name = String((req.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase();
        if (!perUser.hit(name, Date.now())) {
          return reply.code(429).header('retry-after', '60').type('application/fhir+json').send(operationOutcome('throttled', 'too many sign-in attempts for this user: wait a minute'));
        }
      },
      schema: {
        summary: 'Sign in with a local user name and password: a bearer token for one hour',
        tags: ['auth'],
        body: { type: 'object', required: ['username', 'password'], additionalProperties: false, properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } } },
        response: { 200: { type: 'object', properties: { access_token: { type: 'string' }, token_type: { type: 'string' }, expires_in: { type: 'integer' } } } },
      },
    },
    async (req) => {
      const user = await checkPassword(o.db, req.body.username, req.body.password);
      if (!user) throw unauthenticated('user name or password is wrong');
      return { access_token: await issueToken(o.db, principalOf(user), TOKEN_SECONDS), token_type: 'Bearer', expires_in: TOKEN_SECONDS };
    },
  );
}

/** A fixed-window counter per key, bounded in memory (oldest windows dropped past maxKeys). */
export class FixedWindow {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}
  /** Counts one attempt; false when the key is over its limit for this window. */
  hit(key: string, now: number): boolean {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
      this.windows.delete(key);
      this.windows.set(key, { start: now, count: 1 });
      return true;
    }
    w.count++;
    return w.count <= this.max;
  }
}
