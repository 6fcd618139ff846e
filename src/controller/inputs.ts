// Inputs of a credential: the referenced Secret (and ConfigMap) keys. Their digests come from the
// cache (for change detection and the inputs hash); their values are read from the API only when a
// provider is about to be called, and are never cached.
import { createHash } from 'node:crypto';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ApiCredentialSpec } from '../api/apicredential.ts';
import type { SecretView } from '../kube/secret-view.ts';
import { ProviderError } from '../errors/failure.ts';
import type { InputReference, Inputs } from '../providers/types.ts';
import { httpStatusOf } from '../kube/errors.ts';

export function referenceId(ref: InputReference): string {
  return `${ref.kind}/${ref.name}/${ref.key}`;
}

export interface MissingInput {
  ref: InputReference;
  problem: 'object' | 'key';
}

/** References whose object or key does not exist, judged from the caches. */
export function missingInputs(
  refs: InputReference[],
  namespace: string,
  lookup: (kind: InputReference['kind'], namespace: string, name: string) => SecretView | undefined,
): MissingInput[] {
  const missing: MissingInput[] = [];
  for (const ref of refs) {
    if (ref.optional) continue;
    const view = lookup(ref.kind, namespace, ref.name);
    if (!view) missing.push({ ref, problem: 'object' });
    else if (view.keyDigests[ref.key] === undefined) missing.push({ ref, problem: 'key' });
  }
  return missing;
}

export function describeMissing(missing: MissingInput[], namespace: string): string {
  return missing
    .map(({ ref, problem }) =>
      problem === 'object'
        ? `${ref.kind} ${namespace}/${ref.name} (from ${ref.fieldPath}) does not exist`
        : `${ref.kind} ${namespace}/${ref.name} has no key "${ref.key}" (from ${ref.fieldPath})`,
    )
    .join('; ');
}

/**
 * What a token was made from: the parts of the spec that affect it and the digest of every
 * referenced value. A change to any of them means a new login.
 */
export function inputsHash(
  spec: ApiCredentialSpec,
  refs: InputReference[],
  namespace: string,
  lookup: (kind: InputReference['kind'], namespace: string, name: string) => SecretView | undefined,
): string {
  const hash = createHash('sha256');
  // template is left out when unset (JSON.stringify drops undefined): older hashes stay the same.
  hash.update(
    JSON.stringify({ provider: spec.provider, keys: spec.secret.keys, template: spec.secret.template }),
  );
  for (const ref of [...refs].sort((a, b) => referenceId(a).localeCompare(referenceId(b)))) {
    const digest = lookup(ref.kind, namespace, ref.name)?.keyDigests[ref.key] ?? 'missing';
    hash.update('\0').update(referenceId(ref)).update('=').update(digest);
  }
  return hash.digest().toString('hex', 0, 16); // digest('hex').slice(0, 32), as a flat string
}

class ResolvedInputs implements Inputs {
  readonly #values: Map<string, string>;
  readonly #namespace: string;

  constructor(values: Map<string, string>, namespace: string) {
    this.#values = values;
    this.#namespace = namespace;
  }

  get(ref: InputReference): string | undefined {
    return this.#values.get(referenceId(ref));
  }

  require(ref: InputReference): string {
    const value = this.get(ref);
    if (value === undefined || value === '') {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'MissingInput',
        message: `${ref.kind} ${this.#namespace}/${ref.name} has no value under key "${ref.key}" (from ${ref.fieldPath}); add it to the ${ref.kind}.`,
      });
    }
    return value;
  }
}

/** The values of one input object (a Secret's decoded), or undefined when it does not exist. */
export type ObjectRead = (
  kind: InputReference['kind'],
  namespace: string,
  name: string,
) => Promise<Readonly<Record<string, string>> | undefined>;

/** GETs an input object from the API server. */
export function apiObjectRead(core: CoreV1Api): ObjectRead {
  return async (kind, namespace, name) => {
    try {
      if (kind === 'ConfigMap') return (await core.readNamespacedConfigMap({ name, namespace })).data ?? {};
      const secret = await core.readNamespacedSecret({ name, namespace });
      const values: Record<string, string> = {};
      for (const [key, value] of Object.entries(secret.data ?? {}))
        values[key] = Buffer.from(value, 'base64').toString('utf8');
      return values;
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
      return undefined;
    }
  };
}

/**
 * Concurrent reads of one input object share one GET: a thousand credentials that use one client
 * Secret make one request while it is in flight, not a thousand. Shared only between readers whose
 * cache holds the same resourceVersion of it: a reconcile woken by a change sees the new version
 * and so never joins a GET that may have started before the change (its values would be older than
 * the digests in its inputs hash). Nothing is kept once the GET settles: values are never cached.
 */
export class SharedObjectReads {
  readonly #read: ObjectRead;
  readonly #cachedVersion: (
    kind: InputReference['kind'],
    namespace: string,
    name: string,
  ) => string | undefined;
  readonly #inFlight = new Map<string, ReturnType<ObjectRead>>();

  constructor(
    read: ObjectRead,
    cachedVersion: (kind: InputReference['kind'], namespace: string, name: string) => string | undefined,
  ) {
    this.#read = read;
    this.#cachedVersion = cachedVersion;
  }

  readonly read: ObjectRead = (kind, namespace, name) => {
    const key = `${kind}\0${namespace}\0${name}\0${this.#cachedVersion(kind, namespace, name) ?? ''}`;
    const shared = this.#inFlight.get(key);
    if (shared !== undefined) return shared;
    const read = this.#read(kind, namespace, name).finally(() => {
      this.#inFlight.delete(key);
    });
    this.#inFlight.set(key, read);
    return read;
  };

  /** GETs in flight now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }
}

/**
 * Reads the referenced values from the API server (same namespace only). `secrets` are the values
 * of the references marked secret, for the redactor; identifiers are not among them.
 */
export async function readInputs(
  read: ObjectRead,
  namespace: string,
  refs: InputReference[],
): Promise<{ inputs: Inputs; secrets: string[] }> {
  const values = new Map<string, string>();
  const secrets = new Set<string>();
  const objects = new Map<string, Readonly<Record<string, string>> | undefined>();
  for (const ref of refs) {
    const objectId = `${ref.kind}/${ref.name}`;
    if (!objects.has(objectId)) objects.set(objectId, await read(ref.kind, namespace, ref.name));
    const value = objects.get(objectId)?.[ref.key];
    if (value === undefined) continue;
    values.set(referenceId(ref), value);
    if (ref.secret) secrets.add(value);
  }
  return { inputs: new ResolvedInputs(values, namespace), secrets: [...secrets] };
}
