// Turns an HttpRequest into what undici dispatches: origin, path, headers and an encoded body,
// refusing what must never reach the wire (credentials in the URL, line breaks in header values).
import { ProviderError } from '../errors/failure.ts';
import type { HttpRequest } from './types.ts';
import { hostAndPath } from './url.ts';

export interface PreparedRequest {
  method: HttpRequest['method'];
  origin: string;
  /** Path and query string: sent, never shown. */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** host:port, for messages and metrics. */
  host: string;
  /** The host without port or IPv6 brackets. */
  hostname: string;
  /** "POST host:port/path", the only description of a request that messages may carry. */
  target: string;
}

function invalidUrl(message: string): ProviderError {
  return new ProviderError({ kind: 'terminal', reason: 'InvalidURL', message });
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text itself is not shown: a malformed URL may still carry a token in its query.
    throw invalidUrl('the provider URL is not an absolute URL; check the URLs in the spec.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidUrl(`${hostAndPath(url)}: only http and https URLs are supported, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidUrl(
      `${hostAndPath(url)}: the URL carries a user name or password; put credentials in the referenced Secret instead.`,
    );
  }
  return url;
}

function encodeBody(request: HttpRequest): { body: string | undefined; contentType: string | undefined } {
  const given = [request.form !== undefined, request.json !== undefined, request.body !== undefined];
  if (given.filter(Boolean).length > 1) {
    throw new TypeError('HttpRequest takes at most one of form, json and body');
  }
  if (request.form !== undefined) {
    return {
      body: new URLSearchParams(request.form).toString(),
      contentType: 'application/x-www-form-urlencoded',
    };
  }
  if (request.json !== undefined) {
    return { body: JSON.stringify(request.json), contentType: 'application/json' };
  }
  return { body: request.body, contentType: undefined };
}

export function prepareRequest(request: HttpRequest, userAgent: string): PreparedRequest {
  const url = parseUrl(request.url);
  const target = `${request.method} ${hostAndPath(url)}`;
  const { body, contentType } = encodeBody(request);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (/[\r\n\0]/.test(value)) {
      // Usually a token pasted into a Secret with a trailing newline; name the header, never the value.
      throw new ProviderError({
        kind: 'terminal',
        reason: 'InvalidHeaderValue',
        message: `${target}: the value for header ${name} contains a line break or NUL; check the Secret it comes from (a trailing newline?).`,
      });
    }
    headers[name.toLowerCase()] = value;
  }
  headers['user-agent'] ??= userAgent;
  if (contentType !== undefined) headers['content-type'] ??= contentType;
  return {
    method: request.method,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    headers,
    body,
    host: url.host,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    target,
  };
}
