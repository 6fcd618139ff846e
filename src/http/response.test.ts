import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { createResponse, normalizeHeaders } from './response.ts';

const target = 'POST kc.example/token';

describe('normalizeHeaders', () => {
  it('lower-cases names and joins repeated values', () => {
    expect(
      normalizeHeaders({
        'Content-Type': 'text/plain',
        'set-cookie': ['a=1', 'b=2'],
        Vary: 'x',
        vary: 'y',
        gone: undefined,
      }),
    ).toEqual({
      'content-type': 'text/plain',
      'set-cookie': 'a=1, b=2',
      vary: 'x, y',
    });
  });
});

describe('createResponse', () => {
  it('parses JSON once', () => {
    const response = createResponse({ status: 200, headers: {}, text: '{"a":[1]}' }, target);
    const first = response.json();
    expect(first).toEqual({ a: [1] });
    expect(response.json()).toBe(first);
  });

  it('says what came back when the body is not JSON, without what looks like a token', () => {
    const response = createResponse(
      { status: 502, headers: { 'content-type': 'text/html' }, text: '<h1>Bad Gateway</h1> session=abcdef' },
      target,
    );
    let error: unknown;
    try {
      response.json();
    } catch (caught) {
      error = caught;
    }
    expect(ProviderError.is(error)).toBe(true);
    expect(error).toMatchObject({
      kind: 'transient',
      reason: 'InvalidResponse',
      httpStatus: 502,
      message:
        'POST kc.example/token answered 502 (text/html) with a body that is not JSON: <h1>Bad Gateway</h1> session=[redacted]',
    });
    // V8's SyntaxError quotes the body; it must not ride along as the cause.
    expect((error as Error).cause).toBeUndefined();
  });

  it('names a missing content type and an empty body', () => {
    const response = createResponse({ status: 204, headers: {}, text: '' }, target);
    expect(() => response.json()).toThrow(
      'answered 204 (no content type) with a body that is not JSON: (empty body)',
    );
  });

  it('reads Retry-After relative to now', () => {
    let now = Date.parse('2026-03-01T12:00:00Z');
    const response = createResponse(
      { status: 429, headers: { 'retry-after': 'Sun, 01 Mar 2026 12:01:00 GMT' }, text: '' },
      target,
      () => now,
    );
    expect(response.retryAfterMs()).toBe(60_000);
    now += 45_000;
    expect(response.retryAfterMs()).toBe(15_000);
    expect(createResponse({ status: 429, headers: {}, text: '' }, target).retryAfterMs()).toBeUndefined();
  });
});
