// iDempiere REST (bxservice/idempiere-rest) on the wire: one request helper, its error body
// ({title, status, detail}), and reading a session answer. Used by idempiere-login.ts and idempiere.ts.
import { decodeJwt } from 'jose';
import type { IdempiereSpec } from './idempiere.ts';
import type { HttpResponse } from '../http/client.ts';
import { hostAndPath } from '../http/url.ts';
import { safeExcerpt } from '../errors/excerpt.ts';
import { ProviderError } from '../errors/failure.ts';
import { statusError } from '../errors/http-status.ts';
import { answeredObject, fieldNames, parsedJson } from './answer-body.ts';
import type { ProviderContext } from './types.ts';

export const FIELD = 'spec.provider.idempiere';

/** A logged-in session: what a login, an abbreviated step 1 or a refresh hands out. */
export interface Session {
  token: string;
  refreshToken: string;
  clientId: number;
  userId: number;
}

export interface Call {
  method: 'GET' | 'POST' | 'PUT';
  /** Under /api/v1, e.g. "auth/tokens". */
  path: string;
  query?: Record<string, number>;
  json?: unknown;
  bearer?: string;
}

/** {baseUrl}/api/v1, also when the user already put /api or /api/v1 in baseUrl. */
export function apiRoot(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '').replace(/\/api(\/v1)?$/, '')}/api/v1`;
}

/** "POST host/api/v1/auth/tokens": how messages name a request (never a query string). */
export function target(spec: IdempiereSpec, call: Pick<Call, 'method' | 'path'>): string {
  const url = new URL(`${apiRoot(spec.baseUrl)}/${call.path}`);
  return `${call.method} ${hostAndPath(url)}`;
}

/**
 * One request. Transport failures stay the client's ProviderErrors; the caller's abort (which the
 * client rejects with the raw reason) becomes a transient ProviderError whose outcome is unknown.
 */
export async function send(spec: IdempiereSpec, context: ProviderContext, call: Call): Promise<HttpResponse> {
  const url = new URL(`${apiRoot(spec.baseUrl)}/${call.path}`);
  for (const [name, value] of Object.entries(call.query ?? {})) url.searchParams.set(name, String(value));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (call.bearer !== undefined) headers.authorization = `Bearer ${call.bearer}`;
  try {
    return await context.http.request({
      method: call.method,
      url: url.toString(),
      headers,
      ...(call.json === undefined ? {} : { json: call.json }),
      signal: context.signal,
    });
  } catch (error) {
    if (ProviderError.is(error)) throw error;
    if (context.signal.aborted) {
      throw new ProviderError(
        {
          kind: 'transient',
          reason: 'Aborted',
          message: `${target(spec, call)}: the attempt ran out of time or was cancelled before an answer came; iDempiere may have acted on it.`,
          outcomeUnknown: true,
        },
        { cause: error },
      );
    }
    throw error;
  }
}

function stringField(value: unknown, key: string): string | undefined {
  const field =
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return typeof field === 'string' ? field : undefined;
}

function numberField(value: unknown, key: string): number | undefined {
  const field =
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof field === 'number' && Number.isInteger(field)) return field;
  if (typeof field === 'string' && /^\d+$/.test(field)) return Number(field);
  return undefined;
}

/** The plugin's ErrorBuilder body, when the answer is one. */
export function errorBody(response: HttpResponse): { title?: string; detail?: string } {
  const body = parsedJson(response);
  const title = stringField(body, 'title');
  const detail = stringField(body, 'detail');
  return {
    // java-jwt messages can quote parts of a token: anything token-like is cut out.
    ...(title === undefined ? {} : { title: safeExcerpt(title, undefined, 120) }),
    ...(detail === undefined ? {} : { detail: safeExcerpt(detail, undefined, 300) }),
  };
}

/** What iDempiere said, for a message: "Authenticate error: Invalid roleId", or an excerpt. */
export function said(response: HttpResponse): string {
  const { title, detail } = errorBody(response);
  if (title !== undefined || detail !== undefined) return [title, detail].filter(Boolean).join(': ');
  return safeExcerpt(response.text, response.headers['content-type']);
}

/** The plugin's "Authenticate error" (wrong credentials, refused session parameters, bad refresh). */
export function isAuthenticateError(response: HttpResponse): boolean {
  return response.status === 401 && errorBody(response).title === 'Authenticate error';
}

/** Any answer a request should not get, as an error a user can act on. */
export function unexpectedAnswer(spec: IdempiereSpec, call: Call, response: HttpResponse): ProviderError {
  const answer = {
    status: response.status,
    what: target(spec, call),
    said: said(response),
    retryAfterMs: () => response.retryAfterMs(),
  };
  return statusError(answer, {
    rateLimitedMessage: ({ what, said: text }) =>
      `${what} answered 429 (${text}); retrying after the server's delay.`,
    // 408: the server gave up waiting for us; nothing was judged.
    transient: [408],
    notFoundAdvice: `Check ${FIELD}.baseUrl (the REST API must be at {baseUrl}/api/v1) and that the idempiere-rest plugin is installed.`,
    providerCode: errorBody(response).title,
  });
}

/** A 200 body that should be a JSON object. */
export function jsonObject(spec: IdempiereSpec, call: Call, response: HttpResponse): Record<string, unknown> {
  return answeredObject(response, target(spec, call));
}

function claim(token: string, name: string): number | undefined {
  try {
    return numberField(decodeJwt(token), name);
  } catch {
    return undefined;
  }
}

/**
 * The session in a login answer, or undefined when it holds none (a normal step 1). Ids come from the
 * answer when echoed, else from the access token's claims (given ids are not echoed).
 */
export function sessionFrom(body: Record<string, unknown>): Partial<Session> & { token?: string } {
  const token = stringField(body, 'token');
  const refreshToken = stringField(body, 'refresh_token');
  const clientId = numberField(body, 'clientId') ?? (token ? claim(token, 'AD_Client_ID') : undefined);
  const userId = numberField(body, 'userId') ?? (token ? claim(token, 'AD_User_ID') : undefined);
  return {
    ...(token ? { token } : {}),
    ...(refreshToken ? { refreshToken } : {}),
    ...(clientId === undefined ? {} : { clientId }),
    ...(userId === undefined ? {} : { userId }),
  };
}

/** A complete session, or a transient InvalidResponse naming what is missing (never a value). */
export function requireSession(spec: IdempiereSpec, call: Call, body: Record<string, unknown>): Session {
  const session = sessionFrom(body);
  const { token, refreshToken, clientId, userId } = session;
  if (token && refreshToken && clientId !== undefined && userId !== undefined) {
    return { token, refreshToken, clientId, userId };
  }
  const missing = [
    token ? undefined : 'token',
    refreshToken ? undefined : 'refresh_token',
    clientId === undefined ? 'clientId' : undefined,
    userId === undefined ? 'userId' : undefined,
  ].filter(Boolean);
  throw new ProviderError({
    kind: 'transient',
    reason: 'InvalidResponse',
    message: `${target(spec, call)} answered 200 without ${missing.join(', ')} (fields: ${fieldNames(body, 12)}).`,
  });
}

export { numberField, stringField };
