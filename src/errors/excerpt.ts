// Short pieces of a provider's answer for error messages. The answer may hold a token even when it
// is not the JSON we expected (a form-encoded token response, a JWT echoed in an HTML page), so
// safeExcerpt cuts out anything that looks like a credential before the text is shortened.

/** Short, printable excerpt of a provider's answer for messages: one line, bounded, no control chars. */
export function excerpt(text: string, max = 200): string {
  const oneLine = text
    // eslint-disable-next-line no-control-regex -- stripping control characters is the point
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

const JWT = /eyJ[\w-]{4,}\.[\w-]+\.[\w-]*/g;
const SECRET_FIELD =
  /\b([\w-]*(?:token|secret|password|passwd|assertion|api[_-]?key|session|cookie|authorization)[\w-]*)(["']?\s*[:=]\s*["']?)([^"'\s&,;<>{}]+)/gi;
const OPAQUE = /[A-Za-z0-9+/_=.-]{32,}/g;
const SCANNED = 4096;

export const REDACTED = '[redacted]';

export function safeExcerpt(text: string, contentType: string | undefined, max = 160): string {
  if (text.trim() === '') return '(empty body)';
  if (contentType?.toLowerCase().includes('application/x-www-form-urlencoded')) {
    return '(form-encoded body not shown)';
  }
  const cleaned = text
    .slice(0, SCANNED)
    .replace(JWT, REDACTED)
    .replace(SECRET_FIELD, `$1$2${REDACTED}`)
    .replace(OPAQUE, REDACTED);
  return excerpt(cleaned, max);
}
