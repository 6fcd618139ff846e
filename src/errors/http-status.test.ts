import { describe, expect, it } from 'vitest';
import { ProviderError } from './failure.ts';
import { statusError, type StatusAnswer } from './http-status.ts';

const answer = (status: number, retryAfterMs?: number): StatusAnswer => ({
  status,
  what: 'idp.example/token',
  said: 'nope',
  retryAfterMs: () => retryAfterMs,
});
const rules = { notFoundAdvice: 'Check the URL.' };

describe('statusError', () => {
  it.each([
    [
      429,
      'rate-limited',
      'RateLimited',
      "idp.example/token answered 429 Too Many Requests (nope); retrying after the server's delay.",
    ],
    [
      500,
      'transient',
      'ProviderServerError',
      'idp.example/token answered 500 (nope); retrying with backoff.',
    ],
    [
      503,
      'transient',
      'ProviderServerError',
      'idp.example/token answered 503 (nope); retrying with backoff.',
    ],
    [404, 'terminal', 'EndpointNotFound', 'idp.example/token answered 404 (nope). Check the URL.'],
    [400, 'terminal', 'UnexpectedResponse', 'idp.example/token answered 400 (nope).'],
    [302, 'transient', 'UnexpectedResponse', 'idp.example/token answered 302 (nope).'],
  ] as const)('%i is %s %s', (status, kind, reason, message) => {
    expect(statusError(answer(status), rules)).toMatchObject({ kind, reason, message, httpStatus: status });
  });

  it('keeps the server delay on 429 and 5xx, and passes it to a custom 429 message', () => {
    const limited = statusError(answer(429, 3000), {
      ...rules,
      rateLimitedMessage: (_a, ms) => `wait ${ms} ms`,
    });
    expect(limited).toMatchObject({ retryAfterMs: 3000, message: 'wait 3000 ms' });
    expect(statusError(answer(502, 1000), rules).retryAfterMs).toBe(1000);
  });

  it('asks the provider rules after 429 and 5xx, before 404 and the fallback', () => {
    const own = new ProviderError({ kind: 'terminal', reason: 'Own', message: 'own' });
    const specific = (a: StatusAnswer): ProviderError | undefined => (a.status === 500 ? undefined : own);
    expect(statusError(answer(404), { ...rules, specific })).toBe(own);
    expect(statusError(answer(429), { ...rules, specific }).reason).toBe('RateLimited');
    expect(statusError(answer(500), { ...rules, specific }).reason).toBe('ProviderServerError');
  });

  it('treats the extra transient statuses as server trouble, and keeps advice and the provider code on the fallback', () => {
    expect(statusError(answer(408), { ...rules, transient: [408] }).reason).toBe('ProviderServerError');
    expect(
      statusError(answer(409), { ...rules, unexpectedAdvice: 'Check X.', providerCode: 'Conflict' }),
    ).toMatchObject({
      kind: 'terminal',
      message: 'idp.example/token answered 409 (nope). Check X.',
      providerCode: 'Conflict',
    });
  });
});
