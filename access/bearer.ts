/**
 * Bearer tokens of either issuer: the server's own (access/tokens.ts, `urn:bevan:server`) or the
 * configured OpenID Connect provider (access/oidc.ts). The token's unverified `iss` only picks
 * which verifier checks it; a token from any other issuer is refused before any key is looked up.
 * A verified token is then checked against the sign-out denylist (`revoked_token`).
 */
import { decodeJwt } from 'jose';
import type { Queryable } from '../db/database.ts';
import { unauthenticated } from './context.ts';
import type { OidcVerifier, VerifiedToken } from './oidc.ts';
import { isTokenRevoked } from './sessions.ts';
import { ISSUER, verifyTokenClaims } from './tokens.ts';

export async function verifyBearer(db: Queryable, token: string, o: { oidc?: OidcVerifier | null; now: Date }): Promise<VerifiedToken> {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    throw unauthenticated('the bearer token is not valid: it is not a JWT');
  }
  let verified: VerifiedToken;
  if (iss === ISSUER) verified = { ...(await verifyTokenClaims(db, token, o.now)), issuer: ISSUER };
  else if (o.oidc && iss === o.oidc.issuer) verified = await o.oidc.verify(token, o.now);
  else {
    const accepted = [ISSUER, ...(o.oidc ? [o.oidc.issuer] : [])].join(' or ');
    throw unauthenticated(`the bearer token is not valid: it is from issuer ${JSON.stringify(String(iss ?? '')).slice(0, 120)}, and this server accepts tokens from ${accepted} only`);
  }
  if (verified.jti && (await isTokenRevoked(db, verified.issuer, verified.jti))) throw unauthenticated('the bearer token is not valid: it was signed out (POST /auth/logout)');
  return verified;
}
