// Building blocks of the ApiCredential schema: the field types every provider's spec schema and the
// common part of the spec share, so a pattern, a length cap or a description reads the same everywhere.
import { z } from 'zod';

export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
export const duration = (description: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), 'a duration such as 90s, 5m or 1h30m')
    .max(32)
    .meta({ description, pattern: DURATION_PATTERN });

export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const objectName = (description: string) =>
  z.string().min(1).max(253).regex(new RegExp(DNS_SUBDOMAIN)).meta({ description, pattern: DNS_SUBDOMAIN });

export const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
export const secretKey = (defaultKey: string, description: string) =>
  z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(SECRET_KEY))
    .default(defaultKey)
    .meta({ description: `${description} Default: ${defaultKey}.`, pattern: SECRET_KEY });

export const HTTP_URL = '^https?://[^\\s]+$';
export const httpUrl = (description: string) =>
  z
    .string()
    .max(2048)
    .regex(new RegExp(HTTP_URL), 'an http:// or https:// URL')
    .meta({
      description,
      pattern: HTTP_URL,
      ...cel({ rule: 'isURL(self)', message: 'must be a valid http:// or https:// URL' }),
    });

export const caBundleRef = z
  .object({
    kind: z.enum(['Secret', 'ConfigMap']).default('Secret'),
    name: objectName('Name of the Secret or ConfigMap, in the ApiCredential namespace.'),
    key: secretKey('ca.crt', 'Key holding PEM certificates.'),
  })
  .meta({
    description: 'Extra CA certificates (PEM) trusted for this provider, in addition to the system ones.',
  });

export const clientCredentialsRef = z
  .object({
    name: objectName('Name of a Secret in the ApiCredential namespace.'),
    clientIdKey: secretKey('client_id', 'Key of the client id.'),
    clientSecretKey: secretKey('client_secret', 'Key of the client secret.'),
  })
  .meta({ description: 'Secret holding the client credentials.' });

export const userCredentialsRef = z
  .object({
    name: objectName('Name of a Secret in the ApiCredential namespace.'),
    usernameKey: secretKey('username', 'Key of the user (login) name.'),
    passwordKey: secretKey('password', 'Key of the password.'),
  })
  .meta({ description: 'Secret holding a user name and password.' });
