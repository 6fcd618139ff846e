// TDengine IDMP cloud (https://<instance>.idmp.taosdata.com): every request needs two headers,
// `Authorization: Bearer <token>` and `Access-token: <value>`, that a person copies from a browser
// session; there is no programmatic login or refresh (vendor notes §5.2, seed 000). So "refresh"
// here is the honest version: copy both into the consumer Secret, check with one cheap GET that
// they still work, warn before a JWT Bearer expires, and fail loudly, saying exactly what the person
// must do, once they stop working.
import { z } from 'zod';
import { caBundleRef, duration, httpUrl, objectName, secretKey } from '../api/fields.ts';
import type { HttpResponse } from '../http/client.ts';
import { DurationError, formatDuration, parseDuration } from '../policy/duration.ts';
import { ProviderError, withMessage } from '../errors/failure.ts';
import { rateLimitedError, serverError } from '../errors/http-status.ts';
import { hostAndPath } from '../http/url.ts';
import { namespaceOf } from '../kube/object-key.ts';
import {
  idmpAnswer,
  idmpRateLimitedMessage,
  idmpSaid,
  idmpUrl,
  jsonObject,
  jwtExpiresAt,
} from './idmp-common.ts';
import { declareNeeds, secretKeyRef } from './references.ts';
import { defineProvider } from './definition.ts';
import type { InputReference, ProviderContext, ProviderNeeds, TokenProvider, TokenSet } from './types.ts';

export const idmpCloudSchema = z
  .object({
    baseUrl: httpUrl('IDMP cloud instance URL, https://<instance-id>.idmp.taosdata.com.'),
    tokensRef: z
      .object({
        name: objectName('Secret where a person pastes the two values copied from the browser.'),
        bearerTokenKey: secretKey('bearer_token', 'Key of the Authorization Bearer token.'),
        accessTokenKey: secretKey('access_token', 'Key of the Access-token header value.'),
      })
      .meta({
        description: 'Secret holding the Bearer token and Access-token header copied from a browser session.',
      }),
    checkPath: z
      .string()
      .regex(/^\//)
      .max(1024)
      .default('/api/v1/elements?current=1&size=1')
      .meta({ description: 'A cheap authenticated GET used to check that the tokens still work.' }),
    checkInterval: duration('How often the tokens are checked. Default: 10m.').default('10m'),
    warnBefore: duration('Warn this long before a JWT bearer token expires. Default: 24h.').default('24h'),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({
    description:
      'IDMP cloud: tokens cannot be obtained by a program. The operator distributes the tokens a person copied, checks them and warns before they expire.',
  });

export type IdmpCloudSpec = z.output<typeof idmpCloudSchema>;

const FIELD = 'spec.provider.idmpCloud';
/**
 * Consumer Secret key of the `Access-token` header value. Named after the header, not
 * `access_token`, which in OAuth means the Bearer token (that one is under spec.secret.keys.token).
 */
export const IDMP_CLOUD_ACCESS_TOKEN_KEY = 'access-token';
/** Each check is a request to the vendor's cloud: not more often than this. */
export const MIN_CHECK_INTERVAL_MS = 60_000;
// Header values must be visible ASCII; what people paste often carries a newline or a prefix.
const HEADER_VALUE = /^[\x21-\x7e]+$/;

function refs(spec: IdmpCloudSpec): { bearer: InputReference; accessToken: InputReference } {
  const { name, bearerTokenKey, accessTokenKey } = spec.tokensRef;
  return {
    bearer: secretKeyRef(`${FIELD}.tokensRef`, name, bearerTokenKey, 'bearerTokenKey'),
    accessToken: secretKeyRef(`${FIELD}.tokensRef`, name, accessTokenKey, 'accessTokenKey'),
  };
}

/**
 * What a person must do to give the operator working tokens, with placeholders only. Exported so
 * the controller and docs can show the same text.
 */
export function renewInstructions(spec: IdmpCloudSpec, namespace: string): string {
  const { name, bearerTokenKey, accessTokenKey } = spec.tokensRef;
  const patch = JSON.stringify({
    stringData: {
      [bearerTokenKey]: '<AUTHORIZATION_VALUE_WITHOUT_BEARER_PREFIX>',
      [accessTokenKey]: '<ACCESS_TOKEN_HEADER_VALUE>',
    },
  });
  return (
    `open the IDMP cloud console at ${spec.baseUrl.replace(/\/+$/, '')} in a browser and log in; in the ` +
    'browser DevTools Network tab, reload the page and select any /api/ request (for example ' +
    '/api/v1/permissions/menus); copy its Authorization request header (without the "Bearer " prefix) ' +
    `and its Access-token request header; put them into Secret ${namespace}/${name} under the keys ` +
    `${bearerTokenKey} and ${accessTokenKey}, for example: kubectl -n ${namespace} patch secret ${name} ` +
    `--type merge -p '${patch}'. The operator checks the new values as soon as the Secret changes.`
  );
}

export class IdmpCloudProvider implements TokenProvider<IdmpCloudSpec> {
  readonly name = 'idmpCloud' as const;

  needs(spec: IdmpCloudSpec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {
      endpoint: spec.baseUrl,
      caBundleRef: spec.caBundleRef,
    });
  }

  inputs(spec: IdmpCloudSpec): InputReference[] {
    const { bearer, accessToken } = refs(spec);
    return [bearer, accessToken];
  }

  async obtain(spec: IdmpCloudSpec, context: ProviderContext): Promise<TokenSet> {
    const namespace = namespaceOf(context.credential);
    const secret = `Secret ${namespace}/${spec.tokensRef.name}`;
    const instructions = renewInstructions(spec, namespace);
    const checkIntervalMs = durationOf(spec.checkInterval, 'checkInterval');
    if (checkIntervalMs < MIN_CHECK_INTERVAL_MS) {
      throw invalidSpec(
        `${FIELD}.checkInterval is ${spec.checkInterval}; it must be at least ${formatDuration(MIN_CHECK_INTERVAL_MS)}, since every check is a request to the IDMP cloud.`,
      );
    }
    const warnBeforeMs = durationOf(spec.warnBefore, 'warnBefore');
    const { keys } = context;
    if ([keys.token, keys.tokenType, keys.expiresAt].includes(IDMP_CLOUD_ACCESS_TOKEN_KEY)) {
      throw invalidSpec(
        `spec.secret.keys uses "${IDMP_CLOUD_ACCESS_TOKEN_KEY}", the key where the idmpCloud provider writes the Access-token value; choose another key name.`,
      );
    }

    const r = refs(spec);
    const bearer = pasted(context.inputs.require(r.bearer), 'bearer', secret, spec, instructions);
    const accessToken = pasted(context.inputs.require(r.accessToken), 'access', secret, spec, instructions);
    const now = context.clock.now();
    const jwtExp = jwtExpiresAt(bearer, now);
    if (jwtExp !== undefined && jwtExp <= now) {
      // No request: the server would only confirm it, and a person has to act either way.
      throw humanActionRequired(
        `the IDMP cloud Bearer token in ${secret} (key ${spec.tokensRef.bearerTokenKey}) expired at ` +
          `${new Date(jwtExp).toISOString()} (${formatDuration(now - jwtExp)} ago, by its exp claim); ` +
          `the operator cannot renew IDMP cloud tokens. A person must ${instructions}`,
      );
    }

    await check(spec, context, bearer, accessToken, secret, instructions);

    // An opaque Bearer has no known expiry (the browser session decides). The tokens are vouched for
    // until a little after the next check: a rolling now + 2 × checkInterval, so one missed check
    // is tolerated, and an operator that stopped checking shows as a stale expires_at.
    const expiresAt = jwtExp ?? now + 2 * checkIntervalMs;
    const tokenSet: TokenSet = {
      data: {
        [keys.token]: bearer,
        [keys.tokenType]: 'Bearer',
        [IDMP_CLOUD_ACCESS_TOKEN_KEY]: accessToken,
        [keys.expiresAt]: new Date(expiresAt).toISOString(),
      },
      issuedAt: now,
      expiresAt,
      expirySource: jwtExp === undefined ? 'human' : 'jwt',
      // Check again at the interval, and at the latest at the JWT's expiry, so that the moment it
      // expires becomes a HumanActionRequired error at once.
      checkAgainAt: Math.min(now + checkIntervalMs, jwtExp ?? Number.POSITIVE_INFINITY),
    };
    if (jwtExp !== undefined && jwtExp - now <= warnBeforeMs) {
      tokenSet.warnings = [
        {
          reason: 'TokensExpiringSoon',
          message:
            `the IDMP cloud Bearer token in ${secret} (key ${spec.tokensRef.bearerTokenKey}) expires at ` +
            `${new Date(jwtExp).toISOString()} (in ${formatDuration(jwtExp - now)}, by its exp claim), and ` +
            `the operator cannot renew IDMP cloud tokens; consumers of the Secret will then fail. Before ` +
            `then, a person must ${instructions}`,
        },
      ];
    }
    return tokenSet;
  }
}

/** One authenticated GET of checkPath; returns when the tokens work, throws otherwise. */
async function check(
  spec: IdmpCloudSpec,
  context: ProviderContext,
  bearer: string,
  accessToken: string,
  secret: string,
  instructions: string,
): Promise<void> {
  const url = idmpUrl(spec.baseUrl, spec.checkPath);
  const what = `the IDMP cloud token check GET ${hostAndPath(url)}`;
  let response: HttpResponse;
  try {
    response = await context.http.request({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${bearer}`, 'access-token': accessToken, accept: 'application/json' },
      signal: context.signal,
    });
  } catch (error) {
    if (!ProviderError.is(error)) throw error;
    // No answer says nothing about the tokens: keep the reason, do not call them bad.
    throw withMessage(
      error,
      `${error.message} The token check did not complete, so nothing is known about the tokens in ${secret}; it is retried.`,
      {},
      { cause: error },
    );
  }
  const said = idmpSaid(response, [bearer, accessToken]);
  const rejected = (status: number): ProviderError =>
    humanActionRequired(
      `${what} answered ${status} (${said}): the IDMP cloud tokens in ${secret} (keys ` +
        `${spec.tokensRef.bearerTokenKey} and ${spec.tokensRef.accessTokenKey}) no longer work. The browser ` +
        'session they were copied from has ended (logout, idle timeout or a new login), or the two values ' +
        `come from different sessions. The operator cannot log in to IDMP cloud; a person must ${instructions}`,
      status,
    );
  const { status } = response;
  if (status === 401 || status === 403) throw rejected(status);
  const answer = idmpAnswer(response, what, said);
  if (status === 429)
    throw rateLimitedError(answer, (retryAfterMs) => idmpRateLimitedMessage(answer, retryAfterMs));
  if (status >= 500) throw serverError(answer);
  if (status >= 200 && status < 300) {
    const body = jsonObject(response);
    // IDMP documents a {code,message} envelope: an error may come inside a 200.
    if (body?.code === 401 || body?.code === 403) throw rejected(body.code);
    if (body !== undefined) return;
  }
  if (status === 404) {
    throw new ProviderError({
      kind: 'terminal',
      reason: 'CheckEndpointNotFound',
      message: `${what} answered 404 (${said}). Check ${FIELD}.baseUrl and ${FIELD}.checkPath (default /api/v1/elements?current=1&size=1).`,
      httpStatus: 404,
    });
  }
  // A 2xx that is not JSON, a redirect, another 4xx: maybe a wrong checkPath, maybe a login page.
  const location = response.headers.location;
  const redirect = location === undefined ? '' : ` redirecting to ${safeLocation(location, url)}`;
  throw new ProviderError({
    kind: 'terminal',
    reason: 'CheckInconclusive',
    message:
      `${what} answered ${status}${redirect} (${said}), not the JSON of an API call, so the tokens in ${secret} ` +
      `could not be confirmed. Check that ${FIELD}.checkPath is an IDMP API path that any logged-in user may ` +
      `read (default /api/v1/elements?current=1&size=1). If it is, the session has probably ended: a person must ${instructions}`,
    httpStatus: status,
  });
}

/** A value as a person pasted it, made usable: no surrounding whitespace, no "Bearer " prefix. */
function pasted(
  raw: string,
  which: 'bearer' | 'access',
  secret: string,
  spec: IdmpCloudSpec,
  instructions: string,
): string {
  const key = which === 'bearer' ? spec.tokensRef.bearerTokenKey : spec.tokensRef.accessTokenKey;
  const header = which === 'bearer' ? 'Authorization' : 'Access-token';
  let value = raw.trim();
  if (which === 'bearer') value = value.replace(/^(authorization:\s*)?bearer\s+/i, '');
  else value = value.replace(/^access-token:\s*/i, '');
  if (HEADER_VALUE.test(value)) return value;
  // Never quote the value: say what is wrong with it.
  const problem = value === '' ? 'is empty' : 'contains spaces or characters a header value cannot have';
  throw new ProviderError({
    kind: 'terminal',
    reason: 'InvalidTokenFormat',
    message: `the ${header} value in ${secret} key ${key} ${problem}. A person must ${instructions}`,
  });
}

function humanActionRequired(message: string, httpStatus?: number): ProviderError {
  return new ProviderError({
    kind: 'terminal',
    reason: 'HumanActionRequired',
    message,
    httpStatus,
    currentTokenInvalid: true,
  });
}

function invalidSpec(message: string): ProviderError {
  return new ProviderError({ kind: 'terminal', reason: 'InvalidSpec', message });
}

/** The CRD pattern admits only parseable durations; this guards specs that bypassed it. */
function durationOf(value: string, field: 'checkInterval' | 'warnBefore'): number {
  try {
    return parseDuration(value);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    throw invalidSpec(`${FIELD}.${field}: ${error.message}.`);
  }
}

/** Where a redirect points, as host/path only: a login page URL may carry a session in its query. */
function safeLocation(location: string, base: string): string {
  try {
    return hostAndPath(new URL(location, base).toString());
  } catch {
    return 'an unreadable location';
  }
}

export const idmpCloudDefinition = defineProvider({
  name: 'idmpCloud',
  schema: idmpCloudSchema,
  create: () => new IdmpCloudProvider(),
});
