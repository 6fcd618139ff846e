// The token providers of a benchmark run: the real oidc-provider server (the oauth2 path), and the
// TapData and Insights Hub emulators, every token living `lifetimeSeconds`. Credentials are spread
// over them by index; each provider's request counters tell how many calls the operator made.
import { randomBytes } from 'node:crypto';
import { InsightsHubEmulator, TTM_DEFAULT_APP } from '../emulators/insights-hub.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { startOidcServer, type OidcServer } from '../oidc/server.ts';

export type BenchProvider = 'oauth2' | 'tapdata' | 'insightsHub';

/** Insights Hub credentials name this many tenants, fetched in batches of HUB_BATCH_SIZE. */
export const HUB_TENANTS = 7;
export const HUB_BATCH_SIZE = 5;

/** Provider calls one renewal of a credential should take (Insights Hub: one per batch). */
export const EXPECTED_CALLS: Record<BenchProvider, number> = {
  oauth2: 1,
  tapdata: 1,
  insightsHub: Math.ceil(HUB_TENANTS / HUB_BATCH_SIZE),
};

/** One in ten credentials is Insights Hub, the rest alternate oauth2 and TapData. */
export function providerOf(index: number): BenchProvider {
  if (index % 10 === 0) return 'insightsHub';
  return index % 2 === 1 ? 'oauth2' : 'tapdata';
}

export type ProviderCounts = Record<BenchProvider, number>;

export interface BenchProviders {
  /** The input Secrets (name → string data) every credential of a provider shares. */
  inputSecrets: Record<string, Record<string, string>>;
  spec(index: number): unknown;
  /** The host each provider is reached at, as the operator keys its rate limit (scheme://host:port). */
  hosts: Record<BenchProvider, string>;
  /** Token-endpoint calls so far, per provider (every request, whatever its path, for the emulators). */
  counts(): ProviderCounts;
  stop(): Promise<void>;
}

export async function startProviders(lifetimeSeconds: number): Promise<BenchProviders> {
  const oauthClient = { id: 'bench-orders', secret: randomBytes(16).toString('hex') };
  const oidc: OidcServer = await startOidcServer({
    scopes: ['orders.read'],
    accessTokenTtlSeconds: lifetimeSeconds,
    clients: [
      {
        client_id: oauthClient.id,
        client_secret: oauthClient.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'orders.read',
      },
    ],
  });
  const tapdataClient = {
    clientId: '68376c8a4cf9b840dba2e118',
    clientSecret: randomBytes(16).toString('hex'),
    ttlSeconds: lifetimeSeconds,
  };
  const tapdata = new TapdataEmulator({ clients: [tapdataClient] });
  const tenants = Array.from({ length: HUB_TENANTS }, (_, i) => `benchtenant${String(i)}`);
  const hubApp = { ...TTM_DEFAULT_APP, clientSecret: randomBytes(16).toString('hex'), userTenants: tenants };
  const hub = new InsightsHubEmulator({
    apps: [hubApp],
    knobs: { tokenLifetimeSeconds: lifetimeSeconds, expiresIn: lifetimeSeconds - 1 },
  });
  await Promise.all([tapdata.start(), hub.start()]);

  const specs: Record<BenchProvider, unknown> = {
    oauth2: {
      provider: {
        oauth2: {
          issuerUrl: oidc.issuer,
          clientAuth: 'client_secret_basic',
          credentialsRef: { name: 'oauth2-client' },
          scopes: ['orders.read'],
        },
      },
    },
    tapdata: {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
    },
    insightsHub: {
      provider: {
        insightsHub: {
          baseUrl: hub.url,
          credentialsRef: { name: 'ttm-app' },
          appName: hubApp.appName,
          appVersion: hubApp.appVersion,
          hostTenant: hubApp.hostTenant,
          userTenants: tenants,
          batchSize: HUB_BATCH_SIZE,
        },
      },
    },
  };
  // The emulators keep a request log; the benchmark only needs counters, so it is trimmed as it goes.
  let hubBase = 0;
  let tapdataBase = 0;
  const trim = setInterval(() => {
    hubBase += hub.count();
    tapdataBase += tapdata.count();
    hub.clearRequests();
    tapdata.clearRequests();
  }, 30_000);
  return {
    inputSecrets: {
      'oauth2-client': { client_id: oauthClient.id, client_secret: oauthClient.secret },
      'tapdata-client': { client_id: tapdataClient.clientId, client_secret: tapdataClient.clientSecret },
      'ttm-app': { client_id: hubApp.clientId, client_secret: hubApp.clientSecret },
    },
    spec: (index) => specs[providerOf(index)],
    hosts: {
      oauth2: new URL(oidc.issuer).origin,
      tapdata: new URL(tapdata.url).origin,
      insightsHub: new URL(hub.url).origin,
    },
    counts: () => ({
      // Discovery is counted too: it is a call to the provider.
      oauth2:
        oidc.requests('/token') + oidc.requests('/.well-known/openid-configuration') + oidc.requests('/jwks'),
      tapdata: tapdataBase + tapdata.count(),
      insightsHub: hubBase + hub.count(),
    }),
    stop: async () => {
      clearInterval(trim);
      await Promise.all([oidc.stop(), tapdata.stop(), hub.stop()]);
    },
  };
}
