// The idempiere provider against the iDempiere emulator: login flows and their errors, refresh
// rotation, and above all the rule that a refresh token is sent at most once, whatever fails when.
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { IdempiereSpec } from '../../src/providers/idempiere.ts';
import { createHttpClient, type ClosableHttpClient, type HttpClient } from '../../src/http/client.ts';
import { ProviderError, StateConflictError } from '../../src/errors/failure.ts';
import { IDEMPIERE_STATE_KEYS, IdempiereProvider } from '../../src/providers/idempiere.ts';
import type { ProviderContext, StateStore, TokenSet } from '../../src/providers/types.ts';
import type { ScriptedFault } from '../emulators/faults.ts';
import { GARDENWORLD_LOGINS, GW } from '../emulators/idempiere-data.ts';
import { IDEMPIERE_ROUTES as ROUTES, IdempiereEmulator } from '../emulators/idempiere.ts';
import { ManualClock, MapInputs, MemoryState, providerContext } from './context.ts';
import { http, jwtParts } from './emulators/http.ts';

const ADMIN = GARDENWORLD_LOGINS.multiStep;
const WS = GARDENWORLD_LOGINS.abbreviated;
const USER = GARDENWORLD_LOGINS.singleRoleTwoOrgs;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = Date.UTC(2026, 0, 1);
const K = IDEMPIERE_STATE_KEYS;
const provider = new IdempiereProvider();

let clock: ManualClock;
let erp: IdempiereEmulator;
let client: ClosableHttpClient;
/** Every refresh token the provider sent, as a hash: each may appear once. */
let sentRefreshTokens: string[];

const sha = (value: string): string => createHash('sha256').update(value).digest('hex');

/** The real client, recording which refresh tokens go out. */
function spyingClient(inner: HttpClient): HttpClient {
  return {
    request(request) {
      if (request.url.endsWith('/auth/refresh')) {
        const body = request.json as { refresh_token?: unknown };
        sentRefreshTokens.push(sha(String(body.refresh_token)));
      }
      return inner.request(request);
    },
  };
}

beforeAll(() => {
  client = createHttpClient();
});

afterAll(async () => {
  await client.close();
});

beforeEach(async () => {
  clock = new ManualClock(START);
  erp = new IdempiereEmulator({ clock });
  await erp.start();
  sentRefreshTokens = [];
});

afterEach(async () => {
  expect(erp.serverErrors()).toEqual([]);
  expect(new Set(sentRefreshTokens).size).toBe(sentRefreshTokens.length);
  await erp.stop();
});

type User = { userName: string; password: string };
type Login = IdempiereSpec['login'];

function specFor(login: Login, overrides: Partial<IdempiereSpec> = {}): IdempiereSpec {
  return {
    baseUrl: erp.url,
    credentialsRef: { name: 'erp-user', usernameKey: 'username', passwordKey: 'password' },
    login,
    logoutOnDelete: true,
    ...overrides,
  };
}

/** One operator replica: its own view of the state, the consumer Secret's current token. */
class Operator {
  readonly state: StateStore;
  readonly inputs: MapInputs;
  readonly spec: IdempiereSpec;
  http: HttpClient;
  current: TokenSet | undefined;

  constructor(user: User, login: Login, state: StateStore = new MemoryState(), http: HttpClient = client) {
    this.inputs = new MapInputs({ 'erp-user/username': user.userName, 'erp-user/password': user.password });
    this.spec = specFor(login);
    this.state = state;
    this.http = http;
  }

  context(overrides: Partial<ProviderContext> = {}): ProviderContext {
    const current = this.current;
    return providerContext(
      {},
      {
        inputs: this.inputs,
        state: this.state,
        clock,
        http: spyingClient(this.http),
        current: current && { data: current.data, issuedAt: current.issuedAt, expiresAt: current.expiresAt },
        ...overrides,
      },
    );
  }

  async obtain(overrides: Partial<ProviderContext> = {}): Promise<TokenSet> {
    const tokens = await provider.obtain(this.spec, this.context(overrides));
    this.current = tokens;
    return tokens;
  }

  setPassword(password: string): void {
    this.inputs.values.set('erp-user/password', password);
  }
}

const WS_LOGIN: Login = { client: 'GardenWorld' };
const ADMIN_IDS: Login = {
  client: GW.client,
  role: GW.adminRole,
  organization: GW.hq,
  warehouse: GW.hqWarehouse,
};

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

async function providerFailure(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await failure(promise);
  if (!ProviderError.is(error)) throw new Error(`expected a ProviderError, got ${String(error)}`);
  return error;
}

/** Status of a protected model request with this token: 200 when iDempiere accepts it. */
async function statusWith(token: string | undefined): Promise<number> {
  const result = await http(`${erp.url}/api/v1/models/c_bpartner`, {
    headers: { authorization: `Bearer ${token ?? ''}` },
  });
  return result.status;
}

async function stateOf(operator: Operator): Promise<Readonly<Record<string, string>>> {
  return operator.state.read();
}

const counts = () => ({
  login: erp.count(ROUTES.login),
  refresh: erp.count(ROUTES.refresh),
  put: erp.count(ROUTES.finishLogin),
});

describe('inputs', () => {
  it('asks for the user name and password, naming the spec fields', () => {
    expect(provider.inputs(specFor(WS_LOGIN, { baseUrl: 'http://erp.invalid' }))).toEqual([
      {
        kind: 'Secret',
        name: 'erp-user',
        key: 'username',
        fieldPath: 'spec.provider.idempiere.credentialsRef.usernameKey',
        secret: false,
      },
      {
        kind: 'Secret',
        name: 'erp-user',
        key: 'password',
        fieldPath: 'spec.provider.idempiere.credentialsRef.passwordKey',
        secret: true,
      },
    ]);
  });
});

describe('login', () => {
  it('one-step login when every parameter is an id; state holds the chain, data only the token', async () => {
    const operator = new Operator(ADMIN, { ...ADMIN_IDS, language: 'es_CO' });
    const tokens = await operator.obtain();
    expect(counts()).toEqual({ login: 1, refresh: 0, put: 0 });
    expect(erp.count(ROUTES.roles)).toBe(0);
    expect(erp.requests()[0]?.body).toMatchObject({
      parameters: { clientId: 11, roleId: 102, organizationId: 11, warehouseId: 103, language: 'es_CO' },
    });
    expect(Object.keys(tokens.data).sort()).toEqual(['expires_at', 'token', 'token_type']);
    expect(tokens.data.token_type).toBe('Bearer');
    expect(tokens).toMatchObject({ issuedAt: START, expiresAt: START + HOUR, expirySource: 'jwt' });
    expect(tokens.data.expires_at).toBe(new Date(START + HOUR).toISOString());
    expect(jwtParts(tokens.data.token).payload).toMatchObject({ AD_Role_ID: 102, AD_Language: 'es_CO' });
    expect(await statusWith(tokens.data.token)).toBe(200);

    const state = await stateOf(operator);
    expect(state).toMatchObject({
      [K.clientId]: '11',
      [K.userId]: String(ADMIN.userId),
      [K.loginAt]: new Date(START).toISOString(),
      [K.refreshedAt]: new Date(START).toISOString(),
    });
    expect(state[K.refreshToken]?.split('.')).toHaveLength(3);
    expect(state[K.loginHash]).toMatch(/^[0-9a-f]{64}$/);
    expect(state[K.passwordHash]).toMatch(/^scrypt\$/);
    expect(state[K.passwordHash]).not.toContain(ADMIN.password);
    expect(state[K.intent]).toBeUndefined();
    expect(Object.values(tokens.data)).not.toContain(state[K.refreshToken]);
  });

  it('multi-step with names: step 1, the three lookups, then PUT with the resolved ids', async () => {
    const operator = new Operator(ADMIN, {
      client: 'GardenWorld',
      role: 'GardenWorld User',
      organization: 'Store Central',
      warehouse: 'Store Central',
    });
    const tokens = await operator.obtain();
    expect(counts()).toEqual({ login: 1, refresh: 0, put: 1 });
    for (const route of [ROUTES.roles, ROUTES.organizations, ROUTES.warehouses])
      expect(erp.count(route)).toBe(1);
    const put = erp.requests().find((r) => r.route === ROUTES.finishLogin);
    expect(put?.body).toEqual({ clientId: 11, roleId: 103, organizationId: 12, warehouseId: 104 });
    expect(jwtParts(tokens.data.token).payload).toMatchObject({
      AD_Client_ID: 11,
      AD_Role_ID: 103,
      AD_Org_ID: 12,
      M_Warehouse_ID: 104,
    });
    expect(await statusWith(tokens.data.token)).toBe(200);
    expect(await stateOf(operator)).toMatchObject({ [K.clientId]: '11', [K.userId]: '101' });
  });

  it('omitted role (the only one) is chosen; an omitted warehouse among several is left to iDempiere', async () => {
    const operator = new Operator(USER, { client: GW.client, organization: 'hq' });
    const tokens = await operator.obtain();
    const put = erp.requests().find((r) => r.route === ROUTES.finishLogin);
    expect(put?.body).toEqual({ clientId: 11, roleId: GW.userRole, organizationId: GW.hq });
    // The org's default warehouse (MOrgInfo).
    expect(jwtParts(tokens.data.token).payload).toMatchObject({ AD_Role_ID: 103, M_Warehouse_ID: 103 });
  });

  it('abbreviated login: step 1 already holds the session, nothing else is called', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    const tokens = await operator.obtain();
    expect(erp.count()).toBe(1);
    expect(await statusWith(tokens.data.token)).toBe(200);
    expect(await stateOf(operator)).toMatchObject({ [K.clientId]: '11', [K.userId]: String(WS.userId) });
  });

  it('abbreviated login with an id the server did not choose names the field and the only choice', async () => {
    const error = await providerFailure(new Operator(WS, { client: 11, role: GW.adminRole }).obtain());
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginChoiceNotFound' });
    expect(error.message).toContain('spec.provider.idempiere.login.role = 102');
    expect(error.message).toContain(`role ${GW.webServiceRole}`);
  });

  it('a name that matches nothing names the field and lists every choice', async () => {
    const operator = new Operator(ADMIN, { client: 'GardenWorld', role: 'No Such Role' });
    const error = await providerFailure(operator.obtain());
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginChoiceNotFound' });
    expect(error.message).toContain('spec.provider.idempiere.login.role = "No Such Role"');
    expect(error.message).toContain(
      'GardenWorld Admin (102), GardenWorld User (103), Store Role (50010), Store Role (50011)',
    );
    expect(counts().put).toBe(0);
    expect(await stateOf(operator)).toEqual({});
  });

  it('an ambiguous role or organization name lists the matches and the choices', async () => {
    const role = await providerFailure(new Operator(ADMIN, { client: 11, role: 'Store Role' }).obtain());
    expect(role).toMatchObject({ kind: 'terminal', reason: 'LoginChoiceAmbiguous' });
    expect(role.message).toContain('spec.provider.idempiere.login.role = "Store Role" matches 2 roles');
    expect(role.message).toContain('Store Role (50010), Store Role (50011)');

    const org = await providerFailure(
      new Operator(ADMIN, { client: 11, role: 'GardenWorld Admin', organization: 'Store' }).obtain(),
    );
    expect(org).toMatchObject({ kind: 'terminal', reason: 'LoginChoiceAmbiguous' });
    expect(org.message).toContain('spec.provider.idempiere.login.organization = "Store"');
    expect(org.message).toContain('Store (50004), Store (50005)');
    expect(org.message).toContain('HQ (11)');
    expect(counts().put).toBe(0);
  });

  it('omitted role or organization with several choices asks for one, listing them', async () => {
    const role = await providerFailure(new Operator(ADMIN, { client: 11 }).obtain());
    expect(role).toMatchObject({ reason: 'LoginChoiceAmbiguous' });
    expect(role.message).toContain('spec.provider.idempiere.login.role is not set');
    expect(role.message).toContain('GardenWorld User (103)');
    const org = await providerFailure(new Operator(USER, { client: 11 }).obtain());
    expect(org.message).toContain('spec.provider.idempiere.login.organization is not set');
    expect(org.message).toContain('HQ (11), Store Central (12)');
  });

  it('a wrong id in a one-step login falls back to the lookups to list the choices', async () => {
    const error = await providerFailure(new Operator(ADMIN, { ...ADMIN_IDS, role: 999 }).obtain());
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginChoiceNotFound' });
    expect(error.message).toContain('spec.provider.idempiere.login.role = 999 matches no role');
    expect(error.message).toContain('GardenWorld Admin (102)');
  });

  it('a client search key is left to the server; an unknown client lists the clients', async () => {
    const sunrise = await new Operator(ADMIN, { client: 'Sunrise', role: 'Sunrise Admin' }).obtain();
    expect(jwtParts(sunrise.data.token).payload).toMatchObject({
      AD_Client_ID: GW.sunrise,
      AD_Role_ID: GW.sunriseRole,
    });
    const error = await providerFailure(new Operator(ADMIN, { client: 'Nope' }).obtain());
    expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginChoiceNotFound' });
    expect(error.message).toContain('spec.provider.idempiere.login.client = "Nope"');
    expect(error.message).toContain('GardenWorld (11), Sunrise Corp (1000000)');
  });

  it('a wrong password is a terminal LoginFailed quoting iDempiere, never the password', async () => {
    for (const login of [WS_LOGIN, ADMIN_IDS]) {
      const operator = new Operator({ userName: ADMIN.userName, password: 'Wr0ng-pass' }, login);
      const error = await providerFailure(operator.obtain());
      expect(error).toMatchObject({ kind: 'terminal', reason: 'LoginFailed', httpStatus: 401 });
      expect(error.message).toContain('Invalid User ID or Password');
      expect(error.message).toContain('user "GardenAdmin"');
      expect(error.message).toContain('Secret test-ns/erp-user (keys username, password)');
      expect(error.message).not.toContain('Wr0ng-pass');
    }
  });

  it('TTL 0: no exp, so the assumed lifetime, or a terminal error asking for it', async () => {
    erp.knobs.tokenExpireMinutes = 0;
    const operator = new Operator(WS, WS_LOGIN);
    const error = await providerFailure(operator.obtain());
    expect(error).toMatchObject({ kind: 'terminal', reason: 'UnknownExpiry' });
    expect(error.message).toContain('spec.refresh.assumedLifetime');
    // The chain was stored before the expiry was read: nothing is lost.
    expect((await stateOf(operator))[K.refreshToken]).toBeTruthy();
    const tokens = await operator.obtain({ assumedLifetimeMs: 30 * MINUTE });
    expect(tokens).toMatchObject({ expiresAt: START + 30 * MINUTE, expirySource: 'assumed' });
    expect(counts()).toEqual({ login: 1, refresh: 1, put: 0 });
  });
});

describe('refresh', () => {
  it('rotates over several rounds: one chain grows, no breach, every token works', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    const seen = new Set<string>();
    for (let round = 1; round <= 4; round += 1) {
      clock.advance(45 * MINUTE);
      const before = await stateOf(operator);
      const tokens = await operator.obtain();
      const after = await stateOf(operator);
      expect(after[K.refreshToken]).not.toBe(before[K.refreshToken]);
      expect(after[K.loginAt]).toBe(new Date(START).toISOString());
      expect(after[K.refreshedAt]).toBe(new Date(START + round * 45 * MINUTE).toISOString());
      expect(after[K.intent]).toBeUndefined();
      expect(tokens.expiresAt).toBe(START + round * 45 * MINUTE + HOUR);
      expect(await statusWith(tokens.data.token)).toBe(200);
      seen.add(String(after[K.refreshToken]));
    }
    expect(seen.size).toBe(4);
    expect(counts()).toEqual({ login: 1, refresh: 4, put: 0 });
    expect(erp.activeChains()).toMatchObject([{ length: 5, userId: WS.userId, clientId: GW.client }]);
    expect(erp.breachCount()).toBe(0);
    // Intent write and chain write per refresh, one write per login.
    expect((operator.state as MemoryState).writes).toBe(1 + 4 * 2);
  });

  it('a password changed in the Secret means a new login, without using the refresh token', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    erp.changePassword(WS.userName, 'N3w-pass');
    operator.setPassword('N3w-pass');
    const tokens = await operator.obtain();
    expect(counts()).toEqual({ login: 2, refresh: 0, put: 0 });
    expect(await statusWith(tokens.data.token)).toBe(200);
  });

  it('a changed login spec means a new login', async () => {
    const operator = new Operator(ADMIN, ADMIN_IDS);
    await operator.obtain();
    const changed = new Operator(ADMIN, { ...ADMIN_IDS, warehouse: GW.hqTransit }, operator.state);
    const tokens = await changed.obtain();
    expect(counts()).toEqual({ login: 2, refresh: 0, put: 0 });
    expect(jwtParts(tokens.data.token).payload).toMatchObject({ M_Warehouse_ID: GW.hqTransit });
  });

  it('tokens revoked at the server (password change, Expire Refresh Tokens): refresh fails, login follows', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    erp.expireRefreshTokens();
    const tokens = await operator.obtain();
    expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
    expect(await statusWith(tokens.data.token)).toBe(200);
    expect((await stateOf(operator))[K.intent]).toBeUndefined();
    expect(erp.breachCount()).toBe(0);
  });

  it('an expired refresh token (24 h idle) leads to a new login', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    clock.advance(24 * HOUR + MINUTE);
    const tokens = await operator.obtain();
    expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
    expect(await statusWith(tokens.data.token)).toBe(200);
    expect(erp.activeChains()).toMatchObject([{ length: 1 }]);
    expect(erp.breachCount()).toBe(0);
  });

  it('logs in anew before a refreshed token could outlive the 7-day absolute limit', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    for (let round = 0; round < 8; round += 1) {
      clock.advance(20 * HOUR);
      await operator.obtain();
    }
    expect(counts()).toEqual({ login: 1, refresh: 8, put: 0 });
    clock.advance(7.5 * HOUR); // 167.5 h into the chain
    const tokens = await operator.obtain();
    expect(counts()).toEqual({ login: 2, refresh: 8, put: 0 });
    clock.advance(31 * MINUTE); // past the old chain's absolute limit
    expect(await statusWith(tokens.data.token)).toBe(200);
  });
});

describe('crash safety', () => {
  /** Logged in, then time for a refresh: the state holds an unused refresh token. */
  async function dueForRefresh(operator: Operator): Promise<TokenSet> {
    const first = await operator.obtain();
    clock.advance(40 * MINUTE);
    return first;
  }

  async function expectRecovered(operator: Operator): Promise<void> {
    const tokens = await operator.obtain();
    expect(await statusWith(tokens.data.token)).toBe(200);
    expect(erp.breachCount()).toBe(0);
    expect((await stateOf(operator))[K.intent]).toBeUndefined();
  }

  it('commit-then-drop on /refresh: outcome unknown, intent kept, then a full login and no breach', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    const first = await dueForRefresh(operator);
    const before = await stateOf(operator);
    erp.faults.push(ROUTES.refresh, { kind: 'commit-then-drop' });
    const error = await providerFailure(operator.obtain());
    expect(error).toMatchObject({ kind: 'transient', outcomeUnknown: true });
    expect(error.message).toContain('never sent again');
    expect(error.message).not.toContain(String(before[K.refreshToken]));
    const kept = await stateOf(operator);
    expect(kept[K.intent]).toBe(`refresh:${sha(String(before[K.refreshToken])).slice(0, 16)}`);
    expect(kept[K.refreshToken]).toBe(before[K.refreshToken]);
    expect(erp.activeChains()).toMatchObject([{ length: 2 }]); // the server did rotate

    await expectRecovered(operator);
    expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
    // Nothing was revoked: the first token is still good.
    expect(await statusWith(first.data.token)).toBe(200);
  });

  it('a reset after the request was sent is an unknown outcome too: login next, never a resend', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await dueForRefresh(operator);
    erp.faults.push(ROUTES.refresh, { kind: 'reset' });
    const error = await providerFailure(operator.obtain());
    expect(error).toMatchObject({ reason: 'ConnectionReset', outcomeUnknown: true });
    expect((await stateOf(operator))[K.intent]).toMatch(/^refresh:[0-9a-f]{16}$/);
    await expectRecovered(operator);
    expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
  });

  it('a client timeout on /refresh: login next; the late rotation at the server causes no breach', async () => {
    const impatient = createHttpClient({ timeoutMs: 150 });
    try {
      const operator = new Operator(WS, WS_LOGIN, new MemoryState(), impatient);
      await dueForRefresh(operator);
      erp.faults.push(ROUTES.refresh, { kind: 'delay', ms: 600 });
      const error = await providerFailure(operator.obtain());
      expect(error).toMatchObject({ reason: 'ProviderTimeout', outcomeUnknown: true });
      await expectRecovered(operator);
      expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
      // The held request now reaches the route and rotates the old chain.
      await vi.waitFor(
        () => {
          expect(erp.requests().find((r) => r.route === ROUTES.refresh)?.status).toBe(200);
        },
        { timeout: 5_000 },
      );
      expect(erp.activeChains()).toHaveLength(2);
      expect(erp.breachCount()).toBe(0);
      expect(await statusWith(operator.current?.data.token)).toBe(200);
    } finally {
      await impatient.close();
    }
  });

  it('an abort while /refresh is in flight: outcome unknown, login next, no breach', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await dueForRefresh(operator);
    erp.faults.push(ROUTES.refresh, { kind: 'delay', ms: 600 });
    const controller = new AbortController();
    const pending = providerFailure(operator.obtain({ signal: controller.signal }));
    await vi.waitFor(
      () => {
        expect(erp.count(ROUTES.refresh)).toBe(1);
      },
      { timeout: 5_000 },
    );
    controller.abort();
    const error = await pending;
    expect(error).toMatchObject({ kind: 'transient', reason: 'Aborted', outcomeUnknown: true });
    expect((await stateOf(operator))[K.intent]).toMatch(/^refresh:/);
    await expectRecovered(operator);
    await vi.waitFor(
      () => {
        expect(erp.requests().find((r) => r.route === ROUTES.refresh)?.status).toBe(200);
      },
      { timeout: 5_000 },
    );
    expect(erp.breachCount()).toBe(0);
    expect(await statusWith(operator.current?.data.token)).toBe(200);
    expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
  });

  it('another replica writing between read and intent: StateConflictError and no /refresh call', async () => {
    const shared = new MemoryState();
    const operator = new Operator(WS, WS_LOGIN, shared);
    await dueForRefresh(operator);
    const racing: StateStore = {
      async read() {
        const state = await shared.read();
        // The other replica records its own intent on the same token right now.
        shared.externalWrite({ ...state, [K.intent]: 'refresh:0123456789abcdef', [K.intentAt]: 'x' });
        return state;
      },
      write: (state) => shared.write(state),
    };
    const loser = new Operator(WS, WS_LOGIN, racing);
    expect(await failure(loser.obtain())).toBeInstanceOf(StateConflictError);
    expect(erp.count(ROUTES.refresh)).toBe(0);
    // Retried from fresh state, the other replica's intent means a login, never that token again.
    await expectRecovered(operator);
    expect(counts()).toEqual({ login: 2, refresh: 0, put: 0 });
  });

  it('two replicas racing on one state Secret: exactly one refresh, the other gets StateConflictError', async () => {
    const secret = new SharedSecret();
    const a = new Operator(WS, WS_LOGIN, new ReplicaState(secret));
    await dueForRefresh(a);
    const b = new Operator(WS, WS_LOGIN, new ReplicaState(secret));
    // Both read before either writes.
    let release = (): void => undefined;
    const bothRead = new Promise<void>((resolve) => {
      let waiting = 2;
      release = () => {
        waiting -= 1;
        if (waiting === 0) resolve();
      };
    });
    for (const replica of [a, b]) {
      (replica.state as ReplicaState).afterRead = () => {
        release();
        return bothRead;
      };
    }
    const results = await Promise.allSettled([a.obtain(), b.obtain()]);
    for (const replica of [a, b]) (replica.state as ReplicaState).afterRead = undefined;
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(StateConflictError);
    expect(erp.count(ROUTES.refresh)).toBe(1);
    // The loser retries from fresh state and continues the chain.
    const loser = results[0].status === 'rejected' ? a : b;
    await expectRecovered(loser);
    expect(counts()).toEqual({ login: 1, refresh: 2, put: 0 });
    expect(erp.activeChains()).toMatchObject([{ length: 3 }]);
  });

  it('a crash between the refresh answer and the state write: the next obtain logs in, no breach', async () => {
    const state = new ScriptedState();
    const operator = new Operator(WS, WS_LOGIN, state);
    await dueForRefresh(operator);
    state.arm({ phase: 'chain', when: 'before', how: 'error' });
    const error = await failure(operator.obtain());
    expect(String(error)).toContain('simulated state write failure');
    expect(erp.count(ROUTES.refresh)).toBe(1);
    await expectRecovered(operator);
    expect(counts()).toEqual({ login: 2, refresh: 1, put: 0 });
  });
});

describe('failure at every step of the refresh protocol', () => {
  interface Case {
    name: string;
    arm: (state: ScriptedState, abort: AbortController) => void;
    /** What the attempt after the failure does. */
    then: 'login' | 'refresh';
    /** Whether the failing attempt still succeeds (a definite refusal is handled within it). */
    first?: 'ok';
  }
  const fault = (f: ScriptedFault) => () => {
    erp.faults.push(ROUTES.refresh, f);
  };
  const cases: Case[] = [
    { name: 'state read fails', arm: (s) => (s.failRead = true), then: 'refresh' },
    {
      name: 'intent write fails',
      arm: (s) => {
        s.arm({ phase: 'intent', when: 'before', how: 'error' });
      },
      then: 'refresh',
    },
    {
      name: 'intent write conflicts',
      arm: (s) => {
        s.arm({ phase: 'intent', when: 'before', how: 'conflict' });
      },
      then: 'refresh',
    },
    {
      name: 'intent written but reported failed',
      arm: (s) => {
        s.arm({ phase: 'intent', when: 'after', how: 'error' });
      },
      then: 'login',
    },
    {
      name: 'aborted before the intent',
      arm: (_s, a) => {
        a.abort();
      },
      then: 'refresh',
    },
    {
      name: 'aborted after the intent',
      arm: (s) => {
        s.arm({ phase: 'intent', when: 'after', how: 'abort' });
      },
      then: 'login',
    },
    { name: '/refresh reset', arm: fault({ kind: 'reset' }), then: 'login' },
    { name: '/refresh commit-then-drop', arm: fault({ kind: 'commit-then-drop' }), then: 'login' },
    { name: '/refresh 500', arm: fault({ kind: 'status', status: 500 }), then: 'login' },
    { name: '/refresh 502 page after commit', arm: fault({ kind: 'html', commit: true }), then: 'login' },
    {
      name: '/refresh bad JSON after commit',
      arm: fault({ kind: 'invalid-json', commit: true }),
      then: 'login',
    },
    {
      name: '/refresh truncated after commit',
      arm: fault({ kind: 'truncated', commit: true }),
      then: 'login',
    },
    { name: '/refresh 429', arm: () => erp.throttle(ROUTES.refresh, { retryAfter: 5 }), then: 'login' },
    { name: '/refresh refused', arm: () => erp.expireRefreshTokens(), then: 'refresh', first: 'ok' },
    {
      name: 'chain write fails',
      arm: (s) => {
        s.arm({ phase: 'chain', when: 'before', how: 'error' });
      },
      then: 'login',
    },
    {
      name: 'chain written but reported failed',
      arm: (s) => {
        s.arm({ phase: 'chain', when: 'after', how: 'error' });
      },
      then: 'refresh',
    },
    {
      name: 'chain write conflicts',
      arm: (s) => {
        s.arm({ phase: 'chain', when: 'before', how: 'conflict' });
      },
      then: 'login',
    },
  ];

  it.each(cases)('$name', async ({ arm, then, first }) => {
    const state = new ScriptedState();
    const operator = new Operator(WS, WS_LOGIN, state);
    await operator.obtain();
    clock.advance(40 * MINUTE);
    const abort = new AbortController();
    state.abort = abort;
    arm(state, abort);
    const attempt = operator.obtain({ signal: abort.signal });
    if (first === 'ok') await attempt;
    else {
      const error = await failure(attempt);
      const message = error instanceof Error ? error.message : String(error);
      const stored = state.inner.peek()[K.refreshToken];
      expect(stored).toBeTruthy();
      expect(message).not.toContain(stored);
      expect(message).not.toContain(WS.password);
    }
    state.disarm();
    erp.faults.clear();
    expect(erp.breachCount()).toBe(0);

    const before = counts();
    const tokens = await operator.obtain();
    const after = counts();
    expect({ login: after.login - before.login, refresh: after.refresh - before.refresh }).toEqual(
      then === 'login' ? { login: 1, refresh: 0 } : { login: 0, refresh: 1 },
    );
    expect(await statusWith(tokens.data.token)).toBe(200);
    expect(erp.breachCount()).toBe(0);

    // And the chain it left behind keeps rotating.
    clock.advance(40 * MINUTE);
    const next = await operator.obtain();
    expect(await statusWith(next.data.token)).toBe(200);
    expect(erp.breachCount()).toBe(0);
    expect((await state.read())[K.intent]).toBeUndefined();
  });
});

describe('release', () => {
  it('logs out the current token: the whole chain is revoked', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    clock.advance(40 * MINUTE);
    const tokens = await operator.obtain();
    expect(await provider.release(operator.spec, operator.context())).toBe('released');
    expect(erp.count(ROUTES.logout)).toBe(1);
    expect(await statusWith(tokens.data.token)).toBe(401);
    expect(erp.activeChains()).toEqual([]);
    expect(erp.refreshRows().map((row) => row.revokeCause)).toEqual(['Logout', 'Logout']);
  });

  it('unsupported without a token or with logoutOnDelete off; 404 (no session) counts as released', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    expect(await provider.release(operator.spec, operator.context())).toBe('unsupported');
    await operator.obtain();
    const off = { ...operator.spec, logoutOnDelete: false };
    expect(await provider.release(off, operator.context())).toBe('unsupported');
    expect(erp.count(ROUTES.logout)).toBe(0);
    erp.faults.push(ROUTES.logout, {
      kind: 'status',
      status: 404,
      body: { title: 'AD_Session_ID not found', status: 404 },
    });
    expect(await provider.release(operator.spec, operator.context())).toBe('released');
  });

  it('a failed logout is an error; an aborted one is bounded by the signal', async () => {
    const operator = new Operator(WS, WS_LOGIN);
    await operator.obtain();
    erp.faults.push(ROUTES.logout, { kind: 'status', status: 500 });
    const error = await providerFailure(provider.release(operator.spec, operator.context()));
    expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderServerError' });
    expect(error.message).not.toContain(String(operator.current?.data.token));
    const aborted = await providerFailure(
      provider.release(operator.spec, operator.context({ signal: AbortSignal.abort() })),
    );
    expect(aborted).toMatchObject({ reason: 'Aborted' });
  });
});

// ---- state stores with failures and a second replica ----

/** The state Secret both replicas see. */
class SharedSecret {
  data: Record<string, string> = {};
  version = 0;
}

/** One replica's SecretStateStore: fenced on the version it read, like the real one. */
class ReplicaState implements StateStore {
  readonly secret: SharedSecret;
  afterRead: (() => Promise<void>) | undefined;
  #readVersion: number | undefined;

  constructor(secret: SharedSecret) {
    this.secret = secret;
  }

  async read(): Promise<Readonly<Record<string, string>>> {
    this.#readVersion = this.secret.version;
    const copy = { ...this.secret.data };
    await this.afterRead?.();
    return copy;
  }

  write(state: Record<string, string>): Promise<void> {
    if (this.#readVersion !== this.secret.version) return Promise.reject(new StateConflictError());
    this.secret.data = { ...state };
    this.secret.version += 1;
    this.#readVersion = this.secret.version;
    return Promise.resolve();
  }
}

interface Failure {
  /** The intent write, or a write of a chain (after a refresh or a login). */
  phase: 'intent' | 'chain';
  /** Before: nothing is written. After: the write lands, then reports failure (its answer is lost). */
  when: 'before' | 'after';
  how: 'error' | 'conflict' | 'abort';
}

class PeekableState extends MemoryState {
  #last: Record<string, string> = {};
  override write(state: Record<string, string>): Promise<void> {
    return super.write(state).then(() => {
      this.#last = { ...state };
    });
  }
  override externalWrite(state: Record<string, string>): void {
    super.externalWrite(state);
    this.#last = { ...state };
  }
  peek(): Readonly<Record<string, string>> {
    return this.#last;
  }
}

/** A MemoryState that fails once where it is told to. */
class ScriptedState implements StateStore {
  readonly inner = new PeekableState();
  failRead = false;
  abort: AbortController | undefined;
  #failure: Failure | undefined;

  arm(failure: Failure): void {
    this.#failure = failure;
  }

  disarm(): void {
    this.#failure = undefined;
    this.failRead = false;
  }

  read(): Promise<Readonly<Record<string, string>>> {
    if (this.failRead) {
      this.failRead = false;
      return Promise.reject(new Error('simulated state read failure'));
    }
    return this.inner.read();
  }

  async write(state: Record<string, string>): Promise<void> {
    const failure = this.#failure;
    const phase = state[K.intent] === undefined ? 'chain' : 'intent';
    if (failure?.phase !== phase) {
      await this.inner.write(state);
      return;
    }
    this.#failure = undefined;
    if (failure.when === 'before') {
      if (failure.how === 'conflict') this.inner.externalWrite(this.inner.peek());
      else if (failure.how === 'error') throw new Error('simulated state write failure');
    }
    await this.inner.write(state);
    if (failure.when === 'after') {
      if (failure.how === 'abort') this.abort?.abort();
      else throw new Error('simulated state write failure (the write landed)');
    }
  }
}
