import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { verifyAuditChain } from '../access/audit.ts';
import { OIDC_DEFAULTS, type OidcSettings } from '../access/oidc.ts';
import { issueToken, ISSUER } from '../access/tokens.ts';
import { addUser } from '../access/users.ts';
import type { Database } from '../db/database.ts';
import { startTestProvider } from '../test/oidc-provider.ts';
import { testDatabases } from '../test/databases.ts';
import { bevanApi, registerOpenApi } from './app.ts';
import { SESSION_COOKIE, type AuthOptions } from './auth.ts';

const PASSWORD = 'correct horse battery staple';
const MIN = 60_000;

async function buildApp(db: Database, o: Omit<AuthOptions, 'db'> = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  await registerOpenApi(app);
  await app.register(bevanApi, { db, loginPerMinute: 100, ...o });
  await app.ready();
  return app;
}

const outcome = (r: LightMyRequestResponse) => JSON.parse(r.body) as OperationOutcome;
const diagnostics = (r: LightMyRequestResponse) => outcome(r).issue[0]!.diagnostics ?? '';
/** The session id a response sets, or undefined. */
function sessionCookieOf(r: LightMyRequestResponse): string | undefined {
  const c = r.cookies.find((x) => x.name === SESSION_COOKIE);
  return c && c.value ? c.value : undefined;
}

for (const target of await testDatabases()) {
  test(`sign-in on ${target.name}: browser sessions (cookie flags, new session at sign-in, idle and absolute expiry, sign-out, CSRF, several servers, audit)`, async () => {
    const db = await target.open();
    let offset = 0; // the servers' clock runs `offset` ms ahead of the real one
    const now = () => new Date(Date.now() + offset);
    const apps: FastifyInstance[] = [];
    try {
      await addUser(db, { username: 'dr.jones', role: 'gp', organisation: 'P91001', password: PASSWORD });
      await addUser(db, { username: 'nurse.kay', role: 'community-nurse', organisation: 'RY7', password: PASSWORD });
      // Two stateless servers on one database.
      const a = await buildApp(db, { now });
      const b = await buildApp(db, { now });
      apps.push(a, b);
      const login = (app: FastifyInstance, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) =>
        app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'dr.jones', password: PASSWORD, session: true, ...body }, headers });
      const withCookie = (id: string, more: Record<string, string> = {}) => ({ cookie: `${SESSION_COOKIE}=${id}`, ...more });
      const search = (app: FastifyInstance, id: string) => app.inject({ method: 'GET', url: '/fhir/Patient?family=smith', headers: withCookie(id) });
      const session = (app: FastifyInstance, id: string) => app.inject({ method: 'GET', url: '/auth/session', headers: withCookie(id) });

      // Sign-in with "session": true: a cookie with the ASVS flags, no bearer token in the body.
      const first = await login(a);
      assert.equal(first.statusCode, 200, first.body);
      const setCookie = String(first.headers['set-cookie']);
      assert.match(setCookie, /^__Host-bevan_session=[A-Za-z0-9_-]{43};/);
      const attrs = setCookie.split(';').slice(1).map((s) => s.trim().toLowerCase()).sort();
      assert.deepEqual(attrs, ['httponly', 'path=/', 'samesite=strict', 'secure'], 'Secure, HttpOnly, SameSite=Strict, Path=/, no Domain, no Expires');
      assert.equal(first.headers['cache-control'], 'no-store');
      const s1 = sessionCookieOf(first)!;
      const body = first.json() as Record<string, string>;
      assert.equal(body.token_type, 'session');
      assert.equal(body.access_token, undefined, 'no token a script could read');
      assert.deepEqual([body.user, body.role, body.organisation, body.authenticated_by], ['dr.jones', 'gp', 'P91001', 'session']);
      assert.match(body.csrf_token!, /^[A-Za-z0-9_-]{43}$/);
      const t0 = Date.parse(body.absolute_expires_at!) - 12 * 3600_000;
      assert.ok(Math.abs(t0 - now().getTime()) < 5000);
      assert.equal(Date.parse(body.idle_expires_at!) - t0, 30 * MIN);
      // The database holds the session id's hash only.
      const stored = await db.query<{ session_hash: string }>('SELECT session_hash FROM session');
      assert.deepEqual(stored.rows.map((r) => r.session_hash), [createHash('sha256').update(s1).digest('hex')]);
      assert.ok(!JSON.stringify(stored.rows).includes(s1));

      // The cookie is a credential on the other server too (the session is in the database).
      const onB = await session(b, s1);
      assert.equal(onB.statusCode, 200, onB.body);
      assert.equal((onB.json() as { csrf_token: string }).csrf_token, body.csrf_token);
      assert.equal((await search(b, s1)).statusCode, 200);

      // A new session at every sign-in; one the browser brought along (or an id an attacker planted) is not kept.
      const planted = 'A'.repeat(43);
      const second = await login(a, withCookie(s1));
      const s2 = sessionCookieOf(second)!;
      assert.ok(s2 && s2 !== s1 && s2 !== planted);
      const r1 = await search(a, s1);
      assert.equal(r1.statusCode, 401, 'the session the browser held before signing in again has ended');
      assert.match(String(r1.headers['set-cookie']), /__Host-bevan_session=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i, 'and its cookie is cleared');
      const third = await login(b, withCookie(planted));
      const s3 = sessionCookieOf(third)!;
      assert.ok(s3 !== planted && s3 !== s2);
      assert.equal((await search(a, planted)).statusCode, 401);
      assert.equal((await search(a, s2)).statusCode, 200, 'another sign-in without the cookie leaves other sessions alone');

      // CSRF: a cookie-authenticated POST needs the session's token; refused before its body is read.
      const csrf2 = (second.json() as { csrf_token: string }).csrf_token;
      const logout = (headers: Record<string, string>) => b.inject({ method: 'POST', url: '/auth/logout', headers });
      const noToken = await logout(withCookie(s2));
      assert.equal(noToken.statusCode, 403);
      assert.equal(outcome(noToken).resourceType, 'OperationOutcome');
      assert.match(diagnostics(noToken), /no CSRF token/);
      assert.match(diagnostics(await logout(withCookie(s2, { 'x-csrf-token': body.csrf_token! }))), /a wrong CSRF token/, "another session's token");
      const bigPost = await a.inject({ method: 'POST', url: '/fhir/Patient', headers: withCookie(s2, { 'content-type': 'application/fhir+json' }), payload: 'x'.repeat(2 << 20) });
      assert.equal(bigPost.statusCode, 403, 'refused before the body is parsed (not 413)');
      const evil = await logout(withCookie(s2, { 'x-csrf-token': csrf2, origin: 'https://evil.example' }));
      assert.equal(evil.statusCode, 403);
      assert.match(diagnostics(evil), /another site/);
      assert.equal((await search(a, s2)).statusCode, 200, 'GET needs no CSRF token; the session is still alive');
      // With the token: signed out on the server, the cookie cleared, the old cookie refused everywhere.
      const out = await logout(withCookie(s2, { 'x-csrf-token': csrf2, origin: 'http://localhost' }));
      assert.equal(out.statusCode, 200, out.body);
      assert.deepEqual(out.json(), { session_ended: true, token_revoked: false });
      assert.match(String(out.headers['set-cookie']), /__Host-bevan_session=;/);
      for (const app of [a, b]) {
        const after = await search(app, s2);
        assert.equal(after.statusCode, 401);
        assert.match(diagnostics(after), /signed out/);
      }

      // A bearer request needs no CSRF token; sign-out revokes the token until it expires.
      const tokenLogin = await login(a, {}, { session: false });
      const bearer = `Bearer ${(tokenLogin.json() as { access_token: string }).access_token}`;
      assert.equal(tokenLogin.headers['set-cookie'], undefined, 'no cookie without "session": true');
      const bearerSession = (await a.inject({ method: 'GET', url: '/auth/session', headers: { authorization: bearer } })).json() as Record<string, unknown>;
      assert.equal(bearerSession.authenticated_by, 'bearer');
      assert.equal(bearerSession.issuer, ISSUER);
      assert.equal(bearerSession.idle_expires_at, null);
      const revoked = await a.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: bearer } });
      assert.equal(revoked.statusCode, 200, revoked.body);
      assert.deepEqual(revoked.json(), { session_ended: false, token_revoked: true });
      const afterRevoke = await b.inject({ method: 'GET', url: '/auth/session', headers: { authorization: bearer } });
      assert.equal(afterRevoke.statusCode, 401);
      assert.match(diagnostics(afterRevoke), /signed out/);
      assert.equal((await a.inject({ method: 'GET', url: '/auth/session', headers: { authorization: `Bearer ${await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' })}` } })).statusCode, 200, 'other tokens still work');

      // Sign-in refused: wrong password (no cookie), a sign-in started by another site.
      const wrong = await login(a, {}, { password: 'not the password' });
      assert.equal(wrong.statusCode, 401);
      assert.equal(wrong.headers['set-cookie'], undefined);
      const crossSite = await login(a, { origin: 'https://evil.example' });
      assert.equal(crossSite.statusCode, 403);
      assert.equal(crossSite.headers['set-cookie'], undefined);

      // Idle timeout (sliding): 29 minutes of quiet is fine, and moves the deadline; 30 is not.
      const idle = sessionCookieOf(await login(a))!;
      offset += 29 * MIN;
      assert.equal((await search(a, idle)).statusCode, 200);
      offset += 29 * MIN;
      const slid = await session(b, idle);
      assert.equal(slid.statusCode, 200, 'slid by the request 29 minutes ago');
      assert.ok(Math.abs(Date.parse((slid.json() as { idle_expires_at: string }).idle_expires_at) - (now().getTime() + 1 * MIN)) < 5000, 'idle expiry shown: a minute from now');
      offset += 1 * MIN;
      const gone = await search(b, idle);
      assert.equal(gone.statusCode, 401);
      assert.match(diagnostics(gone), /30 minutes without activity/);

      // Activity is written at most once a minute; GET /auth/session (polled by a web app) does not count.
      const quiet = sessionCookieOf(await login(a))!;
      const lastSeen = async () => (await db.query<{ t: string }>('SELECT last_seen_at::text AS t FROM session WHERE session_hash = $1', [createHash('sha256').update(quiet).digest('hex')])).rows[0]!.t;
      const seen0 = await lastSeen();
      offset += 20_000;
      await search(a, quiet);
      assert.equal(await lastSeen(), seen0, 'not written within the minute');
      offset += 10 * MIN;
      assert.equal((await session(a, quiet)).statusCode, 200);
      assert.equal(await lastSeen(), seen0, 'GET /auth/session does not slide the session');
      offset += 20 * MIN;
      assert.equal((await session(a, quiet)).statusCode, 401, 'idle: only /auth/session was asked for 30 minutes');

      // Absolute timeout: 12 hours after sign-in, however busy; near the end the idle expiry is capped by it.
      const busy = sessionCookieOf(await login(a))!;
      const started = now().getTime();
      while (now().getTime() - started < 12 * 3600_000 - 25 * MIN) {
        offset += 25 * MIN;
        assert.equal((await search(offset % 2 ? a : b, busy)).statusCode, 200);
      }
      offset += 15 * MIN;
      const late = (await session(a, busy)).json() as { idle_expires_at: string; absolute_expires_at: string };
      assert.equal(late.idle_expires_at, late.absolute_expires_at, 'idle expiry never past the absolute one');
      offset = started - Date.now() + 12 * 3600_000 + 1000;
      const tooLong = await search(b, busy);
      assert.equal(tooLong.statusCode, 401);
      assert.match(diagnostics(tooLong), /12-hour limit/);
      offset = 0;

      // A disabled user's sessions stop at once.
      const kay = await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nurse.kay', password: PASSWORD, session: true } });
      const kayId = sessionCookieOf(kay)!;
      assert.equal((await session(a, kayId)).statusCode, 200);
      await db.query(`UPDATE app_user SET disabled_at = now() WHERE username = 'nurse.kay'`);
      assert.match(diagnostics(await session(a, kayId)), /disabled/);

      // Audited: each sign-in, each session started and ended, the revoked token, the refused sign-in.
      const audit = await db.query<{ action: string; decision: string | null; reason: string | null; n: number }>(
        `SELECT action, decision, reason, count(*)::int AS n FROM audit_log WHERE action LIKE 'auth.%' OR action LIKE 'session.%' OR action LIKE 'token.%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      );
      const count = (action: string, extra: (r: { decision: string | null; reason: string | null }) => boolean = () => true) => audit.rows.filter((r) => r.action === action && extra(r)).reduce((n, r) => n + r.n, 0);
      assert.equal(count('session.start'), 7);
      assert.equal(count('auth.login', (r) => r.decision === 'permit'), 8);
      assert.equal(count('auth.login', (r) => r.decision === 'deny'), 1);
      assert.equal(count('session.end', (r) => r.reason === 'signed out'), 1);
      assert.equal(count('session.end', (r) => r.reason === 'replaced by a new sign-in'), 1);
      assert.equal(count('token.revoke'), 1);
      const chain = await verifyAuditChain(db);
      assert.equal(chain.ok, true, chain.reason);

      // The OpenAPI document describes the new endpoints and both credentials.
      const api = (await a.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>>; components: { securitySchemes: Record<string, { name?: string }> } };
      assert.ok(api.paths['/auth/session']?.get);
      assert.ok(api.paths['/auth/logout']?.post);
      assert.ok(JSON.stringify(api.paths['/auth/login']).includes('"session"'));
      assert.equal(api.components.securitySchemes.session!.name, SESSION_COOKIE);
    } finally {
      for (const app of apps) await app.close();
      await db.drop();
    }
  });

  test(`sign-in on ${target.name}: OpenID Connect tokens from a locally signed key set, beside the server's own`, async () => {
    const db = await target.open();
    const idp = await startTestProvider({ audience: 'bevan-api' });
    const stranger = await startTestProvider({ audience: 'bevan-api' });
    const apps: FastifyInstance[] = [];
    try {
      const settings: OidcSettings = {
        issuer: idp.issuer,
        audience: ['bevan-api'],
        jwksUrl: idp.jwksUrl,
        algorithms: [...OIDC_DEFAULTS.algorithms],
        clockToleranceSeconds: 30,
        claims: { ...OIDC_DEFAULTS.claims },
        roleMap: { R8000: 'gp' },
      };
      const app = await buildApp(db, { oidc: settings });
      const discovering = await buildApp(db, { oidc: { ...settings, jwksUrl: null } });
      apps.push(app, discovering);
      const asking = (token: string, url = '/auth/session', on = app) => on.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

      // A valid token: role and organisation from its claims.
      const good = await idp.sign({ sub: 'a1b2c3', roles: ['offline_access', 'R8000'], ods: 'P91001', jti: 'tok-1' });
      const me = await asking(good);
      assert.equal(me.statusCode, 200, me.body);
      assert.deepEqual(me.json(), { user: 'a1b2c3', role: 'gp', organisation: 'P91001', nhs_number: null, authenticated_by: 'bearer', issuer: idp.issuer, idle_expires_at: null, absolute_expires_at: (me.json() as { absolute_expires_at: string }).absolute_expires_at });
      assert.equal((await asking(good, '/fhir/Patient?family=smith')).statusCode, 200);
      assert.equal((await asking(await idp.sign({ sub: 'p', roles: 'patient', nhs_number: '9434765919' }, { alg: 'ES256' }))).statusCode, 200);
      assert.equal((await asking(await idp.sign({ sub: 'x', roles: 'gp' }, { alg: 'PS256' }), '/auth/session', discovering)).statusCode, 200, 'JWKS found by discovery');

      // Refused with 401 and an OperationOutcome.
      const secs = Math.floor(Date.now() / 1000);
      const other = await generateKeyPair('RS256');
      const pem = await exportSPKI(idp.keys[0]!.publicKey);
      const refused: [string, string, RegExp][] = [
        ['expired', await idp.sign({ sub: 'u', roles: 'gp', exp: secs - 300 }), /expired/],
        ['not yet valid', await idp.sign({ sub: 'u', roles: 'gp', nbf: secs + 300 }), /not valid yet/],
        ['wrong audience', await idp.sign({ sub: 'u', roles: 'gp', aud: 'someone-else' }), /audience/],
        ['another issuer, our provider’s key', await idp.sign({ sub: 'u', roles: 'gp', iss: 'https://login.elsewhere.example' }), /accepts tokens from/],
        ['a token from another issuer', await stranger.sign({ sub: 'u', roles: 'gp' }), /accepts tokens from/],
        ['forged signature', await idp.sign({ sub: 'u', roles: 'gp' }, { key: other.privateKey }), /signature/],
        ['alg none', new UnsecuredJWT({ sub: 'u', roles: 'gp' }).setIssuer(idp.issuer).setAudience('bevan-api').setExpirationTime('5m').encode(), /algorithm/],
        ['HS256 with the public key as secret', await new SignJWT({ sub: 'u', roles: 'gp' }).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(idp.issuer).setAudience('bevan-api').setExpirationTime('5m').sign(new TextEncoder().encode(pem)), /algorithm/],
        ['unknown kid', await idp.sign({ sub: 'u', roles: 'gp' }, { key: other.privateKey, kid: 'rotated-away' }), /no key/],
        ['our issuer, their key', await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setSubject('u').setIssuer(ISSUER).setAudience('urn:bevan:api').setIssuedAt().setExpirationTime('5m').sign(idp.keys[0]!.privateKey), /not valid/],
      ];
      for (const [what, token, reason] of refused) {
        const r = await asking(token, '/fhir/Patient?family=smith');
        assert.equal(r.statusCode, 401, `${what}: ${r.body}`);
        assert.equal(outcome(r).resourceType, 'OperationOutcome', what);
        assert.equal(outcome(r).issue[0]!.code, 'login', what);
        assert.match(diagnostics(r), reason, what);
        assert.match(String(r.headers['www-authenticate']), /^Bearer/, what);
      }
      // A good signature but a role that maps to no Bevan role: 403 with the reason, never a default role.
      const noRole = await asking(await idp.sign({ sub: 'u', roles: ['surgeon'] }));
      assert.equal(noRole.statusCode, 403);
      assert.match(diagnostics(noRole), /maps to no Bevan role/);

      // The server's own tokens still work alongside.
      const own = await asking(await issueToken(db, { user: 'dr.jones', role: 'gp', organisation: 'P91001' }));
      assert.equal(own.statusCode, 200);
      assert.equal((own.json() as { issuer: string }).issuer, ISSUER);

      // Sign-out revokes a provider token that has a jti; one without is reported, not pretended.
      const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${good}` } });
      assert.deepEqual(out.json(), { session_ended: false, token_revoked: true });
      assert.equal((await asking(good)).statusCode, 401);
      const noJti = await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${await idp.sign({ sub: 'v', roles: 'gp' })}` } });
      assert.equal((noJti.json() as { token_revoked: boolean; note: string }).token_revoked, false);
      assert.match((noJti.json() as { note: string }).note, /no jti/);
    } finally {
      for (const app of apps) await app.close();
      await idp.close();
      await stranger.close();
      await db.drop();
    }
  });
}
