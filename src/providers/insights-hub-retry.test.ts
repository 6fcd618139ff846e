import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import {
  failureCountsOf,
  parseFailureCounts,
  planTenantRetries,
  serializeFailureCounts,
  tenantMessage,
  withoutTokenWarning,
} from './insights-hub-retry.ts';

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
const transient = new ProviderError({
  kind: 'transient',
  reason: 'ProviderServerError',
  message: 'tenant a: https://gw/oauthTokens answered 503 (busy); retrying with backoff.',
});
const terminal = new ProviderError({
  kind: 'terminal',
  reason: 'TenantNotProvisioned',
  message: 'tenant c: not provisioned.',
});

describe('tenant retries', () => {
  it('reads only positive integer counts and starts over on anything else', () => {
    expect(parseFailureCounts('{"a":2,"b":0,"c":"3","d":1.5}')).toEqual({ a: 2 });
    expect(parseFailureCounts('not json')).toEqual({});
    expect(parseFailureCounts('[1]')).toEqual({});
    expect(serializeFailureCounts({})).toBeUndefined();
    expect(serializeFailureCounts({ b: 1, a: 3 })).toBe('{"a":3,"b":1}');
  });

  it('backs off per tenant, honours Retry-After as a floor and schedules nothing for a terminal failure', () => {
    const limited = new ProviderError({
      kind: 'rate-limited',
      reason: 'RateLimited',
      retryAfterMs: 90_000,
      message: 'x',
    });
    const retries = planTenantRetries(
      [
        { tenant: 'a', error: transient },
        { tenant: 'b', error: limited },
        { tenant: 'c', error: terminal },
      ],
      { a: 3 },
      NOW,
      () => 0.5,
    );
    // Fourth failure in a row: half of min(5 min, 5 s * 2^3) = 20 s.
    expect(retries).toEqual([
      { tenant: 'a', failures: 4, at: NOW + 20_000 },
      { tenant: 'b', failures: 1, at: NOW + 90_000 },
      { tenant: 'c', failures: 1 },
    ]);
    expect(failureCountsOf(retries)).toEqual({ a: 4, b: 1 });
  });

  it('replaces the call’s retry promise with the tenant’s own next attempt', () => {
    const message = tenantMessage(transient, { tenant: 'a', failures: 2, at: NOW + 5_000 });
    expect(message).toBe(
      'tenant a: https://gw/oauthTokens answered 503 (busy). It has no token in the Secret. ' +
        'Next attempt at 2026-12-02T12:00:05.000Z (failure 2 in a row).',
    );
    expect(tenantMessage(terminal, { tenant: 'c', failures: 1 }, NOW + 600_000)).toBe(
      'tenant c: not provisioned. Its previous token stays in the Secret until 2026-12-02T12:10:00.000Z. ' +
        'It is not retried on a backoff of its own: fix the cause; the next round tries it again.',
    );
  });

  it('a warning names the tenants without a token and says which are retried when', () => {
    expect(withoutTokenWarning([], 3)).toBeUndefined();
    const mixed = withoutTokenWarning(
      [
        { tenant: 'a', reason: 'ProviderServerError', retryAt: NOW + 5_000 },
        { tenant: 'c', reason: 'TenantNotProvisioned' },
      ],
      22,
    );
    expect(mixed).toEqual({
      reason: 'TenantsWithoutToken',
      message:
        '2 of 22 tenants have no token in the Secret: a (ProviderServerError), c (TenantNotProvisioned). ' +
        'The operator tries them again at 2026-12-02T12:00:05.000Z (backoff); 1 of them need their cause fixed first. ' +
        'See status.tenants.failing for what the service said.',
    });
    const many = withoutTokenWarning(
      Array.from({ length: 12 }, (_, i) => ({ tenant: `t${i}`, reason: 'RateLimited', retryAt: NOW })),
      22,
    );
    expect(many?.message).toContain('t9 (RateLimited) and 2 more.');
  });
});
