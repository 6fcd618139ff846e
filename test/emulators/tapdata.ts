// TapData Manager's `POST /oauth/token` (Spring Authorization Server, client credentials) and a
// stand-in for the API Server that consumes the token (vendor notes §3, seed 001).
import { randomUUID } from 'node:crypto';
import { Emulator, type EmulatorOptions } from './emulator.ts';
import {
  basicCredentials,
  bearerToken,
  header,
  isRecord,
  json,
  mediaType,
  parseForm,
  parseJson,
  stringField,
  type EmulatorRequest,
  type Reply,
} from './http.ts';
import { epochSeconds, RsaKeyRing } from './jwt.ts';

export const TAPDATA_ROUTES = {
  token: 'POST /oauth/token',
  resource: 'GET /api/v1/orders',
  resourcePost: 'POST /api/v1/orders',
} as const;

const DEFAULT_TTL_SECONDS = 14 * 24 * 3600;
const ERROR_URI = 'https://datatracker.ietf.org/doc/html/rfc6749#section-5.2';
// Spring Security's default caching headers on the token response.
const NO_STORE = { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' };

export interface TapdataClient {
  clientId: string;
  clientSecret: string;
  /** Access-token lifetime, seconds. Default 1209600 (14 days). */
  ttlSeconds?: number;
  /** Registered scopes (role ObjectIds); a request may ask for a subset. */
  scopes?: string[];
  /** The `roles` claim. Default `['$everyone', 'admin']`. */
  roles?: string[];
  /** Also accept HTTP Basic: only the built-in Data Explorer client does. */
  allowBasic?: boolean;
  /** The secret stops working after this instant (epoch ms). */
  secretExpiresAt?: number;
}

export interface TapdataKnobs {
  /** Build from December 2025 on (TAP-9206): JSON token requests are accepted. Default false. */
  jsonSupport: boolean;
  /** Send `expires_in` as a string, as the docs type it. Default false (the code sends a number). */
  expiresInAsString: boolean;
  /** Send this as `expires_in` instead of the TTL (the docs say only "String, Expiration time":
   * "14d", an epoch in ms, "" all fit). Undefined (default): the TTL. The JWT exp stays the TTL. */
  expiresInValue: unknown;
  /** The token response at the edges seed 001 leaves open: `token_type` left out (documented as
   * optional, "default is Bearer"), a `refresh_token` (documented as optional) that a client
   * credentials client must not keep, and fields the docs do not list. Default false. */
  looseTokenResponse: boolean;
  /** TTL when the request carries `debug: true`. Default 300. */
  debugTtlSeconds: number;
  /** Hard-coded `iss`. */
  issuer: string;
  /** The `cluster` claim (January 2026 on); undefined omits it. Default ''. */
  cluster: string | undefined;
  /** Reply when no client credentials are found at all (also a JSON body on an old build). The
   * notes leave this open (401, maybe 403); default 401 with an empty body. */
  noCredentials: { status: number; body?: unknown };
  /** The API Server's 401 body (not documented). */
  resourceUnauthorizedBody: unknown;
  /** After a restart, refuse tokens that name an earlier kid. Default false (same key pair). */
  rejectPreviousKids: boolean;
}

export interface TapdataOptions extends EmulatorOptions {
  clients?: TapdataClient[];
  knobs?: Partial<TapdataKnobs>;
}

export const TAPDATA_DEFAULT_CLIENT: TapdataClient = {
  clientId: '68376c8a4cf9b840dba2e118',
  clientSecret: 'tapdata-client-s3cret',
  scopes: ['5b9a0a383fcba02649524bf1'],
};

const SAMPLE_ORDERS = [
  { _id: '6650a1b2c3d4e5f601234567', orderNo: 'SO-1001', amount: 120.5 },
  { _id: '6650a1b2c3d4e5f601234568', orderNo: 'SO-1002', amount: 75 },
];

type Params = Map<string, string[]>;

function oauthError(error: string, description?: string, uri?: string): Reply {
  // Spring's error map is a HashMap (description first), TapData's handler appends `code`.
  return json(400, {
    ...(description === undefined ? {} : { error_description: description }),
    error,
    ...(uri === undefined ? {} : { error_uri: uri }),
    code: 400,
  });
}

const invalidClient = (): Reply => json(401, { error: 'invalid_client' });

export class TapdataEmulator extends Emulator {
  readonly knobs: TapdataKnobs;
  #clients = new Map<string, TapdataClient>();
  #keys: RsaKeyRing | undefined;
  #issued = 0;

  constructor(options: TapdataOptions = {}) {
    super(options);
    for (const client of options.clients ?? [TAPDATA_DEFAULT_CLIENT])
      this.#clients.set(client.clientId, { ...client });
    this.knobs = {
      jsonSupport: false,
      expiresInAsString: false,
      expiresInValue: undefined,
      looseTokenResponse: false,
      debugTtlSeconds: 300,
      issuer: 'http://127.0.0.1:3000',
      cluster: '',
      noCredentials: { status: 401 },
      resourceUnauthorizedBody: {
        error: { statusCode: 401, name: 'Error', message: 'Authorization Required' },
      },
      rejectPreviousKids: false,
      ...options.knobs,
    };
    this.route('POST', '/oauth/token', (request) => this.#token(request));
    this.route('GET', '/api/v1/orders', (request) => this.#resource(request));
    this.route('POST', '/api/v1/orders', (request) => this.#resource(request));
  }

  /** The signing key's current kid (a new UUID at every restart). */
  get kid(): string {
    return this.#ring().kid;
  }

  /** Public signing keys, for tests that verify tokens themselves. */
  jwks(): { keys: Record<string, unknown>[] } {
    return this.#ring().jwks();
  }

  /** Tokens issued so far. */
  issuedCount(): number {
    return this.#issued;
  }

  addClient(client: TapdataClient): void {
    this.#clients.set(client.clientId, { ...client });
  }

  deleteClient(clientId: string): void {
    this.#clients.delete(clientId);
  }

  /** Gives the client a new secret (returned); the old one stops working at once. */
  rotateSecret(clientId: string, secret = `s3cret-${randomUUID()}`): string {
    const client = this.#clients.get(clientId);
    if (!client) throw new Error(`unknown TapData client ${clientId}`);
    client.clientSecret = secret;
    return secret;
  }

  protected override async prepare(): Promise<void> {
    this.#keys = await RsaKeyRing.create();
  }

  // TM generates a new kid at every start; the bundled key pair stays the same.
  protected override onRestart(): Promise<void> {
    this.#ring().rename();
    return Promise.resolve();
  }

  #ring(): RsaKeyRing {
    if (!this.#keys) throw new Error('TapData emulator not started');
    return this.#keys;
  }

  #token(request: EmulatorRequest): Reply {
    const params = this.#params(request);
    if (!(params instanceof Map)) return params;
    const one = (name: string) => params.get(name)?.[0];

    // Client authentication runs first (OAuth2ClientAuthenticationFilter); Basic wins over post.
    const basic = basicCredentials(header(request, 'authorization'));
    let client: TapdataClient | undefined;
    if (basic) {
      client = this.#authenticate(basic.id, basic.secret);
      if (!client?.allowBasic) return invalidClient();
    } else {
      const id = one('client_id');
      const secret = one('client_secret');
      if (id === undefined || secret === undefined) return this.#noCredentials();
      client = this.#authenticate(id, secret);
      if (!client) return invalidClient();
    }

    const grantType = one('grant_type');
    if (grantType === undefined)
      return oauthError('invalid_request', 'OAuth 2.0 Parameter: grant_type', ERROR_URI);
    if (grantType !== 'client_credentials') {
      return oauthError('unsupported_grant_type', 'OAuth 2.0 Parameter: grant_type', ERROR_URI);
    }
    const requested = (one('scope') ?? '').split(' ').filter((scope) => scope !== '');
    if (requested.some((scope) => !(client.scopes ?? []).includes(scope))) return oauthError('invalid_scope');

    const debug = header(request, 'debug')?.toLowerCase() === 'true';
    const ttl = debug ? this.knobs.debugTtlSeconds : (client.ttlSeconds ?? DEFAULT_TTL_SECONDS);
    const now = this.clock.now();
    const iat = epochSeconds(now);
    const payload: Record<string, unknown> = {
      sub: client.clientId,
      aud: client.clientId,
      iss: this.knobs.issuer,
      nbf: iat,
      iat,
      exp: iat + ttl,
      jti: randomUUID(),
      ...(requested.length > 0 ? { scope: requested } : {}),
      clientId: client.clientId,
      roles: client.roles ?? ['$everyone', 'admin'],
      createdAt: now,
      expiredate: now + ttl * 1000,
      ...(this.knobs.cluster === undefined ? {} : { cluster: this.knobs.cluster }),
    };
    const token = this.#ring().sign(payload, (kid) => ({ kid, typ: 'JWT', alg: 'RS256' }));
    this.#issued += 1;
    const expiresIn =
      this.knobs.expiresInValue !== undefined
        ? this.knobs.expiresInValue
        : this.knobs.expiresInAsString
          ? String(ttl)
          : ttl;
    const loose = this.knobs.looseTokenResponse;
    return json(
      200,
      {
        access_token: token,
        ...(loose ? {} : { token_type: 'Bearer' }),
        expires_in: expiresIn,
        ...(requested.length > 0 ? { scope: requested.join(' ') } : {}),
        ...(loose
          ? { refresh_token: `rt-${randomUUID()}`, jti: payload.jti, expiredate: payload.expiredate }
          : {}),
      },
      NO_STORE,
    );
  }

  /** Form parameters, or JSON rewritten to them by the TAP-9206 filters; a Reply on JSON errors. */
  #params(request: EmulatorRequest): Params | Reply {
    const params: Params = new Map();
    const type = mediaType(request);
    if (type === 'application/x-www-form-urlencoded') {
      const form = parseForm(request);
      for (const key of new Set(form.keys())) params.set(key, form.getAll(key));
      return params;
    }
    if (type !== 'application/json' || !this.knobs.jsonSupport) return params;
    const parsed = parseJson(request);
    if (!parsed.ok) return oauthErrorNoUri('invalid_request', `Invalid JSON format: ${parsed.message}`);
    const body = isRecord(parsed.value) ? parsed.value : {};
    for (const [key, value] of Object.entries(body)) {
      const asString = stringField(body, key);
      if (asString !== undefined) params.set(key, [asString]);
      else if (Array.isArray(value)) params.set(key, [value.map(String).join(' ')]);
    }
    if (!params.has('grant_type')) {
      return oauthErrorNoUri('invalid_request', 'Missing required parameter: grant_type');
    }
    if (
      params.get('grant_type')?.[0] === 'client_credentials' &&
      (!params.has('client_id') || !params.has('client_secret'))
    ) {
      return oauthErrorNoUri('invalid_request', 'Missing required parameters: client_id and client_secret');
    }
    return params;
  }

  #authenticate(id: string, secret: string): TapdataClient | undefined {
    const client = this.#clients.get(id);
    if (client?.clientSecret !== secret) return undefined;
    if (client.secretExpiresAt !== undefined && this.clock.now() > client.secretExpiresAt) return undefined;
    return client;
  }

  #noCredentials(): Reply {
    const { status, body } = this.knobs.noCredentials;
    return body === undefined ? { status, body: '' } : json(status, body);
  }

  #resource(request: EmulatorRequest): Reply {
    const token = this.#presentedToken(request);
    const decoded =
      token === undefined
        ? undefined
        : this.#ring().verify(token, { kid: this.knobs.rejectPreviousKids ? 'current' : 'match' });
    const exp = decoded?.payload.exp;
    if (!decoded || typeof exp !== 'number' || this.clock.now() >= exp * 1000) {
      return json(401, this.knobs.resourceUnauthorizedBody);
    }
    return json(200, { data: SAMPLE_ORDERS, total: { count: SAMPLE_ORDERS.length } });
  }

  // The API Server takes the token from an `access_token` header, query or body parameter, or
  // `Authorization: bearer` (the docs show lowercase).
  #presentedToken(request: EmulatorRequest): string | undefined {
    const fromHeader = header(request, 'access_token');
    if (fromHeader) return fromHeader;
    const fromQuery = request.query.get('access_token');
    if (fromQuery) return fromQuery;
    const type = mediaType(request);
    if (type === 'application/x-www-form-urlencoded') {
      const fromForm = parseForm(request).get('access_token');
      if (fromForm) return fromForm;
    }
    if (type === 'application/json') {
      const parsed = parseJson(request);
      if (parsed.ok && isRecord(parsed.value) && typeof parsed.value.access_token === 'string') {
        return parsed.value.access_token;
      }
    }
    return bearerToken(header(request, 'authorization'));
  }
}

// The JSON filters write their own bodies: no error_uri.
function oauthErrorNoUri(error: string, description: string): Reply {
  return json(400, { error, error_description: description, code: 400 });
}
