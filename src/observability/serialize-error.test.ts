import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { safeErrorMessage, serializeError } from './serialize-error.ts';

const BEARER = 'Bearer sa-token-zzzzzzzzzzzzzzzzzzzz';

function apiException(code: number, body: unknown): ApiException<unknown> {
  return new ApiException(code, 'Unknown API Status Code!', body, {
    authorization: BEARER,
    'set-cookie': 'session=cookie-value-123',
  });
}

describe('serializeError', () => {
  it("keeps a ProviderError's fields and stack frames", () => {
    const error = new ProviderError({
      kind: 'rate-limited',
      reason: 'RateLimited',
      message: 'the provider answered 429',
      httpStatus: 429,
      providerCode: 'slow_down',
      retryAfterMs: 30_000,
      outcomeUnknown: false,
    });
    const serialized = serializeError(error);
    expect(serialized).toMatchObject({
      name: 'ProviderError',
      message: 'the provider answered 429',
      kind: 'rate-limited',
      reason: 'RateLimited',
      httpStatus: 429,
      providerCode: 'slow_down',
      retryAfterMs: 30_000,
      outcomeUnknown: false,
    });
    expect(serialized.stack).toMatch(/^ProviderError: the provider answered 429\n\s+at /);
  });

  it('reduces a client-node ApiException to its code and the Status message', () => {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: 'secrets "orders-token" already exists',
      reason: 'AlreadyExists',
      code: 409,
    };
    const serialized = serializeError(apiException(409, JSON.stringify(status)));
    expect(serialized).toMatchObject({
      name: 'ApiException',
      message: 'HTTP 409: secrets "orders-token" already exists',
      code: 409,
      reason: 'AlreadyExists',
    });
    const json = JSON.stringify(serialized);
    expect(json).not.toContain('sa-token');
    expect(json).not.toContain('cookie-value');
    expect(json).not.toContain('Headers:');
    expect(Object.keys(serialized)).not.toContain('body');
    expect(Object.keys(serialized)).not.toContain('headers');
    // Parsed Status objects (typed responses) are read the same way.
    expect(serializeError(apiException(404, status)).message).toBe(
      'HTTP 404: secrets "orders-token" already exists',
    );
  });

  it('logs only the code when an ApiException body is not a Status', () => {
    const body = JSON.stringify({ access_token: 'leaked-token-value', token_type: 'Bearer' });
    const serialized = serializeError(apiException(500, body));
    expect(serialized.message).toBe('HTTP 500');
    expect(JSON.stringify(serialized)).not.toContain('leaked-token-value');
    expect(serializeError(apiException(502, '<html>bad gateway</html>')).message).toBe('HTTP 502');
  });

  it('drops response bodies, headers and requests that HTTP client errors carry', () => {
    const error = Object.assign(new Error('Response status code 401: Unauthorized'), {
      code: 'UND_ERR_RESPONSE_STATUS_CODE',
      statusCode: 401,
      body: { refresh_token: 'rt-value-123456' },
      headers: { 'www-authenticate': 'Bearer realm=x' },
      request: { headers: { authorization: BEARER } },
      config: { data: 'client_secret=cs-value-123456' },
    });
    const serialized = serializeError(error);
    expect(serialized).toMatchObject({ code: 'UND_ERR_RESPONSE_STATUS_CODE', statusCode: 401 });
    const json = JSON.stringify(serialized);
    for (const leaked of ['rt-value', 'sa-token', 'cs-value', 'realm']) expect(json).not.toContain(leaked);
  });

  it('serializes causes safely and bounds the chain', () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
      address: '10.0.0.1',
      port: 443,
    });
    const wrapped = new ProviderError(
      { kind: 'transient', reason: 'ProviderUnreachable', message: 'cannot reach the provider' },
      { cause: new TypeError('fetch failed', { cause: root }) },
    );
    const serialized = serializeError(wrapped);
    expect(serialized.cause).toMatchObject({
      name: 'TypeError',
      message: 'fetch failed',
      cause: { code: 'ECONNREFUSED', syscall: 'connect', address: '10.0.0.1', port: 443 },
    });

    const withBodyCause = new Error('request failed', { cause: { body: 'secret-body-content' } });
    expect(serializeError(withBodyCause).cause).toBe('[non-Error cause: object]');

    let deep: Error = new Error('level 0');
    for (let i = 1; i < 10; i++) deep = new Error(`level ${i}`, { cause: deep });
    expect(JSON.stringify(serializeError(deep))).toContain('[cause chain truncated]');
    expect(JSON.stringify(serializeError(deep))).not.toContain('level 0');
  });

  it('serializes the errors of an AggregateError', () => {
    const serialized = serializeError(
      new AggregateError([new Error('a'), apiException(403, '{}')], 'both failed'),
    );
    expect(serialized.errors?.map((e) => e.message)).toEqual(['a', 'HTTP 403']);
  });
});

describe('safeErrorMessage', () => {
  it('is one bounded line without ApiException bodies or headers', () => {
    expect(safeErrorMessage(apiException(403, '{"kind":"Status","message":"forbidden: no"}'))).toBe(
      'HTTP 403: forbidden: no',
    );
    expect(safeErrorMessage(new Error('two\nlines'))).toBe('two lines');
    expect(safeErrorMessage('x'.repeat(5000)).length).toBeLessThanOrEqual(1001);
    expect(safeErrorMessage({ token: 'abc' })).toBe('non-Error thrown (object)');
  });
});
