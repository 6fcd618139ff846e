// The tapdata provider against the TapData emulator: the vendor's quirks, and every kind of bad
// answer a token endpoint can give, each turned into a clear error and never a crash.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TapdataSpec } from '../../src/providers/tapdata.ts';
import { createHttpClient } from '../../src/http/client.ts';
import { ProviderError } from '../../src/errors/failure.ts';
import { TapdataProvider } from '../../src/providers/tapdata.ts';
import { TAPDATA_DEFAULT_CLIENT, TapdataEmulator } from '../emulators/tapdata.ts';
import { providerContext, expectProviderError } from './context.ts';

const ROUTE = 'POST /oauth/token';
const provider = new TapdataProvider();
let tapdata: TapdataEmulator;

const inputs = (secret = TAPDATA_DEFAULT_CLIENT.clientSecret): Record<string, string> => ({
  'tapdata-client/client_id': TAPDATA_DEFAULT_CLIENT.clientId,
  'tapdata-client/client_secret': secret,
});

function spec(overrides: Partial<TapdataSpec> = {}): TapdataSpec {
  return {
    baseUrl: tapdata.url,
    credentialsRef: { name: 'tapdata-client', clientIdKey: 'client_id', clientSecretKey: 'client_secret' },
    bodyFormat: 'form',
    ...overrides,
  };
}

beforeAll(async () => {
  tapdata = new TapdataEmulator();
  await tapdata.start();
});

beforeEach(() => {
  tapdata.faults.clear();
  Object.assign(tapdata.knobs, {
    jsonSupport: false,
    expiresInAsString: false,
    expiresInValue: undefined,
    looseTokenResponse: false,
  });
});

afterAll(async () => {
  await tapdata.stop();
});

describe('tapdata provider', () => {
  it('gets a token with client_secret_post in a form body; 14 days from the numeric expires_in', async () => {
    const started = Date.now();
    const tokens = await provider.obtain(spec(), providerContext(inputs()));
    expect(tokens.data.token?.split('.')).toHaveLength(3);
    expect(tokens.data.token_type).toBe('Bearer');
    expect(tokens.expiresAt - started).toBeGreaterThan(1_209_590_000);
    expect(tokens.expiresAt - started).toBeLessThanOrEqual(1_209_601_000);
    const logged = tapdata.requests().at(-1);
    expect(logged?.headers.authorization).toBeUndefined(); // never Basic: UI-made clients reject it
  });

  it('reads expires_in sent as a string, as the vendor documents it', async () => {
    tapdata.knobs.expiresInAsString = true;
    const started = Date.now();
    const tokens = await provider.obtain(spec(), providerContext(inputs()));
    expect(tokens.expiresAt - started).toBeGreaterThan(1_209_590_000);
  });

  it.each<[string, unknown, string]>([
    [
      'a duration with a unit',
      '14d',
      'expires_in "14d" (a string) is not a number (a unit suffix is not allowed)',
    ],
    [
      'an epoch in ms',
      1_796_000_000_000,
      'expires_in 1796000000000 is longer than 10 years (it looks like a point in time',
    ],
    ['an empty string', '', 'expires_in "" (a string) is not a number'],
    ['words', 'abc', 'expires_in "abc" (a string) is not a number'],
    ['negative', '-1209600', 'expires_in "-1209600" (a string) is not positive'],
    ['huge', 9e15, 'expires_in 9000000000000000 is longer than 10 years'],
  ])(
    'expires_in %s: the JWT exp serves, with an UnusableExpiresIn warning naming it',
    async (_, value, what) => {
      tapdata.knobs.expiresInValue = value;
      const started = Date.now();
      const tokens = await provider.obtain(spec(), providerContext(inputs()));
      expect(tokens.expirySource).toBe('jwt');
      expect(tokens.expiresAt - started).toBeGreaterThan(1_209_590_000);
      expect(tokens.expiresAt - started).toBeLessThanOrEqual(1_209_601_000);
      expect(tokens.warnings).toHaveLength(1);
      const [warning] = tokens.warnings ?? [];
      expect(warning?.reason).toBe('UnusableExpiresIn');
      expect(warning?.message).toContain(`${new URL(tapdata.url).host}/oauth/token: the provider's ${what}`);
      expect(warning?.message).toContain(
        `Ignored it and used the JWT exp claim instead: the token expires at ${new Date(tokens.expiresAt).toISOString().slice(0, 19)}Z.`,
      );
      expect(warning?.message).not.toContain(tokens.data.token ?? '-');
    },
  );

  it('takes the loose answer seed 001 allows: no token_type, a refresh_token, unlisted fields', async () => {
    Object.assign(tapdata.knobs, { looseTokenResponse: true, expiresInAsString: true });
    const started = Date.now();
    const tokens = await provider.obtain(spec(), providerContext(inputs()));
    expect(tokens.data.token_type).toBe('Bearer');
    expect(Object.keys(tokens.data).sort()).toEqual(['expires_at', 'token', 'token_type']);
    expect(tokens.expiresAt - started).toBeGreaterThan(1_209_590_000);
    expect(tokens.warnings).toBeUndefined();
  });

  it('sends JSON to builds that support it', async () => {
    tapdata.knobs.jsonSupport = true;
    const tokens = await provider.obtain(spec({ bodyFormat: 'json' }), providerContext(inputs()));
    expect(tokens.data.token).toBeTruthy();
  });

  it('explains what to change when an old build cannot read a JSON body', async () => {
    const error = await expectProviderError(
      provider.obtain(spec({ bodyFormat: 'json' }), providerContext(inputs())),
    );
    expect(error.message).toContain('bodyFormat: form');
  });

  it('turns a wrong secret into a terminal InvalidClient error without echoing the secret', async () => {
    const error = await expectProviderError(
      provider.obtain(spec(), providerContext(inputs('not-the-secret'))),
    );
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidClient', httpStatus: 401 });
    expect(error.message).not.toContain('not-the-secret');
  });

  it.each<[string, Parameters<TapdataEmulator['faults']['push']>[1], Partial<ProviderError>, RegExp]>([
    [
      'a 429 with Retry-After',
      { kind: 'status', status: 429, body: { error: 'slow_down' }, retryAfter: 30 },
      { kind: 'rate-limited', reason: 'RateLimited', retryAfterMs: 30_000 },
      /429/,
    ],
    [
      'a 503',
      { kind: 'status', status: 503, body: 'maintenance' },
      { kind: 'transient', reason: 'ProviderServerError', httpStatus: 503 },
      /503/,
    ],
    [
      'an HTML error page',
      { kind: 'html', status: 502 },
      { kind: 'transient', reason: 'ProviderServerError', httpStatus: 502 },
      /502/,
    ],
    [
      'invalid JSON',
      { kind: 'invalid-json', status: 200 },
      { kind: 'transient', reason: 'InvalidResponse' },
      /JSON/i,
    ],
    ['a truncated body', { kind: 'truncated', status: 200 }, { kind: 'transient' }, /./],
    ['a connection reset', { kind: 'reset' }, { kind: 'transient' }, /./],
    [
      'a 200 without access_token',
      { kind: 'status', status: 200, body: { token_type: 'Bearer', expires_in: 60 } },
      { kind: 'transient', reason: 'InvalidResponse' },
      /without an access_token/,
    ],
    [
      'a negative expires_in',
      { kind: 'status', status: 200, body: { access_token: 'opaque-token-1', expires_in: -5 } },
      { kind: 'terminal', reason: 'InvalidExpiresIn' },
      /expires_in .* Nothing else gives the token's lifetime \(the token is opaque\).*spec\.refresh\.assumedLifetime/,
    ],
    [
      'an absurd expires_in',
      { kind: 'status', status: 200, body: { access_token: 'opaque-token-2', expires_in: 9e15 } },
      { kind: 'terminal', reason: 'InvalidExpiresIn' },
      /expires_in .* Nothing else gives the token's lifetime \(the token is opaque\).*spec\.refresh\.assumedLifetime/,
    ],
    [
      'a 10 MB body',
      { kind: 'status', status: 200, body: { access_token: 'x'.repeat(10 * 1024 * 1024) } },
      { kind: 'transient', reason: 'ResponseTooLarge' },
      /./,
    ],
  ])('gives a clear error for %s', async (_name, fault, expected, message) => {
    tapdata.faults.push(ROUTE, fault);
    const error = await expectProviderError(provider.obtain(spec(), providerContext(inputs())));
    expect(error).toMatchObject(expected);
    expect(error.message).toMatch(message);
  });

  it('times out a provider that does not answer, marking the outcome unknown', async () => {
    tapdata.faults.push(ROUTE, { kind: 'delay', ms: 3_000 });
    const error = await expectProviderError(
      provider.obtain(spec(), providerContext(inputs(), { http: createHttpClient({ timeoutMs: 500 }) })),
    );
    expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderTimeout', outcomeUnknown: true });
  });
});
