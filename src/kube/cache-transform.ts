// What an informer keeps of an object it caches. managedFields (server-side apply bookkeeping) is
// often as large as the rest of the object and nothing in the operator reads it; controller-runtime
// strips it from its caches for the same reason.

export function withoutManagedFields<T extends { metadata: object }>(object: T): T {
  if (!('managedFields' in object.metadata)) return object;
  const { managedFields: _managedFields, ...metadata } = object.metadata as { managedFields?: unknown };
  return { ...object, metadata };
}
