// The crash-safe use of a single-use refresh token, shared by every provider that rotates one
// (iDempiere, OAuth 2.0 refresh-token mode). A refresh token is sent at most once, ever: servers with
// reuse detection (iDempiere, Keycloak's "Revoke Refresh Token") end the whole session on a replay.
//   1. the caller has read the state (this fixes the version the next write is fenced on);
//   2. the intent to use this token is recorded with a fenced write BEFORE it is sent: when another
//      replica wrote in between, the write throws StateConflictError and nothing is sent;
//   3. it is sent;
//   4. the new chain is stored and the intent cleared. If that write fails, the intent stays;
//   5. an intent found on entry means an attempt whose outcome we never learned: the caller never
//      replays that token (iDempiere logs in again; OAuth 2.0 asks a person for a new one).
import { createHash } from 'node:crypto';
import { ProviderError } from '../errors/failure.ts';
import { formatTime } from '../policy/time.ts';
import type { ProviderContext } from './types.ts';

/** Where a provider keeps the intent in its state Secret. */
export interface IntentKeys {
  /** `refresh:<sha256 of the refresh token, 16 hex>` while its use is in flight or its outcome unknown. */
  intent: string;
  intentAt: string;
}

/**
 * Where the fault suite SIGKILLs (src/testing/crash-points.ts): each calls crashPoint() with its own
 * name, so the bundle, whose crashPoint() is empty, drops the call and the name.
 */
export interface RotationCrashHooks {
  afterIntentWrite(): void;
  afterResponse(): void;
  afterStateWrite(): void;
}

/** What the exchange learned: a new chain, or a definite refusal (the token was not rotated). */
export type ExchangeOutcome<Fresh, Refusal> = { rotated: Fresh } | { refused: Refusal };

export interface Rotation<Fresh, Refusal> {
  context: ProviderContext;
  /** The state as read; the intent is written on top of it. */
  state: Readonly<Record<string, string>>;
  refreshToken: string;
  keys: IntentKeys;
  crashHooks: RotationCrashHooks;
  /** "POST host/path", for the message when the attempt was cancelled before anything was sent. */
  target: string;
  /** Sends the refresh token once. A throw means the outcome is unknown (the token may be spent). */
  exchange: () => Promise<ExchangeOutcome<Fresh, Refusal>>;
  /** Turns a throw of `exchange` into the error to report; the intent stays recorded. */
  outcomeUnknown: (error: unknown) => ProviderError;
  /** The state to store after a rotation, without the intent keys. */
  nextState: (fresh: Fresh) => Record<string, string>;
}

/**
 * Transport failures that happen before a byte of the request leaves (no connection, no TLS): the
 * refresh token was certainly not sent, so it stays usable. Anything else after the intent may have
 * reached the server.
 */
const NOT_SENT_REASONS: ReadonlySet<string> = new Set(['ProviderUnreachable', 'TLSVerificationFailed']);

export function certainlyNotSent(error: unknown): error is ProviderError {
  return ProviderError.is(error) && !error.outcomeUnknown && NOT_SENT_REASONS.has(error.reason);
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function intentFor(refreshToken: string): string {
  return `refresh:${sha256Hex(refreshToken).slice(0, 16)}`;
}

export function hasIntent(state: Readonly<Record<string, string>>, keys: IntentKeys): boolean {
  return state[keys.intent] !== undefined;
}

/** The state without the intent keys. */
export function withoutIntent(
  state: Readonly<Record<string, string>>,
  keys: IntentKeys,
): Record<string, string> {
  const { [keys.intent]: _intent, [keys.intentAt]: _intentAt, ...rest } = state;
  return rest;
}

/**
 * Records the intent, sends the refresh token once and stores the new chain. Returns what the
 * exchange answered: the fresh result, or a definite refusal (the intent stays recorded; the caller
 * decides what to store).
 */
export async function rotateRefreshToken<Fresh, Refusal>(
  rotation: Rotation<Fresh, Refusal>,
): Promise<ExchangeOutcome<Fresh, Refusal>> {
  const { context, keys, crashHooks } = rotation;
  if (context.signal.aborted) {
    throw new ProviderError({
      kind: 'transient',
      reason: 'Aborted',
      message: `${rotation.target}: the attempt was cancelled before the refresh token was sent; nothing was sent.`,
    });
  }
  // Fenced: a StateConflictError here means another replica is at work, and nothing was sent.
  await context.state.write({
    ...rotation.state,
    [keys.intent]: intentFor(rotation.refreshToken),
    [keys.intentAt]: formatTime(context.clock.now(), 'milliseconds'),
  });
  crashHooks.afterIntentWrite();

  let outcome: ExchangeOutcome<Fresh, Refusal>;
  try {
    outcome = await rotation.exchange();
  } catch (error) {
    if (!certainlyNotSent(error)) throw rotation.outcomeUnknown(error);
    // Nothing left: take the intent back, so the next attempt sends this same token, and back off.
    await context.state.write(withoutIntent(rotation.state, keys));
    throw error;
  }
  if ('refused' in outcome) return outcome;
  crashHooks.afterResponse();
  // On failure the intent stays recorded: the spent token is never sent again.
  await context.state.write(rotation.nextState(outcome.rotated));
  crashHooks.afterStateWrite();
  return outcome;
}
