// Client authentication with a Kubernetes ServiceAccount token as the client assertion (RFC 7523 §2.2):
// no client secret is stored at all. The token is minted per exchange through the TokenRequest API
// (ProviderContext.mintServiceAccountToken), bound to the audience the server expects, and short-lived.
import { z } from 'zod';
import { objectName } from '../api/fields.ts';
import { ProviderError } from '../errors/failure.ts';
import type { ProviderContext } from './types.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The apiserver's floor for TokenRequest expirationSeconds. */
export const MIN_TOKEN_SECONDS = 600;

export const serviceAccountTokenSchema = z
  .object({
    serviceAccountName: objectName(
      'ServiceAccount in the ApiCredential namespace whose token (TokenRequest API) is the client assertion.',
    ),
    audience: z.string().min(1).max(2048).meta({
      description:
        "aud of the minted token: what the server expects (Keycloak: the realm's issuer URL). Never the apiserver's own audience.",
    }),
    expirationSeconds: z.number().int().min(MIN_TOKEN_SECONDS).max(3600).default(MIN_TOKEN_SECONDS).meta({
      description:
        'Lifetime of the minted token (600, the apiserver minimum, to 3600). One token per exchange.',
    }),
    clientId: z.string().min(1).max(256).optional().meta({
      description:
        'client_id to send with the assertion, when the server wants one (oidc-provider); Keycloak finds the client from the token.',
    }),
  })
  .meta({ description: 'ServiceAccount token client authentication (clientAuth service_account_token).' });

export type ServiceAccountTokenSpec = z.output<typeof serviceAccountTokenSchema>;

/**
 * Adds client_assertion_type, client_assertion (and client_id when set) to the token request form.
 * `fieldPath` names the spec field for messages.
 */
export async function addServiceAccountAssertion(
  spec: ServiceAccountTokenSpec,
  context: Pick<ProviderContext, 'mintServiceAccountToken' | 'signal'>,
  form: Record<string, string>,
  fieldPath: string,
): Promise<void> {
  if (!context.mintServiceAccountToken) {
    throw new ProviderError({
      kind: 'terminal',
      reason: 'InternalError',
      message: `${fieldPath}: this operator build cannot mint ServiceAccount tokens.`,
    });
  }
  const minted = await context.mintServiceAccountToken({
    serviceAccountName: spec.serviceAccountName,
    audience: spec.audience,
    expirationSeconds: spec.expirationSeconds,
    fieldPath: `${fieldPath}.serviceAccountName`,
    signal: context.signal,
  });
  if (spec.clientId) form.client_id = spec.clientId;
  form.client_assertion_type = JWT_BEARER_ASSERTION_TYPE;
  form.client_assertion = minted.token;
}
