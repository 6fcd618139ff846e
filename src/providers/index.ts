import { IdempiereProvider } from './idempiere.ts';
import { IdmpCloudProvider } from './idmp-cloud.ts';
import { IdmpProvider } from './idmp.ts';
import { InsightsHubProvider } from './insights-hub.ts';
import { OAuth2Provider } from './oauth2.ts';
import type { ProviderRegistry } from './registry.ts';
import { TapdataProvider } from './tapdata.ts';

/** Every provider this build supports. */
export const providers: ProviderRegistry = {
  oauth2: new OAuth2Provider(),
  tapdata: new TapdataProvider(),
  idmp: new IdmpProvider(),
  idmpCloud: new IdmpCloudProvider(),
  insightsHub: new InsightsHubProvider(),
  idempiere: new IdempiereProvider(),
};
