import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expiryWarnings,
  MAX_LIFETIME_MS,
  resolveExpiry,
  type ExpiryInput,
  type ExpiryResult,
} from './expiry.ts';

const T0 = Date.UTC(2026, 0, 1, 12); // our clock at request start
const S = 1000;
const MIN = 60 * S;
const T0_S = T0 / S;

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsigned JWT carrying the given claims; resolveExpiry never verifies signatures. */
function jwt(claims: Record<string, unknown>): string {
  return `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.c2lnbmF0dXJl`;
}

const ok = (
  expiresAt: number,
  source: 'expires_in' | 'jwt' | 'assumed',
): Extract<ExpiryResult, { ok: true }> => ({
  ok: true,
  issuedAt: T0,
  expiresAt,
  source,
});

/** The same result, with the warning that the provider's clock runs ahead of ours. */
const aheadWarned = (result: Extract<ExpiryResult, { ok: true }>): ExpiryResult => ({
  ...result,
  warning: expect.stringMatching(
    /lies 10m after the operator sent the request: the provider's clock is ahead/,
  ) as string,
  warningReason: 'ClockSkew',
});

describe('resolveExpiry: the earliest candidate wins', () => {
  it.each<[string, Omit<ExpiryInput, 'requestStartedAt'>, ExpiryResult]>([
    ['expires_in as a number (Keycloak)', { expiresIn: 300 }, ok(T0 + 300 * S, 'expires_in')],
    [
      'expires_in as a numeric string (TapData docs)',
      { expiresIn: '1209600' },
      ok(T0 + 1_209_600 * S, 'expires_in'),
    ],
    ['expires_in with spaces and a fraction', { expiresIn: ' 299.5 ' }, ok(T0 + 299_500, 'expires_in')],
    [
      'expires_in null counts as absent',
      { expiresIn: null, assumedLifetimeMs: 3_600_000 },
      ok(T0 + 3_600_000, 'assumed'),
    ],
    [
      'Insights Hub timestamp (a string) a minute before our request: expiry counts from it',
      { expiresIn: 1799, timestamp: String(T0 - MIN) },
      ok(T0 - MIN + 1799 * S, 'expires_in'),
    ],
    [
      'Insights Hub timestamp ahead of our clock: never lengthens the lifetime',
      { expiresIn: 1799, timestamp: T0 + 10 * MIN },
      aheadWarned(ok(T0 + 1799 * S, 'expires_in')),
    ],
    [
      'JWT only (iDempiere): exp - iat from the issue time',
      { jwt: jwt({ iat: T0_S, exp: T0_S + 3600 }) },
      ok(T0 + 3600 * S, 'jwt'),
    ],
    [
      'JWT exp earlier than expires_in: the JWT wins',
      { expiresIn: 3600, jwt: jwt({ iat: T0_S, exp: T0_S + 300 }) },
      ok(T0 + 300 * S, 'jwt'),
    ],
    [
      'expires_in earlier than the JWT exp: expires_in wins',
      { expiresIn: 300, jwt: jwt({ iat: T0_S, exp: T0_S + 3600 }) },
      ok(T0 + 300 * S, 'expires_in'),
    ],
    [
      'a tie goes to expires_in',
      { expiresIn: 300, jwt: jwt({ iat: T0_S, exp: T0_S + 300 }) },
      ok(T0 + 300 * S, 'expires_in'),
    ],
    [
      'iat in our future (provider clock 10 min ahead): lifetime counts from our request start',
      { jwt: jwt({ iat: T0_S + 600, exp: T0_S + 900 }) },
      aheadWarned(ok(T0 + 300 * S, 'jwt')),
    ],
    [
      'iat in our future with expires_in: still never later than request start + lifetime',
      { expiresIn: 300, jwt: jwt({ iat: T0_S + 600, exp: T0_S + 900 }) },
      aheadWarned(ok(T0 + 300 * S, 'expires_in')),
    ],
    [
      'iat two minutes in our past (provider behind, or an older token): the earlier expiry is kept',
      { expiresIn: 300, jwt: jwt({ iat: T0_S - 120, exp: T0_S + 180 }) },
      ok(T0 + 180 * S, 'jwt'),
    ],
    ['JWT exp without iat: read as is', { jwt: jwt({ exp: T0_S + 600 }) }, ok(T0 + 600 * S, 'jwt')],
    [
      'exp before iat: iat is ignored and exp read as is',
      { jwt: jwt({ iat: T0_S + 900, exp: T0_S + 600 }) },
      ok(T0 + 600 * S, 'jwt'),
    ],
    [
      'an opaque token with an assumed lifetime',
      { jwt: 'opaque-token', assumedLifetimeMs: 3_600_000 },
      ok(T0 + 3_600_000, 'assumed'),
    ],
    [
      'a JWT whose exp is a string is treated as carrying no expiry',
      { jwt: jwt({ exp: String(T0_S + 600) }), assumedLifetimeMs: 1_800_000 },
      ok(T0 + 1_800_000, 'assumed'),
    ],
    [
      'a JWT whose exp is decades away is treated as carrying no expiry',
      { jwt: jwt({ iat: T0_S, exp: T0_S + 100 * 365 * 86_400 }), assumedLifetimeMs: 1_800_000 },
      ok(T0 + 1_800_000, 'assumed'),
    ],
    [
      'a JWE (five parts) is opaque',
      { jwt: 'a.b.c.d.e', assumedLifetimeMs: 1_800_000 },
      ok(T0 + 1_800_000, 'assumed'),
    ],
    [
      'three dotted parts that are not a JWT are opaque',
      { jwt: 'not.a.jwt', expiresIn: 60 },
      ok(T0 + 60 * S, 'expires_in'),
    ],
    [
      'the assumed lifetime is ignored when the token carries an expiry',
      { expiresIn: 300, assumedLifetimeMs: 3_600_000 },
      ok(T0 + 300 * S, 'expires_in'),
    ],
  ])('%s', (_, input, expected) => {
    expect(resolveExpiry({ requestStartedAt: T0, ...input })).toEqual(expected);
  });
});

describe('resolveExpiry: tokens that arrive expired or half-used', () => {
  it.each<[string, Omit<ExpiryInput, 'requestStartedAt'>]>([
    [
      'exp in our past, with iat (provider clock far behind)',
      { jwt: jwt({ iat: T0_S - 400, exp: T0_S - 100 }) },
    ],
    ['exp in our past, without iat', { jwt: jwt({ exp: T0_S - 1 }) }],
    ['exp exactly at arrival', { jwt: jwt({ exp: T0_S }) }],
    ['Insights Hub timestamp older than the lifetime', { expiresIn: 1799, timestamp: T0 - 1800 * S }],
    ['the answer took longer than the token lives', { expiresIn: 10, receivedAt: T0 + 11 * S }],
  ])('%s: ExpiredOnArrival, so nothing is written and the caller backs off', (_, input) => {
    const result = resolveExpiry({ requestStartedAt: T0, ...input });
    expect(result).toMatchObject({ ok: false, reason: 'ExpiredOnArrival' });
    expect(result.ok ? '' : result.message).toMatch(/already expired when it arrived.*check NTP/);
  });

  it.each<[string, Omit<ExpiryInput, 'requestStartedAt'>, number]>([
    ['a JWT with 100 s of its 300 s left', { jwt: jwt({ iat: T0_S - 200, exp: T0_S + 100 }) }, T0 + 100 * S],
    [
      'an Insights Hub token with 10 min of 30 left',
      { expiresIn: 1800, timestamp: T0 - 20 * MIN },
      T0 + 10 * MIN,
    ],
  ])('%s: accepted, issued at our request start, with a warning', (_, input, expiresAt) => {
    const result = resolveExpiry({ requestStartedAt: T0, ...input });
    expect(result).toMatchObject({ ok: true, issuedAt: T0, expiresAt });
    expect(result.ok ? result.warning : undefined).toMatch(/only .* left when it arrived/);
  });

  it('a token with more than half its life left carries no warning', () => {
    const result = resolveExpiry({ requestStartedAt: T0, jwt: jwt({ iat: T0_S - 120, exp: T0_S + 180 }) });
    expect(result.ok && result.warning).toBe(undefined);
  });

  it('measures what is left from the arrival time, not the request start', () => {
    const result = resolveExpiry({ requestStartedAt: T0, receivedAt: T0 + 200 * S, expiresIn: 300 });
    expect(result).toMatchObject({ ok: true, issuedAt: T0, expiresAt: T0 + 300 * S });
    expect(result.ok ? result.warning : undefined).toMatch(/only 1m40s of its 5m lifetime left/);
  });

  it('never returns an expiry later than request start + any lifetime, or later than exp (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 86_400 }), // JWT lifetime, s
        fc.integer({ min: -86_400, max: 86_400 }), // provider clock minus ours, s
        fc.option(fc.integer({ min: 1, max: 86_400 }), { nil: undefined }), // expires_in, s
        (lifetime, skew, expiresIn) => {
          const iat = T0_S + skew;
          const result = resolveExpiry({
            requestStartedAt: T0,
            expiresIn,
            jwt: jwt({ iat, exp: iat + lifetime }),
          });
          const shortest = Math.min(lifetime, expiresIn ?? Infinity) * S;
          if (!result.ok) {
            expect(result.reason).toBe('ExpiredOnArrival');
            expect((iat + lifetime) * S).toBeLessThanOrEqual(T0);
            return;
          }
          expect(result.issuedAt).toBe(T0);
          expect(result.expiresAt).toBeGreaterThan(T0);
          expect(result.expiresAt).toBeLessThanOrEqual(T0 + shortest);
          expect(result.expiresAt).toBeLessThanOrEqual((iat + lifetime) * S);
        },
      ),
    );
  });
});

describe('resolveExpiry: an expires_in that cannot be read', () => {
  // TapData documents expires_in as a String (seed 001): anything may come.
  const unusable: [string, unknown, RegExp][] = [
    [
      'a duration with a unit',
      '14d',
      /expires_in "14d" \(a string\) is not a number \(a unit suffix is not allowed\)/,
    ],
    ['an epoch in ms', T0 + 14 * 86_400 * S, /is longer than 10 years \(it looks like a point in time/],
    [
      'an epoch in seconds, as a string',
      String(T0_S + 3600),
      /is longer than 10 years \(it looks like a point in time/,
    ],
    ['an empty string', '', /expires_in "" \(a string\) is not a number/],
    ['words', 'abc', /expires_in "abc" \(a string\) is not a number/],
    ['negative', -5, /expires_in -5 is not positive/],
    ['a negative string', '-5', /expires_in "-5" \(a string\) is not positive/],
    ['zero', 0, /expires_in 0 is not positive/],
    ['huge', 9e15, /expires_in 9000000000000000 is longer than 10 years/],
    ['just over 10 years', MAX_LIFETIME_MS / 1000 + 1, /is longer than 10 years;/],
    ['NaN', Number.NaN, /expires_in NaN is not a number/],
    ['Infinity', Infinity, /expires_in Infinity is not a number/],
    ['exponent notation', '1e3', /expires_in "1e3" \(a string\) is not a number/],
    ['a boolean', true, /expires_in of type boolean is not a number/],
    ['an object', { seconds: 5 }, /expires_in of type object is not a number/],
    ['an array', [300], /expires_in of type array is not a number/],
  ];

  it.each(unusable)(
    '%s: the JWT exp serves, with a notice saying what was unusable',
    (_, expiresIn, what) => {
      const result = resolveExpiry({
        requestStartedAt: T0,
        expiresIn,
        jwt: jwt({ iat: T0_S, exp: T0_S + 300 }),
      });
      expect(result).toMatchObject({ ok: true, expiresAt: T0 + 300 * S, source: 'jwt' });
      const notice = result.ok ? (result.unusableExpiresIn ?? '') : '';
      expect(notice).toMatch(what);
      expect(notice).toContain(
        `Ignored it and used the JWT exp claim instead: the token expires at ${new Date(T0 + 300 * S).toISOString().slice(0, 19)}Z.`,
      );
      expect(result.ok && expiryWarnings(result, 'tapdata:3030/oauth/token')).toEqual([
        { reason: 'UnusableExpiresIn', message: `tapdata:3030/oauth/token: ${notice}` },
      ]);
    },
  );

  it.each(unusable)(
    '%s, an opaque token and no assumed lifetime: InvalidExpiresIn, saying what to do',
    (_, expiresIn, what) => {
      const result = resolveExpiry({ requestStartedAt: T0, expiresIn, jwt: 'opaque-token' });
      expect(result).toMatchObject({ ok: false, reason: 'InvalidExpiresIn' });
      const message = result.ok ? '' : result.message;
      expect(message).toMatch(what);
      expect(message).toContain("Nothing else gives the token's lifetime (the token is opaque).");
      expect(message).toContain('set spec.refresh.assumedLifetime');
    },
  );

  it('a JWT without exp cannot stand in either, and the message says so', () => {
    const result = resolveExpiry({ requestStartedAt: T0, expiresIn: '14d', jwt: jwt({ iat: T0_S }) });
    expect(result).toMatchObject({ ok: false, reason: 'InvalidExpiresIn' });
    expect(result.ok ? '' : result.message).toContain('the JWT carries no usable exp claim');
  });

  it('with neither, spec.refresh.assumedLifetime serves, with the notice', () => {
    const result = resolveExpiry({
      requestStartedAt: T0,
      expiresIn: 'abc',
      jwt: 'opaque-token',
      assumedLifetimeMs: 10 * MIN,
    });
    expect(result).toMatchObject({ ok: true, expiresAt: T0 + 10 * MIN, source: 'assumed' });
    expect(result.ok ? result.unusableExpiresIn : '').toMatch(
      /"abc" \(a string\) is not a number.*used spec\.refresh\.assumedLifetime instead/,
    );
  });

  it('the JWT standing in is still checked on arrival: an expired one is ExpiredOnArrival', () => {
    const result = resolveExpiry({
      requestStartedAt: T0,
      expiresIn: '14d',
      jwt: jwt({ iat: T0_S - 600, exp: T0_S - 60 }),
    });
    expect(result).toMatchObject({ ok: false, reason: 'ExpiredOnArrival' });
  });

  it('a JWT half used when it arrives gives both warnings, the lasting one first', () => {
    const result = resolveExpiry({
      requestStartedAt: T0,
      expiresIn: '',
      jwt: jwt({ iat: T0_S - 400, exp: T0_S + 200 }),
    });
    expect(result.ok && expiryWarnings(result, 'x').map((w) => w.reason)).toEqual([
      'UnusableExpiresIn',
      'ShortTokenLifetime',
    ]);
  });

  it('a readable expires_in gives no notice, also as a numeric string', () => {
    const result = resolveExpiry({ requestStartedAt: T0, expiresIn: ' 300 ', jwt: jwt({ exp: T0_S + 900 }) });
    expect(result).toEqual(ok(T0 + 300 * S, 'expires_in'));
  });
});

describe('resolveExpiry: errors', () => {
  it('accepts exactly 10 years', () => {
    expect(resolveExpiry({ requestStartedAt: T0, expiresIn: MAX_LIFETIME_MS / 1000 })).toMatchObject({
      ok: true,
    });
  });

  it.each<[string, unknown]>([
    ['words', 'yesterday'],
    ['seconds instead of milliseconds', 1_559_120_938],
    ['negative', -1],
  ])('timestamp %s: InvalidTimestamp', (_, timestamp) => {
    expect(resolveExpiry({ requestStartedAt: T0, expiresIn: 1799, timestamp })).toMatchObject({
      ok: false,
      reason: 'InvalidTimestamp',
    });
  });

  it.each([0, -1, Number.NaN, MAX_LIFETIME_MS + 1])(
    'assumed lifetime %d: InvalidAssumedLifetime',
    (assumedLifetimeMs) => {
      expect(resolveExpiry({ requestStartedAt: T0, jwt: 'opaque', assumedLifetimeMs })).toMatchObject({
        ok: false,
        reason: 'InvalidAssumedLifetime',
      });
    },
  );

  it.each<[string, Omit<ExpiryInput, 'requestStartedAt'>, RegExp]>([
    ['no token fields at all', {}, /no expires_in and an opaque token/],
    ['an opaque token', { jwt: 'opaque' }, /no expires_in and an opaque token/],
    ['a JWT without exp', { jwt: jwt({ iat: T0_S }) }, /no expires_in and a JWT without a usable exp claim/],
  ])('%s and no assumed lifetime: NoExpiry, telling the user what to set', (_, input, what) => {
    const result = resolveExpiry({ requestStartedAt: T0, ...input });
    expect(result).toMatchObject({ ok: false, reason: 'NoExpiry' });
    expect(result.ok ? '' : result.message).toMatch(what);
    expect(result.ok ? '' : result.message).toMatch(/Set spec\.refresh\.assumedLifetime/);
  });
});
