// iDempiere with the operator: multi-step login by names, single-use refresh tokens rotated before
// expiry, and the operator SIGKILLed while a refresh is in flight: after the restart it logs in
// afresh instead of replaying, so breach detection never fires and consumers keep a working token.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IdempiereEmulator } from '../emulators/idempiere.ts';
import { GARDENWORLD_LOGINS } from '../emulators/idempiere-data.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `idempiere-${randomBytes(3).toString('hex')}`;
const TOKEN_MINUTES = 0.15; // 9 s tokens: several refreshes within a test
const REFRESH = 'POST /api/v1/auth/refresh';
let erp: IdempiereEmulator;
let operator: RunningOperator;
let operatorEnv: { kubeconfig: string; logDir: string };

async function startTheOperator(name: string, crashAt?: string): Promise<RunningOperator> {
  return startOperator({
    ...operatorEnv,
    name,
    env: crashAt ? { APICRED_CRASH_AT: crashAt } : {},
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
  });
}

async function consumerToken(): Promise<string | undefined> {
  return (await kube.secretValues(namespace, 'erp'))?.token;
}

/** The consumer's token works against a protected iDempiere resource. */
async function tokenWorks(token: string): Promise<boolean> {
  const response = await fetch(`${erp.url}/api/v1/models/c_bpartner`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return response.status === 200;
}

beforeAll(async () => {
  erp = new IdempiereEmulator({ knobs: { tokenExpireMinutes: TOKEN_MINUTES } });
  await erp.start();
  operatorEnv = await prepareOperatorNamespace(plane, namespace);
  operator = await startTheOperator('idempiere-op-1');
  const { userName, password } = GARDENWORLD_LOGINS.multiStep;
  await kube.putSecret(namespace, 'erp-login', { username: userName, password });
});

afterAll(async () => {
  await operator.stop();
  await erp.stop();
});

describe('idempiere with the operator', () => {
  it('logs in by names through the multi-step flow and rotates the refresh token twice', async () => {
    await kube.createCredential(namespace, 'erp', {
      provider: {
        idempiere: {
          baseUrl: erp.url,
          credentialsRef: { name: 'erp-login' },
          login: { client: 'GardenWorld', role: 'GardenWorld Admin', organization: 'HQ' },
        },
      },
    });
    await waitFor('two refreshes', () => (erp.count(REFRESH) >= 2 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const token = await consumerToken();
    expect(token && (await tokenWorks(token))).toBe(true);
    expect(erp.breachCount()).toBe(0);
    expect(condition(await kube.credential(namespace, 'erp'), 'Ready')?.status).toBe('True');
    // The refresh token lives only in the state Secret, never in the Secret pods mount.
    expect(Object.keys((await kube.secretValues(namespace, 'erp')) ?? {}).sort()).toEqual([
      'expires_at',
      'token',
      'token_type',
    ]);
    const state = await kube.secretValues(namespace, 'erp.apicred-state');
    expect(state?.refreshToken).toBeTruthy();
  });

  it('never replays a refresh token when killed while a refresh is in flight', async () => {
    const before = erp.count(REFRESH);
    // The server holds the next refresh for 4 s and then rotates the chain anyway.
    erp.faults.push(REFRESH, { kind: 'delay', ms: 4_000 });
    await waitFor('the refresh to be in flight', () => (erp.count(REFRESH) > before ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    // Counted before the restart: the new process may log in before its readiness probe answers.
    const logins = erp.count('POST /api/v1/auth/tokens');
    await operator.kill();
    operator = await startTheOperator('idempiere-op-2');
    await waitFor(
      'a fresh login and a working token',
      async () => {
        const token = await consumerToken();
        return erp.count('POST /api/v1/auth/tokens') > logins && token && (await tokenWorks(token))
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(erp.breachCount()).toBe(0);
    // And it goes on rotating the new chain safely.
    const after = erp.count(REFRESH);
    await waitFor('a refresh of the new chain', () => (erp.count(REFRESH) > after ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    expect(erp.breachCount()).toBe(0);
    const token = await consumerToken();
    expect(token && (await tokenWorks(token))).toBe(true);
  });

  // SIGKILL of the real process at each step of a refresh (src/testing/crash-points.ts): after the
  // intent is recorded, after iDempiere answered but before the new token is stored, after it is
  // stored but before the consumer Secret is written. Each restart must log in afresh or go on from
  // the stored chain, never present a spent refresh token.
  it.each([
    'idempiere:after-intent-write',
    'idempiere:after-refresh-response',
    'idempiere:after-state-write',
    'controller:before-secret-write:2',
  ])('loses nothing and replays nothing when killed at %s', async (point) => {
    await operator.stop();
    const crashing = await startTheOperator(`crash-${point.replace(/[^a-z0-9]+/g, '-')}`, point);
    const code = await waitFor(
      'the crash',
      async () => (crashing.process.exited ? crashing.process.waitForExit() : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    );
    expect(code).toBe(137); // SIGKILL, at the named step
    operator = await startTheOperator(`after-${point.replace(/[^a-z0-9]+/g, '-')}`);
    const refreshes = erp.count(REFRESH);
    await waitFor(
      'a working token and a later refresh',
      async () => {
        const token = await consumerToken();
        return erp.count(REFRESH) > refreshes && token && (await tokenWorks(token)) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(erp.breachCount()).toBe(0);
  });
});
