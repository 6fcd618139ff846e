// Reconcile one ApiCredential: read the caches, let decide() choose one action, carry it out, and
// record the outcome in the Secret, the status and Events. Only this file acts; the decisions are pure.
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ANNOTATION_REFRESH_REQUESTED,
  FINALIZER,
  GROUP,
  PLURAL,
  VERSION,
  type ApiCredential,
  type ApiCredentialSpec,
  type ApiCredentialStatus,
} from '../api/apicredential.ts';
import type { HttpClientFactory } from '../http/client.ts';
import type { EventSink } from '../kube/events.ts';
import type { SecretView } from '../kube/secret-view.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SecretRedactor } from '../observability/redactor.ts';
import { nextAttemptAt } from '../policy/backoff.ts';
import type { Clock } from '../policy/clock.ts';
import { decide, type Action, type Observation } from '../policy/decide.ts';
import { formatDuration, parseDuration } from '../policy/duration.ts';
import { planRenewal } from '../policy/renewal.ts';
import { pendingMarkerForWrite } from '../policy/rollout.ts';
import { stableRandom } from '../policy/stable-random.ts';
import { ProviderError, StateConflictError } from '../errors/failure.ts';
import { selectProvider, type ProviderRegistry, type SelectedProvider } from '../providers/registry.ts';
import type { InputReference, ProviderContext, TokenSet } from '../providers/types.ts';
import {
  ANNOTATION_CONTENT_DIGEST,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_EXPIRY_SOURCE,
  ANNOTATION_INPUTS_HASH,
  ANNOTATION_ISSUED_AT,
  ANNOTATION_NEXT_CHECK_AT,
  ANNOTATION_ROLLOUT_PENDING,
  applySecret,
  consumerSecretBody,
  contentDigest,
  isIntact,
  ownershipOf,
  writtenKeysOf,
  parseTime,
} from '../secrets/consumer.ts';
import { SecretStateStore } from '../secrets/state.ts';
import { crashPoint } from '../testing/crash-points.ts';
import { actionFields } from './debug-fields.ts';
import { describeMissing, inputsHash, missingInputs, readInputs } from './inputs.ts';
import { ReportingStateStore, identityOf, publicOutputKey, tokenSecrets } from './redaction.ts';
import { RolloutRestarter } from './rollout.ts';
import { iso, mergeConditions, sameStatus, type ConditionInput } from './status.ts';

export interface ReconcilerOptions {
  /** A pod must never read an expired token: renew at least this long before expiry. */
  propagationMarginMs: number;
  /** Share of the time from issue to renewal by which renewal may move earlier, to spread load. */
  jitterFraction: number;
  /** Bound on one provider exchange (login, refresh, revoke). */
  providerTimeoutMs: number;
  /** Bound on revocation/logout when an ApiCredential is deleted. */
  releaseTimeoutMs: number;
  /** Least time between two rollout restarts of one workload (--rollout-restart-min-interval). */
  rolloutMinIntervalMs: number;
}

export interface Caches {
  credential(key: string): ApiCredential | undefined;
  secret(namespace: string, name: string): SecretView | undefined;
  configMap(namespace: string, name: string): SecretView | undefined;
  /** What a write returned: later reads must not act on an older copy the watch has not replaced yet. */
  wroteCredential(object: ApiCredential): void;
  wroteSecret(object: V1Secret): void;
}

export interface ReconcilerDeps {
  kubeConfig: KubeConfig;
  caches: Caches;
  providers: ProviderRegistry;
  http: HttpClientFactory;
  events: EventSink;
  metrics: Metrics;
  redactor: SecretRedactor;
  logger: Logger;
  clock: Clock;
  /** Awaited before each provider call: the global provider rate limit. */
  acquireProviderSlot: (signal: AbortSignal) => Promise<void>;
  /** Records which referenced objects a credential depends on, for the Secret event handler. */
  indexReferences: (credentialKey: string, objects: string[]) => void;
  options: ReconcilerOptions;
}

export interface ReconcileResult {
  /** When to look at this credential again, epoch ms; undefined means only on events. */
  requeueAt?: number;
}

interface Written {
  data: Record<string, string>;
  digest: string;
}

const EXPIRY_SOURCES: TokenSet['expirySource'][] = ['expires_in', 'jwt', 'assumed', 'human'];

function expirySourceOf(view: SecretView | undefined): TokenSet['expirySource'] {
  const recorded = view?.annotations[ANNOTATION_EXPIRY_SOURCE];
  return EXPIRY_SOURCES.find((source) => source === recorded) ?? 'expires_in';
}

/** A warning the last successful exchange put in Ready, which stays until the next exchange. */
function standingWarning(credential: ApiCredential): { reason: string; message: string } | undefined {
  const ready = credential.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True' || ready.reason === 'TokenValid' || ready.reason === 'RenewalFailing')
    return undefined;
  return { reason: ready.reason, message: ready.message };
}

function earliestOf(...times: (number | undefined)[]): number | undefined {
  const defined = times.filter((time): time is number => time !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}

/** A write's answer, checked before it stands in for the cached ApiCredential. */
function isApiCredential(object: unknown): object is ApiCredential {
  if (typeof object !== 'object' || object === null) return false;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return false;
  const { namespace, name, resourceVersion } = metadata as Record<string, unknown>;
  return typeof namespace === 'string' && typeof name === 'string' && typeof resourceVersion === 'string';
}

function keyOf(credential: ApiCredential): string {
  return `${credential.metadata.namespace}/${credential.metadata.name}`;
}

/** What one reconcile knows about its credential once it has observed it. */
interface ReconcileContext {
  credential: ApiCredential;
  spec: ApiCredentialSpec;
  selected: SelectedProvider;
  hash: string;
  secretName: string;
  view: SecretView | undefined;
  observation: Observation;
  issuedAt?: number;
  expiresAt?: number;
  renewAt?: number;
  /** Token change whose rollout restarts are pending (marker on the Secret); updated by each write. */
  rolloutPending?: number;
}

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #objects: KubernetesObjectApi;
  readonly #customObjects: CustomObjectsApi;
  /** One client for every read of inputs and state, not one per provider call. */
  readonly #core: CoreV1Api;
  /** What the operator last wrote per credential, to repair an edited Secret without a provider call. */
  readonly #written = new Map<string, Written>();
  readonly #rollout: RolloutRestarter;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#rollout = new RolloutRestarter({ ...deps, minIntervalMs: deps.options.rolloutMinIntervalMs });
    this.#objects = KubernetesObjectApi.makeApiClient(deps.kubeConfig);
    this.#customObjects = deps.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = deps.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** The credential is gone from the cache: drop what memory and metrics hold for it. */
  forget(key: string): void {
    this.#deps.redactor.forget(key);
    this.#written.delete(key);
    this.#rollout.forget(key);
    const [namespace = '', name = ''] = key.split('/');
    this.#deps.metrics.forgetCredential(namespace, name);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const credential = this.#deps.caches.credential(key);
    if (!credential) {
      this.forget(key);
      return {};
    }
    if (credential.metadata.deletionTimestamp) return this.#finalize(credential);

    const parsed = this.#deps.providers.specSchema.safeParse(credential.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = ['spec', ...(issue?.path ?? []).map(String)].join('.');
      await this.#writeFailureStatus(credential, undefined, {
        terminal: true,
        reason: 'InvalidSpec',
        message: `${field}: ${issue?.message ?? 'invalid'}. Fix the ApiCredential spec.`,
      });
      return {};
    }
    const spec = parsed.data;
    const selected = selectProvider(this.#deps.providers, spec);
    if (!selected) {
      await this.#writeFailureStatus(credential, undefined, {
        terminal: true,
        reason: 'UnsupportedProvider',
        message: `spec.provider names a provider this operator version does not support (${Object.keys(spec.provider).join(', ')}).`,
      });
      return {};
    }

    const namespace = credential.metadata.namespace;
    const refs = this.#references(selected);
    this.#deps.indexReferences(
      key,
      refs.map((ref) => `${ref.kind}/${namespace}/${ref.name}`),
    );
    const lookup = (kind: InputReference['kind'], ns: string, name: string): SecretView | undefined =>
      kind === 'Secret' ? this.#deps.caches.secret(ns, name) : this.#deps.caches.configMap(ns, name);
    const hash = inputsHash(spec, refs, namespace, lookup);

    const missing = missingInputs(refs, namespace, lookup);
    if (missing.length > 0) {
      await this.#writeFailureStatus(credential, selected, {
        terminal: true,
        reason: 'MissingInput',
        message: `${describeMissing(missing, namespace)}. Create it in namespace ${namespace}; the operator retries as soon as it appears.`,
        inputsHash: hash,
      });
      this.#recordTokenMetrics(
        credential,
        selected,
        undefined,
        false,
        credential.status?.consecutiveFailures ?? 0,
      );
      return this.#expiryRequeue(credential);
    }

    if (
      selected.provider.release &&
      this.#releaseEnabled(selected) &&
      !credential.metadata.finalizers?.includes(FINALIZER)
    ) {
      await this.#setFinalizer(credential, true);
    }

    const secretName = spec.secret.name ?? credential.metadata.name;
    const view = this.#deps.caches.secret(namespace, secretName);
    const observation = this.#observe(credential, spec, hash, view);
    const action = decide(observation.observation);
    this.#deps.logger.debug(
      {
        credential: keyOf(credential),
        provider: selected.name,
        ...actionFields(action),
        renewAt: iso(observation.observation.renewAt),
        nextCheckAt: iso(observation.observation.checkAt),
      },
      'decision',
    );
    const rolloutPending =
      observation.observation.output.state === 'ours'
        ? parseTime(view?.annotations[ANNOTATION_ROLLOUT_PENDING])
        : undefined;
    const context = { credential, spec, selected, hash, secretName, view, ...observation, rolloutPending };
    const result = await this.#act(action, context);
    // After the token write, whatever its outcome: a failed renewal must not hold back pending restarts.
    const rollout = await this.#rollout.run({
      credential,
      targets: spec.rolloutRestartTargets ?? [],
      secretName,
      pending: context.rolloutPending,
    });
    return { requeueAt: earliestOf(result.requeueAt, rollout.requeueAt) };
  }

  #references(selected: SelectedProvider): InputReference[] {
    return selected.provider.needs(selected.spec).inputs;
  }

  #releaseEnabled(selected: SelectedProvider): boolean {
    return selected.provider.release !== undefined && selected.provider.needs(selected.spec).releaseOnDelete;
  }

  #observe(
    credential: ApiCredential,
    spec: ApiCredentialSpec,
    hash: string,
    view: SecretView | undefined,
  ): { observation: Observation; issuedAt?: number; expiresAt?: number; renewAt?: number } {
    const now = this.#deps.clock.now();
    const status = credential.status ?? {};
    const key = keyOf(credential);
    const ownership = ownershipOf(view, credential);
    const writtenKeys = Object.values(spec.secret.keys);
    let output: Observation['output'];
    let issuedAt: number | undefined;
    let expiresAt: number | undefined;
    let renewAt: number | undefined;
    if (ownership.state === 'ours' && view) {
      issuedAt = parseTime(view.annotations[ANNOTATION_ISSUED_AT]);
      expiresAt = parseTime(view.annotations[ANNOTATION_EXPIRES_AT]);
      if (issuedAt !== undefined && expiresAt !== undefined)
        renewAt = this.#nextExchange(
          credential,
          spec,
          issuedAt,
          expiresAt,
          parseTime(view.annotations[ANNOTATION_NEXT_CHECK_AT]),
        );
      output = {
        state: 'ours',
        inputsHash: view.annotations[ANNOTATION_INPUTS_HASH],
        issuedAt,
        expiresAt,
        intact: isIntact(view, writtenKeysOf(view, writtenKeys)),
        layoutCurrent: writtenKeysOf(view, writtenKeys).every((k) => view.keyDigests[k] !== undefined),
      };
    } else {
      output =
        ownership.state === 'foreign' ? { state: 'foreign', owner: ownership.owner } : { state: 'absent' };
    }
    const written = this.#written.get(key);
    const requested = credential.metadata.annotations?.[ANNOTATION_REFRESH_REQUESTED];
    const failures = status.consecutiveFailures ?? 0;
    const stalled = status.conditions?.find((c) => c.type === 'Stalled')?.status === 'True';
    return {
      issuedAt,
      expiresAt,
      renewAt,
      observation: {
        now,
        inputsHash: hash,
        output,
        canRepairFromMemory:
          written !== undefined &&
          view !== undefined &&
          view.annotations[ANNOTATION_CONTENT_DIGEST] === written.digest,
        failure: {
          consecutiveFailures: failures,
          retryAt: failures > 0 ? parseTime(status.nextRefreshTime) : undefined,
          terminal: stalled,
          inputsHash: status.inputsHash,
        },
        takeOverAllowed: spec.secret.takeOver,
        manualRefreshRequested:
          requested !== undefined && requested !== '' && requested !== status.lastHandledRefreshRequest,
        renewAt,
        checkAt:
          ownership.state === 'ours' ? parseTime(view?.annotations[ANNOTATION_NEXT_CHECK_AT]) : undefined,
        statusSaysReady: status.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      },
    };
  }

  /**
   * When to call the provider next. A provider that schedules its own checks (IDMP cloud) is called
   * then, or at expiry: the renewal plan would bunch its checks up as expiry nears.
   */
  #nextExchange(
    credential: ApiCredential,
    spec: ApiCredentialSpec,
    issuedAt: number,
    expiresAt: number,
    checkAt: number | undefined,
  ): number {
    return checkAt !== undefined
      ? Math.min(checkAt, expiresAt)
      : this.#renewAt(credential, spec, issuedAt, expiresAt);
  }

  #renewAt(credential: ApiCredential, spec: ApiCredentialSpec, issuedAt: number, expiresAt: number): number {
    const renewBefore =
      spec.refresh.renewBefore !== undefined
        ? { durationMs: parseDuration(spec.refresh.renewBefore) }
        : { percentage: spec.refresh.renewBeforePercentage ?? 33 };
    return planRenewal({
      issuedAt,
      expiresAt,
      renewBefore,
      propagationMarginMs: this.#deps.options.propagationMarginMs,
      jitterFraction: this.#deps.options.jitterFraction,
      random: () => stableRandom(credential.metadata.uid, issuedAt),
    }).renewAt;
  }

  async #act(action: Action, context: ReconcileContext): Promise<ReconcileResult> {
    const { credential, selected, hash, secretName, observation } = context;
    switch (action.type) {
      case 'wait': {
        await this.#writeStatus(
          credential,
          this.#readyStatus(credential, selected, hash, secretName, {
            ...context,
            warning: standingWarning(credential),
          }),
        );
        this.#recordTokenMetrics(
          credential,
          selected,
          context.expiresAt,
          true,
          credential.status?.consecutiveFailures ?? 0,
        );
        return { requeueAt: action.until };
      }
      case 'backoff':
        this.#recordStandingMetrics(credential, selected, context.expiresAt);
        return { requeueAt: action.until };
      case 'stalled':
        this.#recordStandingMetrics(credential, selected, context.expiresAt);
        return { requeueAt: action.until };
      case 'expired':
        return this.#reportExpired(context, action.expiredAt, action.until);
      case 'refuse': {
        await this.#writeFailureStatus(credential, selected, {
          terminal: true,
          reason: action.reason,
          message: action.message,
          inputsHash: hash,
        });
        return {};
      }
      case 'repair': {
        const written = this.#written.get(keyOf(credential));
        if (!written || context.issuedAt === undefined || context.expiresAt === undefined)
          return this.#obtain(context, 'drift');
        await this.#applyConsumerSecret(context, {
          data: written.data,
          issuedAt: context.issuedAt,
          expiresAt: context.expiresAt,
          expirySource: expirySourceOf(context.view),
          checkAgainAt: observation.checkAt,
        });
        this.#deps.events.emit(
          this.#target(credential),
          'Warning',
          'SecretRepaired',
          `Secret ${secretName} was edited or lost keys; the operator restored the current token.`,
        );
        return { requeueAt: observation.renewAt };
      }
      case 'obtain':
        return this.#obtain(context, action.why);
    }
  }

  async #obtain(context: ReconcileContext, why: string): Promise<ReconcileResult> {
    const { credential, spec, selected, hash, secretName } = context;
    const { clock, metrics, logger, redactor } = this.#deps;
    const key = keyOf(credential);
    const started = clock.now();
    const signal = AbortSignal.timeout(this.#deps.options.providerTimeoutMs);
    let tokenSet: TokenSet;
    let inputSecrets: string[];
    const isPublicOutput = publicOutputKey(spec.secret.keys, selected.provider);
    try {
      await this.#deps.acquireProviderSlot(signal);
      const output = context.observation.output;
      const written = await this.#currentToken(
        credential,
        secretName,
        context.view,
        Object.values(spec.secret.keys),
        isPublicOutput,
      );
      const prepared = await this.#providerContext(
        credential,
        spec,
        selected,
        signal,
        written && output.state === 'ours' && output.issuedAt !== undefined
          ? { data: written.data, issuedAt: output.issuedAt, expiresAt: context.expiresAt ?? 0 }
          : undefined,
      );
      inputSecrets = prepared.secrets;
      tokenSet = await selected.provider.obtain(selected.spec, {
        ...prepared.context,
        deadline: started + this.#deps.options.providerTimeoutMs,
      });
    } catch (error) {
      metrics.renewals.inc({ provider: selected.name, result: 'failure' });
      metrics.renewalDuration.observe(
        { provider: selected.name, result: 'failure' },
        (clock.now() - started) / 1000,
      );
      return this.#handleFailure(context, error);
    }
    const previousDigest = context.view?.annotations[ANNOTATION_CONTENT_DIGEST];
    const unchanged = previousDigest === contentDigest(tokenSet.data);
    context.rolloutPending = pendingMarkerForWrite({
      hasTargets: (spec.rolloutRestartTargets ?? []).length > 0,
      tokenChanged: !unchanged,
      hadToken: context.view !== undefined || credential.status?.issuedAt !== undefined,
      pending: context.rolloutPending,
      now: clock.now(),
    });
    // The redactor holds exactly this credential's current secrets: rotated tokens are let go.
    redactor.replace(key, [...inputSecrets, ...tokenSecrets(tokenSet.data, isPublicOutput)]);
    crashPoint('controller:before-secret-write');
    await this.#applyConsumerSecret(context, tokenSet);
    crashPoint('controller:after-secret-write');
    this.#written.set(key, { data: tokenSet.data, digest: contentDigest(tokenSet.data) });

    const now = clock.now();
    const renewAt = this.#nextExchange(
      credential,
      spec,
      tokenSet.issuedAt,
      tokenSet.expiresAt,
      tokenSet.checkAgainAt,
    );
    // Scrubbed once: the same text goes to the status, the log and the Events.
    const identity = this.#identity(credential, selected, secretName);
    const warnings = (tokenSet.warnings ?? []).map((warning) => ({
      reason: warning.reason,
      message: redactor.scrub(warning.message, identity),
    }));
    const status = this.#readyStatus(credential, selected, hash, secretName, {
      issuedAt: tokenSet.issuedAt,
      expiresAt: tokenSet.expiresAt,
      renewAt,
      lastRefreshTime: now,
      tenants: tokenSet.tenants,
      warning: warnings[0],
    });
    await this.#writeStatus(credential, status);
    metrics.renewals.inc({ provider: selected.name, result: 'success' });
    metrics.renewalDuration.observe({ provider: selected.name, result: 'success' }, (now - started) / 1000);
    logger.debug(
      {
        credential: key,
        provider: selected.name,
        renewAt: iso(renewAt),
        nextCheckAt: iso(tokenSet.checkAgainAt),
        expiresAt: iso(tokenSet.expiresAt),
      },
      'next renewal planned',
    );
    this.#recordTokenMetrics(credential, selected, tokenSet.expiresAt, true, 0);
    if (!unchanged) {
      // A check that found the same tokens (IDMP cloud) is not news: no Event every few minutes.
      const verb = why === 'initial' ? 'Issued' : 'Renewed';
      const message =
        `${verb} a token from ${selected.name} into Secret ${secretName} (${why}); it expires at ${iso(tokenSet.expiresAt) ?? '?'} ` +
        `(in ${formatDuration(Math.max(0, tokenSet.expiresAt - now))}); next renewal at ${iso(renewAt) ?? '?'}.`;
      this.#deps.events.emit(this.#target(credential), 'Normal', verb, message);
    }
    const standing = standingWarning(credential)?.reason;
    for (const warning of warnings) {
      logger.warn({ credential: key, provider: selected.name, reason: warning.reason }, warning.message);
      if (warning.reason !== standing)
        this.#deps.events.emit(this.#target(credential), 'Warning', warning.reason, warning.message);
    }
    logger.info(
      {
        credential: key,
        provider: selected.name,
        why,
        expiresAt: iso(tokenSet.expiresAt),
        renewAt: iso(renewAt),
      },
      'token written',
    );
    return { requeueAt: renewAt };
  }

  /** Everything a provider call needs; reads the referenced values and registers them for redaction. */
  async #providerContext(
    credential: ApiCredential,
    spec: ApiCredentialSpec,
    selected: SelectedProvider,
    signal: AbortSignal,
    current: ProviderContext['current'],
  ): Promise<{ context: ProviderContext; secrets: string[] }> {
    const key = keyOf(credential);
    const refs = this.#references(selected);
    const { inputs, secrets } = await readInputs(this.#core, credential.metadata.namespace, refs);
    for (const value of secrets) this.#deps.redactor.add(value, key);
    const caRef = selected.provider.needs(selected.spec).caBundle;
    // Refresh tokens the provider reads or writes join `secrets` (the redactor's set after a renewal).
    const state = new ReportingStateStore(
      new SecretStateStore(this.#core, credential),
      selected.provider.secretStateKeys ?? [],
      (value) => {
        this.#deps.redactor.add(value, key);
        secrets.push(value);
      },
    );
    return {
      secrets,
      context: {
        credential: key,
        inputs,
        state,
        http: this.#deps.http.forCa(caRef ? inputs.get(caRef) : undefined, { provider: selected.name }),
        clock: this.#deps.clock,
        signal,
        keys: spec.secret.keys,
        assumedLifetimeMs:
          spec.refresh.assumedLifetime !== undefined
            ? parseDuration(spec.refresh.assumedLifetime)
            : undefined,
        current,
      },
    };
  }

  async #applyConsumerSecret(
    context: Pick<ReconcileContext, 'credential' | 'spec' | 'hash' | 'secretName' | 'rolloutPending'>,
    token: Pick<TokenSet, 'data' | 'issuedAt' | 'expiresAt' | 'expirySource' | 'checkAgainAt'>,
  ): Promise<void> {
    const { credential, spec, hash, secretName } = context;
    const written = await applySecret(
      this.#objects,
      consumerSecretBody(credential, secretName, {
        data: token.data,
        issuedAt: token.issuedAt,
        expiresAt: token.expiresAt,
        expirySource: token.expirySource,
        checkAgainAt: token.checkAgainAt,
        rolloutPendingSince: context.rolloutPending,
        inputsHash: hash,
        labels: spec.secret.labels,
        annotations: spec.secret.annotations,
      }),
    );
    this.#deps.caches.wroteSecret(written);
  }

  async #handleFailure(
    context: {
      credential: ApiCredential;
      selected: SelectedProvider;
      hash: string;
      secretName: string;
      expiresAt?: number;
    },
    error: unknown,
  ): Promise<ReconcileResult> {
    const { credential, selected, hash, secretName } = context;
    const { clock, redactor, logger, metrics } = this.#deps;
    if (error instanceof StateConflictError) {
      // Another writer (a second replica) got there first: look again from fresh state.
      return { requeueAt: clock.now() };
    }
    const failure = ProviderError.is(error)
      ? error
      : new ProviderError(
          {
            kind: 'transient',
            reason: 'InternalError',
            message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`,
          },
          { cause: error },
        );
    const message = redactor.scrub(failure.message, this.#identity(credential, selected, secretName));
    metrics.renewalFailures.inc({ provider: selected.name, reason: failure.reason });
    logger.warn(
      {
        credential: keyOf(credential),
        provider: selected.name,
        reason: failure.reason,
        kind: failure.kind,
        message,
      },
      'token request failed',
    );
    const failures = (credential.status?.consecutiveFailures ?? 0) + 1;
    const now = clock.now();
    const retryAt =
      failure.kind === 'terminal'
        ? undefined
        : nextAttemptAt({
            failures,
            now,
            retryAfterMs: failure.retryAfterMs,
            random: Math.random,
            tokenStillValidUntil: context.expiresAt,
          });
    logger.debug(
      {
        credential: keyOf(credential),
        provider: selected.name,
        reason: failure.reason,
        retryAt: iso(retryAt),
      },
      retryAt !== undefined
        ? 'retry planned'
        : 'no retry planned: waiting for the spec or an input to change',
    );
    const nextAttempt =
      retryAt !== undefined
        ? ` Next attempt at ${iso(retryAt) ?? '?'}.`
        : ' Retrying stops until the spec or a referenced Secret changes.';
    await this.#writeFailureStatus(credential, selected, {
      terminal: failure.kind === 'terminal',
      reason: failure.reason,
      message: `${message}${nextAttempt}`,
      inputsHash: hash,
      failures,
      retryAt,
      tokenValidUntil: failure.currentTokenInvalid ? undefined : context.expiresAt,
    });
    this.#deps.events.emit(this.#target(credential), 'Warning', failure.reason, `${message}${nextAttempt}`);
    this.#recordTokenMetrics(
      credential,
      selected,
      context.expiresAt,
      !failure.currentTokenInvalid && (context.expiresAt ?? 0) > now,
      failures,
    );
    // Wake at the token's expiry too, if it comes first (a long Retry-After): Ready must turn False then.
    const expiry = this.#expiryRequeue(credential, context.expiresAt).requeueAt;
    return { requeueAt: earliestOf(retryAt, expiry) };
  }

  /**
   * A failing credential whose token ran out: Ready turns False with the failure that stopped renewal.
   * Stalled, nothing is requeued (only a change of the spec or a referenced Secret can help); backing
   * off, the next attempt stays as planned.
   */
  async #reportExpired(
    context: ReconcileContext,
    expiredAt: number,
    nextAttempt: number | undefined,
  ): Promise<ReconcileResult> {
    const { credential, selected, secretName } = context;
    const now = this.#deps.clock.now();
    const previous = credential.status ?? {};
    const before = previous.conditions?.find((c) => c.type === 'Ready');
    const stall = previous.conditions?.find((c) => c.type === 'Stalled');
    const cause =
      stall?.status === 'True'
        ? `: ${stall.reason}: ${stall.message}`
        : `: ${stall?.message ?? 'renewal failed'}. Next attempt at ${iso(nextAttempt) ?? '?'}.`;
    const message = `the token in Secret ${secretName} expired at ${iso(expiredAt) ?? '?'} and was not renewed${cause}`;
    const conditions: ConditionInput[] = [
      { type: 'Ready', status: 'False', reason: 'TokenExpired', message },
      stall
        ? { type: 'Stalled', status: stall.status, reason: stall.reason, message: stall.message }
        : {
            type: 'Stalled',
            status: nextAttempt === undefined ? 'True' : 'False',
            reason: 'TokenExpired',
            message,
          },
    ];
    await this.#writeStatus(credential, {
      ...previous,
      observedGeneration: credential.metadata.generation,
      conditions: mergeConditions(previous.conditions, conditions, credential.metadata.generation, now),
    });
    this.#recordTokenMetrics(credential, selected, expiredAt, false, previous.consecutiveFailures ?? 0);
    if (before?.reason !== 'TokenExpired') {
      this.#deps.events.emit(this.#target(credential), 'Warning', 'TokenExpired', message);
      this.#deps.logger.warn(
        { credential: keyOf(credential), provider: selected.name, expiresAt: iso(expiredAt) },
        'token expired while renewal is failing',
      );
    }
    return { requeueAt: nextAttempt };
  }

  /** Wakes up when the current token expires so that Ready turns False on time. */
  #expiryRequeue(credential: ApiCredential, expiresAt?: number): ReconcileResult {
    const until = expiresAt ?? parseTime(credential.status?.expiresAt);
    return until !== undefined && until > this.#deps.clock.now() ? { requeueAt: until } : {};
  }

  #readyStatus(
    credential: ApiCredential,
    selected: SelectedProvider,
    hash: string,
    secretName: string,
    token: {
      issuedAt?: number;
      expiresAt?: number;
      renewAt?: number;
      lastRefreshTime?: number;
      tenants?: TokenSet['tenants'];
      /** A human-action warning from the provider (IDMP cloud): Ready stays True but says it. */
      warning?: { reason: string; message: string };
    },
  ): ApiCredentialStatus {
    const now = this.#deps.clock.now();
    const previous = credential.status ?? {};
    const expired = token.expiresAt !== undefined && token.expiresAt <= now;
    const conditions: ConditionInput[] = [
      expired
        ? {
            type: 'Ready',
            status: 'False',
            reason: 'TokenExpired',
            message: `the token in Secret ${secretName} expired at ${iso(token.expiresAt) ?? '?'}.`,
          }
        : token.warning
          ? { type: 'Ready', status: 'True', reason: token.warning.reason, message: token.warning.message }
          : {
              type: 'Ready',
              status: 'True',
              reason: 'TokenValid',
              message: `Secret ${secretName} holds a valid token until ${iso(token.expiresAt) ?? '?'}; renewal at ${iso(token.renewAt) ?? '?'}.`,
            },
      {
        type: 'Stalled',
        status: 'False',
        reason: 'Progressing',
        message: 'the operator keeps the token fresh.',
      },
    ];
    return {
      observedGeneration: credential.metadata.generation,
      conditions: mergeConditions(previous.conditions, conditions, credential.metadata.generation, now),
      provider: selected.name,
      secretName,
      issuedAt: iso(token.issuedAt) ?? previous.issuedAt,
      expiresAt: iso(token.expiresAt) ?? previous.expiresAt,
      lastRefreshTime: iso(token.lastRefreshTime) ?? previous.lastRefreshTime,
      nextRefreshTime: iso(token.renewAt),
      consecutiveFailures: 0,
      inputsHash: hash,
      lastHandledRefreshRequest:
        credential.metadata.annotations?.[ANNOTATION_REFRESH_REQUESTED] ?? previous.lastHandledRefreshRequest,
      tenants: token.tenants ?? previous.tenants,
    };
  }

  async #writeFailureStatus(
    credential: ApiCredential,
    selected: SelectedProvider | undefined,
    failure: {
      terminal: boolean;
      reason: string;
      message: string;
      inputsHash?: string;
      failures?: number;
      retryAt?: number;
      tokenValidUntil?: number;
    },
  ): Promise<void> {
    const now = this.#deps.clock.now();
    const previous = credential.status ?? {};
    const stillValid = failure.tokenValidUntil !== undefined && failure.tokenValidUntil > now;
    const conditions: ConditionInput[] = [
      stillValid
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'RenewalFailing',
            message: `renewal failed (${failure.reason}): ${failure.message} The current token stays valid until ${iso(failure.tokenValidUntil) ?? '?'}.`,
          }
        : { type: 'Ready', status: 'False', reason: failure.reason, message: failure.message },
      failure.terminal
        ? { type: 'Stalled', status: 'True', reason: failure.reason, message: failure.message }
        : {
            type: 'Stalled',
            status: 'False',
            reason: 'Retrying',
            message: `retrying with backoff after: ${failure.reason}`,
          },
    ];
    await this.#writeStatus(credential, {
      ...previous,
      observedGeneration: credential.metadata.generation,
      conditions: mergeConditions(previous.conditions, conditions, credential.metadata.generation, now),
      provider: selected?.name ?? previous.provider,
      consecutiveFailures: failure.failures ?? previous.consecutiveFailures ?? 0,
      lastFailureTime: failure.failures !== undefined ? iso(now) : previous.lastFailureTime,
      nextRefreshTime: iso(failure.retryAt),
      inputsHash: failure.inputsHash ?? previous.inputsHash,
      lastHandledRefreshRequest:
        credential.metadata.annotations?.[ANNOTATION_REFRESH_REQUESTED] ?? previous.lastHandledRefreshRequest,
    });
  }

  async #writeStatus(credential: ApiCredential, status: ApiCredentialStatus): Promise<void> {
    if (sameStatus(credential.status, status)) return;
    const { namespace, name } = credential.metadata;
    // A merge patch keeps a field it does not mention: send null for those the new status drops
    // (nextRefreshTime after a terminal failure), or kubectl would show a renewal that never comes.
    const dropped = Object.keys(credential.status ?? {}).filter(
      (field) => status[field as keyof ApiCredentialStatus] === undefined,
    );
    const body = { status: { ...status, ...Object.fromEntries(dropped.map((field) => [field, null])) } };
    const written: unknown = await this.#customObjects.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#wroteCredential(written);
  }

  /**
   * Publishes what the status already says. A new leader or a restarted operator reaches a waiting
   * credential only through this: without it the series would be missing and no alert could fire.
   */
  #recordStandingMetrics(
    credential: ApiCredential,
    selected: SelectedProvider,
    expiresAt: number | undefined,
  ): void {
    const ready = credential.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    this.#recordTokenMetrics(
      credential,
      selected,
      expiresAt,
      ready,
      credential.status?.consecutiveFailures ?? 0,
    );
  }

  #recordTokenMetrics(
    credential: ApiCredential,
    selected: SelectedProvider,
    expiresAt: number | undefined,
    ready: boolean,
    failures: number,
  ): void {
    const labels = {
      namespace: credential.metadata.namespace,
      name: credential.metadata.name,
      provider: selected.name,
    };
    const { metrics } = this.#deps;
    if (expiresAt !== undefined) metrics.tokenExpiry.set(labels, expiresAt / 1000);
    metrics.credentialReady.set(labels, ready ? 1 : 0);
    metrics.consecutiveFailures.set(labels, failures);
  }

  #target(credential: ApiCredential): {
    namespace: string;
    name: string;
    uid: string;
    resourceVersion?: string;
  } {
    return {
      namespace: credential.metadata.namespace,
      name: credential.metadata.name,
      uid: credential.metadata.uid,
      resourceVersion: credential.metadata.resourceVersion,
    };
  }

  async #setFinalizer(credential: ApiCredential, present: boolean): Promise<void> {
    const current = credential.metadata.finalizers ?? [];
    const finalizers = present
      ? [...current.filter((f) => f !== FINALIZER), FINALIZER]
      : current.filter((f) => f !== FINALIZER);
    const { namespace, name, resourceVersion } = credential.metadata;
    // Merge patch with resourceVersion: a concurrent change makes it fail with 409 and the key is retried.
    const written: unknown = await this.#customObjects.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name,
        body: { metadata: { finalizers, resourceVersion } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    this.#wroteCredential(written);
  }

  #wroteCredential(written: unknown): void {
    if (isApiCredential(written)) this.#deps.caches.wroteCredential(written);
  }

  async #finalize(credential: ApiCredential): Promise<ReconcileResult> {
    const key = keyOf(credential);
    if (!credential.metadata.finalizers?.includes(FINALIZER)) {
      this.forget(key);
      return {};
    }
    const parsed = this.#deps.providers.specSchema.safeParse(credential.spec);
    const selected = parsed.success ? selectProvider(this.#deps.providers, parsed.data) : undefined;
    if (parsed.success && selected?.provider.release && this.#releaseEnabled(selected)) {
      const signal = AbortSignal.timeout(this.#deps.options.releaseTimeoutMs);
      try {
        const secretName = parsed.data.secret.name ?? credential.metadata.name;
        const written = await this.#currentToken(
          credential,
          secretName,
          this.#deps.caches.secret(credential.metadata.namespace, secretName),
          Object.values(parsed.data.secret.keys),
          publicOutputKey(parsed.data.secret.keys, selected.provider),
        );
        const { context } = await this.#providerContext(
          credential,
          parsed.data,
          selected,
          signal,
          written ? { data: written.data, issuedAt: 0, expiresAt: 0 } : undefined,
        );
        const outcome = await selected.provider.release(selected.spec, context);
        this.#deps.events.emit(
          this.#target(credential),
          'Normal',
          outcome === 'released' ? 'Revoked' : 'RevocationUnsupported',
          outcome === 'released'
            ? 'the token was revoked at the provider before deletion.'
            : 'the provider offers no revocation; the token expires on its own.',
        );
      } catch (error) {
        // Never block deletion forever: record why and let the ApiCredential go.
        const message = this.#deps.redactor.scrub(
          error instanceof Error ? error.message : String(error),
          this.#identity(credential, selected, parsed.data.secret.name ?? credential.metadata.name),
        );
        this.#deps.events.emit(
          this.#target(credential),
          'Warning',
          'RevocationFailed',
          `revocation at deletion failed, deleting anyway: ${message}`,
        );
      }
    }
    await this.#setFinalizer(credential, false);
    this.forget(key);
    return {};
  }

  /** The names a scrubbed message keeps even when a secret is spelled the same (redaction.ts). */
  #identity(credential: ApiCredential, selected: SelectedProvider, secretName: string): string[] {
    return identityOf(credential, secretName, this.#references(selected));
  }

  /**
   * What the consumer Secret holds now: from memory, or after a restart read back once from the
   * Secret (the keys the operator wrote), so providers can keep or revoke it.
   */
  async #currentToken(
    credential: ApiCredential,
    secretName: string,
    view: SecretView | undefined,
    fallbackKeys: string[],
    isPublicOutput: (key: string) => boolean,
  ): Promise<Written | undefined> {
    const key = keyOf(credential);
    const remembered = this.#written.get(key);
    if (remembered || !view || ownershipOf(view, credential).state !== 'ours') return remembered;
    const refs: InputReference[] = writtenKeysOf(view, fallbackKeys).map((dataKey) => ({
      kind: 'Secret',
      name: secretName,
      key: dataKey,
      fieldPath: 'spec.secret',
      secret: !isPublicOutput(dataKey),
      optional: true,
    }));
    const { inputs, secrets } = await readInputs(this.#core, credential.metadata.namespace, refs);
    const data: Record<string, string> = {};
    for (const ref of refs) {
      const value = inputs.get(ref);
      if (value !== undefined) data[ref.key] = value;
    }
    if (Object.keys(data).length === 0) return undefined;
    for (const value of secrets) this.#deps.redactor.add(value, key);
    const written = { data, digest: contentDigest(data) };
    this.#written.set(key, written);
    return written;
  }
}
