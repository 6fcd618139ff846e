// A renewal that fails terminally (the client secret rotated at the provider) while the token is still
// valid: Ready=True RenewalFailing, then at expiry Ready=False TokenExpired with the metric at 0 and a
// Warning Event, then quiet (no busy loop), then back to Ready=True once the Secret is fixed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator, type TapdataClient } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `expired-${randomBytes(3).toString('hex')}`;
const orders: TapdataClient = {
  clientId: `orders-${randomBytes(4).toString('hex')}`,
  clientSecret: `s3cret-${randomBytes(12).toString('hex')}`,
  ttlSeconds: 10,
};
// Renews every few seconds: each of its renewals is a deadline the operator acts on meanwhile.
const ticker: TapdataClient = {
  clientId: `ticker-${randomBytes(4).toString('hex')}`,
  clientSecret: `s3cret-${randomBytes(12).toString('hex')}`,
  ttlSeconds: 6,
};
let rotatedSecret = '';
let tapdata: TapdataEmulator;
let operator: RunningOperator;
let identity: { kubeconfig: string; logDir: string };

async function metric(name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(operator.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function reconciles(): Promise<number> {
  const text = await (await fetch(operator.metricsUrl)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('controller_runtime_reconcile_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const ordersLabels = (): string => `namespace="${namespace}",name="orders",provider="tapdata"`;

async function untilReady(name: string, status: string, reason: string): Promise<void> {
  await waitFor(
    `${name} to be Ready=${status} ${reason}`,
    async () => {
      const ready = condition(await kube.credential(namespace, name), 'Ready');
      return ready?.status === status && ready.reason === reason ? true : undefined;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 100,
      abortIf: () => (operator.process.exited ? `the operator exited:\n${operator.logs()}` : undefined),
    },
  );
}

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [orders, ticker] });
  await tapdata.start();
  identity = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    ...identity,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false'],
  });
  for (const [name, client] of [
    ['orders', orders],
    ['ticker', ticker],
  ] as const) {
    await kube.putSecret(namespace, `${name}-client`, {
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
    await kube.createCredential(namespace, name, {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: `${name}-client` } } },
    });
  }
  await untilReady('orders', 'True', 'TokenValid');
  await untilReady('ticker', 'True', 'TokenValid');
});

afterAll(async () => {
  await operator.stop();
  await tapdata.stop();
});

describe('a terminal renewal failure, then expiry', () => {
  it('keeps Ready=True RenewalFailing, stalled, while the token lasts', async () => {
    rotatedSecret = tapdata.rotateSecret(orders.clientId);
    await kube.requestRefresh(namespace, 'orders');
    await untilReady('orders', 'True', 'RenewalFailing');
    const credential = await kube.credential(namespace, 'orders');
    expect(condition(credential, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidClient' });
    expect(Date.parse(credential?.status?.expiresAt ?? '')).toBeGreaterThan(Date.now());
    expect(await metric('apicred_credential_ready', ordersLabels())).toBe(1);
    // What ApiCredentialRenewalStalled reads: said while the old token still serves. The gauge is set
    // just after the status write, so wait for it rather than race it.
    await waitFor(
      'apicred_credential_stalled 1',
      async () => ((await metric('apicred_credential_stalled', ordersLabels())) === 1 ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(condition(await kube.credential(namespace, 'orders'), 'Ready')?.status).toBe('True');
  });

  it('turns Ready=False TokenExpired at expiry: condition, metric and Warning Event', async () => {
    await untilReady('orders', 'False', 'TokenExpired');
    const credential = await kube.credential(namespace, 'orders');
    const expiresAt = credential?.status?.expiresAt ?? '';
    expect(Date.parse(expiresAt)).toBeLessThanOrEqual(Date.now());
    const stalled = condition(credential, 'Stalled');
    expect(stalled).toMatchObject({ status: 'True', reason: 'InvalidClient' });
    expect(stalled?.message).toContain('Retrying stops until the spec or a referenced Secret changes.');
    const message = condition(credential, 'Ready')?.message;
    expect(message).toBe(
      `the token in Secret orders expired at ${expiresAt} and was not renewed: InvalidClient: ${stalled?.message ?? ''}`,
    );
    expect(credential?.status?.nextRefreshTime).toBeUndefined();

    await waitFor(
      'apicred_credential_ready 0',
      async () => ((await metric('apicred_credential_ready', ordersLabels())) === 0 ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // The status shows whole seconds; the gauge has the Secret's exact expiry.
    expect(Math.floor((await metric('apicred_token_expiry_timestamp_seconds', ordersLabels())) ?? 0)).toBe(
      Date.parse(expiresAt) / 1000,
    );
    expect(await metric('apicred_credential_stalled', ordersLabels())).toBe(1);
    const event = await kube.event(namespace, 'orders', (e) => e.reason === 'TokenExpired');
    expect(event).toMatchObject({ type: 'Warning', message });

    for (const text of [JSON.stringify(credential?.status), event.message, operator.logs()]) {
      expect(text).not.toContain(orders.clientSecret);
      expect(text).not.toContain(rotatedSecret);
    }
  });

  it('stays quiet and correct through the next deadlines: no busy loop, no repeated Event', async () => {
    const before = await kube.credential(namespace, 'orders');
    const reconcilesBefore = await reconciles();
    const ordersCallsBefore = tapdata.count('POST /oauth/token');
    const tickerBefore = tapdata.issuedCount();
    await waitFor(
      'two more renewals of the ticker',
      () => (tapdata.issuedCount() >= tickerBefore + 2 ? true : undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    const after = await kube.credential(namespace, 'orders');
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(condition(after, 'Ready')).toMatchObject({ status: 'False', reason: 'TokenExpired' });
    // Only the ticker called the provider; the stalled credential waits for its inputs.
    expect(tapdata.count('POST /oauth/token') - ordersCallsBefore).toBe(tapdata.issuedCount() - tickerBefore);
    // Each ticker renewal is a few reconciles (its own writes come back as watch events); a busy loop is thousands.
    expect((await reconciles()) - reconcilesBefore).toBeLessThan(30);
    const expiredEvents = (await kube.events(namespace, 'orders')).filter((e) => e.reason === 'TokenExpired');
    expect(expiredEvents.map((e) => e.count)).toEqual([1]);
    expect(await metric('apicred_credential_ready', ordersLabels())).toBe(0);
  });

  it('a restarted operator (as a new leader would) publishes the expired state again, quietly', async () => {
    const before = await kube.credential(namespace, 'orders');
    const callsBefore = tapdata.count('POST /oauth/token');
    const tickerBefore = tapdata.issuedCount();
    await operator.stop();
    operator = await startOperator({
      ...identity,
      name: 'operator-restarted',
      namespaces: [namespace],
      extraArgs: ['--leader-elect=false'],
    });
    await waitFor(
      'apicred_credential_ready 0 from the new process',
      async () => ((await metric('apicred_credential_ready', ordersLabels())) === 0 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(await metric('apicred_consecutive_failures', ordersLabels())).toBe(1);
    expect(await metric('apicred_credential_stalled', ordersLabels())).toBe(1);
    const after = await kube.credential(namespace, 'orders');
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(tapdata.count('POST /oauth/token') - callsBefore).toBe(tapdata.issuedCount() - tickerBefore);
    const expiredEvents = (await kube.events(namespace, 'orders')).filter((e) => e.reason === 'TokenExpired');
    expect(expiredEvents.map((e) => e.count)).toEqual([1]);
  });

  it('recovers to Ready=True once the Secret holds the rotated client secret', async () => {
    await kube.putSecret(namespace, 'orders-client', {
      client_id: orders.clientId,
      client_secret: rotatedSecret,
    });
    await untilReady('orders', 'True', 'TokenValid');
    const credential = await kube.credential(namespace, 'orders');
    expect(condition(credential, 'Stalled')).toMatchObject({ status: 'False', reason: 'Progressing' });
    expect(Date.parse(credential?.status?.expiresAt ?? '')).toBeGreaterThan(Date.now());
    expect(credential?.status?.consecutiveFailures).toBe(0);
    expect(await metric('apicred_credential_ready', ordersLabels())).toBe(1);
    await waitFor(
      'apicred_credential_stalled 0',
      async () => ((await metric('apicred_credential_stalled', ordersLabels())) === 0 ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
  });
});

describe('a long Retry-After, then expiry', () => {
  it('turns Ready=False TokenExpired at expiry, keeping the planned retry', async () => {
    const client: TapdataClient = {
      clientId: `throttled-${randomBytes(4).toString('hex')}`,
      clientSecret: `s3cret-${randomBytes(12).toString('hex')}`,
      ttlSeconds: 8,
    };
    // Its own server: the scripted 429 must reach this credential, not the ticker.
    const throttling = new TapdataEmulator({ clients: [client] });
    await throttling.start();
    try {
      await kube.putSecret(namespace, 'throttled-client', {
        client_id: client.clientId,
        client_secret: client.clientSecret,
      });
      await kube.createCredential(namespace, 'throttled', {
        provider: { tapdata: { baseUrl: throttling.url, credentialsRef: { name: 'throttled-client' } } },
      });
      await untilReady('throttled', 'True', 'TokenValid');
      throttling.faults.push('POST /oauth/token', {
        kind: 'status',
        status: 429,
        body: { error: 'slow_down' },
        retryAfter: 3600,
        times: 10,
      });
      await kube.requestRefresh(namespace, 'throttled');
      await untilReady('throttled', 'True', 'RenewalFailing');
      await untilReady('throttled', 'False', 'TokenExpired');
      const credential = await kube.credential(namespace, 'throttled');
      const retryAt = credential?.status?.nextRefreshTime ?? '';
      expect(Date.parse(retryAt) - Date.now()).toBeGreaterThan(50 * 60_000);
      expect(condition(credential, 'Stalled')).toMatchObject({ status: 'False', reason: 'Retrying' });
      expect(condition(credential, 'Ready')?.message).toBe(
        `the token in Secret throttled expired at ${credential?.status?.expiresAt ?? ''} and was not renewed: ` +
          `retrying with backoff after: RateLimited. Next attempt at ${retryAt}.`,
      );
      const labels = `namespace="${namespace}",name="throttled",provider="tapdata"`;
      await waitFor(
        'apicred_credential_ready 0',
        async () => ((await metric('apicred_credential_ready', labels)) === 0 ? true : undefined),
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      // Backing off is not stalled: the operator retries by itself at the planned time.
      expect(await metric('apicred_credential_stalled', labels)).toBe(0);
      await kube.event(namespace, 'throttled', (e) => e.reason === 'TokenExpired' && e.type === 'Warning');
      // The 429 was honoured: one attempt after the first token, none since.
      expect(throttling.count('POST /oauth/token')).toBe(2);
    } finally {
      await throttling.stop();
    }
  });
});
