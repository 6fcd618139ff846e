// OAuth 2.0 refresh-token mode against the real Keycloak with "Revoke Refresh Token" on and max reuse 0:
// a person (here the test, by the password grant) pastes a refresh token once; the operator exchanges and
// rotates it, survives SIGKILLs at each step of a rotation without ever replaying a token (a replay would
// end the Keycloak session), and asks for a new paste when the chain dies.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { operatorOutputs } from '../harness/leak-places.ts';
import { waitFor } from '../harness/wait.ts';
import {
  buildRealm,
  startKeycloak,
  type KeycloakHandle,
  type RealmRepresentation,
} from '../keycloak/keycloak.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `kc-refresh-${randomBytes(3).toString('hex')}`;
const REALM = 'people';
const CLIENT = 'cli';
const USER = { username: 'alice', password: `Pw-${randomBytes(12).toString('hex')}` };
const PASTE = { name: 'alice-refresh', key: 'refresh_token' };
const ACCESS_TOKEN_SECONDS = 10; // several rotations within the test

/** Every refresh token of the run: pasted, stored or rotated. The leak scan looks for each. */
const refreshTokens = new Set<string>();
let keycloak: KeycloakHandle | undefined;
let operator: RunningOperator | undefined;
let operatorEnv: { kubeconfig: string; logDir: string };

function running(): RunningOperator {
  if (!operator) throw new Error('the operator is not running');
  return operator;
}

function server(): KeycloakHandle {
  if (!keycloak) throw new Error('Keycloak did not start; see the beforeAll error');
  return keycloak;
}

function realm(): RealmRepresentation {
  const base = buildRealm({ name: REALM, accessTokenLifespanSeconds: ACCESS_TOKEN_SECONDS });
  return {
    ...base,
    revokeRefreshToken: true,
    refreshTokenMaxReuse: 0,
    clients: [
      {
        clientId: CLIENT,
        enabled: true,
        protocol: 'openid-connect',
        publicClient: true,
        standardFlowEnabled: false,
        directAccessGrantsEnabled: true,
      },
    ],
    users: [
      {
        username: USER.username,
        enabled: true,
        email: 'alice@example.test',
        emailVerified: true,
        firstName: 'Alice',
        lastName: 'Example',
        credentials: [{ type: 'password', value: USER.password, temporary: false }],
      },
    ],
  };
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

async function tokenRequest(
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(server().tokenUrl(REALM), {
    method: 'POST',
    body: new URLSearchParams({ client_id: CLIENT, ...form }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** What a person does once: log in and copy the refresh token. */
async function loginRefreshToken(): Promise<string> {
  const { status, body } = await tokenRequest({ grant_type: 'password', ...USER });
  if (status !== 200 || typeof body.refresh_token !== 'string') {
    throw new Error(`password grant failed: HTTP ${status} ${String(body.error)}`);
  }
  refreshTokens.add(body.refresh_token);
  return body.refresh_token;
}

async function admin(method: string, path: string): Promise<unknown> {
  const response = await fetch(`${server().baseUrl}/admin/realms/${REALM}${path}`, {
    method,
    headers: { authorization: `Bearer ${await server().adminToken()}` },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`admin ${method} ${path}: HTTP ${response.status}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

async function userId(): Promise<string> {
  const users = (await admin('GET', `/users?username=${USER.username}&exact=true`)) as { id: string }[];
  const user = users[0];
  if (!user) throw new Error('no user alice');
  return user.id;
}

/** Keycloak's ids of the user's live sessions. */
async function liveSessions(): Promise<string[]> {
  const sessions = (await admin('GET', `/users/${await userId()}/sessions`)) as { id: string }[];
  return sessions.map((session) => session.id);
}

function sessionOf(refreshToken: string): string {
  const sid = decodeJwt(refreshToken).sid;
  if (typeof sid !== 'string') throw new Error('the refresh token carries no sid');
  return sid;
}

async function stateToken(): Promise<string | undefined> {
  const token = (await kube.secretValues(namespace, 'alice.apicred-state'))?.refreshToken;
  if (token) refreshTokens.add(token);
  return token;
}

async function readyToken(): Promise<string> {
  return waitFor(
    'Ready with an access token',
    async () => {
      const credential = await kube.credential(namespace, 'alice');
      const token = (await kube.secretValues(namespace, 'alice'))?.token;
      return condition(credential, 'Ready')?.status === 'True' && token ? token : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/**
 * The stall a person must end. While the last access token is valid Ready stays True (RenewalFailing):
 * workloads still work; Stalled=True carries the reason and what to paste where.
 */
async function humanActionRequired(): Promise<string> {
  return waitFor(
    'Stalled=True HumanActionRequired',
    async () => {
      const stalled = condition(await kube.credential(namespace, 'alice'), 'Stalled');
      return stalled?.status === 'True' && stalled.reason === 'HumanActionRequired'
        ? stalled.message
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** Once the access token runs out, Ready=False says why it was not renewed. */
async function expiredForHumanAction(): Promise<string> {
  return waitFor(
    'Ready=False after the access token expired',
    async () => {
      const ready = condition(await kube.credential(namespace, 'alice'), 'Ready');
      return ready?.status === 'False' ? `${ready.reason}: ${ready.message}` : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** Waits until the state holds a refresh token other than `than`, and returns it. */
async function nextStateToken(than: string | undefined): Promise<string> {
  return waitFor(
    'a rotated refresh token in the state Secret',
    async () => {
      const token = await stateToken();
      return token && token !== than ? token : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

async function paste(refreshToken: string): Promise<void> {
  await kube.putSecret(namespace, PASTE.name, { [PASTE.key]: refreshToken });
}

beforeAll(async () => {
  keycloak = await startKeycloak({ realm: realm(), logDir: join(repoRoot, 'test-results', 'keycloak') });
  operatorEnv = await prepareOperatorNamespace(plane, namespace);
  await kube.putSecret(namespace, 'cli-client', { client_id: CLIENT });
  operator = await startTheOperator('kc-refresh-1');
}, 900_000);

afterAll(async () => {
  await operator?.stop();
  await keycloak?.stop();
});

describe('oauth2 refresh-token mode against Keycloak with refresh token rotation', () => {
  let pasted: string;

  it('exchanges the pasted token, then rotates the chain; each token differs and the old ones are spent', async () => {
    pasted = await loginRefreshToken();
    await paste(pasted);
    await kube.createCredential(namespace, 'alice', {
      provider: {
        oauth2: {
          tokenUrl: server().tokenUrl(REALM),
          clientAuth: 'none',
          credentialsRef: { name: 'cli-client' },
          refreshTokenRef: PASTE,
        },
      },
    });
    const access = await readyToken();
    expect(decodeJwt(access).preferred_username).toBe(USER.username);
    // The refresh token is in the state Secret only, never in the Secret pods mount.
    expect(Object.keys((await kube.secretValues(namespace, 'alice')) ?? {}).sort()).toEqual([
      'expires_at',
      'token',
      'token_type',
    ]);
    const seen = [pasted];
    for (let rotation = 0; rotation < 3; rotation += 1) seen.push(await nextStateToken(seen.at(-1)));
    expect(new Set(seen).size).toBe(seen.length);
    expect(await liveSessions()).toContain(sessionOf(pasted));
    expect(condition(await kube.credential(namespace, 'alice'), 'Ready')?.status).toBe('True');
  }, 120_000);

  it('goes on from the stored chain when killed after the state write', async () => {
    await operator?.stop();
    const crashing = await startTheOperator('crash-after-state-write', 'oauth2-refresh:after-state-write');
    const code = await waitFor(
      'the crash',
      async () => (crashing.process.exited ? crashing.process.waitForExit() : undefined),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(code).toBe(137);
    const stored = await stateToken();
    operator = await startTheOperator('after-state-write');
    await nextStateToken(stored);
    await readyToken();
    expect(await liveSessions()).toContain(sessionOf(pasted));
  }, 120_000);

  // The token was never sent (killed right after the intent) or sent and rotated (killed after the
  // answer): the operator cannot tell which, so it sends nothing and asks for a new paste. The Keycloak
  // session stays alive, which it would not after a replay.
  it.each(['oauth2-refresh:after-intent-write', 'oauth2-refresh:after-refresh-response'])(
    'replays nothing when killed at %s',
    async (point) => {
      await operator?.stop();
      const crashing = await startTheOperator(`crash-${point.replace(/[^a-z0-9]+/g, '-')}`, point);
      const code = await waitFor(
        'the crash',
        async () => (crashing.process.exited ? crashing.process.waitForExit() : undefined),
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(code).toBe(137);
      const stored = await stateToken();
      if (!stored) throw new Error('no refresh token in the state Secret');
      operator = await startTheOperator(`after-${point.replace(/[^a-z0-9]+/g, '-')}`);
      const message = await humanActionRequired();
      expect(message).toContain(`${namespace}/${PASTE.name} key ${PASTE.key}`);
      expect(await stateToken()).toBe(stored);
      expect(await liveSessions()).toContain(sessionOf(stored));
      if (point === 'oauth2-refresh:after-intent-write') {
        // Never sent, so still good: the test spends it once, which proves the operator did not.
        const { status } = await tokenRequest({ grant_type: 'refresh_token', refresh_token: stored });
        expect(status).toBe(200);
      }
      pasted = await loginRefreshToken();
      await paste(pasted);
      await readyToken();
      await nextStateToken(await stateToken());
      expect(await liveSessions()).toContain(sessionOf(pasted));
    },
    180_000,
  );

  it('asks for a new refresh token when an admin ends the session, and carries on after the paste', async () => {
    await admin('POST', `/users/${await userId()}/logout`);
    const message = await humanActionRequired();
    expect(message).toContain(
      `Paste a new refresh token into Secret ${namespace}/${PASTE.name} key ${PASTE.key}`,
    );
    expect(message).toContain('invalid_grant');
    const expired = await expiredForHumanAction();
    expect(expired).toMatch(/^TokenExpired: .*HumanActionRequired: .*Paste a new refresh token into Secret/);
    pasted = await loginRefreshToken();
    await paste(pasted);
    await readyToken();
    const rotated = await nextStateToken(await stateToken());
    expect(await liveSessions()).toContain(sessionOf(rotated));
  }, 120_000);

  it('Keycloak refuses the spent pasted token when the test replays it: rotation is on', async () => {
    const { status, body } = await tokenRequest({ grant_type: 'refresh_token', refresh_token: pasted });
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_grant');
  });

  it('no refresh token, access token or password reaches a log, the metrics, an Event or the status', async () => {
    const access = (await kube.secretValues(namespace, 'alice'))?.token;
    if (!access) throw new Error('no access token to look for');
    const values = [...refreshTokens, access, USER.password];
    const { places, credentials } = await operatorOutputs(kube, namespace, running());
    operator = undefined;
    for (const credential of credentials)
      places.set(`ApiCredential ${credential.metadata.name}`, JSON.stringify(credential));
    // Every operator process of the run, the crashed ones included.
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
    expect(refreshTokens.size).toBeGreaterThan(6);
    expect(hits).toEqual([]);
  });
});
