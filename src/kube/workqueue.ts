// A keyed work queue with controller-runtime / client-go semantics, and the timer source it runs on.
//
// - A key added while queued is one item; a key added while processing is marked to run again, and
//   runs again only after the current run finishes. No two workers ever hold the same key.
// - One pending time per key, and the earliest wins: add() now beats any addAfter(), a shorter
//   addAfter() replaces a longer one, a longer one is ignored. The reconcile recomputes its next
//   time from status on every run, so a dropped later time is never lost.
// - Keys whose addAfter() timer fired go first, DUE_PER_ADDED at a time, then one key add() made due:
//   a renewal that is due does not wait behind a burst of new or changed objects (1,000 created
//   during a renewal round of 10,000 made the renewals due meanwhile late by p99 27.7 s behind a FIFO
//   queue), and new objects are not starved by a round that keeps the due lane full (with strict
//   precedence, 1,000 new credentials were not Ready in 320 s). Within each lane, FIFO.
// - addRateLimited(): per-key exponential backoff with jitter (5 ms → 1000 s like controller-runtime);
//   forget() resets it.
// - run(workers, handler): bounded concurrency. The handler's result may ask for { requeueAfterMs };
//   a throw means addRateLimited (a failure retrying cannot fix is the handler's to absorb: the
//   reconciler returns without requeue for it).
// - shutdown(): no new work is taken (queued and delayed items are dropped: the next leader lists
//   everything anyway) and it resolves once in-flight handlers have finished.
import type { Clock } from '../policy/clock.ts';
import { ManualClock, systemClock } from '../policy/clock.ts';
import { exponentialBackoff } from '../policy/backoff.ts';
import { MAX_TIMER_DELAY_MS } from '../policy/renewal.ts';

/* ------------------------------------------------------------------------------------------------
 * Timers on an injected clock
 * ---------------------------------------------------------------------------------------------- */

/** An opaque handle from Scheduler.setTimeout. */
export interface TimerHandle {
  /** Epoch ms on the scheduler's clock when the timer is due. */
  readonly dueAt: number;
}

/** setTimeout/clearTimeout whose notion of "when" is the injected clock. */
export interface Scheduler extends Clock {
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The host's timer functions, injectable so RealScheduler itself can be tested without waiting. */
export interface TimerFunctions {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: TimerFunctions = {
  setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle) => {
    globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
  },
};

/**
 * Real timers. A timer fires when the clock reaches its due time: delays beyond 2^31-1 ms are armed
 * in steps, and a timer that wakes before the clock agrees (a step, or a clock set back) re-arms
 * for the rest.
 */
export class RealScheduler implements Scheduler {
  readonly #clock: Clock;
  readonly #timers: TimerFunctions;
  readonly #armed = new Map<TimerHandle, unknown>();

  constructor(options: { clock?: Clock; timers?: TimerFunctions } = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? nodeTimers;
  }

  now(): number {
    return this.#clock.now();
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = { dueAt: this.now() + Math.max(0, delayMs) };
    this.#arm(handle, callback);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    const armed = this.#armed.get(handle);
    if (armed === undefined) return;
    this.#armed.delete(handle);
    this.#timers.clearTimeout(armed);
  }

  #arm(handle: TimerHandle, callback: () => void): void {
    const remaining = Math.min(Math.max(0, Math.ceil(handle.dueAt - this.now())), MAX_TIMER_DELAY_MS);
    const armed = this.#timers.setTimeout(() => {
      if (!this.#armed.has(handle)) return;
      if (this.now() < handle.dueAt) {
        this.#arm(handle, callback);
        return;
      }
      this.#armed.delete(handle);
      callback();
    }, remaining);
    this.#armed.set(handle, armed);
  }
}

interface ManualTimer extends TimerHandle {
  readonly sequence: number;
  readonly callback: () => void;
}

/**
 * Timers for tests: nothing fires until advance() moves the ManualClock, which then fires every
 * timer that comes due, in due order (ties in creation order), with the clock set to each due time.
 */
export class ManualScheduler implements Scheduler {
  readonly clock: ManualClock;
  #timers: ManualTimer[] = [];
  #sequence = 0;

  constructor(clock: ManualClock = new ManualClock()) {
    this.clock = clock;
  }

  now(): number {
    return this.clock.now();
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = {
      dueAt: this.now() + Math.max(0, delayMs),
      sequence: this.#sequence++,
      callback,
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer !== handle);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Due time of the next timer, if any. */
  nextDueAt(): number | undefined {
    return this.#next()?.dueAt;
  }

  /** Moves the clock forward by ms, firing what comes due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualScheduler.advance: ${ms} must be >= 0`);
    const target = this.now() + ms;
    this.#fireUntil(target);
    this.clock.set(Math.max(this.now(), target));
  }

  /** Fires timers already due, for tests that moved the ManualClock directly. */
  fireDue(): void {
    this.#fireUntil(this.now());
  }

  #fireUntil(target: number): void {
    // A callback that keeps scheduling zero-delay timers would otherwise never let this return.
    for (let fired = 0; ; fired++) {
      if (fired > 100_000) throw new Error('ManualScheduler: more than 100000 timers fired in one step');
      const next = this.#next();
      if (next === undefined || next.dueAt > target) return;
      this.#timers = this.#timers.filter((timer) => timer !== next);
      this.clock.set(Math.max(this.now(), next.dueAt));
      next.callback();
    }
  }

  #next(): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (
        next === undefined ||
        timer.dueAt < next.dueAt ||
        (timer.dueAt === next.dueAt && timer.sequence < next.sequence)
      ) {
        next = timer;
      }
    }
    return next;
  }
}

/* ------------------------------------------------------------------------------------------------
 * The work queue
 * ---------------------------------------------------------------------------------------------- */

export interface WorkResult {
  /** Run the key again after this long (0: as soon as this run is done). */
  requeueAfterMs?: number;
}

export interface WorkContext {
  /** How many times the key has been rate-limited since its last success (numRequeues). */
  requeues: number;
}

export type WorkHandler<K extends string> = (key: K, context: WorkContext) => Promise<WorkResult | undefined>;

/** controller-runtime's reconcile result label values (a subset of the metrics module's). */
export type WorkOutcome = 'success' | 'requeue' | 'requeue_after' | 'error';

/** client-go workqueue metrics plus controller-runtime reconcile counts; every hook is optional. */
export interface WorkQueueMetrics {
  added?: () => void;
  setDepth?: (depth: number) => void;
  observeQueueDuration?: (seconds: number) => void;
  observeWorkDuration?: (seconds: number) => void;
  retried?: () => void;
  setUnfinishedWorkSeconds?: (seconds: number) => void;
  setLongestRunningProcessorSeconds?: (seconds: number) => void;
  reconciled?: (outcome: WorkOutcome, seconds: number) => void;
  setActiveWorkers?: (count: number) => void;
}

export interface ItemBackoff {
  /** Delay after the first failure. */
  baseMs: number;
  capMs: number;
  /** Each delay is drawn from [(1 - jitterFraction) * d, d]: jitter never lengthens it. */
  jitterFraction: number;
}

/** controller-runtime's per-item limiter: 5 ms doubling to 1000 s; plus 10% jitter. */
export const DEFAULT_ITEM_BACKOFF: Readonly<ItemBackoff> = {
  baseMs: 5,
  capMs: 1_000_000,
  jitterFraction: 0.1,
};

export interface WorkQueueOptions<K extends string> {
  /** For messages only; metrics hooks are already per queue. */
  name?: string;
  /** Used when no scheduler is given: real timers on this clock. */
  clock?: Clock;
  scheduler?: Scheduler;
  backoff?: Partial<ItemBackoff>;
  /** Uniform in [0, 1), for backoff jitter. */
  random?: () => number;
  metrics?: WorkQueueMetrics;
  /** How often unfinished-work gauges are updated while work is in flight (client-go: 500 ms). */
  metricsIntervalMs?: number;
  /** Every handler failure; the queue itself only counts them. */
  onError?: (key: K, error: unknown, outcome: 'error') => void;
}

interface Delayed {
  readyAt: number;
  timer: TimerHandle;
}

/** Timer-due keys served before one add()ed key, when both wait. */
export const DUE_PER_ADDED = 4;

export class WorkQueue<K extends string = string> {
  readonly name: string;
  readonly #scheduler: Scheduler;
  readonly #backoff: ItemBackoff;
  readonly #random: () => number;
  readonly #metrics: WorkQueueMetrics;
  readonly #metricsIntervalMs: number;
  readonly #onError: WorkQueueOptions<K>['onError'];

  /** Ready to run because their time came (addAfter timers), in FIFO order; served first, with one
   * add()ed key after every DUE_PER_ADDED of them. */
  readonly #timerDue = new Set<K>();
  /** Ready to run because add() was called, in FIFO order. Neither set holds a processing key, and a
   * key is in at most one of them. */
  readonly #queued = new Set<K>();
  /** Processing, with their start times. */
  readonly #processing = new Map<K, number>();
  /** Processing keys that were added again: they run once more when the current run ends. */
  readonly #again = new Set<K>();
  readonly #delayed = new Map<K, Delayed>();
  readonly #failures = new Map<K, number>();
  /** When each queued (or again-marked) key became due, for the queue-latency metric. */
  readonly #dueSince = new Map<K, number>();

  /** Timer-due keys started since the last add()ed one, while add()ed ones waited. */
  #dueStreak = 0;
  #handler: WorkHandler<K> | undefined;
  #workers = 0;
  #pumpScheduled = false;
  #metricsTimer: TimerHandle | undefined;
  #shuttingDown = false;
  readonly #drained = Promise.withResolvers<undefined>();

  constructor(options: WorkQueueOptions<K> = {}) {
    this.name = options.name ?? 'workqueue';
    this.#scheduler = options.scheduler ?? new RealScheduler({ clock: options.clock ?? systemClock });
    this.#backoff = { ...DEFAULT_ITEM_BACKOFF, ...options.backoff };
    this.#random = options.random ?? Math.random;
    this.#metrics = options.metrics ?? {};
    this.#metricsIntervalMs = options.metricsIntervalMs ?? 500;
    this.#onError = options.onError;
  }

  /** Makes the key due now. */
  add(key: K): void {
    this.#makeDue(key, this.#queued);
  }

  #makeDue(key: K, lane: Set<K>): void {
    if (this.#shuttingDown) return;
    this.#cancelDelayed(key);
    if (this.#processing.has(key)) {
      if (!this.#again.has(key)) this.#markDue(key, this.#again);
      return;
    }
    // A queued key has no timer (add() cancels it, addAfter() skips it), so only a new key takes a lane.
    if (this.#timerDue.has(key) || this.#queued.has(key)) return;
    this.#markDue(key, lane);
    this.#schedulePump();
  }

  /** Makes the key due after delayMs, unless it is already due sooner. Infinity: never. */
  addAfter(key: K, delayMs: number): void {
    if (this.#shuttingDown || delayMs === Infinity) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    if (this.#queued.has(key) || this.#timerDue.has(key) || this.#again.has(key)) return;
    const readyAt = this.#scheduler.now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing && existing.readyAt <= readyAt) return;
    this.#cancelDelayed(key);
    const timer = this.#scheduler.setTimeout(() => {
      this.#delayed.delete(key);
      this.#makeDue(key, this.#timerDue);
    }, delayMs);
    this.#delayed.set(key, { readyAt, timer });
  }

  /** Makes the key due after its backoff, and counts one more failure for it. */
  addRateLimited(key: K): void {
    if (this.#shuttingDown) return;
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.#hook((m) => m.retried?.());
    this.addAfter(key, this.backoffDelay(failures));
  }

  /** The delay addRateLimited uses after `failures` earlier failures (0 for the first). */
  backoffDelay(failures: number): number {
    const { baseMs, capMs, jitterFraction } = this.#backoff;
    const jitter = { shape: 'shorten', fraction: jitterFraction } as const;
    return exponentialBackoff({ baseMs, capMs, jitter }, failures, this.#random);
  }

  /** Forgets the key's failures: its next addRateLimited starts from the base delay again. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Keys ready to run (the depth metric). */
  len(): number {
    return this.#queued.size + this.#timerDue.size;
  }

  stats(): { queued: number; processing: number; delayed: number } {
    return { queued: this.len(), processing: this.#processing.size, delayed: this.#delayed.size };
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Processes keys with up to `workers` handlers at once; resolves when shutdown() has drained. */
  run(workers: number, handler: WorkHandler<K>): Promise<void> {
    if (!Number.isInteger(workers) || workers < 1)
      throw new RangeError(`${this.name}: workers must be a positive integer`);
    if (this.#handler) throw new Error(`${this.name}: run() was already called`);
    this.#handler = handler;
    this.#workers = workers;
    this.#schedulePump();
    return this.#drained.promise;
  }

  /** Stops taking work and resolves when in-flight handlers have finished. Idempotent. */
  shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const key of [...this.#delayed.keys()]) this.#cancelDelayed(key);
      this.#queued.clear();
      this.#timerDue.clear();
      this.#again.clear();
      this.#dueSince.clear();
      this.#hook((m) => m.setDepth?.(0));
      this.#resolveIfDrained();
    }
    return this.#drained.promise;
  }

  #markDue(key: K, set: Set<K>): void {
    set.add(key);
    this.#dueSince.set(key, this.#scheduler.now());
    this.#hook((m) => m.added?.());
    if (set !== this.#again) this.#hook((m) => m.setDepth?.(this.len()));
  }

  #cancelDelayed(key: K): void {
    const delayed = this.#delayed.get(key);
    if (!delayed) return;
    this.#delayed.delete(key);
    this.#scheduler.clearTimeout(delayed.timer);
  }

  // Handlers start from a microtask, never inside the caller's add(): an informer callback must
  // not run reconcile code on its own stack.
  #schedulePump(): void {
    if (this.#pumpScheduled || !this.#handler) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    const handler = this.#handler;
    if (!handler || this.#shuttingDown) return;
    let started = false;
    while (this.#processing.size < this.#workers) {
      const key = this.#nextKey();
      if (key === undefined) break;
      this.#processing.set(key, this.#scheduler.now());
      started = true;
      void this.#process(key, handler);
    }
    if (!started) return;
    this.#hook((m) => m.setDepth?.(this.len()));
    this.#hook((m) => m.setActiveWorkers?.(this.#processing.size));
    this.#armMetricsTimer();
  }

  /** Takes the next key to run: timer-due first, but one add()ed key after DUE_PER_ADDED of them. */
  #nextKey(): K | undefined {
    const due = this.#timerDue.values().next();
    const added = this.#queued.values().next();
    if (!due.done && (added.done || this.#dueStreak < DUE_PER_ADDED)) {
      this.#dueStreak = added.done ? 0 : this.#dueStreak + 1;
      this.#timerDue.delete(due.value);
      return due.value;
    }
    this.#dueStreak = 0;
    if (added.done) return undefined;
    this.#queued.delete(added.value);
    return added.value;
  }

  async #process(key: K, handler: WorkHandler<K>): Promise<void> {
    const started = this.#processing.get(key) ?? this.#scheduler.now();
    const dueSince = this.#dueSince.get(key);
    this.#dueSince.delete(key);
    if (dueSince !== undefined) this.#hook((m) => m.observeQueueDuration?.((started - dueSince) / 1000));

    let outcome: WorkOutcome;
    try {
      const result = await handler(key, { requeues: this.numRequeues(key) });
      outcome = this.#afterSuccess(key, result?.requeueAfterMs);
    } catch (error) {
      outcome = this.#afterFailure(key, error);
    }
    const seconds = (this.#scheduler.now() - started) / 1000;
    this.#hook((m) => m.observeWorkDuration?.(seconds));
    this.#hook((m) => m.reconciled?.(outcome, seconds));
    this.#done(key);
  }

  #afterSuccess(key: K, requeueAfterMs: number | undefined): WorkOutcome {
    this.forget(key);
    if (requeueAfterMs === undefined) return 'success';
    this.addAfter(key, requeueAfterMs);
    return requeueAfterMs > 0 ? 'requeue_after' : 'requeue';
  }

  #afterFailure(key: K, error: unknown): WorkOutcome {
    this.addRateLimited(key);
    const outcome = 'error';
    const onError = this.#onError;
    if (onError)
      this.#safely(() => {
        onError(key, error, outcome);
      });
    return outcome;
  }

  #done(key: K): void {
    this.#processing.delete(key);
    if (this.#again.delete(key)) {
      this.#queued.add(key);
      this.#hook((m) => m.setDepth?.(this.len()));
    }
    this.#hook((m) => m.setActiveWorkers?.(this.#processing.size));
    if (this.#processing.size === 0) this.#reportUnfinishedWork();
    this.#resolveIfDrained();
    this.#schedulePump();
  }

  #resolveIfDrained(): void {
    if (this.#shuttingDown && this.#processing.size === 0) {
      if (this.#metricsTimer) this.#scheduler.clearTimeout(this.#metricsTimer);
      this.#metricsTimer = undefined;
      this.#drained.resolve(undefined);
    }
  }

  // client-go updates the unfinished-work gauges on a ticker; here the ticker runs only while
  // something is in flight, so an idle queue holds no timer.
  #armMetricsTimer(): void {
    const wanted = this.#metrics.setUnfinishedWorkSeconds ?? this.#metrics.setLongestRunningProcessorSeconds;
    if (wanted === undefined || this.#metricsTimer || this.#processing.size === 0) return;
    this.#metricsTimer = this.#scheduler.setTimeout(() => {
      this.#metricsTimer = undefined;
      this.#reportUnfinishedWork();
      this.#armMetricsTimer();
    }, this.#metricsIntervalMs);
  }

  #reportUnfinishedWork(): void {
    const now = this.#scheduler.now();
    let total = 0;
    let longest = 0;
    for (const started of this.#processing.values()) {
      total += now - started;
      longest = Math.max(longest, now - started);
    }
    this.#hook((m) => m.setUnfinishedWorkSeconds?.(total / 1000));
    this.#hook((m) => m.setLongestRunningProcessorSeconds?.(longest / 1000));
  }

  #hook(call: (metrics: WorkQueueMetrics) => void): void {
    this.#safely(() => {
      call(this.#metrics);
    });
  }

  // A broken metrics or logging hook must never wedge the queue.
  #safely(call: () => void): void {
    try {
      call();
    } catch {
      // ignored on purpose
    }
  }
}
