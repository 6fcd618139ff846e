// Errors as log fields and one-line messages. Only listed fields are copied: HTTP client errors carry
// response bodies and request headers (credentials) in their own properties, and whatever a future
// client adds should stay out of the logs by default.

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  kind?: string;
  reason?: string;
  httpStatus?: number;
  statusCode?: number;
  providerCode?: string;
  retryAfterMs?: number;
  outcomeUnknown?: boolean;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
  cause?: SerializedError | string | number | boolean;
  errors?: SerializedError[];
}

// Primitive fields safe to copy from any error: ProviderError's, Node's system errors', undici's codes.
const SAFE_FIELDS = [
  'code',
  'kind',
  'reason',
  'httpStatus',
  'statusCode',
  'providerCode',
  'retryAfterMs',
  'outcomeUnknown',
  'errno',
  'syscall',
  'address',
  'port',
  'hostname',
] as const;

const MAX_CAUSE_DEPTH = 4;
const MAX_AGGREGATED = 5;
const MAX_FIELD = 200;
const MAX_MESSAGE = 1000;

/** An error as a plain object holding only fields that are safe to log. */
export function serializeError(error: Error): SerializedError {
  return serialize(error, 0);
}

/** One line that is safe to show in a log message, an event or a condition. */
export function safeErrorMessage(error: unknown): string {
  if (error instanceof Error) return bounded(messageOf(error), MAX_MESSAGE);
  if (typeof error === 'string') return bounded(error, MAX_MESSAGE);
  return `non-Error thrown (${typeof error})`;
}

function serialize(error: Error, depth: number): SerializedError {
  const apiException = asKubernetesApiException(error);
  const name = nameOf(error, apiException !== undefined);
  const message = bounded(messageOf(error), MAX_MESSAGE);
  const out: SerializedError = { name, message };
  const stack = rebuildStack(error.stack, name, message);
  if (stack !== undefined) out.stack = stack;

  const fields = error as unknown as Record<string, unknown>;
  for (const field of SAFE_FIELDS) {
    const value = fields[field];
    if (typeof value === 'number' || typeof value === 'boolean') {
      Object.assign(out, { [field]: value });
    } else if (typeof value === 'string') {
      Object.assign(out, { [field]: bounded(value, MAX_FIELD) });
    }
  }
  if (apiException !== undefined) {
    const reason = statusOf(apiException.body)?.reason;
    if (typeof reason === 'string' && /^[A-Za-z]{1,64}$/.test(reason)) out.reason = reason;
  }

  if (error.cause !== undefined) out.cause = serializeCause(error.cause, depth);
  if (error instanceof AggregateError && Array.isArray(error.errors)) {
    out.errors = (error.errors as unknown[])
      .slice(0, MAX_AGGREGATED)
      .map((inner) => (inner instanceof Error ? serialize(inner, depth + 1) : nonError(inner)));
  }
  return out;
}

function serializeCause(cause: unknown, depth: number): SerializedError | string | number | boolean {
  if (depth >= MAX_CAUSE_DEPTH) return '[cause chain truncated]';
  if (cause instanceof Error) return serialize(cause, depth + 1);
  if (typeof cause === 'number' || typeof cause === 'boolean') return cause;
  if (typeof cause === 'string') return bounded(cause, MAX_FIELD);
  // A plain object cause is usually a response body: say what it was, not what it held.
  return `[non-Error cause: ${cause === null ? 'null' : typeof cause}]`;
}

function nonError(value: unknown): SerializedError {
  return { name: 'NonError', message: typeof value === 'string' ? bounded(value, MAX_FIELD) : typeof value };
}

function messageOf(error: Error): string {
  const apiException = asKubernetesApiException(error);
  return apiException !== undefined ? apiExceptionMessage(apiException) : error.message;
}

function nameOf(error: Error, isApiException: boolean): string {
  if (isApiException) return 'ApiException';
  const constructorName = (error.constructor as { name?: unknown } | undefined)?.name;
  if (error.name === 'Error' && typeof constructorName === 'string' && constructorName !== '') {
    return constructorName;
  }
  return error.name;
}

// The stack starts with "name: message"; the message may have changed (ApiException) and may span
// lines, so keep only the frames under a header built from what we log.
function rebuildStack(stack: string | undefined, name: string, message: string): string | undefined {
  if (typeof stack !== 'string') return undefined;
  const frames = stack.split('\n').filter((line) => /^\s+at /.test(line));
  return [`${name}: ${message}`, ...frames].join('\n');
}

interface KubernetesApiException extends Error {
  code: number;
  body: unknown;
}

// @kubernetes/client-node's ApiException: its message embeds the whole response body and headers.
// Recognised by shape so that this module does not load the client and works across copies of it.
function asKubernetesApiException(error: Error): KubernetesApiException | undefined {
  const candidate = error as Partial<KubernetesApiException>;
  return typeof candidate.code === 'number' &&
    'body' in error &&
    'headers' in error &&
    error.message.startsWith('HTTP-Code: ')
    ? (error as unknown as KubernetesApiException)
    : undefined;
}

function apiExceptionMessage(error: KubernetesApiException): string {
  const message = statusOf(error.body)?.message;
  return typeof message === 'string' && message !== ''
    ? `HTTP ${error.code}: ${bounded(message, MAX_FIELD)}`
    : `HTTP ${error.code}`;
}

interface KubernetesStatus {
  kind: 'Status';
  message?: unknown;
  reason?: unknown;
}

/** The body when it is a Kubernetes Status object (parsed or as JSON text), else undefined. */
function statusOf(body: unknown): KubernetesStatus | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status'
    ? (value as KubernetesStatus)
    : undefined;
}

function bounded(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const oneLine = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}
