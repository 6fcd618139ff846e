import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import {
  ROLLOUT_BACKOFF,
  distinctTargets,
  pendingMarkerForWrite,
  planRollout,
  rolloutStep,
  type RolloutObservation,
  type RolloutTarget,
  type TargetState,
} from './rollout.ts';

const SEC = 1000;
const MIN = 60 * SEC;
const INTERVAL = MIN;
const api: RolloutTarget = { kind: 'Deployment', name: 'orders-api' };
const db: RolloutTarget = { kind: 'StatefulSet', name: 'orders-db' };
const agent: RolloutTarget = { kind: 'DaemonSet', name: 'node-agent' };

const found = (podsStartedAt: number | undefined, lastRestartAt?: number): TargetState => ({
  state: 'found',
  podsStartedAt,
  lastRestartAt,
});

function observe(
  clock: ManualClock,
  pending: number,
  targets: [RolloutTarget, TargetState][],
  random = () => 0.5,
): RolloutObservation {
  return {
    now: clock.now(),
    pending,
    minIntervalMs: INTERVAL,
    targets: targets.map(([target, observed]) => ({ target, observed })),
    random,
  };
}

describe('pendingMarkerForWrite', () => {
  const base = { hasTargets: true, tokenChanged: true, hadToken: true, pending: undefined, now: 5_000 };

  it('a new token replacing one that pods may hold starts a pending restart now', () => {
    expect(pendingMarkerForWrite(base)).toBe(5_000);
  });

  it('a later change moves the marker to the newest token, so the restart carries it', () => {
    expect(pendingMarkerForWrite({ ...base, pending: 1_000 })).toBe(5_000);
  });

  it('the first token of a new credential restarts nothing: no pod can hold an older one', () => {
    expect(pendingMarkerForWrite({ ...base, hadToken: false })).toBeUndefined();
  });

  it('a write that keeps the token (a check, a repair) carries a pending marker on and starts none', () => {
    expect(pendingMarkerForWrite({ ...base, tokenChanged: false })).toBeUndefined();
    expect(pendingMarkerForWrite({ ...base, tokenChanged: false, pending: 1_000 })).toBe(1_000);
  });

  it('without targets there is never a marker, and a stale one is dropped', () => {
    expect(pendingMarkerForWrite({ ...base, hasTargets: false })).toBeUndefined();
    expect(pendingMarkerForWrite({ ...base, hasTargets: false, pending: 1_000 })).toBeUndefined();
  });
});

describe('distinctTargets', () => {
  it('restarts a workload named twice only once, keeping the order', () => {
    expect(distinctTargets([api, db, { ...api }, agent, db])).toEqual([api, db, agent]);
  });

  it('the same name under another kind is another workload', () => {
    const sameName: RolloutTarget = { kind: 'StatefulSet', name: 'orders-api' };
    expect(distinctTargets([api, sameName])).toEqual([api, sameName]);
  });
});

describe('rolloutStep', () => {
  it('nothing pending (a quiet restart of the operator): no workload is even read', () => {
    expect(rolloutStep(undefined, 3)).toEqual({ type: 'none' });
    expect(rolloutStep(undefined, 0)).toEqual({ type: 'none' });
  });

  it('targets removed from the spec while a restart was pending: only the marker is cleared', () => {
    expect(rolloutStep(1_000, 0)).toEqual({ type: 'clear-marker' });
  });

  it('something pending and targets named: look at them', () => {
    expect(rolloutStep(1_000, 2)).toEqual({ type: 'inspect' });
  });
});

describe('planRollout', () => {
  it('first change: restarts every target whose pods started before it, then clears the marker', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    clock.advance(50);
    const plan = planRollout(
      observe(clock, changedAt, [
        [api, found(changedAt - 3_600 * SEC)],
        [db, found(changedAt - 10 * SEC, changedAt - 2 * MIN)],
        [agent, found(undefined)],
      ]),
    );
    expect(plan.targets.map((t) => t.decision)).toEqual([
      { type: 'restart' },
      { type: 'restart' },
      { type: 'restart' },
    ]);
    expect(plan.clearMarkerAfterRestarts).toBe(true);
    expect(plan.requeueAt).toBeUndefined();
  });

  it('several changes within the interval: one restart now, the newest token at the interval end', () => {
    const clock = new ManualClock();
    // Change 1, restarted at once.
    const first = clock.now();
    clock.advance(100);
    expect(planRollout(observe(clock, first, [[api, found(first - MIN)]])).targets[0]?.decision).toEqual({
      type: 'restart',
    });
    const restartedAt = clock.now();
    // Changes 2 and 3 come 10 s and 20 s later; the marker holds the newest.
    clock.advance(10 * SEC);
    const second = clock.now();
    clock.advance(10 * SEC);
    const third = pendingMarkerForWrite({
      hasTargets: true,
      tokenChanged: true,
      hadToken: true,
      pending: second,
      now: clock.now(),
    });
    expect(third).toBe(clock.now());
    const deferred = planRollout(observe(clock, third ?? 0, [[api, found(restartedAt, restartedAt)]]));
    expect(deferred.targets[0]?.decision).toEqual({ type: 'defer', until: restartedAt + INTERVAL });
    expect(deferred.requeueAt).toBe(restartedAt + INTERVAL);
    expect(deferred.clearMarkerAfterRestarts).toBe(false);
    // One millisecond early it still waits; at the interval end it restarts for the newest token.
    clock.set(restartedAt + INTERVAL - 1);
    expect(
      planRollout(observe(clock, third ?? 0, [[api, found(restartedAt, restartedAt)]])).targets[0]?.decision,
    ).toEqual({ type: 'defer', until: restartedAt + INTERVAL });
    clock.set(restartedAt + INTERVAL);
    const due = planRollout(observe(clock, third ?? 0, [[api, found(restartedAt, restartedAt)]]));
    expect(due.targets[0]?.decision).toEqual({ type: 'restart' });
    expect(due.clearMarkerAfterRestarts).toBe(true);
  });

  it('a crash after the token write: the marker survives and the restart happens after it', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    clock.advance(5 * MIN); // the operator was down a while
    const plan = planRollout(
      observe(clock, changedAt, [[api, found(changedAt - MIN, changedAt - 10 * MIN)]]),
    );
    expect(plan.targets[0]?.decision).toEqual({ type: 'restart' });
  });

  it('a crash after the patch but before the marker was cleared: no second restart, just clear it', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    clock.advance(10);
    const patchedAt = clock.now();
    clock.advance(MIN);
    const plan = planRollout(observe(clock, changedAt, [[api, found(patchedAt, patchedAt)]]));
    expect(plan.targets[0]?.decision).toEqual({ type: 'current' });
    expect(plan.clearMarkerAfterRestarts).toBe(true);
  });

  it('pods started after the change (created later, or restarted by hand) need no restart', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    clock.advance(SEC);
    const plan = planRollout(
      observe(clock, changedAt, [
        [api, found(changedAt + 500)],
        [db, found(changedAt, undefined)],
      ]),
    );
    expect(plan.targets.map((t) => t.decision.type)).toEqual(['current', 'current']);
    expect(plan.clearMarkerAfterRestarts).toBe(true);
  });

  it('a target that could not be read is retried with growing backoff, and the marker stays', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    const failing = (failures: number) =>
      planRollout(
        observe(
          clock,
          changedAt,
          [
            [api, found(changedAt - MIN)],
            [db, { state: 'failed', problem: 'NotFound', failures }],
          ],
          () => 0.999,
        ),
      );
    const first = failing(1);
    expect(first.targets[0]?.decision).toEqual({ type: 'restart' });
    expect(first.targets[1]?.decision).toEqual({
      type: 'retry',
      at: clock.now() + Math.floor(0.999 * ROLLOUT_BACKOFF.baseMs),
      problem: 'NotFound',
      failures: 1,
    });
    expect(first.clearMarkerAfterRestarts).toBe(false);
    expect(first.requeueAt).toBe(clock.now() + Math.floor(0.999 * ROLLOUT_BACKOFF.baseMs));
    const later = failing(20);
    expect(later.requeueAt).toBe(clock.now() + Math.floor(0.999 * ROLLOUT_BACKOFF.capMs));
  });

  it('a target still backing off waits for its retry time without being read', () => {
    const clock = new ManualClock();
    const plan = planRollout(
      observe(clock, clock.now(), [[agent, { state: 'backing-off', retryAt: clock.now() + 7 * SEC }]]),
    );
    expect(plan.targets[0]?.decision).toEqual({ type: 'retry', at: clock.now() + 7 * SEC });
    expect(plan.requeueAt).toBe(clock.now() + 7 * SEC);
    expect(plan.clearMarkerAfterRestarts).toBe(false);
  });

  it('waits for the earliest of several deferrals and retries', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    clock.advance(20 * SEC);
    const plan = planRollout(
      observe(clock, changedAt, [
        [api, found(changedAt - SEC, changedAt - SEC)], // free again at changedAt + 59 s
        [agent, { state: 'backing-off', retryAt: changedAt + 30 * SEC }],
      ]),
    );
    expect(plan.requeueAt).toBe(changedAt + 30 * SEC);
  });

  it('a target removed from the spec is no longer waited for', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    const withBoth = planRollout(
      observe(clock, changedAt, [
        [api, found(changedAt + 1)],
        [db, { state: 'failed', problem: 'NotFound', failures: 3 }],
      ]),
    );
    expect(withBoth.clearMarkerAfterRestarts).toBe(false);
    const dbRemoved = planRollout(observe(clock, changedAt, [[api, found(changedAt + 1)]]));
    expect(dbRemoved.clearMarkerAfterRestarts).toBe(true);
    expect(dbRemoved.requeueAt).toBeUndefined();
  });

  it('an interval of zero never defers', () => {
    const clock = new ManualClock();
    const changedAt = clock.now();
    const plan = planRollout({
      ...observe(clock, changedAt, [[api, found(changedAt - 1, changedAt - 1)]]),
      minIntervalMs: 0,
    });
    expect(plan.targets[0]?.decision).toEqual({ type: 'restart' });
  });
});
