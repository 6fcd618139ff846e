// The only way the operator talks to token providers: the public API of src/http.
import { buildDispatcher, clientView, settings, unusableBundle } from './client-view.ts';
import { trustStore } from './trust.ts';
import type { HttpClient, HttpClientOptions } from './types.ts';

export type { AddressPolicy } from './address-policy.ts';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS } from './client-view.ts';
export { HttpClientFactory, type HttpClientFactoryOptions } from './factory.ts';
export type {
  HttpClient,
  HttpClientOptions,
  HttpRequest,
  HttpRequestDetail,
  HttpResponse,
  RequestObserver,
} from './types.ts';

export interface ClosableHttpClient extends HttpClient {
  /** Closes the client's connections once in-flight requests finish. */
  close(): Promise<void>;
}

/** A client with its own connections; the operator uses HttpClientFactory, which shares them. */
export function createHttpClient(options: HttpClientOptions = {}): ClosableHttpClient {
  const config = settings(options);
  const pem = options.caPem?.trim() ? options.caPem : undefined;
  const trust = pem === undefined ? undefined : trustStore(pem);
  if (trust?.ok === false) {
    const problem = unusableBundle(trust.problem);
    return { ...clientView(config, () => problem, true), close: () => Promise.resolve() };
  }
  const dispatcher = buildDispatcher(config, trust?.ca);
  return { ...clientView(config, () => dispatcher, pem !== undefined), close: () => dispatcher.close() };
}
