// iDempiere REST emulator: login flows, the RequestFilter, refresh rotation with breach detection,
// expiry rules and logout, as in bxservice/idempiere-rest (vendor notes §1, seed 004).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/policy/clock.ts';
import { findPlantedSecrets } from '../../emulators/common.ts';
import { GARDENWORLD_LOGINS, GW, gardenWorld } from '../../emulators/idempiere-data.ts';
import { IDEMPIERE_ROUTES, IdempiereEmulator, type IdempiereOptions } from '../../emulators/idempiere.ts';
import { fetchError, field, http, jwtParts, postJson, putJson, type HttpResult } from './http.ts';

const ADMIN = GARDENWORLD_LOGINS.multiStep;
const WS = GARDENWORLD_LOGINS.abbreviated;
const USER = GARDENWORLD_LOGINS.singleRoleTwoOrgs;
const MINUTE = 60_000;
const START = Date.UTC(2026, 0, 1);

let clock: ManualClock;
let erp: IdempiereEmulator;
let url: string;

async function startWith(options: IdempiereOptions): Promise<void> {
  await erp.stop();
  erp = new IdempiereEmulator({ clock, ...options });
  ({ url } = await erp.start());
}

beforeEach(async () => {
  clock = new ManualClock(START);
  erp = new IdempiereEmulator({ clock });
  ({ url } = await erp.start());
});

afterEach(async () => {
  expect(erp.serverErrors()).toEqual([]);
  await erp.stop();
});

const login = (userName: string, password: string, parameters?: Record<string, unknown>) =>
  postJson(`${url}/api/v1/auth/tokens`, { userName, password, ...(parameters ? { parameters } : {}) });
const finish = (token: string, parameters: Record<string, unknown>) =>
  putJson(`${url}/api/v1/auth/tokens`, parameters, { authorization: `Bearer ${token}` });
const refresh = (
  refreshToken: string,
  ids: { clientId?: unknown; userId?: unknown } = { clientId: GW.client, userId: WS.userId },
) => postJson(`${url}/api/v1/auth/refresh`, { refresh_token: refreshToken, ...ids });
const logout = (token: string) => postJson(`${url}/api/v1/auth/logout`, { token });
const get = (path: string, token?: string) =>
  http(`${url}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
const bpartners = (token: string) => get('/api/v1/models/c_bpartner', token);

interface Session {
  token: string;
  refreshToken: string;
}

function session(result: HttpResult): Session {
  expect(result.status).toBe(200);
  return { token: String(field(result, 'token')), refreshToken: String(field(result, 'refresh_token')) };
}

/** The WebService user's abbreviated login: a full session in one call. */
async function wsSession(): Promise<Session> {
  return session(await login(WS.userName, WS.password));
}

function expectAuthError(result: HttpResult, detail: string): void {
  expect(result.status).toBe(401);
  expect(result.text).toBe(JSON.stringify({ title: 'Authenticate error', status: 401, detail }));
}

function expectTokenError(result: HttpResult, title: string): void {
  expect(result.status).toBe(401);
  expect(result.text).toBe(JSON.stringify({ title, status: 401 }));
}

function expectEmpty401(result: HttpResult): void {
  expect([result.status, result.text]).toEqual([401, '']);
}

describe('normal multi-step login', () => {
  it('step 1 lists clients and returns an auth-only token, HS512 with exact claims and no iat', async () => {
    const step1 = await login(ADMIN.userName, ADMIN.password);
    expect(step1.status).toBe(200);
    expect(Object.keys(step1.body as object)).toEqual(['clients', 'token']);
    expect(field(step1, 'clients')).toEqual([
      { id: 11, name: 'GardenWorld' },
      { id: 1000000, name: 'Sunrise Corp' },
    ]);
    const { header, payload } = jwtParts(field(step1, 'token'));
    expect(JSON.stringify(header)).toBe('{"kid":"idempiere","typ":"JWT","alg":"HS512"}');
    expect(payload).toEqual({
      sub: ADMIN.userName,
      Clients: '11,1000000',
      iss: 'idempiere.org',
      exp: START / 1000 + 3600,
    });
    expectEmpty401(await bpartners(String(field(step1, 'token'))));
  });

  it('walks roles, organizations, warehouses and language, then PUT finishes the session', async () => {
    const step1 = String(field(await login(ADMIN.userName, ADMIN.password), 'token'));
    const roles = await get('/api/v1/auth/roles?client=11', step1);
    expect(roles.body).toEqual({
      roles: [
        { id: 102, name: 'GardenWorld Admin' },
        { id: 103, name: 'GardenWorld User' },
        { id: 50010, name: 'Store Role' },
        { id: 50011, name: 'Store Role' },
      ],
    });
    const orgs = await get('/api/v1/auth/organizations?client=11&role=103', step1);
    expect(orgs.body).toEqual({
      organizations: [
        { id: 11, name: 'HQ' },
        { id: 12, name: 'Store Central' },
      ],
    });
    const warehouses = await get('/api/v1/auth/warehouses?client=11&role=103&organization=11', step1);
    expect(warehouses.body).toEqual({
      warehouses: [
        { id: 50002, name: 'HQ Transit' },
        { id: 103, name: 'HQ Warehouse' },
      ],
    });
    expect((await get('/api/v1/auth/language?client=11', step1)).body).toEqual({ AD_Language: 'en_US' });

    const done = await finish(step1, {
      clientId: 11,
      roleId: 102,
      organizationId: 11,
      warehouseId: 103,
      language: 'en_US',
    });
    expect(done.status).toBe(200);
    // Ids accepted as given are not echoed.
    expect(Object.keys(done.body as object)).toEqual([
      'userId',
      'language',
      'menuTreeId',
      'token',
      'refresh_token',
    ]);
    expect(done.body).toMatchObject({ userId: ADMIN.userId, language: 'en_US', menuTreeId: GW.menuTree });
    const { payload } = jwtParts(field(done, 'token'));
    expect(payload).toEqual({
      sub: ADMIN.userName,
      AD_Client_ID: 11,
      AD_User_ID: ADMIN.userId,
      AD_Role_ID: 102,
      AD_Org_ID: 11,
      M_Warehouse_ID: 103,
      AD_Language: 'en_US',
      AD_Session_ID: expect.any(Number) as unknown,
      iss: 'idempiere.org',
      exp: START / 1000 + 3600,
    });
    const refreshClaims = jwtParts(field(done, 'refresh_token'));
    expect(Object.keys(refreshClaims.payload)).toEqual(['jti', 'iss']);
    expect(refreshClaims.payload.jti).toMatch(/^[0-9a-f]{64}$/);

    const full = String(field(done, 'token'));
    expect(field(await bpartners(full), 'row-count')).toBe(3);
    // A full session token carries no Clients claim: the client-checked lookups refuse it.
    expectAuthError(await get('/api/v1/auth/roles?client=11', full), 'Invalid client');
    expect((await get('/api/v1/auth/language?client=11', full)).status).toBe(200);
  });

  it('lookup errors: invalid client, role, organization; bad language client; unparsable parameter', async () => {
    const step1 = String(field(await login(ADMIN.userName, ADMIN.password), 'token'));
    expectAuthError(await get('/api/v1/auth/roles?client=999', step1), 'Invalid client');
    expectAuthError(await get('/api/v1/auth/organizations?client=11&role=50005', step1), 'Invalid role');
    expectAuthError(
      await get('/api/v1/auth/warehouses?client=11&role=103&organization=50000', step1),
      'Invalid organization',
    );
    expect(await get('/api/v1/auth/language?client=0', step1)).toMatchObject({ status: 400, text: '' });
    expect((await get('/api/v1/auth/roles?client=abc', step1)).status).toBe(404);
  });

  it('PUT echoes what it resolved by name or value, and defaults what is unambiguous', async () => {
    const step1 = String(field(await login(ADMIN.userName, ADMIN.password), 'token'));
    const byName = await finish(step1, {
      clientId: 'GardenWorld',
      roleId: 'GardenWorld Admin',
      organizationId: 'HQ',
      warehouseId: 'Transit',
    });
    expect(byName.body).toMatchObject({
      clientId: 11,
      userId: 101,
      roleId: 102,
      organizationId: 11,
      warehouseId: 50002,
    });
    expect(Object.keys(byName.body as object)).toEqual([
      'clientId',
      'userId',
      'roleId',
      'organizationId',
      'warehouseId',
      'language',
      'menuTreeId',
      'token',
      'refresh_token',
    ]);

    const user1 = String(field(await login(USER.userName, USER.password), 'token'));
    // One client and one role default; two orgs leave organizationId at -1, which fails validation.
    expectAuthError(await finish(user1, {}), 'Invalid organizationId');
    const defaulted = await finish(user1, { organizationId: 'Store Central' });
    expect(defaulted.body).toMatchObject({
      clientId: 11,
      userId: USER.userId,
      roleId: 103,
      organizationId: 12,
      warehouseId: 104,
      language: 'de_DE',
    });
    expect(Object.keys(defaulted.body as object).slice(0, 5)).toEqual([
      'clientId',
      'userId',
      'roleId',
      'organizationId',
      'warehouseId',
    ]);
  });

  it('PUT error details, one per rule', async () => {
    const admin = String(field(await login(ADMIN.userName, ADMIN.password), 'token'));
    const user = String(field(await login(USER.userName, USER.password), 'token'));
    const cases: [string, Record<string, unknown>, string][] = [
      [admin, {}, 'Invalid clientId'],
      [admin, { clientId: 'Nope' }, 'Client value not found'],
      [user, { clientId: GW.sunrise }, 'Invalid clientId'],
      [admin, { clientId: 11 }, 'Missing roleId parameter'],
      [admin, { clientId: 11, roleId: 'No Such Role' }, 'Role name not found'],
      [admin, { clientId: 11, roleId: 'Store Role' }, 'Role name not unique'],
      [admin, { clientId: 11, roleId: GW.uiRole, organizationId: 11 }, 'Invalid roleId'],
      [admin, { clientId: 11, roleId: 102, organizationId: 'Store' }, 'Organization name not unique'],
      [admin, { clientId: 11, roleId: 102, organizationId: 'Nowhere' }, 'Organization name not found'],
      [admin, { clientId: 11, roleId: 102 }, 'Invalid organizationId'],
      [admin, { clientId: 11, roleId: 103, organizationId: GW.fertilizer }, 'Invalid organizationId'],
      [
        admin,
        { clientId: 11, roleId: 102, organizationId: 11, warehouseId: 'No WH' },
        'Warehouse name not found',
      ],
      [admin, { clientId: 11, roleId: 102, organizationId: 11, warehouseId: 104 }, 'Invalid warehouseId'],
    ];
    for (const [token, parameters, detail] of cases) expectAuthError(await finish(token, parameters), detail);
    erp.setLoginError(ADMIN.userName, 'Login vetoed by validator');
    expectAuthError(
      await finish(admin, { clientId: 11, roleId: 102, organizationId: 11 }),
      'Login vetoed by validator',
    );
  });

  it('"Missing organizationId parameter" when the role only reaches org *', async () => {
    const data = gardenWorld();
    const role = data.roles.find((r) => r.id === GW.userRole);
    if (role) role.orgAccess = [0];
    await startWith({ data });
    const step1 = String(field(await login(USER.userName, USER.password), 'token'));
    expectAuthError(await finish(step1, {}), 'Missing organizationId parameter');
  });

  it('honours only enabled login languages', async () => {
    const step1 = String(field(await login(ADMIN.userName, ADMIN.password), 'token'));
    const ids = { clientId: 11, roleId: 102, organizationId: 11 };
    expect(field(await finish(step1, { ...ids, language: 'es_CO' }), 'language')).toBe('es_CO');
    expect(field(await finish(step1, { ...ids, language: 'fr_FR' }), 'language')).toBe('en_US');
  });
});

describe('abbreviated and one-step login', () => {
  it('abbreviated: one client, role and org give a full session straight from step 1', async () => {
    const result = await login(WS.userName, WS.password);
    expect(Object.keys(result.body as object)).toEqual([
      'clients',
      'clientId',
      'userId',
      'roleId',
      'organizationId',
      'warehouseId',
      'language',
      'menuTreeId',
      'token',
      'refresh_token',
    ]);
    expect(result.body).toMatchObject({
      clients: [{ id: 11, name: 'GardenWorld' }],
      clientId: 11,
      userId: WS.userId,
      roleId: GW.webServiceRole,
      organizationId: GW.hq,
      warehouseId: GW.hqWarehouse,
      language: 'en_US',
      menuTreeId: GW.menuTree,
    });
    const { payload } = jwtParts(field(result, 'token'));
    expect(payload).toMatchObject({ Clients: '11', AD_Client_ID: 11, AD_Role_ID: GW.webServiceRole });
    expect((await bpartners(String(field(result, 'token')))).status).toBe(200);
  });

  it('abbreviated login falls back to the normal step 1 when validation fails; menuTreeId knob', async () => {
    erp.setLoginError(WS.userName, 'vetoed');
    expect(Object.keys((await login(WS.userName, WS.password)).body as object)).toEqual(['clients', 'token']);
    erp.setLoginError(WS.userName, undefined);
    erp.knobs.menuTreeIdInResponse = false;
    expect(field(await login(WS.userName, WS.password), 'menuTreeId')).toBeUndefined();
  });

  it('one-step login with ids (JSON numbers, as in the docs) echoes nothing it was given', async () => {
    const result = await login(ADMIN.userName, ADMIN.password, {
      clientId: 11,
      roleId: 102,
      organizationId: 11,
      warehouseId: 103,
      language: 'en_US',
    });
    expect(Object.keys(result.body as object)).toEqual([
      'userId',
      'language',
      'menuTreeId',
      'token',
      'refresh_token',
    ]);
    expect(jwtParts(field(result, 'token')).payload).toMatchObject({ AD_Role_ID: 102, M_Warehouse_ID: 103 });
    expect(jwtParts(field(result, 'token')).payload.Clients).toBeUndefined();
  });

  it('one-step login with names and values echoes the resolved ids', async () => {
    const result = await login(ADMIN.userName, ADMIN.password, {
      clientId: 'GardenWorld',
      roleId: 'GardenWorld User',
      organizationId: 'Store Central',
      warehouseId: 'Store Central',
    });
    expect(result.body).toMatchObject({ clientId: 11, roleId: 103, organizationId: 12, warehouseId: 104 });
    const sunrise = await login(ADMIN.userName, ADMIN.password, {
      clientId: 'Sunrise',
      roleId: 'Sunrise Admin',
    });
    expect(sunrise.body).toMatchObject({
      clientId: GW.sunrise,
      roleId: GW.sunriseRole,
      organizationId: GW.sunriseHq,
      warehouseId: GW.sunriseWarehouse,
      language: 'es_CO',
      menuTreeId: 1000011,
    });
  });

  it('login failures: wrong password, a UI-only user, a disabled or locked user; non-JSON body', async () => {
    const wrong = await login(ADMIN.userName, 'wrong');
    expectAuthError(wrong, 'Invalid User ID or Password');
    expect(Object.keys(wrong.body as object)).toEqual(['title', 'status', 'detail']);
    expectAuthError(
      await login(GARDENWORLD_LOGINS.uiOnly.userName, GARDENWORLD_LOGINS.uiOnly.password),
      'Invalid User ID or Password',
    );
    erp.lockUser(USER.userName);
    expectAuthError(
      await login(USER.userName, USER.password),
      "User account 'GardenUser' is locked, please contact the system administrator",
    );
    erp.disableUser(WS.userName);
    expectAuthError(await login(WS.userName, WS.password), 'Invalid User ID or Password');
    const plain = await http(`${url}/api/v1/auth/tokens`, { method: 'POST', body: 'userName=x' });
    expect(plain.status).toBe(415);
  });
});

describe('RequestFilter', () => {
  it('401 with an empty body when the Authorization header is missing or not "Bearer <token>"', async () => {
    const { token } = await wsSession();
    expectEmpty401(await get('/api/v1/models/c_bpartner'));
    for (const value of ['Basic abc', 'Bearer', `bearer ${token}`, `Bearer${token}`]) {
      expectEmpty401(await http(`${url}/api/v1/models/c_bpartner`, { headers: { authorization: value } }));
    }
  });

  it('puts the java-jwt message in the title, with no detail', async () => {
    const { token } = await wsSession();
    expectTokenError(await bpartners('abc'), 'The token was expected to have 3 parts, but got 0.');
    expectTokenError(await bpartners('a.b'), 'The token was expected to have 3 parts, but got 2.');
    clock.advance(60 * MINUTE + 1);
    expectTokenError(await bpartners(token), 'The Token has expired on 2026-01-01T01:00:00Z.');
    const fresh = await wsSession();
    erp.expireServerSecret();
    expectTokenError(
      await bpartners(fresh.token),
      "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA512",
    );
  });

  it('"User is inactive" and "Client is inactive" for live tokens', async () => {
    const { token } = await wsSession();
    erp.disableUser(WS.userName);
    expectTokenError(await bpartners(token), 'User is inactive');
    erp.enableUser(WS.userName);
    expect((await bpartners(token)).status).toBe(200);
    erp.disableClient(GW.client);
    expectTokenError(await bpartners(token), 'Client is inactive');
  });

  it('access tokens have no exp when REST_TOKEN_EXPIRE_IN_MINUTES is 0', async () => {
    erp.knobs.tokenExpireMinutes = 0;
    const { token } = await wsSession();
    expect(jwtParts(token).payload.exp).toBeUndefined();
    clock.advance(10080 * MINUTE);
    expect((await bpartners(token)).status).toBe(200);
    // Past the absolute session limit the row revokes even a token without exp.
    clock.advance(1);
    expectTokenError(await bpartners(token), 'Token is revoked');
  });
});

describe('refresh', () => {
  it('rotates: new token and refresh token, claims copied with a fresh exp, old access token still valid', async () => {
    const first = await wsSession();
    clock.advance(30 * MINUTE);
    const result = await refresh(first.refreshToken);
    expect(Object.keys(result.body as object)).toEqual(['token', 'refresh_token']);
    const second = session(result);
    // The listed session claims are copied (same AD_Session_ID); the abbreviated token's Clients is not.
    const { Clients, ...before } = jwtParts(first.token).payload;
    expect(Clients).toBe('11');
    const after = jwtParts(second.token).payload;
    expect(after).toEqual({ ...before, exp: (START + 90 * MINUTE) / 1000 });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await bpartners(first.token)).status).toBe(200);
    expect((await bpartners(second.token)).status).toBe(200);
    expect(erp.activeChains()).toMatchObject([{ userId: WS.userId, clientId: GW.client, length: 2 }]);
    // No iat and no jti: a refresh within the same second yields the very same access token string.
    const third = session(await refresh(second.refreshToken));
    expect(third.token).toBe(second.token);
    expect(third.refreshToken).not.toBe(second.refreshToken);
  });

  it('reuse is a breach: the whole chain is revoked and its access tokens are "Token is revoked"', async () => {
    const first = await wsSession();
    const second = session(await refresh(first.refreshToken));
    const third = session(await refresh(second.refreshToken));
    const replay = await refresh(second.refreshToken);
    expectAuthError(replay, 'Invalid refresh token');
    expect(erp.breachCount()).toBe(1);
    expect(erp.breaches()[0]).toMatchObject({ userId: WS.userId, clientId: GW.client });
    expect(erp.breaches()[0]?.revokedRowIds).toHaveLength(3);
    expect(erp.refreshRows().map((row) => row.revokeCause)).toEqual(['BreachChain', 'Breach', 'BreachChain']);
    for (const token of [first.token, second.token, third.token])
      expectTokenError(await bpartners(token), 'Token is revoked');
    expectAuthError(await refresh(third.refreshToken), 'Invalid refresh token');
    expect(erp.activeChains()).toEqual([]);
    expect(erp.breachCount()).toBe(1);
  });

  it('commit-then-drop: the server consumed the refresh token, so resending it is a breach', async () => {
    const first = await wsSession();
    erp.faults.push(IDEMPIERE_ROUTES.refresh, { kind: 'commit-then-drop' });
    expect(await fetchError(refresh(first.refreshToken))).toBeInstanceOf(Error);
    expect(erp.activeChains()).toMatchObject([{ length: 2 }]);
    expect(erp.count(IDEMPIERE_ROUTES.refresh)).toBe(1);
    expectAuthError(await refresh(first.refreshToken), 'Invalid refresh token');
    expect(erp.breachCount()).toBe(1);
    expectTokenError(await bpartners(first.token), 'Token is revoked');
  });

  it('checks in the documented order', async () => {
    const first = await wsSession();
    expectAuthError(await refresh('garbage', {}), 'No clientId provided');
    expectAuthError(await refresh('garbage', { clientId: GW.client }), 'No userId provided');
    expectAuthError(await refresh('garbage'), 'The token was expected to have 3 parts, but got 0.');
    const foreign = `${first.refreshToken.slice(0, -4)}AAAA`;
    expectAuthError(
      await refresh(foreign),
      "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA512",
    );
    expectAuthError(
      await refresh(first.refreshToken, { clientId: GW.sunrise, userId: WS.userId }),
      'Invalid refresh token',
    );
    expectAuthError(
      await refresh(first.refreshToken, { clientId: GW.client, userId: ADMIN.userId }),
      'Invalid refresh token',
    );
    // Mismatched ids did not consume the token.
    const second = session(await refresh(first.refreshToken));
    // Mandatory-field checks come before reuse detection, reuse before the id match.
    expectAuthError(await refresh(first.refreshToken, {}), 'No clientId provided');
    expect(erp.breachCount()).toBe(0);
    expectAuthError(
      await refresh(first.refreshToken, { clientId: GW.sunrise, userId: 1 }),
      'Invalid refresh token',
    );
    expect(erp.breachCount()).toBe(1);
    expectTokenError(await bpartners(second.token), 'Token is revoked');
  });

  it('clientId and userId become optional with the SysConfig switches off (as the docs describe)', async () => {
    erp.knobs.mandatoryClientIdOnRefresh = false;
    erp.knobs.mandatoryUserIdOnRefresh = false;
    const first = await wsSession();
    expect((await refresh(first.refreshToken, {})).status).toBe(200);
    expect(await refresh('x', { clientId: 'eleven' })).toMatchObject({ status: 400, text: '' });
  });

  it('refresh tokens expire after 1440 idle minutes, sliding with each refresh', async () => {
    let current = await wsSession();
    for (let i = 0; i < 3; i += 1) {
      clock.advance(1000 * MINUTE);
      current = session(await refresh(current.refreshToken));
    }
    clock.advance(1440 * MINUTE);
    expect((await refresh(current.refreshToken)).status).toBe(200);
    const idle = await wsSession();
    clock.advance(1440 * MINUTE + 1);
    expectAuthError(await refresh(idle.refreshToken), 'Invalid refresh token');
    expect(erp.breachCount()).toBe(0);
  });

  it('the absolute limit from login is inherited by the chain and also revokes live access tokens', async () => {
    erp.knobs.absoluteExpireMinutes = 120;
    erp.knobs.tokenExpireMinutes = 100;
    const first = await wsSession();
    clock.advance(50 * MINUTE);
    const second = session(await refresh(first.refreshToken));
    clock.advance(50 * MINUTE);
    const third = session(await refresh(second.refreshToken));
    expect(erp.refreshRows().map((row) => row.absoluteExpiresAt)).toEqual([
      START + 120 * MINUTE,
      START + 120 * MINUTE,
      START + 120 * MINUTE,
    ]);
    clock.advance(20 * MINUTE + 1);
    expectAuthError(await refresh(third.refreshToken), 'Invalid refresh token');
    expectTokenError(await bpartners(third.token), 'Token is revoked');
  });
});

describe('logout and revocation', () => {
  it('revokes the whole chain; the token then reads "Token is revoked" and refresh fails', async () => {
    const first = await wsSession();
    const second = session(await refresh(first.refreshToken));
    const result = await logout(second.token);
    expect([result.status, result.text]).toEqual([200, '{"summary":"OK"}']);
    expect(erp.refreshRows().map((row) => row.revokeCause)).toEqual(['Logout', 'Logout']);
    expectTokenError(await bpartners(second.token), 'Token is revoked');
    expectTokenError(await bpartners(first.token), 'Token is revoked');
    expectAuthError(await refresh(second.refreshToken), 'Invalid refresh token');
    expect(erp.activeChains()).toEqual([]);
  });

  it('accepts an expired token, 404s a step-1 token, 401s a bad signature', async () => {
    const { token } = await wsSession();
    clock.advance(3 * 60 * MINUTE);
    expect((await logout(token)).status).toBe(200);
    const step1 = String(field(await login(ADMIN.userName, ADMIN.password), 'token'));
    const noSession = await logout(step1);
    expect([noSession.status, noSession.text]).toEqual([
      404,
      '{"title":"AD_Session_ID not found","status":404}',
    ]);
    expectAuthError(
      await logout(`${step1.slice(0, -4)}AAAA`),
      "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA512",
    );
  });

  it('a password change revokes every refresh token of the user; the old password stops working', async () => {
    const a = await wsSession();
    const b = await wsSession();
    expect(erp.activeChains()).toHaveLength(2);
    expect(erp.changePassword(WS.userName, 'N3w-pass')).toBe(2);
    expect(erp.refreshRows().every((row) => row.revokeCause === 'PasswordChange')).toBe(true);
    expectAuthError(await refresh(a.refreshToken), 'Invalid refresh token');
    expectTokenError(await bpartners(b.token), 'Token is revoked');
    expectAuthError(await login(WS.userName, WS.password), 'Invalid User ID or Password');
    expect((await login(WS.userName, 'N3w-pass')).status).toBe(200);
    expect(erp.expireRefreshTokens()).toBe(1);
    expect(erp.activeChains()).toEqual([]);
  });
});

describe('secret and JWK', () => {
  it('GET /auth/jwk is {} unless exposed, then the HS512 key', async () => {
    expect((await get('/api/v1/auth/jwk')).text).toBe('{}');
    await startWith({ secret: 'a-known-secret', knobs: { exposeJwk: true } });
    expect((await get('/api/v1/auth/jwk')).body).toEqual({
      keys: [
        { alg: 'HS512', k: Buffer.from('a-known-secret').toString('base64'), kid: 'idempiere', kty: 'oct' },
      ],
    });
  });

  it('a restart keeps the secret unless REST_USE_SYSCONFIG_SECRET is N', async () => {
    const kept = await wsSession();
    await erp.restart();
    expect((await bpartners(kept.token)).status).toBe(200);
    erp.knobs.useSysConfigSecret = false;
    await erp.restart();
    expectTokenError(
      await bpartners(kept.token),
      "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA512",
    );
  });
});

it('never records passwords, tokens or refresh tokens (the logout body is a secret too)', async () => {
  // The seeded passwords equal the user names, which the log keeps: plant distinct ones.
  erp.changePassword(WS.userName, 'Pl4nted-ws-pass');
  erp.changePassword(ADMIN.userName, 'Pl4nted-admin-pass');
  const first = session(await login(WS.userName, 'Pl4nted-ws-pass'));
  const second = session(await refresh(first.refreshToken));
  await bpartners(second.token);
  await logout(second.token);
  await login(ADMIN.userName, 'Pl4nted-admin-pass');
  await login(ADMIN.userName, 'Pl4nted-admin-pass', { clientId: 11, roleId: 102, organizationId: 11 });
  const log = JSON.stringify(erp.requests());
  expect(log).toContain(WS.userName);
  const secrets = [
    'Pl4nted-ws-pass',
    'Pl4nted-admin-pass',
    first.token,
    first.refreshToken,
    second.token,
    second.refreshToken,
  ];
  expect(findPlantedSecrets(log, secrets)).toEqual([]);
});
