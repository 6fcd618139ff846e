// TapData emulator: the token endpoint's documented and coded behaviour (vendor notes §3, seed 001).
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/policy/clock.ts';
import { basicHeader, findPlantedSecrets } from '../../emulators/common.ts';
import {
  TAPDATA_DEFAULT_CLIENT,
  TAPDATA_ROUTES,
  TapdataEmulator,
  type TapdataOptions,
} from '../../emulators/tapdata.ts';
import { fetchError, field, http, jwtParts, postForm, postJson } from './http.ts';

const CLIENT = TAPDATA_DEFAULT_CLIENT;
const EXPLORER = { clientId: '5c0e750b7a5cd42464a5099d', clientSecret: 'explorer-secret', allowBasic: true };
const GOOD = {
  grant_type: 'client_credentials',
  client_id: CLIENT.clientId,
  client_secret: CLIENT.clientSecret,
};

let clock: ManualClock;
let tapdata: TapdataEmulator;
let url: string;

async function startWith(options: TapdataOptions = {}): Promise<void> {
  await tapdata.stop();
  tapdata = new TapdataEmulator({ clock, clients: [CLIENT, EXPLORER], ...options });
  ({ url } = await tapdata.start());
}

beforeEach(async () => {
  clock = new ManualClock();
  tapdata = new TapdataEmulator({ clock, clients: [CLIENT, EXPLORER] });
  ({ url } = await tapdata.start());
});

afterEach(async () => {
  await tapdata.stop();
});

const token = (fields: Record<string, string> = GOOD, headers: Record<string, string> = {}) =>
  postForm(`${url}/oauth/token`, fields, headers);

describe('POST /oauth/token', () => {
  it('issues a 14-day RS256 JWT with a numeric expires_in and no refresh token', async () => {
    const result = await token();
    expect(result.status).toBe(200);
    expect(Object.keys(result.body as object)).toEqual(['access_token', 'token_type', 'expires_in']);
    expect(result.body).toMatchObject({ token_type: 'Bearer', expires_in: 1_209_600 });
    expect(result.headers.get('cache-control')).toContain('no-store');
    expect(result.headers.get('pragma')).toBe('no-cache');

    const { header, payload } = jwtParts(field(result, 'access_token'));
    expect(Object.keys(header)).toEqual(['kid', 'typ', 'alg']);
    expect(header).toMatchObject({ kid: tapdata.kid, alg: 'RS256' });
    const iat = clock.now() / 1000;
    expect(payload).toEqual({
      sub: CLIENT.clientId,
      aud: CLIENT.clientId,
      iss: 'http://127.0.0.1:3000',
      nbf: iat,
      iat,
      exp: iat + 1_209_600,
      jti: expect.any(String) as unknown,
      clientId: CLIENT.clientId,
      roles: ['$everyone', 'admin'],
      createdAt: clock.now(),
      expiredate: clock.now() + 1_209_600_000,
      cluster: '',
    });
    const keys = createLocalJWKSet(tapdata.jwks());
    const verified = await jwtVerify(String(field(result, 'access_token')), keys, {
      currentDate: new Date(clock.now()),
    });
    expect(verified.payload.sub).toBe(CLIENT.clientId);
  });

  it('returns the requested scope, and refuses scopes the client does not have', async () => {
    const scope = CLIENT.scopes?.[0] ?? '';
    const ok = await token({ ...GOOD, scope });
    expect(field(ok, 'scope')).toBe(scope);
    expect(jwtParts(field(ok, 'access_token')).payload.scope).toEqual([scope]);
    const bad = await token({ ...GOOD, scope: 'not-a-role' });
    expect([bad.status, bad.body]).toEqual([400, { error: 'invalid_scope', code: 400 }]);
  });

  it('sends expires_in as a string when the docs-style knob is on', async () => {
    tapdata.knobs.expiresInAsString = true;
    expect(field(await token(), 'expires_in')).toBe('1209600');
  });

  it('shortens the TTL to 300 s for a `debug: true` request', async () => {
    const result = await token(GOOD, { debug: 'true' });
    expect(field(result, 'expires_in')).toBe(300);
    const { payload } = jwtParts(field(result, 'access_token'));
    expect(Number(payload.exp) - Number(payload.iat)).toBe(300);
  });

  it('rejects HTTP Basic for normal clients with a bare invalid_client, even with good credentials', async () => {
    const result = await token(
      { grant_type: 'client_credentials' },
      { authorization: basicHeader(CLIENT.clientId, CLIENT.clientSecret) },
    );
    expect([result.status, result.body]).toEqual([401, { error: 'invalid_client' }]);
    const explorer = await token(
      { grant_type: 'client_credentials' },
      { authorization: basicHeader(EXPLORER.clientId, EXPLORER.clientSecret) },
    );
    expect(explorer.status).toBe(200);
  });

  it('answers invalid_client for a wrong secret, an unknown, deleted or rotated client, an expired secret', async () => {
    const expectInvalid = async (fields: Record<string, string>) => {
      const result = await token(fields);
      expect([result.status, result.body]).toEqual([401, { error: 'invalid_client' }]);
    };
    await expectInvalid({ ...GOOD, client_secret: 'wrong' });
    await expectInvalid({ ...GOOD, client_id: 'unknown' });
    const fresh = tapdata.rotateSecret(CLIENT.clientId);
    await expectInvalid(GOOD);
    expect((await token({ ...GOOD, client_secret: fresh })).status).toBe(200);
    tapdata.addClient({
      clientId: 'expiring',
      clientSecret: 'expiring-secret',
      secretExpiresAt: clock.now() + 1000,
    });
    const expiring = { ...GOOD, client_id: 'expiring', client_secret: 'expiring-secret' };
    expect((await token(expiring)).status).toBe(200);
    clock.advance(1001);
    await expectInvalid(expiring);
    tapdata.deleteClient('expiring');
    await expectInvalid(expiring);
  });

  it('answers 401 with an empty body when no client credentials are sent at all', async () => {
    const result = await token({ grant_type: 'client_credentials', client_id: CLIENT.clientId });
    expect([result.status, result.text]).toEqual([401, '']);
  });

  it('checks grant_type after client authentication, with error_uri and the extra code field', async () => {
    const missing = await token({ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({
      error_description: 'OAuth 2.0 Parameter: grant_type',
      error: 'invalid_request',
      error_uri: 'https://datatracker.ietf.org/doc/html/rfc6749#section-5.2',
      code: 400,
    });
    const password = await token({ ...GOOD, grant_type: 'password' });
    expect(field(password, 'error')).toBe('unsupported_grant_type');
    const unauthenticated = await token({ grant_type: 'password', client_id: 'x', client_secret: 'y' });
    expect(unauthenticated.status).toBe(401);
  });
});

describe('JSON token requests', () => {
  it('an old build ignores a JSON body, so the request has no client credentials', async () => {
    const result = await postJson(`${url}/oauth/token`, GOOD);
    expect([result.status, result.text]).toEqual([401, '']);
  });

  it('a new build accepts JSON and reports JSON-filter errors with code 400', async () => {
    await startWith({ knobs: { jsonSupport: true } });
    expect((await postJson(`${url}/oauth/token`, GOOD)).status).toBe(200);
    const noGrant = await postJson(`${url}/oauth/token`, { client_id: CLIENT.clientId, client_secret: 'x' });
    expect(noGrant.body).toEqual({
      error: 'invalid_request',
      error_description: 'Missing required parameter: grant_type',
      code: 400,
    });
    const noSecret = await postJson(`${url}/oauth/token`, {
      grant_type: 'client_credentials',
      client_id: 'a',
    });
    expect(field(noSecret, 'error_description')).toBe(
      'Missing required parameters: client_id and client_secret',
    );
    const malformed = await http(`${url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":',
    });
    expect(malformed.status).toBe(400);
    expect(String(field(malformed, 'error_description'))).toMatch(/^Invalid JSON format: /);
  });
});

describe('API Server resource', () => {
  it('accepts the token as access_token header, query or body parameter, or Authorization: bearer', async () => {
    const accessToken = String(field(await token(), 'access_token'));
    const resource = `${url}/api/v1/orders`;
    const ways = [
      http(resource, { headers: { access_token: accessToken } }),
      http(`${resource}?access_token=${accessToken}`),
      http(resource, { method: 'POST', body: new URLSearchParams({ access_token: accessToken }) }),
      postJson(resource, { access_token: accessToken }),
      http(resource, { headers: { authorization: `bearer ${accessToken}` } }),
    ];
    for (const result of await Promise.all(ways)) {
      expect(result.status).toBe(200);
      expect(field(result, 'total')).toEqual({ count: 2 });
    }
    expect((await http(resource)).status).toBe(401);
    expect((await http(resource, { headers: { access_token: 'garbage' } })).status).toBe(401);
  });

  it('gives 401 once the token has expired', async () => {
    const accessToken = String(field(await token(GOOD, { debug: 'true' }), 'access_token'));
    const call = () => http(`${url}/api/v1/orders`, { headers: { access_token: accessToken } });
    clock.advance(299_000);
    expect((await call()).status).toBe(200);
    clock.advance(1_000);
    expect((await call()).status).toBe(401);
  });

  it('a restart changes the kid; old tokens still verify unless previous kids are refused', async () => {
    const before = tapdata.kid;
    const accessToken = String(field(await token(), 'access_token'));
    await tapdata.restart();
    expect(tapdata.kid).not.toBe(before);
    expect(jwtParts(field(await token(), 'access_token')).header.kid).toBe(tapdata.kid);
    const call = () => http(`${url}/api/v1/orders`, { headers: { access_token: accessToken } });
    expect((await call()).status).toBe(200);
    tapdata.knobs.rejectPreviousKids = true;
    expect((await call()).status).toBe(401);
  });
});

describe('faults, counters and the log', () => {
  it('commit-then-drop issues a token the client never sees; counters see every call', async () => {
    tapdata.faults.push(TAPDATA_ROUTES.token, { kind: 'commit-then-drop' });
    expect(await fetchError(token())).toBeInstanceOf(Error);
    expect(tapdata.issuedCount()).toBe(1);
    tapdata.throttle(TAPDATA_ROUTES.token, { retryAfter: 30 });
    const throttled = await token();
    expect([throttled.status, throttled.headers.get('retry-after')]).toEqual([429, '30']);
    expect((await token()).status).toBe(200);
    expect(tapdata.count(TAPDATA_ROUTES.token)).toBe(3);
  });

  it('never records the client secret or a token', async () => {
    const accessToken = String(field(await token(), 'access_token'));
    await http(`${url}/api/v1/orders?access_token=${accessToken}`, {
      headers: { access_token: accessToken },
    });
    await token(
      { grant_type: 'client_credentials' },
      { authorization: basicHeader(CLIENT.clientId, CLIENT.clientSecret) },
    );
    const log = JSON.stringify(tapdata.requests());
    expect(log).toContain(CLIENT.clientId);
    expect(findPlantedSecrets(log, [CLIENT.clientSecret, accessToken])).toEqual([]);
  });
});
