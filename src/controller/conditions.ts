// The status an outcome leads to, computed purely: Ready and Stalled conditions for a valid token, a
// failure, and a token that expired while renewal failed.
import {
  ANNOTATION_REFRESH_REQUESTED,
  type ApiCredential,
  type ApiCredentialStatus,
  type ProviderName,
} from '../api/apicredential.ts';
import type { UserApprovalRequest } from '../errors/awaiting-approval.ts';
import { formatTime } from '../policy/time.ts';
import type { TokenSet } from '../providers/types.ts';
import { mergeConditions, type ConditionInput } from './status.ts';

export interface Warning {
  reason: string;
  message: string;
}

/** A warning the last successful exchange put in Ready, which stays until the next exchange. */
export function standingWarning(credential: ApiCredential): Warning | undefined {
  const ready = credential.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True' || ready.reason === 'TokenValid' || ready.reason === 'RenewalFailing')
    return undefined;
  return { reason: ready.reason, message: ready.message };
}

function lastHandledRefresh(credential: ApiCredential): string | undefined {
  return (
    credential.metadata.annotations?.[ANNOTATION_REFRESH_REQUESTED] ??
    credential.status?.lastHandledRefreshRequest
  );
}

export interface ValidToken {
  issuedAt?: number;
  expiresAt?: number;
  renewAt?: number;
  lastRefreshTime?: number;
  tenants?: TokenSet['tenants'];
  /** A human-action warning from the provider (IDMP cloud): Ready stays True but says it. */
  warning?: Warning;
}

function readyCondition(secretName: string, token: ValidToken, now: number): ConditionInput {
  if (token.expiresAt !== undefined && token.expiresAt <= now)
    return {
      type: 'Ready',
      status: 'False',
      reason: 'TokenExpired',
      message: `the token in Secret ${secretName} expired at ${formatTime(token.expiresAt, 'seconds')}.`,
    };
  if (token.warning)
    return { type: 'Ready', status: 'True', reason: token.warning.reason, message: token.warning.message };
  return {
    type: 'Ready',
    status: 'True',
    reason: 'TokenValid',
    message: `Secret ${secretName} holds a valid token until ${formatTime(token.expiresAt, 'seconds') ?? '?'}; renewal at ${formatTime(token.renewAt, 'seconds') ?? '?'}.`,
  };
}

export function readyStatus(
  credential: ApiCredential,
  target: { provider: ProviderName; hash: string; secretName: string; now: number },
  token: ValidToken,
): ApiCredentialStatus {
  const previous = credential.status ?? {};
  const conditions: ConditionInput[] = [
    readyCondition(target.secretName, token, target.now),
    {
      type: 'Stalled',
      status: 'False',
      reason: 'Progressing',
      message: 'the operator keeps the token fresh.',
    },
  ];
  const generation = credential.metadata.generation;
  return {
    observedGeneration: generation,
    conditions: mergeConditions(previous.conditions, conditions, generation, target.now),
    provider: target.provider,
    secretName: target.secretName,
    issuedAt: formatTime(token.issuedAt, 'seconds') ?? previous.issuedAt,
    expiresAt: formatTime(token.expiresAt, 'seconds') ?? previous.expiresAt,
    lastRefreshTime: formatTime(token.lastRefreshTime, 'seconds') ?? previous.lastRefreshTime,
    nextRefreshTime: formatTime(token.renewAt, 'seconds'),
    consecutiveFailures: 0,
    inputsHash: target.hash,
    lastHandledRefreshRequest: lastHandledRefresh(credential),
    tenants: token.tenants ?? previous.tenants,
  };
}

export interface FailureOutcome {
  terminal: boolean;
  reason: string;
  message: string;
  inputsHash?: string;
  failures?: number;
  retryAt?: number;
  tokenValidUntil?: number;
}

function failureConditions(failure: FailureOutcome, now: number): ConditionInput[] {
  const stillValid = failure.tokenValidUntil !== undefined && failure.tokenValidUntil > now;
  return [
    stillValid
      ? {
          type: 'Ready',
          status: 'True',
          reason: 'RenewalFailing',
          message: `renewal failed (${failure.reason}): ${failure.message} The current token stays valid until ${formatTime(failure.tokenValidUntil, 'seconds') ?? '?'}.`,
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
}

export function failureStatus(
  credential: ApiCredential,
  provider: ProviderName | undefined,
  failure: FailureOutcome,
  now: number,
): ApiCredentialStatus {
  const previous = credential.status ?? {};
  const generation = credential.metadata.generation;
  return {
    ...previous,
    observedGeneration: generation,
    conditions: mergeConditions(previous.conditions, failureConditions(failure, now), generation, now),
    provider: provider ?? previous.provider,
    consecutiveFailures: failure.failures ?? previous.consecutiveFailures ?? 0,
    lastFailureTime: failure.failures !== undefined ? formatTime(now, 'seconds') : previous.lastFailureTime,
    nextRefreshTime: formatTime(failure.retryAt, 'seconds'),
    inputsHash: failure.inputsHash ?? previous.inputsHash,
    lastHandledRefreshRequest: lastHandledRefresh(credential),
  };
}

/**
 * A failing credential whose token ran out: Ready turns False with the failure that stopped renewal.
 * Returns the status and the message, for the Event.
 */
export function expiredStatus(
  credential: ApiCredential,
  expiry: { secretName: string; expiredAt: number; nextAttempt: number | undefined },
  now: number,
): { status: ApiCredentialStatus; message: string } {
  const previous = credential.status ?? {};
  const stall = previous.conditions?.find((c) => c.type === 'Stalled');
  const cause =
    stall?.status === 'True'
      ? `: ${stall.reason}: ${stall.message}`
      : `: ${stall?.message ?? 'renewal failed'}. Next attempt at ${formatTime(expiry.nextAttempt, 'seconds') ?? '?'}.`;
  const message = `the token in Secret ${expiry.secretName} expired at ${formatTime(expiry.expiredAt, 'seconds')} and was not renewed${cause}`;
  const conditions: ConditionInput[] = [
    { type: 'Ready', status: 'False', reason: 'TokenExpired', message },
    stall
      ? { type: 'Stalled', status: stall.status, reason: stall.reason, message: stall.message }
      : {
          type: 'Stalled',
          status: expiry.nextAttempt === undefined ? 'True' : 'False',
          reason: 'TokenExpired',
          message,
        },
  ];
  const generation = credential.metadata.generation;
  const status = {
    ...previous,
    observedGeneration: generation,
    conditions: mergeConditions(previous.conditions, conditions, generation, now),
  };
  return { status, message };
}

export interface AwaitingOutcome {
  /** Why a person is needed: the Stalled reason (AwaitingUserApproval, ApprovalDenied, WrongApprover, ...). */
  reason: string;
  message: string;
  request: UserApprovalRequest;
  pollAt: number;
  inputsHash: string;
  /** The token in the Secret, if it is still valid: workloads go on with it meanwhile. */
  tokenValidUntil?: number;
}

/**
 * The device grant waits for a person: Ready says where to approve (False, or True while an earlier
 * token is still valid), Stalled is False (the operator polls on its own) with the reason a person is
 * needed, and status.userApproval feeds the printer column.
 */
export function awaitingStatus(
  credential: ApiCredential,
  provider: ProviderName,
  awaiting: AwaitingOutcome,
  now: number,
): ApiCredentialStatus {
  const previous = credential.status ?? {};
  const stillValid = awaiting.tokenValidUntil !== undefined && awaiting.tokenValidUntil > now;
  const { request } = awaiting;
  const conditions: ConditionInput[] = [
    {
      type: 'Ready',
      status: stillValid ? 'True' : 'False',
      reason: 'AwaitingUserApproval',
      message: stillValid
        ? `${awaiting.message} The current token stays valid until ${formatTime(awaiting.tokenValidUntil, 'seconds') ?? '?'}.`
        : awaiting.message,
    },
    {
      type: 'Stalled',
      status: 'False',
      reason: awaiting.reason,
      message: `a person must approve the login at ${request.verificationUriComplete ?? request.verificationUri} (code ${request.userCode}); the operator polls until then.`,
    },
  ];
  const generation = credential.metadata.generation;
  return {
    ...previous,
    observedGeneration: generation,
    conditions: mergeConditions(previous.conditions, conditions, generation, now),
    provider,
    userApproval: {
      url: request.verificationUriComplete ?? request.verificationUri,
      verificationUri: request.verificationUri,
      userCode: request.userCode,
      expiresAt: formatTime(request.expiresAt, 'seconds'),
    },
    nextRefreshTime: formatTime(awaiting.pollAt, 'seconds'),
    consecutiveFailures: 0,
    inputsHash: awaiting.inputsHash,
    lastHandledRefreshRequest: lastHandledRefresh(credential),
  };
}
