// plan: pure. Turns the decision (and, for an exchange, its result) into the list of writes: the
// consumer Secret, the status, the finalizer, Events, metrics and log lines, and the next look.
import { FINALIZER, type ApiCredential } from '../api/apicredential.ts';
import { keyOf } from '../kube/object-key.ts';
import type { SecretView } from '../kube/secret-view.ts';
import type { Action } from '../policy/decide.ts';
import { formatTime } from '../policy/time.ts';
import type { TokenSet } from '../providers/types.ts';
import { ANNOTATION_EXPIRY_SOURCE, consumerSecretBody } from '../secrets/consumer.ts';
import { expiredStatus, failureStatus, readyStatus, standingWarning } from './conditions.ts';
import type { ReconcileContext, WrittenToken } from './context.ts';
import type { ExchangeResult, ReleaseResult } from './exchange.ts';
import type { Rejection } from './observe.ts';
import { planExchange } from './plan-exchange.ts';
import { isStalled } from './status.ts';
import { expiryRequeue, statusWrites, type PlanEnv } from './plan-shared.ts';
import { eventWrite, type Plan, type Write } from './writer.ts';

const EXPIRY_SOURCES: TokenSet['expirySource'][] = ['expires_in', 'jwt', 'assumed', 'human'];

function expirySourceOf(view: SecretView | undefined): TokenSet['expirySource'] {
  const recorded = view?.annotations[ANNOTATION_EXPIRY_SOURCE];
  return EXPIRY_SOURCES.find((source) => source === recorded) ?? 'expires_in';
}

export function planRejection(credential: ApiCredential, rejection: Rejection, now: number): Plan {
  const { reason, message, selected, inputsHash } = rejection;
  const status = failureStatus(
    credential,
    selected?.name,
    { terminal: true, reason, message, inputsHash },
    now,
  );
  const writes = statusWrites(credential, status);
  if (reason !== 'MissingInput' || !selected) return { writes };
  const failures = credential.status?.consecutiveFailures ?? 0;
  writes.push({ kind: 'token-metrics', provider: selected.name, ready: false, failures, stalled: true });
  return { writes, requeueAt: expiryRequeue(credential, now) };
}

export function planFinalizer(credential: ApiCredential, present: boolean): Write {
  const others = (credential.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  return { kind: 'finalizers', finalizers: present ? [...others, FINALIZER] : others };
}

/** Deletion: what the release did, then let the ApiCredential go (never blocked forever). */
export function planRelease(credential: ApiCredential, result: ReleaseResult | undefined): Write[] {
  const removal = planFinalizer(credential, false);
  if (!result) return [removal];
  // Events only, never a condition: the ApiCredential is going away.
  const event =
    result.type === 'failed'
      ? eventWrite(
          'Warning',
          'RevocationFailed',
          `revocation at deletion failed, deleting anyway: ${result.message}`,
        )
      : result.type === 'released'
        ? eventWrite('Normal', 'Revoked', 'the token was revoked at the provider before deletion.')
        : eventWrite(
            'Normal',
            'RevocationUnsupported',
            'the provider offers no revocation; the token expires on its own.',
          );
  return [event, removal];
}

/** A repair needs the remembered token and its times; without them the Secret is obtained anew. */
export function resolveAction(
  action: Action,
  context: ReconcileContext,
  remembered: WrittenToken | undefined,
): Action {
  if (action.type !== 'repair') return action;
  const repairable = remembered && context.issuedAt !== undefined && context.expiresAt !== undefined;
  return repairable ? action : { type: 'obtain', why: 'drift' };
}

export function planAction(
  action: Action,
  context: ReconcileContext,
  env: PlanEnv,
  exchange?: ExchangeResult,
): Plan {
  const { rolloutPending } = context;
  switch (action.type) {
    case 'wait':
      return { writes: planWait(context, env.now), requeueAt: action.until, rolloutPending };
    case 'backoff':
    case 'stalled':
      return { writes: [standingMetrics(context)], requeueAt: action.until, rolloutPending };
    case 'expired':
      return {
        writes: planExpired(context, action.expiredAt, action.until, env.now),
        requeueAt: action.until,
        rolloutPending,
      };
    case 'refuse':
      return { writes: planRefuse(context, action, env.now), rolloutPending };
    case 'repair':
      return {
        writes: planRepair(context, env.remembered),
        requeueAt: context.observation.renewAt,
        rolloutPending,
      };
    case 'obtain':
      if (!exchange) throw new Error('planAction: obtain needs the exchange result');
      return planExchange(action.why, context, env, exchange);
  }
}

function tokenMetrics(
  context: ReconcileContext,
  expiresAt: number | undefined,
  ready: boolean,
  failures: number,
  stalled: boolean,
): Write {
  return { kind: 'token-metrics', provider: context.selected.name, expiresAt, ready, failures, stalled };
}

/**
 * Publishes what the status already says. A new leader or a restarted operator reaches a waiting
 * credential only through this: without it the series would be missing and no alert could fire.
 */
function standingMetrics(context: ReconcileContext): Write {
  const status = context.credential.status;
  const ready = status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return tokenMetrics(context, context.expiresAt, ready, status?.consecutiveFailures ?? 0, isStalled(status));
}

function planWait(context: ReconcileContext, now: number): Write[] {
  const { credential, selected, hash, secretName } = context;
  const status = readyStatus(
    credential,
    { provider: selected.name, hash, secretName, now },
    { ...context, warning: standingWarning(credential) },
  );
  const failures = credential.status?.consecutiveFailures ?? 0;
  return [
    ...statusWrites(credential, status),
    tokenMetrics(context, context.expiresAt, true, failures, false),
  ];
}

/**
 * A failing credential whose token ran out: Ready turns False with the failure that stopped renewal.
 * Stalled, nothing is requeued (only a change of the spec or a referenced Secret can help); backing
 * off, the next attempt stays as planned.
 */
function planExpired(
  context: ReconcileContext,
  expiredAt: number,
  nextAttempt: number | undefined,
  now: number,
): Write[] {
  const { credential, selected, secretName } = context;
  const before = credential.status?.conditions?.find((c) => c.type === 'Ready');
  const { status, message } = expiredStatus(credential, { secretName, expiredAt, nextAttempt }, now);
  const failures = credential.status?.consecutiveFailures ?? 0;
  const writes = [
    ...statusWrites(credential, status),
    tokenMetrics(context, expiredAt, false, failures, isStalled(status)),
  ];
  if (before?.reason === 'TokenExpired') return writes;
  const fields = {
    credential: keyOf(credential),
    provider: selected.name,
    expiresAt: formatTime(expiredAt, 'seconds'),
  };
  writes.push(eventWrite('Warning', 'TokenExpired', message), {
    kind: 'log',
    level: 'warn',
    fields,
    message: 'token expired while renewal is failing',
  });
  return writes;
}

function planRefuse(
  context: ReconcileContext,
  action: Extract<Action, { type: 'refuse' }>,
  now: number,
): Write[] {
  const { credential, selected, hash } = context;
  const failure = { terminal: true, reason: action.reason, message: action.message, inputsHash: hash };
  return statusWrites(credential, failureStatus(credential, selected.name, failure, now));
}

function planRepair(context: ReconcileContext, remembered: WrittenToken | undefined): Write[] {
  const { credential, spec, secretName, issuedAt, expiresAt } = context;
  if (!remembered || issuedAt === undefined || expiresAt === undefined) return [];
  const body = consumerSecretBody(credential, secretName, {
    data: remembered.data,
    issuedAt,
    expiresAt,
    expirySource: expirySourceOf(context.view),
    checkAgainAt: context.observation.checkAt,
    rolloutPendingSince: context.rolloutPending,
    inputsHash: context.hash,
    labels: spec.secret.labels,
    annotations: spec.secret.annotations,
  });
  const message = `Secret ${secretName} was edited or lost keys; the operator restored the current token.`;
  return [{ kind: 'secret', body, fresh: false }, eventWrite('Warning', 'SecretRepaired', message)];
}
