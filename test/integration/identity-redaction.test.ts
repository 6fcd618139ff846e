// Issue 12 item 8, against a real Keycloak: the client_id equals the ApiCredential's name (`orders`),
// the common case. Client ids are identifiers, not secrets, so the operator's log lines, metrics,
// conditions and Events still say which credential and which Secret they are about, while the client
// secret and the tokens appear nowhere but the Secrets that hold them.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ApiCredential } from '../../src/api/apicredential.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { operatorOutputs } from '../harness/leak-places.ts';
import { waitFor } from '../harness/wait.ts';
import { startKeycloak, type KeycloakHandle } from '../keycloak/keycloak.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `ident-${randomBytes(3).toString('hex')}`;
const REALM = 'shop';
const plant = (label: string): string => `Leak${label}${randomBytes(12).toString('hex')}`;
const planted = {
  ordersSecret: plant('OrdersSecret'),
  billingSecret: plant('BillingSecret'),
  wrongSecret: plant('WrongSecret'),
};
/** Every credential the run handled: the planted secrets, then every token issued. */
const secrets = new Map<string, string>(Object.entries(planted));

let keycloak: KeycloakHandle | undefined;
let operator: RunningOperator | undefined;

function server(): KeycloakHandle {
  if (!keycloak) throw new Error('Keycloak did not start; see the beforeAll error');
  return keycloak;
}

function running(): RunningOperator {
  if (!operator) throw new Error('the operator did not start; see the beforeAll error');
  return operator;
}

function oauth2(clientSecretName: string): Record<string, unknown> {
  return {
    issuerUrl: server().issuer(REALM),
    clientAuth: 'client_secret_basic',
    credentialsRef: { name: clientSecretName },
  };
}

async function ready(name: string): Promise<ApiCredential | undefined> {
  const credential = await kube.credential(namespace, name);
  return condition(credential, 'Ready')?.status === 'True' ? credential : undefined;
}

async function collectTokens(): Promise<void> {
  for (const name of ['orders-token', 'billing']) {
    const token = (await kube.secretValues(namespace, name))?.token;
    if (token) secrets.set(`token ${name}#${secrets.size}`, token);
  }
}

function logRecords(): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  for (const line of running().logs().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the stop: not a record
    }
  }
  return records;
}

function metricLines(text: string, family: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${family}{`));
}

// The first run on a machine also installs Keycloak: minutes on 2 cores.
beforeAll(async () => {
  keycloak = await startKeycloak({
    realm: {
      name: REALM,
      accessTokenLifespanSeconds: 120,
      secretClients: [
        { clientId: 'orders', secret: planted.ordersSecret },
        { clientId: 'billing', secret: planted.billingSecret },
      ],
    },
    logDir: join(repoRoot, 'test-results', 'keycloak'),
  });
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  // orders starts with a wrong client secret, so that its failure names its Secret.
  await kube.putSecret(namespace, 'orders-client', {
    client_id: 'orders',
    client_secret: planted.wrongSecret,
  });
  await kube.putSecret(namespace, 'billing-client', {
    client_id: 'billing',
    client_secret: planted.billingSecret,
  });
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=10s'],
  });
}, 900_000);

afterAll(async () => {
  await operator?.stop();
  await keycloak?.stop();
});

describe('a client_id equal to the credential name, against Keycloak', () => {
  it('names the credential and its Secrets in conditions and Events', async () => {
    await kube.createCredential(namespace, 'orders', {
      provider: { oauth2: oauth2('orders-client') },
      secret: { name: 'orders-token' },
    });
    await kube.createCredential(namespace, 'billing', { provider: { oauth2: oauth2('billing-client') } });

    const failed = await waitFor(
      'orders to fail with the wrong client secret',
      async () => {
        const found = condition(await kube.credential(namespace, 'orders'), 'Ready');
        return found?.status === 'False' && found.reason !== 'Pending' ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(failed.message).toContain(`(Secret ${namespace}/orders-client)`);
    expect(failed.message).not.toContain('[redacted]');
    const warning = await kube.event(namespace, 'orders', (e) => e.type === 'Warning');
    expect(warning.message).toContain(`(Secret ${namespace}/orders-client)`);
    expect(warning.message).not.toContain('[redacted]');

    await kube.putSecret(namespace, 'orders-client', {
      client_id: 'orders',
      client_secret: planted.ordersSecret,
    });
    await waitFor('orders to be Ready', () => ready('orders'), { timeoutMs: 60_000, intervalMs: 250 });
    await waitFor('billing to be Ready', () => ready('billing'), { timeoutMs: 60_000, intervalMs: 250 });
    const issued = await kube.event(namespace, 'orders', (e) => e.reason === 'Issued');
    expect(issued.message).toMatch(/^Issued a token from oauth2 into Secret orders-token \(/);
    const billingIssued = await kube.event(namespace, 'billing', (e) => e.reason === 'Issued');
    expect(billingIssued.message).toMatch(/^Issued a token from oauth2 into Secret billing \(/);
    await collectTokens();
    expect(secrets.size).toBe(Object.keys(planted).length + 2);
  });

  it('gives each credential its own series, named from its metadata', async () => {
    const text = await (await fetch(running().metricsUrl)).text();
    expect(text).not.toContain('name="invalid"');
    expect(text).not.toContain('namespace="invalid"');
    for (const family of ['apicred_credential_ready', 'apicred_consecutive_failures']) {
      const value = family === 'apicred_credential_ready' ? '1' : '0';
      expect(metricLines(text, family).sort()).toEqual([
        `${family}{namespace="${namespace}",name="billing",provider="oauth2"} ${value}`,
        `${family}{namespace="${namespace}",name="orders",provider="oauth2"} ${value}`,
      ]);
    }
    expect(
      metricLines(text, 'apicred_token_expiry_timestamp_seconds')
        .map((line) => line.replace(/ [\d.e+]+$/, ''))
        .sort(),
    ).toEqual([
      `apicred_token_expiry_timestamp_seconds{namespace="${namespace}",name="billing",provider="oauth2"}`,
      `apicred_token_expiry_timestamp_seconds{namespace="${namespace}",name="orders",provider="oauth2"}`,
    ]);
  });

  it('names the credential on every log line about it', () => {
    const records = logRecords();
    const about = records.filter((r) => typeof r.credential === 'string');
    expect(new Set(about.map((r) => r.credential))).toEqual(
      new Set([`${namespace}/orders`, `${namespace}/billing`]),
    );
    const failure = about.find((r) => r.msg === 'token request failed');
    expect(failure).toMatchObject({ credential: `${namespace}/orders`, provider: 'oauth2' });
    expect(String(failure?.message)).toContain(`(Secret ${namespace}/orders-client)`);
    const written = about.filter((r) => r.msg === 'token written').map((r) => r.credential);
    expect(written).toEqual(expect.arrayContaining([`${namespace}/orders`, `${namespace}/billing`]));
    expect(running().logs()).not.toContain('[redacted]');
  });

  it('shows the client secrets and tokens nowhere: logs, Events, status, metrics', async () => {
    // A renewal, so that the scan also covers a token that replaced another.
    await kube.requestRefresh(namespace, 'orders');
    await waitFor(
      'a renewed orders token',
      async () => {
        const token = (await kube.secretValues(namespace, 'orders-token'))?.token;
        return token && ![...secrets.values()].includes(token) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await collectTokens();
    const { places, credentials, eventCount } = await operatorOutputs(kube, namespace, running());
    for (const credential of credentials) {
      places.set(`ApiCredential ${credential.metadata.name}`, JSON.stringify(credential));
    }
    // Positive control: the scan finds a token where it belongs.
    const tokenSecret = JSON.stringify((await kube.secret(namespace, 'orders-token'))?.data);
    const current = (await kube.secretValues(namespace, 'orders-token'))?.token ?? 'missing';
    expect(tokenSecret).toContain(Buffer.from(current).toString('base64'));

    const hits: string[] = [];
    for (const [where, text] of places) {
      for (const [label, value] of secrets) {
        for (const form of [value, Buffer.from(value).toString('base64'), encodeURIComponent(value)]) {
          if (text.includes(form)) hits.push(`${label.split('#')[0] ?? label} in ${where}`);
        }
      }
    }
    expect(secrets.size).toBeGreaterThanOrEqual(Object.keys(planted).length + 3);
    expect(eventCount).toBeGreaterThanOrEqual(4);
    expect(hits).toEqual([]);
  });
});
