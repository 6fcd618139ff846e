// Maps what undici and Node report for a failed exchange onto ProviderError. The line that matters
// is whether the request may have reached the provider: before that, retrying is always safe;
// after it, the provider may have acted (a single-use refresh token may be spent), so
// outcomeUnknown is set.
import { ProviderError } from '../errors/failure.ts';
import { excerpt } from '../errors/excerpt.ts';

export interface TransportContext {
  /** "POST host:port/path" */
  target: string;
  /** host:port */
  host: string;
  /** Whether the request was handed to a connected socket (undici's onRequestStart). */
  sent: boolean;
  connectTimeoutMs: number;
  timeoutMs: number;
  /** Whether a caBundleRef was configured for this client. */
  caConfigured: boolean;
}

/** Our own total-time limit expired. */
export class TotalTimeoutError extends Error {
  constructor() {
    super('total request time exceeded');
    this.name = 'TotalTimeoutError';
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
]);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** The most specific error code: the error's own, its cause's, or the first of an AggregateError's. */
export function errorCode(error: unknown): string | undefined {
  const own = field(error, 'code');
  if (typeof own === 'string' && own !== 'UND_ERR_CONNECT' && own !== 'UND_ERR') return own;
  const cause = field(error, 'cause');
  if (cause !== undefined && cause !== error) {
    const inner = errorCode(cause);
    if (inner !== undefined) return inner;
  }
  if (error instanceof AggregateError) {
    for (const item of error.errors) {
      const inner = errorCode(item);
      if (inner !== undefined) return inner;
    }
  }
  return typeof own === 'string' ? own : undefined;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return excerpt(message, 160);
}

function tlsError(error: unknown, code: string, context: TransportContext): ProviderError {
  const hostname = context.host.replace(/:\d+$/, '');
  const next =
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH'
      ? `the certificate does not name ${hostname}; use a URL with a host name the certificate is issued for.`
      : context.caConfigured
        ? `the CA bundle referenced by caBundleRef does not trust it either; check that it holds the CA that issued ${hostname}'s certificate.`
        : `if ${hostname} uses a private or self-signed CA, put that CA's PEM certificate in a Secret or ConfigMap and reference it with caBundleRef in the provider spec.`;
  return new ProviderError(
    {
      kind: 'transient',
      reason: 'TLSVerificationFailed',
      message: `${context.target}: TLS verification of ${context.host} failed (${code}: ${describe(error)}); ${next}`,
    },
    { cause: error },
  );
}

function beforeSending(error: unknown, code: string | undefined, context: TransportContext): ProviderError {
  let why: string;
  if (error instanceof TotalTimeoutError)
    why = `no connection within the ${context.timeoutMs} ms request timeout`;
  else if (code === 'UND_ERR_CONNECT_TIMEOUT') why = `no connection within ${context.connectTimeoutMs} ms`;
  else if (code === 'ECONNREFUSED') why = 'the connection was refused';
  else if (code === 'ENOTFOUND' || code === 'EAI_NONAME') why = 'the host name does not resolve';
  else if (code === 'EAI_AGAIN') why = 'name resolution failed temporarily';
  else why = `the connection failed (${code ?? 'error'}: ${describe(error)})`;
  return new ProviderError(
    {
      kind: 'transient',
      reason: 'ProviderUnreachable',
      message: `${context.target}: could not reach ${context.host}: ${why}. The request was not sent.`,
      outcomeUnknown: false,
    },
    { cause: error },
  );
}

function afterSending(error: unknown, code: string | undefined, context: TransportContext): ProviderError {
  const unknown = 'the provider may have acted on it';
  if (error instanceof TotalTimeoutError || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return new ProviderError(
      {
        kind: 'transient',
        reason: 'ProviderTimeout',
        message: `${context.target}: no complete answer within ${context.timeoutMs} ms after the request was sent; ${unknown}.`,
        outcomeUnknown: true,
      },
      { cause: error },
    );
  }
  if (code?.startsWith('HPE_')) {
    return new ProviderError(
      {
        kind: 'transient',
        reason: 'InvalidResponse',
        message: `${context.target}: ${context.host} answered with something that is not valid HTTP (${code}); ${unknown}.`,
        outcomeUnknown: true,
      },
      { cause: error },
    );
  }
  return new ProviderError(
    {
      kind: 'transient',
      reason: 'ConnectionReset',
      message: `${context.target}: the connection to ${context.host} broke after the request was sent (${code ?? 'error'}: ${describe(error)}); ${unknown}.`,
      outcomeUnknown: true,
    },
    { cause: error },
  );
}

/** The ProviderError for a failed exchange; `error` is what undici, Node or our own timer reported. */
export function transportError(error: unknown, context: TransportContext): ProviderError {
  if (ProviderError.is(error)) {
    // Raised below us (the address policy): keep it, and say which request it stopped.
    return new ProviderError(
      {
        kind: error.kind,
        reason: error.reason,
        message: `${context.target}: ${error.message}`,
        httpStatus: error.httpStatus,
        providerCode: error.providerCode,
        retryAfterMs: error.retryAfterMs,
        outcomeUnknown: error.outcomeUnknown,
      },
      { cause: error },
    );
  }
  const code = errorCode(error);
  if (code !== undefined && TLS_CODES.has(code)) return tlsError(error, code, context);
  // undici raises this for a forward proxy's 407: the proxy refused, the provider saw nothing.
  const proxyRefused = error instanceof Error && error.message.includes('Proxy Authentication Required');
  if (!context.sent || proxyRefused || (code !== undefined && UNREACHABLE_CODES.has(code))) {
    return beforeSending(error, code, context);
  }
  return afterSending(error, code, context);
}
