// Request and reply shapes the emulators' route handlers work with, and the small parsing helpers
// every vendor needs (JSON, form, Basic and Bearer credentials).
import type { IncomingHttpHeaders } from 'node:http';

export interface EmulatorRequest {
  readonly method: string;
  /** URL path without the query string, as sent. */
  readonly path: string;
  /** `METHOD /path`: the key for counters and fault scripts. */
  readonly route: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Raw body; use `json()` to serialise a value (key order is kept, which some vendors fix). */
  readonly body?: string;
}

export type Handler = (request: EmulatorRequest) => Reply | Promise<Reply>;

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

export function empty(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: '' };
}

export function text(
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
  headers: Record<string, string> = {},
): Reply {
  return { status, headers: { 'content-type': contentType, ...headers }, body };
}

/** First value of a request header, or undefined. */
export function header(request: EmulatorRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Lower-cased media type without parameters, '' when absent. */
export function mediaType(request: EmulatorRequest): string {
  return (header(request, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export type JsonResult = { ok: true; value: unknown } | { ok: false; message: string };

export function parseJson(request: EmulatorRequest): JsonResult {
  const source = request.body.toString('utf8');
  if (source.trim() === '') return { ok: false, message: 'No content to map due to end-of-input' };
  try {
    return { ok: true, value: JSON.parse(source) as unknown };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

export function parseForm(request: EmulatorRequest): URLSearchParams {
  return new URLSearchParams(request.body.toString('utf8'));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string field, or a number rendered as a string (Jackson coerces both ways). */
export function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export interface BasicCredentials {
  id: string;
  secret: string;
}

/** Decodes `Basic b64(id:secret)`; the scheme is matched case-insensitively. */
export function basicCredentials(value: string | undefined): BasicCredentials | undefined {
  const match = /^basic\s+(\S+)\s*$/i.exec(value ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

export function basicHeader(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/** The credential after a `Bearer` scheme (case-insensitive), or undefined. */
export function bearerToken(value: string | undefined): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match?.[1];
}

/** `Retry-After` in either RFC 9110 form: delta seconds, or an HTTP-date. */
export function retryAfterValue(value: number | Date): string {
  return typeof value === 'number' ? String(Math.max(0, Math.ceil(value))) : value.toUTCString();
}
