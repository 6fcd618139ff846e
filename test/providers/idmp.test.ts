// The idmp and idmpCloud providers against the IDMP emulator on loopback (vendor notes §5, seed 000):
// enterprise password login and its blockers, and the cloud tokens a person copies from a browser,
// which the operator can only distribute, check and warn about.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IdmpCloudSpec } from '../../src/providers/idmp-cloud.ts';
import type { IdmpSpec } from '../../src/providers/idmp.ts';
import { ManualClock } from '../../src/policy/clock.ts';
import { IdmpCloudProvider, IDMP_CLOUD_ACCESS_TOKEN_KEY } from '../../src/providers/idmp-cloud.ts';
import { IdmpProvider } from '../../src/providers/idmp.ts';
import { findPlantedSecrets, REDACTED } from '../emulators/common.ts';
import {
  IDMP_DEFAULT_USER,
  IDMP_ROUTES,
  IdmpEmulator,
  type CloudSession,
  type StrictLogin,
} from '../emulators/idmp.ts';
import { providerContext, expectProviderError } from './context.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const USER = IDMP_DEFAULT_USER;

const clock = new ManualClock();
let enterprise: IdmpEmulator;
let cloud: IdmpEmulator;

beforeAll(async () => {
  enterprise = new IdmpEmulator({ clock });
  cloud = new IdmpEmulator({ clock, knobs: { mode: 'cloud' } });
  await Promise.all([enterprise.start(), cloud.start()]);
});

afterAll(async () => {
  await Promise.all([enterprise.stop(), cloud.stop()]);
});

beforeEach(() => {
  for (const emulator of [enterprise, cloud]) {
    emulator.faults.clear();
    emulator.clearRequests();
  }
  Object.assign(enterprise.knobs, {
    tokenTtlSeconds: 604_800,
    expClaim: true,
    captcha: false,
    captchaStatus: 400,
    envelopeLoginResponse: false,
    strictLogin: undefined,
  });
  cloud.knobs.cloudBearerIsJwt = true;
});

describe('idmp (enterprise login)', () => {
  const provider = new IdmpProvider();
  const spec = (baseUrl = enterprise.url): IdmpSpec => ({
    baseUrl,
    credentialsRef: { name: 'idmp-login', usernameKey: 'username', passwordKey: 'password' },
  });
  const inputs = (password = USER.password): Record<string, string> => ({
    'idmp-login/username': USER.loginName,
    'idmp-login/password': password,
  });
  const context = (password?: string, extra: Parameters<typeof providerContext>[1] = {}) =>
    providerContext(inputs(password), { clock, ...extra });

  it('logs in sending login_name only (the wire name of the vendor scripts); expiry from the JWT exp (7 days)', async () => {
    const keys = { token: 'jwt', tokenType: 'type', expiresAt: 'until' };
    const tokens = await provider.obtain(spec(), context(undefined, { keys }));
    expect(Object.keys(tokens.data).sort()).toEqual(['jwt', 'type', 'until']);
    expect(tokens.data.jwt?.split('.')).toHaveLength(3);
    expect(tokens.data.type).toBe('Bearer');
    expect(tokens).toMatchObject({
      issuedAt: clock.now(),
      expiresAt: clock.now() + 7 * DAY,
      expirySource: 'jwt',
    });
    expect(tokens.data.until).toBe(new Date(clock.now() + 7 * DAY).toISOString());
    expect(tokens.warnings).toBeUndefined();
    const logged = enterprise.requests().at(-1);
    expect(logged?.route).toBe(IDMP_ROUTES.login);
    expect(logged?.body).toEqual({ login_name: USER.loginName, password: REDACTED });
  });

  it('renews by logging in again: a new token each time', async () => {
    const before = enterprise.issuedCount();
    const first = await provider.obtain(spec(), context());
    clock.advance(HOUR);
    const second = await provider.obtain(spec(), context());
    expect(enterprise.issuedCount() - before).toBe(2);
    expect(second.data.token).not.toBe(first.data.token);
    expect(second.expiresAt - first.expiresAt).toBe(HOUR);
  });

  it('reads data.token from the enveloped login response', async () => {
    enterprise.knobs.envelopeLoginResponse = true;
    const tokens = await provider.obtain(spec(), context());
    expect(tokens.data.token?.split('.')).toHaveLength(3);
    expect(tokens.expiresAt).toBe(clock.now() + 7 * DAY);
  });

  it('uses spec.refresh.assumedLifetime when the JWT has no exp, and says to set it when absent', async () => {
    Object.assign(enterprise.knobs, { expClaim: false, tokenTtlSeconds: 3600 });
    const tokens = await provider.obtain(spec(), context(undefined, { assumedLifetimeMs: 50 * 60_000 }));
    expect(tokens).toMatchObject({ expiresAt: clock.now() + 50 * 60_000, expirySource: 'assumed' });

    const error = await expectProviderError(provider.obtain(spec(), context()));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'UnknownExpiry' });
    expect(error.message).toContain('spec.refresh.assumedLifetime');
    expect(error.message).toContain('604800');
  });

  it('warns when the server clock is behind and the token arrives half used', async () => {
    const ahead = new ManualClock(clock.now() + 4 * DAY);
    const tokens = await provider.obtain(spec(), context(undefined, { clock: ahead }));
    expect(tokens.expiresAt).toBe(clock.now() + 7 * DAY);
    expect(tokens.warnings?.map((w) => w.reason)).toEqual(['ShortTokenLifetime']);
  });

  it('a wrong password is a terminal LoginFailed quoting IDMP, naming the Secret, never the password', async () => {
    const wrong = 'Wr0ng-Idmp-passw0rd';
    const error = await expectProviderError(provider.obtain(spec(), context(wrong)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginFailed', httpStatus: 401 });
    expect(error.message).toContain('code 401, message "Invalid login name or password"');
    expect(error.message).toContain('Secret test-ns/idmp-login (keys username and password)');
    expect(findPlantedSecrets(error.message, [wrong, USER.password])).toEqual([]);
  });

  it('a login error inside a 200 envelope is judged by its code', async () => {
    enterprise.faults.push(IDMP_ROUTES.login, {
      kind: 'status',
      status: 200,
      body: { code: 401, message: 'Invalid login name or password', data: null },
    });
    const error = await expectProviderError(provider.obtain(spec(), context()));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginFailed', httpStatus: 401 });
  });

  it.each([400, 403])('CAPTCHA on (answered %i) is CaptchaRequired, with the way out', async (status) => {
    Object.assign(enterprise.knobs, { captcha: true, captchaStatus: status });
    const error = await expectProviderError(provider.obtain(spec(), context()));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'CaptchaRequired', httpStatus: status });
    expect(error.message).toContain('cannot be automated');
    expect(error.message).toContain('ENABLE_LOGIN_CAPTCHA_CHECK');
    expect(error.message).toContain('API key');
  });

  it('429 honours Retry-After, and leaves the delay to backoff without it', async () => {
    enterprise.throttle(IDMP_ROUTES.login, { retryAfter: 7 }).throttle(IDMP_ROUTES.login);
    const hinted = await expectProviderError(provider.obtain(spec(), context()));
    expect(hinted).toMatchObject({ kind: 'rate-limited', reason: 'RateLimited', retryAfterMs: 7000 });
    expect(hinted.message).toContain('Too Many Requests');
    const bare = await expectProviderError(provider.obtain(spec(), context()));
    expect(bare).toMatchObject({ kind: 'rate-limited', retryAfterMs: undefined });
    expect(bare.message).toContain('with backoff');
  });

  it.each([
    ['a 500 {code,message}', { kind: 'status', status: 500, body: { code: 500, message: 'db down' } }, 500],
    ['an HTML 502 from nginx', { kind: 'html', status: 502 }, 502],
  ] as const)('%s is transient', async (_name, fault, status) => {
    enterprise.faults.push(IDMP_ROUTES.login, fault);
    const error = await expectProviderError(provider.obtain(spec(), context()));
    expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderServerError', httpStatus: status });
  });

  it('the cloud service has no login endpoint: 404 points at idmpCloud', async () => {
    const error = await expectProviderError(provider.obtain(spec(cloud.url), context()));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'EndpointNotFound' });
    expect(error.message).toContain('spec.provider.idmpCloud');
  });

  it('has no release: IDMP documents no logout', () => {
    expect('release' in provider).toBe(false);
  });
});

describe('idmp against a strict Java server (one DTO, Jackson, Bean Validation)', () => {
  const spec = (loginField?: IdmpSpec['loginField']): IdmpSpec => ({
    baseUrl: enterprise.url,
    credentialsRef: { name: 'idmp-login', usernameKey: 'username', passwordKey: 'password' },
    ...(loginField === undefined ? {} : { loginField }),
  });
  const context = (password = USER.password) =>
    providerContext({ 'idmp-login/username': USER.loginName, 'idmp-login/password': password }, { clock });
  const strict = (
    loginField: StrictLogin['loginField'],
    unknownFields: StrictLogin['unknownFields'] = 'reject',
  ) => {
    enterprise.knobs.strictLogin = { loginField, unknownFields };
  };
  const sentFields = () =>
    enterprise
      .requests()
      .filter((r) => r.route === IDMP_ROUTES.login)
      .map((r) =>
        Object.keys(r.body as Record<string, unknown>)
          .sort()
          .join(','),
      );

  it('the strict emulator refuses what Jackson refuses, quoting Jackson', async () => {
    strict('loginName');
    const both = await fetch(`${enterprise.url}/api/v1/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login_name: 'a', loginName: 'a', password: 'b' }),
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { message: string }).message).toBe(
      'JSON parse error: Unrecognized field "login_name" (class com.taosdata.tda.user.dto.LoginReqDTO), ' +
        'not marked as ignorable (2 known properties: "loginName", "password"])',
    );
    const nested = await fetch(`${enterprise.url}/api/v1/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ loginName: { value: 'a' }, password: 'b' }),
    });
    expect(((await nested.json()) as { message: string }).message).toMatch(
      /Cannot deserialize value of type `java.lang.String` from Object value/,
    );
  });

  it.each<[StrictLogin['loginField'], StrictLogin['unknownFields'], string[]]>([
    ['login_name', 'reject', ['login_name,password']],
    ['loginName', 'reject', ['login_name,password', 'loginName,password']],
    ['loginName', 'ignore', ['login_name,password', 'loginName,password']],
  ])('a server expecting %s (unknown fields: %s) gets a token', async (field, unknownFields, sent) => {
    strict(field, unknownFields);
    const tokens = await new IdmpProvider().obtain(spec(), context());
    expect(tokens.data.token?.split('.')).toHaveLength(3);
    expect(sentFields()).toEqual(sent);
  });

  it('remembers the name that worked for this baseUrl: the second renewal sends one request', async () => {
    strict('loginName');
    const provider = new IdmpProvider();
    await provider.obtain(spec(), context());
    expect(sentFields()).toEqual(['login_name,password', 'loginName,password']);
    enterprise.clearRequests();
    clock.advance(HOUR);
    await provider.obtain({ ...spec(), baseUrl: `${enterprise.url}/` }, context());
    expect(sentFields()).toEqual(['loginName,password']);
  });

  it('a pinned loginField is sent alone, and never swapped', async () => {
    strict('loginName');
    await new IdmpProvider().obtain(spec('loginName'), context());
    expect(sentFields()).toEqual(['loginName,password']);

    enterprise.clearRequests();
    const error = await expectProviderError(new IdmpProvider().obtain(spec('login_name'), context()));
    expect(sentFields()).toEqual(['login_name,password']);
    expect(error).toMatchObject({ kind: 'terminal', reason: 'RequestRejected', httpStatus: 400 });
    expect(error.message).toContain(
      'rejected the request itself, not the credentials (400: message "JSON parse error: Unrecognized field "login_name" (class',
    );
    expect(error.message).toContain(
      'spec.provider.idmp.loginField pins the login name\'s field to "login_name": if the server names that field, set spec.provider.idmp.loginField to "loginName"',
    );
    expect(error.message).toContain("report this message with the IDMP server's version");
    expect(error.message).not.toContain('Check the login name and password');
  });

  it('a wrong password on a strict server is still LoginFailed, after finding the name', async () => {
    strict('loginName');
    const wrong = 'Wr0ng-Idmp-passw0rd';
    const provider = new IdmpProvider();
    const error = await expectProviderError(provider.obtain(spec(), context(wrong)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginFailed', httpStatus: 401 });
    expect(error.message).toContain('Check the login name and password in Secret test-ns/idmp-login');
    expect(findPlantedSecrets(error.message, [wrong, USER.password])).toEqual([]);
    // The 401 shows the server read the body: the next login sends loginName at once.
    enterprise.clearRequests();
    await provider.obtain(spec(), context());
    expect(sentFields()).toEqual(['loginName,password']);
  });

  it('a server that takes neither name: RequestRejected quoting both answers, tried once each', async () => {
    enterprise.knobs.strictLogin = {
      loginField: 'username' as StrictLogin['loginField'],
      unknownFields: 'reject',
    };
    const error = await expectProviderError(new IdmpProvider().obtain(spec(), context()));
    expect(sentFields()).toEqual(['login_name,password', 'loginName,password']);
    expect(error).toMatchObject({ kind: 'terminal', reason: 'RequestRejected' });
    expect(error.message).toMatch(
      /sent the login name as "login_name" \(answered: message "JSON parse error: Unrecognized field "login_name".*\) and then as "loginName"; the server refused both/,
    );
    expect(findPlantedSecrets(error.message, [USER.password])).toEqual([]);
  });
});

describe('idmpCloud (tokens copied by a person)', () => {
  const provider = new IdmpCloudProvider();
  const SECRET = 'idmp-cloud-tokens';
  const spec = (overrides: Partial<IdmpCloudSpec> = {}): IdmpCloudSpec => ({
    baseUrl: cloud.url,
    tokensRef: { name: SECRET, bearerTokenKey: 'bearer_token', accessTokenKey: 'access_token' },
    checkPath: '/api/v1/elements?current=1&size=1',
    checkInterval: '10m',
    warnBefore: '24h',
    ...overrides,
  });
  const context = (pair: Pick<CloudSession, 'bearer' | 'accessToken'>) =>
    providerContext(
      { [`${SECRET}/bearer_token`]: pair.bearer, [`${SECRET}/access_token`]: pair.accessToken },
      { clock },
    );
  const secrets = (pair: CloudSession) => [pair.bearer, pair.accessToken];

  function expectInstructions(message: string, pair: CloudSession): void {
    expect(message).toContain(`IDMP cloud console at ${cloud.url}`);
    expect(message).toContain('DevTools Network tab');
    expect(message).toContain(`Secret test-ns/${SECRET} under the keys bearer_token and access_token`);
    expect(message).toContain(`kubectl -n test-ns patch secret ${SECRET} --type merge`);
    expect(message).toContain('<AUTHORIZATION_VALUE_WITHOUT_BEARER_PREFIX>');
    expect(findPlantedSecrets(message, secrets(pair))).toEqual([]);
  }

  it('copies both tokens and checks them with one GET sending both headers', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const tokens = await provider.obtain(spec(), context(pair));
    expect(tokens.data).toEqual({
      token: pair.bearer,
      token_type: 'Bearer',
      [IDMP_CLOUD_ACCESS_TOKEN_KEY]: pair.accessToken,
      expires_at: new Date(pair.expiresAt).toISOString(),
    });
    expect(tokens).toMatchObject({
      issuedAt: clock.now(),
      expiresAt: pair.expiresAt,
      expirySource: 'jwt',
      checkAgainAt: clock.now() + 10 * 60_000,
    });
    expect(tokens.warnings).toBeUndefined();
    const requests = cloud.requests();
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      route: IDMP_ROUTES.elements,
      query: { current: '1', size: '1' },
      status: 200,
      headers: { authorization: `Bearer ${REDACTED}`, 'access-token': REDACTED },
    });
  });

  it('accepts values pasted with a "Bearer " prefix and a trailing newline', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const tokens = await provider.obtain(
      spec(),
      context({ bearer: `Bearer ${pair.bearer}\n`, accessToken: ` ${pair.accessToken}\n` }),
    );
    expect(tokens.data.token).toBe(pair.bearer);
    expect(tokens.data[IDMP_CLOUD_ACCESS_TOKEN_KEY]).toBe(pair.accessToken);
  });

  it('an opaque Bearer has no known expiry: a rolling 2 × checkInterval, source human', async () => {
    cloud.knobs.cloudBearerIsJwt = false;
    const pair = cloud.mintCloudSession();
    const tokens = await provider.obtain(spec({ checkInterval: '15m' }), context(pair));
    expect(tokens).toMatchObject({
      expiresAt: clock.now() + 30 * 60_000,
      expirySource: 'human',
      checkAgainAt: clock.now() + 15 * 60_000,
    });
    expect(tokens.data.expires_at).toBe(new Date(clock.now() + 30 * 60_000).toISOString());
    expect(tokens.warnings).toBeUndefined();
  });

  it('warns with the instructions, and no token, when the Bearer expires within warnBefore', async () => {
    const pair = cloud.mintCloudSession(2 * HOUR);
    const tokens = await provider.obtain(spec(), context(pair));
    expect(tokens.data.token).toBe(pair.bearer);
    expect(tokens.warnings).toHaveLength(1);
    const [warning] = tokens.warnings ?? [];
    expect(warning?.reason).toBe('TokensExpiringSoon');
    expect(warning?.message).toContain(`expires at ${new Date(pair.expiresAt).toISOString()} (in 2h`);
    expectInstructions(warning?.message ?? '', pair);
  });

  it('checks again at the JWT expiry when that comes before the interval', async () => {
    const pair = cloud.mintCloudSession(5 * 60_000);
    const tokens = await provider.obtain(spec(), context(pair));
    expect(tokens.checkAgainAt).toBe(pair.expiresAt);
  });

  it('a revoked session is HumanActionRequired with the instructions', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    cloud.revokeCloudSession(pair.bearer);
    const error = await expectProviderError(provider.obtain(spec(), context(pair)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'HumanActionRequired', httpStatus: 401 });
    expect(error.message).toContain('code 401, message "Unauthorized"');
    expect(error.message).toContain('no longer work');
    expectInstructions(error.message, pair);
  });

  it.each([
    ['a 403', { kind: 'status', status: 403, body: { code: 403, message: 'Forbidden' } }, 403],
    [
      'a 401 inside a 200 envelope',
      { kind: 'status', status: 200, body: { code: 401, message: 'Unauthorized' } },
      401,
    ],
  ] as const)('%s from the check is HumanActionRequired', async (_name, fault, status) => {
    const pair = cloud.mintCloudSession(7 * DAY);
    cloud.faults.push(IDMP_ROUTES.elements, fault);
    const error = await expectProviderError(provider.obtain(spec(), context(pair)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'HumanActionRequired', httpStatus: status });
    expectInstructions(error.message, pair);
  });

  it('values from two different sessions are HumanActionRequired', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const other = cloud.mintCloudSession(7 * DAY);
    const mixed = { ...pair, accessToken: other.accessToken };
    const error = await expectProviderError(provider.obtain(spec(), context(mixed)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'HumanActionRequired' });
    expect(findPlantedSecrets(error.message, [...secrets(pair), other.accessToken])).toEqual([]);
  });

  it('an expired Bearer is HumanActionRequired without asking the server', async () => {
    const pair = cloud.mintCloudSession(HOUR);
    clock.advance(HOUR + 1000);
    const error = await expectProviderError(provider.obtain(spec(), context(pair)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'HumanActionRequired' });
    expect(error.message).toContain(`expired at ${new Date(pair.expiresAt).toISOString()}`);
    expectInstructions(error.message, pair);
    expect(cloud.count()).toBe(0);
  });

  it.each([
    ['a connection reset', { kind: 'reset' }, 'ConnectionReset'],
    ['a 503', { kind: 'status', status: 503, body: { code: 503, message: 'busy' } }, 'ProviderServerError'],
    ['an HTML 502', { kind: 'html', status: 502 }, 'ProviderServerError'],
  ] as const)('%s during the check is transient, not HumanActionRequired', async (_name, fault, reason) => {
    const pair = cloud.mintCloudSession(7 * DAY);
    cloud.faults.push(IDMP_ROUTES.elements, fault);
    const error = await expectProviderError(provider.obtain(spec(), context(pair)));
    expect(error).toMatchObject({ kind: 'transient', reason });
    expect(findPlantedSecrets(error.message, secrets(pair))).toEqual([]);
  });

  it('the check endpoint not reachable at all is transient and says the tokens were not judged', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const down = spec(); // its URL is read while the emulator runs
    await cloud.stop();
    try {
      const error = await expectProviderError(provider.obtain(down, context(pair)));
      expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderUnreachable' });
      expect(error.message).toContain('nothing is known about the tokens');
    } finally {
      await cloud.start();
    }
  });

  it('a 429 on the check is rate-limited', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    cloud.throttle(IDMP_ROUTES.elements, { retryAfter: 30 });
    const error = await expectProviderError(provider.obtain(spec(), context(pair)));
    expect(error).toMatchObject({ kind: 'rate-limited', retryAfterMs: 30_000 });
  });

  it('a wrong checkPath is a terminal error naming the field', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const missing = await expectProviderError(
      provider.obtain(spec({ checkPath: '/api/v1/nothing' }), context(pair)),
    );
    expect(missing).toMatchObject({ kind: 'terminal', reason: 'CheckEndpointNotFound', httpStatus: 404 });
    expect(missing.message).toContain('spec.provider.idmpCloud.checkPath');

    cloud.faults.push(IDMP_ROUTES.elements, { kind: 'html', status: 200 });
    const page = await expectProviderError(provider.obtain(spec(), context(pair)));
    expect(page).toMatchObject({ kind: 'terminal', reason: 'CheckInconclusive' });
    expect(page.message).toContain('spec.provider.idmpCloud.checkPath');
  });

  it('a value that cannot be a header is refused without quoting it', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const broken = { ...pair, accessToken: `${pair.accessToken.slice(0, 8)} ${pair.accessToken.slice(8)}` };
    const error = await expectProviderError(provider.obtain(spec(), context(broken)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidTokenFormat' });
    expect(error.message).toContain(
      'Access-token value in Secret test-ns/idmp-cloud-tokens key access_token',
    );
    expect(
      findPlantedSecrets(error.message, [pair.accessToken.slice(0, 8), pair.accessToken.slice(8)]),
    ).toEqual([]);
    expect(cloud.count()).toBe(0);
  });

  it('refuses a checkInterval under a minute', async () => {
    const pair = cloud.mintCloudSession(7 * DAY);
    const error = await expectProviderError(provider.obtain(spec({ checkInterval: '5s' }), context(pair)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidSpec' });
    expect(error.message).toContain('spec.provider.idmpCloud.checkInterval');
  });
});
