// --log-level=debug lets a person follow a credential: each decision with its why, each planned time,
// each provider request line with its answer status and duration; never a value. Also the renewal
// duration histogram, which counts failed renewals as well as successful ones.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `debug-${randomBytes(3).toString('hex')}`;
const client = {
  clientId: '68376c8a4cf9b840dba2e131',
  clientSecret: `planted-${randomBytes(12).toString('hex')}`,
};
const wrongSecret = `planted-wrong-${randomBytes(12).toString('hex')}`;
let tapdata: TapdataEmulator;
let operator: RunningOperator;

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

const DEBUG = 'debug';

function lines(): LogLine[] {
  return operator
    .logs()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

beforeAll(async () => {
  tapdata = new TapdataEmulator({ clients: [client] });
  await tapdata.start();
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--log-level=debug'],
  });
  await kube.putSecret(namespace, 'good-client', {
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  await kube.putSecret(namespace, 'bad-client', { client_id: client.clientId, client_secret: wrongSecret });
  for (const [name, secret] of [
    ['good', 'good-client'],
    ['bad', 'bad-client'],
  ] as const) {
    await kube.createCredential(namespace, name, {
      provider: { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: secret } } },
    });
  }
  for (const [name, status] of [
    ['good', 'True'],
    ['bad', 'False'],
  ] as const) {
    await waitFor(
      `${name} Ready=${status}`,
      async () =>
        condition(await kube.credential(namespace, name), 'Ready')?.status === status ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }
});

afterAll(async () => {
  await operator.stop();
  await tapdata.stop();
});

describe('debug logging', () => {
  it('logs each decision, each planned time and each provider request of a reconcile', async () => {
    const good = `${namespace}/good`;
    const bad = `${namespace}/bad`;
    // The log file is written asynchronously; wait for the lines of the failing credential too.
    await waitFor(
      'the retry line',
      () =>
        lines().some(
          (line) =>
            line.credential === bad &&
            line.msg === 'no retry planned: waiting for the spec or an input to change',
        )
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const debug = lines().filter((line) => line.level === DEBUG);
    expect(debug.find((line) => line.msg === 'decision' && line.credential === good)).toMatchObject({
      provider: 'tapdata',
      action: 'obtain',
      why: 'initial',
    });
    const planned = debug.find((line) => line.msg === 'next renewal planned' && line.credential === good);
    expect(planned?.renewAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(planned?.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const requests = debug.filter((line) => line.msg === 'provider request');
    expect(requests).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ provider: 'tapdata', method: 'POST', path: '/oauth/token', status: 200 }),
        expect.objectContaining({ provider: 'tapdata', method: 'POST', path: '/oauth/token', status: 401 }),
      ]),
    );
    for (const request of requests) {
      expect(request.host).toBe(new URL(tapdata.url).host);
      expect(typeof request.durationMs).toBe('number');
      expect(String(request.path)).not.toContain('?');
    }
    // A terminal failure: no retry time, and the line says what would restart it.
    expect(
      debug.find((line) => line.msg.startsWith('no retry planned') && line.credential === bad),
    ).toMatchObject({
      reason: condition(await kube.credential(namespace, 'bad'), 'Ready')?.reason,
    });

    const token = (await kube.secretValues(namespace, 'good'))?.token;
    expect(token).toBeTruthy();
    const text = operator.logs();
    for (const planted of [client.clientSecret, wrongSecret, token ?? 'no token'])
      expect(text).not.toContain(planted);
  });

  it('counts failed renewals in the duration histogram, by result', async () => {
    // The histogram is recorded just after the status patch that the setup waited for: wait for it.
    const metrics = await waitFor(
      'the success in the renewal histogram',
      async () => {
        const text = await (await fetch(operator.metricsUrl)).text();
        return /^apicred_renewal_duration_seconds_count\{provider="tapdata",result="success"\} [1-9]/m.test(
          text,
        )
          ? text
          : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const count = (result: string): number =>
      Number(
        new RegExp(
          `^apicred_renewal_duration_seconds_count\\{provider="tapdata",result="${result}"\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1] ?? 0,
      );
    expect(count('success')).toBe(1);
    expect(count('failure')).toBeGreaterThanOrEqual(1);
  });
});
