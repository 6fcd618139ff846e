// What a REAL Keycloak answers a plain OAuth client (undici, form posts) in the device authorization
// grant (RFC 8628): start, authorization_pending, slow_down, approval by a user who walks Keycloak's own
// verification pages (test/keycloak/device-approver.ts), denial, expiry, single-use refresh-token
// rotation with replay detection, and offline tokens. One Keycloak for the file. The device-flow
// provider is tested against these same answers; docs/keycloak-device-grant.md records them.
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/crds.ts';
import { approveDevice } from '../keycloak/device-approver.ts';
import { startKeycloak, type KeycloakHandle } from '../keycloak/keycloak.ts';

const REALM = 'apicred-device';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const INTERVAL_SECONDS = 2;
const FAST = { clientId: 'device-client', secret: 'device-client-s3cret' };
const DEFAULTS = { clientId: 'default-device-client', secret: 'default-device-s3cret' };
const SHORT_LIVED = { clientId: 'short-code-client', secret: 'short-code-s3cret' };
const SHORT_LIFESPAN_SECONDS = 2;
const ALICE = { username: 'alice', password: 'alice-Passw0rd!' };
const BOB = { username: 'bob', password: 'bob-Passw0rd!' };

let keycloak: KeycloakHandle | undefined;

function server(): KeycloakHandle {
  if (!keycloak) throw new Error('Keycloak did not start; see the beforeAll error');
  return keycloak;
}

interface OAuthResponse {
  status: number;
  body: Record<string, unknown>;
}

interface Client {
  clientId: string;
  secret: string;
}

async function post(url: string, form: Record<string, string>): Promise<OAuthResponse> {
  const response = await fetch(url, { method: 'POST', body: new URLSearchParams(form) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

async function startDevice(client: Client, scope = 'openid'): Promise<DeviceStart> {
  const { status, body } = await post(server().deviceAuthorizationUrl(REALM), {
    client_id: client.clientId,
    client_secret: client.secret,
    scope,
  });
  expect(status).toBe(200);
  return body as unknown as DeviceStart;
}

function pollToken(client: Client, deviceCode: string): Promise<OAuthResponse> {
  return post(server().tokenUrl(REALM), {
    grant_type: DEVICE_GRANT,
    client_id: client.clientId,
    client_secret: client.secret,
    device_code: deviceCode,
  });
}

/** What a resource server that checks with Keycloak sees: the userinfo answer for an access token. */
async function userinfo(accessToken: string): Promise<OAuthResponse> {
  const response = await fetch(`${server().issuer(REALM)}/protocol/openid-connect/userinfo`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function refresh(client: Client, refreshToken: string): Promise<OAuthResponse> {
  return post(server().tokenUrl(REALM), {
    grant_type: 'refresh_token',
    client_id: client.clientId,
    client_secret: client.secret,
    refresh_token: refreshToken,
  });
}

/** Polls as a well-behaved client does (interval plus a margin) until Keycloak answers other than pending. */
async function pollUntilSettled(client: Client, start: DeviceStart): Promise<OAuthResponse> {
  for (;;) {
    const answer = await pollToken(client, start.device_code);
    if (answer.body.error !== 'authorization_pending') return answer;
    await delay(start.interval * 1000 + 300);
  }
}

async function approvedTokens(user: typeof ALICE, scope = 'openid'): Promise<Record<string, unknown>> {
  const start = await startDevice(FAST, scope);
  const approval = await approveDevice({
    verificationUri: start.verification_uri_complete,
    ...user,
    approve: true,
  });
  expect(approval.kind, approval.message).toBe('approved');
  const answer = await pollUntilSettled(FAST, start);
  expect(answer.status).toBe(200);
  return answer.body;
}

beforeAll(async () => {
  keycloak = await startKeycloak({
    realm: {
      name: REALM,
      accessTokenLifespanSeconds: 60,
      deviceClients: [
        { ...FAST, pollingIntervalSeconds: INTERVAL_SECONDS },
        DEFAULTS,
        { ...SHORT_LIVED, pollingIntervalSeconds: 1, codeLifespanSeconds: SHORT_LIFESPAN_SECONDS },
      ],
      users: [ALICE, BOB],
      singleUseRefreshTokens: true,
    },
    logDir: join(repoRoot, 'test-results', 'keycloak'),
  });
  process.stderr.write(
    `[keycloak] ${keycloak.version} at ${keycloak.baseUrl}: ready in ${keycloak.startedInMs} ms, ` +
      `${keycloak.rssMiB()} MiB RSS\n`,
  );
}, 900_000);

afterAll(async () => {
  await keycloak?.stop();
});

describe('Keycloak device authorization grant, start and polling', () => {
  it('advertises the device authorization endpoint in discovery', async () => {
    const response = await fetch(`${server().issuer(REALM)}/.well-known/openid-configuration`);
    const discovery = (await response.json()) as Record<string, unknown>;
    expect(discovery.device_authorization_endpoint).toBe(server().deviceAuthorizationUrl(REALM));
    expect(discovery.grant_types_supported).toContain(DEVICE_GRANT);
  });

  it('starts with the realm defaults: expires_in 600, interval 5', async () => {
    const start = await startDevice(DEFAULTS);
    expect(Object.keys(start).sort()).toEqual([
      'device_code',
      'expires_in',
      'interval',
      'user_code',
      'verification_uri',
      'verification_uri_complete',
    ]);
    expect(start.expires_in).toBe(600);
    expect(start.interval).toBe(5);
    expect(start.verification_uri).toBe(`${server().issuer(REALM)}/device`);
    expect(start.verification_uri_complete).toBe(`${start.verification_uri}?user_code=${start.user_code}`);
    expect(start.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
  });

  it('takes the per-client interval and lifespan', async () => {
    const fast = await startDevice(FAST);
    expect(fast.interval).toBe(INTERVAL_SECONDS);
    expect(fast.expires_in).toBe(600);
    const short = await startDevice(SHORT_LIVED);
    expect({ interval: short.interval, expires_in: short.expires_in }).toEqual({
      interval: 1,
      expires_in: SHORT_LIFESPAN_SECONDS,
    });
  });

  it('refuses a wrong client secret like the token endpoint does', async () => {
    const wrongSecret = await post(server().deviceAuthorizationUrl(REALM), {
      client_id: FAST.clientId,
      client_secret: 'not-the-secret',
    });
    expect(wrongSecret).toEqual({
      status: 401,
      body: {
        error: 'unauthorized_client',
        error_description: 'Invalid client or Invalid client credentials',
      },
    });
  });

  it('answers authorization_pending, then slow_down to a poll inside the interval', async () => {
    const start = await startDevice(FAST);
    const first = await pollToken(FAST, start.device_code);
    expect(first).toEqual({
      status: 400,
      body: {
        error: 'authorization_pending',
        error_description: 'The authorization request is still pending',
      },
    });
    const tooFast = await pollToken(FAST, start.device_code);
    expect(tooFast).toEqual({
      status: 400,
      body: { error: 'slow_down', error_description: 'Slow down' },
    });
    // Keycloak does not raise the interval itself: a poll one interval (plus a margin) later is pending.
    await delay(start.interval * 1000 + 300);
    expect((await pollToken(FAST, start.device_code)).body.error).toBe('authorization_pending');
  });

  it('sends slow_down to every poll closer than the interval to the last accepted one', async () => {
    const start = await startDevice(FAST);
    const polls: { atMs: number; error: string }[] = [];
    const began = Date.now();
    // Every 500 ms for 5 s against a 2 s interval.
    for (let i = 0; i < 10; i++) {
      const atMs = Date.now() - began;
      const { body } = await pollToken(FAST, start.device_code);
      polls.push({ atMs, error: String(body.error) });
      await delay(500);
    }
    const timeline = polls.map((poll) => `${(poll.atMs / 1000).toFixed(1)}s ${poll.error}`).join(', ');
    process.stderr.write(`[device] polls every 500 ms, interval ${start.interval} s: ${timeline}\n`);
    // Judged by when each poll was sent, with 150 ms for the trip to Keycloak and back.
    const intervalMs = start.interval * 1000;
    let lastAcceptedMs: number | undefined;
    for (const poll of polls) {
      const sinceAccepted = lastAcceptedMs === undefined ? Infinity : poll.atMs - lastAcceptedMs;
      if (poll.error === 'authorization_pending') {
        expect(sinceAccepted, timeline).toBeGreaterThan(intervalMs - 150);
        lastAcceptedMs = poll.atMs;
      } else {
        expect(poll.error, timeline).toBe('slow_down');
        expect(sinceAccepted, timeline).toBeLessThan(intervalMs + 150);
      }
    }
    expect(polls.filter((poll) => poll.error === 'authorization_pending').length).toBeGreaterThanOrEqual(2);
  });
});

describe('Keycloak device authorization grant, the user decides', () => {
  it('issues tokens after the user approves on the verification pages', async () => {
    const start = await startDevice(FAST);
    const approval = await approveDevice({
      verificationUri: start.verification_uri_complete,
      ...ALICE,
      approve: true,
    });
    process.stderr.write(
      `[device] approval pages: ${approval.pages.join(' → ')}; last: ${approval.message}\n`,
    );
    expect(approval).toMatchObject({
      kind: 'approved',
      message: expect.stringContaining(
        'You may close this browser window and go back to your device.',
      ) as unknown,
    });
    const answer = await pollUntilSettled(FAST, start);
    expect(answer.status).toBe(200);
    const body = answer.body;
    expect(Object.keys(body).sort()).toEqual([
      'access_token',
      'expires_in',
      'id_token',
      'not-before-policy',
      'refresh_expires_in',
      'refresh_token',
      'scope',
      'session_state',
      'token_type',
    ]);
    expect(body.token_type).toBe('Bearer');
    expect(body.refresh_expires_in).toBe(1800);
    const access = decodeJwt(body.access_token as string);
    const id = decodeJwt(body.id_token as string);
    expect(access.preferred_username).toBe(ALICE.username);
    expect(id.preferred_username).toBe(ALICE.username);
    expect(id.sub).toBe(access.sub);
    expect(access.sub).toMatch(/^[0-9a-f-]{36}$/);
    expect(access.azp).toBe(FAST.clientId);
    // The device code is spent once it has given tokens.
    const again = await pollToken(FAST, start.device_code);
    expect(again).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Device code not valid' },
    });
  });

  it('names the approver in sub and preferred_username, so that the wrong person can be refused', async () => {
    const alice = decodeJwt((await approvedTokens(ALICE)).access_token as string);
    const bob = decodeJwt((await approvedTokens(BOB)).access_token as string);
    expect(bob.preferred_username).toBe(BOB.username);
    expect(bob.sub).not.toBe(alice.sub);
    const aliceAgain = decodeJwt((await approvedTokens(ALICE)).access_token as string);
    expect(aliceAgain.sub).toBe(alice.sub);
  });

  it('approves through verification_uri and the typed user code as well', async () => {
    const start = await startDevice(FAST);
    const approval = await approveDevice({
      verificationUri: start.verification_uri,
      userCode: start.user_code,
      ...ALICE,
      approve: true,
    });
    expect(approval.kind, approval.message).toBe('approved');
    expect((await pollUntilSettled(FAST, start)).status).toBe(200);
  });

  it('checks slow_down before the decision: a too-fast poll after approval still gets slow_down', async () => {
    // The 5 s interval leaves room for the approval's page walk on a busy machine.
    const start = await startDevice(DEFAULTS);
    expect((await pollToken(DEFAULTS, start.device_code)).body.error).toBe('authorization_pending');
    const approval = await approveDevice({
      verificationUri: start.verification_uri_complete,
      ...ALICE,
      approve: true,
    });
    expect(approval.kind, approval.message).toBe('approved');
    const tooSoon = await pollToken(DEFAULTS, start.device_code);
    expect(tooSoon.body.error).toBe('slow_down');
    await delay(start.interval * 1000 + 300);
    expect((await pollToken(DEFAULTS, start.device_code)).status).toBe(200);
  });

  it('answers access_denied after the user says No', async () => {
    const start = await startDevice(FAST);
    const denial = await approveDevice({
      verificationUri: start.verification_uri_complete,
      ...BOB,
      approve: false,
    });
    expect(denial).toMatchObject({
      kind: 'denied',
      message: expect.stringContaining('Consent denied for connecting the device.') as unknown,
    });
    expect(await pollUntilSettled(FAST, start)).toEqual({
      status: 400,
      body: { error: 'access_denied', error_description: 'The end user denied the authorization request' },
    });
    await delay(start.interval * 1000 + 300);
    // It stays access_denied: a new flow needs a new code.
    expect((await pollToken(FAST, start.device_code)).body.error).toBe('access_denied');
  });

  it('refuses a wrong password on the login page', async () => {
    const start = await startDevice(FAST);
    const refused = await approveDevice({
      verificationUri: start.verification_uri_complete,
      username: ALICE.username,
      password: 'wrong',
      approve: true,
    });
    expect(refused).toMatchObject({
      kind: 'failed',
      message: expect.stringContaining('Invalid username or password.') as unknown,
    });
  });

  it('answers expired_token once the code has outlived its lifespan', async () => {
    const start = await startDevice(SHORT_LIVED);
    await delay(SHORT_LIFESPAN_SECONDS * 1000 + 1000);
    expect(await pollToken(SHORT_LIVED, start.device_code)).toEqual({
      status: 400,
      body: { error: 'expired_token', error_description: 'Device code is expired' },
    });
    await delay(1300);
    expect((await pollToken(SHORT_LIVED, start.device_code)).body.error).toBe('expired_token');
    const late = await approveDevice({
      verificationUri: start.verification_uri_complete,
      userCode: start.user_code,
      ...ALICE,
      approve: true,
    });
    expect(late).toMatchObject({
      kind: 'failed',
      message: expect.stringContaining(
        'The code has expired. Please go back to your device and try connecting again.',
      ) as unknown,
    });
  });

  it('answers invalid_grant to an unknown device code', async () => {
    expect(await pollToken(FAST, 'no-such-device-code')).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Device code not valid' },
    });
  });
});

describe('Keycloak single-use refresh tokens after a device approval', () => {
  it('rotates, and a replayed refresh token ends the session', async () => {
    const first = await approvedTokens(ALICE);
    const spent = first.refresh_token as string;
    const second = await refresh(FAST, spent);
    expect(second.status).toBe(200);
    // A refresh answers the same fields as the approval, with a new id_token and refresh token.
    expect(Object.keys(second.body).sort()).toEqual(Object.keys(first).sort());
    const newest = second.body.refresh_token as string;
    expect(newest).not.toBe(spent);
    expect(await userinfo(second.body.access_token as string)).toMatchObject({
      status: 200,
      body: { preferred_username: ALICE.username },
    });
    const replay = await refresh(FAST, spent);
    expect(replay).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Maximum allowed refresh token reuse exceeded' },
    });
    // The replay detaches the client from the session: the legitimately rotated token is dead too,
    // and so is the access token issued with it.
    expect(await refresh(FAST, newest)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: "Session doesn't have required client" },
    });
    const rejected = await userinfo(second.body.access_token as string);
    process.stderr.write(
      `[device] userinfo after the replay: ${rejected.status} ${JSON.stringify(rejected.body)}\n`,
    );
    expect(rejected.status).toBe(401);
  });

  it('keeps rotating while every token is used once', async () => {
    let current = (await approvedTokens(ALICE)).refresh_token as string;
    for (let i = 0; i < 3; i++) {
      const next = await refresh(FAST, current);
      expect(next.status).toBe(200);
      current = next.body.refresh_token as string;
    }
  });

  it('ends the refresh chain when an admin signs the user out', async () => {
    const tokens = await approvedTokens(BOB);
    await server().logoutUser(REALM, BOB.username);
    expect(await refresh(FAST, tokens.refresh_token as string)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Session not active' },
    });
  });
});

describe('Keycloak offline tokens from the device grant', () => {
  it('gives an offline refresh token with refresh_expires_in 0', async () => {
    const tokens = await approvedTokens(ALICE, 'openid offline_access');
    expect(String(tokens.scope).split(' ')).toContain('offline_access');
    expect(tokens.refresh_expires_in).toBe(0);
    const refreshClaims = decodeJwt(tokens.refresh_token as string);
    expect(refreshClaims.typ).toBe('Offline');
    expect(refreshClaims.exp).toBeUndefined();
    const next = await refresh(FAST, tokens.refresh_token as string);
    expect(next.status).toBe(200);
    expect(next.body.refresh_expires_in).toBe(0);
    const replay = await refresh(FAST, tokens.refresh_token as string);
    expect(replay).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Maximum allowed refresh token reuse exceeded' },
    });
    expect(await refresh(FAST, next.body.refresh_token as string)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: "Session doesn't have required client" },
    });
  });

  it('ends with "Stale token" when an admin signs the user out a second or more after issuance', async () => {
    const tokens = await approvedTokens(BOB, 'openid offline_access');
    // The sign-out refuses refresh tokens issued before it, counted in whole seconds: one issued in the
    // same second as the sign-out still refreshes, so wait past the boundary.
    await delay(1500);
    await server().logoutUser(REALM, BOB.username);
    expect(await refresh(FAST, tokens.refresh_token as string)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Stale token' },
    });
    // A new approval afterwards gives a chain that works.
    await delay(1100);
    const again = await approvedTokens(BOB, 'openid offline_access');
    await delay(1100);
    expect((await refresh(FAST, again.refresh_token as string)).status).toBe(200);
  });

  it('refreshes an offline token that has rested (no sign-out)', async () => {
    const tokens = await approvedTokens(ALICE, 'openid offline_access');
    await delay(1500);
    expect((await refresh(FAST, tokens.refresh_token as string)).status).toBe(200);
  });

  it("ends when the admin revokes the user's consent to the client", async () => {
    const tokens = await approvedTokens(ALICE, 'openid offline_access');
    await server().revokeConsent(REALM, ALICE.username, FAST.clientId);
    expect(await refresh(FAST, tokens.refresh_token as string)).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Offline user session not found' },
    });
  });
});

describe('Keycloak introspection of a device-grant access token', () => {
  it('does not let the issuing client introspect its own access token: it is not in the audience', async () => {
    const tokens = await approvedTokens(ALICE);
    // The access token's aud is only "account"; Keycloak 26 logs "Client 'device-client' is not in the
    // token audience" and answers inactive, so introspection cannot tell a live token from a dead one.
    expect(decodeJwt(tokens.access_token as string).aud).toBe('account');
    const { status, body } = await post(
      `${server().issuer(REALM)}/protocol/openid-connect/token/introspect`,
      {
        client_id: FAST.clientId,
        client_secret: FAST.secret,
        token: tokens.access_token as string,
      },
    );
    expect({ status, body }).toEqual({ status: 200, body: { active: false } });
  });
});
