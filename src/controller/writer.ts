// The writes a plan lists, and the small interface apply() carries them out through. The real writer
// (kube-writer.ts) talks to the apiserver; unit tests use an in-memory one.
import type { V1Secret } from '@kubernetes/client-node';
import type { ApiCredential, ApiCredentialStatus, ProviderName } from '../api/apicredential.ts';
import type { EventTarget, EventType } from '../kube/events.ts';

export type LogLevel = 'debug' | 'info' | 'warn';

export type Write =
  /** The consumer Secret (SSA). `fresh`: a new token from the provider, between the crash points. */
  | { kind: 'secret'; body: V1Secret; fresh: boolean }
  /** Keep what was written in memory, to repair an edited Secret without a provider call. */
  | { kind: 'remember'; data: Record<string, string> }
  | { kind: 'status'; status: ApiCredentialStatus }
  | { kind: 'finalizers'; finalizers: string[] }
  | { kind: 'event'; type: EventType; reason: string; message: string }
  | {
      kind: 'token-metrics';
      provider: ProviderName;
      expiresAt?: number;
      ready: boolean;
      failures: number;
      /** Renewal stopped until a person changes something (the Stalled condition). */
      stalled: boolean;
    }
  | { kind: 'renewal-metrics'; provider: ProviderName; result: 'success' | 'failure'; seconds: number }
  | { kind: 'failure-metric'; provider: ProviderName; reason: string }
  | { kind: 'log'; level: LogLevel; fields: Record<string, unknown>; message: string };

/** What a plan leads to: the writes in order, and when to look at the credential again. */
export interface Plan {
  writes: Write[];
  /** Epoch ms; undefined means only on events. */
  requeueAt?: number;
  /** The pending-restart marker the written Secret carries, for the rollout step. */
  rolloutPending?: number;
}

/** The Kubernetes writes. Each records what the apiserver returned in the caches. */
export interface Writer {
  applySecret(body: V1Secret): Promise<void>;
  /** Merge-patches the status; fields the new status drops are removed. */
  patchStatus(credential: ApiCredential, status: ApiCredentialStatus): Promise<void>;
  /** Conditional on the credential's resourceVersion. */
  setFinalizers(credential: ApiCredential, finalizers: string[]): Promise<void>;
  /** Queues an Event; never throws. */
  emitEvent(target: EventTarget, type: EventType, reason: string, message: string): void;
}

/** An Event to emit. Positional, so an Event's reason is never mistaken for a condition's. */
export function eventWrite(type: EventType, reason: string, message: string): Write {
  return { kind: 'event', type, reason, message };
}
