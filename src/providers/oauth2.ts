// OAuth 2.0 client credentials (RFC 6749 §4.4) against any standard server; Keycloak is the reference.
// Client authentication: client_secret_basic, client_secret_post, private_key_jwt (RFC 7523), or a
// ServiceAccount token as the assertion (service_account_token, client-assertion.ts).
import { randomUUID } from 'node:crypto';
import { SignJWT, importPKCS8, type CryptoKey, type KeyObject } from 'jose';
import { z } from 'zod';
import { caBundleRef, cel, httpUrl, objectName, secretKey } from '../api/fields.ts';
import type { HttpClient } from '../http/client.ts';
import { hostAndPath } from '../http/url.ts';
import { namespaceOf } from '../kube/object-key.ts';
import { ProviderError } from '../errors/failure.ts';
import { excerpt } from '../errors/excerpt.ts';
import { tokenEndpointError, tokenSetFromResponse } from './oauth-response.ts';
import { addServiceAccountAssertion, serviceAccountTokenSchema } from './client-assertion.ts';
import { clientCredentialRefs, declareNeeds, secretKeyRef } from './references.ts';
import {
  OAUTH2_REFRESH_STATE_KEYS,
  obtainByRefreshToken,
  refreshTokenInput,
  refreshTokenRefSchema,
  type RefreshTokenRef,
} from './oauth2-refresh.ts';
import {
  OAUTH2_DEVICE_STATE_KEYS,
  deviceAuthorizationSchema,
  flowFingerprint,
  liveRefreshToken,
  obtainByDeviceGrant,
} from './oauth2-device.ts';
import { defineProvider } from './definition.ts';
import type { InputReference, ProviderContext, ProviderNeeds, TokenProvider, TokenSet } from './types.ts';

export const oauth2Schema = z
  .object({
    tokenUrl: httpUrl('Token endpoint. Set this or issuerUrl.').optional(),
    issuerUrl: httpUrl(
      'Issuer; the token endpoint is found through {issuer}/.well-known/openid-configuration.',
    ).optional(),
    clientAuth: z
      .enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'service_account_token', 'none'])
      .default('client_secret_basic')
      .meta({
        description:
          'How the client authenticates to the token endpoint (RFC 6749 §2.3, RFC 7523). none: a public client (client_id only), for refreshTokenRef.',
      }),
    credentialsRef: z
      .object({
        name: objectName('Name of a Secret in the ApiCredential namespace.'),
        clientIdKey: secretKey('client_id', 'Key of the client id.'),
        clientSecretKey: secretKey(
          'client_secret',
          'Key of the client secret (client_secret_basic and _post).',
        ),
        privateKeyKey: secretKey('private_key', 'Key of the PEM private key (private_key_jwt).'),
      })
      .optional()
      .meta({
        description:
          'Secret holding the client id and its secret or private key (not used by service_account_token).',
      }),
    serviceAccountToken: serviceAccountTokenSchema.optional(),
    signingAlgorithm: z
      .enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])
      .optional()
      .meta({ description: 'JWS algorithm of the private_key_jwt assertion. Default: from the key type.' }),
    keyId: z
      .string()
      .max(256)
      .optional()
      .meta({ description: 'kid header of the private_key_jwt assertion.' }),
    scopes: z
      .array(z.string().min(1).max(256))
      .max(64)
      .optional()
      .meta({ description: 'Scopes to request.' }),
    audience: z
      .string()
      .max(2048)
      .optional()
      .meta({ description: 'audience parameter (Auth0, Keycloak token exchange).' }),
    resource: z.string().max(2048).optional().meta({ description: 'resource parameter (RFC 8707).' }),
    extraParams: z.record(z.string(), z.string().max(4096)).optional().meta({
      description:
        'Extra form parameters for the token request. Not for secrets: they are visible in the spec.',
    }),
    refreshTokenRef: refreshTokenRefSchema.optional(),
    deviceAuthorization: deviceAuthorizationSchema.optional(),
    caBundleRef: caBundleRef.optional(),
    revokeOnDelete: z.boolean().default(true).meta({
      description:
        'Revoke the token when the ApiCredential is deleted, if the server has a revocation endpoint.',
    }),
  })
  .meta({
    description:
      'OAuth 2.0 against any RFC 6749 server (Keycloak, Auth0, Entra ID, ...): the client credentials grant, ' +
      'or a refresh token pasted once (refreshTokenRef), or a person approving once (deviceAuthorization).',
    ...cel(
      {
        rule: 'has(self.tokenUrl) != has(self.issuerUrl)',
        message: 'set exactly one of tokenUrl or issuerUrl',
      },
      {
        rule: "has(self.credentialsRef) || self.clientAuth == 'service_account_token'",
        message: 'credentialsRef is required unless clientAuth is service_account_token',
      },
      {
        rule: "has(self.serviceAccountToken) == (self.clientAuth == 'service_account_token')",
        message: 'serviceAccountToken is set exactly when clientAuth is service_account_token',
        fieldPath: '.serviceAccountToken',
      },
      {
        rule: "!has(self.signingAlgorithm) || self.clientAuth == 'private_key_jwt'",
        message: 'signingAlgorithm applies only to clientAuth private_key_jwt',
        fieldPath: '.signingAlgorithm',
      },
      {
        rule: "self.clientAuth != 'none' || has(self.refreshTokenRef) || has(self.deviceAuthorization)",
        message: 'clientAuth none (a public client) applies only with refreshTokenRef or deviceAuthorization',
        fieldPath: '.clientAuth',
      },
      {
        rule: '!has(self.deviceAuthorization) || !has(self.refreshTokenRef)',
        message: 'set at most one of refreshTokenRef and deviceAuthorization',
        fieldPath: '.deviceAuthorization',
      },
      {
        rule: '!has(self.deviceAuthorization) || has(self.deviceAuthorization.endpoint) || has(self.issuerUrl)',
        message: 'deviceAuthorization needs its endpoint, or issuerUrl to discover it',
        fieldPath: '.deviceAuthorization',
      },
    ),
  });

export type Oauth2Spec = z.output<typeof oauth2Schema>;

const FIELD = 'spec.provider.oauth2';
const RESERVED_PARAMS = new Set([
  'grant_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'scope',
  'refresh_token',
  'device_code',
]);
const DISCOVERY_TTL_MS = 60 * 60_000;

interface Endpoints {
  token: string;
  revocation?: string;
  deviceAuthorization?: string;
}

interface Discovered {
  endpoints: Endpoints;
  at: number;
}

type CredentialsRef = NonNullable<Oauth2Spec['credentialsRef']>;

/** credentialsRef, which the schema's CEL rule makes required for every clientAuth that reads a Secret. */
function credentialsRefOf(spec: Oauth2Spec): CredentialsRef {
  if (spec.credentialsRef) return spec.credentialsRef;
  throw new ProviderError({
    kind: 'terminal',
    reason: 'InvalidSpec',
    message: `${FIELD}.credentialsRef is required for clientAuth ${spec.clientAuth}.`,
  });
}

function refs(spec: Oauth2Spec): {
  clientId: InputReference;
  clientSecret: InputReference;
  privateKey: InputReference;
} {
  const ref = credentialsRefOf(spec);
  return {
    ...clientCredentialRefs(FIELD, ref),
    privateKey: secretKeyRef(`${FIELD}.credentialsRef`, ref.name, ref.privateKeyKey, 'privateKeyKey'),
  };
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64 (secrets with ':' or '%' need it). */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

function defaultAlgorithm(pem: string): string {
  if (pem.includes('BEGIN EC PRIVATE KEY')) return 'ES256';
  return 'RS256';
}

async function signingKey(pem: string, algorithm: string, where: string): Promise<CryptoKey | KeyObject> {
  try {
    return await importPKCS8(pem, algorithm);
  } catch (error) {
    throw new ProviderError(
      {
        kind: 'terminal',
        reason: 'InvalidPrivateKey',
        message: `the private key in ${where} cannot be used for ${algorithm}: it must be a PKCS#8 PEM ("BEGIN PRIVATE KEY") of a matching type (${error instanceof Error ? excerpt(error.message, 120) : 'unreadable'}).`,
      },
      { cause: error },
    );
  }
}

function invalidSpec(message: string): ProviderError {
  return new ProviderError({ kind: 'terminal', reason: 'InvalidSpec', message });
}

/** What the server judged when it refused the client, for the token endpoint's error message. */
function clientWhere(spec: Oauth2Spec, namespace?: string): string {
  const prefix = namespace ? `${namespace}/` : '';
  if (spec.clientAuth === 'service_account_token' && spec.serviceAccountToken) {
    return `the token of ServiceAccount ${prefix}${spec.serviceAccountToken.serviceAccountName} (${FIELD}.serviceAccountToken)`;
  }
  return `Secret ${prefix}${spec.credentialsRef?.name ?? ''}`;
}

export class OAuth2Provider implements TokenProvider<Oauth2Spec> {
  readonly name = 'oauth2' as const;
  /** Refresh-token and device modes keep the live refresh token (and a pending device code) in the state Secret. */
  readonly secretStateKeys = [
    OAUTH2_REFRESH_STATE_KEYS.refreshToken,
    OAUTH2_DEVICE_STATE_KEYS.refreshToken,
    OAUTH2_DEVICE_STATE_KEYS.deviceCode,
  ];
  readonly #discovered = new Map<string, Discovered>();

  needs(spec: Oauth2Spec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {
      // With issuerUrl, the token endpoint is known only after discovery; the issuer's host is the
      // one every renewal calls first, and nearly always the token endpoint's too.
      endpoint: spec.tokenUrl ?? spec.issuerUrl ?? '',
      caBundleRef: spec.caBundleRef,
      releaseOnDelete: spec.revokeOnDelete,
    });
  }

  inputs(spec: Oauth2Spec): InputReference[] {
    if (spec.clientAuth === 'service_account_token') return [];
    const { clientId, clientSecret, privateKey } = refs(spec);
    // A public client (none) proves nothing but its id.
    const clientKey =
      spec.clientAuth === 'none' ? [] : [spec.clientAuth === 'private_key_jwt' ? privateKey : clientSecret];
    const refreshToken = spec.refreshTokenRef ? [refreshTokenInput(FIELD, spec.refreshTokenRef)] : [];
    return [clientId, ...clientKey, ...refreshToken];
  }

  async obtain(spec: Oauth2Spec, context: ProviderContext): Promise<TokenSet> {
    for (const param of Object.keys(spec.extraParams ?? {})) {
      if (RESERVED_PARAMS.has(param)) {
        throw new ProviderError({
          kind: 'terminal',
          reason: 'InvalidSpec',
          message: `${FIELD}.extraParams.${param} is set by the operator itself; remove it (scopes go in ${FIELD}.scopes).`,
        });
      }
    }
    const endpoints = await this.#endpoints(spec, context.http, context.clock.now(), context.signal);
    if (spec.refreshTokenRef)
      return this.#obtainByRefreshToken(spec, spec.refreshTokenRef, endpoints, context);
    if (spec.deviceAuthorization) return this.#obtainByDeviceGrant(spec, endpoints, context);
    const form: Record<string, string> = { grant_type: 'client_credentials', ...spec.extraParams };
    if (spec.scopes?.length) form.scope = spec.scopes.join(' ');
    if (spec.audience) form.audience = spec.audience;
    if (spec.resource) form.resource = spec.resource;
    const headers: Record<string, string> = { accept: 'application/json' };
    await this.#authenticate(spec, context, endpoints.token, form, headers);

    const startedAt = context.clock.now();
    const response = await context.http.request({
      method: 'POST',
      url: endpoints.token,
      form,
      headers,
      signal: context.signal,
    });
    const where = clientWhere(spec, namespaceOf(context.credential));
    if (response.status !== 200) throw tokenEndpointError(response, endpoints.token, where);
    return tokenSetFromResponse(response, endpoints.token, context, startedAt);
  }

  /** Refresh-token mode (oauth2-refresh.ts), with this provider's endpoints and client authentication. */
  #obtainByRefreshToken(
    spec: Oauth2Spec,
    ref: RefreshTokenRef,
    endpoints: Endpoints,
    context: ProviderContext,
  ): Promise<TokenSet> {
    const params: Record<string, string> = { ...spec.extraParams };
    if (spec.scopes?.length) params.scope = spec.scopes.join(' ');
    if (spec.audience) params.audience = spec.audience;
    if (spec.resource) params.resource = spec.resource;
    return obtainByRefreshToken(
      {
        field: FIELD,
        ref,
        tokenUrl: endpoints.token,
        params,
        authenticate: (form, headers) => this.#authenticate(spec, context, endpoints.token, form, headers),
        clientWhere: clientWhere(spec, namespaceOf(context.credential)),
      },
      context,
    );
  }

  /** Device mode (oauth2-device.ts): a person approves once; the chain is rotated from then on. */
  #obtainByDeviceGrant(spec: Oauth2Spec, endpoints: Endpoints, context: ProviderContext): Promise<TokenSet> {
    const device = spec.deviceAuthorization ?? {};
    const deviceEndpoint = device.endpoint ?? endpoints.deviceAuthorization;
    if (!deviceEndpoint) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'DiscoveryFailed',
        message: `the discovery document of ${spec.issuerUrl ?? '?'} names no device_authorization_endpoint; set ${FIELD}.deviceAuthorization.endpoint.`,
      });
    }
    const params: Record<string, string> = { ...spec.extraParams };
    if (spec.scopes?.length) params.scope = spec.scopes.join(' ');
    const clientId =
      spec.clientAuth === 'service_account_token' ? '' : context.inputs.require(refs(spec).clientId);
    return obtainByDeviceGrant(
      {
        field: FIELD,
        spec: device,
        deviceEndpoint,
        tokenUrl: endpoints.token,
        params,
        fingerprint: flowFingerprint([deviceEndpoint, endpoints.token, clientId, params.scope ?? '']),
        authenticate: (form, headers) => this.#authenticate(spec, context, endpoints.token, form, headers),
        clientWhere: clientWhere(spec, namespaceOf(context.credential)),
      },
      context,
    );
  }

  async release(spec: Oauth2Spec, context: ProviderContext): Promise<'released' | 'unsupported'> {
    if (!spec.revokeOnDelete) return 'unsupported';
    const access = context.current?.data[context.keys.token];
    // Device mode: the refresh token is the long-lived grant (an offline one outlives any session).
    const refresh = spec.deviceAuthorization ? liveRefreshToken(await context.state.read()) : undefined;
    if (!access && !refresh) return 'unsupported';
    const endpoints = await this.#endpoints(spec, context.http, context.clock.now(), context.signal);
    const revocation = endpoints.revocation;
    if (!revocation) return 'unsupported';
    if (refresh) await this.#revoke(spec, context, revocation, refresh, 'refresh_token');
    if (access) await this.#revoke(spec, context, revocation, access, 'access_token');
    return 'released';
  }

  async #revoke(
    spec: Oauth2Spec,
    context: ProviderContext,
    revocation: string,
    token: string,
    hint: 'access_token' | 'refresh_token',
  ): Promise<void> {
    const form: Record<string, string> = { token, token_type_hint: hint };
    const headers: Record<string, string> = { accept: 'application/json' };
    await this.#authenticate(spec, context, revocation, form, headers);
    const response = await context.http.request({
      method: 'POST',
      url: revocation,
      form,
      headers,
      signal: context.signal,
    });
    // RFC 7009 §2.2: 200 even for tokens the server does not know (Keycloak adds an error body then).
    if (response.status !== 200) throw tokenEndpointError(response, revocation, clientWhere(spec));
  }

  async #authenticate(
    spec: Oauth2Spec,
    context: ProviderContext,
    audience: string,
    form: Record<string, string>,
    headers: Record<string, string>,
  ): Promise<void> {
    if (spec.clientAuth === 'service_account_token') {
      const saSpec = spec.serviceAccountToken;
      if (!saSpec)
        throw invalidSpec(`${FIELD}.serviceAccountToken is required for clientAuth service_account_token.`);
      await addServiceAccountAssertion(saSpec, context, form, `${FIELD}.serviceAccountToken`);
      return;
    }
    const r = refs(spec);
    const clientId = context.inputs.require(r.clientId);
    const credentialsRef = credentialsRefOf(spec);
    switch (spec.clientAuth) {
      case 'client_secret_basic':
        headers.authorization = basicAuthorization(clientId, context.inputs.require(r.clientSecret));
        return;
      case 'none':
        form.client_id = clientId;
        return;
      case 'client_secret_post':
        form.client_id = clientId;
        form.client_secret = context.inputs.require(r.clientSecret);
        return;
      case 'private_key_jwt': {
        const pem = context.inputs.require(r.privateKey);
        const algorithm = spec.signingAlgorithm ?? defaultAlgorithm(pem);
        const key = await signingKey(
          pem,
          algorithm,
          `Secret ${credentialsRef.name} key ${credentialsRef.privateKeyKey}`,
        );
        const now = Math.floor(context.clock.now() / 1000);
        const header: { alg: string; typ: string; kid?: string } = { alg: algorithm, typ: 'JWT' };
        if (spec.keyId) header.kid = spec.keyId;
        form.client_id = clientId;
        form.client_assertion_type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
        // Short-lived and single-use (jti): servers such as Keycloak reject replays and long lifetimes.
        form.client_assertion = await new SignJWT({})
          .setProtectedHeader(header)
          .setIssuer(clientId)
          .setSubject(clientId)
          .setAudience(audience)
          .setJti(randomUUID())
          .setIssuedAt(now)
          .setExpirationTime(now + 60)
          .sign(key);
        return;
      }
    }
  }

  async #endpoints(spec: Oauth2Spec, http: HttpClient, now: number, signal: AbortSignal): Promise<Endpoints> {
    if (spec.tokenUrl) return { token: spec.tokenUrl };
    const issuer = (spec.issuerUrl ?? '').replace(/\/+$/, '');
    const cached = this.#discovered.get(issuer);
    if (cached && now - cached.at < DISCOVERY_TTL_MS) return cached.endpoints;
    const url = `${issuer}/.well-known/openid-configuration`;
    const response = await http.request({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      signal,
    });
    if (response.status !== 200) {
      throw new ProviderError({
        kind: response.status >= 500 || response.status === 429 ? 'transient' : 'terminal',
        reason: 'DiscoveryFailed',
        message: `issuer discovery at ${hostAndPath(url)} answered ${response.status}; check ${FIELD}.issuerUrl or set tokenUrl.`,
        httpStatus: response.status,
        retryAfterMs: response.retryAfterMs(),
      });
    }
    const body = response.json();
    // `null`, an array or a string is as useless as a document without the field.
    const document: {
      token_endpoint?: unknown;
      revocation_endpoint?: unknown;
      device_authorization_endpoint?: unknown;
    } = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {};
    if (typeof document.token_endpoint !== 'string' || !/^https?:\/\//.test(document.token_endpoint)) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'DiscoveryFailed',
        message: `the discovery document of ${issuer} has no usable token_endpoint; set ${FIELD}.tokenUrl instead.`,
      });
    }
    const endpoints: Endpoints = {
      token: document.token_endpoint,
      // An unusable revocation endpoint means none: deletion must not fail on the server's typo.
      revocation: usableUrl(document.revocation_endpoint),
      deviceAuthorization: usableUrl(document.device_authorization_endpoint),
    };
    this.#discovered.set(issuer, { endpoints, at: now });
    return endpoints;
  }
}

function usableUrl(value: unknown): string | undefined {
  return typeof value === 'string' && /^https?:\/\//.test(value) ? value : undefined;
}

export const oauth2Definition = defineProvider({
  name: 'oauth2',
  schema: oauth2Schema,
  create: () => new OAuth2Provider(),
});
