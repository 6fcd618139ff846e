// A provider that lives outside src/: it mints its token locally from a seed in a Secret, with the
// lifetime its spec gives. It is written as a real provider is (spec schema, class, definition in one
// file), so the extra-provider test shows that this file and one registration line are all it takes.
import { z } from 'zod';
import { duration, objectName, secretKey } from '../../../src/api/fields.ts';
import { parseDuration } from '../../../src/policy/duration.ts';
import { defineProvider } from '../../../src/providers/definition.ts';
import { declareNeeds, secretKeyRef } from '../../../src/providers/references.ts';
import type {
  InputReference,
  ProviderContext,
  ProviderNeeds,
  TokenProvider,
  TokenSet,
} from '../../../src/providers/types.ts';

export const echoSchema = z
  .object({
    seedRef: z
      .object({
        name: objectName('Name of a Secret in the ApiCredential namespace.'),
        key: secretKey('seed', 'Key of the seed every token starts with.'),
      })
      .meta({ description: 'Secret holding the seed.' }),
    lifetime: duration('Lifetime of each minted token.'),
  })
  .meta({ description: 'Test-only: mints "<seed>.<serial>" tokens locally.' });

export type EchoSpec = z.output<typeof echoSchema>;

const FIELD = 'spec.provider.echo';

function seedRef(spec: EchoSpec): InputReference {
  return secretKeyRef(`${FIELD}.seedRef`, spec.seedRef.name, spec.seedRef.key, 'key');
}

export class EchoProvider implements TokenProvider<EchoSpec> {
  readonly name = 'echo' as const;
  #serial = 0;

  needs(spec: EchoSpec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {});
  }

  inputs(spec: EchoSpec): InputReference[] {
    return [seedRef(spec)];
  }

  obtain(spec: EchoSpec, context: ProviderContext): Promise<TokenSet> {
    const seed = context.inputs.require(seedRef(spec));
    this.#serial += 1;
    // Whole seconds, as a JWT's iat and exp are.
    const issuedAt = Math.floor(context.clock.now() / 1000) * 1000;
    const expiresAt = issuedAt + parseDuration(spec.lifetime);
    return Promise.resolve({
      data: {
        [context.keys.token]: `${seed}.${String(this.#serial)}`,
        [context.keys.tokenType]: 'Bearer',
        [context.keys.expiresAt]: new Date(expiresAt).toISOString(),
      },
      issuedAt,
      expiresAt,
      expirySource: 'expires_in',
    });
  }
}

export const echoDefinition = defineProvider({
  name: 'echo',
  schema: echoSchema,
  create: () => new EchoProvider(),
});
