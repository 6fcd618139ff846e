// observe: reads the caches only and returns a plain observation of one ApiCredential, with the
// times it derived from the consumer Secret (issue, expiry, renewal, next check).
import {
  ANNOTATION_REFRESH_REQUESTED,
  FINALIZER,
  type ApiCredential,
  type ApiCredentialSpec,
} from '../api/apicredential.ts';
import { keyOf } from '../kube/object-key.ts';
import type { SecretView } from '../kube/secret-view.ts';
import type { Observation } from '../policy/decide.ts';
import { parseDuration } from '../policy/duration.ts';
import { planRenewal } from '../policy/renewal.ts';
import { stableRandom } from '../policy/stable-random.ts';
import { selectProvider, type ProviderRegistry, type SelectedProvider } from '../providers/registry.ts';
import type { InputReference } from '../providers/types.ts';
import {
  ANNOTATION_CONTENT_DIGEST,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_INPUTS_HASH,
  ANNOTATION_ISSUED_AT,
  ANNOTATION_NEXT_CHECK_AT,
  ANNOTATION_ROLLOUT_PENDING,
  isIntact,
  ownershipOf,
  parseTime,
  writtenKeysOf,
} from '../secrets/consumer.ts';
import { checkTemplates } from '../secrets/template.ts';
import type { Caches, ReconcileContext, TokenMemory } from './context.ts';
import { isStalled } from './status.ts';
import { describeMissing, inputsHash, missingInputs } from './inputs.ts';

export interface RenewalOptions {
  /** A pod must never read an expired token: renew at least this long before expiry. */
  propagationMarginMs: number;
  /** Share of the time from issue to renewal by which renewal may move earlier, to spread load. */
  jitterFraction: number;
}

export interface ObserveDeps {
  caches: Pick<Caches, 'secret' | 'configMap'>;
  providers: ProviderRegistry;
  memory: TokenMemory;
  options: RenewalOptions;
}

/** A credential the controller cannot act on; the status says why and retrying waits for a change. */
export interface Rejection {
  reason: 'InvalidSpec' | 'UnsupportedProvider' | 'MissingInput';
  message: string;
  selected?: SelectedProvider;
  inputsHash?: string;
}

export type Gathered =
  | { type: 'rejected'; rejection: Rejection; references: InputReference[] }
  | { type: 'observed'; context: ReconcileContext; needsFinalizer: boolean };

export function gather(credential: ApiCredential, now: number, deps: ObserveDeps): Gathered {
  const parsed = deps.providers.specSchema.safeParse(credential.spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = ['spec', ...(issue?.path ?? []).map(String)].join('.');
    const message = `${field}: ${issue?.message ?? 'invalid'}. Fix the ApiCredential spec.`;
    return { type: 'rejected', rejection: { reason: 'InvalidSpec', message }, references: [] };
  }
  const spec = parsed.data;
  const selected = selectProvider(deps.providers, spec);
  if (!selected) {
    const message = `spec.provider names a provider this operator version does not support (${Object.keys(spec.provider).join(', ')}).`;
    return { type: 'rejected', rejection: { reason: 'UnsupportedProvider', message }, references: [] };
  }
  const needs = selected.provider.needs(selected.spec);
  const namespace = credential.metadata.namespace;
  const lookup = (kind: InputReference['kind'], ns: string, name: string): SecretView | undefined =>
    kind === 'Secret' ? deps.caches.secret(ns, name) : deps.caches.configMap(ns, name);
  const hash = inputsHash(spec, needs.inputs, namespace, lookup);
  // Before any provider call: a single-use refresh token must not be spent on a Secret never written.
  // The hash is recorded so that fixing the template (which changes it) ends the stall.
  const templateProblem = checkTemplates(spec.secret.template);
  if (templateProblem !== undefined) {
    const message = `${templateProblem} Fix the ApiCredential spec.`;
    const rejection: Rejection = { reason: 'InvalidSpec', message, selected, inputsHash: hash };
    return { type: 'rejected', rejection, references: needs.inputs };
  }
  const missing = missingInputs(needs.inputs, namespace, lookup);
  if (missing.length > 0) {
    const message = `${describeMissing(missing, namespace)}. Create it in namespace ${namespace}; the operator retries as soon as it appears.`;
    const rejection: Rejection = { reason: 'MissingInput', message, selected, inputsHash: hash };
    return { type: 'rejected', rejection, references: needs.inputs };
  }
  const secretName = spec.secret.name ?? credential.metadata.name;
  const view = deps.caches.secret(namespace, secretName);
  const observed = observe({ credential, spec, hash, view, now, memory: deps.memory, options: deps.options });
  const context: ReconcileContext = {
    credential,
    spec,
    selected,
    needs,
    hash,
    secretName,
    view,
    ...observed,
  };
  const needsFinalizer =
    releasesOnDelete(selected) && !(credential.metadata.finalizers?.includes(FINALIZER) ?? false);
  return { type: 'observed', context, needsFinalizer };
}

/** Whether deleting the credential calls the provider's release(), so a finalizer must hold it. */
export function releasesOnDelete(selected: SelectedProvider): boolean {
  return selected.provider.release !== undefined && selected.provider.needs(selected.spec).releaseOnDelete;
}

export interface ObserveInput {
  credential: ApiCredential;
  spec: ApiCredentialSpec;
  hash: string;
  view: SecretView | undefined;
  now: number;
  memory: TokenMemory;
  options: RenewalOptions;
}

export interface Observed {
  observation: Observation;
  issuedAt?: number;
  expiresAt?: number;
  renewAt?: number;
  rolloutPending?: number;
}

export function observe(input: ObserveInput): Observed {
  const { credential, spec, view } = input;
  const status = credential.status ?? {};
  const output = outputOf(input);
  const ours = output.state === 'ours' && view !== undefined;
  const checkAt = ours ? parseTime(view.annotations[ANNOTATION_NEXT_CHECK_AT]) : undefined;
  const issuedAt = ours ? output.issuedAt : undefined;
  const expiresAt = ours ? output.expiresAt : undefined;
  const renewAt =
    issuedAt !== undefined && expiresAt !== undefined
      ? nextExchange(credential, spec, { issuedAt, expiresAt, checkAt }, input.options)
      : undefined;
  const written = input.memory.get(keyOf(credential));
  const requested = credential.metadata.annotations?.[ANNOTATION_REFRESH_REQUESTED];
  const failures = status.consecutiveFailures ?? 0;
  const awaitingApproval = status.userApproval !== undefined;
  const observation: Observation = {
    now: input.now,
    inputsHash: input.hash,
    output,
    canRepairFromMemory:
      written !== undefined &&
      view !== undefined &&
      view.annotations[ANNOTATION_CONTENT_DIGEST] === written.digest,
    failure: {
      consecutiveFailures: failures,
      retryAt: failures > 0 || awaitingApproval ? parseTime(status.nextRefreshTime) : undefined,
      awaitingApproval,
      terminal: isStalled(status),
      inputsHash: status.inputsHash,
      specEdited:
        status.observedGeneration !== undefined &&
        credential.metadata.generation !== undefined &&
        credential.metadata.generation !== status.observedGeneration,
    },
    takeOverAllowed: spec.secret.takeOver,
    manualRefreshRequested:
      requested !== undefined && requested !== '' && requested !== status.lastHandledRefreshRequest,
    renewAt,
    checkAt,
    statusSaysReady: status.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
  };
  const rolloutPending = ours ? parseTime(view.annotations[ANNOTATION_ROLLOUT_PENDING]) : undefined;
  return { observation, issuedAt, expiresAt, renewAt, rolloutPending };
}

function outputOf(input: ObserveInput): Observation['output'] {
  const { credential, spec, view } = input;
  const ownership = ownershipOf(view, credential);
  if (ownership.state === 'foreign') return { state: 'foreign', owner: ownership.owner };
  if (ownership.state !== 'ours' || !view) return { state: 'absent' };
  const writtenKeys = writtenKeysOf(view, Object.values(spec.secret.keys));
  return {
    state: 'ours',
    inputsHash: view.annotations[ANNOTATION_INPUTS_HASH],
    issuedAt: parseTime(view.annotations[ANNOTATION_ISSUED_AT]),
    expiresAt: parseTime(view.annotations[ANNOTATION_EXPIRES_AT]),
    intact: isIntact(view, writtenKeys),
    layoutCurrent: writtenKeys.every((k) => view.keyDigests[k] !== undefined),
  };
}

/**
 * When to call the provider next. A provider that schedules its own checks (IDMP cloud) is called
 * then, or at expiry: the renewal plan would bunch its checks up as expiry nears.
 */
export function nextExchange(
  credential: ApiCredential,
  spec: ApiCredentialSpec,
  token: { issuedAt: number; expiresAt: number; checkAt: number | undefined },
  options: RenewalOptions,
): number {
  if (token.checkAt !== undefined) return Math.min(token.checkAt, token.expiresAt);
  const renewBefore =
    spec.refresh.renewBefore !== undefined
      ? { durationMs: parseDuration(spec.refresh.renewBefore) }
      : { percentage: spec.refresh.renewBeforePercentage ?? 33 };
  return planRenewal({
    issuedAt: token.issuedAt,
    expiresAt: token.expiresAt,
    renewBefore,
    propagationMarginMs: options.propagationMarginMs,
    jitterFraction: options.jitterFraction,
    random: () => stableRandom(credential.metadata.uid, token.issuedAt),
  }).renewAt;
}
