// iDempiere REST (bxservice/idempiere-rest): login, rotation of the single-use refresh token, and
// logout (vendor notes §1, seed 004).
//
// A refresh token is used at most once, ever. iDempiere treats a second use as a breach and revokes
// the whole chain, access tokens included, so every pod using the Secret would be cut off. Hence:
//   1. read the state (this fixes the version the next write is fenced on);
//   2. record the intent to use this refresh token, with a fenced write, BEFORE sending it: when
//      another replica wrote in between, the write throws StateConflictError and nothing is sent;
//   3. send it;
//   4. store the new refresh token and clear the intent. If that write fails, the new token is lost
//      and the old one spent, but the intent stays recorded;
//   5. with an intent recorded on entry (an attempt whose outcome we never learned), never replay:
//      log in again, which starts a new chain, and store that chain without the intent;
//   6. a definite refusal (4xx: invalid or expired token) logs in at once; an unknown outcome
//      (timeout, reset, abort, 5xx, an unreadable 200) leaves the intent and fails transiently, so
//      the next attempt logs in.
// Steps 2-4 are the shared rotation in refresh-rotation.ts.
// A login spends nothing, so it needs no intent; its refresh token is stored before the access token
// is returned.
import { crashPoint } from '../testing/crash-points.ts';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { caBundleRef, httpUrl, userCredentialsRef } from '../api/fields.ts';
import { namespaceOf } from '../kube/object-key.ts';
import { formatTime } from '../policy/time.ts';
import { ProviderError, withMessage } from '../errors/failure.ts';
import {
  FIELD,
  jsonObject,
  send,
  stringField,
  target,
  unexpectedAnswer,
  type Call,
  type Session,
} from './idempiere-api.ts';
import { login, type Credentials } from './idempiere-login.ts';
import { declareNeeds, loginRefs } from './references.ts';
import { hasIntent, rotateRefreshToken, sha256Hex, type RotationCrashHooks } from './refresh-rotation.ts';
import { defineProvider } from './definition.ts';
import { issuedTokenSet } from './token-set.ts';
import type { InputReference, ProviderContext, ProviderNeeds, TokenProvider, TokenSet } from './types.ts';

const idOrName = z.union([z.number().int().min(0), z.string().min(1).max(256)]);

export const idempiereSchema = z
  .object({
    baseUrl: httpUrl('iDempiere server URL; the REST API is under {baseUrl}/api/v1.'),
    credentialsRef: userCredentialsRef,
    login: z
      .object({
        client: idOrName.meta({ description: 'Client id, or its search key (Value).' }),
        role: idOrName
          .optional()
          .meta({ description: 'Role id or name. May be omitted when the user has one role.' }),
        organization: idOrName.optional().meta({ description: 'Organization id or name.' }),
        warehouse: idOrName.optional().meta({ description: 'Warehouse id or name.' }),
        language: z
          .string()
          .min(2)
          .max(16)
          .optional()
          .meta({ description: 'Login language, for example en_US.' }),
      })
      .meta({
        description:
          'Session parameters. All given as ids: one-step login. Names or omitted values: the multi-step flow resolves them.',
      }),
    logoutOnDelete: z
      .boolean()
      .default(true)
      .meta({ description: 'Log the session out when the ApiCredential is deleted.' }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({ description: 'iDempiere REST: login, rotation of the single-use refresh token, logout.' });

export type IdempiereSpec = z.output<typeof idempiereSchema>;

/** Keys of the operator-only state Secret. Timestamps are RFC 3339; ids are decimal strings. */
export const IDEMPIERE_STATE_KEYS = {
  refreshToken: 'refreshToken',
  clientId: 'clientId',
  userId: 'userId',
  /** sha256 of baseUrl, the login spec and the user name: a change means a new login. */
  loginHash: 'loginHash',
  /** scrypt of the password with a random salt: a changed password means a new login. */
  passwordHash: 'passwordHash',
  /** When the chain began: iDempiere's absolute session limit counts from here. */
  loginAt: 'loginAt',
  refreshedAt: 'refreshedAt',
  /** `refresh:<sha256 of the refresh token, 16 hex>` while its use is in flight or its outcome unknown. */
  intent: 'intent',
  intentAt: 'intentAt',
} as const;
const K = IDEMPIERE_STATE_KEYS;
const OWN_KEYS = new Set<string>(Object.values(K));

const HOUR_MS = 3_600_000;
/** REST_TOKEN_ABSOLUTE_EXPIRE_IN_MINUTES default (7 days): it also revokes live access tokens. */
const DEFAULT_ABSOLUTE_MS = 7 * 24 * HOUR_MS;
/** Room for clock skew between the operator and iDempiere. */
const ABSOLUTE_MARGIN_MS = 10 * 60_000;
const SCRYPT = { N: 16_384, r: 8, p: 1 } as const;

interface Chain {
  refreshToken: string;
  clientId: number;
  userId: number;
  loginAt: number;
  passwordHash: string;
}

function refs(spec: IdempiereSpec): { username: InputReference; password: InputReference } {
  return loginRefs(FIELD, spec.credentialsRef);
}

/** What a chain was logged in with, secrets aside; the key order is fixed by the array. */
export function loginFingerprint(spec: IdempiereSpec, username: string): string {
  const { client, role, organization, warehouse, language } = spec.login;
  const baseUrl = spec.baseUrl.replace(/\/+$/, '');
  return sha256Hex(JSON.stringify([baseUrl, username, client, role, organization, warehouse, language]));
}

function scryptKey(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, 32, SCRYPT, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptKey(password, salt);
  return `scrypt$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

async function passwordMatches(stored: string, password: string): Promise<boolean> {
  const [scheme, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scryptKey(password, Buffer.from(salt, 'base64url'));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

const iso = (ms: number): string => formatTime(ms, 'milliseconds');

const INTENT_KEYS = { intent: K.intent, intentAt: K.intentAt };
const CRASH_HOOKS: RotationCrashHooks = {
  afterIntentWrite: () => {
    crashPoint('idempiere:after-intent-write');
  },
  afterResponse: () => {
    crashPoint('idempiere:after-refresh-response');
  },
  afterStateWrite: () => {
    crashPoint('idempiere:after-state-write');
  },
};

/** The state with this provider's keys replaced by `chain` (and so without an intent). */
function chainState(
  state: Readonly<Record<string, string>>,
  chain: Omit<Chain, 'loginAt'> & { loginHash: string; loginAt: string; refreshedAt: string },
): Record<string, string> {
  const others = Object.fromEntries(Object.entries(state).filter(([key]) => !OWN_KEYS.has(key)));
  return {
    ...others,
    [K.refreshToken]: chain.refreshToken,
    [K.clientId]: String(chain.clientId),
    [K.userId]: String(chain.userId),
    [K.loginHash]: chain.loginHash,
    [K.passwordHash]: chain.passwordHash,
    [K.loginAt]: chain.loginAt,
    [K.refreshedAt]: chain.refreshedAt,
  };
}

function integer(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Definite refusals: the plugin did not rotate (bad, expired or revoked token, or a request it could not read). */
function refusedForSure(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function outcomeUnknown(call: string, error: unknown): ProviderError {
  const next =
    'The refresh token may have been used, so it is never sent again: the next attempt logs in with the credentials.';
  if (ProviderError.is(error)) {
    return withMessage(
      error,
      `${error.message} ${next}`,
      { kind: error.kind === 'rate-limited' ? 'rate-limited' : 'transient', outcomeUnknown: true },
      { cause: error },
    );
  }
  return new ProviderError(
    {
      kind: 'transient',
      reason: 'RefreshOutcomeUnknown',
      message: `${call} failed (${error instanceof Error ? error.name : typeof error}). ${next}`,
      outcomeUnknown: true,
    },
    { cause: error },
  );
}

function tokenSet(token: string, requestStartedAt: number, context: ProviderContext): TokenSet {
  // iDempiere sends no expires_in: the JWT exp is all there is, and TTL 0 leaves even that out.
  return issuedTokenSet(
    { token, tokenType: 'Bearer', requestStartedAt, receivedAt: context.clock.now() },
    context,
    {
      what: 'iDempiere',
      advice: (reason) =>
        reason === 'NoExpiry'
          ? '(iDempiere leaves exp out when REST_TOKEN_EXPIRE_IN_MINUTES is 0.)'
          : undefined,
    },
  );
}

export class IdempiereProvider implements TokenProvider<IdempiereSpec> {
  readonly name = 'idempiere' as const;
  readonly secretStateKeys = [K.refreshToken];

  needs(spec: IdempiereSpec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {
      endpoint: spec.baseUrl,
      caBundleRef: spec.caBundleRef,
      releaseOnDelete: spec.logoutOnDelete,
    });
  }

  inputs(spec: IdempiereSpec): InputReference[] {
    const { username, password } = refs(spec);
    return [username, password];
  }

  async obtain(spec: IdempiereSpec, context: ProviderContext): Promise<TokenSet> {
    const r = refs(spec);
    const namespace = namespaceOf(context.credential);
    const { name, usernameKey, passwordKey } = spec.credentialsRef;
    const credentials: Credentials = {
      username: context.inputs.require(r.username),
      password: context.inputs.require(r.password),
      where: `Secret ${namespace}/${name} (keys ${usernameKey}, ${passwordKey})`,
    };
    const state = await context.state.read();
    const loginHash = loginFingerprint(spec, credentials.username);
    const chain = await this.#refreshable(state, loginHash, credentials.password, context);
    if (chain) {
      const refreshed = await this.#refresh(spec, context, state, chain, loginHash);
      if (refreshed) return refreshed;
    }
    return this.#login(spec, context, state, credentials, loginHash);
  }

  async release(spec: IdempiereSpec, context: ProviderContext): Promise<'released' | 'unsupported'> {
    const token = context.current?.data[context.keys.token];
    if (!spec.logoutOnDelete || !token) return 'unsupported';
    const call: Call = { method: 'POST', path: 'auth/logout', json: { token } };
    const response = await send(spec, context, call);
    // 404: the token carries no session (already gone); logout also revokes the refresh chain.
    if (response.status === 200 || response.status === 404) return 'released';
    throw unexpectedAnswer(spec, call, response);
  }

  /** The stored chain when it may be refreshed; undefined means a full login. */
  async #refreshable(
    state: Readonly<Record<string, string>>,
    loginHash: string,
    password: string,
    context: ProviderContext,
  ): Promise<Chain | undefined> {
    // A recorded intent: the last refresh's outcome is unknown, and a replay would be a breach.
    if (hasIntent(state, INTENT_KEYS)) return undefined;
    const refreshToken = state[K.refreshToken];
    const clientId = integer(state[K.clientId]);
    const userId = integer(state[K.userId]);
    const loginAt = Date.parse(state[K.loginAt] ?? '');
    const passwordHash = state[K.passwordHash];
    if (!refreshToken || clientId === undefined || userId === undefined || Number.isNaN(loginAt)) {
      return undefined;
    }
    if (state[K.loginHash] !== loginHash || passwordHash === undefined) return undefined;
    // The absolute limit revokes live access tokens too: start a new chain before one would outlive it.
    const current = context.current ? context.current.expiresAt - context.current.issuedAt : 0;
    const lifetime = current > 0 ? current : HOUR_MS;
    if (context.clock.now() - loginAt + lifetime + ABSOLUTE_MARGIN_MS >= DEFAULT_ABSOLUTE_MS)
      return undefined;
    if (!(await passwordMatches(passwordHash, password))) return undefined;
    return { refreshToken, clientId, userId, loginAt, passwordHash };
  }

  /** The refresh protocol above; undefined when iDempiere refused for sure (then log in). */
  async #refresh(
    spec: IdempiereSpec,
    context: ProviderContext,
    state: Readonly<Record<string, string>>,
    chain: Chain,
    loginHash: string,
  ): Promise<TokenSet | undefined> {
    const call: Call = {
      method: 'POST',
      path: 'auth/refresh',
      json: { refresh_token: chain.refreshToken, clientId: chain.clientId, userId: chain.userId },
    };
    const now = context.clock.now();
    const outcome = await rotateRefreshToken<{ token: string; refreshToken: string }, true>({
      context,
      state,
      refreshToken: chain.refreshToken,
      keys: INTENT_KEYS,
      crashHooks: CRASH_HOOKS,
      target: target(spec, call),
      exchange: async () => {
        const response = await send(spec, context, call);
        if (response.status !== 200) {
          if (refusedForSure(response.status)) return { refused: true };
          throw unexpectedAnswer(spec, call, response);
        }
        const body = jsonObject(spec, call, response);
        const token = stringField(body, 'token');
        const refreshToken = stringField(body, 'refresh_token');
        if (!token || !refreshToken) {
          throw new ProviderError({
            kind: 'transient',
            reason: 'InvalidResponse',
            message: `${target(spec, call)} answered 200 without token and refresh_token (fields: ${Object.keys(body).slice(0, 12).join(', ') || 'none'}).`,
          });
        }
        return { rotated: { token, refreshToken } };
      },
      outcomeUnknown: (error) => outcomeUnknown(target(spec, call), error),
      nextState: (rotated) =>
        chainState(state, {
          refreshToken: rotated.refreshToken,
          clientId: chain.clientId,
          userId: chain.userId,
          passwordHash: chain.passwordHash,
          loginHash,
          loginAt: iso(chain.loginAt),
          refreshedAt: iso(now),
        }),
    });
    if ('refused' in outcome) return undefined;
    const fresh = outcome.rotated;
    return tokenSet(fresh.token, now, context);
  }

  async #login(
    spec: IdempiereSpec,
    context: ProviderContext,
    state: Readonly<Record<string, string>>,
    credentials: Credentials,
    loginHash: string,
  ): Promise<TokenSet> {
    const passwordHash = await hashPassword(credentials.password);
    const startedAt = context.clock.now();
    const session: Session = await login(spec, context, credentials);
    // Stored before the access token is handed out; a conflict leaves this new chain unused.
    await context.state.write(
      chainState(state, {
        refreshToken: session.refreshToken,
        clientId: session.clientId,
        userId: session.userId,
        passwordHash,
        loginHash,
        loginAt: iso(startedAt),
        refreshedAt: iso(startedAt),
      }),
    );
    return tokenSet(session.token, startedAt, context);
  }
}

export const idempiereDefinition = defineProvider({
  name: 'idempiere',
  schema: idempiereSchema,
  create: () => new IdempiereProvider(),
});
