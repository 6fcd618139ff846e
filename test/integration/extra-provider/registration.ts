// The test's registration list: the built-in one plus the echo provider, registered as src/ registers
// its own (providers/definitions.ts), and the registry and CRD that follow from it.
import { apiCredentialSpecSchemaOf } from '../../../src/api/apicredential.ts';
import { apiCredentialCrd } from '../../../src/api/crd.ts';
import { PROVIDER_DEFINITIONS } from '../../../src/providers/definitions.ts';
import { providerRegistry } from '../../../src/providers/registry.ts';
import { echoDefinition } from './echo.ts';

export const DEFINITIONS = [...PROVIDER_DEFINITIONS, echoDefinition] as const;

export const registry = providerRegistry(DEFINITIONS);

export const crd = (): Record<string, unknown> => apiCredentialCrd(apiCredentialSpecSchemaOf(DEFINITIONS));
