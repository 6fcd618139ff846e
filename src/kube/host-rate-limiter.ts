// One token bucket per provider host (scheme://host:port), so a slow or tightly limited provider never
// holds back calls to another. The key comes from the provider (ProviderNeeds.rateLimitKey); this
// module names no provider. Hosts come from ApiCredential specs, which any namespace may write, so
// the number of buckets is bounded: an idle, full bucket is dropped, which loses nothing because a
// new bucket starts full.
export { rateLimitKeyOf } from '../http/url.ts';
import type { Clock } from '../policy/clock.ts';
import { systemClock } from '../policy/clock.ts';
import { TokenBucket } from './rate-limiter.ts';
import { RealScheduler, type Scheduler } from './workqueue.ts';

export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

export interface HostRateLimiterOptions {
  /** The limit of every host without an override (--provider-qps, --provider-burst). */
  defaults: RateLimit;
  /** Limits of named hosts (--provider-host-limits), by rateLimitKeyOf(url). */
  overrides?: ReadonlyMap<string, RateLimit>;
  /** Buckets kept before idle, full ones are evicted; buckets in use are never evicted. */
  maxBuckets?: number;
  clock?: Clock;
  scheduler?: Scheduler;
  /**
   * Callers that may wait in line for one host; further ones are told to come back later
   * (acquireOrDefer), so that a slow host cannot hold every worker while other hosts' work waits.
   * Default: no bound.
   */
  maxWaitersPerHost?: number;
  /** Called once per acquire that had to wait, with the time it waited. */
  onWait?: (key: string, waitedMs: number) => void;
}

export const DEFAULT_MAX_BUCKETS = 1024;

export class HostRateLimiter {
  readonly #defaults: RateLimit;
  readonly #overrides: ReadonlyMap<string, RateLimit>;
  readonly #maxBuckets: number;
  readonly #scheduler: Scheduler;
  readonly #onWait: HostRateLimiterOptions['onWait'];
  readonly #maxWaiters: number;
  /** In least recently used order: Map keeps insertion order, and a use re-inserts. */
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(options: HostRateLimiterOptions) {
    const maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
    if (!(Number.isInteger(maxBuckets) && maxBuckets >= 1))
      throw new RangeError(`HostRateLimiter: maxBuckets ${maxBuckets} must be an integer >= 1`);
    this.#defaults = options.defaults;
    this.#overrides = options.overrides ?? new Map();
    this.#maxBuckets = maxBuckets;
    this.#scheduler = options.scheduler ?? new RealScheduler({ clock: options.clock ?? systemClock });
    this.#onWait = options.onWait;
    this.#maxWaiters = options.maxWaitersPerHost ?? Infinity;
    if (!(this.#maxWaiters >= 1))
      throw new RangeError(`HostRateLimiter: maxWaitersPerHost ${this.#maxWaiters} must be >= 1`);
    // Fail at start on a bad limit, not at the first call to that host.
    for (const limit of [this.#defaults, ...this.#overrides.values()]) this.#newBucket(limit);
  }

  /** Resolves when one call to the host of `key` may go; rejects with the signal's reason if aborted first. */
  async acquire(key: string, signal?: AbortSignal): Promise<void> {
    const bucket = this.#bucketFor(key);
    if (signal?.aborted || !bucket.tryAcquire()) {
      const startedAt = this.#scheduler.now();
      await bucket.acquire(signal);
      this.#onWait?.(key, this.#scheduler.now() - startedAt);
    }
  }

  /**
   * Like acquire, unless the host already has maxWaitersPerHost callers in line: then it takes no
   * token and resolves with how long to stay away (about when the line will have moved on).
   */
  async acquireOrDefer(key: string, signal?: AbortSignal): Promise<{ deferMs?: number }> {
    const bucket = this.#bucketFor(key);
    if (bucket.waiting >= this.#maxWaiters && !signal?.aborted) {
      const { ratePerSecond } = this.limitOf(key);
      return { deferMs: Math.ceil(((bucket.waiting + 1) * 1000) / ratePerSecond) };
    }
    await this.acquire(key, signal);
    return {};
  }

  /** The limit that applies to `key`. */
  limitOf(key: string): RateLimit {
    return this.#overrides.get(key) ?? this.#defaults;
  }

  /**
   * The metric label of `key`: the host itself when the operator named it in an override, else
   * 'default'. Hosts come from specs, so only operator-named ones may become a series.
   */
  metricHostOf(key: string): string {
    return this.#overrides.has(key) ? key : 'default';
  }

  /** Buckets held now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Callers waiting for the host of `key`. */
  waiting(key: string): number {
    return this.#buckets.get(key)?.waiting ?? 0;
  }

  #bucketFor(key: string): TokenBucket {
    const found = this.#buckets.get(key);
    if (found) {
      this.#buckets.delete(key);
      this.#buckets.set(key, found);
      return found;
    }
    const bucket = this.#newBucket(this.limitOf(key));
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxBuckets) this.#evictIdle(key);
    return bucket;
  }

  /** Drops least recently used buckets that nobody waits on and that have refilled to burst. */
  #evictIdle(keep: string): void {
    for (const [key, bucket] of this.#buckets) {
      if (this.#buckets.size <= this.#maxBuckets) return;
      if (key === keep || bucket.waiting > 0) continue;
      if (bucket.available() >= this.limitOf(key).burst) this.#buckets.delete(key);
    }
  }

  #newBucket(limit: RateLimit): TokenBucket {
    return new TokenBucket({ ...limit, scheduler: this.#scheduler });
  }
}
