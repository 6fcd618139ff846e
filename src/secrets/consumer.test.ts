// The consumer Secret: who owns it, what the operator writes into it, how edits are detected, and
// the two calls that write it.
import {
  ApiException,
  type CoreV1Api,
  type KubernetesObjectApi,
  type V1Secret,
} from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { credentialFixture } from '../controller/fakes.test-helpers.ts';
import { toSecretView, type SecretView } from '../kube/secret-view.ts';
import {
  ANNOTATION_CONTENT_DIGEST,
  ANNOTATION_NEXT_CHECK_AT,
  ANNOTATION_ROLLOUT_PENDING,
  ANNOTATION_WRITTEN_KEYS,
  applySecret,
  clearRolloutMarker,
  consumerSecretBody,
  contentDigest,
  FIELD_MANAGER,
  isIntact,
  ownershipOf,
  parseTime,
  writtenKeysOf,
} from './consumer.ts';

const credential = credentialFixture();
const ISSUED = Date.parse('2026-12-03T09:00:00Z');
const DATA = { token: 'tok-value', token_type: 'Bearer', expires_at: '2026-12-03T10:00:00Z' };

function body(overrides: Partial<Parameters<typeof consumerSecretBody>[2]> = {}): V1Secret {
  return consumerSecretBody(credential, 'orders-token', {
    data: DATA,
    issuedAt: ISSUED,
    expiresAt: ISSUED + 3_600_000,
    expirySource: 'jwt',
    inputsHash: 'hash-1',
    ...overrides,
  });
}

function viewOf(secret: V1Secret, data = secret.data): SecretView {
  return toSecretView({ ...secret, metadata: Object.assign({}, secret.metadata, { uid: 'uid-s' }), data });
}

function withOwners(ownerReferences: NonNullable<V1Secret['metadata']>['ownerReferences']): SecretView {
  return viewOf({ metadata: { name: 'orders-token', namespace: 'shop', ownerReferences }, data: {} });
}

describe('ownershipOf: the operator never overwrites a Secret it does not own', () => {
  const ref = (name: string, uid: string, extra = {}) => ({
    apiVersion: 'apicred.dev/v1alpha1',
    kind: 'ApiCredential',
    name,
    uid,
    ...extra,
  });

  it.each([
    ['no Secret', undefined, { state: 'absent' }],
    ['owned by this ApiCredential (by uid)', withOwners([ref('orders', 'uid-orders')]), { state: 'ours' }],
    [
      'owned by another ApiCredential',
      withOwners([ref('billing', 'uid-billing')]),
      { state: 'foreign', owner: 'ApiCredential shop/billing' },
    ],
    [
      'a recreated ApiCredential of the same name (another uid)',
      withOwners([ref('orders', 'uid-old')]),
      { state: 'foreign', owner: 'ApiCredential shop/orders' },
    ],
    [
      'created by a user',
      withOwners([]),
      { state: 'foreign', owner: 'no ApiCredential (it was created by someone else)' },
    ],
    [
      'owned by something else (a Deployment)',
      withOwners([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'orders', uid: 'uid-orders' }]),
      { state: 'foreign', owner: 'no ApiCredential (it was created by someone else)' },
    ],
    [
      'an ApiCredential of another API group',
      withOwners([ref('orders', 'uid-orders', { apiVersion: 'example.com/v1' })]),
      { state: 'foreign', owner: 'no ApiCredential (it was created by someone else)' },
    ],
  ] as const)('%s', (_name, view, expected) => {
    expect(ownershipOf(view, credential)).toEqual(expected);
  });
});

describe('consumerSecretBody: what the operator writes', () => {
  it('the data under the keys given, base64, and nothing else', () => {
    const secret = body({ data: { 'my-token': 'v1', 'my-type': 'Bearer' } });
    expect(secret.data).toEqual({
      'my-token': Buffer.from('v1').toString('base64'),
      'my-type': Buffer.from('Bearer').toString('base64'),
    });
    expect(secret).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque' });
  });

  it('labels and annotations: the operator’s own win over spec.secret ones of the same name', () => {
    const secret = body({
      labels: { team: 'shop', 'apicred.dev/role': 'forged' },
      annotations: { note: 'hi', 'apicred.dev/expires-at': 'never' },
    });
    expect(secret.metadata?.labels).toEqual({
      team: 'shop',
      'app.kubernetes.io/managed-by': 'apicred-operator',
      'apicred.dev/credential': 'orders',
      'apicred.dev/role': 'token',
    });
    expect(secret.metadata?.annotations).toEqual({
      note: 'hi',
      'apicred.dev/issued-at': '2026-12-03T09:00:00.000Z',
      'apicred.dev/expires-at': '2026-12-03T10:00:00.000Z',
      'apicred.dev/expiry-source': 'jwt',
      'apicred.dev/inputs-hash': 'hash-1',
      [ANNOTATION_CONTENT_DIGEST]: contentDigest(DATA),
      [ANNOTATION_WRITTEN_KEYS]: 'expires_at,token,token_type',
    });
  });

  it('the next check and the pending-restart marker only when set', () => {
    const annotations = body({ checkAgainAt: ISSUED + 60_000, rolloutPendingSince: ISSUED }).metadata
      ?.annotations;
    expect(annotations?.[ANNOTATION_NEXT_CHECK_AT]).toBe('2026-12-03T09:01:00.000Z');
    expect(annotations?.[ANNOTATION_ROLLOUT_PENDING]).toBe('2026-12-03T09:00:00.000Z');
  });

  it('owned by its ApiCredential as controller, so it is garbage-collected with it', () => {
    expect(body().metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'apicred.dev/v1alpha1',
        kind: 'ApiCredential',
        name: 'orders',
        uid: 'uid-orders',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(ownershipOf(viewOf(body()), credential)).toEqual({ state: 'ours' });
  });
});

describe('edit detection', () => {
  it('contentDigest ignores key order and changes with any value', () => {
    expect(contentDigest({ a: '1', b: '2' })).toBe(contentDigest({ b: '2', a: '1' }));
    expect(contentDigest({ a: '1', b: '2' })).not.toBe(contentDigest({ a: '1', b: '3' }));
    expect(contentDigest({ a: '1' })).not.toBe(contentDigest({ a: '1', b: '' }));
  });

  it('intact as written; an edited or deleted key is not; a key someone else added does not matter', () => {
    const secret = body();
    const keys = writtenKeysOf(viewOf(secret), []);
    expect(keys).toEqual(['expires_at', 'token', 'token_type']);
    expect(isIntact(viewOf(secret), keys)).toBe(true);
    const edited = { ...secret.data, token: Buffer.from('other').toString('base64') };
    expect(isIntact(viewOf(secret, edited), keys)).toBe(false);
    const { token_type: _dropped, ...without } = secret.data ?? {};
    expect(isIntact(viewOf(secret, without), keys)).toBe(false);
    expect(isIntact(viewOf(secret, { ...secret.data, extra: 'eA==' }), keys)).toBe(true);
  });

  it('without the digest annotation a Secret is never taken as intact', () => {
    const secret = body();
    const { [ANNOTATION_CONTENT_DIGEST]: _digest, ...annotations } = secret.metadata?.annotations ?? {};
    const view = { ...viewOf(secret), annotations };
    expect(isIntact(view, writtenKeysOf(view, []))).toBe(false);
  });

  it('writtenKeysOf falls back to the spec keys for a Secret written before the annotation', () => {
    const view = { ...viewOf(body()), annotations: {} };
    expect(writtenKeysOf(view, ['token', 'token_type'])).toEqual(['token', 'token_type']);
  });
});

describe('parseTime', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['not a time', undefined],
    ['2026-12-03T09:00:00Z', ISSUED],
  ])('%o → %o', (value, expected) => {
    expect(parseTime(value)).toBe(expected);
  });
});

describe('applySecret', () => {
  it('server-side apply with the operator’s field manager, forced', async () => {
    const patch = vi.fn((secret: V1Secret) => Promise.resolve(secret));
    const objects = { patch } as unknown as KubernetesObjectApi;
    const secret = body();
    await applySecret(objects, secret);
    expect(patch).toHaveBeenCalledWith(
      secret,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      'application/apply-patch+yaml',
    );
  });
});

describe('clearRolloutMarker', () => {
  function core(result: () => Promise<unknown>) {
    const patchNamespacedSecret = vi.fn((_request: unknown) => result());
    return { api: { patchNamespacedSecret } as unknown as CoreV1Api, patchNamespacedSecret };
  }

  it('removes the marker only if it still says what was expected (JSON Patch test + remove)', async () => {
    const { api, patchNamespacedSecret } = core(() => Promise.resolve({}));
    expect(await clearRolloutMarker(api, 'shop', 'orders-token', '2026-12-03T09:00:00.000Z')).toBe(true);
    const path = '/metadata/annotations/apicred.dev~1rollout-restart-pending';
    expect(patchNamespacedSecret.mock.calls[0]?.[0]).toEqual({
      name: 'orders-token',
      namespace: 'shop',
      fieldManager: FIELD_MANAGER,
      body: [
        { op: 'test', path, value: '2026-12-03T09:00:00.000Z' },
        { op: 'remove', path },
      ],
    });
  });

  it.each([404, 409, 422])('HTTP %i (gone, or the marker changed): false, nothing thrown', async (code) => {
    const { api } = core(() => Promise.reject(new ApiException(code, 'no', '{}', {})));
    expect(await clearRolloutMarker(api, 'shop', 'orders-token', 'x')).toBe(false);
  });

  it('any other failure is thrown', async () => {
    const error = new ApiException(500, 'boom', '{}', {});
    const { api } = core(() => Promise.reject(error));
    await expect(clearRolloutMarker(api, 'shop', 'orders-token', 'x')).rejects.toBe(error);
  });
});
