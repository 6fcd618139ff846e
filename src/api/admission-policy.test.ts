// The admission policy covers every reference of every registered provider: each Secret or ConfigMap
// a provider's needs() reads is named by a reference field the policy checks, so a new provider or
// field cannot slip past it. The policy's behaviour on a real apiserver is in
// test/integration/admission-policy.test.ts.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { echoDefinition } from '../../test/integration/extra-provider/echo.ts';
import type { ProviderDefinition } from '../providers/definition.ts';
import { PROVIDER_DEFINITIONS } from '../providers/definitions.ts';
import { declareNeeds, secretKeyRef } from '../providers/references.ts';
import type { InputReference } from '../providers/types.ts';
import { admissionPolicySpec, admissionValidations, referenceFieldsOf } from './admission-policy.ts';
import { objectName, secretKey } from './fields.ts';
import { SAMPLES, sampleWithEveryReference } from '../../test/unit/provider-samples.ts';

function nameAt(spec: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = spec;
  for (const step of path) node = (node as Record<string, unknown> | undefined)?.[step];
  return (node as { name?: unknown } | undefined)?.name;
}

/** The inputs of a provider (each clientAuth, CA bundle as Secret and ConfigMap) no policy field names. */
function uncoveredInputs(definition: ProviderDefinition): InputReference[] {
  const fields = referenceFieldsOf([definition]);
  const base = sampleWithEveryReference(definition, fields);
  const variants = [base];
  for (const kind of ['Secret', 'ConfigMap']) {
    const withKind = structuredClone(base);
    const ca = withKind.caBundleRef as Record<string, unknown> | undefined;
    if (ca) variants.push({ ...withKind, caBundleRef: { ...ca, kind } });
  }
  if (definition.name === 'oauth2') variants.push({ ...base, clientAuth: 'private_key_jwt' });
  const provider = definition.create();
  const missed: InputReference[] = [];
  for (const variant of variants) {
    const spec: unknown = definition.schema.parse(variant);
    for (const input of provider.needs(spec).inputs) {
      const covered = fields.some((field) => {
        if (input.fieldPath !== field.path && !input.fieldPath.startsWith(`${field.path}.`)) return false;
        const relative = field.path.split('.').slice(3);
        return nameAt(variant, relative) === input.name && (input.kind === 'Secret' || field.kindField);
      });
      if (!covered) missed.push(input);
    }
  }
  return missed;
}

describe('the admission policy', () => {
  it.each([...PROVIDER_DEFINITIONS, echoDefinition].map((definition) => [definition.name, definition]))(
    '%s: every Secret or ConfigMap its needs() reads is checked',
    (_, definition) => {
      expect(referenceFieldsOf([definition]).length).toBeGreaterThan(0);
      expect(uncoveredInputs(definition)).toEqual([]);
    },
  );

  it('finds a reference that is not named "...Ref" missing, so the check above can fail', () => {
    const schema = z.object({
      seedSecret: z.object({ name: objectName('A Secret.'), key: secretKey('seed', 'Key.') }),
    });
    const definition: ProviderDefinition = {
      name: 'misnamed',
      schema,
      create: () => ({
        name: 'misnamed',
        inputs: () => [],
        needs: (spec: unknown) => {
          const { seedSecret } = schema.parse(spec);
          const ref = secretKeyRef(
            'spec.provider.misnamed.seedSecret',
            seedSecret.name,
            seedSecret.key,
            'key',
          );
          return declareNeeds('misnamed', [ref], {});
        },
        obtain: () => Promise.reject(new Error('not called')),
      }),
    };
    SAMPLES.misnamed = { seedSecret: { name: 'seed' } };
    expect(uncoveredInputs(definition).map((input) => input.fieldPath)).toEqual([
      'spec.provider.misnamed.seedSecret.key',
    ]);
  });

  it('refuses to generate for references inside a list, which it would not check', () => {
    const definition: ProviderDefinition = {
      name: 'listed',
      schema: z.object({ tenants: z.array(z.object({ credentialsRef: z.object({ name: z.string() }) })) }),
      create: () => {
        throw new Error('not called');
      },
    };
    expect(() => referenceFieldsOf([definition])).toThrow(/spec.provider.listed.tenants holds references/);
  });

  it('checks each reference field with the authorizer and names the field in its message', () => {
    const fields = referenceFieldsOf(PROVIDER_DEFINITIONS);
    const validations = admissionValidations();
    expect(validations).toHaveLength(fields.length + 1);
    fields.forEach((field, index) => {
      const validation = validations[index];
      expect(validation?.expression).toContain(`.name(object.${field.path}.name).check('get').allowed()`);
      expect(validation?.messageExpression.startsWith(`'${field.path}: you may not get `)).toBe(true);
    });
    expect(validations.at(-1)?.expression).toContain(".name(object.metadata.name + '.apicred-state')");
  });

  it('matches create and spec changes of the main resource, never the status subresource', () => {
    expect(admissionPolicySpec()).toMatchObject({
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [{ operations: ['CREATE', 'UPDATE'], resources: ['apicredentials'] }],
      },
      matchConditions: [{ expression: "request.operation == 'CREATE' || object.spec != oldObject.spec" }],
    });
  });
});
