// spec.rolloutRestartTargets with the real operator process and the kube-controller-manager: after a
// token change the named Deployment, StatefulSet and DaemonSet get a new pod template annotation (a
// Deployment then makes a new ReplicaSet), at most once per --rollout-restart-min-interval with later
// changes deferred, never on a quiet restart of the operator, exactly once across a SIGKILL at either
// side of the patch, and a missing workload is a Warning Event while the token keeps renewing.
import { randomBytes } from 'node:crypto';
import { AppsV1Api, type V1PodTemplateSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ANNOTATION_RESTARTED_AT } from '../../src/controller/rollout.ts';
import { ANNOTATION_ROLLOUT_PENDING } from '../../src/secrets/consumer.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { createIdentity } from '../harness/identity.ts';
import {
  operatorRules,
  prepareOperatorNamespace,
  startOperator,
  type RunningOperator,
} from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const admin = adminKubeConfig(plane);
const kube = new TestKube(admin);
const apps = admin.makeApiClient(AppsV1Api);
const namespace = `rollout-${randomBytes(3).toString('hex')}`;
const MIN_INTERVAL_MS = 15_000;
const longClient = {
  clientId: '68376c8a4cf9b840dba2e201',
  clientSecret: `long-${randomBytes(12).toString('hex')}`,
};
const shortClient = {
  clientId: '68376c8a4cf9b840dba2e202',
  clientSecret: `short-${randomBytes(12).toString('hex')}`,
  ttlSeconds: 6,
};
type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
let tapdata: TapdataEmulator;
let operator: RunningOperator;
let operatorEnv: { kubeconfig: string; logDir: string };

async function startTheOperator(name: string, crashAt?: string): Promise<RunningOperator> {
  return startOperator({
    ...operatorEnv,
    name,
    env: crashAt ? { APICRED_CRASH_AT: crashAt } : {},
    namespaces: [namespace],
    extraArgs: [
      '--leader-elect=false',
      '--propagation-margin=1s',
      `--rollout-restart-min-interval=${String(MIN_INTERVAL_MS / 1000)}s`,
    ],
  });
}

function template(app: string): V1PodTemplateSpec {
  return {
    metadata: { labels: { app } },
    spec: { containers: [{ name: 'app', image: 'registry.invalid/consumer:1' }] },
  };
}

async function createWorkload(kind: Kind, name: string): Promise<void> {
  const metadata = { name, namespace };
  const selector = { matchLabels: { app: name } };
  if (kind === 'Deployment')
    await apps.createNamespacedDeployment({
      namespace,
      body: { metadata, spec: { replicas: 1, selector, template: template(name) } },
    });
  else if (kind === 'StatefulSet')
    await apps.createNamespacedStatefulSet({
      namespace,
      body: { metadata, spec: { replicas: 1, serviceName: name, selector, template: template(name) } },
    });
  else
    await apps.createNamespacedDaemonSet({
      namespace,
      body: { metadata, spec: { selector, template: template(name) } },
    });
}

async function workload(
  kind: Kind,
  name: string,
): Promise<{ generation: number; restartedAt: string | undefined }> {
  const request = { namespace, name };
  const object =
    kind === 'Deployment'
      ? await apps.readNamespacedDeployment(request)
      : kind === 'StatefulSet'
        ? await apps.readNamespacedStatefulSet(request)
        : await apps.readNamespacedDaemonSet(request);
  return {
    generation: object.metadata?.generation ?? 0,
    restartedAt: object.spec?.template.metadata?.annotations?.[ANNOTATION_RESTARTED_AT],
  };
}

/** The consumer-visible effect of a Deployment restart: the controller makes a new ReplicaSet. */
async function replicaSets(deployment: string): Promise<number> {
  const list = await apps.listNamespacedReplicaSet({ namespace });
  return list.items.filter((rs) => rs.metadata?.ownerReferences?.some((ref) => ref.name === deployment))
    .length;
}

async function waitForReplicaSets(deployment: string, count: number): Promise<void> {
  await waitFor(
    `${String(count)} ReplicaSets of Deployment ${deployment}`,
    async () => ((await replicaSets(deployment)) === count ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

async function consumer(name: string): Promise<{ token?: string; pending?: string }> {
  const secret = await kube.secret(namespace, name);
  return {
    token: secret?.data?.token ? Buffer.from(secret.data.token, 'base64').toString('utf8') : undefined,
    pending: secret?.metadata?.annotations?.[ANNOTATION_ROLLOUT_PENDING],
  };
}

async function readyToken(name: string): Promise<string> {
  return waitFor(
    `a token in Secret ${name}`,
    async () => {
      const { token } = await consumer(name);
      return token && condition(await kube.credential(namespace, name), 'Ready')?.status === 'True'
        ? token
        : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

/** Asks for a new token (the refresh-requested-at annotation) and waits until it is in the Secret. */
async function renew(name: string, before: string): Promise<{ token: string; pending?: string }> {
  await kube.requestRefresh(namespace, name);
  return waitFor(
    `a new token in Secret ${name}`,
    async () => {
      const current = await consumer(name);
      return current.token && current.token !== before ? { ...current, token: current.token } : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

async function credentialWith(name: string, targets: { kind: Kind; name: string }[], client = longClient) {
  await kube.putSecret(namespace, `${name}-client`, {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  await kube.createCredential(namespace, name, {
    provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: `${name}-client` } } },
    rolloutRestartTargets: targets,
  });
  return readyToken(name);
}

async function metric(kind: Kind, result: string): Promise<number> {
  const text = await (await fetch(operator.metricsUrl)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`apicred_rollout_restarts_total{kind="${kind}",result="${result}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function waitForMarkerCleared(name: string): Promise<void> {
  await waitFor(
    `the pending marker on Secret ${name} to be cleared`,
    async () => ((await consumer(name)).pending === undefined ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

async function crashAt(point: string, name: string): Promise<void> {
  await operator.stop();
  const crashing = await startTheOperator(`crash-${point.replace(/[^a-z0-9]+/g, '-')}`, point);
  const before = (await consumer(name)).token ?? '';
  await renew(name, before).catch(() => undefined); // the crash may come before the test sees it
  const code = await waitFor(
    'the crash',
    async () => (crashing.process.exited ? crashing.process.waitForExit() : undefined),
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  expect(code).toBe(137); // SIGKILL at the named step
}

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [longClient, shortClient] });
  await tapdata.start();
  operatorEnv = await prepareOperatorNamespace(plane, namespace);
  operator = await startTheOperator('rollout-op-1');
  await createWorkload('Deployment', 'orders-api');
  await createWorkload('StatefulSet', 'orders-db');
  await createWorkload('DaemonSet', 'orders-agent');
  await waitForReplicaSets('orders-api', 1);
});

afterAll(async () => {
  await operator.stop();
  await tapdata.stop();
});

describe('rolloutRestartTargets', () => {
  const targets: { kind: Kind; name: string }[] = [
    { kind: 'Deployment', name: 'orders-api' },
    { kind: 'StatefulSet', name: 'orders-db' },
    { kind: 'DaemonSet', name: 'orders-agent' },
  ];
  let firstRestart = 0;

  it('restarts nothing for the first token, and every target once after the token changes', async () => {
    const first = await credentialWith('orders', targets);
    for (const { kind, name } of targets) expect((await workload(kind, name)).restartedAt).toBeUndefined();
    expect((await consumer('orders')).pending).toBeUndefined();
    expect(await replicaSets('orders-api')).toBe(1);

    const requestedAt = Date.now();
    const renewed = await renew('orders', first);
    await waitForMarkerCleared('orders');
    for (const { kind, name } of targets) {
      const { restartedAt, generation } = await workload(kind, name);
      expect(Date.parse(restartedAt ?? '')).toBeGreaterThan(requestedAt);
      expect(generation).toBe(2);
    }
    firstRestart = Date.parse((await workload('Deployment', 'orders-api')).restartedAt ?? '');
    await waitForReplicaSets('orders-api', 2);
    for (const { kind, name } of targets)
      await kube.event(
        namespace,
        'orders',
        (e) => e.reason === 'RolloutRestarted' && e.message.includes(`${kind} ${name}`),
      );
    for (const { kind } of targets) expect(await metric(kind, 'success')).toBe(1);
    // No token material on the workloads: only a timestamp.
    expect(
      JSON.stringify(await apps.readNamespacedDeployment({ namespace, name: 'orders-api' })),
    ).not.toContain(renewed.token);
  });

  it('two more changes within the interval: one restart, at the interval end, for the newest token', async () => {
    const a = await renew('orders', (await consumer('orders')).token ?? '');
    const b = await renew('orders', a.token);
    expect(Date.parse(b.pending ?? '')).toBeGreaterThan(Date.parse(a.pending ?? ''));
    expect(Date.now() - firstRestart).toBeLessThan(MIN_INTERVAL_MS); // the test relies on it
    await waitForMarkerCleared('orders');
    const second = Date.parse((await workload('Deployment', 'orders-api')).restartedAt ?? '');
    expect(second - firstRestart).toBeGreaterThanOrEqual(MIN_INTERVAL_MS);
    expect(second).toBeGreaterThanOrEqual(Date.parse(b.pending ?? ''));
    expect((await workload('Deployment', 'orders-api')).generation).toBe(3);
    await waitForReplicaSets('orders-api', 3);
    await kube.event(
      namespace,
      'orders',
      (e) => e.reason === 'RolloutRestartDeferred' && e.message.includes('Deployment orders-api'),
    );
  });

  it('a quiet restart of the operator with nothing pending patches nothing', async () => {
    const before = await Promise.all(targets.map(({ kind, name }) => workload(kind, name)));
    await operator.stop();
    operator = await startTheOperator('rollout-op-quiet');
    // Every credential in the namespace has been reconciled by the new process.
    await waitFor(
      'the restarted operator to reconcile',
      async () => {
        const text = await (await fetch(operator.metricsUrl)).text();
        const total = text
          .split('\n')
          .filter((l) => l.startsWith('controller_runtime_reconcile_total{controller="apicredential"'))
          .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
        return total >= 1 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(await Promise.all(targets.map(({ kind, name }) => workload(kind, name)))).toEqual(before);
    expect(await replicaSets('orders-api')).toBe(3);
    expect(await metric('Deployment', 'success')).toBe(0);
  });

  it.each([
    ['controller:after-secret-write', 'crash-a'],
    ['rollout:before-marker-clear', 'crash-b'],
  ])('restarts exactly once when SIGKILLed at %s', async (point, name) => {
    await createWorkload('Deployment', name);
    await waitForReplicaSets(name, 1);
    await credentialWith(name, [{ kind: 'Deployment', name }]);
    await crashAt(point, name);
    const afterCrash = await consumer(name);
    expect(afterCrash.pending).toBeDefined(); // the marker survived the crash
    const patchedBeforeCrash = (await workload('Deployment', name)).restartedAt;
    expect(patchedBeforeCrash === undefined).toBe(point === 'controller:after-secret-write');

    operator = await startTheOperator(`after-${name}`);
    await waitForMarkerCleared(name);
    const { generation, restartedAt } = await workload('Deployment', name);
    expect(generation).toBe(2); // one patch of the template, not two
    if (patchedBeforeCrash !== undefined) expect(restartedAt).toBe(patchedBeforeCrash);
    await waitForReplicaSets(name, 2);
    expect(await metric('Deployment', 'success')).toBe(patchedBeforeCrash === undefined ? 1 : 0);
  });

  it('a missing target is a Warning Event naming it, the token keeps renewing, and it restarts once it exists', async () => {
    const first = await credentialWith('short', [{ kind: 'Deployment', name: 'not-there' }], shortClient);
    const renewals = tapdata.count('POST /oauth/token');
    const warning = await waitFor(
      'a RolloutRestartFailed event',
      async () =>
        (await kube.events(namespace, 'short')).find(
          (e) => e.type === 'Warning' && e.reason === 'RolloutRestartFailed',
        ),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(warning.message).toContain(
      `Deployment not-there (spec.rolloutRestartTargets) does not exist in namespace ${namespace}`,
    );
    expect(warning.message).toContain('Create it, or remove it from spec.rolloutRestartTargets');
    await waitFor(
      'two more renewals',
      async () => {
        const { token } = await consumer('short');
        return tapdata.count('POST /oauth/token') >= renewals + 2 && token !== first ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(condition(await kube.credential(namespace, 'short'), 'Ready')?.status).toBe('True');
    expect(await metric('Deployment', 'not_found')).toBeGreaterThanOrEqual(1);

    await createWorkload('Deployment', 'not-there');
    await waitFor(
      'the late workload to be restarted for a newer token',
      async () => ((await workload('Deployment', 'not-there')).restartedAt ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitForReplicaSets('not-there', 2);
  });

  it('keeps the client secrets and tokens out of logs, events, workloads and metrics', async () => {
    const values = [
      longClient.clientSecret,
      shortClient.clientSecret,
      (await consumer('orders')).token ?? '',
    ];
    const texts = {
      logs: operator.logs(),
      events: JSON.stringify(await kube.events(namespace, 'orders')),
      workloads: JSON.stringify(await apps.listNamespacedDeployment({ namespace })),
      metrics: await (await fetch(operator.metricsUrl)).text(),
    };
    for (const value of values) {
      expect(value.length).toBeGreaterThan(10);
      for (const [where, text] of Object.entries(texts))
        expect(text.includes(value), `${where} leaks a secret`).toBe(false);
    }
  });
});

describe('rolloutRestartTargets without RBAC for apps', () => {
  it('a 403 is a Warning Event saying which permission to grant, and renewal goes on', async () => {
    const restricted = `${namespace}-norbac`;
    const identity = await createIdentity(plane, {
      namespace: restricted,
      serviceAccount: 'apicred-operator',
      rules: operatorRules.filter((rule) => !(rule.apiGroups ?? []).includes('apps')),
    });
    const restrictedOperator = await startOperator({
      kubeconfig: identity.kubeconfigPath,
      logDir: operatorEnv.logDir,
      name: 'rollout-op-norbac',
      namespaces: [restricted],
      extraArgs: ['--leader-elect=false'],
    });
    try {
      await apps.createNamespacedDeployment({
        namespace: restricted,
        body: {
          metadata: { name: 'web' },
          spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: template('web') },
        },
      });
      await kube.putSecret(restricted, 'web-client', {
        client_id: longClient.clientId,
        client_secret: longClient.clientSecret,
      });
      await kube.createCredential(restricted, 'web', {
        provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'web-client' } } },
        rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
      });
      const tokenOf = async () => (await kube.secretValues(restricted, 'web'))?.token;
      const first = await waitFor('the first token', tokenOf, { timeoutMs: 30_000, intervalMs: 200 });
      await kube.requestRefresh(restricted, 'web');
      const warning = await waitFor(
        'a RolloutRestartFailed event',
        async () =>
          (await kube.events(restricted, 'web')).find(
            (e) => e.type === 'Warning' && e.reason === 'RolloutRestartFailed',
          ),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(warning.message).toContain(`may not get or patch Deployment ${restricted}/web (HTTP 403)`);
      expect(warning.message).toContain(
        `Grant the operator's ServiceAccount get and patch on apps/deployments in namespace ${restricted}`,
      );
      expect(await tokenOf()).not.toBe(first); // the new token is there all the same
      const credential = await kube.credential(restricted, 'web');
      expect(condition(credential, 'Ready')?.status).toBe('True');
      const text = await (await fetch(restrictedOperator.metricsUrl)).text();
      expect(text).toContain('apicred_rollout_restarts_total{kind="Deployment",result="forbidden"}');
    } finally {
      await restrictedOperator.stop();
    }
  });
});
