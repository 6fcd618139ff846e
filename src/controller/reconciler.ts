// Reconcile one ApiCredential: observe the caches, let decide() choose one action, call the provider
// when the action needs a token, plan the writes, and apply them. Only apply() acts; the rest is pure
// or reads (see docs/architecture.md).
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FINALIZER, type ApiCredential } from '../api/apicredential.ts';
import type { HttpClientFactory } from '../http/client.ts';
import type { EventSink } from '../kube/events.ts';
import { keyOf, splitKey } from '../kube/object-key.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SecretRedactor } from '../observability/redactor.ts';
import type { Clock } from '../policy/clock.ts';
import { decide, type Action } from '../policy/decide.ts';
import { earliest, formatTime } from '../policy/time.ts';
import { selectProvider, type ProviderRegistry } from '../providers/registry.ts';
import type { StateStore } from '../providers/types.ts';
import { SecretStateStore } from '../secrets/state.ts';
import { apply, type ApplyDeps } from './apply.ts';
import type { Caches, ReconcileContext, TokenMemory } from './context.ts';
import { actionFields } from './debug-fields.ts';
import { Exchanger, type ExchangeDeps, type ExchangeResult, type InputSource } from './exchange.ts';
import { requestServiceAccountToken } from '../kube/service-account-token.ts';
import { apiObjectRead, readInputs, SharedObjectReads } from './inputs.ts';
import { KubeWriter } from './kube-writer.ts';
import { gather, releasesOnDelete, type RenewalOptions } from './observe.ts';
import { planAction, planFinalizer, planRejection, planRelease, resolveAction } from './plan.ts';
import { RolloutRestarter } from './rollout.ts';
import type { Writer } from './writer.ts';

export type { Caches } from './context.ts';

export interface ReconcilerOptions extends RenewalOptions {
  /** Bound on one provider exchange (login, refresh, revoke). */
  providerTimeoutMs: number;
  /** Bound on revocation/logout when an ApiCredential is deleted. */
  releaseTimeoutMs: number;
  /** Least time between two rollout restarts of one workload (--rollout-restart-min-interval). */
  rolloutMinIntervalMs: number;
}

export interface ReconcilerDeps {
  kubeConfig: KubeConfig;
  caches: Caches;
  providers: ProviderRegistry;
  http: Pick<HttpClientFactory, 'forCa'>;
  events: EventSink;
  metrics: Metrics;
  redactor: SecretRedactor;
  logger: Logger;
  clock: Clock;
  /**
   * Awaited once per renewal, before its provider calls: the rate limit of the provider's host
   * (ProviderNeeds.rateLimitKey).
   */
  acquireProviderSlot: (
    rateLimitKey: string,
    signal: AbortSignal,
  ) => Promise<{ deferMs?: number } | undefined>;
  /** Records which referenced objects a credential depends on, for the Secret event handler. */
  indexReferences: (credentialKey: string, objects: string[]) => void;
  options: ReconcilerOptions;
  /** Stand-ins for the apiserver in unit tests; by default built from kubeConfig. */
  writer?: Writer;
  readInputs?: InputSource;
  stateStore?: (credential: ApiCredential) => StateStore;
  mintServiceAccountToken?: ExchangeDeps['mintServiceAccountToken'];
  /** For backoff jitter; Math.random by default. */
  random?: () => number;
}

export interface ReconcileResult {
  /** When to look at this credential again, epoch ms; undefined means only on events. */
  requeueAt?: number;
}

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #memory: TokenMemory = new Map();
  readonly #exchanger: Exchanger;
  readonly #apply: ApplyDeps;
  readonly #rollout: RolloutRestarter;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#rollout = new RolloutRestarter({ ...deps, minIntervalMs: deps.options.rolloutMinIntervalMs });
    // One client for every read of inputs and state, not one per provider call.
    const core = deps.kubeConfig.makeApiClient(CoreV1Api);
    const reads = new SharedObjectReads(
      apiObjectRead(core),
      (kind, namespace, name) =>
        (kind === 'Secret' ? deps.caches.secret(namespace, name) : deps.caches.configMap(namespace, name))
          ?.resourceVersion,
    );
    this.#exchanger = new Exchanger({
      ...deps,
      readInputs: deps.readInputs ?? ((namespace, refs) => readInputs(reads.read, namespace, refs)),
      stateStore: deps.stateStore ?? ((credential) => new SecretStateStore(core, credential)),
      mintServiceAccountToken:
        deps.mintServiceAccountToken ??
        ((namespace, request) =>
          requestServiceAccountToken(core, { ...request, namespace }, () => deps.clock.now())),
      memory: this.#memory,
    });
    const writer = deps.writer ?? new KubeWriter(deps.kubeConfig, deps.caches, deps.events);
    this.#apply = { writer, metrics: deps.metrics, logger: deps.logger, memory: this.#memory };
  }

  /** The credential is gone from the cache: drop what memory and metrics hold for it. */
  forget(key: string): void {
    this.#deps.redactor.forget(key);
    this.#memory.delete(key);
    this.#rollout.forget(key);
    const { namespace, name } = splitKey(key);
    this.#deps.metrics.forgetCredential(namespace, name);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { caches, clock } = this.#deps;
    const credential = caches.credential(key);
    if (!credential) {
      this.forget(key);
      return {};
    }
    if (credential.metadata.deletionTimestamp) return this.#finalize(credential);
    const gathered = gather(credential, clock.now(), { ...this.#deps, memory: this.#memory });
    if (gathered.type === 'rejected') {
      this.#index(credential, gathered.rejection.selected ? gathered.references : undefined);
      const plan = planRejection(credential, gathered.rejection, clock.now());
      await apply(credential, plan.writes, this.#apply);
      return { requeueAt: plan.requeueAt };
    }
    const { context } = gathered;
    this.#index(credential, context.needs.inputs);
    if (gathered.needsFinalizer) await apply(credential, [planFinalizer(credential, true)], this.#apply);
    return this.#act(context);
  }

  async #act(context: ReconcileContext): Promise<ReconcileResult> {
    const { credential, spec, secretName } = context;
    const remembered = this.#memory.get(keyOf(credential));
    const action = resolveAction(decide(context.observation), context, remembered);
    this.#logDecision(context, action);
    const exchange: ExchangeResult | undefined =
      action.type === 'obtain' ? await this.#exchanger.obtain(context) : undefined;
    const env = {
      now: this.#deps.clock.now(),
      random: this.#deps.random ?? Math.random,
      remembered,
      options: this.#deps.options,
    };
    const plan = planAction(action, context, env, exchange);
    await apply(credential, plan.writes, this.#apply);
    // After the token write, whatever its outcome: a failed renewal must not hold back pending restarts.
    const rollout = await this.#rollout.run({
      credential,
      targets: spec.rolloutRestartTargets ?? [],
      secretName,
      pending: plan.rolloutPending,
    });
    return { requeueAt: earliest(plan.requeueAt, rollout.requeueAt) };
  }

  #index(credential: ApiCredential, references: ReconcileContext['needs']['inputs'] | undefined): void {
    if (!references) return;
    const { namespace } = credential.metadata;
    this.#deps.indexReferences(
      keyOf(credential),
      references.map((ref) => `${ref.kind}/${namespace}/${ref.name}`),
    );
  }

  #logDecision(context: ReconcileContext, action: Action): void {
    const fields = {
      credential: keyOf(context.credential),
      provider: context.selected.name,
      ...actionFields(action),
      renewAt: formatTime(context.observation.renewAt, 'seconds'),
      nextCheckAt: formatTime(context.observation.checkAt, 'seconds'),
    };
    this.#deps.logger.debug(fields, 'decision');
  }

  async #finalize(credential: ApiCredential): Promise<ReconcileResult> {
    const key = keyOf(credential);
    if (!credential.metadata.finalizers?.includes(FINALIZER)) {
      this.forget(key);
      return {};
    }
    const parsed = this.#deps.providers.specSchema.safeParse(credential.spec);
    const spec = parsed.success ? parsed.data : undefined;
    const selected = spec ? selectProvider(this.#deps.providers, spec) : undefined;
    let released;
    if (spec && selected && releasesOnDelete(selected)) {
      const secretName = spec.secret.name ?? credential.metadata.name;
      const view = this.#deps.caches.secret(credential.metadata.namespace, secretName);
      released = await this.#exchanger.release({ credential, spec, selected, secretName, view });
    }
    await apply(credential, planRelease(credential, released), this.#apply);
    this.forget(key);
    return {};
  }
}
