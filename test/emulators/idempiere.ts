// iDempiere REST (bxservice/idempiere-rest) authentication: login flows, single-use refresh tokens
// with breach detection, logout, the RequestFilter's rules, and one protected model resource
// (vendor notes §1, seed 004).
import { randomBytes } from 'node:crypto';
import {
  IDEMPIERE_DEFAULT_KNOBS,
  authenticateError,
  errorReply,
  minutesFrom,
  type IdempiereKnobs,
} from './idempiere-config.ts';
import { Directory, gardenWorld, type IdempiereData } from './idempiere-data.ts';
import { JavaJwt } from './idempiere-jwt.ts';
import {
  accessExp,
  authenticate,
  lookupOptions,
  loginParameters,
  processLoginParameters,
  type LoginEnv,
} from './idempiere-login.ts';
import { RefreshStore, type BreachEvent, type ChainInfo, type RefreshRowView } from './idempiere-refresh.ts';
import { Emulator, type EmulatorOptions } from './emulator.ts';
import {
  empty,
  header,
  isRecord,
  json,
  mediaType,
  parseJson,
  type EmulatorRequest,
  type Reply,
} from './http.ts';
import type { JsonObject } from './jwt.ts';

export const IDEMPIERE_ROUTES = {
  login: 'POST /api/v1/auth/tokens',
  finishLogin: 'PUT /api/v1/auth/tokens',
  roles: 'GET /api/v1/auth/roles',
  organizations: 'GET /api/v1/auth/organizations',
  warehouses: 'GET /api/v1/auth/warehouses',
  language: 'GET /api/v1/auth/language',
  jwk: 'GET /api/v1/auth/jwk',
  refresh: 'POST /api/v1/auth/refresh',
  logout: 'POST /api/v1/auth/logout',
  bpartners: 'GET /api/v1/models/c_bpartner',
} as const;

export interface IdempiereOptions extends EmulatorOptions {
  /** The data model; default `gardenWorld()`. */
  data?: IdempiereData;
  /** REST_TOKEN_SECRET; default a random UUID. */
  secret?: string;
  knobs?: Partial<IdempiereKnobs>;
}

type Claims = JsonObject;

const AUTH_PREFIX = '/api/v1/auth/';
const intClaim = (claims: Claims, name: string): number | undefined =>
  typeof claims[name] === 'number' ? claims[name] : undefined;

/** Java's `String.split(" ")`: trailing empty strings are dropped. */
function javaSplit(value: string): string[] {
  const parts = value.split(' ');
  while (parts.length > 0 && parts.at(-1) === '') parts.pop();
  return parts;
}

export class IdempiereEmulator extends Emulator {
  readonly knobs: IdempiereKnobs;
  #directory: Directory;
  #jwt: JavaJwt;
  #store = new RefreshStore();
  #sessions = new Map<number, { loggedOut: boolean }>();
  #nextSession = 1_000_000;
  #env: LoginEnv;

  constructor(options: IdempiereOptions = {}) {
    super(options);
    this.knobs = { ...IDEMPIERE_DEFAULT_KNOBS, ...options.knobs };
    this.#directory = new Directory(options.data ?? gardenWorld());
    this.#jwt = new JavaJwt(options.secret);
    this.#env = {
      directory: this.#directory,
      knobs: this.knobs,
      jwt: this.#jwt,
      clock: this.clock,
      newSession: () => this.#newSession(),
      refreshTokenFor: (token, parent, absolute) => this.#storeRefresh(token, parent, absolute),
    };
    this.route('POST', '/api/v1/auth/tokens', (r) =>
      this.#withJson(r, (body) => authenticate(this.#env, body)),
    );
    this.route('PUT', '/api/v1/auth/tokens', (r) => this.#finishLogin(r));
    this.route('GET', '/api/v1/auth/roles', (r) => this.#lookup(r, 'roles'));
    this.route('GET', '/api/v1/auth/organizations', (r) => this.#lookup(r, 'organizations'));
    this.route('GET', '/api/v1/auth/warehouses', (r) => this.#lookup(r, 'warehouses'));
    this.route('GET', '/api/v1/auth/language', (r) => this.#language(r));
    this.route('GET', '/api/v1/auth/jwk', () => this.#jwk());
    this.route('POST', '/api/v1/auth/refresh', (r) => this.#withJson(r, (body) => this.#refresh(body)));
    this.route('POST', '/api/v1/auth/logout', (r) => this.#withJson(r, (body) => this.#logout(body)));
    this.route('GET', '/api/v1/models/c_bpartner', (r) => this.#bpartners(r));
  }

  // ---- test helpers ----

  /** How many refresh-token reuses were detected. */
  breachCount(): number {
    return this.#store.breaches().length;
  }

  breaches(): BreachEvent[] {
    return this.#store.breaches();
  }

  /** Token chains whose newest refresh token is still usable. */
  activeChains(): ChainInfo[] {
    return this.#store.activeChains(this.clock.now());
  }

  /** REST_RefreshToken rows, without token values. */
  refreshRows(): RefreshRowView[] {
    return this.#store.rows();
  }

  /** AD_Session rows created so far. */
  sessionCount(): number {
    return this.#sessions.size;
  }

  /** Deactivate a user: login fails, and tokens carrying their AD_User_ID get "User is inactive". */
  disableUser(userName: string): void {
    this.#user(userName).active = false;
  }

  enableUser(userName: string): void {
    this.#user(userName).active = true;
  }

  /** Lock the account: login answers "User account '…' is locked, …". */
  lockUser(userName: string): void {
    this.#user(userName).locked = true;
  }

  /** Make Login.validateLogin veto this user's sessions (undefined clears). */
  setLoginError(userName: string, message: string | undefined): void {
    const user = this.#user(userName);
    if (message === undefined) delete user.loginError;
    else user.loginError = message;
  }

  /** Deactivate a client: its tokens get "Client is inactive". */
  disableClient(clientId: number): void {
    const client = this.#directory.client(clientId);
    if (!client) throw new Error(`unknown client ${clientId}`);
    client.active = false;
  }

  /** A password change: the new password applies and the user's refresh tokens are all revoked. */
  changePassword(userName: string, newPassword: string): number {
    const user = this.#user(userName);
    user.password = newPassword;
    return this.#store.expire((row) => row.userId === user.id, 'PasswordChange', this.clock.now());
  }

  /** The "Expire Refresh Tokens" process; by default every live token. Returns how many. */
  expireRefreshTokens(where: (row: RefreshRowView) => boolean = () => true): number {
    return this.#store.expire(where, 'ManualExpire', this.clock.now());
  }

  /** The "Expire Server Secret" process: a new REST_TOKEN_SECRET; every token stops verifying. */
  expireServerSecret(): void {
    this.#jwt.rotate();
  }

  // With REST_USE_SYSCONFIG_SECRET=N the secret lives in memory only, so a restart changes it.
  protected override onRestart(): Promise<void> {
    if (!this.knobs.useSysConfigSecret) this.#jwt.rotate();
    return Promise.resolve();
  }

  // ---- routes ----

  /** Jersey: 415 for a non-JSON entity, 400 for unparseable JSON, 500 for a missing one (NPE). */
  async #withJson(
    request: EmulatorRequest,
    handle: (body: Record<string, unknown>) => Reply | Promise<Reply>,
  ) {
    if (mediaType(request) !== 'application/json') return empty(415);
    if (request.body.length === 0) return empty(500);
    const parsed = parseJson(request);
    if (!parsed.ok) return empty(400);
    if (!isRecord(parsed.value)) return empty(400);
    return handle(parsed.value);
  }

  #finishLogin(request: EmulatorRequest): Reply | Promise<Reply> {
    if (mediaType(request) !== 'application/json') return empty(415);
    const auth = this.#filter(request);
    if (!auth.ok) return auth.reply;
    const { claims } = auth;
    return this.#withJson(request, (body) =>
      processLoginParameters(
        this.#env,
        loginParameters(body),
        String(claims.sub),
        stringClaim(claims, 'Clients'),
      ),
    );
  }

  #lookup(request: EmulatorRequest, kind: 'roles' | 'organizations' | 'warehouses'): Reply {
    const auth = this.#filter(request);
    if (!auth.ok) return auth.reply;
    const ids = { client: 0, role: 0, organization: 0 };
    for (const name of ['client', 'role', 'organization'] as const) {
      const value = intParam(request, name);
      if (value === undefined) return empty(404); // JAX-RS cannot convert the query parameter
      ids[name] = value;
    }
    return lookupOptions(this.#env, kind, String(auth.claims.sub), stringClaim(auth.claims, 'Clients'), ids);
  }

  #language(request: EmulatorRequest): Reply {
    const auth = this.#filter(request);
    if (!auth.ok) return auth.reply;
    const clientId = intParam(request, 'client');
    if (clientId === undefined) return empty(404);
    const client = this.#directory.client(clientId);
    if (!client || client.id <= 0) return empty(400);
    return json(200, { AD_Language: client.language });
  }

  #jwk(): Reply {
    if (!this.knobs.exposeJwk) return json(200, {});
    const k = Buffer.from(this.#jwt.secret).toString('base64');
    return json(200, { keys: [{ alg: 'HS512', k, kid: 'idempiere', kty: 'oct' }] });
  }

  /** `POST /api/v1/auth/refresh`, checks in the plugin's order. */
  #refresh(body: Record<string, unknown>): Reply {
    const refreshToken = typeof body.refresh_token === 'string' ? body.refresh_token : undefined;
    const clientId = integerField(body.clientId);
    const userId = integerField(body.userId);
    if (clientId === false || userId === false) return empty(400); // Jackson cannot bind Integer
    if (clientId === undefined && this.knobs.mandatoryClientIdOnRefresh)
      return authenticateError('No clientId provided');
    if (userId === undefined && this.knobs.mandatoryUserIdOnRefresh)
      return authenticateError('No userId provided');
    const now = this.clock.now();
    if (refreshToken !== undefined && this.#store.isParent(refreshToken)) {
      this.#store.breach(refreshToken, now);
      return authenticateError('Invalid refresh token');
    }
    const verified = this.#jwt.verify(refreshToken, { now, checkExp: true });
    if (!verified.ok) return authenticateError(verified.message);
    const row = refreshToken === undefined ? undefined : this.#store.validForRefresh(refreshToken, now);
    if (!row) return authenticateError('Invalid refresh token');
    if (clientId !== undefined && row.clientId !== clientId)
      return authenticateError('Invalid refresh token');
    if (userId !== undefined && row.userId !== userId) return authenticateError('Invalid refresh token');

    const stored = this.#jwt.verify(row.token, { now, checkExp: false });
    if (!stored.ok) return authenticateError(stored.message);
    const old = stored.claims;
    const orgId = intClaim(old, 'AD_Org_ID') ?? -1;
    const warehouseId = intClaim(old, 'M_Warehouse_ID') ?? -1;
    const language = typeof old.AD_Language === 'string' ? old.AD_Language : undefined;
    const claims: Claims = {
      sub: old.sub,
      AD_Client_ID: intClaim(old, 'AD_Client_ID') ?? -1,
      AD_User_ID: intClaim(old, 'AD_User_ID') ?? -1,
      AD_Role_ID: intClaim(old, 'AD_Role_ID') ?? -1,
      AD_Org_ID: orgId,
      ...(orgId > 0 && warehouseId > 0 ? { M_Warehouse_ID: warehouseId } : {}),
      ...(language === undefined ? {} : { AD_Language: language }),
      AD_Session_ID: intClaim(old, 'AD_Session_ID') ?? -1,
    };
    const token = this.#jwt.sign(claims, accessExp(this.#env));
    // The new row inherits AbsoluteExpiresAt; the old access token is not revoked.
    return json(200, { token, refresh_token: this.#storeRefresh(token, refreshToken ?? null, undefined) });
  }

  /** `POST /api/v1/auth/logout`: expiry is ignored, only signature and issuer are checked. */
  #logout(body: Record<string, unknown>): Reply {
    const token = typeof body.token === 'string' ? body.token : undefined;
    const now = this.clock.now();
    const verified = this.#jwt.verify(token, { now, checkExp: false });
    if (!verified.ok) return authenticateError(verified.message);
    if (token === undefined) return empty(500);
    const sessionId = intClaim(verified.claims, 'AD_Session_ID');
    if (sessionId === undefined) return errorReply(404, 'AD_Session_ID not found');
    const session = this.#sessions.get(sessionId);
    if (session) session.loggedOut = true;
    if (!this.#store.logout(token, now)) return empty(500); // MRefreshToken.logout: NullPointerException
    return json(200, { summary: 'OK' });
  }

  #bpartners(request: EmulatorRequest): Reply {
    const auth = this.#filter(request);
    if (!auth.ok) return auth.reply;
    const records = this.#directory.bpartners(intClaim(auth.claims, 'AD_Client_ID') ?? 0).map((bp) => ({
      id: bp.id,
      uid: `${bp.id.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
      Value: bp.value,
      Name: bp.name,
      'model-name': 'c_bpartner',
    }));
    return json(200, {
      'page-count': 1,
      'records-size': 100,
      'skip-records': 0,
      'row-count': records.length,
      'array-count': records.length,
      records,
    });
  }

  /** RequestFilter for every route that needs `Authorization: Bearer`. */
  #filter(request: EmulatorRequest): FilterResult {
    const reject = (reply: Reply): FilterResult => ({ ok: false, reply });
    const unauthorized = (title: string) => reject(errorReply(401, title));
    const value = header(request, 'authorization');
    if (value?.startsWith('Bearer') !== true) return reject(empty(401));
    const token = javaSplit(value)[1];
    if (token === undefined) return reject(empty(401));
    const now = this.clock.now();
    if (this.#store.isRevoked(token, now)) return unauthorized('Token is revoked');
    const verified = this.#jwt.verify(token, { now, checkExp: true });
    if (!verified.ok) return unauthorized(verified.message);
    const claims = verified.claims;
    const clientId = intClaim(claims, 'AD_Client_ID');
    if (clientId !== undefined) {
      const client = this.#directory.client(clientId);
      if (!client) return unauthorized('Invalid client claim');
      if (client.active === false) return unauthorized('Client is inactive');
    }
    const userId = intClaim(claims, 'AD_User_ID');
    const user = userId === undefined ? undefined : this.#directory.userById(userId);
    if (userId !== undefined) {
      if (!user) return unauthorized('Invalid user claim');
      if (user.active === false) return unauthorized('User is inactive');
    }
    const roleId = intClaim(claims, 'AD_Role_ID');
    if (roleId !== undefined) {
      const role = this.#directory.role(roleId);
      if (!role) return unauthorized('Invalid role claim');
      if (role.active === false) return unauthorized('Role is inactive');
    }
    const sessionId = intClaim(claims, 'AD_Session_ID');
    if (sessionId !== undefined) {
      const session = this.#sessions.get(sessionId);
      if (!session) return unauthorized('Invalid session claim');
      if (session.loggedOut) return reject(empty(401));
      // Login.validateLogin runs on every request that carries a session.
      if (user?.loginError) return unauthorized(user.loginError);
    }
    // A step-1 token (no user, no role) only reaches /api/v1/auth/*.
    if ((userId === undefined || roleId === undefined) && !request.path.startsWith(AUTH_PREFIX)) {
      return reject(empty(401));
    }
    return { ok: true, claims };
  }

  #newSession(): number {
    const id = this.#nextSession++;
    this.#sessions.set(id, { loggedOut: false });
    return id;
  }

  #storeRefresh(token: string, parent: string | null, absoluteExpiresAt: number | null | undefined): string {
    const now = this.clock.now();
    const claims = this.#jwt.verify(token, { now, checkExp: false });
    if (!claims.ok) throw new Error(`cannot store refresh row: ${claims.message}`);
    const refreshToken = this.#jwt.sign({ jti: randomBytes(32).toString('hex') });
    this.#store.insert(
      {
        token,
        refreshToken,
        parentToken: parent,
        clientId: intClaim(claims.claims, 'AD_Client_ID') ?? -1,
        userId: intClaim(claims.claims, 'AD_User_ID') ?? -1,
        orgId: intClaim(claims.claims, 'AD_Org_ID') ?? -1,
        expiresAt: minutesFrom(now, this.knobs.refreshTokenExpireMinutes),
        absoluteExpiresAt,
      },
      now,
    );
    return refreshToken;
  }

  #user(userName: string) {
    const user = this.#directory.user(userName);
    if (!user) throw new Error(`unknown iDempiere user ${userName}`);
    return user;
  }
}

type FilterResult = { ok: true; claims: Claims } | { ok: false; reply: Reply };

function stringClaim(claims: Claims, name: string): string {
  return typeof claims[name] === 'string' ? claims[name] : '';
}

/** A JAX-RS `int` query parameter: 0 when absent, undefined when not an integer. */
function intParam(request: EmulatorRequest, name: string): number | undefined {
  const raw = request.query.get(name);
  if (raw === null || raw === '') return 0;
  return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
}

/** A Jackson `Integer`: undefined when absent or null, false when it cannot be bound. */
function integerField(value: unknown): number | undefined | false {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return Number.isInteger(value) ? value : false;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim());
  return false;
}
