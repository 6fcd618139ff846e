// Siemens Insights Hub (MindSphere) Technical Token Manager v3: app credentials to per-tenant
// technical tokens (vendor notes §4, seed 002).
//
// Consumer Secret layout (TokenSet.data), by key:
//   token.<tenant>        that tenant's access token
//   expires_at.<tenant>   when it expires, RFC 3339, on the operator's clock
//   <keys.tokenType>      "Bearer" (default key: token_type)
//   tenants               the <tenant> names present, sorted, one per line
//   <keys.token>, <keys.expiresAt>
//                         single-tenant specs only (one userTenant, or the host tenant alone): the
//                         usual layout, so such consumers mount the same keys as with any provider.
// <tenant> is the tenant id whenever a Secret key can hold it ([-._a-zA-Z0-9], every real id);
// other ids are sanitized and suffixed with a hash (insights-hub-layout.ts), and `tenants` lists
// the names as used in the keys. A tenant that leaves the spec or discovery leaves the data; a
// tenant whose renewal failed keeps its previous token while that is still valid.
//
// Calls per round: one oauth/token for a single tenant; otherwise ceil(tenants / batchSize)
// oauthTokens calls, after, for allUserTenants, one operator-tenant token and the userTenants pages
// (one more, empty, when the server reports no page.size and the last page looks full); one more
// oauthTokens call per batch answered 429 and sent again after its Retry-After.
// A batch refused as a whole with 403 (the service does that when one of its tenants is not
// provisioned) is retried tenant by tenant, so that one tenant cannot hold back the others.
// A batch answered 429 is sent again after Retry-After within the round, while the wait fits the
// cap and the provider deadline; the other batches hold back meanwhile. Tenants still without a
// token (or that failed for a passing reason) are tried again on their own backoff: the round sets
// checkAgainAt to the earliest of those attempts, and a warning names the tenants that lack a token.
import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import { caBundleRef, cel, clientCredentialsRef, httpUrl } from '../api/fields.ts';
import type { HttpRequest, HttpResponse } from '../http/client.ts';
import { hostAndPath } from '../http/url.ts';
import { namespaceOf } from '../kube/object-key.ts';
import { backoffDelay } from '../policy/backoff.ts';
import { resolveExpiry } from '../policy/expiry.ts';
import { ProviderError, withMessage } from '../errors/failure.ts';
import {
  FIELD,
  batchSizeTooLarge,
  entryError,
  invalidCredentials,
  isBatchLimit,
  mdspErrorOf,
  rateLimited,
  said,
  tenantNotProvisioned,
  unexpected,
  type CallSite,
} from './insights-hub-errors.ts';
import {
  EXPIRES_AT_PREFIX,
  TENANTS_KEY,
  assertFits,
  currentExpiry,
  previousToken,
  secretData,
  type TenantToken,
} from './insights-hub-layout.ts';
import {
  TENANT_FAILURES_KEY,
  earliestRetry,
  failureCountsOf,
  parseFailureCounts,
  planTenantRetries,
  serializeFailureCounts,
  tenantMessage,
  withoutTokenWarning,
  type FailedTenant,
} from './insights-hub-retry.ts';
import { clientCredentialRefs, declareNeeds } from './references.ts';
import { defineProvider } from './definition.ts';
import { fieldNames, isJsonObject } from './answer-body.ts';
import { expiryError } from './token-set.ts';
import type { InputReference, ProviderContext, ProviderNeeds, TokenProvider, TokenSet } from './types.ts';

export const insightsHubSchema = z
  .object({
    baseUrl: httpUrl('Gateway URL, for example https://gateway.eu1.mindsphere.io.'),
    credentialsRef: clientCredentialsRef,
    appName: z.string().min(1).max(256),
    appVersion: z.string().min(1).max(64),
    hostTenant: z.string().min(1).max(256),
    userTenants: z.array(z.string().min(1).max(256)).min(1).max(10000).optional().meta({
      description: 'Tenants to mint tokens for. Set this or allUserTenants.',
      'x-kubernetes-list-type': 'set',
    }),
    allUserTenants: z
      .boolean()
      .optional()
      .meta({ description: 'Discover every tenant the app is provisioned to (GET /v3/userTenants, paged).' }),
    batchSize: z.number().int().min(1).max(100).default(5).meta({
      description: 'Tenants per /v3/oauthTokens call. The vendor documents 5 in one place and 2 in another.',
    }),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(500)
      .default(100)
      .meta({ description: 'Page size for /v3/userTenants.' }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({
    description:
      'Siemens Insights Hub Technical Token Manager: app credentials to per-tenant technical tokens.',
    ...cel({
      rule: 'has(self.userTenants) != (has(self.allUserTenants) && self.allUserTenants)',
      message: 'set exactly one of userTenants or allUserTenants: true',
    }),
  });

export type InsightsHubSpec = z.output<typeof insightsHubSchema>;

export const MINDSPHERE_API_PATH = '/api/technicaltokenmanager/v3';
/** Calls in flight at once: enough for thousands of tenants within the provider timeout, gentle on the API. */
const CONCURRENCY = 4;
/** At most this many failing tenants are listed in status; `total - ready` counts them all. */
const MAX_LISTED_FAILURES = 50;
const MAX_PAGES = 10_000;
const REDACTED = '[redacted]';
/** The longest Retry-After waited out inside a round; a longer one schedules the tenants instead. */
export const MAX_IN_ROUND_WAIT_MS = 10_000;
/** 429s one batch may meet in a round before its tenants are scheduled instead. */
const MAX_IN_ROUND_ATTEMPTS = 3;
/** Room left before the provider deadline for the call after a wait. */
const CALL_ALLOWANCE_MS = 3_000;

export interface InsightsHubOptions {
  /** Waits out a Retry-After; tests pass one that moves their clock. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1), for backoff jitter. */
  random?: () => number;
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> => sleepFor(ms, undefined, { signal });

type TenantResult = { ok: true; token: TenantToken } | { ok: false; tenant: string; error: ProviderError };

type TimedAnswer =
  | { ok: true; response: HttpResponse; startedAt: number; receivedAt: number }
  | { ok: false; error: ProviderError };

type Mode = { kind: 'single'; tenant: string } | { kind: 'list'; tenants: string[] } | { kind: 'all' };

function refs(spec: InsightsHubSpec): { clientId: InputReference; clientSecret: InputReference } {
  return clientCredentialRefs(FIELD, spec.credentialsRef);
}

/** The TTM API root: the gateway plus the MindSphere path, or baseUrl as given when it already names a TTM path (Xcelerator). */
export function apiRoot(baseUrl: string): string {
  const trimmed = baseUrl.replace(/\/+$/, '');
  return /\/api\/technicaltokenmanager[^/]*\/v3$/.test(new URL(trimmed).pathname)
    ? trimmed
    : `${trimmed}${MINDSPHERE_API_PATH}`;
}

function modeOf(spec: InsightsHubSpec): Mode {
  const listed = [...new Set(spec.userTenants ?? [])];
  if (spec.allUserTenants === true) {
    if (listed.length > 0) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'InvalidSpec',
        message: `set either ${FIELD}.userTenants or ${FIELD}.allUserTenants: true, not both.`,
      });
    }
    return { kind: 'all' };
  }
  if (listed.length > 1) return { kind: 'list', tenants: listed };
  return { kind: 'single', tenant: listed[0] ?? spec.hostTenant };
}

function failure(tenant: string, error: ProviderError): TenantResult {
  return { ok: false, tenant, error };
}

/** The error as seen by one tenant of a call that failed as a whole. */
function forTenant(tenant: string, error: ProviderError): ProviderError {
  return error.message.startsWith(`tenant ${tenant}:`)
    ? error
    : withMessage(error, `tenant ${tenant}: ${error.message}`);
}

/** Every tenant of a call that failed as a whole, each with the error as it sees it. */
function eachFailed(tenants: readonly string[], error: ProviderError): TenantResult[] {
  return tenants.map((tenant) => failure(tenant, forTenant(tenant, error)));
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Runs `work` over items with at most `limit` in flight; the first rejection stops new work. */
async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await work(items[index] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The error that stands for a round in which no tenant got a token. */
function allFailed(errors: readonly ProviderError[]): ProviderError {
  // Retrying must stay possible when any tenant only failed for a passing reason.
  const rank = { 'rate-limited': 0, transient: 1, terminal: 2 } as const;
  const first = errors[0];
  if (!first) throw new Error('allFailed needs at least one error');
  const chosen = errors.reduce((best, error) => (rank[error.kind] < rank[best.kind] ? error : best), first);
  if (errors.length === 1) return chosen;
  const counts = new Map<string, number>();
  for (const error of errors) counts.set(error.reason, (counts.get(error.reason) ?? 0) + 1);
  const summary = [...counts].map(([reason, count]) => `${count} ${reason}`).join(', ');
  const delays = errors.map((error) => error.retryAfterMs).filter((ms): ms is number => ms !== undefined);
  return new ProviderError({
    kind: chosen.kind,
    reason: chosen.reason,
    httpStatus: chosen.httpStatus,
    providerCode: chosen.providerCode,
    retryAfterMs:
      chosen.kind === 'rate-limited' && delays.length > 0 ? Math.max(...delays) : chosen.retryAfterMs,
    message: `none of the ${errors.length} tenants got a token (${summary}); for example ${chosen.message}`,
  });
}

/**
 * Whether the userTenants list ends with this page: it is empty, brings no tenant not seen before (a
 * server that ignores `page`), or holds fewer ids than the page size the server actually uses (the
 * largest page so far or a positive page.size, whatever size was asked for).
 */
export function listEnded(ids: number, fresh: number, largestPage: number): boolean {
  return ids === 0 || fresh === 0 || ids < largestPage;
}

function canonicalTokenType(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.toLowerCase() === 'bearer') return 'Bearer';
  return value.slice(0, 32);
}

export class InsightsHubProvider implements TokenProvider<InsightsHubSpec> {
  readonly name = 'insightsHub' as const;
  readonly #options: Required<InsightsHubOptions>;

  constructor(options: InsightsHubOptions = {}) {
    this.#options = { sleep: options.sleep ?? defaultSleep, random: options.random ?? Math.random };
  }

  needs(spec: InsightsHubSpec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {
      endpoint: spec.baseUrl,
      caBundleRef: spec.caBundleRef,
    });
  }

  inputs(spec: InsightsHubSpec): InputReference[] {
    const { clientId, clientSecret } = refs(spec);
    return [clientId, clientSecret];
  }

  isPublicOutput(key: string): boolean {
    return key === TENANTS_KEY || key.startsWith(EXPIRES_AT_PREFIX);
  }

  async obtain(spec: InsightsHubSpec, context: ProviderContext): Promise<TokenSet> {
    const round = new Round(spec, context, this.#options);
    try {
      return round.scrubbed(await round.run());
    } catch (error) {
      throw ProviderError.is(error) ? round.scrubbedError(error) : error;
    }
  }
}

/** One renewal round: every call, with the app key built once and kept in memory only. */
class Round {
  readonly #spec: InsightsHubSpec;
  readonly #context: ProviderContext;
  readonly #root: string;
  readonly #site: CallSite;
  readonly #authKey: string;
  readonly #secrets: string[];
  readonly #options: Required<InsightsHubOptions>;
  /** No oauthTokens call starts before this (epoch ms): a 429's Retry-After holds back every batch. */
  #resumeAt = 0;
  /** Set once a 429 asked for a wait the round cannot afford: the rest is scheduled, not sent. */
  #deferred: ProviderError | undefined;

  constructor(spec: InsightsHubSpec, context: ProviderContext, options: Required<InsightsHubOptions>) {
    this.#spec = spec;
    this.#context = context;
    this.#options = options;
    const r = refs(spec);
    const clientId = context.inputs.require(r.clientId);
    const clientSecret = context.inputs.require(r.clientSecret);
    const where = `Secret ${namespaceOf(context.credential)}/${spec.credentialsRef.name}`;
    if (clientId.includes(':')) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'InvalidCredentials',
        message: `the client id in ${where} (key ${spec.credentialsRef.clientIdKey}) contains ":", which X-SPACE-AUTH-KEY cannot carry; check that the key holds only the client id.`,
      });
    }
    // Vendor samples: Basic base64(<client_id>:<client_secret>), no form-encoding as in RFC 6749.
    const encoded = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
    this.#authKey = `Basic ${encoded}`;
    // Short values would garble messages and are not worth hiding from them.
    this.#secrets = [this.#authKey, encoded, clientSecret].filter((value) => value.length >= 4);
    this.#root = apiRoot(spec.baseUrl);
    this.#site = { endpoint: hostAndPath(`${this.#root}/oauth/token`), credentialsWhere: where };
  }

  async run(): Promise<TokenSet> {
    const startedAt = this.#context.clock.now();
    const mode = modeOf(this.#spec);
    if (mode.kind === 'single') {
      const result = await this.#token(mode.tenant);
      if (!result.ok) throw result.error;
      return this.#tokenSet([result], 1, true, startedAt, {}).set;
    }
    const tenants = mode.kind === 'list' ? mode.tenants : await this.#discover();
    if (tenants.length === 0) {
      throw new ProviderError({
        kind: 'transient',
        reason: 'NoUserTenants',
        message: `app ${this.#spec.appName} ${this.#spec.appVersion} is provisioned to no user tenant yet; checking again with backoff.`,
      });
    }
    // Tenants without a token, then those closest to expiry: under a rate limit they go first.
    const current = this.#context.current;
    const ordered = tenants
      .map((tenant, index) => ({ tenant, index, at: currentExpiry(current, tenant) }))
      .sort((a, b) => (a.at === b.at ? a.index - b.index : a.at < b.at ? -1 : 1))
      .map((entry) => entry.tenant);
    const state = await this.#context.state.read();
    const results = await this.#batches(ordered);
    const tokens = this.#tokenSet(
      results,
      tenants.length,
      false,
      startedAt,
      parseFailureCounts(state[TENANT_FAILURES_KEY]),
    );
    const counts = serializeFailureCounts(tokens.failureCounts);
    if (counts !== state[TENANT_FAILURES_KEY]) {
      const others = Object.entries(state).filter(([key]) => key !== TENANT_FAILURES_KEY);
      await this.#context.state.write(
        Object.fromEntries(counts === undefined ? others : [...others, [TENANT_FAILURES_KEY, counts]]),
      );
    }
    return tokens.set;
  }

  scrubbed(tokens: TokenSet): TokenSet {
    const failing = tokens.tenants?.failing.map((entry) => ({
      ...entry,
      message: this.#scrub(entry.message),
    }));
    const warnings = tokens.warnings?.map((entry) => ({ ...entry, message: this.#scrub(entry.message) }));
    const scrubbed = warnings ? { ...tokens, warnings } : tokens;
    return scrubbed.tenants && failing
      ? { ...scrubbed, tenants: { ...scrubbed.tenants, failing } }
      : scrubbed;
  }

  scrubbedError(error: ProviderError): ProviderError {
    const message = this.#scrub(error.message);
    return message === error.message ? error : withMessage(error, message);
  }

  #scrub(text: string): string {
    return this.#secrets.reduce((result, secret) => result.split(secret).join(REDACTED), text);
  }

  #tokenSet(
    results: readonly TenantResult[],
    total: number,
    single: boolean,
    startedAt: number,
    previousFailures: Readonly<Record<string, number>>,
  ): { set: TokenSet; failureCounts: Record<string, number> } {
    const now = this.#context.clock.now();
    const tokens: TenantToken[] = [];
    const errors: ProviderError[] = [];
    const failed: FailedTenant[] = [];
    for (const result of results) {
      if (result.ok) {
        tokens.push(result.token);
        continue;
      }
      errors.push(result.error);
      const kept = previousToken(
        this.#context.current,
        result.tenant,
        now,
        this.#context.keys.tokenType,
        startedAt,
      );
      if (kept) tokens.push(kept);
      failed.push({ tenant: result.tenant, error: result.error, keptUntil: kept?.expiresAt });
    }
    if (errors.length === results.length) throw allFailed(errors);
    const data = secretData(tokens, this.#context.keys, single);
    assertFits(data, tokens.length);
    const first = tokens[0] as TenantToken;
    const earliest = tokens.reduce((best, token) => (token.expiresAt < best.expiresAt ? token : best), first);
    const issuedAt = Math.min(...tokens.map((token) => token.issuedAt));
    // checkAgainAt stands in for the renewal plan, so a long Retry-After must not push renewal past
    // half-life: every round is a full one, so the next attempt comes no later than that.
    const latest = issuedAt + Math.floor((earliest.expiresAt - issuedAt) / 2);
    const planned = planTenantRetries(failed, previousFailures, now, this.#options.random);
    const retryAt = earliestRetry(planned);
    // One round at the earliest tenant's time tries them all: that is each one's real next attempt.
    const retries = planned.map((retry) =>
      retry.at === undefined || retryAt === undefined ? retry : { ...retry, at: Math.min(retryAt, latest) },
    );
    const failing = failed.map((entry, index) => ({
      tenant: entry.tenant,
      reason: entry.error.reason,
      message: tenantMessage(
        entry.error,
        retries[index] ?? { tenant: entry.tenant, failures: 1 },
        entry.keptUntil,
      ),
    }));
    const missing = failed
      .map((entry, index) => ({ entry, retry: retries[index] }))
      .filter(({ entry }) => entry.keptUntil === undefined)
      .map(({ entry, retry }) => ({ tenant: entry.tenant, reason: entry.error.reason, retryAt: retry?.at }));
    const warning = withoutTokenWarning(missing, total);
    const nextRound = earliestRetry(retries);
    const set: TokenSet = {
      data,
      issuedAt,
      expiresAt: earliest.expiresAt,
      expirySource: earliest.source,
      perTenant: Object.fromEntries(
        tokens.map((entry) => [
          entry.tenant,
          { token: entry.token, tokenType: entry.tokenType, expiresAt: entry.expiresAt },
        ]),
      ),
      tenants: {
        ready: results.length - errors.length,
        total,
        failing: failing.slice(0, MAX_LISTED_FAILURES),
      },
    };
    // The controller calls again then: a full round, which tries these tenants first.
    if (nextRound !== undefined) set.checkAgainAt = nextRound;
    if (warning) set.warnings = [warning];
    return { set, failureCounts: failureCountsOf(retries) };
  }

  async #send(request: Omit<HttpRequest, 'signal' | 'headers'>, bearer?: string): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (bearer === undefined) headers['x-space-auth-key'] = this.#authKey;
    else headers.authorization = `Bearer ${bearer}`;
    return this.#context.http.request({ ...request, headers, signal: this.#context.signal });
  }

  /** One POST, our clock read before and after it; a client error to record per tenant comes back instead. */
  async #timedPost(url: string, json: unknown): Promise<TimedAnswer> {
    const startedAt = this.#context.clock.now();
    let response: HttpResponse;
    try {
      response = await this.#send({ method: 'POST', url, json });
    } catch (error) {
      return { ok: false, error: this.#recoverable(error) };
    }
    return { ok: true, response, startedAt, receivedAt: this.#context.clock.now() };
  }

  /** A client error (transport, unreadable body) to record per tenant; an abort or a bug ends the round. */
  #recoverable(error: unknown): ProviderError {
    if (this.#context.signal.aborted || !ProviderError.is(error)) throw error;
    return error;
  }

  /** oauth/token for one tenant. Throws what no other tenant could get past (401, 429, 400, 404). */
  async #token(tenant: string): Promise<TenantResult> {
    const { appName, appVersion, hostTenant } = this.#spec;
    const sent = await this.#timedPost(`${this.#root}/oauth/token`, {
      appName,
      appVersion,
      hostTenant,
      userTenant: tenant,
    });
    if (!sent.ok) return failure(tenant, forTenant(tenant, sent.error));
    const { response, startedAt, receivedAt } = sent;
    const endpoint = this.#site.endpoint;
    if (response.status === 200) {
      try {
        return this.#parseToken(tenant, response.json(), startedAt, receivedAt, endpoint);
      } catch (error) {
        return failure(tenant, forTenant(tenant, this.#recoverable(error)));
      }
    }
    if (response.status === 401) throw invalidCredentials(response, this.#site);
    if (response.status === 403) {
      return failure(tenant, tenantNotProvisioned(tenant, `403: ${said(response)}`, this.#spec, 403));
    }
    const error = unexpected(response, endpoint);
    if (error.kind !== 'transient') throw error;
    return failure(tenant, forTenant(tenant, error));
  }

  #parseToken(
    tenant: string,
    body: unknown,
    startedAt: number,
    receivedAt: number,
    endpoint: string,
  ): TenantResult {
    const accessToken = isJsonObject(body) ? body.access_token : undefined;
    if (!isJsonObject(body) || typeof accessToken !== 'string' || accessToken === '') {
      const fields = isJsonObject(body) ? fieldNames(body) : 'not an object';
      return failure(
        tenant,
        new ProviderError({
          kind: 'transient',
          reason: 'InvalidResponse',
          message: `tenant ${tenant}: ${endpoint} answered 200 without an access_token (fields: ${fields}).`,
        }),
      );
    }
    // timestamp: issue time in ms on the provider's clock, a number or (samples page) a string.
    const expiry = resolveExpiry({
      requestStartedAt: startedAt,
      receivedAt,
      expiresIn: body.expires_in,
      timestamp: body.timestamp,
      jwt: accessToken,
      assumedLifetimeMs: this.#context.assumedLifetimeMs,
    });
    // Per tenant, and an unreadable expires_in is one more UnknownExpiry here.
    if (!expiry.ok) return failure(tenant, expiryError(expiry, { what: `tenant ${tenant}: ${endpoint}` }));
    return {
      ok: true,
      token: {
        tenant,
        token: accessToken,
        tokenType: canonicalTokenType(body.token_type),
        issuedAt: expiry.issuedAt,
        expiresAt: expiry.expiresAt,
        source: expiry.source === 'jwt' ? 'jwt' : 'expires_in',
      },
    };
  }

  async #batches(tenants: readonly string[]): Promise<TenantResult[]> {
    const perBatch = await inPool(chunk(tenants, this.#spec.batchSize), CONCURRENCY, (batch) =>
      this.#throttledBatch(batch),
    );
    return perBatch.flat();
  }

  /**
   * One batch, sent again after a 429 once its Retry-After has passed, while the wait fits in the
   * round. Every batch holds back until then: more calls would only meet more 429s.
   */
  async #throttledBatch(batch: readonly string[]): Promise<TenantResult[]> {
    for (let attempt = 1; ; attempt += 1) {
      await this.#waitUntil(this.#resumeAt);
      // Another batch may have given up while this one waited.
      const deferred = this.#deferral();
      if (deferred) return this.#scheduled(batch, deferred);
      try {
        return await this.#batch(batch);
      } catch (error) {
        if (!ProviderError.is(error) || error.kind !== 'rate-limited' || this.#context.signal.aborted)
          throw error;
        const now = this.#context.clock.now();
        const waitMs = error.retryAfterMs ?? backoffDelay(attempt, this.#options.random);
        // Without a known deadline no wait can be shown to fit: schedule instead.
        const deadline = this.#context.deadline ?? Number.NEGATIVE_INFINITY;
        const fits =
          attempt < MAX_IN_ROUND_ATTEMPTS &&
          waitMs <= MAX_IN_ROUND_WAIT_MS &&
          now + waitMs + CALL_ALLOWANCE_MS <= deadline;
        if (!fits) {
          this.#deferred ??= error;
          return this.#scheduled(batch, this.#deferred);
        }
        this.#resumeAt = Math.max(this.#resumeAt, now + waitMs);
      }
    }
  }

  #deferral(): ProviderError | undefined {
    return this.#deferred;
  }

  async #waitUntil(at: number): Promise<void> {
    // Once: a clock that does not move with the sleep (a fixed test clock) must not spin here.
    const now = this.#context.clock.now();
    if (now < at) await this.#options.sleep(at - now, this.#context.signal);
  }

  /** A batch not sent (or given up) because of a 429 the round cannot wait out: its tenants are scheduled. */
  #scheduled(batch: readonly string[], cause: ProviderError): TenantResult[] {
    const waitMs = cause.retryAfterMs;
    const error = new ProviderError({
      kind: 'rate-limited',
      reason: 'RateLimited',
      httpStatus: 429,
      retryAfterMs: waitMs,
      message:
        `${hostAndPath(`${this.#root}/oauthTokens`)} answered 429 Too Many Requests` +
        (waitMs === undefined
          ? ' more often than this round could wait out.'
          : ` and asked to wait ${Math.ceil(waitMs / 1000)} s, longer than this round can wait (at most ${MAX_IN_ROUND_WAIT_MS / 1000} s, within the provider timeout).`),
    });
    return eachFailed(batch, error);
  }

  /** oauthTokens for one batch. Throws for a 429 and for what every batch would run into. */
  async #batch(batch: readonly string[]): Promise<TenantResult[]> {
    const url = `${this.#root}/oauthTokens`;
    const endpoint = hostAndPath(url);
    const { appName, appVersion, hostTenant } = this.#spec;
    const sent = await this.#timedPost(url, {
      appName,
      appVersion,
      hostTenantId: hostTenant,
      userTenantIds: batch,
    });
    if (!sent.ok) return eachFailed(batch, sent.error);
    const { response, startedAt, receivedAt } = sent;
    if (response.status === 200) return this.#entries(batch, response, startedAt, receivedAt, endpoint);
    if (response.status === 401) throw invalidCredentials(response, { ...this.#site, endpoint });
    if (response.status === 429) throw rateLimited(response, endpoint);
    if (isBatchLimit(response)) throw batchSizeTooLarge(response, endpoint, batch.length);
    if (response.status === 403) {
      const only = batch.length === 1 ? batch[0] : undefined;
      if (only !== undefined) {
        return [failure(only, tenantNotProvisioned(only, `403: ${said(response)}`, this.#spec, 403))];
      }
      // The service refuses the whole batch for one unprovisioned tenant: find it, spare the others.
      const results: TenantResult[] = [];
      for (const [index, tenant] of batch.entries()) {
        try {
          results.push(await this.#token(tenant));
        } catch (error) {
          // A 429 here must not throw away the tokens this batch already got.
          if (!ProviderError.is(error) || error.kind !== 'rate-limited') throw error;
          results.push(...eachFailed(batch.slice(index), error));
          break;
        }
      }
      return results;
    }
    const error = unexpected(response, endpoint);
    if (error.kind !== 'transient') throw error;
    return eachFailed(batch, error);
  }

  #entries(
    batch: readonly string[],
    response: HttpResponse,
    startedAt: number,
    receivedAt: number,
    endpoint: string,
  ): TenantResult[] {
    let body: unknown;
    try {
      body = response.json();
    } catch (error) {
      return eachFailed(batch, this.#recoverable(error));
    }
    // Samples page: {"oauthTokens":[{"userTenantId","token":{…}}]}; the notes call it likely, not certain.
    const list: unknown = Array.isArray(body) ? body : isJsonObject(body) ? body.oauthTokens : undefined;
    if (!Array.isArray(list)) {
      const fields = isJsonObject(body) ? fieldNames(body) : 'not an object';
      const error = new ProviderError({
        kind: 'transient',
        reason: 'InvalidResponse',
        message: `${endpoint} answered 200 without an oauthTokens list (fields: ${fields}).`,
      });
      return eachFailed(batch, error);
    }
    const wanted = new Set(batch);
    const byTenant = new Map<string, TenantResult>();
    for (const entry of list) {
      if (!isJsonObject(entry)) continue;
      const id = entry.userTenantId ?? entry.userTenant;
      if (typeof id !== 'string' || !wanted.has(id) || byTenant.has(id)) continue;
      const mdsp = mdspErrorOf(entry);
      if (isJsonObject(entry.token) || 'access_token' in entry) {
        const token: unknown = isJsonObject(entry.token) ? entry.token : entry;
        byTenant.set(id, this.#parseToken(id, token, startedAt, receivedAt, endpoint));
      } else if (mdsp) {
        byTenant.set(id, failure(id, entryError(id, mdsp, this.#spec)));
      } else {
        const error = new ProviderError({
          kind: 'transient',
          reason: 'InvalidResponse',
          message: `tenant ${id}: ${endpoint} answered 200 with neither a token nor an error for this tenant.`,
        });
        byTenant.set(id, failure(id, error));
      }
    }
    return batch.map(
      (tenant) =>
        byTenant.get(tenant) ??
        failure(
          tenant,
          new ProviderError({
            kind: 'transient',
            reason: 'InvalidResponse',
            message: `tenant ${tenant}: ${endpoint} answered 200 without an entry for this tenant; retrying with backoff.`,
          }),
        ),
    );
  }

  /** allUserTenants: an operator-tenant token, then the userTenants pages until the list ends. */
  async #discover(): Promise<string[]> {
    const host = this.#spec.hostTenant;
    const operator = await this.#token(host);
    if (!operator.ok) {
      throw withMessage(
        operator.error,
        `allUserTenants needs a token for the host tenant itself (hostTenant = userTenant = ${host}) to list ` +
          `the app's tenants; check that ${FIELD}.hostTenant is the tenant the app runs on. ${operator.error.message}`,
      );
    }
    const bearer = operator.token.token;
    // The seed's own sample sends page.totalPages 0 next to a non-empty list, and the server may use
    // another page size than the one asked for: the pages themselves say where the list ends.
    const seen = new Set<string>();
    let served = 0;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const { ids, size } = await this.#page(bearer, page);
      const fresh = ids.filter((id) => !seen.has(id));
      for (const id of fresh) seen.add(id);
      served = Math.max(served, ids.length, size ?? 0);
      if (listEnded(ids.length, fresh.length, served)) return [...seen];
    }
    throw new ProviderError({
      kind: 'transient',
      reason: 'InvalidResponse',
      message: `${hostAndPath(`${this.#root}/userTenants`)} kept sending new tenants for ${MAX_PAGES} pages; retrying with backoff.`,
    });
  }

  /** One userTenants page: its ids, and page.size when the server reports the size it used. */
  async #page(bearer: string, page: number): Promise<{ ids: string[]; size?: number }> {
    const url = `${this.#root}/userTenants?page=${page}&size=${this.#spec.pageSize}`;
    const endpoint = hostAndPath(url);
    const response = await this.#send({ method: 'GET', url }, bearer);
    if (response.status === 200) {
      const body = response.json();
      const list = isJsonObject(body) ? body.userTenants : undefined;
      const ids = Array.isArray(list)
        ? list.map((entry: unknown) => (isJsonObject(entry) ? entry.id : undefined))
        : undefined;
      if (!ids?.every((id): id is string => typeof id === 'string' && id !== '')) {
        throw new ProviderError({
          kind: 'transient',
          reason: 'InvalidResponse',
          message: `${endpoint} (page ${page}) answered 200 without the expected userTenants[].id.`,
        });
      }
      const size = isJsonObject(body) && isJsonObject(body.page) ? body.page.size : undefined;
      // The seed's sample sends size 0: only a positive size says anything.
      return typeof size === 'number' && Number.isInteger(size) && size > 0 ? { ids, size } : { ids };
    }
    const text = said(response);
    const limit = /maximum value for size is (\d+)/i.exec(text)?.[1];
    if (response.status === 400 && limit !== undefined) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'PageSizeTooLarge',
        httpStatus: 400,
        message: `${endpoint} refused page size ${this.#spec.pageSize} (${text}): lower ${FIELD}.pageSize to ${limit}.`,
      });
    }
    if (response.status === 401 || response.status === 403) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'TenantListRefused',
        httpStatus: response.status,
        message:
          `${endpoint} refused the operator-tenant token with ${response.status} (${text}). Check that ` +
          `${FIELD}.hostTenant is the tenant the app runs on and that the app may list its user tenants ` +
          '(Developer Cockpit or Operator Cockpit).',
      });
    }
    throw unexpected(response, endpoint);
  }
}

export const insightsHubDefinition = defineProvider({
  name: 'insightsHub',
  schema: insightsHubSchema,
  create: () => new InsightsHubProvider(),
});
