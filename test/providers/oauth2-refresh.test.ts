// OAuth 2.0 refresh-token mode against a small local token server that rotates refresh tokens and,
// like Keycloak with "Revoke Refresh Token" and max reuse 0, ends the chain when one is used twice.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OAUTH2_REFRESH_STATE_KEYS } from '../../src/providers/oauth2-refresh.ts';
import { OAuth2Provider, oauth2Schema } from '../../src/providers/oauth2.ts';
import { MemoryState, expectProviderError, providerContext } from './context.ts';

const K = OAUTH2_REFRESH_STATE_KEYS;

class RotatingServer {
  live = new Set<string>();
  spent = new Set<string>();
  /** Refresh tokens in the order they were presented. */
  presented: string[] = [];
  answer: 'rotate' | 'server-error' | 'invalid-client' | 'keep' = 'rotate';
  #next = 0;

  issue(): string {
    this.#next += 1;
    const token = `rt-${this.#next}-${Math.random().toString(36).slice(2)}`;
    this.live.add(token);
    return token;
  }

  handle(form: URLSearchParams): { status: number; body: Record<string, unknown> } {
    const token = form.get('refresh_token') ?? '';
    this.presented.push(token);
    if (form.get('grant_type') !== 'refresh_token' || form.get('client_id') !== 'cli') {
      return { status: 400, body: { error: 'invalid_request' } };
    }
    if (this.answer === 'invalid-client') return { status: 401, body: { error: 'invalid_client' } };
    if (this.answer === 'server-error') return { status: 500, body: {} };
    if (this.spent.has(token)) {
      // Reuse: the whole chain ends.
      for (const live of this.live) this.spent.add(live);
      this.live.clear();
      return {
        status: 400,
        body: { error: 'invalid_grant', error_description: 'Maximum allowed refresh token reuse exceeded' },
      };
    }
    if (!this.live.has(token))
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Token is not active' } };
    if (this.answer === 'keep')
      return { status: 200, body: { access_token: `at-${token}`, token_type: 'bearer', expires_in: 300 } };
    this.live.delete(token);
    this.spent.add(token);
    const next = this.issue();
    return {
      status: 200,
      body: { access_token: `at-${next}`, token_type: 'bearer', expires_in: 300, refresh_token: next },
    };
  }
}

let server: Server;
let url: string;
let tokens: RotatingServer;

beforeAll(async () => {
  server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    request.on('end', () => {
      const { status, body } = tokens.handle(new URLSearchParams(text));
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  tokens = new RotatingServer();
});

const provider = new OAuth2Provider();
const spec = () =>
  oauth2Schema.parse({
    tokenUrl: url,
    clientAuth: 'none',
    credentialsRef: { name: 'cli' },
    refreshTokenRef: { name: 'paste' },
  });

function context(pasted: string, state = new MemoryState()) {
  return providerContext({ 'cli/client_id': 'cli', 'paste/refresh_token': pasted }, { state });
}

describe('oauth2 refresh-token mode', () => {
  it('declares the pasted token as a secret input and the live one as a secret state key', () => {
    const inputs = provider.inputs(spec());
    expect(inputs).toEqual([
      expect.objectContaining({ name: 'cli', key: 'client_id', secret: false }),
      expect.objectContaining({
        name: 'paste',
        key: 'refresh_token',
        secret: true,
        fieldPath: 'spec.provider.oauth2.refreshTokenRef.key',
      }),
    ]);
    expect(provider.secretStateKeys).toContain(K.refreshToken);
  });

  it('exchanges the pasted token once, then rotates from the state, never presenting a token twice', async () => {
    const pasted = tokens.issue();
    const state = new MemoryState();
    for (let round = 0; round < 4; round += 1) {
      const set = await provider.obtain(spec(), context(pasted, state));
      expect(set.data.token).toMatch(/^at-rt-/);
      expect(set.data.token_type).toBe('Bearer');
    }
    expect(tokens.presented[0]).toBe(pasted);
    expect(new Set(tokens.presented).size).toBe(4);
    const stored = await state.read();
    expect(tokens.live.has(stored[K.refreshToken] ?? '')).toBe(true);
    expect(stored[K.intent]).toBeUndefined();
  });

  it('keeps the sent token when the server does not rotate', async () => {
    tokens.answer = 'keep';
    const pasted = tokens.issue();
    const state = new MemoryState();
    await provider.obtain(spec(), context(pasted, state));
    expect((await state.read())[K.refreshToken]).toBe(pasted);
  });

  it('a dead chain (invalid_grant) is HumanActionRequired naming the Secret and key, and nothing is sent again', async () => {
    const state = new MemoryState();
    const error = await expectProviderError(provider.obtain(spec(), context('never-issued', state)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'HumanActionRequired' });
    expect(error.message).toContain('invalid_grant');
    expect(error.message).toContain('Paste a new refresh token into Secret test-ns/paste key refresh_token');
    const stored = await state.read();
    expect(stored[K.refreshToken]).toBeUndefined();
    expect(stored[K.endedAt]).toBeTruthy();
    const again = await expectProviderError(provider.obtain(spec(), context('never-issued', state)));
    expect(again.reason).toBe('HumanActionRequired');
    expect(tokens.presented).toHaveLength(1);
  });

  it('a new pasted value starts a new chain', async () => {
    const state = new MemoryState();
    await expectProviderError(provider.obtain(spec(), context('never-issued', state)));
    const fresh = tokens.issue();
    await provider.obtain(spec(), context(fresh, state));
    expect(tokens.presented).toEqual(['never-issued', fresh]);
    expect((await state.read())[K.endedAt]).toBeUndefined();
  });

  it('an unknown outcome leaves the intent and never sends that token again', async () => {
    const pasted = tokens.issue();
    const state = new MemoryState();
    await provider.obtain(spec(), context(pasted, state));
    tokens.answer = 'server-error';
    const error = await expectProviderError(provider.obtain(spec(), context(pasted, state)));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'HumanActionRequired' });
    expect(error.message).toContain('never sent again');
    expect((await state.read())[K.intent]).toMatch(/^refresh:[0-9a-f]{16}$/);
    tokens.answer = 'rotate';
    const sent = tokens.presented.length;
    const again = await expectProviderError(provider.obtain(spec(), context(pasted, state)));
    expect(again.message).toContain('is unknown');
    expect(tokens.presented).toHaveLength(sent);
  });

  it('a client refusal keeps the chain: the token was not looked at', async () => {
    const pasted = tokens.issue();
    const state = new MemoryState();
    tokens.answer = 'invalid-client';
    const error = await expectProviderError(provider.obtain(spec(), context(pasted, state)));
    expect(error.reason).toBe('InvalidClient');
    const stored = await state.read();
    expect(stored[K.intent]).toBeUndefined();
    expect(stored[K.refreshToken]).toBe(pasted);
    tokens.answer = 'rotate';
    await provider.obtain(spec(), context(pasted, state));
  });

  it('refreshTokenRef.key defaults to refresh_token', () => {
    expect(spec().refreshTokenRef).toEqual({ name: 'paste', key: 'refresh_token' });
  });
});
