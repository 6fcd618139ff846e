// Operator-only state of one credential (refresh tokens, session ids), in its own Secret that pods
// never mount. Every write is conditional on the resourceVersion read, so two writers (a deposed
// leader and its successor) can never both act on one single-use refresh token.
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { KIND, type ApiCredential } from '../api/apicredential.ts';
import { ProviderError, StateConflictError } from '../errors/failure.ts';
import type { StateStore } from '../providers/types.ts';
import {
  LABEL_CREDENTIAL,
  LABEL_MANAGED_BY,
  LABEL_ROLE,
  MANAGED_BY_VALUE,
  ownerReference,
} from './consumer.ts';
import { httpStatusOf } from '../kube/errors.ts';

export function stateSecretName(credentialName: string): string {
  return `${credentialName}.apicred-state`;
}

export class SecretStateStore implements StateStore {
  readonly #core: CoreV1Api;
  readonly #credential: ApiCredential;
  #resourceVersion: string | undefined;
  #loaded = false;
  #state: Record<string, string> = {};

  constructor(core: CoreV1Api, credential: ApiCredential) {
    this.#core = core;
    this.#credential = credential;
  }

  async read(): Promise<Readonly<Record<string, string>>> {
    const { namespace, name } = this.#credential.metadata;
    const secret = await this.#core
      .readNamespacedSecret({ name: stateSecretName(name), namespace })
      .catch((error: unknown) => {
        if (httpStatusOf(error) === 404) return undefined;
        throw error;
      });
    if (secret && !isStateOf(secret, name)) throw foreignStateError(namespace, name);
    this.#resourceVersion = secret?.metadata?.resourceVersion;
    this.#state = decode(secret?.data);
    this.#loaded = true;
    return { ...this.#state };
  }

  async write(state: Record<string, string>): Promise<void> {
    if (!this.#loaded) throw new Error('StateStore.write() before read(): the write would not be fenced');
    const { namespace, name } = this.#credential.metadata;
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: stateSecretName(name),
        namespace,
        resourceVersion: this.#resourceVersion,
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_CREDENTIAL]: name, [LABEL_ROLE]: 'state' },
        ownerReferences: ownerReference(this.#credential),
      },
      type: 'Opaque',
      data: Object.fromEntries(
        Object.entries(state).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
      ),
    };
    try {
      const written =
        this.#resourceVersion === undefined
          ? await this.#core.createNamespacedSecret({ namespace, body })
          : await this.#core.replaceNamespacedSecret({ name: stateSecretName(name), namespace, body });
      this.#resourceVersion = written.metadata?.resourceVersion;
      this.#state = { ...state };
    } catch (error) {
      if (httpStatusOf(error) === 409)
        throw new StateConflictError(
          `the state Secret ${namespace}/${stateSecretName(name)} was changed by another writer`,
        );
      throw error;
    }
  }
}

/**
 * Whether the Secret is the state the operator keeps for this credential: owned by an ApiCredential
 * of this name (a recreated one's predecessor counts; the write takes it over with the new owner).
 */
function isStateOf(secret: V1Secret, credentialName: string): boolean {
  return (secret.metadata?.ownerReferences ?? []).some(
    (ref) => ref.kind === KIND && ref.apiVersion.startsWith('apicred.dev/') && ref.name === credentialName,
  );
}

/** Transient: once the user deletes or renames that Secret, the next attempt creates the state. */
function foreignStateError(namespace: string, credentialName: string): ProviderError {
  const secretName = stateSecretName(credentialName);
  return new ProviderError({
    kind: 'transient',
    reason: 'StateSecretOwnedByOther',
    message:
      `Secret ${namespace}/${secretName} exists but the operator did not create it for this ApiCredential; ` +
      `it neither reads nor replaces it. The name ${secretName} holds the operator's own state: ` +
      'delete or rename that Secret, and the operator retries.',
  });
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}
