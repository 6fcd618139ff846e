// What the operator caches of a Secret: metadata and a digest of its data, never the data itself.
// This keeps memory flat with thousands of Secrets and keeps secret values out of the heap until a
// reconcile actually needs them (then it GETs the Secret).
import { createHash } from 'node:crypto';
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { LAST_APPLIED } from './cache-transform.ts';

export interface SecretView {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: V1OwnerReference[];
  /** Digest of each key's value; values themselves are never cached. */
  keyDigests: Record<string, string>;
  deleting: boolean;
}

/** Digest of one Secret value in its wire form (base64). 128 bits: for change detection only. */
export function digestWireValue(base64Value: string): string {
  return createHash('sha256').update(base64Value).digest('hex').slice(0, 32);
}

/** The same digest from a plain value, as the operator holds it before writing. */
export function digestPlainValue(value: string): string {
  return digestWireValue(Buffer.from(value, 'utf8').toString('base64'));
}

/** One digest over chosen keys' digests, stable across key order; missing keys count as such. */
export function combineDigests(keyDigests: Record<string, string | undefined>): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(keyDigests).sort())
    hash
      .update(key)
      .update('\0')
      .update(keyDigests[key] ?? '-')
      .update('\0');
  return hash.digest('hex').slice(0, 32);
}

// kubectl apply copies the whole Secret, values included, into LAST_APPLIED: never cache it.

export function toSecretView(secret: Pick<V1Secret, 'metadata' | 'data' | 'type'>): SecretView {
  const metadata = secret.metadata ?? {};
  const data = secret.data ?? {};
  const { [LAST_APPLIED]: _lastApplied, ...annotations } = metadata.annotations ?? {};
  return {
    namespace: metadata.namespace ?? '',
    name: metadata.name ?? '',
    uid: metadata.uid ?? '',
    resourceVersion: metadata.resourceVersion ?? '',
    type: secret.type ?? 'Opaque',
    labels: { ...(metadata.labels ?? {}) },
    annotations,
    ownerReferences: metadata.ownerReferences ?? [],
    keyDigests: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, digestWireValue(value)])),
    deleting: metadata.deletionTimestamp !== undefined,
  };
}
