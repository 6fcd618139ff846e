// What every fault case sets up: short-lived TapData and iDempiere tokens from the emulators, a mix
// of ApiCredentials, the consumer monitor, and the final "nothing lost" check.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { IdempiereEmulator } from '../emulators/idempiere.ts';
import { GARDENWORLD_LOGINS } from '../emulators/idempiere-data.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { repoRoot } from '../harness/crds.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { waitFor } from '../harness/wait.ts';
import { ConsumerMonitor, expiryOf, idempiereJudge, tapdataJudge, type TokenJudge } from './invariants.ts';

export const CONSUMER_KEYS = ['token', 'token_type', 'expires_at'];
export const IDEMPIERE_REFRESH = 'POST /api/v1/auth/refresh';
export const IDEMPIERE_LOGIN = 'POST /api/v1/auth/tokens';
export const TAPDATA_TOKEN = 'POST /oauth/token';

export interface Providers {
  tapdata: TapdataEmulator;
  erp: IdempiereEmulator;
  tapdataJudge: TokenJudge;
  erpJudge: TokenJudge;
}

export async function startProviders(options: {
  tapdataTtlSeconds: number;
  erpTokenMinutes: number;
}): Promise<Providers & { client: { clientId: string; clientSecret: string } }> {
  const client = {
    clientId: randomBytes(12).toString('hex'),
    clientSecret: `faults-${randomBytes(12).toString('hex')}`,
    ttlSeconds: options.tapdataTtlSeconds,
  };
  const tapdata = new TapdataEmulator({ clients: [client] });
  const secret = randomUUID();
  const erp = new IdempiereEmulator({ secret, knobs: { tokenExpireMinutes: options.erpTokenMinutes } });
  await Promise.all([tapdata.start(), erp.start()]);
  return { tapdata, erp, client, tapdataJudge: tapdataJudge(tapdata), erpJudge: idempiereJudge(secret) };
}

export type CredentialKind = 'tapdata' | 'idempiere';

export interface CredentialRef {
  namespace: string;
  name: string;
  kind: CredentialKind;
}

/** The input Secrets both kinds of credential reference. */
export async function putInputSecrets(
  kube: TestKube,
  namespace: string,
  client: { clientId: string; clientSecret: string },
): Promise<void> {
  const { userName, password } = GARDENWORLD_LOGINS.multiStep;
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  await kube.putSecret(namespace, 'erp-login', { username: userName, password });
}

export function credentialSpec(kind: CredentialKind, providers: Providers): unknown {
  return kind === 'tapdata'
    ? {
        provider: { tapdata: { baseUrl: providers.tapdata.url, credentialsRef: { name: 'tapdata-client' } } },
      }
    : {
        provider: {
          idempiere: {
            baseUrl: providers.erp.url,
            credentialsRef: { name: 'erp-login' },
            login: { client: 'GardenWorld', role: 'GardenWorld Admin', organization: 'HQ' },
          },
        },
      };
}

export async function createCredentials(
  kube: TestKube,
  providers: Providers,
  monitor: ConsumerMonitor,
  refs: CredentialRef[],
): Promise<void> {
  for (const ref of refs) {
    await kube.createCredential(ref.namespace, ref.name, credentialSpec(ref.kind, providers));
    monitor.watch({
      namespace: ref.namespace,
      name: ref.name,
      keys: CONSUMER_KEYS,
      judge: ref.kind === 'tapdata' ? providers.tapdataJudge : providers.erpJudge,
    });
  }
}

/** `count` credentials named `<prefix>-<kind>-<i>`, alternating TapData and iDempiere. */
export function mixedCredentials(namespace: string, prefix: string, count: number): CredentialRef[] {
  return Array.from({ length: count }, (_unused, index) => {
    const kind: CredentialKind = index % 2 === 0 ? 'tapdata' : 'idempiere';
    return { namespace, kind, name: `${prefix}-${kind}-${String(index)}` };
  });
}

/** Ready=True with a valid, unexpired token the provider issued, all keys present; iDempiere keeps its chain. */
export async function readyWithValidToken(
  kube: TestKube,
  providers: Providers,
  ref: CredentialRef,
): Promise<string | undefined> {
  const credential = await kube.credential(ref.namespace, ref.name);
  if (condition(credential, 'Ready')?.status !== 'True') return undefined;
  const values = await kube.secretValues(ref.namespace, ref.name);
  const token = values?.token;
  if (!token || CONSUMER_KEYS.some((key) => !values[key])) return undefined;
  const judge = ref.kind === 'tapdata' ? providers.tapdataJudge : providers.erpJudge;
  if (!(await judge(token)) || (expiryOf(token) ?? 0) <= Date.now()) return undefined;
  if (ref.kind === 'idempiere') {
    const state = await kube.secretValues(ref.namespace, `${ref.name}.apicred-state`);
    if (!state?.refreshToken) return undefined;
  }
  return token;
}

export async function waitAllReady(
  kube: TestKube,
  providers: Providers,
  refs: CredentialRef[],
  timeoutMs = 60_000,
): Promise<void> {
  try {
    await waitFor(
      `${String(refs.length)} credentials Ready with valid tokens`,
      async () => {
        const tokens = await Promise.all(refs.map((ref) => readyWithValidToken(kube, providers, ref)));
        return tokens.every(Boolean) ? true : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (error) {
    const states = await Promise.all(
      refs.map(async (ref) => {
        const ready = condition(await kube.credential(ref.namespace, ref.name), 'Ready');
        return `${ref.name}: ${ready ? `${ready.status} ${ready.reason}: ${ready.message}` : 'no Ready condition'}`;
      }),
    );
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${states.join('\n')}`, {
      cause: error,
    });
  }
}

/** The end of every case: nothing lost, nothing replayed, nothing seen that breaks the invariants. */
export async function assertNothingLost(
  kube: TestKube,
  providers: Providers,
  refs: CredentialRef[],
  monitor: ConsumerMonitor,
): Promise<{ observations: number; distinctTokens: number }> {
  await waitAllReady(kube, providers, refs);
  const report = await monitor.stop();
  expect(report.violations).toEqual([]);
  expect(report.observations).toBeGreaterThan(0);
  expect(providers.erp.breachCount()).toBe(0);
  expect(providers.erp.serverErrors()).toEqual([]);
  expect(providers.tapdata.serverErrors()).toEqual([]);
  return report;
}

/** A copy of `kubeconfig` that reaches the apiserver through `server` (a proxy). */
export function kubeconfigVia(kubeconfig: string, server: string, out: string): string {
  const config = JSON.parse(readFileSync(kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string } }[];
  };
  for (const cluster of config.clusters) cluster.cluster.server = server;
  writeFileSync(out, JSON.stringify(config, null, 2), { mode: 0o600 });
  return out;
}

/** test-results/faults/<name>: operator logs that outlive the control plane's directory. */
export function faultLogDir(name: string): string {
  const dir = join(repoRoot, 'test-results', 'faults', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Counts lines of the operator's JSON log whose msg is `message`. */
export function logCount(logs: string, message: string): number {
  return logs.split('\n').filter((line) => line.includes(`"msg":"${message}"`)).length;
}
