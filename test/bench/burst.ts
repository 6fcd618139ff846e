// A creation burst during a renewal round (issue #16 goal 4): how long the new credentials take to
// Ready, and how late the existing ones renew while they go in. Pure, so the unit tier checks it.
import { summarize, type Summary } from './stats.ts';
import type { Renewal } from './tracker.ts';

/** Renewal lateness goal, p99 (issue #7). */
export const LATENESS_P99_GOAL_MS = 2_000;

export interface BurstResult {
  credentials: number;
  /** When the first create was sent, relative to the first renewal the round had due (negative: before). */
  startedAfterFirstDueMs: number;
  /** The last create sent, from the first. */
  createdMs: number;
  /** First create sent to the last new credential seen Ready. */
  allReadyMs: number;
  /** Per new credential: its create sent to it seen Ready. */
  createToReadyMs: Summary | undefined;
  /** Renewals of the existing credentials that were due between the first create and the last Ready. */
  renewalsDuring: number;
  latenessDuringMs: Summary | undefined;
  /** Whether the existing credentials' p99 lateness during the burst was under the goal. */
  latenessGoalMet: boolean;
  /** Why renewals waited, from the operator's metrics over the burst (sampled every second). */
  diagnosis?: {
    /** The deepest the work queue was: a due renewal waits behind that many items (FIFO). */
    peakQueueDepth: number;
    /** Provider calls that waited for their host's bucket, and for how long in all. */
    rateLimitWaits: number;
    rateLimitWaitSeconds: number;
  };
}

export interface BurstObservation {
  /** Create sent, per new credential, epoch ms. */
  createdAt: ReadonlyMap<string, number>;
  /** First seen Ready, for every credential the tracker saw (new and old), epoch ms. */
  readyAt: ReadonlyMap<string, number>;
  /** Every renewal the tracker saw. */
  renewals: readonly Renewal[];
  /** The first renewal the round had due, epoch ms. */
  firstDueAt: number;
}

export function summarizeBurst(observation: BurstObservation): BurstResult {
  const { createdAt, readyAt, renewals } = observation;
  const created = [...createdAt.values()];
  if (created.length === 0) throw new RangeError('a burst of no credentials');
  const start = Math.min(...created);
  const createToReady: number[] = [];
  let lastReady = start;
  for (const [name, at] of createdAt) {
    const ready = readyAt.get(name);
    if (ready === undefined) continue; // not Ready: counted by allReadyMs being undefined upstream
    createToReady.push(ready - at);
    lastReady = Math.max(lastReady, ready);
  }
  // A renewal belongs to the burst when it was due inside it: one due just before that ran late
  // because of the burst counts too, one due after the last Ready does not.
  const during = renewals.filter(
    (renewal) => !createdAt.has(renewal.credential) && renewal.planned <= lastReady && renewal.at >= start,
  );
  const lateness = summarize(during.map((renewal) => renewal.latenessMs));
  return {
    credentials: created.length,
    startedAfterFirstDueMs: start - observation.firstDueAt,
    createdMs: Math.max(...created) - start,
    allReadyMs: lastReady - start,
    createToReadyMs: summarize(createToReady),
    renewalsDuring: during.length,
    latenessDuringMs: lateness,
    latenessGoalMet: lateness !== undefined && lateness.p99 < LATENESS_P99_GOAL_MS,
  };
}
