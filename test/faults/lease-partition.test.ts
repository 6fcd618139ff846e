// Fault case: two replicas; the leader is partitioned from the apiserver (its packets dropped), loses
// the lease, the other takes over; the partition heals, the old leader comes back as a standby, and
// later wins the lease back the same way. At no time may two replicas call a provider or write.
// Each replica reaches the apiserver through its own TCP proxy and the providers through its own
// HTTP proxy, so every provider call is attributed to the replica that made it.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ANNOTATION_REFRESH_REQUESTED, GROUP, PLURAL, VERSION } from '../../src/api/apicredential.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { HttpForwardProxy } from '../harness/http-proxy.ts';
import { createIdentity } from '../harness/identity.ts';
import { TestKube } from '../harness/kube.ts';
import { operatorRules, startOperator, type RunningOperator } from '../harness/operator.ts';
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
const namespace = `partition-${randomBytes(3).toString('hex')}`;
const logDir = faultLogDir(namespace);

interface Replica {
  name: string;
  kubeconfig: string;
  network: TcpProxy;
  egress: HttpForwardProxy;
  runs: RunningOperator[];
}

let providers: Providers & { client: { clientId: string; clientSecret: string } };
const replicas: Replica[] = [];

function current(replica: Replica): RunningOperator | undefined {
  const last = replica.runs.at(-1);
  return last && !last.process.exited ? last : undefined;
}

async function launch(replica: Replica): Promise<void> {
  replica.runs.push(
    await startOperator({
      kubeconfig: replica.kubeconfig,
      logDir,
      name: `${replica.name}-${String(replica.runs.length + 1)}`,
      namespaces: [namespace],
      env: { HTTP_PROXY: replica.egress.url, NO_PROXY: '' },
      extraArgs: [
        '--leader-elect=true',
        `--lease-namespace=${namespace}`,
        '--lease-name=apicred-partition',
        '--propagation-margin=2s',
      ],
    }),
  );
}

async function isLeader(replica: Replica): Promise<boolean> {
  const running = current(replica);
  if (!running) return false;
  try {
    return /^apicred_leader 1$/m.test(await (await fetch(running.metricsUrl)).text());
  } catch {
    return false;
  }
}

async function waitLeader(): Promise<{ leader: Replica; other: Replica }> {
  return waitFor(
    'exactly one leader',
    async () => {
      const flags = await Promise.all(replicas.map(isLeader));
      const leaders = replicas.filter((_replica, index) => flags[index]);
      const [leader] = leaders;
      const other = replicas.find((replica) => replica !== leader);
      return leaders.length === 1 && leader && other ? { leader, other } : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

/** Times of "token written" log lines of every run of a replica. */
function writes(replica: Replica): number[] {
  return replica.runs.flatMap((run) =>
    run
      .logs()
      .split('\n')
      .filter((line) => line.includes('"msg":"token written"'))
      .map((line) => Date.parse((JSON.parse(line) as { time: string }).time)),
  );
}

/** How often the acting replica changes along a time-ordered list of acts. */
function handovers(acts: { at: number; by: string }[]): number {
  const ordered = [...acts].sort((a, b) => a.at - b.at);
  return ordered.filter((act, index) => index > 0 && ordered[index - 1]?.by !== act.by).length;
}

async function refreshAll(refs: CredentialRef[], at: string): Promise<void> {
  for (const ref of refs)
    await kube.objects.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name: ref.name,
        body: { metadata: { annotations: { [ANNOTATION_REFRESH_REQUESTED]: at } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  await waitFor(
    `refresh ${at} handled by all`,
    async () => {
      const handled = await Promise.all(
        refs.map(
          async (ref) =>
            (await kube.credential(namespace, ref.name))?.status?.lastHandledRefreshRequest === at,
        ),
      );
      return handled.every(Boolean) ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

beforeAll(async () => {
  // A failover takes the lease duration (15 s, no flag to shorten it) plus a retry: 60 s tokens keep
  // 20 s of slack before expiry, so consumers stay valid through it.
  providers = await startProviders({ tapdataTtlSeconds: 60, erpTokenMinutes: 1 });
  for (const name of ['replica-a', 'replica-b']) {
    const identity = await createIdentity(plane, {
      namespace,
      serviceAccount: `apicred-${name}`,
      rules: operatorRules,
    });
    const network = await TcpProxy.forUrl(plane.server).start();
    const egress = await new HttpForwardProxy(name).start();
    replicas.push({
      name,
      network,
      egress,
      runs: [],
      kubeconfig: kubeconfigVia(
        identity.kubeconfigPath,
        network.url,
        join(plane.dir, `${namespace}-${name}.kubeconfig`),
      ),
    });
  }
  await putInputSecrets(kube, namespace, providers.client);
});

afterAll(async () => {
  for (const replica of replicas) {
    await current(replica)?.stop();
    await replica.network.stop();
    await replica.egress.stop();
  }
  await Promise.all([providers.tapdata.stop(), providers.erp.stop()]);
});

describe('fault: the leader partitioned from the apiserver', () => {
  it('hands over without two replicas ever acting, and back again', async () => {
    for (const replica of replicas) await launch(replica);
    const monitor = new ConsumerMonitor(kube);
    const refs = mixedCredentials(namespace, 'lease', 4);
    await createCredentials(kube, providers, monitor, refs);
    monitor.start();
    await waitAllReady(kube, providers, refs);

    const rounds: { partitioned: string; takeoverMs: number; exitedMs: number }[] = [];
    for (let round = 0; round < 2; round += 1) {
      const { leader, other } = await waitLeader();
      const deposed = current(leader);
      if (!deposed) throw new Error('leader not running');
      const cutAt = Date.now();
      leader.network.partition('blackhole');
      // The partitioned leader must notice on its own (renew deadline) and stop acting.
      await waitFor(
        'the partitioned leader to step down',
        () => (deposed.process.exited ? true : undefined),
        {
          timeoutMs: 40_000,
          intervalMs: 100,
        },
      );
      const exitedMs = Date.now() - cutAt;
      expect(deposed.logs()).toContain('lost the lease; exiting so that two replicas never act together');
      await waitFor(
        'the other replica to take over',
        () => isLeader(other).then((yes) => (yes ? true : undefined)),
        {
          timeoutMs: 40_000,
          intervalMs: 100,
        },
      );
      const takeoverMs = Date.now() - cutAt;
      rounds.push({ partitioned: leader.name, takeoverMs, exitedMs });
      // The new leader acts: a manual refresh of every credential, written by it alone.
      await refreshAll(refs, `round-${String(round)}`);
      // The partition heals; the old leader is restarted (as its Deployment would) and stands by.
      leader.network.heal();
      await launch(leader);
      await waitAllReady(kube, providers, refs);
    }

    const report = await assertNothingLost(kube, providers, refs, monitor);
    // Provider calls, attributed by each replica's egress proxy, and Secret writes from the logs:
    // one handover per partition, never interleaved.
    const calls = replicas.flatMap((replica) =>
      replica.egress.calls().map((call) => ({ at: call.at, by: replica.name })),
    );
    const written = replicas.flatMap((replica) => writes(replica).map((at) => ({ at, by: replica.name })));
    expect(handovers(calls)).toBe(rounds.length);
    expect(handovers(written)).toBe(rounds.length);
    for (const { partitioned } of rounds) expect(replicas.map((r) => r.name)).toContain(partitioned);
    process.stderr.write(
      `[faults] lease partition: ${JSON.stringify(rounds)}; provider calls ${String(calls.length)}, ` +
        `writes ${String(written.length)}, handovers ${String(handovers(calls))}/${String(handovers(written))}; ` +
        `${String(report.observations)} observations, ${String(report.distinctTokens)} tokens\n`,
    );
  });
});
