import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROPAGATION_MARGIN_MS,
  planRenewal,
  type RenewalInput,
  type RenewalPlan,
} from './renewal.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const noJitter = (): number => 0;

function plan(lifetimeMs: number, overrides: Partial<RenewalInput> = {}): RenewalPlan {
  return planRenewal({ issuedAt: T0, expiresAt: T0 + lifetimeMs, random: noJitter, ...overrides });
}

describe('planRenewal', () => {
  it('defaults: a third of the lifetime before expiry, 2 minute margin', () => {
    expect(DEFAULT_PROPAGATION_MARGIN_MS).toBe(2 * MIN);
    expect(plan(HOUR, { jitterFraction: 0 })).toEqual({
      renewAt: T0 + HOUR - 0.33 * HOUR,
      latestSafeRenewAt: T0 + HOUR - 2 * MIN,
      marginHonoured: true,
    });
  });

  it.each<[string, number, Partial<RenewalInput>, Partial<RenewalPlan>]>([
    [
      '1 h token, 33%',
      HOUR,
      { renewBefore: { percentage: 33 } },
      { renewAt: T0 + 40.2 * MIN, marginHonoured: true },
    ],
    ['14 d TapData token, 33%', 14 * 24 * HOUR, {}, { renewAt: T0 + Math.floor(14 * 24 * HOUR * 0.67) }],
    ['renewBeforePercentage 50', HOUR, { renewBefore: { percentage: 50 } }, { renewAt: T0 + 30 * MIN }],
    [
      'renewBeforePercentage 90 (the CRD maximum)',
      HOUR,
      { renewBefore: { percentage: 90 } },
      { renewAt: T0 + 6 * MIN },
    ],
    [
      '5 min Keycloak token: the margin pulls renewal before 33%',
      5 * MIN,
      {},
      { renewAt: T0 + 3 * MIN, latestSafeRenewAt: T0 + 3 * MIN, marginHonoured: true },
    ],
    [
      'exactly twice the margin: the margin is still honoured',
      4 * MIN,
      {},
      { renewAt: T0 + 2 * MIN, marginHonoured: true },
    ],
    [
      'renewBefore 5m on a 30 min Insights Hub token',
      30 * MIN,
      { renewBefore: { durationMs: 5 * MIN } },
      { renewAt: T0 + 25 * MIN, latestSafeRenewAt: T0 + 28 * MIN },
    ],
    [
      'renewBefore shorter than the margin: the margin wins',
      HOUR,
      { renewBefore: { durationMs: 30 * S } },
      { renewAt: T0 + 58 * MIN },
    ],
    [
      'renewBefore longer than 90% of the lifetime: renew after 10% of it',
      HOUR,
      { renewBefore: { durationMs: 2 * HOUR } },
      { renewAt: T0 + 6 * MIN, marginHonoured: true },
    ],
    [
      'a zero margin leaves the percentage alone',
      5 * MIN,
      { propagationMarginMs: 0 },
      { renewAt: T0 + 201 * S },
    ],
    [
      'a custom 5 min margin',
      HOUR,
      { propagationMarginMs: 5 * MIN, renewBefore: { percentage: 5 } },
      { renewAt: T0 + 55 * MIN },
    ],
  ])('%s', (_, lifetimeMs, overrides, expected) => {
    expect(plan(lifetimeMs, overrides)).toMatchObject(expected);
  });

  it('says so when renewBefore is longer than the lifetime allows', () => {
    expect(plan(HOUR, { renewBefore: { durationMs: 2 * HOUR } }).note).toMatch(
      /renewBefore is longer than 90% of the token's lifetime \(1h\): renewing after 10% of it/,
    );
    expect(plan(HOUR, { renewBefore: { durationMs: 54 * MIN } }).note).toBe(undefined);
  });

  it.each<[string, number, number]>([
    ['shorter than the margin (1 min)', MIN, T0 + 30 * S],
    ['just above the margin (2m1s): no renewal storm right after issue', 2 * MIN + S, T0 + 60_500],
    ['between one and two margins (3 min)', 3 * MIN, T0 + 90 * S],
  ])('a token too short for the margin, %s, renews at half-life and says so', (_, lifetimeMs, renewAt) => {
    const result = plan(lifetimeMs);
    expect(result).toMatchObject({ renewAt, latestSafeRenewAt: renewAt, marginHonoured: false });
    expect(result.note).toMatch(/less than twice the 2m propagation margin: renewing at half-life/);
  });

  it.each<[string, number]>([
    ['expiry equal to issue', 0],
    ['expiry before issue', -MIN],
  ])('%s: renew now', (_, lifetimeMs) => {
    const result = plan(lifetimeMs);
    expect(result.renewAt).toBe(Math.min(T0, T0 + lifetimeMs));
    expect(result.marginHonoured).toBe(false);
    expect(result.note).toMatch(/no lifetime left/);
  });

  it.each<[string, number, number]>([
    ['no draw', 0, T0 + 40.2 * MIN],
    ['a middle draw', 0.5, T0 + 40.2 * MIN - 0.5 * 0.1 * 40.2 * MIN],
    ['the largest draw', 0.999_999, Math.floor(T0 + 40.2 * MIN - 0.999_999 * 0.1 * 40.2 * MIN)],
    [
      'a broken source above 1 stays inside the window',
      7,
      Math.floor(T0 + 40.2 * MIN - (1 - Number.EPSILON) * 0.1 * 40.2 * MIN),
    ],
    ['a broken source below 0 adds nothing', -3, T0 + 40.2 * MIN],
    ['NaN adds nothing', Number.NaN, T0 + 40.2 * MIN],
  ])('jitter (10%%) only moves renewal earlier: %s', (_, draw, renewAt) => {
    expect(plan(HOUR, { jitterFraction: 0.1, random: () => draw }).renewAt).toBe(renewAt);
  });

  it('with jitter, renewal lies after issue and never after the unjittered time or the safe limit (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 * 24 * 3600 }).map((seconds) => seconds * S),
        fc.oneof(
          fc.record({ percentage: fc.integer({ min: 5, max: 90 }) }),
          fc.record({ durationMs: fc.integer({ min: 0, max: 40 * 24 * 3600 * S }) }),
        ),
        fc.integer({ min: 0, max: 10 * MIN }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (lifetimeMs, renewBefore, propagationMarginMs, jitterFraction, draw) => {
          const base = { issuedAt: T0, expiresAt: T0 + lifetimeMs, renewBefore, propagationMarginMs };
          const steady = planRenewal({ ...base, jitterFraction: 0, random: noJitter });
          const jittered = planRenewal({ ...base, jitterFraction, random: () => draw });
          expect(jittered.renewAt).toBeLessThanOrEqual(steady.renewAt);
          expect(jittered.renewAt).toBeLessThanOrEqual(jittered.latestSafeRenewAt);
          expect(jittered.renewAt).toBeGreaterThanOrEqual(T0);
          expect(jittered.renewAt).toBeLessThan(T0 + lifetimeMs);
          if (jittered.marginHonoured) {
            expect(jittered.latestSafeRenewAt).toBeLessThanOrEqual(T0 + lifetimeMs - propagationMarginMs);
          } else {
            expect(jittered.latestSafeRenewAt).toBe(Math.floor(T0 + lifetimeMs / 2));
          }
        },
      ),
    );
  });

  it.each<[string, Partial<RenewalInput>]>([
    ['percentage 0', { renewBefore: { percentage: 0 } }],
    ['percentage 100', { renewBefore: { percentage: 100 } }],
    ['percentage NaN', { renewBefore: { percentage: Number.NaN } }],
    ['a negative duration', { renewBefore: { durationMs: -1 } }],
    ['an infinite duration', { renewBefore: { durationMs: Infinity } }],
    ['a negative margin', { propagationMarginMs: -1 }],
    ['jitter 1', { jitterFraction: 1 }],
    ['negative jitter', { jitterFraction: -0.1 }],
    ['a NaN issue time', { issuedAt: Number.NaN }],
  ])('rejects %s', (_, overrides) => {
    expect(() => plan(HOUR, overrides)).toThrow(RangeError);
  });
});
