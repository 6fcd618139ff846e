// The LeaderElector's behaviour against an apiserver (stepping down when renewals hang, handing the
// lease over) is tested against the real one: test/integration/leader-elector-partition.test.ts and
// leader-election.test.ts. What needs no server is here.
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../policy/clock.ts';
import { LeaderElector } from './leader-election.ts';

function electorWith(timings: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }) {
  const kubeConfig = new KubeConfig();
  // Never contacted: the constructor only builds a client.
  kubeConfig.loadFromClusterAndUser(
    { name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: false },
    { name: 'none' },
  );
  return new LeaderElector({
    kubeConfig,
    namespace: 'ns',
    name: 'lease',
    identity: 'replica-a',
    clock: systemClock,
    ...timings,
    onStartedLeading: () => undefined,
    onStoppedLeading: () => undefined,
  });
}

describe('LeaderElector options', () => {
  it("accepts client-go's proportions", () => {
    expect(
      electorWith({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }).isLeader,
    ).toBe(false);
  });

  it.each([
    { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    { leaseDurationMs: 15_000, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 },
  ])('rejects timings without leaseDuration > renewDeadline > 1.2 × retryPeriod: %o', (timings) => {
    expect(() => electorWith(timings)).toThrow(RangeError);
  });
});
