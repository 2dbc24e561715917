import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { isBevanError, type BevanError } from './context.ts';
import { claimAt, OIDC_DEFAULTS, OidcVerifier, principalFromClaims, urlProblem, type OidcSettings } from './oidc.ts';
import { startTestProvider } from '../test/oidc-provider.ts';

const AUD = 'bevan-api';
const settings = (issuer: string, jwksUrl: string | null, more: Partial<OidcSettings> = {}): OidcSettings => ({
  issuer,
  audience: [AUD],
  jwksUrl,
  algorithms: [...OIDC_DEFAULTS.algorithms],
  clockToleranceSeconds: 30,
  claims: { ...OIDC_DEFAULTS.claims },
  roleMap: { 'R8000': 'gp', 'urn:trafford:role:nurse': 'community-nurse' },
  ...more,
});

async function refusal(p: Promise<unknown>): Promise<BevanError> {
  try {
    await p;
  } catch (err) {
    if (isBevanError(err)) return err;
    throw err;
  }
  assert.fail('expected a refusal');
}

test('claims: a dotted path reaches into objects; a claim whose name has dots is read whole first', () => {
  assert.deepEqual(claimAt({ realm_access: { roles: ['gp'] } }, 'realm_access.roles'), ['gp']);
  assert.equal(claimAt({ 'https://bevan/role': 'gp' }, 'https://bevan/role'), 'gp');
  assert.equal(claimAt({ a: 'x' }, 'a.b'), undefined);
  assert.equal(claimAt({ a: { __proto__: { b: 1 } } } as Record<string, unknown>, 'a.b'), undefined, 'inherited properties are not claims');
});

test('claims → principal: role mapped to exactly one Bevan role, organisation and NHS number checked, no default role', () => {
  const s = settings('https://idp.example', null);
  assert.deepEqual(principalFromClaims({ sub: 'u1', roles: ['offline_access', 'R8000'], ods: 'p91001' }, s), { user: 'u1', role: 'gp', organisation: 'P91001', nhsNumber: null });
  assert.equal(principalFromClaims({ sub: 'u2', roles: 'analyst' }, s).role, 'analyst', 'a Bevan role name maps to itself');
  assert.equal(principalFromClaims({ sub: 'u3', roles: ['urn:trafford:role:nurse'] }, s).role, 'community-nurse');
  assert.deepEqual(principalFromClaims({ sub: 'jon', roles: 'patient', nhs_number: '943 476 5919' }, s), { user: 'jon', role: 'patient', organisation: null, nhsNumber: '9434765919' });
  const cases: [Record<string, unknown>, RegExp, string][] = [
    [{ sub: 'u', roles: ['surgeon'] }, /maps to no Bevan role/, 'unknown role'],
    [{ sub: 'u' }, /no "roles" claim/, 'no role claim'],
    [{ sub: 'u', roles: ['gp', 'admin'] }, /several Bevan roles \(gp, admin\)/, 'two roles'],
    [{ sub: 'u', roles: 'gp', ods: 'not an ods code!' }, /not an ODS code/, 'bad organisation'],
    [{ sub: 'u', roles: 'gp', ods: ['P91001', 'P91002'] }, /several organisations/, 'two organisations'],
    [{ sub: 'u', roles: 'patient' }, /needs an NHS number/, 'patient without NHS number'],
    [{ sub: 'u', roles: 'patient', nhs_number: '1234567890' }, /not a valid NHS number/, 'bad NHS number'],
  ];
  for (const [claims, reason, what] of cases) {
    assert.throws(() => principalFromClaims(claims, s), (e: unknown) => isBevanError(e) && e.kind === 'forbidden' && reason.test(e.message), what);
  }
  assert.throws(() => principalFromClaims({ roles: 'gp' }, s), (e: unknown) => isBevanError(e) && e.kind === 'unauthenticated', 'no subject');
  const custom = { ...s, claims: { user: 'preferred_username', role: 'realm_access.roles', organisation: 'org.ods', nhsNumber: 'nhs' } };
  assert.deepEqual(principalFromClaims({ preferred_username: 'dr.who', realm_access: { roles: ['consultant'] }, org: { ods: 'RM2' } }, custom), { user: 'dr.who', role: 'consultant', organisation: 'RM2', nhsNumber: null });
});

test('provider URLs: https, or http on this machine only', () => {
  assert.equal(urlProblem('https://login.example/realms/x'), null);
  assert.equal(urlProblem('http://127.0.0.1:8081/jwks'), null);
  assert.match(urlProblem('http://login.example/jwks')!, /https/);
  assert.match(urlProblem('not a url')!, /not a URL/);
});

test('OIDC verifier against a locally served key set: each algorithm accepted; expired, early, wrong audience or issuer, forged, none, HS256, unknown kid refused', async (t) => {
  const idp = await startTestProvider({ audience: AUD });
  t.after(() => idp.close());
  const v = new OidcVerifier(settings(idp.issuer, idp.jwksUrl));
  const now = () => new Date();
  for (const alg of ['RS256', 'ES256', 'PS256'] as const) {
    const ok = await v.verify(await idp.sign({ sub: `u-${alg}`, roles: ['R8000'], ods: 'P91001', jti: `j-${alg}` }, { alg }), now());
    assert.deepEqual(ok.principal, { user: `u-${alg}`, role: 'gp', organisation: 'P91001', nhsNumber: null }, alg);
    assert.equal(ok.jti, `j-${alg}`);
    assert.equal(ok.issuer, idp.issuer);
  }
  const secs = Math.floor(Date.now() / 1000);
  const bad = async (token: string, reason: RegExp, what: string) => {
    const e = await refusal(v.verify(token, now()));
    assert.equal(e.kind, 'unauthenticated', `${what}: ${e.message}`);
    assert.match(e.message, reason, what);
  };
  await bad(await idp.sign({ sub: 'u', roles: 'gp', exp: secs - 120 }), /expired/, 'expired');
  assert.ok(await v.verify(await idp.sign({ sub: 'u', roles: 'gp', exp: secs - 10 }), now()), 'expired 10 s ago: within the 30 s tolerance');
  await bad(await idp.sign({ sub: 'u', roles: 'gp', nbf: secs + 120 }), /not valid yet/, 'not yet valid');
  await bad(await idp.sign({ sub: 'u', roles: 'gp', aud: 'another-api' }), /audience/, 'wrong audience');
  await bad(await idp.sign({ sub: 'u', roles: 'gp', iss: 'https://other.example' }), /issuer/, 'wrong issuer');
  await bad(await idp.sign({ sub: 'u', roles: 'gp', exp: undefined }), /exp/, 'no exp');
  const other = await generateKeyPair('RS256');
  await bad(await idp.sign({ sub: 'u', roles: 'gp' }, { key: other.privateKey }), /signature/, 'forged (another key, the real kid)');
  await bad(await idp.sign({ sub: 'u', roles: 'gp' }, { key: other.privateKey, kid: 'nobody' }), /no key/, 'unknown kid');
  const none = new UnsecuredJWT({ sub: 'u', roles: 'gp' }).setIssuer(idp.issuer).setAudience(AUD).setIssuedAt().setExpirationTime('5m').encode();
  await bad(none, /algorithm/, 'alg none');
  const pem = await exportSPKI(idp.keys[0]!.publicKey);
  const hs = await new SignJWT({ sub: 'u', roles: 'gp' }).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(idp.issuer).setAudience(AUD).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(pem));
  await bad(hs, /algorithm/, 'HS256 with the public key as secret');
  const onlyEs = new OidcVerifier(settings(idp.issuer, idp.jwksUrl, { algorithms: ['ES256'] }));
  assert.match((await refusal(onlyEs.verify(await idp.sign({ sub: 'u', roles: 'gp' }), now()))).message, /algorithm/, 'RS256 when only ES256 is configured');
  // A good token whose role maps to nothing: 403, not a default role.
  assert.equal((await refusal(v.verify(await idp.sign({ sub: 'u', roles: ['surgeon'] }), now()))).kind, 'forbidden');
  // Unknown kids do not make the verifier hammer the provider: one refetch per cooldown.
  const before = idp.jwksFetches;
  for (let i = 0; i < 5; i++) await refusal(v.verify(await idp.sign({ sub: 'u', roles: 'gp' }, { key: other.privateKey, kid: `k${i}` }), now()));
  assert.ok(idp.jwksFetches - before <= 1, `${idp.jwksFetches - before} fetches`);
});

test('OIDC verifier: JWKS found by discovery; a provider that does not answer is 503, not 401', async (t) => {
  const idp = await startTestProvider({ audience: AUD });
  t.after(() => idp.close());
  const discovered = new OidcVerifier(settings(idp.issuer, null));
  assert.equal((await discovered.verify(await idp.sign({ sub: 'u', roles: 'gp' }), new Date())).principal.role, 'gp');
  const wrongIssuer = new OidcVerifier(settings(`${idp.issuer}/`, null));
  assert.equal((await refusal(wrongIssuer.verify(await idp.sign({ sub: 'u', roles: 'gp', iss: `${idp.issuer}/` }), new Date()))).kind, 'unavailable', 'the discovery document must name the configured issuer');
  const gone = await startTestProvider({ audience: AUD });
  const url = gone.jwksUrl;
  const token = await gone.sign({ sub: 'u', roles: 'gp' });
  await gone.close();
  const down = new OidcVerifier(settings(gone.issuer, url), { fetchTimeoutMs: 1000 });
  const e = await refusal(down.verify(token, new Date()));
  assert.equal(e.kind, 'unavailable', e.message);
  assert.match(e.message, /could not be fetched/);
});
