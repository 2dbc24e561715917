/**
 * Sign-in configuration, from one loader: an optional JSON file (`bevan serve --auth-config
 * FILE`, or BEVAN_AUTH_CONFIG) and BEVAN_* environment variables, which win over the file.
 * Checked at start-up into a list of problems a person can fix, all at once (docs/api/sign-in.md).
 */
import { readFileSync } from 'node:fs';
import { isRole, ROLES, type Role } from './context.ts';
import { OIDC_ALGORITHMS, OIDC_DEFAULTS, urlProblem, type OidcAlgorithm, type OidcSettings } from './oidc.ts';
import { ISSUER } from './tokens.ts';

export interface AuthConfig {
  /** Host names the server answers to besides localhost and 127.0.0.1. */
  publicHosts: string[];
  /** The external OpenID Connect provider, when one is configured. */
  oidc: OidcSettings | null;
  /** Sign-in attempts allowed per address, and per user name, per minute. */
  loginPerMinute: number;
}

export type AuthConfigLoad = { ok: true; config: AuthConfig } | { ok: false; problems: string[] };

const TOP_FIELDS = ['publicHosts', 'oidc', 'loginPerMinute'];
const OIDC_FIELDS = ['issuer', 'audience', 'jwksUrl', 'algorithms', 'clockToleranceSeconds', 'claims', 'roleMap'];
const CLAIM_FIELDS = ['user', 'role', 'organisation', 'nhsNumber'];

/** Loads and checks the sign-in configuration; never throws. */
export function loadAuthConfig(o: { file?: string; env?: NodeJS.ProcessEnv } = {}): AuthConfigLoad {
  const env = o.env ?? process.env;
  const problems: string[] = [];
  const file = o.file ?? (env.BEVAN_AUTH_CONFIG || undefined);
  let f: Record<string, unknown> = {};
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${file}: must hold a JSON object`);
      else f = parsed as Record<string, unknown>;
    } catch (err) {
      problems.push(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  }
  for (const k of Object.keys(f)) if (!TOP_FIELDS.includes(k)) problems.push(`${file}: unknown field "${k}" (fields are ${TOP_FIELDS.join(', ')})`);

  const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const strings = (v: unknown, what: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    problems.push(`${what} must be a string or a list of strings`);
    return undefined;
  };

  const publicHosts = env.BEVAN_PUBLIC_HOSTS !== undefined ? list(env.BEVAN_PUBLIC_HOSTS) : (strings(f.publicHosts, `${file}: publicHosts`) ?? []);
  for (const h of publicHosts) if (!/^[a-z0-9.-]+$/i.test(h)) problems.push(`public host ${JSON.stringify(h)} is not a host name (no scheme, port or path)`);

  let loginPerMinute = 10;
  const lpm = env.BEVAN_LOGIN_PER_MINUTE ?? f.loginPerMinute;
  if (lpm !== undefined) {
    const n = Number(lpm);
    if (!Number.isInteger(n) || n < 1 || n > 1000) problems.push(`loginPerMinute (BEVAN_LOGIN_PER_MINUTE) must be a whole number from 1 to 1000, not ${JSON.stringify(lpm)}`);
    else loginPerMinute = n;
  }

  // OpenID Connect: configured when an issuer is given, by the file or the environment.
  const fo = f.oidc === undefined ? {} : f.oidc;
  if (fo === null || typeof fo !== 'object' || Array.isArray(fo)) problems.push(`${file}: oidc must be an object`);
  const fileOidc = (fo && typeof fo === 'object' ? fo : {}) as Record<string, unknown>;
  for (const k of Object.keys(fileOidc)) if (!OIDC_FIELDS.includes(k)) problems.push(`${file}: unknown field "oidc.${k}" (fields are ${OIDC_FIELDS.join(', ')})`);
  const issuer = env.BEVAN_OIDC_ISSUER ?? (typeof fileOidc.issuer === 'string' ? fileOidc.issuer : undefined);
  if (fileOidc.issuer !== undefined && typeof fileOidc.issuer !== 'string') problems.push(`${file}: oidc.issuer must be a string`);
  let oidc: OidcSettings | null = null;
  const anyOidc = Object.keys(fileOidc).length > 0 || Object.keys(env).some((k) => k.startsWith('BEVAN_OIDC_') && env[k] !== undefined);
  if (!issuer) {
    if (anyOidc) problems.push('OpenID Connect settings are given but no issuer: set BEVAN_OIDC_ISSUER (or oidc.issuer in the file)');
  } else {
    const ip = urlProblem(issuer);
    if (ip) problems.push(`the OpenID Connect issuer ${ip}`);
    if (issuer === ISSUER) problems.push(`the OpenID Connect issuer cannot be ${ISSUER}, the server's own`);
    const audience = env.BEVAN_OIDC_AUDIENCE !== undefined ? list(env.BEVAN_OIDC_AUDIENCE) : (strings(fileOidc.audience, `${file}: oidc.audience`) ?? []);
    if (!audience.length) problems.push('the OpenID Connect audience is missing: set BEVAN_OIDC_AUDIENCE (the client id or API identifier the provider puts in "aud")');
    const jwksUrl = env.BEVAN_OIDC_JWKS_URL ?? (typeof fileOidc.jwksUrl === 'string' ? fileOidc.jwksUrl : null);
    if (fileOidc.jwksUrl !== undefined && typeof fileOidc.jwksUrl !== 'string') problems.push(`${file}: oidc.jwksUrl must be a string`);
    if (jwksUrl) {
      const jp = urlProblem(jwksUrl);
      if (jp) problems.push(`the OpenID Connect JWKS URL ${jp}`);
    }
    const algs = env.BEVAN_OIDC_ALGORITHMS !== undefined ? list(env.BEVAN_OIDC_ALGORITHMS) : (strings(fileOidc.algorithms, `${file}: oidc.algorithms`) ?? OIDC_DEFAULTS.algorithms);
    for (const a of algs) {
      if (!(OIDC_ALGORITHMS as readonly string[]).includes(a)) problems.push(`algorithm ${JSON.stringify(a)} is not accepted for OpenID Connect tokens: only ${OIDC_ALGORITHMS.join(', ')} (never none or HS*)`);
    }
    if (!algs.length) problems.push('at least one OpenID Connect algorithm is needed');
    let clockToleranceSeconds = OIDC_DEFAULTS.clockToleranceSeconds;
    const tol = env.BEVAN_OIDC_CLOCK_TOLERANCE_SECONDS ?? fileOidc.clockToleranceSeconds;
    if (tol !== undefined) {
      const n = Number(tol);
      if (!Number.isInteger(n) || n < 0 || n > 300) problems.push(`the OpenID Connect clock tolerance must be 0 to 300 seconds, not ${JSON.stringify(tol)}`);
      else clockToleranceSeconds = n;
    }
    const fc = fileOidc.claims ?? {};
    if (fc === null || typeof fc !== 'object' || Array.isArray(fc)) problems.push(`${file}: oidc.claims must be an object`);
    const fileClaims = (fc && typeof fc === 'object' ? fc : {}) as Record<string, unknown>;
    for (const k of Object.keys(fileClaims)) if (!CLAIM_FIELDS.includes(k)) problems.push(`${file}: unknown field "oidc.claims.${k}" (fields are ${CLAIM_FIELDS.join(', ')})`);
    const claim = (envName: string, key: keyof OidcSettings['claims']) => {
      const v = env[envName] ?? fileClaims[key] ?? OIDC_DEFAULTS.claims[key];
      if (typeof v !== 'string' || !v.trim()) {
        problems.push(`the ${key} claim name (${envName}) must be a non-empty string`);
        return OIDC_DEFAULTS.claims[key];
      }
      return v.trim();
    };
    const claims = {
      user: claim('BEVAN_OIDC_USER_CLAIM', 'user'),
      role: claim('BEVAN_OIDC_ROLE_CLAIM', 'role'),
      organisation: claim('BEVAN_OIDC_ORG_CLAIM', 'organisation'),
      nhsNumber: claim('BEVAN_OIDC_NHS_NUMBER_CLAIM', 'nhsNumber'),
    };
    const roleMap: Record<string, Role> = {};
    const mapEntries: [string, unknown][] = [];
    if (env.BEVAN_OIDC_ROLE_MAP !== undefined) {
      // value=role pairs separated by commas; a value may itself hold "=" (split at the last one).
      for (const pair of list(env.BEVAN_OIDC_ROLE_MAP)) {
        const at = pair.lastIndexOf('=');
        if (at <= 0) problems.push(`BEVAN_OIDC_ROLE_MAP entry ${JSON.stringify(pair)} is not value=role`);
        else mapEntries.push([pair.slice(0, at).trim(), pair.slice(at + 1).trim()]);
      }
    } else if (fileOidc.roleMap !== undefined) {
      if (!fileOidc.roleMap || typeof fileOidc.roleMap !== 'object' || Array.isArray(fileOidc.roleMap)) problems.push(`${file}: oidc.roleMap must be an object of provider role → Bevan role`);
      else mapEntries.push(...Object.entries(fileOidc.roleMap as Record<string, unknown>));
    }
    for (const [from, to] of mapEntries) {
      if (!isRole(to)) problems.push(`role map: ${JSON.stringify(from)} → ${JSON.stringify(to)} is not a Bevan role (roles are ${ROLES.join(', ')})`);
      else roleMap[from] = to;
    }
    oidc = { issuer, audience, jwksUrl, algorithms: algs as OidcAlgorithm[], clockToleranceSeconds, claims, roleMap };
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, config: { publicHosts, oidc, loginPerMinute } };
}

/** The problems as one error message. */
export function authConfigError(problems: string[]): Error {
  return new Error(`the sign-in configuration cannot be used:\n  - ${problems.join('\n  - ')}`);
}
