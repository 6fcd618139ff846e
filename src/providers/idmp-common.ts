// Pieces both TDengine IDMP providers share (vendor notes §5): URLs, reading IDMP's `{code,message}`
// answers for messages, and the JWT exp of a token we only read, never verify.
import { decodeJwt } from 'jose';
import type { HttpResponse } from '../http/client.ts';
import { safeExcerpt } from '../errors/excerpt.ts';
import { formatDuration } from '../policy/duration.ts';
import { MAX_LIFETIME_MS } from '../policy/expiry.ts';
import type { StatusAnswer } from '../errors/http-status.ts';
import { isJsonObject, parsedJson } from './answer-body.ts';

/** `{baseUrl}{path}` without a doubled slash; path starts with '/' and may carry a query. */
export function idmpUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

/** The answer's JSON object, or undefined when it is not one (HTML error pages, empty bodies). */
export function jsonObject(response: HttpResponse): Record<string, unknown> | undefined {
  const body = parsedJson(response);
  return isJsonObject(body) ? body : undefined;
}

/**
 * What IDMP said, safe to show: `code 401, message "…"` for its `{code,message}` body, else a
 * redacted excerpt. `scrub` lists values that must never appear (the password), in case a server
 * echoes them.
 */
export function idmpSaid(response: HttpResponse, scrub: readonly string[] = []): string {
  const body = jsonObject(response);
  const code = body?.code;
  const message = body?.message;
  let said: string;
  if (typeof message === 'string' && (typeof code === 'number' || typeof code === 'string')) {
    said = `code ${safeExcerpt(String(code), undefined, 16)}, message "${safeExcerpt(message, undefined)}"`;
  } else if (typeof message === 'string') {
    said = `message "${safeExcerpt(message, undefined)}"`;
  } else {
    said = safeExcerpt(response.text, response.headers['content-type']);
  }
  for (const value of scrub) if (value.length >= 3) said = said.replaceAll(value, '[redacted]');
  return said;
}

/** An IDMP answer for the status table; `status` may be the code of an envelope inside a 200. */
export function idmpAnswer(
  response: HttpResponse,
  what: string,
  said: string,
  status = response.status,
): StatusAnswer {
  return { status, what, said, retryAfterMs: () => response.retryAfterMs() };
}

/** 429: the server's delay when it gave one (IDMP documents none), else the controller's backoff. */
export function idmpRateLimitedMessage(answer: StatusAnswer, retryAfterMs: number | undefined): string {
  return (
    `${answer.what} answered 429 Too Many Requests (${answer.said}); retrying ` +
    (retryAfterMs === undefined ? 'with backoff.' : `in ${formatDuration(retryAfterMs)} as the server asked.`)
  );
}

/**
 * The exp claim (epoch ms) of a JWT, read without verification; undefined for opaque tokens and for
 * an exp more than 10 years from `now` (a unit mix-up or garbage, and past what a Date can hold).
 */
export function jwtExpiresAt(token: string, now: number): number | undefined {
  if (token.split('.').length !== 3) return undefined;
  try {
    const exp = decodeJwt(token).exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= 0) return undefined;
    return exp * 1000 - now > MAX_LIFETIME_MS ? undefined : exp * 1000;
  } catch {
    return undefined; // opaque after all
  }
}
