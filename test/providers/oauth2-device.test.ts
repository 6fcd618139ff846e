// The device authorization grant (RFC 8628) step by step, against a small local server that answers as
// Keycloak was measured to (docs/keycloak-device-grant.md): pending, slow_down, denial, expiry, a code
// that gives tokens once, and single-use refresh tokens whose reuse ends the chain. Every row of the
// provider's decision: what it sends, what it stores, what it tells the person.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwaitingUserApproval } from '../../src/errors/awaiting-approval.ts';
import { OAUTH2_DEVICE_STATE_KEYS } from '../../src/providers/oauth2-device.ts';
import { OAuth2Provider, oauth2Schema } from '../../src/providers/oauth2.ts';
import { ManualClock, MemoryState, expectProviderError, providerContext } from './context.ts';

const K = OAUTH2_DEVICE_STATE_KEYS;
const START = Date.UTC(2026, 11, 4, 12, 0, 0, 250);

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part(claims)}.sig`;
}

type Decision = 'pending' | 'slow_down' | 'denied' | 'expired' | { approvedBy: string };

/** A device grant server: the test decides what each code's next poll answers. */
class DeviceServer {
  decision: Decision = 'pending';
  deviceAnswer: 'ok' | 'unauthorized_client' = 'ok';
  refreshAnswer: 'rotate' | 'server-error' | 'no-refresh-token-at-approval' = 'rotate';
  codes = new Map<string, 'live' | 'used'>();
  liveRefresh = new Set<string>();
  spentRefresh = new Set<string>();
  /** Every form posted, in order, as "path grant/token". */
  requests: string[] = [];
  #next = 0;

  #id(prefix: string): string {
    this.#next += 1;
    return `${prefix}-${this.#next}-${Math.random().toString(36).slice(2, 10)}`;
  }

  #tokens(user: string, withRefresh: boolean): Record<string, unknown> {
    const refresh = this.#id('rt');
    if (withRefresh) this.liveRefresh.add(refresh);
    return {
      access_token: jwt({ sub: `uuid-${user}`, preferred_username: user, n: this.#next }),
      token_type: 'Bearer',
      expires_in: 300,
      ...(withRefresh ? { refresh_token: refresh } : {}),
    };
  }

  handle(path: string, form: URLSearchParams): { status: number; body: Record<string, unknown> } {
    if (path === '/device') {
      this.requests.push(`device ${form.get('scope') ?? ''}`);
      if (this.deviceAnswer === 'unauthorized_client')
        return {
          status: 401,
          body: {
            error: 'unauthorized_client',
            error_description: 'Client is not allowed to initiate OAuth 2.0 Device Authorization Grant',
          },
        };
      const code = this.#id('dc');
      this.codes.set(code, 'live');
      const userCode = `ABCD-${String(this.#next).padStart(4, 'X')}`;
      return {
        status: 200,
        body: {
          device_code: code,
          user_code: userCode,
          verification_uri: 'https://idp.test/device',
          verification_uri_complete: `https://idp.test/device?user_code=${userCode}`,
          expires_in: 600,
          interval: 5,
        },
      };
    }
    const grant = form.get('grant_type');
    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
      const code = form.get('device_code') ?? '';
      this.requests.push(`poll ${code}`);
      if (this.codes.get(code) !== 'live')
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Device code not valid' } };
      const decision = this.decision;
      if (decision === 'pending')
        return {
          status: 400,
          body: {
            error: 'authorization_pending',
            error_description: 'The authorization request is still pending',
          },
        };
      if (decision === 'slow_down')
        return { status: 400, body: { error: 'slow_down', error_description: 'Slow down' } };
      if (decision === 'denied')
        return {
          status: 400,
          body: {
            error: 'access_denied',
            error_description: 'The end user denied the authorization request',
          },
        };
      if (decision === 'expired')
        return { status: 400, body: { error: 'expired_token', error_description: 'Device code is expired' } };
      this.codes.set(code, 'used');
      return {
        status: 200,
        body: this.#tokens(decision.approvedBy, this.refreshAnswer !== 'no-refresh-token-at-approval'),
      };
    }
    if (grant === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      this.requests.push(`refresh ${token}`);
      if (this.refreshAnswer === 'server-error') return { status: 500, body: {} };
      if (this.spentRefresh.has(token)) {
        for (const live of this.liveRefresh) this.spentRefresh.add(live);
        this.liveRefresh.clear();
        return {
          status: 400,
          body: { error: 'invalid_grant', error_description: 'Maximum allowed refresh token reuse exceeded' },
        };
      }
      if (!this.liveRefresh.has(token))
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Session not active' } };
      this.liveRefresh.delete(token);
      this.spentRefresh.add(token);
      return { status: 200, body: this.#tokens('alice', true) };
    }
    return { status: 400, body: { error: 'unsupported_grant_type' } };
  }

  /** Ends every live chain, as an admin's sign-out does. */
  signOut(): void {
    this.liveRefresh.clear();
  }
}

let server: Server;
let base: string;
let idp: DeviceServer;

beforeAll(async () => {
  server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    request.on('end', () => {
      const { status, body } = idp.handle(request.url ?? '', new URLSearchParams(text));
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const provider = new OAuth2Provider();
let clock: ManualClock;
let state: MemoryState;

beforeEach(() => {
  idp = new DeviceServer();
  clock = new ManualClock(START);
  state = new MemoryState();
});

function spec(overrides: Record<string, unknown> = {}) {
  return oauth2Schema.parse({
    tokenUrl: `${base}/token`,
    clientAuth: 'client_secret_post',
    credentialsRef: { name: 'device-client' },
    scopes: ['openid', 'offline_access'],
    deviceAuthorization: { endpoint: `${base}/device`, expectedSubject: 'alice' },
    ...overrides,
  });
}

function context() {
  return providerContext(
    { 'device-client/client_id': 'device-client', 'device-client/client_secret': 's3cret' },
    { state, clock },
  );
}

async function awaitingFrom(promise: Promise<unknown>): Promise<AwaitingUserApproval> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!AwaitingUserApproval.is(outcome))
    throw new Error(`expected AwaitingUserApproval, got ${String(outcome)}`);
  return outcome;
}

async function stored(): Promise<Readonly<Record<string, string>>> {
  return state.read();
}

/** Starts a flow and has `user` approve it: the token set of the approval. */
async function approvedBy(user: string) {
  await awaitingFrom(provider.obtain(spec(), context()));
  idp.decision = { approvedBy: user };
  clock.advance(6_000);
  return provider.obtain(spec(), context());
}

describe('oauth2 device authorization grant', () => {
  it('starts a flow: the device code only in the state, the page and code in the message, a poll after the interval', async () => {
    const waiting = await awaitingFrom(provider.obtain(spec(), context()));
    const saved = await stored();
    expect(waiting.reason).toBe('AwaitingUserApproval');
    expect(waiting.request).toEqual({
      userCode: saved[K.userCode],
      verificationUri: 'https://idp.test/device',
      verificationUriComplete: `https://idp.test/device?user_code=${saved[K.userCode]}`,
      expiresAt: START + 600_000,
    });
    expect(waiting.message).toBe(
      `Approve the login at https://idp.test/device?user_code=${saved[K.userCode]} (or https://idp.test/device with code ${saved[K.userCode]}), ` +
        'signed in as alice, before 2026-12-04T12:10:00Z. The operator polls every 5 s and writes the token once it is approved.',
    );
    // 5 s interval + 0.5 s margin, up to the next whole second.
    expect(waiting.pollAt).toBe(Date.UTC(2026, 11, 4, 12, 0, 6));
    expect(saved[K.deviceCode]).toMatch(/^dc-/);
    expect(waiting.message).not.toContain(saved[K.deviceCode]);
    expect(idp.requests).toEqual(['device openid offline_access']);
    expect(provider.secretStateKeys).toContain(K.deviceCode);
  });

  it('polls the same code while pending, writing nothing', async () => {
    await awaitingFrom(provider.obtain(spec(), context()));
    const code = (await stored())[K.deviceCode];
    const writes = state.writes;
    clock.advance(6_000);
    const waiting = await awaitingFrom(provider.obtain(spec(), context()));
    expect(idp.requests.at(-1)).toBe(`poll ${code}`);
    expect(state.writes).toBe(writes);
    expect(waiting.pollAt).toBe(Date.UTC(2026, 11, 4, 12, 0, 12));
  });

  it('adds 5 s to the interval on every slow_down, and keeps it for later polls', async () => {
    await awaitingFrom(provider.obtain(spec(), context()));
    idp.decision = 'slow_down';
    clock.advance(6_000);
    const first = await awaitingFrom(provider.obtain(spec(), context()));
    expect((await stored())[K.interval]).toBe('10');
    expect(first.pollAt - clock.now()).toBeGreaterThanOrEqual(10_500);
    expect(first.message).toContain('polls every 10 s');
    clock.set(first.pollAt);
    const second = await awaitingFrom(provider.obtain(spec(), context()));
    expect((await stored())[K.interval]).toBe('15');
    idp.decision = 'pending';
    clock.set(second.pollAt);
    const third = await awaitingFrom(provider.obtain(spec(), context()));
    expect(third.pollAt - clock.now()).toBeGreaterThanOrEqual(15_500);
    expect(third.pollAt - clock.now()).toBeLessThan(16_500);
  });

  it.each([
    ['denied', 'ApprovalDenied', 'was denied at the approval page', 'access_denied'],
    ['expired', 'ApprovalExpired', 'can no longer be approved', 'expired_token'],
  ] as const)(
    'starts again with a new code when the server says %s, and says so',
    async (decision, reason, says, code) => {
      const first = await awaitingFrom(provider.obtain(spec(), context()));
      idp.decision = decision;
      clock.advance(6_000);
      const next = await awaitingFrom(provider.obtain(spec(), context()));
      expect(next.reason).toBe(reason);
      expect(next.request.userCode).not.toBe(first.request.userCode);
      expect(next.message).toContain(`code ${first.request.userCode}`.slice(decision === 'denied' ? 0 : 5));
      expect(next.message).toContain(says);
      expect(next.message).toContain(code);
      expect(next.message).toContain(`Approve the login at ${next.request.verificationUriComplete ?? ''}`);
      // The reason stays with the new code on later polls.
      idp.decision = 'pending';
      clock.set(next.pollAt);
      const again = await awaitingFrom(provider.obtain(spec(), context()));
      expect(again.reason).toBe(reason);
      expect(again.request.userCode).toBe(next.request.userCode);
    },
  );

  it('does not poll a code past its expiry: a new one is asked for at once', async () => {
    const first = await awaitingFrom(provider.obtain(spec(), context()));
    clock.set(first.request.expiresAt + 1);
    const next = await awaitingFrom(provider.obtain(spec(), context()));
    expect(next.reason).toBe('ApprovalExpired');
    expect(idp.requests.filter((request) => request.startsWith('poll'))).toEqual([]);
  });

  it('keeps the approval of the expected subject: the tokens, and the refresh token in the state only', async () => {
    const tokens = await approvedBy('alice');
    const saved = await stored();
    expect(tokens.expiresAt).toBe(START + 6_000 + 300_000);
    expect(saved[K.refreshToken]).toMatch(/^rt-/);
    expect(saved[K.approvedSubject]).toBe('alice uuid-alice');
    expect(saved[K.deviceCode]).toBeUndefined();
    expect(Object.values(tokens.data).join(' ')).not.toContain(saved[K.refreshToken]);
  });

  it('refuses an approval by someone else: the tokens are discarded and a new code is asked for', async () => {
    const first = await awaitingFrom(provider.obtain(spec(), context()));
    idp.decision = { approvedBy: 'mallory' };
    clock.advance(6_000);
    const next = await awaitingFrom(provider.obtain(spec(), context()));
    expect(next.reason).toBe('WrongApprover');
    expect(next.message).toContain(
      `Code ${first.request.userCode} was approved by 'mallory' (sub uuid-mallory), not by 'alice' (spec.provider.oauth2.deviceAuthorization.expectedSubject)`,
    );
    const saved = await stored();
    expect(saved[K.refreshToken]).toBeUndefined();
    expect([...idp.liveRefresh].some((token) => Object.values(saved).includes(token))).toBe(false);
  });

  it('accepts the sub as well as the preferred_username', async () => {
    await awaitingFrom(
      provider.obtain(
        spec({ deviceAuthorization: { endpoint: `${base}/device`, expectedSubject: 'uuid-alice' } }),
        context(),
      ),
    );
    idp.decision = { approvedBy: 'alice' };
    clock.advance(6_000);
    const tokens = await provider.obtain(
      spec({ deviceAuthorization: { endpoint: `${base}/device`, expectedSubject: 'uuid-alice' } }),
      context(),
    );
    expect(tokens.data.token).toContain('.');
  });

  it('rotates the chain once per renewal: every refresh token is sent exactly once', async () => {
    await approvedBy('alice');
    for (let round = 0; round < 3; round += 1) {
      clock.advance(200_000);
      await provider.obtain(spec(), context());
    }
    const sent = idp.requests.filter((request) => request.startsWith('refresh ')).map((r) => r.slice(8));
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(3);
    expect(idp.liveRefresh.has((await stored())[K.refreshToken] ?? '')).toBe(true);
  });

  it('a dead chain (sign-out) goes back to awaiting approval with HumanActionRequired, naming what the server said', async () => {
    await approvedBy('alice');
    idp.signOut();
    clock.advance(200_000);
    const next = await awaitingFrom(provider.obtain(spec(), context()));
    expect(next.reason).toBe('HumanActionRequired');
    expect(next.message).toMatch(
      /^The refresh chain approved by alice at 2026-12-04T12:00:06\.250Z has ended \(POST 127\.0\.0\.1:\d+\/token said invalid_grant: Session not active\)\. Approve the login at /,
    );
    const saved = await stored();
    expect(saved[K.refreshToken]).toBeUndefined();
    expect(saved[K.deviceCode]).toBeDefined();
    expect(saved[K.intent]).toBeUndefined();
  });

  it('never sends a refresh token whose outcome is unknown again: a new approval instead', async () => {
    await approvedBy('alice');
    const live = (await stored())[K.refreshToken];
    idp.refreshAnswer = 'server-error';
    clock.advance(200_000);
    const next = await awaitingFrom(provider.obtain(spec(), context()));
    expect(next.reason).toBe('HumanActionRequired');
    expect(next.message).toContain('The refresh token may have been used, so it is never sent again.');
    idp.refreshAnswer = 'rotate';
    idp.decision = 'pending';
    clock.advance(10_000);
    await awaitingFrom(provider.obtain(spec(), context()));
    expect(idp.requests.filter((request) => request === `refresh ${live ?? ''}`)).toHaveLength(1);
  });

  it('an intent found on entry (a crash mid-rotation) starts a new flow and sends nothing to the token endpoint', async () => {
    await approvedBy('alice');
    const saved = await stored();
    state.externalWrite({
      ...saved,
      [K.intent]: 'refresh:0123456789abcdef',
      [K.intentAt]: '2026-12-04T12:01:00.000Z',
    });
    const before = idp.requests.length;
    const next = await awaitingFrom(provider.obtain(spec(), context()));
    expect(next.reason).toBe('HumanActionRequired');
    expect(next.message).toContain('The outcome of the refresh sent at 2026-12-04T12:01:00.000Z is unknown');
    expect(idp.requests.slice(before)).toEqual(['device openid offline_access']);
  });

  it('an approval without a refresh token: the next renewal asks for a new approval and says to add offline_access', async () => {
    idp.refreshAnswer = 'no-refresh-token-at-approval';
    await approvedBy('alice');
    clock.advance(200_000);
    const next = await awaitingFrom(provider.obtain(spec(), context()));
    expect(next.reason).toBe('HumanActionRequired');
    expect(next.message).toContain('gave no refresh token');
    expect(next.message).toContain('add offline_access to spec.provider.oauth2.scopes');
  });

  it('a changed spec (scopes) gets a new code rather than polling the old one', async () => {
    const first = await awaitingFrom(provider.obtain(spec(), context()));
    clock.advance(6_000);
    const next = await awaitingFrom(provider.obtain(spec({ scopes: ['openid'] }), context()));
    expect(next.request.userCode).not.toBe(first.request.userCode);
    expect(next.message).toContain(`The spec changed after code ${first.request.userCode} was issued`);
  });

  it('a client the server does not allow the grant says how to enable it', async () => {
    idp.deviceAnswer = 'unauthorized_client';
    const error = await expectProviderError(provider.obtain(spec(), context()));
    expect(error.reason).toBe('UnauthorizedClient');
    expect(error.message).toContain('Client is not allowed to initiate OAuth 2.0 Device Authorization Grant');
    expect(error.message).toContain('Enable the device authorization grant for this client');
  });
});
