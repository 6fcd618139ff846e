// When does a freshly issued token expire, on OUR clock? Pure: everything comes in as arguments.
//
// The rule, in one line: a provider's clock may only shorten a token's life, never lengthen it.
//
// - Every source is turned into "issued at P, lives L": expires_in (P = the response `timestamp`
//   when there is one, else our request start), and the JWT (P = iat, L = exp - iat).
// - Each candidate expiry is min(our request start, P) + L. A provider clock running ahead of ours
//   (iat or timestamp in our future) is ignored, because the token cannot have been issued before
//   we asked for it. A provider clock running behind, or a token issued before our request (a
//   cached one), makes the expiry earlier: the safe direction for pods.
// - A JWT `exp` without `iat` can only be read on the provider's clock, as is.
// - The earliest candidate wins; without any, the assumed lifetime; without that, an error.
// - An expires_in that cannot be read (TapData documents it as a String: "14d", "", an epoch in ms)
//   is set aside with a notice, and the JWT exp (else the assumed lifetime) serves. Only when
//   nothing else gives a lifetime is the unreadable expires_in the error.
//
// On arrival:
// - Already expired on our clock, or less than a second left: an `ExpiredOnArrival` error. Writing it would hand pods a dead
//   token, and asking again at once would loop, so the caller backs off.
// - Less than half its lifetime left: accepted, with a `warning`. `issuedAt` is always our request
//   start, so the renewal plan lands inside what is left and never before now.
import { decodeJwt } from 'jose';
import { safeExcerpt } from '../errors/excerpt.ts';
import { formatTime } from './time.ts';
import { formatDuration } from './duration.ts';

export type ExpirySource = 'expires_in' | 'jwt' | 'assumed';

export interface ExpiryInput {
  /** Our clock, epoch ms, just before the request was sent. */
  requestStartedAt: number;
  /** Our clock when the answer arrived; defaults to requestStartedAt. */
  receivedAt?: number;
  /** `expires_in` as the provider sent it: seconds, a number or a numeric string. */
  expiresIn?: unknown;
  /** Insights Hub `timestamp`: issue time in ms on the provider's clock, number or numeric string. */
  timestamp?: unknown;
  /** The access token; decoded (never verified) when it is a JWT, ignored when it is opaque. */
  jwt?: string;
  /** spec.refresh.assumedLifetime, for tokens that carry no expiry at all. */
  assumedLifetimeMs?: number;
}

export interface Expiry {
  /** Our request start: renewal is planned on our clock, from the moment we asked. */
  issuedAt: number;
  expiresAt: number;
  source: ExpirySource;
  /** Something a person should know (clock skew, a half-used token); safe to show. */
  warning?: string;
  /** Event reason of the warning: a half-used token, or a provider clock ahead of ours. */
  warningReason?: 'ShortTokenLifetime' | 'ClockSkew';
  /** Why the provider's expires_in was set aside and what served instead; safe to show. */
  unusableExpiresIn?: string;
}

/** A warning for the TokenSet: becomes a Warning Event and, the first one, the Ready reason. */
export interface ExpiryWarning {
  reason: 'UnusableExpiresIn' | 'ShortTokenLifetime' | 'ClockSkew';
  message: string;
}

/** Every warning of an accepted expiry, `prefix` naming the provider; the lasting one first. */
export function expiryWarnings(expiry: Expiry, prefix: string): ExpiryWarning[] {
  const warnings: ExpiryWarning[] = [];
  // An unreadable expires_in recurs on every renewal: first, so it stands in Ready and its Event
  // is not repeated each time.
  if (expiry.unusableExpiresIn !== undefined)
    warnings.push({ reason: 'UnusableExpiresIn', message: `${prefix}: ${expiry.unusableExpiresIn}` });
  if (expiry.warning !== undefined)
    warnings.push({
      reason: expiry.warningReason ?? 'ShortTokenLifetime',
      message: `${prefix}: ${expiry.warning}`,
    });
  return warnings;
}

export type ExpiryErrorReason =
  'InvalidExpiresIn' | 'InvalidTimestamp' | 'InvalidAssumedLifetime' | 'ExpiredOnArrival' | 'NoExpiry';

export interface ExpiryError {
  reason: ExpiryErrorReason;
  /** What is wrong and what to do; names no token content. */
  message: string;
}

export type ExpiryResult = ({ ok: true } & Expiry) | ({ ok: false } & ExpiryError);

/** Longer than any real token lives: such a value is a unit mix-up or garbage. */
export const MAX_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;
/**
 * A token with less left than this on arrival is treated as expired: no pod could use it, and
 * accepting it would only schedule the next renewal a moment later, again and again.
 */
export const MIN_USABLE_MS = 1_000;
// Below this a `timestamp` is not epoch milliseconds (1e11 ms is March 1973): probably seconds.
const MIN_EPOCH_MS = 1e11;
const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;
const UNIT_SUFFIX = /^\s*\d+(\.\d+)?\s*[a-z]+\s*$/i;
// An expires_in this large is an absolute time sent where a lifetime belongs (1e9 s is Sept 2001).
const EPOCH_SECONDS_2001 = 1e9;

interface Candidate {
  expiresAt: number;
  lifetimeMs: number;
  source: 'expires_in' | 'jwt';
  /** How far the provider's issue time (iat, timestamp) lies after our request start, when it does. */
  aheadMs?: number;
}

/** A provider clock further ahead of ours than this gets a warning: NTP keeps real clocks far closer. */
export const SKEW_WARNING_MS = 60_000;

type Parsed<T> = { ok: true; value: T | undefined } | ({ ok: false } & ExpiryError);

export function resolveExpiry(input: ExpiryInput): ExpiryResult {
  const start = input.requestStartedAt;
  const arrived = Math.max(input.receivedAt ?? start, start);
  const expiresIn = parseExpiresIn(input.expiresIn);
  const timestamp = parseTimestamp(input.timestamp);
  if (!timestamp.ok) return timestamp;

  const candidates: Candidate[] = [];
  if (expiresIn.ok && expiresIn.value !== undefined) {
    candidates.push(anchored(start, timestamp.value, expiresIn.value, 'expires_in'));
  }
  const jwt = jwtCandidate(input.jwt, start);
  if (jwt) candidates.push(jwt);
  if (!expiresIn.ok) return withoutExpiresIn(expiresIn, jwt, input, start, arrived);

  // Ties go to expires_in: it is the field the OAuth 2.0 spec defines for this.
  const earliest = candidates.reduce<Candidate | undefined>(
    (best, next) => (best === undefined || next.expiresAt < best.expiresAt ? next : best),
    undefined,
  );
  // Any source may show the provider's clock ahead of ours, not only the one that sets the expiry.
  const aheadMs = Math.max(0, ...candidates.map((candidate) => candidate.aheadMs ?? 0));
  if (earliest) return onArrival(earliest, start, arrived, aheadMs);
  return assumed(input.assumedLifetimeMs, start, input.jwt !== undefined && looksLikeJwt(input.jwt));
}

/** expires_in was unreadable: the JWT exp serves, else the assumed lifetime, each with a notice. */
function withoutExpiresIn(
  problem: ExpiryError,
  jwt: Candidate | undefined,
  input: ExpiryInput,
  start: number,
  arrived: number,
): ExpiryResult {
  const isJwt = input.jwt !== undefined && looksLikeJwt(input.jwt);
  const fallback = jwt
    ? onArrival(jwt, start, arrived, jwt.aheadMs ?? 0)
    : input.assumedLifetimeMs === undefined
      ? undefined
      : assumed(input.assumedLifetimeMs, start, isJwt);
  if (fallback === undefined) {
    const token = isJwt ? 'the JWT carries no usable exp claim' : 'the token is opaque';
    return {
      ok: false,
      reason: 'InvalidExpiresIn',
      message:
        `${problem.message} Nothing else gives the token's lifetime (${token}). Ask the provider's ` +
        'administrator to send expires_in as a number of seconds, or set spec.refresh.assumedLifetime to ' +
        'at most the lifetime the provider gives its tokens.',
    };
  }
  if (!fallback.ok) return fallback;
  const used = fallback.source === 'jwt' ? 'the JWT exp claim' : 'spec.refresh.assumedLifetime';
  return {
    ...fallback,
    unusableExpiresIn:
      `${problem.message} Ignored it and used ${used} instead: the token expires at ` +
      `${formatTime(fallback.expiresAt, 'seconds')}.`,
  };
}

/** issued at min(start, providerIssuedAt), living lifetimeMs: a clock ahead of ours cannot lengthen it. */
function anchored(
  start: number,
  providerIssuedAt: number | undefined,
  lifetimeMs: number,
  source: Candidate['source'],
): Candidate {
  const issued = providerIssuedAt === undefined ? start : Math.min(start, providerIssuedAt);
  const candidate: Candidate = { expiresAt: issued + lifetimeMs, lifetimeMs, source };
  if (providerIssuedAt !== undefined && providerIssuedAt > start)
    candidate.aheadMs = providerIssuedAt - start;
  return candidate;
}

function onArrival(candidate: Candidate, start: number, arrived: number, aheadMs: number): ExpiryResult {
  // Whole milliseconds: an expires_in of 0.0001 s must not yield a fractional epoch time.
  const expiresAt = Math.floor(candidate.expiresAt);
  const remaining = expiresAt - arrived;
  const from = candidate.source === 'jwt' ? 'the JWT exp claim' : 'expires_in';
  if (remaining < MIN_USABLE_MS) {
    const when =
      remaining <= 0
        ? `that had already expired when it arrived (by ${from}, ${formatDuration(-remaining)} before)`
        : `that had only ${formatDuration(remaining)} left when it arrived (by ${from}), too little to hand to pods`;
    return {
      ok: false,
      reason: 'ExpiredOnArrival',
      message:
        `the provider returned a token ${when}. The provider's clock may be behind the operator's (check NTP on both ` +
        'sides), it may have handed out an old token, or the answer took longer than the token lives. Retrying with backoff.',
    };
  }
  const result: { ok: true } & Expiry = {
    ok: true,
    issuedAt: start,
    expiresAt,
    source: candidate.source,
  };
  if (remaining < candidate.lifetimeMs / 2) {
    result.warningReason = 'ShortTokenLifetime';
    result.warning =
      `the token had only ${formatDuration(remaining)} of its ${formatDuration(candidate.lifetimeMs)} lifetime left ` +
      `when it arrived (by ${from}): the provider's clock may be behind the operator's, or the token was issued ` +
      'before the request. Renewal is planned within what is left.';
  } else if (aheadMs - (arrived - start) > SKEW_WARNING_MS) {
    result.warningReason = 'ClockSkew';
    result.warning =
      `the provider's issue time (JWT iat or timestamp) lies ${formatDuration(aheadMs)} after the operator sent the request: the provider's clock ` +
      "is ahead of the operator's (check NTP on both sides). The token's lifetime is counted from the request, " +
      "so renewal stays early enough; services that check nbf or iat on the operator's clock may refuse the token.";
  }
  return result;
}

function assumed(assumedLifetimeMs: number | undefined, start: number, isJwt: boolean): ExpiryResult {
  if (assumedLifetimeMs === undefined) {
    const what = isJwt
      ? 'no expires_in and a JWT without a usable exp claim'
      : 'no expires_in and an opaque token';
    return {
      ok: false,
      reason: 'NoExpiry',
      message:
        `the provider returned ${what}, so the token's lifetime is unknown. ` +
        'Set spec.refresh.assumedLifetime (for example 1h) to the lifetime the provider gives its tokens.',
    };
  }
  // Below a second, every renewal would be followed by another at once: a loop, not a lifetime.
  if (
    !Number.isFinite(assumedLifetimeMs) ||
    assumedLifetimeMs < MIN_USABLE_MS ||
    assumedLifetimeMs > MAX_LIFETIME_MS
  ) {
    return {
      ok: false,
      reason: 'InvalidAssumedLifetime',
      message: `spec.refresh.assumedLifetime must be at least 1s and at most 10 years (got ${assumedLifetimeMs} ms).`,
    };
  }
  return { ok: true, issuedAt: start, expiresAt: start + Math.floor(assumedLifetimeMs), source: 'assumed' };
}

function parseExpiresIn(value: unknown): Parsed<number> {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  const secondsValue = toNumber(value);
  const problem = expiresInProblem(value, secondsValue);
  if (problem !== undefined || secondsValue === undefined) {
    return {
      ok: false,
      reason: 'InvalidExpiresIn',
      message: `the provider's expires_in ${describe(value)} ${problem ?? 'is invalid'}; expected a positive number of seconds.`,
    };
  }
  return { ok: true, value: secondsValue * 1000 };
}

/** What is wrong with an expires_in, in words, or undefined when it is a usable lifetime. */
function expiresInProblem(value: unknown, seconds: number | undefined): string | undefined {
  if (seconds === undefined) {
    return typeof value === 'string' && UNIT_SUFFIX.test(value)
      ? 'is not a number (a unit suffix is not allowed)'
      : 'is not a number';
  }
  if (seconds <= 0) return 'is not positive';
  if (seconds * 1000 <= MAX_LIFETIME_MS) return undefined;
  return seconds >= EPOCH_SECONDS_2001
    ? 'is longer than 10 years (it looks like a point in time, in epoch seconds or ms, not a lifetime)'
    : 'is longer than 10 years';
}

function parseTimestamp(value: unknown): Parsed<number> {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  const ms = toNumber(value);
  if (ms === undefined || ms < MIN_EPOCH_MS) {
    return {
      ok: false,
      reason: 'InvalidTimestamp',
      message: `the provider's timestamp ${describe(value)} is not an epoch time in milliseconds.`,
    };
  }
  return { ok: true, value: ms };
}

/** A JWT's expiry candidate, or undefined for opaque tokens and unusable claims. */
function jwtCandidate(token: string | undefined, start: number): Candidate | undefined {
  const claims = token === undefined ? undefined : decodeClaims(token);
  if (claims?.exp === undefined) return undefined;
  const exp = claims.exp;
  const iat = claims.iat !== undefined && claims.iat < exp ? claims.iat : undefined;
  const candidate =
    iat === undefined
      ? { expiresAt: exp, lifetimeMs: exp - start, source: 'jwt' as const }
      : anchored(start, iat, exp - iat, 'jwt');
  // An exp decades away is not a lifetime to plan with; treat the token as carrying none.
  return candidate.expiresAt - start > MAX_LIFETIME_MS ? undefined : candidate;
}

function decodeClaims(token: string): { exp?: number; iat?: number } | undefined {
  if (!looksLikeJwt(token)) return undefined;
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    return undefined; // opaque after all
  }
  return { exp: numericDate(payload.exp), iat: numericDate(payload.iat) };
}

function looksLikeJwt(token: string): boolean {
  return token.split('.').length === 3;
}

/** RFC 7519 NumericDate (seconds, a JSON number) → epoch ms; anything else is ignored. */
function numericDate(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && NUMERIC.test(value)) return Number(value);
  return undefined;
}

/** The offending value for a message, bounded and typed, e.g. `"abc" (a string)`. */
function describe(value: unknown): string {
  // A server that puts a token where a number belongs must not get it quoted into a condition.
  if (typeof value === 'string')
    return `${JSON.stringify(value.trim() === '' ? value.slice(0, 8) : safeExcerpt(value, undefined, 40))} (a string)`;
  if (typeof value === 'number') return String(value);
  return `of type ${Array.isArray(value) ? 'array' : typeof value}`;
}
