// What the operator caches of a Secret: metadata and a digest of its data, never the data itself.
// This keeps memory flat with thousands of Secrets and keeps secret values out of the heap until a
// reconcile actually needs them (then it GETs the Secret). Compact: of the labels and annotations
// only the operator's own (apicred.dev/) are kept, of the owner references only ApiCredentials', and
// empty ones share one frozen object; nothing reads the rest.
import { createHash } from 'node:crypto';
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { KIND } from '../api/apicredential.ts';

/** The operator's labels and annotations; others' are not cached. */
const OWN_PREFIX = 'apicred.dev/';
const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
const NO_OWNERS: readonly CachedOwnerReference[] = Object.freeze([]);

/** The fields of an owner reference ownershipOf reads. */
export type CachedOwnerReference = Pick<V1OwnerReference, 'apiVersion' | 'kind' | 'name' | 'uid'>;

export interface SecretView {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  type: string;
  /** apicred.dev/ labels only. */
  labels: Readonly<Record<string, string>>;
  /** apicred.dev/ annotations only. */
  annotations: Readonly<Record<string, string>>;
  /** ApiCredential owners only. */
  ownerReferences: readonly CachedOwnerReference[];
  /** Digest of each key's value; values themselves are never cached. */
  keyDigests: Record<string, string>;
  deleting: boolean;
}

/** Digest of one Secret value in its wire form (base64). 128 bits: for change detection only. */
export function digestWireValue(base64Value: string): string {
  return flatDigest(createHash('sha256').update(base64Value));
}

/**
 * The first 16 bytes in hex: the same text as digest('hex').slice(0, 32), but a flat 32-character
 * string of its own, not a slice that keeps the 64-character one alive (one per cached key).
 */
function flatDigest(hash: ReturnType<typeof createHash>): string {
  return hash.digest().toString('hex', 0, 16);
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
  return flatDigest(hash);
}

/** The entries whose key starts with apicred.dev/ (so never kubectl's last-applied copy of the values). */
function own(record: Record<string, string> | undefined): Readonly<Record<string, string>> {
  let kept: Record<string, string> | undefined;
  for (const key in record) {
    if (!key.startsWith(OWN_PREFIX)) continue;
    kept ??= {};
    kept[key] = record[key] ?? '';
  }
  return kept ?? EMPTY;
}

function ownerCredentials(references: V1OwnerReference[] | undefined): readonly CachedOwnerReference[] {
  const kept = (references ?? [])
    .filter((ref) => ref.kind === KIND && ref.apiVersion.startsWith(OWN_PREFIX))
    .map(({ apiVersion, kind, name, uid }) => ({ apiVersion, kind, name, uid }));
  return kept.length > 0 ? kept : NO_OWNERS;
}

export function toSecretView(secret: Pick<V1Secret, 'metadata' | 'data' | 'type'>): SecretView {
  const metadata = secret.metadata ?? {};
  const data = secret.data ?? {};
  const keyDigests: Record<string, string> = {};
  for (const key in data) keyDigests[key] = digestWireValue(data[key] ?? '');
  return {
    namespace: metadata.namespace ?? '',
    name: metadata.name ?? '',
    uid: metadata.uid ?? '',
    resourceVersion: metadata.resourceVersion ?? '',
    // The common type as the one constant string, not one copy per Secret from the wire.
    type: secret.type === undefined || secret.type === 'Opaque' ? 'Opaque' : secret.type,
    labels: own(metadata.labels),
    annotations: own(metadata.annotations),
    ownerReferences: ownerCredentials(metadata.ownerReferences),
    keyDigests,
    deleting: metadata.deletionTimestamp !== undefined,
  };
}
