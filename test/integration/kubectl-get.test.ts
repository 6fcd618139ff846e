// What `kubectl get apicred` prints, read from the real kubectl against the real apiserver, for a
// healthy credential, one whose renewal fails while its token is valid, and one whose token expired.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator, type TapdataClient } from '../emulators/tapdata.ts';
import { adminKubeConfig, kubectl } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { kubectlTable as table } from '../harness/kubectl-table.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `kubectl-${randomBytes(3).toString('hex')}`;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function client(name: string, ttlSeconds: number): TapdataClient {
  return {
    clientId: `${name}-${randomBytes(4).toString('hex')}`,
    clientSecret: `s3cret-${randomBytes(12).toString('hex')}`,
    ttlSeconds,
  };
}

const clients = {
  healthy: client('healthy', 3600),
  failing: client('failing', 3600),
  // Long enough to issue, rotate and fail before it runs out; short enough not to wait long.
  expired: client('expired', 8),
};
let tapdata: TapdataEmulator;
let operator: RunningOperator;

async function readyReason(name: string): Promise<string | undefined> {
  return condition(await kube.credential(namespace, name), 'Ready')?.reason;
}

async function until(name: string, reason: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${name} to be ${reason}`,
    async () => ((await readyReason(name)) === reason ? true : undefined),
    {
      timeoutMs,
      intervalMs: 200,
      abortIf: () => (operator.process.exited ? `the operator exited:\n${operator.logs()}` : undefined),
    },
  );
}

/** The rows of a kubectl table, cut at the header's column offsets (an absent value prints blank). */
beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: Object.values(clients) });
  await tapdata.start();
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false'],
  });
  for (const [name, { clientId, clientSecret }] of Object.entries(clients)) {
    await kube.putSecret(namespace, `${name}-client`, { client_id: clientId, client_secret: clientSecret });
    await kube.createCredential(namespace, name, {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: `${name}-client` } } },
    });
  }
  // Its credentials Secret does not exist.
  await kube.createCredential(namespace, 'missing', {
    provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'missing-client' } } },
  });
  for (const name of Object.keys(clients)) await until(name, 'TokenValid');
  // A secret rotated at the provider but not in Kubernetes: every renewal is refused (invalid_client).
  for (const name of ['failing', 'expired'] as const) {
    tapdata.rotateSecret(clients[name].clientId);
    await kube.requestRefresh(namespace, name);
  }
  await until('failing', 'RenewalFailing');
  await until('expired', 'TokenExpired');
  await until('missing', 'MissingInput');
});

afterAll(async () => {
  await operator.stop();
  await tapdata.stop();
});

describe('kubectl get apicred', () => {
  it('tells healthy, failing and expired apart, with absolute times and no <invalid>', async () => {
    const output = await kubectl(plane, ['get', 'apicred', '-n', namespace]);
    expect(output).not.toContain('<invalid>');
    const { header, rows } = table(output);
    expect(header).toEqual(['NAME', 'READY', 'REASON', 'EXPIRES', 'NEXT RENEWAL', 'APPROVE', 'AGE']);
    expect(output.split('\n')[0]?.length ?? 0).toBeLessThanOrEqual(100);

    expect([...rows.keys()].sort()).toEqual(['expired', 'failing', 'healthy', 'missing']);
    for (const name of Object.keys(clients)) {
      const status = (await kube.credential(namespace, name))?.status;
      const row = rows.get(name);
      expect(row?.EXPIRES).toBe(status?.expiresAt);
      expect(row?.EXPIRES).toMatch(RFC3339);
      expect(row?.AGE).toMatch(/^\d+s$|^\d+m\d*s?$/);
    }
    expect(rows.get('healthy')).toMatchObject({ READY: 'True', REASON: 'TokenValid' });
    expect(rows.get('healthy')?.['NEXT RENEWAL']).toMatch(RFC3339);
    // Ready stays True while the token lasts, but the reason says so, and no renewal is planned.
    expect(rows.get('failing')).toMatchObject({
      READY: 'True',
      REASON: 'RenewalFailing',
      'NEXT RENEWAL': '',
    });
    expect(rows.get('expired')).toMatchObject({
      READY: 'False',
      REASON: 'TokenExpired',
      'NEXT RENEWAL': '',
    });
    expect(Date.parse(rows.get('expired')?.EXPIRES ?? '')).toBeLessThanOrEqual(Date.now());
    expect(rows.get('missing')).toMatchObject({
      READY: 'False',
      REASON: 'MissingInput',
      EXPIRES: '',
      'NEXT RENEWAL': '',
    });
  });

  it('publishes apicred_credential_ready for each, also for one that never had a token', async () => {
    const text = await (await fetch(operator.metricsUrl)).text();
    const ready = (name: string): string | undefined =>
      text
        .split('\n')
        .find((line) =>
          line.startsWith(
            `apicred_credential_ready{namespace="${namespace}",name="${name}",provider="tapdata"}`,
          ),
        )
        ?.split(' ')
        .at(-1);
    expect(['healthy', 'failing', 'expired', 'missing'].map(ready)).toEqual(['1', '1', '0', '0']);
  });

  it('-o wide adds provider, Secret and the failure count', async () => {
    const { header, rows } = table(await kubectl(plane, ['get', 'apicred', '-n', namespace, '-o', 'wide']));
    expect(header).toEqual([
      'NAME',
      'READY',
      'REASON',
      'EXPIRES',
      'NEXT RENEWAL',
      'APPROVE',
      'PROVIDER',
      'SECRET',
      'FAILURES',
      'AGE',
    ]);
    expect(rows.get('healthy')).toMatchObject({ PROVIDER: 'tapdata', SECRET: 'healthy', FAILURES: '0' });
    expect(rows.get('failing')).toMatchObject({ PROVIDER: 'tapdata', SECRET: 'failing', FAILURES: '1' });
  });

  it('the apicred-operator category lists ApiCredentials and shadows no resource', async () => {
    const byCategory = await kubectl(plane, ['get', 'apicred-operator', '-n', namespace, '-o', 'name']);
    expect(byCategory.trim().split('\n').sort()).toEqual(
      ['expired', 'failing', 'healthy', 'missing'].map((name) => `apicredential.apicred.dev/${name}`),
    );
    const resources = await kubectl(plane, ['api-resources', '--no-headers', '-o', 'wide']);
    const words = resources.split(/\s+/);
    const row = resources.split('\n').find((line) => line.startsWith('apicredentials '));
    expect(row).toMatch(/\bapicred-operator\b/);
    // No resource, short name or other category answers to the name, and the short name still resolves alone.
    expect(words.filter((word) => word === 'apicred-operator')).toHaveLength(1);
    expect(resources.split('\n').filter((line) => line.split(/\s+/).includes('apicred'))).toEqual([row]);
    const byShortName = await kubectl(plane, ['get', 'apicred', '-n', namespace, '-o', 'name']);
    expect(byShortName).toBe(byCategory);
  });
});
