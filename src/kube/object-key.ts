// "namespace/name": how the caches, the work queue, logs and messages name a namespaced object.
// Pure, so that any layer may use it.

/** The key of the object called `name` in `namespace`. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** The key of an object from its metadata. */
export function keyOf(object: { metadata: { namespace: string; name: string } }): string {
  return objectKey(object.metadata.namespace, object.metadata.name);
}

/** The namespace and name of a key made by objectKey. */
export function splitKey(key: string): { namespace: string; name: string } {
  const [namespace = '', name = ''] = key.split('/');
  return { namespace, name };
}

/** The namespace of a key made by objectKey. */
export function namespaceOf(key: string): string {
  return splitKey(key).namespace;
}
