// TDengine IDMP emulator: enterprise login, resource access, CAPTCHA and throttling, API keys and
// the cloud header pair (vendor notes §5, seed 000).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/policy/clock.ts';
import { findPlantedSecrets } from '../../emulators/common.ts';
import { IDMP_DEFAULT_USER, IDMP_ROUTES, IdmpEmulator, type IdmpOptions } from '../../emulators/idmp.ts';
import { field, http, jwtParts, postJson } from './http.ts';

const USER = IDMP_DEFAULT_USER;
const WEEK = 604_800;

let clock: ManualClock;
let idmp: IdmpEmulator;
let url: string;

async function startWith(options: IdmpOptions): Promise<void> {
  await idmp.stop();
  idmp = new IdmpEmulator({ clock, ...options });
  ({ url } = await idmp.start());
}

beforeEach(async () => {
  clock = new ManualClock();
  idmp = new IdmpEmulator({ clock });
  ({ url } = await idmp.start());
});

afterEach(async () => {
  await idmp.stop();
});

const login = (body: Record<string, unknown>) => postJson(`${url}/api/v1/users/login`, body);
const elements = (headers: Record<string, string>, query = '?current=1&size=20') =>
  http(`${url}/api/v1/elements${query}`, { headers });
async function loginToken(): Promise<string> {
  return String(field(await login({ login_name: USER.loginName, password: USER.password }), 'token'));
}

describe('enterprise login', () => {
  it('accepts login_name, loginName or both and returns {"token": JWT} with exp = iat + 7 days', async () => {
    for (const body of [
      { login_name: USER.loginName, password: USER.password },
      { loginName: USER.loginName, password: USER.password },
      { login_name: USER.loginName, loginName: USER.loginName, password: USER.password },
    ]) {
      const result = await login(body);
      expect(result.status).toBe(200);
      expect(Object.keys(result.body as object)).toEqual(['token']);
      const { payload } = jwtParts(field(result, 'token'));
      expect(payload.iat).toBe(clock.now() / 1000);
      expect(payload.exp).toBe(clock.now() / 1000 + WEEK);
      expect(payload.sub).toBe(USER.loginName);
    }
  });

  it('answers 401 with a {code,message} body for bad credentials, 400 for a missing field', async () => {
    const wrong = await login({ login_name: USER.loginName, password: 'nope' });
    expect([wrong.status, field(wrong, 'code'), typeof field(wrong, 'message')]).toEqual([
      401,
      401,
      'string',
    ]);
    expect((await login({ login_name: 'ghost@example.com', password: 'x' })).status).toBe(401);
    expect((await login({ login_name: USER.loginName })).status).toBe(400);
    idmp.disableUser(USER.loginName);
    expect((await login({ login_name: USER.loginName, password: USER.password })).status).toBe(401);
  });

  it('a configured TTL, and the "no exp" mode where the server still expires the token', async () => {
    await startWith({ knobs: { tokenTtlSeconds: 600, expClaim: false } });
    const token = await loginToken();
    expect(jwtParts(token).payload.exp).toBeUndefined();
    clock.advance(599_000);
    expect((await elements({ authorization: `Bearer ${token}` })).status).toBe(200);
    clock.advance(1_000);
    expect((await elements({ authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it('wraps the login response in the documented envelope when asked', async () => {
    idmp.knobs.envelopeLoginResponse = true;
    const result = await login({ login_name: USER.loginName, password: USER.password });
    expect(result.body).toMatchObject({
      code: 0,
      message: 'success',
      data: { token: expect.any(String) as unknown },
    });
  });

  it('refuses password login while the CAPTCHA check is on', async () => {
    idmp.knobs.captcha = true;
    const result = await login({ login_name: USER.loginName, password: USER.password });
    expect([result.status, field(result, 'code')]).toEqual([400, 400]);
    idmp.knobs.captcha = false;
    expect((await login({ login_name: USER.loginName, password: USER.password })).status).toBe(200);
  });

  it('throttles with the {code,message} 429 and an optional Retry-After', async () => {
    idmp.throttle(IDMP_ROUTES.login, { retryAfter: 2 }).throttle(IDMP_ROUTES.login);
    const first = await login({ login_name: USER.loginName, password: USER.password });
    expect([first.status, first.body, first.headers.get('retry-after')]).toEqual([
      429,
      { code: 429, message: 'Too Many Requests' },
      '2',
    ]);
    const second = await login({ login_name: USER.loginName, password: USER.password });
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, null]);
    expect(idmp.count(IDMP_ROUTES.login)).toBe(2);
  });
});

describe('GET /api/v1/elements', () => {
  it('pages {current,size,total,rows} for a Bearer token and 401s without one or after expiry', async () => {
    const token = await loginToken();
    const first = await elements({ authorization: `Bearer ${token}` });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ current: 1, size: 20, total: 45 });
    expect(field(first, 'rows')).toHaveLength(20);
    const last = await elements({ authorization: `Bearer ${token}` }, '?current=3&size=20');
    expect(field(last, 'rows')).toHaveLength(5);
    const missing = await elements({});
    expect([missing.status, field(missing, 'code')]).toEqual([401, 401]);
    expect((await elements({ authorization: 'Bearer not-a-jwt' })).status).toBe(401);
    clock.advance(WEEK * 1000);
    expect((await elements({ authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it('a rotated signing key or ended sessions invalidate issued JWTs', async () => {
    const token = await loginToken();
    idmp.revokeAllSessions();
    expect((await elements({ authorization: `Bearer ${token}` })).status).toBe(401);
    const second = await loginToken();
    await idmp.rotateSigningKey();
    expect((await elements({ authorization: `Bearer ${second}` })).status).toBe(401);
  });

  it('accepts user API keys until they expire, are deleted or their owner is deactivated', async () => {
    const forever = idmp.createApiKey();
    const dated = idmp.createApiKey({ expiresAt: clock.now() + 60_000 });
    expect(forever.key).toMatch(/^api_[^.]+\..+$/);
    const use = (key: string) => elements({ authorization: `Bearer ${key}` });
    expect((await use(forever.key)).status).toBe(200);
    expect((await use(dated.key)).status).toBe(200);
    clock.advance(60_000);
    expect((await use(dated.key)).status).toBe(401);
    expect((await use(`${forever.key}x`)).status).toBe(401);
    idmp.deleteApiKey(forever.id);
    expect((await use(forever.key)).status).toBe(401);
    const other = idmp.createApiKey();
    idmp.disableUser(USER.loginName);
    expect((await use(other.key)).status).toBe(401);
  });
});

describe('cloud mode', () => {
  beforeEach(async () => {
    await startWith({ knobs: { mode: 'cloud', cloudSessionTtlMs: 3_600_000 } });
  });

  it('has no login endpoint', async () => {
    expect((await login({ login_name: USER.loginName, password: USER.password })).status).toBe(404);
  });

  it('needs both copied headers, and the pair expires after the configured time', async () => {
    const pair = idmp.mintCloudSession();
    expect(jwtParts(pair.bearer).payload.exp).toBe((clock.now() + 3_600_000) / 1000);
    const both = { authorization: `Bearer ${pair.bearer}`, 'access-token': pair.accessToken };
    expect((await elements(both)).status).toBe(200);
    expect((await elements({ authorization: `Bearer ${pair.bearer}` })).status).toBe(401);
    expect((await elements({ 'access-token': pair.accessToken })).status).toBe(401);
    const other = idmp.mintCloudSession();
    expect((await elements({ ...both, 'access-token': other.accessToken })).status).toBe(401);
    clock.advance(3_600_000);
    expect((await elements(both)).status).toBe(401);
  });

  it('a revoked pair stops working; the bearer can be opaque', async () => {
    idmp.knobs.cloudBearerIsJwt = false;
    const pair = idmp.mintCloudSession();
    expect(pair.bearer.split('.')).toHaveLength(1);
    const headers = { authorization: `Bearer ${pair.bearer}`, 'access-token': pair.accessToken };
    expect((await elements(headers)).status).toBe(200);
    idmp.revokeCloudSession(pair.bearer);
    expect((await elements(headers)).status).toBe(401);
  });

  it('never records the cloud tokens', async () => {
    const pair = idmp.mintCloudSession();
    await elements({ authorization: `Bearer ${pair.bearer}`, 'access-token': pair.accessToken });
    expect(findPlantedSecrets(JSON.stringify(idmp.requests()), [pair.bearer, pair.accessToken])).toEqual([]);
  });
});

it('never records the password, the JWT or an API key', async () => {
  const token = await loginToken();
  const { key } = idmp.createApiKey();
  await elements({ authorization: `Bearer ${token}` });
  await elements({ authorization: `Bearer ${key}` });
  await login({ loginName: USER.loginName, password: USER.password });
  const log = JSON.stringify(idmp.requests());
  expect(log).toContain(USER.loginName);
  expect(findPlantedSecrets(log, [USER.password, token, key])).toEqual([]);
});
