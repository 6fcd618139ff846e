// Siemens Insights Hub with the operator: all tenants discovered, one key per tenant, renewed twice
// before expiry with ceil(tenants / batch) calls a round, tenants added and removed as they appear and
// disappear, and a failing tenant shown in status without stopping the others.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InsightsHubEmulator, TTM_DEFAULT_APP } from '../emulators/insights-hub.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `mindsphere-${randomBytes(3).toString('hex')}`;
const LIFETIME_SECONDS = 8;
const app = { ...TTM_DEFAULT_APP, clientSecret: `ttm-${randomBytes(12).toString('hex')}` };
let hub: InsightsHubEmulator;
let operator: RunningOperator;

async function tenantsInSecret(): Promise<string[]> {
  const values = await kube.secretValues(namespace, 'fleet');
  return (values?.tenants ?? '').split('\n').filter(Boolean);
}

beforeAll(async () => {
  hub = new InsightsHubEmulator({
    apps: [app],
    knobs: { tokenLifetimeSeconds: LIFETIME_SECONDS, expiresIn: LIFETIME_SECONDS - 1 },
  });
  await hub.start();
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=1s'],
  });
  await kube.putSecret(namespace, 'ttm-app', { client_id: app.clientId, client_secret: app.clientSecret });
});

afterAll(async () => {
  await operator.stop();
  await hub.stop();
});

describe('insights hub with the operator', () => {
  it('discovers all tenants, writes one key per tenant and renews them all twice', async () => {
    await kube.createCredential(namespace, 'fleet', {
      provider: {
        insightsHub: {
          baseUrl: hub.url,
          credentialsRef: { name: 'ttm-app' },
          appName: app.appName,
          appVersion: app.appVersion,
          hostTenant: app.hostTenant,
          allUserTenants: true,
          batchSize: 2,
        },
      },
    });
    await waitFor('three tenants', async () => ((await tenantsInSecret()).length === 3 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const values = await kube.secretValues(namespace, 'fleet');
    for (const tenant of app.userTenants) expect(values?.[`token.${tenant}`]).toMatch(/^ey/);
    // The Secret is written before the status: wait for the tenant counts too, or a read between the
    // two sees the old ones.
    await waitFor(
      'status.tenants ready 3 of 3',
      async () => {
        const tenants = (await kube.credential(namespace, 'fleet'))?.status?.tenants;
        return tenants?.ready === 3 && tenants.total === 3 ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const credential = await kube.credential(namespace, 'fleet');
    expect(credential?.status?.tenants).toMatchObject({ ready: 3, total: 3 });

    const seen = new Set<string>();
    await waitFor(
      'two renewals',
      async () => {
        const current = await kube.secretValues(namespace, 'fleet');
        seen.add(current?.['token.usertenanta'] ?? '');
        return seen.size >= 3 ? true : undefined;
      },
      { timeoutMs: 6 * LIFETIME_SECONDS * 1000, intervalMs: 250 },
    );
    // Per round: 1 operator-tenant token + 1 discovery page + ceil(3 / 2) = 2 batches. The next round
    // may already be under way when the Secret is read, so the counts are compared between rounds; a
    // round that asks more often never matches and the wait fails with the last counts.
    let counted = '';
    await waitFor(
      'two batch requests per discovery round',
      () => {
        const rounds = hub.count('GET /api/technicaltokenmanager/v3/userTenants');
        const batches = hub.count('POST /api/technicaltokenmanager/v3/oauthTokens');
        counted = `${String(rounds)} rounds, ${String(batches)} batch requests`;
        return rounds >= 3 && batches === 2 * rounds ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}: ${counted}`);
    });
  });

  it('adds and removes tenant keys as tenants appear and disappear', async () => {
    hub.provision('usertenantd');
    hub.deprovision('usertenantb');
    await waitFor(
      'the new tenant set',
      async () => {
        const tenants = await tenantsInSecret();
        return tenants.includes('usertenantd') && !tenants.includes('usertenantb') ? true : undefined;
      },
      { timeoutMs: 6 * LIFETIME_SECONDS * 1000, intervalMs: 250 },
    );
    const values = await kube.secretValues(namespace, 'fleet');
    expect(values?.['token.usertenantb']).toBeUndefined();
    expect(values?.['token.usertenantd']).toMatch(/^ey/);
  });

  it('shows a failing tenant in status while the others keep working', async () => {
    hub.failTenant('usertenantc', { status: 403 });
    const credential = await waitFor(
      'the failing tenant in status',
      async () => {
        const found = await kube.credential(namespace, 'fleet');
        return found?.status?.tenants?.failing?.some((f) => f.tenant === 'usertenantc') ? found : undefined;
      },
      { timeoutMs: 6 * LIFETIME_SECONDS * 1000, intervalMs: 250 },
    );
    expect(condition(credential, 'Ready')?.status).toBe('True');
    expect(credential.status?.tenants?.ready).toBeGreaterThanOrEqual(2);
    expect(operator.logs().includes(app.clientSecret)).toBe(false);
  });
});

describe('insights hub: tenants without a token, as a person sees them', () => {
  const TENANTS = 22;
  let strict: InsightsHubEmulator;
  const sickApp = { ...app, clientSecret: `ttm-${randomBytes(12).toString('hex')}` };

  beforeAll(async () => {
    // 30-minute tokens: whatever happens within this test is a tenant retry, not a renewal.
    strict = new InsightsHubEmulator({ apps: [sickApp], strict: true });
    await strict.start();
    for (let i = sickApp.userTenants.length; i < TENANTS; i += 1)
      strict.provision(`tenant${String(i).padStart(3, '0')}`);
    await kube.putSecret(namespace, 'ttm-strict', {
      client_id: sickApp.clientId,
      client_secret: sickApp.clientSecret,
    });
  });

  afterAll(async () => {
    await strict.stop();
  });

  it('says in Ready, a Warning Event and the log which tenant lacks a token, then recovers on its own backoff', async () => {
    const tenants = strict.userTenants();
    const sick = 'tenant007';
    strict.failTenant(sick, { status: 503, message: 'tenant store unavailable' });
    await kube.createCredential(namespace, 'partial', {
      provider: {
        insightsHub: {
          baseUrl: strict.url,
          credentialsRef: { name: 'ttm-strict' },
          appName: sickApp.appName,
          appVersion: sickApp.appVersion,
          hostTenant: sickApp.hostTenant,
          userTenants: tenants,
          batchSize: 5,
        },
      },
    });
    const warned = await waitFor(
      'Ready naming the tenant without a token',
      async () => {
        const found = await kube.credential(namespace, 'partial');
        return condition(found, 'Ready')?.reason === 'TenantsWithoutToken' ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const ready = condition(warned, 'Ready');
    expect(ready?.status).toBe('True');
    const expected = new RegExp(
      `^1 of 22 tenants have no token in the Secret: ${sick} \\(TenantTokenFailed\\)\\. ` +
        'The operator tries them again at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(backoff\\)\\. ' +
        'See status\\.tenants\\.failing for what the service said\\.$',
    );
    expect(ready?.message).toMatch(expected);
    const failing = warned.status?.tenants?.failing ?? [];
    expect(failing.map((entry) => entry.tenant)).toEqual([sick]);
    expect(failing[0]?.message).toMatch(
      /^tenant tenant007: Insights Hub returned no token \(.*tenant store unavailable.*\)\. It has no token in the Secret\. Next attempt at .+ \(failure 1 in a row\)\.$/,
    );
    // The 429 on the third oauthTokens call was waited out within the round: everyone else has a token.
    expect(warned.status?.tenants).toMatchObject({ ready: TENANTS - 1, total: TENANTS });
    const event = await kube.event(
      namespace,
      'partial',
      (e) => e.type === 'Warning' && e.reason === 'TenantsWithoutToken',
    );
    expect(event.message).toMatch(expected);
    await waitFor(
      'the warning in the log',
      () =>
        operator.logs().includes(`1 of 22 tenants have no token in the Secret: ${sick}`) ? true : undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );

    strict.clearTenantFailure(sick);
    const healed = await waitFor(
      'Ready back to TokenValid',
      async () => {
        const found = await kube.credential(namespace, 'partial');
        return condition(found, 'Ready')?.reason === 'TokenValid' ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(condition(healed, 'Ready')?.message).toMatch(/^Secret partial holds a valid token until /);
    expect(healed.status?.tenants).toEqual({ ready: TENANTS, total: TENANTS, failing: [] });
    const values = await kube.secretValues(namespace, 'partial');
    expect(values?.[`token.${sick}`]).toMatch(/^ey/);
    const logs = operator.logs();
    expect(logs.includes(sickApp.clientSecret)).toBe(false);
    expect(logs.includes(values?.[`token.${sick}`] ?? 'no token')).toBe(false);
  });
});
