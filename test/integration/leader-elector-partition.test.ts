// The LeaderElector alone against the real kube-apiserver, its link running through a TCP proxy that
// black-holes it mid-term: every renewal then hangs (no reset, no error), and the leader must give
// up within the renew deadline, before the lease can pass on the other replicas' clocks. A second
// elector, connected directly, then takes the lease over: never before the first one stepped down.
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { systemClock } from '../../src/policy/clock.ts';
import { LeaderElector, type LeaderElectionOptions } from '../../src/kube/leader-election.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube } from '../harness/kube.ts';
import { TcpProxy } from '../harness/tcp-proxy.ts';

const plane = inject('controlPlane');
const admin = adminKubeConfig(plane);
const kube = new TestKube(admin);
const leases = admin.makeApiClient(CoordinationV1Api);
const namespace = `elector-${randomBytes(3).toString('hex')}`;
const name = 'elector-test';
// Short timings, in client-go's proportions, so that the case takes seconds.
const timings = { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 200 };
let link: TcpProxy;
const electors: LeaderElector[] = [];

/** The admin kubeconfig with its server replaced: TLS passes the proxy untouched. */
function kubeConfigVia(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: admin.clusters.map((cluster) => ({ ...cluster, server })),
    users: admin.users,
    contexts: admin.contexts,
    currentContext: admin.currentContext,
  });
  return config;
}

interface Term {
  elector: LeaderElector;
  leading: Promise<number>;
  deposed: Promise<number>;
}

/** Starts an elector; its promises resolve with the time leadership was taken and given up. */
function campaign(identity: string, kubeConfig: KubeConfig): Term {
  let started!: (at: number) => void;
  let stopped!: (at: number) => void;
  const leading = new Promise<number>((resolve) => (started = resolve));
  const deposed = new Promise<number>((resolve) => (stopped = resolve));
  const options: LeaderElectionOptions = {
    kubeConfig,
    namespace,
    name,
    identity,
    clock: systemClock,
    ...timings,
    onStartedLeading: () => {
      started(Date.now());
    },
    onStoppedLeading: () => {
      stopped(Date.now());
    },
  };
  const elector = new LeaderElector(options);
  electors.push(elector);
  void elector.run();
  return { elector, leading, deposed };
}

async function holder(): Promise<string | undefined> {
  return (await leases.readNamespacedLease({ name, namespace })).spec?.holderIdentity;
}

beforeAll(async () => {
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  link = await TcpProxy.forUrl(plane.server).start();
});

afterAll(async () => {
  await Promise.all(electors.map((elector) => elector.release()));
  await link.stop();
  await kube.core.deleteNamespace({ name: namespace });
});

describe('LeaderElector against the real apiserver, its link black-holed', () => {
  it('steps down within the renew deadline when its renewal hangs (a partition that drops packets)', async () => {
    const a = campaign('replica-a', kubeConfigVia(link.url));
    await a.leading;
    expect(await holder()).toBe('replica-a');

    const silencedAt = Date.now();
    link.partition('blackhole');
    const deposedAt = await a.deposed;
    // Before the lease (1.5 s) can pass on the other replicas' clocks.
    expect(deposedAt - silencedAt).toBeLessThan(1_500);
    expect(a.elector.isLeader).toBe(false);
    // The hung renewal must not keep the release waiting past the renew deadline either.
    await a.elector.release();
    // It could not hand over through a dead link: the Lease still names it until it runs out.
    expect(await holder()).toBe('replica-a');

    const b = campaign('replica-b', admin);
    const takenOverAt = await b.leading;
    expect(takenOverAt).toBeGreaterThan(deposedAt);
    expect(await holder()).toBe('replica-b');
    process.stderr.write(
      `[leader-elector] stepped down ${String(deposedAt - silencedAt)} ms after the black hole; ` +
        `taken over ${String(takenOverAt - deposedAt)} ms later\n`,
    );
  });
});
