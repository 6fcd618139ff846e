// One error type for everything a provider call can go wrong with. Messages are shown to users in
// conditions and events, so they carry what the provider said but never a credential or token.

/**
 * - terminal: retrying cannot help until the inputs (spec or referenced Secrets) change;
 * - transient: retry with backoff;
 * - rate-limited: retry no earlier than retryAfterMs (or with backoff when the server gave no hint).
 */
export type FailureKind = 'terminal' | 'transient' | 'rate-limited';

export interface ProviderErrorDetails {
  kind: FailureKind;
  /** CamelCase condition reason, stable for alerts: InvalidClient, ProviderUnreachable, ... */
  reason: string;
  /** What happened and what to do, safe to show. */
  message: string;
  httpStatus?: number;
  /** The provider's own error code (RFC 6749 "error", iDempiere "title"), already sanitized. */
  providerCode?: string;
  retryAfterMs?: number;
  /** Whether the provider may have acted on the request although we saw no answer (timeouts, resets). */
  outcomeUnknown?: boolean;
  /** The token consumers hold is known not to work any more (IDMP cloud tokens rejected with 401). */
  currentTokenInvalid?: boolean;
}

const PROVIDER_ERROR = Symbol.for('apicred-operator.ProviderError');

export class ProviderError extends Error {
  readonly kind: FailureKind;
  readonly reason: string;
  readonly httpStatus: number | undefined;
  readonly providerCode: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly outcomeUnknown: boolean;
  readonly currentTokenInvalid: boolean;
  readonly [PROVIDER_ERROR] = true;

  constructor(details: ProviderErrorDetails, options?: { cause?: unknown }) {
    super(details.message, options);
    this.name = 'ProviderError';
    this.kind = details.kind;
    this.reason = details.reason;
    this.httpStatus = details.httpStatus;
    this.providerCode = details.providerCode;
    this.retryAfterMs = details.retryAfterMs;
    this.outcomeUnknown = details.outcomeUnknown ?? false;
    this.currentTokenInvalid = details.currentTokenInvalid ?? false;
  }

  static is(value: unknown): value is ProviderError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[PROVIDER_ERROR] === true
    );
  }
}

/** Another writer changed the state Secret since it was read; the caller must not use what it read. */
export class StateConflictError extends Error {
  constructor(message = 'the state Secret was changed by another writer') {
    super(message);
    this.name = 'StateConflictError';
  }
}

/**
 * The same failure told with a new message: every detail is kept unless `changes` replaces it (a
 * caller that knows the outcome is unknown, or that a retry may help, says so there).
 */
export function withMessage(
  error: ProviderError,
  message: string,
  changes: Partial<Omit<ProviderErrorDetails, 'message'>> = {},
  options?: { cause?: unknown },
): ProviderError {
  return new ProviderError(
    {
      kind: error.kind,
      reason: error.reason,
      httpStatus: error.httpStatus,
      providerCode: error.providerCode,
      retryAfterMs: error.retryAfterMs,
      outcomeUnknown: error.outcomeUnknown,
      currentTokenInvalid: error.currentTokenInvalid,
      ...changes,
      message,
    },
    options,
  );
}
