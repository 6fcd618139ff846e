// plan, for a provider call: the writes after a new token set, and after a failed exchange (backoff,
// terminal or retryable, the current token kept valid or not).
import { keyOf } from '../kube/object-key.ts';
import { nextAttemptAt } from '../policy/backoff.ts';
import type { ObtainReason } from '../policy/decide.ts';
import { formatDuration } from '../policy/duration.ts';
import { pendingMarkerForWrite } from '../policy/rollout.ts';
import { earliest, formatTime } from '../policy/time.ts';
import type { TokenSet } from '../providers/types.ts';
import { ANNOTATION_CONTENT_DIGEST, consumerSecretBody, contentDigest } from '../secrets/consumer.ts';
import { consumerSecretData } from '../secrets/template.ts';
import { failureStatus, readyStatus, standingWarning, type Warning } from './conditions.ts';
import type { ReconcileContext } from './context.ts';
import type { ClassifiedFailure, ExchangeResult } from './exchange.ts';
import { nextExchange } from './observe.ts';
import { planAwaiting } from './plan-awaiting.ts';
import { expiryRequeue, statusWrites, type PlanEnv } from './plan-shared.ts';
import type { Plan, Write } from './writer.ts';

export function planExchange(
  why: ObtainReason,
  context: ReconcileContext,
  env: PlanEnv,
  exchange: ExchangeResult,
): Plan {
  const seconds = (exchange.finishedAt - exchange.startedAt) / 1000;
  const provider = context.selected.name;
  if (exchange.type === 'token') {
    const rendered = consumerSecretData(context.spec.secret, exchange.tokenSet);
    if (rendered.ok) {
      const success: Write = { kind: 'renewal-metrics', provider, result: 'success', seconds };
      return planToken(why, context, env, { ...exchange, data: rendered.data, success });
    }
    // A template only rendering finds wrong (a tenant it names is missing): the token is not written.
    const failure = { kind: 'terminal', reason: 'InvalidSpec', message: rendered.message } as const;
    const plan = planFailure(
      context,
      { ...failure, currentTokenInvalid: false },
      exchange.finishedAt,
      env.random,
    );
    const failed: Write = { kind: 'renewal-metrics', provider, result: 'failure', seconds };
    return { ...plan, writes: [failed, ...plan.writes] };
  }
  // No call was made and nothing failed: come back when the host's line has moved, writing nothing.
  if (exchange.type === 'throttled')
    return { writes: [], requeueAt: exchange.retryAt, rolloutPending: context.rolloutPending };
  const failed: Write = { kind: 'renewal-metrics', provider, result: 'failure', seconds };
  if (exchange.type === 'awaiting') return planAwaiting(context, exchange.approval, exchange.finishedAt);
  if (exchange.type === 'conflict')
    return { writes: [failed], requeueAt: exchange.finishedAt, rolloutPending: context.rolloutPending };
  const plan = planFailure(context, exchange.failure, exchange.finishedAt, env.random);
  return { ...plan, writes: [failed, ...plan.writes] };
}

interface Obtained {
  tokenSet: TokenSet;
  /** The consumer Secret's data: the token set's and the rendered template keys. */
  data: Record<string, string>;
  warnings: Warning[];
  finishedAt: number;
  success: Write;
}

function planToken(why: ObtainReason, context: ReconcileContext, env: PlanEnv, obtained: Obtained): Plan {
  const { credential, spec, selected, secretName } = context;
  const { tokenSet, data, warnings, finishedAt: now } = obtained;
  const unchanged = context.view?.annotations[ANNOTATION_CONTENT_DIGEST] === contentDigest(data);
  const rolloutPending = pendingMarkerForWrite({
    hasTargets: (spec.rolloutRestartTargets ?? []).length > 0,
    tokenChanged: !unchanged,
    hadToken: context.view !== undefined || credential.status?.issuedAt !== undefined,
    pending: context.rolloutPending,
    now,
  });
  const checkAt = tokenSet.checkAgainAt;
  const token = { issuedAt: tokenSet.issuedAt, expiresAt: tokenSet.expiresAt, checkAt };
  const renewAt = nextExchange(credential, spec, token, env.options);
  const status = readyStatus(
    credential,
    { provider: selected.name, hash: context.hash, secretName, now },
    { ...token, renewAt, lastRefreshTime: now, tenants: tokenSet.tenants, warning: warnings[0] },
  );
  const fields = { credential: keyOf(credential), provider: selected.name };
  const times = {
    renewAt: formatTime(renewAt, 'seconds'),
    expiresAt: formatTime(tokenSet.expiresAt, 'seconds'),
  };
  const writes: Write[] = [
    { kind: 'secret', body: tokenSecretBody(context, tokenSet, data, rolloutPending), fresh: true },
    { kind: 'remember', data },
    ...statusWrites(credential, status),
    obtained.success,
    {
      kind: 'log',
      level: 'debug',
      fields: { ...fields, ...times, nextCheckAt: formatTime(checkAt, 'seconds') },
      message: 'next renewal planned',
    },
    {
      kind: 'token-metrics',
      provider: selected.name,
      expiresAt: tokenSet.expiresAt,
      ready: true,
      failures: 0,
      stalled: false,
    },
    ...(unchanged ? [] : [tokenEvent(why, context, tokenSet, { now, renewAt })]),
    ...warningWrites(context, warnings),
    { kind: 'log', level: 'info', fields: { ...fields, why, ...times }, message: 'token written' },
  ];
  return { writes, requeueAt: renewAt, rolloutPending };
}

function tokenSecretBody(
  context: ReconcileContext,
  tokenSet: TokenSet,
  data: Record<string, string>,
  rolloutPending: number | undefined,
) {
  return consumerSecretBody(context.credential, context.secretName, {
    data,
    issuedAt: tokenSet.issuedAt,
    expiresAt: tokenSet.expiresAt,
    expirySource: tokenSet.expirySource,
    checkAgainAt: tokenSet.checkAgainAt,
    rolloutPendingSince: rolloutPending,
    inputsHash: context.hash,
    labels: context.spec.secret.labels,
    annotations: context.spec.secret.annotations,
  });
}

/** A check that found the same tokens (IDMP cloud) is not news: no Event every few minutes. */
function tokenEvent(
  why: ObtainReason,
  context: ReconcileContext,
  tokenSet: TokenSet,
  at: { now: number; renewAt: number },
): Write {
  const verb = why === 'initial' ? 'Issued' : 'Renewed';
  const message =
    `${verb} a token from ${context.selected.name} into Secret ${context.secretName} (${why}); it expires at ${formatTime(tokenSet.expiresAt, 'seconds')} ` +
    `(in ${formatDuration(Math.max(0, tokenSet.expiresAt - at.now))}); next renewal at ${formatTime(at.renewAt, 'seconds')}.`;
  return { kind: 'event', type: 'Normal', reason: verb, message };
}

/** Every warning is logged; one that already stands in Ready is not announced again. */
function warningWrites(context: ReconcileContext, warnings: Warning[]): Write[] {
  const standing = standingWarning(context.credential)?.reason;
  const fields = { credential: keyOf(context.credential), provider: context.selected.name };
  return warnings.flatMap((warning): Write[] => [
    { kind: 'log', level: 'warn', fields: { ...fields, reason: warning.reason }, message: warning.message },
    ...(warning.reason !== standing
      ? [{ kind: 'event', type: 'Warning', reason: warning.reason, message: warning.message } satisfies Write]
      : []),
  ]);
}

/** When to try again after a failure; undefined for a terminal one (wait for an input to change). */
export function retryAtAfter(
  failure: ClassifiedFailure,
  failures: number,
  now: number,
  random: () => number,
  tokenStillValidUntil: number | undefined,
): number | undefined {
  if (failure.kind === 'terminal') return undefined;
  return nextAttemptAt({ failures, now, retryAfterMs: failure.retryAfterMs, random, tokenStillValidUntil });
}

export function planFailure(
  context: ReconcileContext,
  failure: ClassifiedFailure,
  now: number,
  random: () => number,
): Plan {
  const { credential, selected, hash, expiresAt } = context;
  const fields = { credential: keyOf(credential), provider: selected.name, reason: failure.reason };
  const failures = (credential.status?.consecutiveFailures ?? 0) + 1;
  const retryAt = retryAtAfter(failure, failures, now, random, expiresAt);
  const nextAttempt =
    retryAt !== undefined
      ? ` Next attempt at ${formatTime(retryAt, 'seconds')}.`
      : ' Retrying stops until the spec or a referenced Secret changes.';
  const message = `${failure.message}${nextAttempt}`;
  const terminal = failure.kind === 'terminal';
  const tokenValidUntil = failure.currentTokenInvalid ? undefined : expiresAt;
  const outcome = {
    terminal,
    reason: failure.reason,
    message,
    inputsHash: hash,
    failures,
    retryAt,
    tokenValidUntil,
  };
  const ready = !failure.currentTokenInvalid && (expiresAt ?? 0) > now;
  const writes: Write[] = [
    { kind: 'failure-metric', provider: selected.name, reason: failure.reason },
    {
      kind: 'log',
      level: 'warn',
      fields: { ...fields, kind: failure.kind, message: failure.message },
      message: 'token request failed',
    },
    {
      kind: 'log',
      level: 'debug',
      fields: { ...fields, retryAt: formatTime(retryAt, 'seconds') },
      message:
        retryAt !== undefined
          ? 'retry planned'
          : 'no retry planned: waiting for the spec or an input to change',
    },
    ...statusWrites(credential, failureStatus(credential, selected.name, outcome, now)),
    { kind: 'event', type: 'Warning', reason: failure.reason, message },
    { kind: 'token-metrics', provider: selected.name, expiresAt, ready, failures, stalled: outcome.terminal },
  ];
  // Wake at the token's expiry too, if it comes first (a long Retry-After): Ready must turn False then.
  const requeueAt = earliest(retryAt, expiryRequeue(credential, now, expiresAt));
  return { writes, requeueAt, rolloutPending: context.rolloutPending };
}
