// The one list of the providers this build supports: spec.provider, the CRD and the registry follow it,
// in this order. Adding a provider: its file under src/providers/, its test, one line here, then
// `npm run generate`.
import { idempiereDefinition } from './idempiere.ts';
import { idmpCloudDefinition } from './idmp-cloud.ts';
import { idmpDefinition } from './idmp.ts';
import { insightsHubDefinition } from './insights-hub.ts';
import { oauth2Definition } from './oauth2.ts';
import { tapdataDefinition } from './tapdata.ts';

export const PROVIDER_DEFINITIONS = [
  oauth2Definition,
  tapdataDefinition,
  idmpDefinition,
  idmpCloudDefinition,
  insightsHubDefinition,
  idempiereDefinition,
] as const;
