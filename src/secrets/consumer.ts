// The consumer Secret: what pods mount. Written by server-side apply with the operator's own field
// manager, owned by its ApiCredential, and never taken from another owner unless asked to.
import {
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type V1Secret,
} from '@kubernetes/client-node';
import { API_VERSION, KIND, type ApiCredential } from '../api/apicredential.ts';
import { httpStatusOf } from '../kube/errors.ts';
import { combineDigests, digestPlainValue, type SecretView } from '../kube/secret-view.ts';

export const FIELD_MANAGER = 'apicred-operator';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'apicred-operator';
export const LABEL_CREDENTIAL = 'apicred.dev/credential';
export const LABEL_ROLE = 'apicred.dev/role';
export const ANNOTATION_EXPIRES_AT = 'apicred.dev/expires-at';
export const ANNOTATION_ISSUED_AT = 'apicred.dev/issued-at';
export const ANNOTATION_INPUTS_HASH = 'apicred.dev/inputs-hash';
export const ANNOTATION_CONTENT_DIGEST = 'apicred.dev/content-digest';
export const ANNOTATION_EXPIRY_SOURCE = 'apicred.dev/expiry-source';
/** When a provider asked to be called again regardless of expiry (IDMP cloud checks). */
export const ANNOTATION_NEXT_CHECK_AT = 'apicred.dev/next-check-at';
/** The keys the operator wrote (names only), so a restarted operator can check them all for edits. */
export const ANNOTATION_WRITTEN_KEYS = 'apicred.dev/written-keys';

/**
 * A token change whose rollout restarts are not all done yet: the time of the change (ISO, ms).
 * Written with the token itself, so a crash before the restarts cannot lose them; removed once
 * every spec.rolloutRestartTargets workload has restarted since.
 */
export const ANNOTATION_ROLLOUT_PENDING = 'apicred.dev/rollout-restart-pending';

export type Ownership = { state: 'absent' } | { state: 'ours' } | { state: 'foreign'; owner: string };

export function ownershipOf(view: SecretView | undefined, credential: ApiCredential): Ownership {
  if (!view) return { state: 'absent' };
  const ownerRefs = view.ownerReferences.filter(
    (ref) => ref.kind === KIND && ref.apiVersion.startsWith('apicred.dev/'),
  );
  if (ownerRefs.some((ref) => ref.uid === credential.metadata.uid)) return { state: 'ours' };
  const other = ownerRefs[0];
  if (other) return { state: 'foreign', owner: `ApiCredential ${view.namespace}/${other.name}` };
  return { state: 'foreign', owner: 'no ApiCredential (it was created by someone else)' };
}

/** Digest over the keys the operator wrote, recorded in an annotation to detect edits. */
export function contentDigest(data: Record<string, string>): string {
  return combineDigests(
    Object.fromEntries(Object.entries(data).map(([key, value]) => [key, digestPlainValue(value)])),
  );
}

/** The keys the operator wrote, as recorded on the Secret; `fallback` for Secrets written before. */
export function writtenKeysOf(view: SecretView, fallback: string[]): string[] {
  const recorded = view.annotations[ANNOTATION_WRITTEN_KEYS];
  return recorded ? recorded.split(',').filter(Boolean) : fallback;
}

/** Whether the keys the operator wrote still hold what it wrote (other keys may be added by others). */
export function isIntact(view: SecretView, writtenKeys: string[]): boolean {
  const recorded = view.annotations[ANNOTATION_CONTENT_DIGEST];
  if (!recorded) return false;
  return (
    combineDigests(Object.fromEntries(writtenKeys.map((key) => [key, view.keyDigests[key]]))) === recorded
  );
}

export interface ConsumerSecretContent {
  data: Record<string, string>;
  issuedAt: number;
  expiresAt: number;
  expirySource: string;
  inputsHash: string;
  checkAgainAt?: number;
  /** See ANNOTATION_ROLLOUT_PENDING; omitted removes it. */
  rolloutPendingSince?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function ownerReference(
  credential: ApiCredential,
): NonNullable<V1Secret['metadata']>['ownerReferences'] {
  return [
    {
      apiVersion: API_VERSION,
      kind: KIND,
      name: credential.metadata.name,
      uid: credential.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

/** The apply configuration: only the fields the operator owns, built from scratch. */
export function consumerSecretBody(
  credential: ApiCredential,
  name: string,
  content: ConsumerSecretContent,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: credential.metadata.namespace,
      labels: {
        ...content.labels,
        [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
        [LABEL_CREDENTIAL]: credential.metadata.name,
        [LABEL_ROLE]: 'token',
      },
      annotations: {
        ...content.annotations,
        [ANNOTATION_ISSUED_AT]: new Date(content.issuedAt).toISOString(),
        [ANNOTATION_EXPIRES_AT]: new Date(content.expiresAt).toISOString(),
        [ANNOTATION_EXPIRY_SOURCE]: content.expirySource,
        [ANNOTATION_INPUTS_HASH]: content.inputsHash,
        [ANNOTATION_CONTENT_DIGEST]: contentDigest(content.data),
        [ANNOTATION_WRITTEN_KEYS]: Object.keys(content.data).sort().join(','),
        ...(content.checkAgainAt !== undefined
          ? { [ANNOTATION_NEXT_CHECK_AT]: new Date(content.checkAgainAt).toISOString() }
          : {}),
        ...(content.rolloutPendingSince !== undefined
          ? { [ANNOTATION_ROLLOUT_PENDING]: new Date(content.rolloutPendingSince).toISOString() }
          : {}),
      },
      ownerReferences: ownerReference(credential),
    },
    type: 'Opaque',
    data: Object.fromEntries(
      Object.entries(content.data).map(([key, value]) => [
        key,
        Buffer.from(value, 'utf8').toString('base64'),
      ]),
    ),
  };
}

export async function applySecret(objects: KubernetesObjectApi, body: V1Secret): Promise<V1Secret> {
  return objects.patch(body, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/**
 * Removes the pending-restart marker if it still says `expected`: a newer token change written in
 * between keeps its own marker. JSON Patch `test` makes the removal conditional.
 * Returns false when the marker (or the Secret) was no longer as expected.
 */
export async function clearRolloutMarker(
  core: CoreV1Api,
  namespace: string,
  secretName: string,
  expected: string,
): Promise<boolean> {
  const path = `/metadata/annotations/${ANNOTATION_ROLLOUT_PENDING.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  try {
    await core.patchNamespacedSecret(
      {
        name: secretName,
        namespace,
        fieldManager: FIELD_MANAGER,
        body: [
          { op: 'test', path, value: expected },
          { op: 'remove', path },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    return true;
  } catch (error) {
    // 404: the Secret is gone; 409/422: the test failed because the marker changed or went away.
    const status = httpStatusOf(error);
    if (status === 404 || status === 409 || status === 422) return false;
    throw error;
  }
}

export function parseTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}
