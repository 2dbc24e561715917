/**
 * Sign-in at the HTTP edge: the Host header check; credentials checked in `onRequest`, before
 * any body is parsed (so an unauthenticated client cannot make the server read its upload) —
 * either a bearer token (the server's own JWT, or one from the configured OpenID Connect
 * provider) or a browser session cookie, whose unsafe requests must also carry the session's
 * CSRF token; `POST /auth/login` (rate-limited per address and per user name, password checks
 * bounded by a gate), `POST /auth/logout`, `GET /auth/session`, and the JWKS.
 * The use cases are in access/sign-in.ts; this file only translates HTTP to them and back.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import type {} from '@fastify/swagger';
import { forbidden, unauthenticated, type Principal } from '../access/context.ts';
import { settleSignOutCheck, verifyBearer, type SignOutCheck } from '../access/bearer.ts';
import { OidcVerifier, type OidcSettings } from '../access/oidc.ts';
import { csrfTokenMatches, findSession, SESSION_TIMES, touchSession, type SessionLookup, type SessionTimes } from '../access/sessions.ts';
import { PasswordGate, signIn, signOut, type Credential } from '../access/sign-in.ts';
import { jwks } from '../access/tokens.ts';
import type { Database } from '../db/database.ts';
import { errorReply, operationOutcome } from './outcome.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** How the principal was proved: a bearer token or a browser session. */
    credential?: Credential;
    /** A bearer token's sign-out check left to the request's first statement (FastifyContextConfig.signOutCheck). */
    signOutCheck?: SignOutCheck;
  }
  interface FastifyContextConfig {
    /** How a route touches data: public (no sign-in), signed-in (no personal data), personal (through the FHIR repository). */
    access?: 'public' | 'signed-in' | 'personal';
    /** false: a request to this route does not count as activity for a session's idle timeout (GET /auth/session, which a web app polls). */
    slidesSession?: boolean;
    /**
     * 'first-statement': the route's GET only reads through the FHIR repository, so on a server a
     * bearer token's sign-out check (the denylist lookup) rides on the repository's first statement
     * instead of being a statement of its own here; a check still pending when the reply is about to
     * leave is read then, and a signed-out token gets a 401 in place of the reply.
     */
    signOutCheck?: 'first-statement';
  }
}

export interface AuthOptions {
  db: Database;
  /** Host names the server answers to besides localhost and 127.0.0.1 (BEVAN_PUBLIC_HOSTS). */
  publicHosts?: string[];
  /** Login attempts allowed per address, and per user name, per minute. */
  loginPerMinute?: number;
  /** The external OpenID Connect provider whose tokens are accepted besides the server's own. */
  oidc?: OidcSettings | OidcVerifier | null;
  /** The clock (tests move it). */
  now?: () => Date;
  /** Bounds concurrent password hashing (a default one per server). */
  passwordGate?: PasswordGate;
  sessionTimes?: SessionTimes;
}

/** The session cookie: `__Host-` makes browsers insist on Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2). */
export const SESSION_COOKIE = '__Host-bevan_session';
/** The header that carries a session's CSRF token on unsafe requests. */
export const CSRF_HEADER = 'x-csrf-token';
/**
 * Secure (browsers accept it from http://localhost too, a secure context), HttpOnly (no script
 * reads it), SameSite=Strict (never sent on a request another site starts), no Expires: it goes
 * when the browser closes, and the server ends it after 30 minutes idle or 12 hours anyway.
 */
const COOKIE_OPTIONS = { path: '/', secure: true, httpOnly: true, sameSite: 'strict' } as const;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

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

/** True when a request's Origin header is absent or names this server (defence in depth beside SameSite and the CSRF token). */
export function originAllowed(origin: string | undefined, publicHosts: readonly string[], listeningPort: number | null): boolean {
  if (origin === undefined) return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // includes "null" (sandboxed frames, some redirects)
  }
  return (u.protocol === 'https:' || u.protocol === 'http:') && hostAllowed(u.host, publicHosts, listeningPort);
}

const ENDED: Record<Exclude<SessionLookup, { kind: 'active' }>['reason'], string> = {
  unknown: 'the session cookie names no session (it was never issued, or it expired long ago)',
  idle: 'the session ended after 30 minutes without activity',
  absolute: 'the session reached its 12-hour limit',
  'signed-out': 'the session was signed out',
  'user-disabled': 'the user is disabled',
};

/** Hooks and routes for sign-in, on the given (encapsulated) instance. */
export async function registerAuth(app: FastifyInstance, o: AuthOptions): Promise<void> {
  const publicHosts = o.publicHosts ?? (process.env.BEVAN_PUBLIC_HOSTS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const perMinute = o.loginPerMinute ?? 10;
  const now = o.now ?? (() => new Date());
  const oidc = o.oidc instanceof OidcVerifier ? o.oidc : o.oidc ? new OidcVerifier(o.oidc) : null;
  const gate = o.passwordGate ?? new PasswordGate();
  const times = o.sessionTimes ?? SESSION_TIMES;
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  const perUser = new FixedWindow(perMinute, 60_000);
  const listeningPort = () => {
    const addr = app.server.address();
    return addr && typeof addr === 'object' ? addr.port : null;
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!hostAllowed(req.headers.host, publicHosts, listeningPort())) {
      return reply.code(421).type('application/fhir+json').send(operationOutcome('forbidden', `this server does not answer to host "${req.headers.host ?? ''}"`));
    }
    const config = req.routeOptions.config;
    // Anything not marked public needs valid credentials (an unknown route too: fail closed).
    if (config?.access === 'public') return;
    const header = req.headers.authorization;
    const sessionId = req.cookies[SESSION_COOKIE];
    try {
      if (header !== undefined) {
        // A bearer token wins over a cookie; it needs no CSRF token (a page on another site cannot set the header).
        if (!/^Bearer\s+\S+$/i.test(header)) throw unauthenticated('send Authorization: Bearer <token> (POST /auth/login, or bevan token NAME)');
        // A read-only route on a server: the sign-out check goes with the repository's first statement.
        const defer = config?.signOutCheck === 'first-statement' && (req.method === 'GET' || req.method === 'HEAD') && !o.db.inProcess;
        const { signOutCheck, ...token } = await verifyBearer(o.db, header.replace(/^Bearer\s+/i, ''), { oidc, now: now(), deferSignOutCheck: defer });
        if (signOutCheck) req.signOutCheck = signOutCheck;
        req.principal = token.principal;
        req.credential = { kind: 'bearer', token };
        return;
      }
      if (sessionId === undefined) throw unauthenticated('sign in first: send Authorization: Bearer <token> (POST /auth/login, or bevan token NAME), or sign in from a browser (POST /auth/login with "session": true)');
      const at = now();
      const found = await findSession(o.db, sessionId, { now: at, times });
      if (found.kind !== 'active') {
        reply.clearCookie(SESSION_COOKIE, COOKIE_OPTIONS);
        throw unauthenticated(`${ENDED[found.reason]}: sign in again`);
      }
      let session = found.session;
      if (UNSAFE.has(req.method)) {
        if (!originAllowed(req.headers.origin, publicHosts, listeningPort())) throw forbidden(`a request from another site (Origin ${JSON.stringify(req.headers.origin).slice(0, 120)}) is refused`);
        const submitted = req.headers[CSRF_HEADER];
        if (!csrfTokenMatches(session, typeof submitted === 'string' ? submitted : undefined)) {
          throw forbidden(`${submitted === undefined ? 'no' : 'a wrong'} CSRF token: a signed-in browser sends its session's token in the X-CSRF-Token header on POST, PUT, PATCH and DELETE (it comes with the sign-in and from GET /auth/session)`);
        }
      }
      if (found.touchDue && config?.slidesSession !== false) session = await touchSession(o.db, session, at, times);
      req.principal = session.principal;
      req.credential = { kind: 'session', session };
    } catch (err) {
      const { status, body } = errorReply(err);
      if (status === 401) reply.header('WWW-Authenticate', 'Bearer realm="bevan"');
      return reply.code(status).type('application/fhir+json').send(body);
    }
  });

  // Nothing leaves for a request whose sign-out check no statement has settled (a route that did
  // not reach the repository, or failed before it): it is read now, and a signed-out token's
  // reply becomes a 401 (a database error: 503; fails closed).
  app.addHook('onSend', async (req, reply, payload) => {
    const check = req.signOutCheck;
    if (!check || check.state === 'passed') return payload;
    try {
      await settleSignOutCheck(o.db, check);
      return payload;
    } catch (err) {
      const { status, body } = errorReply(err);
      if (status === 401) reply.header('WWW-Authenticate', 'Bearer realm="bevan"');
      reply.code(status).type('application/fhir+json').removeHeader('content-length').removeHeader('etag').removeHeader('last-modified');
      return JSON.stringify(body);
    }
  });

  app.get('/.well-known/jwks.json', { config: { access: 'public' }, schema: { summary: "The server's public signing keys (JWKS)", tags: ['auth'] } }, async () => jwks(o.db));

  app.post<{ Body: { username: string; password: string; session?: boolean } }>(
    '/auth/login',
    {
      config: { access: 'public' },
      bodyLimit: 4096,
      // Per address by @fastify/rate-limit, before the body is read; per user name once it is, by
      // a small counter here (the plugin runs once per request, so it cannot hold both keys).
      // Both refuse before any password is hashed.
      onRequest: app.rateLimit({ max: perMinute, timeWindow: '1 minute', keyGenerator: (req: FastifyRequest) => `addr:${req.ip}` }),
      preHandler: async (req, reply) => {
        const name = String((req.body as { username?: unknown } | undefined)?.username ?? '').toLowerCase();
        if (!perUser.hit(name, Date.now())) {
          return reply.code(429).header('retry-after', '60').type('application/fhir+json').send(operationOutcome('throttled', 'too many sign-in attempts for this user: wait a minute'));
        }
      },
      schema: {
        summary: 'Sign in with a local user name and password: a bearer token for one hour, or ("session": true) a browser session cookie',
        description:
          'Without "session" (or false): `{access_token, token_type: "Bearer", expires_in}`. With "session": true: a new server-side session, the cookie `__Host-bevan_session` ' +
          '(Secure, HttpOnly, SameSite=Strict, Path=/), and the body of GET /auth/session with the `csrf_token` to send as X-CSRF-Token on POST, PUT, PATCH and DELETE. ' +
          'A session ends after 30 minutes without activity or 12 hours after sign-in. 401 for a wrong user name or password; 429 when rate-limited.',
        tags: ['auth'],
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 }, session: { type: 'boolean', description: 'true: a browser session cookie instead of a bearer token' } },
        },
        response: { 200: { ...SIGNED_IN_SCHEMA, properties: { access_token: { type: 'string' }, token_type: { type: 'string', enum: ['Bearer', 'session'] }, expires_in: { type: 'integer' }, ...SIGNED_IN_SCHEMA.properties } } },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      const wantsSession = req.body.session === true;
      // Login CSRF: a page elsewhere must not sign a browser in as someone else.
      if (wantsSession && !originAllowed(req.headers.origin, publicHosts, listeningPort())) throw forbidden(`a sign-in from another site (Origin ${JSON.stringify(req.headers.origin).slice(0, 120)}) is refused`);
      const result = await signIn(o.db, { username: req.body.username, password: req.body.password, session: wantsSession, from: req.ip, previousSessionId: req.cookies[SESSION_COOKIE], now: now(), gate, times });
      switch (result.kind) {
        case 'busy':
          return reply.code(429).header('retry-after', '1').type('application/fhir+json').send(operationOutcome('throttled', 'too many sign-ins are being checked at once: try again in a moment'));
        case 'refused':
          throw unauthenticated(result.reason);
        case 'token':
          return { access_token: result.accessToken, token_type: 'Bearer', expires_in: result.expiresIn };
        case 'session':
          reply.setCookie(SESSION_COOKIE, result.sessionId, COOKIE_OPTIONS);
          return { token_type: 'session', ...signedIn({ kind: 'session', session: result.session }) };
      }
    },
  );

  app.get(
    '/auth/session',
    {
      config: { access: 'signed-in', slidesSession: false },
      schema: {
        summary: 'Who is signed in, how, and when the sign-in ends (idle and absolute expiry); for a browser session, its CSRF token',
        description: 'Does not count as activity for the idle timeout, so a web app may poll it to warn before the session ends.',
        tags: ['auth'],
        security: [{ bearer: [] }, { session: [] }],
        response: { 200: SIGNED_IN_SCHEMA },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return signedIn(req.credential!);
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { access: 'signed-in' },
      schema: {
        summary: 'Sign out: ends the browser session on the server (and clears its cookie), or revokes the bearer token until it expires',
        description: 'A browser session must send its X-CSRF-Token. A token without a jti cannot be revoked: the answer says so.',
        tags: ['auth'],
        security: [{ bearer: [] }, { session: [] }],
        response: { 200: { type: 'object', properties: { session_ended: { type: 'boolean' }, token_revoked: { type: 'boolean' }, note: { type: 'string' } } } },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      const c = req.credential!;
      const r = await signOut(o.db, c, { from: req.ip, now: now() });
      if (c.kind === 'session') reply.clearCookie(SESSION_COOKIE, COOKIE_OPTIONS);
      return { session_ended: r.sessionEnded, token_revoked: r.tokenRevoked, ...(r.note ? { note: r.note } : {}) };
    },
  );
}

const SIGNED_IN_SCHEMA = {
  type: 'object',
  properties: {
    user: { type: 'string' },
    role: { type: 'string' },
    organisation: { type: ['string', 'null'], description: 'ODS code' },
    nhs_number: { type: ['string', 'null'], description: "for a patient: whose record is theirs" },
    authenticated_by: { type: 'string', enum: ['session', 'bearer'] },
    issuer: { type: 'string', description: 'for a bearer token: who signed it' },
    idle_expires_at: { type: ['string', 'null'], format: 'date-time', description: 'a session ends then unless there is activity before (null for a bearer token)' },
    absolute_expires_at: { type: 'string', format: 'date-time', description: 'the sign-in ends then whatever happens' },
    csrf_token: { type: 'string', description: 'for a browser session: send as X-CSRF-Token on POST, PUT, PATCH and DELETE' },
  },
} as const;

/** The body of GET /auth/session. */
function signedIn(c: Credential) {
  const p = c.kind === 'session' ? c.session.principal : c.token.principal;
  const base = { user: p.user, role: p.role, organisation: p.organisation, nhs_number: p.nhsNumber ?? null, authenticated_by: c.kind };
  if (c.kind === 'session') {
    return { ...base, idle_expires_at: c.session.idleExpiresAt.toISOString(), absolute_expires_at: c.session.absoluteExpiresAt.toISOString(), csrf_token: c.session.csrfToken };
  }
  return { ...base, issuer: c.token.issuer, idle_expires_at: null, absolute_expires_at: c.token.expiresAt.toISOString() };
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
