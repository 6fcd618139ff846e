// What to do for one ApiCredential, decided from observed state only: no I/O, no clock of its own.
// The reconciler gathers the observation, calls decide(), and carries out the single action.

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
}

export type Action =
  | { type: 'wait'; until: number | undefined }
  | { type: 'obtain'; why: ObtainReason }
  | { type: 'repair' }
  | { type: 'refuse'; reason: 'SecretOwnedByOther'; message: string }
  | { type: 'backoff'; until: number }
  /** Retrying cannot help until an input changes; look again when the token in the Secret expires. */
  | { type: 'stalled'; until: number | undefined }
  /** Stalled, and the token in the Secret has expired: write the expired status, then wait for inputs. */
  | { type: 'expired'; expiredAt: number };

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

  const inputsChanged = failure.inputsHash !== undefined && failure.inputsHash !== observation.inputsHash;
  if (failure.terminal && !inputsChanged && !observation.manualRefreshRequested) return stalled(observation);

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

  // Repeated failures wait for their backoff, unless the inputs changed or a person asked for a retry.
  if (failure.consecutiveFailures > 0 && failure.retryAt !== undefined && failure.retryAt > now) {
    if (!inputsChanged && !observation.manualRefreshRequested)
      return { type: 'backoff', until: failure.retryAt };
  }
  return {
    type: 'obtain',
    why: failure.consecutiveFailures > 0 && wanted === 'renewal-due' ? 'retry' : wanted,
  };
}

/** A stall keeps the last good token, but must still say so when that token runs out. */
function stalled({ output, now }: Observation): Action {
  const expiresAt = output.state === 'ours' ? output.expiresAt : undefined;
  if (expiresAt === undefined) return { type: 'stalled', until: undefined };
  return expiresAt <= now ? { type: 'expired', expiredAt: expiresAt } : { type: 'stalled', until: expiresAt };
}

function wantedObtain(observation: Observation): ObtainReason | undefined {
  const { output, now } = observation;
  if (output.state !== 'ours') return 'initial';
  if (output.inputsHash !== observation.inputsHash) return 'inputs-changed';
  if (observation.manualRefreshRequested) return 'manual';
  if (output.expiresAt === undefined || output.issuedAt === undefined) return 'unknown-expiry';
  if (output.expiresAt <= now) return 'expired';
  if (!output.intact && !observation.canRepairFromMemory) return 'drift';
  if (observation.renewAt !== undefined && observation.renewAt <= now) return 'renewal-due';
  if (observation.checkAt !== undefined && observation.checkAt <= now) return 'check-due';
  if (observation.failure.consecutiveFailures > 0 && observation.failure.retryAt !== undefined)
    return 'retry';
  return undefined;
}

function earliest(...times: (number | undefined)[]): number | undefined {
  const defined = times.filter((time): time is number => time !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}
