/**
 * Bearer tokens from an external OpenID Connect provider (OpenID Connect Core 1.0; RFC 9068
 * access tokens): signature checked against the provider's JWKS (fetched with `jose`
 * createRemoteJWKSet, cached, refetched for an unknown kid no more than every 30 s), issuer,
 * audience, exp and nbf with a small clock tolerance, and asymmetric algorithms only (RS256,
 * ES256, PS256: never `none`, never HS*, whose "secret" could be the provider's public key).
 *
 * The principal comes from claims whose names are configurable: the user (default `sub`), the
 * role (default `roles`, a string or an array, mapped through a role map to exactly one of the
 * 11 Bevan roles), the organisation's ODS code (default `ods`) and, for a patient, the NHS
 * number (default `nhs_number`, as NHS login names it). A token whose role maps to no Bevan role,
 * or to several, is refused with the reason: there is no default role.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { forbidden, isRole, unauthenticated, unavailable, type Principal, type Role } from './context.ts';
import { isValidNhsNumber } from '../mpi/nhs-number.ts';

/** The only algorithms accepted from a provider: asymmetric signatures. */
export const OIDC_ALGORITHMS = ['RS256', 'ES256', 'PS256'] as const;
export type OidcAlgorithm = (typeof OIDC_ALGORITHMS)[number];

export interface OidcSettings {
  /** The provider's issuer identifier, exactly as its tokens' `iss` say. */
  issuer: string;
  /** Accepted `aud` values (one is enough). */
  audience: string[];
  /** The provider's JWKS; when null, `jwks_uri` from the issuer's /.well-known/openid-configuration. */
  jwksUrl: string | null;
  algorithms: OidcAlgorithm[];
  /** Allowed clock skew for exp and nbf, in seconds. */
  clockToleranceSeconds: number;
  /** Claim names (a dotted path reaches into objects, e.g. `realm_access.roles`). */
  claims: { user: string; role: string; organisation: string; nhsNumber: string };
  /** Provider role value → Bevan role. A value that is itself a Bevan role name maps to itself. */
  roleMap: Record<string, Role>;
}

export const OIDC_DEFAULTS = {
  algorithms: [...OIDC_ALGORITHMS] as OidcAlgorithm[],
  clockToleranceSeconds: 30,
  claims: { user: 'sub', role: 'roles', organisation: 'ods', nhsNumber: 'nhs_number' },
};

export interface VerifiedToken {
  principal: Principal;
  issuer: string;
  /** The token id, when it has one (it can then be revoked at sign-out). */
  jti: string | null;
  expiresAt: Date;
}

const ODS = /^[A-Z0-9-]{3,12}$/;

/** Reads a claim by name, or by dotted path when no claim has the whole name. */
export function claimAt(payload: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(payload, name)) return payload[name];
  let v: unknown = payload;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * The principal a verified token's claims describe (pure). Throws forbidden with the reason when
 * the claims do not give exactly one Bevan role, a usable organisation or, for a patient, an NHS
 * number.
 */
export function principalFromClaims(payload: JWTPayload, s: Pick<OidcSettings, 'claims' | 'roleMap'>): Principal {
  const p = payload as Record<string, unknown>;
  const user = claimAt(p, s.claims.user);
  if (typeof user !== 'string' || !user.trim() || user.length > 200) throw unauthenticated(`the token has no usable "${s.claims.user}" claim (the user)`);
  const raw = claimAt(p, s.claims.role);
  if (raw === undefined || raw === null) throw forbidden(`the token has no "${s.claims.role}" claim, so no Bevan role: ask the identity provider's administrator to give ${user} a role`);
  const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string');
  const roles = [...new Set(values.map((v) => s.roleMap[v] ?? (isRole(v) ? v : null)).filter((r): r is Role => r !== null))];
  const shown = values.slice(0, 5).map((v) => JSON.stringify(v.slice(0, 40))).join(', ') || 'none';
  if (roles.length === 0) throw forbidden(`the token's "${s.claims.role}" claim (${shown}) maps to no Bevan role: no role is assumed`);
  if (roles.length > 1) throw forbidden(`the token's "${s.claims.role}" claim maps to several Bevan roles (${roles.join(', ')}): a token must carry one`);
  const role = roles[0]!;
  const orgRaw = claimAt(p, s.claims.organisation);
  const orgs = (Array.isArray(orgRaw) ? orgRaw : orgRaw === undefined || orgRaw === null ? [] : [orgRaw]).map((o) => (typeof o === 'string' ? o.trim().toUpperCase() : o));
  if (orgs.length > 1) throw forbidden(`the token's "${s.claims.organisation}" claim names several organisations: a token must carry one`);
  const organisation = orgs[0] ?? null;
  if (organisation !== null && (typeof organisation !== 'string' || !ODS.test(organisation))) throw forbidden(`the token's "${s.claims.organisation}" claim is not an ODS code`);
  const nhsRaw = claimAt(p, s.claims.nhsNumber);
  const nhsNumber = typeof nhsRaw === 'string' ? nhsRaw.replace(/\s+/g, '') : null;
  if (nhsNumber !== null && !isValidNhsNumber(nhsNumber)) throw forbidden(`the token's "${s.claims.nhsNumber}" claim is not a valid NHS number`);
  if (role === 'patient' && !nhsNumber) throw forbidden(`a patient's token needs an NHS number in its "${s.claims.nhsNumber}" claim (whose record is theirs)`);
  return { user, role, organisation, nhsNumber };
}

/** The provider's key set could not be had: a server-side problem (503), not a bad token. */
class KeySetUnavailable extends Error {}

/** Verifies tokens from one OpenID Connect provider. */
export class OidcVerifier {
  private keys: JWTVerifyGetKey | null = null;
  private discovering: Promise<JWTVerifyGetKey> | null = null;
  /** The JWKS URL in use, once known (configured or discovered). */
  private jwksUrl: string | null = null;

  constructor(
    readonly settings: OidcSettings,
    private readonly o: { fetchTimeoutMs?: number } = {},
  ) {}

  get issuer(): string {
    return this.settings.issuer;
  }

  /** Verifies a token into a principal; unauthenticated (401) for a bad token, forbidden (403) for unusable claims, unavailable (503) when the provider's keys cannot be fetched. */
  async verify(token: string, now: Date): Promise<VerifiedToken> {
    const keys = await this.keySet();
    const s = this.settings;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        async (header, jws) => {
          try {
            return await keys(header, jws);
          } catch (err) {
            if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
            throw new KeySetUnavailable((err as Error).message);
          }
        },
        { issuer: s.issuer, audience: s.audience, algorithms: s.algorithms, clockTolerance: s.clockToleranceSeconds, currentDate: now, requiredClaims: ['exp'] },
      ));
    } catch (err) {
      if (err instanceof KeySetUnavailable) throw unavailable(`the identity provider's key set (${this.jwksUrl ?? s.issuer}) could not be fetched: ${err.message}`);
      throw unauthenticated(`the bearer token is not valid: ${describe(err)}`);
    }
    return {
      principal: principalFromClaims(payload, s),
      issuer: s.issuer,
      jti: typeof payload.jti === 'string' && payload.jti ? payload.jti : null,
      expiresAt: new Date(payload.exp! * 1000),
    };
  }

  private async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    this.discovering ??= this.discover().finally(() => (this.discovering = null));
    this.keys = await this.discovering;
    return this.keys;
  }

  /** The JWKS URL as configured, or from the provider's discovery document (OpenID Connect Discovery 1.0 §4). */
  private async discover(): Promise<JWTVerifyGetKey> {
    const timeout = this.o.fetchTimeoutMs ?? 5000;
    let url = this.settings.jwksUrl;
    if (!url) {
      const where = `${this.settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      let doc: { issuer?: unknown; jwks_uri?: unknown };
      try {
        const res = await fetch(where, { signal: AbortSignal.timeout(timeout), redirect: 'error' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        doc = (await res.json()) as typeof doc;
      } catch (err) {
        throw unavailable(`the identity provider's discovery document (${where}) could not be fetched: ${(err as Error).message}`);
      }
      // §4.3: the issuer in the document must be exactly the one configured.
      if (doc.issuer !== this.settings.issuer) throw unavailable(`the discovery document at ${where} names issuer ${JSON.stringify(doc.issuer)}, not ${this.settings.issuer}`);
      if (typeof doc.jwks_uri !== 'string' || urlProblem(doc.jwks_uri)) throw unavailable(`the discovery document at ${where} has no usable jwks_uri`);
      url = doc.jwks_uri;
    }
    this.jwksUrl = url;
    return createRemoteJWKSet(new URL(url), { timeoutDuration: timeout, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  }
}

/** Why a provider URL cannot be used, or null: https, or http on this machine only (development, tests). */
export function urlProblem(value: string): string | null {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not a URL`;
  }
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return null;
  return `${value} must be an https URL (http only on localhost)`;
}

/** A jose error as a sentence a client can act on. */
function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return `it has expired ("exp" ${err.payload.exp ? new Date(err.payload.exp * 1000).toISOString() : '?'})`;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'it is not valid yet ("nbf" is in the future)';
    if (err.claim === 'iss') return 'it is from another issuer ("iss")';
    if (err.claim === 'aud') return 'it is meant for another audience ("aud")';
    return `claim "${err.claim}" check failed: ${err.reason}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return `its algorithm is not accepted (only ${OIDC_ALGORITHMS.join(', ')})`;
  if (err instanceof errors.JWKSNoMatchingKey) return "no key in the issuer's key set matches its kid and algorithm";
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof errors.JOSEError) return err.message;
  return 'it cannot be read';
}
