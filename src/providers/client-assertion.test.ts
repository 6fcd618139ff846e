import { describe, expect, it } from 'vitest';
import { providerContext, expectProviderError } from '../../test/providers/context.ts';
import { ProviderError } from '../errors/failure.ts';
import type { HttpRequest, HttpResponse } from '../http/types.ts';
import { requestServiceAccountToken } from '../kube/service-account-token.ts';
import { JWT_BEARER_ASSERTION_TYPE, serviceAccountTokenSchema } from './client-assertion.ts';
import { OAuth2Provider, oauth2Schema } from './oauth2.ts';
import type { ServiceAccountTokenMinter } from './types.ts';

const MINTED = 'eyJhbGciOiJSUzI1NiJ9.minted-service-account-token.sig';

function tokenResponse(): HttpResponse {
  const text = JSON.stringify({ access_token: 'access-1', token_type: 'Bearer', expires_in: 300 });
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    text,
    json: () => JSON.parse(text) as unknown,
    retryAfterMs: () => undefined,
  };
}

function recordingHttp(): { requests: HttpRequest[]; request: (r: HttpRequest) => Promise<HttpResponse> } {
  const requests: HttpRequest[] = [];
  return {
    requests,
    request: (request) => {
      requests.push(request);
      return Promise.resolve(tokenResponse());
    },
  };
}

const saSpec = oauth2Schema.parse({
  tokenUrl: 'https://idp.example/realms/r/protocol/openid-connect/token',
  clientAuth: 'service_account_token',
  serviceAccountToken: { serviceAccountName: 'billing', audience: 'https://idp.example/realms/r' },
});

describe('clientAuth service_account_token', () => {
  it('sends the minted token as an RFC 7523 client assertion, with no client secret and no Authorization', async () => {
    const http = recordingHttp();
    const mints: Parameters<ServiceAccountTokenMinter>[0][] = [];
    const mintServiceAccountToken: ServiceAccountTokenMinter = (request) => {
      mints.push(request);
      return Promise.resolve({ token: MINTED, expiresAt: Date.now() + 600_000 });
    };
    const tokens = await new OAuth2Provider().obtain(
      saSpec,
      providerContext({}, { http, mintServiceAccountToken }),
    );
    expect(tokens.data.token).toBe('access-1');
    expect(mints).toMatchObject([
      {
        serviceAccountName: 'billing',
        audience: 'https://idp.example/realms/r',
        expirationSeconds: 600,
        fieldPath: 'spec.provider.oauth2.serviceAccountToken.serviceAccountName',
      },
    ]);
    expect(http.requests).toHaveLength(1);
    expect(http.requests[0]?.form).toEqual({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: MINTED,
    });
    expect(http.requests[0]?.headers?.authorization).toBeUndefined();
  });

  it('adds client_id when the spec names one, and mints a fresh assertion per exchange', async () => {
    const http = recordingHttp();
    let minted = 0;
    const mintServiceAccountToken: ServiceAccountTokenMinter = () =>
      Promise.resolve({ token: `${MINTED}-${String(++minted)}`, expiresAt: Date.now() + 600_000 });
    const spec = oauth2Schema.parse({
      ...saSpec,
      serviceAccountToken: { ...saSpec.serviceAccountToken, clientId: 'billing-client' },
    });
    const context = providerContext({}, { http, mintServiceAccountToken });
    await new OAuth2Provider().obtain(spec, context);
    await new OAuth2Provider().obtain(spec, context);
    expect(http.requests.map((r) => r.form?.client_assertion)).toEqual([`${MINTED}-1`, `${MINTED}-2`]);
    expect(http.requests[0]?.form?.client_id).toBe('billing-client');
  });

  it('reads no Secret at all', () => {
    expect(new OAuth2Provider().inputs(saSpec)).toEqual([]);
  });

  it('keeps expirationSeconds between the apiserver minimum and an hour', () => {
    const base = { serviceAccountName: 'a', audience: 'x' };
    expect(serviceAccountTokenSchema.safeParse({ ...base, expirationSeconds: 599 }).success).toBe(false);
    expect(serviceAccountTokenSchema.safeParse({ ...base, expirationSeconds: 3601 }).success).toBe(false);
    expect(serviceAccountTokenSchema.parse(base).expirationSeconds).toBe(600);
  });
});

describe('requestServiceAccountToken', () => {
  const input = {
    namespace: 'team-a',
    serviceAccountName: 'billing',
    audience: 'https://idp.example',
    expirationSeconds: 600,
    fieldPath: 'spec.provider.oauth2.serviceAccountToken.serviceAccountName',
  };
  const failing = (code: number) => ({
    createNamespacedServiceAccountToken: () => Promise.reject(Object.assign(new Error('boom'), { code })),
  });

  it('asks for the audience and lifetime and returns the token with its expiry', async () => {
    const bodies: unknown[] = [];
    const minted = await requestServiceAccountToken(
      {
        createNamespacedServiceAccountToken: (request) => {
          bodies.push(request);
          return Promise.resolve({
            spec: request.body.spec,
            status: { token: MINTED, expirationTimestamp: new Date(1_000_600_000) },
          });
        },
      },
      input,
      () => 1_000_000_000,
    );
    expect(minted).toEqual({ token: MINTED, expiresAt: 1_000_600_000 });
    expect(bodies).toMatchObject([
      {
        name: 'billing',
        namespace: 'team-a',
        body: { spec: { audiences: ['https://idp.example'], expirationSeconds: 600 } },
      },
    ]);
  });

  it('names the missing ServiceAccount and the spec field on 404, and retries (creating it heals)', async () => {
    const error = await expectProviderError(requestServiceAccountToken(failing(404), input, Date.now));
    expect(error).toMatchObject({ kind: 'transient', reason: 'ServiceAccountNotFound' });
    expect(error.message).toContain('ServiceAccount team-a/billing');
    expect(error.message).toContain(input.fieldPath);
  });

  it('names the permission and the chart value on 403, and retries (granting it heals)', async () => {
    const error = await expectProviderError(requestServiceAccountToken(failing(403), input, Date.now));
    expect(error).toMatchObject({ kind: 'transient', reason: 'ServiceAccountTokenForbidden' });
    expect(error.message).toContain('create serviceaccounts/token in namespace team-a');
    expect(error.message).toContain('rbac.serviceAccountTokens=true');
  });

  it('retries other failures', async () => {
    const error = await requestServiceAccountToken(failing(503), input, Date.now).catch((e: unknown) => e);
    expect(ProviderError.is(error) && error.kind).toBe('transient');
  });
});
