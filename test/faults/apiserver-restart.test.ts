// Fault case: kube-apiserver SIGKILLed and restarted (etcd kept) just before renewals fall due. Its
// own control plane (the shared one must not go away under other tests).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKubeConfig, kubectl, startControlPlane, type ControlPlane } from '../harness/controlplane.ts';
import { crdFiles } from '../harness/crds.ts';
import { TestKube } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import {
  IDEMPIERE_REFRESH,
  TAPDATA_TOKEN,
  assertNothingLost,
  createCredentials,
  mixedCredentials,
  putInputSecrets,
  startProviders,
  waitAllReady,
  type Providers,
} from './fixture.ts';
import { ConsumerMonitor } from './invariants.ts';

const namespace = `restart-${randomBytes(3).toString('hex')}`;
let plane: ControlPlane;
let kube: TestKube;
let providers: Providers & { client: { clientId: string; clientSecret: string } };
let operator: RunningOperator | undefined;

beforeAll(async () => {
  [plane, providers] = await Promise.all([
    startControlPlane({ crdFiles: crdFiles(), controllerManager: false }),
    // 30 s tokens renew ~10 s before expiry: room for an apiserver restart of a few seconds.
    startProviders({ tapdataTtlSeconds: 30, erpTokenMinutes: 0.5 }),
  ]);
  kube = new TestKube(adminKubeConfig(plane));
  await kubectl(plane, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
});

afterAll(async () => {
  await operator?.stop();
  await Promise.all([providers.tapdata.stop(), providers.erp.stop()]);
  await plane.stop();
});

describe('fault: kube-apiserver killed and restarted while renewals are due', () => {
  it('keeps every consumer valid, replays nothing and renews once the apiserver is back', async () => {
    const env = await prepareOperatorNamespace(plane, namespace);
    await putInputSecrets(kube, namespace, providers.client);
    operator = await startOperator({
      ...env,
      name: 'restart-op',
      namespaces: [namespace],
      extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
    });
    const monitor = new ConsumerMonitor(kube);
    const refs = mixedCredentials(namespace, 'due', 6);
    await createCredentials(kube, providers, monitor, refs);
    monitor.start();
    await waitAllReady(kube, providers, refs);

    // Kill it half a second before the first renewal falls due.
    const renewals = await Promise.all(
      refs.map(async (ref) =>
        Date.parse((await kube.credential(namespace, ref.name))?.status?.nextRefreshTime ?? ''),
      ),
    );
    const firstDue = Math.min(...renewals);
    expect(Number.isFinite(firstDue)).toBe(true);
    await waitFor(
      'the first renewal to be half a second away',
      () => (Date.now() >= firstDue - 500 ? true : undefined),
      {
        timeoutMs: 40_000,
        intervalMs: 50,
      },
    );
    const callsBefore = providers.tapdata.count(TAPDATA_TOKEN) + providers.erp.count(IDEMPIERE_REFRESH);
    const killedAt = Date.now();
    await plane.restartApiserver();
    const downMs = Date.now() - killedAt;

    // Every credential renews after the restart, with no manual poke and no operator restart.
    await waitFor(
      'every credential to renew after the restart',
      async () => {
        const refreshed = await Promise.all(
          refs.map(
            async (ref) =>
              Date.parse((await kube.credential(namespace, ref.name))?.status?.lastRefreshTime ?? '') >
              killedAt,
          ),
        );
        return refreshed.every(Boolean) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(operator.process.exited).toBe(false);
    const report = await assertNothingLost(kube, providers, refs, monitor);
    const calls =
      providers.tapdata.count(TAPDATA_TOKEN) + providers.erp.count(IDEMPIERE_REFRESH) - callsBefore;
    process.stderr.write(
      `[faults] apiserver restart: down ${String(downMs)} ms, ${String(calls)} provider renewals after, ` +
        `${String(report.observations)} observations, ${String(report.distinctTokens)} tokens\n`,
    );
  });
});
