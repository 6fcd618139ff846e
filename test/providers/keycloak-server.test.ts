// Proves, with plain HTTP against a REAL Keycloak, how its token, discovery and revocation endpoints
// behave for the client authentication methods the operator supports. If Keycloak cannot start, every
// test fails with its log tail: nothing is skipped.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { decodeJwt, exportJWK, exportPKCS8, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { Oauth2Spec } from '../../src/providers/oauth2.ts';
import { OAuth2Provider } from '../../src/providers/oauth2.ts';
import { providerContext, expectProviderError } from './context.ts';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/crds.ts';
import { startKeycloak, type KeycloakHandle } from '../keycloak/keycloak.ts';

const REALM = 'apicred-test';
const SCOPE = 'apicred.read';
const LIFESPAN_SECONDS = 60;
const SECRET_CLIENT = { clientId: 'secret-client', secret: 'secret-client-s3cret' };
const ROTATING_CLIENT = { clientId: 'rotating-client', secret: 'rotating-client-s3cret' };
const JWT_CLIENT = 'jwt-client';
const KEY_ID = 'jwt-client-key';

let keycloak: KeycloakHandle | undefined;
let signingKey: CryptoKey;
let signingKeyPem: string;

function server(): KeycloakHandle {
  if (!keycloak) throw new Error('Keycloak did not start; see the beforeAll error');
  return keycloak;
}

interface OAuthResponse {
  status: number;
  body: Record<string, unknown>;
}

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<OAuthResponse> {
  const response = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(form) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function tokenRequest(
  form: Record<string, string>,
  headers?: Record<string, string>,
): Promise<OAuthResponse> {
  return post(server().tokenUrl(REALM), { grant_type: 'client_credentials', ...form }, headers);
}

function basicAuth(clientId: string, secret: string): Record<string, string> {
  // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
  return { authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
}

async function clientAssertion(options: { audience?: string; key?: CryptoKey } = {}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: KEY_ID })
    .setIssuer(JWT_CLIENT)
    .setSubject(JWT_CLIENT)
    .setAudience(options.audience ?? server().issuer(REALM))
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(options.key ?? signingKey);
}

function jwtForm(assertion: string): Record<string, string> {
  return {
    client_id: JWT_CLIENT,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  };
}

// The first run on a machine also installs Keycloak (download, build, template boot): minutes on 2 cores.
beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  signingKey = privateKey;
  signingKeyPem = await exportPKCS8(privateKey);
  const jwk = { ...(await exportJWK(publicKey)), kid: KEY_ID, alg: 'RS256', use: 'sig' };
  keycloak = await startKeycloak({
    realm: {
      name: REALM,
      accessTokenLifespanSeconds: LIFESPAN_SECONDS,
      secretClients: [SECRET_CLIENT, ROTATING_CLIENT],
      jwtClients: [{ clientId: JWT_CLIENT, jwks: { keys: [jwk] } }],
      optionalScopes: [SCOPE],
    },
    logDir: join(repoRoot, 'test-results', 'keycloak'),
  });
  process.stderr.write(
    `[keycloak] ${keycloak.version} on Java ${keycloak.javaVersion} at ${keycloak.baseUrl}: ` +
      `ready in ${keycloak.startedInMs} ms, ${keycloak.rssMiB()} MiB RSS\n`,
  );
}, 900_000);

afterAll(async () => {
  await keycloak?.stop();
});

describe('Keycloak token endpoint, client_credentials', () => {
  it('accepts client_secret_post', async () => {
    const { status, body } = await tokenRequest({
      client_id: SECRET_CLIENT.clientId,
      client_secret: SECRET_CLIENT.secret,
    });
    expect(status).toBe(200);
    expect(body.token_type).toBe('Bearer');
    // Keycloak counts expires_in from its own clock: one second less when a second boundary passed.
    expect(body.expires_in).toBeGreaterThanOrEqual(LIFESPAN_SECONDS - 2);
    expect(body.expires_in).toBeLessThanOrEqual(LIFESPAN_SECONDS);
    expect(body.access_token).toEqual(expect.any(String));
    const claims = decodeJwt(body.access_token as string);
    expect(claims.iss).toBe(server().issuer(REALM));
    expect(claims.azp).toBe(SECRET_CLIENT.clientId);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(LIFESPAN_SECONDS);
  });

  it('accepts client_secret_basic', async () => {
    const { status, body } = await tokenRequest({}, basicAuth(SECRET_CLIENT.clientId, SECRET_CLIENT.secret));
    expect(status).toBe(200);
    expect(body.access_token).toEqual(expect.any(String));
  });

  it('rejects a wrong secret with 401 and its OAuth error', async () => {
    const { status, body } = await tokenRequest({
      client_id: SECRET_CLIENT.clientId,
      client_secret: 'not-the-secret',
    });
    expect(status).toBe(401);
    expect(body).toEqual({
      error: 'unauthorized_client',
      error_description: 'Invalid client or Invalid client credentials',
    });
  });

  it('grants a requested optional client scope', async () => {
    const { status, body } = await tokenRequest({
      client_id: SECRET_CLIENT.clientId,
      client_secret: SECRET_CLIENT.secret,
      scope: SCOPE,
    });
    expect(status).toBe(200);
    expect(String(body.scope).split(' ')).toContain(SCOPE);
  });

  it('rejects a scope the client may not request', async () => {
    const { status, body } = await tokenRequest({
      client_id: SECRET_CLIENT.clientId,
      client_secret: SECRET_CLIENT.secret,
      scope: 'no-such-scope',
    });
    expect({ status, body }).toEqual({
      status: 400,
      body: { error: 'invalid_scope', error_description: 'Invalid scopes: no-such-scope' },
    });
  });
});

describe('Keycloak token endpoint, private_key_jwt', () => {
  it('accepts an assertion signed with the registered key', async () => {
    const { status, body } = await tokenRequest(jwtForm(await clientAssertion()));
    expect(status).toBe(200);
    expect(decodeJwt(body.access_token as string).azp).toBe(JWT_CLIENT);
  });

  it('also accepts the token endpoint as the audience', async () => {
    const { status } = await tokenRequest(
      jwtForm(await clientAssertion({ audience: server().tokenUrl(REALM) })),
    );
    expect(status).toBe(200);
  });

  it('rejects an assertion signed with another key', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    // Unlike a wrong client secret (401), failed JWT client authentication is a 400.
    expect(await tokenRequest(jwtForm(await clientAssertion({ key: privateKey })))).toEqual({
      status: 400,
      body: {
        error: 'invalid_client',
        error_description:
          'Client authentication with signed JWT failed: Signature on JWT token failed validation',
      },
    });
  });

  it('rejects a replayed assertion (same jti)', async () => {
    const assertion = await clientAssertion();
    expect((await tokenRequest(jwtForm(assertion))).status).toBe(200);
    const replay = await tokenRequest(jwtForm(assertion));
    expect(replay).toEqual({
      status: 400,
      body: { error: 'invalid_client', error_description: 'Token reuse detected' },
    });
  });
});

describe('Keycloak discovery and revocation', () => {
  it('lists the token and revocation endpoints', async () => {
    const response = await fetch(`${server().issuer(REALM)}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const discovery = (await response.json()) as Record<string, unknown>;
    expect(discovery.issuer).toBe(server().issuer(REALM));
    expect(discovery.token_endpoint).toBe(server().tokenUrl(REALM));
    expect(discovery.revocation_endpoint).toBe(`${server().issuer(REALM)}/protocol/openid-connect/revoke`);
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(['client_secret_post', 'client_secret_basic', 'private_key_jwt']),
    );
  });

  it('revokes an access token', async () => {
    const client = { client_id: SECRET_CLIENT.clientId, client_secret: SECRET_CLIENT.secret };
    const token = (await tokenRequest(client)).body.access_token as string;
    const revocationUrl = `${server().issuer(REALM)}/protocol/openid-connect/revoke`;
    const revoked = await post(revocationUrl, { ...client, token, token_type_hint: 'access_token' });
    expect(revoked).toEqual({ status: 200, body: {} });
    const introspection = await post(`${server().tokenUrl(REALM)}/introspect`, { ...client, token });
    expect(introspection.body.active).toBe(false);
  });

  it('answers the revocation of an unknown token', async () => {
    const revoked = await post(`${server().issuer(REALM)}/protocol/openid-connect/revoke`, {
      client_id: SECRET_CLIENT.clientId,
      client_secret: SECRET_CLIENT.secret,
      token: 'not-a-token',
    });
    // RFC 7009 wants 200 for an invalid token; Keycloak adds an error body to it.
    expect(revoked).toEqual({
      status: 200,
      body: { error: 'invalid_token', error_description: 'Invalid token' },
    });
  });
});

describe('Keycloak admin changes at run time', () => {
  const credentials = (secret: string) => ({ client_id: ROTATING_CLIENT.clientId, client_secret: secret });

  it('setClientSecret: the old secret stops working, the new one works', async () => {
    expect((await tokenRequest(credentials(ROTATING_CLIENT.secret))).status).toBe(200);
    await server().setClientSecret(REALM, ROTATING_CLIENT.clientId, 'rotated-s3cret');
    expect((await tokenRequest(credentials(ROTATING_CLIENT.secret))).status).toBe(401);
    expect((await tokenRequest(credentials('rotated-s3cret'))).status).toBe(200);
  });

  it('setClientEnabled: a disabled client gets no token until enabled again', async () => {
    await server().setClientEnabled(REALM, ROTATING_CLIENT.clientId, false);
    const disabled = await tokenRequest(credentials('rotated-s3cret'));
    // Unlike a wrong secret (unauthorized_client), a disabled client is invalid_client.
    expect(disabled).toEqual({
      status: 401,
      body: { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' },
    });
    await server().setClientEnabled(REALM, ROTATING_CLIENT.clientId, true);
    expect((await tokenRequest(credentials('rotated-s3cret'))).status).toBe(200);
  });
});

// The operator's own oauth2 provider, end to end against the same real Keycloak.
describe('the oauth2 provider against Keycloak', () => {
  const provider = new OAuth2Provider();
  const credentialsRef = {
    name: 'kc',
    clientIdKey: 'client_id',
    clientSecretKey: 'client_secret',
    privateKeyKey: 'private_key',
  };
  const spec = (overrides: Partial<Oauth2Spec>): Oauth2Spec => ({
    clientAuth: 'client_secret_basic',
    credentialsRef,
    revokeOnDelete: true,
    ...overrides,
  });
  const secretInputs = (secret = SECRET_CLIENT.secret): Record<string, string> => ({
    'kc/client_id': SECRET_CLIENT.clientId,
    'kc/client_secret': secret,
  });

  it.each(['client_secret_basic', 'client_secret_post'] as const)(
    'gets a token with %s through discovery, with its expiry',
    async (clientAuth) => {
      const started = Date.now();
      const tokens = await provider.obtain(
        spec({ issuerUrl: server().issuer(REALM), clientAuth, scopes: [SCOPE] }),
        providerContext(secretInputs()),
      );
      expect(tokens.data.token_type).toBe('Bearer');
      // The earlier of expires_in and the JWT exp wins; Keycloak's exp is whole seconds on its clock.
      expect(['expires_in', 'jwt']).toContain(tokens.expirySource);
      expect(tokens.expiresAt - started).toBeGreaterThan((LIFESPAN_SECONDS - 3) * 1000);
      expect(tokens.expiresAt - started).toBeLessThanOrEqual(LIFESPAN_SECONDS * 1000 + 1000);
      expect(String(decodeJwt(tokens.data.token ?? '').scope)).toContain(SCOPE);
    },
  );

  it('gets a token with private_key_jwt signed by jose', async () => {
    const tokens = await provider.obtain(
      spec({ tokenUrl: server().tokenUrl(REALM), clientAuth: 'private_key_jwt', keyId: KEY_ID }),
      providerContext({ 'kc/client_id': JWT_CLIENT, 'kc/private_key': signingKeyPem }),
    );
    expect(decodeJwt(tokens.data.token ?? '').azp).toBe(JWT_CLIENT);
  });

  it('reports a wrong secret as terminal, with what Keycloak said and what to check', async () => {
    const error = await expectProviderError(
      provider.obtain(
        spec({ tokenUrl: server().tokenUrl(REALM) }),
        providerContext(secretInputs('wrong-secret-value')),
      ),
    );
    expect(error).toMatchObject({ kind: 'terminal', reason: 'UnauthorizedClient', httpStatus: 401 });
    expect(error.message).toContain('Invalid client or Invalid client credentials');
    expect(error.message).not.toContain('wrong-secret-value');
  });

  it('reports an unknown scope as InvalidScope', async () => {
    const error = await expectProviderError(
      provider.obtain(
        spec({ tokenUrl: server().tokenUrl(REALM), scopes: ['no-such-scope'] }),
        providerContext(secretInputs()),
      ),
    );
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidScope' });
  });

  it('revokes through the advertised endpoint so that introspection reports the token inactive', async () => {
    const context = providerContext(secretInputs());
    const kcSpec = spec({ issuerUrl: server().issuer(REALM) });
    const tokens = await provider.obtain(kcSpec, context);
    const outcome = await provider.release(kcSpec, {
      ...context,
      current: { data: tokens.data, issuedAt: tokens.issuedAt, expiresAt: tokens.expiresAt },
    });
    expect(outcome).toBe('released');
    const introspection = await post(
      `${server().issuer(REALM)}/protocol/openid-connect/token/introspect`,
      { token: tokens.data.token ?? '' },
      basicAuth(SECRET_CLIENT.clientId, SECRET_CLIENT.secret),
    );
    expect(introspection.body.active).toBe(false);
  });
});
