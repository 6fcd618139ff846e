// A client view over a source of dispatchers: validates the request, applies the address policy
// to IP literals, sends, and reports the outcome. HTTP statuses are answers, never errors; only
// transport problems throw, always as ProviderError (or the caller's abort reason).
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { ProviderError, withMessage } from '../errors/failure.ts';
import { addressNotAllowed, compileAddressPolicy, type AddressChecker } from './address-policy.ts';
import { createDispatcher } from './dispatcher.ts';
import { prepareRequest } from './request.ts';
import { createResponse } from './response.ts';
import { send } from './send.ts';
import type { HttpClient, HttpClientOptions, HttpRequest, HttpResponse } from './types.ts';
import { DEFAULT_USER_AGENT } from './user-agent.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

export interface Settings {
  connectTimeoutMs: number;
  timeoutMs: number;
  maxResponseBytes: number;
  userAgent: string;
  checker: AddressChecker;
  proxy: 'environment' | 'none';
  proxyEnv: Readonly<Record<string, string | undefined>>;
  options: HttpClientOptions;
}

export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

/** Validates options once; throws on a malformed CIDR or limit so a bad flag stops the operator at start. */
export function settings(options: HttpClientOptions): Settings {
  return {
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    timeoutMs: positive('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS),
    maxResponseBytes: positive('maxResponseBytes', options.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES),
    userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
    checker: compileAddressPolicy(options.addressPolicy),
    proxy: options.proxy ?? 'environment',
    proxyEnv: options.proxyEnv ?? process.env,
    options,
  };
}

/** A dispatcher, or why there cannot be one (an unusable CA bundle, a closed factory). */
export type DispatcherSource = () => Dispatcher | ProviderError;

export function buildDispatcher(config: Settings, ca: string[] | undefined): Dispatcher {
  return createDispatcher({
    checker: config.checker,
    connectTimeoutMs: config.connectTimeoutMs,
    timeoutMs: config.timeoutMs,
    ca,
    proxy: config.proxy,
    proxyEnv: config.proxyEnv,
    lookup: config.options.lookup,
  });
}

async function exchange(
  config: Settings,
  source: DispatcherSource,
  caConfigured: boolean,
  request: HttpRequest,
): Promise<HttpResponse> {
  const prepared = prepareRequest(request, config.userAgent);
  // IP literals are checked here too: behind a proxy no connect-time check sees the target.
  if (isIP(prepared.hostname) !== 0) {
    const decision = config.checker.check(prepared.hostname);
    if (!decision.allowed) {
      const denied = addressNotAllowed(prepared.hostname, decision);
      throw withMessage(denied, `${prepared.target}: ${denied.message}`);
    }
  }
  const dispatcher = source();
  if (dispatcher instanceof ProviderError) {
    throw withMessage(dispatcher, `${prepared.target}: ${dispatcher.message}`);
  }
  const limits = {
    connectTimeoutMs: config.connectTimeoutMs,
    timeoutMs: positive('timeoutMs', request.timeoutMs, config.timeoutMs),
    maxResponseBytes: config.maxResponseBytes,
    caConfigured,
  };
  const raw = await send(dispatcher, prepared, limits, request.signal);
  return createResponse(raw, prepared.target);
}

export function clientView(
  config: Settings,
  source: DispatcherSource,
  caConfigured: boolean,
  provider?: string,
): HttpClient {
  const observe = (
    request: HttpRequest,
    started: number,
    status: number | 'error',
    reason?: string,
  ): void => {
    const onRequest = config.options.onRequest;
    if (!onRequest || provider === undefined) return;
    const url = URL.parse(request.url);
    const host = url?.host ?? 'invalid-url';
    const path = url?.pathname ?? '';
    onRequest(provider, request.method, status, {
      host,
      path,
      reason,
      durationMs: performance.now() - started,
    });
  };
  return {
    async request(request) {
      const started = performance.now();
      try {
        const response = await exchange(config, source, caConfigured, request);
        observe(request, started, response.status);
        return response;
      } catch (error) {
        const reason = ProviderError.is(error) ? error.reason : request.signal?.aborted ? 'Aborted' : 'Error';
        observe(request, started, 'error', reason);
        throw error;
      }
    },
  };
}

export function unusableBundle(problem: string): ProviderError {
  return new ProviderError({
    kind: 'terminal',
    reason: 'InvalidCABundle',
    message: `the CA bundle referenced by caBundleRef cannot be used: ${problem}.`,
  });
}
