// OAuth 2.0 device authorization grant (RFC 8628): a person approves once, on another device, and the
// operator keeps the tokens fresh from then on by rotating the refresh token through the crash-safe
// path of refresh-rotation.ts. The device code is a credential (whoever holds it gets the tokens once
// approved): it lives only in the state Secret. What a person needs to approve (the page and the user
// code) is shown in the status, an Event and a printer column.
//
// Each obtain() does one step, decided from the state Secret: rotate the live chain; or poll the
// pending code; or start a new flow. Waiting is not a failure: the provider throws
// AwaitingUserApproval with the next poll time, and the controller polls again then.
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { httpUrl } from '../api/fields.ts';
import { AwaitingUserApproval, type UserApprovalRequest } from '../errors/awaiting-approval.ts';
import { ProviderError, withMessage } from '../errors/failure.ts';
import { hostAndPath } from '../http/url.ts';
import { formatTime } from '../policy/time.ts';
import { crashPoint } from '../testing/crash-points.ts';
import { answeredObject, fieldNames } from './answer-body.ts';
import { oauthErrorSaid, tokenEndpointError, tokenSetFromResponse } from './oauth-response.ts';
import {
  hasIntent,
  rotateRefreshToken,
  sha256Hex,
  withoutIntent,
  type RotationCrashHooks,
} from './refresh-rotation.ts';
import type { ProviderContext, TokenSet } from './types.ts';

export const deviceAuthorizationSchema = z
  .object({
    endpoint: httpUrl(
      'Device authorization endpoint (RFC 8628 §3.1). Default: device_authorization_endpoint from issuerUrl discovery.',
    ).optional(),
    expectedSubject: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .meta({
        description:
          'The sub or preferred_username the approval must come from; an approval by anyone else is refused and its ' +
          'tokens discarded. Without it, anyone who can read the status can approve with their own account, and ' +
          'the workloads then act as that person.',
      }),
  })
  .meta({
    description:
      'Device authorization grant (RFC 8628): a person approves once at the page the status shows ' +
      '(kubectl get apicredential); the operator then rotates the refresh token and keeps the access token fresh. ' +
      'Ask for the offline_access scope so that the chain outlives the SSO session.',
  });

export type DeviceAuthorization = z.output<typeof deviceAuthorizationSchema>;

/** Keys of the state Secret in device mode. */
export const OAUTH2_DEVICE_STATE_KEYS = {
  /** The pending device code: a credential. */
  deviceCode: 'deviceCode',
  userCode: 'userCode',
  verificationUri: 'verificationUri',
  verificationUriComplete: 'verificationUriComplete',
  codeExpiresAt: 'codeExpiresAt',
  /** Seconds between polls: the server's interval, plus 5 s for every slow_down (RFC 8628 §3.5). */
  interval: 'pollIntervalSeconds',
  /** Digest of what the code was asked for (endpoint, client, scopes): another spec needs another code. */
  flowFingerprint: 'flowFingerprint',
  /** Why this flow started (a condition reason) and what to tell the person. */
  flowReason: 'flowReason',
  flowCause: 'flowCause',
  /** The live refresh token; absent until an approval, and again once the chain has ended. */
  refreshToken: 'refreshToken',
  approvedSubject: 'approvedSubject',
  approvedAt: 'approvedAt',
  refreshedAt: 'refreshedAt',
  intent: 'intent',
  intentAt: 'intentAt',
} as const;
const K = OAUTH2_DEVICE_STATE_KEYS;
const INTENT_KEYS = { intent: K.intent, intentAt: K.intentAt };
const CODE_KEYS = [
  K.deviceCode,
  K.userCode,
  K.verificationUri,
  K.verificationUriComplete,
  K.codeExpiresAt,
  K.interval,
  K.flowFingerprint,
  K.flowReason,
  K.flowCause,
] as const;
const CHAIN_KEYS = [K.refreshToken, K.approvedSubject, K.approvedAt, K.refreshedAt] as const;

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §3.2 defaults, for servers that leave them out. */
const DEFAULT_INTERVAL_SECONDS = 5;
const DEFAULT_CODE_LIFETIME_SECONDS = 600;
/** RFC 8628 §3.5: on slow_down, the interval grows by 5 s for this and every later poll. */
const SLOW_DOWN_SECONDS = 5;
/** A poll right on the interval's boundary may land inside it (Keycloak counts from its own clock). */
const POLL_MARGIN_MS = 500;
/** The interval a server may ask for; a garbled one must not park the flow past its code's life. */
const MAX_INTERVAL_SECONDS = 300;

const CRASH_HOOKS: RotationCrashHooks = {
  afterIntentWrite: () => {
    crashPoint('oauth2-device:after-intent-write');
  },
  afterResponse: () => {
    crashPoint('oauth2-device:after-refresh-response');
  },
  afterStateWrite: () => {
    crashPoint('oauth2-device:after-state-write');
  },
};

/** What the oauth2 provider hands over: endpoints, client authentication, scopes. */
export interface DeviceExchange {
  field: string;
  spec: DeviceAuthorization;
  deviceEndpoint: string;
  tokenUrl: string;
  /** Form parameters of the device authorization request besides client authentication (scope, ...). */
  params: Record<string, string>;
  /** Identifies what a code was asked for (client id, scopes): a code of another spec is not polled. */
  fingerprint: string;
  authenticate: (form: Record<string, string>, headers: Record<string, string>) => Promise<void>;
  /** "Secret ns/name", where the client credentials are, for messages. */
  clientWhere: string;
}

/** Why a new flow starts: its reason shows in the Stalled condition and the Event; its cause in every message. */
interface FlowCause {
  reason:
    'AwaitingUserApproval' | 'ApprovalDenied' | 'ApprovalExpired' | 'WrongApprover' | 'HumanActionRequired';
  cause: string;
}

const iso = (ms: number): string => formatTime(ms, 'milliseconds');
const seconds = (ms: number): string => formatTime(ms, 'seconds');

function pick(state: Readonly<Record<string, string>>, keys: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const key of keys) {
    const value = state[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

function without(state: Readonly<Record<string, string>>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(state).filter(([key]) => !keys.includes(key)));
}

/** Whole seconds, never early: the status carries the poll time in seconds and the controller waits for it. */
function pollTime(from: number, intervalSeconds: number): number {
  return Math.ceil((from + intervalSeconds * 1000 + POLL_MARGIN_MS) / 1000) * 1000;
}

function intervalOf(value: unknown): number {
  const interval = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(interval) || interval <= 0) return DEFAULT_INTERVAL_SECONDS;
  return Math.min(Math.ceil(interval), MAX_INTERVAL_SECONDS);
}

/** Who approved, as the tokens say: the id token first (it is about the user), then a JWT access token. */
function approverOf(body: Record<string, unknown>): { sub?: string; username?: string } | undefined {
  for (const field of ['id_token', 'access_token']) {
    const token = body[field];
    if (typeof token !== 'string') continue;
    try {
      const claims = decodeJwt(token);
      const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
      const username = typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined;
      if (sub !== undefined || username !== undefined) return { sub, username };
    } catch {
      // Not a JWT: an opaque token says nothing about who approved.
    }
  }
  return undefined;
}

function describeApprover(approver: { sub?: string; username?: string }): string {
  if (approver.username !== undefined && approver.sub !== undefined)
    return `'${approver.username}' (sub ${approver.sub})`;
  return `'${approver.username ?? approver.sub ?? '?'}'`;
}

function approvalRequest(state: Readonly<Record<string, string>>): UserApprovalRequest | undefined {
  const userCode = state[K.userCode];
  const verificationUri = state[K.verificationUri];
  const expiresAt = Date.parse(state[K.codeExpiresAt] ?? '');
  if (!state[K.deviceCode] || !userCode || !verificationUri || !Number.isFinite(expiresAt)) return undefined;
  return {
    userCode,
    verificationUri,
    verificationUriComplete: state[K.verificationUriComplete],
    expiresAt,
  };
}

export function approvalMessage(
  request: UserApprovalRequest,
  options: { cause?: string; expectedSubject?: string; intervalSeconds: number },
): string {
  const where = request.verificationUriComplete
    ? `${request.verificationUriComplete} (or ${request.verificationUri} with code ${request.userCode})`
    : `${request.verificationUri} and enter code ${request.userCode}`;
  const who = options.expectedSubject !== undefined ? `, signed in as ${options.expectedSubject}` : '';
  return (
    `${options.cause ? `${options.cause} ` : ''}Approve the login at ${where}${who}, before ${seconds(request.expiresAt)}. ` +
    `The operator polls every ${options.intervalSeconds} s and writes the token once it is approved.`
  );
}

export async function obtainByDeviceGrant(
  exchange: DeviceExchange,
  context: ProviderContext,
): Promise<TokenSet> {
  const state = await context.state.read();
  const expected = exchange.spec.expectedSubject;
  if (hasIntent(state, INTENT_KEYS)) {
    return startFlow(exchange, context, state, {
      reason: 'HumanActionRequired',
      cause:
        `The outcome of the refresh sent at ${state[K.intentAt] ?? 'an unknown time'} is unknown, and the server ends the ` +
        'session when a refresh token is used twice, so it is never sent again.',
    });
  }
  const live = state[K.refreshToken];
  if (live) {
    // approvedSubject holds both names ("username sub"); either may match the expected one.
    const approvedBy = state[K.approvedSubject];
    if (expected !== undefined && approvedBy !== undefined && !approvedBy.split(' ').includes(expected)) {
      return startFlow(exchange, context, state, {
        reason: 'HumanActionRequired',
        cause: `expectedSubject is now '${expected}', but the refresh chain was approved by '${approvedBy.split(' ')[0] ?? ''}'.`,
      });
    }
    return rotate(exchange, context, state, live);
  }
  const request = approvalRequest(state);
  const now = context.clock.now();
  if (request && request.expiresAt > now && state[K.flowFingerprint] === exchange.fingerprint)
    return poll(exchange, context, state, request);
  if (request && request.expiresAt <= now) {
    return startFlow(exchange, context, state, {
      reason: 'ApprovalExpired',
      cause: `Code ${request.userCode} expired at ${seconds(request.expiresAt)} without an approval; this is a new one.`,
    });
  }
  if (request) {
    return startFlow(exchange, context, state, {
      reason: 'AwaitingUserApproval',
      cause: `The spec changed after code ${request.userCode} was issued; this is a new one.`,
    });
  }
  if (state[K.approvedAt]) {
    return startFlow(exchange, context, state, {
      reason: 'HumanActionRequired',
      cause:
        `The approval at ${state[K.approvedAt]} gave no refresh token, so every token needs a new approval; ` +
        `add offline_access to ${exchange.field}.scopes to keep one.`,
    });
  }
  return startFlow(exchange, context, state, { reason: 'AwaitingUserApproval', cause: '' });
}

/** Asks for a new device code, stores it (the chain and any earlier code are dropped) and reports the wait. */
async function startFlow(
  exchange: DeviceExchange,
  context: ProviderContext,
  state: Readonly<Record<string, string>>,
  cause: FlowCause,
): Promise<never> {
  const endpoint = exchange.deviceEndpoint;
  const form: Record<string, string> = { ...exchange.params };
  const headers: Record<string, string> = { accept: 'application/json' };
  await exchange.authenticate(form, headers);
  const startedAt = context.clock.now();
  const response = await context.http.request({
    method: 'POST',
    url: endpoint,
    form,
    headers,
    signal: context.signal,
  });
  if (response.status !== 200) {
    const error = tokenEndpointError(response, endpoint, exchange.clientWhere);
    const advice =
      error.providerCode === 'unauthorized_client' || error.providerCode === 'unsupported_grant_type'
        ? ' Enable the device authorization grant for this client (Keycloak: the client\'s "OAuth 2.0 Device Authorization Grant" capability).'
        : '';
    throw advice ? withMessage(error, `${error.message}${advice}`) : error;
  }
  const where = hostAndPath(endpoint);
  const body = answeredObject(response, where);
  const deviceCode = body.device_code;
  const userCode = body.user_code;
  // verification_url: the name Google used before RFC 8628 settled on verification_uri.
  const verificationUri = body.verification_uri ?? body.verification_url;
  if (
    typeof deviceCode !== 'string' ||
    deviceCode === '' ||
    typeof userCode !== 'string' ||
    userCode === '' ||
    typeof verificationUri !== 'string' ||
    !/^https?:\/\//.test(verificationUri)
  ) {
    throw new ProviderError({
      kind: 'transient',
      reason: 'InvalidResponse',
      message: `${where} answered 200 without a usable device_code, user_code and verification_uri (fields: ${fieldNames(body)}).`,
    });
  }
  const complete =
    typeof body.verification_uri_complete === 'string' && /^https?:\/\//.test(body.verification_uri_complete)
      ? body.verification_uri_complete
      : undefined;
  const lifetime =
    typeof body.expires_in === 'number' && body.expires_in > 0
      ? body.expires_in
      : DEFAULT_CODE_LIFETIME_SECONDS;
  const interval = intervalOf(body.interval);
  const request: UserApprovalRequest = {
    userCode,
    verificationUri,
    verificationUriComplete: complete,
    expiresAt: startedAt + lifetime * 1000,
  };
  const next: Record<string, string> = {
    ...without(withoutIntent(state, INTENT_KEYS), [...CODE_KEYS, ...CHAIN_KEYS]),
    [K.deviceCode]: deviceCode,
    [K.userCode]: userCode,
    [K.verificationUri]: verificationUri,
    [K.codeExpiresAt]: iso(request.expiresAt),
    [K.interval]: String(interval),
    [K.flowFingerprint]: exchange.fingerprint,
    [K.flowReason]: cause.reason,
    [K.flowCause]: cause.cause,
  };
  if (complete) next[K.verificationUriComplete] = complete;
  await context.state.write(next);
  throw awaiting(exchange, request, { reason: cause.reason, cause: cause.cause }, interval, startedAt);
}

function awaiting(
  exchange: DeviceExchange,
  request: UserApprovalRequest,
  cause: FlowCause,
  intervalSeconds: number,
  polledAt: number,
): AwaitingUserApproval {
  return new AwaitingUserApproval({
    reason: cause.reason,
    message: approvalMessage(request, {
      cause: cause.cause,
      expectedSubject: exchange.spec.expectedSubject,
      intervalSeconds,
    }),
    request,
    pollAt: Math.min(pollTime(polledAt, intervalSeconds), Math.max(request.expiresAt, polledAt)),
  });
}

function causeOf(state: Readonly<Record<string, string>>): FlowCause {
  const reason = state[K.flowReason];
  const known: FlowCause['reason'][] = [
    'AwaitingUserApproval',
    'ApprovalDenied',
    'ApprovalExpired',
    'WrongApprover',
    'HumanActionRequired',
  ];
  const found = known.find((candidate) => candidate === reason);
  return { reason: found ?? 'AwaitingUserApproval', cause: state[K.flowCause] ?? '' };
}

/** Polls the token endpoint once with the pending device code. */
async function poll(
  exchange: DeviceExchange,
  context: ProviderContext,
  state: Readonly<Record<string, string>>,
  request: UserApprovalRequest,
): Promise<TokenSet> {
  const interval = intervalOf(state[K.interval]);
  const form: Record<string, string> = {
    grant_type: DEVICE_CODE_GRANT,
    device_code: state[K.deviceCode] ?? '',
  };
  const headers: Record<string, string> = { accept: 'application/json' };
  await exchange.authenticate(form, headers);
  const startedAt = context.clock.now();
  const response = await context.http.request({
    method: 'POST',
    url: exchange.tokenUrl,
    form,
    headers,
    signal: context.signal,
  });
  const endpoint = `POST ${hostAndPath(exchange.tokenUrl)}`;
  if (response.status === 200) return approved(exchange, context, state, request, response, startedAt);
  const { code, said } = oauthErrorSaid(response);
  switch (code) {
    case 'authorization_pending':
      throw awaiting(exchange, request, causeOf(state), interval, startedAt);
    case 'slow_down': {
      const slower = Math.min(interval + SLOW_DOWN_SECONDS, MAX_INTERVAL_SECONDS);
      await context.state.write({ ...state, [K.interval]: String(slower) });
      throw awaiting(exchange, request, causeOf(state), slower, startedAt);
    }
    case 'access_denied':
      return startFlow(exchange, context, state, {
        reason: 'ApprovalDenied',
        cause: `The login with code ${request.userCode} was denied at the approval page (${endpoint} said ${said}); this is a new code.`,
      });
    case 'expired_token':
    case 'invalid_grant':
      return startFlow(exchange, context, state, {
        reason: 'ApprovalExpired',
        cause: `Code ${request.userCode} can no longer be approved (${endpoint} said ${said}); this is a new one.`,
      });
    default:
      // Client authentication, the server itself: a failure; the code stays for the next attempt.
      throw tokenEndpointError(response, exchange.tokenUrl, exchange.clientWhere);
  }
}

/** The approval's tokens: kept only when the right person approved. */
async function approved(
  exchange: DeviceExchange,
  context: ProviderContext,
  state: Readonly<Record<string, string>>,
  request: UserApprovalRequest,
  response: Parameters<typeof tokenSetFromResponse>[0],
  startedAt: number,
): Promise<TokenSet> {
  const endpoint = hostAndPath(exchange.tokenUrl);
  const body = answeredObject(response, endpoint);
  const expected = exchange.spec.expectedSubject;
  const approver = approverOf(body);
  if (expected !== undefined) {
    if (!approver) {
      await context.state.write(without(state, CODE_KEYS));
      throw new ProviderError({
        kind: 'terminal',
        reason: 'ApproverUnknown',
        message:
          `Code ${request.userCode} was approved, but the tokens say nothing about who approved (no sub or preferred_username), ` +
          `so ${exchange.field}.deviceAuthorization.expectedSubject cannot be checked; the tokens were discarded. ` +
          `Add the openid scope to ${exchange.field}.scopes, or remove expectedSubject.`,
      });
    }
    if (approver.sub !== expected && approver.username !== expected) {
      return startFlow(exchange, context, state, {
        reason: 'WrongApprover',
        cause:
          `Code ${request.userCode} was approved by ${describeApprover(approver)}, not by '${expected}' ` +
          `(${exchange.field}.deviceAuthorization.expectedSubject); its tokens were discarded and this is a new code.`,
      });
    }
  }
  const tokens = tokenSetFromResponse(response, exchange.tokenUrl, context, startedAt);
  const next: Record<string, string> = {
    ...without(state, [...CODE_KEYS, ...CHAIN_KEYS]),
    [K.approvedAt]: iso(startedAt),
  };
  if (approver) next[K.approvedSubject] = [approver.username, approver.sub].filter(Boolean).join(' ');
  if (typeof body.refresh_token === 'string' && body.refresh_token !== '')
    next[K.refreshToken] = body.refresh_token;
  // Stored before the token is written: the code is spent, and a crash now costs one new approval.
  await context.state.write(next);
  return tokens;
}

/** A definite refusal of a refresh, with what the server said for the next flow's cause. */
interface Refusal {
  error: ProviderError;
  said: string;
}

/** One rotation of the live chain; a dead chain starts a new flow. */
async function rotate(
  exchange: DeviceExchange,
  context: ProviderContext,
  state: Readonly<Record<string, string>>,
  refreshToken: string,
): Promise<TokenSet> {
  const endpoint = `POST ${hostAndPath(exchange.tokenUrl)}`;
  const startedAt = context.clock.now();
  const chain = pick(state, CHAIN_KEYS);
  const approvedBy = (state[K.approvedSubject] ?? '').split(' ')[0] || 'the approver';
  let outcome;
  try {
    outcome = await rotateRefreshToken<TokenSet & { refreshToken: string }, Refusal>({
      context,
      state,
      refreshToken,
      keys: INTENT_KEYS,
      crashHooks: CRASH_HOOKS,
      target: endpoint,
      exchange: async () => {
        const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: refreshToken };
        const headers: Record<string, string> = { accept: 'application/json' };
        await exchange.authenticate(form, headers);
        const response = await context.http.request({
          method: 'POST',
          url: exchange.tokenUrl,
          form,
          headers,
          signal: context.signal,
        });
        if (response.status !== 200) {
          const error = tokenEndpointError(response, exchange.tokenUrl, exchange.clientWhere);
          // A 4xx with an RFC 6749 error code is a definite refusal: the server did not rotate.
          const definite =
            response.status >= 400 && response.status < 500 && error.providerCode !== undefined;
          if (definite) return { refused: { error, said: oauthErrorSaid(response).said } };
          throw error;
        }
        const tokens = tokenSetFromResponse(response, exchange.tokenUrl, context, startedAt);
        const body = response.json() as { refresh_token?: unknown };
        // RFC 6749 §6: the server may keep the refresh token; then the one sent stays live.
        const next =
          typeof body.refresh_token === 'string' && body.refresh_token !== ''
            ? body.refresh_token
            : refreshToken;
        return { rotated: { ...tokens, refreshToken: next } };
      },
      outcomeUnknown: (error) =>
        new ProviderError(
          {
            kind: 'transient',
            reason: 'RefreshOutcomeUnknown',
            message: `${endpoint}: the refresh failed with its outcome unknown (${ProviderError.is(error) ? error.message : error instanceof Error ? error.name : 'error'}).`,
          },
          { cause: error },
        ),
      nextState: (fresh) => ({
        ...withoutIntent(state, INTENT_KEYS),
        ...chain,
        [K.refreshToken]: fresh.refreshToken,
        [K.refreshedAt]: iso(startedAt),
      }),
    });
  } catch (error) {
    if (!ProviderError.is(error) || error.reason !== 'RefreshOutcomeUnknown') throw error;
    // The token may have been used: never send it again. Only a new approval can go on.
    return startFlow(exchange, context, await context.state.read(), {
      reason: 'HumanActionRequired',
      cause: `${error.message} The refresh token may have been used, so it is never sent again.`,
    });
  }
  if ('rotated' in outcome) {
    const { refreshToken: _next, ...tokens } = outcome.rotated;
    return tokens;
  }
  const refusal = outcome.refused;
  if (refusal.error.providerCode === 'invalid_grant') {
    return startFlow(exchange, context, await context.state.read(), {
      reason: 'HumanActionRequired',
      cause: `The refresh chain approved by ${approvedBy} at ${state[K.approvedAt] ?? 'an earlier time'} has ended (${endpoint} said ${refusal.said}).`,
    });
  }
  // Refused before the token was looked at (client authentication, request): it is still live.
  await context.state.write(withoutIntent(state, INTENT_KEYS));
  throw refusal.error;
}

/** The refresh token to revoke at deletion, if the chain is live. */
export function liveRefreshToken(state: Readonly<Record<string, string>>): string | undefined {
  return hasIntent(state, INTENT_KEYS) ? undefined : state[K.refreshToken];
}

/** For the flow's fingerprint: what a device code was asked for. */
export function flowFingerprint(parts: readonly string[]): string {
  return sha256Hex(parts.join('\n')).slice(0, 32);
}
