/**
 * Bearer tokens: JWTs signed by the server's own key (ES256, `jose`). The key lives in the
 * database (`server_key`), so several stateless servers on one PostgreSQL share it; the first
 * server to need one makes it. The public half is served as a JWKS at /.well-known/jwks.json.
 * Tokens carry the user, role, organisation (and for a patient, NHS number) and live one hour;
 * a backend client's (access/backend-clients.ts) also its granted SMART scopes, and live five minutes.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Queryable } from '../db/database.ts';
import { isRole, unauthenticated, type Principal } from './context.ts';

export const TOKEN_SECONDS = 3600;
export const ISSUER = 'urn:bevan:server';
export const AUDIENCE = 'urn:bevan:api';
const ALG = 'ES256';

interface KeyPair {
  kid: string;
  privateKey: CryptoKey | Uint8Array;
  publicKey: CryptoKey | Uint8Array;
  publicJwk: JWK;
}

/** The current signing key, made and stored on first use. */
export async function signingKey(db: Queryable): Promise<KeyPair> {
  const existing = await db.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>(
    'SELECT kid, private_jwk, public_jwk FROM server_key WHERE retired_at IS NULL ORDER BY created_at, kid LIMIT 1',
  );
  if (existing.rows[0]) return toPair(existing.rows[0]);
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
  await db.query('INSERT INTO server_key (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3::jsonb, $4::jsonb)', [kid, ALG, JSON.stringify(privateJwk), JSON.stringify(publicJwk)]);
  // Two servers starting together may both insert: the oldest key wins for both.
  const again = await db.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>('SELECT kid, private_jwk, public_jwk FROM server_key WHERE retired_at IS NULL ORDER BY created_at, kid LIMIT 1');
  return toPair(again.rows[0]!);
}

async function toPair(r: { kid: string; private_jwk: JWK; public_jwk: JWK }): Promise<KeyPair> {
  return { kid: r.kid, privateKey: await importJWK(r.private_jwk, ALG), publicKey: await importJWK(r.public_jwk, ALG), publicJwk: r.public_jwk };
}

/** The public keys (current and retired but not yet expired), as a JWKS. */
export async function jwks(db: Queryable): Promise<{ keys: JWK[] }> {
  await signingKey(db);
  const r = await db.query<{ public_jwk: JWK }>(`SELECT public_jwk FROM server_key WHERE retired_at IS NULL OR retired_at > now() - interval '1 day' ORDER BY created_at`);
  return { keys: r.rows.map((x) => x.public_jwk) };
}

/** A public key of this server by its id, current or retired (to check an old signature, e.g. an audit anchor's). */
export async function publicKeyById(db: Queryable, kid: string): Promise<JWK | null> {
  const r = await db.query<{ public_jwk: JWK }>('SELECT public_jwk FROM server_key WHERE kid = $1', [kid]);
  return r.rows[0]?.public_jwk ?? null;
}

export async function issueToken(db: Queryable, p: Principal, seconds = TOKEN_SECONDS, now = new Date()): Promise<string> {
  const key = await signingKey(db);
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ role: p.role, org: p.organisation ?? undefined, nhs: p.nhsNumber ?? undefined, scope: p.scopes ? p.scopes.join(' ') : undefined })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
    .setSubject(p.user)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + seconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** Verifies a bearer token (signature by one of our keys, issuer, audience, expiry, ES256 only) into a principal. */
export async function verifyToken(db: Queryable, token: string, now = new Date()): Promise<Principal> {
  return (await verifyTokenClaims(db, token, now)).principal;
}

/** As verifyToken, with the token id and expiry (for sign-out, and for showing when it ends). */
export async function verifyTokenClaims(db: Queryable, token: string, now = new Date()): Promise<{ principal: Principal; jti: string | null; expiresAt: Date }> {
  const { keys } = await jwks(db);
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const jwk = keys.find((k) => k.kid === header.kid);
        if (!jwk) throw new Error('unknown key');
        return importJWK(jwk, ALG);
      },
      { issuer: ISSUER, audience: AUDIENCE, algorithms: [ALG], currentDate: now, requiredClaims: ['sub', 'exp', 'iat'] },
    );
    if (!payload.sub || !isRole(payload.role)) throw new Error('no user or role');
    return {
      principal: {
        user: payload.sub,
        role: payload.role,
        organisation: typeof payload.org === 'string' ? payload.org : null,
        nhsNumber: typeof payload.nhs === 'string' ? payload.nhs : null,
        // A backend client's token (access/backend-clients.ts) carries the scopes it was granted.
        ...(typeof payload.scope === 'string' ? { scopes: payload.scope.split(' ').filter(Boolean) } : {}),
      },
      jti: typeof payload.jti === 'string' ? payload.jti : null,
      expiresAt: new Date(payload.exp! * 1000),
    };
  } catch (err) {
    throw unauthenticated(`the bearer token is not valid: ${(err as Error).message}`);
  }
}
