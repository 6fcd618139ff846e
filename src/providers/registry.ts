// Builds the registry from a registration list (definitions.ts): the providers by name and the spec
// parser that knows their keys. The controller takes a registry, so a test can run one with more providers.
import type { z } from 'zod';
import {
  apiCredentialSpecSchemaOf,
  type ApiCredentialSpec,
  type ProviderName,
} from '../api/apicredential.ts';
import type { ProviderDefinition } from './definition.ts';
import type { TokenProvider } from './types.ts';

export interface ProviderRegistry {
  /** Parses a spec whose spec.provider may name any provider of this registry. */
  readonly specSchema: z.ZodType<ApiCredentialSpec>;
  /** The providers, in registration order. */
  readonly providers: ReadonlyMap<ProviderName, TokenProvider<unknown>>;
}

export interface SelectedProvider {
  name: ProviderName;
  /** spec.provider.<name>, parsed by that provider's own schema. */
  spec: unknown;
  provider: TokenProvider<unknown>;
}

export function providerRegistry(definitions: readonly ProviderDefinition[]): ProviderRegistry {
  const providers = new Map<ProviderName, TokenProvider<unknown>>();
  for (const definition of definitions) {
    if (providers.has(definition.name)) throw new Error(`provider ${definition.name} is registered twice`);
    const provider = definition.create();
    if (provider.name !== definition.name) {
      throw new Error(
        `provider ${definition.name} is registered, but its class calls itself ${provider.name}`,
      );
    }
    providers.set(definition.name, provider);
  }
  return { specSchema: apiCredentialSpecSchemaOf(definitions), providers };
}

/** The provider named in the spec; undefined when the spec names none this registry holds. */
export function selectProvider(
  registry: ProviderRegistry,
  spec: ApiCredentialSpec,
): SelectedProvider | undefined {
  const specs: Readonly<Record<ProviderName, unknown>> = spec.provider;
  for (const [name, provider] of registry.providers) {
    const providerSpec = specs[name];
    if (providerSpec !== undefined) return { name, spec: providerSpec, provider };
  }
  return undefined;
}
