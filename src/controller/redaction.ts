// What the controller registers with the redactor, and what it keeps from being redacted. Pure.
// Only credentials are registered: client ids, user names, token types and expiry times are not
// secret, and registering them erased every text that contained them (a client_id `orders` turned
// the credential `ns/orders` into `ns/[redacted]`). Identity is kept even when a secret equals it:
// a secret spelled like a name visible to every reader of the namespace is disclosed by that name
// already, while redacting it would hide which object a message is about.
import type { ApiCredential, ApiCredentialSpec } from '../api/apicredential.ts';
import type { InputReference, StateStore, TokenProvider } from '../providers/types.ts';
import { stateSecretName } from '../secrets/state.ts';

/** Whether a consumer Secret key holds something other than a credential. */
export function publicOutputKey(
  keys: ApiCredentialSpec['secret']['keys'],
  provider: Pick<TokenProvider<unknown>, 'isPublicOutput'>,
): (key: string) => boolean {
  return (key) =>
    key === keys.tokenType || key === keys.expiresAt || (provider.isPublicOutput?.(key) ?? false);
}

/** The values of a consumer Secret's data that are credentials: the tokens. */
export function tokenSecrets(
  data: Readonly<Record<string, string>>,
  isPublic: (key: string) => boolean,
): string[] {
  return Object.entries(data)
    .filter(([key]) => !isPublic(key))
    .map(([, value]) => value);
}

/**
 * The texts that name the credential and the objects it refers to: its namespace, name and key, the
 * consumer and state Secrets, and every referenced Secret or ConfigMap. Never redacted.
 */
export function identityOf(
  credential: ApiCredential,
  secretName: string,
  refs: readonly InputReference[],
): string[] {
  const { namespace, name } = credential.metadata;
  const names = new Set([
    `${namespace}/${name}`,
    namespace,
    name,
    secretName,
    `${namespace}/${secretName}`,
    stateSecretName(name),
  ]);
  for (const ref of refs) {
    names.add(ref.name);
    names.add(`${namespace}/${ref.name}`);
  }
  return [...names].filter((text) => text !== '');
}

/**
 * A StateStore that reports the credentials under `secretKeys` (a refresh token) as it reads them,
 * and before it writes them, so that they are redacted from then on.
 */
export class ReportingStateStore implements StateStore {
  readonly #inner: StateStore;
  readonly #secretKeys: readonly string[];
  readonly #report: (value: string) => void;

  constructor(inner: StateStore, secretKeys: readonly string[], report: (value: string) => void) {
    this.#inner = inner;
    this.#secretKeys = secretKeys;
    this.#report = report;
  }

  async read(): Promise<Readonly<Record<string, string>>> {
    const state = await this.#inner.read();
    this.#reportSecrets(state);
    return state;
  }

  async write(state: Record<string, string>): Promise<void> {
    this.#reportSecrets(state);
    await this.#inner.write(state);
  }

  #reportSecrets(state: Readonly<Record<string, string>>): void {
    for (const key of this.#secretKeys) {
      const value = state[key];
      if (value !== undefined && value !== '') this.#report(value);
    }
  }
}
