// The real operator against IDMP emulators whose clocks run minutes ahead of and behind the
// operator's: the consumer Secret holds a token the provider accepts, renewal is planned before the
// token truly expires, the skew is named in a Warning event, and a provider so far behind that every
// token arrives dead is retried with backoff rather than in a loop.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IDMP_DEFAULT_USER, IdmpEmulator } from '../emulators/idmp.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `skew-${randomBytes(3).toString('hex')}`;
const MIN = 60_000;
const TTL_SECONDS = 7 * 60;
const skews = { ahead: 5 * MIN, behind: -5 * MIN, dead: -10 * MIN };
const emulators = new Map<keyof typeof skews, IdmpEmulator>();
let operator: RunningOperator;

function skewed(offsetMs: number): IdmpEmulator {
  return new IdmpEmulator({
    clock: { now: () => Date.now() + offsetMs },
    knobs: { tokenTtlSeconds: TTL_SECONDS },
  });
}

function emulator(name: keyof typeof skews): IdmpEmulator {
  const found = emulators.get(name);
  if (!found) throw new Error(`no emulator ${name}`);
  return found;
}

function expClaimMs(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    exp: number;
  };
  return payload.exp * 1000;
}

beforeAll(async () => {
  for (const [name, offset] of Object.entries(skews) as [keyof typeof skews, number][]) {
    emulators.set(name, skewed(offset));
  }
  await Promise.all([...emulators.values()].map((e) => e.start()));
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=2s'],
  });
  await kube.putSecret(namespace, 'idmp-login', {
    username: IDMP_DEFAULT_USER.loginName,
    password: IDMP_DEFAULT_USER.password,
  });
  for (const name of Object.keys(skews) as (keyof typeof skews)[]) {
    await kube.createCredential(namespace, `idmp-${name}`, {
      provider: { idmp: { baseUrl: emulator(name).url, credentialsRef: { name: 'idmp-login' } } },
    });
  }
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([...emulators.values()].map((e) => e.stop()));
});

describe('the operator against a provider with a skewed clock', () => {
  it.each([
    ['ahead', 'ClockSkew'],
    ['behind', 'ShortTokenLifetime'],
  ] as const)(
    'provider clock 5 min %s: a working token, renewal before true expiry, a %s warning',
    async (name, reason) => {
      const credentialName = `idmp-${name}`;
      const credential = await waitFor(
        `${credentialName} to be Ready`,
        async () => {
          const found = await kube.credential(namespace, credentialName);
          return condition(found, 'Ready')?.status === 'True' ? found : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      const token = (await kube.secretValues(namespace, credentialName))?.token ?? '';
      // The provider, on its own clock, accepts what the consumer holds.
      const check = await fetch(`${emulator(name).url}/api/v1/elements?current=1&size=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(check.status).toBe(200);
      // On the operator's clock the token truly expires at exp minus the provider's lead.
      const trueExpiry = expClaimMs(token) - skews[name];
      const expiresAt = Date.parse(credential.status?.expiresAt ?? '');
      const renewAt = Date.parse(credential.status?.nextRefreshTime ?? '');
      expect(expiresAt).toBeLessThanOrEqual(trueExpiry);
      expect(renewAt).toBeLessThan(trueExpiry - 2_000);
      expect(renewAt).toBeGreaterThan(Date.parse(credential.status?.issuedAt ?? ''));
      const warning = await kube.event(
        namespace,
        credentialName,
        (event) => event.type === 'Warning' && event.reason === reason,
      );
      expect(warning.message).toMatch(name === 'ahead' ? /clock is ahead/ : /clock may be behind/);
    },
  );

  it('provider clock behind by more than the token lifetime: ExpiredOnArrival, retried with backoff, not in a loop', async () => {
    const credentialName = 'idmp-dead';
    await waitFor(
      'the ExpiredOnArrival condition',
      async () =>
        condition(await kube.credential(namespace, credentialName), 'Ready')?.reason === 'ExpiredOnArrival'
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const ready = condition(await kube.credential(namespace, credentialName), 'Ready');
    expect(ready?.message).toMatch(/clock may be behind the operator's \(check NTP/);
    expect(await kube.secret(namespace, credentialName)).toBeUndefined();
    // Backoff starts at a few seconds and doubles: over the next 15 s at most a handful of logins.
    const before = emulator('dead').count('POST /api/v1/users/login');
    const startedAt = Date.now();
    await waitFor('15 s to pass', () => (Date.now() - startedAt >= 15_000 ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 500,
    });
    expect(emulator('dead').count('POST /api/v1/users/login') - before).toBeLessThanOrEqual(4);
  });
});
