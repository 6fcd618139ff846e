// The container image, run as a Pod would run it: built from the Dockerfile (scripts/image, cached), then
// started with runc as uid 65532 on a read-only root filesystem, with an in-cluster ServiceAccount token
// mount and no kubeconfig. It must renew a TapData credential, and on SIGTERM (node is PID 1) drain,
// release its Lease and exit 0 at once.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureImageBuilt, type BuiltImage } from '../../scripts/image/build.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { startContainer, type RunningContainer } from '../harness/container.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { createIdentity } from '../harness/identity.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { operatorRules } from '../harness/operator.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const admin = adminKubeConfig(plane);
const kube = new TestKube(admin);
const leases = admin.makeApiClient(CoordinationV1Api);
const namespace = `image-${randomBytes(3).toString('hex')}`;
const leaseName = 'apicred-operator';
const client = {
  clientId: '68376c8a4cf9b840dba2e121',
  clientSecret: `img-${randomBytes(12).toString('hex')}`,
};
let image: BuiltImage;
let tapdata: TapdataEmulator | undefined;
let operator: RunningContainer | undefined;
let healthUrl: string;

function container(): RunningContainer {
  if (!operator) throw new Error('the operator container did not start');
  return operator;
}

function emulatorUrl(): string {
  if (!tapdata) throw new Error('the TapData emulator did not start');
  return tapdata.url;
}

function procStatus(pid: number, field: string): string {
  const line = readFileSync(`/proc/${String(pid)}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim() ?? '';
}

/** Resident memory as `VmRSS (anonymous + file-backed)`, for the report. */
function residentMemory(pid: number): string {
  const mib = (field: string): string => (Number.parseInt(procStatus(pid, field), 10) / 1024).toFixed(1);
  return `${mib('VmRSS')} MiB (anonymous ${mib('RssAnon')}, file-backed ${mib('RssFile')})`;
}

/** The mount options of the container's root as its entrypoint sees it. */
function rootMountOptions(pid: number): string[] {
  const root = readFileSync(`/proc/${String(pid)}/mountinfo`, 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[4] === '/');
  return root?.[5]?.split(',') ?? [];
}

/** The files a kubelet projects into a Pod for its ServiceAccount. */
function serviceAccountMount(token: string): string {
  const dir = join(plane.dir, `${namespace}-serviceaccount`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), token, { mode: 0o644 });
  writeFileSync(join(dir, 'namespace'), namespace);
  copyFileSync(plane.caFile, join(dir, 'ca.crt'));
  return dir;
}

beforeAll(async () => {
  // A cold build (debootstrap, node, npm ci) takes minutes; later runs find the image in the store.
  image = await ensureImageBuilt();
  const emulator = new TapdataEmulator({ clients: [client] });
  tapdata = emulator;
  await emulator.start();
  const identity = await createIdentity(plane, {
    namespace,
    serviceAccount: 'apicred-operator',
    rules: operatorRules,
  });
  const [healthPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  healthUrl = `http://127.0.0.1:${String(healthPort)}`;
  const server = new URL(plane.server);
  const started = await startContainer({
    image: image.name,
    name: `apicred-e2e-${randomBytes(3).toString('hex')}`,
    logDir: join(plane.dir, namespace),
    args: [
      `--health-address=127.0.0.1:${String(healthPort)}`,
      `--metrics-address=127.0.0.1:${String(metricsPort)}`,
      `--namespaces=${namespace}`,
      '--log-level=debug',
    ],
    env: {
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port,
      POD_NAME: 'apicred-operator-image-e2e',
    },
    mounts: [
      {
        source: serviceAccountMount(identity.token),
        destination: '/var/run/secrets/kubernetes.io/serviceaccount',
      },
    ],
  });
  operator = started;
  await waitFor(
    'the operator in the container to report ready',
    async () => ((await fetch(`${healthUrl}/readyz`).catch(() => undefined))?.ok ? true : undefined),
    {
      timeoutMs: 60_000,
      intervalMs: 200,
      abortIf: () =>
        started.process.exited
          ? `runc exited with ${String(started.process.exitCode)}:\n${started.process.logTail(60)}`
          : undefined,
    },
  );
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
}, 1_800_000);

afterAll(async () => {
  await operator?.remove();
  await tapdata?.stop();
});

describe('the container image', () => {
  it('runs node as PID 1, as uid 65532, on a read-only root filesystem', () => {
    const pid = container().hostPid();
    expect(container().user).toEqual({ uid: 65532, gid: 65532 });
    expect(procStatus(pid, 'Uid').split(/\s+/)).toEqual(['65532', '65532', '65532', '65532']);
    expect(procStatus(pid, 'NSpid').split(/\s+/).at(-1)).toBe('1');
    expect(procStatus(pid, 'CapEff')).toBe('0000000000000000');
    expect(rootMountOptions(pid)).toContain('ro');
    process.stderr.write(`[image] ${image.name}: operator RSS ${residentMemory(pid)} after start\n`);
  });

  it('writes a TapData token and becomes Ready with the in-cluster ServiceAccount', async () => {
    await kube.createCredential(namespace, 'orders-api', {
      provider: { tapdata: { baseUrl: emulatorUrl(), credentialsRef: { name: 'tapdata-client' } } },
    });
    await waitFor(
      'the credential to become Ready',
      async () =>
        condition(await kube.credential(namespace, 'orders-api'), 'Ready')?.status === 'True'
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect((await kube.secretValues(namespace, 'orders-api'))?.token).toBeTruthy();
    expect(tapdata?.count('POST /oauth/token')).toBe(1);
    process.stderr.write(`[image] operator RSS ${residentMemory(container().hostPid())} after a renewal\n`);
  });

  it('on SIGTERM releases its Lease and exits 0 within seconds', async () => {
    const held = await leases.readNamespacedLease({ name: leaseName, namespace });
    expect(held.spec?.holderIdentity).toMatch(/^apicred-operator-image-e2e_/);
    const sent = Date.now();
    container().signal('SIGTERM');
    const code = await container().process.waitForExit();
    const seconds = (Date.now() - sent) / 1000;
    process.stderr.write(`[image] SIGTERM to exit: ${seconds.toFixed(2)} s\n`);
    expect(code, container().process.logTail(40)).toBe(0);
    expect(seconds).toBeLessThan(10);
    expect(container().logs()).toContain('"stopped"');
    const released = await leases.readNamespacedLease({ name: leaseName, namespace });
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(released.spec?.leaseDurationSeconds).toBe(1);
  });
});
