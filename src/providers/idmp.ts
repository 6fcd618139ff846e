// TDengine IDMP enterprise (self-hosted): password login at POST {baseUrl}/api/v1/users/login, which
// answers {"token": JWT} (vendor notes §5.1, seed 000). There is no refresh endpoint and no
// documented logout, so renewal is a new login and nothing is released on deletion.
import { z } from 'zod';
import { caBundleRef, httpUrl, userCredentialsRef } from '../api/fields.ts';
import type { HttpResponse } from '../http/client.ts';
import type { ExpiryErrorReason } from '../policy/expiry.ts';
import { ProviderError } from '../errors/failure.ts';
import { statusError } from '../errors/http-status.ts';
import { hostAndPath } from '../http/url.ts';
import { namespaceOf } from '../kube/object-key.ts';
import {
  DEFAULT_LOGIN_FIELD,
  isRequestFormatRejection,
  LoginFieldMemory,
  namesLoginField,
  otherLoginField,
  type LoginField,
} from './idmp-login-field.ts';
import { idmpAnswer, idmpRateLimitedMessage, idmpSaid, idmpUrl } from './idmp-common.ts';
import { declareNeeds, loginRefs } from './references.ts';
import { defineProvider } from './definition.ts';
import { answeredObject, fieldNames } from './answer-body.ts';
import { issuedTokenSet } from './token-set.ts';
import type { InputReference, ProviderContext, ProviderNeeds, TokenProvider, TokenSet } from './types.ts';

export const idmpSchema = z
  .object({
    baseUrl: httpUrl('TDengine IDMP base URL, for example http://idmp:6042.'),
    credentialsRef: userCredentialsRef,
    loginField: z.enum(['login_name', 'loginName']).optional().meta({
      description:
        'Pins the JSON field name of the login name. Unset, the operator sends one name, and on a 400 that names the field it tries the other and remembers the one that works for this baseUrl.',
    }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({ description: 'TDengine IDMP enterprise login (POST /api/v1/users/login).' });

export type IdmpSpec = z.output<typeof idmpSchema>;

const FIELD = 'spec.provider.idmp';
export const IDMP_LOGIN_PATH = '/api/v1/users/login';
// Words IDMP might use when it refuses a password login because the CAPTCHA check is on; the
// answer is not documented (the emulator says "Captcha verification is required").
const CAPTCHA = /captcha|verification code|验证码/i;

function refs(spec: IdmpSpec): { username: InputReference; password: InputReference } {
  return loginRefs(FIELD, spec.credentialsRef);
}

export function loginUrl(baseUrl: string): string {
  return idmpUrl(baseUrl, IDMP_LOGIN_PATH);
}

/** The token of a login answer: top-level `token`, or `data.token` when IDMP wraps it (§5.1). */
function tokenOf(body: Record<string, unknown>): string | undefined {
  if (typeof body.token === 'string' && body.token !== '') return body.token;
  const data = body.data;
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const token = (data as Record<string, unknown>).token;
    if (typeof token === 'string' && token !== '') return token;
  }
  return undefined;
}

/** Which field names were sent, for messages about a rejected request. */
interface LoginFieldsTried {
  pinned: boolean;
  sent: LoginField[];
  /** What the server said to the first name when a second was tried. */
  firstSaid?: string;
}

export class IdmpProvider implements TokenProvider<IdmpSpec> {
  readonly name = 'idmp' as const;
  readonly #loginFields = new LoginFieldMemory();

  needs(spec: IdmpSpec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {
      endpoint: spec.baseUrl,
      caBundleRef: spec.caBundleRef,
    });
  }

  inputs(spec: IdmpSpec): InputReference[] {
    const { username, password } = refs(spec);
    return [username, password];
  }

  async obtain(spec: IdmpSpec, context: ProviderContext): Promise<TokenSet> {
    const r = refs(spec);
    const username = context.inputs.require(r.username);
    const password = context.inputs.require(r.password);
    const url = loginUrl(spec.baseUrl);
    const endpoint = hostAndPath(url);
    const secret = `Secret ${namespaceOf(context.credential)}/${spec.credentialsRef.name}`;
    const pinned = spec.loginField !== undefined;
    let field = spec.loginField ?? this.#loginFields.get(spec.baseUrl) ?? DEFAULT_LOGIN_FIELD;
    const tried: LoginFieldsTried = { pinned, sent: [field] };
    const send = (name: LoginField) =>
      context.http.request({
        method: 'POST',
        url,
        json: { [name]: username, password },
        headers: { accept: 'application/json' },
        signal: context.signal,
      });
    let startedAt = context.clock.now();
    let response = await send(field);
    if (!pinned && namesLoginField(response.status, response.text)) {
      // The server wants the other name (Jackson's unknown field, or validation's missing one).
      tried.firstSaid = idmpSaid(response, [password]);
      field = otherLoginField(field);
      tried.sent.push(field);
      startedAt = context.clock.now();
      response = await send(field);
    }
    const receivedAt = context.clock.now();
    // 2xx, 401 and 403 mean the server read the body: this name is the one it takes.
    if (!pinned && [200, 201, 401, 403].includes(response.status)) this.#loginFields.set(spec.baseUrl, field);
    const said = (): string => idmpSaid(response, [password]);
    if (response.status < 200 || response.status >= 300)
      throw loginError(response, response.status, endpoint, said(), secret, spec, tried);

    const body = answeredObject(response, `IDMP login at ${endpoint}`);
    const token = tokenOf(body);
    if (token === undefined) {
      // The documented envelope may carry an error with HTTP 200: judge it by its own code.
      const code = typeof body.code === 'number' ? body.code : Number.NaN;
      if (code >= 400 && code < 600) {
        throw loginError(response, code, endpoint, said(), secret, spec, tried);
      }
      throw new ProviderError({
        kind: 'transient',
        reason: 'InvalidResponse',
        message: `IDMP login at ${endpoint} answered ${response.status} without a token (fields: ${fieldNames(body)}).`,
      });
    }

    return issuedTokenSet({ token, tokenType: 'Bearer', requestStartedAt: startedAt, receivedAt }, context, {
      what: `IDMP login at ${endpoint}`,
      warningsFrom: 'IDMP login',
      advice: idmpExpiryAdvice,
    });
  }
}

/** A clock problem or a stale token needs no advice (a later login may do better); a missing expiry does. */
function idmpExpiryAdvice(reason: ExpiryErrorReason): string | undefined {
  if (reason === 'ExpiredOnArrival') return undefined;
  return (
    'IDMP tokens live tda.jwt.ttl seconds (default 604800, i.e. 168h); set spec.refresh.assumedLifetime ' +
    'to that value or less.'
  );
}

/** `status` is the HTTP status, or the envelope's code when IDMP reported an error inside a 200. */
function loginError(
  response: HttpResponse,
  status: number,
  endpoint: string,
  said: string,
  secret: string,
  spec: IdmpSpec,
  tried: LoginFieldsTried,
): ProviderError {
  const what = `IDMP login at ${endpoint}`;
  return statusError(idmpAnswer(response, what, said, status), {
    rateLimitedMessage: idmpRateLimitedMessage,
    specific: () => loginRefused(response, status, what, said, secret, spec, tried),
    notFoundAdvice:
      `Check ${FIELD}.baseUrl (for example http://idmp:6042). The IDMP cloud service has no login endpoint: ` +
      'for https://<instance>.idmp.taosdata.com use spec.provider.idmpCloud.',
    unexpectedAdvice: `Check ${FIELD}.baseUrl.`,
  });
}

/** The answers that say why IDMP refused this login: a CAPTCHA, the request's shape, the credentials. */
function loginRefused(
  response: HttpResponse,
  status: number,
  what: string,
  said: string,
  secret: string,
  spec: IdmpSpec,
  tried: LoginFieldsTried,
): ProviderError | undefined {
  if (status >= 400 && CAPTCHA.test(said)) {
    return new ProviderError({
      kind: 'terminal',
      reason: 'CaptchaRequired',
      message:
        `${what} refused the password login because the server requires a CAPTCHA (${status}: ${said}). ` +
        'Password login cannot be automated on this IDMP server. Either an IDMP administrator turns the ' +
        'login CAPTCHA off (enable-login-captcha-check / ENABLE_LOGIN_CAPTCHA_CHECK=false), or you create an ' +
        "IDMP user API key (api_<id>.<secret>, in the user's profile settings) and give it to the consumers " +
        'directly in place of this ApiCredential: API keys need no login and no renewal.',
      httpStatus: status,
    });
  }
  if (isRequestFormatRejection(status, response.text)) return requestRejected(what, said, tried);
  if (status === 400 || status === 401 || status === 403) {
    const { usernameKey, passwordKey } = spec.credentialsRef;
    return new ProviderError({
      kind: 'terminal',
      reason: 'LoginFailed',
      message:
        `${what} refused the login (${status}: ${said}). Check the login name and password in ${secret} ` +
        `(keys ${usernameKey} and ${passwordKey}); the user must be active and have a local password ` +
        '(SSO/OAuth-only users have none). The operator retries when that Secret changes.',
      httpStatus: status,
    });
  }
  return undefined;
}

/** A 400 about the request's shape: the credentials were never judged, so do not blame them. */
function requestRejected(what: string, said: string, tried: LoginFieldsTried): ProviderError {
  const [first, second] = tried.sent;
  const pin = `${FIELD}.loginField`;
  let detail: string;
  if (tried.pinned && first !== undefined) {
    detail =
      `${pin} pins the login name's field to "${first}": if the server names that field, set ${pin} to ` +
      `"${otherLoginField(first)}", or remove it so that the operator finds the name itself.`;
  } else if (second !== undefined) {
    detail =
      `The operator sent the login name as "${first}" (answered: ${tried.firstSaid ?? '?'}) and then as ` +
      `"${second}"; the server refused both, so it expects a request this operator does not know.`;
  } else {
    detail = `The login name was sent as "${first}"; if the server names that field, pin the other name in ${pin}.`;
  }
  return new ProviderError({
    kind: 'terminal',
    reason: 'RequestRejected',
    message:
      `${what} rejected the request itself, not the credentials (400: ${said}). ${detail} If that does not ` +
      "help, report this message with the IDMP server's version to the apicred-operator maintainers.",
    httpStatus: 400,
  });
}

export const idmpDefinition = defineProvider({
  name: 'idmp',
  schema: idmpSchema,
  create: () => new IdmpProvider(),
});
