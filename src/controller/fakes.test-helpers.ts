// Stand-ins for the apiserver in the controller's unit tests: caches held in maps, and an in-memory
// Writer that records every write and feeds it back into those caches as the apiserver would.
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import { vi } from 'vitest';
import {
  API_VERSION,
  KIND,
  apiCredentialSpecSchema,
  type ApiCredential,
  type ApiCredentialStatus,
} from '../api/apicredential.ts';
import type { EventTarget, EventType } from '../kube/events.ts';
import { keyOf, objectKey } from '../kube/object-key.ts';
import { toSecretView, type SecretView } from '../kube/secret-view.ts';
import { HttpClientFactory } from '../http/client.ts';
import { createMetrics } from '../observability/metrics.ts';
import { SecretRedactor } from '../observability/redactor.ts';
import { ManualClock } from '../policy/clock.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type {
  InputReference,
  Inputs,
  ProviderContext,
  ProviderNeeds,
  StateStore,
  TokenProvider,
  TokenSet,
} from '../providers/types.ts';
import type { Caches, ReconcileContext, TokenMemory } from './context.ts';
import { gather } from './observe.ts';
import type { InputSource } from './exchange.ts';
import { Reconciler, type ReconcilerDeps } from './reconciler.ts';
import type { Writer } from './writer.ts';

export const NAMESPACE = 'shop';
export const CLIENT_SECRET = 's3cret-client-value';

export function credentialFixture(
  overrides: Partial<ApiCredential['metadata']> = {},
  spec?: unknown,
): ApiCredential {
  const raw = spec ?? {
    provider: {
      oauth2: { tokenUrl: 'https://idp.example.com/token', credentialsRef: { name: 'orders-client' } },
    },
    secret: { name: 'orders-token' },
  };
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: 'orders',
      namespace: NAMESPACE,
      uid: 'uid-orders',
      generation: 1,
      resourceVersion: '1',
      ...overrides,
    },
    spec: apiCredentialSpecSchema.parse(raw),
  };
}

export class FakeCaches implements Caches {
  readonly credentials = new Map<string, ApiCredential>();
  readonly secrets = new Map<string, SecretView>();
  readonly configMaps = new Map<string, SecretView>();

  credential(key: string): ApiCredential | undefined {
    return this.credentials.get(key);
  }
  secret(namespace: string, name: string): SecretView | undefined {
    return this.secrets.get(objectKey(namespace, name));
  }
  configMap(namespace: string, name: string): SecretView | undefined {
    return this.configMaps.get(objectKey(namespace, name));
  }
  wroteCredential(object: ApiCredential): void {
    this.credentials.set(keyOf(object), object);
  }
  wroteSecret(object: V1Secret): void {
    const view = toSecretView(object);
    this.secrets.set(objectKey(view.namespace, view.name), view);
  }
  /** A referenced input Secret, present in the cache. */
  putInput(name: string, data: Record<string, string>): void {
    const wire = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    this.wroteSecret({
      metadata: { name, namespace: NAMESPACE, uid: `uid-${name}`, resourceVersion: '1' },
      data: wire,
    });
  }
}

export interface RecordedEvent {
  type: EventType;
  reason: string;
  message: string;
}

/** Records the writes; with caches, applies them to the cached objects as the apiserver would. */
export class InMemoryWriter implements Writer {
  readonly secrets: V1Secret[] = [];
  readonly statuses: ApiCredentialStatus[] = [];
  readonly finalizers: string[][] = [];
  readonly events: RecordedEvent[] = [];
  /** Every write in the order it came: `secret`, `status`, `finalizers`, `event:<reason>`. */
  readonly journal: string[] = [];
  readonly #caches: FakeCaches | undefined;
  #version = 100;

  constructor(caches?: FakeCaches) {
    this.#caches = caches;
  }

  applySecret(body: V1Secret): Promise<void> {
    this.journal.push('secret');
    this.secrets.push(body);
    this.#caches?.wroteSecret({
      ...body,
      metadata: Object.assign({}, body.metadata, { resourceVersion: this.#nextVersion() }),
    });
    return Promise.resolve();
  }
  patchStatus(credential: ApiCredential, status: ApiCredentialStatus): Promise<void> {
    this.journal.push('status');
    this.statuses.push(status);
    this.#caches?.wroteCredential({ ...credential, metadata: this.#bumped(credential), status });
    return Promise.resolve();
  }
  setFinalizers(credential: ApiCredential, finalizers: string[]): Promise<void> {
    this.journal.push('finalizers');
    this.finalizers.push(finalizers);
    const metadata = { ...this.#bumped(credential), finalizers };
    this.#caches?.wroteCredential({ ...this.#cached(credential), metadata });
    return Promise.resolve();
  }
  emitEvent(_target: EventTarget, type: EventType, reason: string, message: string): void {
    this.journal.push(`event:${reason}`);
    this.events.push({ type, reason, message });
  }
  #cached(credential: ApiCredential): ApiCredential {
    return this.#caches?.credential(keyOf(credential)) ?? credential;
  }
  #bumped(credential: ApiCredential): ApiCredential['metadata'] {
    return { ...this.#cached(credential).metadata, resourceVersion: this.#nextVersion() };
  }
  #nextVersion(): string {
    this.#version += 1;
    return String(this.#version);
  }
}

export const CLIENT_SECRET_REF: InputReference = {
  kind: 'Secret',
  name: 'orders-client',
  key: 'clientSecret',
  fieldPath: 'spec.provider.oauth2.credentialsRef.clientSecretKey',
  secret: true,
};

type OAuth2Spec = NonNullable<ApiCredential['spec']['provider']['oauth2']>;

/** A provider that serves whatever the test tells obtain() to; it names itself oauth2 to fit the schema. */
export function fakeProvider(
  obtain: (context: Parameters<TokenProvider<OAuth2Spec>['obtain']>[1]) => Promise<TokenSet>,
  needs: Partial<ProviderNeeds> = {},
): FakeProvider {
  const declared: ProviderNeeds = {
    inputs: [CLIENT_SECRET_REF],
    releaseOnDelete: false,
    rateLimitKey: 'https://fake.example.com',
    ...needs,
  };
  const provider: FakeProvider = {
    name: 'oauth2',
    calls: 0,
    inputs: () => declared.inputs,
    needs: () => declared,
    obtain: (_spec: OAuth2Spec, context: ProviderContext) => {
      provider.calls += 1;
      return obtain(context);
    },
  };
  return provider;
}

/** What gather() observes of `credential` on these caches (oauth2, never called); a rejection fails the test. */
export function observedContext(
  credential: ApiCredential,
  now: number,
  caches: FakeCaches,
  memory: TokenMemory = new Map(),
): ReconcileContext {
  const provider = fakeProvider(() => Promise.reject(new Error('the provider is not called here')));
  const gathered = gather(credential, now, {
    caches,
    providers: registryOf(provider),
    memory,
    options: OPTIONS,
  });
  if (gathered.type !== 'observed') throw new Error(`rejected: ${gathered.rejection.message}`);
  return gathered.context;
}

/** Counts its obtain() calls. */
export type FakeProvider = TokenProvider<OAuth2Spec> & { calls: number };

export function registryOf(provider: TokenProvider<OAuth2Spec>): ProviderRegistry {
  return { specSchema: apiCredentialSpecSchema, providers: new Map([['oauth2', provider]]) };
}

export function tokenSet(issuedAt: number, lifetimeMs: number, token = 'access-token-value-1'): TokenSet {
  return { data: { token }, issuedAt, expiresAt: issuedAt + lifetimeMs, expirySource: 'expires_in' };
}

export const silentLogger = pino({ level: 'silent' });

export function testMetrics(): ReturnType<typeof createMetrics> {
  return createMetrics({ defaultMetrics: false });
}

/** Reads referenced values from the fake caches' plain copies, as readInputs() reads the apiserver. */
export function fakeInputSource(values: Map<string, string>): InputSource {
  return (_namespace, refs) => {
    const found = new Map<string, string>();
    for (const ref of refs) {
      const value = values.get(`${ref.name}/${ref.key}`);
      if (value !== undefined) found.set(`${ref.name}/${ref.key}`, value);
    }
    const inputs: Inputs = {
      get: (ref) => found.get(`${ref.name}/${ref.key}`),
      require: (ref) => {
        const value = found.get(`${ref.name}/${ref.key}`);
        if (value === undefined) throw new Error(`missing ${ref.name}/${ref.key}`);
        return value;
      },
    };
    const secrets = refs.filter((ref) => ref.secret).map((ref) => found.get(`${ref.name}/${ref.key}`) ?? '');
    return Promise.resolve({ inputs, secrets: secrets.filter((value) => value !== '') });
  };
}

export class MemoryStateStore implements StateStore {
  state: Record<string, string> = {};
  read(): Promise<Readonly<Record<string, string>>> {
    return Promise.resolve(this.state);
  }
  write(state: Record<string, string>): Promise<void> {
    this.state = state;
    return Promise.resolve();
  }
}

/** A kubeconfig that points nowhere: the unit tests never reach an apiserver. */
export function unreachableKubeConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  return config;
}

export interface Harness {
  reconciler: Reconciler;
  caches: FakeCaches;
  writer: InMemoryWriter;
  clock: ManualClock;
  provider: FakeProvider;
  key: string;
}

export const OPTIONS = {
  propagationMarginMs: 60_000,
  jitterFraction: 0,
  providerTimeoutMs: 10_000,
  releaseTimeoutMs: 5_000,
  rolloutMinIntervalMs: 60_000,
};

/** Dependencies a test replaces; `writer` is built on the harness's caches. */
export type HarnessOverrides = Partial<Omit<ReconcilerDeps, 'writer' | 'caches'>> & {
  writer?: (caches: FakeCaches) => InMemoryWriter;
};

/** A Reconciler wired to fakes: caches in maps, the in-memory writer, a manual clock. */
export function reconcilerHarness(
  provider: FakeProvider,
  credential = credentialFixture(),
  { writer: writerFor, ...overrides }: HarnessOverrides = {},
): Harness {
  const caches = new FakeCaches();
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  caches.putInput('orders-client', { clientSecret: CLIENT_SECRET });
  caches.wroteCredential(credential);
  const writer = writerFor ? writerFor(caches) : new InMemoryWriter(caches);
  const reconciler = new Reconciler({
    kubeConfig: unreachableKubeConfig(),
    caches,
    providers: registryOf(provider),
    http: new HttpClientFactory(),
    events: { emit: vi.fn() },
    metrics: testMetrics(),
    redactor: new SecretRedactor(),
    logger: silentLogger,
    clock,
    acquireProviderSlot: () => Promise.resolve(undefined),
    indexReferences: vi.fn(),
    options: OPTIONS,
    writer,
    readInputs: fakeInputSource(new Map([['orders-client/clientSecret', CLIENT_SECRET]])),
    stateStore: () => new MemoryStateStore(),
    random: () => 0.5,
    ...overrides,
  });
  return { reconciler, caches, writer, clock, provider, key: `${NAMESPACE}/${credential.metadata.name}` };
}
