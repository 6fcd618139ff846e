import { describe, expect, it } from 'vitest';
import { ProviderError, StateConflictError } from '../errors/failure.ts';
import { fakeProvider, reconcilerHarness, tokenSet, type Harness } from './fakes.test-helpers.ts';

const HOUR = 3_600_000;

function ready(h: Harness) {
  return h.caches.credential(h.key)?.status?.conditions?.find((c) => c.type === 'Ready');
}
function stalled(h: Harness) {
  return h.caches.credential(h.key)?.status?.conditions?.find((c) => c.type === 'Stalled');
}

describe('Reconciler wired to fakes', () => {
  it('issues a token: the Secret, then a Ready status and an Issued Event; renewal is requeued', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
    );
    const result = await h.reconciler.reconcile(h.key);
    expect(h.writer.secrets).toHaveLength(1);
    expect(h.writer.secrets[0]?.metadata?.name).toBe('orders-token');
    expect(ready(h)).toMatchObject({ status: 'True', reason: 'TokenValid' });
    expect(h.writer.events.map((e) => e.reason)).toEqual(['Issued']);
    expect(result.requeueAt).toBeGreaterThan(h.clock.now());
    expect(result.requeueAt).toBeLessThan(h.clock.now() + HOUR);
  });

  it('a second look with nothing due writes nothing and calls no provider', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
    );
    await h.reconciler.reconcile(h.key);
    const writes = h.writer.secrets.length + h.writer.statuses.length;
    await h.reconciler.reconcile(h.key);
    expect(h.writer.secrets.length + h.writer.statuses.length).toBe(writes);
    expect(h.provider.calls).toBe(1);
  });

  it('a terminal failure keeps Ready=True until the token expires, then turns it False (TokenExpired), once', async () => {
    let fail = false;
    const h = reconcilerHarness(
      fakeProvider((context) => {
        if (fail)
          return Promise.reject(
            new ProviderError({
              kind: 'terminal',
              reason: 'InvalidClient',
              message: 'the client was rejected.',
            }),
          );
        return Promise.resolve(tokenSet(context.clock.now(), HOUR));
      }),
    );
    const first = await h.reconciler.reconcile(h.key);
    fail = true;
    h.clock.set(first.requeueAt ?? 0);
    const failed = await h.reconciler.reconcile(h.key);
    expect(ready(h)).toMatchObject({ status: 'True', reason: 'RenewalFailing' });
    expect(stalled(h)).toMatchObject({ status: 'True', reason: 'InvalidClient' });
    const expiresAt = Date.UTC(2026, 0, 1) + HOUR;
    // Woken at the token's expiry so that Ready turns False on time.
    expect(failed.requeueAt).toBe(expiresAt);

    h.clock.set(expiresAt);
    const expired = await h.reconciler.reconcile(h.key);
    expect(ready(h)).toMatchObject({ status: 'False', reason: 'TokenExpired' });
    expect(ready(h)?.message).toContain('InvalidClient');
    expect(stalled(h)).toMatchObject({ status: 'True', reason: 'InvalidClient' });
    expect(expired.requeueAt).toBeUndefined();
    await h.reconciler.reconcile(h.key);
    expect(h.writer.events.filter((e) => e.reason === 'TokenExpired')).toHaveLength(1);
    expect(h.provider.calls).toBe(2);
  });

  it('a state conflict looks again at once and writes no status', async () => {
    const h = reconcilerHarness(fakeProvider(() => Promise.reject(new StateConflictError())));
    const result = await h.reconciler.reconcile(h.key);
    expect(result.requeueAt).toBe(h.clock.now());
    expect(h.writer.statuses).toHaveLength(0);
    expect(h.writer.secrets).toHaveLength(0);
  });

  it('a missing input stalls without a provider call', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
    );
    h.caches.secrets.delete('shop/orders-client');
    await h.reconciler.reconcile(h.key);
    expect(h.provider.calls).toBe(0);
    expect(ready(h)).toMatchObject({ status: 'False', reason: 'MissingInput' });
    expect(stalled(h)).toMatchObject({ status: 'True', reason: 'MissingInput' });
  });

  it('an edited Secret is repaired from memory without a provider call', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
    );
    await h.reconciler.reconcile(h.key);
    const view = h.caches.secrets.get('shop/orders-token');
    if (!view) throw new Error('no Secret');
    h.caches.secrets.set('shop/orders-token', { ...view, keyDigests: { token: 'edited' } });
    await h.reconciler.reconcile(h.key);
    expect(h.provider.calls).toBe(1);
    expect(h.writer.secrets).toHaveLength(2);
    expect(h.writer.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'SecretRepaired' });
  });

  it('adds the finalizer when the provider releases on delete, and releases at deletion', async () => {
    const provider = fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR)), {
      releaseOnDelete: true,
    });
    const released: string[] = [];
    const withRelease = {
      ...provider,
      release: () => {
        released.push('yes');
        return Promise.resolve('released' as const);
      },
    };
    const h = reconcilerHarness(withRelease);
    await h.reconciler.reconcile(h.key);
    expect(h.writer.finalizers).toEqual([['apicred.dev/release']]);
    const cached = h.caches.credential(h.key);
    if (!cached) throw new Error('no credential');
    h.caches.wroteCredential({
      ...cached,
      metadata: { ...cached.metadata, deletionTimestamp: '2026-01-01T02:00:00Z' },
    });
    await h.reconciler.reconcile(h.key);
    expect(released).toEqual(['yes']);
    expect(h.writer.finalizers.at(-1)).toEqual([]);
    expect(h.writer.events.at(-1)).toMatchObject({ reason: 'Revoked' });
  });
});
