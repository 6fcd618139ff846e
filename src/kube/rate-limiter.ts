// A token bucket (qps + burst) awaited before provider calls, so that a restart, a relist or a wave
// of renewals cannot flood a provider. Waiters are served strictly first come, first served: a
// newcomer never overtakes someone already waiting, even when a token happens to be free.
import type { Clock } from '../policy/clock.ts';
import { systemClock } from '../policy/clock.ts';
import { RealScheduler, type Scheduler, type TimerHandle } from './workqueue.ts';

export interface TokenBucketOptions {
  /** Sustained rate: tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: how many calls may go at once after a quiet period. The bucket starts full. */
  burst: number;
  /** Used when no scheduler is given: real timers on this clock. */
  clock?: Clock;
  scheduler?: Scheduler;
}

interface Waiter {
  resolve: () => void;
  reject: (reason: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

// Refill arithmetic in floating point can land a hair below a whole token after the exact wait.
const EPSILON = 1e-9;

export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #scheduler: Scheduler;
  #tokens: number;
  #updatedAt: number;
  readonly #waiters: Waiter[] = [];
  #timer: TimerHandle | undefined;

  constructor(options: TokenBucketOptions) {
    const { ratePerSecond, burst } = options;
    if (!(ratePerSecond > 0 && Number.isFinite(ratePerSecond))) {
      throw new RangeError(`TokenBucket: ratePerSecond ${ratePerSecond} must be a positive number`);
    }
    if (!(Number.isInteger(burst) && burst >= 1))
      throw new RangeError(`TokenBucket: burst ${burst} must be an integer >= 1`);
    this.#ratePerMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#scheduler = options.scheduler ?? new RealScheduler({ clock: options.clock ?? systemClock });
    this.#tokens = burst;
    this.#updatedAt = this.#scheduler.now();
  }

  /** Resolves when the caller may make one call; rejects with the signal's reason if aborted first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.tryAcquire()) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<undefined>();
    const waiter: Waiter = {
      resolve: () => {
        resolve(undefined);
      },
      reject,
      signal,
      onAbort: () => {
        this.#abandon(waiter);
      },
    };
    signal?.addEventListener('abort', waiter.onAbort, { once: true });
    this.#waiters.push(waiter);
    this.#arm();
    return promise;
  }

  /** Takes a token if one is free and nobody is waiting; never waits. */
  tryAcquire(): boolean {
    this.#refill();
    if (this.#waiters.length > 0 || this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Callers waiting for a token. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Tokens in the bucket now (fractional). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = this.#scheduler.now();
    // A clock set back must not drain the bucket.
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerMs);
    this.#updatedAt = now;
  }

  #serve(): void {
    this.#refill();
    for (let waiter = this.#waiters[0]; waiter && this.#tokens >= 1 - EPSILON; waiter = this.#waiters[0]) {
      this.#waiters.shift();
      this.#tokens = Math.max(0, this.#tokens - 1);
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve();
    }
    this.#arm();
  }

  /** One timer, for when the first waiter's token will be there. */
  #arm(): void {
    if (this.#timer) this.#scheduler.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiters.length === 0) return;
    this.#refill();
    const delayMs = this.#tokens >= 1 - EPSILON ? 0 : Math.ceil((1 - this.#tokens) / this.#ratePerMs);
    this.#timer = this.#scheduler.setTimeout(() => {
      this.#timer = undefined;
      this.#serve();
    }, delayMs);
  }

  #abandon(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index === -1) return;
    this.#waiters.splice(index, 1);
    if (waiter.signal) waiter.reject(abortReason(waiter.signal));
    // Tokens saved up for the one who left belong to the next in line.
    this.#serve();
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('the operation was aborted', 'AbortError');
}
