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
  return hash.digest('hex').slice(0, 32);
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

/**
 * Reads the referenced values from the API server (same namespace only). `secrets` are the values
 * of the references marked secret, for the redactor; identifiers are not among them.
 */
export async function readInputs(
  core: CoreV1Api,
  namespace: string,
  refs: InputReference[],
): Promise<{ inputs: Inputs; secrets: string[] }> {
  const values = new Map<string, string>();
  const secrets = new Set<string>();
  const objects = new Map<string, Record<string, string> | undefined>();
  for (const ref of refs) {
    const objectId = `${ref.kind}/${ref.name}`;
    if (!objects.has(objectId)) {
      try {
        if (ref.kind === 'Secret') {
          const secret = await core.readNamespacedSecret({ name: ref.name, namespace });
          objects.set(
            objectId,
            Object.fromEntries(
              Object.entries(secret.data ?? {}).map(([key, value]) => [
                key,
                Buffer.from(value, 'base64').toString('utf8'),
              ]),
            ),
          );
        } else {
          const configMap = await core.readNamespacedConfigMap({ name: ref.name, namespace });
          objects.set(objectId, configMap.data ?? {});
        }
      } catch (error) {
        if (httpStatusOf(error) !== 404) throw error;
        objects.set(objectId, undefined);
      }
    }
    const value = objects.get(objectId)?.[ref.key];
    if (value === undefined) continue;
    values.set(referenceId(ref), value);
    if (ref.secret) secrets.add(value);
  }
  return { inputs: new ResolvedInputs(values, namespace), secrets: [...secrets] };
}
