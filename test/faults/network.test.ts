// Fault cases on the operator's network to the apiserver (through test/harness/tcp-proxy.ts): watch
// streams cut again and again, and a slow, narrow link. Renewals and manual refreshes go on throughout.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { TcpProxy } from '../harness/tcp-proxy.ts';
import { waitFor } from '../harness/wait.ts';
import {
  assertNothingLost,
  createCredentials,
  faultLogDir,
  kubeconfigVia,
  mixedCredentials,
  putInputSecrets,
  startProviders,
  waitAllReady,
  type CredentialRef,
  type Providers,
} from './fixture.ts';
import { ConsumerMonitor } from './invariants.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `network-${randomBytes(3).toString('hex')}`;
const SLOW_LATENCY_MS = Number(process.env.APICRED_FAULT_LATENCY_MS ?? 50);
const SLOW_KIB_PER_SECOND = Number(process.env.APICRED_FAULT_KIB_PER_SECOND ?? 64);
let providers: Providers & { client: { clientId: string; clientSecret: string } };
let proxy: TcpProxy;
let operator: RunningOperator | undefined;

beforeAll(async () => {
  // 30 s tokens renew 10 s before expiry: room for a reconcile over the slow link (several API calls).
  providers = await startProviders({ tapdataTtlSeconds: 30, erpTokenMinutes: 0.5 });
  proxy = await TcpProxy.forUrl(plane.server).start();
  const env = await prepareOperatorNamespace(plane, namespace);
  await putInputSecrets(kube, namespace, providers.client);
  operator = await startOperator({
    kubeconfig: kubeconfigVia(env.kubeconfig, proxy.url, join(env.logDir, 'via-proxy.kubeconfig')),
    // Kept after the run (test-results/ is ignored by git): the slow link is worth reading about.
    logDir: faultLogDir(namespace),
    name: 'network-op',
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
  });
});

afterAll(async () => {
  await operator?.stop();
  await proxy.stop();
  await Promise.all([providers.tapdata.stop(), providers.erp.stop()]);
});

async function requestRefresh(ref: CredentialRef, at: string): Promise<void> {
  await kube.requestRefresh(ref.namespace, ref.name, at);
}

/** Each manual refresh request is acted on: the status records it as handled. */
async function waitHandled(refs: CredentialRef[], at: string): Promise<void> {
  await waitFor(
    `refresh request ${at} to be handled by all`,
    async () => {
      const handled = await Promise.all(
        refs.map(
          async (ref) =>
            (await kube.credential(ref.namespace, ref.name))?.status?.lastHandledRefreshRequest === at,
        ),
      );
      return handled.every(Boolean) ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

describe('fault: the operator network to the apiserver', () => {
  it('loses no event and no token while every connection is cut, again and again', async () => {
    const monitor = new ConsumerMonitor(kube);
    const refs = mixedCredentials(namespace, 'cut', 4);
    await createCredentials(kube, providers, monitor, refs);
    monitor.start();
    await waitAllReady(kube, providers, refs);
    let cuts = 0;
    let rounds = 0;
    // 12 rounds, each: a change to act on, then every connection cut as soon as the operator has
    // connected again. Its API calls and watches share one pooled HTTP/2 connection (as client-go's
    // do), so one open connection is the operator back on the wire.
    for (; rounds < 12; rounds += 1) {
      const at = `cut-round-${String(rounds)}`;
      const target = refs[rounds % refs.length];
      if (!target) throw new Error('no credential');
      await requestRefresh(target, at);
      await waitFor('the operator to reconnect', () => (proxy.openConnections >= 1 ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      cuts += proxy.cutAll();
      await waitHandled([target], at);
    }
    const report = await assertNothingLost(kube, providers, refs, monitor);
    expect(cuts).toBeGreaterThanOrEqual(rounds);
    process.stderr.write(
      `[faults] watch cuts: ${String(rounds)} rounds, ${String(cuts)} connections cut, ` +
        `${String(report.observations)} observations, ${String(report.distinctTokens)} tokens\n`,
    );
  });

  it(`keeps tokens fresh over a slow, narrow link (${String(SLOW_LATENCY_MS)} ms per chunk, ${String(SLOW_KIB_PER_SECOND)} KiB/s)`, async () => {
    const monitor = new ConsumerMonitor(kube);
    const refs = mixedCredentials(namespace, 'slow', 4);
    proxy.latencyMs = SLOW_LATENCY_MS;
    proxy.bytesPerSecond = SLOW_KIB_PER_SECOND * 1024;
    proxy.cutAll(); // new connections only: the slow link applies to everything from now on
    try {
      await createCredentials(kube, providers, monitor, refs);
      monitor.start();
      await waitAllReady(kube, providers, refs, 90_000);
      // Two renewal rounds of 30 s tokens over the slow link, and a manual refresh.
      const started = Date.now();
      const target = refs[1];
      if (!target) throw new Error('no credential');
      await requestRefresh(target, 'slow-refresh');
      await waitHandled([target], 'slow-refresh');
      await waitFor(
        'two renewal rounds over the slow link',
        async () => {
          const refreshed = await Promise.all(
            refs.map(
              async (ref) =>
                Date.parse((await kube.credential(namespace, ref.name))?.status?.lastRefreshTime ?? '') >
                started + 25_000,
            ),
          );
          return refreshed.every(Boolean) ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      const report = await assertNothingLost(kube, providers, refs, monitor);
      process.stderr.write(
        `[faults] slow link: ${String(report.observations)} observations, ${String(report.distinctTokens)} tokens\n`,
      );
    } finally {
      proxy.latencyMs = 0;
      proxy.bytesPerSecond = undefined;
    }
  }, 240_000);
});
