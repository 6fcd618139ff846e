import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { combineDigests, digestPlainValue, digestWireValue, toSecretView } from './secret-view.ts';

describe('toSecretView', () => {
  const secret = {
    type: 'Opaque',
    metadata: {
      namespace: 'team-a',
      name: 'orders-token',
      uid: 'u-1',
      resourceVersion: '42',
      labels: {
        'apicred.dev/credential': 'orders',
        'app.kubernetes.io/managed-by': 'apicred-operator',
        team: 'a',
      },
      annotations: {
        'apicred.dev/content-digest': 'abc',
        'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"token":"c2VjcmV0"}}',
        'example.com/note': 'x',
      },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-1', controller: true },
        {
          apiVersion: 'apicred.dev/v1alpha1',
          kind: 'ApiCredential',
          name: 'orders',
          uid: 'c-1',
          blockOwnerDeletion: true,
        },
      ],
    },
    data: { token: 'c2VjcmV0', extra: '' },
  };

  it('keeps only what the reconcile reads: apicred.dev labels and annotations, ApiCredential owners, digests', () => {
    expect(toSecretView(secret)).toEqual({
      namespace: 'team-a',
      name: 'orders-token',
      uid: 'u-1',
      resourceVersion: '42',
      type: 'Opaque',
      labels: { 'apicred.dev/credential': 'orders' },
      annotations: { 'apicred.dev/content-digest': 'abc' },
      ownerReferences: [
        { apiVersion: 'apicred.dev/v1alpha1', kind: 'ApiCredential', name: 'orders', uid: 'c-1' },
      ],
      keyDigests: { token: digestWireValue('c2VjcmV0'), extra: digestWireValue('') },
      deleting: false,
    });
  });

  it('shares one frozen empty record between Secrets with nothing of the operator on them', () => {
    const a = toSecretView({ metadata: { name: 'a', labels: { team: 'a' } } });
    const b = toSecretView({ metadata: { name: 'b' } });
    expect(a.labels).toBe(b.annotations);
    expect(Object.isFrozen(a.labels)).toBe(true);
    expect(a.ownerReferences).toHaveLength(0);
    expect(a.type).toBe('Opaque');
  });
});

describe('digests', () => {
  // Written into annotations of existing Secrets: the text must not change between versions.
  it('is the first 32 hex characters of SHA-256, as before', () => {
    const full = createHash('sha256').update('c2VjcmV0').digest('hex');
    expect(digestWireValue('c2VjcmV0')).toBe(full.slice(0, 32));
    expect(digestPlainValue('secret')).toBe(full.slice(0, 32));
    const combined = createHash('sha256')
      .update('a')
      .update('\0')
      .update('1')
      .update('\0')
      .update('b')
      .update('\0')
      .update('-')
      .update('\0')
      .digest('hex')
      .slice(0, 32);
    expect(combineDigests({ b: undefined, a: '1' })).toBe(combined);
  });
});
