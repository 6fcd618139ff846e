// What registers a provider: its name (the key under spec.provider), its spec schema and how to build
// it. The registration list (definitions.ts) turns these into the CRD, the spec parser and the registry.
import type { z } from 'zod';
import type { TokenProvider } from './types.ts';

export interface ProviderDefinition<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  /** The key under spec.provider, and the provider label of metrics and status. */
  readonly name: Name;
  /** spec.provider.<name>; its descriptions and CEL rules go into the CRD as they are. */
  readonly schema: Schema;
  create(): TokenProvider<z.output<Schema>>;
}

/** Infers the name and schema types, so a provider file writes its definition without repeating them. */
export function defineProvider<const Name extends string, Schema extends z.ZodType>(
  definition: ProviderDefinition<Name, Schema>,
): ProviderDefinition<Name, Schema> {
  return definition;
}
