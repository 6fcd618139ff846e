// How messages name a URL: host and path only. The scheme adds nothing, and user info, query and
// fragment can carry credentials or session ids, so they are never shown.

/** "host[:port]/path" of a URL. */
export function hostAndPath(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return `${parsed.host}${parsed.pathname}`;
}

/**
 * The provider host a URL calls, as the rate limit keys it: its origin, lower-cased, the default port
 * dropped ("HTTPS://Api.Example.com:443/x" → "https://api.example.com"). User info, path and query
 * are left out, so the key is safe to log. A URL that does not parse (its call will fail anyway)
 * shares one key, "invalid-url", rather than echo the text.
 */
export function rateLimitKeyOf(url: string): string {
  try {
    const { origin } = new URL(url);
    return origin === 'null' ? INVALID_URL_KEY : origin;
  } catch {
    return INVALID_URL_KEY;
  }
}

const INVALID_URL_KEY = 'invalid-url';
