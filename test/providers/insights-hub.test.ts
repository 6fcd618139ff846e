// The insightsHub provider against the Insights Hub TTM emulator: single tenant, batches, discovery,
// per-tenant failures, the Secret layout, call counts per round, throttling and expiry from `timestamp`.
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InsightsHubSpec } from '../../src/providers/insights-hub.ts';
import { InsightsHubProvider } from '../../src/providers/insights-hub.ts';
import type { ProviderContext, TokenSet } from '../../src/providers/types.ts';
import { basicHeader, findPlantedSecrets } from '../emulators/common.ts';
import {
  InsightsHubEmulator,
  TTM_DEFAULT_APP,
  XCELERATOR_BASE_PATH,
  type InsightsHubOptions,
} from '../emulators/insights-hub.ts';
import { ManualClock, MemoryState, providerContext, expectProviderError } from './context.ts';

const APP = TTM_DEFAULT_APP;
const KEY = basicHeader(APP.clientId, APP.clientSecret);
const LIFETIME_MS = 1_799_000; // the emulator's expires_in
const provider = new InsightsHubProvider();
let clock: ManualClock;
let ttm: InsightsHubEmulator;

async function start(options: InsightsHubOptions = {}): Promise<void> {
  ttm = new InsightsHubEmulator({ clock, ...options });
  await ttm.start();
}

beforeEach(async () => {
  clock = new ManualClock();
  await start();
});

afterEach(async () => {
  await ttm.stop();
});

function spec(overrides: Partial<InsightsHubSpec> = {}): InsightsHubSpec {
  return {
    baseUrl: ttm.url,
    credentialsRef: { name: 'ttm-app', clientIdKey: 'client_id', clientSecretKey: 'client_secret' },
    appName: APP.appName,
    appVersion: APP.appVersion,
    hostTenant: APP.hostTenant,
    userTenants: ['usertenanta'],
    batchSize: 5,
    pageSize: 100,
    ...overrides,
  };
}

const ALL: Partial<InsightsHubSpec> = { userTenants: undefined, allUserTenants: true };

function obtain(
  s: InsightsHubSpec,
  current?: TokenSet,
  secret = APP.clientSecret,
): ReturnType<InsightsHubProvider['obtain']> {
  const overrides: Partial<ProviderContext> = { clock };
  if (current)
    overrides.current = { data: current.data, issuedAt: current.issuedAt, expiresAt: current.expiresAt };
  return provider.obtain(
    s,
    providerContext({ 'ttm-app/client_id': APP.clientId, 'ttm-app/client_secret': secret }, overrides),
  );
}

function tenantKeys(data: Record<string, string>): string[] {
  return Object.keys(data)
    .filter((key) => key.startsWith('token.'))
    .map((key) => key.slice('token.'.length))
    .sort();
}

function provisioned(count: number): string[] {
  for (let i = APP.userTenants.length; i < count; i += 1)
    ttm.provision(`tenant${String(i).padStart(3, '0')}`);
  return ttm.userTenants();
}

function bodiesOf(route: string): Record<string, unknown>[] {
  return ttm
    .requests()
    .filter((request) => request.route === route)
    .map((request) => request.body as Record<string, unknown>);
}

describe('one tenant', () => {
  it('calls oauth/token once with X-SPACE-AUTH-KEY and writes the per-tenant and the standard keys', async () => {
    const now = clock.now();
    const tokens = await obtain(spec());
    expect(Object.keys(tokens.data).sort()).toEqual([
      'expires_at',
      'expires_at.usertenanta',
      'tenants',
      'token',
      'token.usertenanta',
      'token_type',
    ]);
    expect(tokens.data.token).toBe(tokens.data['token.usertenanta']);
    expect(decodeJwt(tokens.data.token ?? '').ten).toBe('usertenanta');
    expect(tokens.data).toMatchObject({
      tenants: 'usertenanta',
      token_type: 'Bearer',
      expires_at: new Date(now + LIFETIME_MS).toISOString(),
      'expires_at.usertenanta': new Date(now + LIFETIME_MS).toISOString(),
    });
    expect(tokens).toMatchObject({ issuedAt: now, expiresAt: now + LIFETIME_MS, expirySource: 'expires_in' });
    expect(tokens.tenants).toEqual({ ready: 1, total: 1, failing: [] });
    expect(ttm.count(ttm.routes.token)).toBe(1);
    expect(ttm.count(ttm.routes.oauthTokens)).toBe(0);
    const [logged] = ttm.requests();
    expect(logged?.headers['x-space-auth-key']).toBe('Basic [redacted]');
    expect(logged?.body).toEqual({
      appName: APP.appName,
      appVersion: APP.appVersion,
      hostTenant: APP.hostTenant,
      userTenant: 'usertenanta',
    });
  });

  it('mints the host tenant token when no user tenant is listed', async () => {
    const tokens = await obtain(spec({ userTenants: undefined }));
    expect(decodeJwt(tokens.data.token ?? '').ten).toBe(APP.hostTenant);
    expect(tokens.data.tenants).toBe(APP.hostTenant);
  });

  it('says which tenant is not provisioned and where to check', async () => {
    const error = await expectProviderError(obtain(spec({ userTenants: ['nosuchtenant'] })));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'TenantNotProvisioned', httpStatus: 403 });
    expect(error.message).toContain('tenant nosuchtenant');
    expect(error.message).toMatch(/Developer Cockpit.*Operator/);
  });

  it('serves the Xcelerator path when baseUrl names it', async () => {
    await ttm.stop();
    await start({ basePath: XCELERATOR_BASE_PATH });
    const tokens = await obtain(spec({ baseUrl: `${ttm.url}${XCELERATOR_BASE_PATH}/` }));
    expect(decodeJwt(tokens.data.token ?? '')['sws.samauth.ten']).toBe('usertenanta');
    expect(ttm.count(`POST ${XCELERATOR_BASE_PATH}/oauth/token`)).toBe(1);
  });
});

describe('a list of tenants', () => {
  it('12 tenants with batchSize 5 take exactly 3 oauthTokens calls, one key per tenant', async () => {
    const tenants = provisioned(12);
    const tokens = await obtain(spec({ userTenants: tenants }));
    expect(ttm.count(ttm.routes.oauthTokens)).toBe(3);
    expect(ttm.count(ttm.routes.token)).toBe(0);
    expect(
      bodiesOf(ttm.routes.oauthTokens)
        .map((body) => (body.userTenantIds as string[]).length)
        .sort(),
    ).toEqual([2, 5, 5]);
    expect(tenantKeys(tokens.data)).toEqual([...tenants].sort());
    for (const tenant of tenants) {
      expect(decodeJwt(tokens.data[`token.${tenant}`] ?? '').ten).toBe(tenant);
      expect(tokens.data[`expires_at.${tenant}`]).toBe(new Date(clock.now() + LIFETIME_MS).toISOString());
      // The same tokens by tenant id, for spec.secret.template's `tenants` variable.
      expect(tokens.perTenant?.[tenant]).toEqual({
        token: tokens.data[`token.${tenant}`],
        tokenType: 'Bearer',
        expiresAt: clock.now() + LIFETIME_MS,
      });
    }
    expect(Object.keys(tokens.perTenant ?? {}).sort()).toEqual([...tenants].sort());
    expect(tokens.data.tenants?.split('\n')).toEqual([...tenants].sort());
    expect(tokens.data.token_type).toBe('Bearer');
    expect(tokens.data.token).toBeUndefined(); // the standard keys are for single-tenant specs only
    expect(tokens.data.expires_at).toBeUndefined();
    expect(tokens.tenants).toEqual({ ready: 12, total: 12, failing: [] });
    expect(bodiesOf(ttm.routes.oauthTokens)[0]).toMatchObject({
      appName: APP.appName,
      appVersion: APP.appVersion,
      hostTenantId: APP.hostTenant,
    });
  });

  it('a batchSize above what the server takes is a terminal error that names the limit', async () => {
    ttm.knobs.maxTokensPerCall = 2;
    const error = await expectProviderError(
      obtain(spec({ userTenants: ['usertenanta', 'usertenantb', 'usertenantc'] })),
    );
    expect(error).toMatchObject({ kind: 'terminal', reason: 'BatchSizeTooLarge', httpStatus: 400 });
    expect(error.message).toContain('lower spec.provider.insightsHub.batchSize to 2');
    const tokens = await obtain(
      spec({ userTenants: ['usertenanta', 'usertenantb', 'usertenantc'], batchSize: 2 }),
    );
    expect(tokens.tenants?.ready).toBe(3);
  });

  it('a failing tenant does not stop the others and is named in tenants.failing', async () => {
    ttm.failTenant('usertenantb', { status: 500, message: 'tenant backend down' });
    const tokens = await obtain(spec({ userTenants: ['usertenanta', 'usertenantb', 'usertenantc'] }));
    expect(tenantKeys(tokens.data)).toEqual(['usertenanta', 'usertenantc']);
    expect(tokens.data.tenants).toBe('usertenanta\nusertenantc');
    expect(tokens.tenants).toMatchObject({ ready: 2, total: 3 });
    expect(tokens.tenants?.failing.map(({ tenant, reason }) => ({ tenant, reason }))).toEqual([
      { tenant: 'usertenantb', reason: 'TenantTokenFailed' },
    ]);
    expect(tokens.tenants?.failing[0]?.message).toContain('tenant usertenantb: ');
    expect(tokens.tenants?.failing[0]?.message).toContain('tenant backend down');
    expect(ttm.count(ttm.routes.oauthTokens)).toBe(1);
  });

  it('a per-tenant tooManyRequests entry counts as rate-limited, not as a broken tenant', async () => {
    ttm.failTenant('usertenantb', { status: 429 });
    const tokens = await obtain(spec({ userTenants: ['usertenanta', 'usertenantb'] }));
    expect(tokens.tenants?.failing.map((entry) => entry.reason)).toEqual(['RateLimited']);
  });

  it('a tenant id a Secret key cannot hold gets a sanitized, hashed key that tenants lists', async () => {
    ttm.provision('tenant/one two');
    const tokens = await obtain(spec({ userTenants: ['usertenanta', 'tenant/one two'] }));
    const [odd] = tenantKeys(tokens.data).filter((key) => key !== 'usertenanta');
    expect(odd).toMatch(/^tenant_one_two-[0-9a-f]{12}$/);
    expect(decodeJwt(tokens.data[`token.${odd ?? ''}`] ?? '').ten).toBe('tenant/one two');
    expect(tokens.data.tenants?.split('\n').sort()).toEqual([odd, 'usertenanta'].sort());
    for (const key of Object.keys(tokens.data)) expect(key).toMatch(/^[-._a-zA-Z0-9]{1,253}$/);
  });

  it('an unprovisioned tenant, which fails its whole batch, is found tenant by tenant', async () => {
    const tokens = await obtain(spec({ userTenants: ['usertenanta', 'gone', 'usertenantc'] }));
    expect(tenantKeys(tokens.data)).toEqual(['usertenanta', 'usertenantc']);
    expect(tokens.tenants?.failing.map(({ tenant, reason }) => ({ tenant, reason }))).toEqual([
      { tenant: 'gone', reason: 'TenantNotProvisioned' },
    ]);
    expect(tokens.tenants?.failing[0]?.message).toContain('is not provisioned to tenant gone');
    expect(ttm.count(ttm.routes.oauthTokens)).toBe(1);
    expect(ttm.count(ttm.routes.token)).toBe(3);
  });

  it('when every tenant fails, the round fails with a retryable error that counts them', async () => {
    ttm.failTenant('usertenanta', { status: 500 });
    ttm.failTenant('usertenantb', { status: 500 });
    const error = await expectProviderError(obtain(spec({ userTenants: ['usertenanta', 'usertenantb'] })));
    expect(error).toMatchObject({ kind: 'transient', reason: 'TenantTokenFailed' });
    expect(error.message).toContain('none of the 2 tenants got a token (2 TenantTokenFailed)');
  });

  it('keeps a tenant’s previous token while valid when its renewal fails, and drops it once expired', async () => {
    const userTenants = ['usertenanta', 'usertenantb', 'usertenantc'];
    const first = await obtain(spec({ userTenants }));
    const firstExpiry = first.expiresAt;
    ttm.failTenant('usertenantb', { status: 503, message: 'try later' });
    clock.advance(20 * 60_000);
    const second = await obtain(spec({ userTenants }), first);
    expect(second.data['token.usertenantb']).toBe(first.data['token.usertenantb']);
    expect(second.data['expires_at.usertenantb']).toBe(first.data['expires_at.usertenantb']);
    expect(second.data['token.usertenanta']).not.toBe(first.data['token.usertenanta']);
    expect(second.data.tenants).toBe('usertenanta\nusertenantb\nusertenantc');
    // The set is renewed by its earliest token: the kept one.
    expect(second).toMatchObject({ issuedAt: clock.now(), expiresAt: firstExpiry });
    expect(second.tenants).toMatchObject({ ready: 2, total: 3 });
    expect(second.tenants?.failing[0]?.message).toContain(
      `previous token stays in the Secret until ${new Date(firstExpiry).toISOString()}`,
    );

    clock.set(firstExpiry - 30_000);
    const third = await obtain(spec({ userTenants }), second);
    expect(tenantKeys(third.data)).toEqual(['usertenanta', 'usertenantc']);
    expect(third.expiresAt).toBe(clock.now() + LIFETIME_MS);
    expect(third.tenants?.failing[0]?.message).not.toContain('previous token');
  });

  it('a tenant removed from the spec leaves the data at once, valid token or not', async () => {
    const first = await obtain(spec({ userTenants: ['usertenanta', 'usertenantb', 'usertenantc'] }));
    const second = await obtain(spec({ userTenants: ['usertenanta', 'usertenantc'] }), first);
    expect(tenantKeys(second.data)).toEqual(['usertenanta', 'usertenantc']);
    expect(second.data['expires_at.usertenantb']).toBeUndefined();
  });
});

describe('all user tenants', () => {
  it('250 tenants, page size 100: 1 operator token, 3 pages, ceil(250 / 5) batches', async () => {
    const tenants = provisioned(250);
    const tokens = await obtain(spec(ALL));
    expect(ttm.count(ttm.routes.token)).toBe(1);
    expect(ttm.count(ttm.routes.userTenants)).toBe(3);
    expect(ttm.count(ttm.routes.oauthTokens)).toBe(50);
    expect(tenantKeys(tokens.data)).toEqual([...tenants].sort());
    expect(tokens.tenants).toEqual({ ready: 250, total: 250, failing: [] });
    expect(bodiesOf(ttm.routes.token)).toEqual([
      expect.objectContaining({ hostTenant: APP.hostTenant, userTenant: APP.hostTenant }),
    ]);
    const pages = ttm.requests().filter((request) => request.route === ttm.routes.userTenants);
    expect(pages.map((request) => request.query).sort((a, b) => Number(a.page) - Number(b.page))).toEqual([
      { page: '0', size: '100' },
      { page: '1', size: '100' },
      { page: '2', size: '100' },
    ]);
    expect(pages[0]?.headers.authorization).toBe('Bearer [redacted]');
  });

  it('a short first page whose page.size says the size used ends the list without another call', async () => {
    const tokens = await obtain(spec(ALL));
    expect(tenantKeys(tokens.data)).toEqual(['usertenanta', 'usertenantb', 'usertenantc']);
    expect(ttm.count(ttm.routes.userTenants)).toBe(1);
  });

  it('tenants provisioned and deprovisioned between rounds appear in and vanish from the data', async () => {
    const first = await obtain(spec(ALL));
    expect(tenantKeys(first.data)).toEqual(['usertenanta', 'usertenantb', 'usertenantc']);
    ttm.provision('newtenant');
    ttm.deprovision('usertenantb');
    clock.advance(60_000);
    const second = await obtain(spec(ALL), first);
    expect(tenantKeys(second.data)).toEqual(['newtenant', 'usertenanta', 'usertenantc']);
    expect(second.data.tenants).toBe('newtenant\nusertenanta\nusertenantc');
    expect(second.data['expires_at.usertenantb']).toBeUndefined();
    expect(second.tenants).toEqual({ ready: 3, total: 3, failing: [] });
  });

  it('a page size above the server maximum is a terminal error that names the maximum', async () => {
    ttm.knobs.oversizedPage = 'reject';
    const error = await expectProviderError(obtain(spec({ ...ALL, pageSize: 500 })));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'PageSizeTooLarge' });
    expect(error.message).toContain('lower spec.provider.insightsHub.pageSize to 100');
  });

  it('a host tenant the app does not run on is reported as such', async () => {
    const error = await expectProviderError(obtain(spec({ ...ALL, hostTenant: 'otherhost' })));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'TenantNotProvisioned' });
    expect(error.message).toContain('hostTenant = userTenant = otherhost');
    expect(ttm.count(ttm.routes.userTenants)).toBe(0);
  });
});

describe('token responses', () => {
  it('reads a lowercase bearer and a string timestamp (the samples page shapes)', async () => {
    Object.assign(ttm.knobs, { tokenType: 'bearer', timestampAsString: true, clockSkewMs: -60_000 });
    const now = clock.now();
    const tokens = await obtain(spec({ userTenants: ['usertenanta', 'usertenantb'] }));
    expect(tokens.data.token_type).toBe('Bearer');
    // Only the string timestamp yields this expiry: the JWT and expires_in alone give later ones.
    expect(tokens.expiresAt).toBe(now - 60_000 + LIFETIME_MS);
    expect(tokens.data['expires_at.usertenantb']).toBe(new Date(now - 60_000 + LIFETIME_MS).toISOString());
  });

  it.each([
    ['ahead', 120_000, 0],
    ['behind', -120_000, -120_000],
  ])(
    'a provider clock %s of ours never makes expiry later than request start + expires_in',
    async (_, skew, shift) => {
      ttm.knobs.clockSkewMs = skew;
      const now = clock.now();
      for (const userTenants of [['usertenanta'], ['usertenanta', 'usertenantb']]) {
        const tokens = await obtain(spec({ userTenants }));
        expect(tokens.expiresAt).toBe(now + shift + LIFETIME_MS);
        expect(tokens.expiresAt).toBeLessThanOrEqual(now + LIFETIME_MS);
        expect(tokens.issuedAt).toBe(now);
      }
    },
  );
});

describe('throttling and credentials', () => {
  it('429 with Retry-After carries the delay; without it, backoff', async () => {
    ttm.throttle(ttm.routes.token, { retryAfter: 7 }).throttle(ttm.routes.token);
    const first = await expectProviderError(obtain(spec()));
    expect(first).toMatchObject({ kind: 'rate-limited', reason: 'RateLimited', retryAfterMs: 7000 });
    const second = await expectProviderError(obtain(spec()));
    expect(second).toMatchObject({ kind: 'rate-limited', reason: 'RateLimited', retryAfterMs: undefined });
    expect((await obtain(spec())).tenants?.ready).toBe(1);
  });

  it('a throttled list stops calling and reports the delay', async () => {
    const tenants = provisioned(30);
    ttm.throttle(ttm.routes.oauthTokens, { retryAfter: 30, times: Number.POSITIVE_INFINITY });
    const error = await expectProviderError(obtain(spec({ userTenants: tenants })));
    expect(error).toMatchObject({ kind: 'rate-limited', retryAfterMs: 30_000 });
    expect(error.message).toContain('none of the 30 tenants');
    expect(ttm.count(ttm.routes.oauthTokens)).toBeLessThan(6);
  });

  it('a rate budget hit mid-round keeps the tokens obtained before it', async () => {
    const tenants = provisioned(12);
    ttm.knobs.rateBudget = { limit: 1, windowMs: 60_000, retryAfter: true };
    const tokens = await obtain(spec({ userTenants: tenants }));
    const { ready = 0, total = 0, failing = [] } = tokens.tenants ?? {};
    expect(ready).toBeGreaterThan(0);
    expect(total).toBe(12);
    expect(ready + failing.length).toBe(12);
    expect(new Set(failing.map((entry) => entry.reason))).toEqual(new Set(['RateLimited']));
    expect(tenantKeys(tokens.data)).toHaveLength(ready);
  });

  it.each([
    ['a single tenant', {}],
    ['a list', { userTenants: ['usertenanta', 'usertenantb'] }],
    ['all tenants', ALL],
  ])('bad app credentials are terminal and mention the 365-day validity (%s)', async (_, overrides) => {
    const error = await expectProviderError(obtain(spec(overrides), undefined, 'not-the-ttm-secret'));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidCredentials', httpStatus: 401 });
    expect(error.message).toContain('365 days');
    expect(error.message).toContain('Secret test-ns/ttm-app');
    expect(error.message).not.toContain('not-the-ttm-secret');
  });

  it('never puts X-SPACE-AUTH-KEY or the client secret in a message, even when the server echoes them', async () => {
    const echo = `key ${KEY} (${KEY.slice('Basic '.length)}) secret ${APP.clientSecret}`;
    ttm.faults.push(ttm.routes.token, {
      kind: 'status',
      status: 401,
      body: { errors: [{ code: 'mdsp.core.generic.unauthorized', logref: 'abc', message: echo }] },
    });
    const messages = [(await expectProviderError(obtain(spec()))).message];
    ttm.faults.push(ttm.routes.token, { kind: 'status', status: 502, body: echo });
    messages.push((await expectProviderError(obtain(spec()))).message);
    ttm.failTenant('usertenantb', { status: 500, message: echo });
    const partial = await obtain(spec({ userTenants: ['usertenanta', 'usertenantb'] }));
    messages.push(...(partial.tenants?.failing ?? []).map((entry) => entry.message));
    expect(messages).toHaveLength(3);
    expect(findPlantedSecrets(messages.join('\n'), [APP.clientSecret, KEY.slice('Basic '.length)])).toEqual(
      [],
    );
    expect(messages[0]).toContain('[redacted]');
  });
});

describe('strict server: a 429 mid-round, transient tenant failures, paging without page counts', () => {
  const TENANTS = 22;
  let state: MemoryState;
  let waits: number[];
  // Waiting out Retry-After moves the injected clock instead of real time.
  const strictProvider = new InsightsHubProvider({
    sleep: (ms) => {
      waits.push(ms);
      clock.advance(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
  });

  beforeEach(async () => {
    await ttm.stop();
    await start({ strict: true });
    state = new MemoryState();
    waits = [];
  });

  function obtainStrict(s: InsightsHubSpec, current?: TokenSet): Promise<TokenSet> {
    const overrides: Partial<ProviderContext> = { clock, state, deadline: clock.now() + 30_000 };
    if (current)
      overrides.current = { data: current.data, issuedAt: current.issuedAt, expiresAt: current.expiresAt };
    return strictProvider.obtain(
      s,
      providerContext(
        { 'ttm-app/client_id': APP.clientId, 'ttm-app/client_secret': APP.clientSecret },
        overrides,
      ),
    );
  }

  it.each([1, 3, 5])(
    '22 tenants, batchSize 5, oauthTokens call %i answered 429 with Retry-After 2: every tenant has a token after the first round',
    async (call) => {
      ttm.knobs.throttledBatchCalls = { calls: [call], retryAfterSeconds: 2 };
      const tenants = provisioned(TENANTS);
      const tokens = await obtainStrict(spec({ userTenants: tenants }));
      expect(tenantKeys(tokens.data)).toEqual([...tenants].sort());
      expect(tokens.tenants).toEqual({ ready: TENANTS, total: TENANTS, failing: [] });
      expect(tokens.warnings).toBeUndefined();
      expect(tokens.checkAgainAt).toBeUndefined();
      // Five batches and the one answered 429 sent again, after the server's delay and not before.
      expect(ttm.count(ttm.routes.oauthTokens)).toBe(6);
      expect(waits.reduce((sum, ms) => sum + ms, 0)).toBe(2_000);
      const sent = bodiesOf(ttm.routes.oauthTokens).flatMap((body) => body.userTenantIds as string[]);
      expect(new Set(sent)).toEqual(new Set(tenants));
    },
  );

  it('a Retry-After the round cannot wait out schedules those tenants and says so, without claiming a retry that does not happen', async () => {
    ttm.knobs.throttledBatchCalls = { calls: [2], retryAfterSeconds: 120 };
    const tenants = provisioned(TENANTS);
    const now = clock.now();
    const tokens = await obtainStrict(spec({ userTenants: tenants }));
    expect(waits).toEqual([]);
    const { ready = 0, failing = [] } = tokens.tenants ?? {};
    expect(ready).toBeGreaterThan(0);
    expect(ready + failing.length).toBe(TENANTS);
    expect(tenantKeys(tokens.data)).toHaveLength(ready);
    // The next attempt is the server's delay, not the next renewal 20 minutes away.
    expect(tokens.checkAgainAt).toBe(now + 120_000);
    for (const entry of failing) {
      expect(entry.reason).toBe('RateLimited');
      expect(entry.message).not.toContain('retrying after');
      expect(entry.message).toContain('asked to wait 120 s, longer than this round can wait');
      expect(entry.message).toContain(`Next attempt at ${new Date(now + 120_000).toISOString()}`);
    }
    const warning = tokens.warnings?.[0];
    expect(warning?.reason).toBe('TenantsWithoutToken');
    expect(warning?.message).toMatch(
      new RegExp(`^${failing.length} of 22 tenants have no token in the Secret: `),
    );
    expect(warning?.message).toContain(`${failing[0]?.tenant ?? '?'} (RateLimited)`);
    expect(warning?.message).toContain(
      `tries them again at ${new Date(now + 120_000).toISOString()} (backoff).`,
    );

    ttm.knobs.throttledBatchCalls = undefined;
    clock.set(tokens.checkAgainAt ?? 0);
    const next = await obtainStrict(spec({ userTenants: tenants }), tokens);
    expect(tenantKeys(next.data)).toEqual([...tenants].sort());
    expect(next.warnings).toBeUndefined();
    expect(next.checkAgainAt).toBeUndefined();
  });

  it('a transient 5xx for one tenant is retried on its own backoff, long before the next renewal', async () => {
    const tenants = provisioned(TENANTS);
    ttm.knobs.throttledBatchCalls = undefined;
    const sick = tenants[7] ?? '';
    ttm.failTenant(sick, { status: 503, message: 'tenant store unavailable' });
    const start = clock.now();
    const first = await obtainStrict(spec({ userTenants: tenants }));
    expect(first.tenants?.ready).toBe(TENANTS - 1);
    expect(first.warnings?.[0]?.message).toContain(`1 of 22 tenants have no token in the Secret: ${sick} (`);
    // First failure: PROVIDER_BACKOFF's 5 s ceiling, half of it with random 0.5.
    expect(first.checkAgainAt).toBe(start + 2_500);
    expect(first.tenants?.failing[0]?.message).toContain('(failure 1 in a row)');
    expect(JSON.parse((await state.read())['insightsHub.tenantFailures'] ?? '{}')).toEqual({ [sick]: 1 });

    clock.set(first.checkAgainAt ?? 0);
    const second = await obtainStrict(spec({ userTenants: tenants }), first);
    // Second failure in a row: the backoff doubles.
    expect(second.checkAgainAt).toBe((first.checkAgainAt ?? 0) + 5_000);
    expect(second.tenants?.failing[0]?.message).toContain('(failure 2 in a row)');

    ttm.clearTenantFailure(sick);
    clock.set(second.checkAgainAt ?? 0);
    const healed = await obtainStrict(spec({ userTenants: tenants }), second);
    expect(tenantKeys(healed.data)).toEqual([...tenants].sort());
    expect(healed.tenants).toEqual({ ready: TENANTS, total: TENANTS, failing: [] });
    expect(healed.warnings).toBeUndefined();
    expect(healed.checkAgainAt).toBeUndefined();
    expect((await state.read())['insightsHub.tenantFailures']).toBeUndefined();
    expect(clock.now() - start).toBeLessThan(60_000);
  });

  it.each([
    ['fewer than asked (20 for 100)', 20, 250, 13],
    ['more than asked (150 for 100)', 150, 250, 2],
    ['a last page that is exactly full (20 for 100, 40 tenants)', 20, 40, 3],
  ])(
    'paging with all-zero page objects and a page size the server picks, %s, finds every tenant',
    async (_, served, count, pages) => {
      ttm.knobs.servedPageSize = served;
      ttm.knobs.throttledBatchCalls = undefined;
      const tenants = provisioned(count);
      const tokens = await obtainStrict(spec(ALL));
      expect(tenantKeys(tokens.data)).toEqual([...tenants].sort());
      expect(tokens.tenants).toMatchObject({ ready: count, total: count });
      expect(ttm.count(ttm.routes.userTenants)).toBe(pages);
    },
  );

  it('a server that ignores `page` and sends the same list forever ends discovery after one repeat', async () => {
    ttm.knobs.throttledBatchCalls = undefined;
    ttm.knobs.servedPageSize = 100;
    const tenants = provisioned(100);
    const tokens = await obtainStrict(spec(ALL));
    expect(tenantKeys(tokens.data)).toEqual([...tenants].sort());
    expect(ttm.count(ttm.routes.userTenants)).toBe(2);
  });

  it('the strict server refuses unknown request fields, so the provider sends only the documented ones', async () => {
    ttm.knobs.throttledBatchCalls = undefined;
    const tenants = provisioned(6);
    expect((await obtainStrict(spec({ userTenants: tenants }))).tenants?.ready).toBe(6);
    const extra = await fetch(`${ttm.url}${ttm.basePath}/oauthTokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-space-auth-key': KEY },
      body: JSON.stringify({
        appName: APP.appName,
        appVersion: APP.appVersion,
        hostTenantId: APP.hostTenant,
        userTenantIds: ['usertenanta'],
        scope: 'x',
      }),
    });
    expect(extra.status).toBe(400);
    expect(await extra.text()).toContain('Unrecognized field(s): scope');
  });
});
