/**
 * A stand-in OpenID Connect provider for tests: key pairs made with jose (RS256, ES256, PS256),
 * its discovery document and JWKS served over HTTP on 127.0.0.1 (a free port), and a signer for
 * tokens as the provider would issue them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface TestProvider {
  issuer: string;
  jwksUrl: string;
  /** Public halves, as the JWKS serves them. */
  keys: { kid: string; alg: 'RS256' | 'ES256' | 'PS256'; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }[];
  /** How often the JWKS was fetched. */
  jwksFetches: number;
  /** Signs claims as the provider (iss, aud, iat, exp 5 minutes on, unless given). */
  sign(claims: JWTPayload, o?: { alg?: 'RS256' | 'ES256' | 'PS256'; kid?: string; key?: CryptoKey }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestProvider(o: { audience: string }): Promise<TestProvider> {
  const keys: TestProvider['keys'] = [];
  for (const [kid, alg] of [['rsa-1', 'RS256'], ['ec-1', 'ES256'], ['ps-1', 'PS256']] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    keys.push({ kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
  }
  const provider = { jwksFetches: 0 } as TestProvider;
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: provider.issuer, jwks_uri: provider.jwksUrl, id_token_signing_alg_values_supported: ['RS256', 'ES256', 'PS256'] }));
    } else if (req.url === '/jwks.json') {
      provider.jwksFetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  provider.issuer = `http://127.0.0.1:${port}`;
  provider.jwksUrl = `http://127.0.0.1:${port}/jwks.json`;
  provider.keys = keys;
  provider.sign = async (claims, s = {}) => {
    const k = keys.find((x) => x.alg === (s.alg ?? 'RS256'))!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: provider.issuer, aud: o.audience, iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: k.alg, kid: s.kid ?? k.kid, typ: 'JWT' })
      .sign(s.key ?? k.privateKey);
  };
  provider.close = () => new Promise<void>((r) => server.close(() => r()));
  return provider;
}
