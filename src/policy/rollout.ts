// Rollout restarts of the workloads named in spec.rolloutRestartTargets, decided from observed state
// only. A token change leaves a pending marker (a time) on the consumer Secret; a workload whose pods
// were last (re)started before that time needs a restart, at most one per minimum interval; once
// every target has restarted since the marker, the marker is cleared. Nothing pending, nothing done.
import { nextAttemptAt, type BackoffPolicy } from './backoff.ts';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export interface RolloutTarget {
  kind: WorkloadKind;
  name: string;
}

/** Why a workload could not be read or patched, in the terms a user acts on. */
export type TargetProblem = 'NotFound' | 'Forbidden' | 'Conflict' | 'Error';

/** Retries of a failing target: 2 s doubling to 5 min. */
export const ROLLOUT_BACKOFF: Readonly<BackoffPolicy> = { baseMs: 2_000, capMs: 5 * 60_000, minMs: 1_000 };

/** When to try a target again after `failures` consecutive failures (1 = the first). */
export function rolloutRetryAt(failures: number, now: number, random: () => number): number {
  return nextAttemptAt({ failures, now, random, policy: ROLLOUT_BACKOFF });
}

/**
 * The marker to write with the consumer Secret. A new token that replaces an earlier one (which
 * running pods may hold) starts a pending restart at `now`; otherwise a pending one is carried on,
 * and without targets there is nothing to restart.
 */
export function pendingMarkerForWrite(input: {
  hasTargets: boolean;
  /** The token data differs from what the Secret held. */
  tokenChanged: boolean;
  /** A token was handed out before (the Secret existed, or the status records an issue time). */
  hadToken: boolean;
  /** The marker the Secret carries now, epoch ms. */
  pending: number | undefined;
  now: number;
}): number | undefined {
  if (!input.hasTargets) return undefined;
  if (input.tokenChanged && input.hadToken) return input.now;
  return input.pending;
}

/** The targets with repeats removed: one workload is restarted once, not once per mention. */
export function distinctTargets(targets: readonly RolloutTarget[]): RolloutTarget[] {
  const seen = new Set<string>();
  return targets.filter(({ kind, name }) => {
    const key = `${kind}/${name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What the reconciler does about restarts before looking at any workload. */
export type RolloutStep = { type: 'none' } | { type: 'clear-marker' } | { type: 'inspect' };

export function rolloutStep(pending: number | undefined, targetCount: number): RolloutStep {
  if (pending === undefined) return { type: 'none' };
  // The targets were removed from the spec while a restart was pending: nothing left to restart.
  if (targetCount === 0) return { type: 'clear-marker' };
  return { type: 'inspect' };
}

/** A target as the reconciler found it. */
export type TargetState =
  | {
      state: 'found';
      /** The latest of: its creation, the operator's last restart, a `kubectl rollout restart`. */
      podsStartedAt: number | undefined;
      /** When the operator last restarted it, for the minimum interval. */
      lastRestartAt: number | undefined;
    }
  /** Failed recently and its retry time has not come: not read again yet. */
  | { state: 'backing-off'; retryAt: number }
  | { state: 'failed'; problem: TargetProblem; failures: number };

export interface TargetObservation {
  target: RolloutTarget;
  observed: TargetState;
}

export interface RolloutObservation {
  now: number;
  /** The pending marker: restart what started before this time, epoch ms. */
  pending: number;
  minIntervalMs: number;
  targets: TargetObservation[];
  /** Uniform in [0, 1), for backoff jitter. */
  random: () => number;
}

export type TargetDecision =
  /** Its pods started after the token changed: they read the new one. */
  | { type: 'current' }
  | { type: 'restart' }
  /** Restarted less than the minimum interval ago: restart when it has passed. */
  | { type: 'defer'; until: number }
  | { type: 'retry'; at: number; problem?: TargetProblem; failures?: number };

export interface RolloutPlan {
  targets: { target: RolloutTarget; decision: TargetDecision }[];
  /** Clear the marker once every restart in the plan has succeeded: no target is left behind. */
  clearMarkerAfterRestarts: boolean;
  /** When to look again, epoch ms; undefined when nothing is left. */
  requeueAt: number | undefined;
}

export function planRollout(observation: RolloutObservation): RolloutPlan {
  const { now, pending, minIntervalMs } = observation;
  const targets = observation.targets.map(({ target, observed }) => ({
    target,
    decision: decideTarget(observed, now, pending, minIntervalMs, observation.random),
  }));
  const waits = targets.flatMap(({ decision }) =>
    decision.type === 'defer' ? [decision.until] : decision.type === 'retry' ? [decision.at] : [],
  );
  return {
    targets,
    clearMarkerAfterRestarts: waits.length === 0,
    requeueAt: waits.length === 0 ? undefined : Math.min(...waits),
  };
}

function decideTarget(
  observed: TargetState,
  now: number,
  pending: number,
  minIntervalMs: number,
  random: () => number,
): TargetDecision {
  switch (observed.state) {
    case 'backing-off':
      return { type: 'retry', at: observed.retryAt };
    case 'failed':
      return {
        type: 'retry',
        at: rolloutRetryAt(observed.failures, now, random),
        problem: observed.problem,
        failures: observed.failures,
      };
    case 'found': {
      if (observed.podsStartedAt !== undefined && observed.podsStartedAt >= pending)
        return { type: 'current' };
      const allowedAt = observed.lastRestartAt === undefined ? now : observed.lastRestartAt + minIntervalMs;
      return allowedAt > now ? { type: 'defer', until: allowedAt } : { type: 'restart' };
    }
  }
}
