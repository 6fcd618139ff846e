// Leader election on a coordination.k8s.io Lease with client-go's semantics: a lease is taken over
// only after it went unchanged for leaseDuration as observed on OUR clock (holders' clocks may be
// skewed), renewals are optimistic replaces on resourceVersion, and a leader that cannot renew
// within renewDeadline gives up at once. Leadership is not fencing: state writes are RV-fenced too.
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Clock } from '../policy/clock.ts';
import { httpStatusOf } from './errors.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  /** Called once when leadership is lost; the process is expected to stop acting at once. */
  onStoppedLeading: () => void;
  onError?: (error: unknown) => void;
}

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
const JITTER = 1.2;

/** The attempt's outcome, or false once `ms` have passed without one (the attempt is left to settle). */
async function within(attempt: Promise<boolean>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      attempt,
      sleep(Math.max(0, ms), false, { signal: timer.signal }).catch(() => false),
    ]);
  } finally {
    timer.abort();
  }
}

export class LeaderElector {
  readonly #options: Required<Omit<LeaderElectionOptions, 'onError'>> &
    Pick<LeaderElectionOptions, 'onError'>;
  readonly #api: CoordinationV1Api;
  readonly #stop = new AbortController();
  #observedResourceVersion: string | undefined;
  #observedAt = 0;
  #lastRenewAt = 0;
  #leading = false;
  #lease: V1Lease | undefined;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectionOptions) {
    this.#options = {
      leaseDurationMs: DEFAULT_LEASE_DURATION_MS,
      renewDeadlineMs: DEFAULT_RENEW_DEADLINE_MS,
      retryPeriodMs: DEFAULT_RETRY_PERIOD_MS,
      ...options,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.#options;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > JITTER * retryPeriodMs)) {
      throw new RangeError('leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod');
    }
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Campaigns until leader, then renews until stopped or leadership is lost. */
  async run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, clock } = this.#options;
    const signal = this.#stop.signal;
    while (!signal.aborted && !(await this.#tryAcquireOrRenew())) {
      await sleep(retryPeriodMs * (1 + Math.random() * (JITTER - 1)), undefined, { signal }).catch(
        () => undefined,
      );
    }
    if (this.#stopped()) return;
    this.#leading = true;
    this.#options.onStartedLeading();
    while (!this.#stopped()) {
      await sleep(retryPeriodMs, undefined, { signal }).catch(() => undefined);
      if (this.#stopped()) break;
      // As in client-go, a renewal gets only what is left of the renew deadline: a request that
      // hangs (a dead link drops every packet) must not keep this replica acting as the leader
      // after another one has taken the lease over.
      const left = this.#lastRenewAt + renewDeadlineMs - clock.now();
      if (await within(this.#tryAcquireOrRenew(), left)) continue;
      if (clock.now() - this.#lastRenewAt >= renewDeadlineMs) {
        this.#leading = false;
        this.#options.onStoppedLeading();
        return;
      }
    }
  }

  /** Stops campaigning; when leading, hands the lease over at once (only after all work has stopped). */
  async release(): Promise<void> {
    this.#stop.abort();
    // A renewal racing with us would make our replace conflict; one that hangs must not block exit.
    await within(
      this.#inFlight.then(() => true),
      this.#options.renewDeadlineMs,
    );
    if (!this.#leading) return;
    this.#leading = false;
    const { namespace, name, identity } = this.#options;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        const lease =
          attempt === 0 && this.#lease
            ? this.#lease
            : await this.#api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        await this.#api.replaceNamespacedLease({
          name,
          namespace,
          body: {
            ...lease,
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              renewTime: new V1MicroTime(this.#options.clock.now()),
            },
          },
        });
        return;
      } catch (error) {
        if (httpStatusOf(error) === 409) continue;
        this.#options.onError?.(error);
        return;
      }
    }
  }

  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  #tryAcquireOrRenew(): Promise<boolean> {
    const attempt = this.#attempt();
    this.#inFlight = attempt.then(() => undefined);
    return attempt;
  }

  async #attempt(): Promise<boolean> {
    const { namespace, name, identity, clock, leaseDurationMs } = this.#options;
    const now = clock.now();
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(leaseDurationMs / 1000),
      renewTime: new V1MicroTime(now),
    };
    let current: V1Lease;
    try {
      current = await this.#api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (httpStatusOf(error) !== 404) {
        this.#options.onError?.(error);
        return false;
      }
      try {
        this.#lease = await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { ...spec, acquireTime: new V1MicroTime(now), leaseTransitions: 0 },
          },
        });
        this.#recordSuccess(now);
        return true;
      } catch (createError) {
        if (httpStatusOf(createError) !== 409) this.#options.onError?.(createError);
        return false;
      }
    }

    // Expiry is judged by when WE last saw the record change, never by the holder's timestamps.
    if (current.metadata?.resourceVersion !== this.#observedResourceVersion) {
      this.#observedResourceVersion = current.metadata?.resourceVersion;
      this.#observedAt = now;
    }
    const holder = current.spec?.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== identity;
    const durationMs = (current.spec?.leaseDurationSeconds ?? leaseDurationMs / 1000) * 1000;
    if (heldByOther && this.#observedAt + durationMs > now) return false;

    const transitions = current.spec?.leaseTransitions ?? 0;
    const takingOver = holder !== identity;
    try {
      this.#lease = await this.#api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...current,
          spec: {
            ...spec,
            preferredHolder: current.spec?.preferredHolder,
            strategy: current.spec?.strategy,
            acquireTime: takingOver ? new V1MicroTime(now) : current.spec?.acquireTime,
            leaseTransitions: takingOver ? transitions + 1 : transitions,
          },
        },
      });
      this.#recordSuccess(now);
      return true;
    } catch (error) {
      if (httpStatusOf(error) !== 409) this.#options.onError?.(error);
      return false;
    }
  }

  #recordSuccess(now: number): void {
    this.#lastRenewAt = now;
    this.#observedResourceVersion = this.#lease?.metadata?.resourceVersion;
    this.#observedAt = now;
  }
}
