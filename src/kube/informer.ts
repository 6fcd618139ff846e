// A list+watch cache that does not die: client-node's informer stops on most errors, resolves start()
// before its first LIST succeeded, and caches whole objects. This one relists and rewatches with
// backoff after any failure, relists periodically, caches only what `transform` keeps, and exposes
// a synced promise that the controller waits on before reconciling.
import { setTimeout as sleep } from 'node:timers/promises';
import { exponentialBackoff } from '../policy/backoff.ts';
import { httpStatusOf } from './errors.ts';

export interface ListPage<T> {
  items: T[];
  resourceVersion: string;
  continueToken?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  abort(): void;
  /** Settles when the stream ends: undefined for a clean end, the error otherwise. */
  done: Promise<unknown>;
}

export interface ListWatchSource<T> {
  list(page: { limit: number; continueToken?: string }): Promise<ListPage<T>>;
  watch(
    resourceVersion: string,
    onEvent: (type: WatchEventType, object: unknown) => void,
  ): Promise<WatchHandle>;
}

export type InformerEvent = 'add' | 'update' | 'delete';

/** Why a cache lists again after its first LIST: 410 Gone (compaction passed its version), or the timer. */
export type RelistReason = 'expired' | 'periodic';

export interface InformerOptions<T, Cached> {
  /** For logs and metrics: "apicredentials", "secrets". */
  resource: string;
  source: ListWatchSource<T>;
  transform: (object: T) => Cached;
  keyOf: (object: Cached) => string;
  resourceVersionOf: (object: Cached) => string;
  onEvent: (event: InformerEvent, object: Cached, previous: Cached | undefined) => void;
  /** Full relist every this often, as a net under silent watch death. Default 10 min. */
  relistIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Uniform in [0, 1), for backoff jitter. Default Math.random. */
  random?: () => number;
  pageSize?: number;
  onError?: (error: unknown, consecutiveFailures: number) => void;
  /** Called before every LIST but the first, so that a relist after 410 Gone is visible. */
  onRelist?: (reason: RelistReason) => void;
}

class ExpiredResourceVersion extends Error {}

function isTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'TimeoutError';
}

export class ResilientInformer<T, Cached> {
  readonly #options: InformerOptions<T, Cached>;
  readonly #cache = new Map<string, Cached>();
  readonly #stop = new AbortController();
  #resourceVersion = '';
  #watch: WatchHandle | undefined;
  #relistDue = false;
  #expired = false;
  #failures = 0;
  #synced = false;
  #resolveSynced!: () => void;
  readonly synced: Promise<void>;
  #loop: Promise<void> | undefined;
  #relistTimer: NodeJS.Timeout | undefined;

  constructor(options: InformerOptions<T, Cached>) {
    this.#options = options;
    this.synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  get(key: string): Cached | undefined {
    return this.#cache.get(key);
  }

  list(): Cached[] {
    return [...this.#cache.values()];
  }

  get size(): number {
    return this.#cache.size;
  }

  start(): void {
    this.#loop ??= this.#run();
    const interval = this.#options.relistIntervalMs ?? 600_000;
    this.#relistTimer = setInterval(() => {
      this.#relistDue = true;
      this.#watch?.abort();
    }, interval);
    this.#relistTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#relistTimer);
    this.#watch?.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === '' || this.#relistDue) {
          if (this.#expired) this.#options.onRelist?.('expired');
          else if (this.#relistDue) this.#options.onRelist?.('periodic');
          await this.#relist();
        }
        const { ended, delivered } = await this.#watchUntilEnd();
        // A watch that delivered something, or ended cleanly, proves the connection works again.
        if (delivered || ended === undefined || isTimeout(ended)) this.#failures = 0;
        if (ended !== undefined && !isTimeout(ended))
          throw ended instanceof Error ? ended : new Error(`watch ended: ${JSON.stringify(ended)}`);
      } catch (error) {
        if (this.#stopped()) break;
        if (error instanceof ExpiredResourceVersion || httpStatusOf(error) === 410) {
          this.#resourceVersion = ''; // 410 Gone: compaction passed our version; relist at once
          this.#expired = true;
          continue;
        }
        this.#failures += 1;
        this.#options.onError?.(error, this.#failures);
        await this.#backoff(signal);
      }
    }
  }

  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #backoff(signal: AbortSignal): Promise<void> {
    const delay = exponentialBackoff(
      {
        baseMs: this.#options.backoffInitialMs ?? 1_000,
        capMs: this.#options.backoffMaxMs ?? 60_000,
        jitter: { shape: 'shorten', fraction: 0.5 }, // "equal jitter": [ceiling / 2, ceiling]
      },
      this.#failures - 1,
      this.#options.random ?? Math.random,
    );
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }

  async #relist(): Promise<void> {
    const { source, transform, keyOf, resourceVersionOf, onEvent } = this.#options;
    const seen = new Set<string>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    const fresh: Cached[] = [];
    do {
      const page = await source.list({ limit: this.#options.pageSize ?? 500, continueToken });
      for (const item of page.items) fresh.push(transform(item));
      continueToken = page.continueToken;
      resourceVersion = page.resourceVersion;
    } while (continueToken);

    for (const object of fresh) {
      const key = keyOf(object);
      seen.add(key);
      const previous = this.#cache.get(key);
      if (previous && resourceVersionOf(previous) === resourceVersionOf(object)) continue;
      this.#cache.set(key, object);
      onEvent(previous ? 'update' : 'add', object, previous);
    }
    for (const [key, object] of this.#cache) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      onEvent('delete', object, undefined);
    }
    this.#resourceVersion = resourceVersion;
    this.#relistDue = false;
    this.#expired = false;
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveSynced();
    }
  }

  /** Resolves with the reason the watch ended (undefined for a clean server-side close). */
  async #watchUntilEnd(): Promise<{ ended: unknown; delivered: boolean }> {
    const { source, transform, keyOf, onEvent } = this.#options;
    const outcome = { expired: false, delivered: false };
    const handle = await source.watch(this.#resourceVersion, (type, raw) => {
      if (type === 'ERROR') {
        if (httpStatusOf(raw) === 410) outcome.expired = true;
        this.#watch?.abort();
        return;
      }
      outcome.delivered = true;
      const object = transform(raw as T);
      const version = this.#options.resourceVersionOf(object);
      if (version) this.#resourceVersion = version;
      if (type === 'BOOKMARK') return;
      const key = keyOf(object);
      const previous = this.#cache.get(key);
      if (type === 'DELETED') {
        this.#cache.delete(key);
        onEvent('delete', object, previous);
      } else {
        this.#cache.set(key, object);
        onEvent(previous ? 'update' : 'add', object, previous);
      }
    });
    this.#watch = handle;
    // stop() or a relist may have come while the watch was connecting, before abort() could reach it.
    if (this.#stopped() || this.#relistDue) handle.abort();
    const ended = await handle.done;
    this.#watch = undefined;
    if (outcome.expired) throw new ExpiredResourceVersion('watch answered 410 Gone');
    if (this.#stop.signal.aborted || this.#relistDue)
      return { ended: undefined, delivered: outcome.delivered };
    return { ended, delivered: outcome.delivered };
  }
}
