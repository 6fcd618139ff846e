import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { rotateRefreshToken, type Rotation } from './refresh-rotation.ts';
import type { ProviderContext } from './types.ts';

const KEYS = { intent: 'intent', intentAt: 'intentAt' };

function harness(exchange: Rotation<{ refreshToken: string }, string>['exchange']) {
  const writes: Record<string, string>[] = [];
  const context = {
    signal: new AbortController().signal,
    clock: { now: () => Date.UTC(2026, 11, 3, 12) },
    state: {
      read: () => Promise.resolve({ refreshToken: 'rt-1' }),
      write: (state: Record<string, string>) => {
        writes.push(state);
        return Promise.resolve();
      },
    },
  } as unknown as ProviderContext;
  const rotation: Rotation<{ refreshToken: string }, string> = {
    context,
    state: { refreshToken: 'rt-1' },
    refreshToken: 'rt-1',
    keys: KEYS,
    crashHooks: { afterIntentWrite: () => {}, afterResponse: () => {}, afterStateWrite: () => {} },
    target: 'POST idp.test/token',
    exchange,
    outcomeUnknown: (error) =>
      new ProviderError({
        kind: 'terminal',
        reason: 'HumanActionRequired',
        message: `unknown: ${String(error)}`,
      }),
    nextState: (fresh) => ({ refreshToken: fresh.refreshToken }),
  };
  return { rotation, writes };
}

describe('rotateRefreshToken', () => {
  it('records the intent, sends once, stores the new chain without the intent', async () => {
    const { rotation, writes } = harness(() => Promise.resolve({ rotated: { refreshToken: 'rt-2' } }));
    await expect(rotateRefreshToken(rotation)).resolves.toEqual({ rotated: { refreshToken: 'rt-2' } });
    expect(writes[0]?.refreshToken).toBe('rt-1');
    expect(writes[0]?.intent).toMatch(/^refresh:[0-9a-f]{16}$/);
    expect(writes[1]).toEqual({ refreshToken: 'rt-2' });
  });

  it('a failure after the request may have left: the intent stays, the outcome is unknown', async () => {
    const timeout = new ProviderError({
      kind: 'transient',
      reason: 'ProviderTimeout',
      message: 'no complete answer after the request was sent',
      outcomeUnknown: true,
    });
    const { rotation, writes } = harness(() => Promise.reject(timeout));
    await expect(rotateRefreshToken(rotation)).rejects.toMatchObject({ reason: 'HumanActionRequired' });
    expect(writes).toHaveLength(1);
    expect(writes[0]?.intent).toBeDefined();
  });

  it.each(['ProviderUnreachable', 'TLSVerificationFailed'])(
    '%s before anything was sent: the intent is taken back and the transient error stands',
    async (reason) => {
      const unreachable = new ProviderError({
        kind: 'transient',
        reason,
        message: 'could not reach idp.test: the host name does not resolve. The request was not sent.',
        outcomeUnknown: false,
      });
      const { rotation, writes } = harness(() => Promise.reject(unreachable));
      await expect(rotateRefreshToken(rotation)).rejects.toBe(unreachable);
      expect(writes).toHaveLength(2);
      expect(writes[1]).toEqual({ refreshToken: 'rt-1' });
    },
  );

  it('a 5xx answer counts as unknown: the server may have rotated before failing', async () => {
    const answered = new ProviderError({
      kind: 'transient',
      reason: 'ProviderUnavailable',
      message: 'answered 503',
    });
    const { rotation, writes } = harness(() => Promise.reject(answered));
    await expect(rotateRefreshToken(rotation)).rejects.toMatchObject({ reason: 'HumanActionRequired' });
    expect(writes).toHaveLength(1);
  });
});
