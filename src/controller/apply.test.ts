// apply with the in-memory writer: writes in the plan's order, what a failed write stops, and that no
// token value leaves through anything but the consumer Secret's data.
import { ApiException, type V1Secret } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ApiCredentialStatus } from '../api/apicredential.ts';
import { ProviderError } from '../errors/failure.ts';
import type { ProviderContext, StateStore } from '../providers/types.ts';
import { contentDigest } from '../secrets/consumer.ts';
import { apply, type ApplyDeps } from './apply.ts';
import type { WrittenToken } from './context.ts';
import {
  CLIENT_SECRET,
  credentialFixture,
  fakeProvider,
  InMemoryWriter,
  MemoryStateStore,
  reconcilerHarness,
  testMetrics,
  tokenSet,
  type Harness,
} from './fakes.test-helpers.ts';
import { eventWrite, type Write } from './writer.ts';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-12-03T09:00:00Z');
const PLANTED = 'tok-PLANTED-5e4d3c2b1a';
const PLANTED_REFRESH = 'rt-PLANTED-0f1e2d3c';

function deps(
  writer = new InMemoryWriter(),
  lines: string[] = [],
): ApplyDeps & { memory: Map<string, WrittenToken> } {
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { writer, metrics: testMetrics(), logger, memory: new Map() };
}

const SECRET: V1Secret = { metadata: { name: 'orders-token', namespace: 'shop' }, data: {} };
const STATUS: ApiCredentialStatus = { consecutiveFailures: 0 };

const PLAN: Write[] = [
  { kind: 'secret', body: SECRET, fresh: true },
  { kind: 'remember', data: { token: PLANTED } },
  { kind: 'status', status: STATUS },
  { kind: 'renewal-metrics', provider: 'oauth2', result: 'success', seconds: 0.25 },
  {
    kind: 'token-metrics',
    provider: 'oauth2',
    expiresAt: NOW + HOUR,
    ready: true,
    failures: 0,
    stalled: false,
  },
  eventWrite('Normal', 'Issued', 'Issued a token.'),
  { kind: 'log', level: 'info', fields: { credential: 'shop/orders' }, message: 'token written' },
];

type Failing = 'applySecret' | 'patchStatus' | 'setFinalizers';

/** A writer whose `failing` write rejects with `error`; the others succeed and are recorded. */
class FailingWriter extends InMemoryWriter {
  readonly #failing: Failing;
  readonly #error: Error;
  constructor(failing: Failing, error: Error) {
    super();
    this.#failing = failing;
    this.#error = error;
  }
  override applySecret(body: V1Secret): Promise<void> {
    return this.#failing === 'applySecret' ? Promise.reject(this.#error) : super.applySecret(body);
  }
  override patchStatus(...args: Parameters<InMemoryWriter['patchStatus']>): Promise<void> {
    return this.#failing === 'patchStatus' ? Promise.reject(this.#error) : super.patchStatus(...args);
  }
  override setFinalizers(...args: Parameters<InMemoryWriter['setFinalizers']>): Promise<void> {
    return this.#failing === 'setFinalizers' ? Promise.reject(this.#error) : super.setFinalizers(...args);
  }
}

function apiError(code: number, reason: string): ApiException<string> {
  return new ApiException(code, reason, `{"kind":"Status","code":${code},"reason":"${reason}"}`, {});
}

describe('apply', () => {
  it('carries out the writes in the plan order: the Secret before the status, the Event after', async () => {
    const writer = new InMemoryWriter();
    const lines: string[] = [];
    const d = deps(writer, lines);
    await apply(credentialFixture(), PLAN, d);
    expect(writer.journal).toEqual(['secret', 'status', 'event:Issued']);
    expect(writer.secrets).toEqual([SECRET]);
    expect(writer.statuses).toEqual([STATUS]);
    expect(d.memory.get('shop/orders')).toEqual({
      data: { token: PLANTED },
      digest: contentDigest({ token: PLANTED }),
    });
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['token written']);
  });

  it('publishes the metrics each write names', async () => {
    const d = deps();
    await apply(credentialFixture(), PLAN, d);
    await apply(
      credentialFixture(),
      [{ kind: 'failure-metric', provider: 'oauth2', reason: 'ProviderUnavailable' }],
      d,
    );
    const text = await d.metrics.registry.metrics();
    const labels = 'namespace="shop",name="orders",provider="oauth2"';
    expect(text).toContain(`apicred_token_expiry_timestamp_seconds{${labels}} ${(NOW + HOUR) / 1000}`);
    expect(text).toContain(`apicred_credential_ready{${labels}} 1`);
    expect(text).toContain(`apicred_consecutive_failures{${labels}} 0`);
    expect(text).toContain(`apicred_credential_stalled{${labels}} 0`);
    expect(text).toMatch(/apicred_renewals_total\{provider="oauth2",result="success"\} 1/);
    expect(text).toMatch(
      /apicred_renewal_failures_total\{provider="oauth2",reason="ProviderUnavailable"\} 1/,
    );
  });

  it.each([
    ['a conflict', apiError(409, 'Conflict')],
    ['not found (the credential was deleted)', apiError(404, 'NotFound')],
    ['any other error', new Error('socket hang up')],
  ])(
    'a Secret write that fails with %s: apply rejects with it, nothing after it is done',
    async (_n, error) => {
      const writer = new FailingWriter('applySecret', error);
      const d = deps(writer);
      await expect(apply(credentialFixture(), PLAN, d)).rejects.toBe(error);
      // No Ready status or Issued Event for a token that never reached the Secret, and no memory of it.
      expect(writer.journal).toEqual([]);
      expect(d.memory.size).toBe(0);
    },
  );

  it('a failed status write keeps the Secret already written and stops before the Event', async () => {
    const error = apiError(404, 'NotFound');
    const writer = new FailingWriter('patchStatus', error);
    const d = deps(writer);
    await expect(apply(credentialFixture(), PLAN, d)).rejects.toBe(error);
    expect(writer.journal).toEqual(['secret']);
    expect(d.memory.has('shop/orders')).toBe(true);
  });

  it('a finalizer write that conflicts (resourceVersion changed) rejects with the 409', async () => {
    const error = apiError(409, 'Conflict');
    const writer = new FailingWriter('setFinalizers', error);
    const writes: Write[] = [
      eventWrite('Normal', 'Revoked', 'revoked.'),
      { kind: 'finalizers', finalizers: [] },
    ];
    await expect(apply(credentialFixture(), writes, deps(writer))).rejects.toBe(error);
    expect(writer.journal).toEqual(['event:Revoked']);
  });
});

describe('a failed write, through the reconciler', () => {
  it('reconcile rejects with it (the work queue retries the key with backoff), and the retry calls the provider again', async () => {
    const provider = fakeProvider((context) => Promise.resolve(tokenSet(context.clock.now(), HOUR)));
    let fail = true;
    const h = reconcilerHarness(provider, credentialFixture(), {
      writer: (caches) =>
        new (class extends InMemoryWriter {
          override applySecret(body: V1Secret): Promise<void> {
            if (fail) return Promise.reject(apiError(409, 'Conflict'));
            return super.applySecret(body);
          }
        })(caches),
    });
    const { writer } = h;
    await expect(h.reconciler.reconcile(h.key)).rejects.toMatchObject({ code: 409 });
    expect(writer.journal).toEqual([]);
    fail = false;
    await h.reconciler.reconcile(h.key);
    expect(provider.calls).toBe(2);
    expect(writer.journal).toEqual(['secret', 'status', 'event:Issued']);
  });
});

/** A state store that journals its writes into the writer's journal. */
function journaledState(journal: string[]): StateStore {
  const inner = new MemoryStateStore();
  return {
    read: () => inner.read(),
    write: (state) => {
      journal.push('state');
      return inner.write(state);
    },
  };
}

describe('a single-use refresh provider', () => {
  it('records its intent in the state Secret before the call, and the consumer Secret comes after', async () => {
    const obtain = async (context: ProviderContext) => {
      await context.state.read();
      await context.state.write({ refreshToken: PLANTED_REFRESH, intent: 'refreshing' });
      return tokenSet(context.clock.now(), HOUR, PLANTED);
    };
    const provider = { ...fakeProvider(obtain), secretStateKeys: ['refreshToken'] };
    // The state store is built at the provider call, after the harness: it journals with the writer.
    const h: Harness = reconcilerHarness(provider, credentialFixture(), {
      stateStore: () => journaledState(h.writer.journal),
    });
    await h.reconciler.reconcile(h.key);
    expect(h.writer.journal).toEqual(['state', 'secret', 'status', 'event:Issued']);
  });
});

describe('no token value outside the Secret data', () => {
  /** Everything the operator wrote or said, except the consumer Secret's data. */
  async function everythingButSecretData(
    writer: InMemoryWriter,
    lines: string[],
    metrics: ReturnType<typeof testMetrics>,
  ): Promise<string> {
    const secrets = writer.secrets.map((secret) => ({ ...secret, data: undefined }));
    return JSON.stringify({
      secrets,
      statuses: writer.statuses,
      events: writer.events,
      lines,
      metrics: await metrics.registry.metrics(),
    });
  }

  function scanned(obtain: (context: ProviderContext) => Promise<ReturnType<typeof tokenSet>>) {
    const lines: string[] = [];
    const metrics = testMetrics();
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const provider = { ...fakeProvider(obtain), secretStateKeys: ['refreshToken'] };
    const store = new MemoryStateStore();
    const h = reconcilerHarness(provider, credentialFixture(), { logger, metrics, stateStore: () => store });
    return { h, writer: h.writer, lines, metrics };
  }

  it('issue, renew, a warning and a failure that echoes the token: the planted values never show', async () => {
    let round = 0;
    const { h, writer, lines, metrics } = scanned(async (context) => {
      round += 1;
      await context.state.read();
      await context.state.write({ refreshToken: `${PLANTED_REFRESH}-${round}` });
      if (round === 3)
        throw new ProviderError({
          kind: 'transient',
          reason: 'ProviderUnavailable',
          message: `the server echoed ${PLANTED}-2 and ${PLANTED_REFRESH}-3 and ${CLIENT_SECRET} back.`,
        });
      const set = tokenSet(context.clock.now(), HOUR, `${PLANTED}-${round}`);
      return round === 2
        ? { ...set, warnings: [{ reason: 'TokenNeedsHumanRenewal', message: `renew ${PLANTED}-2 soon.` }] }
        : set;
    });
    const first = await h.reconciler.reconcile(h.key);
    h.clock.set(first.requeueAt ?? 0);
    const second = await h.reconciler.reconcile(h.key);
    h.clock.set(second.requeueAt ?? 0);
    await h.reconciler.reconcile(h.key);

    // The scan can fail: the Secrets do hold the tokens, and the failure was reported.
    expect(writer.secrets.map((s) => Buffer.from(s.data?.token ?? '', 'base64').toString())).toEqual([
      `${PLANTED}-1`,
      `${PLANTED}-2`,
    ]);
    expect(writer.events.map((e) => e.reason)).toEqual([
      'Issued',
      'Renewed',
      'TokenNeedsHumanRenewal',
      'ProviderUnavailable',
    ]);
    expect(lines.length).toBeGreaterThan(5);
    const said = await everythingButSecretData(writer, lines, metrics);
    expect(said).toContain('the server echoed');
    for (const value of [PLANTED, PLANTED_REFRESH, CLIENT_SECRET]) expect(said).not.toContain(value);
  });
});
