import { describe, expect, it } from 'vitest';
import { apiCredentialSpecSchema, PROVIDER_NAMES, type ProviderName } from '../api/apicredential.ts';
import { providers } from './index.ts';
import { selectProvider } from './registry.ts';
import { PROVIDER_SPECS } from './specs.test-helpers.ts';

function needsOf(name: ProviderName, extra: Record<string, unknown> = {}) {
  const spec = apiCredentialSpecSchema.parse({ provider: { [name]: { ...PROVIDER_SPECS[name], ...extra } } });
  const found = selectProvider(providers, spec);
  if (!found) throw new Error(`no provider ${name}`);
  return { needs: found.provider.needs(found.spec), found };
}

describe('what each provider declares it needs', () => {
  it.each(PROVIDER_NAMES)('%s: a caBundleRef is one more input, public, named by its field', (name) => {
    const { needs, found } = needsOf(name, {
      caBundleRef: { kind: 'ConfigMap', name: 'corp-ca', key: 'ca.crt' },
    });
    const expected = {
      kind: 'ConfigMap',
      name: 'corp-ca',
      key: 'ca.crt',
      fieldPath: `spec.provider.${name}.caBundleRef`,
      secret: false,
    };
    expect(needs.caBundle).toEqual(expected);
    expect(needs.inputs).toEqual([...found.provider.inputs(found.spec), expected]);
  });

  it.each(PROVIDER_NAMES)('%s: without a caBundleRef, the inputs are the provider’s own', (name) => {
    const { needs, found } = needsOf(name);
    expect(needs.caBundle).toBeUndefined();
    expect(needs.inputs).toEqual(found.provider.inputs(found.spec));
  });

  it.each([
    ['oauth2', {}, true],
    ['oauth2', { revokeOnDelete: false }, false],
    ['idempiere', {}, true],
    ['idempiere', { logoutOnDelete: false }, false],
    ['tapdata', {}, false],
    ['idmp', {}, false],
    ['idmpCloud', {}, false],
    ['insightsHub', {}, false],
  ] as const)('%s %o: releases on delete: %s', (name, extra, expected) => {
    const { needs, found } = needsOf(name, extra);
    expect(needs.releaseOnDelete).toBe(expected);
    // A provider that asks for a release on delete has one to call.
    if (expected) expect(typeof found.provider.release).toBe('function');
  });

  it.each(PROVIDER_NAMES)('%s: its rate limit key is the origin of the URL it calls', (name) => {
    const { needs } = needsOf(name);
    expect(needs.rateLimitKey).toBe(
      name === 'oauth2' ? 'https://idp.example.com' : 'https://vendor.example.com',
    );
  });

  it.each(PROVIDER_NAMES.filter((name) => name !== 'oauth2'))(
    '%s: a path, a default port and upper case leave the key as it is; another port is another host',
    (name) => {
      expect(needsOf(name, { baseUrl: 'https://Vendor.Example.com:443/tenant/a' }).needs.rateLimitKey).toBe(
        'https://vendor.example.com',
      );
      expect(needsOf(name, { baseUrl: 'https://vendor.example.com:8443' }).needs.rateLimitKey).toBe(
        'https://vendor.example.com:8443',
      );
    },
  );

  it('oauth2 with issuerUrl is keyed by the issuer host', () => {
    const { needs } = needsOf('oauth2', {
      tokenUrl: undefined,
      issuerUrl: 'https://login.example.com/realms/a',
    });
    expect(needs.rateLimitKey).toBe('https://login.example.com');
  });
});
