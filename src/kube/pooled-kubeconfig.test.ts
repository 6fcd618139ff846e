import { generateKeyPairSync } from 'node:crypto';
import { RequestContext, HttpMethod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PooledKubeConfig } from './pooled-kubeconfig.ts';

function config(caData: string): PooledKubeConfig {
  const kubeConfig = new PooledKubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData, skipTLSVerify: false }],
    users: [{ name: 'u', token: 'not-a-real-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kubeConfig;
}

async function dispatcherOf(kubeConfig: PooledKubeConfig): Promise<unknown> {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/secrets', HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  expect(context.getHeaders().Authorization).toBe('Bearer not-a-real-token');
  return context.getDispatcher();
}

const someCa = (): string =>
  Buffer.from(
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }),
  ).toString('base64');

describe('PooledKubeConfig', () => {
  it('gives every request the same connection pool, with the headers client-node sets', async () => {
    const kubeConfig = config(someCa());
    const first = await dispatcherOf(kubeConfig);
    expect(first).toBeDefined();
    expect(await dispatcherOf(kubeConfig)).toBe(first);
    await kubeConfig.closeConnections();
  });

  it('starts a new pool when the TLS material changes', async () => {
    const kubeConfig = config(someCa());
    const before = await dispatcherOf(kubeConfig);
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('no cluster');
    Object.assign(cluster, { caData: someCa() });
    const after = await dispatcherOf(kubeConfig);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(await dispatcherOf(kubeConfig)).toBe(after);
    await kubeConfig.closeConnections();
  });
});
