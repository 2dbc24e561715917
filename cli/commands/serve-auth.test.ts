import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveOptions, signInSummary } from './serve.ts';

const flags = { port: '0', host: '127.0.0.1', mllpPort: 'off', mllpMaxConnections: '10', mllpIdleTimeout: '60' };

test('serve --auth-config: the sign-in settings are checked before anything starts, every problem listed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bevan-serve-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'auth.json');
  writeFileSync(file, JSON.stringify({ oidc: { issuer: 'https://login.example', audience: 'bevan', roleMap: { GP: 'gp' } } }));
  const o = serveOptions({ ...flags, authConfig: file });
  assert.equal(o.auth?.oidc?.issuer, 'https://login.example');
  assert.match(signInSummary(o.auth), /OpenID Connect tokens from https:\/\/login.example \(audience bevan\)/);
  writeFileSync(file, JSON.stringify({ oidc: { issuer: 'http://login.example', algorithms: ['HS256'] } }));
  assert.throws(() => serveOptions({ ...flags, authConfig: file }), /sign-in configuration cannot be used:\n {2}- .*https.*\n {2}- .*audience.*\n {2}- .*HS256/s);
});
