// Per-host provider rate limits against the real apiserver: two provider hosts (two TapData
// emulators on their own ports), one slowed by --provider-host-limits to one renewal per 2 s, with
// twice as many credentials as workers. The fast host's credentials become Ready while the slow
// host's are still waiting for their turn: the slow host's line does not hold every worker.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `host-limit-${randomBytes(3).toString('hex')}`;
const client = {
  clientId: '68376c8a4cf9b840dba2e119',
  clientSecret: `tapdata-${randomBytes(12).toString('hex')}`,
};
const SLOW_COUNT = 8;
const FAST_COUNT = 4;
const WORKERS = 4;
let slow: TapdataEmulator;
let fast: TapdataEmulator;
let operator: RunningOperator;

async function ready(name: string): Promise<boolean> {
  return condition(await kube.credential(namespace, name), 'Ready')?.status === 'True';
}

async function readyCount(names: string[]): Promise<number> {
  return (await Promise.all(names.map(ready))).filter(Boolean).length;
}

const names = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i)}`);

beforeAll(async () => {
  slow = new TapdataEmulator({ clients: [client] });
  fast = new TapdataEmulator({ clients: [client] });
  await Promise.all([slow.start(), fast.start()]);
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    // The slow host: one renewal now (burst 1), then one per 2 s. The fast host keeps the default.
    extraArgs: [
      '--leader-elect=false',
      `--concurrency=${String(WORKERS)}`,
      `--provider-host-limits=${slow.url}=0.5:1`,
    ],
  });
  await kube.putSecret(namespace, 'tapdata-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([slow.stop(), fast.stop()]);
});

describe('per-host provider rate limits', () => {
  it('makes the fast host’s credentials Ready while the slow host’s still wait', async () => {
    const slowNames = names('slow', SLOW_COUNT);
    const fastNames = names('fast', FAST_COUNT);
    // The slow host's first, so that with one shared bucket they would be served first.
    for (const name of slowNames) {
      await kube.createCredential(namespace, name, {
        provider: { tapdata: { baseUrl: slow.url, credentialsRef: { name: 'tapdata-client' } } },
      });
    }
    for (const name of fastNames) {
      await kube.createCredential(namespace, name, {
        provider: { tapdata: { baseUrl: fast.url, credentialsRef: { name: 'tapdata-client' } } },
      });
    }
    await waitFor(
      'every fast-host credential Ready',
      async () => ((await readyCount(fastNames)) === FAST_COUNT ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    // At 0.5/s the slow host has served only a few by now.
    expect(await readyCount(slowNames)).toBeLessThan(SLOW_COUNT);
    expect(slow.count('POST /oauth/token')).toBeLessThan(SLOW_COUNT);
    expect(fast.count('POST /oauth/token')).toBe(FAST_COUNT);

    // The slow ones are not dropped: each gets its turn.
    await waitFor(
      'every slow-host credential Ready',
      async () => ((await readyCount(slowNames)) === SLOW_COUNT ? true : undefined),
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    // One call each: a renewal sent away from a full line made no call.
    expect(slow.count('POST /oauth/token')).toBe(SLOW_COUNT);

    // The waits are counted under the host the operator named; the fast host never waited.
    const metrics = await (await fetch(operator.metricsUrl)).text();
    const waits = (host: string): number => {
      const line = metrics
        .split('\n')
        .find((l) => l.startsWith(`apicred_provider_rate_limit_waits_total{host="${host}"}`));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    // (At most one renewal per host waits in line with 4 workers; the others were requeued for
    // later, so not every slow renewal is a wait.)
    expect(waits(new URL(slow.url).origin)).toBeGreaterThanOrEqual(1);
    expect(waits('default')).toBe(0);
  });
});
