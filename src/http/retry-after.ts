// Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date. Anything else is ignored rather
// than guessed at, and a server cannot park a credential for more than an hour.

export const MAX_RETRY_AFTER_MS = 60 * 60_000;

// Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name; Date.parse alone
// would also accept "1.5" or "2" as dates.
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i;

/** Milliseconds from `nowMs` until the server wants to be asked again, or undefined. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - nowMs, 0), MAX_RETRY_AFTER_MS);
}
