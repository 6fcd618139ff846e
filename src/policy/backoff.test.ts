import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_RETRY_AFTER_MS,
  PROVIDER_BACKOFF,
  backoffDelay,
  exponentialBackoff,
  nextAttemptAt,
  parseHttpDate,
  parseRetryAfter,
  type BackoffPolicy,
  type ExponentialBackoff,
  type NextAttemptInput,
} from './backoff.ts';

const NOW = Date.UTC(2026, 0, 1, 12); // a Thursday
const S = 1000;
const MIN = 60 * S;
const top = (): number => 0.999_999;
const half = (): number => 0.5;

describe('backoffDelay (full jitter)', () => {
  it('defaults to 5 s doubling to 5 min, at least 1 s', () => {
    expect(PROVIDER_BACKOFF).toEqual({ baseMs: 5 * S, capMs: 5 * MIN, minMs: S });
  });

  it.each<[number, number]>([
    [1, 5 * S],
    [2, 10 * S],
    [3, 20 * S],
    [6, 160 * S],
    [7, 5 * MIN],
    [50, 5 * MIN],
    [10_000, 5 * MIN],
  ])('failure %d: the ceiling is %d ms', (failures, ceiling) => {
    expect(backoffDelay(failures, top)).toBe(Math.floor(0.999_999 * ceiling));
    expect(backoffDelay(failures, half)).toBe(Math.max(S, Math.floor(0.5 * ceiling)));
  });

  it.each<[string, () => number, number]>([
    ['a zero draw is floored at minMs', () => 0, S],
    ['a broken draw above 1 stays at the ceiling', () => 3, 20 * S],
    ['a NaN draw is floored at minMs', () => Number.NaN, S],
  ])('%s', (_, random, delay) => {
    expect(backoffDelay(3, random)).toBe(delay);
  });

  it.each([0, -1, 0.5])('failures %d counts as the first', (failures) => {
    expect(backoffDelay(failures, top)).toBe(backoffDelay(1, top));
  });

  it('takes a custom policy', () => {
    const policy: BackoffPolicy = { baseMs: 100, capMs: 1000, minMs: 0 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, () => 0.5, policy))).toEqual([50, 100, 200, 400, 500]);
  });

  it('stays within [minMs, min(cap, base * 2^(n-1))] (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, draw) => {
          const delay = backoffDelay(failures, () => draw);
          expect(delay).toBeGreaterThanOrEqual(PROVIDER_BACKOFF.minMs);
          expect(delay).toBeLessThanOrEqual(
            Math.min(PROVIDER_BACKOFF.capMs, PROVIDER_BACKOFF.baseMs * 2 ** (failures - 1)),
          );
        },
      ),
    );
  });
});

describe('exponentialBackoff (one function, two jitter shapes)', () => {
  const relist: ExponentialBackoff = { baseMs: S, capMs: MIN, jitter: { shape: 'shorten', fraction: 0.5 } };

  it.each<[number, number, number]>([
    [0, 0, S],
    [0, 0.5, 0.75 * S],
    [1, 0, 2 * S],
    [5, 0.5, 24 * S],
    [6, 0, MIN],
    [6, 0.999_999, MIN * (1 - 0.5 * 0.999_999)],
    [10_000, 0, MIN],
  ])('shorten by half (equal jitter), retry %d, draw %d: %d ms', (retry, draw, delay) => {
    expect(exponentialBackoff(relist, retry, () => draw)).toBe(delay);
  });

  it.each<[string, number, number]>([
    ['a negative draw counts as 0', -1, MIN],
    ['a NaN draw counts as 0', Number.NaN, MIN],
    ['a draw of 1 or more counts as 1', 7, MIN / 2],
  ])('%s', (_, draw, delay) => {
    expect(exponentialBackoff(relist, 6, () => draw)).toBe(delay);
  });

  it('full jitter is whole ms, never below minMs', () => {
    const full: ExponentialBackoff = { baseMs: 100, capMs: 1000, jitter: { shape: 'full', minMs: 30 } };
    expect([0, 1, 2, 3, 4].map((retry) => exponentialBackoff(full, retry, () => 0.255))).toEqual([
      30, 51, 102, 204, 255,
    ]);
  });

  it('a negative or fractional retry counts whole retries from 0', () => {
    expect(exponentialBackoff(relist, -3, () => 0)).toBe(S);
    expect(exponentialBackoff(relist, 1.9, () => 0)).toBe(2 * S);
  });

  it('shorten never leaves [(1 - fraction) * ceiling, ceiling] (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (retry, draw, fraction) => {
          const backoff: ExponentialBackoff = {
            baseMs: 5,
            capMs: 1_000_000,
            jitter: { shape: 'shorten', fraction },
          };
          const ceiling = Math.min(1_000_000, 5 * 2 ** retry);
          const delay = exponentialBackoff(backoff, retry, () => draw);
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(delay).toBeGreaterThanOrEqual((1 - fraction) * ceiling - 1e-9);
        },
      ),
    );
  });
});

describe('nextAttemptAt', () => {
  it.each<[string, Omit<NextAttemptInput, 'now'>, number]>([
    ['plain backoff', { failures: 3, random: half }, NOW + 10 * S],
    [
      'Retry-After longer than the backoff is honoured',
      { failures: 1, random: half, retryAfterMs: 42 * S },
      NOW + 42 * S,
    ],
    [
      'Retry-After shorter than the backoff: the backoff stands',
      { failures: 6, random: half, retryAfterMs: 2 * S },
      NOW + 80 * S,
    ],
    [
      'Retry-After is capped at 1 h',
      { failures: 1, random: half, retryAfterMs: 24 * 60 * MIN },
      NOW + MAX_RETRY_AFTER_MS,
    ],
    [
      'a custom Retry-After cap',
      { failures: 1, random: half, retryAfterMs: 10 * MIN, maxRetryAfterMs: 2 * MIN },
      NOW + 2 * MIN,
    ],
    ['a zero Retry-After is ignored', { failures: 1, random: half, retryAfterMs: 0 }, NOW + 2500],
    ['a NaN Retry-After is ignored', { failures: 1, random: half, retryAfterMs: Number.NaN }, NOW + 2500],
    [
      'a token valid for 40 more s: no wait longer than half of that',
      { failures: 7, random: top, tokenStillValidUntil: NOW + 40 * S },
      NOW + 20 * S,
    ],
    [
      'a token valid for 1 h more changes nothing',
      { failures: 7, random: half, tokenStillValidUntil: NOW + 60 * MIN },
      NOW + 150 * S,
    ],
    [
      'a token about to expire still waits minMs',
      { failures: 7, random: top, tokenStillValidUntil: NOW + 500 },
      NOW + S,
    ],
    [
      'an expired token changes nothing',
      { failures: 3, random: half, tokenStillValidUntil: NOW - MIN },
      NOW + 10 * S,
    ],
    [
      'Retry-After beats the validity window: never earlier than the server asked',
      { failures: 7, random: top, tokenStillValidUntil: NOW + 40 * S, retryAfterMs: 90 * S },
      NOW + 90 * S,
    ],
    [
      'a custom policy',
      { failures: 2, random: half, policy: { baseMs: 1000, capMs: 4000, minMs: 0 } },
      NOW + 1000,
    ],
  ])('%s', (_, input, expected) => {
    expect(nextAttemptAt({ now: NOW, ...input })).toBe(expected);
  });

  it('is never earlier than Retry-After (up to its cap) and never earlier than minMs (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.option(fc.integer({ min: 0, max: 3 * 60 * MIN }), { nil: undefined }),
        fc.option(fc.integer({ min: -MIN, max: 60 * MIN }), { nil: undefined }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, retryAfterMs, validFor, draw) => {
          const at = nextAttemptAt({
            failures,
            now: NOW,
            retryAfterMs,
            random: () => draw,
            tokenStillValidUntil: validFor === undefined ? undefined : NOW + validFor,
          });
          expect(at).toBeGreaterThanOrEqual(NOW + Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
          expect(at).toBeGreaterThanOrEqual(NOW + PROVIDER_BACKOFF.minMs);
          expect(at).toBeLessThanOrEqual(
            NOW + Math.max(PROVIDER_BACKOFF.capMs, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS)),
          );
        },
      ),
    );
  });
});

describe('parseRetryAfter', () => {
  it.each<[string, Parameters<typeof parseRetryAfter>[0], number | undefined]>([
    ['delta-seconds', '120', 120 * S],
    ['delta-seconds with spaces', ' 5 ', 5 * S],
    ['zero', '0', 0],
    ['huge delta-seconds are capped', '999999999999', MAX_RETRY_AFTER_MS],
    ['IMF-fixdate 90 s ahead', 'Thu, 01 Jan 2026 12:01:30 GMT', 90 * S],
    ['IMF-fixdate in the past', 'Thu, 01 Jan 2026 11:00:00 GMT', 0],
    ['IMF-fixdate a day ahead is capped', 'Fri, 02 Jan 2026 12:00:00 GMT', MAX_RETRY_AFTER_MS],
    ['RFC 850 date', 'Thursday, 01-Jan-26 12:00:10 GMT', 10 * S],
    ['asctime date', 'Thu Jan  1 12:00:20 2026', 20 * S],
    ['the first of several header values', ['30', '60'], 30 * S],
    ['absent', undefined, undefined],
    ['null', null, undefined],
    ['empty', '', undefined],
    ['an empty list', [], undefined],
    ['negative seconds', '-5', undefined],
    ['fractional seconds', '1.5', undefined],
    ['words', 'soon', undefined],
    ['an ISO date (not an HTTP-date)', '2026-01-01T12:01:00Z', undefined],
    ['a date without GMT', 'Thu, 01 Jan 2026 12:01:30 UTC', undefined],
    ['an impossible day', 'Sat, 31 Feb 2026 12:00:00 GMT', undefined],
    ['an impossible hour', 'Thu, 01 Jan 2026 25:00:00 GMT', undefined],
    ['a number followed by junk', '10 seconds', undefined],
  ])('%s', (_, value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it('takes a custom cap', () => {
    expect(parseRetryAfter('600', NOW, 60 * S)).toBe(60 * S);
  });
});

describe('parseHttpDate', () => {
  it.each<[string, number]>([
    ['Sun, 06 Nov 1994 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['Sun Nov  6 08:49:37 1994', Date.UTC(1994, 10, 6, 8, 49, 37)],
    ['Monday, 01-Jan-35 00:00:00 GMT', Date.UTC(2035, 0, 1)],
    ['Monday, 01-Jan-99 00:00:00 GMT', Date.UTC(1999, 0, 1)],
  ])('%s (RFC 9110 examples and two-digit years)', (value, expected) => {
    expect(parseHttpDate(value, NOW)).toBe(expected);
  });
});
