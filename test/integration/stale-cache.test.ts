// A cache behind the operator's own writes must not cause a second token exchange. The operator writes
// the consumer Secret, then the status; the watch event of one can start the next reconcile before the
// event of the other has arrived. Here one watch is held back on purpose (APICRED_WATCH_DELAY, a
// test-only switch), so the window is certain, and every token request is counted at the emulator.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const WATCH_DELAY_MS = 1_000;
const client = {
  clientId: '68376c8a4cf9b840dba2e119',
  clientSecret: `tapdata-${randomBytes(12).toString('hex')}`,
};
let tapdata: TapdataEmulator;

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [client] });
  await tapdata.start();
});

afterAll(async () => {
  await tapdata.stop();
});

const tokenRequests = (): number => tapdata.count('POST /oauth/token');

/**
 * Checks `observe` every 50 ms for three watch delays (every event held back meanwhile is delivered
 * and handled within them) and fails with everything it saw go wrong.
 */
async function watchCatchUpWindow(
  observe: () => Promise<string | undefined> | string | undefined,
): Promise<void> {
  const until = Date.now() + 3 * WATCH_DELAY_MS;
  const problems: string[] = [];
  while (Date.now() <= until) {
    const problem = await observe();
    if (problem !== undefined) problems.push(problem);
    await delay(50);
  }
  expect(problems).toEqual([]);
}

async function expectNoFurtherRequestsWhileTheWatchCatchesUp(expected: number): Promise<void> {
  await watchCatchUpWindow(() => {
    const count = tokenRequests();
    return count === expected ? undefined : `${String(count)} token requests, expected ${String(expected)}`;
  });
}

async function operatorWithDelayedWatch(
  resource: 'apicredentials' | 'secrets',
): Promise<{ namespace: string; operator: RunningOperator }> {
  const namespace = `stale-${resource.slice(0, 6)}-${randomBytes(3).toString('hex')}`;
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  const operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false'],
    env: { APICRED_WATCH_DELAY: `${resource}:${String(WATCH_DELAY_MS)}` },
  });
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  return { namespace, operator };
}

describe('a cache behind the operator’s own writes', () => {
  it('Secret watch behind: one token request per issue, and the status never goes back to the older token', async () => {
    const { namespace, operator } = await operatorWithDelayedWatch('secrets');
    try {
      const before = tokenRequests();
      await kube.createCredential(namespace, 'orders', {
        provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
      });
      await waitFor(
        'Ready',
        async () =>
          condition(await kube.credential(namespace, 'orders'), 'Ready')?.status === 'True'
            ? true
            : undefined,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      await expectNoFurtherRequestsWhileTheWatchCatchesUp(before + 1);

      // A refresh, then at once an unrelated edit: its reconcile runs while the cache still holds the
      // Secret with the older token, and must neither ask again nor report that token in the status.
      const requestedAt = new Date().toISOString();
      await kube.requestRefresh(namespace, 'orders', requestedAt);
      const issuedAt = await waitFor(
        'the refresh handled',
        async () => {
          const status = (await kube.credential(namespace, 'orders'))?.status;
          return status?.lastHandledRefreshRequest === requestedAt ? status.issuedAt : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      await kube.annotateCredential(namespace, 'orders', { 'example.com/touched': requestedAt });
      await watchCatchUpWindow(async () => {
        const seen = (await kube.credential(namespace, 'orders'))?.status?.issuedAt;
        const count = tokenRequests();
        if (seen !== issuedAt) return `status.issuedAt went back to ${String(seen)} from ${issuedAt}`;
        if (count !== before + 2) return `${String(count)} token requests, expected ${String(before + 2)}`;
        return undefined;
      });
    } finally {
      await operator.stop();
    }
  });

  it('ApiCredential watch behind: a manual refresh is handled once, not again for a status not yet seen', async () => {
    const { namespace, operator } = await operatorWithDelayedWatch('apicredentials');
    try {
      await kube.createCredential(namespace, 'orders', {
        provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
      });
      await waitFor(
        'the first token',
        async () => ((await kube.secretValues(namespace, 'orders'))?.token ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const afterIssue = tokenRequests();
      await expectNoFurtherRequestsWhileTheWatchCatchesUp(afterIssue);

      for (let round = 1; round <= 2; round += 1) {
        const requestedAt = new Date().toISOString();
        await kube.requestRefresh(namespace, 'orders', requestedAt);
        await waitFor(
          `refresh request ${String(round)} handled`,
          async () =>
            (await kube.credential(namespace, 'orders'))?.status?.lastHandledRefreshRequest === requestedAt
              ? true
              : undefined,
          { timeoutMs: 30_000, intervalMs: 100 },
        );
        await expectNoFurtherRequestsWhileTheWatchCatchesUp(afterIssue + round);
      }
    } finally {
      await operator.stop();
    }
  });
});
