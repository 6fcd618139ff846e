// Proves the test control plane is the real thing: authentication, RBAC, CEL validation, watches,
// garbage collection and namespace finalization, exercised under a ServiceAccount token.
import { randomBytes } from 'node:crypto';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Watch,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import { adminKubeConfig, kubectl } from '../harness/controlplane.ts';
import { createIdentity, ensureNamespace } from '../harness/identity.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const admin = adminKubeConfig(plane);
const adminCore = admin.makeApiClient(CoreV1Api);

function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

function statusOf(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

async function isGone(read: () => Promise<unknown>): Promise<true | undefined> {
  try {
    await read();
    return undefined;
  } catch (error) {
    if (statusOf(error) === 404) return true;
    throw error;
  }
}

describe('the local control plane', () => {
  it('serves the version the harness built, behind RBAC', async () => {
    const version = JSON.parse(await kubectl(plane, ['version', '-o', 'json'])) as {
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.3[67]\.\d+$/);
  });

  it('lets a ServiceAccount token create a Secret in its namespace and answers 403 in another', async () => {
    const own = uniqueName('smoke-own');
    const other = uniqueName('smoke-other');
    await ensureNamespace(adminCore, other);
    const identity = await createIdentity(plane, {
      namespace: own,
      serviceAccount: 'writer',
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get'] }],
    });
    const core = identity.kubeConfig.makeApiClient(CoreV1Api);

    const created = await core.createNamespacedSecret({
      namespace: own,
      body: { metadata: { name: 'allowed' }, stringData: { key: 'value' } },
    });
    expect(created.metadata?.namespace).toBe(own);

    const denied = await core
      .createNamespacedSecret({
        namespace: other,
        body: { metadata: { name: 'denied' }, stringData: { key: 'v' } },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusOf(denied)).toBe(403);
    expect(String((denied as { body?: unknown }).body)).toContain(identity.username);
  });

  it('rejects a custom resource that breaks a CEL rule, with the rule message', async () => {
    const group = 'smoke.apicred.dev';
    const extensions = admin.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      properties: { min: { type: 'integer' }, max: { type: 'integer' } },
                      x_kubernetes_validations: [
                        { rule: 'self.min <= self.max', message: 'min must not exceed max' },
                      ],
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    await kubectl(plane, ['wait', '--for=condition=Established', '--timeout=60s', `crd/widgets.${group}`]);

    const namespace = uniqueName('smoke-cel');
    const identity = await createIdentity(plane, {
      namespace,
      serviceAccount: 'widget-writer',
      rules: [{ apiGroups: [group], resources: ['widgets'], verbs: ['create'] }],
    });
    const objects = identity.kubeConfig.makeApiClient(CustomObjectsApi);
    const widget = (name: string, min: number, max: number): object => ({
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name },
      spec: { min, max },
    });

    await objects.createNamespacedCustomObject({
      group,
      version: 'v1',
      namespace,
      plural: 'widgets',
      body: widget('good', 1, 2),
    });
    const rejected = await objects
      .createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace,
        plural: 'widgets',
        body: widget('bad', 3, 2),
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(statusOf(rejected)).toBe(422);
    expect(String((rejected as { body?: unknown }).body)).toContain('min must not exceed max');
  });

  it('delivers an update to a watch', async () => {
    const namespace = uniqueName('smoke-watch');
    const identity = await createIdentity(plane, {
      namespace,
      serviceAccount: 'watcher',
      rules: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'update', 'get', 'list', 'watch'] },
      ],
    });
    const core = identity.kubeConfig.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'watched' }, data: { round: '1' } },
    });

    const seen: string[] = [];
    const watch = new Watch(identity.kubeConfig);
    const request = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { resourceVersion: created.metadata?.resourceVersion ?? '' },
      (phase: string, object: V1ConfigMap) => {
        seen.push(`${phase}:${object.data?.round ?? ''}`);
      },
      () => undefined,
    );
    try {
      await core.replaceNamespacedConfigMap({
        name: 'watched',
        namespace,
        body: { ...created, data: { round: '2' } },
      });
      await waitFor('the MODIFIED event', () => (seen.includes('MODIFIED:2') ? true : undefined), {
        timeoutMs: 20_000,
      });
    } finally {
      request.abort();
    }
    expect(seen).toContain('MODIFIED:2');
  });

  it('garbage-collects a Secret whose owner is deleted', async () => {
    const namespace = uniqueName('smoke-gc');
    const identity = await createIdentity(plane, {
      namespace,
      serviceAccount: 'owner',
      rules: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'delete'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get'] },
      ],
    });
    const core = identity.kubeConfig.makeApiClient(CoreV1Api);
    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: 'owned',
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
          ],
        },
        stringData: { token: 'x' },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace });
    await waitFor(
      'the owned Secret to be garbage-collected',
      () => isGone(() => core.readNamespacedSecret({ name: 'owned', namespace })),
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
  });

  it('finishes deleting a namespace that holds objects', async () => {
    const namespace = uniqueName('smoke-ns');
    await ensureNamespace(adminCore, namespace);
    await adminCore.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'inside' }, stringData: { a: 'b' } },
    });
    await adminCore.deleteNamespace({ name: namespace });
    await waitFor(
      'the namespace to be deleted',
      () => isGone(() => adminCore.readNamespace({ name: namespace })),
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
  });
});
