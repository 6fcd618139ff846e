import { describe, expect, it } from 'vitest';
import type { ExpiryError } from '../policy/expiry.ts';
import { expiryError, issuedTokenSet } from './token-set.ts';

const KEYS = { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' };
const START = Date.parse('2026-12-03T10:00:00Z');
const HOUR = 3_600_000;

const failed = (reason: ExpiryError['reason']): ExpiryError => ({ reason, message: `the ${reason} text.` });

describe('expiryError', () => {
  it('a token dead on arrival is transient and keeps its reason; the rest are terminal UnknownExpiry', () => {
    expect(expiryError(failed('ExpiredOnArrival'), { what: 'idp/token' })).toMatchObject({
      kind: 'transient',
      reason: 'ExpiredOnArrival',
      message: 'idp/token: the ExpiredOnArrival text.',
    });
    for (const reason of [
      'NoExpiry',
      'InvalidAssumedLifetime',
      'InvalidTimestamp',
      'InvalidExpiresIn',
    ] as const) {
      expect(expiryError(failed(reason), { what: 'idp/token' })).toMatchObject({
        kind: 'terminal',
        reason: 'UnknownExpiry',
        message: `idp/token: the ${reason} text.`,
      });
    }
  });

  it('keeps InvalidExpiresIn only when asked', () => {
    const wording = { what: 'idp/token', keepInvalidExpiresIn: true };
    expect(expiryError(failed('InvalidExpiresIn'), wording)).toMatchObject({
      kind: 'terminal',
      reason: 'InvalidExpiresIn',
    });
    expect(expiryError(failed('NoExpiry'), wording).reason).toBe('UnknownExpiry');
  });

  it("appends the provider's advice for the reasons it gives one for", () => {
    const wording = {
      what: 'vendor',
      advice: (reason: string) => (reason === 'NoExpiry' ? 'Set the lifetime.' : undefined),
    };
    expect(expiryError(failed('NoExpiry'), wording).message).toBe(
      'vendor: the NoExpiry text. Set the lifetime.',
    );
    expect(expiryError(failed('ExpiredOnArrival'), wording).message).toBe(
      'vendor: the ExpiredOnArrival text.',
    );
  });
});

describe('issuedTokenSet', () => {
  const issued = { token: 'opaque-token', tokenType: 'Bearer', requestStartedAt: START, receivedAt: START };

  it('writes the three keys, the expiry on our clock, and no warnings for a fresh token', () => {
    const tokens = issuedTokenSet({ ...issued, expiresIn: 3600 }, { keys: KEYS }, { what: 'idp/token' });
    expect(tokens).toEqual({
      data: { token: 'opaque-token', token_type: 'Bearer', expires_at: new Date(START + HOUR).toISOString() },
      issuedAt: START,
      expiresAt: START + HOUR,
      expirySource: 'expires_in',
    });
  });

  it('passes on the warnings, from warningsFrom when given', () => {
    const late = { ...issued, expiresIn: 3600, receivedAt: START + 0.75 * HOUR };
    const tokens = issuedTokenSet(
      late,
      { keys: KEYS },
      { what: 'login at host/path', warningsFrom: 'login' },
    );
    expect(tokens.warnings?.map((warning) => warning.reason)).toEqual(['ShortTokenLifetime']);
    expect(tokens.warnings?.[0]?.message).toMatch(/^login: the token had only 15m/);
  });

  it('uses the assumed lifetime, and throws the worded error without one', () => {
    const assumed = issuedTokenSet(issued, { keys: KEYS, assumedLifetimeMs: HOUR }, { what: 'vendor' });
    expect(assumed).toMatchObject({ expiresAt: START + HOUR, expirySource: 'assumed' });
    let thrown: unknown;
    try {
      issuedTokenSet(issued, { keys: KEYS }, { what: 'vendor' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ kind: 'terminal', reason: 'UnknownExpiry' });
  });
});
