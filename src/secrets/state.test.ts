// The fenced state Secret against an in-memory stand-in for the Secrets API that enforces
// resourceVersion preconditions as the apiserver does.
import { ApiException, type CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ProviderError, StateConflictError } from '../errors/failure.ts';
import {
  credentialFixture,
  fakeProvider,
  reconcilerHarness,
  tokenSet,
} from '../controller/fakes.test-helpers.ts';
import { SecretStateStore, stateSecretName } from './state.ts';

type SecretCalls = Pick<
  CoreV1Api,
  'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret'
>;

function statusError(code: number): ApiException<string> {
  return new ApiException(code, `HTTP ${code}`, '{}', {});
}

/** Secrets by namespace/name; create fails if present, replace fails on a stale resourceVersion. */
class SecretsApi implements SecretCalls {
  readonly secrets = new Map<string, V1Secret>();
  readonly calls: string[] = [];
  #version = 1;
  failNextRead: number | undefined;

  readNamespacedSecret({ name, namespace }: { name: string; namespace: string }): Promise<V1Secret> {
    this.calls.push(`read ${namespace}/${name}`);
    if (this.failNextRead !== undefined) {
      const code = this.failNextRead;
      this.failNextRead = undefined;
      return Promise.reject(statusError(code));
    }
    const found = this.secrets.get(`${namespace}/${name}`);
    return found ? Promise.resolve(structuredClone(found)) : Promise.reject(statusError(404));
  }
  createNamespacedSecret({ namespace, body }: { namespace: string; body: V1Secret }): Promise<V1Secret> {
    const key = `${namespace}/${body.metadata?.name ?? ''}`;
    this.calls.push(`create ${key}`);
    if (this.secrets.has(key)) return Promise.reject(statusError(409));
    return Promise.resolve(this.#store(key, body));
  }
  replaceNamespacedSecret({
    name,
    namespace,
    body,
  }: {
    name: string;
    namespace: string;
    body: V1Secret;
  }): Promise<V1Secret> {
    const key = `${namespace}/${name}`;
    this.calls.push(`replace ${key}@${body.metadata?.resourceVersion ?? ''}`);
    const current = this.secrets.get(key);
    if (!current) return Promise.reject(statusError(404));
    if (current.metadata?.resourceVersion !== body.metadata?.resourceVersion)
      return Promise.reject(statusError(409));
    return Promise.resolve(this.#store(key, body));
  }
  #store(key: string, body: V1Secret): V1Secret {
    this.#version += 1;
    const stored = {
      ...body,
      metadata: Object.assign({}, body.metadata, { resourceVersion: String(this.#version) }),
    };
    this.secrets.set(key, stored);
    return structuredClone(stored);
  }
  asCore(): CoreV1Api {
    return this as unknown as CoreV1Api;
  }
}

const credential = credentialFixture();

describe('stateSecretName', () => {
  it('is the credential name with a suffix no consumer Secret name uses by default', () => {
    expect(stateSecretName('orders')).toBe('orders.apicred-state');
  });
});

describe('SecretStateStore', () => {
  it('no state Secret yet: reads empty, and the first write creates it, labelled and owned', async () => {
    const api = new SecretsApi();
    const store = new SecretStateStore(api.asCore(), credential);
    expect(await store.read()).toEqual({});
    await store.write({ refreshToken: 'rt-1' });
    expect(api.calls).toEqual(['read shop/orders.apicred-state', 'create shop/orders.apicred-state']);
    const written = api.secrets.get('shop/orders.apicred-state');
    expect(written?.metadata).toMatchObject({
      name: 'orders.apicred-state',
      namespace: 'shop',
      labels: {
        'app.kubernetes.io/managed-by': 'apicred-operator',
        'apicred.dev/credential': 'orders',
        'apicred.dev/role': 'state',
      },
      ownerReferences: [
        expect.objectContaining({
          kind: 'ApiCredential',
          name: 'orders',
          uid: 'uid-orders',
          controller: true,
        }),
      ],
    });
    expect(written?.data).toEqual({ refreshToken: Buffer.from('rt-1').toString('base64') });
  });

  it('round trip: what one store writes, a new store reads back exactly (any UTF-8, empty values)', async () => {
    const api = new SecretsApi();
    const state = { refreshToken: 'rt-ünïcödé-✓', userId: '100', empty: '', json: '{"a":[1,2]}' };
    const writer = new SecretStateStore(api.asCore(), credential);
    await writer.read();
    await writer.write(state);
    expect(await new SecretStateStore(api.asCore(), credential).read()).toEqual(state);
  });

  it('each write is conditional on the version read, then on the version it wrote', async () => {
    const api = new SecretsApi();
    const store = new SecretStateStore(api.asCore(), credential);
    await store.read();
    await store.write({ step: '1' });
    await store.write({ step: '2' });
    expect(api.calls.slice(1)).toEqual([
      'create shop/orders.apicred-state',
      'replace shop/orders.apicred-state@2',
    ]);
    expect(await new SecretStateStore(api.asCore(), credential).read()).toEqual({ step: '2' });
  });

  it('two writers (a deposed leader and its successor): the second write to a read version conflicts', async () => {
    const api = new SecretsApi();
    const seed = new SecretStateStore(api.asCore(), credential);
    await seed.read();
    await seed.write({ refreshToken: 'rt-1' });
    const deposed = new SecretStateStore(api.asCore(), credential);
    const successor = new SecretStateStore(api.asCore(), credential);
    await deposed.read();
    await successor.read();
    await successor.write({ refreshToken: 'rt-2', intent: 'refresh' });
    const failed = deposed.write({ refreshToken: 'rt-other', intent: 'refresh' });
    await expect(failed).rejects.toBeInstanceOf(StateConflictError);
    await expect(failed).rejects.toThrow(
      'the state Secret shop/orders.apicred-state was changed by another writer',
    );
    expect(await new SecretStateStore(api.asCore(), credential).read()).toEqual({
      refreshToken: 'rt-2',
      intent: 'refresh',
    });
  });

  it('two first writers: the second create conflicts as well', async () => {
    const api = new SecretsApi();
    const first = new SecretStateStore(api.asCore(), credential);
    const second = new SecretStateStore(api.asCore(), credential);
    await first.read();
    await second.read();
    await first.write({ a: '1' });
    await expect(second.write({ a: '2' })).rejects.toBeInstanceOf(StateConflictError);
  });

  it('refuses to write before a read: the write would not be fenced', async () => {
    const api = new SecretsApi();
    const store = new SecretStateStore(api.asCore(), credential);
    await expect(store.write({ a: '1' })).rejects.toThrow(
      'StateStore.write() before read(): the write would not be fenced',
    );
    expect(api.calls).toEqual([]);
  });

  it('a read that fails other than 404 is not taken for "no state": it rejects', async () => {
    const api = new SecretsApi();
    api.failNextRead = 500;
    const store = new SecretStateStore(api.asCore(), credential);
    await expect(store.read()).rejects.toMatchObject({ code: 500 });
    // Still not loaded: a write now would not be fenced.
    await expect(store.write({ a: '1' })).rejects.toThrow('before read()');
  });

  it('a write that fails other than 409 rejects with that error, not a conflict', async () => {
    const api = new SecretsApi();
    const store = new SecretStateStore(api.asCore(), credential);
    await store.read();
    const error = statusError(403);
    api.createNamespacedSecret = () => Promise.reject(error);
    await expect(store.write({ a: '1' })).rejects.toBe(error);
  });

  it('a state Secret without data reads as empty state', async () => {
    const api = new SecretsApi();
    api.secrets.set('shop/orders.apicred-state', stateSecret([owner('orders', 'uid-orders')]));
    expect(await new SecretStateStore(api.asCore(), credential).read()).toEqual({});
  });
});

function owner(name: string, uid: string) {
  return { apiVersion: 'apicred.dev/v1alpha1', kind: 'ApiCredential', name, uid };
}

function stateSecret(ownerReferences: ReturnType<typeof owner>[], data?: Record<string, string>): V1Secret {
  return {
    metadata: { name: 'orders.apicred-state', namespace: 'shop', resourceVersion: '5', ownerReferences },
    data,
  };
}

describe('a state Secret the operator did not create is neither read nor replaced', () => {
  const planted = { refreshToken: Buffer.from('someone-elses-value').toString('base64') };
  const message =
    "Secret shop/orders.apicred-state exists but the operator did not create it for this ApiCredential; it neither reads nor replaces it. The name orders.apicred-state holds the operator's own state: delete or rename that Secret, and the operator retries.";

  it.each([
    ['created by a user', []],
    ['owned by another ApiCredential', [owner('billing', 'uid-billing')]],
  ])('%s: a transient StateSecretOwnedByOther failure that says what to do', async (_name, owners) => {
    const api = new SecretsApi();
    api.secrets.set('shop/orders.apicred-state', stateSecret(owners, planted));
    const store = new SecretStateStore(api.asCore(), credential);
    const read = store.read();
    await expect(read).rejects.toBeInstanceOf(ProviderError);
    await expect(read).rejects.toMatchObject({
      kind: 'transient',
      reason: 'StateSecretOwnedByOther',
      message,
    });
    await expect(store.write({ refreshToken: 'ours' })).rejects.toThrow('before read()');
    expect(api.secrets.get('shop/orders.apicred-state')?.data).toEqual(planted);
  });

  it("a recreated ApiCredential's predecessor (same name, old uid): read, and the write takes it over", async () => {
    const api = new SecretsApi();
    api.secrets.set(
      'shop/orders.apicred-state',
      stateSecret([owner('orders', 'uid-old')], { failures: Buffer.from('3').toString('base64') }),
    );
    const store = new SecretStateStore(api.asCore(), credential);
    expect(await store.read()).toEqual({ failures: '3' });
    await store.write({ failures: '0' });
    expect(api.secrets.get('shop/orders.apicred-state')?.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ name: 'orders', uid: 'uid-orders' }),
    ]);
  });
});

describe('a foreign state Secret, as kubectl describe shows it', () => {
  it('Ready=False StateSecretOwnedByOther with what to do, retried with backoff, no token written', async () => {
    const api = new SecretsApi();
    api.secrets.set('shop/orders.apicred-state', stateSecret([]));
    const provider = fakeProvider(async (context) => {
      await context.state.read();
      return tokenSet(context.clock.now(), 3_600_000);
    });
    const h = reconcilerHarness(provider, credentialFixture(), {
      stateStore: (owner) => new SecretStateStore(api.asCore(), owner),
    });
    const result = await h.reconciler.reconcile(h.key);
    const conditions = h.caches.credential(h.key)?.status?.conditions;
    const ready = conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'StateSecretOwnedByOther' });
    expect(ready?.message).toMatch(
      /^Secret shop\/orders\.apicred-state exists but the operator did not create it for this ApiCredential; .* delete or rename that Secret, and the operator retries\. Next attempt at \d{4}-/,
    );
    expect(conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'False',
      reason: 'Retrying',
    });
    expect(h.writer.events.map((e) => e.reason)).toEqual(['StateSecretOwnedByOther']);
    expect(h.writer.secrets).toEqual([]);
    expect(result.requeueAt).toBeGreaterThan(h.clock.now());
  });
});
