// The HTTP contract providers program against; client.ts re-exports it.
import type { LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Exactly one of form / json / body. */
  form?: Record<string, string>;
  json?: unknown;
  body?: string;
  /** The reconcile's deadline: aborting rejects at once with the signal's reason. */
  signal?: AbortSignal;
  /** Total time (connect, headers and body); overrides the client default. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  text: string;
  /** The parsed JSON body, or throws ProviderError(transient, 'InvalidResponse') saying what came back. */
  json(): unknown;
  /** Retry-After (delta-seconds or HTTP-date) in ms from now, capped at one hour. */
  retryAfterMs(): number | undefined;
}

export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
}

/** More about one finished request, for metrics and debugging. Never a header, body or query string. */
export interface HttpRequestDetail {
  /** host:port */
  host: string;
  /** The URL's path without its query string (which may carry credentials), for debug logs. */
  path: string;
  /** The ProviderError reason when status is 'error' ('Aborted' for the caller's abort). */
  reason?: string;
  durationMs: number;
}

/**
 * Called once per request made through a client that knows its provider
 * (HttpClientFactory.forCa(pem, { provider })); clients without one report nothing.
 */
export type RequestObserver = (
  provider: string,
  method: string,
  status: number | 'error',
  detail: HttpRequestDetail,
) => void;

export interface HttpClientOptions {
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /** Total per request including the body. Default 30 s. */
  timeoutMs?: number;
  /** Default 1 MiB; a larger answer is refused while it streams in. */
  maxResponseBytes?: number;
  /** Extra CA certificates (PEM), trusted in addition to Node's default store. */
  caPem?: string;
  addressPolicy?: AddressPolicy;
  /** Default 'environment': HTTP_PROXY / HTTPS_PROXY / NO_PROXY (either case) via EnvHttpProxyAgent. */
  proxy?: 'environment' | 'none';
  /** Where proxy variables are read from, once, at creation. Default process.env. */
  proxyEnv?: Readonly<Record<string, string | undefined>>;
  /** Default 'apicred-operator/<version>'. */
  userAgent?: string;
  /** Name resolution for direct connections (default dns.lookup); every answer is still policy-checked. */
  lookup?: LookupFunction;
  onRequest?: RequestObserver;
}
