// `helm install` of the chart into the real control plane, then the operator started as the chart's
// Deployment would start it: the chart's args and env, and a TokenRequest token of the chart's own
// ServiceAccount. A permission the chart lacks is a 403 here, in both RBAC modes.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  API_VERSION,
  FINALIZER,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
  type ApiCredential,
} from '../../src/api/apicredential.ts';
import { IdempiereEmulator } from '../emulators/idempiere.ts';
import { GARDENWORLD_LOGINS } from '../emulators/idempiere-data.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { ensureNamespace, serviceAccountKubeconfig } from '../harness/identity.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { chartDir, helm } from '../helm/chart.ts';
import { podCommand } from '../helm/pod-command.ts';

const plane = inject('controlPlane');
const admin = adminKubeConfig(plane);
const kube = new TestKube(admin);
const client = {
  clientId: '68376c8a4cf9b840dba2e119',
  clientSecret: `tapdata-${randomBytes(12).toString('hex')}`,
};
let tapdata: TapdataEmulator;
// iDempiere logs out on deletion: its ApiCredentials carry a finalizer, which the chart must let the
// operator add and remove.
let erp: IdempiereEmulator;

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [client] });
  erp = new IdempiereEmulator();
  await Promise.all([tapdata.start(), erp.start()]);
});

afterAll(async () => {
  await Promise.all([tapdata.stop(), erp.stop()]);
});

function statusCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

async function expectForbidden(what: string, call: () => Promise<unknown>): Promise<void> {
  let code: number | undefined;
  try {
    await call();
  } catch (error) {
    code = statusCode(error);
  }
  expect(code, `${what} should be forbidden to the chart's ServiceAccount`).toBe(403);
}

const modes = [
  { scope: 'cluster', watchAll: true },
  { scope: 'namespaced', watchAll: false },
] as const;

describe.each(modes)('helm install with rbac.scope=$scope', ({ scope, watchAll }) => {
  const id = randomBytes(3).toString('hex');
  const release = `apicred-${scope}-${id}`;
  const fullname = `${release}-apicred-operator`;
  const releaseNamespace = `apicred-system-${id}`;
  const watched = `team-${scope}-${id}`;
  const unwatched = `other-${scope}-${id}`;
  // Cluster mode watches every namespace of the shared control plane; a label keeps it to ours.
  const shard = { 'apicred.dev/test-shard': id };
  const podName = `${fullname}-7d9f8b6c5-x2x4q`;
  let operator: RunningOperator | undefined;
  let chartKubeconfig = '';

  beforeAll(async () => {
    const core = admin.makeApiClient(CoreV1Api);
    for (const namespace of [watched, unwatched]) await ensureNamespace(core, namespace);
    const values = {
      // The harness installed the CRD from crds/ for every test of this control plane.
      crds: { enabled: false },
      rbac: { scope },
      operator: watchAll
        ? { labelSelector: Object.entries(shard).map(([key, value]) => `${key}=${value}`)[0] }
        : { namespaces: [watched] },
    };
    const install = await helm(
      ['install', release, chartDir, `--namespace=${releaseNamespace}`, '--create-namespace'],
      { kubeconfig: plane.adminKubeconfig, values },
    );
    expect(install.code, `helm install failed:\n${install.stderr}`).toBe(0);

    const deployment = await admin.makeApiClient(AppsV1Api).readNamespacedDeployment({
      name: fullname,
      namespace: releaseNamespace,
    });
    const serviceAccount = deployment.spec?.template.spec?.serviceAccountName ?? '';
    expect(serviceAccount).toBe(fullname);
    chartKubeconfig = (await serviceAccountKubeconfig(plane, releaseNamespace, serviceAccount))
      .kubeconfigPath;
    const command = podCommand(deployment, podName);
    const logDir = join(plane.dir, releaseNamespace);
    mkdirSync(logDir, { recursive: true });
    operator = await startOperator({
      kubeconfig: chartKubeconfig,
      logDir,
      name: release,
      // Several operators share this host: the harness gives each its own loopback ports.
      extraArgs: command.args.filter((arg) => !/^--(metrics|health)-address=/.test(arg)),
      env: command.env,
    });
    await kube.putSecret(watched, 'tapdata-client', {
      client_id: client.clientId,
      client_secret: client.clientSecret,
    });
    const { userName, password } = GARDENWORLD_LOGINS.multiStep;
    await kube.putSecret(watched, 'erp-login', { username: userName, password });
  });

  async function createCredential(name: string, provider: Record<string, unknown>): Promise<void> {
    await kube.objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: watched,
      plural: PLURAL,
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace: watched, labels: shard },
        spec: { provider },
      },
    });
  }

  async function readyCredential(name: string): Promise<ApiCredential> {
    return waitFor(
      `ApiCredential ${name} to be Ready`,
      async () => {
        const credential = await kube.credential(watched, name);
        return condition(credential, 'Ready')?.status === 'True' ? credential : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        abortIf: () =>
          operator?.process.exited ? `the operator exited:\n${operator.process.logTail(40)}` : undefined,
      },
    );
  }

  afterAll(async () => {
    await operator?.stop();
    const uninstall = await helm(['uninstall', release, `--namespace=${releaseNamespace}`], {
      kubeconfig: plane.adminKubeconfig,
    });
    expect(uninstall.code, uninstall.stderr).toBe(0);
  });

  it('reconciles ApiCredentials to Ready with the chart permissions', async () => {
    await createCredential('orders-api', {
      tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } },
    });
    await createCredential('erp', {
      idempiere: {
        baseUrl: erp.url,
        credentialsRef: { name: 'erp-login' },
        login: { client: 'GardenWorld', role: 'GardenWorld Admin', organization: 'HQ' },
      },
    });
    await readyCredential('orders-api');
    const erpCredential = await readyCredential('erp');
    expect(erpCredential.metadata.finalizers).toContain(FINALIZER);
    expect((await kube.secretValues(watched, 'orders-api'))?.token).toBeTruthy();
    expect((await kube.secretValues(watched, 'erp'))?.token).toBeTruthy();
    expect(operator?.logs()).not.toMatch(/forbidden|\b403\b/i);
  });

  it('leads through the Lease the chart grants, in the release namespace', async () => {
    const lease = await admin
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: fullname, namespace: releaseNamespace });
    expect(lease.spec?.holderIdentity).toMatch(new RegExp(`^${podName}_`));
    const metrics = await (await fetch(operator?.metricsUrl ?? '')).text();
    expect(metrics).toMatch(/^apicred_leader 1$/m);
  });

  it('logs out and removes the finalizer when an ApiCredential is deleted', async () => {
    const logoutsBefore = erp.count('POST /api/v1/auth/logout');
    await kube.deleteCredential(watched, 'erp');
    await waitFor(
      'the ApiCredential to be gone',
      async () => ((await kube.credential(watched, 'erp')) === undefined ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(erp.count('POST /api/v1/auth/logout')).toBe(logoutsBefore + 1);
    expect(operator?.logs()).not.toMatch(/forbidden|\b403\b/i);
  });

  it('grants nothing beyond what the operator needs', async () => {
    const { kubeConfig } = await serviceAccountKubeconfig(plane, releaseNamespace, fullname, 600);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const leases = kubeConfig.makeApiClient(CoordinationV1Api);
    await expectForbidden('deleting a Secret', () =>
      core.deleteNamespacedSecret({ name: 'tapdata-client', namespace: watched }),
    );
    await expectForbidden('reading another Lease', () =>
      leases.readNamespacedLease({ name: 'kube-controller-manager', namespace: 'kube-system' }),
    );
    await expectForbidden('listing Pods', () => core.listNamespacedPod({ namespace: watched }));
    if (!watchAll) {
      await expectForbidden('listing Secrets outside the watched namespaces', () =>
        core.listNamespacedSecret({ namespace: unwatched }),
      );
    }
  });
});
