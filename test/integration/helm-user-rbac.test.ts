// The chart's aggregated ClusterRoles on the real apiserver: a namespace user bound to Kubernetes'
// built-in edit or view role manages or reads ApiCredentials with no role of the operator's own.
// kube-controller-manager's clusterrole-aggregation controller copies the rules into edit and view.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectl } from '../harness/controlplane.ts';
import { waitFor } from '../harness/wait.ts';
import { chartDir, helm } from '../helm/chart.ts';

const plane = inject('controlPlane');
const id = randomBytes(3).toString('hex');
const release = `apicred-users-${id}`;
const releaseNamespace = `apicred-system-${id}`;
const team = `team-users-${id}`;
const editor = `editor-${id}@example.com`;
const viewer = `viewer-${id}@example.com`;

function manifest(name: string, bodyFormat: 'form' | 'json'): string {
  return JSON.stringify({
    apiVersion: 'apicred.dev/v1alpha1',
    kind: 'ApiCredential',
    metadata: { name, namespace: team },
    spec: {
      provider: {
        tapdata: {
          baseUrl: 'http://tapdata.example.com:3030',
          credentialsRef: { name: 'tapdata-client' },
          bodyFormat,
        },
      },
    },
  });
}

/** kubectl as `user` in the team namespace; resolves to stdout, or to the error message when refused. */
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

async function canI(user: string, verb: string): Promise<boolean> {
  // `kubectl auth can-i` exits 1 for "no".
  const answer = await as(user, ['auth', 'can-i', verb, 'apicredentials.apicred.dev']);
  return answer.ok && answer.output.trim() === 'yes';
}

beforeAll(async () => {
  const install = await helm(
    ['install', release, chartDir, `--namespace=${releaseNamespace}`, '--create-namespace'],
    // The harness installed the CRD for the whole control plane.
    { kubeconfig: plane.adminKubeconfig, values: { crds: { enabled: false } } },
  );
  expect(install.code, install.stderr).toBe(0);
  await kubectl(plane, ['create', 'namespace', team]);
  await kubectl(plane, [
    'create',
    'rolebinding',
    'editors',
    '--clusterrole=edit',
    `--user=${editor}`,
    `--namespace=${team}`,
  ]);
  await kubectl(plane, [
    'create',
    'rolebinding',
    'viewers',
    '--clusterrole=view',
    `--user=${viewer}`,
    `--namespace=${team}`,
  ]);
  // Aggregation is asynchronous: wait until the controller has copied the chart's rules.
  await waitFor(
    'the chart rules to be aggregated into edit and view',
    async () => ((await canI(editor, 'delete')) && (await canI(viewer, 'list')) ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 200 },
  );
});

afterAll(async () => {
  const uninstall = await helm(['uninstall', release, `--namespace=${releaseNamespace}`], {
    kubeconfig: plane.adminKubeconfig,
  });
  expect(uninstall.code, uninstall.stderr).toBe(0);
});

describe('ApiCredentials for namespace users (rbac.aggregateToView, rbac.aggregateToEdit)', () => {
  it('lets a user bound to the built-in edit role create, update and delete ApiCredentials', async () => {
    const created = await as(editor, ['create', '-f', '-'], manifest('orders', 'form'));
    expect(created.output).toContain('apicredential.apicred.dev/orders created');
    const updated = await as(editor, ['apply', '-f', '-'], manifest('orders', 'json'));
    expect(updated.output).toContain('apicredential.apicred.dev/orders configured');
    const read = await as(editor, [
      'get',
      'apicredential',
      'orders',
      '--output=jsonpath={.spec.provider.tapdata.bodyFormat}',
    ]);
    expect(read.output).toBe('json');
    const deleted = await as(editor, ['delete', 'apicredential', 'orders', '--wait=false']);
    expect(deleted.output).toContain('apicredential.apicred.dev "orders" deleted');
  });

  it('lets a user bound to the built-in view role get and list ApiCredentials but not write them', async () => {
    await kubectl(plane, ['create', '-f', '-'], { input: manifest('reports', 'form') });
    const list = await as(viewer, ['get', 'apicredentials', '--output=name']);
    expect(list.output).toContain('apicredential.apicred.dev/reports');
    const get = await as(viewer, ['get', 'apicredential', 'reports', '--output=name']);
    expect(get.ok).toBe(true);

    const create = await as(viewer, ['create', '-f', '-'], manifest('mine', 'form'));
    expect(create.ok).toBe(false);
    expect(create.output).toContain(
      `User "${viewer}" cannot create resource "apicredentials" in API group "apicred.dev" in the namespace "${team}"`,
    );
    const remove = await as(viewer, ['delete', 'apicredential', 'reports']);
    expect(remove.output).toContain('cannot delete resource "apicredentials"');
    // Status belongs to the operator, and view never reaches the Secrets the tokens are in.
    const status = await as(editor, [
      'auth',
      'can-i',
      'patch',
      'apicredentials.apicred.dev',
      '--subresource=status',
    ]);
    expect(status.ok).toBe(false);
    expect((await as(viewer, ['auth', 'can-i', 'get', 'secrets'])).ok).toBe(false);
  });
});
