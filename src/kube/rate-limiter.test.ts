import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../policy/clock.ts';
import { TokenBucket, type TokenBucketOptions } from './rate-limiter.ts';
import { ManualScheduler } from './workqueue.ts';

const T0 = Date.UTC(2026, 0, 1);

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function setup(options: Omit<TokenBucketOptions, 'scheduler' | 'clock'>) {
  const clock = new ManualClock(T0);
  const scheduler = new ManualScheduler(clock);
  const bucket = new TokenBucket({ ...options, scheduler });
  /** Outcome of each acquire, in call order: the time it was granted, or the rejection. */
  const grants: (number | Error | undefined)[] = [];
  const acquire = (signal?: AbortSignal): number => {
    const index = grants.push(undefined) - 1;
    bucket.acquire(signal).then(
      () => {
        grants[index] = scheduler.now() - T0;
      },
      (error: unknown) => {
        grants[index] = error as Error;
      },
    );
    return index;
  };
  const advance = async (ms: number): Promise<void> => {
    scheduler.advance(ms);
    await settle();
  };
  /** Steps from timer to timer, so each grant is recorded at the time it happened. */
  const runUntilIdle = async (): Promise<void> => {
    for (let next = scheduler.nextDueAt(); next !== undefined; next = scheduler.nextDueAt()) {
      await advance(next - scheduler.now());
    }
  };
  return { clock, scheduler, bucket, grants, acquire, advance, runUntilIdle };
}

describe('TokenBucket', () => {
  it('starts full: burst callers pass at once, the next waits 1/qps', async () => {
    const t = setup({ ratePerSecond: 2, burst: 3 });
    for (let i = 0; i < 4; i++) t.acquire();
    await settle();
    expect(t.grants).toEqual([0, 0, 0, undefined]);
    expect(t.bucket.waiting).toBe(1);
    await t.advance(499);
    expect(t.grants[3]).toBe(undefined);
    await t.advance(1);
    expect(t.grants[3]).toBe(500);
    expect(t.bucket.waiting).toBe(0);
  });

  it.each<[string, number, number, number[]]>([
    ['2 qps, burst 1', 2, 1, [0, 500, 1000, 1500, 2000]],
    ['20 qps, burst 2', 20, 2, [0, 0, 50, 100, 150]],
    ['0.1 qps, burst 1', 0.1, 1, [0, 10_000, 20_000, 30_000, 40_000]],
    ['3 qps: a period that is not a whole ms rounds up, never faster', 3, 1, [0, 334, 668, 1002, 1336]],
  ])('serves a queue of five at the sustained rate: %s', async (_, ratePerSecond, burst, expected) => {
    const t = setup({ ratePerSecond, burst });
    for (let i = 0; i < 5; i++) t.acquire();
    await settle();
    await t.runUntilIdle();
    expect(t.grants).toEqual(expected);
  });

  it('refills to at most burst after a quiet period', async () => {
    const t = setup({ ratePerSecond: 10, burst: 2 });
    await t.advance(3_600_000);
    expect(t.bucket.available()).toBe(2);
    for (let i = 0; i < 3; i++) t.acquire();
    await settle();
    expect(t.grants).toEqual([3_600_000, 3_600_000, undefined]);
  });

  it('is first come, first served: a newcomer never overtakes a waiter, even with a token free', async () => {
    const t = setup({ ratePerSecond: 1, burst: 1 });
    t.acquire(); // takes the only token
    t.acquire(); // waits for the next one
    await settle();
    t.clock.advance(1000); // the token is there, but the waiter's timer has not fired yet
    expect(t.bucket.tryAcquire()).toBe(false);
    t.acquire();
    await settle();
    expect(t.grants).toEqual([0, undefined, undefined]);
    t.scheduler.fireDue();
    await settle();
    expect(t.grants).toEqual([0, 1000, undefined]);
    await t.advance(1000);
    expect(t.grants).toEqual([0, 1000, 2000]);
  });

  it('tryAcquire takes a free token without waiting', () => {
    const t = setup({ ratePerSecond: 1, burst: 2 });
    expect([t.bucket.tryAcquire(), t.bucket.tryAcquire(), t.bucket.tryAcquire()]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('an aborted waiter leaves the line with the signal reason, and the next takes its turn', async () => {
    const t = setup({ ratePerSecond: 1, burst: 1 });
    const controller = new AbortController();
    t.acquire();
    t.acquire(controller.signal);
    t.acquire();
    await t.advance(600);
    controller.abort(new Error('reconcile timed out'));
    await settle();
    expect(t.grants[1]).toEqual(new Error('reconcile timed out'));
    expect(t.bucket.waiting).toBe(1);
    await t.advance(399);
    expect(t.grants[2]).toBe(undefined);
    await t.advance(1);
    expect(t.grants[2]).toBe(1000);
  });

  it('an abort after the tokens saved up gives them to the next in line at once', async () => {
    const t = setup({ ratePerSecond: 1, burst: 1 });
    const controller = new AbortController();
    t.acquire();
    t.acquire(controller.signal);
    t.acquire();
    await settle();
    t.clock.advance(1000); // a token has accrued; the timer has not fired
    controller.abort();
    await settle();
    expect(t.grants[1]).toBeInstanceOf(DOMException);
    expect((t.grants[1] as DOMException).name).toBe('AbortError');
    expect(t.grants[2]).toBe(1000);
  });

  it('an already aborted signal rejects at once and takes no token', async () => {
    const t = setup({ ratePerSecond: 1, burst: 1 });
    t.acquire(AbortSignal.abort(new Error('gone')));
    await settle();
    expect(t.grants[0]).toEqual(new Error('gone'));
    expect(t.bucket.available()).toBe(1);
  });

  it('an abort after the grant changes nothing', async () => {
    const t = setup({ ratePerSecond: 1, burst: 1 });
    const controller = new AbortController();
    t.acquire(controller.signal);
    await settle();
    controller.abort();
    await settle();
    expect(t.grants).toEqual([0]);
    expect(t.bucket.available()).toBe(0);
  });

  it('a clock set back does not drain the bucket', () => {
    const t = setup({ ratePerSecond: 1, burst: 2 });
    t.bucket.tryAcquire();
    t.clock.set(T0 - 3_600_000);
    expect(t.bucket.available()).toBe(1);
  });

  it.each<[string, Omit<TokenBucketOptions, 'scheduler' | 'clock'>]>([
    ['zero qps', { ratePerSecond: 0, burst: 1 }],
    ['negative qps', { ratePerSecond: -1, burst: 1 }],
    ['infinite qps', { ratePerSecond: Infinity, burst: 1 }],
    ['NaN qps', { ratePerSecond: Number.NaN, burst: 1 }],
    ['zero burst', { ratePerSecond: 1, burst: 0 }],
    ['fractional burst', { ratePerSecond: 1, burst: 1.5 }],
  ])('rejects %s', (_, options) => {
    expect(() => new TokenBucket({ ...options, scheduler: new ManualScheduler() })).toThrow(RangeError);
  });

  it('never grants more than burst + qps * elapsed, and grants in call order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ gapMs: fc.integer({ min: 0, max: 300 }), abort: fc.boolean() }), {
          maxLength: 30,
        }),
        async (ratePerSecond, burst, calls) => {
          const t = setup({ ratePerSecond, burst });
          const controllers: (AbortController | undefined)[] = [];
          for (const call of calls) {
            await t.advance(call.gapMs);
            const controller = call.abort ? new AbortController() : undefined;
            controllers.push(controller);
            t.acquire(controller?.signal);
            if (controller && t.bucket.waiting > 0) controller.abort();
            await settle();
          }
          await t.runUntilIdle();
          const granted = t.grants.filter((at): at is number => typeof at === 'number');
          expect(t.grants.filter((at) => at === undefined)).toHaveLength(0);
          // Order: grant times never go down along the call order.
          expect(granted).toEqual([...granted].sort((a, b) => a - b));
          // Rate: the k-th grant (0-based) comes no sooner than (k + 1 - burst) / qps.
          granted.forEach((at, k) => {
            expect(at).toBeGreaterThanOrEqual(Math.floor(((k + 1 - burst) * 1000) / ratePerSecond));
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
