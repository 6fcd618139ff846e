// The ApiCredential API: this zod schema is the one source of truth. The CRD (crds/), the chart's copy
// and the TypeScript types are generated from it (scripts/generate-crds.ts).
import { z } from 'zod';

export const GROUP = 'apicred.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ApiCredential';
export const PLURAL = 'apicredentials';
export const SINGULAR = 'apicredential';
export const SHORT_NAMES = ['apicred'];
/**
 * `kubectl get apicred-operator` lists every kind of this project, as `kubectl get cert-manager` does.
 * Not `apicred`: kubectl expands a category before a resource name, so it would shadow the short name.
 */
export const CATEGORIES = ['apicred-operator'];

interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const duration = (description: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), 'a duration such as 90s, 5m or 1h30m')
    .max(32)
    .meta({ description, pattern: DURATION_PATTERN });

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const objectName = (description: string) =>
  z.string().min(1).max(253).regex(new RegExp(DNS_SUBDOMAIN)).meta({ description, pattern: DNS_SUBDOMAIN });

const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
const secretKey = (defaultKey: string, description: string) =>
  z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(SECRET_KEY))
    .default(defaultKey)
    .meta({ description: `${description} Default: ${defaultKey}.`, pattern: SECRET_KEY });

const HTTP_URL = '^https?://[^\\s]+$';
const httpUrl = (description: string) =>
  z
    .string()
    .max(2048)
    .regex(new RegExp(HTTP_URL), 'an http:// or https:// URL')
    .meta({
      description,
      pattern: HTTP_URL,
      ...cel({ rule: 'isURL(self)', message: 'must be a valid http:// or https:// URL' }),
    });

const caBundleRef = z
  .object({
    kind: z.enum(['Secret', 'ConfigMap']).default('Secret'),
    name: objectName('Name of the Secret or ConfigMap, in the ApiCredential namespace.'),
    key: secretKey('ca.crt', 'Key holding PEM certificates.'),
  })
  .meta({
    description: 'Extra CA certificates (PEM) trusted for this provider, in addition to the system ones.',
  });

const clientCredentialsRef = z
  .object({
    name: objectName('Name of a Secret in the ApiCredential namespace.'),
    clientIdKey: secretKey('client_id', 'Key of the client id.'),
    clientSecretKey: secretKey('client_secret', 'Key of the client secret.'),
  })
  .meta({ description: 'Secret holding the client credentials.' });

const userCredentialsRef = z
  .object({
    name: objectName('Name of a Secret in the ApiCredential namespace.'),
    usernameKey: secretKey('username', 'Key of the user (login) name.'),
    passwordKey: secretKey('password', 'Key of the password.'),
  })
  .meta({ description: 'Secret holding a user name and password.' });

export const oauth2Schema = z
  .object({
    tokenUrl: httpUrl('Token endpoint. Set this or issuerUrl.').optional(),
    issuerUrl: httpUrl(
      'Issuer; the token endpoint is found through {issuer}/.well-known/openid-configuration.',
    ).optional(),
    clientAuth: z
      .enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt'])
      .default('client_secret_basic')
      .meta({ description: 'How the client authenticates to the token endpoint (RFC 6749 §2.3, RFC 7523).' }),
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
      .meta({ description: 'Secret holding the client id and its secret or private key.' }),
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
    caBundleRef: caBundleRef.optional(),
    revokeOnDelete: z.boolean().default(true).meta({
      description:
        'Revoke the token when the ApiCredential is deleted, if the server has a revocation endpoint.',
    }),
  })
  .meta({
    description:
      'OAuth 2.0 client credentials grant against any RFC 6749 server (Keycloak, Auth0, Entra ID, ...).',
    ...cel(
      {
        rule: 'has(self.tokenUrl) != has(self.issuerUrl)',
        message: 'set exactly one of tokenUrl or issuerUrl',
      },
      {
        rule: "!has(self.signingAlgorithm) || self.clientAuth == 'private_key_jwt'",
        message: 'signingAlgorithm applies only to clientAuth private_key_jwt',
        fieldPath: '.signingAlgorithm',
      },
    ),
  });

export const tapdataSchema = z
  .object({
    baseUrl: httpUrl('TapData Manager (TM) base URL, for example http://tapdata:3030.'),
    credentialsRef: clientCredentialsRef,
    scopes: z
      .array(z.string().min(1).max(256))
      .max(64)
      .optional()
      .meta({ description: 'Role ids to request as scopes.' }),
    bodyFormat: z
      .enum(['form', 'json'])
      .default('form')
      .meta({ description: 'Token request body. json works only on TM builds from December 2025 on.' }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({ description: 'TapData Data Service client credentials (POST {baseUrl}/oauth/token).' });

export const idmpSchema = z
  .object({
    baseUrl: httpUrl('TDengine IDMP base URL, for example http://idmp:6042.'),
    credentialsRef: userCredentialsRef,
    loginField: z.enum(['login_name', 'loginName']).optional().meta({
      description:
        'Pins the JSON field name of the login name. Unset, the operator sends one name, and on a 400 that names the field it tries the other and remembers the one that works for this baseUrl.',
    }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({ description: 'TDengine IDMP enterprise login (POST /api/v1/users/login).' });

export const idmpCloudSchema = z
  .object({
    baseUrl: httpUrl('IDMP cloud instance URL, https://<instance-id>.idmp.taosdata.com.'),
    tokensRef: z
      .object({
        name: objectName('Secret where a person pastes the two values copied from the browser.'),
        bearerTokenKey: secretKey('bearer_token', 'Key of the Authorization Bearer token.'),
        accessTokenKey: secretKey('access_token', 'Key of the Access-token header value.'),
      })
      .meta({
        description: 'Secret holding the Bearer token and Access-token header copied from a browser session.',
      }),
    checkPath: z
      .string()
      .regex(/^\//)
      .max(1024)
      .default('/api/v1/elements?current=1&size=1')
      .meta({ description: 'A cheap authenticated GET used to check that the tokens still work.' }),
    checkInterval: duration('How often the tokens are checked. Default: 10m.').default('10m'),
    warnBefore: duration('Warn this long before a JWT bearer token expires. Default: 24h.').default('24h'),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({
    description:
      'IDMP cloud: tokens cannot be obtained by a program. The operator distributes the tokens a person copied, checks them and warns before they expire.',
  });

export const insightsHubSchema = z
  .object({
    baseUrl: httpUrl('Gateway URL, for example https://gateway.eu1.mindsphere.io.'),
    credentialsRef: clientCredentialsRef,
    appName: z.string().min(1).max(256),
    appVersion: z.string().min(1).max(64),
    hostTenant: z.string().min(1).max(256),
    userTenants: z.array(z.string().min(1).max(256)).min(1).max(10000).optional().meta({
      description: 'Tenants to mint tokens for. Set this or allUserTenants.',
      'x-kubernetes-list-type': 'set',
    }),
    allUserTenants: z
      .boolean()
      .optional()
      .meta({ description: 'Discover every tenant the app is provisioned to (GET /v3/userTenants, paged).' }),
    batchSize: z.number().int().min(1).max(100).default(5).meta({
      description: 'Tenants per /v3/oauthTokens call. The vendor documents 5 in one place and 2 in another.',
    }),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(500)
      .default(100)
      .meta({ description: 'Page size for /v3/userTenants.' }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({
    description:
      'Siemens Insights Hub Technical Token Manager: app credentials to per-tenant technical tokens.',
    ...cel({
      rule: 'has(self.userTenants) != (has(self.allUserTenants) && self.allUserTenants)',
      message: 'set exactly one of userTenants or allUserTenants: true',
    }),
  });

const idOrName = z.union([z.number().int().min(0), z.string().min(1).max(256)]);

export const idempiereSchema = z
  .object({
    baseUrl: httpUrl('iDempiere server URL; the REST API is under {baseUrl}/api/v1.'),
    credentialsRef: userCredentialsRef,
    login: z
      .object({
        client: idOrName.meta({ description: 'Client id, or its search key (Value).' }),
        role: idOrName
          .optional()
          .meta({ description: 'Role id or name. May be omitted when the user has one role.' }),
        organization: idOrName.optional().meta({ description: 'Organization id or name.' }),
        warehouse: idOrName.optional().meta({ description: 'Warehouse id or name.' }),
        language: z
          .string()
          .min(2)
          .max(16)
          .optional()
          .meta({ description: 'Login language, for example en_US.' }),
      })
      .meta({
        description:
          'Session parameters. All given as ids: one-step login. Names or omitted values: the multi-step flow resolves them.',
      }),
    logoutOnDelete: z
      .boolean()
      .default(true)
      .meta({ description: 'Log the session out when the ApiCredential is deleted.' }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({ description: 'iDempiere REST: login, rotation of the single-use refresh token, logout.' });

export const PROVIDER_NAMES = ['oauth2', 'tapdata', 'idmp', 'idmpCloud', 'insightsHub', 'idempiere'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export const providerSchema = z
  .object({
    oauth2: oauth2Schema.optional(),
    tapdata: tapdataSchema.optional(),
    idmp: idmpSchema.optional(),
    idmpCloud: idmpCloudSchema.optional(),
    insightsHub: insightsHubSchema.optional(),
    idempiere: idempiereSchema.optional(),
  })
  .meta({
    description: 'Exactly one token provider.',
    ...cel({
      rule: `[${PROVIDER_NAMES.map((name) => `has(self.${name})`).join(', ')}].filter(x, x).size() == 1`,
      message: `set exactly one provider: ${PROVIDER_NAMES.join(', ')}`,
    }),
  });

export const secretSpecSchema = z
  .object({
    name: objectName('Name of the Secret to write. Default: the ApiCredential name.').optional(),
    keys: z
      .object({
        token: secretKey('token', 'Key of the access token.'),
        tokenType: secretKey('token_type', 'Key of the token type (Bearer).'),
        expiresAt: secretKey('expires_at', 'Key of the expiry time (RFC 3339).'),
      })
      .default({ token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' })
      .meta({ description: 'Keys of the written Secret.' }),
    labels: z.record(z.string(), z.string().max(63)).optional(),
    annotations: z.record(z.string(), z.string().max(4096)).optional(),
    takeOver: z.boolean().default(false).meta({
      description: 'Adopt an existing Secret of that name that another owner created. Its data is replaced.',
    }),
  })
  .meta({ description: 'The Secret that pods mount.' });

export const refreshSchema = z
  .object({
    renewBeforePercentage: z
      .number()
      .int()
      .min(5)
      .max(90)
      .optional()
      .meta({ description: 'Renew when this share of the lifetime remains. Default: 33.' }),
    renewBefore: duration('Renew this long before expiry. Set this or renewBeforePercentage.').optional(),
    assumedLifetime: duration('Lifetime of tokens that carry no expiry at all.').optional(),
  })
  .meta({
    description: 'When tokens are renewed.',
    ...cel({
      rule: '!(has(self.renewBeforePercentage) && has(self.renewBefore))',
      message: 'set renewBeforePercentage or renewBefore, not both',
    }),
  });

export const rolloutRestartTargetSchema = z.object({
  kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet']),
  name: objectName('Name of the workload in the ApiCredential namespace.'),
});

export const apiCredentialSpecSchema = z.object({
  provider: providerSchema,
  secret: secretSpecSchema.default({
    keys: { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' },
    takeOver: false,
  }),
  refresh: refreshSchema.default({}),
  rolloutRestartTargets: z.array(rolloutRestartTargetSchema).max(16).optional().meta({
    description:
      'Workloads whose pods are restarted (rollout) after the token changes, for consumers that read it only at start.',
  }),
});

export const conditionSchema = z.object({
  type: z.string().max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.number().int().min(0).optional(),
  lastTransitionTime: z.string(),
  reason: z.string().max(1024),
  message: z.string().max(32768),
});

export const apiCredentialStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z
    .array(conditionSchema)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  provider: z.string().optional(),
  secretName: z.string().optional(),
  issuedAt: z.string().optional(),
  expiresAt: z.string().optional(),
  lastRefreshTime: z.string().optional(),
  nextRefreshTime: z.string().optional(),
  consecutiveFailures: z.number().int().min(0).optional(),
  lastFailureTime: z.string().optional(),
  inputsHash: z
    .string()
    .max(64)
    .optional()
    .meta({ description: 'Digest of the spec and referenced values at the last attempt (no secret).' }),
  lastHandledRefreshRequest: z
    .string()
    .max(256)
    .optional()
    .meta({ description: 'The last apicred.dev/refresh-requested-at value acted on.' }),
  tenants: z
    .object({
      ready: z.number().int().min(0),
      total: z.number().int().min(0),
      failing: z.array(z.object({ tenant: z.string(), reason: z.string(), message: z.string() })).optional(),
    })
    .optional(),
});

export type ApiCredentialSpec = z.output<typeof apiCredentialSpecSchema>;
export type ApiCredentialStatus = z.output<typeof apiCredentialStatusSchema>;
export type Condition = z.output<typeof conditionSchema>;
export type Oauth2Spec = z.output<typeof oauth2Schema>;
export type TapdataSpec = z.output<typeof tapdataSchema>;
export type IdmpSpec = z.output<typeof idmpSchema>;
export type IdmpCloudSpec = z.output<typeof idmpCloudSchema>;
export type InsightsHubSpec = z.output<typeof insightsHubSchema>;
export type IdempiereSpec = z.output<typeof idempiereSchema>;

export const ANNOTATION_REFRESH_REQUESTED = 'apicred.dev/refresh-requested-at';
export const FINALIZER = 'apicred.dev/release';

export interface ApiCredential {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string | Date;
  };
  spec: ApiCredentialSpec;
  status?: ApiCredentialStatus;
}
