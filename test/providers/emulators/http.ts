// Plain-fetch helpers for the emulator tests.
export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body; undefined when empty or not JSON. */
  body: unknown;
}

export async function http(url: string, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

export function postJson(
  url: string,
  value: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return http(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });
}

export function putJson(
  url: string,
  value: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return http(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });
}

export function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return http(url, { method: 'POST', headers, body: new URLSearchParams(fields) });
}

/** The JWT's header and payload, unverified. */
export function jwtParts(token: unknown): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  if (typeof token !== 'string') throw new Error(`not a token: ${String(token)}`);
  const [h = '', p = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

/** A field of a JSON object body. */
export function field(result: HttpResult, name: string): unknown {
  const body = result.body;
  if (typeof body !== 'object' || body === null)
    throw new Error(`no JSON object body (status ${result.status}): ${result.text}`);
  return (body as Record<string, unknown>)[name];
}

/** The error `fetch` rejects with, or undefined if it did not. */
export async function fetchError(promise: Promise<unknown>): Promise<Error | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
