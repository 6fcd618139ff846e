// The consumer Secret of an insightsHub credential: key names, which previous tokens survive a failed
// renewal, and the assembled data. The layout itself is described at the top of insights-hub.ts.
import { createHash } from 'node:crypto';
import { ProviderError } from '../errors/failure.ts';
import type { ProviderContext } from './types.ts';

export const TENANTS_KEY = 'tenants';
export const TOKEN_PREFIX = 'token.';
export const EXPIRES_AT_PREFIX = 'expires_at.';
/** A previous token closer to expiry than this is not kept: renewing around it would only spin. */
export const KEEP_MIN_REMAINING_MS = 60_000;
// Kubernetes refuses Secrets over 1 MiB in total; leave room for metadata and annotations.
const MAX_DATA_BYTES = 1_000_000;
const SAFE_KEY = /^[-._a-zA-Z0-9]+$/;
// Secret keys are at most 253 characters and the longest prefix is 'expires_at.' (11).
const MAX_SUFFIX = 240;

/** The tenant id itself when a Secret key can hold it, else a readable form plus a hash of the id. */
export function keySuffix(tenant: string): string {
  if (SAFE_KEY.test(tenant) && tenant.length <= MAX_SUFFIX) return tenant;
  const hash = createHash('sha256').update(tenant).digest('hex').slice(0, 12);
  return `${tenant.replace(/[^-._a-zA-Z0-9]+/g, '_').slice(0, MAX_SUFFIX - hash.length - 1)}-${hash}`;
}

export function tokenKey(tenant: string): string {
  return `${TOKEN_PREFIX}${keySuffix(tenant)}`;
}

export function expiresAtKey(tenant: string): string {
  return `${EXPIRES_AT_PREFIX}${keySuffix(tenant)}`;
}

export interface TenantToken {
  tenant: string;
  token: string;
  /** Already canonical ("Bearer"). */
  tokenType: string;
  /** Our clock: the request start (for a kept token, the start of this round). */
  issuedAt: number;
  expiresAt: number;
  source: 'expires_in' | 'jwt';
  /** Taken over from the Secret because this round's renewal failed. */
  kept?: boolean;
}

/** When the tenant's token in the Secret expires; -Infinity when it has none (renew it first). */
export function currentExpiry(current: ProviderContext['current'], tenant: string): number {
  const text = current?.data[expiresAtKey(tenant)];
  const at = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(at) ? Number.NEGATIVE_INFINITY : at;
}

/** The tenant's previous token, when the Secret has one that is still comfortably valid. */
export function previousToken(
  current: ProviderContext['current'],
  tenant: string,
  now: number,
  tokenTypeKey: string,
  roundStartedAt: number,
): TenantToken | undefined {
  if (!current) return undefined;
  const token = current.data[tokenKey(tenant)];
  const expiresAt = currentExpiry(current, tenant);
  if (!token || expiresAt - now <= KEEP_MIN_REMAINING_MS) return undefined;
  return {
    tenant,
    token,
    tokenType: current.data[tokenTypeKey] ?? 'Bearer',
    issuedAt: roundStartedAt,
    expiresAt,
    source: 'expires_in',
    kept: true,
  };
}

/** The Secret's data for these tokens; `single` adds the standard keys for one-tenant specs. */
export function secretData(
  tokens: readonly TenantToken[],
  keys: ProviderContext['keys'],
  single: boolean,
): Record<string, string> {
  const sorted = [...tokens].sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
  const data: Record<string, string> = {};
  for (const entry of sorted) {
    data[tokenKey(entry.tenant)] = entry.token;
    data[expiresAtKey(entry.tenant)] = new Date(entry.expiresAt).toISOString();
  }
  data[TENANTS_KEY] = sorted.map((entry) => keySuffix(entry.tenant)).join('\n');
  const standard: [keyof typeof keys, string | undefined][] = [
    ['tokenType', sorted[0]?.tokenType ?? 'Bearer'],
    ['token', single ? sorted[0]?.token : undefined],
    ['expiresAt', single && sorted[0] ? new Date(sorted[0].expiresAt).toISOString() : undefined],
  ];
  for (const [name, value] of standard) {
    if (value === undefined) continue;
    const key = keys[name];
    if (key in data) {
      throw new ProviderError({
        kind: 'terminal',
        reason: 'InvalidSpec',
        message:
          `spec.secret.keys.${name} is "${key}", a key the insightsHub provider uses for its tenant list or a ` +
          `tenant's token; choose another name (keys starting with "${TOKEN_PREFIX}" or "${EXPIRES_AT_PREFIX}", ` +
          `and "${TENANTS_KEY}", are taken).`,
      });
    }
    data[key] = value;
  }
  return data;
}

/** A terminal error when the data would not fit in a Secret. */
export function assertFits(data: Record<string, string>, tenants: number): void {
  let bytes = 0;
  for (const [key, value] of Object.entries(data)) bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  if (bytes <= MAX_DATA_BYTES) return;
  throw new ProviderError({
    kind: 'terminal',
    reason: 'SecretTooLarge',
    message:
      `the tokens of ${tenants} tenants take ${Math.ceil(bytes / 1024)} KiB, more than a Secret can hold (1 MiB). ` +
      'Split the tenants over several ApiCredentials, each with its own spec.provider.insightsHub.userTenants list.',
  });
}
