import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAuthConfig } from './auth-config.ts';

test('sign-in configuration: nothing set means local users only', () => {
  const r = loadAuthConfig({ env: {} });
  assert.deepEqual(r, { ok: true, config: { publicHosts: [], oidc: null, loginPerMinute: 10 } });
});

test('sign-in configuration from the environment: OpenID Connect with defaults for claims, algorithms and tolerance', () => {
  const r = loadAuthConfig({
    env: { BEVAN_OIDC_ISSUER: 'https://login.example/realms/trafford', BEVAN_OIDC_AUDIENCE: 'bevan,bevan-web', BEVAN_OIDC_ROLE_MAP: 'R8000=gp, urn:x=y=consultant', BEVAN_PUBLIC_HOSTS: 'bevan.trafford.example' },
  });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.config.publicHosts, ['bevan.trafford.example']);
  assert.deepEqual(r.config.oidc, {
    issuer: 'https://login.example/realms/trafford',
    audience: ['bevan', 'bevan-web'],
    jwksUrl: null,
    algorithms: ['RS256', 'ES256', 'PS256'],
    clockToleranceSeconds: 30,
    claims: { user: 'sub', role: 'roles', organisation: 'ods', nhsNumber: 'nhs_number' },
    roleMap: { R8000: 'gp', 'urn:x=y': 'consultant' },
  });
});

test('sign-in configuration from a file, the environment winning; every problem reported at once', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'auth.json');
  writeFileSync(
    file,
    JSON.stringify({
      publicHosts: ['a.example'],
      loginPerMinute: 20,
      oidc: { issuer: 'https://idp.example', audience: 'bevan', jwksUrl: 'https://idp.example/jwks', claims: { role: 'realm_access.roles', organisation: 'org_code' }, roleMap: { nurse: 'community-nurse' }, clockToleranceSeconds: 5, algorithms: ['ES256'] },
    }),
  );
  const r = loadAuthConfig({ file, env: { BEVAN_OIDC_AUDIENCE: 'other' } });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.config.loginPerMinute, 20);
  assert.deepEqual(r.config.oidc!.audience, ['other']);
  assert.deepEqual(r.config.oidc!.claims, { user: 'sub', role: 'realm_access.roles', organisation: 'org_code', nhsNumber: 'nhs_number' });
  assert.deepEqual(r.config.oidc!.algorithms, ['ES256']);
  assert.equal(r.config.oidc!.clockToleranceSeconds, 5);

  writeFileSync(file, JSON.stringify({ publicHost: 'x', oidc: { issuer: 'http://idp.example', algorithms: ['HS256', 'none'], roleMap: { x: 'surgeon' }, clockToleranceSeconds: 3600, scope: 'x' } }));
  const bad = loadAuthConfig({ file, env: { BEVAN_OIDC_JWKS_URL: 'ftp://idp.example/keys' } });
  assert.equal(bad.ok, false);
  const problems = bad.ok ? [] : bad.problems;
  for (const p of [/unknown field "publicHost"/, /unknown field "oidc.scope"/, /issuer http:\/\/idp.example must be an https URL/, /audience is missing/, /JWKS URL ftp:/, /"HS256" is not accepted/, /"none" is not accepted/, /"surgeon" is not a Bevan role/, /clock tolerance/]) {
    assert.ok(problems.some((x) => p.test(x)), `${p} in ${problems.join(' | ')}`);
  }
  assert.match((loadAuthConfig({ env: { BEVAN_OIDC_AUDIENCE: 'x' } }) as { problems: string[] }).problems[0]!, /no issuer/);
  assert.match((loadAuthConfig({ file: join(dir, 'missing.json'), env: {} }) as { problems: string[] }).problems[0]!, /no such file/);
});
