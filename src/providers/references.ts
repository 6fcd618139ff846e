// The Secret references providers declare, built in one way so every message names the spec field
// and every reference says whether its value is a credential (redacted wherever it appears) or an
// identifier (printed as is).
import { rateLimitKeyOf } from '../http/url.ts';
import type { InputReference, ProviderNeeds } from './types.ts';

/**
 * A credential under a key of a Secret named at `${field}.name`, whose key name is set at
 * `${field}.${keyField}`: a client secret, password, private key or token.
 */
export function secretKeyRef(field: string, name: string, key: string, keyField: string): InputReference {
  return { kind: 'Secret', name, key, fieldPath: `${field}.${keyField}`, secret: true };
}

/**
 * An identifier under a key of a Secret: a client id or user name. It is not redacted: it is no
 * credential on its own, and it is often the service's name, which messages must keep.
 */
export function identifierKeyRef(field: string, name: string, key: string, keyField: string): InputReference {
  return { kind: 'Secret', name, key, fieldPath: `${field}.${keyField}`, secret: false };
}

/** client_id and client_secret of a `credentialsRef`. */
export function clientCredentialRefs(
  field: string,
  ref: { name: string; clientIdKey: string; clientSecretKey: string },
): { clientId: InputReference; clientSecret: InputReference } {
  return {
    clientId: identifierKeyRef(`${field}.credentialsRef`, ref.name, ref.clientIdKey, 'clientIdKey'),
    clientSecret: secretKeyRef(`${field}.credentialsRef`, ref.name, ref.clientSecretKey, 'clientSecretKey'),
  };
}

/** username and password of a `credentialsRef`. */
export function loginRefs(
  field: string,
  ref: { name: string; usernameKey: string; passwordKey: string },
): { username: InputReference; password: InputReference } {
  return {
    username: identifierKeyRef(`${field}.credentialsRef`, ref.name, ref.usernameKey, 'usernameKey'),
    password: secretKeyRef(`${field}.credentialsRef`, ref.name, ref.passwordKey, 'passwordKey'),
  };
}

/** A `caBundleRef` of any provider spec: a CA certificate is public, so it is not redacted. */
export function caBundleRefOf(
  provider: string,
  ref: { kind: 'Secret' | 'ConfigMap'; name: string; key: string } | undefined,
): InputReference | undefined {
  return ref && { ...ref, fieldPath: `spec.provider.${provider}.caBundleRef`, secret: false };
}

/**
 * A provider's needs: its own references, the CA bundle its spec names, whether it releases on
 * delete, and the URL whose host its calls go to (for the per-host rate limit). A provider that
 * calls no URL (a test's echo provider) gets a bucket of its own, keyed by its name.
 */
export function declareNeeds(
  provider: string,
  inputs: InputReference[],
  options: {
    endpoint?: string;
    caBundleRef?: { kind: 'Secret' | 'ConfigMap'; name: string; key: string };
    releaseOnDelete?: boolean;
  },
): ProviderNeeds {
  const caBundle = caBundleRefOf(provider, options.caBundleRef);
  return {
    inputs: caBundle ? [...inputs, caBundle] : inputs,
    ...(caBundle && { caBundle }),
    releaseOnDelete: options.releaseOnDelete ?? false,
    rateLimitKey: options.endpoint === undefined ? `provider:${provider}` : rateLimitKeyOf(options.endpoint),
  };
}
