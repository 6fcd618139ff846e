// The oauth2 provider against a real OpenID Provider (panva/oidc-provider) on loopback.
import { exportJWK, generateKeyPair, exportPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Oauth2Spec } from '../../src/providers/oauth2.ts';
import { OAuth2Provider, basicAuthorization } from '../../src/providers/oauth2.ts';
import { startOidcServer, type OidcServer } from '../oidc/server.ts';
import { providerContext, expectProviderError } from './context.ts';

const SECRET = 'oidc-client-secret-1:with%special+chars';
let server: OidcServer;
let privateKeyPem: string;
const provider = new OAuth2Provider();

function spec(overrides: Partial<Oauth2Spec>): Oauth2Spec {
  return {
    clientAuth: 'client_secret_basic',
    credentialsRef: {
      name: 'client',
      clientIdKey: 'client_id',
      clientSecretKey: 'client_secret',
      privateKeyKey: 'private_key',
    },
    revokeOnDelete: true,
    ...overrides,
  };
}

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  privateKeyPem = await exportPKCS8(privateKey);
  const jwk = { ...(await exportJWK(publicKey)), alg: 'RS256', use: 'sig', kid: 'k1' };
  const base = { grant_types: ['client_credentials'], redirect_uris: [], response_types: [] };
  server = await startOidcServer({
    accessTokenTtlSeconds: 120,
    jwtResource: 'https://api.example',
    clients: [
      {
        ...base,
        client_id: 'basic',
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'api:read',
      },
      { ...base, client_id: 'post', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_post' },
      { ...base, client_id: 'jwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
    ],
  });
});

afterAll(async () => {
  await server.stop();
});

describe('oauth2 provider against oidc-provider', () => {
  it('encodes Basic credentials as RFC 6749 §2.3.1 requires', () => {
    expect(basicAuthorization('a b', 'x:y%z')).toBe(
      `Basic ${Buffer.from('a+b:x%3Ay%25z').toString('base64')}`,
    );
  });

  it('gets a token with client_secret_basic through issuer discovery, with scopes', async () => {
    const started = Date.now();
    const tokens = await provider.obtain(
      spec({ issuerUrl: server.issuer, scopes: ['api:read'] }),
      providerContext({ 'client/client_id': 'basic', 'client/client_secret': SECRET }),
    );
    expect(tokens.data.token).toMatch(/\S{20,}/);
    expect(tokens.data.token_type).toBe('Bearer');
    expect(tokens.expirySource).toBe('expires_in');
    expect(tokens.expiresAt - started).toBeGreaterThan(115_000);
    expect(tokens.expiresAt - started).toBeLessThanOrEqual(121_000);
    expect(tokens.data.expires_at).toBe(new Date(tokens.expiresAt).toISOString());
  });

  it('gets a token with client_secret_post', async () => {
    const tokens = await provider.obtain(
      spec({ tokenUrl: server.tokenUrl, clientAuth: 'client_secret_post' }),
      providerContext({ 'client/client_id': 'post', 'client/client_secret': SECRET }),
    );
    expect(tokens.data.token).toMatch(/\S{20,}/);
  });

  it('gets a JWT access token with private_key_jwt and a resource indicator', async () => {
    const tokens = await provider.obtain(
      spec({ issuerUrl: server.issuer, clientAuth: 'private_key_jwt', resource: 'https://api.example' }),
      providerContext({ 'client/client_id': 'jwt', 'client/private_key': privateKeyPem }),
    );
    expect(tokens.data.token?.split('.')).toHaveLength(3);
  });

  it('turns a wrong secret into a terminal InvalidClient error that says what to check', async () => {
    const error = await expectProviderError(
      provider.obtain(
        spec({ tokenUrl: server.tokenUrl }),
        providerContext({ 'client/client_id': 'basic', 'client/client_secret': 'wrong-secret' }),
      ),
    );
    expect(error.kind).toBe('terminal');
    expect(error.reason).toBe('InvalidClient');
    expect(error.httpStatus).toBe(401);
    expect(error.message).toContain('invalid_client');
    expect(error.message).toContain('client id and secret');
    expect(error.message).not.toContain('wrong-secret');
  });

  it('refuses a key that is not PKCS#8 with a clear message', async () => {
    const error = await expectProviderError(
      provider.obtain(
        spec({ tokenUrl: server.tokenUrl, clientAuth: 'private_key_jwt' }),
        providerContext({ 'client/client_id': 'jwt', 'client/private_key': 'not a key' }),
      ),
    );
    expect(error.reason).toBe('InvalidPrivateKey');
  });

  it('names the missing key when the Secret lacks it', async () => {
    const error = await expectProviderError(
      provider.obtain(spec({ tokenUrl: server.tokenUrl }), providerContext({ 'client/client_id': 'basic' })),
    );
    expect(error.reason).toBe('MissingInput');
    expect(error.message).toContain('client_secret');
  });

  it('rejects extraParams that would override what the operator sends', async () => {
    const error = await expectProviderError(
      provider.obtain(
        spec({ tokenUrl: server.tokenUrl, extraParams: { client_secret: 'x' } }),
        providerContext({ 'client/client_id': 'basic', 'client/client_secret': SECRET }),
      ),
    );
    expect(error.reason).toBe('InvalidSpec');
  });

  it('revokes a token through the advertised revocation endpoint', async () => {
    const context = providerContext({ 'client/client_id': 'basic', 'client/client_secret': SECRET });
    const tokens = await provider.obtain(spec({ issuerUrl: server.issuer }), context);
    const before = server.revocations();
    const outcome = await provider.release(spec({ issuerUrl: server.issuer }), {
      ...context,
      current: { data: tokens.data, issuedAt: tokens.issuedAt, expiresAt: tokens.expiresAt },
    });
    expect(outcome).toBe('released');
    expect(server.revocations()).toBe(before + 1);
  });

  it('reports revocation as unsupported without discovery', async () => {
    const outcome = await provider.release(
      spec({ tokenUrl: server.tokenUrl }),
      providerContext(
        { 'client/client_id': 'basic', 'client/client_secret': SECRET },
        { current: { data: { token: 'x' }, issuedAt: 0, expiresAt: 0 } },
      ),
    );
    expect(outcome).toBe('unsupported');
  });
});
