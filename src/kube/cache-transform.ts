// What an informer keeps of an object it caches. managedFields (server-side apply bookkeeping) is
// often as large as the rest of the object and nothing in the operator reads it; controller-runtime
// strips it from its caches for the same reason. `kubectl apply` keeps a second copy of the whole
// object in an annotation; nothing reads that either.

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

interface Metadata {
  managedFields?: unknown;
  annotations?: Record<string, string>;
}

export function withoutManagedFields<T extends { metadata: object }>(object: T): T {
  if (!('managedFields' in object.metadata)) return object;
  const { managedFields: _managedFields, ...metadata } = object.metadata as Metadata;
  return { ...object, metadata };
}

/** Without managedFields and without kubectl's last-applied copy; the input is not modified. */
export function forCache<T extends { metadata: object }>(object: T): T {
  const slim = withoutManagedFields(object);
  const annotations = (slim.metadata as Metadata).annotations;
  if (annotations === undefined || !(LAST_APPLIED in annotations)) return slim;
  const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
  return { ...slim, metadata: { ...slim.metadata, annotations: rest } };
}
