// Reading token endpoint answers the way RFC 6749 §5 defines them, shared by every provider that
// speaks OAuth 2.0 (oauth2, tapdata): success bodies, error bodies, and what each error means for us.
import type { HttpResponse } from '../http/client.ts';
import { hostAndPath } from '../http/url.ts';
import { ProviderError, type FailureKind } from '../errors/failure.ts';
import { statusError } from '../errors/http-status.ts';
import { excerpt, safeExcerpt } from '../errors/excerpt.ts';
import { answeredObject, fieldNames, parsedJson } from './answer-body.ts';
import { issuedTokenSet } from './token-set.ts';
import type { ProviderContext, TokenSet } from './types.ts';

/** RFC 6749 error codes → condition reason, and whether retrying can help. */
const OAUTH_ERRORS: Record<string, { reason: string; kind: FailureKind; advice: string }> = {
  invalid_client: {
    reason: 'InvalidClient',
    kind: 'terminal',
    advice: 'check the client id and secret (or key) in the referenced Secret',
  },
  unauthorized_client: {
    reason: 'UnauthorizedClient',
    kind: 'terminal',
    advice:
      'check the client credentials and that the client may use the client_credentials grant (service accounts enabled)',
  },
  invalid_grant: {
    reason: 'InvalidGrant',
    kind: 'terminal',
    advice: 'the server refused the grant; check the client configuration',
  },
  invalid_scope: {
    reason: 'InvalidScope',
    kind: 'terminal',
    advice: 'check spec scopes against what the client may request',
  },
  invalid_request: {
    reason: 'InvalidRequest',
    kind: 'terminal',
    advice: 'check the spec (audience, resource, extraParams) and the token URL',
  },
  unsupported_grant_type: {
    reason: 'UnsupportedGrantType',
    kind: 'terminal',
    advice: 'the server does not offer the client_credentials grant at this endpoint',
  },
  access_denied: {
    reason: 'AccessDenied',
    kind: 'terminal',
    advice: 'the server denied access; check the client and realm',
  },
  temporarily_unavailable: {
    reason: 'ProviderUnavailable',
    kind: 'transient',
    advice: 'the server is temporarily unavailable',
  },
  server_error: {
    reason: 'ProviderServerError',
    kind: 'transient',
    advice: 'the server reported an internal error',
  },
};

export interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: unknown;
}

function safeString(value: unknown, max = 300): string | undefined {
  return typeof value === 'string' ? excerpt(value, max) : undefined;
}

/**
 * What a token endpoint said in a non-success answer, safe to show: "code: description" (RFC 6749
 * §5.2), or an excerpt of the body. Servers quote tokens and assertions in descriptions: cut out first.
 */
export function oauthErrorSaid(response: HttpResponse): { code: string | undefined; said: string } {
  const body = parsedJson(response);
  const code = safeString((body as { error?: unknown } | undefined)?.error, 64);
  const rawDescription = (body as { error_description?: unknown } | undefined)?.error_description;
  const description =
    typeof rawDescription === 'string' && rawDescription.trim() !== ''
      ? safeExcerpt(rawDescription, undefined, 300)
      : undefined;
  const said = code
    ? `${code}${description ? `: ${description}` : ''}`
    : safeExcerpt(response.text, response.headers['content-type'], 200);
  return { code, said };
}

/** Turns any non-success answer of a token endpoint into a ProviderError a user can act on. */
export function tokenEndpointError(response: HttpResponse, url: string, where: string): ProviderError {
  const endpoint = hostAndPath(url);
  const { code, said } = oauthErrorSaid(response);

  const answer = {
    status: response.status,
    what: endpoint,
    said,
    retryAfterMs: () => response.retryAfterMs(),
  };
  return statusError(answer, {
    specific: ({ status }) => {
      const known = code ? OAUTH_ERRORS[code] : undefined;
      if (known) {
        return new ProviderError({
          kind: known.kind,
          reason: known.reason,
          message: `${endpoint} answered ${status} ${said}. Next step: ${known.advice} (${where}).`,
          httpStatus: status,
          providerCode: code,
        });
      }
      if (status === 401 || status === 403) {
        return new ProviderError({
          kind: 'terminal',
          reason: 'Unauthorized',
          message: `${endpoint} answered ${status} (${said}). Check the credentials in ${where}.`,
          httpStatus: status,
        });
      }
      return undefined;
    },
    notFoundAdvice: 'Check the URL in the spec.',
  });
}

/** Validates a 200 answer and computes the token set for the consumer Secret. */
export function tokenSetFromResponse(
  response: HttpResponse,
  url: string,
  context: Pick<ProviderContext, 'keys' | 'assumedLifetimeMs' | 'clock'>,
  requestStartedAt: number,
): TokenSet {
  const endpoint = hostAndPath(url);
  const body = answeredObject(response, endpoint);
  const token = body.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new ProviderError({
      kind: 'transient',
      reason: 'InvalidResponse',
      message: `${endpoint} answered 200 without an access_token (fields: ${fieldNames(body)}).`,
    });
  }
  const tokenType = safeString(body.token_type, 32) ?? 'Bearer';
  return issuedTokenSet(
    {
      token,
      tokenType: normalizeTokenType(tokenType),
      requestStartedAt,
      receivedAt: context.clock.now(),
      expiresIn: body.expires_in,
    },
    context,
    // An unreadable expires_in that nothing could stand in for says so in its own reason.
    { what: endpoint, keepInvalidExpiresIn: true },
  );
}

/** "bearer" and "BEARER" are the same scheme (RFC 6750); consumers get the canonical spelling. */
function normalizeTokenType(tokenType: string): string {
  return tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType;
}
