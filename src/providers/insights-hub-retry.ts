// Tenants of an insightsHub credential that failed for a passing reason: how often in a row (kept in
// the credential's state Secret), when each is tried again, and what a person is told. Pure.
import { nextAttemptAt } from '../policy/backoff.ts';
import type { ProviderError } from '../errors/failure.ts';

/** State Secret key: consecutive failures by tenant, JSON. */
export const TENANT_FAILURES_KEY = 'insightsHub.tenantFailures';
/** Ready reason while some tenants have no token in the Secret at all. */
export const TENANTS_WITHOUT_TOKEN = 'TenantsWithoutToken';
const LISTED_IN_WARNING = 10;

export type FailureCounts = Record<string, number>;

/** The counts stored by earlier rounds; anything unreadable counts as none (backoff starts over). */
export function parseFailureCounts(text: string | undefined): FailureCounts {
  if (text === undefined) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    const counts: FailureCounts = {};
    for (const [tenant, count] of Object.entries(value)) {
      if (typeof count === 'number' && Number.isInteger(count) && count > 0) counts[tenant] = count;
    }
    return counts;
  } catch {
    return {};
  }
}

export function serializeFailureCounts(counts: FailureCounts): string | undefined {
  const tenants = Object.keys(counts).sort();
  if (tenants.length === 0) return undefined;
  return JSON.stringify(Object.fromEntries(tenants.map((tenant) => [tenant, counts[tenant]])));
}

export interface FailedTenant {
  tenant: string;
  error: ProviderError;
  /** Expiry of the previous token the Secret keeps for it, if any. */
  keptUntil?: number;
}

export interface TenantRetry {
  tenant: string;
  /** Consecutive failures including this round's. */
  failures: number;
  /** Epoch ms; undefined for a failure that only a change (or the next renewal) can fix. */
  at?: number;
}

/** When each failed tenant is tried again: the project's backoff per tenant, Retry-After as a floor. */
export function planTenantRetries(
  failed: readonly FailedTenant[],
  previous: FailureCounts,
  now: number,
  random: () => number,
): TenantRetry[] {
  return failed.map(({ tenant, error, keptUntil }) => {
    const failures = (previous[tenant] ?? 0) + 1;
    if (error.kind === 'terminal') return { tenant, failures };
    const at = nextAttemptAt({
      failures,
      now,
      retryAfterMs: error.retryAfterMs,
      random,
      tokenStillValidUntil: keptUntil,
    });
    return { tenant, failures, at };
  });
}

/** The counts to store: only tenants that will be retried on their own backoff. */
export function failureCountsOf(retries: readonly TenantRetry[]): FailureCounts {
  return Object.fromEntries(retries.filter((r) => r.at !== undefined).map((r) => [r.tenant, r.failures]));
}

export function earliestRetry(retries: readonly TenantRetry[]): number | undefined {
  const times = retries.map((r) => r.at).filter((at): at is number => at !== undefined);
  return times.length === 0 ? undefined : Math.min(...times);
}

// A per-call message may promise a retry ("retrying with backoff."); the tenant's own plan replaces it.
const RETRY_PROMISE = /[;,]?\s*retrying (with backoff|after the server's delay of \d+ s)\.?$/;

/** A failed tenant's status message, ending with what will actually happen next. */
export function tenantMessage(error: ProviderError, retry: TenantRetry, keptUntil?: number): string {
  const said = error.message.replace(RETRY_PROMISE, '.');
  const kept =
    keptUntil === undefined
      ? ' It has no token in the Secret.'
      : ` Its previous token stays in the Secret until ${new Date(keptUntil).toISOString()}.`;
  const next =
    retry.at === undefined
      ? ' It is not retried on a backoff of its own: fix the cause; the next round tries it again.'
      : ` Next attempt at ${new Date(retry.at).toISOString()} (failure ${retry.failures} in a row).`;
  return `${said}${kept}${next}`;
}

/** The warning for Ready and the Warning Event while some tenants have no token at all. */
export function withoutTokenWarning(
  missing: readonly { tenant: string; reason: string; retryAt?: number }[],
  total: number,
): { reason: string; message: string } | undefined {
  if (missing.length === 0) return undefined;
  const listed = missing
    .slice(0, LISTED_IN_WARNING)
    .map((entry) => `${entry.tenant} (${entry.reason})`)
    .join(', ');
  const more = missing.length > LISTED_IN_WARNING ? ` and ${missing.length - LISTED_IN_WARNING} more` : '';
  const retried = missing.filter((entry) => entry.retryAt !== undefined);
  const at = retried.length === 0 ? undefined : Math.min(...retried.map((entry) => entry.retryAt as number));
  const plan =
    at === undefined
      ? 'None of these failures passes by itself: fix the cause; the next renewal tries them again.'
      : retried.length === missing.length
        ? `The operator tries them again at ${new Date(at).toISOString()} (backoff).`
        : `The operator tries them again at ${new Date(at).toISOString()} (backoff); ` +
          `${missing.length - retried.length} of them need their cause fixed first.`;
  return {
    reason: TENANTS_WITHOUT_TOKEN,
    message:
      `${missing.length} of ${total} tenants have no token in the Secret: ${listed}${more}. ${plan} ` +
      'See status.tenants.failing for what the service said.',
  };
}
