import { describe, expect, it } from 'vitest';
import { ProviderError, withMessage } from './failure.ts';

const original = new ProviderError({
  kind: 'rate-limited',
  reason: 'RateLimited',
  message: 'slow down',
  httpStatus: 429,
  providerCode: 'too_many',
  retryAfterMs: 5000,
  currentTokenInvalid: true,
});

describe('withMessage', () => {
  it('keeps every detail and replaces the message', () => {
    const copy = withMessage(original, 'tenant a: slow down');
    expect(ProviderError.is(copy)).toBe(true);
    expect(copy).toMatchObject({
      kind: 'rate-limited',
      reason: 'RateLimited',
      message: 'tenant a: slow down',
      httpStatus: 429,
      providerCode: 'too_many',
      retryAfterMs: 5000,
      outcomeUnknown: false,
      currentTokenInvalid: true,
    });
    expect(copy.cause).toBeUndefined();
  });

  it('applies the changes a caller knows better, and the cause when given', () => {
    const copy = withMessage(
      original,
      'maybe used',
      { kind: 'transient', outcomeUnknown: true },
      { cause: original },
    );
    expect(copy).toMatchObject({
      kind: 'transient',
      outcomeUnknown: true,
      reason: 'RateLimited',
      message: 'maybe used',
    });
    expect(copy.cause).toBe(original);
  });
});
