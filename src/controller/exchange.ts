// exchange: the provider call. Builds the ProviderContext (inputs read from the apiserver, the state
// store, the HTTP client for the CA bundle), calls obtain() or release(), and returns what happened as
// a value: a token set, or a classified failure. It writes no Kubernetes object itself; only the
// provider writes, through the StateStore.
import type { ApiCredential, ApiCredentialSpec } from '../api/apicredential.ts';
import type { HttpClientFactory } from '../http/client.ts';
import { keyOf } from '../kube/object-key.ts';
import type { SecretView } from '../kube/secret-view.ts';
import type { SecretRedactor } from '../observability/redactor.ts';
import type { Clock } from '../policy/clock.ts';
import { parseDuration } from '../policy/duration.ts';
import { AwaitingUserApproval, type UserApprovalRequest } from '../errors/awaiting-approval.ts';
import { ProviderError, StateConflictError, type FailureKind } from '../errors/failure.ts';
import type { SelectedProvider } from '../providers/registry.ts';
import type {
  InputReference,
  Inputs,
  MintedServiceAccountToken,
  ProviderContext,
  ServiceAccountTokenMinter,
  StateStore,
  TokenSet,
} from '../providers/types.ts';
import { contentDigest, ownershipOf, writtenKeysOf } from '../secrets/consumer.ts';
import type { Warning } from './conditions.ts';
import type { ReconcileContext, TokenMemory, WrittenToken } from './context.ts';
import { consumerSecretData } from '../secrets/template.ts';
import { ReportingStateStore, identityOf, publicOutputKey, tokenSecrets } from './redaction.ts';

/** Reads referenced values from the apiserver; `secrets` are those to redact. */
export type InputSource = (
  namespace: string,
  refs: InputReference[],
) => Promise<{ inputs: Inputs; secrets: string[] }>;

export interface ExchangeDeps {
  readInputs: InputSource;
  stateStore: (credential: ApiCredential) => StateStore;
  /** TokenRequest in `namespace` (kube/service-account-token.ts); absent where no apiserver is. */
  mintServiceAccountToken?: (
    namespace: string,
    request: Omit<Parameters<ServiceAccountTokenMinter>[0], 'signal'>,
  ) => Promise<MintedServiceAccountToken>;
  http: Pick<HttpClientFactory, 'forCa'>;
  clock: Clock;
  redactor: SecretRedactor;
  /**
   * Awaited once per renewal, before its provider calls: the rate limit of the provider's host
   * (ProviderNeeds.rateLimitKey). `deferMs`: the host's line is full; try again that much later.
   */
  acquireProviderSlot: (
    rateLimitKey: string,
    signal: AbortSignal,
  ) => Promise<{ deferMs?: number } | undefined>;
  memory: TokenMemory;
  options: { providerTimeoutMs: number; releaseTimeoutMs: number };
}

/** A failed exchange as the plan needs it; the message is already scrubbed. */
export interface ClassifiedFailure {
  kind: FailureKind;
  reason: string;
  message: string;
  retryAfterMs?: number;
  currentTokenInvalid: boolean;
}

/** The provider waits for a person to approve (device grant); the message is already scrubbed. */
export interface PendingApproval {
  reason: string;
  message: string;
  request: UserApprovalRequest;
  pollAt: number;
}

interface Timing {
  startedAt: number;
  finishedAt: number;
}

export type ExchangeResult =
  | ({ type: 'token'; tokenSet: TokenSet; warnings: Warning[] } & Timing)
  /** Another writer (a second replica) changed the state Secret first: look again from fresh state. */
  | ({ type: 'conflict' } & Timing)
  /** The provider host's rate limit line was full: no call was made; try again at retryAt. */
  | ({ type: 'throttled'; retryAt: number } & Timing)
  | ({ type: 'failure'; failure: ClassifiedFailure } & Timing)
  | ({ type: 'awaiting'; approval: PendingApproval } & Timing);

export type ReleaseResult = { type: 'released' | 'unsupported' } | { type: 'failed'; message: string };

/** Any error as a ProviderError: an unexpected one is transient (InternalError). */
export function asProviderError(error: unknown): ProviderError {
  if (ProviderError.is(error)) return error;
  const message = `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
  return new ProviderError({ kind: 'transient', reason: 'InternalError', message }, { cause: error });
}

export class Exchanger {
  readonly #deps: ExchangeDeps;

  constructor(deps: ExchangeDeps) {
    this.#deps = deps;
  }

  async obtain(context: ReconcileContext): Promise<ExchangeResult> {
    const { clock, options } = this.#deps;
    const startedAt = clock.now();
    const signal = AbortSignal.timeout(options.providerTimeoutMs);
    try {
      const slot = await this.#deps.acquireProviderSlot(context.needs.rateLimitKey, signal);
      if (slot?.deferMs !== undefined) {
        const finishedAt = clock.now();
        return { type: 'throttled', retryAt: finishedAt + slot.deferMs, startedAt, finishedAt };
      }
      const { tokenSet, secrets } = await this.#callObtain(context, signal, startedAt);
      return {
        type: 'token',
        ...this.#remember(context, tokenSet, secrets),
        startedAt,
        finishedAt: clock.now(),
      };
    } catch (error) {
      const finishedAt = clock.now();
      if (error instanceof StateConflictError) return { type: 'conflict', startedAt, finishedAt };
      if (AwaitingUserApproval.is(error))
        return { type: 'awaiting', approval: this.#pending(context, error), startedAt, finishedAt };
      return { type: 'failure', failure: this.#classify(context, error), startedAt, finishedAt };
    }
  }

  async #callObtain(
    context: ReconcileContext,
    signal: AbortSignal,
    startedAt: number,
  ): Promise<{ tokenSet: TokenSet; secrets: string[] }> {
    const { credential, spec, selected, observation } = context;
    const written = await this.currentToken(credential, spec, selected, context.view);
    const output = observation.output;
    const current =
      written && output.state === 'ours' && output.issuedAt !== undefined
        ? { data: written.data, issuedAt: output.issuedAt, expiresAt: context.expiresAt ?? 0 }
        : undefined;
    const prepared = await this.#providerContext(credential, spec, selected, signal, current);
    const deadline = startedAt + this.#deps.options.providerTimeoutMs;
    const tokenSet = await selected.provider.obtain(selected.spec, { ...prepared.context, deadline });
    return { tokenSet, secrets: prepared.secrets };
  }

  /** The redactor holds exactly this credential's current secrets: rotated tokens are let go. */
  #remember(
    context: ReconcileContext,
    tokenSet: TokenSet,
    inputSecrets: string[],
  ): { tokenSet: TokenSet; warnings: Warning[] } {
    const { redactor } = this.#deps;
    const isPublicOutput = publicOutputKey(context.spec.secret.keys, context.selected.provider);
    // The rendered keys too: a template may transform a token (base64 in a config.json) beyond recognition.
    const rendered = consumerSecretData(context.spec.secret, tokenSet);
    redactor.replace(keyOf(context.credential), [
      ...inputSecrets,
      ...tokenSecrets(rendered.ok ? rendered.data : tokenSet.data, isPublicOutput),
    ]);
    // Scrubbed once: the same text goes to the status, the log and the Events.
    const identity = this.#identity(context.credential, context.selected, context.secretName);
    const warnings = (tokenSet.warnings ?? []).map((warning) => ({
      reason: warning.reason,
      message: redactor.scrub(warning.message, identity),
    }));
    return { tokenSet, warnings };
  }

  #classify(context: ReconcileContext, error: unknown): ClassifiedFailure {
    const failure = asProviderError(error);
    const identity = this.#identity(context.credential, context.selected, context.secretName);
    return {
      kind: failure.kind,
      reason: failure.reason,
      message: this.#deps.redactor.scrub(failure.message, identity),
      retryAfterMs: failure.retryAfterMs,
      currentTokenInvalid: failure.currentTokenInvalid,
    };
  }

  #pending(context: ReconcileContext, waiting: AwaitingUserApproval): PendingApproval {
    const identity = this.#identity(context.credential, context.selected, context.secretName);
    return {
      reason: waiting.reason,
      message: this.#deps.redactor.scrub(waiting.message, identity),
      request: waiting.request,
      pollAt: waiting.pollAt,
    };
  }

  /** Revokes or logs out at deletion; never throws, so deletion is never blocked. */
  async release(
    context: Pick<ReconcileContext, 'credential' | 'spec' | 'selected' | 'secretName' | 'view'>,
  ): Promise<ReleaseResult> {
    const { credential, spec, selected, secretName } = context;
    if (!selected.provider.release) return { type: 'unsupported' };
    const signal = AbortSignal.timeout(this.#deps.options.releaseTimeoutMs);
    try {
      const written = await this.currentToken(credential, spec, selected, context.view, secretName);
      const current = written ? { data: written.data, issuedAt: 0, expiresAt: 0 } : undefined;
      const prepared = await this.#providerContext(credential, spec, selected, signal, current);
      return { type: await selected.provider.release(selected.spec, prepared.context) };
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const identity = this.#identity(credential, selected, secretName);
      return { type: 'failed', message: this.#deps.redactor.scrub(text, identity) };
    }
  }

  /**
   * What the consumer Secret holds now: from memory, or after a restart read back once from the
   * Secret (the keys the operator wrote), so providers can keep or revoke it.
   */
  async currentToken(
    credential: ApiCredential,
    spec: ApiCredentialSpec,
    selected: SelectedProvider,
    view: SecretView | undefined,
    secretName = spec.secret.name ?? credential.metadata.name,
  ): Promise<WrittenToken | undefined> {
    const key = keyOf(credential);
    const remembered = this.#deps.memory.get(key);
    if (remembered || !view || ownershipOf(view, credential).state !== 'ours') return remembered;
    const isPublicOutput = publicOutputKey(spec.secret.keys, selected.provider);
    const refs: InputReference[] = writtenKeysOf(view, Object.values(spec.secret.keys)).map((dataKey) => ({
      kind: 'Secret',
      name: secretName,
      key: dataKey,
      fieldPath: 'spec.secret',
      secret: !isPublicOutput(dataKey),
      optional: true,
    }));
    const { inputs, secrets } = await this.#deps.readInputs(credential.metadata.namespace, refs);
    const data: Record<string, string> = {};
    for (const ref of refs) {
      const value = inputs.get(ref);
      if (value !== undefined) data[ref.key] = value;
    }
    if (Object.keys(data).length === 0) return undefined;
    for (const value of secrets) this.#deps.redactor.add(value, key);
    const written = { data, digest: contentDigest(data) };
    this.#deps.memory.set(key, written);
    return written;
  }

  /** Everything a provider call needs; reads the referenced values and registers them for redaction. */
  async #providerContext(
    credential: ApiCredential,
    spec: ApiCredentialSpec,
    selected: SelectedProvider,
    signal: AbortSignal,
    current: ProviderContext['current'],
  ): Promise<{ context: ProviderContext; secrets: string[] }> {
    const { redactor } = this.#deps;
    const key = keyOf(credential);
    const needs = selected.provider.needs(selected.spec);
    const { inputs, secrets } = await this.#deps.readInputs(credential.metadata.namespace, needs.inputs);
    for (const value of secrets) redactor.add(value, key);
    // Refresh tokens the provider reads or writes join `secrets` (the redactor's set after a renewal).
    const state = new ReportingStateStore(
      this.#deps.stateStore(credential),
      selected.provider.secretStateKeys ?? [],
      (value) => {
        redactor.add(value, key);
        secrets.push(value);
      },
    );
    const ca = needs.caBundle ? inputs.get(needs.caBundle) : undefined;
    const mint = this.#deps.mintServiceAccountToken;
    // A minted assertion is a credential like an input: redacted from the moment it exists.
    const mintServiceAccountToken: ServiceAccountTokenMinter | undefined = mint
      ? async ({ signal, ...request }) => {
          signal.throwIfAborted();
          const minted = await mint(credential.metadata.namespace, request);
          redactor.add(minted.token, key);
          secrets.push(minted.token);
          return minted;
        }
      : undefined;
    const { assumedLifetime } = spec.refresh;
    return {
      secrets,
      context: {
        credential: key,
        inputs,
        state,
        http: this.#deps.http.forCa(ca, { provider: selected.name }),
        clock: this.#deps.clock,
        signal,
        keys: spec.secret.keys,
        assumedLifetimeMs: assumedLifetime !== undefined ? parseDuration(assumedLifetime) : undefined,
        current,
        mintServiceAccountToken,
      },
    };
  }

  /** The names a scrubbed message keeps even when a secret is spelled the same (redaction.ts). */
  #identity(credential: ApiCredential, selected: SelectedProvider, secretName: string): string[] {
    return identityOf(credential, secretName, selected.provider.needs(selected.spec).inputs);
  }
}
