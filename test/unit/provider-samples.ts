// The least valid spec of each provider (the test-only echo provider included), and the same spec with
// every reference field the admission policy checks set to a Secret name of its own: the unit test
// compares them with needs(), the integration test sends them to the real apiserver.
import type { ReferenceField } from '../../src/api/admission-policy.ts';
import type { ProviderDefinition } from '../../src/providers/definition.ts';

const BASE = { baseUrl: 'https://vendor.example.com' };
/** The least valid spec of each provider; every reference field is then set on top of it. */
export const SAMPLES: Record<string, Record<string, unknown>> = {
  oauth2: { tokenUrl: 'https://idp.example.com/token', credentialsRef: { name: 'x' } },
  tapdata: { ...BASE, credentialsRef: { name: 'x' } },
  idmp: { ...BASE, credentialsRef: { name: 'x' } },
  idmpCloud: { ...BASE, tokensRef: { name: 'x' } },
  insightsHub: {
    ...BASE,
    credentialsRef: { name: 'x' },
    appName: 'orders',
    appVersion: '1.0.0',
    hostTenant: 'host',
    userTenants: ['tenant-a'],
  },
  idempiere: { ...BASE, credentialsRef: { name: 'x' }, login: { client: 'GardenWorld', role: 'Admin' } },
  echo: { seedRef: { name: 'x' }, lifetime: '1h' },
};

/** The provider spec with every reference field set, each to a Secret name of its own. */
export function sampleWithEveryReference(
  definition: Pick<ProviderDefinition, 'name'>,
  fields: ReferenceField[],
): Record<string, unknown> {
  const sample = SAMPLES[definition.name];
  if (!sample) throw new Error(`add a sample spec of provider ${definition.name} to SAMPLES`);
  const spec: Record<string, unknown> = structuredClone(sample);
  const prefix = `spec.provider.${definition.name}.`;
  for (const field of fields.filter((candidate) => candidate.path.startsWith(prefix))) {
    const steps = field.path.slice(prefix.length).split('.');
    let node = spec;
    for (const step of steps.slice(0, -1)) node = (node[step] ??= {}) as Record<string, unknown>;
    const last = steps.at(-1) ?? '';
    node[last] = { ...(node[last] as object), name: `secret-of-${steps.join('-').toLowerCase()}` };
  }
  return spec;
}
