// Kubernetes Events for ApiCredentials, so `kubectl describe` tells the story. As client-go's recorder
// does, an Event is queued and written in the background: a reconcile never waits for the events API
// (slow, throttled by an EventRateLimit admission plugin, or down), and during a burst the Events trail
// behind the Secrets and statuses instead of competing with them. Repeats of the same reason and message
// within a window are folded into one Event with a count; a full queue drops new Events and counts them.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { hash, randomBytes } from 'node:crypto';
import { API_VERSION, KIND } from '../api/apicredential.ts';
import type { Clock } from '../policy/clock.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventTarget {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
}

export interface EventSink {
  /** Queues an Event; returns at once and never throws. */
  emit(target: EventTarget, type: EventType, reason: string, message: string): void;
}

/** How one queued Event left the queue. */
export type EventOutcome = 'created' | 'folded' | 'failed' | 'dropped';

/** The two calls the recorder makes; a CoreV1Api by default. */
export interface EventWriter {
  create(namespace: string, body: NewEvent): Promise<void>;
  /** Raises the count of an Event written earlier. */
  fold(namespace: string, name: string, count: number, lastTimestamp: Date): Promise<void>;
}

export interface NewEvent {
  metadata: { name: string; namespace: string };
  involvedObject: {
    apiVersion: string;
    kind: string;
    name: string;
    namespace: string;
    uid: string;
    resourceVersion?: string;
  };
  type: EventType;
  reason: string;
  message: string;
  count: number;
  firstTimestamp: Date;
  lastTimestamp: Date;
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
}

interface Recorded {
  eventName: string;
  count: number;
  lastAt: number;
}

interface Pending {
  foldKey: string;
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
  /** Occurrences folded into this entry while it waited. */
  count: number;
  firstAt: number;
  lastAt: number;
}

const FOLD_WINDOW_MS = 10 * 60_000;
const MAX_MESSAGE = 1024;
/**
 * Five times client-go's maxQueuedEvents: one Issued Event per credential in a creation burst of
 * 10,000 (measured: 5,604 of 10,000 written before all were Ready, at 41 credentials a second with the
 * provider limit lifted) waits instead of being dropped. A waiting Event holds a few hundred bytes.
 */
const DEFAULT_MAX_QUEUED = 5000;
/** Writes in flight at once: enough to keep up with renewals, few enough to leave the apiserver to them. */
const DEFAULT_MAX_IN_FLIGHT = 2;

export function coreEventWriter(kubeConfig: KubeConfig): EventWriter {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async create(namespace, body) {
      await core.createNamespacedEvent({ namespace, body });
    },
    async fold(namespace, name, count, lastTimestamp) {
      await core.patchNamespacedEvent(
        { name, namespace, body: { count, lastTimestamp } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
  };
}

export class EventRecorder implements EventSink {
  readonly #writer: EventWriter;
  readonly #clock: Clock;
  readonly #component: string;
  readonly #instance: string;
  readonly #maxQueued: number;
  readonly #maxInFlight: number;
  readonly #onError: (error: unknown) => void;
  readonly #onOutcome: (outcome: EventOutcome) => void;
  readonly #recent = new Map<string, Recorded>();
  /** Waiting to be written, oldest first; at most one entry per fold key. */
  readonly #queue = new Map<string, Pending>();
  readonly #inFlight = new Set<string>();
  #idle: (() => void)[] = [];

  constructor(options: {
    kubeConfig?: KubeConfig;
    writer?: EventWriter;
    clock: Clock;
    component?: string;
    maxQueued?: number;
    maxInFlight?: number;
    onError: (error: unknown) => void;
    onOutcome?: (outcome: EventOutcome) => void;
  }) {
    const writer = options.writer ?? (options.kubeConfig ? coreEventWriter(options.kubeConfig) : undefined);
    if (!writer) throw new Error('EventRecorder needs a kubeConfig or a writer');
    this.#writer = writer;
    this.#clock = options.clock;
    this.#component = options.component ?? 'apicred-operator';
    this.#instance = process.env.POD_NAME ?? this.#component;
    this.#maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.#onError = options.onError;
    this.#onOutcome = options.onOutcome ?? (() => undefined);
  }

  emit(target: EventTarget, type: EventType, reason: string, message: string): void {
    const now = this.#clock.now();
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
    // A digest, not the text: one entry per credential stays for the fold window.
    const foldKey = hash('sha256', `${target.uid}\0${type}\0${reason}\0${text}`, 'buffer').toString(
      'base64',
      0,
      16,
    );
    const waiting = this.#queue.get(foldKey);
    if (waiting) {
      waiting.count += 1;
      waiting.lastAt = now;
      return;
    }
    if (this.#queue.size >= this.#maxQueued) {
      this.#onOutcome('dropped');
      return;
    }
    this.#queue.set(foldKey, {
      foldKey,
      target,
      type,
      reason,
      message: text,
      count: 1,
      firstAt: now,
      lastAt: now,
    });
    this.#pump();
  }

  /** Events queued or being written. */
  get backlog(): number {
    return this.#queue.size + this.#inFlight.size;
  }

  /** Resolves once every queued Event has been written (or failed), or after timeoutMs. */
  async flush(timeoutMs: number): Promise<void> {
    if (this.backlog === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#idle.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #pump(): void {
    for (const pending of this.#queue.values()) {
      if (this.#inFlight.size >= this.#maxInFlight) return;
      // One write per fold key at a time, so a repeat patches the Event instead of creating a twin.
      if (this.#inFlight.has(pending.foldKey)) continue;
      this.#queue.delete(pending.foldKey);
      this.#inFlight.add(pending.foldKey);
      void this.#write(pending).finally(() => {
        this.#inFlight.delete(pending.foldKey);
        this.#pump();
        if (this.backlog === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
    }
  }

  async #write(pending: Pending): Promise<void> {
    const { target } = pending;
    const previous = this.#recent.get(pending.foldKey);
    this.#prune(pending.lastAt);
    try {
      if (previous && pending.firstAt - previous.lastAt < FOLD_WINDOW_MS) {
        const count = previous.count + pending.count;
        await this.#writer.fold(target.namespace, previous.eventName, count, new Date(pending.lastAt));
        previous.count = count;
        previous.lastAt = pending.lastAt;
        this.#onOutcome('folded');
        return;
      }
      const eventName = `${target.name}.${randomBytes(8).toString('hex')}`;
      await this.#writer.create(target.namespace, {
        metadata: { name: eventName, namespace: target.namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: KIND,
          name: target.name,
          namespace: target.namespace,
          uid: target.uid,
          resourceVersion: target.resourceVersion,
        },
        type: pending.type,
        reason: pending.reason,
        message: pending.message,
        count: pending.count,
        firstTimestamp: new Date(pending.firstAt),
        lastTimestamp: new Date(pending.lastAt),
        source: { component: this.#component },
        reportingComponent: this.#component,
        reportingInstance: this.#instance,
      });
      this.#recent.set(pending.foldKey, { eventName, count: pending.count, lastAt: pending.lastAt });
      this.#onOutcome('created');
    } catch (error) {
      // A folded Event that is gone (expired after its TTL) is created anew next time.
      this.#recent.delete(pending.foldKey);
      this.#onOutcome('failed');
      this.#onError(error);
    }
  }

  #prune(now: number): void {
    if (this.#recent.size < 10_000) return;
    for (const [key, recorded] of this.#recent)
      if (now - recorded.lastAt >= FOLD_WINDOW_MS) this.#recent.delete(key);
  }
}
