import { PROVIDER_DEFINITIONS } from './definitions.ts';
import { providerRegistry, type ProviderRegistry } from './registry.ts';

/** Every provider this build supports. */
export const providers: ProviderRegistry = providerRegistry(PROVIDER_DEFINITIONS);
