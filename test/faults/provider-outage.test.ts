// Fault cases at the provider, against the real operator: down for longer than a token's lifetime and
// then back, and slower than the operator's provider timeout (the iDempiere server still rotating the
// refresh token after the operator gave up). Per-provider 429/5xx/garbage/truncated bodies are
// covered in test/providers and test/integration/*-operator.test.ts; these are the missing ones.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { startOperator, prepareOperatorNamespace, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import {
  IDEMPIERE_LOGIN,
  IDEMPIERE_REFRESH,
  TAPDATA_TOKEN,
  assertNothingLost,
  createCredentials,
  faultLogDir,
  putInputSecrets,
  startProviders,
  waitAllReady,
  type CredentialRef,
  type Providers,
} from './fixture.ts';
import { ConsumerMonitor, expiryOf } from './invariants.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `outage-${randomBytes(3).toString('hex')}`;
const PROVIDER_TIMEOUT_MS = 2_000;
let providers: Providers & { client: { clientId: string; clientSecret: string } };
let operator: RunningOperator;

beforeAll(async () => {
  // 12 s tokens: an outage longer than a lifetime stays short.
  providers = await startProviders({ tapdataTtlSeconds: 12, erpTokenMinutes: 0.2 });
  const env = await prepareOperatorNamespace(plane, namespace);
  await putInputSecrets(kube, namespace, providers.client);
  operator = await startOperator({
    kubeconfig: env.kubeconfig,
    logDir: faultLogDir(namespace),
    name: 'outage-op',
    namespaces: [namespace],
    extraArgs: [
      '--leader-elect=false',
      '--propagation-margin=2s',
      `--provider-timeout=${String(PROVIDER_TIMEOUT_MS / 1000)}s`,
    ],
  });
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([providers.tapdata.stop(), providers.erp.stop()]);
});

async function token(ref: CredentialRef): Promise<string | undefined> {
  return (await kube.secretValues(ref.namespace, ref.name))?.token;
}

describe('fault: the provider', () => {
  it.each(['tapdata', 'idempiere'] as const)(
    '%s down for longer than a token lifetime: the old token stays until it expires, the condition says why, and it recovers alone',
    async (kind) => {
      const ref: CredentialRef = { namespace, name: `down-${kind}`, kind };
      const emulator = kind === 'tapdata' ? providers.tapdata : providers.erp;
      const monitor = new ConsumerMonitor(kube);
      await createCredentials(kube, providers, monitor, [ref]);
      monitor.start();
      await waitAllReady(kube, providers, [ref]);
      const before = await token(ref);
      const expiresAt = expiryOf(before ?? '') ?? 0;
      await emulator.stop();
      // From here on the old token may outlive its expiry: nothing can replace it. It must stay.
      monitor.allowExpired(namespace, ref.name, true);
      const failing = await waitFor(
        'Ready to say the renewal is failing while the token is still valid',
        async () => {
          const ready = condition(await kube.credential(namespace, ref.name), 'Ready');
          return ready?.status === 'True' && ready.reason === 'RenewalFailing' ? ready : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(failing.message).toContain('stays valid until');
      const expired = await waitFor(
        'Ready=False once the old token has expired',
        async () => {
          const ready = condition(await kube.credential(namespace, ref.name), 'Ready');
          return ready?.status === 'False' ? ready : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      expect(expired.reason).not.toBe('TokenValid');
      expect(expired.message.length).toBeGreaterThan(10);
      // The old token was kept until (and after) it expired: never removed, never replaced by junk.
      expect(await token(ref)).toBe(before);

      await emulator.start();
      // It recovers alone at the attempt the operator planned: after many failures the backoff's
      // ceiling is minutes (5 s doubling to 5 min, full jitter), so wait for that attempt, not a guess.
      const planned = Date.parse((await kube.credential(namespace, ref.name))?.status?.nextRefreshTime ?? '');
      expect(Number.isFinite(planned)).toBe(true);
      await waitFor(
        'recovery without a restart, at the next attempt the status planned',
        async () => {
          const ready = condition(await kube.credential(namespace, ref.name), 'Ready');
          return ready?.reason === 'TokenValid' && (await token(ref)) !== before ? true : undefined;
        },
        { timeoutMs: Math.max(0, planned - Date.now()) + 30_000, intervalMs: 250 },
      );
      monitor.allowExpired(namespace, ref.name, false);
      expect(operator.process.exited).toBe(false);
      const report = await assertNothingLost(kube, providers, [ref], monitor);
      process.stderr.write(
        `[faults] ${kind} down for ${String(Date.now() - expiresAt)} ms past expiry: ${String(report.observations)} observations\n`,
      );
    },
    // Up to the 5 min backoff cap, plus the outage itself.
    480_000,
  );

  it('slower than the provider timeout: iDempiere rotates after the operator gave up, and nothing is replayed', async () => {
    const refs: CredentialRef[] = [
      { namespace, name: 'slow-tapdata', kind: 'tapdata' },
      { namespace, name: 'slow-idempiere', kind: 'idempiere' },
    ];
    const monitor = new ConsumerMonitor(kube);
    await createCredentials(kube, providers, monitor, refs);
    monitor.start();
    await waitAllReady(kube, providers, refs);
    const counts = {
      tapdata: providers.tapdata.count(TAPDATA_TOKEN),
      refresh: providers.erp.count(IDEMPIERE_REFRESH),
      login: providers.erp.count(IDEMPIERE_LOGIN),
    };
    // The next two answers of each come after the operator's timeout; the server acts regardless.
    const slow = { kind: 'delay' as const, ms: PROVIDER_TIMEOUT_MS * 2, times: 2 };
    providers.tapdata.faults.push(TAPDATA_TOKEN, slow);
    providers.erp.faults.push(IDEMPIERE_REFRESH, slow);
    providers.erp.faults.push(IDEMPIERE_LOGIN, slow);
    await waitFor(
      'the slow answers to be used up, and a renewal of each after them',
      () =>
        providers.tapdata.faults.pending() === 0 &&
        providers.erp.faults.pending() === 0 &&
        providers.tapdata.count(TAPDATA_TOKEN) > counts.tapdata + 2 &&
        providers.erp.count(IDEMPIERE_REFRESH) + providers.erp.count(IDEMPIERE_LOGIN) >
          counts.refresh + counts.login + 2
          ? true
          : undefined,
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const report = await assertNothingLost(kube, providers, refs, monitor);
    const logs = operator.logs();
    expect(logs).toContain('"msg":"token request failed"');
    process.stderr.write(
      `[faults] slow provider: ${String(report.observations)} observations, ${String(report.distinctTokens)} tokens, ` +
        `breaches ${String(providers.erp.breachCount())}\n`,
    );
  });
});
