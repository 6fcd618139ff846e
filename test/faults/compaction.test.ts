// Fault case: an etcd compaction passes the operator's resource versions while it is cut off, so its
// watches answer 410 Gone when it comes back. Runs on its own control plane with the watch cache off
// (watches are then served by etcd, as for any resource whose history the cache no longer holds).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, PLURAL, VERSION } from '../../src/api/apicredential.ts';
import { adminKubeConfig, kubectl, startControlPlane, type ControlPlane } from '../harness/controlplane.ts';
import { crdFiles } from '../harness/crds.ts';
import { ensureNamespace } from '../harness/identity.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { TcpProxy } from '../harness/tcp-proxy.ts';
import { waitFor } from '../harness/wait.ts';
import { compact, currentRevision } from './etcd.ts';
import {
  assertNothingLost,
  createCredentials,
  kubeconfigVia,
  logCount,
  mixedCredentials,
  putInputSecrets,
  startProviders,
  waitAllReady,
  type Providers,
} from './fixture.ts';
import { ConsumerMonitor } from './invariants.ts';

const namespace = `compact-${randomBytes(3).toString('hex')}`;
const RELIST_LOG = 'watch answered 410 Gone (its resource version was compacted); relisting';
let plane: ControlPlane;
let kube: TestKube;
let providers: Providers & { client: { clientId: string; clientSecret: string } };
let proxy: TcpProxy;
let operator: RunningOperator | undefined;

beforeAll(async () => {
  [plane, providers] = await Promise.all([
    startControlPlane({
      crdFiles: crdFiles(),
      controllerManager: false,
      keepDir: process.env.APICRED_KEEP_PLANE === '1',
      apiserverArgs: ['--watch-cache=false'],
    }),
    startProviders({ tapdataTtlSeconds: 30, erpTokenMinutes: 0.5 }),
  ]);
  kube = new TestKube(adminKubeConfig(plane));
  await kubectl(plane, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  proxy = await TcpProxy.forUrl(plane.server).start();
});

afterAll(async () => {
  await operator?.stop();
  await proxy.stop();
  await Promise.all([providers.tapdata.stop(), providers.erp.stop()]);
  await plane.stop();
});

describe('fault: etcd compaction while the operator is cut off (410 Gone)', () => {
  it('relists, and acts on every change made while it was away', async () => {
    const env = await prepareOperatorNamespace(plane, namespace);
    await putInputSecrets(kube, namespace, providers.client);
    await kube.putSecret(namespace, 'tapdata-client-2', {
      client_id: providers.client.clientId,
      client_secret: providers.client.clientSecret,
    });
    operator = await startOperator({
      kubeconfig: kubeconfigVia(env.kubeconfig, proxy.url, join(env.logDir, 'via-proxy.kubeconfig')),
      logDir: env.logDir,
      name: 'compaction-op',
      namespaces: [namespace],
      extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
    });
    const monitor = new ConsumerMonitor(kube);
    const refs = mixedCredentials(namespace, 'gap', 4);
    await createCredentials(kube, providers, monitor, refs);
    monitor.start();
    await waitAllReady(kube, providers, refs);
    const changed = refs[0];
    if (!changed) throw new Error('no credential');
    const before = await kube.credential(namespace, changed.name);
    const tokenBefore = (await kube.secretValues(namespace, changed.name))?.token;

    // Cut the operator off: its watches end and every reconnect is refused.
    proxy.partition('reset');
    // Changes it must not miss: a spec change, a new credential, and enough churn to move etcd on.
    await kube.objects.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name: changed.name,
        body: { spec: { provider: { tapdata: { credentialsRef: { name: 'tapdata-client-2' } } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const created = { namespace, name: 'gap-created-during-outage', kind: 'tapdata' as const };
    await createCredentials(kube, providers, monitor, [created]);
    const churn = `${namespace}-churn`;
    await ensureNamespace(kube.core, churn);
    for (let i = 0; i < 100; i += 1)
      await kube.core.createNamespacedConfigMap({
        namespace: churn,
        body: { metadata: { name: `churn-${String(i)}` }, data: { i: String(i) } },
      });
    const revision = await currentRevision(plane.etcdUrl);
    await compact(plane.etcdUrl, revision);
    proxy.heal();

    const relisted = (resource: string): boolean =>
      (operator?.logs() ?? '')
        .split('\n')
        .some((line) => line.includes(`"resource":"${resource}"`) && line.includes(RELIST_LOG));
    await waitFor(
      'every informer to relist after 410 Gone',
      () => (['apicredentials', 'secrets', 'configmaps'].every(relisted) ? true : undefined),
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const metrics = await (await fetch(operator.metricsUrl)).text();
    expect(metrics).toMatch(
      /^apicred_informer_relists_total\{resource="apicredentials",reason="expired"\} [1-9]/m,
    );

    // The spec change made during the gap is acted on: a new token from the new input Secret.
    await waitFor(
      'the spec change to be acted on',
      async () => {
        const credential = await kube.credential(namespace, changed.name);
        const token = (await kube.secretValues(namespace, changed.name))?.token;
        return credential?.status?.observedGeneration === credential?.metadata.generation &&
          credential?.metadata.generation !== before?.metadata.generation &&
          condition(credential, 'Ready')?.reason === 'TokenValid' &&
          credential?.status?.inputsHash !== before?.status?.inputsHash &&
          token !== tokenBefore
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const report = await assertNothingLost(kube, providers, [...refs, created], monitor);
    process.stderr.write(
      `[faults] compaction to revision ${String(revision)}: relists ${String(logCount(operator.logs(), RELIST_LOG))}, ` +
        `${String(report.observations)} observations, ${String(report.distinctTokens)} tokens\n`,
    );
  });
});
