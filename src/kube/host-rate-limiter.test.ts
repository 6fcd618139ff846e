import { describe, expect, it } from 'vitest';
import { ManualClock } from '../policy/clock.ts';
import { HostRateLimiter, rateLimitKeyOf, type HostRateLimiterOptions } from './host-rate-limiter.ts';
import { ManualScheduler } from './workqueue.ts';

const T0 = Date.UTC(2026, 0, 1);
const SLOW = 'https://slow.example.com';
const FAST = 'https://fast.example.com';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function setup(options: Omit<HostRateLimiterOptions, 'scheduler' | 'clock'>) {
  const scheduler = new ManualScheduler(new ManualClock(T0));
  const waits: [string, number][] = [];
  const limiter = new HostRateLimiter({
    ...options,
    scheduler,
    onWait: (key, ms) => waits.push([key, ms]),
  });
  /** Grant times (ms after T0) per key, in call order; undefined while waiting. */
  const grants = new Map<string, (number | undefined)[]>();
  const acquire = (key: string): void => {
    const list = grants.get(key) ?? [];
    grants.set(key, list);
    const index = list.push(undefined) - 1;
    void limiter.acquire(key).then(() => {
      list[index] = scheduler.now() - T0;
    });
  };
  const runUntilIdle = async (): Promise<void> => {
    await settle();
    for (let next = scheduler.nextDueAt(); next !== undefined; next = scheduler.nextDueAt()) {
      scheduler.advance(next - scheduler.now());
      await settle();
    }
  };
  const advance = async (ms: number): Promise<void> => {
    scheduler.advance(ms);
    await settle();
  };
  return { limiter, grants, waits, acquire, runUntilIdle, advance };
}

describe('HostRateLimiter', () => {
  it('gives two hosts independent buckets: a drained host does not delay another', async () => {
    const t = setup({ defaults: { ratePerSecond: 1, burst: 1 } });
    for (let i = 0; i < 3; i++) t.acquire(SLOW);
    for (let i = 0; i < 3; i++) t.acquire(FAST);
    await t.runUntilIdle();
    expect(t.grants.get(SLOW)).toEqual([0, 1000, 2000]);
    expect(t.grants.get(FAST)).toEqual([0, 1000, 2000]);
  });

  it('shares one bucket between every credential of the same host', async () => {
    const t = setup({ defaults: { ratePerSecond: 2, burst: 2 } });
    // Five credentials, all against one host: 2 at once, then one per 500 ms.
    for (let i = 0; i < 5; i++) t.acquire(rateLimitKeyOf(`${SLOW}/tenant-${String(i)}/oauth/token`));
    await t.runUntilIdle();
    expect(t.grants.get(SLOW)).toEqual([0, 0, 500, 1000, 1500]);
    expect(t.limiter.size).toBe(1);
  });

  it('applies a host override and leaves other hosts at the default', async () => {
    const t = setup({
      defaults: { ratePerSecond: 100, burst: 1 },
      overrides: new Map([[SLOW, { ratePerSecond: 0.5, burst: 1 }]]),
    });
    for (let i = 0; i < 3; i++) t.acquire(SLOW);
    for (let i = 0; i < 3; i++) t.acquire(FAST);
    await t.runUntilIdle();
    expect(t.grants.get(SLOW)).toEqual([0, 2000, 4000]);
    expect(t.grants.get(FAST)).toEqual([0, 10, 20]);
    expect(t.limiter.limitOf(SLOW)).toEqual({ ratePerSecond: 0.5, burst: 1 });
    expect(t.limiter.limitOf(FAST)).toEqual({ ratePerSecond: 100, burst: 1 });
  });

  it('reports each wait once, with its host and length; a free token is no wait', async () => {
    const t = setup({ defaults: { ratePerSecond: 4, burst: 1 } });
    t.acquire(SLOW);
    t.acquire(SLOW);
    t.acquire(FAST);
    await t.runUntilIdle();
    expect(t.waits).toEqual([[SLOW, 250]]);
  });

  it('evicts idle, refilled buckets beyond maxBuckets, least recently used first', async () => {
    const t = setup({ defaults: { ratePerSecond: 1, burst: 1 }, maxBuckets: 2 });
    t.acquire('https://a');
    t.acquire('https://b');
    await t.runUntilIdle();
    await t.advance(1000); // both refilled to burst
    t.acquire('https://a'); // a is now the most recently used
    t.acquire('https://c');
    await settle();
    expect(t.limiter.size).toBe(2);
    // b went; a was kept (and is not full, so its next caller still waits its turn).
    t.acquire('https://a');
    await t.runUntilIdle();
    expect(t.grants.get('https://a')).toEqual([0, 1000, 2000]);
    // A bucket that is back after eviction starts full: nothing was lost by dropping it.
    t.acquire('https://b');
    await settle();
    expect(t.grants.get('https://b')).toEqual([0, 2000]);
    expect(t.waits.map(([key]) => key)).not.toContain('https://b');
  });

  it('never evicts a bucket that is waited on or not yet refilled, so its limit holds', async () => {
    const t = setup({ defaults: { ratePerSecond: 1, burst: 1 }, maxBuckets: 1 });
    t.acquire(SLOW);
    t.acquire(SLOW); // waits 1 s
    t.acquire(FAST); // over the cap, but SLOW is in use
    await settle();
    expect(t.limiter.size).toBe(2);
    expect(t.limiter.waiting(SLOW)).toBe(1);
    t.acquire(SLOW);
    await t.runUntilIdle();
    expect(t.grants.get(SLOW)).toEqual([0, 1000, 2000]);
  });

  it('keys a URL by its origin: scheme, host lower-cased, non-default port', () => {
    expect(rateLimitKeyOf('HTTPS://Api.Example.COM:443/oauth/token?x=1')).toBe('https://api.example.com');
    expect(rateLimitKeyOf('http://idmp:6042/api/v1')).toBe('http://idmp:6042');
    expect(rateLimitKeyOf('http://idmp:6042')).not.toBe(rateLimitKeyOf('https://idmp:6042'));
    // User info never reaches the key (it is logged and may label a metric).
    expect(rateLimitKeyOf('https://user:s3cret@api.example.com/token')).toBe('https://api.example.com');
    expect(rateLimitKeyOf('http://[not-a-host/token')).toBe('invalid-url');
  });

  it('refuses a bad limit at construction', () => {
    expect(() => new HostRateLimiter({ defaults: { ratePerSecond: 0, burst: 1 } })).toThrow(RangeError);
    expect(
      () =>
        new HostRateLimiter({
          defaults: { ratePerSecond: 1, burst: 1 },
          overrides: new Map([[SLOW, { ratePerSecond: 1, burst: 0 }]]),
        }),
    ).toThrow(RangeError);
    expect(() => new HostRateLimiter({ defaults: { ratePerSecond: 1, burst: 1 }, maxBuckets: 0 })).toThrow(
      RangeError,
    );
  });

  it('defers callers beyond maxWaitersPerHost without a token, and only on that host', async () => {
    const t = setup({ defaults: { ratePerSecond: 1, burst: 1 }, maxWaitersPerHost: 1 });
    t.acquire(SLOW); // the burst
    t.acquire(SLOW); // waits in line
    await settle();
    // A third caller is not put in line: come back when the line has moved (2 waiting-or-me / 1 qps).
    expect(await t.limiter.acquireOrDefer(SLOW)).toEqual({ deferMs: 2000 });
    expect(t.limiter.waiting(SLOW)).toBe(1);
    // Another host is not affected.
    expect(await t.limiter.acquireOrDefer(FAST)).toEqual({});
    await t.runUntilIdle();
    expect(t.grants.get(SLOW)).toEqual([0, 1000]);
    // Once the line is empty, the next caller waits in it again.
    const next = t.limiter.acquireOrDefer(SLOW);
    await t.runUntilIdle();
    expect(await next).toEqual({});
  });
});
