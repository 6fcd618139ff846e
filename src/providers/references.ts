// The Secret references providers declare, built in one way so every message names the spec field.
import type { InputReference } from './types.ts';

/** A key of a Secret named at `${field}.name`, whose key name is set at `${field}.${keyField}`. */
export function secretKeyRef(field: string, name: string, key: string, keyField: string): InputReference {
  return { kind: 'Secret', name, key, fieldPath: `${field}.${keyField}` };
}

/** client_id and client_secret of a `credentialsRef`. */
export function clientCredentialRefs(
  field: string,
  ref: { name: string; clientIdKey: string; clientSecretKey: string },
): { clientId: InputReference; clientSecret: InputReference } {
  return {
    clientId: secretKeyRef(`${field}.credentialsRef`, ref.name, ref.clientIdKey, 'clientIdKey'),
    clientSecret: secretKeyRef(`${field}.credentialsRef`, ref.name, ref.clientSecretKey, 'clientSecretKey'),
  };
}
