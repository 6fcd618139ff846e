// One minimal valid spec.provider.<name> per registered provider, for tests that build a spec of each.
import type { ProviderName } from '../api/apicredential.ts';

const BASE = { baseUrl: 'https://vendor.example.com' };

export const PROVIDER_SPECS: Record<ProviderName, Record<string, unknown>> = {
  oauth2: { tokenUrl: 'https://idp.example.com/token', credentialsRef: { name: 'orders-client' } },
  tapdata: { ...BASE, credentialsRef: { name: 'orders-client' } },
  idmp: { ...BASE, credentialsRef: { name: 'orders-login' } },
  idmpCloud: { ...BASE, tokensRef: { name: 'orders-session' } },
  insightsHub: {
    ...BASE,
    credentialsRef: { name: 'orders-client' },
    appName: 'orders',
    appVersion: '1.0.0',
    hostTenant: 'host',
    userTenants: ['tenant-a'],
  },
  idempiere: {
    ...BASE,
    credentialsRef: { name: 'orders-login' },
    login: { client: 'GardenWorld', role: 'Admin' },
  },
};
