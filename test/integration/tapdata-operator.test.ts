// The operator with TapData (emulated from the vendor notes): issue, manual refresh through the
// annotation, a 429 honoured, and no secret in logs, events or status.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `tapdata-${randomBytes(3).toString('hex')}`;
const client = {
  clientId: '68376c8a4cf9b840dba2e119',
  clientSecret: `tapdata-${randomBytes(12).toString('hex')}`,
};
let tapdata: TapdataEmulator;
// Sends expires_in as a duration with a unit, which the docs' "String, Expiration time" allows.
let tapdataDays: TapdataEmulator;
let operator: RunningOperator;

async function token(): Promise<string | undefined> {
  return (await kube.secretValues(namespace, 'orders-api'))?.token;
}

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [client] });
  tapdataDays = new TapdataEmulator({ clients: [client], knobs: { expiresInValue: '14d' } });
  await Promise.all([tapdata.start(), tapdataDays.start()]);
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false'],
  });
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([tapdata.stop(), tapdataDays.stop()]);
});

describe('tapdata with the operator', () => {
  it('writes a 14-day token into the Secret', async () => {
    await kube.createCredential(namespace, 'orders-api', {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
    });
    // The Secret is written before the status: wait for both, or a read between the two sees no Ready.
    const credential = await waitFor(
      'the token and Ready',
      async () => {
        const found = await kube.credential(namespace, 'orders-api');
        return (await token()) && condition(found, 'Ready')?.status === 'True' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const lifetime =
      Date.parse(credential.status?.expiresAt ?? '') - Date.parse(credential.status?.issuedAt ?? '');
    expect(Math.round(lifetime / 86_400_000)).toBe(14);
    expect(tapdata.count('POST /oauth/token')).toBe(1);
  });

  it('renews once on the refresh-requested-at annotation, honouring a 429 first', async () => {
    const before = await token();
    tapdata.faults.push('POST /oauth/token', {
      kind: 'status',
      status: 429,
      body: { error: 'slow_down' },
      retryAfter: 2,
    });
    const requestedAt = new Date().toISOString();
    await kube.requestRefresh(namespace, 'orders-api', requestedAt);
    const renewed = await waitFor(
      'a new token after the 429',
      async () => {
        const current = await token();
        return current && current !== before ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(renewed).not.toBe(before);
    const requests = tapdata.requests().filter((r) => r.route === 'POST /oauth/token');
    const throttled = requests.findIndex((r) => r.status === 429);
    expect(throttled).toBeGreaterThanOrEqual(1);
    // The retry came no earlier than Retry-After.
    expect((requests[throttled + 1]?.at ?? 0) - (requests[throttled]?.at ?? 0)).toBeGreaterThanOrEqual(1_900);
    // The status follows the Secret's write.
    await waitFor(
      'the request to be marked handled',
      async () =>
        (await kube.credential(namespace, 'orders-api'))?.status?.lastHandledRefreshRequest === requestedAt
          ? true
          : undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // Handled once: no further requests while nothing changes.
    const count = tapdata.count('POST /oauth/token');
    await waitFor(
      'the status to settle',
      async () =>
        condition(await kube.credential(namespace, 'orders-api'), 'Ready')?.reason === 'TokenValid'
          ? true
          : undefined,
      { timeoutMs: 10_000 },
    );
    expect(tapdata.count('POST /oauth/token')).toBe(count);
  });

  it('names a missing credentials Secret in the condition, and recovers as soon as it appears', async () => {
    await kube.createCredential(namespace, 'late-secret', {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'not-yet-there' } } },
    });
    const ready = await waitFor(
      'the MissingInput condition',
      async () => {
        const found = condition(await kube.credential(namespace, 'late-secret'), 'Ready');
        return found?.reason === 'MissingInput' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(ready.status).toBe('False');
    expect(ready.message).toContain(`Secret ${namespace}/not-yet-there`);
    expect(ready.message).toContain('spec.provider.tapdata.credentialsRef');
    await kube.putSecret(namespace, 'not-yet-there', {
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
    await waitFor(
      'the credential to become Ready',
      async () =>
        condition(await kube.credential(namespace, 'late-secret'), 'Ready')?.reason === 'TokenValid'
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });

  it('keeps the client secret and tokens out of logs, events and status', async () => {
    const values = [client.clientSecret, (await token()) ?? ''];
    const texts = {
      logs: operator.logs(),
      events: JSON.stringify(await kube.events(namespace, 'orders-api')),
      status: JSON.stringify(await kube.credential(namespace, 'orders-api')),
      metrics: await (await fetch(operator.metricsUrl)).text(),
    };
    for (const value of values) {
      expect(value.length).toBeGreaterThan(10);
      for (const [where, text] of Object.entries(texts))
        expect(text.includes(value), `${where} leaks a secret`).toBe(false);
    }
  });

  it('an expires_in of "14d": the JWT exp serves, Ready=True, and a Warning Event says what was unusable', async () => {
    await kube.createCredential(namespace, 'orders-days', {
      provider: { tapdata: { baseUrl: tapdataDays.url, credentialsRef: { name: 'tapdata-client' } } },
    });
    const event = await kube.event(
      namespace,
      'orders-days',
      (e) => e.type === 'Warning' && e.reason === 'UnusableExpiresIn',
    );
    const credential = await kube.credential(namespace, 'orders-days');
    const ready = condition(credential, 'Ready');
    expect(ready?.status).toBe('True');
    expect(ready?.reason).toBe('UnusableExpiresIn');
    const expiresAt = credential?.status?.expiresAt ?? '';
    const values = await kube.secretValues(namespace, 'orders-days');
    const exp = JSON.parse(Buffer.from(values?.token?.split('.')[1] ?? '', 'base64url').toString()) as {
      exp: number;
    };
    expect(Date.parse(expiresAt)).toBe(exp.exp * 1000);
    expect(event.message).toBe(
      `${new URL(tapdataDays.url).host}/oauth/token: the provider's expires_in "14d" (a string) is not a number ` +
        '(a unit suffix is not allowed); expected a positive number of seconds. Ignored it and used the JWT exp ' +
        `claim instead: the token expires at ${new Date(exp.exp * 1000).toISOString().slice(0, 19)}Z.`,
    );
    expect(ready?.message).toBe(event.message);
    expect(event.message.includes(values?.token ?? '-')).toBe(false);
    expect(tapdataDays.count('POST /oauth/token')).toBe(1);
  });
});
