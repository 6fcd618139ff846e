// Two real operator processes share one Lease: only the leader writes, and when it is SIGKILLed the
// other takes over within the lease time (15 s lease, 10 s renew deadline, 2 s retry).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { createIdentity } from '../harness/identity.ts';
import { TestKube } from '../harness/kube.ts';
import {
  operatorRules,
  prepareOperatorNamespace,
  startOperator,
  type RunningOperator,
} from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `leader-${randomBytes(3).toString('hex')}`;
const client = {
  clientId: '68376c8a4cf9b840dba2e120',
  clientSecret: `le-${randomBytes(12).toString('hex')}`,
};
let tapdata: TapdataEmulator;
const operators: RunningOperator[] = [];

async function isLeader(operator: RunningOperator): Promise<boolean> {
  if (operator.process.exited) return false;
  const metrics = await (await fetch(operator.metricsUrl)).text();
  return /^apicred_leader 1$/m.test(metrics);
}

async function leaders(): Promise<RunningOperator[]> {
  const flags = await Promise.all(operators.map(isLeader));
  return operators.filter((_operator, index) => flags[index]);
}

function wrote(operator: RunningOperator): number {
  return operator
    .logs()
    .split('\n')
    .filter((line) => line.includes('"token written"')).length;
}

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [client] });
  await tapdata.start();
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  for (const name of ['replica-a', 'replica-b']) {
    operators.push(
      await startOperator({
        kubeconfig,
        logDir,
        name,
        namespaces: [namespace],
        extraArgs: ['--leader-elect=true', `--lease-namespace=${namespace}`, '--lease-name=apicred-test'],
      }),
    );
  }
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
});

afterAll(async () => {
  await Promise.all(operators.map((operator) => operator.stop()));
  await tapdata.stop();
});

describe('leader election with two operator processes', () => {
  it('elects exactly one leader, and only the leader writes', async () => {
    const [leader] = await waitFor(
      'one leader',
      async () => ((await leaders()).length === 1 ? leaders() : undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    await kube.createCredential(namespace, 'orders', {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
    });
    // The Secret can be visible before the leader's log line is flushed: wait for both.
    await waitFor(
      'the token, and the leader logging its write',
      async () =>
        (await kube.secretValues(namespace, 'orders'))?.token && leader && wrote(leader) > 0
          ? true
          : undefined,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    const standby = operators.find((operator) => operator !== leader);
    expect(leader && wrote(leader)).toBe(1);
    expect(standby && wrote(standby)).toBe(0);
    expect(await leaders()).toHaveLength(1);
  });

  it('sized its heap by re-executing itself in place: the pid the guard started is the one that runs', () => {
    for (const operator of operators) {
      const starting = operator
        .logs()
        .split('\n')
        .find((line) => line.includes('"apicred-operator starting"'));
      const fields = JSON.parse(starting ?? '{}') as { pid?: number; heap?: string };
      // The guard wrote the pid it spawned; the SIGKILL below goes to it, so it must be the operator's.
      expect(fields.pid).toBe(Number(readFileSync(`${operator.logFile}.pid`, 'utf8').trim()));
      expect(fields.heap).toMatch(/^--max-old-space-size=\d+ --max-semi-space-size=\d+ --optimize-for-size$/);
    }
  });

  it('fails over within the lease time when the leader is SIGKILLed', async () => {
    const [leader] = await leaders();
    const standby = operators.find((operator) => operator !== leader);
    if (!leader || !standby) throw new Error('expected a leader and a standby');
    const killedAt = Date.now();
    await leader.kill();
    await waitFor(
      'the standby to take over',
      () => isLeader(standby).then((yes) => (yes ? true : undefined)),
      {
        timeoutMs: 40_000,
        intervalMs: 100,
      },
    );
    const failoverMs = Date.now() - killedAt;
    process.stderr.write(`[leader-election] failover after SIGKILL: ${failoverMs} ms\n`);
    // The lease must run out first (15 s as observed by the standby), plus at most a retry period.
    expect(failoverMs).toBeGreaterThanOrEqual(10_000);
    expect(failoverMs).toBeLessThan(15_000 + 2 * 2_400 + 2_000);

    const before = (await kube.secretValues(namespace, 'orders'))?.token;
    await kube.requestRefresh(namespace, 'orders');
    await waitFor(
      'the new leader to renew',
      async () => {
        const token = (await kube.secretValues(namespace, 'orders'))?.token;
        return token && token !== before ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(wrote(standby)).toBe(1);
  });

  it('hands the lease over at once on a graceful stop', async () => {
    const [leader] = await leaders();
    if (!leader) throw new Error('expected a leader');
    const logDir = join(plane.dir, namespace);
    const identity = await createIdentity(plane, {
      namespace,
      serviceAccount: 'apicred-operator-2',
      rules: operatorRules,
    });
    const fresh = await startOperator({
      kubeconfig: identity.kubeconfigPath,
      logDir,
      name: 'replica-c',
      namespaces: [namespace],
      extraArgs: ['--leader-elect=true', `--lease-namespace=${namespace}`, '--lease-name=apicred-test'],
    });
    operators.push(fresh);
    const stoppedAt = Date.now();
    await leader.stop();
    await waitFor(
      'the fresh replica to lead',
      () => isLeader(fresh).then((yes) => (yes ? true : undefined)),
      {
        timeoutMs: 20_000,
        intervalMs: 100,
      },
    );
    // A released lease is free at once: no waiting for 15 s.
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    // SIGTERM reached the re-executed process and it drained and exited by itself.
    expect(leader.process.exitCode).toBe(0);
    expect(leader.logs()).toContain('"msg":"stopped"');
  });
});
