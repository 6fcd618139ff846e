// Prometheus metrics on a registry of our own. Names and labels follow controller-runtime and
// client-go where they exist, so dashboards and alerts written for Go operators work unchanged.
// Callers get handles with typed labels, never prom-client objects, so every label value goes
// through the validator in labels.ts.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProviderName } from '../api/apicredential.ts';
import type { WorkloadKind } from '../policy/rollout.ts';
import { LabelValidator, httpMethod, statusClass } from './labels.ts';
import type { LabelGuard } from './labels.ts';

/** How a reconcile ended, as controller-runtime counts it. */
export type ReconcileOutcome = 'success' | 'requeue' | 'requeue_after' | 'error' | 'terminal_error' | 'panic';

/** Labels of the per-credential series. */
export interface CredentialLabels {
  namespace: string;
  name: string;
  provider: ProviderName;
}

/** How one rollout restart of a workload ended. */
export type RolloutRestartResult = 'success' | 'not_found' | 'forbidden' | 'conflict' | 'error';

export interface CounterHandle<L> {
  inc(labels: L, value?: number): void;
}

export interface GaugeHandle<L> {
  set(labels: L, value: number): void;
  remove(labels: L): void;
}

export interface HistogramHandle<L> {
  observe(labels: L, value: number): void;
}

/** client-go's workqueue metrics for one queue. */
export interface WorkqueueMetrics {
  added(): void;
  setDepth(depth: number): void;
  observeQueueDuration(seconds: number): void;
  observeWorkDuration(seconds: number): void;
  retried(): void;
  setUnfinishedWorkSeconds(seconds: number): void;
  setLongestRunningProcessorSeconds(seconds: number): void;
}

export interface Metrics {
  readonly registry: Registry;
  /** Zeroes the controller's series and records its worker count, as controller-runtime does on start. */
  registerController(controller: string, maxConcurrentReconciles: number): void;
  /** Counts one reconcile the way controller-runtime does (terminal errors and panics are errors too). */
  reconciled(controller: string, outcome: ReconcileOutcome, seconds: number): void;
  setActiveWorkers(controller: string, count: number): void;
  /** The metrics of one work queue, its series zeroed. */
  queueHooks(name: string): WorkqueueMetrics;
  readonly renewals: CounterHandle<{ provider: ProviderName; result: 'success' | 'failure' }>;
  /** `reason` is a CamelCase condition reason (ProviderError.reason). */
  readonly renewalFailures: CounterHandle<{ provider: ProviderName; reason: string }>;
  /** Every renewal attempt, `result` success or failure; the failure's reason is in renewalFailures. */
  readonly renewalDuration: HistogramHandle<{ provider: ProviderName; result: 'success' | 'failure' }>;
  /** Unix seconds. */
  readonly tokenExpiry: GaugeHandle<CredentialLabels>;
  readonly credentialReady: GaugeHandle<CredentialLabels>;
  readonly consecutiveFailures: GaugeHandle<CredentialLabels>;
  /** 1 while renewal has stopped on a failure only a person can fix (Stalled=True). */
  readonly credentialStalled: GaugeHandle<CredentialLabels>;
  /** Removes every per-credential series of a deleted ApiCredential, whatever its provider was. */
  forgetCredential(namespace: string, name: string): void;
  /**
   * `status` is the HTTP status, or 'error' when no response arrived. `provider` is the label the
   * HTTP layer was given (a registered provider name); http/ does not know the provider type.
   */
  providerRequest(provider: string, method: string, status: number | 'error'): void;
  /**
   * A provider call that waited for its host's rate limit bucket. `host` is bounded by the operator:
   * a host named in --provider-host-limits, or 'default' for all the others (hosts come from specs,
   * which any namespace may write, so they are never a label of their own).
   */
  providerRateLimitWait(host: string, seconds: number): void;
  readonly informerRestarts: CounterHandle<{ resource: string }>;
  /** Rollout restarts of spec.rolloutRestartTargets by workload kind and outcome. */
  readonly rolloutRestarts: CounterHandle<{ kind: WorkloadKind; result: RolloutRestartResult }>;
  /** Relists after the first LIST: `expired` (410 Gone) or `periodic`. */
  readonly informerRelists: CounterHandle<{ resource: string; reason: 'expired' | 'periodic' }>;
  /** Events by how they left the recorder's queue: created, folded into an earlier one, failed, dropped. */
  readonly events: CounterHandle<{ result: 'created' | 'folded' | 'failed' | 'dropped' }>;
  setLeader(isLeader: boolean): void;
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics. Default true. */
  defaultMetrics?: boolean;
  /**
   * Rejects label values that must not be published, e.g. `(v) => redactor.scrub(v) === v`. Not
   * applied to `namespace` and `name`: they come from the object's metadata and are identity.
   */
  labelGuard?: LabelGuard;
}

// controller-runtime pkg/internal/controller/metrics.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
  1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
// controller-runtime pkg/metrics/workqueue.go: ExponentialBuckets(10e-9, 10, 12).
const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));
const RENEWAL_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const labels = new LabelValidator(options.labelGuard);
  const registers = [registry];

  const reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'] as const,
    registers,
  });
  const reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const terminalErrors = new Counter({
    name: 'controller_runtime_terminal_reconcile_errors_total',
    help: 'Total number of terminal reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const reconcilePanics = new Counter({
    name: 'controller_runtime_reconcile_panics_total',
    help: 'Total number of reconciliation panics per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'] as const,
    buckets: RECONCILE_BUCKETS,
    registers,
  });
  const activeWorkers = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'] as const,
    registers,
  });
  const maxConcurrent = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'] as const,
    registers,
  });

  const queueLabel = ['name'] as const;
  const depth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: queueLabel,
    registers,
  });
  const adds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: queueLabel,
    registers,
  });
  const queueDuration = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: queueLabel,
    buckets: WORKQUEUE_BUCKETS,
    registers,
  });
  const workDuration = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes',
    labelNames: queueLabel,
    buckets: WORKQUEUE_BUCKETS,
    registers,
  });
  const retries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: queueLabel,
    registers,
  });
  const unfinishedWork = new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help:
      'How many seconds of work has been done that is in progress and has not been observed by work_duration. ' +
      'Large values indicate stuck threads.',
    labelNames: queueLabel,
    registers,
  });
  const longestRunning = new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running',
    labelNames: queueLabel,
    registers,
  });

  const renewals = new Counter({
    name: 'apicred_renewals_total',
    help: 'Token renewals (logins, refreshes, checks) by provider and result',
    labelNames: ['provider', 'result'] as const,
    registers,
  });
  const renewalFailures = new Counter({
    name: 'apicred_renewal_failures_total',
    help: 'Failed token renewals by provider and CamelCase reason',
    labelNames: ['provider', 'reason'] as const,
    registers,
  });
  const renewalDuration = new Histogram({
    name: 'apicred_renewal_duration_seconds',
    help: 'Duration of token renewal attempts, successful or failed, including every provider call they make',
    labelNames: ['provider', 'result'] as const,
    buckets: RENEWAL_BUCKETS,
    registers,
  });
  const credentialLabelNames = ['namespace', 'name', 'provider'] as const;
  const expiry = new Gauge({
    name: 'apicred_token_expiry_timestamp_seconds',
    help: 'Expiry of the token held in the consumer Secret, Unix seconds',
    labelNames: credentialLabelNames,
    registers,
  });
  const ready = new Gauge({
    name: 'apicred_credential_ready',
    help: 'Whether the ApiCredential is Ready (1) or not (0)',
    labelNames: credentialLabelNames,
    registers,
  });
  const consecutiveFailures = new Gauge({
    name: 'apicred_consecutive_failures',
    help: 'Renewal failures since the last success',
    labelNames: credentialLabelNames,
    registers,
  });
  const stalled = new Gauge({
    name: 'apicred_credential_stalled',
    help: 'Whether renewal has stopped on a failure that needs a person (1) or goes on (0): the Stalled condition',
    labelNames: credentialLabelNames,
    registers,
  });
  const providerRequests = new Counter({
    name: 'apicred_provider_requests_total',
    help: 'HTTP requests to token providers by method and status class',
    labelNames: ['provider', 'method', 'status_class'] as const,
    registers,
  });
  const rateLimitWaits = new Counter({
    name: 'apicred_provider_rate_limit_waits_total',
    help: 'Provider calls that waited for their host rate limit, by host (a --provider-host-limits host, or default)',
    labelNames: ['host'] as const,
    registers,
  });
  const rateLimitWaitSeconds = new Counter({
    name: 'apicred_provider_rate_limit_wait_seconds_total',
    help: 'Time provider calls spent waiting for their host rate limit, by host (a --provider-host-limits host, or default)',
    labelNames: ['host'] as const,
    registers,
  });
  const informerRestarts = new Counter({
    name: 'apicred_informer_restarts_total',
    help: 'Informer restarts after a watch or list failure, by resource',
    labelNames: ['resource'] as const,
    registers,
  });
  const rolloutRestarts = new Counter({
    name: 'apicred_rollout_restarts_total',
    help: 'Rollout restarts of spec.rolloutRestartTargets workloads after a token change, by kind and result',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  const informerRelists = new Counter({
    name: 'apicred_informer_relists_total',
    help: 'Full relists of an informer cache after its first LIST, by resource and reason (expired: 410 Gone; periodic)',
    labelNames: ['resource', 'reason'] as const,
    registers,
  });
  const events = new Counter({
    name: 'apicred_events_total',
    help: 'Kubernetes Events by outcome: created, folded (count raised on an earlier Event), failed, dropped (queue full)',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of ['created', 'folded', 'failed', 'dropped']) events.inc({ result }, 0);
  const leader = new Gauge({
    name: 'apicred_leader',
    help: 'Whether this replica holds the leader lease (1) or is a standby (0)',
    registers,
  });
  leader.set(0);

  // Per-credential series are keyed by provider too; remember which were written so that a
  // deletion (or a provider change) can remove them exactly.
  const credentialProviders = new Map<string, Set<string>>();
  const credentialGauges = [expiry, ready, consecutiveFailures, stalled];
  const credentialLabels = (l: CredentialLabels) => ({
    namespace: labels.kubernetesName(l.namespace),
    name: labels.kubernetesName(l.name),
    provider: labels.generic(l.provider),
  });
  const credentialGauge = (
    gauge: Gauge<'namespace' | 'name' | 'provider'>,
  ): GaugeHandle<CredentialLabels> => ({
    set(l, value) {
      const safe = credentialLabels(l);
      const key = `${safe.namespace}/${safe.name}`;
      const providers = credentialProviders.get(key) ?? new Set<string>();
      providers.add(safe.provider);
      credentialProviders.set(key, providers);
      gauge.set(safe, value);
    },
    remove(l) {
      gauge.remove(credentialLabels(l));
    },
  });

  return {
    registry,
    registerController(controller, maxConcurrentReconciles) {
      const c = labels.generic(controller);
      for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
        reconcileTotal.inc({ controller: c, result }, 0);
      }
      reconcileErrors.inc({ controller: c }, 0);
      terminalErrors.inc({ controller: c }, 0);
      reconcilePanics.inc({ controller: c }, 0);
      maxConcurrent.set({ controller: c }, maxConcurrentReconciles);
      activeWorkers.set({ controller: c }, 0);
    },
    reconciled(controller, outcome, seconds) {
      const c = labels.generic(controller);
      reconcileTime.observe({ controller: c }, seconds);
      if (outcome === 'success' || outcome === 'requeue' || outcome === 'requeue_after') {
        reconcileTotal.inc({ controller: c, result: outcome });
        return;
      }
      if (outcome === 'terminal_error') terminalErrors.inc({ controller: c });
      if (outcome === 'panic') reconcilePanics.inc({ controller: c });
      reconcileErrors.inc({ controller: c });
      reconcileTotal.inc({ controller: c, result: 'error' });
    },
    setActiveWorkers(controller, count) {
      activeWorkers.set({ controller: labels.generic(controller) }, count);
    },
    queueHooks(name) {
      const l = { name: labels.generic(name) };
      depth.set(l, 0);
      adds.inc(l, 0);
      retries.inc(l, 0);
      unfinishedWork.set(l, 0);
      longestRunning.set(l, 0);
      return {
        added: () => {
          adds.inc(l);
        },
        setDepth: (value) => {
          depth.set(l, value);
        },
        observeQueueDuration: (seconds) => {
          queueDuration.observe(l, seconds);
        },
        observeWorkDuration: (seconds) => {
          workDuration.observe(l, seconds);
        },
        retried: () => {
          retries.inc(l);
        },
        setUnfinishedWorkSeconds: (seconds) => {
          unfinishedWork.set(l, seconds);
        },
        setLongestRunningProcessorSeconds: (seconds) => {
          longestRunning.set(l, seconds);
        },
      };
    },
    renewals: {
      inc(l, value) {
        renewals.inc({ provider: labels.generic(l.provider), result: labels.generic(l.result) }, value);
      },
    },
    renewalFailures: {
      inc(l, value) {
        renewalFailures.inc({ provider: labels.generic(l.provider), reason: labels.reason(l.reason) }, value);
      },
    },
    renewalDuration: {
      observe(l, seconds) {
        renewalDuration.observe({ provider: labels.generic(l.provider), result: l.result }, seconds);
      },
    },
    tokenExpiry: credentialGauge(expiry),
    credentialReady: credentialGauge(ready),
    consecutiveFailures: credentialGauge(consecutiveFailures),
    credentialStalled: credentialGauge(stalled),
    forgetCredential(namespace, name) {
      const l = { namespace: labels.kubernetesName(namespace), name: labels.kubernetesName(name) };
      const key = `${l.namespace}/${l.name}`;
      for (const provider of credentialProviders.get(key) ?? []) {
        for (const gauge of credentialGauges) gauge.remove({ ...l, provider });
      }
      credentialProviders.delete(key);
    },
    providerRequest(provider, method, status) {
      providerRequests.inc({
        provider: labels.generic(provider),
        method: httpMethod(method),
        status_class: statusClass(status),
      });
    },
    providerRateLimitWait(host, seconds) {
      const l = { host: labels.generic(host) };
      rateLimitWaits.inc(l);
      rateLimitWaitSeconds.inc(l, seconds);
    },
    informerRestarts: {
      inc(l, value) {
        informerRestarts.inc({ resource: labels.generic(l.resource) }, value);
      },
    },
    rolloutRestarts: {
      inc(l, value) {
        rolloutRestarts.inc({ kind: labels.generic(l.kind), result: labels.generic(l.result) }, value);
      },
    },
    informerRelists: {
      inc(l, value) {
        informerRelists.inc({ resource: labels.generic(l.resource), reason: l.reason }, value);
      },
    },
    events: {
      inc(l, value) {
        events.inc({ result: l.result }, value);
      },
    },
    setLeader(isLeader) {
      leader.set(isLeader ? 1 : 0);
    },
  };
}
