import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../policy/clock.ts';
import { MAX_TIMER_DELAY_MS } from '../policy/renewal.ts';
import {
  DEFAULT_ITEM_BACKOFF,
  DUE_PER_ADDED,
  ManualScheduler,
  RealScheduler,
  WorkQueue,
  type TimerFunctions,
  type WorkOutcome,
  type WorkQueueMetrics,
  type WorkQueueOptions,
  type WorkResult,
} from './workqueue.ts';

const T0 = Date.UTC(2026, 0, 1);
const S = 1000;

/** Lets every queued promise continuation run; the queue's chains are a few microtasks long. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await Promise.resolve();
}

interface Run {
  key: string;
  requeues: number;
  startedAt: number;
  finish(result?: WorkResult): void;
  fail(error: unknown): void;
}

/** A queue on a manual clock whose handler runs stay open until the test finishes them. */
function harness(options: Partial<WorkQueueOptions<string>> = {}, workers = 1) {
  const scheduler = new ManualScheduler(new ManualClock(T0));
  const queue = new WorkQueue<string>({ scheduler, random: () => 0, ...options });
  const runs: Run[] = [];
  const open = new Set<Run>();
  const running = queue.run(workers, (key, context) => {
    const { promise, resolve, reject } = Promise.withResolvers<WorkResult | undefined>();
    const run: Run = {
      key,
      requeues: context.requeues,
      startedAt: scheduler.now(),
      finish: (result) => {
        open.delete(run);
        resolve(result);
      },
      fail: (error) => {
        open.delete(run);
        reject(error);
      },
    };
    runs.push(run);
    open.add(run);
    return promise;
  });
  const only = (key: string): Run => {
    const matching = [...open].filter((run) => run.key === key);
    expect(matching).toHaveLength(1);
    return matching[0] as Run;
  };
  const keys = (): string[] => runs.map((run) => run.key);
  const advance = async (ms: number): Promise<void> => {
    await settle();
    scheduler.advance(ms);
    await settle();
  };
  return { scheduler, queue, runs, open, running, only, keys, advance };
}

describe('ManualScheduler', () => {
  it('fires due timers in due order, ties in creation order, with the clock at each due time', () => {
    const scheduler = new ManualScheduler(new ManualClock(T0));
    const fired: [string, number][] = [];
    const record = (name: string) => () => fired.push([name, scheduler.now() - T0]);
    scheduler.setTimeout(record('c'), 30);
    scheduler.setTimeout(record('a1'), 10);
    scheduler.setTimeout(record('a2'), 10);
    const cancelled = scheduler.setTimeout(record('x'), 20);
    scheduler.clearTimeout(cancelled);
    scheduler.setTimeout(record('late'), 100);
    expect(scheduler.pending).toBe(4);
    expect(scheduler.nextDueAt()).toBe(T0 + 10);

    scheduler.advance(50);
    expect(fired).toEqual([
      ['a1', 10],
      ['a2', 10],
      ['c', 30],
    ]);
    expect(scheduler.now()).toBe(T0 + 50);
    expect(scheduler.pending).toBe(1);
  });

  it('fires timers that callbacks schedule inside the same step', () => {
    const scheduler = new ManualScheduler(new ManualClock(T0));
    const fired: number[] = [];
    scheduler.setTimeout(() => {
      fired.push(scheduler.now() - T0);
      scheduler.setTimeout(() => fired.push(scheduler.now() - T0), 5);
    }, 10);
    scheduler.advance(20);
    expect(fired).toEqual([10, 15]);
  });

  it('fires zero-delay timers on advance(0), and due ones after the clock was moved directly', () => {
    const clock = new ManualClock(T0);
    const scheduler = new ManualScheduler(clock);
    const fired: string[] = [];
    scheduler.setTimeout(() => fired.push('now'), 0);
    scheduler.setTimeout(() => fired.push('later'), 1000);
    scheduler.advance(0);
    expect(fired).toEqual(['now']);
    clock.advance(1000);
    expect(fired).toEqual(['now']);
    scheduler.fireDue();
    expect(fired).toEqual(['now', 'later']);
  });

  it('refuses to go back in time and stops a runaway callback', () => {
    const scheduler = new ManualScheduler(new ManualClock(T0));
    expect(() => {
      scheduler.advance(-1);
    }).toThrow(RangeError);
    const again = (): void => {
      scheduler.setTimeout(again, 0);
    };
    scheduler.setTimeout(again, 0);
    expect(() => {
      scheduler.advance(0);
    }).toThrow(/more than 100000 timers/);
  });
});

describe('RealScheduler', () => {
  function fakeTimers() {
    const armed: { id: number; delayMs: number; callback: () => void }[] = [];
    const cleared: number[] = [];
    let next = 0;
    const timers: TimerFunctions = {
      setTimeout: (callback, delayMs) => {
        armed.push({ id: next, delayMs, callback });
        return next++;
      },
      clearTimeout: (handle) => {
        cleared.push(handle as number);
      },
    };
    return { armed, cleared, timers };
  }

  it.each<[string, number, number]>([
    ['a short delay is armed as is', 1500, 1500],
    ['a fractional delay is rounded up, never early', 1.2, 2],
    ['a negative delay is armed as zero', -5, 0],
    ['a delay beyond 2^31-1 ms is armed in steps', 30 * 24 * 3600 * S, MAX_TIMER_DELAY_MS],
  ])('%s', (_, delayMs, armedMs) => {
    const { armed, timers } = fakeTimers();
    const scheduler = new RealScheduler({ clock: new ManualClock(T0), timers });
    scheduler.setTimeout(() => undefined, delayMs);
    expect(armed.map((timer) => timer.delayMs)).toEqual([armedMs]);
  });

  it('re-arms when woken before the clock reaches the due time, then fires once', () => {
    const clock = new ManualClock(T0);
    const { armed, timers } = fakeTimers();
    const scheduler = new RealScheduler({ clock, timers });
    let fired = 0;
    const due = 30 * 24 * 3600 * S;
    scheduler.setTimeout(() => fired++, due);

    clock.advance(MAX_TIMER_DELAY_MS);
    armed[0]?.callback();
    expect(fired).toBe(0);
    expect(armed[1]?.delayMs).toBe(due - MAX_TIMER_DELAY_MS);

    clock.advance(due - MAX_TIMER_DELAY_MS);
    armed[1]?.callback();
    expect(fired).toBe(1);
    expect(armed).toHaveLength(2);
  });

  it('clearTimeout clears the host timer, and a stale wake-up does not fire', () => {
    const clock = new ManualClock(T0);
    const { armed, cleared, timers } = fakeTimers();
    const scheduler = new RealScheduler({ clock, timers });
    let fired = 0;
    const handle = scheduler.setTimeout(() => fired++, 100);
    expect(handle.dueAt).toBe(T0 + 100);
    scheduler.clearTimeout(handle);
    scheduler.clearTimeout(handle);
    expect(cleared).toEqual([0]);
    clock.advance(100);
    armed[0]?.callback();
    expect(fired).toBe(0);
  });

  it('reads time from its clock', () => {
    expect(new RealScheduler({ clock: new ManualClock(T0 + 7) }).now()).toBe(T0 + 7);
  });
});

describe('WorkQueue: deduplication and one worker per key', () => {
  it('a key added several times while queued runs once', async () => {
    const h = harness();
    h.queue.add('a');
    h.queue.add('a');
    h.queue.add('a');
    expect(h.queue.len()).toBe(1);
    await settle();
    expect(h.keys()).toEqual(['a']);
    h.only('a').finish();
    await settle();
    expect(h.keys()).toEqual(['a']);
  });

  it('does not start handlers on the caller stack of add()', async () => {
    const h = harness();
    h.queue.add('a');
    expect(h.runs).toHaveLength(0);
    await settle();
    expect(h.runs).toHaveLength(1);
  });

  it('a key added while processing runs again once, only after the current run finishes', async () => {
    const h = harness({}, 4);
    h.queue.add('a');
    await settle();
    h.queue.add('a');
    h.queue.add('a');
    await settle();
    expect(h.keys()).toEqual(['a']);
    expect(h.queue.stats()).toEqual({ queued: 0, processing: 1, delayed: 0 });

    h.only('a').finish();
    await settle();
    expect(h.keys()).toEqual(['a', 'a']);
    h.only('a').finish();
    await settle();
    expect(h.keys()).toEqual(['a', 'a']);
  });

  it('runs at most `workers` keys at once, in FIFO order', async () => {
    const h = harness({}, 2);
    for (const key of ['a', 'b', 'c', 'd', 'e']) h.queue.add(key);
    await settle();
    expect(h.keys()).toEqual(['a', 'b']);
    expect(h.queue.len()).toBe(3);
    h.only('b').finish();
    await settle();
    expect(h.keys()).toEqual(['a', 'b', 'c']);
    h.only('a').finish();
    h.only('c').finish();
    await settle();
    expect(h.keys()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it.each([0, 1.5, -1, Number.NaN])('refuses %d workers', (workers) => {
    const queue = new WorkQueue({ scheduler: new ManualScheduler() });
    expect(() => queue.run(workers, () => Promise.resolve(undefined))).toThrow(RangeError);
  });

  it('refuses a second run()', () => {
    const queue = new WorkQueue({ scheduler: new ManualScheduler() });
    void queue.run(1, () => Promise.resolve(undefined));
    expect(() => queue.run(1, () => Promise.resolve(undefined))).toThrow(/already called/);
  });
});

describe('WorkQueue: keys whose time came run before add()ed ones', () => {
  it('a renewal timer that fires during a burst of creations runs next, not behind the burst', async () => {
    const h = harness({}, 1);
    h.queue.add('busy');
    h.queue.addAfter('renewal', 10 * S);
    await settle();
    for (const key of ['new-1', 'new-2', 'new-3']) h.queue.add(key);
    await h.advance(10 * S);
    expect(h.queue.len()).toBe(4);
    h.only('busy').finish();
    await settle();
    expect(h.keys()).toEqual(['busy', 'renewal']);
    h.only('renewal').finish();
    await settle();
    h.only('new-1').finish();
    await settle();
    h.only('new-2').finish();
    await settle();
    expect(h.keys()).toEqual(['busy', 'renewal', 'new-1', 'new-2', 'new-3']);
  });

  it('add() of a key whose timer already fired keeps it first, as one item', async () => {
    const h = harness({}, 1);
    h.queue.add('busy');
    await settle();
    h.queue.add('a');
    h.queue.add('b');
    h.queue.addAfter('c', 5 * S);
    await h.advance(5 * S);
    h.queue.add('c');
    expect(h.queue.len()).toBe(3);
    h.only('busy').finish();
    await settle();
    h.only('c').finish();
    await settle();
    h.only('a').finish();
    await settle();
    h.only('b').finish();
    await settle();
    expect(h.keys()).toEqual(['busy', 'c', 'a', 'b']);
  });

  it('add() before the timer fires cancels it: the key keeps its place among add()ed keys', async () => {
    const h = harness({}, 1);
    h.queue.add('busy');
    await settle();
    h.queue.addAfter('b', 5 * S);
    h.queue.add('a');
    h.queue.add('b');
    await h.advance(5 * S);
    expect(h.queue.len()).toBe(2);
    h.only('busy').finish();
    await settle();
    h.only('a').finish();
    await settle();
    expect(h.keys()).toEqual(['busy', 'a', 'b']);
  });

  it('an add()ed key is not starved by a due lane that stays full: it runs after DUE_PER_ADDED due keys', async () => {
    const h = harness({}, 1);
    h.queue.add('busy');
    for (let i = 0; i < 10; i++) h.queue.addAfter(`due-${String(i)}`, S);
    await h.advance(S);
    h.queue.add('created');
    for (let i = 0; i < 11; i++) {
      h.only(h.keys().at(-1) ?? '').finish();
      await settle();
    }
    const order = h.keys();
    expect(order.indexOf('created')).toBe(1 + DUE_PER_ADDED);
    expect(order.filter((key) => key.startsWith('due-'))).toEqual(
      Array.from({ length: 10 }, (_, i) => `due-${String(i)}`),
    );
  });

  it('timer-due keys keep FIFO order among themselves', async () => {
    const h = harness({}, 1);
    h.queue.add('busy');
    h.queue.addAfter('late', 2 * S);
    h.queue.addAfter('early', 1 * S);
    h.queue.add('created');
    await h.advance(2 * S);
    h.only('busy').finish();
    await settle();
    h.only('early').finish();
    await settle();
    h.only('late').finish();
    await settle();
    expect(h.keys()).toEqual(['busy', 'early', 'late', 'created']);
  });
});

describe('WorkQueue: addAfter keeps the earliest pending time', () => {
  type Step = ['add'] | ['after', number] | ['advance', number];
  it.each<[string, Step[], number[]]>([
    ['a single delay', [['after', 10 * S]], [10 * S]],
    [
      'a shorter delay replaces a longer one',
      [
        ['after', 10 * S],
        ['after', 5 * S],
      ],
      [5 * S],
    ],
    [
      'a longer delay is ignored',
      [
        ['after', 5 * S],
        ['after', 10 * S],
      ],
      [5 * S],
    ],
    ['add() now beats a pending delay', [['after', 10 * S], ['add']], [0]],
    ['a delay is ignored while the key is queued', [['add'], ['after', 5 * S]], [0]],
    ['zero delay means now', [['after', 0]], [0]],
    ['a negative delay means now', [['after', -5]], [0]],
    ['NaN means now', [['after', Number.NaN]], [0]],
    ['Infinity means never', [['after', Infinity]], []],
    [
      'a later request made after time passed still compares absolute times',
      [
        ['after', 10 * S],
        ['advance', 4 * S],
        ['after', 5 * S],
      ],
      [9 * S],
    ],
    [
      'a shorter request made after time passed, landing earlier, wins',
      [
        ['after', 10 * S],
        ['advance', 4 * S],
        ['after', 3 * S],
      ],
      [7 * S],
    ],
  ])('%s', async (_, steps, startedAt) => {
    const h = harness();
    for (const step of steps) {
      if (step[0] === 'add') h.queue.add('a');
      else if (step[0] === 'after') h.queue.addAfter('a', step[1]);
      else h.scheduler.advance(step[1]);
    }
    for (let i = 0; i < 30; i++) {
      await settle();
      for (const run of [...h.open]) run.finish();
      await h.advance(S);
    }
    expect(h.runs.map((run) => run.startedAt - T0)).toEqual(startedAt);
    expect(h.scheduler.pending).toBe(0);
  });

  it('a delay requested while the key is processing runs it again later', async () => {
    const h = harness();
    h.queue.add('a');
    await settle();
    h.queue.addAfter('a', 5 * S);
    await h.advance(2 * S);
    h.only('a').finish();
    await settle();
    expect(h.runs).toHaveLength(1);
    await h.advance(3 * S);
    expect(h.runs.map((run) => run.startedAt - T0)).toEqual([0, 5 * S]);
  });

  it('add() while processing cancels a pending delay', async () => {
    const h = harness();
    h.queue.add('a');
    await settle();
    h.queue.addAfter('a', 5 * S);
    h.queue.add('a');
    expect(h.scheduler.pending).toBe(0);
    h.only('a').finish();
    await settle();
    h.only('a').finish();
    await h.advance(10 * S);
    expect(h.runs).toHaveLength(2);
  });
});

describe('WorkQueue: handler results', () => {
  it.each<[string, WorkResult | undefined, number[]]>([
    ['no result: not requeued', undefined, [0]],
    ['an empty result: not requeued', {}, [0]],
    ['requeueAfterMs: runs again that long after the run ended', { requeueAfterMs: 30 * S }, [0, 32 * S]],
    ['requeueAfterMs 0: runs again as soon as this run is done', { requeueAfterMs: 0 }, [0, 2 * S]],
  ])('%s', async (_, result, startedAt) => {
    const h = harness();
    h.queue.add('a');
    await settle();
    await h.advance(2 * S);
    h.only('a').finish(result);
    await settle();
    for (let i = 0; i < 60; i++) {
      await h.advance(S);
      for (const run of [...h.open]) if (run !== h.runs[0]) run.finish();
    }
    expect(h.runs.map((run) => run.startedAt - T0)).toEqual(startedAt);
  });

  it('a thrown error requeues with per-key exponential backoff, and success forgets it', async () => {
    const errors: [string, string][] = [];
    const h = harness({ onError: (key, _error, outcome) => errors.push([key, outcome]) });
    h.queue.add('a');
    await settle();
    const delays: number[] = [];
    for (let failure = 0; failure < 4; failure++) {
      const run = h.only('a');
      expect(run.requeues).toBe(failure);
      run.fail(new Error('provider down'));
      await settle();
      expect(h.queue.numRequeues('a')).toBe(failure + 1);
      const dueAt = h.scheduler.nextDueAt() ?? 0;
      delays.push(dueAt - h.scheduler.now());
      await h.advance(dueAt - h.scheduler.now());
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    expect(errors).toEqual([
      ['a', 'error'],
      ['a', 'error'],
      ['a', 'error'],
      ['a', 'error'],
    ]);
    h.only('a').finish();
    await settle();
    expect(h.queue.numRequeues('a')).toBe(0);
  });

  it('a thrown non-Error value is a failure too', async () => {
    const h = harness();
    h.queue.add('a');
    await settle();
    h.only('a').fail('a string');
    await settle();
    expect(h.queue.numRequeues('a')).toBe(1);
  });

  it('a failing onError hook does not wedge the queue', async () => {
    const h = harness({
      onError: () => {
        throw new Error('logger broke');
      },
    });
    h.queue.add('a');
    await settle();
    h.only('a').fail(new Error('x'));
    await h.advance(5);
    expect(h.runs).toHaveLength(2);
  });
});

describe('WorkQueue: addRateLimited and forget', () => {
  it.each<[string, number, number, Partial<WorkQueueOptions<string>>]>([
    ['the first failure waits 5 ms', 0, 5, {}],
    ['the tenth waits 5 ms * 2^9', 9, 2560, {}],
    ['the cap is 1000 s', 18, 1_000_000, {}],
    ['and stays there', 500, 1_000_000, {}],
    ['jitter only shortens: 10% of a middle draw', 3, 40 * 0.95, { random: () => 0.5 }],
    ['a custom base and cap', 4, 60 * S, { backoff: { baseMs: 5 * S, capMs: 60 * S } }],
  ])('%s', (_, failures, delay, options) => {
    const queue = new WorkQueue({ scheduler: new ManualScheduler(), random: () => 0, ...options });
    expect(queue.backoffDelay(failures)).toBeCloseTo(delay, 9);
  });

  it('matches controller-runtime defaults', () => {
    expect(DEFAULT_ITEM_BACKOFF).toEqual({ baseMs: 5, capMs: 1_000_000, jitterFraction: 0.1 });
  });

  it('counts failures per key, and forget() resets one key only', () => {
    const queue = new WorkQueue({ scheduler: new ManualScheduler() });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('b');
    expect([queue.numRequeues('a'), queue.numRequeues('b'), queue.numRequeues('c')]).toEqual([2, 1, 0]);
    queue.forget('a');
    expect([queue.numRequeues('a'), queue.numRequeues('b')]).toEqual([0, 1]);
  });
});

describe('WorkQueue: shutdown drains', () => {
  it('stops taking work, drops queued and delayed keys, and resolves when in-flight handlers finish', async () => {
    const h = harness({}, 1);
    h.queue.add('a');
    h.queue.add('b');
    h.queue.addAfter('c', 5 * S);
    await settle();
    let drained = false;
    let ran = false;
    const stopped = h.queue.shutdown().then(() => {
      drained = true;
    });
    void h.running.then(() => {
      ran = true;
    });
    expect(h.queue.shuttingDown).toBe(true);
    expect(h.scheduler.pending).toBe(0);
    h.queue.add('d');
    h.queue.addAfter('e', 10);
    h.queue.addRateLimited('f');
    expect(h.queue.numRequeues('f')).toBe(0);
    await h.advance(10 * S);
    expect([drained, ran]).toEqual([false, false]);

    h.only('a').fail(new Error('interrupted'));
    await stopped;
    await settle();
    expect([drained, ran]).toEqual([true, true]);
    expect(h.keys()).toEqual(['a']);
    expect(h.queue.numRequeues('a')).toBe(0);
    expect(h.scheduler.pending).toBe(0);
    await h.queue.shutdown();
  });

  it('resolves at once when nothing is in flight, even before run()', async () => {
    const queue = new WorkQueue({ scheduler: new ManualScheduler() });
    queue.add('a');
    await queue.shutdown();
    expect(queue.len()).toBe(0);
  });
});

describe('WorkQueue: metrics hooks', () => {
  function recorder() {
    const calls: [keyof WorkQueueMetrics, ...unknown[]][] = [];
    const metrics: Required<WorkQueueMetrics> = {
      added: () => calls.push(['added']),
      setDepth: (depth) => calls.push(['setDepth', depth]),
      observeQueueDuration: (seconds) => calls.push(['observeQueueDuration', seconds]),
      observeWorkDuration: (seconds) => calls.push(['observeWorkDuration', seconds]),
      retried: () => calls.push(['retried']),
      setUnfinishedWorkSeconds: (seconds) => calls.push(['setUnfinishedWorkSeconds', seconds]),
      setLongestRunningProcessorSeconds: (seconds) =>
        calls.push(['setLongestRunningProcessorSeconds', seconds]),
      reconciled: (outcome: WorkOutcome, seconds) => calls.push(['reconciled', outcome, seconds]),
      setActiveWorkers: (count) => calls.push(['setActiveWorkers', count]),
    };
    const of = (name: keyof WorkQueueMetrics): unknown[][] =>
      calls.filter((call) => call[0] === name).map((call) => call.slice(1));
    return { calls, metrics, of };
  }

  it('reports adds (deduplicated), depth, queue latency, work duration and active workers', async () => {
    const r = recorder();
    const h = harness({ metrics: r.metrics, metricsIntervalMs: 60 * S }, 1);
    h.queue.add('a');
    h.queue.add('a');
    h.queue.add('b');
    await settle();
    await h.advance(3 * S);
    h.only('a').finish();
    await settle();
    await h.advance(2 * S);
    h.only('b').finish({ requeueAfterMs: 60 * S });
    await settle();

    expect(r.of('added')).toHaveLength(2);
    expect(r.of('setDepth')).toEqual([[1], [2], [1], [0]]);
    expect(r.of('observeQueueDuration')).toEqual([[0], [3]]);
    expect(r.of('observeWorkDuration')).toEqual([[3], [2]]);
    expect(r.of('reconciled')).toEqual([
      ['success', 3],
      ['requeue_after', 2],
    ]);
    expect(r.of('setActiveWorkers')).toEqual([[1], [0], [1], [0]]);
  });

  const endings: Record<WorkOutcome, (run: Run) => void> = {
    success: (run) => {
      run.finish();
    },
    requeue: (run) => {
      run.finish({ requeueAfterMs: 0 });
    },
    requeue_after: (run) => {
      run.finish({ requeueAfterMs: 5 });
    },
    error: (run) => {
      run.fail(new Error('x'));
    },
  };

  it.each<[WorkOutcome, number]>([
    ['success', 0],
    ['requeue', 0],
    ['requeue_after', 0],
    ['error', 1],
  ])('counts the outcome %s (and retries)', async (outcome, retries) => {
    const r = recorder();
    const h = harness({ metrics: r.metrics });
    h.queue.add('a');
    await settle();
    endings[outcome](h.only('a'));
    await settle();
    expect(r.of('reconciled')[0]?.[0]).toBe(outcome);
    expect(r.of('retried')).toHaveLength(retries);
  });

  it('updates the unfinished-work gauges while work is in flight, and zeroes them when idle', async () => {
    const r = recorder();
    const h = harness({ metrics: r.metrics, metricsIntervalMs: 500 }, 2);
    h.queue.add('a');
    await settle();
    await h.advance(1000);
    h.queue.add('b');
    await settle();
    await h.advance(500);
    expect(r.of('setUnfinishedWorkSeconds')).toEqual([[0.5], [1], [2]]);
    expect(r.of('setLongestRunningProcessorSeconds')).toEqual([[0.5], [1], [1.5]]);
    h.only('a').finish();
    h.only('b').finish();
    await settle();
    expect(r.of('setUnfinishedWorkSeconds').at(-1)).toEqual([0]);
    await h.advance(5000);
    expect(h.scheduler.pending).toBe(0);
  });

  it('a throwing metrics hook does not wedge the queue', async () => {
    const h = harness({
      metrics: {
        added: () => {
          throw new Error('registry broke');
        },
      },
    });
    h.queue.add('a');
    await settle();
    expect(h.runs).toHaveLength(1);
  });
});

describe('WorkQueue: concurrent runs of one key never overlap (property)', () => {
  type Op =
    | { op: 'add'; key: string }
    | { op: 'addAfter'; key: string; delayMs: number }
    | { op: 'addRateLimited'; key: string }
    | { op: 'advance'; ms: number }
    | { op: 'finish'; index: number; how: 'ok' | 'requeueAfter' | 'throw'; delayMs: number };

  const key = fc.constantFrom('a', 'b', 'c', 'd');
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('add' as const), key }),
    fc.record({ op: fc.constant('addAfter' as const), key, delayMs: fc.integer({ min: -5, max: 50 }) }),
    fc.record({ op: fc.constant('addRateLimited' as const), key }),
    fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40 }) }),
    fc.record({
      op: fc.constant('finish' as const),
      index: fc.nat(),
      how: fc.constantFrom('ok' as const, 'requeueAfter' as const, 'throw' as const),
      delayMs: fc.integer({ min: 0, max: 30 }),
    }),
  );

  it('under random adds, delays, failures and completions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { maxLength: 60 }),
        async (workers, ops) => {
          const scheduler = new ManualScheduler(new ManualClock(T0));
          const queue = new WorkQueue<string>({ scheduler, random: () => 0.5, backoff: { capMs: 50 } });
          const active = new Set<string>();
          const open: {
            key: string;
            resolve: (r: WorkResult | undefined) => void;
            reject: (e: Error) => void;
          }[] = [];
          let overlaps = 0;
          let maxActive = 0;
          // Per key: sequence number of the last request, and of the last run start.
          let sequence = 0;
          const requested = new Map<string, number>();
          const started = new Map<string, number>();
          void queue.run(workers, (k) => {
            if (active.has(k)) overlaps++;
            active.add(k);
            maxActive = Math.max(maxActive, active.size);
            started.set(k, ++sequence);
            const { promise, resolve, reject } = Promise.withResolvers<WorkResult | undefined>();
            open.push({ key: k, resolve, reject });
            return promise;
          });
          const finish = (
            index: number,
            how: Extract<Op, { op: 'finish' }>['how'],
            delayMs: number,
          ): void => {
            const [run] = open.splice(index % open.length, 1);
            if (!run) return;
            active.delete(run.key);
            if (how === 'ok') run.resolve(undefined);
            if (how === 'requeueAfter') run.resolve({ requeueAfterMs: delayMs });
            if (how === 'throw') run.reject(new Error('transient'));
            if (how === 'requeueAfter' || how === 'throw') requested.set(run.key, ++sequence);
          };

          for (const step of ops) {
            if (step.op === 'add') queue.add(step.key);
            if (step.op === 'addAfter') queue.addAfter(step.key, step.delayMs);
            if (step.op === 'addRateLimited') queue.addRateLimited(step.key);
            if (step.op === 'advance') scheduler.advance(step.ms);
            if (step.op === 'finish' && open.length > 0) finish(step.index, step.how, step.delayMs);
            if ('key' in step) requested.set(step.key, ++sequence);
            await settle();
          }
          // Drain: finish everything successfully and let every pending timer fire.
          for (let round = 0; round < 200 && (open.length > 0 || scheduler.pending > 0); round++) {
            while (open.length > 0) finish(0, 'ok', 0);
            await settle();
            scheduler.advance(100);
            await settle();
          }

          expect(overlaps).toBe(0);
          expect(maxActive).toBeLessThanOrEqual(workers);
          expect(open).toHaveLength(0);
          // Liveness: every key asked for after its last run started was run again.
          for (const [k, at] of requested) expect(started.get(k) ?? 0).toBeGreaterThan(at);
        },
      ),
      { numRuns: 300 },
    );
  });
});
