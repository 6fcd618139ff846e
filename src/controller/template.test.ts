// spec.secret.template through the reconciler (fakes): rendered keys are written with the token and
// re-rendered on renewal, restored on repair, and a bad template stops before the provider is called.
import { describe, expect, it } from 'vitest';
import {
  credentialFixture,
  fakeProvider,
  reconcilerHarness,
  tokenSet,
  type Harness,
} from './fakes.test-helpers.ts';

const HOUR = 3_600_000;

function withTemplate(template: Record<string, string>) {
  return credentialFixture(
    {},
    {
      provider: {
        oauth2: { tokenUrl: 'https://idp.example.com/token', credentialsRef: { name: 'orders-client' } },
      },
      secret: { name: 'orders-token', template },
    },
  );
}

function ready(h: Harness) {
  return h.caches.credential(h.key)?.status?.conditions?.find((c) => c.type === 'Ready');
}

function lastData(h: Harness): Record<string, string> {
  const data = h.writer.secrets.at(-1)?.data ?? {};
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}

describe('spec.secret.template', () => {
  it('writes the rendered keys with the token, and renders them again with the renewed token', async () => {
    let round = 0;
    const h = reconcilerHarness(
      fakeProvider((context) => {
        round += 1;
        return Promise.resolve(tokenSet(context.clock.now(), HOUR, `access-token-${round}`));
      }),
      withTemplate({
        'config.json': '{"token": {{ token | json }}}',
        header: 'Authorization: Bearer {{ token }}',
      }),
    );
    const first = await h.reconciler.reconcile(h.key);
    expect(lastData(h)).toEqual({
      token: 'access-token-1',
      'config.json': '{"token": "access-token-1"}',
      header: 'Authorization: Bearer access-token-1',
    });
    expect(h.writer.secrets.at(-1)?.metadata?.annotations?.['apicred.dev/written-keys']).toBe(
      'config.json,header,token',
    );
    h.clock.set(first.requeueAt ?? 0);
    await h.reconciler.reconcile(h.key);
    expect(lastData(h)['config.json']).toBe('{"token": "access-token-2"}');
    expect(lastData(h)['header']).toBe('Authorization: Bearer access-token-2');
    expect(ready(h)).toMatchObject({ status: 'True', reason: 'TokenValid' });
  });

  it('a changed template is written at the next look (the inputs hash covers it), old keys dropped', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
      withTemplate({ header: 'Authorization: Bearer {{ token }}' }),
    );
    await h.reconciler.reconcile(h.key);
    const current = h.caches.credential(h.key);
    if (!current) throw new Error('no credential');
    const changed = withTemplate({ 'config.json': '{"token": {{ token | json }}}' });
    h.caches.wroteCredential({
      ...changed,
      status: current.status,
      metadata: { ...current.metadata, generation: 2 },
    });
    await h.reconciler.reconcile(h.key);
    expect(lastData(h)).toEqual({
      token: 'access-token-value-1',
      'config.json': '{"token": "access-token-value-1"}',
    });
  });

  it('restores an edited rendered key from memory, without a provider call', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
      withTemplate({ header: 'Authorization: Bearer {{ token }}' }),
    );
    await h.reconciler.reconcile(h.key);
    const view = h.caches.secrets.get('shop/orders-token');
    if (!view) throw new Error('no Secret');
    h.caches.secrets.set('shop/orders-token', {
      ...view,
      keyDigests: { ...view.keyDigests, header: 'edited' },
    });
    await h.reconciler.reconcile(h.key);
    expect(h.provider.calls).toBe(1);
    expect(h.writer.events.at(-1)).toMatchObject({ reason: 'SecretRepaired' });
    expect(lastData(h)['header']).toBe('Authorization: Bearer access-token-value-1');
  });

  it('an unknown variable is InvalidSpec, naming the key and the variable, and no provider is called', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
      withTemplate({ 'config.json': '{"token": {{ acess_token | json }}}' }),
    );
    await h.reconciler.reconcile(h.key);
    expect(h.provider.calls).toBe(0);
    expect(h.writer.secrets).toHaveLength(0);
    expect(ready(h)).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message:
        'spec.secret.template["config.json"]: unknown variable "acess_token"; known: token, tokenType, expiresAt, issuedAt, data, tenants. Fix the ApiCredential spec.',
    });

    // Fixing the template ends the stall: the recorded inputs hash no longer matches.
    const current = h.caches.credential(h.key);
    if (!current) throw new Error('no credential');
    const fixed = withTemplate({ 'config.json': '{"token": {{ token | json }}}' });
    h.caches.wroteCredential({
      ...fixed,
      status: current.status,
      metadata: { ...current.metadata, generation: 2 },
    });
    await h.reconciler.reconcile(h.key);
    expect(h.provider.calls).toBe(1);
    expect(lastData(h)['config.json']).toBe('{"token": "access-token-value-1"}');
    expect(ready(h)).toMatchObject({ status: 'True', reason: 'TokenValid' });
  });

  it('a variable this provider has no value for is InvalidSpec after the call, and nothing is written', async () => {
    const h = reconcilerHarness(
      fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR))),
      withTemplate({ map: '{{ tenants | json }}' }),
    );
    const result = await h.reconciler.reconcile(h.key);
    expect(h.provider.calls).toBe(1);
    expect(h.writer.secrets).toHaveLength(0);
    expect(ready(h)).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready(h)?.message).toContain(
      'spec.secret.template["map"]: unknown variable "tenants"; known: token, expiresAt, issuedAt, data.',
    );
    expect(ready(h)?.message).not.toContain('access-token-value-1');
    expect(result.requeueAt).toBeUndefined();
    expect(h.writer.events.map((e) => e.reason)).toEqual(['InvalidSpec']);
  });
});
