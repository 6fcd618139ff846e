// The Writer that talks to the apiserver: SSA for the consumer Secret, merge patches for the status
// and the finalizers, the Event recorder for Events. What a write returns goes into the caches.
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import {
  GROUP,
  PLURAL,
  VERSION,
  type ApiCredential,
  type ApiCredentialStatus,
} from '../api/apicredential.ts';
import type { EventSink } from '../kube/events.ts';
import { applySecret } from '../secrets/consumer.ts';
import type { Caches } from './context.ts';
import type { Writer } from './writer.ts';

/** A write's answer, checked before it stands in for the cached ApiCredential. */
function isApiCredential(object: unknown): object is ApiCredential {
  if (typeof object !== 'object' || object === null) return false;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return false;
  const { namespace, name, resourceVersion } = metadata as Record<string, unknown>;
  return typeof namespace === 'string' && typeof name === 'string' && typeof resourceVersion === 'string';
}

export class KubeWriter implements Writer {
  readonly #objects: KubernetesObjectApi;
  readonly #customObjects: CustomObjectsApi;
  readonly #caches: Pick<Caches, 'wroteCredential' | 'wroteSecret'>;
  readonly #events: EventSink;

  constructor(
    kubeConfig: KubeConfig,
    caches: Pick<Caches, 'wroteCredential' | 'wroteSecret'>,
    events: EventSink,
  ) {
    this.#objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.#customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
    this.#caches = caches;
    this.#events = events;
  }

  async applySecret(body: Parameters<Writer['applySecret']>[0]): Promise<void> {
    this.#caches.wroteSecret(await applySecret(this.#objects, body));
  }

  async patchStatus(credential: ApiCredential, status: ApiCredentialStatus): Promise<void> {
    const { namespace, name } = credential.metadata;
    // A merge patch keeps a field it does not mention: send null for those the new status drops
    // (nextRefreshTime after a terminal failure), or kubectl would show a renewal that never comes.
    const dropped = Object.keys(credential.status ?? {}).filter(
      (field) => status[field as keyof ApiCredentialStatus] === undefined,
    );
    const body = { status: { ...status, ...Object.fromEntries(dropped.map((field) => [field, null])) } };
    const written: unknown = await this.#customObjects.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#wroteCredential(written);
  }

  async setFinalizers(credential: ApiCredential, finalizers: string[]): Promise<void> {
    const { namespace, name, resourceVersion } = credential.metadata;
    // Merge patch with resourceVersion: a concurrent change makes it fail with 409 and the key is retried.
    const body = { metadata: { finalizers, resourceVersion } };
    const written: unknown = await this.#customObjects.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#wroteCredential(written);
  }

  emitEvent(...args: Parameters<EventSink['emit']>): void {
    this.#events.emit(...args);
  }

  #wroteCredential(written: unknown): void {
    if (isApiCredential(written)) this.#caches.wroteCredential(written);
  }
}
