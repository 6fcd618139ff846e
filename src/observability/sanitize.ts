// Key-based redaction of logged objects at any depth. pino's redact paths are exact and
// case-sensitive with one level per wildcard; this walk also catches `Authorization` three arrays
// down, errors in any field, Buffers and URLs with credentials in them.
import { REDACTED } from './redactor.ts';
import { serializeError } from './serialize-error.ts';

/** Field names whose values are credentials, compared ignoring case, `-` and `_`. */
export const SENSITIVE_KEYS = [
  'authorization',
  'proxy-authorization',
  'x-space-auth-key',
  'access-token',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'password',
  'passwd',
  'client_secret',
  'clientSecret',
  'assertion',
  'client_assertion',
  'api_key',
  'private_key',
  'cookie',
  'set-cookie',
  'data',
  'stringData',
  'body',
  'form',
] as const;

/** Every value of these fields is redacted, the field names kept. */
export const HEADER_KEYS = ['headers'] as const;

const MAX_DEPTH = 12;

const sensitive = new Set<string>(SENSITIVE_KEYS.map(normalizeKey));
const headerKeys = new Set<string>(HEADER_KEYS.map(normalizeKey));

/** A copy of a log record with credentials removed; never mutates its input. */
export function sanitizeRecord(record: Record<string, unknown>): Record<string, unknown> {
  return sanitizeObject(record, 0, new WeakSet([record]));
}

/** Any value made safe to serialize into a log line. */
export function sanitize(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

export function isSensitiveKey(key: string): boolean {
  return sensitive.has(normalizeKey(key));
}

function walk(value: unknown, depth: number, ancestors: WeakSet<object>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return serializeError(value);
  if (value instanceof Date) return value;
  if (value instanceof URL) return safeUrl(value);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return `[binary, ${value.byteLength} bytes]`;
  }
  if (typeof Headers !== 'undefined' && value instanceof Headers) return REDACTED;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (ancestors.has(value)) return '[circular]';
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((item: unknown) => walk(item, depth + 1, ancestors));
    if (value instanceof Map) {
      const entries = [...(value as Map<unknown, unknown>)].map(([k, v]): [string, unknown] => [
        String(k),
        v,
      ]);
      return sanitizeObject(Object.fromEntries(entries), depth + 1, ancestors);
    }
    if (value instanceof Set)
      return [...(value as Set<unknown>)].map((item) => walk(item, depth + 1, ancestors));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(value), depth + 1, ancestors);
    return sanitizeObject(value as Record<string, unknown>, depth, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function sanitizeObject(
  record: Record<string, unknown>,
  depth: number,
  ancestors: WeakSet<object>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    const value = record[key];
    const normalized = normalizeKey(key);
    if (value === undefined || value === null) {
      out[key] = value;
    } else if (sensitive.has(normalized)) {
      out[key] = REDACTED;
    } else if (headerKeys.has(normalized)) {
      out[key] = redactHeaderValues(value);
    } else {
      out[key] = walk(value, depth + 1, ancestors);
    }
  }
  return out;
}

function redactHeaderValues(headers: unknown): unknown {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return REDACTED;
  if (Object.getPrototypeOf(headers) !== Object.prototype && Object.getPrototypeOf(headers) !== null) {
    return REDACTED;
  }
  return Object.fromEntries(Object.keys(headers).map((name) => [name, REDACTED]));
}

/** Scheme, host and path: user info, query and fragment can carry credentials. */
export function safeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}
