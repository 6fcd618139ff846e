// The user's journey on a real node, in the README's order: helm install the chart with the locally
// built image, examples/keycloak.yaml against a real Keycloak, a consumer that mounts the Secret and
// checks every read with Keycloak, renewals through an operator restart and a leader loss, helm upgrade
// and helm uninstall. It measures kubelet's Secret propagation delay (docs/propagation.md).
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Watch, type V1Secret } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImageBuilt } from '../../scripts/image/build.ts';
import { buildah, imageRepository } from '../../scripts/image/store.ts';
import { adminKubeConfig, kubectl, startControlPlane, type ControlPlane } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { waitFor } from '../harness/wait.ts';
import { chartDir, helm } from '../helm/chart.ts';
import {
  buildRealm,
  startKeycloak,
  type KeycloakHandle,
  type RealmRepresentation,
} from '../keycloak/keycloak.ts';
import { hostSnapshot } from '../node/host-state.ts';
import { prepareNode, startNode, type RunningNode } from '../node/node.ts';
import { nodeImages } from '../node/paths.ts';
import { consumerScript, containerLog, firstSeen, p50AndMax, parseReads, tokenPrint } from './consumer.ts';

const release = 'apicred-operator';
const system = 'apicred-system';
const shop = 'shop';
const realm = 'shop';
/** The shortest lifetime whose renewal honours the default 2-minute margin (twice the margin). */
const tokenLifetimeSeconds = 240;
const renewalsWanted = 3;
/** A ClusterIP of our choosing for Keycloak's Service, so that its issuer URL is known before it starts. */
const keycloakClusterIp = '10.0.0.200';
const keycloakPort = 8080;
const podSelector = `app.kubernetes.io/name=${release},app.kubernetes.io/instance=${release}`;
const imageValues = ['--set', `image.repository=${imageRepository}`, '--set', 'image.tag=dev'];

let plane: ControlPlane | undefined;
let node: RunningNode | undefined;
let keycloak: KeycloakHandle | undefined;
let before: ReturnType<typeof hostSnapshot>;
let abortWatch: (() => void) | undefined;
let watchError: string | undefined;
let watchAborted = false;
let watchRestarts = 0;
const journeyStarted = Date.now();
/** Each new token the Secret received, with the time this test saw the write. */
const writes: { print: string; atMs: number }[] = [];
const numbers: Record<string, string> = {};

function running(): { plane: ControlPlane; node: RunningNode; keycloak: KeycloakHandle } {
  if (!plane || !node || !keycloak) throw new Error('the journey did not start');
  return { plane, node, keycloak };
}

async function k(args: string[], input?: string): Promise<string> {
  return kubectl(running().plane, args, input === undefined ? {} : { input });
}

async function apply(manifest: object): Promise<void> {
  await k(['apply', '-f', '-'], JSON.stringify(manifest));
}

async function diagnostics(): Promise<string> {
  const { node, keycloak } = running();
  const pods = await k(['get', 'pods', '-A', '-o', 'wide']).catch(String);
  // From the kubelet's pod log directory: the apiserver has no client certificate for kubelet's API.
  const operatorLogs = readdirSync(node.podLogsDir)
    .filter((entry) => entry.startsWith(`${system}_`))
    .map((entry) => {
      const pod = entry.split('_')[1] ?? entry;
      const lines = containerLog(node.podLogsDir, system, pod, 'operator').split('\n');
      return `${pod}:\n${lines.slice(-20).join('\n')}`;
    })
    .join('\n');
  return `${pods}\n--- operator logs:\n${operatorLogs}\n${node.logTails()}\n--- keycloak:\n${keycloak.logTail(20)}`;
}

/** waitFor with the cluster's state in the error. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
): Promise<T> {
  try {
    return await waitFor(what, check, { timeoutMs, intervalMs: 250 });
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await diagnostics()}`, {
      cause: error,
    });
  }
}

async function helmOk(args: string[]): Promise<string> {
  const result = await helm(args, { kubeconfig: running().plane.adminKubeconfig });
  if (result.code !== 0)
    throw new Error(`helm ${args[0] ?? ''} failed: ${result.stderr}\n${await diagnostics()}`);
  return result.stdout;
}

interface PodState {
  name: string;
  uid: string;
  ready: boolean;
  phase: string;
  deleting: boolean;
  ip: string;
}

async function pods(namespace: string, selector: string): Promise<PodState[]> {
  const list = JSON.parse(await k(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json'])) as {
    items: {
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      status: { phase: string; podIP?: string; conditions?: { type: string; status: string }[] };
    }[];
  };
  return list.items.map((pod) => ({
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    phase: pod.status.phase,
    ip: pod.status.podIP ?? '',
    deleting: pod.metadata.deletionTimestamp !== undefined,
    ready: pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** The operator pods, once exactly `count` exist, all Running and Ready and none terminating. */
async function operatorPodsReady(count: number): Promise<PodState[]> {
  return until(
    `${String(count)} operator pods Running and Ready`,
    async () => {
      const current = await pods(system, podSelector);
      return current.length === count && current.every((p) => p.ready && p.phase === 'Running' && !p.deleting)
        ? current
        : undefined;
    },
    180_000,
  );
}

async function leaseHolder(): Promise<string> {
  return k(['get', 'lease', '-n', system, release, '-o', 'jsonpath={.spec.holderIdentity}']).catch(() => '');
}

/** The pod whose identity (`<pod>_<random>`) holds the Lease, once one of `candidates` does. */
async function leaderAmong(candidates: PodState[]): Promise<PodState> {
  return until(
    'one of the operator pods to hold the Lease',
    async () => {
      const holder = await leaseHolder();
      return candidates.find((pod) => holder.startsWith(`${pod.name}_`));
    },
    120_000,
  );
}

/** Each pod's apicred_leader gauge, read from its metrics port over the pod network. */
async function leaderGauges(operators: PodState[]): Promise<number[]> {
  return Promise.all(
    operators.map(async (pod) => {
      const text = await (await fetch(`http://${pod.ip}:8080/metrics`)).text();
      return Number(/^apicred_leader (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
    }),
  );
}

async function replicaSets(deployment: string): Promise<number> {
  const out = await k(['get', 'replicasets', '-n', shop, '-l', `app=${deployment}`, '-o', 'name']);
  return out.split('\n').filter((line) => line !== '').length;
}

/** Waits for the next new token in the Secret, then for orders-api to have `expectedReplicaSets`. */
async function nextRenewal(expectedReplicaSets: number): Promise<void> {
  const seen = writes.length;
  await until(
    `renewal ${String(seen)} of the orders token`,
    () => {
      if (watchError) throw new Error(watchError);
      return writes.length > seen ? true : undefined;
    },
    (tokenLifetimeSeconds + 60) * 1000,
  );
  await until(
    `orders-api to have ${String(expectedReplicaSets)} ReplicaSets after renewal ${String(seen)}`,
    async () => ((await replicaSets('orders-api')) === expectedReplicaSets ? true : undefined),
    60_000,
  );
}

/**
 * Records each new token the Secret gets, at the time the watch delivers it. A watch the server or the
 * connection ends is started again, as an informer would; its ADDED event gives the current token.
 */
async function watchSecretWrites(cluster: ControlPlane): Promise<void> {
  const watch = new Watch(adminKubeConfig(cluster));
  let controller: AbortController | undefined;
  const start = async (): Promise<void> => {
    controller = await watch.watch(
      `/api/v1/namespaces/${shop}/secrets`,
      { fieldSelector: 'metadata.name=orders-token' },
      (_type: string, secret: V1Secret) => {
        const encoded = secret.data?.token;
        if (encoded === undefined) return;
        const print = tokenPrint(Buffer.from(encoded, 'base64').toString('utf8'));
        if (writes.at(-1)?.print !== print) writes.push({ print, atMs: Date.now() });
      },
      (error: unknown) => {
        if (watchAborted) return;
        watchRestarts += 1;
        if (watchRestarts > 100) {
          watchError = `the Secret watch ended 100 times${error instanceof Error ? `: ${error.message}` : ''}`;
          return;
        }
        start().catch((startError: unknown) => {
          watchError = `the Secret watch could not restart: ${String(startError)}`;
        });
      },
    );
  };
  await start();
  abortWatch = () => {
    watchAborted = true;
    controller?.abort();
  };
}

async function exportOperatorImage(dir: string): Promise<string> {
  const image = await ensureImageBuilt();
  const archive = join(dir, 'apicred-operator.tar');
  // As the README shows: an OCI archive of :dev, imported into the node's containerd.
  await buildah(
    ['push', `${imageRepository}:dev`, `oci-archive:${archive}:${imageRepository}:dev`],
    join(dir, 'buildah-push.log'),
  );
  numbers.image = image.name;
  return archive;
}

beforeAll(async () => {
  const prepared = await prepareNode();
  before = hostSnapshot();
  plane = await startControlPlane({ nodeClientCaFile: prepared.clientCaFile });
  node = await startNode(prepared, plane);
  const scratch = mkdtempSync(join(tmpdir(), 'apicred-journey-'));
  try {
    await node.importImage(await exportOperatorImage(scratch));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  await kubectl(plane, ['create', 'namespace', 'keycloak']);
  await kubectl(plane, ['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'keycloak', namespace: 'keycloak' },
      spec: { clusterIP: keycloakClusterIp, ports: [{ port: keycloakPort }] },
    }),
  });
  keycloak = await startKeycloak({
    realm: shopRealm(),
    publicUrl: `http://${keycloakClusterIp}:${String(keycloakPort)}`,
  });
  await keycloak.addOptionalScope(realm, 'orders.read', ['orders-service']);
  const local = new URL(keycloak.baseUrl);
  await node.exposeService('keycloak', 'keycloak', { host: local.hostname, port: Number(local.port) });
}, 600_000);

afterAll(async () => {
  abortWatch?.();
  await keycloak?.stop();
  await node?.stop();
  await plane?.stop();
  process.stderr.write(`[journey] ${JSON.stringify(numbers)}\n`);
}, 120_000);

describe('the journey on a real node', () => {
  it('helm install: 2 operator pods Running and Ready, exactly one holds the Lease', async () => {
    await helmOk([
      'install',
      release,
      chartDir,
      '-n',
      system,
      '--create-namespace',
      ...imageValues,
      '--wait',
      '--timeout=100s',
    ]);
    const operators = await operatorPodsReady(2);
    const leader = await leaderAmong(operators);
    const leases = await k(['get', 'leases', '-n', system, '-o', 'name']);
    expect(leases.trim().split('\n')).toEqual([`lease.coordination.k8s.io/${release}`]);
    // Exactly one replica acts: the Lease holder reports apicred_leader 1, the standby 0.
    const gauges = await until(
      'one leader and one standby in the apicred_leader gauges',
      async () => {
        const values = await leaderGauges([leader, ...operators.filter((pod) => pod !== leader)]);
        return values.join(',') === '1,0' ? values : undefined;
      },
      60_000,
    );
    expect(gauges).toEqual([1, 0]);
  }, 300_000);

  it('renews examples/keycloak.yaml through an operator restart and a leader loss; every read is accepted', async () => {
    const { plane, node, keycloak } = running();
    await k(['create', 'namespace', shop]);
    // Restarted on each renewal; it exists before the credential, so its first token must restart nothing.
    await apply(deployment('orders-api', { image: nodeImages.pause.ref }));
    await until(
      'orders-api to run',
      async () => ((await pods(shop, 'app=orders-api')).some((p) => p.ready) ? true : undefined),
      90_000,
    );

    await watchSecretWrites(plane);

    await k(['apply', '-n', shop, '-f', '-'], JSON.stringify(exampleAgainst(keycloak)));
    await until(
      'the orders ApiCredential to be Ready',
      async () => {
        const ready = await k([
          'get',
          'apicredential',
          '-n',
          shop,
          'orders',
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return ready === 'True' ? true : undefined;
      },
      90_000,
    );
    await until('the first token in the Secret', () => (writes.length > 0 ? true : undefined), 30_000);

    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'token-checker', namespace: shop },
      stringData: { client_id: 'token-checker', client_secret: 'checker-secret-for-the-journey' },
    });
    await apply(readerDeployment(keycloak));
    const [reader] = await until(
      'orders-reader to run and read an accepted token',
      async () => {
        const current = (await pods(shop, 'app=orders-reader')).filter((p) => p.ready);
        const pod = current[0];
        if (!pod) return undefined;
        const reads = parseReads(containerLog(node.podLogsDir, shop, pod.name, 'app'));
        return reads.some((read) => read.verdict === 'accepted') ? current : undefined;
      },
      120_000,
    );
    if (!reader) throw new Error('no orders-reader pod');
    expect(await replicaSets('orders-api')).toBe(1);

    await nextRenewal(2);

    // An operator restart: new pods read the Secret and must not restart orders-api.
    const restartStarted = Date.now();
    await k(['rollout', 'restart', `deployment/${release}`, '-n', system]);
    await k(['rollout', 'status', `deployment/${release}`, '-n', system, '--timeout=180s']);
    const restarted = await operatorPodsReady(2);
    await leaderAmong(restarted);
    numbers.operatorRestartMs = String(Date.now() - restartStarted);
    expect(await replicaSets('orders-api')).toBe(2);

    await nextRenewal(3);

    // The leader goes; the standby takes over.
    const leader = await leaderAmong(restarted);
    const standby = restarted.find((pod) => pod.name !== leader.name);
    if (!standby) throw new Error('no standby operator pod');
    const deleted = Date.now();
    await k(['delete', 'pod', '-n', system, leader.name, '--wait=false']);
    // The leader releases the Lease on SIGTERM; the standby retries every 2 s, and the Deployment's
    // replacement pod, started within about a second, may take it first (run 4 saw that).
    const successor = await until(
      'another operator pod to take the Lease',
      async () => {
        const holder = await leaseHolder();
        if (holder === '' || holder.startsWith(`${leader.name}_`)) return undefined;
        return (await pods(system, podSelector)).find((pod) => holder.startsWith(`${pod.name}_`));
      },
      120_000,
    );
    numbers.takeoverMs = String(Date.now() - deleted);
    numbers.takeoverBy = successor.name === standby.name ? 'standby' : 'replacement';

    await nextRenewal(4);
    expect(writes.length).toBeGreaterThanOrEqual(renewalsWanted + 1);

    // Every renewal reaches the pod; then no read was refused.
    const renewals = writes.slice(1);
    const delays = await until(
      'orders-reader to see every renewed token',
      () => {
        const seen = firstSeen(parseReads(containerLog(node.podLogsDir, shop, reader.name, 'app')));
        const found = renewals.map((write) => {
          const at = seen.get(write.print);
          return at === undefined ? undefined : at - write.atMs;
        });
        return found.every((delay): delay is number => delay !== undefined) ? found : undefined;
      },
      180_000,
    );
    const reads = parseReads(containerLog(node.podLogsDir, shop, reader.name, 'app'));
    const refused = reads.filter((read) => read.verdict !== 'accepted');
    const { p50, max } = p50AndMax(delays);
    numbers.renewals = String(renewals.length);
    numbers.secretWatchRestarts = String(watchRestarts);
    numbers.reads = String(reads.length);
    numbers.refusedReads = String(refused.length);
    numbers.propagationDelaysMs = delays.join(',');
    numbers.propagationP50Ms = String(p50);
    numbers.propagationMaxMs = String(max);
    numbers.renewalIntervalsMs = writes
      .slice(1)
      .map((write, index) => String(write.atMs - (writes[index]?.atMs ?? 0)))
      .join(',');
    expect(refused).toEqual([]);
    expect(reads.length).toBeGreaterThan(renewals.length * 60);
    // The margin is there to cover this delay: a delay beyond it would let a pod read an expired token.
    expect(max).toBeLessThan(120_000);
    expect(await replicaSets('orders-api')).toBe(1 + renewals.length);
    expect((await pods(shop, 'app=orders-reader')).map((p) => p.uid)).toEqual([reader.uid]);
  }, 1_200_000);

  it('helm upgrade with a changed value and a CRD change, pods running', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'apicred-chart-'));
    try {
      // A CRD change a user would get from a new chart: one more printer column.
      cpSync(chartDir, copy, { recursive: true });
      const crdFile = join(copy, 'templates', 'crd-apicredentials.yaml');
      const crd = readFileSync(crdFile, 'utf8');
      const marker = '      additionalPrinterColumns:\n';
      expect(crd).toContain(marker);
      writeFileSync(
        crdFile,
        crd.replace(
          marker,
          `${marker}        - name: Journey\n          type: string\n          jsonPath: .metadata.name\n`,
        ),
      );
      const readersBefore = (await pods(shop, 'app=orders-reader')).map((p) => p.uid);
      await helmOk([
        'upgrade',
        release,
        copy,
        '-n',
        system,
        ...imageValues,
        '--set',
        'operator.logLevel=debug',
        '--wait',
        '--timeout=100s',
      ]);
      const columns = await k([
        'get',
        'crd',
        'apicredentials.apicred.dev',
        '-o',
        'jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}',
      ]);
      expect(columns.split(' ')).toContain('Journey');
      const args = await k([
        'get',
        'deployment',
        '-n',
        system,
        release,
        '-o',
        'jsonpath={.spec.template.spec.containers[0].args}',
      ]);
      expect(args).toContain('debug');
      await leaderAmong(await operatorPodsReady(2));
      expect((await pods(shop, 'app=orders-reader')).map((p) => p.uid)).toEqual(readersBefore);
      const ready = await k([
        'get',
        'apicredential',
        '-n',
        shop,
        'orders',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      expect(ready).toBe('True');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 300_000);

  it('helm uninstall leaves the CRD, the ApiCredentials and their Secrets', async () => {
    await helmOk(['uninstall', release, '-n', system, '--wait', '--timeout=100s']);
    await until(
      'the operator pods to be gone',
      async () => ((await pods(system, podSelector)).length === 0 ? true : undefined),
      120_000,
    );
    expect(await k(['get', 'crd', 'apicredentials.apicred.dev', '-o', 'name'])).toContain(
      'apicredentials.apicred.dev',
    );
    expect(await k(['get', 'apicredential', '-n', shop, 'orders', '-o', 'name'])).toContain('orders');
    expect(await k(['get', 'secret', '-n', shop, 'orders-token', '-o', 'name'])).toContain('orders-token');
    const left = await k([
      'get',
      'deployments,serviceaccounts,services,poddisruptionbudgets,roles,rolebindings',
      '-n',
      system,
      '-l',
      `app.kubernetes.io/instance=${release}`,
      '-o',
      'name',
    ]);
    expect(left.trim()).toBe('');
    const clusterWide = await k([
      'get',
      'clusterroles,clusterrolebindings,validatingadmissionpolicies',
      '-l',
      `app.kubernetes.io/instance=${release}`,
      '-o',
      'name',
    ]);
    expect(clusterWide.trim()).toBe('');
  }, 300_000);

  it('leaves the host as it was after stop, and records the wall time', async () => {
    const { node: started, keycloak: kc } = running();
    abortWatch?.();
    await kc.stop();
    keycloak = undefined;
    node = undefined;
    await started.stop();
    numbers.journeyWallSeconds = ((Date.now() - journeyStarted) / 1000).toFixed(0);
    expect(hostSnapshot()).toEqual(before);
  }, 120_000);
});

/**
 * The example's client, and the consumer's: Keycloak answers introspection only to a client in the
 * token's audience, so orders-service tokens name token-checker (an audience mapper), as a resource
 * server's would.
 */
function shopRealm(): RealmRepresentation {
  const representation = buildRealm({
    name: realm,
    accessTokenLifespanSeconds: tokenLifetimeSeconds,
    secretClients: [
      { clientId: 'orders-service', secret: 'orders-secret-for-the-journey' },
      { clientId: 'token-checker', secret: 'checker-secret-for-the-journey' },
    ],
  });
  const clients = representation.clients as Record<string, unknown>[];
  const orders = clients.find((client) => client.clientId === 'orders-service');
  if (!orders) throw new Error('buildRealm left out orders-service');
  orders.protocolMappers = [
    {
      name: 'token-checker-audience',
      protocol: 'openid-connect',
      protocolMapper: 'oidc-audience-mapper',
      config: {
        'included.client.audience': 'token-checker',
        'access.token.claim': 'true',
        'introspection.token.claim': 'true',
      },
    },
  ];
  return representation;
}

/** A Deployment in the shop namespace whose single container is `app`. */
function deployment(
  name: string,
  container: { image: string; command?: string[]; env?: object[]; volumeMounts?: object[] },
  volumes: object[] = [],
): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: shop },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 },
          containers: [{ name: 'app', imagePullPolicy: 'IfNotPresent', ...container }],
          volumes,
        },
      },
    },
  };
}

/** The consumer, mounting the Secret exactly as the README shows. */
function readerDeployment(kc: KeycloakHandle): object {
  const fromChecker = (name: string, key: string): object => ({
    name,
    valueFrom: { secretKeyRef: { name: 'token-checker', key } },
  });
  return deployment(
    'orders-reader',
    {
      image: `${imageRepository}:dev`,
      command: ['/usr/local/bin/node', '-e', consumerScript],
      env: [
        { name: 'TOKEN_FILE', value: '/var/run/secrets/orders/token' },
        { name: 'INTROSPECT_URL', value: `${kc.issuer(realm)}/protocol/openid-connect/token/introspect` },
        fromChecker('CHECKER_ID', 'client_id'),
        fromChecker('CHECKER_SECRET', 'client_secret'),
      ],
      volumeMounts: [{ name: 'orders-token', mountPath: '/var/run/secrets/orders', readOnly: true }],
    },
    [{ name: 'orders-token', secret: { secretName: 'orders-token' } }],
  );
}

/** examples/keycloak.yaml as a user would edit it: the real issuer and secret, and orders-api restarted. */
function exampleAgainst(kc: KeycloakHandle): object {
  const documents = parseAllDocuments(readFileSync(join(repoRoot, 'examples', 'keycloak.yaml'), 'utf8')).map(
    (document) => document.toJS() as Record<string, unknown>,
  );
  const [secret, credential] = documents as [
    { stringData: Record<string, string> },
    { spec: { provider: { oauth2: { issuerUrl: string } }; rolloutRestartTargets?: object[] } },
  ];
  secret.stringData.client_secret = 'orders-secret-for-the-journey';
  credential.spec.provider.oauth2.issuerUrl = kc.issuer(realm);
  credential.spec.rolloutRestartTargets = [{ kind: 'Deployment', name: 'orders-api' }];
  return { apiVersion: 'v1', kind: 'List', items: documents };
}
