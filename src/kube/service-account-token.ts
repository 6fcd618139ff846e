// TokenRequest (POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token): a short-lived, audience-bound
// ServiceAccount token for client authentication by assertion. The token is a credential: it is
// returned to the caller only, never logged, and failures name the permission, not the token.
import type { CoreV1Api } from '@kubernetes/client-node';
import { ProviderError } from '../errors/failure.ts';
import type { MintedServiceAccountToken } from '../providers/types.ts';
import { httpStatusOf } from './errors.ts';

export interface TokenRequestInput {
  namespace: string;
  serviceAccountName: string;
  audience: string;
  expirationSeconds: number;
  fieldPath: string;
}

/** The chart value that grants the operator `create` on serviceaccounts/token. */
export const TOKEN_REQUEST_CHART_VALUE = 'rbac.serviceAccountTokens';

export async function requestServiceAccountToken(
  core: Pick<CoreV1Api, 'createNamespacedServiceAccountToken'>,
  input: TokenRequestInput,
  now: () => number,
): Promise<MintedServiceAccountToken> {
  const { namespace, serviceAccountName: name, fieldPath } = input;
  const startedAt = now();
  let response;
  try {
    response = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [input.audience], expirationSeconds: input.expirationSeconds },
      },
    });
  } catch (error) {
    throw tokenRequestError(error, input);
  }
  const token = response.status?.token;
  if (!token) {
    throw new ProviderError({
      kind: 'transient',
      reason: 'ServiceAccountTokenFailed',
      message: `the TokenRequest for ServiceAccount ${namespace}/${name} (from ${fieldPath}) returned no token.`,
    });
  }
  const stamp = response.status?.expirationTimestamp;
  const expiresAt = stamp ? new Date(stamp).getTime() : startedAt + input.expirationSeconds * 1000;
  return {
    token,
    expiresAt: Number.isFinite(expiresAt) ? expiresAt : startedAt + input.expirationSeconds * 1000,
  };
}

function tokenRequestError(error: unknown, input: TokenRequestInput): ProviderError {
  const { namespace, serviceAccountName: name, fieldPath } = input;
  const status = httpStatusOf(error);
  // 404 and 403 are retried with backoff, not terminal: creating the ServiceAccount or granting the
  // RBAC changes nothing the operator watches, and must heal the credential without touching it.
  if (status === 404) {
    return new ProviderError(
      {
        kind: 'transient',
        reason: 'ServiceAccountNotFound',
        message: `ServiceAccount ${namespace}/${name} (from ${fieldPath}) does not exist; create it or fix the name.`,
        httpStatus: status,
      },
      { cause: error },
    );
  }
  if (status === 403) {
    return new ProviderError(
      {
        kind: 'transient',
        reason: 'ServiceAccountTokenForbidden',
        message: `the operator may not create serviceaccounts/token in namespace ${namespace} (needed for ${fieldPath}); grant it with the chart value ${TOKEN_REQUEST_CHART_VALUE}=true (with rbac.scope=namespaced, also list ${namespace} in operator.namespaces).`,
        httpStatus: status,
      },
      { cause: error },
    );
  }
  if (status === 400 || status === 422) {
    return new ProviderError(
      {
        kind: 'terminal',
        reason: 'InvalidSpec',
        message: `the apiserver refused the TokenRequest for ServiceAccount ${namespace}/${name} (${String(status)}); check ${fieldPath} (audience, expirationSeconds of at least 600).`,
        httpStatus: status,
      },
      { cause: error },
    );
  }
  return new ProviderError(
    {
      kind: 'transient',
      reason: 'ServiceAccountTokenFailed',
      message: `the TokenRequest for ServiceAccount ${namespace}/${name} failed${status ? ` (${String(status)})` : ''}; retrying.`,
      httpStatus: status,
    },
    { cause: error },
  );
}
