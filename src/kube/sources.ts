// List and watch sources for the resources the operator caches, backed by @kubernetes/client-node.
import {
  CoreV1Api,
  CustomObjectsApi,
  Watch,
  type KubeConfig,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type ApiCredential } from '../api/apicredential.ts';
import { watchWithTestDelay } from '../testing/watch-delay.ts';
import type { ListPage, ListWatchSource, WatchEventType, WatchHandle } from './informer.ts';

export interface Scope {
  /** Watch one namespace; undefined means all namespaces. */
  namespace?: string;
  labelSelector?: string;
}

// Long-running watches; the server ends them after this and the informer resumes from the last version.
const WATCH_TIMEOUT_SECONDS = 300;

interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

type Lister<T> = (options: {
  limit: number;
  _continue?: string;
  labelSelector?: string;
}) => Promise<ListResult<T>>;

function startWatch(
  kubeConfig: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  onEvent: (type: WatchEventType, object: unknown) => void,
): Promise<WatchHandle> {
  let finish: (reason: unknown) => void = () => undefined;
  const done = new Promise<unknown>((resolve) => {
    finish = resolve;
  });
  return new Watch(kubeConfig)
    .watch(
      path,
      query,
      (type: string, object: unknown) => {
        onEvent(type as WatchEventType, object);
      },
      (error: unknown) => {
        finish(error ?? undefined);
      },
    )
    .then((controller) => ({
      abort: () => {
        controller.abort();
      },
      done,
    }));
}

/** One list+watch source: `collectionPath` is the watch path, `list` the matching typed list call. */
function source<T>(
  kubeConfig: KubeConfig,
  scope: Scope,
  resource: string,
  collectionPath: string,
  list: Lister<T>,
): ListWatchSource<T> {
  return {
    async list({ limit, continueToken }): Promise<ListPage<T>> {
      const result = await list({ limit, _continue: continueToken, labelSelector: scope.labelSelector });
      return {
        items: result.items,
        resourceVersion: result.metadata?.resourceVersion ?? '',
        continueToken: (result.metadata?._continue ?? result.metadata?.continue) || undefined,
      };
    },
    watch(resourceVersion, onEvent) {
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: scope.labelSelector,
        timeoutSeconds: WATCH_TIMEOUT_SECONDS,
      };
      return watchWithTestDelay(resource, onEvent, (deliver) =>
        startWatch(kubeConfig, collectionPath, query, deliver),
      );
    },
  };
}

function corePath(scope: Scope, resource: string): string {
  return scope.namespace ? `/api/v1/namespaces/${scope.namespace}/${resource}` : `/api/v1/${resource}`;
}

export function apiCredentialSource(kubeConfig: KubeConfig, scope: Scope): ListWatchSource<ApiCredential> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const base = `/apis/${GROUP}/${VERSION}`;
  const path = scope.namespace ? `${base}/namespaces/${scope.namespace}/${PLURAL}` : `${base}/${PLURAL}`;
  const common = { group: GROUP, version: VERSION, plural: PLURAL };
  return source(kubeConfig, scope, PLURAL, path, async (options) => {
    const result: unknown = scope.namespace
      ? await api.listNamespacedCustomObject({ ...common, ...options, namespace: scope.namespace })
      : await api.listClusterCustomObject({ ...common, ...options });
    return result as ListResult<ApiCredential>;
  });
}

export function secretSource(kubeConfig: KubeConfig, scope: Scope): ListWatchSource<V1Secret> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return source(kubeConfig, scope, 'secrets', corePath(scope, 'secrets'), (options) =>
    scope.namespace
      ? api.listNamespacedSecret({ ...options, namespace: scope.namespace })
      : api.listSecretForAllNamespaces(options),
  );
}

export function configMapSource(kubeConfig: KubeConfig, scope: Scope): ListWatchSource<V1ConfigMap> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return source(kubeConfig, scope, 'configmaps', corePath(scope, 'configmaps'), (options) =>
    scope.namespace
      ? api.listNamespacedConfigMap({ ...options, namespace: scope.namespace })
      : api.listConfigMapForAllNamespaces(options),
  );
}
