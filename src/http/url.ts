// How messages name a URL: host and path only. The scheme adds nothing, and user info, query and
// fragment can carry credentials or session ids, so they are never shown.

/** "host[:port]/path" of a URL. */
export function hostAndPath(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return `${parsed.host}${parsed.pathname}`;
}
