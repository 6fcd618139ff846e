// The chart's ValidatingAdmissionPolicy on the real apiserver: an ApiCredential may reference only
// Secrets its creator may get. Two users impersonated through kubectl: alice may get the iDempiere
// login Secret (and the state Secret of her credential), bob may get no Secret. Then the operator
// itself reconciles alice's credential to Ready: its finalizer patch and status writes are not refused.
import { randomBytes } from 'node:crypto';
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { referenceFieldsOf, type ReferenceField } from '../../src/api/admission-policy.ts';
import { stateSecretName } from '../../src/secrets/state.ts';
import { FINALIZER, PROVIDER_NAMES } from '../../src/api/apicredential.ts';
import { PROVIDER_DEFINITIONS } from '../../src/providers/definitions.ts';
import { sampleWithEveryReference } from '../unit/provider-samples.ts';
import { IdempiereEmulator } from '../emulators/idempiere.ts';
import { GARDENWORLD_LOGINS } from '../emulators/idempiere-data.ts';
import { adminKubeConfig, kubectl } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { chartDir, helm } from '../helm/chart.ts';

const plane = inject('controlPlane');
const admin = adminKubeConfig(plane);
const kube = new TestKube(admin);
const id = randomBytes(3).toString('hex');
const release = `apicred-vap-${id}`;
const releaseNamespace = `apicred-system-vap-${id}`;
const team = `team-vap-${id}`;
const alice = `alice-${id}@example.com`;
const bob = `bob-${id}@example.com`;
// carol may get exactly the Secrets the sample specs of every provider name, and their state Secrets.
const carol = `carol-${id}@example.com`;
const LOGIN = 'erp-login';
const POLICY = `${release}-apicred-operator-references`;
let erp: IdempiereEmulator;
let operator: RunningOperator | undefined;

function manifest(name: string, provider: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'apicred.dev/v1alpha1',
    kind: 'ApiCredential',
    metadata: { name, namespace: team },
    spec: { provider },
  });
}

function fieldsOf(provider: string): ReferenceField[] {
  return referenceFieldsOf(PROVIDER_DEFINITIONS).filter((field) =>
    field.path.startsWith(`spec.provider.${provider}.`),
  );
}

function sampleName(provider: string): string {
  return `every-${provider.toLowerCase()}`;
}

function erpCredential(name: string, extra: Record<string, unknown> = {}): string {
  return manifest(name, {
    idempiere: {
      baseUrl: erp.url,
      credentialsRef: { name: LOGIN },
      login: { client: 'GardenWorld', role: 'GardenWorld Admin', organization: 'HQ' },
      ...extra,
    },
  });
}

/** kubectl as `user` in the team namespace: stdout, or kubectl's printed error when refused. */
async function as(user: string, args: string[], input?: string): Promise<{ ok: boolean; output: string }> {
  try {
    return {
      ok: true,
      output: await kubectl(plane, [`--as=${user}`, `--namespace=${team}`, ...args], { input }),
    };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

function refusal(field: string, kind: string, name: string): string {
  return (
    `${field}: you may not get ${kind} "${name}" in namespace "${team}"; ` +
    `ask for get on it or reference a ${kind} you can read`
  );
}

async function role(name: string, user: string, rules: V1PolicyRule[]): Promise<void> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: team, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace: team,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
}

const MANAGE_CREDENTIALS: V1PolicyRule = {
  apiGroups: ['apicred.dev'],
  resources: ['apicredentials'],
  verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'],
};

beforeAll(async () => {
  erp = new IdempiereEmulator();
  await erp.start();
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, team);
  const install = await helm(
    ['install', release, chartDir, `--namespace=${releaseNamespace}`, '--create-namespace'],
    // The harness installed the CRD; the operator runs below as the other integration tests run it.
    { kubeconfig: plane.adminKubeconfig, values: { crds: { enabled: false } } },
  );
  expect(install.code, install.stderr).toBe(0);
  const { userName, password } = GARDENWORLD_LOGINS.multiStep;
  await kube.putSecret(team, LOGIN, { username: userName, password });
  await kube.putSecret(team, 'other-login', { username: userName, password });
  await role('alice', alice, [
    MANAGE_CREDENTIALS,
    { apiGroups: [''], resources: ['secrets'], resourceNames: [LOGIN, 'erp.apicred-state'], verbs: ['get'] },
  ]);
  await role('bob', bob, [MANAGE_CREDENTIALS]);
  const samples = PROVIDER_NAMES.flatMap((name) => {
    const spec = sampleWithEveryReference({ name }, fieldsOf(name));
    const referenced = fieldsOf(name).map(
      (field) => (spec[field.path.split('.').at(-1) ?? ''] as { name: string }).name,
    );
    return [...referenced, stateSecretName(sampleName(name))];
  });
  await role('carol', carol, [
    MANAGE_CREDENTIALS,
    { apiGroups: [''], resources: ['secrets'], resourceNames: [...new Set(samples)], verbs: ['get'] },
  ]);
  // A binding takes effect when the apiserver's policy informer has seen it: wait for the first refusal.
  await waitFor(
    'the admission policy to refuse bob',
    async () => {
      const dryRun = await as(bob, ['create', '--dry-run=server', '-f', '-'], erpCredential('probe'));
      return !dryRun.ok && dryRun.output.includes('you may not get Secret') ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [team],
    extraArgs: ['--leader-elect=false'],
  });
});

afterAll(async () => {
  await operator?.stop();
  await erp.stop();
  const uninstall = await helm(['uninstall', release, `--namespace=${releaseNamespace}`], {
    kubeconfig: plane.adminKubeconfig,
  });
  expect(uninstall.code, uninstall.stderr).toBe(0);
});

describe('references no wider than their creator’s (admissionPolicy.enabled)', () => {
  it('refuses a user who may not get the referenced Secret, naming the field and the Secret', async () => {
    const created = await as(bob, ['create', '-f', '-'], erpCredential('erp-bob'));
    expect(created.ok).toBe(false);
    expect(created.output).toContain(
      'Error from server (Forbidden): error when creating "STDIN": ' +
        `apicredentials.apicred.dev "erp-bob" is forbidden: ValidatingAdmissionPolicy '${POLICY}' with binding '${POLICY}' denied request: ` +
        refusal('spec.provider.idempiere.credentialsRef', 'Secret', LOGIN),
    );
    expect(created.output).not.toContain(GARDENWORLD_LOGINS.multiStep.password);
    expect(await kube.credential(team, 'erp-bob')).toBeUndefined();
  });

  it.each(PROVIDER_NAMES)('%s: allows readable references and refuses each unreadable one', async (name) => {
    const fields = fieldsOf(name);
    const provider = sampleWithEveryReference({ name }, fields);
    const dryRun = (spec: Record<string, unknown>) =>
      as(carol, ['create', '--dry-run=server', '-f', '-'], manifest(sampleName(name), { [name]: spec }));
    const allowed = await dryRun(provider);
    expect(allowed.output).toContain('created (server dry run)');
    for (const field of fields) {
      const key = field.path.split('.').at(-1) ?? '';
      const unreadable = { ...provider, [key]: { ...(provider[key] as object), name: 'not-for-carol' } };
      const refused = await dryRun(unreadable);
      expect(refused.output).toContain(refusal(field.path, 'Secret', 'not-for-carol'));
    }
  });

  it('lets only a user who may create the ServiceAccount token name it in serviceAccountToken', async () => {
    const dave = `dave-${id}@example.com`;
    const saCredential = (serviceAccountName: string): string =>
      manifest('sa-cred', {
        oauth2: {
          tokenUrl: 'https://idp.example/token',
          clientAuth: 'service_account_token',
          serviceAccountToken: { serviceAccountName, audience: 'https://idp.example' },
        },
      });
    await role('dave', dave, [
      MANAGE_CREDENTIALS,
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['sa-cred.apicred-state'], verbs: ['get'] },
      {
        apiGroups: [''],
        resources: ['serviceaccounts/token'],
        resourceNames: ['billing'],
        verbs: ['create'],
      },
    ]);
    const dryRun = (user: string, serviceAccountName: string) =>
      as(user, ['create', '--dry-run=server', '-f', '-'], saCredential(serviceAccountName));
    const allowed = await waitFor(
      'dave to be allowed billing',
      async () => {
        const result = await dryRun(dave, 'billing');
        return result.ok ? result : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(allowed.output).toContain('created (server dry run)');
    const refused = await dryRun(dave, 'payroll');
    expect(refused.ok).toBe(false);
    expect(refused.output).toContain(
      'spec.provider.oauth2.serviceAccountToken.serviceAccountName: you may not create a token for ' +
        `ServiceAccount "payroll" in namespace "${team}"; ask for create on serviceaccounts/token for it ` +
        'or name a ServiceAccount you may use',
    );
  });

  it('refuses a name whose state Secret the user may not get', async () => {
    // alice may get the login Secret, but not erp-2.apicred-state, whose refresh token erp-2 would use.
    const created = await as(alice, ['create', '-f', '-'], erpCredential('erp-2'));
    expect(created.ok).toBe(false);
    expect(created.output).toContain(
      `metadata.name: you may not get Secret "erp-2.apicred-state" in namespace "${team}", where the ` +
        'operator keeps the state of this credential; ask for get on it or name the ApiCredential otherwise',
    );
  });

  it('lets a user who may get every referenced Secret create it, and the operator makes it Ready', async () => {
    const created = await as(alice, ['create', '-f', '-'], erpCredential('erp'));
    expect(created.output).toContain('apicredential.apicred.dev/erp created');
    const ready = await waitFor(
      'the operator to make alice’s credential Ready',
      async () => {
        const found = await kube.credential(team, 'erp');
        return condition(found, 'Ready')?.status === 'True' ? found : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        abortIf: () =>
          operator?.process.exited ? `the operator exited:\n${operator.process.logTail(40)}` : undefined,
      },
    );
    // The operator's own writes went through the policy: a finalizer patch and status.
    expect(ready.metadata.finalizers).toContain(FINALIZER);
    expect((await kube.secretValues(team, 'erp'))?.token).toBeTruthy();
    expect(operator?.logs()).not.toMatch(/ValidatingAdmissionPolicy|denied request/);
  });

  it('refuses an update that references a Secret or ConfigMap the user may not get', async () => {
    const moved = await as(
      alice,
      ['apply', '-f', '-'],
      erpCredential('erp', { credentialsRef: { name: 'other-login' } }),
    );
    expect(moved.ok).toBe(false);
    expect(moved.output).toContain(
      refusal('spec.provider.idempiere.credentialsRef', 'Secret', 'other-login'),
    );
    const ca = await as(
      alice,
      ['apply', '-f', '-'],
      erpCredential('erp', { caBundleRef: { kind: 'ConfigMap', name: 'corp-ca' } }),
    );
    expect(ca.ok).toBe(false);
    expect(ca.output).toContain(refusal('spec.provider.idempiere.caBundleRef', 'ConfigMap', 'corp-ca'));
    const stored = await kube.credential(team, 'erp');
    expect(stored?.spec.provider.idempiere).toMatchObject({ credentialsRef: { name: LOGIN } });
    expect(stored?.spec.provider.idempiere?.caBundleRef).toBeUndefined();
  });

  it('checks every spec change, whoever sends it, but not an update that leaves the spec as it is', async () => {
    const labelled = await as(bob, ['label', 'apicredential', 'erp', 'team=orders']);
    expect(labelled.output).toContain('apicredential.apicred.dev/erp labeled');
    // Bob keeps alice's reference but points the URL at his own server: refused.
    const redirected = await as(bob, [
      'patch',
      'apicredential',
      'erp',
      '--type=merge',
      '--patch={"spec":{"provider":{"idempiere":{"baseUrl":"https://erp.bob.example.com"}}}}',
    ]);
    expect(redirected.ok).toBe(false);
    expect(redirected.output).toContain(refusal('spec.provider.idempiere.credentialsRef', 'Secret', LOGIN));
    expect((await kube.credential(team, 'erp'))?.spec.provider.idempiere?.baseUrl).toBe(erp.url);
  });

  it('lets the operator remove its finalizer when a user deletes the credential', async () => {
    const deleted = await as(bob, ['delete', 'apicredential', 'erp', '--wait=false']);
    expect(deleted.output).toContain('apicredential.apicred.dev "erp" deleted');
    await waitFor(
      'the ApiCredential to be gone',
      async () => ((await kube.credential(team, 'erp')) === undefined ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });
});
