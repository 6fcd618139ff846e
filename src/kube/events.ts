// Kubernetes Events for ApiCredentials, so `kubectl describe` tells the story. Repeats of the same
// reason and message within a window are folded into one Event with a count, as client-go does.
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
  emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void>;
}

interface Recorded {
  eventName: string;
  count: number;
  lastAt: number;
}

const FOLD_WINDOW_MS = 10 * 60_000;
const MAX_MESSAGE = 1024;

export class EventRecorder implements EventSink {
  readonly #core: CoreV1Api;
  readonly #clock: Clock;
  readonly #component: string;
  readonly #recent = new Map<string, Recorded>();
  readonly #onError: (error: unknown) => void;

  constructor(options: {
    kubeConfig: KubeConfig;
    clock: Clock;
    component?: string;
    onError: (error: unknown) => void;
  }) {
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#clock = options.clock;
    this.#component = options.component ?? 'apicred-operator';
    this.#onError = options.onError;
  }

  /** Never throws: an Event that cannot be written must not fail a reconcile. */
  async emit(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.#clock.now();
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
    // A digest, not the text: one entry per credential stays for the fold window.
    const foldKey = hash('sha256', `${target.uid}\0${type}\0${reason}\0${text}`, 'buffer').toString(
      'base64',
      0,
      16,
    );
    const previous = this.#recent.get(foldKey);
    this.#prune(now);
    try {
      if (previous && now - previous.lastAt < FOLD_WINDOW_MS) {
        previous.count += 1;
        previous.lastAt = now;
        await this.#core.patchNamespacedEvent(
          {
            name: previous.eventName,
            namespace: target.namespace,
            body: { count: previous.count, lastTimestamp: new Date(now) },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      }
      const eventName = `${target.name}.${randomBytes(8).toString('hex')}`;
      await this.#core.createNamespacedEvent({
        namespace: target.namespace,
        body: {
          metadata: { name: eventName, namespace: target.namespace },
          involvedObject: {
            apiVersion: API_VERSION,
            kind: KIND,
            name: target.name,
            namespace: target.namespace,
            uid: target.uid,
            resourceVersion: target.resourceVersion,
          },
          type,
          reason,
          message: text,
          count: 1,
          firstTimestamp: new Date(now),
          lastTimestamp: new Date(now),
          source: { component: this.#component },
          reportingComponent: this.#component,
          reportingInstance: process.env.POD_NAME ?? this.#component,
        },
      });
      this.#recent.set(foldKey, { eventName, count: 1, lastAt: now });
    } catch (error) {
      this.#recent.delete(foldKey);
      this.#onError(error);
    }
  }

  #prune(now: number): void {
    if (this.#recent.size < 10_000) return;
    for (const [key, recorded] of this.#recent)
      if (now - recorded.lastAt >= FOLD_WINDOW_MS) this.#recent.delete(key);
  }
}
