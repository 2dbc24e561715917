/**
 * Bearer tokens of either issuer: the server's own (access/tokens.ts, `urn:bevan:server`) or the
 * configured OpenID Connect provider (access/oidc.ts). The token's unverified `iss` only picks
 * which verifier checks it; a token from any other issuer is refused before any key is looked up.
 * A verified token is then checked against the sign-out denylist (`revoked_token`).
 *
 * A verified token is remembered (by its sha256, per database) until its own expiry, so that a
 * client sending the same token on every request costs one signature check and key lookup, not
 * one per request. The denylist is still read for every request: a token signed out on any server
 * sharing the database stops at once everywhere. Either here, before the request goes on (one
 * indexed lookup), or — for a route that only reads through the FHIR repository, on a server —
 * as a column of the request's first statement (`SignOutCheck`, `signedOutColumn`): the same
 * lookup without a round trip of its own, settled before any data is handed back, and by the HTTP
 * layer before anything is sent if no statement settled it.
 */
import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Queryable } from '../db/database.ts';
import { unauthenticated } from './context.ts';
import type { OidcVerifier, VerifiedToken } from './oidc.ts';
import { isTokenRevoked, signedOutColumn } from './sessions.ts';
import { ISSUER, verifyTokenClaims } from './tokens.ts';

/** Tokens remembered per database at most (the oldest go first). */
const MAX_REMEMBERED = 10_000;

interface Remembered {
  token: VerifiedToken;
  /** The verifier that accepted it (the OIDC settings may differ between apps on one database, as in tests). */
  verifier: OidcVerifier | null;
  /** When it was verified (ms): a clock moved back before it verifies again. */
  at: number;
}

const remembered = new WeakMap<Queryable, Map<string, Remembered>>();

/**
 * A verified token's sign-out check left to the request's first database statement: `pending`
 * until a statement (or `settleSignOutCheck`) has read the denylist, then `passed` or `signed-out`.
 * A request whose check is not `passed` is never answered with data (http/auth.ts settles any
 * check still pending before a reply leaves).
 */
export interface SignOutCheck {
  issuer: string;
  jti: string;
  state: 'pending' | 'passed' | 'signed-out';
}

export const signedOutError = () => unauthenticated('the bearer token is not valid: it was signed out (POST /auth/logout)');

/** The check as a column `signed_out` (boolean) for a statement that runs anyway; `p` adds a parameter. */
export function signOutCheckColumn(check: SignOutCheck, p: (v: unknown) => string): string {
  return signedOutColumn(p(check.issuer), p(check.jti));
}

/** Records what a statement's `signed_out` column said; throws (unauthenticated) when the token was signed out. */
export function signOutSeen(check: SignOutCheck, signedOut: unknown): void {
  if (signedOut !== true && signedOut !== false) throw new Error('sign-out check: the statement returned no signed_out column');
  check.state = signedOut ? 'signed-out' : 'passed';
  if (signedOut) throw signedOutError();
}

/** Reads the denylist for a check still pending (one statement); throws when the token was signed out. */
export async function settleSignOutCheck(db: Queryable, check: SignOutCheck): Promise<void> {
  if (check.state === 'pending') check.state = (await isTokenRevoked(db, check.issuer, check.jti)) ? 'signed-out' : 'passed';
  if (check.state === 'signed-out') throw signedOutError();
}

/**
 * The verified token, checked against the denylist here, or (`deferSignOutCheck`, for a token with
 * a jti) with a `signOutCheck` that the caller must settle before it answers with anything.
 */
export async function verifyBearer(db: Queryable, token: string, o: { oidc?: OidcVerifier | null; now: Date; deferSignOutCheck?: boolean }): Promise<VerifiedToken & { signOutCheck?: SignOutCheck }> {
  const now = o.now.getTime();
  const key = createHash('sha256').update(token).digest('base64url');
  let cache = remembered.get(db);
  const hit = cache?.get(key);
  let verified: VerifiedToken;
  if (hit && now < hit.token.expiresAt.getTime() && now >= hit.at && (hit.token.issuer === ISSUER || hit.verifier === (o.oidc ?? null))) {
    verified = hit.token;
  } else {
    if (hit) cache!.delete(key);
    verified = await verifySignature(db, token, o);
    if (!cache) remembered.set(db, (cache = new Map()));
    if (cache.size >= MAX_REMEMBERED) {
      for (const [k, v] of cache) if (v.token.expiresAt.getTime() <= now) cache.delete(k);
      if (cache.size >= MAX_REMEMBERED) cache.delete(cache.keys().next().value!);
    }
    cache.set(key, { token: verified, verifier: verified.issuer === ISSUER ? null : (o.oidc ?? null), at: now });
  }
  if (verified.jti && o.deferSignOutCheck) return { ...verified, signOutCheck: { issuer: verified.issuer, jti: verified.jti, state: 'pending' } };
  if (verified.jti && (await isTokenRevoked(db, verified.issuer, verified.jti))) {
    cache?.delete(key);
    throw signedOutError();
  }
  return verified;
}

/** The signature, issuer, audience and times of a token, by the verifier its `iss` names. */
async function verifySignature(db: Queryable, token: string, o: { oidc?: OidcVerifier | null; now: Date }): Promise<VerifiedToken> {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    throw unauthenticated('the bearer token is not valid: it is not a JWT');
  }
  if (iss === ISSUER) return { ...(await verifyTokenClaims(db, token, o.now)), issuer: ISSUER };
  if (o.oidc && iss === o.oidc.issuer) return o.oidc.verify(token, o.now);
  const accepted = [ISSUER, ...(o.oidc ? [o.oidc.issuer] : [])].join(' or ');
  throw unauthenticated(`the bearer token is not valid: it is from issuer ${JSON.stringify(String(iss ?? '')).slice(0, 120)}, and this server accepts tokens from ${accepted} only`);
}
