// Clock skew between the operator and the provider, end to end through the pure policy: the
// provider's answer (expires_in, JWT iat/exp, Insights Hub timestamp) → resolveExpiry → planRenewal
// → decide, on an injected clock. What a user expects, whichever clock is wrong:
// - renewal lands before the token truly expires (on the provider's clock, where it is checked);
// - no renewal storm: renewals stay spaced by a share of what each token has left;
// - a warning that names the clock when the skew is large; a dead token is retried with backoff.
import { describe, expect, it } from 'vitest';
import { TapdataProvider, tapdataSchema } from '../providers/tapdata.ts';
import { MapInputs, MemoryState } from '../../test/providers/context.ts';
import { ScriptedHttp } from '../../test/unit/fuzz/hostile.ts';
import { backoffDelay } from './backoff.ts';
import { ManualClock } from './clock.ts';
import { decide, type Observation } from './decide.ts';
import { resolveExpiry, type ExpiryResult } from './expiry.ts';
import { DEFAULT_PROPAGATION_MARGIN_MS, planRenewal } from './renewal.ts';

const T0 = Date.UTC(2026, 0, 1, 12);
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

function jwt(claims: Record<string, number>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

/**
 * A provider whose clock reads ours + skewMs issues a token living lifetimeMs; it is checked on the
 * provider's clock, so on ours it truly expires at providerNow + lifetime - skew.
 */
function providerAnswer(
  now: number,
  skewMs: number,
  lifetimeMs: number,
  shape: 'iat+exp' | 'exp only' | 'expires_in' | 'expires_in+timestamp',
): { input: Parameters<typeof resolveExpiry>[0]; trueExpiry: number } {
  const providerNow = now + skewMs;
  const claims = { iat: Math.floor(providerNow / S), exp: Math.floor((providerNow + lifetimeMs) / S) };
  const input: Parameters<typeof resolveExpiry>[0] = { requestStartedAt: now, receivedAt: now + 50 };
  if (shape === 'iat+exp') input.jwt = jwt(claims);
  if (shape === 'exp only') input.jwt = jwt({ exp: claims.exp });
  if (shape.startsWith('expires_in')) input.expiresIn = lifetimeMs / S;
  if (shape === 'expires_in+timestamp') input.timestamp = providerNow;
  return { input, trueExpiry: claims.exp * S - skewMs };
}

function accepted(result: ExpiryResult): Extract<ExpiryResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected a token, got ${result.reason}: ${result.message}`);
  return result;
}

const plan = (issuedAt: number, expiresAt: number): number =>
  planRenewal({ issuedAt, expiresAt, random: () => 0.5 }).renewAt;

describe('clock skew: renewal is planned before the true expiry', () => {
  const shapes = ['iat+exp', 'expires_in', 'expires_in+timestamp'] as const;
  // Provider clock behind (negative) and ahead (positive) of ours, for a one-hour token.
  const skews = [-45 * MIN, -20 * MIN, -5 * MIN, -30 * S, 30 * S, 5 * MIN, 20 * MIN, 3 * HOUR];
  for (const shape of shapes) {
    for (const skew of skews) {
      it(`${shape}, provider clock ${skew < 0 ? 'behind' : 'ahead'} by ${Math.abs(skew) / S} s`, () => {
        const { input, trueExpiry } = providerAnswer(T0, skew, HOUR, shape);
        const expiry = accepted(resolveExpiry(input));
        const renewAt = plan(expiry.issuedAt, expiry.expiresAt);
        expect(renewAt).toBeGreaterThan(T0);
        // expires_in alone cannot see the provider's clock; it counts from our request, which is
        // when the token was issued whatever the clocks say.
        const deadline = shape === 'expires_in' ? T0 + HOUR : trueExpiry;
        expect(expiry.expiresAt).toBeLessThanOrEqual(deadline);
        expect(renewAt).toBeLessThanOrEqual(deadline - DEFAULT_PROPAGATION_MARGIN_MS);
      });
    }
  }

  it('a JWT exp without iat cannot show a provider clock ahead: expires_in, when sent, bounds it', () => {
    // The known blind spot: exp alone is read on the provider's clock as is.
    const alone = providerAnswer(T0, 10 * MIN, 5 * MIN, 'exp only');
    expect(accepted(resolveExpiry(alone.input)).expiresAt).toBe(alone.trueExpiry + 10 * MIN);
    // With expires_in as well (Keycloak, oidc-provider, TapData, Insights Hub send both), the earlier wins.
    const both = { ...alone.input, expiresIn: 300 };
    expect(accepted(resolveExpiry(both)).expiresAt).toBe(T0 + 5 * MIN);
  });

  it('expires_in and exp disagreeing: the earlier one wins, whichever it is', () => {
    const iat = T0 / S;
    const shortJwt = { requestStartedAt: T0, expiresIn: 3600, jwt: jwt({ iat, exp: iat + 300 }) };
    const shortExpiresIn = { requestStartedAt: T0, expiresIn: 300, jwt: jwt({ iat, exp: iat + 3600 }) };
    expect(accepted(resolveExpiry(shortJwt))).toMatchObject({ expiresAt: T0 + 300 * S, source: 'jwt' });
    expect(accepted(resolveExpiry(shortExpiresIn))).toMatchObject({
      expiresAt: T0 + 300 * S,
      source: 'expires_in',
    });
  });
});

describe('clock skew: warnings', () => {
  it('a provider clock more than a minute ahead is named in a ClockSkew warning', () => {
    const expiry = accepted(resolveExpiry(providerAnswer(T0, 5 * MIN, HOUR, 'iat+exp').input));
    expect(expiry.warningReason).toBe('ClockSkew');
    expect(expiry.warning).toMatch(
      /lies 5m after the operator sent the request: the provider's clock is ahead/,
    );
  });

  it('ordinary NTP-level skew (30 s either way) gives no warning', () => {
    for (const skew of [-30 * S, 30 * S]) {
      expect(accepted(resolveExpiry(providerAnswer(T0, skew, HOUR, 'iat+exp').input)).warning).toBe(
        undefined,
      );
    }
  });

  it('a provider clock behind by more than half the lifetime: a ShortTokenLifetime warning', () => {
    const expiry = accepted(resolveExpiry(providerAnswer(T0, -40 * MIN, HOUR, 'iat+exp').input));
    expect(expiry.warningReason).toBe('ShortTokenLifetime');
    expect(expiry.warning).toMatch(/only \d+m(\d+s)? of its 1h lifetime left .* clock may be behind/);
  });

  it('reaches the user: the oauth2/tapdata token set carries the warning (it used to be dropped)', async () => {
    const clock = new ManualClock(T0);
    const iat = (T0 + 5 * MIN) / S;
    const http = new ScriptedHttp([
      {
        status: 200,
        headers: { 'content-type': 'application/json' },
        text: JSON.stringify({
          access_token: jwt({ iat, exp: iat + 3600 }),
          token_type: 'bearer',
          expires_in: 3600,
        }),
      },
    ]);
    const spec = tapdataSchema.parse({ baseUrl: 'http://tapdata.test', credentialsRef: { name: 'c' } });
    const tokens = await new TapdataProvider().obtain(spec, {
      credential: 'ns/skewed',
      inputs: new MapInputs({ 'c/client_id': 'id', 'c/client_secret': 'secret-value' }),
      state: new MemoryState(),
      http,
      clock,
      signal: new AbortController().signal,
      keys: { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' },
    });
    expect(tokens.expiresAt).toBe(T0 + HOUR);
    expect(tokens.warnings?.[0]?.reason).toBe('ClockSkew');
  });
});

describe('clock skew: no renewal storm', () => {
  function observation(now: number, issuedAt: number, expiresAt: number, renewAt: number): Observation {
    return {
      now,
      inputsHash: 'h',
      output: { state: 'ours', inputsHash: 'h', issuedAt, expiresAt, intact: true, layoutCurrent: true },
      canRepairFromMemory: true,
      failure: { consecutiveFailures: 0, retryAt: undefined, terminal: false, inputsHash: 'h' },
      takeOverAllowed: false,
      manualRefreshRequested: false,
      renewAt,
      checkAt: undefined,
      statusSaysReady: true,
    };
  }

  it.each([
    ['provider 40 min behind on 1 h tokens', -40 * MIN, HOUR, 5 * MIN],
    ['provider 3 h ahead on 1 h tokens', 3 * HOUR, HOUR, 30 * MIN],
    ['provider 7 s behind on 10 s tokens', -7 * S, 10 * S, 1 * S],
  ])('%s: renewals stay spaced, and each token is renewed before it dies', (_, skew, lifetime, minGap) => {
    const clock = new ManualClock(T0);
    const renewals: number[] = [];
    for (let round = 0; round < 20; round += 1) {
      const { input, trueExpiry } = providerAnswer(clock.now(), skew, lifetime, 'iat+exp');
      const expiry = accepted(resolveExpiry(input));
      const renewAt = plan(expiry.issuedAt, expiry.expiresAt);
      expect(renewAt).toBeLessThan(trueExpiry);
      // Nothing to do until renewal is due, and then one obtain.
      expect(decide(observation(clock.now() + 1, expiry.issuedAt, expiry.expiresAt, renewAt)).type).toBe(
        'wait',
      );
      clock.set(renewAt);
      expect(decide(observation(clock.now(), expiry.issuedAt, expiry.expiresAt, renewAt))).toEqual({
        type: 'obtain',
        why: 'renewal-due',
      });
      renewals.push(renewAt);
    }
    const gaps = renewals.slice(1).map((at, index) => at - (renewals[index] ?? at));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(minGap);
  });

  it('a provider clock behind by more than the lifetime: dead on arrival, retried with growing backoff', () => {
    const result = resolveExpiry(providerAnswer(T0, -2 * HOUR, HOUR, 'iat+exp').input);
    expect(result).toMatchObject({ ok: false, reason: 'ExpiredOnArrival' });
    expect(result.ok ? '' : result.message).toMatch(/clock may be behind the operator's \(check NTP/);
    const delays = [1, 2, 3, 4, 5].map((failures) => backoffDelay(failures, () => 0.5));
    for (let i = 1; i < delays.length; i += 1) expect(delays[i]).toBeGreaterThan(delays[i - 1] ?? 0);
  });
});
