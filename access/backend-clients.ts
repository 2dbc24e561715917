/**
 * SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html), the
 * sign-in the Bulk Data IG names for systems: a registered client (table `backend_client`) asks
 * the token endpoint for an access token with a JWT it signed with its own private key
 * (`private_key_jwt`, RFC 7523 §2.2). Bevan checks the assertion — the signature by one of the
 * client's registered public keys (a JWKS given at registration, or fetched from its jwks_url),
 * iss = sub = client_id, aud = this token endpoint, an expiry at most five minutes ahead, a jti
 * never seen before — and issues its own short-lived bearer token (access/tokens.ts) naming the
 * client, its role and organisation, and the scopes granted. What the client may then read is the
 * access policy's decision for that role, as for a user in it; the scopes can only narrow it.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Queryable } from '../db/database.ts';
import { conflict, invalid, isRole, notFound, ROLES, type Principal, type Role } from './context.ts';
import { formatScopes, grantScopes, parseSystemScopes, type ScopeQueryCheck, type SystemScope } from './smart-scopes.ts';
import { R4_RESOURCE_TYPES } from '../ingest/fhir/r4.ts';

/** The assertion type RFC 7523 §2.2 names. */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Algorithms accepted on an assertion: SMART asks servers for RS384 and ES384; the other asymmetric JOSE ones are as safe. `none` and HMAC never. */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384', 'RS256', 'ES256', 'RS512', 'ES512', 'PS256', 'PS384', 'PS512'] as const;
/** SMART: an assertion's exp is no more than five minutes in the future. */
export const MAX_ASSERTION_SECONDS = 300;
/** The access token's life (SMART recommends five minutes). */
export const CLIENT_TOKEN_SECONDS = 300;
/** What a client may be granted when registered without --scope. */
export const DEFAULT_CLIENT_SCOPE = 'system/*.read system/*.rs';

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$/;
const ODS = /^[A-Z0-9-]{3,12}$/;

export interface BackendClient {
  clientId: string;
  role: Role;
  organisation: string | null;
  jwks: JSONWebKeySet | null;
  jwksUrl: string | null;
  /** The most it may be granted. */
  scope: string;
  disabled: boolean;
}

export interface NewBackendClient {
  clientId: string;
  role: string;
  organisation?: string | null;
  jwks?: unknown;
  jwksUrl?: string | null;
  scope?: string | null;
}

/** The principal a client acts as: its id (prefixed so it can never be taken for a local user's name), role and organisation. */
export function clientPrincipal(c: Pick<BackendClient, 'clientId' | 'role' | 'organisation'>, scopes: readonly string[]): Principal {
  return { user: `client:${c.clientId}`, role: c.role, organisation: c.organisation, scopes };
}

/** Checks a JWKS given at registration: public asymmetric keys, each with a kid (the assertion's header names it). */
export function checkClientJwks(jwks: unknown): string[] {
  if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) return ['the JWKS must be a JSON object with a "keys" array (RFC 7517 §5)'];
  const keys = (jwks as { keys: unknown[] }).keys;
  if (!keys.length) return ['the JWKS has no keys'];
  const problems: string[] = [];
  keys.forEach((k, i) => {
    const key = k as Record<string, unknown>;
    if (!key || typeof key !== 'object') return void problems.push(`key ${i + 1} is not an object`);
    if (key.kty !== 'RSA' && key.kty !== 'EC') problems.push(`key ${i + 1}: kty ${JSON.stringify(key.kty)} (RSA or EC public keys only)`);
    if ('d' in key || 'p' in key || 'k' in key) problems.push(`key ${i + 1} holds private or secret material: register the public key only`);
    if (typeof key.kid !== 'string' || !key.kid) problems.push(`key ${i + 1} has no kid`);
  });
  return problems;
}

/**
 * Registers a client; conflict when the id is taken. `checkQuery` says which scopes narrowed by a
 * query the server can apply (fhir/scope-narrowing.ts); without it such scopes are refused.
 */
export async function addBackendClient(db: Queryable, c: NewBackendClient, o: { checkQuery?: ScopeQueryCheck } = {}): Promise<BackendClient> {
  const problems: string[] = [];
  if (!CLIENT_ID.test(c.clientId)) problems.push(`"${c.clientId}" is not a client id: letters, digits, . _ ~ - (up to 64)`);
  if (!isRole(c.role)) problems.push(`"${c.role}" is not a role (roles are ${ROLES.join(', ')})`);
  else if (c.role === 'patient') problems.push('a backend client acts for a system, never as a patient');
  if (c.organisation && !ODS.test(c.organisation)) problems.push(`"${c.organisation}" is not an ODS code`);
  if (c.jwks === undefined && !c.jwksUrl) problems.push('give the public keys: --jwks FILE (a JWKS) or --jwks-url URL');
  if (c.jwks !== undefined) problems.push(...checkClientJwks(c.jwks));
  if (c.jwksUrl) {
    try {
      const u = new URL(c.jwksUrl);
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname))) problems.push('the jwks_url must be https (http only on this machine)');
    } catch {
      problems.push(`"${c.jwksUrl.slice(0, 100)}" is not a URL`);
    }
  }
  const scope = c.scope?.trim() || DEFAULT_CLIENT_SCOPE;
  const parsed = parseSystemScopes(scope, R4_RESOURCE_TYPES, o.checkQuery);
  if (parsed.kind === 'invalid') problems.push(...parsed.problems);
  else if (!parsed.scopes.length) problems.push(`--scope "${scope}" names no system read scope (e.g. system/*.read, system/Patient.rs)`);
  if (problems.length) throw invalid(problems.join('; '), problems);
  const r = await db.query(
    'INSERT INTO backend_client (client_id, role, organisation, jwks, jwks_url, scope) VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (client_id) DO NOTHING',
    [c.clientId, c.role, c.organisation ?? null, c.jwks === undefined ? null : JSON.stringify(c.jwks), c.jwksUrl ?? null, scope],
  );
  if (r.rowCount === 0) throw conflict(`client ${c.clientId} already exists`);
  return { clientId: c.clientId, role: c.role as Role, organisation: c.organisation ?? null, jwks: (c.jwks as JSONWebKeySet | undefined) ?? null, jwksUrl: c.jwksUrl ?? null, scope, disabled: false };
}

interface ClientRow {
  client_id: string;
  role: string;
  organisation: string | null;
  jwks: JSONWebKeySet | null;
  jwks_url: string | null;
  scope: string;
  disabled_at: unknown;
}

function toClient(r: ClientRow): BackendClient | null {
  if (!isRole(r.role)) return null;
  return { clientId: r.client_id, role: r.role, organisation: r.organisation, jwks: r.jwks, jwksUrl: r.jwks_url, scope: r.scope, disabled: r.disabled_at !== null };
}

export async function findBackendClient(db: Queryable, clientId: string): Promise<BackendClient | null> {
  const r = await db.query<ClientRow>('SELECT client_id, role, organisation, jwks, jwks_url, scope, disabled_at FROM backend_client WHERE client_id = $1', [clientId]);
  return r.rows[0] ? toClient(r.rows[0]) : null;
}

export async function listBackendClients(db: Queryable): Promise<BackendClient[]> {
  const r = await db.query<ClientRow>('SELECT client_id, role, organisation, jwks, jwks_url, scope, disabled_at FROM backend_client ORDER BY client_id');
  return r.rows.map(toClient).filter((c): c is BackendClient => c !== null);
}

/** Disables a client: no new token from then on (a token already issued lives out its five minutes). */
export async function disableBackendClient(db: Queryable, clientId: string): Promise<void> {
  const r = await db.query('UPDATE backend_client SET disabled_at = now() WHERE client_id = $1 AND disabled_at IS NULL', [clientId]);
  if (r.rowCount === 0 && !(await findBackendClient(db, clientId))) throw notFound(`no backend client ${clientId}`);
}

/** An OAuth 2.0 token endpoint error (RFC 6749 §5.2). */
export class OAuthError extends Error {
  constructor(
    readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope',
    readonly description: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
  /** invalid_client is 401 (RFC 6749 §5.2); every other error 400. */
  get status(): number {
    return this.error === 'invalid_client' ? 401 : 400;
  }
}

export interface TokenRequest {
  grant_type?: unknown;
  scope?: unknown;
  client_assertion_type?: unknown;
  client_assertion?: unknown;
}

export interface ClientGrant {
  client: BackendClient;
  principal: Principal;
  /** The granted scopes, as the token's scope string. */
  scope: string;
  /** Scopes asked for that are not resource scopes (openid…), left out. */
  ignored: string[];
}

// Remote key sets, one per URL (jose caches and refreshes them, and refetches for an unknown kid).
const remoteSets = new Map<string, JWTVerifyGetKey>();

function keySetFor(c: BackendClient): JWTVerifyGetKey {
  if (c.jwks) return createLocalJWKSet(c.jwks);
  let set = remoteSets.get(c.jwksUrl!);
  if (!set) remoteSets.set(c.jwksUrl!, (set = createRemoteJWKSet(new URL(c.jwksUrl!), { timeoutDuration: 5000, cooldownDuration: 30_000 })));
  return set;
}

/**
 * Checks a client_credentials token request (SMART backend services) into a grant, or throws an
 * OAuthError. `tokenUrls` are the URLs this endpoint answers to (the assertion's aud must be one);
 * `checkQuery` says which scopes narrowed by a query can be granted (without it, none).
 */
export async function authenticateClient(db: Queryable, req: TokenRequest, o: { tokenUrls: readonly string[]; now: Date; checkQuery?: ScopeQueryCheck }): Promise<ClientGrant> {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  if (text(req.grant_type) !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', req.grant_type === undefined ? 'grant_type is required (client_credentials)' : 'this token endpoint grants client_credentials only (SMART backend services)');
  }
  if (text(req.client_assertion_type) !== JWT_BEARER) throw new OAuthError('invalid_request', `client_assertion_type must be ${JWT_BEARER}`);
  const assertion = text(req.client_assertion);
  if (!assertion) throw new OAuthError('invalid_request', 'client_assertion is required (a JWT signed with the client\'s private key)');
  const scopeText = text(req.scope);
  if (!scopeText?.trim()) throw new OAuthError('invalid_scope', 'scope is required (e.g. system/*.read or system/Patient.rs system/Observation.rs)');

  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(assertion);
    claims = decodeJwt(assertion);
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a JWT');
  }
  if (typeof header.alg !== 'string' || !(ASSERTION_ALGORITHMS as readonly string[]).includes(header.alg)) {
    throw new OAuthError('invalid_client', `client_assertion alg ${JSON.stringify(header.alg ?? null)} is not accepted (${ASSERTION_ALGORITHMS.join(', ')})`);
  }
  if (typeof header.kid !== 'string' || !header.kid) throw new OAuthError('invalid_client', 'client_assertion has no kid in its header');
  const clientId = typeof claims.iss === 'string' ? claims.iss : '';
  if (!clientId || claims.sub !== clientId) throw new OAuthError('invalid_client', 'client_assertion iss and sub must both be the client_id');
  const client = CLIENT_ID.test(clientId) ? await findBackendClient(db, clientId) : null;
  if (!client) throw new OAuthError('invalid_client', `no backend client ${JSON.stringify(clientId.slice(0, 64))} is registered (bevan client add)`);
  if (client.disabled) throw new OAuthError('invalid_client', `client ${clientId} is disabled`);
  if (header.jku !== undefined && header.jku !== client.jwksUrl) throw new OAuthError('invalid_client', 'client_assertion jku is not the jwks_url the client registered');

  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(assertion, keySetFor(client), {
      issuer: clientId,
      subject: clientId,
      audience: [...o.tokenUrls],
      algorithms: [...ASSERTION_ALGORITHMS],
      currentDate: o.now,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: 30,
    }));
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ERR_JWKS_NO_MATCHING_KEY' ? `no registered key has kid ${JSON.stringify(header.kid)}`
      : code === 'ERR_JWT_EXPIRED' ? 'it has expired'
      : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && /aud/.test((err as Error).message) ? `its aud must be this token endpoint (${o.tokenUrls[0]})`
      : code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC' ? `the client's keys could not be fetched from its jwks_url`
      : (err as Error).message;
    throw new OAuthError('invalid_client', `client_assertion refused: ${why}`);
  }
  const nowSeconds = Math.floor(o.now.getTime() / 1000);
  if (payload.exp! > nowSeconds + MAX_ASSERTION_SECONDS + 30) throw new OAuthError('invalid_client', `client_assertion exp is more than ${MAX_ASSERTION_SECONDS / 60} minutes ahead`);
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw new OAuthError('invalid_client', 'client_assertion jti must be a string of up to 256 characters');

  const asked = parseSystemScopes(scopeText, R4_RESOURCE_TYPES, o.checkQuery);
  if (asked.kind === 'invalid') throw new OAuthError('invalid_scope', asked.problems.join('; '));
  // A registered narrowing this server can no longer apply grants nothing of its type (fails closed).
  const registered = parseSystemScopes(client.scope, R4_RESOURCE_TYPES, o.checkQuery);
  const granted: SystemScope[] = grantScopes(asked.scopes, registered.kind === 'ok' ? registered.scopes : []);
  if (!granted.length) throw new OAuthError('invalid_scope', `none of the scopes asked for is allowed to ${clientId} (registered for: ${client.scope})`);

  // Used once: a replayed assertion is refused on every server sharing the database.
  await db.query('DELETE FROM backend_client_assertion WHERE expires_at < $1', [o.now]);
  const fresh = await db.query('INSERT INTO backend_client_assertion (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [clientId, payload.jti, new Date(payload.exp! * 1000 + 30_000)]);
  if (fresh.rowCount === 0) throw new OAuthError('invalid_client', 'client_assertion jti has been used before: sign a new assertion for each token request');

  const scope = formatScopes(granted);
  return { client, principal: clientPrincipal(client, scope.split(' ')), scope, ignored: asked.ignored };
}
