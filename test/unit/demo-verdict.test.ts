import { describe, expect, it } from 'vitest';
import { type ApiCredential } from '../../src/api/apicredential.ts';
import { notReadyCredentials, readyNames } from '../../scripts/demo-verdict.ts';

function credential(
  name: string,
  ready?: { status: string; reason: string; message: string },
): ApiCredential {
  return {
    apiVersion: 'apicred.dev/v1alpha1',
    kind: 'ApiCredential',
    metadata: { name },
    spec: {},
    status: {
      provider: 'oauth2',
      conditions: ready ? [{ type: 'Ready', lastTransitionTime: '2026-12-02T00:00:00Z', ...ready }] : [],
    },
  } as unknown as ApiCredential;
}

describe('the demo --duration verdict', () => {
  it('passes when every credential is Ready', () => {
    const all = [credential('a', { status: 'True', reason: 'TokenValid', message: 'ok' })];
    expect(notReadyCredentials(all, new Set(readyNames(all)))).toEqual([]);
  });

  it('names each credential that is not Ready, with its reason and whether it ever was', () => {
    const all = [
      credential('tapdata', { status: 'True', reason: 'TokenValid', message: 'ok' }),
      credential('orders', {
        status: 'False',
        reason: 'Unauthorized',
        message: 'the provider said invalid_client',
      }),
      credential('erp'),
    ];
    expect(notReadyCredentials(all, new Set(['orders']))).toEqual([
      'erp (oauth2): no Ready condition yet (never became Ready)',
      'orders (oauth2): Ready=False Unauthorized: the provider said invalid_client (was Ready earlier)',
    ]);
  });

  it('fails when there is no credential at all', () => {
    expect(notReadyCredentials([], new Set())).toEqual(['no ApiCredential exists in the demo namespace']);
  });
});
