// The operator process, under a least-privilege ServiceAccount token, against a real kube-apiserver
// and a real OpenID Provider (oidc-provider): issue, renew, restart quietly, follow input changes,
// repair drift, survive a provider outage, revoke on delete, and never leak a secret.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { createIdentity } from '../harness/identity.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { operatorRules, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { startOidcServer, type OidcServer } from '../oidc/server.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `oauth2-${randomBytes(3).toString('hex')}`;
const SHORT_TTL = 8; // seconds: renewals happen within the test
const secrets = {
  shortClient: `short-secret-${randomBytes(12).toString('hex')}`,
  longClient: `long-secret-${randomBytes(12).toString('hex')}`,
};
let oidc: OidcServer;
let oidcPort: number;
let operator: RunningOperator;
let operatorKubeconfig: string;
const issuedTokens = new Set<string>();

async function startOidc(port?: number): Promise<OidcServer> {
  return startOidcServer({
    port,
    accessTokenTtlSeconds: (clientId) => (clientId === 'short-client' ? SHORT_TTL : 3600),
    clients: [
      {
        client_id: 'short-client',
        client_secret: secrets.shortClient,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'api:read',
      },
      {
        client_id: 'long-client',
        client_secret: secrets.longClient,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
  });
}

const logDir = join(plane.dir, namespace);

async function operatorStart(): Promise<RunningOperator> {
  return startOperator({
    kubeconfig: operatorKubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--propagation-margin=2s', '--leader-elect=false'],
  });
}

async function readyToken(name: string): Promise<string> {
  return waitFor(
    `a token in Secret ${name}`,
    async () => {
      const values = await kube.secretValues(namespace, name);
      const ready = condition(await kube.credential(namespace, name), 'Ready');
      if (values?.token && ready?.status === 'True') {
        issuedTokens.add(values.token);
        return values.token;
      }
      return undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

beforeAll(async () => {
  mkdirSync(logDir, { recursive: true });
  oidc = await startOidc();
  oidcPort = Number(new URL(oidc.issuer).port);
  const identity = await createIdentity(plane, {
    namespace,
    serviceAccount: 'apicred-operator',
    rules: operatorRules,
  });
  operatorKubeconfig = identity.kubeconfigPath;
  await kube.putSecret(namespace, 'short-client', {
    client_id: 'short-client',
    client_secret: secrets.shortClient,
  });
  await kube.putSecret(namespace, 'long-client', {
    client_id: 'long-client',
    client_secret: secrets.longClient,
  });
  operator = await operatorStart();
});

afterAll(async () => {
  await operator.stop();
  await oidc.stop();
});

describe('oauth2 against oidc-provider, operator under a ServiceAccount token', () => {
  it('issues a token into the Secret and reports Ready with the expiry', async () => {
    await kube.createCredential(namespace, 'short', {
      provider: {
        oauth2: { issuerUrl: oidc.issuer, credentialsRef: { name: 'short-client' }, scopes: ['api:read'] },
      },
    });
    await readyToken('short');
    const secret = await kube.secret(namespace, 'short');
    expect(secret?.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'apicred-operator',
      'apicred.dev/credential': 'short',
    });
    expect(secret?.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'ApiCredential',
      name: 'short',
      controller: true,
    });
    expect(Object.keys(secret?.metadata?.annotations ?? {})).toEqual(
      expect.arrayContaining(['apicred.dev/expires-at', 'apicred.dev/issued-at', 'apicred.dev/inputs-hash']),
    );
    const values = await kube.secretValues(namespace, 'short');
    expect(values?.token_type).toBe('Bearer');
    const credential = await kube.credential(namespace, 'short');
    expect(credential?.status).toMatchObject({
      provider: 'oauth2',
      secretName: 'short',
      consecutiveFailures: 0,
    });
    const lifetime =
      Date.parse(credential?.status?.expiresAt ?? '') - Date.parse(credential?.status?.issuedAt ?? '');
    expect(lifetime).toBeGreaterThan((SHORT_TTL - 2) * 1000);
    expect(lifetime).toBeLessThanOrEqual(SHORT_TTL * 1000);
  });

  it('renews before expiry, more than once, and the Secret never holds an expired token', async () => {
    const seen: string[] = [];
    // Collected, not thrown: waitFor retries a probe that throws, which would hide the failure.
    const expiredSeen: string[] = [];
    await waitFor(
      'two renewals',
      async () => {
        const secret = await kube.secret(namespace, 'short');
        const expiresAt = Date.parse(secret?.metadata?.annotations?.['apicred.dev/expires-at'] ?? '');
        if (!(expiresAt > Date.now())) expiredSeen.push(new Date().toISOString());
        const token = Buffer.from(secret?.data?.token ?? '', 'base64').toString();
        issuedTokens.add(token);
        if (!seen.includes(token)) seen.push(token);
        return seen.length >= 3 ? true : undefined;
      },
      { timeoutMs: 4 * SHORT_TTL * 1000, intervalMs: 250 },
    );
    expect(expiredSeen).toEqual([]);
    // The Event follows the Secret write; wait for it rather than race it.
    await waitFor(
      'two Renewed events',
      async () => {
        const events = await kube.events(namespace, 'short');
        return events.filter((e) => e.reason === 'Renewed').reduce((n, e) => n + e.count, 0) >= 2
          ? true
          : undefined;
      },
      { timeoutMs: 10_000 },
    );
  });

  it('makes no token request when restarted while tokens are fresh', async () => {
    await kube.createCredential(namespace, 'long', {
      provider: {
        oauth2: {
          tokenUrl: oidc.tokenUrl,
          clientAuth: 'client_secret_post',
          credentialsRef: { name: 'long-client' },
        },
      },
    });
    await readyToken('long');
    await kube.deleteCredential(namespace, 'short'); // its renewals would count
    await waitFor(
      'short to be gone',
      async () => ((await kube.credential(namespace, 'short')) ? undefined : true),
      { timeoutMs: 30_000 },
    );

    await operator.stop();
    const before = oidc.requests('/token');
    operator = await operatorStart();
    await waitFor(
      'the restarted operator to reconcile long',
      async () =>
        (await (await fetch(operator.metricsUrl)).text()).match(
          /controller_runtime_reconcile_total\{[^}]*\} [1-9]/,
        )
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
    expect(oidc.requests('/token')).toBe(before);
  });

  it('logs in again when the credentials Secret changes, and stalls on a wrong secret without hammering', async () => {
    const before = oidc.requests('/token');
    await kube.putSecret(namespace, 'long-client', {
      client_id: 'long-client',
      client_secret: 'definitely-wrong-secret',
    });
    const stalled = await waitFor(
      'a Stalled condition',
      async () => {
        const credential = await kube.credential(namespace, 'long');
        return condition(credential, 'Stalled')?.status === 'True' ? credential : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(condition(stalled, 'Stalled')?.reason).toBe('InvalidClient');
    // The old token is still valid, so consumers keep working; Ready says why renewal fails.
    expect(condition(stalled, 'Ready')).toMatchObject({ status: 'True', reason: 'RenewalFailing' });
    expect(condition(stalled, 'Ready')?.message).toContain('invalid_client');
    const afterFailure = oidc.requests('/token');
    expect(afterFailure - before).toBe(1);
    await kube.event(namespace, 'long', (e) => e.type === 'Warning' && e.reason === 'InvalidClient');

    await kube.putSecret(namespace, 'long-client', {
      client_id: 'long-client',
      client_secret: secrets.longClient,
    });
    await waitFor(
      'recovery after the fix',
      async () =>
        condition(await kube.credential(namespace, 'long'), 'Ready')?.reason === 'TokenValid'
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(oidc.requests('/token') - afterFailure).toBe(1);
  });

  it('restores an edited or deleted output Secret', async () => {
    const original = await readyToken('long');
    // As `kubectl edit` would: the data changes, ownership and annotations stay.
    await kube.core.patchNamespacedSecret(
      { name: 'long', namespace, body: { data: { token: Buffer.from('tampered').toString('base64') } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      'the edit to be repaired',
      async () => ((await kube.secretValues(namespace, 'long'))?.token === original ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await kube.core.deleteNamespacedSecret({ name: 'long', namespace });
    await waitFor(
      'the deleted Secret to come back',
      async () => ((await kube.secretValues(namespace, 'long'))?.token ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await readyToken('long');
  });

  it('refuses to take over a Secret it does not own', async () => {
    await kube.putSecret(namespace, 'someone-elses', { token: 'theirs' });
    await kube.createCredential(namespace, 'intruder', {
      provider: {
        oauth2: {
          tokenUrl: oidc.tokenUrl,
          clientAuth: 'client_secret_post',
          credentialsRef: { name: 'long-client' },
        },
      },
      secret: { name: 'someone-elses' },
    });
    const refused = await waitFor(
      'the refusal',
      async () => {
        const ready = condition(await kube.credential(namespace, 'intruder'), 'Ready');
        return ready?.reason === 'SecretOwnedByOther' ? ready : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(refused.message).toContain('spec.secret.takeOver');
    expect((await kube.secretValues(namespace, 'someone-elses'))?.token).toBe('theirs');
  });

  it('keeps the old token while the provider is down and recovers when it returns', async () => {
    await kube.createCredential(namespace, 'outage', {
      provider: { oauth2: { issuerUrl: oidc.issuer, credentialsRef: { name: 'short-client' } } },
    });
    const token = await readyToken('outage');
    await oidc.stop();
    const degraded = await waitFor(
      'a failing renewal to show',
      async () => {
        const credential = await kube.credential(namespace, 'outage');
        return (credential?.status?.consecutiveFailures ?? 0) >= 1 ? credential : undefined;
      },
      { timeoutMs: 4 * SHORT_TTL * 1000, intervalMs: 250 },
    );
    expect(condition(degraded, 'Stalled')?.status).toBe('False');
    expect(degraded.status?.nextRefreshTime).toBeDefined();
    // The Secret is never emptied because a renewal failed.
    expect((await kube.secretValues(namespace, 'outage'))?.token).toBe(token);

    oidc = await startOidc(oidcPort);
    await waitFor(
      'recovery',
      async () => {
        const credential = await kube.credential(namespace, 'outage');
        return credential?.status?.consecutiveFailures === 0 &&
          condition(credential, 'Ready')?.reason === 'TokenValid'
          ? true
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect((await kube.secretValues(namespace, 'outage'))?.token).not.toBe(token);
  });

  it('revokes the token when the ApiCredential is deleted, and the Secret is garbage-collected', async () => {
    await readyToken('outage');
    const revokedBefore = oidc.revocations();
    await kube.deleteCredential(namespace, 'outage');
    await waitFor(
      'the ApiCredential to be gone',
      async () => ((await kube.credential(namespace, 'outage')) ? undefined : true),
      { timeoutMs: 30_000 },
    );
    expect(oidc.revocations()).toBe(revokedBefore + 1);
    await waitFor(
      'the Secret to be garbage-collected',
      async () => ((await kube.secret(namespace, 'outage')) ? undefined : true),
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
  });

  it('never writes a client secret or token into logs, events, status or metrics', async () => {
    const planted = [secrets.shortClient, secrets.longClient, ...issuedTokens].filter(
      (value) => value.length >= 6,
    );
    expect(planted.length).toBeGreaterThanOrEqual(4);
    // Every operator process of this file, including the one stopped for the restart test.
    const logs = readdirSync(logDir)
      .filter((file) => file.endsWith('.log'))
      .map((file) => readFileSync(join(logDir, file), 'utf8'))
      .join('\n');
    expect(logs).toContain('token written');
    const events = JSON.stringify(await kube.events(namespace, 'long'));
    const statuses = JSON.stringify(
      await kube.objects.listNamespacedCustomObject({
        group: 'apicred.dev',
        version: 'v1alpha1',
        namespace,
        plural: 'apicredentials',
      }),
    );
    const metrics = await (await fetch(operator.metricsUrl)).text();
    for (const value of planted) {
      for (const [where, text] of Object.entries({ logs, events, statuses, metrics })) {
        expect(text.includes(value), `${where} contains a secret value`).toBe(false);
        expect(
          text.includes(Buffer.from(value).toString('base64')),
          `${where} contains a base64 secret`,
        ).toBe(false);
      }
    }
  });
});
