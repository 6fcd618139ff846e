// Insights Hub TTM emulator: oauth/token, oauthTokens, userTenants, provisioning, throttling and keys
// (vendor notes §4, seed 002).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/policy/clock.ts';
import { basicHeader, findPlantedSecrets } from '../../emulators/common.ts';
import {
  InsightsHubEmulator,
  TTM_DEFAULT_APP,
  XCELERATOR_BASE_PATH,
  type InsightsHubOptions,
} from '../../emulators/insights-hub.ts';
import { field, http, jwtParts, postJson, type HttpResult } from './http.ts';

const APP = TTM_DEFAULT_APP;
const KEY = basicHeader(APP.clientId, APP.clientSecret);
const BASE = '/api/technicaltokenmanager/v3';
const fields = (userTenant: string) => ({
  appName: APP.appName,
  appVersion: APP.appVersion,
  hostTenant: APP.hostTenant,
  userTenant,
});

let clock: ManualClock;
let ttm: InsightsHubEmulator;
let url: string;

async function startWith(options: InsightsHubOptions): Promise<void> {
  await ttm.stop();
  ttm = new InsightsHubEmulator({ clock, ...options });
  ({ url } = await ttm.start());
}

beforeEach(async () => {
  clock = new ManualClock();
  ttm = new InsightsHubEmulator({ clock });
  ({ url } = await ttm.start());
});

afterEach(async () => {
  await ttm.stop();
});

const token = (userTenant: string, headers: Record<string, string> = { 'x-space-auth-key': KEY }) =>
  postJson(`${url}${BASE}/oauth/token`, fields(userTenant), headers);
const batch = (userTenantIds: string[]) =>
  postJson(
    `${url}${BASE}/oauthTokens`,
    { appName: APP.appName, appVersion: APP.appVersion, hostTenantId: APP.hostTenant, userTenantIds },
    { 'x-space-auth-key': KEY },
  );
const tenants = (bearer: string, query = '') =>
  http(`${url}${BASE}/userTenants${query}`, { headers: { authorization: `Bearer ${bearer}` } });

function expectMdspError(result: HttpResult, status: number): void {
  expect(result.status).toBe(status);
  const errors = field(result, 'errors') as Record<string, unknown>[];
  expect(errors).toHaveLength(1);
  expect(Object.keys(errors[0] ?? {})).toEqual(['code', 'logref', 'message']);
}

describe('POST oauth/token', () => {
  it('issues the documented response and an RS256 JWT with iat/exp 1800 s apart, verifiable via /token_keys', async () => {
    const result = await token('usertenanta');
    expect(result.status).toBe(200);
    expect(Object.keys(result.body as object)).toEqual([
      'access_token',
      'token_type',
      'expires_in',
      'scope',
      'jti',
      'timestamp',
    ]);
    expect(result.body).toMatchObject({ token_type: 'Bearer', expires_in: 1799, timestamp: clock.now() });
    const { header, payload } = jwtParts(field(result, 'access_token'));
    expect(header).toEqual({ alg: 'RS256', kid: 'key-id-1', typ: 'JWT' });
    expect(Number(payload.exp) - Number(payload.iat)).toBe(1800);
    expect(payload).toMatchObject({
      ten: 'usertenanta',
      client_id: APP.clientId,
      grant_type: 'client_credentials',
    });
    expect(payload.jti).toBe(field(result, 'jti'));
    const jwks = (await http(`${url}/token_keys`)).body as JSONWebKeySet;
    expect(jwks.keys[0]).toMatchObject({ kid: 'key-id-1', alg: 'RS256', use: 'sig' });
    expect(JSON.stringify(jwks.keys[0])).toContain('BEGIN PUBLIC KEY');
    const verified = await jwtVerify(String(field(result, 'access_token')), createLocalJWKSet(jwks), {
      currentDate: new Date(clock.now()),
    });
    expect(verified.payload.iss).toBe('https://usertenanta.piam.eu1.mindsphere.io/oauth/token');
  });

  it('takes the key from Authorization too, and the fields from the query instead of the body', async () => {
    expect((await token('usertenanta', { authorization: KEY })).status).toBe(200);
    const query = new URLSearchParams(fields('usertenanta')).toString();
    const viaQuery = await http(`${url}${BASE}/oauth/token?${query}`, {
      method: 'POST',
      headers: { 'x-space-auth-key': KEY },
    });
    expect(viaQuery.status).toBe(200);
  });

  it('refuses fields split between query and body, and missing fields, with 400', async () => {
    const mixed = await postJson(
      `${url}${BASE}/oauth/token?userTenant=usertenanta`,
      { appName: APP.appName, appVersion: APP.appVersion, hostTenant: APP.hostTenant },
      { 'x-space-auth-key': KEY },
    );
    expectMdspError(mixed, 400);
    const missing = await postJson(
      `${url}${BASE}/oauth/token`,
      { appName: APP.appName },
      { 'x-space-auth-key': KEY },
    );
    expectMdspError(missing, 400);
  });

  it('401 for a missing, wrong, rotated or expired app credential', async () => {
    expectMdspError(await token('usertenanta', {}), 401);
    expectMdspError(
      await token('usertenanta', { 'x-space-auth-key': basicHeader(APP.clientId, 'wrong') }),
      401,
    );
    const secret = ttm.rotateSecret();
    expectMdspError(await token('usertenanta'), 401);
    const fresh = { 'x-space-auth-key': basicHeader(APP.clientId, secret) };
    expect((await token('usertenanta', fresh)).status).toBe(200);
    ttm.expireCredential(undefined, clock.now() + 1000);
    clock.advance(1000);
    expectMdspError(await token('usertenanta', fresh), 401);
  });

  it('403 for an unprovisioned tenant; provisioning changes at run time', async () => {
    expectMdspError(await token('newtenant'), 403);
    ttm.provision('newtenant');
    expect((await token('newtenant')).status).toBe(200);
    ttm.deprovision('usertenanta');
    expectMdspError(await token('usertenanta'), 403);
    expect((await token(APP.hostTenant)).status).toBe(200);
    const wrongApp = await postJson(
      `${url}${BASE}/oauth/token`,
      { ...fields('usertenantb'), appName: 'otherapp' },
      { 'x-space-auth-key': KEY },
    );
    expectMdspError(wrongApp, 403);
  });

  it('knobs: lowercase token_type, string timestamp (as on the samples page), clock skew', async () => {
    ttm.knobs.tokenType = 'bearer';
    ttm.knobs.timestampAsString = true;
    ttm.knobs.clockSkewMs = -90_000;
    const result = await token('usertenanta');
    expect(result.body).toMatchObject({ token_type: 'bearer', timestamp: String(clock.now() - 90_000) });
    expect(jwtParts(field(result, 'access_token')).payload.iat).toBe((clock.now() - 90_000) / 1000);
  });
});

describe('POST oauthTokens', () => {
  it('returns one token per tenant in the samples-page shape', async () => {
    const result = await batch(['usertenanta', 'usertenantb']);
    expect(result.status).toBe(200);
    const list = field(result, 'oauthTokens') as { userTenantId: string; token: Record<string, unknown> }[];
    expect(list.map((entry) => entry.userTenantId)).toEqual(['usertenanta', 'usertenantb']);
    expect(jwtParts(list[1]?.token.access_token).payload.ten).toBe('usertenantb');
    expect(list[0]?.token.expires_in).toBe(1799);
  });

  it('limits tenants per call: 5 by default (samples page), 2 with the spec-mirror knob', async () => {
    for (const t of ['t1', 't2', 't3']) ttm.provision(t);
    expect((await batch(['usertenanta', 'usertenantb', 'usertenantc', 't1', 't2'])).status).toBe(200);
    expectMdspError(await batch(['usertenanta', 'usertenantb', 'usertenantc', 't1', 't2', 't3']), 400);
    ttm.knobs.maxTokensPerCall = 2;
    expectMdspError(await batch(['usertenanta', 'usertenantb', 'usertenantc']), 400);
  });

  it('fails the whole call for an unprovisioned tenant, but only one entry for a failing tenant', async () => {
    expectMdspError(await batch(['usertenanta', 'gone']), 403);
    ttm.failTenant('usertenantb', { status: 500, message: 'tenant backend down' });
    const result = await batch(['usertenanta', 'usertenantb']);
    expect(result.status).toBe(200);
    const [ok, failed] = field(result, 'oauthTokens') as Record<string, unknown>[];
    expect(ok).toHaveProperty('token');
    expect(failed).toMatchObject({
      userTenantId: 'usertenantb',
      errors: [{ message: 'tenant backend down' }],
    });
    expectMdspError(await token('usertenantb'), 500);
    ttm.clearTenantFailure('usertenantb');
    expect((await token('usertenantb')).status).toBe(200);
  });
});

describe('GET userTenants', () => {
  async function hostToken(): Promise<string> {
    return String(field(await token(APP.hostTenant), 'access_token'));
  }

  it('pages the provisioned tenants for a host-tenant token', async () => {
    const bearer = await hostToken();
    const all = await tenants(bearer, '?page=0&size=2');
    expect(all.body).toEqual({
      page: { size: 2, totalElements: 3, totalPages: 2, number: 0 },
      userTenants: [{ id: 'usertenanta' }, { id: 'usertenantb' }],
    });
    expect(field(await tenants(bearer, '?page=1&size=2'), 'userTenants')).toEqual([{ id: 'usertenantc' }]);
  });

  it('clamps or refuses a size above the maximum', async () => {
    for (let i = 0; i < 150; i += 1) ttm.provision(`bulk${i}`);
    const bearer = await hostToken();
    const clamped = await tenants(bearer, '?page=0&size=500');
    expect(field(clamped, 'userTenants')).toHaveLength(100);
    ttm.knobs.oversizedPage = 'reject';
    expectMdspError(await tenants(bearer, '?page=0&size=500'), 400);
  });

  it('401 without a valid unexpired token, 403 for a user-tenant token', async () => {
    const bearer = await hostToken();
    expectMdspError(await tenants('garbage'), 401);
    expectMdspError(await tenants(String(field(await token('usertenanta'), 'access_token'))), 403);
    clock.advance(1800_000);
    expectMdspError(await tenants(bearer), 401);
  });

  it('tokens signed with a retired key stop working; a rotated key shows in /token_keys', async () => {
    const old = await hostToken();
    const kid = await ttm.rotateSigningKey();
    expect(kid).toBe('key-id-2');
    const keys = (await http(`${url}/token_keys`)).body as JSONWebKeySet;
    expect(keys.keys.map((k) => k.kid)).toEqual(['key-id-2', 'key-id-1']);
    expect((await tenants(old)).status).toBe(200);
    await ttm.rotateSigningKey({ retireOld: true });
    expectMdspError(await tenants(old), 401);
  });
});

describe('throttling', () => {
  it('429 with and without Retry-After', async () => {
    ttm.throttle(ttm.routes.token, { retryAfter: 5 }).throttle(ttm.routes.token);
    const first = await token('usertenanta');
    expectMdspError(first, 429);
    expect(first.headers.get('retry-after')).toBe('5');
    const second = await token('usertenanta');
    expectMdspError(second, 429);
    expect(second.headers.get('retry-after')).toBeNull();
    expect((await token('usertenanta')).status).toBe(200);
  });

  it('a per-credential rate budget over the emulator clock', async () => {
    ttm.knobs.rateBudget = { limit: 2, windowMs: 60_000, retryAfter: true };
    expect((await token('usertenanta')).status).toBe(200);
    clock.advance(10_000);
    expect((await token('usertenanta')).status).toBe(200);
    const limited = await token('usertenanta');
    expectMdspError(limited, 429);
    expect(limited.headers.get('retry-after')).toBe('50');
    clock.advance(50_000);
    expect((await token('usertenanta')).status).toBe(200);
  });
});

it('the Xcelerator variant serves under its own path and names the tenant in sws.samauth.ten', async () => {
  await startWith({ basePath: XCELERATOR_BASE_PATH });
  const result = await postJson(`${url}${XCELERATOR_BASE_PATH}/oauth/token`, fields('usertenanta'), {
    'x-space-auth-key': KEY,
  });
  expect(jwtParts(field(result, 'access_token')).payload['sws.samauth.ten']).toBe('usertenanta');
  expect(ttm.count(`POST ${XCELERATOR_BASE_PATH}/oauth/token`)).toBe(1);
});

it('never records X-SPACE-AUTH-KEY, the client secret or a token', async () => {
  const bearer = String(field(await token(APP.hostTenant), 'access_token'));
  await tenants(bearer);
  await batch(['usertenanta']);
  const log = JSON.stringify(ttm.requests());
  expect(log).toContain(APP.appName);
  expect(findPlantedSecrets(log, [APP.clientSecret, KEY.slice('Basic '.length), bearer])).toEqual([]);
});
