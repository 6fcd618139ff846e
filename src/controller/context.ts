// The values one reconcile passes between its steps: what it observed, and the controller's memory
// of the token it last wrote.
import type { V1Secret } from '@kubernetes/client-node';
import type { ApiCredential, ApiCredentialSpec } from '../api/apicredential.ts';
import type { SecretView } from '../kube/secret-view.ts';
import type { Observation } from '../policy/decide.ts';
import type { SelectedProvider } from '../providers/registry.ts';
import type { ProviderNeeds } from '../providers/types.ts';

/** What the operator last wrote per credential, to repair an edited Secret without a provider call. */
export interface WrittenToken {
  data: Record<string, string>;
  digest: string;
}

export type TokenMemory = Map<string, WrittenToken>;

/** The caches a reconcile reads; nothing else is read before the provider call. */
export interface Caches {
  credential(key: string): ApiCredential | undefined;
  secret(namespace: string, name: string): SecretView | undefined;
  configMap(namespace: string, name: string): SecretView | undefined;
  /** What a write returned: later reads must not act on an older copy the watch has not replaced yet. */
  wroteCredential(object: ApiCredential): void;
  wroteSecret(object: V1Secret): void;
}

/** What one reconcile knows about its credential once it has observed it. */
export interface ReconcileContext {
  credential: ApiCredential;
  spec: ApiCredentialSpec;
  selected: SelectedProvider;
  needs: ProviderNeeds;
  hash: string;
  secretName: string;
  view: SecretView | undefined;
  observation: Observation;
  issuedAt?: number;
  expiresAt?: number;
  renewAt?: number;
  /** Token change whose rollout restarts are pending (marker on the Secret). */
  rolloutPending?: number;
}
