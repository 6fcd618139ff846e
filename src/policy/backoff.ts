// When to try something failing again. Pure: the clock reading and randomness come in as arguments.
//
// - One exponential backoff for the whole operator (exponentialBackoff): the ceiling doubles from a
//   base up to a cap, and a uniform draw picks the delay below it, in one of two jitter shapes:
//   - full (AWS "Exponential Backoff and Jitter"): anywhere in [0, ceiling], floored at minMs so an
//     unlucky draw does not retry at once. Provider failures and rollout restarts use it, so many
//     credentials failing against one provider spread out instead of retrying in lockstep.
//   - shorten: [(1 - fraction) * ceiling, ceiling], so jitter never lengthens a delay. The work
//     queue (controller-runtime's 5 ms → 1000 s, 10%) and the informers' relist (1 s → 60 s, half:
//     "equal jitter") use it.
// - A server's Retry-After is a lower bound: never try earlier than it asked. It is capped
//   (maxRetryAfterMs) so that a garbled or hostile header cannot park a credential for days.
// - While the current token is still valid, no wait is longer than half the time it has left, so
//   there are several attempts before it expires (unless Retry-After asks for longer).

/** How the delay is drawn below the ceiling (the exponential bound for this retry). */
export type Jitter =
  /** Uniform in [0, ceiling], in whole ms, never below minMs. */
  | { shape: 'full'; minMs: number }
  /** Uniform in [(1 - fraction) * ceiling, ceiling]: a draw of 0 waits the whole ceiling. */
  | { shape: 'shorten'; fraction: number };

export interface ExponentialBackoff {
  /** Ceiling of the first retry's delay. */
  baseMs: number;
  /** Largest ceiling the exponent can reach. */
  capMs: number;
  jitter: Jitter;
}

/**
 * The delay before retry number `retry` (0: the first retry, after one failure): a draw below
 * min(cap, base * 2^retry). `random` is uniform in [0, 1); a broken draw is clamped into [0, 1].
 */
export function exponentialBackoff(backoff: ExponentialBackoff, retry: number, random: () => number): number {
  // 2^60 already exceeds any cap; bounding the exponent keeps the arithmetic finite.
  const exponent = Math.min(Math.max(Math.floor(retry), 0), 60);
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** exponent);
  const share = unitDraw(random());
  const { jitter } = backoff;
  if (jitter.shape === 'full') return Math.max(jitter.minMs, Math.floor(share * ceiling));
  return ceiling * (1 - jitter.fraction * share);
}

function unitDraw(draw: number): number {
  if (draw >= 0 && draw < 1) return draw;
  return draw >= 1 ? 1 : 0; // NaN and negatives count as 0
}

/** Provider-failure backoff: full jitter, with a floor. */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay. */
  baseMs: number;
  /** Largest delay the exponent can reach. */
  capMs: number;
  /** Smallest delay; full jitter can otherwise draw 0. */
  minMs: number;
}

/** For provider failures: 5 s doubling to 5 min. */
export const PROVIDER_BACKOFF: Readonly<BackoffPolicy> = { baseMs: 5_000, capMs: 5 * 60_000, minMs: 1_000 };
/** The longest Retry-After honoured. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

/** Delay before the next attempt after `failures` consecutive failures (1 = the first). */
export function backoffDelay(
  failures: number,
  random: () => number,
  policy: BackoffPolicy = PROVIDER_BACKOFF,
): number {
  const { baseMs, capMs, minMs } = policy;
  return exponentialBackoff({ baseMs, capMs, jitter: { shape: 'full', minMs } }, failures - 1, random);
}

export interface NextAttemptInput {
  /** Consecutive failures including the one just seen (1 = the first). */
  failures: number;
  /** Epoch ms. */
  now: number;
  /** The server's Retry-After, as a delay in ms (see parseRetryAfter). */
  retryAfterMs?: number;
  /** Uniform in [0, 1). */
  random: () => number;
  /** Expiry of the token the Secret still holds, epoch ms. */
  tokenStillValidUntil?: number;
  policy?: BackoffPolicy;
  maxRetryAfterMs?: number;
}

/** Epoch ms of the next attempt. */
export function nextAttemptAt(input: NextAttemptInput): number {
  const { now, tokenStillValidUntil } = input;
  const policy = input.policy ?? PROVIDER_BACKOFF;
  let delay = backoffDelay(input.failures, input.random, policy);
  if (tokenStillValidUntil !== undefined && tokenStillValidUntil > now) {
    delay = Math.min(delay, Math.max(policy.minMs, Math.floor((tokenStillValidUntil - now) / 2)));
  }
  const retryAfter = input.retryAfterMs;
  if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > 0) {
    delay = Math.max(delay, Math.ceil(Math.min(retryAfter, input.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS)));
  }
  return now + delay;
}

const DELTA_SECONDS = /^\d+$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms recipients must accept.
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC_850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * Retry-After (RFC 9110 §10.2.3) as a delay in ms from `now`: delta-seconds or an HTTP-date.
 * Garbage gives undefined (fall back to backoff); a date in the past gives 0; large values are
 * capped at maxMs.
 */
export function parseRetryAfter(
  headerValue: string | readonly string[] | null | undefined,
  now: number,
  maxMs: number = MAX_RETRY_AFTER_MS,
): number | undefined {
  const value = (typeof headerValue === 'string' ? headerValue : headerValue?.[0])?.trim();
  if (value === undefined || value === '') return undefined;
  if (DELTA_SECONDS.test(value)) return Math.min(Number(value) * 1000, maxMs);
  const date = parseHttpDate(value, now);
  if (date === undefined) return undefined;
  return Math.min(Math.max(0, date - now), maxMs);
}

/** Epoch ms of an HTTP-date, or undefined when it is not one (or names an impossible day). */
export function parseHttpDate(value: string, now: number): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match) return utc(Number(match[3]), match[2], Number(match[1]), match.slice(4, 7));
  match = RFC_850.exec(value);
  if (match) return utc(fullYear(Number(match[3]), now), match[2], Number(match[1]), match.slice(4, 7));
  match = ASCTIME.exec(value);
  if (match) return utc(Number(match[6]), match[1], Number(match[2]), match.slice(3, 6));
  return undefined;
}

function utc(
  year: number,
  monthName: string | undefined,
  day: number,
  time: (string | undefined)[],
): number | undefined {
  const month = MONTHS.indexOf(monthName ?? '');
  const [hours, minutes, seconds] = time.map(Number) as [number, number, number];
  if (hours > 23 || minutes > 59 || seconds > 60) return undefined;
  const ms = Date.UTC(year, month, day, hours, minutes, Math.min(seconds, 59));
  // Date.UTC rolls 31 Feb over into March; a real HTTP-date never does.
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

/** RFC 9110: a two-digit year more than 50 years in the future is in the past century. */
function fullYear(twoDigits: number, now: number): number {
  const current = new Date(now).getUTCFullYear();
  const candidate = Math.floor(current / 100) * 100 + twoDigits;
  return candidate > current + 50 ? candidate - 100 : candidate;
}
