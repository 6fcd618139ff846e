// Builds the undici dispatcher for one trust store: a guarded connector for direct connections,
// EnvHttpProxyAgent when proxies come from the environment. No redirect interceptor is ever
// composed in, so a 3xx is handed back to the caller like any other answer.
import type { LookupFunction } from 'node:net';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import type { AddressChecker } from './address-policy.ts';
import { guardedConnector } from './guarded-connector.ts';

export interface DispatcherOptions {
  checker: AddressChecker;
  connectTimeoutMs: number;
  timeoutMs: number;
  ca: string[] | undefined;
  proxy: 'environment' | 'none';
  proxyEnv: Readonly<Record<string, string | undefined>>;
  lookup?: LookupFunction;
}

/** HTTP_PROXY / HTTPS_PROXY / NO_PROXY, lower case first as undici reads them; '' when unset. */
export function proxySettings(env: Readonly<Record<string, string | undefined>>): {
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
} {
  return {
    httpProxy: env.http_proxy ?? env.HTTP_PROXY ?? '',
    httpsProxy: env.https_proxy ?? env.HTTPS_PROXY ?? '',
    noProxy: env.no_proxy ?? env.NO_PROXY ?? '',
  };
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const tls = options.ca ? { ca: options.ca } : {};
  const common = {
    connect: guardedConnector(options),
    connectTimeout: options.connectTimeoutMs,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    allowH2: false,
  };
  if (options.proxy === 'none') return new Agent(common);
  // Explicit values, '' included, so undici never falls back to process.env behind our back.
  // Behind a proxy the proxy resolves the provider's name; only IP-literal targets are checked
  // here (client.ts), and the proxy's own address is the operator's configuration.
  return new EnvHttpProxyAgent({
    ...common,
    ...proxySettings(options.proxyEnv),
    requestTls: { ...tls, allowH2: false },
    proxyTls: tls,
  });
}
