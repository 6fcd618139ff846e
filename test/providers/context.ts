// A ProviderContext for provider-tier tests: real HTTP client, in-memory inputs and state.
import type { HttpClient } from '../../src/http/client.ts';
import { createHttpClient } from '../../src/http/client.ts';
import { ManualClock, systemClock, type Clock } from '../../src/policy/clock.ts';
import { ProviderError, StateConflictError } from '../../src/errors/failure.ts';
import type { InputReference, Inputs, ProviderContext, StateStore } from '../../src/providers/types.ts';

export class MapInputs implements Inputs {
  readonly values: Map<string, string>;
  constructor(values: Record<string, string>) {
    this.values = new Map(Object.entries(values));
  }
  get(ref: InputReference): string | undefined {
    return this.values.get(`${ref.name}/${ref.key}`);
  }
  require(ref: InputReference): string {
    const value = this.get(ref);
    if (value === undefined) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'MissingInput',
        message: `Secret ${ref.name} has no key "${ref.key}" (from ${ref.fieldPath})`,
      });
    }
    return value;
  }
}

/** State with the same fencing contract as the state Secret: a write after someone else's write fails. */
export class MemoryState implements StateStore {
  #data: Record<string, string> = {};
  #version = 0;
  #readVersion: number | undefined;
  writes = 0;
  read(): Promise<Readonly<Record<string, string>>> {
    this.#readVersion = this.#version;
    return Promise.resolve({ ...this.#data });
  }
  write(state: Record<string, string>): Promise<void> {
    if (this.#readVersion !== this.#version) return Promise.reject(new StateConflictError());
    this.#data = { ...state };
    this.#version += 1;
    this.#readVersion = this.#version;
    this.writes += 1;
    return Promise.resolve();
  }
  /** Another replica writes behind our back. */
  externalWrite(state: Record<string, string>): void {
    this.#data = { ...state };
    this.#version += 1;
  }
}

export function providerContext(
  inputs: Record<string, string>,
  overrides: Partial<ProviderContext> & { http?: HttpClient; clock?: Clock } = {},
): ProviderContext {
  return {
    credential: 'test-ns/test-credential',
    inputs: new MapInputs(inputs),
    state: new MemoryState(),
    http: createHttpClient(),
    clock: systemClock,
    signal: AbortSignal.timeout(30_000),
    keys: { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' },
    ...overrides,
  };
}

export { ManualClock };

/** The ProviderError a promise rejects with; fails the test if it resolves or rejects otherwise. */
export async function expectProviderError(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!ProviderError.is(error)) throw new Error(`expected a ProviderError, got ${String(error)}`);
  return error;
}
