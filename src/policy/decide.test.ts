import { describe, expect, it } from 'vitest';
import { decide, type Action, type Observation } from './decide.ts';

const NOW = Date.UTC(2026, 10, 23, 12);
const MIN = 60_000;

const ours = (fields: Partial<Extract<Observation['output'], { state: 'ours' }>>): Observation['output'] => ({
  state: 'ours',
  inputsHash: 'h1',
  issuedAt: NOW - 10 * MIN,
  expiresAt: NOW + 50 * MIN,
  intact: true,
  layoutCurrent: true,
  ...fields,
});

function observe(overrides: Partial<Observation> = {}): Observation {
  return {
    now: NOW,
    inputsHash: 'h1',
    output: ours({}),
    canRepairFromMemory: false,
    failure: { consecutiveFailures: 0, retryAt: undefined, terminal: false, inputsHash: undefined },
    takeOverAllowed: false,
    manualRefreshRequested: false,
    renewAt: NOW + 30 * MIN,
    checkAt: undefined,
    statusSaysReady: true,
    ...overrides,
  };
}

describe('decide', () => {
  it.each<[string, Partial<Observation>, Action]>([
    ['a fresh token before its renewal time: wait for it', {}, { type: 'wait', until: NOW + 30 * MIN }],
    ['no Secret yet: first login', { output: { state: 'absent' } }, { type: 'obtain', why: 'initial' }],
    [
      'inputs changed since the token was issued',
      { inputsHash: 'h2' },
      { type: 'obtain', why: 'inputs-changed' },
    ],
    ['renewal time reached', { renewAt: NOW - 1 }, { type: 'obtain', why: 'renewal-due' }],
    ['token already expired', { output: ours({ expiresAt: NOW - 1 }) }, { type: 'obtain', why: 'expired' }],
    [
      'Secret lacks expiry annotations',
      { output: ours({ expiresAt: undefined }) },
      { type: 'obtain', why: 'unknown-expiry' },
    ],
    ['manual refresh requested', { manualRefreshRequested: true }, { type: 'obtain', why: 'manual' }],
    [
      'edited Secret, token still in memory: repair without a provider call',
      { output: ours({ intact: false }), canRepairFromMemory: true },
      { type: 'repair' },
    ],
    [
      'edited Secret after a restart: obtain again',
      { output: ours({ intact: false }) },
      { type: 'obtain', why: 'drift' },
    ],
    [
      'spec now asks for other keys, token in memory',
      { output: ours({ layoutCurrent: false }), canRepairFromMemory: true },
      { type: 'repair' },
    ],
    [
      'a check is due for a human-supplied token',
      { checkAt: NOW - 1, renewAt: NOW + 99 * MIN },
      { type: 'obtain', why: 'check-due' },
    ],
    [
      'wait until the earlier of renewal and check',
      { checkAt: NOW + 5 * MIN },
      { type: 'wait', until: NOW + 5 * MIN },
    ],
    [
      'Secret of someone else',
      { output: { state: 'foreign', owner: 'another owner (no apicred.dev ownership)' } },
      {
        type: 'refuse',
        reason: 'SecretOwnedByOther',
        message: expect.stringContaining('spec.secret.takeOver: true') as unknown as string,
      },
    ],
    [
      'Secret of someone else, takeOver allowed',
      { output: { state: 'foreign', owner: 'x' }, takeOverAllowed: true },
      { type: 'obtain', why: 'initial' },
    ],
    [
      'failing renewal inside its backoff keeps waiting',
      {
        renewAt: NOW - MIN,
        failure: { consecutiveFailures: 2, retryAt: NOW + MIN, terminal: false, inputsHash: 'h1' },
      },
      { type: 'backoff', until: NOW + MIN },
    ],
    [
      'failing renewal after its backoff retries',
      {
        renewAt: NOW - MIN,
        failure: { consecutiveFailures: 2, retryAt: NOW - 1, terminal: false, inputsHash: 'h1' },
      },
      { type: 'obtain', why: 'retry' },
    ],
    [
      'terminal failure with the same inputs stays stalled, even when renewal is due',
      {
        renewAt: NOW - MIN,
        failure: { consecutiveFailures: 1, retryAt: NOW - 1, terminal: true, inputsHash: 'h1' },
      },
      { type: 'stalled', until: NOW + 50 * MIN },
    ],
    [
      'terminal failure while the token is valid: look again when it expires',
      {
        failure: { consecutiveFailures: 1, retryAt: undefined, terminal: true, inputsHash: 'h1' },
      },
      { type: 'stalled', until: NOW + 50 * MIN },
    ],
    [
      'terminal failure, and the token in the Secret has expired: write the expired status',
      {
        output: ours({ expiresAt: NOW - 1 }),
        failure: { consecutiveFailures: 1, retryAt: undefined, terminal: true, inputsHash: 'h1' },
      },
      { type: 'expired', expiredAt: NOW - 1, until: undefined },
    ],
    [
      'stalled, the token expired and the status already says so: nothing more to do',
      {
        output: ours({ expiresAt: NOW - 1 }),
        statusSaysReady: false,
        failure: { consecutiveFailures: 1, retryAt: undefined, terminal: true, inputsHash: 'h1' },
      },
      { type: 'stalled', until: undefined },
    ],
    [
      'backing off past the expiry of a still valid token: wake at the expiry',
      {
        output: ours({ expiresAt: NOW + MIN }),
        failure: { consecutiveFailures: 4, retryAt: NOW + 60 * MIN, terminal: false, inputsHash: 'h1' },
      },
      { type: 'backoff', until: NOW + MIN },
    ],
    [
      'backing off (a long Retry-After) when the token expires: write the expired status, retry later',
      {
        output: ours({ expiresAt: NOW - 1 }),
        failure: { consecutiveFailures: 4, retryAt: NOW + 60 * MIN, terminal: false, inputsHash: 'h1' },
      },
      { type: 'expired', expiredAt: NOW - 1, until: NOW + 60 * MIN },
    ],
    [
      'backing off with the token expired and the status saying so: wait for the retry',
      {
        output: ours({ expiresAt: NOW - 1 }),
        statusSaysReady: false,
        failure: { consecutiveFailures: 4, retryAt: NOW + 60 * MIN, terminal: false, inputsHash: 'h1' },
      },
      { type: 'backoff', until: NOW + 60 * MIN },
    ],
    [
      'terminal failure at the very moment of expiry: expired',
      {
        output: ours({ expiresAt: NOW }),
        failure: { consecutiveFailures: 1, retryAt: undefined, terminal: true, inputsHash: 'h1' },
      },
      { type: 'expired', expiredAt: NOW, until: undefined },
    ],
    [
      'terminal failure before any token was written: stalled, nothing to wake for',
      {
        output: { state: 'absent' },
        failure: { consecutiveFailures: 1, retryAt: undefined, terminal: true, inputsHash: 'h1' },
      },
      { type: 'stalled', until: undefined },
    ],
    [
      'terminal failure, then the inputs change: obtain at once',
      {
        inputsHash: 'h2',
        failure: { consecutiveFailures: 3, retryAt: NOW + 10 * MIN, terminal: true, inputsHash: 'h1' },
      },
      { type: 'obtain', why: 'inputs-changed' },
    ],
    [
      'terminal failure, then the inputs go back to those of the token in the Secret: obtain at once',
      {
        inputsHash: 'h0',
        output: ours({ inputsHash: 'h0' }),
        failure: { consecutiveFailures: 1, retryAt: undefined, terminal: true, inputsHash: 'h1' },
      },
      { type: 'obtain', why: 'inputs-changed' },
    ],
    [
      'terminal failure recorded without a hash (the spec was refused unparsed), then the spec is edited: obtain',
      {
        output: { state: 'absent' },
        failure: {
          consecutiveFailures: 0,
          retryAt: undefined,
          terminal: true,
          inputsHash: undefined,
          specEdited: true,
        },
      },
      { type: 'obtain', why: 'initial' },
    ],
    [
      'terminal failure recorded without a hash, spec not edited since: stays stalled',
      {
        output: { state: 'absent' },
        failure: { consecutiveFailures: 0, retryAt: undefined, terminal: true, inputsHash: undefined },
      },
      { type: 'stalled', until: undefined },
    ],
    [
      'terminal failure, then the spec is edited back to the inputs of the failed attempt: try again',
      {
        inputsHash: 'h2',
        output: ours({ inputsHash: 'h1' }),
        failure: {
          consecutiveFailures: 1,
          retryAt: undefined,
          terminal: true,
          inputsHash: 'h2',
          specEdited: true,
        },
      },
      { type: 'obtain', why: 'inputs-changed' },
    ],
    [
      'terminal failure, then a manual refresh: try again',
      {
        manualRefreshRequested: true,
        failure: { consecutiveFailures: 1, retryAt: NOW + MIN, terminal: true, inputsHash: 'h1' },
      },
      { type: 'obtain', why: 'manual' },
    ],
    [
      'first login failing transiently backs off',
      {
        output: { state: 'absent' },
        failure: { consecutiveFailures: 1, retryAt: NOW + 5_000, terminal: false, inputsHash: 'h1' },
      },
      { type: 'backoff', until: NOW + 5_000 },
    ],
  ])('%s', (_name, overrides, expected) => {
    expect(decide(observe(overrides))).toEqual(expected);
  });
});
