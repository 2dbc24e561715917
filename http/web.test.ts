import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { CONTENT_SECURITY_POLICY, isApiPath, webApp } from './web.ts';

function fakeBuild(): string {
  const dist = mkdtempSync(join(tmpdir(), 'bevan-dist-'));
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>app</title><script type="module" src="/assets/index-abc123.js"></script>');
  const js = `console.log(${JSON.stringify('x'.repeat(4000))});`;
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), js);
  writeFileSync(join(dist, 'assets', 'index-abc123.js.gz'), gzipSync(js));
  writeFileSync(join(dist, 'secret.txt'), 'not served');
  return dist;
}

async function appWith(dist: string) {
  const app = Fastify();
  app.get('/health', async () => ({ status: 'ok' }));
  await app.register(webApp, { dist });
  await app.ready();
  return app;
}

test('web: index.html no-cache with security headers; hashed assets immutable and precompressed', async () => {
  const dist = fakeBuild();
  const app = await appWith(dist);
  try {
    const index = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
    assert.equal(index.statusCode, 200);
    assert.match(index.headers['content-type'] as string, /text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.equal(index.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
    assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.equal(index.headers['referrer-policy'], 'no-referrer');
    assert.equal(index.headers['x-frame-options'], 'DENY');
    const again = await app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': index.headers.etag as string } });
    assert.equal(again.statusCode, 304, 'revalidated, not re-sent');

    const js = await app.inject({ method: 'GET', url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['content-encoding'], 'gzip');
    assert.match(js.headers['content-type'] as string, /javascript/);
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    const plain = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.startsWith('console.log'));
    // A missing asset is a 404, never the application; nothing outside assets/ is a file.
    assert.equal((await app.inject({ method: 'GET', url: '/assets/gone-123.js', headers: { accept: '*/*' } })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/assets/../secret.txt' })).statusCode, 404);
    const secret = await app.inject({ method: 'GET', url: '/secret.txt', headers: { accept: 'text/html' } });
    assert.ok(!secret.body.includes('not served'));
  } finally {
    await app.close();
    rmSync(dist, { recursive: true, force: true });
  }
});

test('web: client routes get the application; API paths keep their own 404s', async () => {
  const dist = fakeBuild();
  const app = await appWith(dist);
  try {
    for (const url of ['/person/3e9ef898-6b74-4c23-913b-18bd912234b2', '/search?q=smith', '/some/later/page']) {
      const r = await app.inject({ method: 'GET', url, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
      assert.equal(r.statusCode, 200, url);
      assert.match(r.body, /<title>app<\/title>/, url);
      assert.equal(r.headers['cache-control'], 'no-cache');
    }
    for (const url of ['/fhir/Nothing', '/auth/nothing', '/health/x', '/ingest/x', '/openapi.jsonx', '/.well-known/x', '/quarantine', '/quarantine/1', '/audit', '/care-team/x', '/consent', '/bulk/x']) {
      const r = await app.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json().resourceType, 'OperationOutcome', url);
    }
    // An API client (JSON), or a method other than GET, is not a browser navigating.
    assert.equal((await app.inject({ method: 'GET', url: '/person/x', headers: { accept: 'application/fhir+json' } })).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/person/x', headers: { accept: 'text/html' } })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).json().status, 'ok', 'real routes still answer');
    assert.ok(isApiPath('/fhir') && isApiPath('/fhir/Patient') && isApiPath('/openapi.json') && !isApiPath('/fhirish') && !isApiPath('/person/1'));
  } finally {
    await app.close();
    rmSync(dist, { recursive: true, force: true });
  }
});

test('web: without a build, / says how to make one', async () => {
  const app = await appWith(join(tmpdir(), 'bevan-no-such-dist'));
  try {
    const r = await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } });
    assert.equal(r.statusCode, 503);
    assert.match(r.body, /npm run build:web/);
    assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  } finally {
    await app.close();
  }
});
