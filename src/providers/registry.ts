// The one place providers are registered. Adding a provider: one module, one test file, one line here.
import type { ApiCredentialSpec, ProviderName } from '../api/apicredential.ts';
import { PROVIDER_NAMES } from '../api/apicredential.ts';
import type { TokenProvider } from './types.ts';

type SpecOf<Name extends ProviderName> = NonNullable<ApiCredentialSpec['provider'][Name]>;
export type ProviderRegistry = { [Name in ProviderName]?: TokenProvider<SpecOf<Name>> };

export interface SelectedProvider {
  name: ProviderName;
  spec: SpecOf<ProviderName>;
  provider: TokenProvider<SpecOf<ProviderName>>;
}

/** The provider named in the spec; undefined when the spec names none this build supports. */
export function selectProvider(
  registry: ProviderRegistry,
  spec: ApiCredentialSpec,
): SelectedProvider | undefined {
  for (const name of PROVIDER_NAMES) {
    const providerSpec = spec.provider[name];
    const provider: TokenProvider<SpecOf<ProviderName>> | undefined = registry[name];
    if (providerSpec !== undefined && provider) return { name, spec: providerSpec, provider };
  }
  return undefined;
}
