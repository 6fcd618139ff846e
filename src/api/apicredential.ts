// The ApiCredential API: this zod schema is the one source of truth. The CRD (crds/), the chart's copy
// and the TypeScript types are generated from it (scripts/generate-crds.ts).
import { z } from 'zod';
import type { ProviderDefinition } from '../providers/definition.ts';
import { PROVIDER_DEFINITIONS } from '../providers/definitions.ts';
import { cel, duration, objectName, SECRET_KEY, secretKey } from './fields.ts';

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

/** The key of spec.provider that names a provider: the name of a registered provider. */
export type ProviderName = string;

/** The spec.provider shape of a registration list: one optional key per provider, in list order. */
type ProviderShape<Definitions extends readonly ProviderDefinition[]> = {
  [Definition in Definitions[number] as Definition['name']]: z.ZodOptional<Definition['schema']>;
};

/** spec.provider for a registration list: one optional key per provider, exactly one of them set. */
export function providerSchemaOf<const Definitions extends readonly ProviderDefinition[]>(
  definitions: Definitions,
) {
  const names = definitions.map((definition) => definition.name);
  // Object.fromEntries cannot carry the key types; ProviderShape says what it builds.
  const shape = Object.fromEntries(
    definitions.map((definition) => [definition.name, definition.schema.optional()]),
  ) as ProviderShape<Definitions>;
  return z.object(shape).meta({
    description: 'Exactly one token provider.',
    ...cel({
      rule: `[${names.map((name) => `has(self.${name})`).join(', ')}].filter(x, x).size() == 1`,
      message: `set exactly one provider: ${names.join(', ')}`,
    }),
  });
}

/** spec.secret.template bounds: a Secret holds at most 1 MiB, and every key is rendered on each renewal. */
export const TEMPLATE_MAX_KEYS = 16;
export const TEMPLATE_MAX_LENGTH = 8192;
const DEFAULT_KEYS = { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' } as const;

export const secretTemplateSchema = z
  .record(z.string(), z.string().min(1).max(TEMPLATE_MAX_LENGTH))
  .refine((template) => Object.keys(template).length <= TEMPLATE_MAX_KEYS, {
    message: `at most ${TEMPLATE_MAX_KEYS} keys`,
  })
  .refine((template) => Object.keys(template).every((key) => isSecretKey(key)), {
    message: 'every key must be a valid Secret key (letters, digits, "-", "_", "."; at most 253 characters)',
  })
  .meta({
    description:
      'Extra keys of the Secret, each rendered from a Liquid template over the token fields (token, tokenType, ' +
      'expiresAt, issuedAt, data: every key the provider wrote; tenants for Insights Hub). Filters such as json escape values; unknown variables, ' +
      'unknown filters and include/render/layout tags are refused.',
    maxProperties: TEMPLATE_MAX_KEYS,
    ...cel({
      rule: `self.all(k, k.size() <= 253 && k.matches('${SECRET_KEY}'))`,
      message:
        'every key must be a valid Secret key (letters, digits, "-", "_", "."; at most 253 characters)',
    }),
  });

function isSecretKey(key: string): boolean {
  return key.length >= 1 && key.length <= 253 && new RegExp(SECRET_KEY).test(key);
}

/** The keys spec.secret.keys names, defaults filled in. */
function namedKeys(keys: Partial<Record<keyof typeof DEFAULT_KEYS, string>> | undefined): string[] {
  return [
    keys?.token ?? DEFAULT_KEYS.token,
    keys?.tokenType ?? DEFAULT_KEYS.tokenType,
    keys?.expiresAt ?? DEFAULT_KEYS.expiresAt,
  ];
}

const keyOrDefault = (field: keyof typeof DEFAULT_KEYS) =>
  `(has(self.keys) && has(self.keys.${field}) ? self.keys.${field} : '${DEFAULT_KEYS[field]}')`;

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
    template: secretTemplateSchema.optional(),
  })
  .refine(
    (secret) => !secret.template || namedKeys(secret.keys).every((key) => !(key in (secret.template ?? {}))),
    {
      message: 'a template key must not be one of spec.secret.keys (token, tokenType, expiresAt)',
      path: ['template'],
    },
  )
  .meta({
    description: 'The Secret that pods mount.',
    ...cel({
      rule: `!has(self.template) || [${(['token', 'tokenType', 'expiresAt'] as const).map(keyOrDefault).join(', ')}].all(k, !(k in self.template))`,
      message: 'a template key must not be one of spec.secret.keys (token, tokenType, expiresAt)',
      fieldPath: '.template',
    }),
  });

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

/** The whole spec for a registration list: spec.provider from the list, the rest common to all. */
export function apiCredentialSpecSchemaOf<const Definitions extends readonly ProviderDefinition[]>(
  definitions: Definitions,
) {
  return z.object({
    provider: providerSchemaOf(definitions),
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
}

/** The names of the providers this build supports, in registration order. */
export const PROVIDER_NAMES = PROVIDER_DEFINITIONS.map((definition) => definition.name);
export const providerSchema = providerSchemaOf(PROVIDER_DEFINITIONS);
export const apiCredentialSpecSchema = apiCredentialSpecSchemaOf(PROVIDER_DEFINITIONS);

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
  userApproval: z
    .object({
      url: z
        .string()
        .meta({ description: 'The page to open: verification_uri_complete, or verificationUri.' }),
      verificationUri: z.string(),
      userCode: z.string().meta({ description: 'The code to enter at verificationUri.' }),
      expiresAt: z.string().meta({ description: 'When the code expires; a new one follows.' }),
    })
    .optional()
    .meta({
      description:
        'Device authorization grant: where a person approves the login, while the operator waits for it. Not a secret: ' +
        'without expectedSubject, anyone who can read it can approve with their own account.',
    }),
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
