// Carries out rollout restarts of spec.rolloutRestartTargets: reads each workload, lets planRollout()
// decide, patches the pod template annotation (as `kubectl rollout restart` does), reports every
// outcome as an Event, a metric and a log line, and clears the pending marker on the consumer Secret
// once every target has restarted since the token changed. Failures never reach token renewal.
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ObjectMeta,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ApiCredential } from '../api/apicredential.ts';
import { httpStatusOf } from '../kube/errors.ts';
import type { EventSink, EventTarget } from '../kube/events.ts';
import { keyOf } from '../kube/object-key.ts';
import type { Metrics, RolloutRestartResult } from '../observability/metrics.ts';
import type { Clock } from '../policy/clock.ts';
import { formatDuration } from '../policy/duration.ts';
import { formatTime } from '../policy/time.ts';
import {
  distinctTargets,
  planRollout,
  rolloutRetryAt,
  rolloutStep,
  type RolloutTarget,
  type TargetObservation,
  type TargetProblem,
  type TargetDecision,
  type TargetState,
  type WorkloadKind,
} from '../policy/rollout.ts';
import { FIELD_MANAGER, clearRolloutMarker, parseTime } from '../secrets/consumer.ts';
import { crashPoint } from '../testing/crash-points.ts';

/** On the pod template: when the operator last restarted the workload (ISO, ms). */
export const ANNOTATION_RESTARTED_AT = 'apicred.dev/restarted-at';
/** What `kubectl rollout restart` sets; a restart by hand counts too. */
const KUBECTL_RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

const RESOURCE: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

export interface RolloutDeps {
  kubeConfig: KubeConfig;
  events: EventSink;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** --rollout-restart-min-interval */
  minIntervalMs: number;
  random?: () => number;
}

export interface RolloutRequest {
  credential: ApiCredential;
  targets: RolloutTarget[];
  secretName: string;
  /** The pending marker on the consumer Secret, epoch ms. */
  pending: number | undefined;
}

interface Workload {
  metadata?: V1ObjectMeta;
  spec?: { template: V1PodTemplateSpec };
}

interface Failure {
  failures: number;
  retryAt: number;
}

class TargetError extends Error {
  readonly problem: TargetProblem;
  readonly status: number | undefined;
  constructor(problem: TargetProblem, status: number | undefined, cause: unknown) {
    const detail = statusMessage(cause);
    super(
      `${status === undefined ? 'no response from the API server' : `HTTP ${String(status)}`}${detail ? `: ${detail}` : ''}`,
      { cause },
    );
    this.problem = problem;
    this.status = status;
  }
}

/** The message of the Kubernetes Status an API error carries, if any. */
function statusMessage(error: unknown): string | undefined {
  const body = (error as { body?: unknown } | undefined)?.body;
  if (typeof body !== 'string') return error instanceof Error ? error.message.slice(0, 200) : undefined;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

function problemOf(error: unknown): TargetError {
  const status = httpStatusOf(error);
  const problem: TargetProblem =
    status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : status === 409 ? 'Conflict' : 'Error';
  return new TargetError(problem, status, error);
}

const RESULT: Record<TargetProblem, RolloutRestartResult> = {
  NotFound: 'not_found',
  Forbidden: 'forbidden',
  Conflict: 'conflict',
  Error: 'error',
};

/** A request whose token change is pending restarts. */
type PendingRollout = RolloutRequest & { pending: number };

export class RolloutRestarter {
  readonly #deps: RolloutDeps;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #random: () => number;
  /** "<namespace>/<credential>/<kind>/<name>" → consecutive failures of that target. */
  readonly #failures = new Map<string, Failure>();

  constructor(deps: RolloutDeps) {
    this.#deps = deps;
    this.#apps = deps.kubeConfig.makeApiClient(AppsV1Api);
    this.#core = deps.kubeConfig.makeApiClient(CoreV1Api);
    this.#random = deps.random ?? Math.random;
  }

  /** The credential is gone: drop its retry state. */
  forget(credentialKey: string): void {
    for (const key of this.#failures.keys())
      if (key.startsWith(`${credentialKey}/`)) this.#failures.delete(key);
  }

  /** Restarts what the pending marker asks for; returns when to look again. */
  async run(request: RolloutRequest): Promise<{ requeueAt?: number }> {
    const { credential, secretName, pending } = request;
    const targets = distinctTargets(request.targets);
    const namespace = credential.metadata.namespace;
    const step = rolloutStep(pending, targets.length);
    if (step.type === 'none' || pending === undefined) return {};
    if (step.type === 'clear-marker') {
      await clearRolloutMarker(this.#core, namespace, secretName, formatTime(pending, 'milliseconds'));
      this.forget(keyOf(credential));
      return {};
    }

    const now = this.#deps.clock.now();
    const workloads = new Map<RolloutTarget, Workload>();
    const readErrors = new Map<RolloutTarget, TargetError>();
    const observed: TargetObservation[] = await Promise.all(
      targets.map(async (target) => ({
        target,
        observed: await this.#observe(credential, target, now, { workloads, readErrors }),
      })),
    );
    const plan = planRollout({
      now,
      pending,
      minIntervalMs: this.#deps.minIntervalMs,
      targets: observed,
      random: this.#random,
    });

    const waits: number[] = plan.requeueAt === undefined ? [] : [plan.requeueAt];
    let allRestarted = true;
    for (const { target, decision } of plan.targets) {
      const outcome = await this.#carryOut({ ...request, pending }, target, decision, {
        observed,
        workloads,
        readErrors,
      });
      if (outcome.failed) allRestarted = false;
      if (outcome.retryAt !== undefined) waits.push(outcome.retryAt);
    }
    if (plan.clearMarkerAfterRestarts && allRestarted) {
      crashPoint('rollout:before-marker-clear');
      await clearRolloutMarker(this.#core, namespace, secretName, formatTime(pending, 'milliseconds'));
      return {};
    }
    return { requeueAt: waits.length === 0 ? undefined : Math.min(...waits) };
  }

  /** One target's decision, carried out; a failed restart says when to try it again. */
  async #carryOut(
    request: PendingRollout,
    target: RolloutTarget,
    decision: TargetDecision,
    found: {
      observed: TargetObservation[];
      workloads: Map<RolloutTarget, Workload>;
      readErrors: Map<RolloutTarget, TargetError>;
    },
  ): Promise<{ failed?: boolean; retryAt?: number }> {
    const { credential, secretName } = request;
    const { pending } = request;
    switch (decision.type) {
      case 'current':
        this.#failures.delete(this.#targetKey(credential, target));
        return {};
      case 'restart':
        return this.#restartTarget(request, target, found.workloads.get(target));
      case 'defer': {
        const last = found.observed.find((o) => o.target === target)?.observed;
        const lastAt = last?.state === 'found' ? last.lastRestartAt : undefined;
        this.#deps.events.emit(
          this.#eventTarget(credential),
          'Normal',
          'RolloutRestartDeferred',
          `${target.kind} ${target.name} was restarted at ${lastAt === undefined ? '?' : formatTime(lastAt, 'milliseconds')}; the restart for the token written at ${formatTime(pending, 'milliseconds')} ` +
            `follows at ${formatTime(decision.until, 'milliseconds')} (--rollout-restart-min-interval ${formatDuration(this.#deps.minIntervalMs)}).`,
        );
        return {};
      }
      case 'retry': {
        // A read that failed just now is reported; a target still backing off was reported already.
        const error = found.readErrors.get(target);
        if (error && decision.failures !== undefined)
          this.#failed(credential, target, secretName, error, decision.failures, decision.at);
        return {};
      }
    }
  }

  async #restartTarget(
    request: PendingRollout,
    target: RolloutTarget,
    workload: Workload | undefined,
  ): Promise<{ failed?: boolean; retryAt?: number }> {
    const { credential, secretName } = request;
    const { pending } = request;
    try {
      await this.#restart(credential.metadata.namespace, target, workload?.metadata?.resourceVersion);
    } catch (error) {
      const failure = problemOf(error);
      const failures = (this.#failures.get(this.#targetKey(credential, target))?.failures ?? 0) + 1;
      const retryAt = rolloutRetryAt(failures, this.#deps.clock.now(), this.#random);
      this.#failed(credential, target, secretName, failure, failures, retryAt);
      return { failed: true, retryAt };
    }
    this.#failures.delete(this.#targetKey(credential, target));
    this.#deps.metrics.rolloutRestarts.inc({ kind: target.kind, result: 'success' });
    this.#deps.logger.info(
      { credential: keyOf(credential), kind: target.kind, workload: target.name },
      'rollout restart after a token change',
    );
    this.#deps.events.emit(
      this.#eventTarget(credential),
      'Normal',
      'RolloutRestarted',
      `Restarted ${target.kind} ${target.name} so that its pods read the token written to Secret ${secretName} at ${formatTime(pending, 'milliseconds')}.`,
    );
    return {};
  }

  async #observe(
    credential: ApiCredential,
    target: RolloutTarget,
    now: number,
    found: { workloads: Map<RolloutTarget, Workload>; readErrors: Map<RolloutTarget, TargetError> },
  ): Promise<TargetState> {
    const previous = this.#failures.get(this.#targetKey(credential, target));
    if (previous && previous.retryAt > now) return { state: 'backing-off', retryAt: previous.retryAt };
    let workload: Workload;
    try {
      workload = await this.#read(credential.metadata.namespace, target);
    } catch (error) {
      const failure = problemOf(error);
      found.readErrors.set(target, failure);
      return { state: 'failed', problem: failure.problem, failures: (previous?.failures ?? 0) + 1 };
    }
    found.workloads.set(target, workload);
    const annotations = workload.spec?.template.metadata?.annotations ?? {};
    const lastRestartAt = parseTime(annotations[ANNOTATION_RESTARTED_AT]);
    const created = workload.metadata?.creationTimestamp;
    const starts = [
      lastRestartAt,
      parseTime(annotations[KUBECTL_RESTARTED_AT]),
      created === undefined ? undefined : new Date(created).getTime(),
    ].filter((time): time is number => time !== undefined && Number.isFinite(time));
    return {
      state: 'found',
      podsStartedAt: starts.length === 0 ? undefined : Math.max(...starts),
      lastRestartAt,
    };
  }

  async #read(namespace: string, target: RolloutTarget): Promise<Workload> {
    const request = { namespace, name: target.name };
    switch (target.kind) {
      case 'Deployment':
        return this.#apps.readNamespacedDeployment(request);
      case 'StatefulSet':
        return this.#apps.readNamespacedStatefulSet(request);
      case 'DaemonSet':
        return this.#apps.readNamespacedDaemonSet(request);
    }
  }

  /** Merge patch of the pod template annotation, conditional on the version that was read. */
  async #restart(
    namespace: string,
    target: RolloutTarget,
    resourceVersion: string | undefined,
  ): Promise<void> {
    const request = {
      namespace,
      name: target.name,
      fieldManager: FIELD_MANAGER,
      body: {
        metadata: { resourceVersion },
        spec: {
          template: {
            metadata: {
              annotations: { [ANNOTATION_RESTARTED_AT]: formatTime(this.#deps.clock.now(), 'milliseconds') },
            },
          },
        },
      },
    };
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    switch (target.kind) {
      case 'Deployment':
        await this.#apps.patchNamespacedDeployment(request, options);
        return;
      case 'StatefulSet':
        await this.#apps.patchNamespacedStatefulSet(request, options);
        return;
      case 'DaemonSet':
        await this.#apps.patchNamespacedDaemonSet(request, options);
        return;
    }
  }

  #failed(
    credential: ApiCredential,
    target: RolloutTarget,
    secretName: string,
    failure: TargetError,
    failures: number,
    retryAt: number,
  ): void {
    this.#failures.set(this.#targetKey(credential, target), { failures, retryAt });
    this.#deps.metrics.rolloutRestarts.inc({ kind: target.kind, result: RESULT[failure.problem] });
    this.#deps.logger.warn(
      {
        credential: keyOf(credential),
        kind: target.kind,
        workload: target.name,
        problem: failure.problem,
        status: failure.status,
        failures,
        retryAt: formatTime(retryAt, 'milliseconds'),
      },
      'rollout restart failed; retrying with backoff',
    );
    // A conflict means the workload changed under us: retried soon, nothing for a person to do.
    if (failure.problem === 'Conflict') return;
    const namespace = credential.metadata.namespace;
    const resource = `apps/${RESOURCE[target.kind]}`;
    const retry = `Retrying in ${formatDuration(Math.max(0, retryAt - this.#deps.clock.now()))}.`;
    const messages: Record<Exclude<TargetProblem, 'Conflict'>, string> = {
      NotFound:
        `${target.kind} ${target.name} (spec.rolloutRestartTargets) does not exist in namespace ${namespace}, ` +
        `so it was not restarted after the token in Secret ${secretName} changed. ` +
        `Create it, or remove it from spec.rolloutRestartTargets. ${retry}`,
      Forbidden:
        `the operator may not get or patch ${target.kind} ${namespace}/${target.name} (HTTP 403), ` +
        `so it was not restarted after the token in Secret ${secretName} changed. ` +
        `Grant the operator's ServiceAccount get and patch on ${resource} in namespace ${namespace}. ${retry}`,
      Error: `could not restart ${target.kind} ${target.name}: ${failure.message}. ${retry}`,
    };
    this.#deps.events.emit(
      this.#eventTarget(credential),
      'Warning',
      'RolloutRestartFailed',
      messages[failure.problem],
    );
  }

  #targetKey(credential: ApiCredential, target: RolloutTarget): string {
    return `${keyOf(credential)}/${target.kind}/${target.name}`;
  }

  #eventTarget(credential: ApiCredential): EventTarget {
    const { namespace, name, uid, resourceVersion } = credential.metadata;
    return { namespace, name, uid, resourceVersion };
  }
}
