// The one table from an HTTP status to a ProviderError. What a status class means (kind, reason,
// retry hint) is the same for every provider; what differs is how a provider names the request,
// what the server said, and the advice a user gets, which the caller passes in.
import { ProviderError } from './failure.ts';

/** A non-success answer as the table reads it, built by the provider from its HttpResponse. */
export interface StatusAnswer {
  /** The HTTP status, or the status an envelope reported inside a 200 (IDMP). */
  status: number;
  /** How messages name the request: "host/path", "IDMP login at host/path". */
  what: string;
  /** What the server said, already safe to show. */
  said: string;
  /** The server's Retry-After in ms, when it gave one. */
  retryAfterMs: () => number | undefined;
}

export interface StatusRules {
  /** The 429 message; by default "… answered 429 Too Many Requests (…); retrying after the server's delay." */
  rateLimitedMessage?: (answer: StatusAnswer, retryAfterMs: number | undefined) => string;
  /** Statuses that are server trouble besides 5xx (iDempiere: 408). */
  transient?: readonly number[];
  /** The provider's own rules, asked after 429 and 5xx, before 404 and the fallback. */
  specific?: (answer: StatusAnswer) => ProviderError | undefined;
  /** Told after "answered 404 (…).": where to check the URL. */
  notFoundAdvice: string;
  /** Told after the fallback's "answered N (…).", when there is something to check. */
  unexpectedAdvice?: string;
  /** The provider's own error code, kept on the fallback error. */
  providerCode?: string;
}

/** 429: rate-limited, with the server's delay when it gave one (else the controller's backoff). */
export function rateLimitedError(
  answer: StatusAnswer,
  message: (retryAfterMs: number | undefined) => string = () =>
    `${answer.what} answered 429 Too Many Requests (${answer.said}); retrying after the server's delay.`,
): ProviderError {
  const retryAfterMs = answer.retryAfterMs();
  return new ProviderError({
    kind: 'rate-limited',
    reason: 'RateLimited',
    message: message(retryAfterMs),
    httpStatus: 429,
    retryAfterMs,
  });
}

/** 5xx: the server's trouble, retried with backoff (or after its delay). */
export function serverError(answer: StatusAnswer): ProviderError {
  return new ProviderError({
    kind: 'transient',
    reason: 'ProviderServerError',
    message: `${answer.what} answered ${answer.status} (${answer.said}); retrying with backoff.`,
    httpStatus: answer.status,
    retryAfterMs: answer.retryAfterMs(),
  });
}

/** Any non-success answer: 429, then 5xx, then the provider's own rules, then 404, then the rest. */
export function statusError(answer: StatusAnswer, rules: StatusRules): ProviderError {
  const { status, what, said } = answer;
  if (status === 429) {
    const custom = rules.rateLimitedMessage;
    return rateLimitedError(answer, custom && ((retryAfterMs) => custom(answer, retryAfterMs)));
  }
  if (status >= 500 || rules.transient?.includes(status)) return serverError(answer);
  const specific = rules.specific?.(answer);
  if (specific !== undefined) return specific;
  if (status === 404) {
    return new ProviderError({
      kind: 'terminal',
      reason: 'EndpointNotFound',
      message: `${what} answered 404 (${said}). ${rules.notFoundAdvice}`,
      httpStatus: 404,
    });
  }
  const advice = rules.unexpectedAdvice === undefined ? '' : ` ${rules.unexpectedAdvice}`;
  return new ProviderError({
    // A 4xx will be refused again until something changes; anything else may pass next time.
    kind: status >= 400 && status < 500 ? 'terminal' : 'transient',
    reason: 'UnexpectedResponse',
    message: `${what} answered ${status} (${said}).${advice}`,
    httpStatus: status,
    providerCode: rules.providerCode,
  });
}
