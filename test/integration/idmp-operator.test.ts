// TDengine IDMP with the operator: enterprise logins renewed before expiry, and cloud tokens copied
// by a person, distributed, checked, and reported as needing a human when the provider rejects them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IDMP_DEFAULT_USER, IdmpEmulator } from '../emulators/idmp.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `idmp-${randomBytes(3).toString('hex')}`;
const TTL_SECONDS = 8;
let enterprise: IdmpEmulator;
let cloud: IdmpEmulator;
// A Java backend with Jackson's FAIL_ON_UNKNOWN_PROPERTIES whose DTO names the field loginName.
let strict: IdmpEmulator;
let operator: RunningOperator;

async function requestRefresh(name: string): Promise<void> {
  await kube.requestRefresh(namespace, name);
}

beforeAll(async () => {
  enterprise = new IdmpEmulator({ knobs: { tokenTtlSeconds: TTL_SECONDS } });
  cloud = new IdmpEmulator({ knobs: { mode: 'cloud' } });
  strict = new IdmpEmulator({ knobs: { strictLogin: { loginField: 'loginName', unknownFields: 'reject' } } });
  await Promise.all([enterprise.start(), cloud.start(), strict.start()]);
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
  });
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([enterprise.stop(), cloud.stop(), strict.stop()]);
});

describe('idmp with the operator', () => {
  it('logs in (enterprise) and logs in again before each token expires', async () => {
    await kube.putSecret(namespace, 'idmp-login', {
      username: IDMP_DEFAULT_USER.loginName,
      password: IDMP_DEFAULT_USER.password,
    });
    await kube.createCredential(namespace, 'idmp', {
      provider: { idmp: { baseUrl: enterprise.url, credentialsRef: { name: 'idmp-login' } } },
    });
    const seen = new Set<string>();
    // Collected, not thrown: waitFor retries a probe that throws, which would hide the failure.
    const expiredSeen: string[] = [];
    await waitFor(
      'two renewals',
      async () => {
        const secret = await kube.secret(namespace, 'idmp');
        if (!secret) return undefined;
        if (!(Date.parse(secret.metadata?.annotations?.['apicred.dev/expires-at'] ?? '') > Date.now()))
          expiredSeen.push(new Date().toISOString());
        seen.add(secret.data?.token ?? '');
        return seen.size >= 3 ? true : undefined;
      },
      { timeoutMs: 5 * TTL_SECONDS * 1000, intervalMs: 250 },
    );
    expect(expiredSeen).toEqual([]);
    expect(enterprise.count('POST /api/v1/users/login')).toBeGreaterThanOrEqual(3);
  });

  it('copies browser tokens (cloud), and says exactly what a person must do when they stop working', async () => {
    const session = cloud.mintCloudSession();
    await kube.putSecret(namespace, 'idmp-browser', {
      bearer_token: session.bearer,
      access_token: session.accessToken,
    });
    await kube.createCredential(namespace, 'idmp-cloud', {
      provider: { idmpCloud: { baseUrl: cloud.url, tokensRef: { name: 'idmp-browser' } } },
    });
    await waitFor(
      'the copied tokens',
      async () => {
        const values = await kube.secretValues(namespace, 'idmp-cloud');
        return values?.token === session.bearer && values['access-token'] === session.accessToken
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // The Secret is written before the status: wait for Ready too, or a read between the two sees none.
    const ready = await waitFor(
      'Ready=True',
      async () => {
        const found = condition(await kube.credential(namespace, 'idmp-cloud'), 'Ready');
        return found?.status === 'True' ? found : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(ready.status).toBe('True');

    cloud.revokeCloudSession(session.bearer);
    await requestRefresh('idmp-cloud'); // the check would otherwise come at the next checkInterval
    const failing = await waitFor(
      'HumanActionRequired',
      async () => {
        const found = condition(await kube.credential(namespace, 'idmp-cloud'), 'Ready');
        return found?.reason === 'HumanActionRequired' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(failing.status).toBe('False');
    expect(failing.message).toContain(`kubectl -n ${namespace} patch secret idmp-browser`);
    expect(failing.message).not.toContain(session.bearer);
    await kube.event(
      namespace,
      'idmp-cloud',
      (e) => e.type === 'Warning' && e.reason === 'HumanActionRequired',
    );

    // The person pastes fresh values: the credential recovers without anything else.
    const fresh = cloud.mintCloudSession();
    await kube.putSecret(namespace, 'idmp-browser', {
      bearer_token: fresh.bearer,
      access_token: fresh.accessToken,
    });
    await waitFor(
      'recovery with the new tokens',
      async () =>
        (await kube.secretValues(namespace, 'idmp-cloud'))?.token === fresh.bearer ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const texts = operator.logs() + JSON.stringify(await kube.events(namespace, 'idmp-cloud'));
    for (const value of [
      session.bearer,
      session.accessToken,
      fresh.bearer,
      fresh.accessToken,
      IDMP_DEFAULT_USER.password,
    ]) {
      expect(texts.includes(value)).toBe(false);
    }
  });

  it('a strict Java server: the login name field is found, and a wrong pin is named as a request problem', async () => {
    await kube.putSecret(namespace, 'idmp-strict-login', {
      username: IDMP_DEFAULT_USER.loginName,
      password: IDMP_DEFAULT_USER.password,
    });
    const credentialsRef = { name: 'idmp-strict-login' };
    await kube.createCredential(namespace, 'idmp-strict', {
      provider: { idmp: { baseUrl: strict.url, credentialsRef } },
    });
    const ready = await waitFor(
      'a token from the strict server',
      async () => {
        const found = condition(await kube.credential(namespace, 'idmp-strict'), 'Ready');
        return found?.reason === 'TokenValid' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(ready.status).toBe('True');
    expect(
      strict.requests().map((r) =>
        Object.keys(r.body as Record<string, unknown>)
          .sort()
          .join(','),
      ),
    ).toEqual(['login_name,password', 'loginName,password']);

    await kube.createCredential(namespace, 'idmp-strict-pinned', {
      provider: { idmp: { baseUrl: strict.url, credentialsRef, loginField: 'login_name' } },
    });
    const rejected = await waitFor(
      'RequestRejected',
      async () => {
        const found = condition(await kube.credential(namespace, 'idmp-strict-pinned'), 'Ready');
        return found?.reason === 'RequestRejected' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(rejected.status).toBe('False');
    expect(rejected.message).toBe(
      `IDMP login at ${new URL(strict.url).host}/api/v1/users/login rejected the request itself, not the credentials ` +
        '(400: message "JSON parse error: Unrecognized field "login_name" (class [redacted]), not marked as ignorable ' +
        '(2 known properties: "loginName", "password"])"). spec.provider.idmp.loginField pins the login name\'s field ' +
        'to "login_name": if the server names that field, set spec.provider.idmp.loginField to "loginName", or remove ' +
        "it so that the operator finds the name itself. If that does not help, report this message with the IDMP server's " +
        'version to the apicred-operator maintainers. Retrying stops until the spec or a referenced Secret changes.',
    );
    const stalled = condition(await kube.credential(namespace, 'idmp-strict-pinned'), 'Stalled');
    expect(stalled?.status).toBe('True');
    const event = await kube.event(
      namespace,
      'idmp-strict-pinned',
      (e) => e.type === 'Warning' && e.reason === 'RequestRejected',
    );
    expect(event.message).toContain('rejected the request itself, not the credentials');
    expect(event.message).not.toContain(IDMP_DEFAULT_USER.password);
  });
});
