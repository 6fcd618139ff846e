// Small helpers over the admin client for integration tests.
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
  type ApiCredential,
} from '../../src/api/apicredential.ts';
import { waitFor } from './wait.ts';

export class TestKube {
  readonly core: CoreV1Api;
  readonly objects: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.objects = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async putSecret(namespace: string, name: string, stringData: Record<string, string>): Promise<void> {
    const body = { metadata: { name, namespace }, stringData };
    try {
      await this.core.createNamespacedSecret({ namespace, body });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
      await this.core.replaceNamespacedSecret({ name, namespace, body });
    }
  }

  async secret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  async secretValues(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const secret = await this.secret(namespace, name);
    if (!secret) return undefined;
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  async createCredential(
    namespace: string,
    name: string,
    spec: unknown,
    annotations?: Record<string, string>,
  ): Promise<ApiCredential> {
    return (await this.objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, annotations }, spec },
    })) as ApiCredential;
  }

  async credential(namespace: string, name: string): Promise<ApiCredential | undefined> {
    try {
      return (await this.objects.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      })) as ApiCredential;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  /** Forces one renewal, as a user would: `kubectl annotate apicred <name> apicred.dev/refresh-requested-at=...`. */
  async requestRefresh(namespace: string, name: string, at = new Date().toISOString()): Promise<void> {
    await this.annotateCredential(namespace, name, { 'apicred.dev/refresh-requested-at': at });
  }

  async annotateCredential(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
  ): Promise<void> {
    await this.objects.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name,
        body: { metadata: { annotations } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async deleteCredential(namespace: string, name: string): Promise<void> {
    await this.objects.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      name,
    });
  }

  async events(
    namespace: string,
    name: string,
  ): Promise<{ type: string; reason: string; message: string; count: number }[]> {
    const list = await this.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items.map((event) => ({
      type: event.type ?? '',
      reason: event.reason ?? '',
      message: event.message ?? '',
      count: event.count ?? 1,
    }));
  }

  /** The first Event of a credential that matches; Events are written in the background, so it waits. */
  async event(
    namespace: string,
    name: string,
    matches: (event: { type: string; reason: string; message: string; count: number }) => boolean,
    timeoutMs = 30_000,
  ): Promise<{ type: string; reason: string; message: string; count: number }> {
    return waitFor(
      `an Event of ${namespace}/${name} that matches`,
      async () => (await this.events(namespace, name)).find(matches),
      { timeoutMs, intervalMs: 100 },
    );
  }
}

export function condition(
  credential: ApiCredential | undefined,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return credential?.status?.conditions?.find((c) => c.type === type);
}
