// A freshly issued token, as every single-token provider hands it to the controller: its expiry on
// our clock (policy/expiry.ts), the error a user reads when that expiry cannot be used, and the
// consumer Secret's three keys with the expiry's warnings.
import { expiryWarnings, resolveExpiry, type ExpiryError, type ExpiryErrorReason } from '../policy/expiry.ts';
import { ProviderError } from '../errors/failure.ts';
import type { ProviderContext, TokenSet } from './types.ts';

/** What differs between providers in how an unusable expiry reads. */
export interface ExpiryWording {
  /** Who answered, first in the message: an endpoint, "IDMP login at host/path", "iDempiere". */
  what: string;
  /**
   * Keep InvalidExpiresIn as the reason (OAuth servers, where expires_in is a spec'd field a user can
   * ask to have fixed); otherwise it is one more UnknownExpiry.
   */
  keepInvalidExpiresIn?: boolean;
  /** A provider's own next step for this reason, appended as a sentence; undefined for none. */
  advice?: (reason: ExpiryErrorReason) => string | undefined;
}

/** The ProviderError for an expiry that cannot be used. */
export function expiryError(expiry: ExpiryError, wording: ExpiryWording): ProviderError {
  // A token dead on arrival is a clock or caching problem a later request may not have: retry.
  const arrivedDead = expiry.reason === 'ExpiredOnArrival';
  const keptInvalid = wording.keepInvalidExpiresIn === true && expiry.reason === 'InvalidExpiresIn';
  const advice = wording.advice?.(expiry.reason);
  return new ProviderError({
    kind: arrivedDead ? 'transient' : 'terminal',
    reason: arrivedDead ? 'ExpiredOnArrival' : keptInvalid ? 'InvalidExpiresIn' : 'UnknownExpiry',
    message: `${wording.what}: ${expiry.message}${advice === undefined ? '' : ` ${advice}`}`,
  });
}

/** One access token as it arrived, with the times our clock read around its request. */
export interface IssuedToken {
  token: string;
  tokenType: string;
  requestStartedAt: number;
  receivedAt: number;
  /** expires_in as the server sent it, when the protocol has one. */
  expiresIn?: unknown;
}

export interface TokenSetWording extends ExpiryWording {
  /** What the expiry's warnings start with, when it is not `what`. */
  warningsFrom?: string;
}

/**
 * The token set of one token: its expiry (from expires_in, the JWT exp, else the assumed lifetime),
 * or the error that says why it has none a pod could use.
 */
export function issuedTokenSet(
  issued: IssuedToken,
  context: Pick<ProviderContext, 'keys' | 'assumedLifetimeMs'>,
  wording: TokenSetWording,
): TokenSet {
  const expiry = resolveExpiry({
    requestStartedAt: issued.requestStartedAt,
    receivedAt: issued.receivedAt,
    expiresIn: issued.expiresIn,
    jwt: issued.token,
    assumedLifetimeMs: context.assumedLifetimeMs,
  });
  if (!expiry.ok) throw expiryError(expiry, wording);
  const tokenSet: TokenSet = {
    data: {
      [context.keys.token]: issued.token,
      [context.keys.tokenType]: issued.tokenType,
      [context.keys.expiresAt]: new Date(expiry.expiresAt).toISOString(),
    },
    issuedAt: expiry.issuedAt,
    expiresAt: expiry.expiresAt,
    expirySource: expiry.source,
  };
  const warnings = expiryWarnings(expiry, wording.warningsFrom ?? wording.what);
  if (warnings.length > 0) tokenSet.warnings = warnings;
  return tokenSet;
}
