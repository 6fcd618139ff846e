// The OAuth 2.0 device authorization grant (RFC 8628) against the real Keycloak and the real operator:
// a person finds where to approve with one `kubectl get`, approves on Keycloak's own pages (driven over
// HTTP as a browser would, no admin API), and the operator rotates the single-use refresh token from
// then on ("Revoke Refresh Token" on, max reuse 0), across SIGKILLs, without ever replaying one. Also:
// a wrong approver, a denial, an expired code, slow_down, and a chain ended by an admin's sign-out.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ApiCredential } from '../../src/api/apicredential.ts';
import { adminKubeConfig, kubectl } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { kubectlTable } from '../harness/kubectl-table.ts';
import { operatorOutputs } from '../harness/leak-places.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { approveDevice } from '../keycloak/device-approver.ts';
import { startKeycloak, type KeycloakHandle } from '../keycloak/keycloak.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `kc-device-${randomBytes(3).toString('hex')}`;
const REALM = 'people';
const ALICE = { username: 'alice', password: `Pw-${randomBytes(12).toString('hex')}` };
const BOB = { username: 'bob', password: `Pw-${randomBytes(12).toString('hex')}` };
const CLIENT = { clientId: 'device-client', secret: `s3cret-${randomBytes(12).toString('hex')}` };
const SHORT = { clientId: 'short-code-client', secret: `s3cret-${randomBytes(12).toString('hex')}` };
const SLOW = { clientId: 'slow-client', secret: `s3cret-${randomBytes(12).toString('hex')}` };
const ACCESS_TOKEN_SECONDS = 12; // several rotations within the test
const SLOW_INTERVAL_SECONDS = 12;

/** Every device code and refresh token seen in the state Secrets: the leak scan looks for each. */
const deviceCodes = new Set<string>();
const refreshTokens = new Set<string>();
let keycloak: KeycloakHandle | undefined;
let operator: RunningOperator | undefined;
let operatorEnv: { kubeconfig: string; logDir: string };

function server(): KeycloakHandle {
  if (!keycloak) throw new Error('Keycloak did not start; see the beforeAll error');
  return keycloak;
}

function running(): RunningOperator {
  if (!operator) throw new Error('the operator is not running');
  return operator;
}

async function startTheOperator(name: string, crashAt?: string): Promise<RunningOperator> {
  return startOperator({
    ...operatorEnv,
    name,
    env: crashAt ? { APICRED_CRASH_AT: crashAt } : {},
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
  });
}

async function createDeviceCredential(
  name: string,
  client: { clientId: string },
  expectedSubject = ALICE.username,
): Promise<void> {
  await kube.putSecret(namespace, `${name}-client`, {
    client_id: client.clientId,
    client_secret: [CLIENT, SHORT, SLOW].find((c) => c.clientId === client.clientId)?.secret ?? '',
  });
  await kube.createCredential(namespace, name, {
    provider: {
      oauth2: {
        issuerUrl: server().issuer(REALM),
        clientAuth: 'client_secret_basic',
        credentialsRef: { name: `${name}-client` },
        scopes: ['openid', 'offline_access'],
        deviceAuthorization: { expectedSubject },
      },
    },
  });
}

async function credential(name: string): Promise<ApiCredential | undefined> {
  return kube.credential(namespace, name);
}

async function state(name: string): Promise<Record<string, string>> {
  const values = (await kube.secretValues(namespace, `${name}.apicred-state`)) ?? {};
  if (values.deviceCode) deviceCodes.add(values.deviceCode);
  if (values.refreshToken) refreshTokens.add(values.refreshToken);
  return values;
}

/** What `kubectl get apicred <name>` prints in its row, by column. */
async function kubectlRow(name: string): Promise<Record<string, string>> {
  const { rows } = kubectlTable(await kubectl(plane, ['get', 'apicred', name, '-n', namespace]));
  const row = rows.get(name);
  if (!row) throw new Error(`kubectl get apicred ${name} printed no row for it`);
  return row;
}

/** Waits until the credential awaits approval of a code other than `than`; returns the APPROVE column's page. */
async function awaitingApproval(
  name: string,
  than?: string,
  stalledReason?: string,
  timeoutMs = 60_000,
): Promise<{ url: string; userCode: string; message: string; stalled: string }> {
  return waitFor(
    `${name} awaiting approval${than ? ` of a code other than ${than}` : ''}${stalledReason ? ` (${stalledReason})` : ''}`,
    async () => {
      const found = await credential(name);
      const ready = condition(found, 'Ready');
      const stalled = condition(found, 'Stalled');
      const approval = found?.status?.userApproval;
      if (ready?.reason !== 'AwaitingUserApproval' || !approval || approval.userCode === than)
        return undefined;
      if (stalledReason && stalled?.reason !== stalledReason) return undefined;
      await state(name);
      return {
        url: approval.url,
        userCode: approval.userCode,
        message: ready.message,
        stalled: stalled?.reason ?? '',
      };
    },
    { timeoutMs, intervalMs: 200 },
  );
}

async function ready(name: string, timeoutMs = 60_000): Promise<string> {
  return waitFor(
    `${name} Ready=True TokenValid`,
    async () => {
      const found = await credential(name);
      const token = (await kube.secretValues(namespace, name))?.token;
      return condition(found, 'Ready')?.reason === 'TokenValid' && token ? token : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

async function approve(url: string, user: { username: string; password: string }, yes = true) {
  const outcome = await approveDevice({ verificationUri: url, ...user, approve: yes });
  expect(outcome, outcome.message).toMatchObject({ kind: yes ? 'approved' : 'denied' });
}

async function userinfo(accessToken: string): Promise<{ status: number; username?: unknown }> {
  const response = await fetch(`${server().issuer(REALM)}/protocol/openid-connect/userinfo`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    username: response.ok
      ? (JSON.parse(text) as { preferred_username?: unknown }).preferred_username
      : undefined,
  };
}

/** Waits until the state holds a refresh token other than `than`, and returns it. */
async function nextStateToken(name: string, than: string | undefined): Promise<string> {
  return waitFor(
    `a rotated refresh token in ${name}'s state Secret`,
    async () => {
      const token = (await state(name)).refreshToken;
      return token && token !== than ? token : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

async function refreshDirectly(refreshToken: string): Promise<{ status: number; error?: unknown }> {
  const response = await fetch(server().tokenUrl(REALM), {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: CLIENT.clientId,
      client_secret: CLIENT.secret,
    }),
  });
  const body = (await response.json()) as { error?: unknown; refresh_token?: unknown };
  if (typeof body.refresh_token === 'string') refreshTokens.add(body.refresh_token);
  return { status: response.status, error: body.error };
}

async function admin(path: string): Promise<unknown> {
  const response = await fetch(`${server().baseUrl}/admin/realms/${REALM}${path}`, {
    headers: { authorization: `Bearer ${await server().adminToken()}` },
  });
  if (!response.ok) throw new Error(`admin GET ${path}: HTTP ${response.status}`);
  return response.json();
}

/** Ids of alice's offline sessions with the device client, as Keycloak's admin console lists them. */
async function offlineSessions(): Promise<string[]> {
  const [user] = (await admin(`/users?username=${ALICE.username}&exact=true`)) as { id: string }[];
  const [client] = (await admin(`/clients?clientId=${CLIENT.clientId}`)) as { id: string }[];
  if (!user || !client) throw new Error('no user alice or no device client in the realm');
  const sessions = (await admin(`/users/${user.id}/offline-sessions/${client.id}`)) as { id: string }[];
  return sessions.map((session) => session.id);
}

function sessionOf(refreshToken: string): string {
  const sid = decodeJwt(refreshToken).sid;
  if (typeof sid !== 'string') throw new Error('the refresh token carries no sid');
  return sid;
}

async function crashAt(point: string): Promise<void> {
  await operator?.stop();
  const crashing = await startTheOperator(`crash-${point.replace(/[^a-z0-9]+/g, '-')}`, point);
  const code = await waitFor(
    `the crash at ${point}`,
    async () => (crashing.process.exited ? crashing.process.waitForExit() : undefined),
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  expect(code).toBe(137);
}

beforeAll(async () => {
  keycloak = await startKeycloak({
    realm: {
      name: REALM,
      accessTokenLifespanSeconds: ACCESS_TOKEN_SECONDS,
      deviceClients: [
        { ...CLIENT, pollingIntervalSeconds: 2, codeLifespanSeconds: 300 },
        { ...SHORT, pollingIntervalSeconds: 2, codeLifespanSeconds: 8 },
        { ...SLOW, pollingIntervalSeconds: SLOW_INTERVAL_SECONDS, codeLifespanSeconds: 300 },
      ],
      users: [ALICE, BOB],
      singleUseRefreshTokens: true,
    },
    logDir: join(repoRoot, 'test-results', 'keycloak'),
  });
  operatorEnv = await prepareOperatorNamespace(plane, namespace);
  operator = await startTheOperator('kc-device-1');
}, 900_000);

afterAll(async () => {
  await operator?.stop();
  await keycloak?.stop();
});

describe('oauth2 device authorization grant against Keycloak', () => {
  let first: { url: string; userCode: string; message: string };

  it('shows where to approve: the Ready message, a Warning Event and the APPROVE column of kubectl get', async () => {
    await createDeviceCredential('alice', CLIENT);
    first = await awaitingApproval('alice');
    expect(first.url).toBe(`${server().issuer(REALM)}/device?user_code=${first.userCode}`);
    expect(first.message).toMatch(
      new RegExp(
        `^Approve the login at ${first.url.replace(/[.?]/g, '\\$&')} \\(or ${server().issuer(REALM).replace(/\./g, '\\.')}/device with code ${first.userCode}\\), signed in as alice, before \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\. The operator polls every 2 s`,
      ),
    );
    const row = await kubectlRow('alice');
    expect(row).toMatchObject({ READY: 'False', REASON: 'AwaitingUserApproval', APPROVE: first.url });
    const event = await kube.event(namespace, 'alice', (e) => e.reason === 'AwaitingUserApproval');
    expect(event.type).toBe('Warning');
    expect(event.message).toContain(first.url);
    // The device code is in the state Secret only.
    const code = (await state('alice')).deviceCode;
    expect(code).toBeTruthy();
    expect(JSON.stringify(await credential('alice'))).not.toContain(code);
    expect(event.message).not.toContain(code);
  }, 120_000);

  it('writes the token once the expected person approves on Keycloak pages; Keycloak accepts it', async () => {
    await approve(first.url, ALICE);
    const token = await ready('alice');
    expect(await userinfo(token)).toEqual({ status: 200, username: 'alice' });
    expect(decodeJwt(token).preferred_username).toBe('alice');
    expect(Object.keys((await kube.secretValues(namespace, 'alice')) ?? {}).sort()).toEqual([
      'expires_at',
      'token',
      'token_type',
    ]);
    const saved = await state('alice');
    expect(saved.refreshToken).toBeTruthy();
    expect(saved.deviceCode).toBeUndefined();
    expect((await kubectlRow('alice')).APPROVE).toBe('');
    await kube.event(namespace, 'alice', (e) => e.reason === 'Issued');
  }, 120_000);

  it('refuses an approval by someone else, with a reason naming who approved, and takes the right one after', async () => {
    await createDeviceCredential('wrong', CLIENT);
    const pending = await awaitingApproval('wrong');
    await approve(pending.url, BOB);
    const refused = await awaitingApproval('wrong', pending.userCode, 'WrongApprover');
    expect(refused.message).toContain(`Code ${pending.userCode} was approved by 'bob' (sub `);
    expect(refused.message).toContain(
      "not by 'alice' (spec.provider.oauth2.deviceAuthorization.expectedSubject)",
    );
    const event = await kube.event(namespace, 'wrong', (e) => e.reason === 'WrongApprover');
    expect(event.type).toBe('Warning');
    expect((await kube.secretValues(namespace, 'wrong'))?.token).toBeUndefined();
    expect((await state('wrong')).refreshToken).toBeUndefined();
    await approve(refused.url, ALICE);
    expect(await userinfo(await ready('wrong'))).toEqual({ status: 200, username: 'alice' });
    // Deleted so that only alice rotates when the crash points fire below; its refresh token is revoked.
    const live = (await state('wrong')).refreshToken;
    await kube.deleteCredential(namespace, 'wrong');
    await waitFor('wrong deleted', async () => ((await credential('wrong')) ? undefined : true), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    if (!live) throw new Error('no refresh token was stored for wrong');
    expect((await refreshDirectly(live)).error).toBe('invalid_grant');
  }, 180_000);

  it('starts again with a new code when the person says No, and says so', async () => {
    await createDeviceCredential('denied', CLIENT);
    const pending = await awaitingApproval('denied');
    await approve(pending.url, ALICE, false);
    const again = await awaitingApproval('denied', pending.userCode, 'ApprovalDenied');
    expect(again.message).toContain(
      `The login with code ${pending.userCode} was denied at the approval page`,
    );
    expect(again.message).toContain('access_denied');
    await kube.deleteCredential(namespace, 'denied');
  }, 120_000);

  it('replaces a code that expires unapproved', async () => {
    await createDeviceCredential('expiring', SHORT);
    const pending = await awaitingApproval('expiring');
    const again = await awaitingApproval('expiring', pending.userCode, 'ApprovalExpired', 60_000);
    expect(again.message).toMatch(
      new RegExp(`^Code ${pending.userCode} (expired at|can no longer be approved)`),
    );
    await kube.deleteCredential(namespace, 'expiring');
  }, 120_000);

  it('adds 5 s to the interval on slow_down (provoked by a manual refresh right after a poll)', async () => {
    await createDeviceCredential('slow', SLOW);
    const pending = await awaitingApproval('slow');
    const before = (await credential('slow'))?.status?.nextRefreshTime;
    // Wait for the first poll (the next poll time moves), then ask for a poll at once: inside Keycloak's
    // interval, so it answers slow_down.
    await waitFor(
      'the first poll of slow',
      async () => ((await credential('slow'))?.status?.nextRefreshTime !== before ? true : undefined),
      { timeoutMs: (SLOW_INTERVAL_SECONDS + 10) * 1000, intervalMs: 200 },
    );
    await kube.requestRefresh(namespace, 'slow');
    const slower = await waitFor(
      'the interval raised by slow_down',
      async () => {
        const ready = condition(await credential('slow'), 'Ready');
        return ready?.message.includes(`polls every ${SLOW_INTERVAL_SECONDS + 5} s`)
          ? ready.message
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(slower).toContain(pending.userCode);
    expect((await state('slow')).pollIntervalSeconds).toBe(String(SLOW_INTERVAL_SECONDS + 5));
    await kube.deleteCredential(namespace, 'slow');
  }, 120_000);

  it('rotates the refresh token: each one differs, and Keycloak accepts every access token', async () => {
    const seen = [(await state('alice')).refreshToken ?? ''];
    for (let rotation = 0; rotation < 3; rotation += 1) seen.push(await nextStateToken('alice', seen.at(-1)));
    expect(new Set(seen).size).toBe(seen.length);
    expect(await offlineSessions()).toContain(sessionOf(seen.at(-1) ?? ''));
    const token = await ready('alice');
    expect((await userinfo(token)).status).toBe(200);
  }, 120_000);

  it('goes on from the stored chain when killed after the state write', async () => {
    await crashAt('oauth2-device:after-state-write');
    const stored = (await state('alice')).refreshToken;
    operator = await startTheOperator('after-state-write');
    await nextStateToken('alice', stored);
    expect((await userinfo(await ready('alice'))).status).toBe(200);
  }, 120_000);

  // Killed right after the intent (never sent) or after Keycloak's answer (sent and rotated): the
  // operator cannot tell which, so it never sends that token again and asks for a new approval.
  it.each(['oauth2-device:after-intent-write', 'oauth2-device:after-refresh-response'])(
    'replays nothing when killed at %s, and asks for a new approval',
    async (point) => {
      await ready('alice');
      await crashAt(point);
      const stored = (await state('alice')).refreshToken;
      if (!stored) throw new Error('no refresh token in the state Secret');
      const tokenBefore = (await kube.secretValues(namespace, 'alice'))?.token ?? '';
      operator = await startTheOperator(`after-${point.replace(/[^a-z0-9]+/g, '-')}`);
      const pending = await awaitingApproval('alice', undefined, 'HumanActionRequired');
      expect(pending.message).toContain(
        'is unknown, and the server ends the session when a refresh token is used twice',
      );
      expect((await state('alice')).refreshToken).toBeUndefined();
      if (point === 'oauth2-device:after-intent-write') {
        // Never sent, so still good: the test spends it once, which proves the operator did not.
        expect((await refreshDirectly(stored)).status).toBe(200);
      } else {
        // Sent once by the operator, never replayed: a replay would have detached the client from the
        // offline session ("Session doesn't have required client").
        expect(await offlineSessions()).toContain(sessionOf(stored));
        expect(tokenBefore).not.toBe('');
      }
      await approve(pending.url, ALICE);
      await ready('alice');
      await nextStateToken('alice', (await state('alice')).refreshToken);
    },
    180_000,
  );

  it('goes back to awaiting approval with HumanActionRequired when an admin signs the user out', async () => {
    await ready('alice');
    const approvedAt = Date.now();
    // Keycloak's sign-out refuses tokens issued before it in whole seconds (docs/keycloak-device-grant.md).
    await waitFor('a new second', () => Promise.resolve(Date.now() - approvedAt > 1_100 ? true : undefined), {
      timeoutMs: 5_000,
      intervalMs: 100,
    });
    await server().logoutUser(REALM, ALICE.username);
    const pending = await awaitingApproval('alice', undefined, 'HumanActionRequired');
    expect(pending.message).toMatch(
      /^The refresh chain approved by alice at .* has ended \(POST .* said invalid_grant: /,
    );
    await kube.event(namespace, 'alice', (e) => e.reason === 'HumanActionRequired');
    await approve(pending.url, ALICE);
    expect((await userinfo(await ready('alice'))).status).toBe(200);
  }, 180_000);

  it('no device code, refresh token, access token, client secret or password reaches a log, the metrics, an Event or the status', async () => {
    await state('alice');
    const access = (await kube.secretValues(namespace, 'alice'))?.token;
    if (!access) throw new Error('no access token to look for');
    const values = [
      ...deviceCodes,
      ...refreshTokens,
      access,
      ALICE.password,
      BOB.password,
      CLIENT.secret,
      SHORT.secret,
      SLOW.secret,
    ];
    const { places, credentials } = await operatorOutputs(kube, namespace, running());
    operator = undefined;
    for (const found of credentials)
      places.set(`ApiCredential ${found.metadata.name}`, JSON.stringify(found));
    for (const file of readdirSync(operatorEnv.logDir))
      places.set(`log ${file}`, readFileSync(join(operatorEnv.logDir, file), 'utf8'));
    const hits: string[] = [];
    for (const [where, text] of places) {
      for (const [index, value] of values.entries()) {
        for (const form of [value, Buffer.from(value).toString('base64'), encodeURIComponent(value)]) {
          if (text.includes(form)) hits.push(`value #${index} in ${where}`);
        }
      }
    }
    expect(deviceCodes.size).toBeGreaterThanOrEqual(8);
    expect(refreshTokens.size).toBeGreaterThanOrEqual(8);
    expect(hits).toEqual([]);
  }, 60_000);
});
