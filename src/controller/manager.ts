// Wires informers, the work queue and the reconciler: informer callbacks only enqueue keys, workers
// start after every cache has synced, and each credential is requeued for its own renewal time.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ApiCredential } from '../api/apicredential.ts';
import { forCache } from '../kube/cache-transform.ts';
import { MutationCache } from '../kube/mutation-cache.ts';
import { ResilientInformer, type ListWatchSource, type RelistReason } from '../kube/informer.ts';
import { keyOf, objectKey } from '../kube/object-key.ts';
import { toSecretView, type SecretView } from '../kube/secret-view.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Clock } from '../policy/clock.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import { LABEL_CREDENTIAL } from '../secrets/consumer.ts';
import type { Caches } from './context.ts';
import { Reconciler, type ReconcilerDeps } from './reconciler.ts';

/** A watch event normally follows a write within milliseconds; this bounds a lost one. */
const WRITTEN_COPY_TTL_MS = 30_000;

export interface ManagerSources {
  credentials: ListWatchSource<ApiCredential>[];
  secrets: ListWatchSource<V1Secret>[];
  configMaps: ListWatchSource<V1ConfigMap>[];
}

export interface ManagerOptions {
  concurrency: number;
  relistIntervalMs: number;
  /** Longest a renewal timer may be; beyond it the key is re-examined (Node timers misfire past 2^31-1 ms). */
  maxRequeueMs: number;
}

/** What the manager needs of every informer, whatever it caches. */
interface CacheLifecycle {
  start(): void;
  stop(): Promise<void>;
  readonly synced: Promise<void>;
  readonly hasSynced: boolean;
}

/** A change the controller must look at: anything but its own status writes. */
function worthReconciling(next: ApiCredential, previous: ApiCredential | undefined): boolean {
  if (!previous) return true;
  return (
    next.metadata.generation !== previous.metadata.generation ||
    next.metadata.deletionTimestamp !== previous.metadata.deletionTimestamp ||
    JSON.stringify(next.metadata.annotations ?? {}) !== JSON.stringify(previous.metadata.annotations ?? {}) ||
    JSON.stringify(next.metadata.finalizers ?? []) !== JSON.stringify(previous.metadata.finalizers ?? [])
  );
}

export type ManagerDeps = Omit<ReconcilerDeps, 'caches' | 'indexReferences'> & {
  sources: ManagerSources;
  options: ReconcilerDeps['options'] & ManagerOptions;
  metrics: Metrics;
};

export class Manager {
  readonly #credentialInformers: ResilientInformer<ApiCredential, ApiCredential>[];
  readonly #secretInformers: ResilientInformer<V1Secret, SecretView>[];
  readonly #configMapInformers: ResilientInformer<V1ConfigMap, SecretView>[];
  readonly #queue: WorkQueue;
  readonly #reconciler: Reconciler;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #options: ManagerOptions;
  /** "Secret/ns/name" → credential keys that reference it. */
  readonly #dependents = new Map<string, Set<string>>();
  readonly #dependencies = new Map<string, string[]>();
  /** What this operator last wrote, read in place of an informer copy that has not caught up yet. */
  readonly #writtenCredentials: MutationCache<ApiCredential>;
  readonly #writtenSecrets: MutationCache<SecretView>;
  #running: Promise<void> | undefined;

  constructor(deps: ManagerDeps) {
    this.#logger = deps.logger;
    this.#clock = deps.clock;
    this.#options = deps.options;
    this.#writtenCredentials = new MutationCache({
      resourceVersionOf: (object) => object.metadata.resourceVersion,
      ttlMs: WRITTEN_COPY_TTL_MS,
      clock: deps.clock,
      absentIsDeleted: true,
    });
    this.#writtenSecrets = new MutationCache({
      resourceVersionOf: (view) => view.resourceVersion,
      ttlMs: WRITTEN_COPY_TTL_MS,
      clock: deps.clock,
      absentIsDeleted: false,
    });
    this.#credentialInformers = deps.sources.credentials.map((source) =>
      this.#credentialInformer(source, deps),
    );
    this.#secretInformers = deps.sources.secrets.map((source) =>
      this.#viewInformer('secrets', 'Secret', source, deps),
    );
    this.#configMapInformers = deps.sources.configMaps.map((source) =>
      this.#viewInformer('configmaps', 'ConfigMap', source, deps),
    );
    this.#reconciler = new Reconciler({
      ...deps,
      caches: this.#caches(),
      indexReferences: (key, objects) => {
        this.#index(key, objects);
      },
    });
    this.#queue = this.#newQueue(deps);
  }

  /** Watch failures and relists, counted and logged per resource. */
  #watchHooks(
    resource: string,
    metrics: Metrics,
  ): { onError: (error: unknown, failures: number) => void; onRelist: (reason: RelistReason) => void } {
    return {
      onError: (error, failures) => {
        metrics.informerRestarts.inc({ resource });
        this.#logger.warn({ resource, failures, err: error }, 'watch failed; watching again with backoff');
      },
      onRelist: (reason) => {
        metrics.informerRelists.inc({ resource, reason });
        this.#logger.info(
          { resource, reason },
          reason === 'expired'
            ? 'watch answered 410 Gone (its resource version was compacted); relisting'
            : 'periodic relist',
        );
      },
    };
  }

  #credentialInformer(
    source: ListWatchSource<ApiCredential>,
    deps: ManagerDeps,
  ): ResilientInformer<ApiCredential, ApiCredential> {
    return new ResilientInformer<ApiCredential, ApiCredential>({
      resource: 'apicredentials',
      source,
      transform: forCache,
      keyOf,
      resourceVersionOf: (object) => object.metadata.resourceVersion ?? '',
      relistIntervalMs: deps.options.relistIntervalMs,
      onEvent: (event, object, previous) => {
        if (event === 'delete') this.#writtenCredentials.forget(keyOf(object));
        if (event === 'delete' || worthReconciling(object, previous)) this.#queue.add(keyOf(object));
      },
      ...this.#watchHooks('apicredentials', deps.metrics),
    });
  }

  #viewInformer<T extends V1Secret | V1ConfigMap>(
    resource: string,
    kind: 'Secret' | 'ConfigMap',
    source: ListWatchSource<T>,
    deps: ManagerDeps,
  ): ResilientInformer<T, SecretView> {
    return new ResilientInformer<T, SecretView>({
      resource,
      source,
      transform: (object) => toSecretView(object),
      keyOf: (view) => objectKey(view.namespace, view.name),
      resourceVersionOf: (view) => view.resourceVersion,
      relistIntervalMs: deps.options.relistIntervalMs,
      onEvent: (event, view) => {
        if (event === 'delete' && kind === 'Secret')
          this.#writtenSecrets.forget(objectKey(view.namespace, view.name));
        this.#onReferencedObject(kind, view);
      },
      ...this.#watchHooks(resource, deps.metrics),
    });
  }

  /** The reconciler's reads: the informers, overlaid with what this operator wrote last. */
  #caches(): Caches {
    return {
      credential: (key) => this.#writtenCredentials.newest(key, this.#find(this.#credentialInformers, key)),
      secret: (namespace, name) => {
        const key = objectKey(namespace, name);
        return this.#writtenSecrets.newest(key, this.#find(this.#secretInformers, key));
      },
      wroteCredential: (object) => {
        this.#writtenCredentials.mutated(keyOf(object), forCache(object));
      },
      wroteSecret: (object) => {
        const view = toSecretView(object);
        this.#writtenSecrets.mutated(objectKey(view.namespace, view.name), view);
      },
      configMap: (namespace, name) => this.#find(this.#configMapInformers, objectKey(namespace, name)),
    };
  }

  #newQueue(deps: ManagerDeps): WorkQueue {
    return new WorkQueue<string>({
      name: 'apicredentials',
      clock: deps.clock,
      metrics: {
        ...deps.metrics.queueHooks('apicredentials'),
        reconciled: (outcome, seconds) => {
          deps.metrics.reconciled('apicredential', outcome, seconds);
        },
        setActiveWorkers: (count) => {
          deps.metrics.setActiveWorkers('apicredential', count);
        },
      },
      onError: (key, error, outcome) => {
        // Kubernetes API failures (conflicts, outages) land here; provider failures are handled in reconcile.
        this.#logger.warn(
          { credential: key, outcome, err: error },
          'reconcile failed; retrying with backoff',
        );
      },
    });
  }

  /** One informer per watched namespace: the object is in at most one of them. */
  #find<T>(informers: readonly { get(key: string): T | undefined }[], key: string): T | undefined {
    for (const informer of informers) {
      const found = informer.get(key);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  #index(credential: string, objects: string[]): void {
    for (const previous of this.#dependencies.get(credential) ?? [])
      this.#dependents.get(previous)?.delete(credential);
    for (const object of objects) {
      let set = this.#dependents.get(object);
      if (!set) this.#dependents.set(object, (set = new Set()));
      set.add(credential);
    }
    this.#dependencies.set(credential, objects);
  }

  #onReferencedObject(kind: 'Secret' | 'ConfigMap', view: SecretView): void {
    for (const credential of this.#dependents.get(`${kind}/${view.namespace}/${view.name}`) ?? [])
      this.#queue.add(credential);
    const owner = kind === 'Secret' ? view.labels[LABEL_CREDENTIAL] : undefined;
    if (owner) this.#queue.add(objectKey(view.namespace, owner));
  }

  get synced(): boolean {
    return this.#informers().every((informer) => informer.hasSynced);
  }

  #informers(): CacheLifecycle[] {
    return [...this.#credentialInformers, ...this.#secretInformers, ...this.#configMapInformers];
  }

  /** Starts the caches and resolves once each has listed once. Standby replicas keep them warm. */
  async startCaches(): Promise<void> {
    for (const informer of this.#informers()) informer.start();
    await Promise.all(this.#informers().map((informer) => informer.synced));
  }

  /** Starts the workers: after startCaches() resolved and, with leader election, once leading. */
  startWorkers(): void {
    if (this.#running) return;
    this.#logger.info(
      { credentials: this.#credentialInformers.reduce((n, i) => n + i.size, 0) },
      'caches synced; starting workers',
    );
    this.#running = this.#queue.run(this.#options.concurrency, async (key) => {
      const result = await this.#reconciler.reconcile(key);
      if (result.requeueAt === undefined) return undefined;
      const delay = Math.max(0, result.requeueAt - this.#clock.now());
      return { requeueAfterMs: Math.min(delay, this.#options.maxRequeueMs) };
    });
  }

  /** Stops taking work, lets in-flight reconciles finish, and stops the caches. */
  async stop(): Promise<void> {
    await this.#queue.shutdown();
    await this.#running;
    await Promise.all(this.#informers().map((informer) => informer.stop()));
  }
}
