import { describe, expect, it } from 'vitest';
import { apiCredentialSpecSchema, type ApiCredential } from '../api/apicredential.ts';
import { providers } from '../providers/index.ts';
import { selectProvider } from '../providers/registry.ts';
import { REDACTED, SecretRedactor } from '../observability/redactor.ts';
import { PROVIDER_SPECS } from '../providers/specs.test-helpers.ts';
import type { StateStore } from '../providers/types.ts';
import { ReportingStateStore, identityOf, publicOutputKey, tokenSecrets } from './redaction.ts';

// oauth2 with a private-key JWT client: the same provider, other inputs.
const SPECS: Record<string, Record<string, unknown>> = {
  ...PROVIDER_SPECS,
  oauth2Jwt: {
    tokenUrl: 'https://idp.example.com/token',
    clientAuth: 'private_key_jwt',
    credentialsRef: { name: 'orders-client' },
  },
};

function selected(name: string) {
  const provider = name === 'oauth2Jwt' ? 'oauth2' : name;
  const spec = apiCredentialSpecSchema.parse({ provider: { [provider]: SPECS[name] } });
  const found = selectProvider(providers, spec);
  if (!found) throw new Error(`no provider ${name}`);
  return { spec, found };
}

describe('what each provider declares secret', () => {
  it.each([
    ['oauth2', { clientIdKey: false, clientSecretKey: true }],
    ['oauth2Jwt', { clientIdKey: false, privateKeyKey: true }],
    ['tapdata', { clientIdKey: false, clientSecretKey: true }],
    ['insightsHub', { clientIdKey: false, clientSecretKey: true }],
    ['idmp', { usernameKey: false, passwordKey: true }],
    ['idempiere', { usernameKey: false, passwordKey: true }],
    ['idmpCloud', { bearerTokenKey: true, accessTokenKey: true }],
  ])('%s: identifiers are not secret, credentials are', (name, expected) => {
    const { found } = selected(name);
    const declared: Record<string, boolean> = {};
    for (const ref of found.provider.inputs(found.spec))
      declared[ref.fieldPath.split('.').at(-1) ?? ''] = ref.secret;
    expect(declared).toEqual(expected);
  });
});

describe('tokenSecrets', () => {
  it('registers the tokens, not the token type or the expiry', () => {
    const { spec, found } = selected('oauth2');
    const data = { token: 'eyJ.token.sig', token_type: 'Bearer', expires_at: '2026-12-02T15:00:00.000Z' };
    expect(tokenSecrets(data, publicOutputKey(spec.secret.keys, found.provider))).toEqual(['eyJ.token.sig']);
  });

  it('IDMP cloud: both header tokens are secret', () => {
    const { spec, found } = selected('idmpCloud');
    const data = { token: 'bearer-value', 'access-token': 'access-value', token_type: 'Bearer' };
    expect(tokenSecrets(data, publicOutputKey(spec.secret.keys, found.provider))).toEqual([
      'bearer-value',
      'access-value',
    ]);
  });

  it('Insights Hub: every tenant token is secret, tenant names and expiry times are not', () => {
    const { spec, found } = selected('insightsHub');
    const data = {
      'token.tenant-a': 'tok-a',
      'expires_at.tenant-a': '2026-12-02T15:00:00.000Z',
      'token.hosttenant': 'tok-host',
      'expires_at.hosttenant': '2026-12-02T15:00:00.000Z',
      tenants: 'hosttenant\ntenant-a',
      token_type: 'Bearer',
      token: 'tok-a',
    };
    expect(tokenSecrets(data, publicOutputKey(spec.secret.keys, found.provider))).toEqual([
      'tok-a',
      'tok-host',
      'tok-a',
    ]);
  });

  it('a key nobody declared public is treated as a credential', () => {
    const { spec, found } = selected('oauth2');
    expect(tokenSecrets({ 'x-extra': 'value' }, publicOutputKey(spec.secret.keys, found.provider))).toEqual([
      'value',
    ]);
  });
});

describe('identityOf', () => {
  it('names the credential, its Secrets and every referenced object', () => {
    const { found } = selected('oauth2');
    const credential = { metadata: { namespace: 'acc-h', name: 'orders' } } as ApiCredential;
    expect(identityOf(credential, 'orders-token', found.provider.inputs(found.spec))).toEqual(
      expect.arrayContaining([
        'acc-h/orders',
        'acc-h',
        'orders',
        'orders-token',
        'acc-h/orders-token',
        'orders.apicred-state',
        'orders-client',
        'acc-h/orders-client',
      ]),
    );
  });
});

describe('ReportingStateStore', () => {
  it("registers iDempiere's refresh tokens as they are read and before they are written", async () => {
    let stored: Record<string, string> = { refreshToken: 'rt-read-from-state', userId: '100', loginAt: 'x' };
    const inner: StateStore = {
      read: () => Promise.resolve({ ...stored }),
      write: (state) => {
        stored = state;
        return Promise.resolve();
      },
    };
    const redactor = new SecretRedactor({ shapes: false });
    const { found } = selected('idempiere');
    const store = new ReportingStateStore(inner, found.provider.secretStateKeys ?? [], (value) =>
      redactor.add(value, 'erp/gardenworld'),
    );
    await store.read();
    await store.write({ refreshToken: 'rt-new-one', userId: '100', loginAt: '2026-12-02T14:00:00Z' });
    expect(redactor.scrub('old rt-read-from-state, new rt-new-one, user 100 at 2026-12-02T14:00:00Z')).toBe(
      `old ${REDACTED}, new ${REDACTED}, user 100 at 2026-12-02T14:00:00Z`,
    );
    expect(stored.refreshToken).toBe('rt-new-one');
  });
});
