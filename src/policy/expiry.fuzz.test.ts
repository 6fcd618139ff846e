// The parsers under every provider, fed anything: resolveExpiry (expires_in, timestamp, JWT claims),
// the renewal plan built on what it accepts, Retry-After and spec durations. Property: a typed result
// or a typed error, never another exception, and only plannable times.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { hostileJwt, hostileNumber } from '../../test/unit/fuzz/hostile.ts';
import { parseRetryAfter } from './backoff.ts';
import { DurationError, parseDuration } from './duration.ts';
import { MAX_LIFETIME_MS, resolveExpiry } from './expiry.ts';
import { planRenewal } from './renewal.ts';

const SEED = 20260103;
const T0 = Date.UTC(2026, 0, 1, 12);
let inputs = 0;

afterAll(() => {
  console.info(`policy parsers fuzz: 3 properties, ${inputs} inputs`);
});

const anyField = fc.oneof(
  fc.anything(),
  hostileNumber.map((text) => JSON.parse(text) as unknown),
  hostileNumber,
  fc.constantFrom('NaN', 'Infinity', '1e309', ' 300 ', '-0', '0x10'),
);

describe('expiry and renewal with hostile values', () => {
  it('resolveExpiry never throws; what it accepts is a whole-ms expiry renewal can plan for', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            expiresIn: anyField,
            timestamp: anyField,
            jwt: fc.oneof(hostileJwt([]), fc.string(), fc.constant('a.b.c')),
            assumedLifetimeMs: fc.oneof(fc.double(), fc.integer({ min: 1, max: 1e12 })),
            receivedDelayMs: fc.integer({ min: -1_000, max: 600_000 }),
          },
          { requiredKeys: ['receivedDelayMs'] },
        ),
        (input) => {
          inputs += 1;
          const result = resolveExpiry({
            ...input,
            requestStartedAt: T0,
            receivedAt: T0 + input.receivedDelayMs,
          });
          if (!result.ok) {
            expect(result.message.length).toBeGreaterThan(0);
            return;
          }
          expect(Number.isInteger(result.expiresAt)).toBe(true);
          expect(result.expiresAt).toBeGreaterThan(T0);
          expect(result.expiresAt - T0).toBeLessThanOrEqual(MAX_LIFETIME_MS);
          const plan = planRenewal({
            issuedAt: result.issuedAt,
            expiresAt: result.expiresAt,
            random: Math.random,
          });
          expect(plan.renewAt).toBeGreaterThanOrEqual(result.issuedAt);
          expect(plan.renewAt).toBeLessThan(result.expiresAt);
        },
      ),
      { seed: SEED, numRuns: 1_500 },
    );
  });
});

describe('header and spec value parsers with hostile text', () => {
  it('Retry-After: undefined or a delay within an hour', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          hostileNumber,
          fc.date().map((d) => d.toUTCString()),
        ),
        (value) => {
          inputs += 1;
          const delay = parseRetryAfter(value, T0);
          if (delay !== undefined) {
            expect(delay).toBeGreaterThanOrEqual(0);
            expect(delay).toBeLessThanOrEqual(3_600_000);
          }
        },
      ),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  it('durations: whole milliseconds or a DurationError naming the value', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.stringMatching(/^[0-9.]{0,25}(ms|s|m|h|d|µs)?$/)),
        (value) => {
          inputs += 1;
          try {
            const ms = parseDuration(value);
            expect(Number.isSafeInteger(ms) && ms >= 0).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(DurationError);
          }
        },
      ),
      { seed: SEED, numRuns: 1_000 },
    );
  });
});
