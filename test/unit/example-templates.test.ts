// Every spec.secret.template in examples/ passes the operator's check and renders with the values its
// provider gives: the examples test only proves that the apiserver accepts them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkTemplates, renderTemplates, type TemplateValues } from '../../src/secrets/template.ts';

const root = join(import.meta.dirname, '..', '..');
const TOKEN = 'eyJ"example\\token';

interface Example {
  file: string;
  name: string;
  provider: string;
  template: Record<string, string>;
}

const examples: Example[] = readdirSync(join(root, 'examples'))
  .filter((file) => file.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(root, 'examples', file), 'utf8')).flatMap((document) => {
      const object = document.toJS() as {
        metadata?: { name?: string };
        spec?: { provider?: Record<string, unknown>; secret?: { template?: Record<string, string> } };
      } | null;
      const template = object?.spec?.secret?.template;
      if (!template) return [];
      const provider = Object.keys(object.spec?.provider ?? {})[0] ?? '';
      return [{ file, name: object.metadata?.name ?? '', provider, template }];
    }),
  );

function valuesFor(provider: string): TemplateValues {
  const common = {
    tokenType: 'Bearer',
    expiresAt: '2026-12-03T10:00:00.000Z',
    issuedAt: '2026-12-03T09:00:00.000Z',
  };
  if (provider === 'insightsHub') {
    const tenant = { token: TOKEN, tokenType: 'Bearer', expiresAt: common.expiresAt };
    return { ...common, data: {}, tenants: { usertenanta: tenant, usertenantb: { ...tenant, token: 'b' } } };
  }
  const data: Record<string, string> =
    provider === 'idmpCloud' ? { token: TOKEN, 'access-token': 'access' } : { token: TOKEN };
  return { ...common, token: TOKEN, data };
}

describe('the templates in examples/', () => {
  it('cover every provider family', () => {
    expect(new Set(examples.map((example) => example.provider))).toEqual(
      new Set(['oauth2', 'tapdata', 'idmp', 'idmpCloud', 'insightsHub', 'idempiere']),
    );
  });

  it.each(examples.map((example) => [`${example.file} ${example.name}`, example] as const))(
    '%s passes the check and renders',
    (_label, example) => {
      expect(checkTemplates(example.template)).toBeUndefined();
      const outcome = renderTemplates(example.template, valuesFor(example.provider), []);
      if (!outcome.ok) throw new Error(outcome.message);
      for (const [key, text] of Object.entries(outcome.data)) {
        if (!key.endsWith('.json')) {
          expect(text, key).toContain(TOKEN);
          continue;
        }
        // Escaped as a JSON string, and the whole is valid JSON.
        expect(text, key).toContain(JSON.stringify(TOKEN));
        expect(() => JSON.parse(text) as unknown, key).not.toThrow();
      }
    },
  );
});
