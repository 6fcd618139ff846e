// Table tests for the plan of every Action decide() returns, built from real observations: a consumer
// Secret in the fake caches, a status on the credential, and the token the controller remembers.
import { describe, expect, it } from 'vitest';
import type { ApiCredential, ApiCredentialStatus } from '../api/apicredential.ts';
import { decide, type Action } from '../policy/decide.ts';
import type { TokenSet } from '../providers/types.ts';
import {
  ANNOTATION_CONTENT_DIGEST,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_ISSUED_AT,
  ANNOTATION_ROLLOUT_PENDING,
  consumerSecretBody,
  contentDigest,
} from '../secrets/consumer.ts';
import type { Warning } from './conditions.ts';
import type { ReconcileContext, WrittenToken } from './context.ts';
import type { ExchangeResult } from './exchange.ts';
import {
  CLIENT_SECRET,
  credentialFixture,
  FakeCaches,
  observedContext,
  OPTIONS,
} from './fakes.test-helpers.ts';
import { planAction, resolveAction } from './plan.ts';
import type { PlanEnv } from './plan-shared.ts';
import type { Plan, Write } from './writer.ts';

const NOW = Date.parse('2026-12-03T09:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const TOKEN = 'tok-PLANTED-9f8e7d6c';
const DATA = { token: TOKEN, token_type: 'Bearer', expires_at: '2026-12-03T09:50:00.000Z' };

const SPEC = {
  provider: {
    oauth2: { tokenUrl: 'https://idp.example.com/token', credentialsRef: { name: 'orders-client' } },
  },
  secret: { name: 'orders-token' },
};

interface Scenario {
  /** The consumer Secret: ours with this token, someone else's, or none. */
  secret?:
    | { owner: 'ours'; issuedAt: number; expiresAt: number; edit?: 'value' | 'drop-key' }
    | { owner: 'user' }
    | { owner: 'credential'; name: string };
  status?: ApiCredentialStatus;
  /** The token the controller last wrote, in memory. */
  remember?: boolean;
  spec?: Record<string, unknown>;
}

interface Built {
  context: ReconcileContext;
  action: Action;
  env: PlanEnv;
}

function build(scenario: Scenario, now = NOW): Built {
  const credential = credentialFixture({}, { ...SPEC, ...scenario.spec });
  const caches = new FakeCaches();
  caches.putInput('orders-client', { clientSecret: CLIENT_SECRET });
  const memory = new Map<string, WrittenToken>();
  // The inputs hash does not depend on the consumer Secret: observe once without it to learn it.
  const { hash } = observedContext(credential, now, caches, memory);
  putSecret(caches, credential, hash, scenario.secret);
  if (scenario.remember) memory.set('shop/orders', { data: DATA, digest: contentDigest(DATA) });
  if (scenario.status) credential.status = scenario.status;
  const context = observedContext(credential, now, caches, memory);
  const remembered = memory.get('shop/orders');
  const action = resolveAction(decide(context.observation), context, remembered);
  return {
    context,
    action,
    env: { now, random: () => 0.5, remembered, options: OPTIONS },
  };
}

function putSecret(
  caches: FakeCaches,
  credential: ApiCredential,
  hash: string,
  secret: Scenario['secret'],
): void {
  if (!secret) return;
  if (secret.owner !== 'ours') {
    const ownerReferences =
      secret.owner === 'credential'
        ? [{ apiVersion: 'apicred.dev/v1alpha1', kind: 'ApiCredential', name: secret.name, uid: 'uid-other' }]
        : [];
    caches.wroteSecret({
      metadata: { name: 'orders-token', namespace: 'shop', ownerReferences },
      data: { token: Buffer.from('theirs').toString('base64') },
    });
    return;
  }
  const body = consumerSecretBody(credential, 'orders-token', {
    data: DATA,
    issuedAt: secret.issuedAt,
    expiresAt: secret.expiresAt,
    expirySource: 'expires_in',
    inputsHash: hash,
  });
  const data = { ...body.data };
  if (secret.edit === 'value') data.token = Buffer.from('edited-by-hand').toString('base64');
  if (secret.edit === 'drop-key') delete data.token_type;
  caches.wroteSecret({ ...body, metadata: Object.assign({}, body.metadata, { resourceVersion: '7' }), data });
}

function kinds(writes: Write[]): string[] {
  return writes.map((write) => (write.kind === 'event' ? `event:${write.reason}` : write.kind));
}

function only<K extends Write['kind']>(plan: Plan, kind: K): Extract<Write, { kind: K }> {
  const found = plan.writes.filter((write): write is Extract<Write, { kind: K }> => write.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} write, found ${found.length}`);
  return found[0] as Extract<Write, { kind: K }>;
}

function condition(plan: Plan, type: 'Ready' | 'Stalled') {
  return only(plan, 'status').status.conditions?.find((c) => c.type === type);
}

function decoded(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}

/** A fresh token: issued 10 minutes ago, expires in 50. */
const FRESH = { owner: 'ours', issuedAt: NOW - 10 * MINUTE, expiresAt: NOW + 50 * MINUTE } as const;

/** The status a failing credential carries: Ready=True RenewalFailing, retry at `retryAt`. */
function failingStatus(options: { terminal: boolean; retryAt?: number; hash?: string }): ApiCredentialStatus {
  const time = '2026-12-03T08:00:00Z';
  return {
    consecutiveFailures: 2,
    nextRefreshTime: options.retryAt !== undefined ? new Date(options.retryAt).toISOString() : undefined,
    inputsHash: options.hash,
    expiresAt: '2026-12-03T09:50:00Z',
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'RenewalFailing',
        message: 'renewal failed (InvalidClient): the client was rejected.',
        lastTransitionTime: time,
      },
      options.terminal
        ? {
            type: 'Stalled',
            status: 'True',
            reason: 'InvalidClient',
            message: 'the client was rejected.',
            lastTransitionTime: time,
          }
        : {
            type: 'Stalled',
            status: 'False',
            reason: 'Retrying',
            message: 'retrying with backoff after: ProviderUnavailable',
            lastTransitionTime: time,
          },
    ],
  };
}

describe('wait: the token is fresh', () => {
  it('the first look writes the Ready status; the next writes nothing but the metrics and requeues at renewal', () => {
    const first = build({ secret: FRESH, remember: true });
    expect(first.action.type).toBe('wait');
    const plan = planAction(first.action, first.context, first.env);
    expect(kinds(plan.writes)).toEqual(['status', 'token-metrics']);
    const renewAt = first.context.observation.renewAt ?? 0;
    expect(renewAt).toBeGreaterThan(NOW);
    expect(renewAt).toBeLessThan(NOW + 50 * MINUTE);
    expect(plan.requeueAt).toBe(renewAt);
    expect(condition(plan, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'TokenValid',
      message: `Secret orders-token holds a valid token until 2026-12-03T09:50:00Z; renewal at ${new Date(renewAt).toISOString().replace('.000', '')}.`,
    });

    const again = build({ secret: FRESH, remember: true, status: only(plan, 'status').status }, NOW + MINUTE);
    const quiet = planAction(again.action, again.context, again.env);
    expect(kinds(quiet.writes)).toEqual(['token-metrics']);
    expect(quiet.writes[0]).toEqual({
      kind: 'token-metrics',
      provider: 'oauth2',
      expiresAt: NOW + 50 * MINUTE,
      ready: true,
      failures: 0,
      stalled: false,
    });
    expect(quiet.requeueAt).toBe(renewAt);
  });
});

describe('repair: the Secret was edited, rewritten from memory without a provider call', () => {
  it.each([
    ['a value was edited', 'value'],
    ['a key was deleted', 'drop-key'],
  ] as const)('%s: the remembered token, the same times, and a SecretRepaired Event', (_name, edit) => {
    const { action, context, env } = build({ secret: { ...FRESH, edit }, remember: true });
    expect(action).toEqual({ type: 'repair' });
    const plan = planAction(action, context, env);
    expect(kinds(plan.writes)).toEqual(['secret', 'event:SecretRepaired']);
    const secret = only(plan, 'secret');
    expect(secret.fresh).toBe(false);
    expect(decoded(secret.body.data)).toEqual(DATA);
    expect(secret.body.metadata?.annotations).toMatchObject({
      [ANNOTATION_ISSUED_AT]: '2026-12-03T08:50:00.000Z',
      [ANNOTATION_EXPIRES_AT]: '2026-12-03T09:50:00.000Z',
      [ANNOTATION_CONTENT_DIGEST]: contentDigest(DATA),
    });
    expect(only(plan, 'event')).toEqual({
      kind: 'event',
      type: 'Warning',
      reason: 'SecretRepaired',
      message: 'Secret orders-token was edited or lost keys; the operator restored the current token.',
    });
    expect(plan.requeueAt).toBe(context.observation.renewAt);
  });

  it('without the token in memory (after a restart) an edited Secret is obtained anew (drift)', () => {
    const { action } = build({ secret: { ...FRESH, edit: 'value' }, remember: false });
    expect(action).toEqual({ type: 'obtain', why: 'drift' });
  });

  it('a deleted Secret is not repaired: a new token is obtained (initial)', () => {
    const { action } = build({ remember: true });
    expect(action).toEqual({ type: 'obtain', why: 'initial' });
  });
});

describe('refuse: the Secret belongs to someone else', () => {
  it.each([
    ['a user', { owner: 'user' }, 'no ApiCredential (it was created by someone else)'],
    ['another ApiCredential', { owner: 'credential', name: 'billing' }, 'ApiCredential shop/billing'],
  ] as const)(
    'created by %s: only the status, Ready=False and Stalled=True, no Secret write',
    (_n, secret, owner) => {
      const { action, context, env } = build({ secret });
      expect(action.type).toBe('refuse');
      const plan = planAction(action, context, env);
      expect(kinds(plan.writes)).toEqual(['status']);
      const message =
        `the Secret already exists and belongs to ${owner}; the operator does not overwrite it. ` +
        'Choose another spec.secret.name, delete that Secret, or set spec.secret.takeOver: true to adopt it.';
      expect(condition(plan, 'Ready')).toMatchObject({
        status: 'False',
        reason: 'SecretOwnedByOther',
        message,
      });
      expect(condition(plan, 'Stalled')).toMatchObject({
        status: 'True',
        reason: 'SecretOwnedByOther',
        message,
      });
      expect(plan.requeueAt).toBeUndefined();
    },
  );

  it('spec.secret.takeOver: true adopts it instead (obtain, initial)', () => {
    const { action } = build({
      secret: { owner: 'user' },
      spec: { secret: { name: 'orders-token', takeOver: true } },
    });
    expect(action).toEqual({ type: 'obtain', why: 'initial' });
  });
});

describe('backoff and stalled: the last good token is kept, only the metrics are published', () => {
  it('backoff: renewal is due but the retry time has not come; requeue at the retry time', () => {
    const retryAt = NOW + 5 * MINUTE;
    const dueSoon = { owner: 'ours', issuedAt: NOW - 45 * MINUTE, expiresAt: NOW + 15 * MINUTE } as const;
    const { action, context, env } = build({
      secret: dueSoon,
      status: failingStatus({ terminal: false, retryAt }),
    });
    expect(action).toEqual({ type: 'backoff', until: retryAt });
    const plan = planAction(action, context, env);
    expect(plan.writes).toEqual([
      {
        kind: 'token-metrics',
        provider: 'oauth2',
        expiresAt: NOW + 15 * MINUTE,
        ready: true,
        failures: 2,
        stalled: false,
      },
    ]);
    expect(plan.requeueAt).toBe(retryAt);
  });

  it('stalled: a terminal failure with unchanged inputs; requeue at the token expiry only', () => {
    const built = build({ secret: FRESH });
    const { action, context, env } = build({
      secret: FRESH,
      status: failingStatus({ terminal: true, hash: built.context.hash }),
    });
    expect(action).toEqual({ type: 'stalled', until: NOW + 50 * MINUTE });
    const plan = planAction(action, context, env);
    expect(kinds(plan.writes)).toEqual(['token-metrics']);
    expect(plan.writes[0]).toMatchObject({ ready: true, failures: 2, stalled: true });
    expect(plan.requeueAt).toBe(NOW + 50 * MINUTE);
  });
});

describe('expired: renewal failing and the token ran out', () => {
  const expiredSecret = { owner: 'ours', issuedAt: NOW - HOUR, expiresAt: NOW - MINUTE } as const;

  it('stalled: Ready=False TokenExpired naming the failure, a Warning Event with the same text, no requeue', () => {
    const hash = build({ secret: expiredSecret }).context.hash;
    const { action, context, env } = build({
      secret: expiredSecret,
      status: failingStatus({ terminal: true, hash }),
    });
    expect(action).toEqual({ type: 'expired', expiredAt: NOW - MINUTE, until: undefined });
    const plan = planAction(action, context, env);
    expect(kinds(plan.writes)).toEqual(['status', 'token-metrics', 'event:TokenExpired', 'log']);
    const message =
      'the token in Secret orders-token expired at 2026-12-03T08:59:00Z and was not renewed: ' +
      'InvalidClient: the client was rejected.';
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'TokenExpired', message });
    expect(condition(plan, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidClient' });
    expect(only(plan, 'event')).toEqual({ kind: 'event', type: 'Warning', reason: 'TokenExpired', message });
    expect(only(plan, 'token-metrics')).toMatchObject({
      ready: false,
      expiresAt: NOW - MINUTE,
      stalled: true,
    });
    expect(plan.requeueAt).toBeUndefined();
  });

  it('backing off: the message says when the next attempt is, and the requeue keeps it', () => {
    const retryAt = NOW + 10 * MINUTE;
    const { action, context, env } = build({
      secret: expiredSecret,
      status: failingStatus({ terminal: false, retryAt }),
    });
    expect(action).toEqual({ type: 'expired', expiredAt: NOW - MINUTE, until: retryAt });
    const plan = planAction(action, context, env);
    expect(condition(plan, 'Ready')?.message).toBe(
      'the token in Secret orders-token expired at 2026-12-03T08:59:00Z and was not renewed: ' +
        'retrying with backoff after: ProviderUnavailable. Next attempt at 2026-12-03T09:10:00Z.',
    );
    expect(condition(plan, 'Stalled')).toMatchObject({ status: 'False', reason: 'Retrying' });
    expect(plan.requeueAt).toBe(retryAt);
  });

  it('once reported, the Event is not repeated', () => {
    const hash = build({ secret: expiredSecret }).context.hash;
    const { action, context, env } = build({
      secret: expiredSecret,
      status: failingStatus({ terminal: true, hash }),
    });
    const status = only(planAction(action, context, env), 'status').status;
    // The status now says Ready=False; decide() no longer returns expired, only stalled.
    const later = build({ secret: expiredSecret, status }, NOW + MINUTE);
    expect(later.action).toEqual({ type: 'stalled', until: undefined });
    const plan = planAction(later.action, later.context, later.env);
    expect(kinds(plan.writes)).toEqual(['token-metrics']);
    expect(plan.writes[0]).toMatchObject({ ready: false });
    // And planned for expired once more (a requeue racing the status write): no second Event or log.
    const replanned = planAction(action, later.context, later.env);
    expect(kinds(replanned.writes)).toEqual(['token-metrics']);
  });
});

function tokenExchange(tokenSet: TokenSet, warnings: Warning[] = []): ExchangeResult {
  return { type: 'token', tokenSet, warnings, startedAt: NOW, finishedAt: NOW + 1_500 };
}

const NEW_DATA = {
  token: 'tok-NEW-PLANTED-1a2b',
  token_type: 'Bearer',
  expires_at: '2026-12-03T10:00:01.500Z',
};
const NEW_TOKEN: TokenSet = {
  data: NEW_DATA,
  issuedAt: NOW + 1_500,
  expiresAt: NOW + 1_500 + HOUR,
  expirySource: 'expires_in',
};

describe('obtain: the writes after a new token', () => {
  it('initial: the SSA Secret, memory, Ready status, metrics, the Issued Event, in that order', () => {
    const { action, context, env } = build({});
    expect(action).toEqual({ type: 'obtain', why: 'initial' });
    const plan = planAction(action, context, { ...env, now: NOW + 1_500 }, tokenExchange(NEW_TOKEN));
    expect(kinds(plan.writes)).toEqual([
      'secret',
      'remember',
      'status',
      'renewal-metrics',
      'log',
      'token-metrics',
      'event:Issued',
      'log',
    ]);
    const secret = only(plan, 'secret');
    expect(secret.fresh).toBe(true);
    expect(secret.body.metadata).toMatchObject({
      name: 'orders-token',
      namespace: 'shop',
      ownerReferences: [
        expect.objectContaining({ kind: 'ApiCredential', name: 'orders', uid: 'uid-orders' }),
      ],
    });
    expect(decoded(secret.body.data)).toEqual(NEW_DATA);
    expect(only(plan, 'remember')).toEqual({ kind: 'remember', data: NEW_DATA });

    const renewAt = plan.requeueAt ?? 0;
    const renewIso = new Date(renewAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = only(plan, 'status').status;
    expect(status).toMatchObject({
      provider: 'oauth2',
      secretName: 'orders-token',
      issuedAt: '2026-12-03T09:00:01Z',
      expiresAt: '2026-12-03T10:00:01Z',
      nextRefreshTime: renewIso,
      consecutiveFailures: 0,
      inputsHash: context.hash,
    });
    expect(condition(plan, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'TokenValid',
      message: `Secret orders-token holds a valid token until 2026-12-03T10:00:01Z; renewal at ${renewIso}.`,
    });
    expect(condition(plan, 'Stalled')).toMatchObject({ status: 'False', reason: 'Progressing' });
    expect(only(plan, 'event')).toEqual({
      kind: 'event',
      type: 'Normal',
      reason: 'Issued',
      message: `Issued a token from oauth2 into Secret orders-token (initial); it expires at 2026-12-03T10:00:01Z (in 1h); next renewal at ${renewIso}.`,
    });
    expect(only(plan, 'renewal-metrics')).toEqual({
      kind: 'renewal-metrics',
      provider: 'oauth2',
      result: 'success',
      seconds: 1.5,
    });
    expect(only(plan, 'token-metrics')).toEqual({
      kind: 'token-metrics',
      provider: 'oauth2',
      expiresAt: NEW_TOKEN.expiresAt,
      ready: true,
      failures: 0,
      stalled: false,
    });
    expect(renewAt).toBeGreaterThan(NOW + 1_500);
    expect(renewAt).toBeLessThan(NEW_TOKEN.expiresAt);
    // Nothing to restart without rollout targets.
    expect(plan.rolloutPending).toBeUndefined();
    expect(secret.body.metadata?.annotations?.[ANNOTATION_ROLLOUT_PENDING]).toBeUndefined();
  });

  it('renewal with rollout targets: Renewed, and the Secret carries the pending-restart marker', () => {
    const due = { owner: 'ours', issuedAt: NOW - 50 * MINUTE, expiresAt: NOW + 10 * MINUTE } as const;
    const { action, context, env } = build({
      secret: due,
      remember: true,
      spec: { rolloutRestartTargets: [{ kind: 'Deployment', name: 'orders-api' }] },
    });
    expect(action).toEqual({ type: 'obtain', why: 'renewal-due' });
    const plan = planAction(action, context, { ...env, now: NOW + 1_500 }, tokenExchange(NEW_TOKEN));
    expect(plan.rolloutPending).toBe(NOW + 1_500);
    expect(only(plan, 'secret').body.metadata?.annotations?.[ANNOTATION_ROLLOUT_PENDING]).toBe(
      '2026-12-03T09:00:01.500Z',
    );
    expect(only(plan, 'event')).toMatchObject({ type: 'Normal', reason: 'Renewed' });
    expect(only(plan, 'event').message).toMatch(
      /^Renewed a token from oauth2 into Secret orders-token \(renewal-due\); it expires at 2026-12-03T10:00:01Z \(in 1h\)/,
    );
  });

  it('the same token again (a check that changed nothing): no Event, no restart marker', () => {
    const due = { owner: 'ours', issuedAt: NOW - 50 * MINUTE, expiresAt: NOW + 10 * MINUTE } as const;
    const { action, context, env } = build({
      secret: due,
      remember: true,
      spec: { rolloutRestartTargets: [{ kind: 'Deployment', name: 'orders-api' }] },
    });
    const same: TokenSet = { ...NEW_TOKEN, data: DATA };
    const plan = planAction(action, context, env, tokenExchange(same));
    expect(kinds(plan.writes).filter((k) => k.startsWith('event:'))).toEqual([]);
    expect(plan.rolloutPending).toBeUndefined();
  });

  it('a provider warning: Ready=True with its reason, a Warning Event, logged; not announced twice', () => {
    const warning = { reason: 'TokenNeedsHumanRenewal', message: 'paste a new session token by Friday.' };
    const { action, context, env } = build({});
    const plan = planAction(action, context, env, tokenExchange(NEW_TOKEN, [warning]));
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'True', ...warning });
    expect(kinds(plan.writes).filter((k) => k.startsWith('event:'))).toEqual([
      'event:Issued',
      'event:TokenNeedsHumanRenewal',
    ]);
    expect(plan.writes).toContainEqual(
      expect.objectContaining({ kind: 'log', level: 'warn', message: warning.message }),
    );

    const later = build({ status: only(plan, 'status').status });
    const again = planAction(later.action, later.context, later.env, tokenExchange(NEW_TOKEN, [warning]));
    expect(kinds(again.writes)).not.toContain('event:TokenNeedsHumanRenewal');
  });

  it('obtain without the exchange result is a programming error', () => {
    const { action, context, env } = build({});
    expect(() => planAction(action, context, env)).toThrow('planAction: obtain needs the exchange result');
  });
});

describe('obtain: the writes after a failed exchange', () => {
  it('a state conflict (another writer): only the failure metric, look again at once, no status', () => {
    const { action, context, env } = build({});
    const plan = planAction(action, context, env, {
      type: 'conflict',
      startedAt: NOW,
      finishedAt: NOW + 200,
    });
    expect(plan.writes).toEqual([
      { kind: 'renewal-metrics', provider: 'oauth2', result: 'failure', seconds: 0.2 },
    ]);
    expect(plan.requeueAt).toBe(NOW + 200);
  });

  it('throttled (the provider host’s line was full): no write at all, back when the line has moved', () => {
    const { action, context, env } = build({});
    const plan = planAction(action, context, env, {
      type: 'throttled',
      retryAt: NOW + 4_000,
      startedAt: NOW,
      finishedAt: NOW,
    });
    expect(plan.writes).toEqual([]);
    expect(plan.requeueAt).toBe(NOW + 4_000);
  });

  it('a failure: the failure metrics first, then the failure plan with its Warning Event', () => {
    const { action, context, env } = build({});
    const failure = {
      kind: 'transient',
      reason: 'ProviderUnavailable',
      message: 'the token endpoint answered HTTP 503.',
      currentTokenInvalid: false,
    } as const;
    const plan = planAction(action, context, env, {
      type: 'failure',
      failure,
      startedAt: NOW,
      finishedAt: NOW,
    });
    expect(kinds(plan.writes)).toEqual([
      'renewal-metrics',
      'failure-metric',
      'log',
      'log',
      'status',
      'event:ProviderUnavailable',
      'token-metrics',
    ]);
    expect(plan.writes[0]).toMatchObject({ result: 'failure' });
    expect(only(plan, 'failure-metric')).toEqual({
      kind: 'failure-metric',
      provider: 'oauth2',
      reason: 'ProviderUnavailable',
    });
    expect(only(plan, 'event').message).toMatch(
      /^the token endpoint answered HTTP 503\. Next attempt at 2026-12-03T09:\d\d:\d\dZ\.$/,
    );
    expect(only(plan, 'status').status).toMatchObject({
      consecutiveFailures: 1,
      lastFailureTime: '2026-12-03T09:00:00Z',
    });
  });
});

describe('obtain: a device grant awaiting a person', () => {
  const approval = {
    reason: 'AwaitingUserApproval',
    message:
      'Approve the login at https://idp.example.com/device?user_code=WXYZ-ABCD before 2026-12-03T09:10:00Z.',
    request: {
      verificationUri: 'https://idp.example.com/device',
      verificationUriComplete: 'https://idp.example.com/device?user_code=WXYZ-ABCD',
      userCode: 'WXYZ-ABCD',
      expiresAt: NOW + 10 * MINUTE,
    },
    pollAt: NOW + 6_000,
  };
  const awaiting = { type: 'awaiting', approval, startedAt: NOW, finishedAt: NOW } as const;

  it('a new code: Ready=False AwaitingUserApproval, the page in status.userApproval, one Warning Event, no failure counted', () => {
    const { action, context, env } = build({});
    const plan = planAction(action, context, env, awaiting);
    expect(kinds(plan.writes)).toEqual(['status', 'log', 'event:AwaitingUserApproval', 'token-metrics']);
    expect(condition(plan, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'AwaitingUserApproval',
      message: approval.message,
    });
    expect(condition(plan, 'Stalled')).toMatchObject({ status: 'False', reason: 'AwaitingUserApproval' });
    const status = only(plan, 'status').status;
    expect(status).toMatchObject({
      userApproval: {
        url: 'https://idp.example.com/device?user_code=WXYZ-ABCD',
        verificationUri: 'https://idp.example.com/device',
        userCode: 'WXYZ-ABCD',
        expiresAt: '2026-12-03T09:10:00Z',
      },
      nextRefreshTime: '2026-12-03T09:00:06Z',
      consecutiveFailures: 0,
    });
    expect(only(plan, 'event')).toMatchObject({ type: 'Warning', message: approval.message });
    expect(only(plan, 'token-metrics')).toMatchObject({ ready: false, failures: 0, stalled: false });
    expect(plan.requeueAt).toBe(NOW + 6_000);
  });

  it('the same code still pending: no Event again; decide waits for the poll time, then obtains', () => {
    const first = build({});
    const status = only(planAction(first.action, first.context, first.env, awaiting), 'status').status;
    const waiting = build({ status }, NOW + 2_000);
    expect(waiting.action).toEqual({ type: 'backoff', until: NOW + 6_000 });
    const due = build({ status }, NOW + 6_000);
    expect(due.action).toMatchObject({ type: 'obtain' });
    const plan = planAction(due.action, due.context, due.env, {
      ...awaiting,
      approval: { ...approval, pollAt: NOW + 12_000 },
    });
    expect(kinds(plan.writes)).toEqual(['status', 'log', 'token-metrics']);
    expect(plan.requeueAt).toBe(NOW + 12_000);
  });

  it('a chain that ended while its last token is valid: Ready stays True, says so, and wakes at the expiry too', () => {
    const { action, context, env } = build({
      secret: { owner: 'ours', issuedAt: NOW - 50 * MINUTE, expiresAt: NOW + 3_000 },
    });
    const plan = planAction(action, context, env, {
      ...awaiting,
      approval: { ...approval, reason: 'HumanActionRequired' },
    });
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'True', reason: 'AwaitingUserApproval' });
    expect(condition(plan, 'Ready')?.message).toContain(
      'The current token stays valid until 2026-12-03T09:00:03Z.',
    );
    expect(condition(plan, 'Stalled')).toMatchObject({ status: 'False', reason: 'HumanActionRequired' });
    expect(only(plan, 'event').reason).toBe('HumanActionRequired');
    expect(plan.requeueAt).toBe(NOW + 3_000);
  });

  it('the approval: the Ready status drops userApproval', () => {
    const first = build({});
    const status = only(planAction(first.action, first.context, first.env, awaiting), 'status').status;
    const due = build({ status }, NOW + 6_000);
    const plan = planAction(due.action, due.context, due.env, {
      type: 'token',
      tokenSet: { data: DATA, issuedAt: NOW + 6_000, expiresAt: NOW + HOUR, expirySource: 'expires_in' },
      warnings: [],
      startedAt: NOW + 6_000,
      finishedAt: NOW + 6_000,
    });
    expect(only(plan, 'status').status.userApproval).toBeUndefined();
    expect(condition(plan, 'Ready')?.reason).toBe('TokenValid');
  });
});
