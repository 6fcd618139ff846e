// What to do for one ApiCredential, decided from observed state only: no I/O, no clock of its own.
// The reconciler gathers the observation, calls decide(), and carries out the single action.
import { earliest } from './time.ts';

/** The consumer Secret as the operator finds it. */
export type OutputObservation =
  | { state: 'absent' }
  /** Exists but is not ours: another ApiCredential's, or created by someone else. */
  | { state: 'foreign'; owner: string }
  | {
      state: 'ours';
      /** Hash of the inputs that produced the token in it (annotation). */
      inputsHash: string | undefined;
      issuedAt: number | undefined;
      expiresAt: number | undefined;
      /** False when someone edited the data after the operator wrote it. */
      intact: boolean;
      /** True when the Secret carries every key the current spec asks for, and only the operator's labels/annotations need no change. */
      layoutCurrent: boolean;
    };

export interface FailureState {
  consecutiveFailures: number;
  /** Earliest time the next attempt may start, epoch ms. */
  retryAt: number | undefined;
  /** The last failure cannot be fixed by retrying: wait for the inputs to change. */
  terminal: boolean;
  /** Inputs hash at the last failed attempt. */
  inputsHash: string | undefined;
  /**
   * The spec was edited since the failure was recorded (generation past observedGeneration). Covers
   * what the hash cannot: a failure recorded without one (a spec refused before it could be hashed),
   * and an edit reverted to the inputs of the failed attempt.
   */
  specEdited?: boolean;
  /** A device grant waits for a person (status.userApproval): poll at retryAt, which is no failure's backoff. */
  awaitingApproval?: boolean;
}

export interface Observation {
  now: number;
  inputsHash: string;
  output: OutputObservation;
  /** The token the operator last wrote, still in memory, whose data digest matches what it recorded. */
  canRepairFromMemory: boolean;
  failure: FailureState;
  /** spec.secret.takeOver */
  takeOverAllowed: boolean;
  /** The refresh-requested-at annotation differs from the last one handled. */
  manualRefreshRequested: boolean;
  /** When renewal is due for the token in the Secret (from the renewal policy), epoch ms. */
  renewAt: number | undefined;
  /** Providers that must be polled even when the token has long to live (IDMP cloud checks), epoch ms. */
  checkAt: number | undefined;
  /** The Ready condition in the status says True: it still reports the token in the Secret as usable. */
  statusSaysReady: boolean;
}

export type Action =
  | { type: 'wait'; until: number | undefined }
  | { type: 'obtain'; why: ObtainReason }
  | { type: 'repair' }
  | { type: 'refuse'; reason: 'SecretOwnedByOther'; message: string }
  | { type: 'backoff'; until: number }
  /** Retrying cannot help until an input changes; look again when the token in the Secret expires. */
  | { type: 'stalled'; until: number | undefined }
  /**
   * Stalled or backing off, the token in the Secret has expired and the status still says Ready: write
   * the expired status, then look again at `until` (the next attempt; undefined when stalled).
   */
  | { type: 'expired'; expiredAt: number; until: number | undefined };

export type ObtainReason =
  | 'initial'
  | 'inputs-changed'
  | 'renewal-due'
  | 'expired'
  | 'manual'
  | 'drift'
  | 'check-due'
  | 'retry'
  | 'unknown-expiry';

export function decide(observation: Observation): Action {
  const { output, failure, now } = observation;

  if (output.state === 'foreign' && !observation.takeOverAllowed) {
    return {
      type: 'refuse',
      reason: 'SecretOwnedByOther',
      message:
        `the Secret already exists and belongs to ${output.owner}; the operator does not overwrite it. ` +
        'Choose another spec.secret.name, delete that Secret, or set spec.secret.takeOver: true to adopt it.',
    };
  }

  const inputsChanged =
    (failure.inputsHash !== undefined && failure.inputsHash !== observation.inputsHash) ||
    failure.specEdited === true;
  if (failure.terminal && !inputsChanged && !observation.manualRefreshRequested)
    return waitOutFailure(observation, 'stalled', undefined);

  const wanted = wantedObtain(observation);
  if (wanted === undefined) {
    if (
      output.state === 'ours' &&
      (!output.intact || !output.layoutCurrent) &&
      observation.canRepairFromMemory
    ) {
      return { type: 'repair' };
    }
    return { type: 'wait', until: earliest(observation.renewAt, observation.checkAt) };
  }

  // Repeated failures wait for their backoff, and a pending approval for its next poll, unless the
  // inputs changed or a person asked for a retry.
  const waiting = failure.consecutiveFailures > 0 || failure.awaitingApproval === true;
  if (waiting && failure.retryAt !== undefined && failure.retryAt > now) {
    if (!inputsChanged && !observation.manualRefreshRequested)
      return waitOutFailure(observation, 'backoff', failure.retryAt);
  }
  return {
    type: 'obtain',
    why: failure.consecutiveFailures > 0 && wanted === 'renewal-due' ? 'retry' : wanted,
  };
}

/**
 * Waiting out a failure keeps the last good token, but the status must say so when that token runs
 * out: wake at its expiry, and once it has passed, report it (once: then the status no longer says Ready).
 */
function waitOutFailure(
  observation: Observation,
  type: 'stalled' | 'backoff',
  retryAt: number | undefined,
): Action {
  const { output, now } = observation;
  const expiresAt = output.state === 'ours' ? output.expiresAt : undefined;
  const expired = expiresAt !== undefined && expiresAt <= now;
  if (expired && observation.statusSaysReady)
    return { type: 'expired', expiredAt: expiresAt, until: retryAt };
  const until = expired ? retryAt : earliest(retryAt, expiresAt);
  if (type === 'stalled') return { type: 'stalled', until };
  return { type: 'backoff', until: until ?? now };
}

function wantedObtain(observation: Observation): ObtainReason | undefined {
  const { output, now } = observation;
  if (output.state !== 'ours') return 'initial';
  if (output.inputsHash !== observation.inputsHash) return 'inputs-changed';
  // The inputs changed since the last failed attempt (someone fixed the Secret, even back to the values
  // the current token came from): try them now rather than at the next renewal.
  const { failure } = observation;
  if (
    failure.consecutiveFailures > 0 &&
    failure.inputsHash !== undefined &&
    failure.inputsHash !== observation.inputsHash
  )
    return 'inputs-changed';
  if (observation.manualRefreshRequested) return 'manual';
  if (output.expiresAt === undefined || output.issuedAt === undefined) return 'unknown-expiry';
  if (output.expiresAt <= now) return 'expired';
  if (!output.intact && !observation.canRepairFromMemory) return 'drift';
  if (observation.renewAt !== undefined && observation.renewAt <= now) return 'renewal-due';
  if (observation.checkAt !== undefined && observation.checkAt <= now) return 'check-due';
  if ((failure.consecutiveFailures > 0 || failure.awaitingApproval === true) && failure.retryAt !== undefined)
    return 'retry';
  return undefined;
}
