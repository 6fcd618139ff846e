// The HttpClient source the operator uses: clients per CA bundle over shared connection pools.
import type { Dispatcher } from 'undici';
import { ProviderError } from '../errors/failure.ts';
import {
  buildDispatcher,
  clientView,
  positive,
  settings,
  unusableBundle,
  type DispatcherSource,
  type Settings,
} from './client-view.ts';
import { pemHash, trustStore } from './trust.ts';
import type { HttpClient, HttpClientOptions } from './types.ts';

export interface HttpClientFactoryOptions extends Omit<HttpClientOptions, 'caPem'> {
  /** Distinct CA bundles kept with open connections; the least recently used beyond this is closed. Default 64. */
  maxCaBundles?: number;
}

/**
 * One dispatcher (connection pools) per distinct CA bundle, by hash: thousands of credentials share
 * a handful of bundles. Clients are cheap views that look their dispatcher up on every request, so
 * an evicted bundle simply gets a new dispatcher.
 */
export class HttpClientFactory {
  readonly #config: Settings;
  readonly #maxCaBundles: number;
  /** By bundle hash; Map order is least recently used first. */
  readonly #entries = new Map<string, Dispatcher | ProviderError>();
  #default: Dispatcher | undefined;
  #closed = false;

  constructor(options: HttpClientFactoryOptions = {}) {
    this.#config = settings(options);
    this.#maxCaBundles = positive('maxCaBundles', options.maxCaBundles, 64);
  }

  /** A client trusting Node's default CAs plus `caPem` (PEM, from a caBundleRef), if given. */
  forCa(caPem?: string, scope: { provider?: string } = {}): HttpClient {
    const pem = caPem?.trim() ? caPem : undefined;
    const key = pem === undefined ? undefined : pemHash(pem);
    const source: DispatcherSource = () => this.#dispatcherFor(key, pem);
    return clientView(this.#config, source, pem !== undefined, scope.provider);
  }

  /** CA bundles with a cached dispatcher (the default store not counted). */
  get cachedBundles(): number {
    return this.#entries.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const dispatchers: Dispatcher[] = [];
    if (this.#default) dispatchers.push(this.#default);
    for (const entry of this.#entries.values())
      if (!(entry instanceof ProviderError)) dispatchers.push(entry);
    this.#default = undefined;
    this.#entries.clear();
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.close()));
  }

  #dispatcherFor(key: string | undefined, pem: string | undefined): Dispatcher | ProviderError {
    if (this.#closed) {
      return new ProviderError({
        kind: 'transient',
        reason: 'ShuttingDown',
        message: 'the operator is shutting down.',
      });
    }
    if (key === undefined || pem === undefined) {
      this.#default ??= buildDispatcher(this.#config, undefined);
      return this.#default;
    }
    let entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key); // re-inserted below as the most recently used
    } else {
      const trust = trustStore(pem);
      entry = trust.ok ? buildDispatcher(this.#config, trust.ca) : unusableBundle(trust.problem);
    }
    this.#entries.set(key, entry);
    this.#evict();
    return entry;
  }

  #evict(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxCaBundles) return;
      this.#entries.delete(key);
      // close() lets requests already running on it finish.
      if (!(entry instanceof ProviderError)) entry.close().catch(() => undefined);
    }
  }
}
