import { describe, expect, it } from 'vitest';
import { summarizeBurst } from '../bench/burst.ts';
import type { Renewal } from '../bench/tracker.ts';

const renewal = (credential: string, planned: number, at: number): Renewal => ({
  credential,
  planned,
  at,
  latenessMs: at - planned,
});

describe('summarizeBurst', () => {
  const createdAt = new Map([
    ['cred-00010', 1_000],
    ['cred-00011', 1_500],
  ]);
  const readyAt = new Map([
    ['cred-00001', 100], // an existing credential, Ready long before
    ['cred-00010', 4_000],
    ['cred-00011', 2_000],
  ]);

  it('times the burst from its first create to its last Ready, and each credential from its own create', () => {
    const result = summarizeBurst({ createdAt, readyAt, renewals: [], firstDueAt: 800 });
    expect(result.credentials).toBe(2);
    expect(result.startedAfterFirstDueMs).toBe(200);
    expect(result.createdMs).toBe(500);
    expect(result.allReadyMs).toBe(3_000);
    expect(result.createToReadyMs?.p50).toBe(500);
    expect(result.createToReadyMs?.max).toBe(3_000);
    // No renewal was due meanwhile: nothing shows the goal was met.
    expect(result.renewalsDuring).toBe(0);
    expect(result.latenessGoalMet).toBe(false);
  });

  it('judges the renewals of existing credentials due while the burst went in, not those before or after', () => {
    const renewals = [
      renewal('cred-00001', 500, 600), // done before the first create
      renewal('cred-00002', 900, 1_200), // due before, run during: the burst may have delayed it
      renewal('cred-00003', 3_000, 3_100),
      renewal('cred-00004', 4_500, 4_600), // due after the last Ready
      renewal('cred-00010', 3_500, 9_000), // a burst credential's own renewal is not the storm's
    ];
    const result = summarizeBurst({ createdAt, readyAt, renewals, firstDueAt: 800 });
    expect(result.renewalsDuring).toBe(2);
    expect(result.latenessDuringMs?.max).toBe(300);
    expect(result.latenessGoalMet).toBe(true);
  });

  it('misses the goal when the p99 lateness meanwhile is 2 s or more', () => {
    const renewals = Array.from({ length: 100 }, (_, i) =>
      renewal(`cred-${String(i).padStart(5, '0')}`, 2_000, i < 98 ? 2_010 : 4_000),
    );
    const result = summarizeBurst({ createdAt, readyAt, renewals, firstDueAt: 800 });
    expect(result.latenessDuringMs?.p99).toBe(2_000);
    expect(result.latenessGoalMet).toBe(false);
  });

  it('refuses a burst of no credentials', () => {
    expect(() => summarizeBurst({ createdAt: new Map(), readyAt, renewals: [], firstDueAt: 0 })).toThrow(
      RangeError,
    );
  });
});
