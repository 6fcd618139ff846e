// A provider defined outside src/ (echo.ts), registered through the same list mechanism as the built-in
// ones, with a CRD generated from that list, installed into a real kube-apiserver and run by the real
// operator process. What a user sees: the field in the CRD, the Secret, Ready=True and a renewal in time.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../../src/api/apicredential.ts';
import {
  adminKubeConfig,
  kubectl,
  startControlPlane,
  type ControlPlane,
} from '../../harness/controlplane.ts';
import { TestKube, condition } from '../../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../../harness/operator.ts';
import { waitFor } from '../../harness/wait.ts';
import { crd } from './registration.ts';

const namespace = `extra-${randomBytes(3).toString('hex')}`;
const seed = `seed-${randomBytes(8).toString('hex')}`;
const LIFETIME_SECONDS = 12;
let plane: ControlPlane;
let kube: TestKube;
let operator: RunningOperator;

interface Observed {
  token: string;
  expiresAt: string;
}

async function observed(): Promise<Observed | undefined> {
  const values = await kube.secretValues(namespace, 'reports');
  const credential = await kube.credential(namespace, 'reports');
  const ready = condition(credential, 'Ready');
  if (values?.token === undefined || ready?.status !== 'True') return undefined;
  return { token: values.token, expiresAt: credential?.status?.expiresAt ?? '' };
}

beforeAll(async () => {
  // Its own control plane: the shared one holds the built-in CRD, which this test replaces.
  plane = await startControlPlane({ controllerManager: false });
  const crdFile = join(plane.dir, 'apicredentials-with-echo.json');
  writeFileSync(crdFile, JSON.stringify(crd()));
  await kubectl(plane, ['apply', '--server-side', '-f', crdFile]);
  await kubectl(plane, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${PLURAL}.${GROUP}`]);
  kube = new TestKube(adminKubeConfig(plane));
  const identity = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    ...identity,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false'],
    entry: join(import.meta.dirname, 'main.ts'),
  });
  await kube.putSecret(namespace, 'echo-seed', { seed });
});

afterAll(async () => {
  await operator.stop();
  await plane.stop();
});

describe('a provider registered from the test folder', () => {
  it('is a field of the installed CRD, and the exactly-one rule names it', async () => {
    const objects = adminKubeConfig(plane).makeApiClient(CustomObjectsApi);
    const both = objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: 'two-providers' },
        spec: {
          provider: {
            echo: { seedRef: { name: 'echo-seed' }, lifetime: '1m' },
            tapdata: { baseUrl: 'http://tapdata.test', credentialsRef: { name: 'x' } },
          },
        },
      },
    });
    const error: unknown = await both.then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    const { code, body } = error as { code?: number; body?: unknown };
    expect(code).toBe(422);
    expect(String(body)).toContain(
      'set exactly one provider: oauth2, tapdata, idmp, idmpCloud, insightsHub, idempiere, echo',
    );
    const explained = await kubectl(plane, ['explain', `${PLURAL}.spec.provider.echo.lifetime`]);
    expect(explained).toContain('Lifetime of each minted token.');
  });

  it('writes its token into the Secret and reports Ready=True with the renewal time', async () => {
    await kube.createCredential(namespace, 'reports', {
      provider: { echo: { seedRef: { name: 'echo-seed' }, lifetime: `${String(LIFETIME_SECONDS)}s` } },
    });
    const first = await waitFor('reports to be Ready=True', observed, {
      timeoutMs: 30_000,
      intervalMs: 100,
      abortIf: () => (operator.process.exited ? `the operator exited:\n${operator.logs()}` : undefined),
    });
    const credential = await kube.credential(namespace, 'reports');
    const values = await kube.secretValues(namespace, 'reports');
    expect(values).toEqual({
      token: `${seed}.1`,
      token_type: 'Bearer',
      expires_at: new Date(first.expiresAt).toISOString(),
    });
    expect(credential?.status?.provider).toBe('echo');
    const ready = condition(credential, 'Ready');
    expect(ready).toMatchObject({ status: 'True', reason: 'TokenValid' });
    expect(ready?.message).toBe(
      `Secret reports holds a valid token until ${first.expiresAt}; renewal at ${credential?.status?.nextRefreshTime ?? '?'}.`,
    );
    const lifetimeMs = Date.parse(first.expiresAt) - Date.parse(credential?.status?.issuedAt ?? '');
    expect(lifetimeMs).toBe(LIFETIME_SECONDS * 1000);
  });

  it('renews the token before it expires', async () => {
    const first = await observed();
    expect(first?.token).toBe(`${seed}.1`);
    const renewed = await waitFor(
      'a renewed token',
      async () => {
        const now = await observed();
        // The Secret is written before the status, so a read between the two sees the new token
        // beside the old expiresAt: wait for both.
        return now && now.token !== first?.token && now.expiresAt !== first?.expiresAt
          ? { ...now, seenAt: Date.now() }
          : undefined;
      },
      { timeoutMs: LIFETIME_SECONDS * 1000 + 10_000, intervalMs: 100 },
    );
    expect(renewed.token).toBe(`${seed}.2`);
    expect(renewed.seenAt).toBeLessThan(Date.parse(first?.expiresAt ?? ''));
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(first?.expiresAt ?? ''));
    // The seed is a credential: the operator's logs never show it, nor the tokens made from it.
    expect(operator.logs()).not.toContain(seed);
  });
});
