// Siemens Insights Hub Technical Token Manager v3: `oauth/token`, `oauthTokens`, `userTenants` and the
// UAA-style `/token_keys` (vendor notes §4, seed 002), with a run-time provisioning model.
import { randomBytes, randomUUID } from 'node:crypto';
import { Emulator, type EmulatorOptions } from './emulator.ts';
import {
  basicCredentials,
  bearerToken,
  header,
  isRecord,
  json,
  parseJson,
  type EmulatorRequest,
  type Reply,
} from './http.ts';
import { epochSeconds, RsaKeyRing } from './jwt.ts';

export const MINDSPHERE_BASE_PATH = '/api/technicaltokenmanager/v3';
/** Probable TTM path on Xcelerator (`api.eu1.siemens.app`); the notes mark it unconfirmed. */
export const XCELERATOR_BASE_PATH = '/api/technicaltokenmanager-1000001700/v3';

export function insightsHubRoutes(basePath = MINDSPHERE_BASE_PATH) {
  return {
    token: `POST ${basePath}/oauth/token`,
    oauthTokens: `POST ${basePath}/oauthTokens`,
    userTenants: `GET ${basePath}/userTenants`,
    tokenKeys: 'GET /token_keys',
  } as const;
}

export interface TtmApp {
  clientId: string;
  clientSecret: string;
  appName: string;
  appVersion: string;
  hostTenant: string;
  /** Tenants the app is provisioned to; changeable at run time. */
  userTenants: string[];
  /** App credentials are valid for 365 days; after this instant (epoch ms) the key gets 401. */
  credentialExpiresAt?: number;
}

export interface TenantFailure {
  status: number;
  code?: string;
  message?: string;
}

export interface InsightsHubKnobs {
  /** `exp - iat` of the JWT. Default 1800. */
  tokenLifetimeSeconds: number;
  /** `expires_in` in the response. Default 1799. */
  expiresIn: number;
  /** Default `Bearer`; the samples page shows `bearer`. */
  tokenType: 'Bearer' | 'bearer';
  /** `timestamp` as a numeric string, as on the samples page. Default false (a JSON number). */
  timestampAsString: boolean;
  /** `oauthTokens` per-call limit: samples page 5 (default), spec mirror 2. */
  maxTokensPerCall: number;
  /** `userTenants` page size limit. Default 100. */
  maxPageSize: number;
  /** A larger `size` is clamped (default) or refused with 400. */
  oversizedPage: 'clamp' | 'reject';
  /** Added to the clock for `iat`/`exp`/`timestamp`: a skewed token server. */
  clockSkewMs: number;
  region: string;
  /** Tenant claim: `ten` (MindSphere) or `sws.samauth.ten` (Xcelerator). */
  tenantClaim: 'ten' | 'sws.samauth.ten';
  /** Per-credential budget: more than `limit` token calls within `windowMs` get 429. */
  rateBudget: { limit: number; windowMs: number; retryAfter: boolean } | undefined;
  /** Requests with a JSON field the samples page does not show get 400 (the seed leaves extras open). */
  rejectUnknownFields: boolean;
  /** `userTenants` page size the server uses whatever `size` asks (fewer or more); undefined: honour it. */
  servedPageSize: number | undefined;
  /** `page` holds only zeros, as in the seed's sample (`"totalPages": 0` beside a non-empty list). */
  zeroPage: boolean;
  /** These `oauthTokens` calls (1 = the first) are answered 429 with `Retry-After: retryAfterSeconds`. */
  throttledBatchCalls: { calls: number[]; retryAfterSeconds: number } | undefined;
}

/** What seed 002 leaves open, taken the hard way (`new InsightsHubEmulator({ strict: true })`). */
export const STRICT_KNOBS: Readonly<Partial<InsightsHubKnobs>> = {
  rejectUnknownFields: true,
  servedPageSize: 20,
  zeroPage: true,
  throttledBatchCalls: { calls: [3], retryAfterSeconds: 2 },
};

export interface InsightsHubOptions extends EmulatorOptions {
  apps?: TtmApp[];
  /** Default `/api/technicaltokenmanager/v3`; see XCELERATOR_BASE_PATH. */
  basePath?: string;
  knobs?: Partial<InsightsHubKnobs>;
  /** Start from STRICT_KNOBS (knobs still override them). */
  strict?: boolean;
}

export const TTM_DEFAULT_APP: TtmApp = {
  clientId: 'hosttenant-myapp-1.0.0',
  clientSecret: 'ttm-app-s3cret-value',
  appName: 'myapp',
  appVersion: '1.0.0',
  hostTenant: 'hosttenant',
  userTenants: ['usertenanta', 'usertenantb', 'usertenantc'],
};

const SCOPES = ['mdsp:core:Admin3rdPartyTechUser'];
const CODES: Record<number, string> = {
  400: 'mdsp.core.generic.invalidParameter',
  401: 'mdsp.core.generic.unauthorized',
  403: 'mdsp.core.generic.forbidden',
  429: 'mdsp.core.generic.tooManyRequests',
  500: 'mdsp.core.generic.internalServerError',
};

function errorEntry(status: number, message: string, code = CODES[status] ?? 'mdsp.core.generic.error') {
  return { code, logref: randomBytes(8).toString('hex'), message };
}

function mdspError(status: number, message: string, headers: Record<string, string> = {}): Reply {
  return json(status, { errors: [errorEntry(status, message)] }, headers);
}

const TOKEN_FIELDS = ['appName', 'appVersion', 'hostTenant', 'userTenant'] as const;
const BATCH_FIELDS = ['appName', 'appVersion', 'hostTenantId', 'userTenantIds'] as const;

function unknownFields(body: Record<string, unknown>, known: readonly string[]): string[] {
  return Object.keys(body).filter((field) => !known.includes(field));
}

export class InsightsHubEmulator extends Emulator {
  readonly knobs: InsightsHubKnobs;
  readonly basePath: string;
  readonly routes: ReturnType<typeof insightsHubRoutes>;
  #apps = new Map<string, TtmApp>();
  #failures = new Map<string, TenantFailure>();
  #calls = new Map<string, number[]>();
  #keys: RsaKeyRing | undefined;
  #issued = 0;
  #batchCalls = 0;

  constructor(options: InsightsHubOptions = {}) {
    super(options);
    for (const app of options.apps ?? [TTM_DEFAULT_APP]) this.#apps.set(app.clientId, cloneApp(app));
    this.basePath = options.basePath ?? MINDSPHERE_BASE_PATH;
    this.routes = insightsHubRoutes(this.basePath);
    this.knobs = {
      tokenLifetimeSeconds: 1800,
      expiresIn: 1799,
      tokenType: 'Bearer',
      timestampAsString: false,
      maxTokensPerCall: 5,
      maxPageSize: 100,
      oversizedPage: 'clamp',
      clockSkewMs: 0,
      region: 'eu1',
      tenantClaim: this.basePath === XCELERATOR_BASE_PATH ? 'sws.samauth.ten' : 'ten',
      rateBudget: undefined,
      rejectUnknownFields: false,
      servedPageSize: undefined,
      zeroPage: false,
      throttledBatchCalls: undefined,
      ...(options.strict ? STRICT_KNOBS : {}),
      ...options.knobs,
    };
    this.route('POST', `${this.basePath}/oauth/token`, (request) => this.#token(request));
    this.route('POST', `${this.basePath}/oauthTokens`, (request) => this.#oauthTokens(request));
    this.route('GET', `${this.basePath}/userTenants`, (request) => this.#userTenants(request));
    this.route('GET', '/token_keys', () => json(200, this.#ring().jwks({ pem: true })));
  }

  protected override async prepare(): Promise<void> {
    this.#keys = await RsaKeyRing.create({ kid: 'key-id-1' });
  }

  protected override throttleReply(): Reply {
    return mdspError(429, 'Too many requests, please retry later.');
  }

  /** Provision the app (default: the first) to a user tenant. */
  provision(tenant: string, clientId?: string): void {
    const app = this.#app(clientId);
    if (!app.userTenants.includes(tenant)) app.userTenants.push(tenant);
  }

  /** The tenant unsubscribes: its token calls get 403 from now on. */
  deprovision(tenant: string, clientId?: string): void {
    const app = this.#app(clientId);
    app.userTenants = app.userTenants.filter((t) => t !== tenant);
  }

  userTenants(clientId?: string): string[] {
    return [...this.#app(clientId).userTenants];
  }

  /** Make every token call for this tenant fail (in `oauthTokens` only its entry fails). */
  failTenant(tenant: string, failure: TenantFailure = { status: 500 }): void {
    this.#failures.set(tenant, failure);
  }

  clearTenantFailure(tenant: string): void {
    this.#failures.delete(tenant);
  }

  /** New client secret (returned); the old key gets 401 at once. */
  rotateSecret(clientId?: string, secret = `ttm-${randomUUID()}`): string {
    this.#app(clientId).clientSecret = secret;
    return secret;
  }

  /** The app credential expires now (or at `at`). */
  expireCredential(clientId?: string, at = this.clock.now()): void {
    this.#app(clientId).credentialExpiresAt = at;
  }

  /** New signing key and kid; the old key stays in /token_keys unless `retireOld`. */
  async rotateSigningKey(options: { retireOld?: boolean } = {}): Promise<string> {
    const ring = this.#ring();
    const next = `key-id-${ring.kids().length + 1}`;
    await ring.rotate({ kid: next, ...options });
    return next;
  }

  get kid(): string {
    return this.#ring().kid;
  }

  /** Access tokens issued so far (each oauthTokens entry counts). */
  issuedCount(): number {
    return this.#issued;
  }

  #ring(): RsaKeyRing {
    if (!this.#keys) throw new Error('Insights Hub emulator not started');
    return this.#keys;
  }

  #app(clientId?: string): TtmApp {
    const app = clientId === undefined ? this.#apps.values().next().value : this.#apps.get(clientId);
    if (!app) throw new Error(`unknown TTM app ${clientId ?? '(first)'}`);
    return app;
  }

  /** The app behind X-SPACE-AUTH-KEY (or Authorization), or the error reply. */
  #authenticate(request: EmulatorRequest): TtmApp | Reply {
    const credentials = basicCredentials(
      header(request, 'x-space-auth-key') ?? header(request, 'authorization'),
    );
    const app = credentials && this.#apps.get(credentials.id);
    if (!app || app.clientSecret !== credentials.secret)
      return mdspError(401, 'Not authorized to access this resource.');
    const now = this.clock.now();
    if (app.credentialExpiresAt !== undefined && now >= app.credentialExpiresAt) {
      return mdspError(401, 'The application credentials have expired.');
    }
    const budget = this.knobs.rateBudget;
    if (budget) {
      const recent = (this.#calls.get(app.clientId) ?? []).filter((t) => t > now - budget.windowMs);
      if (recent.length >= budget.limit) {
        const waitMs = (recent[0] ?? now) + budget.windowMs - now;
        const headers: Record<string, string> = budget.retryAfter
          ? { 'retry-after': String(Math.ceil(waitMs / 1000)) }
          : {};
        return mdspError(429, 'Too many requests, please retry later.', headers);
      }
      recent.push(now);
      this.#calls.set(app.clientId, recent);
    }
    return app;
  }

  #token(request: EmulatorRequest): Reply {
    const app = this.#authenticate(request);
    if (!isApp(app)) return app;
    const fromQuery = TOKEN_FIELDS.filter((field) => request.query.has(field));
    const parsed = request.body.length === 0 ? undefined : parseJson(request);
    if (parsed && (!parsed.ok || !isRecord(parsed.value))) return mdspError(400, 'Malformed request body.');
    const body = parsed?.ok && isRecord(parsed.value) ? parsed.value : {};
    const extra = unknownFields(body, TOKEN_FIELDS);
    if (this.knobs.rejectUnknownFields && extra.length > 0) {
      return mdspError(400, `Unrecognized field(s): ${extra.join(', ')}.`);
    }
    const fromBody = TOKEN_FIELDS.filter((field) => field in body);
    if (fromQuery.length > 0 && fromBody.length > 0) {
      return mdspError(400, 'Parameters must be sent either in the body or as query parameters, not both.');
    }
    const read = (field: string): unknown => (fromQuery.length > 0 ? request.query.get(field) : body[field]);
    const [appName, appVersion, hostTenant, userTenant] = TOKEN_FIELDS.map(read);
    if (![appName, appVersion, hostTenant, userTenant].every((v) => typeof v === 'string' && v !== '')) {
      return mdspError(400, `Required parameters: ${TOKEN_FIELDS.join(', ')}.`);
    }
    const denied = this.#check(
      app,
      String(appName),
      String(appVersion),
      String(hostTenant),
      String(userTenant),
    );
    if (denied) return mdspError(denied.status, denied.message ?? 'Token request failed.');
    return json(200, this.#issue(app, String(userTenant)));
  }

  #oauthTokens(request: EmulatorRequest): Reply {
    const app = this.#authenticate(request);
    if (!isApp(app)) return app;
    this.#batchCalls += 1;
    const throttled = this.knobs.throttledBatchCalls;
    if (throttled?.calls.includes(this.#batchCalls)) {
      return mdspError(429, 'Too many requests, please retry later.', {
        'retry-after': String(throttled.retryAfterSeconds),
      });
    }
    const parsed = parseJson(request);
    if (!parsed.ok || !isRecord(parsed.value)) return mdspError(400, 'Malformed request body.');
    const extra = unknownFields(parsed.value, BATCH_FIELDS);
    if (this.knobs.rejectUnknownFields && extra.length > 0) {
      return mdspError(400, `Unrecognized field(s): ${extra.join(', ')}.`);
    }
    const { appName, appVersion, hostTenantId, userTenantIds } = parsed.value;
    if (
      typeof appName !== 'string' ||
      typeof appVersion !== 'string' ||
      typeof hostTenantId !== 'string' ||
      !Array.isArray(userTenantIds) ||
      userTenantIds.length === 0 ||
      !userTenantIds.every((t): t is string => typeof t === 'string')
    ) {
      return mdspError(400, 'Required parameters: appName, appVersion, hostTenantId, userTenantIds.');
    }
    if (userTenantIds.length > this.knobs.maxTokensPerCall) {
      return mdspError(
        400,
        `A maximum of ${this.knobs.maxTokensPerCall} access tokens can be requested in one call.`,
      );
    }
    // An unprovisioned tenant fails the whole call, like the single-token endpoint.
    for (const tenant of userTenantIds) {
      const denied = this.#provisioning(app, appName, appVersion, hostTenantId, tenant);
      if (denied) return mdspError(denied.status, denied.message ?? 'Token request failed.');
    }
    const oauthTokens = userTenantIds.map((tenant) => {
      const failure = this.#failures.get(tenant);
      if (failure) return { userTenantId: tenant, errors: [failureEntry(failure)] };
      return { userTenantId: tenant, token: this.#issue(app, tenant) };
    });
    return json(200, { oauthTokens });
  }

  #userTenants(request: EmulatorRequest): Reply {
    const token = bearerToken(header(request, 'authorization'));
    const decoded = token === undefined ? undefined : this.#ring().verify(token);
    const exp = decoded?.payload.exp;
    if (!decoded || typeof exp !== 'number' || this.#now() >= exp * 1000) {
      return mdspError(401, 'Not authorized to access this resource.');
    }
    const app = this.#apps.get(String(decoded.payload.client_id));
    const tenant = decoded.payload[this.knobs.tenantClaim];
    if (!app || tenant !== app.hostTenant) {
      return mdspError(
        403,
        'This endpoint needs a token issued for the host tenant (hostTenant = userTenant).',
      );
    }
    const page = Math.max(0, Number.parseInt(request.query.get('page') ?? '0', 10) || 0);
    let size =
      Number.parseInt(request.query.get('size') ?? String(this.knobs.maxPageSize), 10) ||
      this.knobs.maxPageSize;
    if (size > this.knobs.maxPageSize) {
      if (this.knobs.oversizedPage === 'reject') {
        return mdspError(400, `Maximum value for size is ${this.knobs.maxPageSize}.`);
      }
      size = this.knobs.maxPageSize;
    }
    size = this.knobs.servedPageSize ?? size;
    const all = app.userTenants;
    return json(200, {
      page: this.knobs.zeroPage
        ? { size: 0, totalElements: 0, totalPages: 0, number: 0 }
        : { size, totalElements: all.length, totalPages: Math.ceil(all.length / size), number: page },
      userTenants: all.slice(page * size, (page + 1) * size).map((id) => ({ id })),
    });
  }

  #check(
    app: TtmApp,
    appName: string,
    appVersion: string,
    host: string,
    tenant: string,
  ): TenantFailure | undefined {
    return this.#provisioning(app, appName, appVersion, host, tenant) ?? this.#failures.get(tenant);
  }

  #provisioning(
    app: TtmApp,
    appName: string,
    appVersion: string,
    host: string,
    tenant: string,
  ): TenantFailure | undefined {
    if (appName !== app.appName || appVersion !== app.appVersion) {
      return {
        status: 403,
        message: `The credentials do not belong to application ${appName} ${appVersion}.`,
      };
    }
    if (host !== app.hostTenant)
      return { status: 403, message: `Application is not hosted by tenant ${host}.` };
    if (tenant !== app.hostTenant && !app.userTenants.includes(tenant)) {
      return { status: 403, message: `Application ${appName} is not provisioned to tenant ${tenant}.` };
    }
    return undefined;
  }

  #now(): number {
    return this.clock.now() + this.knobs.clockSkewMs;
  }

  #issue(app: TtmApp, tenant: string): Record<string, unknown> {
    const now = this.#now();
    const iat = epochSeconds(now);
    const jti = randomBytes(16).toString('hex');
    const issuer = `https://${tenant}.piam.${this.knobs.region}.mindsphere.io/oauth/token`;
    this.#issued += 1;
    const token = this.#ring().sign(
      {
        jti,
        sub: app.clientId,
        scope: SCOPES,
        client_id: app.clientId,
        cid: app.clientId,
        azp: app.clientId,
        grant_type: 'client_credentials',
        rev_sig: randomBytes(4).toString('hex'),
        iat,
        exp: iat + this.knobs.tokenLifetimeSeconds,
        iss: issuer,
        zid: tenant,
        aud: [app.clientId],
        [this.knobs.tenantClaim]: tenant,
        schemas: ['urn:siemens:mindsphere:iam:v1'],
        cat: 'client-token:v1',
      },
      (kid) => ({ alg: 'RS256', kid, typ: 'JWT' }),
    );
    return {
      access_token: token,
      token_type: this.knobs.tokenType,
      expires_in: this.knobs.expiresIn,
      scope: SCOPES.join(' '),
      jti,
      timestamp: this.knobs.timestampAsString ? String(now) : now,
    };
  }
}

function isApp(value: TtmApp | Reply): value is TtmApp {
  return 'clientId' in value;
}

function cloneApp(app: TtmApp): TtmApp {
  return { ...app, userTenants: [...app.userTenants] };
}

function failureEntry(failure: TenantFailure) {
  return errorEntry(failure.status, failure.message ?? 'Token request failed.', failure.code);
}
