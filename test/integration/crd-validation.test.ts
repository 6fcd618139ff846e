// The generated CRD, installed in a real apiserver, rejects bad specs with a message naming the field.
import { randomBytes } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../src/api/apicredential.ts';
import { createIdentity } from '../harness/identity.ts';

const plane = inject('controlPlane');
const namespace = `crd-${randomBytes(3).toString('hex')}`;
let objects: CustomObjectsApi;

const oauth2 = {
  tokenUrl: 'https://kc.example/realms/shop/protocol/openid-connect/token',
  credentialsRef: { name: 'client' },
};

async function create(
  name: string,
  spec: unknown,
): Promise<{ status: number; message: string; object?: unknown }> {
  try {
    const object: unknown = await objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec },
    });
    return { status: 201, message: '', object };
  } catch (error) {
    const { code, body } = error as { code?: number; body?: unknown };
    const message =
      typeof body === 'string' ? ((JSON.parse(body) as { message?: string }).message ?? body) : String(body);
    return { status: code ?? 0, message };
  }
}

beforeAll(async () => {
  const identity = await createIdentity(plane, {
    namespace,
    serviceAccount: 'author',
    rules: [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ['create', 'get'] }],
  });
  objects = identity.kubeConfig.makeApiClient(CustomObjectsApi);
});

describe('the ApiCredential CRD', () => {
  it('accepts a spec.secret.template with the documented examples', async () => {
    const template = {
      'config.json': '{"token": {{ token | json }}, "expiresAt": {{ expiresAt | json }}}',
      'auth-header': 'Authorization: {{ tokenType }} {{ token }}',
      '.netrc': 'machine api.example.com login oauth2 password {{ token }}',
    };
    const result = await create('templated', { provider: { oauth2 }, secret: { template } });
    expect(result.status).toBe(201);
    expect((result.object as { spec: { secret: { template: unknown } } }).spec.secret.template).toEqual(
      template,
    );
  });

  it('accepts a minimal spec and applies the schema defaults', async () => {
    const result = await create('minimal', { provider: { oauth2 } });
    expect(result.status).toBe(201);
    const spec = (result.object as { spec: Record<string, unknown> }).spec;
    expect(spec).toMatchObject({
      provider: {
        oauth2: { clientAuth: 'client_secret_basic', credentialsRef: { clientIdKey: 'client_id' } },
      },
      secret: { keys: { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' }, takeOver: false },
    });
  });

  it.each([
    ['no provider', { provider: {} }, 'spec.provider', 'set exactly one provider'],
    [
      'two providers',
      { provider: { oauth2, tapdata: { baseUrl: 'http://tapdata:3030', credentialsRef: { name: 'c' } } } },
      'spec.provider',
      'set exactly one provider',
    ],
    [
      'tokenUrl and issuerUrl together',
      { provider: { oauth2: { ...oauth2, issuerUrl: 'https://kc.example/realms/shop' } } },
      'spec.provider.oauth2',
      'set exactly one of tokenUrl or issuerUrl',
    ],
    [
      'a URL that is not http(s)',
      { provider: { oauth2: { ...oauth2, tokenUrl: 'ftp://kc.example/token' } } },
      'spec.provider.oauth2.tokenUrl',
      'should match',
    ],
    [
      'an unknown client authentication method',
      { provider: { oauth2: { ...oauth2, clientAuth: 'tls_client_auth' } } },
      'spec.provider.oauth2.clientAuth',
      'Unsupported value',
    ],
    [
      'a public client (clientAuth none) without a refresh token',
      { provider: { oauth2: { ...oauth2, clientAuth: 'none' } } },
      'spec.provider.oauth2.clientAuth',
      'clientAuth none (a public client) applies only with refreshTokenRef',
    ],
    [
      'a renewal percentage out of range',
      { provider: { oauth2 }, refresh: { renewBeforePercentage: 95 } },
      'spec.refresh.renewBeforePercentage',
      'less than or equal to 90',
    ],
    [
      'both renewal settings',
      { provider: { oauth2 }, refresh: { renewBeforePercentage: 30, renewBefore: '5m' } },
      'spec.refresh',
      'set renewBeforePercentage or renewBefore, not both',
    ],
    [
      'a duration that is not one',
      { provider: { oauth2 }, refresh: { renewBefore: '5 minutes' } },
      'spec.refresh.renewBefore',
      'should match',
    ],
    [
      'Insights Hub with both tenant settings',
      {
        provider: {
          insightsHub: {
            baseUrl: 'https://gateway.eu1.mindsphere.io',
            credentialsRef: { name: 'app' },
            appName: 'a',
            appVersion: '1',
            hostTenant: 'h',
            userTenants: ['t1'],
            allUserTenants: true,
          },
        },
      },
      'spec.provider.insightsHub',
      'set exactly one of userTenants or allUserTenants: true',
    ],
    [
      'a Secret name that is not a DNS name',
      { provider: { oauth2 }, secret: { name: 'Not_Valid' } },
      'spec.secret.name',
      'should match',
    ],
    [
      'a template key that is not a Secret key',
      { provider: { oauth2 }, secret: { template: { 'a/b': 'x' } } },
      'spec.secret.template',
      'every key must be a valid Secret key',
    ],
    [
      'a template key that is spec.secret.keys.token (default)',
      { provider: { oauth2 }, secret: { template: { token: 'Bearer {{ token }}' } } },
      'spec.secret.template',
      'a template key must not be one of spec.secret.keys',
    ],
    [
      'a template key that is a renamed spec.secret.keys.expiresAt',
      { provider: { oauth2 }, secret: { keys: { expiresAt: 'until' }, template: { until: 'x' } } },
      'spec.secret.template',
      'a template key must not be one of spec.secret.keys',
    ],
    [
      'more than 16 template keys',
      {
        provider: { oauth2 },
        secret: { template: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'x'])) },
      },
      'spec.secret.template',
      'must have at most 16 items',
    ],
    [
      'a template longer than 8 KiB',
      { provider: { oauth2 }, secret: { template: { k: 'x'.repeat(8193) } } },
      'spec.secret.template.k',
      'may not be more than 8192 bytes',
    ],
  ])('rejects %s, naming the field', async (_case, spec, field, text) => {
    const result = await create(`bad-${randomBytes(3).toString('hex')}`, spec);
    expect(result.status).toBe(422);
    expect(result.message).toContain(field);
    expect(result.message).toContain(text);
  });
});
