// Table tests for the pure plan: what each rejection, deletion and failure class writes, in order.
import { describe, expect, it } from 'vitest';
import { FINALIZER, type ApiCredential } from '../api/apicredential.ts';
import type { ReconcileContext } from './context.ts';
import type { ClassifiedFailure } from './exchange.ts';
import { CLIENT_SECRET, credentialFixture, FakeCaches, observedContext } from './fakes.test-helpers.ts';
import { planFinalizer, planRejection, planRelease } from './plan.ts';
import { planFailure } from './plan-exchange.ts';
import type { Write } from './writer.ts';

const NOW = Date.parse('2026-12-03T09:00:00Z');
const HOUR = 3_600_000;

function kinds(writes: Write[]): string[] {
  return writes.map((write) => (write.kind === 'event' ? `event:${write.reason}` : write.kind));
}

function condition(writes: Write[], type: string) {
  const status = writes.find((write) => write.kind === 'status');
  if (status?.kind !== 'status') throw new Error('no status write');
  return status.status.conditions?.find((c) => c.type === type);
}

function contextFor(credential: ApiCredential): ReconcileContext {
  const caches = new FakeCaches();
  caches.putInput('orders-client', { clientId: 'orders', clientSecret: CLIENT_SECRET });
  return observedContext(credential, NOW, caches);
}

describe('planRejection', () => {
  it.each([
    ['InvalidSpec', 'spec.secret.name: too long. Fix the ApiCredential spec.'],
    ['UnsupportedProvider', 'spec.provider names a provider this operator version does not support (x).'],
  ] as const)('%s: Ready=False and Stalled=True with the message, no requeue', (reason, message) => {
    const plan = planRejection(credentialFixture(), { reason, message }, NOW);
    expect(kinds(plan.writes)).toEqual(['status']);
    expect(condition(plan.writes, 'Ready')).toMatchObject({ status: 'False', reason, message });
    expect(condition(plan.writes, 'Stalled')).toMatchObject({ status: 'True', reason, message });
    expect(plan.requeueAt).toBeUndefined();
  });

  it('MissingInput also publishes the token metrics and wakes at the recorded expiry', () => {
    const credential = credentialFixture();
    const context = contextFor(credential);
    const expiresAt = NOW + HOUR;
    credential.status = { expiresAt: new Date(expiresAt).toISOString(), consecutiveFailures: 2 };
    const plan = planRejection(
      credential,
      {
        reason: 'MissingInput',
        message: 'Secret shop/orders-client is missing.',
        selected: context.selected,
      },
      NOW,
    );
    expect(kinds(plan.writes)).toEqual(['status', 'token-metrics']);
    expect(plan.writes[1]).toEqual({
      kind: 'token-metrics',
      provider: 'oauth2',
      ready: false,
      failures: 2,
      stalled: true,
    });
    expect(plan.requeueAt).toBe(expiresAt);
  });

  it('writes nothing when the status already says the same', () => {
    const credential = credentialFixture();
    const first = planRejection(credential, { reason: 'InvalidSpec', message: 'bad' }, NOW);
    const status = first.writes[0];
    if (status?.kind !== 'status') throw new Error('no status write');
    credential.status = status.status;
    expect(planRejection(credential, { reason: 'InvalidSpec', message: 'bad' }, NOW + 1_000).writes).toEqual(
      [],
    );
  });
});

describe('planFinalizer and planRelease', () => {
  it('adds ours after the others and removes only ours', () => {
    const credential = credentialFixture({ finalizers: ['example.com/keep'] });
    expect(planFinalizer(credential, true)).toEqual({
      kind: 'finalizers',
      finalizers: ['example.com/keep', FINALIZER],
    });
    credential.metadata.finalizers = ['example.com/keep', FINALIZER];
    expect(planFinalizer(credential, false)).toEqual({
      kind: 'finalizers',
      finalizers: ['example.com/keep'],
    });
  });

  it.each([
    [undefined, []],
    [{ type: 'released' }, ['event:Revoked']],
    [{ type: 'unsupported' }, ['event:RevocationUnsupported']],
    [{ type: 'failed', message: 'HTTP 503' }, ['event:RevocationFailed']],
  ] as const)('release %o: %o, then the finalizer goes', (result, events) => {
    const writes = planRelease(credentialFixture({ finalizers: [FINALIZER] }), result);
    expect(kinds(writes)).toEqual([...events, 'finalizers']);
    expect(writes.at(-1)).toEqual({ kind: 'finalizers', finalizers: [] });
  });

  it('a failed release says what failed and that deletion goes on', () => {
    const [event] = planRelease(credentialFixture(), { type: 'failed', message: 'HTTP 503 from the IdP' });
    expect(event).toEqual({
      kind: 'event',
      type: 'Warning',
      reason: 'RevocationFailed',
      message: 'revocation at deletion failed, deleting anyway: HTTP 503 from the IdP',
    });
  });
});

describe('planFailure: each failure class', () => {
  const failure = (
    kind: ClassifiedFailure['kind'],
    extra: Partial<ClassifiedFailure> = {},
  ): ClassifiedFailure => ({
    kind,
    reason: kind === 'terminal' ? 'InvalidClient' : 'ProviderUnavailable',
    message: 'the provider said no.',
    currentTokenInvalid: false,
    ...extra,
  });
  const ORDER = ['failure-metric', 'log', 'log', 'status', 'event:', 'token-metrics'];

  it.each(['transient', 'rate-limited'] as const)(
    '%s: a retry is planned, Stalled=False Retrying',
    (kind) => {
      const plan = planFailure(contextFor(credentialFixture()), failure(kind), NOW, () => 0.5);
      expect(kinds(plan.writes).map((k) => (k.startsWith('event:') ? 'event:' : k))).toEqual(ORDER);
      expect(plan.requeueAt).toBeGreaterThan(NOW);
      expect(condition(plan.writes, 'Ready')).toMatchObject({
        status: 'False',
        reason: 'ProviderUnavailable',
      });
      expect(condition(plan.writes, 'Stalled')).toMatchObject({ status: 'False', reason: 'Retrying' });
      expect(condition(plan.writes, 'Ready')?.message).toMatch(
        /^the provider said no\. Next attempt at \d{4}-/,
      );
      // Still retrying by itself: the stalled gauge (and its alert) stays quiet.
      expect(plan.writes.at(-1)).toMatchObject({ kind: 'token-metrics', stalled: false });
    },
  );

  it('terminal: no retry, Stalled=True, the message says what unblocks it', () => {
    const plan = planFailure(contextFor(credentialFixture()), failure('terminal'), NOW, () => 0.5);
    expect(plan.requeueAt).toBeUndefined();
    expect(condition(plan.writes, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidClient' });
    expect(condition(plan.writes, 'Ready')?.message).toBe(
      'the provider said no. Retrying stops until the spec or a referenced Secret changes.',
    );
    const event = plan.writes.find((write) => write.kind === 'event');
    expect(event).toMatchObject({ type: 'Warning', reason: 'InvalidClient' });
    // ApiCredentialRenewalStalled fires on this gauge, before the token expires.
    expect(plan.writes.at(-1)).toMatchObject({ kind: 'token-metrics', stalled: true });
  });

  it('a Retry-After longer than the token has left: wakes at expiry first', () => {
    const context = { ...contextFor(credentialFixture()), expiresAt: NOW + 60_000 };
    const plan = planFailure(context, failure('rate-limited', { retryAfterMs: HOUR }), NOW, () => 0.5);
    expect(plan.requeueAt).toBe(NOW + 60_000);
    expect(condition(plan.writes, 'Ready')).toMatchObject({ status: 'True', reason: 'RenewalFailing' });
  });

  it('a token the provider says is no longer valid: Ready=False at once', () => {
    const context = { ...contextFor(credentialFixture()), expiresAt: NOW + HOUR };
    const plan = planFailure(context, failure('transient', { currentTokenInvalid: true }), NOW, () => 0.5);
    expect(condition(plan.writes, 'Ready')).toMatchObject({ status: 'False', reason: 'ProviderUnavailable' });
    expect(plan.writes.at(-1)).toMatchObject({ kind: 'token-metrics', ready: false, failures: 1 });
  });
});
