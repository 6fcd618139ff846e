// OAuth 2.0 refresh-token mode (RFC 6749 §6): a person pastes a refresh token once into a Secret; the
// operator exchanges it and rotates the chain from then on, through the crash-safe path of
// refresh-rotation.ts. After the first exchange the pasted token is spent and the live one lives only
// in the state Secret. With reuse detection on (Keycloak "Revoke Refresh Token", max reuse 0) a replay
// ends the session, so a token whose outcome is unknown is never sent again: a person pastes a new one.
import { crashPoint } from '../testing/crash-points.ts';
import { z } from 'zod';
import { objectName, secretKey } from '../api/fields.ts';
import { hostAndPath } from '../http/url.ts';
import { namespaceOf } from '../kube/object-key.ts';
import { ProviderError } from '../errors/failure.ts';
import { formatTime } from '../policy/time.ts';
import { tokenEndpointError, tokenSetFromResponse } from './oauth-response.ts';
import { secretKeyRef } from './references.ts';
import {
  hasIntent,
  rotateRefreshToken,
  sha256Hex,
  withoutIntent,
  type RotationCrashHooks,
} from './refresh-rotation.ts';
import type { InputReference, ProviderContext, TokenSet } from './types.ts';

export const refreshTokenRefSchema = z
  .object({
    name: objectName('Name of a Secret in the ApiCredential namespace.'),
    key: secretKey('refresh_token', 'Key of the refresh token.'),
  })
  .meta({
    description:
      'Refresh-token mode: a Secret holding a refresh token pasted by a person. The operator exchanges it once ' +
      '(it is spent then) and keeps the rotated chain only in its state Secret; paste a new value to start a new chain.',
  });

export type RefreshTokenRef = z.output<typeof refreshTokenRefSchema>;

/** Keys of the state Secret in refresh-token mode. */
export const OAUTH2_REFRESH_STATE_KEYS = {
  /** The live refresh token; absent once the chain has ended. */
  refreshToken: 'refreshToken',
  /** sha256 of the pasted value that began this chain: a different pasted value starts a new chain. */
  pastedHash: 'pastedRefreshTokenHash',
  refreshedAt: 'refreshedAt',
  /** When the server refused the chain (invalid_grant); a person must paste a new token. */
  endedAt: 'chainEndedAt',
  intent: 'intent',
  intentAt: 'intentAt',
} as const;
const K = OAUTH2_REFRESH_STATE_KEYS;
const INTENT_KEYS = { intent: K.intent, intentAt: K.intentAt };
const CRASH_HOOKS: RotationCrashHooks = {
  afterIntentWrite: () => {
    crashPoint('oauth2-refresh:after-intent-write');
  },
  afterResponse: () => {
    crashPoint('oauth2-refresh:after-refresh-response');
  },
  afterStateWrite: () => {
    crashPoint('oauth2-refresh:after-state-write');
  },
};

export function refreshTokenInput(field: string, ref: RefreshTokenRef): InputReference {
  return secretKeyRef(`${field}.refreshTokenRef`, ref.name, ref.key, 'key');
}

export interface RefreshExchange {
  field: string;
  ref: RefreshTokenRef;
  tokenUrl: string;
  /** Form parameters besides grant_type and refresh_token (scope, audience, ...). */
  params: Record<string, string>;
  /** Adds client authentication to the form or headers. */
  authenticate: (form: Record<string, string>, headers: Record<string, string>) => Promise<void>;
  /** "Secret ns/name", where the client credentials are, for messages. */
  clientWhere: string;
}

const iso = (ms: number): string => formatTime(ms, 'milliseconds');

function pasteAdvice(context: ProviderContext, ref: RefreshTokenRef): string {
  return (
    `Paste a new refresh token into Secret ${namespaceOf(context.credential)}/${ref.name} key ${ref.key}; ` +
    'the operator exchanges it at once (a pasted token is spent by its first exchange; the live one is kept only in the state Secret).'
  );
}

function humanActionRequired(message: string, cause?: unknown): ProviderError {
  return new ProviderError(
    { kind: 'terminal', reason: 'HumanActionRequired', message },
    cause === undefined ? undefined : { cause },
  );
}

/** The refresh token to present, or a HumanActionRequired error when none may be sent. */
function chainToUse(
  state: Readonly<Record<string, string>>,
  pasted: string,
  context: ProviderContext,
  ref: RefreshTokenRef,
): string {
  // A value the chain did not start from is a new paste: it wins over whatever the state holds.
  if (state[K.pastedHash] !== sha256Hex(pasted)) return pasted;
  if (hasIntent(state, INTENT_KEYS)) {
    throw humanActionRequired(
      `The outcome of the refresh sent at ${state[K.intentAt] ?? 'an unknown time'} is unknown, and the server ends the session ` +
        `when a refresh token is used twice, so it is never sent again. ${pasteAdvice(context, ref)}`,
    );
  }
  const live = state[K.refreshToken];
  if (!live) {
    throw humanActionRequired(
      `The refresh chain ended at ${state[K.endedAt] ?? 'an earlier attempt'}. ${pasteAdvice(context, ref)}`,
    );
  }
  return live;
}

export async function obtainByRefreshToken(
  exchange: RefreshExchange,
  context: ProviderContext,
): Promise<TokenSet> {
  const { ref, tokenUrl } = exchange;
  const pasted = context.inputs.require(refreshTokenInput(exchange.field, ref));
  const state = await context.state.read();
  const refreshToken = chainToUse(state, pasted, context, ref);
  // The chain's keys, without the intent or an earlier chain's end.
  const { [K.endedAt]: _ended, ...kept } = withoutIntent(state, INTENT_KEYS);
  const chainState: Record<string, string> = {
    ...kept,
    [K.pastedHash]: sha256Hex(pasted),
    [K.refreshToken]: refreshToken,
  };
  const endpoint = `POST ${hostAndPath(tokenUrl)}`;
  const startedAt = context.clock.now();

  const outcome = await rotateRefreshToken<TokenSet & { refreshToken: string }, ProviderError>({
    context,
    // The intent names this chain's pasted value, so a crash never lets the spent paste be replayed.
    state: chainState,
    refreshToken,
    keys: INTENT_KEYS,
    crashHooks: CRASH_HOOKS,
    target: endpoint,
    exchange: async () => {
      const form: Record<string, string> = {
        ...exchange.params,
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
      };
      const headers: Record<string, string> = { accept: 'application/json' };
      await exchange.authenticate(form, headers);
      const response = await context.http.request({
        method: 'POST',
        url: tokenUrl,
        form,
        headers,
        signal: context.signal,
      });
      if (response.status !== 200) {
        const error = tokenEndpointError(response, tokenUrl, exchange.clientWhere);
        // A 4xx with an RFC 6749 error code is a definite refusal: the server did not rotate.
        const definite = response.status >= 400 && response.status < 500 && error.providerCode !== undefined;
        if (definite) return { refused: error };
        throw error;
      }
      const tokens = tokenSetFromResponse(response, tokenUrl, context, startedAt);
      const body = response.json() as { refresh_token?: unknown };
      // RFC 6749 §6: the server may keep the refresh token; then the one sent stays live.
      const next =
        typeof body.refresh_token === 'string' && body.refresh_token !== ''
          ? body.refresh_token
          : refreshToken;
      return { rotated: { ...tokens, refreshToken: next } };
    },
    outcomeUnknown: (error) =>
      humanActionRequired(
        `${endpoint}: the refresh failed with its outcome unknown (${ProviderError.is(error) ? error.message : error instanceof Error ? error.name : 'error'}). ` +
          `The refresh token may have been used, so it is never sent again. ${pasteAdvice(context, ref)}`,
        error,
      ),
    nextState: (fresh) => ({
      ...chainState,
      [K.refreshToken]: fresh.refreshToken,
      [K.refreshedAt]: iso(startedAt),
    }),
  });

  if ('rotated' in outcome) {
    const { refreshToken: _spent, ...tokens } = outcome.rotated;
    return tokens;
  }
  const refusal = outcome.refused;
  if (refusal.providerCode === 'invalid_grant') {
    // The chain is dead (session ended, token expired or reused): forget it, so nothing replays it.
    const { [K.refreshToken]: _dead, ...rest } = chainState;
    await context.state.write({ ...rest, [K.endedAt]: iso(context.clock.now()) });
    throw humanActionRequired(
      `${refusal.message} The refresh chain has ended. ${pasteAdvice(context, ref)}`,
      refusal,
    );
  }
  // Refused before the token was looked at (client authentication, request): it is still live.
  await context.state.write(chainState);
  throw refusal;
}
