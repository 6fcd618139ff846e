// spec.secret.template with the operator against the real apiserver: the rendered keys are in the
// Secret, rendered again with the new token on renewal, an Insights Hub credential renders its
// per-tenant map, and an unknown variable shows InvalidSpec in `kubectl get apicred`.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InsightsHubEmulator, TTM_DEFAULT_APP } from '../emulators/insights-hub.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig, kubectl } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `template-${randomBytes(3).toString('hex')}`;
const client = {
  clientId: '68376c8a4cf9b840dba2e119',
  clientSecret: `tapdata-${randomBytes(12).toString('hex')}`,
};
const app = { ...TTM_DEFAULT_APP, clientSecret: `ttm-${randomBytes(12).toString('hex')}` };
let tapdata: TapdataEmulator;
let hub: InsightsHubEmulator;
let operator: RunningOperator;

const TEMPLATE = {
  'config.json': '{"apiKey": {{ token | json }}, "expiresAt": {{ expiresAt | json }}}',
  'auth-header': 'Authorization: {{ tokenType }} {{ token }}',
  '.netrc': 'machine tapdata.example.com\nlogin apicred\npassword {{ token }}\n',
};

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [client] });
  hub = new InsightsHubEmulator({ apps: [app] });
  await Promise.all([tapdata.start(), hub.start()]);
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false'],
  });
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  await kube.putSecret(namespace, 'ttm-app', { client_id: app.clientId, client_secret: app.clientSecret });
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([tapdata.stop(), hub.stop()]);
});

async function patchTemplate(name: string, template: Record<string, string | null>): Promise<void> {
  const patch = JSON.stringify({ spec: { secret: { template } } });
  await kubectl(plane, ['patch', 'apicred', name, '-n', namespace, '--type', 'merge', '-p', patch]);
}

function expectRendered(values: Record<string, string> | undefined): void {
  const token = values?.token ?? '';
  expect(token).not.toBe('');
  expect(JSON.parse(values?.['config.json'] ?? '')).toEqual({ apiKey: token, expiresAt: values?.expires_at });
  expect(values?.['auth-header']).toBe(`Authorization: Bearer ${token}`);
  expect(values?.['.netrc']).toBe(`machine tapdata.example.com\nlogin apicred\npassword ${token}\n`);
}

describe('spec.secret.template with the operator', () => {
  it('writes the rendered keys, and renders them again with the renewed token', async () => {
    await kube.createCredential(namespace, 'orders-api', {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
      secret: { template: TEMPLATE },
    });
    const first = await waitFor(
      'the rendered keys',
      async () => {
        const values = await kube.secretValues(namespace, 'orders-api');
        return values?.['config.json'] ? values : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expectRendered(first);
    // The Secret is written before the status: wait for Ready too, or a read between the two sees none.
    await waitFor(
      'Ready TokenValid',
      async () =>
        condition(await kube.credential(namespace, 'orders-api'), 'Ready')?.reason === 'TokenValid'
          ? true
          : undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );

    await kube.requestRefresh(namespace, 'orders-api', new Date().toISOString());
    const renewed = await waitFor(
      'a renewed token',
      async () => {
        const values = await kube.secretValues(namespace, 'orders-api');
        return values?.token && values.token !== first.token ? values : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expectRendered(renewed);
    expect(renewed['config.json']).not.toContain(first.token ?? '');
  });

  it('renders a per-tenant JSON map for Insights Hub', async () => {
    await kube.createCredential(namespace, 'fleet', {
      provider: {
        insightsHub: {
          baseUrl: hub.url,
          credentialsRef: { name: 'ttm-app' },
          appName: app.appName,
          appVersion: app.appVersion,
          hostTenant: app.hostTenant,
          allUserTenants: true,
        },
      },
      secret: {
        template: {
          'tenants.json':
            '{ {%- for t in tenants %}{{ t[0] | json }}: {{ t[1].token | json }}{% unless forloop.last %}, {% endunless %}{%- endfor %} }',
        },
      },
    });
    const values = await waitFor(
      'the tenant map',
      async () => {
        const found = await kube.secretValues(namespace, 'fleet');
        return found?.['tenants.json'] ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const map = JSON.parse(values['tenants.json'] ?? '') as Record<string, string>;
    expect(Object.keys(map).sort()).toEqual([...app.userTenants].sort());
    for (const tenant of app.userTenants) expect(map[tenant]).toBe(values[`token.${tenant}`]);
  });

  it('shows an unknown variable as InvalidSpec, naming the key and the variable, in kubectl get', async () => {
    await kube.createCredential(namespace, 'typo', {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
      secret: { template: { 'config.json': '{"apiKey": {{ acess_token | json }}}' } },
    });
    const ready = await waitFor(
      'InvalidSpec',
      async () => {
        const found = condition(await kube.credential(namespace, 'typo'), 'Ready');
        return found?.reason === 'InvalidSpec' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(ready.status).toBe('False');
    expect(ready.message).toBe(
      'spec.secret.template["config.json"]: unknown variable "acess_token"; known: token, tokenType, expiresAt, issuedAt, data, tenants. Fix the ApiCredential spec.',
    );
    const row = (await kubectl(plane, ['get', 'apicred', 'typo', '-n', namespace, '--no-headers'])).trim();
    expect(row).toMatch(/^typo\s+False\s+InvalidSpec\s/);
    const described = await kubectl(plane, ['describe', 'apicred', 'typo', '-n', namespace]);
    expect(described).toContain('unknown variable "acess_token"');
    expect(await kube.secretValues(namespace, 'typo')).toBeUndefined();

    // Fixing the spec is enough: the credential issues with the corrected template.
    await patchTemplate('typo', { 'config.json': '{"apiKey": {{ token | json }}}' });
    const fixed = await waitFor(
      'the fixed template',
      async () => {
        const values = await kube.secretValues(namespace, 'typo');
        return values?.['config.json'] ? values : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(JSON.parse(fixed['config.json'] ?? '')).toEqual({ apiKey: fixed.token });
  });

  it('a changed template replaces the rendered keys: a removed key leaves the Secret', async () => {
    await patchTemplate('orders-api', { 'auth-header': null, bearer: '{{ token }}' });
    const values = await waitFor(
      'the new key',
      async () => {
        const found = await kube.secretValues(namespace, 'orders-api');
        return found?.bearer && !('auth-header' in found) ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(values.bearer).toBe(values.token);
    expect(Object.keys(values).sort()).toEqual([
      '.netrc',
      'bearer',
      'config.json',
      'expires_at',
      'token',
      'token_type',
    ]);
  });

  it('keeps the tokens, and what was rendered from them, out of logs, events and status', async () => {
    const values = await kube.secretValues(namespace, 'orders-api');
    const planted = [
      client.clientSecret,
      app.clientSecret,
      values?.token ?? '',
      values?.['config.json'] ?? '',
      values?.bearer ?? '',
      values?.['.netrc'] ?? '',
    ];
    const texts = {
      logs: operator.logs(),
      events: JSON.stringify([
        ...(await kube.events(namespace, 'orders-api')),
        ...(await kube.events(namespace, 'fleet')),
      ]),
      status: JSON.stringify([
        await kube.credential(namespace, 'orders-api'),
        await kube.credential(namespace, 'fleet'),
      ]),
    };
    for (const value of planted) {
      expect(value).not.toBe('');
      for (const [place, text] of Object.entries(texts)) expect(text.includes(value), place).toBe(false);
    }
  });
});
