// TDengine IDMP: enterprise password login (`POST /api/v1/users/login` → `{"token": JWT}`), user API
// keys, and the cloud service whose two headers a human copies from the browser (notes §5, seed 000).
import { randomBytes, randomUUID } from 'node:crypto';
import { Emulator, type EmulatorOptions } from './emulator.ts';
import { bearerToken, header, isRecord, json, parseJson, type EmulatorRequest, type Reply } from './http.ts';
import { epochSeconds, RsaKeyRing } from './jwt.ts';

export const IDMP_ROUTES = {
  login: 'POST /api/v1/users/login',
  elements: 'GET /api/v1/elements',
} as const;

export interface IdmpUser {
  loginName: string;
  password: string;
  active?: boolean;
}

export interface IdmpKnobs {
  /** `enterprise` has the login endpoint; `cloud` only accepts minted browser header pairs. */
  mode: 'enterprise' | 'cloud';
  /** `tda.jwt.ttl`, seconds. Default 604800 (7 days). */
  tokenTtlSeconds: number;
  /** Put `exp` in the JWT. false = the "no exp" mode: the server still expires the token after the TTL. */
  expClaim: boolean;
  /** `enable-login-captcha-check`: password login is refused. */
  captcha: boolean;
  /** Status of a login refused for CAPTCHA (not documented). Default 400. */
  captchaStatus: number;
  /** Wrap the login response as `{"code":0,"message":"success","data":{"token"}}` (what the "core
   * concepts" page claims; the SDK and scripts read a top-level `token`). Default false. */
  envelopeLoginResponse: boolean;
  /** Cloud pair lifetime ("controlled by the browser session"), ms. Default 8 h. */
  cloudSessionTtlMs: number;
  /** Whether the cloud Bearer value is a JWT (with exp) or an opaque string. Default true. */
  cloudBearerIsJwt: boolean;
  /** A strict Java backend reading the login body into one DTO (the wire name is unpublished, notes
   * §5.1). Undefined (default): either name is accepted, as the notes recommend for the emulator. */
  strictLogin: StrictLogin | undefined;
}

export interface StrictLogin {
  /** The one JSON name the DTO has for the login name. */
  loginField: 'login_name' | 'loginName';
  /** `reject`: Jackson's FAIL_ON_UNKNOWN_PROPERTIES, a Spring Boot 400 body. `ignore`: Jackson skips
   * unknown names, and Bean Validation then finds the login name missing (a Quarkus 400 body). */
  unknownFields: 'reject' | 'ignore';
}

const DTO = 'com.taosdata.tda.user.dto.LoginReqDTO';

export interface IdmpOptions extends EmulatorOptions {
  users?: IdmpUser[];
  knobs?: Partial<IdmpKnobs>;
  /** Number of sample elements behind `GET /api/v1/elements`. Default 45. */
  elements?: number;
}

export const IDMP_DEFAULT_USER: IdmpUser = { loginName: 'admin@example.com', password: 'Idmp-Adm1n-pass' };

export interface CloudSession {
  /** The Authorization value without `Bearer `. */
  bearer: string;
  /** The `Access-token` header value. */
  accessToken: string;
  expiresAt: number;
}

interface ApiKey {
  id: string;
  secret: string;
  owner: string;
  expiresAt?: number;
}

const errorBody = (code: number, message: string) => ({ code, message });

export class IdmpEmulator extends Emulator {
  readonly knobs: IdmpKnobs;
  #users = new Map<string, IdmpUser>();
  #keys: RsaKeyRing | undefined;
  // jti → server-side expiry: the source of truth, also in "no exp" mode.
  #sessions = new Map<string, { loginName: string; expiresAt: number }>();
  #cloud = new Map<string, CloudSession>();
  #apiKeys = new Map<string, ApiKey>();
  #elements: { id: string; name: string; path: string }[];
  #issued = 0;

  constructor(options: IdmpOptions = {}) {
    super(options);
    for (const user of options.users ?? [IDMP_DEFAULT_USER]) this.#users.set(user.loginName, { ...user });
    this.knobs = {
      mode: 'enterprise',
      tokenTtlSeconds: 604_800,
      expClaim: true,
      captcha: false,
      captchaStatus: 400,
      envelopeLoginResponse: false,
      cloudSessionTtlMs: 8 * 3600_000,
      cloudBearerIsJwt: true,
      strictLogin: undefined,
      ...options.knobs,
    };
    this.#elements = Array.from({ length: options.elements ?? 45 }, (_, i) => ({
      id: String(1000 + i),
      name: `Pump ${i + 1}`,
      path: `/Plant A/Line ${(i % 3) + 1}/Pump ${i + 1}`,
    }));
    this.route('POST', '/api/v1/users/login', (request) => this.#login(request));
    this.route('GET', '/api/v1/elements', (request) => this.#listElements(request));
  }

  protected override async prepare(): Promise<void> {
    this.#keys = await RsaKeyRing.create();
  }

  protected override notFound(): Reply {
    return json(404, errorBody(404, 'Not Found'));
  }

  protected override throttleReply(): Reply {
    return json(429, errorBody(429, 'Too Many Requests'));
  }

  /** Login JWTs issued so far. */
  issuedCount(): number {
    return this.#issued;
  }

  addUser(user: IdmpUser): void {
    this.#users.set(user.loginName, { ...user });
  }

  setPassword(loginName: string, password: string): void {
    this.#user(loginName).password = password;
  }

  /** Deactivates a user: login fails, and their JWTs and API keys stop working. */
  disableUser(loginName: string): void {
    this.#user(loginName).active = false;
  }

  /** Ends every login session (JWT) at once. */
  revokeAllSessions(): void {
    this.#sessions.clear();
  }

  /** A user API key `api_<id>.<secret>`, never expiring unless `expiresAt` (epoch ms) is given. */
  createApiKey(options: { owner?: string; expiresAt?: number } = {}): { id: string; key: string } {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(18).toString('base64url');
    this.#apiKeys.set(id, {
      id,
      secret,
      owner: options.owner ?? IDMP_DEFAULT_USER.loginName,
      ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }),
    });
    return { id, key: `api_${id}.${secret}` };
  }

  deleteApiKey(id: string): void {
    this.#apiKeys.delete(id);
  }

  /** Cloud mode: the header pair a human would copy from the browser's DevTools. */
  mintCloudSession(ttlMs = this.knobs.cloudSessionTtlMs): CloudSession {
    const now = this.clock.now();
    const expiresAt = now + ttlMs;
    const bearer = this.knobs.cloudBearerIsJwt
      ? this.#ring().sign({
          sub: 'cloud-user',
          iat: epochSeconds(now),
          exp: epochSeconds(expiresAt),
          jti: randomUUID(),
        })
      : randomBytes(24).toString('hex');
    const session = { bearer, accessToken: randomBytes(16).toString('hex'), expiresAt };
    this.#cloud.set(bearer, session);
    return { ...session };
  }

  /** Cloud mode: the browser session ended (logout, idle timeout). */
  revokeCloudSession(bearer: string): void {
    this.#cloud.delete(bearer);
  }

  /** New signing key; every JWT issued before stops verifying. */
  async rotateSigningKey(): Promise<void> {
    await this.#ring().rotate({ retireOld: true });
  }

  #ring(): RsaKeyRing {
    if (!this.#keys) throw new Error('IDMP emulator not started');
    return this.#keys;
  }

  #user(loginName: string): IdmpUser {
    const user = this.#users.get(loginName);
    if (!user) throw new Error(`unknown IDMP user ${loginName}`);
    return user;
  }

  #login(request: EmulatorRequest): Reply {
    if (this.knobs.mode === 'cloud') return this.notFound();
    const parsed = parseJson(request);
    if (!parsed.ok || !isRecord(parsed.value)) return json(400, errorBody(400, 'Invalid request body'));
    const body = parsed.value;
    const strict = this.knobs.strictLogin;
    if (strict) {
      const refused = strictRefusal(body, strict, request.path, this.clock.now());
      if (refused) return refused;
    }
    // The scripts send login_name, the SDK model says loginName: accept either.
    const loginName = strict
      ? body[strict.loginField]
      : typeof body.login_name === 'string'
        ? body.login_name
        : body.loginName;
    const password = body.password;
    if (
      typeof loginName !== 'string' ||
      loginName === '' ||
      typeof password !== 'string' ||
      password === ''
    ) {
      return json(400, errorBody(400, 'login name and password are required'));
    }
    if (this.knobs.captcha) {
      return json(
        this.knobs.captchaStatus,
        errorBody(this.knobs.captchaStatus, 'Captcha verification is required'),
      );
    }
    const user = this.#users.get(loginName);
    if (!user || user.password !== password || user.active === false) {
      return json(401, errorBody(401, 'Invalid login name or password'));
    }
    const now = this.clock.now();
    const iat = epochSeconds(now);
    const jti = randomUUID();
    const ttl = this.knobs.tokenTtlSeconds;
    const token = this.#ring().sign({
      iss: 'https://idmp.taosdata.com',
      sub: user.loginName,
      upn: user.loginName,
      groups: ['user'],
      iat,
      ...(this.knobs.expClaim ? { exp: iat + ttl } : {}),
      jti,
    });
    this.#sessions.set(jti, { loginName: user.loginName, expiresAt: (iat + ttl) * 1000 });
    this.#issued += 1;
    return json(
      200,
      this.knobs.envelopeLoginResponse ? { code: 0, message: 'success', data: { token } } : { token },
    );
  }

  #listElements(request: EmulatorRequest): Reply {
    if (!this.#authorised(request)) return json(401, errorBody(401, 'Unauthorized'));
    const current = positiveInt(request.query.get('current'), 1);
    const size = positiveInt(request.query.get('size'), 20);
    const rows = this.#elements.slice((current - 1) * size, current * size);
    return json(200, { current, size, total: this.#elements.length, rows });
  }

  #authorised(request: EmulatorRequest): boolean {
    const token = bearerToken(header(request, 'authorization'));
    if (token === undefined) return false;
    const now = this.clock.now();
    if (this.knobs.mode === 'cloud') {
      const session = this.#cloud.get(token);
      return (
        session !== undefined &&
        session.accessToken === header(request, 'access-token') &&
        now < session.expiresAt
      );
    }
    if (token.startsWith('api_')) return this.#apiKeyValid(token, now);
    const decoded = this.#ring().verify(token);
    const jti = decoded?.payload.jti;
    const session = typeof jti === 'string' ? this.#sessions.get(jti) : undefined;
    if (!session || now >= session.expiresAt) return false;
    return this.#users.get(session.loginName)?.active !== false;
  }

  #apiKeyValid(token: string, now: number): boolean {
    const match = /^api_([^.]+)\.(.+)$/.exec(token);
    const key = match?.[1] === undefined ? undefined : this.#apiKeys.get(match[1]);
    if (!key || key.secret !== match?.[2]) return false;
    if (key.expiresAt !== undefined && now >= key.expiresAt) return false;
    return this.#users.get(key.owner)?.active !== false;
  }
}

function positiveInt(value: string | null, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/**
 * What a Java backend with one DTO `{<loginField>, password}` answers to a body it cannot bind, in
 * the wording Jackson 2.x and Hibernate Validator use, or undefined when the body binds.
 */
function strictRefusal(
  body: Record<string, unknown>,
  strict: StrictLogin,
  path: string,
  now: number,
): Reply | undefined {
  const known = [strict.loginField, 'password'];
  for (const [name, value] of Object.entries(body)) {
    if (!known.includes(name)) {
      if (strict.unknownFields === 'ignore') continue;
      return springBadRequest(
        path,
        now,
        `JSON parse error: Unrecognized field "${name}" (class ${DTO}), not marked as ignorable ` +
          `(2 known properties: "${strict.loginField}", "password"])`,
      );
    }
    if (typeof value !== 'string' && value !== null) {
      const shape = Array.isArray(value)
        ? 'Array value (token `JsonToken.START_ARRAY`)'
        : 'Object value (token `JsonToken.START_OBJECT`)';
      return springBadRequest(
        path,
        now,
        `JSON parse error: Cannot deserialize value of type \`java.lang.String\` from ${typeof value === 'object' ? shape : `${typeof value} value`}`,
      );
    }
  }
  const missing = known.filter((name) => typeof body[name] !== 'string' || body[name] === '');
  if (missing.length === 0) return undefined;
  // Quarkus' RESTEasy Reactive answer to a @Valid body that fails its constraints.
  return json(400, {
    title: 'Constraint Violation',
    status: 400,
    violations: missing.map((name) => ({ field: `login.req.${name}`, message: 'must not be blank' })),
  });
}

/** Spring Boot's default error body for an HttpMessageNotReadableException. */
function springBadRequest(path: string, now: number, message: string): Reply {
  return json(400, {
    timestamp: new Date(now).toISOString(),
    status: 400,
    error: 'Bad Request',
    message,
    path,
  });
}
