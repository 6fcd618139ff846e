// Insights Hub answers that are not tokens, turned into ProviderErrors a user can act on. The error
// body is the platform's `{"errors":[{"code","logref","message"}]}` (vendor notes §4.5); the logref is
// kept in messages because Siemens support asks for it.
import type { HttpResponse } from '../http/client.ts';
import { safeExcerpt } from '../errors/excerpt.ts';
import { ProviderError, type FailureKind } from '../errors/failure.ts';
import { rateLimitedError, statusError, type StatusAnswer } from '../errors/http-status.ts';
import { isJsonObject, parsedJson } from './answer-body.ts';

export const FIELD = 'spec.provider.insightsHub';

export interface MdspError {
  code?: string;
  logref?: string;
  message?: string;
}

/** The first entry of an `errors` array, fields sanitized; undefined when there is none. */
export function mdspErrorOf(value: unknown): MdspError | undefined {
  const errors = isJsonObject(value) ? value.errors : undefined;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (!isJsonObject(first)) return undefined;
  const text = (field: unknown, max: number): string | undefined =>
    typeof field === 'string' && field.trim() !== '' ? safeExcerpt(field, undefined, max) : undefined;
  // Codes are dotted names (mdsp.core.generic.tooManyRequests): kept whole, since safeExcerpt would
  // take the longer ones for opaque secrets and the classification reads them.
  const code =
    typeof first.code === 'string' && /^[a-zA-Z]+(\.[a-zA-Z]+)*$/.test(first.code) && first.code.length <= 80
      ? first.code
      : text(first.code, 80);
  return { code, logref: text(first.logref, 64), message: text(first.message, 240) };
}

/** "message (code, logref …)" for an MdspError. */
export function describeMdsp(error: MdspError): string {
  const extra = [error.code, error.logref && `logref ${error.logref}`].filter(Boolean).join(', ');
  return `${error.message ?? 'no message'}${extra ? ` (${extra})` : ''}`;
}

/** What the server said in a non-success answer, safe to show. */
export function said(response: HttpResponse): string {
  const mdsp = mdspErrorOf(parsedJson(response));
  return mdsp ? describeMdsp(mdsp) : safeExcerpt(response.text, response.headers['content-type']);
}

export interface CallSite {
  /** POST …/oauth/token, for messages. */
  endpoint: string;
  /** "Secret ns/name", where the app credentials come from. */
  credentialsWhere: string;
}

export function invalidCredentials(response: HttpResponse, site: CallSite): ProviderError {
  return new ProviderError({
    kind: 'terminal',
    reason: 'InvalidCredentials',
    httpStatus: response.status,
    message:
      `${site.endpoint} refused the app credentials with ${response.status} (${said(response)}). ` +
      'Insights Hub app credentials are valid for 365 days, and issuing new ones in Developer Cockpit or ' +
      `Operator Cockpit invalidates the old secret: check the client id and secret in ${site.credentialsWhere} ` +
      `(${FIELD}.credentialsRef) and replace them with current ones.`,
  });
}

function answerOf(response: HttpResponse, what: string): StatusAnswer {
  return { status: response.status, what, said: said(response), retryAfterMs: () => response.retryAfterMs() };
}

/** Insights Hub's 429 message says how long it waits, when the server gave a delay. */
function rateLimitedMessage(answer: StatusAnswer, retryAfterMs: number | undefined): string {
  return (
    `${answer.what} answered 429 Too Many Requests (${answer.said}); ` +
    (retryAfterMs === undefined
      ? 'retrying with backoff.'
      : `retrying after the server's delay of ${Math.ceil(retryAfterMs / 1000)} s.`)
  );
}

export function rateLimited(response: HttpResponse, endpoint: string): ProviderError {
  const answer = answerOf(response, endpoint);
  return rateLimitedError(answer, (retryAfterMs) => rateLimitedMessage(answer, retryAfterMs));
}

export function tenantNotProvisioned(
  tenant: string,
  detail: string,
  spec: { appName: string; appVersion: string },
  httpStatus?: number,
): ProviderError {
  return new ProviderError({
    kind: 'terminal',
    reason: 'TenantNotProvisioned',
    httpStatus,
    message:
      `tenant ${tenant}: Insights Hub refused a token (${detail}). Check in Developer Cockpit (or Operator ` +
      `Cockpit for a released app) that app ${spec.appName} ${spec.appVersion} is provisioned to tenant ` +
      `${tenant} and may use the Technical Token Manager, and that ${FIELD}.appName, appVersion and hostTenant ` +
      'match the app.',
  });
}

/** A non-success answer no more specific rule covers. */
export function unexpected(response: HttpResponse, endpoint: string): ProviderError {
  return statusError(answerOf(response, endpoint), {
    rateLimitedMessage,
    specific: ({ status, what, said: text }) =>
      status === 400
        ? new ProviderError({
            kind: 'terminal',
            reason: 'InvalidRequest',
            httpStatus: status,
            message: `${what} refused the request with 400 (${text}). Check ${FIELD}.`,
          })
        : undefined,
    notFoundAdvice:
      `Check ${FIELD}.baseUrl: the gateway, for example https://gateway.eu1.mindsphere.io, or the full ` +
      '…/api/technicaltokenmanager…/v3 path on Xcelerator.',
  });
}

/** An error entry of one tenant inside an oauthTokens answer: kind and reason from its code. */
export function entryError(
  tenant: string,
  error: MdspError,
  spec: { appName: string; appVersion: string },
): ProviderError {
  const code = error.code ?? '';
  const detail = describeMdsp(error);
  if (/forbidden/i.test(code)) return tenantNotProvisioned(tenant, detail, spec);
  const known: [RegExp, FailureKind, string][] = [
    [/toomanyrequests/i, 'rate-limited', 'RateLimited'],
    [/unauthorized/i, 'terminal', 'TenantUnauthorized'],
  ];
  const [, kind, reason] = known.find(([pattern]) => pattern.test(code)) ?? [
    undefined,
    'transient',
    'TenantTokenFailed',
  ];
  return new ProviderError({
    kind,
    reason,
    providerCode: error.code,
    message: `tenant ${tenant}: Insights Hub returned no token (${detail}).`,
  });
}

/** The answer of oauthTokens to more tenants than it serves per call, with the limit when it says it. */
export function batchSizeTooLarge(
  response: HttpResponse,
  endpoint: string,
  batchSize: number,
): ProviderError {
  const text = said(response);
  const limit = /maximum of (\d+)/i.exec(text)?.[1];
  const advice =
    limit !== undefined
      ? `lower ${FIELD}.batchSize to ${limit}`
      : `lower ${FIELD}.batchSize (the vendor documents 5 in one place and 2 in another; 2 is safe)`;
  return new ProviderError({
    kind: 'terminal',
    reason: 'BatchSizeTooLarge',
    httpStatus: response.status,
    message: `${endpoint} refused ${batchSize} tenants in one call (${text}): ${advice}.`,
  });
}

/** Whether a 400 from oauthTokens is about the number of tenants per call. */
export function isBatchLimit(response: HttpResponse): boolean {
  return response.status === 400 && /maximum|too many|limit/i.test(said(response));
}
